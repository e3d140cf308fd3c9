//! TLS and mTLS over loopback: every call shape, what a handler learns of its peer, and each
//! way a handshake can fail — always UNAVAILABLE with a reason, within the connect timeout,
//! and with the server still serving everyone else.

mod common;
mod gen;

use std::time::{Duration, Instant};

use common::tls::{ca, cert_path, client_mtls, client_tls, identity, server_mtls, server_tls};
use common::{
    all_shapes, bounded, echo, EchoClient, EchoRequest, EchoResponse, EchoServer, TestServer,
};
use gen::echo_rgrpc::Echo;
use rgrpc_runtime::tls::{ClientAuth, ClientTlsConfig, ServerTlsConfig, TrustRoots};
use rgrpc_runtime::{Channel, Code, Request, Response, ResponseSender, Server, Status, Streaming};
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a failing connect may take: far below the connect timeout the tests set.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

async fn channel(uri: &str, tls: ClientTlsConfig) -> Result<Channel, rgrpc_runtime::Error> {
    Channel::builder(uri)
        .tls(tls)
        .connect_timeout(CONNECT_TIMEOUT)
        .connect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shape_over_tls() {
    bounded(async {
        let server = TestServer::start_with(|b| b.tls(server_tls())).await;
        let client = EchoClient::new(
            channel(&server.https(), client_tls())
                .await
                .expect("connect"),
        );
        all_shapes(&client).await;
        // Over IPv4 by name too: the certificate names localhost.
        let by_name = format!("https://localhost:{}", server.addr.port());
        let client = EchoClient::new(channel(&by_name, client_tls()).await.expect("connect"));
        all_shapes(&client).await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shape_over_mtls_and_with_an_intermediate() {
    bounded(async {
        let config =
            ServerTlsConfig::new(identity("server-chain")).client_auth(ClientAuth::Required(ca()));
        let server = TestServer::start_with(|b| b.tls(config)).await;
        let channel = channel(&server.https(), client_mtls("client"))
            .await
            .expect("connect");
        all_shapes(&EchoClient::new(channel)).await;
    })
    .await
}

/// Reports what the handler saw of its TLS peer.
#[derive(Clone)]
struct TlsPeer;

impl Echo for TlsPeer {
    async fn unary(&self, req: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        let peer = req.peer().ok_or_else(|| Status::internal("no peer"))?;
        let tls = peer.tls().ok_or_else(|| Status::internal("no TLS info"))?;
        let identity = tls.peer_identity();
        let message = format!(
            "kind={:?} alpn={} sni={} certs={} uris={:?} subject={}",
            peer.kind(),
            String::from_utf8_lossy(tls.alpn_protocol().unwrap_or_default()),
            tls.server_name().unwrap_or("-"),
            tls.peer_certificates().len(),
            identity.map(|i| i.uris().to_vec()).unwrap_or_default(),
            identity.map_or("-", |i| i.subject()),
        );
        Ok(Response::new(EchoResponse {
            message,
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

async fn tls_peer_server(config: ServerTlsConfig) -> std::net::SocketAddr {
    let server = Server::builder()
        .add_service(EchoServer::new(TlsPeer))
        .tls(config)
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    tokio::spawn(server.serve());
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_see_the_peer_certificate_and_names() {
    bounded(async {
        let addr = tls_peer_server(server_mtls()).await;
        let client = EchoClient::new(
            channel(
                &format!("https://localhost:{}", addr.port()),
                client_mtls("client"),
            )
            .await
            .expect("connect"),
        );
        let reply = client.unary(echo("")).await.expect("unary");
        assert_eq!(
            reply.message().message,
            "kind=Tls alpn=h2 sni=localhost certs=1 uris=[\"spiffe://rgrpc.test/client\"] \
             subject=CN=client,O=rgrpc,C=US"
        );
        // Optional client auth: a client without a certificate is served, and seen as such.
        let addr = tls_peer_server(server_tls().client_auth(ClientAuth::Optional(ca()))).await;
        let client = EchoClient::new(
            channel(&format!("https://{addr}"), client_tls())
                .await
                .expect("connect"),
        );
        let reply = client.unary(echo("")).await.expect("unary");
        // An IP address is never sent as SNI.
        assert_eq!(
            reply.message().message,
            "kind=Tls alpn=h2 sni=- certs=0 uris=[] subject=-"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_name_override_sets_sni_the_verified_name_and_authority() {
    bounded(async {
        let addr = tls_peer_server(server_tls()).await;
        // 127.0.0.1 is dialled; the certificate is checked for foo.test.rgrpc instead.
        let tls = client_tls().server_name("foo.test.rgrpc");
        let client = EchoClient::new(
            channel(&format!("https://{addr}"), tls)
                .await
                .expect("connect"),
        );
        let reply = client.unary(echo("")).await.expect("unary");
        assert!(
            reply.message().message.contains("sni=foo.test.rgrpc"),
            "{}",
            reply.message().message
        );
        // A name the certificate does not have fails verification.
        let tls = client_tls().server_name("foo.example");
        let err = channel(&format!("https://{addr}"), tls).await.unwrap_err();
        assert!(err.to_string().contains("not valid for the name"), "{err}");
    })
    .await
}

/// A handshake failure: UNAVAILABLE, naming the reason, well within the timeout.
fn assert_refused(err: rgrpc_runtime::Error, started: Instant, reason: &str) {
    assert!(
        started.elapsed() < CONNECT_TIMEOUT,
        "took {:?}",
        started.elapsed()
    );
    assert!(err.is_connect(), "{err}");
    let status = err.status().expect("status");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains(reason),
        "want {reason:?} in {:?}",
        status.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_server_certificates_fail_unavailable_and_the_server_keeps_serving() {
    bounded(async {
        for (name, reason) in [
            ("expired", "has expired"),
            ("notyet", "not valid yet"),
            ("wronghost", "not valid for the name"),
            (
                "selfsigned",
                "not signed by a trusted CA (unknown issuer or self-signed)",
            ),
            ("unknown-ca", "not signed by a trusted CA"),
        ] {
            let server =
                TestServer::start_with(|b| b.tls(ServerTlsConfig::new(identity(name)))).await;
            let started = Instant::now();
            let err = channel(
                &format!("https://localhost:{}", server.addr.port()),
                client_tls(),
            )
            .await
            .unwrap_err();
            assert_refused(err, started, reason);
            assert!(err_names_tls(name, &server).await);
        }
    })
    .await
}

/// The server that refused a handshake still serves a client that trusts what it presents.
async fn err_names_tls(name: &str, server: &TestServer) -> bool {
    let roots = match name {
        "selfsigned" => TrustRoots::from_pem_file(cert_path("selfsigned.pem")).expect("pem"),
        "unknown-ca" => TrustRoots::from_pem_file(cert_path("other-ca.pem")).expect("pem"),
        _ => return true, // expired/not-yet/wrong-host are refused by any client
    };
    let tls = ClientTlsConfig::new().trust_roots(roots);
    let channel = channel(&format!("https://localhost:{}", server.addr.port()), tls)
        .await
        .expect("a trusting client connects");
    EchoClient::new(channel)
        .unary(echo("still here"))
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_refusals_fail_unavailable_and_the_server_keeps_serving() {
    bounded(async {
        let server = TestServer::start_with(|b| b.tls(server_mtls())).await;
        // No client certificate. In TLS 1.3 the client's handshake completes before the
        // server checks; the refusal arrives with the first read, failing the first call.
        // (About once in 300 runs the client's first write races the server's close and
        // fails first: then the message names the likely cause instead of the alert.)
        let started = Instant::now();
        let refused = match channel(&server.https(), client_tls()).await {
            Err(err) => err.status().cloned().expect("status"),
            Ok(channel) => EchoClient::new(channel).unary(echo("x")).await.unwrap_err(),
        };
        assert!(started.elapsed() < CONNECT_TIMEOUT);
        assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
        assert!(
            refused.message().contains("requires a client certificate")
                || refused
                    .message()
                    .contains("refuses the client's certificate"),
            "no client certificate: {:?}",
            refused.message()
        );
        // A certificate from a CA the server does not trust.
        let started = Instant::now();
        let refused = match channel(&server.https(), client_mtls("client-unknown-ca")).await {
            Err(err) => err.status().cloned().expect("status"),
            Ok(channel) => EchoClient::new(channel).unary(echo("x")).await.unwrap_err(),
        };
        assert!(started.elapsed() < CONNECT_TIMEOUT);
        assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
        assert!(
            refused.message().contains("certificate"),
            "unknown CA: {:?}",
            refused.message()
        );
        // Everyone else is still served.
        let good = channel(&server.https(), client_mtls("client"))
            .await
            .expect("connect");
        EchoClient::new(good)
            .unary(echo("ok"))
            .await
            .expect("served");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_and_tls_at_the_wrong_port_fail_unavailable() {
    bounded(async {
        let tls_server = TestServer::start_with(|b| b.tls(server_tls())).await;
        let plain_server = TestServer::start().await;
        // A plaintext client at the TLS port.
        let started = Instant::now();
        let refused = match Channel::builder(&tls_server.uri())
            .connect_timeout(CONNECT_TIMEOUT)
            .connect()
            .await
        {
            Err(err) => err.status().cloned().expect("status"),
            Ok(channel) => EchoClient::new(channel).unary(echo("x")).await.unwrap_err(),
        };
        assert!(started.elapsed() < CONNECT_TIMEOUT);
        assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
        assert!(
            refused.message().contains("https://"),
            "{:?}",
            refused.message()
        );
        // A TLS client at the plaintext port.
        let started = Instant::now();
        let err = channel(&plain_server.https(), client_tls())
            .await
            .unwrap_err();
        assert_refused(err, started, "did not answer with TLS");
        // Both servers still serve their own kind.
        let client = EchoClient::new(
            channel(&tls_server.https(), client_tls())
                .await
                .expect("tls"),
        );
        client.unary(echo("a")).await.expect("tls served");
        plain_server
            .client()
            .await
            .unary(echo("b"))
            .await
            .expect("plaintext served");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_h2_is_required_unless_turned_off() {
    bounded(async {
        // A server that negotiates no ALPN protocol (an old stack): refused by default.
        let provider = rustls::crypto::ring::default_provider();
        let id = identity("server");
        let chain = rustls_pki_types::CertificateDer::pem_file_iter(cert_path("server.pem"))
            .expect("pem")
            .collect::<Result<Vec<_>, _>>()
            .expect("certs");
        let key =
            rustls_pki_types::PrivateKeyDer::from_pem_file(cert_path("server.key")).expect("key");
        drop(id);
        let bare = rustls::ServerConfig::builder_with_provider(provider.into())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("config");
        let silent = ServerTlsConfig::from_rustls(bare).require_alpn(false);
        let server = TestServer::start_with(|b| b.tls(silent)).await;
        let started = Instant::now();
        let err = channel(&server.https(), client_tls()).await.unwrap_err();
        assert_refused(err, started, "negotiated no ALPN protocol");
        // The opt-out: a server known to speak h2 without ALPN.
        let opted_out = channel(&server.https(), client_tls().require_alpn(false))
            .await
            .expect("connect without ALPN");
        all_shapes(&EchoClient::new(opted_out)).await;

        // A client that offers no ALPN at an rgrpc server: the server closes the connection
        // after the handshake.
        let server = TestServer::start_with(|b| b.tls(server_tls())).await;
        let mut client = rustls::ClientConfig::builder_with_provider(
            rustls::crypto::ring::default_provider().into(),
        )
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates({
            let mut roots = rustls::RootCertStore::empty();
            for cert in
                rustls_pki_types::CertificateDer::pem_file_iter(cert_path("ca.pem")).expect("pem")
            {
                roots.add(cert.expect("cert")).expect("root");
            }
            roots
        })
        .with_no_client_auth();
        client.alpn_protocols.clear();
        let tcp = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("tcp");
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(client));
        let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
        let mut tls = connector.connect(name, tcp).await.expect("handshake");
        let _ = tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "the server closed the connection");
        assert!(buf.is_empty(), "no HTTP/2 was spoken: {buf:?}");
        // With the opt-out, the same client is served.
        let server = TestServer::start_with(|b| b.tls(server_tls().require_alpn(false))).await;
        let channel = channel(&server.https(), client_tls())
            .await
            .expect("connect");
        EchoClient::new(channel)
            .unary(echo("x"))
            .await
            .expect("served");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_dropped_after_the_handshake_timeout() {
    bounded(async {
        let server = TestServer::start_with(|b| {
            b.tls(server_tls())
                .handshake_timeout(Duration::from_millis(300))
        })
        .await;
        let mut idle = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("tcp");
        let mut buf = [0u8; 1];
        let closed = tokio::time::timeout(Duration::from_secs(10), idle.read(&mut buf)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "closed: {closed:?}"
        );
        // Meanwhile and after, others are served.
        let channel = channel(&server.https(), client_tls())
            .await
            .expect("connect");
        EchoClient::new(channel)
            .unary(echo("x"))
            .await
            .expect("served");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_handshake_that_never_completes_fails_within_the_connect_timeout() {
    bounded(async {
        // A TCP server that accepts and never answers the ClientHello.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let started = Instant::now();
        let err = Channel::builder(&format!("https://{addr}"))
            .tls(client_tls())
            .connect_timeout(Duration::from_millis(300))
            .connect()
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(err.status().expect("status").code(), Code::Unavailable);
        assert!(err.to_string().contains("timed out"), "{err}");
        hold.abort();
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_rotate_on_a_running_server() {
    bounded(async {
        let server = TestServer::start_with(|b| b.tls(server_tls())).await;
        let before = channel(&server.https(), client_tls())
            .await
            .expect("connect");
        let before = EchoClient::new(before);
        before.unary(echo("1")).await.expect("served");
        // Rotate to a certificate the client does not trust: new connections fail, the
        // established one keeps working.
        let acceptor = server.tls_acceptor.clone().expect("a TLS server");
        acceptor
            .reload(ServerTlsConfig::new(identity("unknown-ca")))
            .expect("reload");
        let err = channel(&server.https(), client_tls()).await.unwrap_err();
        assert!(
            err.to_string().contains("not signed by a trusted CA"),
            "{err}"
        );
        before
            .unary(echo("2"))
            .await
            .expect("the old connection still works");
        // And back: new connections succeed again.
        acceptor.reload(server_tls()).expect("reload");
        let after = channel(&server.https(), client_tls())
            .await
            .expect("connect");
        EchoClient::new(after)
            .unary(echo("3"))
            .await
            .expect("served");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_mistakes_are_errors_not_panics() {
    bounded(async {
        let err = Channel::builder("http://127.0.0.1:1")
            .tls(client_tls())
            .connect_lazy()
            .unwrap_err();
        assert!(
            err.is_invalid_option() && err.to_string().contains("use https://"),
            "{err}"
        );
        let err = Channel::builder("https://127.0.0.1:1")
            .connect_lazy()
            .unwrap_err();
        assert!(
            err.is_invalid_option() && err.to_string().contains("trust roots"),
            "{err}"
        );
        let err = Channel::builder("unix:/tmp/x.sock")
            .tls(client_tls())
            .connect_lazy()
            .unwrap_err();
        assert!(err.is_invalid_option(), "{err}");
        let bad = ServerTlsConfig::new(identity("server"))
            .client_auth(ClientAuth::Required(TrustRoots::new()));
        let err = Server::builder()
            .tls(bad)
            .bind("127.0.0.1:0")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("CA certificate"), "{err}");
    })
    .await
}
