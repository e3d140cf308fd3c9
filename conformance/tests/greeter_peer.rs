//! Smoke tests against a real peer: gRPC C-core through Python grpcio.
//!
//! The peers live in `conformance/peers/python/`; `peer/mod.rs` says how Python is found.

use std::process::Stdio;
use std::time::Duration;

mod peer;

use peer::PythonServer;
use rgrpc_examples::{GreeterClient, GreeterServer, HelloRequest, MyGreeter};
use rgrpc_runtime::{Channel, Code, Request, Server};
use tokio::process::Command;

/// Bounds each test, including Python start-up (interpreter, grpcio import, stub generation).
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// grpcio's client → our server: the Python client must get `Hello <name>` back.
#[tokio::test(flavor = "multi_thread")]
async fn grpcio_client_calls_rgrpc_server() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let server = Server::builder()
            .add_service(GreeterServer::new(MyGreeter))
            .bind("127.0.0.1:0")
            .await
            .expect("bind greeter server");
        let addr = server.local_addr().expect("local_addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve_with_shutdown(async {
            let _ = stopped.await;
        }));

        for name in ["world", "wörld, 世界 👋"] {
            let output = Command::new(peer::python())
                .arg(peer::script("greeter_client.py"))
                .arg("--target")
                .arg(addr.to_string())
                .arg("--name")
                .arg(name)
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output()
                .await
                .expect("run greeter_client.py");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                output.status.success(),
                "greeter_client.py --name {name:?} failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
                output.status
            );
            assert!(
                stdout.lines().any(|l| l == format!("Hello {name}")),
                "greeter_client.py printed no `Hello {name}`\nstdout:\n{stdout}\nstderr:\n{stderr}"
            );
        }

        let _ = stop.send(());
        serving
            .await
            .expect("server task")
            .expect("server shut down cleanly");
    })
    .await
    .expect("test timed out");
}

/// Our client → grpcio's server: reply, metadata both ways (ASCII and `-bin`), and an error
/// status with a percent-encoded message.
#[tokio::test(flavor = "multi_thread")]
async fn rgrpc_client_calls_grpcio_server() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let server = PythonServer::start("greeter_server.py", &[]).await;
        let channel = Channel::connect(&format!("http://127.0.0.1:{}", server.port))
            .await
            .expect("connect to greeter_server.py");
        let client = GreeterClient::new(channel);

        let blob: &[u8] = &[0x00, 0x01, 0xfe, 0xff, b'r', b'g'];
        let mut request = Request::new(HelloRequest {
            name: "world".into(),
            ..Default::default()
        })
        .with_metadata("x-rgrpc-test", "ping")
        .with_timeout(Duration::from_secs(10));
        request
            .metadata_mut()
            .insert_bin("x-blob-bin", blob)
            .expect("valid binary metadata");
        let reply = client.say_hello(request).await.expect("SayHello");
        assert_eq!(reply.message().message, "Hello world");
        assert_eq!(reply.metadata().get("x-rgrpc-test"), Some("ping"));
        assert_eq!(
            reply.metadata().get_bin("x-blob-bin").as_deref(),
            Some(blob),
            "binary header echoed by grpcio"
        );
        assert_eq!(reply.trailers().get("x-rgrpc-test-trailer"), Some("ping"));
        assert_eq!(
            reply.trailers().get_bin("x-blob-trailer-bin").as_deref(),
            Some(blob),
            "binary trailer echoed by grpcio"
        );

        let non_ascii = client
            .say_hello(HelloRequest {
                name: "wörld, 世界 👋".into(),
                ..Default::default()
            })
            .await
            .expect("SayHello with a non-ASCII name");
        assert_eq!(non_ascii.message().message, "Hello wörld, 世界 👋");

        let status = client
            .say_hello(HelloRequest {
                name: "!NOT_FOUND".into(),
                ..Default::default()
            })
            .await
            .expect_err("the server fails names starting with `!`");
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        assert_eq!(status.message(), "requested NOT_FOUND (ünïcødé)");

        server.stop().await;
    })
    .await
    .expect("test timed out");
}
