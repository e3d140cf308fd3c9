//! The interop client and server (`rgrpc_conformance::interop`): every case against our own
//! server in-process, every case both ways against gRPC C-core (Python grpcio), and the
//! binaries' command lines.
//!
//! The grpcio peers live in `conformance/peers/python/`. Python comes from `RGRPC_PYTHON`, or
//! else `conformance/.venv/bin/python` (`make venv`); with neither the grpcio tests fail rather
//! than skip, so a run without the peer cannot pass by accident. `make interop` runs the same
//! cases one process per case, as interop runners do.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

mod peer;

use peer::PythonServer;
use rgrpc_conformance::interop::client::{self, Config, TestCase};
use rgrpc_conformance::interop::{server, tls};
use rgrpc_runtime::Server;
use tokio::process::Command;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Bounds each test, including Python start-up (interpreter, grpcio import, stub generation).
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Our interop server on a loopback port, in-process.
struct RgrpcServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<std::io::Result<()>>,
}

impl RgrpcServer {
    async fn start(builder: rgrpc_runtime::ServerBuilder) -> RgrpcServer {
        let server = builder
            .shutdown_grace(Duration::from_secs(1))
            .bind("127.0.0.1:0")
            .await
            .expect("bind interop server");
        let addr = server.local_addr().expect("local_addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve_with_shutdown(async {
            let _ = stopped.await;
        }));
        RgrpcServer {
            addr,
            stop,
            serving,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.serving
            .await
            .expect("server task")
            .expect("server shut down cleanly");
    }
}

/// Runs `cases` against `port` and returns the failures, one line each.
async fn run_cases(port: u16, cases: &[TestCase]) -> Vec<String> {
    run_cases_with(Config::new("127.0.0.1", port), cases).await
}

/// TLS as interop runners configure it: gRPC's test CA, `foo.test.google.fr` verified.
fn tls_config(port: u16) -> Config {
    let tls = tls::client_config(true, None, Some(tls::TEST_HOST_OVERRIDE)).expect("test CA");
    Config::new("127.0.0.1", port).with_tls(tls)
}

async fn run_cases_with(config: Config, cases: &[TestCase]) -> Vec<String> {
    let mut failures = Vec::new();
    for &case in cases {
        if let Err(failure) = client::run(case, &config).await {
            failures.push(format!("{case}: {failure}"));
        }
    }
    failures
}

#[tokio::test(flavor = "multi_thread")]
async fn every_case_against_our_server() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let server = RgrpcServer::start(server::register(Server::builder())).await;
        let failures = run_cases(server.addr.port(), TestCase::ALL).await;
        assert!(
            failures.is_empty(),
            "failed cases:\n{}",
            failures.join("\n")
        );
        server.stop().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_case_against_our_server_over_tls() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let builder = server::register(Server::builder())
            .tls(tls::server_config(None, None).expect("test credentials"));
        let server = RgrpcServer::start(builder).await;
        let failures = run_cases_with(tls_config(server.addr.port()), TestCase::ALL).await;
        assert!(
            failures.is_empty(),
            "failed cases over TLS:\n{}",
            failures.join("\n")
        );
        server.stop().await;
    })
    .await
    .expect("test timed out");
}

/// The client's assertions are not vacuous: against a server without the test service,
/// every case fails except the two that expect UNIMPLEMENTED (and
/// `timeout_on_sleeping_server`, whose 1 ms deadline may pass before the UNIMPLEMENTED
/// answer arrives).
#[tokio::test(flavor = "multi_thread")]
async fn cases_fail_against_a_server_without_the_service() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let server = RgrpcServer::start(Server::builder()).await;
        let config = Config::new("127.0.0.1", server.addr.port());
        for &case in TestCase::ALL {
            let outcome = client::run(case, &config).await;
            if case == TestCase::TimeoutOnSleepingServer {
                continue;
            }
            let expect_pass = matches!(
                case,
                TestCase::UnimplementedMethod | TestCase::UnimplementedService
            );
            assert_eq!(
                outcome.is_ok(),
                expect_pass,
                "{case} against a server without grpc.testing.TestService: {outcome:?}"
            );
        }
        server.stop().await;
    })
    .await
    .expect("test timed out");
}

/// Our client → grpcio's server, every case.
#[tokio::test(flavor = "multi_thread")]
async fn rgrpc_client_against_grpcio_server() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let server =
            PythonServer::start("interop_server.py", &["--port=0", "--lifetime=300"]).await;
        let failures = run_cases(server.port, TestCase::ALL).await;
        server.stop().await;
        assert!(
            failures.is_empty(),
            "failed cases against grpcio:\n{}",
            failures.join("\n")
        );
    })
    .await
    .expect("test timed out");
}

/// Our client → grpcio's server over TLS (gRPC's test credentials), every case.
#[tokio::test(flavor = "multi_thread")]
async fn rgrpc_client_against_grpcio_server_over_tls() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let server = PythonServer::start(
            "interop_server.py",
            &["--port=0", "--lifetime=300", "--use_tls=true"],
        )
        .await;
        let failures = run_cases_with(tls_config(server.port), TestCase::ALL).await;
        server.stop().await;
        assert!(
            failures.is_empty(),
            "failed cases against grpcio over TLS:\n{}",
            failures.join("\n")
        );
    })
    .await
    .expect("test timed out");
}

/// grpcio's client → our server, every case in one client process.
#[tokio::test(flavor = "multi_thread")]
async fn grpcio_client_against_rgrpc_server() {
    grpcio_client_run(false).await;
}

/// grpcio's client → our server over TLS (`--use_tls --use_test_ca
/// --server_host_override=foo.test.google.fr`), every case.
#[tokio::test(flavor = "multi_thread")]
async fn grpcio_client_against_rgrpc_server_over_tls() {
    grpcio_client_run(true).await;
}

async fn grpcio_client_run(use_tls: bool) {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut builder = server::register(Server::builder());
        let mut tls_flags: Vec<String> = Vec::new();
        if use_tls {
            builder = builder.tls(tls::server_config(None, None).expect("test credentials"));
            tls_flags = vec![
                "--use_tls=true".into(),
                "--use_test_ca=true".into(),
                format!("--server_host_override={}", tls::TEST_HOST_OVERRIDE),
            ];
        }
        let server = RgrpcServer::start(builder).await;
        let output = Command::new(peer::python())
            .arg(peer::script("interop_client.py"))
            .arg("--server_host=127.0.0.1")
            .arg(format!("--server_port={}", server.addr.port()))
            .arg("--test_case=all")
            .args(&tls_flags)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .expect("run interop_client.py");
        server.stop().await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "interop_client.py --test_case=all failed ({})\n{stderr}",
            output.status
        );
        assert!(
            stderr.contains(&format!("{} passed, 0 failed", TestCase::ALL.len())),
            "interop_client.py did not run every case:\n{stderr}"
        );
    })
    .await
    .expect("test timed out");
}

async fn run_binary(name: &str, args: &[&str]) -> (std::process::ExitStatus, String) {
    let path = match name {
        "interop-client" => env!("CARGO_BIN_EXE_interop-client"),
        _ => env!("CARGO_BIN_EXE_interop-server"),
    };
    let output = Command::new(path)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run binary");
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Refusals the binaries must make clearly: TLS without roots or with missing files,
/// unknown flags and cases.
#[tokio::test]
async fn binaries_refuse_what_they_cannot_do() {
    let (status, stderr) = run_binary(
        "interop-server",
        &[
            "--port=0",
            "--use_tls=true",
            "--tls_cert_file=/nonexistent.pem",
        ],
    )
    .await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("go together"), "{stderr}");
    let (status, stderr) = run_binary(
        "interop-server",
        &[
            "--port=0",
            "--use_tls=true",
            "--tls_cert_file=/nonexistent.pem",
            "--tls_key_file=/nonexistent.key",
        ],
    )
    .await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/nonexistent.pem"), "{stderr}");

    let (status, stderr) = run_binary(
        "interop-client",
        &["--server_port=1", "--use_tls", "--test_case=empty_unary"],
    )
    .await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("needs --ca_file"), "{stderr}");

    let (status, stderr) = run_binary(
        "interop-client",
        &["--server_port", "1", "--test_case=nope"],
    )
    .await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown --test_case=nope"), "{stderr}");

    let (status, stderr) = run_binary("interop-server", &["--prot=1"]).await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown flag --prot"), "{stderr}");
}

/// A failing case exits 1 and names the case and the failure.
#[tokio::test(flavor = "multi_thread")]
async fn client_binary_reports_a_failure() {
    let server = RgrpcServer::start(Server::builder()).await;
    let port = format!("--server_port={}", server.addr.port());
    let (status, stderr) = run_binary(
        "interop-client",
        &["--server_host=127.0.0.1", &port, "--test_case=large_unary"],
    )
    .await;
    server.stop().await;
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("large_unary: FAILED: UnaryCall failed: UNIMPLEMENTED"),
        "{stderr}"
    );
}
