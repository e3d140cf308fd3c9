//! The same calls over every transport: TCP, a Unix socket bound to a path, Linux's abstract
//! socket namespace, and the in-process duplex; and what a handler learns of its peer.

mod common;
mod gen;

use std::time::Duration;

use common::{bounded, echo, EchoClient, EchoRequest, EchoResponse, EchoServer};
use gen::echo_rgrpc::Echo;
use rgrpc_runtime::{
    in_process, Channel, Code, Request, Response, ResponseSender, Server, Status, Streaming,
};

/// Answers with what it saw of the call: transport, remote address, an extension.
#[derive(Clone)]
struct WhoAmI;

impl Echo for WhoAmI {
    async fn unary(&self, req: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        let peer = req.peer().ok_or_else(|| Status::internal("no peer"))?;
        let message = format!(
            "{:?} remote={} local={} path={}",
            peer.kind(),
            peer.remote_addr().is_some(),
            peer.local_addr().is_some(),
            peer.unix_path().is_some(),
        );
        Ok(Response::new(EchoResponse {
            message,
            ..Default::default()
        }))
    }

    async fn server_stream(
        &self,
        req: Request<EchoRequest>,
        mut out: ResponseSender<EchoResponse>,
    ) -> Result<(), Status> {
        for i in 0..req.message().count {
            out.send(EchoResponse {
                message: i.to_string(),
                ..Default::default()
            })
            .await?;
        }
        Ok(())
    }

    async fn client_stream(
        &self,
        req: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        let mut requests = req.into_message();
        let mut n = 0;
        while requests.message().await?.is_some() {
            n += 1;
        }
        Ok(Response::new(EchoResponse {
            message: n.to_string(),
            ..Default::default()
        }))
    }

    async fn bidi(
        &self,
        req: Request<Streaming<EchoRequest>>,
        mut out: ResponseSender<EchoResponse>,
    ) -> Result<(), Status> {
        let mut requests = req.into_message();
        while let Some(r) = requests.message().await? {
            out.send(EchoResponse {
                message: r.message,
                ..Default::default()
            })
            .await?;
        }
        Ok(())
    }
}

/// All four shapes on one client; returns what the unary call said of the peer.
async fn exercise(client: &EchoClient) -> String {
    let who = client.unary(echo("x")).await.expect("unary");
    let mut req = echo("x");
    req.count = 3;
    let mut stream = client.server_stream(req).await.expect("server stream");
    let mut got = Vec::new();
    while let Some(m) = stream.message().await.expect("message") {
        got.push(m.message);
    }
    assert_eq!(got, ["0", "1", "2"]);
    let mut call = client.client_stream(()).await.expect("client stream");
    for _ in 0..4 {
        call.send(echo("m")).await.expect("send");
    }
    assert_eq!(call.finish().await.expect("finish").message().message, "4");
    let (mut tx, mut rx) = client.bidi(()).await.expect("bidi");
    tx.send(echo("ping")).await.expect("send");
    assert_eq!(
        rx.message().await.expect("reply").expect("one").message,
        "ping"
    );
    drop(tx);
    assert!(rx.message().await.expect("end").is_none());
    who.message().message.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_peer_has_addresses() {
    bounded(async {
        let server = Server::builder()
            .add_service(EchoServer::new(WhoAmI))
            .bind("127.0.0.1:0")
            .await
            .expect("bind");
        let uri = format!("http://{}", server.local_addr().expect("addr"));
        tokio::spawn(server.serve());
        let client = EchoClient::new(Channel::connect(&uri).await.expect("connect"));
        assert_eq!(
            exercise(&client).await,
            "Tcp remote=true local=true path=false"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_by_path_both_forms() {
    bounded(async {
        let dir = std::env::temp_dir().join(format!("rgrpc-unix-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("echo.sock");
        let _ = std::fs::remove_file(&path);
        let server = Server::builder()
            .add_service(EchoServer::new(WhoAmI))
            .bind_unix(&path)
            .expect("bind unix");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(server.serve_with_shutdown(async {
            let _ = stopped.await;
        }));
        let absolute = format!("unix://{}", path.display());
        let client = EchoClient::new(Channel::connect(&absolute).await.expect("unix:///abs"));
        assert_eq!(
            exercise(&client).await,
            "Unix remote=false local=false path=true"
        );
        let plain = format!("unix:{}", path.display());
        let client = EchoClient::new(Channel::connect(&plain).await.expect("unix:path"));
        assert_eq!(
            exercise(&client).await,
            "Unix remote=false local=false path=true"
        );

        // A second bind on a live path fails unless asked to remove a stale socket.
        let err = Server::builder()
            .add_service(EchoServer::new(WhoAmI))
            .bind_unix(&path)
            .expect_err("the path is taken");
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");

        let _ = stop.send(());
        served.await.expect("join").expect("serve");
        assert!(!path.exists(), "shutdown removes the socket file");
        let _ = std::fs::remove_dir(&dir);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_socket_file_is_removed_only_when_asked() {
    bounded(async {
        let dir = std::env::temp_dir().join(format!("rgrpc-stale-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("stale.sock");
        let _ = std::fs::remove_file(&path);
        // A socket file nobody listens on, as a crashed server leaves behind.
        drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
        assert!(path.exists());
        let builder = || Server::builder().add_service(EchoServer::new(WhoAmI));
        builder()
            .bind_unix(&path)
            .expect_err("not removed unless asked");
        let server = builder()
            .remove_stale_socket(true)
            .bind_unix(&path)
            .expect("stale socket removed");
        tokio::spawn(server.serve());
        let client = EchoClient::new(
            Channel::connect(&format!("unix:{}", path.display()))
                .await
                .expect("connect"),
        );
        assert!(client.unary(echo("x")).await.is_ok());
        // A regular file is never removed.
        let file = dir.join("not-a-socket");
        std::fs::write(&file, b"keep me").expect("write");
        builder()
            .remove_stale_socket(true)
            .bind_unix(&file)
            .expect_err("a regular file is not a stale socket");
        assert_eq!(std::fs::read(&file).expect("still there"), b"keep me");
        let _ = std::fs::remove_file(&file);
        let _ = std::fs::remove_file(&path);
    })
    .await
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abstract_unix_socket() {
    use std::os::linux::net::SocketAddrExt;
    bounded(async {
        let name = format!("rgrpc-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .expect("abstract name");
        let std = std::os::unix::net::UnixListener::bind_addr(&addr).expect("bind");
        std.set_nonblocking(true).expect("nonblocking");
        let listener = tokio::net::UnixListener::from_std(std).expect("tokio listener");
        // The server is a raw HTTP/2 peer on the abstract name: this checks the client end
        // (the name is reached, the authority is `localhost`).
        let accepted = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let mut conn = h2::server::handshake(stream).await.expect("h2");
            let (request, mut respond) = conn.accept().await.expect("a call").expect("ok");
            let authority = request.uri().authority().map(|a| a.to_string());
            let response = http::Response::builder()
                .header("content-type", "application/grpc")
                .header("grpc-status", "12")
                .body(())
                .expect("response");
            respond.send_response(response, true).expect("respond");
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.accept()).await;
            authority
        });
        let client = EchoClient::new(
            Channel::connect(&format!("unix-abstract:{name}"))
                .await
                .expect("connect"),
        );
        let err = client
            .unary(echo("x"))
            .await
            .expect_err("the stub answers 12");
        assert_eq!(err.code(), Code::Unimplemented);
        assert!(err.is_from_peer());
        drop(client);
        let authority = accepted.await.expect("join");
        assert_eq!(authority.as_deref(), Some("localhost"));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_runs_the_full_path() {
    bounded(async {
        let (channel, server) = in_process(Server::builder().add_service(EchoServer::new(WhoAmI)))
            .await
            .expect("in-process server");
        let client = EchoClient::new(channel);
        assert_eq!(
            exercise(&client).await,
            "InProcess remote=false local=false path=false"
        );
        server.shutdown().await.expect("shutdown");
        let err = client.unary(echo("x")).await.expect_err("server is gone");
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    })
    .await
}

#[tokio::test]
async fn bad_unix_targets_are_refused() {
    for bad in ["unix:", "unix://relative/path", "unix://"] {
        let err = Channel::builder(bad).connect_lazy().expect_err(bad);
        assert!(err.is_invalid_target(), "{bad}: {err:?}");
        assert_eq!(
            rgrpc_runtime::Status::from(err).code(),
            Code::InvalidArgument,
            "{bad}"
        );
    }
}
