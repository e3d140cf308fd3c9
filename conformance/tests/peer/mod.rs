//! Running the Python (grpcio) peers from `conformance/peers/python/`, shared by the peer
//! tests.
//!
//! Python comes from `RGRPC_PYTHON`, or else `conformance/.venv/bin/python` (`make venv`);
//! with neither the tests fail rather than skip, so a run without the peer cannot pass by
//! accident.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

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
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .await
            .unwrap_or_else(|e| panic!("read {name} stdout: {e}"));
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
        PythonServer { child, port }
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
