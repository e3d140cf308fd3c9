//! `bench-server` on tonic: `bench.Bench` and `helloworld.Greeter` on 127.0.0.1, with the
//! same flags, `PORT` and `STATS` lines.
//!
//! Handlers are written the way tonic is meant to be used, without tricks: server streaming
//! returns a synchronous iterator as the stream, bidi returns the request stream itself.

use std::iter::{Map, RepeatN};
use std::process::ExitCode;

use tokio::net::TcpListener;
use tokio_stream::Iter;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic_bench::harness::creds;
use tonic::{Request, Response, Status, Streaming};
use tonic_bench::bench::bench_server::{Bench, BenchServer};
use tonic_bench::bench::{Payload, StreamRequest};
use tonic_bench::harness::alloc::CountingAlloc;
use tonic_bench::harness::server::{self, count_call};
use tonic_bench::helloworld::greeter_server::{Greeter, GreeterServer};
use tonic_bench::helloworld::{HelloReply, HelloRequest};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

struct BenchService;

type PayloadStream = Iter<Map<RepeatN<Payload>, fn(Payload) -> Result<Payload, Status>>>;

#[tonic::async_trait]
impl Bench for BenchService {
    async fn unary(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        count_call();
        Ok(Response::new(request.into_inner()))
    }

    type ServerStreamStream = PayloadStream;

    async fn server_stream(
        &self,
        request: Request<StreamRequest>,
    ) -> Result<Response<PayloadStream>, Status> {
        count_call();
        let StreamRequest { count, size } = request.into_inner();
        let payload = Payload {
            body: vec![0x5a_u8; size as usize],
        };
        let ok: fn(Payload) -> Result<Payload, Status> = Ok;
        let messages = std::iter::repeat_n(payload, count as usize).map(ok);
        Ok(Response::new(tokio_stream::iter(messages)))
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<Payload>>,
    ) -> Result<Response<Payload>, Status> {
        count_call();
        let mut messages = request.into_inner();
        while messages.message().await?.is_some() {}
        Ok(Response::new(Payload::default()))
    }

    type BidiEchoStream = Streaming<Payload>;

    async fn bidi_echo(
        &self,
        request: Request<Streaming<Payload>>,
    ) -> Result<Response<Streaming<Payload>>, Status> {
        count_call();
        Ok(Response::new(request.into_inner()))
    }
}

/// The helloworld greeter, answering as rgrpc's example greeter does.
struct MyGreeter;

#[tonic::async_trait]
impl Greeter for MyGreeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        count_call();
        let name = &request.get_ref().name;
        Ok(Response::new(HelloReply {
            message: format!("Hello {name}"),
        }))
    }
}

fn main() -> ExitCode {
    let args = server::args_or_exit();
    let served = server::runtime(args.threads)
        .map_err(|e| e.to_string())
        .and_then(|runtime| {
            runtime.block_on(async {
                let listener = TcpListener::bind(("127.0.0.1", args.port))
                    .await
                    .map_err(|e| e.to_string())?;
                let port = listener.local_addr().map_err(|e| e.to_string())?.port();
                server::started(&args, port).map_err(|e| e.to_string())?;
                // As rgrpc does: no Nagle delay on the accepted sockets.
                let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                if args.interceptor {
                    return Err("--interceptor is rgrpc's only".to_owned());
                }
                let mut builder = Server::builder();
                if args.tls {
                    let identity = Identity::from_pem(creds::SERVER_CERT, creds::SERVER_KEY);
                    builder = builder
                        .tls_config(ServerTlsConfig::new().identity(identity))
                        .map_err(|e| e.to_string())?;
                }
                builder
                    .add_service(BenchServer::new(BenchService))
                    .add_service(GreeterServer::new(MyGreeter))
                    .serve_with_incoming_shutdown(incoming, server::shutdown_signal())
                    .await
                    .map_err(|e| e.to_string())
            })
        });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tonic-bench-server: {e}");
            ExitCode::FAILURE
        }
    }
}
