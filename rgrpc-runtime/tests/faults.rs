//! Faults (issue 14): streams cancelled by the thousand, a server killed mid-stream, a
//! connection black-holed mid-call (the loopback of a network namespace taken down under
//! both ends), and a graceful shutdown with calls in flight. The client must see UNAVAILABLE
//! or DEADLINE_EXCEEDED promptly, never hang past its deadline, and no call the server
//! accepted may be lost. The server runs in a child process (`common::child`).

mod common;
mod gen;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::attacks::procfs;
use common::child::{run_test_in, serve_child, ChildServer};
use common::{echo, EchoClient, EchoRequest};
use rgrpc_runtime::{Channel, Code, Request, Status};

/// One server process at a time, so their memory and timing are their own.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
#[ignore = "the server half of the fault tests, started by them as a child process"]
fn child_server() {
    serve_child();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn stream_request(count: u32, sleep_ms: u32) -> EchoRequest {
    EchoRequest {
        message: "s".into(),
        count,
        sleep_ms,
        ..Default::default()
    }
}

async fn client(uri: &str) -> EchoClient {
    EchoClient::new(Channel::connect(uri).await.expect("connect"))
}

#[test]
fn thousands_of_cancelled_streams() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = ChildServer::start("child_server", "");
    runtime().block_on(async {
        let client = client(&server.uri()).await;
        client.unary(echo("warm")).await.expect("warm-up call");
        let before = procfs::vm_kib(server.pid, "VmRSS").expect("server RSS");
        // 2,000 server streams, 100 at a time, each dropped after its first message (RST
        // CANCEL), and 1,000 unary calls cancelled by a 20 ms deadline while the handler
        // sleeps.
        for _ in 0..20 {
            let mut batch = tokio::task::JoinSet::new();
            for _ in 0..100 {
                let client = client.clone();
                batch.spawn(async move {
                    let mut stream = client.server_stream(stream_request(1_000, 5)).await?;
                    stream
                        .message()
                        .await?
                        .ok_or_else(|| Status::internal("no message"))?;
                    Ok::<_, Status>(())
                });
            }
            while let Some(result) = batch.join_next().await {
                result.expect("task").expect("first message");
            }
        }
        let mut batch = tokio::task::JoinSet::new();
        for _ in 0..1_000 {
            let client = client.clone();
            batch.spawn(async move {
                let request = EchoRequest {
                    sleep_ms: 10_000,
                    ..Default::default()
                };
                let started = Instant::now();
                let status = client
                    .unary(Request::new(request).with_timeout(Duration::from_millis(20)))
                    .await
                    .expect_err("the deadline comes first");
                (status.code(), started.elapsed())
            });
        }
        while let Some(result) = batch.join_next().await {
            let (code, elapsed) = result.expect("task");
            assert_eq!(code, Code::DeadlineExceeded);
            assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        }
        // The server still answers, and let go of the cancelled calls' memory.
        let reply = client
            .unary(echo("after"))
            .await
            .expect("call after the cancels");
        assert_eq!(reply.message().message, "after");
        let after = procfs::vm_kib(server.pid, "VmRSS").expect("server RSS");
        eprintln!("server RSS {before} KiB before, {after} KiB after 3,000 cancelled calls");
        assert!(
            after < before + 16 * 1024,
            "server RSS grew from {before} to {after} KiB"
        );
    });
}

#[test]
fn server_killed_mid_stream() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut server = ChildServer::start("child_server", "");
    runtime().block_on(async {
        let client = client(&server.uri()).await;
        let mut stream = client
            .server_stream(stream_request(10_000, 10))
            .await
            .expect("stream");
        stream.message().await.expect("first").expect("a message");
        let unary = {
            let client = client.clone();
            tokio::spawn(async move {
                let request = EchoRequest {
                    sleep_ms: 60_000,
                    ..Default::default()
                };
                client
                    .unary(Request::new(request).with_timeout(Duration::from_secs(30)))
                    .await
            })
        };
        // Wait until the unary call is on the server: its stream is open when a second
        // server stream gets its first message after it.
        let mut marker = client
            .server_stream(stream_request(1, 0))
            .await
            .expect("marker");
        marker.message().await.expect("marker message");
        server.kill();
        let killed = Instant::now();
        let status = loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the stream ended cleanly after the server was killed"),
                Err(status) => break status,
            }
        };
        assert_eq!(status.code(), Code::Unavailable, "{status}");
        assert!(status.is_connection_error(), "{status:?}");
        let unary = unary.await.expect("task").expect_err("the server is gone");
        assert_eq!(unary.code(), Code::Unavailable, "{unary}");
        assert!(
            killed.elapsed() < Duration::from_secs(1),
            "{:?}",
            killed.elapsed()
        );
        // A new call fails at once too (connection refused), well before its deadline.
        let started = Instant::now();
        let again = client
            .unary(Request::new(echo("again")).with_timeout(Duration::from_secs(10)))
            .await
            .expect_err("nothing listens");
        assert_eq!(again.code(), Code::Unavailable, "{again}");
        assert!(started.elapsed() < Duration::from_secs(1));
    });
}

#[test]
fn graceful_shutdown_loses_no_accepted_call() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut server = ChildServer::start("child_server", "grace_ms=10000");
    runtime().block_on(async {
        let client = client(&server.uri()).await;
        // 50 calls of 5 messages 100 ms apart, each known to be accepted (first message in).
        let mut calls = Vec::new();
        for _ in 0..50 {
            let mut stream = client
                .server_stream(stream_request(5, 100))
                .await
                .expect("stream");
            stream.message().await.expect("first").expect("a message");
            calls.push(stream);
        }
        server.begin_shutdown();
        let mut finished = tokio::task::JoinSet::new();
        for mut stream in calls {
            finished.spawn(async move {
                let mut n = 1;
                while stream.message().await?.is_some() {
                    n += 1;
                }
                Ok::<_, Status>(n)
            });
        }
        while let Some(result) = finished.join_next().await {
            let n = result.expect("task").expect("the call finishes with OK");
            assert_eq!(n, 5, "an accepted call lost messages");
        }
    });
    assert!(
        server.wait_exit(Duration::from_secs(5)),
        "the server did not exit once its calls were done"
    );
}

/// The client half of `connection_black_holed_mid_call`, run inside the namespace: a
/// server stream with a 2 s deadline; prints `STREAMING` once a message has arrived, then
/// `RESULT <code> <ms>` when the call ends.
#[test]
#[ignore = "the client half of connection_black_holed_mid_call, run by it in a namespace"]
fn black_hole_client() {
    let Ok(port) = std::env::var("RGRPC_TEST_BLACK_HOLE_PORT") else {
        return;
    };
    runtime().block_on(async move {
        let client = client(&format!("http://127.0.0.1:{port}")).await;
        let started = Instant::now();
        let request =
            Request::new(stream_request(100_000, 10)).with_timeout(Duration::from_secs(2));
        let mut stream = client.server_stream(request).await.expect("stream");
        stream.message().await.expect("first").expect("a message");
        println!("STREAMING");
        let code = loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => break Code::Ok,
                Err(status) => break status.code(),
            }
        };
        println!("RESULT {code:?} {}", started.elapsed().as_millis());
    });
}

/// A network namespace of our own, removed when dropped.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = format!("rgrpc-faults-{}", std::process::id());
        let ok = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "ip netns add failed (needs root and iproute2; make deps installs it)"
        );
        let netns = Netns(name);
        netns.ip(&["link", "set", "lo", "up"]);
        netns
    }

    /// Runs `ip ARGS` inside the namespace.
    fn ip(&self, args: &[&str]) {
        let ok = std::process::Command::new("ip")
            .args(["netns", "exec", &self.0, "ip"])
            .args(args)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip {args:?} in {} failed", self.0);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

#[test]
fn connection_black_holed_mid_call() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let netns = Netns::new();
    let server = ChildServer::start_in(Some(&netns.0), "child_server", "");
    let port = server.addr.port().to_string();
    let mut client = run_test_in(
        Some(&netns.0),
        "black_hole_client",
        &[("RGRPC_TEST_BLACK_HOLE_PORT", &port)],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("start the client");
    let stdout = client.stdout.take().expect("client stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let wait_for = |prefix: &str| loop {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no {prefix} line from the client within 10 s"));
        if let Some(at) = line.find(prefix) {
            return line[at + prefix.len()..].trim().to_owned();
        }
    };
    wait_for("STREAMING");
    // Packets between the two ends now go nowhere: no RST, no FIN, only silence.
    netns.ip(&["link", "set", "lo", "down"]);
    let result = wait_for("RESULT");
    let _ = client.kill();
    let _ = client.wait();
    let (code, ms) = result.split_once(' ').expect("RESULT code ms");
    let ms: u64 = ms.parse().expect("milliseconds");
    eprintln!("black-holed call ended with {code} after {ms} ms (deadline 2000 ms)");
    assert!(
        code == "DeadlineExceeded" || code == "Unavailable",
        "ended with {code}"
    );
    assert!(ms < 2_500, "the call outlived its 2 s deadline: {ms} ms");
    drop(server);
}
