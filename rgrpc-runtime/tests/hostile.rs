//! Hostile peers against a real server (issue 14): each test starts the server in a child
//! process, attacks it with raw HTTP/2 over loopback (`common::attacks`, bounded in bytes,
//! frames and time), and asserts that the server's resident memory stays bounded, that it
//! reacts as it should (GOAWAY, RST_STREAM, 431), and that probe calls on fresh connections
//! are answered within a second all along.
//!
//! The tests take turns (one lock), so each server's memory and the probes' latency are its
//! own attack's; the whole file runs in well under a minute.

mod common;
mod gen;

use std::sync::Mutex;
use std::time::Duration;

use common::attacks::{self, Outcome, Report, ServerAttack, ServerOutcome, Target};
use common::child::{serve_child, ChildServer};
use common::{echo, EchoClient, EchoRequest};
use protobuf::Message;
use rgrpc_runtime::{Channel, Code, Request, Status};

/// One attack at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// The test the suite runs as its server, in a child process.
#[test]
#[ignore = "the server half of the hostile suite, started by its tests as a child process"]
fn child_server() {
    serve_child();
}

/// Every probe must be answered within this, attack or not.
const PROBE_BOUND: Duration = Duration::from_secs(1);

fn request_for_response(n: u32) -> Vec<u8> {
    EchoRequest {
        response_size: n,
        ..Default::default()
    }
    .write_to_bytes()
    .expect("encode")
}

/// Starts a server, runs `attack` against it while probing, and checks the probes; one
/// attack at a time.
fn run<F, Fut>(options: &str, attack: F) -> Report
where
    F: FnOnce(Target) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(attack_server(options, attack))
}

async fn attack_server<F, Fut>(options: &str, attack: F) -> Report
where
    F: FnOnce(Target) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let server = ChildServer::start("child_server", options);
    let target = Target {
        addr: server.addr,
        unary_path: "/rgrpc.test.Echo/Unary".to_owned(),
        request_for_response,
    };
    let uri = server.uri();
    let probe = || {
        let uri = uri.clone();
        async move {
            let channel = Channel::connect(&uri).await.map_err(|e| e.to_string())?;
            let reply = EchoClient::new(channel)
                .unary(echo("probe"))
                .await
                .map_err(|e| e.to_string())?;
            if reply.message().message == "probe" {
                Ok(())
            } else {
                Err("wrong reply".to_owned())
            }
        }
    };
    // The baseline includes a served connection.
    probe().await.expect("the server answers before the attack");
    let report = attacks::measure(
        server.pid,
        attack(target),
        probe,
        Duration::from_millis(100),
        Duration::from_secs(5),
        Duration::from_secs(2),
    )
    .await;
    eprintln!("{}", report.line("attack"));
    assert_eq!(
        report.probes.failures, 0,
        "probes failed during the attack: {:?}",
        report.probes.first_failure
    );
    assert!(
        report.probes.max() < PROBE_BOUND,
        "a probe took {:?}",
        report.probes.max()
    );
    // And the server still answers once it is over.
    probe().await.expect("the server answers after the attack");
    report
}

fn assert_peak_below(report: &Report, mib: f64) {
    assert!(
        report.peak_growth_mib() < mib,
        "server RSS grew by {:.1} MiB (bound {mib} MiB)",
        report.peak_growth_mib()
    );
}

#[test]
fn continuation_flood_one_connection() {
    let report = run("", |t| async move {
        attacks::continuation_flood(&t, 1, 32 << 20, Duration::from_secs(2)).await
    });
    // h2 reads at most 5 CONTINUATION frames (64 KiB each) past the 16 KiB list limit.
    assert!(
        report.outcome.goaway_with("ENHANCE_YOUR_CALM"),
        "{}",
        report.outcome.reaction()
    );
    assert_eq!(report.outcome.closed_by_server, 1);
    assert_peak_below(&report, 8.0);
}

#[test]
fn continuation_flood_many_connections() {
    let report = run("", |t| async move {
        attacks::continuation_flood(&t, 32, 32 << 20, Duration::from_secs(3)).await
    });
    assert_eq!(report.outcome.connections, 32);
    assert_eq!(
        report.outcome.closed_by_server,
        32,
        "{}",
        report.outcome.reaction()
    );
    assert_eq!(report.outcome.goaways.values().sum::<u32>(), 32);
    assert_peak_below(&report, 24.0);
}

#[test]
fn hpack_bomb_one_block() {
    // 4,000 references to a 4 KB entry: ~16 MB decoded from ~8 KB on the wire.
    let report = run("", |t| async move {
        attacks::hpack_bomb(&t, 4_000, Duration::from_secs(2)).await
    });
    assert!(
        report
            .outcome
            .goaway_with("ENHANCE_YOUR_CALM header_list_way_too_large"),
        "{}",
        report.outcome.reaction()
    );
    assert_peak_below(&report, 8.0);
}

#[test]
fn hpack_bomb_many_held_streams() {
    // The 500 bombed streams over 3 connections, held open.
    let report = run("", |t| async move {
        attacks::hpack_bomb_held(&t, 3, 167, 4_000, Duration::from_secs(3)).await
    });
    assert_eq!(
        report.outcome.closed_by_server,
        3,
        "{}",
        report.outcome.reaction()
    );
    assert_peak_below(&report, 16.0);
}

#[test]
fn headers_over_the_limit_get_431() {
    // 20 KB of metadata: over the 16 KiB limit, well under the GOAWAY threshold.
    let report = run("", |t| async move {
        attacks::oversized_headers(&t, 20_000, 20).await
    });
    assert_eq!(
        report.outcome.statuses.get(&431),
        Some(&20),
        "{}",
        report.outcome.reaction()
    );
    assert_peak_below(&report, 8.0);
}

#[test]
fn rapid_reset() {
    let report = run("", |t| async move {
        attacks::rapid_reset(&t, 100_000, Duration::from_secs(3)).await
    });
    assert!(
        report.outcome.goaway_with("ENHANCE_YOUR_CALM"),
        "{}",
        report.outcome.reaction()
    );
    assert_peak_below(&report, 16.0);
}

#[test]
fn ping_flood() {
    let report = run("", |t| async move {
        attacks::ping_flood(&t, 300_000, Duration::from_secs(2)).await
    });
    assert_peak_below(&report, 8.0);
}

#[test]
fn settings_flood() {
    let report = run("", |t| async move {
        attacks::settings_flood(&t, 300_000, Duration::from_secs(2)).await
    });
    assert_peak_below(&report, 8.0);
}

#[test]
fn empty_data_flood() {
    let report = run("", |t| async move {
        attacks::empty_data_flood(&t, 300_000, Duration::from_secs(2)).await
    });
    assert!(
        report.outcome.goaway_with("ENHANCE_YOUR_CALM"),
        "{}",
        report.outcome.reaction()
    );
    assert_peak_below(&report, 8.0);
}

#[test]
fn window_update_flood() {
    let report = run("", |t| async move {
        attacks::window_update_flood(&t, 300_000, Duration::from_secs(2)).await
    });
    assert_peak_below(&report, 8.0);
}

#[test]
fn priority_flood() {
    let report = run("", |t| async move {
        attacks::priority_flood(&t, 300_000, Duration::from_secs(2)).await
    });
    assert_peak_below(&report, 8.0);
}

#[test]
fn zero_window_readers() {
    // 2 connections x 200 streams whose 256 KiB responses can never be sent (100 MiB):
    // each connection holds at most its 32 MiB send budget; the calls over it are answered
    // RESOURCE_EXHAUSTED (8) at once.
    let report = run("", |t| async move {
        attacks::zero_window(&t, 2, 200, 256 * 1024, Duration::from_secs(2)).await
    });
    assert_eq!(report.outcome.statuses.get(&200), Some(&400));
    let refused = report.outcome.grpc_statuses.get(&8).copied().unwrap_or(0);
    assert!(refused >= 400 - 2 * 128, "{}", report.outcome.reaction());
    assert_peak_below(&report, 96.0);
}

#[test]
fn bodies_announced_and_never_sent() {
    // 2 connections x 100 streams each announcing a 4 MiB message and sending as much of it
    // as flow control lets through: without the receive budget, 800 MiB.
    let report = run("", |t| async move {
        attacks::never_sent_body(&t, 2, 100, 4 << 20, 4 << 20, Duration::from_secs(4)).await
    });
    // Each connection is cut off at its 16 MiB budget.
    assert!(
        report.outcome.resets.values().sum::<u32>() > 0,
        "{}",
        report.outcome.reaction()
    );
    assert_peak_below(&report, 64.0);
}

#[test]
fn slowloris_on_the_preface() {
    // 500 connections dribbling the preface, against a 1 s handshake timeout: all closed.
    let report = run("handshake_ms=1000", |t| async move {
        attacks::slowloris_preface(&t, 500, Duration::from_millis(200), Duration::from_secs(2))
            .await
    });
    assert_eq!(report.outcome.closed_by_server, 500);
    assert_peak_below(&report, 24.0);
}

#[test]
fn slowloris_on_the_headers() {
    let report = run("", |t| async move {
        attacks::slowloris_headers(&t, 500, Duration::from_millis(200), Duration::from_secs(2))
            .await
    });
    assert_eq!(report.outcome.connections, 500);
    assert_peak_below(&report, 24.0);
}

#[test]
fn thousands_of_idle_connections() {
    // 3,000 connections (two descriptors each on this machine, one per process).
    let limit = rlimit_nofile();
    let conns = 3_000.min(limit.saturating_sub(200) as usize);
    let report = run("", |t| async move {
        attacks::idle_connections(&t, conns, Duration::from_secs(2)).await
    });
    assert_eq!(report.outcome.connections as usize, conns);
    // ~16 KiB per idle connection (BENCHMARKS.md); allow 40.
    assert_peak_below(&report, conns as f64 * 40.0 / 1024.0);
}

#[test]
fn abrupt_disconnects_mid_call() {
    let report = run("", |t| async move {
        attacks::abrupt_disconnects(&t, 10, 100, 5).await
    });
    assert_eq!(report.outcome.streams, 5_000);
    assert_peak_below(&report, 48.0);
}

/// The soft limit on open files (`ulimit -n`).
fn rlimit_nofile() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(1024)
}

/// A hostile server against the client: `attack` answers one unary call made with a 10 s
/// deadline. The call must fail well before its deadline and the client must have reacted
/// to the server as `check` expects.
fn hostile_server(attack: ServerAttack, check: impl FnOnce(&ServerOutcome, &Status)) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(attacks::hostile_server(
            listener,
            attack,
            Duration::from_secs(5),
        ));
        let started = std::time::Instant::now();
        let call = async {
            let channel = Channel::connect(&format!("http://{addr}"))
                .await
                .map_err(Status::from)?;
            EchoClient::new(channel)
                .unary(Request::new(echo("x")).with_timeout(Duration::from_secs(10)))
                .await
        };
        let status = match tokio::time::timeout(Duration::from_secs(20), call).await {
            Ok(Ok(_)) => panic!("the call succeeded against {attack:?}"),
            Ok(Err(status)) => status,
            Err(_) => panic!("the call hung against {attack:?}"),
        };
        let elapsed = started.elapsed();
        let outcome = server.await.expect("server task");
        eprintln!(
            "{attack:?}: {status} after {elapsed:?}; server sent {} bytes; client: {outcome:?}",
            outcome.sent
        );
        assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
        check(&outcome, &status);
    });
}

#[test]
fn client_against_a_continuation_flood() {
    hostile_server(ServerAttack::ContinuationFlood, |outcome, status| {
        assert!(
            outcome
                .goaways
                .iter()
                .any(|g| g.starts_with("ENHANCE_YOUR_CALM")),
            "{outcome:?}"
        );
        assert_eq!(status.code(), Code::ResourceExhausted);
        // With h2's own 16 MiB list limit the client read ~20 MiB of CONTINUATION frames
        // first; now it stops after 5. What the server got into the sockets' buffers
        // (a few MiB on loopback) is all it sent.
        assert!(outcome.sent < 12 << 20, "{} bytes", outcome.sent);
    });
}

#[test]
fn client_against_an_hpack_bomb_in_the_response_head() {
    hostile_server(ServerAttack::HpackBombHeaders, |outcome, _| {
        assert!(
            outcome
                .goaways
                .iter()
                .any(|g| g.starts_with("ENHANCE_YOUR_CALM")),
            "{outcome:?}"
        );
    });
}

#[test]
fn client_against_an_hpack_bomb_in_the_trailers() {
    hostile_server(ServerAttack::HpackBombTrailers, |outcome, _| {
        assert!(
            outcome
                .goaways
                .iter()
                .any(|g| g.starts_with("ENHANCE_YOUR_CALM")),
            "{outcome:?}"
        );
    });
}

#[test]
fn client_against_response_headers_over_its_limit() {
    hostile_server(ServerAttack::OversizedHeaders, |outcome, status| {
        // A stream error: the client resets the stream (h2 has no 431 for responses); the
        // connection stays up until the channel is dropped (GOAWAY NO_ERROR).
        assert_eq!(outcome.resets, ["PROTOCOL_ERROR"], "{outcome:?}");
        assert!(
            outcome.goaways.iter().all(|g| g == "NO_ERROR"),
            "{outcome:?}"
        );
        assert_eq!(status.code(), Code::Internal);
    });
}
