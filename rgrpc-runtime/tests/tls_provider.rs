//! An application that installed its own process-wide rustls `CryptoProvider` gets it used
//! by rgrpc on both ends. (A test binary of its own: the default is process-wide.)

mod common;
mod gen;

use common::tls::{client_tls, server_tls};
use common::{bounded, echo, EchoClient, EchoRequest, EchoResponse, EchoServer};
use gen::echo_rgrpc::Echo;
use rgrpc_runtime::{Channel, Request, Response, ResponseSender, Server, Status, Streaming};

/// Answers with the negotiated cipher suite.
#[derive(Clone)]
struct Suite;

impl Echo for Suite {
    async fn unary(&self, req: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        let suite = req
            .peer()
            .and_then(|p| p.tls())
            .and_then(|tls| tls.cipher_suite())
            .ok_or_else(|| Status::internal("no TLS"))?;
        Ok(Response::new(EchoResponse {
            message: format!("{suite:?}"),
            ..Default::default()
        }))
    }
    async fn server_stream(
        &self,
        _: Request<EchoRequest>,
        _: ResponseSender<EchoResponse>,
    ) -> Result<(), Status> {
        Err(Status::unimplemented("-"))
    }
    async fn client_stream(
        &self,
        _: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        Err(Status::unimplemented("-"))
    }
    async fn bidi(
        &self,
        _: Request<Streaming<EchoRequest>>,
        _: ResponseSender<EchoResponse>,
    ) -> Result<(), Status> {
        Err(Status::unimplemented("-"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_installed_provider_is_used() {
    bounded(async {
        // ring, narrowed to one cipher suite ring's default would not pick first.
        let mut provider = rustls::crypto::ring::default_provider();
        provider.cipher_suites =
            vec![rustls::crypto::ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256];
        provider
            .install_default()
            .expect("the first provider installed in this process");
        let server = Server::builder()
            .add_service(EchoServer::new(Suite))
            .tls(server_tls())
            .bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = server.local_addr().expect("addr");
        tokio::spawn(server.serve());
        let channel = Channel::builder(&format!("https://localhost:{}", addr.port()))
            .tls(client_tls())
            .connect()
            .await
            .expect("connect");
        let reply = EchoClient::new(channel)
            .unary(echo(""))
            .await
            .expect("unary");
        assert_eq!(reply.message().message, "TLS13_CHACHA20_POLY1305_SHA256");
    })
    .await
}
