//! Smoke tests against a real peer: gRPC C-core through Python grpcio.
//!
//! The peers live in `conformance/peers/python/`. Python comes from `RGRPC_PYTHON`, or else
//! `conformance/.venv/bin/python`; `make venv` creates the latter and `make test-rust` sets the
//! former. With neither the tests fail rather than skip, so a CI run without the peer cannot
//! pass by accident.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rgrpc_examples::{GreeterClient, GreeterServer, HelloRequest, MyGreeter};
use rgrpc_runtime::{Channel, Code, Request, Server};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// Bounds each test, including Python start-up (interpreter, grpcio import, stub generation).
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("examples/ sits inside the workspace")
        .to_path_buf()
}

fn peer_script(name: &str) -> PathBuf {
    repo_root().join("conformance/peers/python").join(name)
}

fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("RGRPC_PYTHON") {
        let path = PathBuf::from(path);
        assert!(
            path.exists(),
            "RGRPC_PYTHON={} does not exist; run `make venv` and point it at \
             conformance/.venv/bin/python",
            path.display()
        );
        return path;
    }
    let venv = repo_root().join("conformance/.venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with grpcio: set RGRPC_PYTHON or run `make venv` to create {}",
        venv.display()
    );
    venv
}

/// A running `greeter_server.py`, killed when dropped so a failed assertion cannot leak it.
struct PythonServer {
    child: Child,
    port: u16,
}

impl PythonServer {
    async fn start() -> PythonServer {
        let mut child = Command::new(python())
            .arg(peer_script("greeter_server.py"))
            // The server exits when this pipe closes, which covers the test process dying
            // before `kill_on_drop` gets a chance to run.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn greeter_server.py");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .await
            .expect("read greeter_server.py stdout");
        let port = match line.trim().strip_prefix("PORT ") {
            Some(port) => port.parse().expect("PORT line carries a port number"),
            None => {
                let mut stderr = String::new();
                if let Some(mut err) = child.stderr.take() {
                    let _ = err.read_to_string(&mut stderr).await;
                }
                panic!(
                    "greeter_server.py did not report a port; stdout: {line:?}\nstderr:\n{stderr}"
                );
            }
        };
        PythonServer { child, port }
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

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
            let output = Command::new(python())
                .arg(peer_script("greeter_client.py"))
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
        let server = PythonServer::start().await;
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
