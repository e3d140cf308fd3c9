//! A server in a child process: the test binary runs itself again with one ignored test
//! selected and [`CHILD_ENV`] set, and that test serves the [`Lean`] Echo service on a free
//! loopback port until its stdin closes (so it never outlives the test that started it).
//!
//! A separate process makes the server's memory and CPU its own (`/proc/PID/status`), not
//! mixed with the attackers', and lets a test kill it mid-call.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rgrpc_runtime::{Request, Response, ResponseSender, Server, ServerBuilder, Status, Streaming};

use crate::gen::echo::{EchoRequest, EchoResponse};
use crate::gen::echo_rgrpc::{Echo, EchoServer};

/// Set in the child's environment to the server's options (`key=value,…`).
pub const CHILD_ENV: &str = "RGRPC_TEST_CHILD_SERVER";

/// The Echo service without the test bookkeeping of `EchoService` (no task per call), so a
/// flood of calls costs the server only what the runtime costs.
#[derive(Clone, Copy, Debug)]
pub struct Lean;

fn lean_reply(req: &EchoRequest) -> EchoResponse {
    EchoResponse {
        message: req.message.clone(),
        payload: if req.response_size > 0 {
            vec![0x5a; req.response_size as usize]
        } else {
            req.payload.clone()
        },
        ..Default::default()
    }
}

impl Echo for Lean {
    async fn unary(&self, req: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        if req.message().sleep_ms > 0 {
            tokio::time::sleep(Duration::from_millis(req.message().sleep_ms.into())).await;
        }
        Ok(Response::new(lean_reply(req.message())))
    }

    async fn server_stream(
        &self,
        req: Request<EchoRequest>,
        mut out: ResponseSender<EchoResponse>,
    ) -> Result<(), Status> {
        for _ in 0..req.message().count {
            out.send(lean_reply(req.message())).await?;
            if req.message().sleep_ms > 0 {
                tokio::time::sleep(Duration::from_millis(req.message().sleep_ms.into())).await;
            }
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
            out.send(lean_reply(&r)).await?;
        }
        Ok(())
    }
}

/// A server running in a child process; killed when dropped.
pub struct ChildServer {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
}

impl ChildServer {
    /// Starts this test binary again, running only the ignored test `test_name` (which must
    /// call [`serve_child`]) with `options`; waits up to 10 s for it to listen.
    pub fn start(test_name: &str, options: &str) -> ChildServer {
        Self::start_in(None, test_name, options)
    }

    /// As [`ChildServer::start`], inside network namespace `netns` (`ip netns exec`).
    pub fn start_in(netns: Option<&str>, test_name: &str, options: &str) -> ChildServer {
        let mut child = run_test_in(netns, test_name, &[(CHILD_ENV, options)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the child server");
        let pid = child.id();
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest has written `test child_server ... ` on the same line.
                if let Some(at) = line.find("PORT ") {
                    let _ = tx.send(line[at + 5..].trim().parse::<u16>().ok());
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(10))
            .ok()
            .flatten()
            .expect("the child server did not report its port within 10 s");
        ChildServer {
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Kills the server at once (SIGKILL), as a crash or an OOM kill does.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the server to shut down gracefully (closes its stdin), without waiting.
    pub fn begin_shutdown(&mut self) {
        drop(self.child.stdin.take());
    }

    /// Waits up to `limit` for the server to exit; true if it did.
    pub fn wait_exit(&mut self, limit: Duration) -> bool {
        let until = std::time::Instant::now() + limit;
        while std::time::Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

/// A command that runs this test binary's test `test_name` (ignored ones included) alone,
/// with `env`, inside network namespace `netns` if given.
pub fn run_test_in(netns: Option<&str>, test_name: &str, env: &[(&str, &str)]) -> Command {
    let exe = std::env::current_exe().expect("test binary path");
    let mut command = match netns {
        Some(netns) => {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", netns]).arg(exe);
            command
        }
        None => Command::new(exe),
    };
    command.args([
        test_name,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// In the child: serves [`Lean`] with the options in [`CHILD_ENV`] (`handshake_ms=N`,
/// `grace_ms=N`) on a free loopback port, prints `PORT <n>`, and shuts down gracefully once
/// stdin closes. Returns at once when not started as a child.
pub fn serve_child() {
    let Ok(options) = std::env::var(CHILD_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let mut builder: ServerBuilder = Server::builder().add_service(EchoServer::new(Lean));
        for option in options.split(',').filter(|o| !o.is_empty()) {
            let (key, value) = option.split_once('=').expect("key=value");
            let ms = Duration::from_millis(value.parse().expect("a number"));
            builder = match key {
                "handshake_ms" => builder.handshake_timeout(ms),
                "grace_ms" => builder.shutdown_grace(ms),
                other => panic!("unknown child server option {other}"),
            };
        }
        let server = builder.bind("127.0.0.1:0").await.expect("bind");
        println!("PORT {}", server.local_addr().expect("addr").port());
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        });
        server
            .serve_with_shutdown(async {
                let _ = stdin_closed.await;
            })
            .await
            .expect("serve");
    });
}
