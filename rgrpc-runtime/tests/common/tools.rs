//! Real external clients for the gRPC-Web tests: `curl` (Debian's, `make deps`) and
//! `buf curl` (npm `@bufbuild/buf`, installed into `target/buf` on first use, where the
//! plugin's quickstart test keeps it too).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;
use std::time::Duration;

/// How long one run of a tool may take (buf's first start unpacks a Go binary).
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the runtime sits in the repository")
        .to_path_buf()
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rgrpc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Runs `program` with `args`, bounded, and returns what it did.
pub async fn run(program: &Path, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    tokio::time::timeout(TOOL_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("{} {args:?} timed out", program.display()))
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

/// Debian's `curl`.
pub fn curl() -> PathBuf {
    let curl = PathBuf::from("/usr/bin/curl");
    assert!(curl.exists(), "curl not found; `make deps` installs it");
    curl
}

/// `buf`, from npm into `target/buf` (once per test binary; npm itself is `make deps`'s).
pub fn buf() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _once = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let prefix = repo().join("target/buf");
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
