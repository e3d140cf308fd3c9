//! `h2-attack --server PATH [--attack NAME[,NAME…]|all] [--scale issue|ci]`: runs the
//! hostile-peer attacks of issue 14 against a gRPC interop server, one fresh server process
//! per attack, and prints for each the server's RSS (before, peak, after), its CPU time, the
//! latency of probe calls made on fresh connections meanwhile, and what the server did.
//!
//! `--server` is an `interop-server` binary (ours, or any implementation's that takes
//! `--port=0 --host=127.0.0.1` and prints `PORT <n>`). `--scale issue` (the default) uses the
//! issue's figures (32 CONTINUATION-flooding connections, 500 bombed streams, …); `--scale
//! ci` the hostile suite's. Traffic goes to 127.0.0.1 only; every attack is bounded in
//! bytes, frames and time.
//!
//! The attacks themselves live in `rgrpc-runtime/tests/common/attacks.rs`, shared with the
//! hostile-peer test suite.

use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use rgrpc_conformance::gen::empty::Empty;
use rgrpc_conformance::gen::test_rgrpc::TestServiceClient;
use rgrpc_runtime::Channel;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[path = "../../../rgrpc-runtime/tests/common/h2raw.rs"]
mod h2raw;

#[path = "../../../rgrpc-runtime/tests/common/attacks.rs"]
mod attacks;

use attacks::Target;

/// `grpc.testing.SimpleRequest { response_size: n }` (field 2, varint).
fn simple_request(n: u32) -> Vec<u8> {
    let mut out = vec![0x10];
    let mut v = n;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

const ATTACKS: &[&str] = &[
    "continuation-flood",
    "continuation-flood-many",
    "hpack-bomb",
    "hpack-bomb-held",
    "oversized-headers",
    "rapid-reset",
    "ping-flood",
    "settings-flood",
    "empty-data-flood",
    "window-update-flood",
    "priority-flood",
    "zero-window",
    "never-sent-body",
    "slowloris-preface",
    "slowloris-headers",
    "idle-connections",
    "abrupt-disconnects",
    "saturate",
];

#[derive(Clone, Copy, PartialEq)]
enum Scale {
    Issue,
    Ci,
}

async fn run_attack(name: &str, t: &Target, scale: Scale) -> attacks::Outcome {
    let big = scale == Scale::Issue;
    let secs = |issue: u64, ci: u64| Duration::from_secs(if big { issue } else { ci });
    match name {
        "continuation-flood" => attacks::continuation_flood(t, 1, 64 << 20, secs(10, 3)).await,
        "continuation-flood-many" => {
            let conns = if big { 32 } else { 8 };
            attacks::continuation_flood(t, conns, 64 << 20, secs(10, 3)).await
        }
        "hpack-bomb" => attacks::hpack_bomb(t, 4_000, secs(5, 2)).await,
        "hpack-bomb-held" => {
            // The issue's 500 streams, over 3 connections (200 streams each at most).
            let (conns, streams) = if big { (3, 167) } else { (2, 50) };
            attacks::hpack_bomb_held(t, conns, streams, 4_000, secs(10, 3)).await
        }
        "oversized-headers" => attacks::oversized_headers(t, 20_000, 20).await,
        "rapid-reset" => {
            attacks::rapid_reset(t, if big { 1_000_000 } else { 50_000 }, secs(10, 3)).await
        }
        "ping-flood" => {
            attacks::ping_flood(t, if big { 5_000_000 } else { 200_000 }, secs(10, 3)).await
        }
        "settings-flood" => {
            attacks::settings_flood(t, if big { 5_000_000 } else { 200_000 }, secs(10, 3)).await
        }
        "empty-data-flood" => {
            attacks::empty_data_flood(t, if big { 5_000_000 } else { 200_000 }, secs(10, 3)).await
        }
        "window-update-flood" => {
            attacks::window_update_flood(t, if big { 5_000_000 } else { 200_000 }, secs(10, 3))
                .await
        }
        "priority-flood" => {
            attacks::priority_flood(t, if big { 5_000_000 } else { 200_000 }, secs(10, 3)).await
        }
        "zero-window" => {
            let (conns, streams) = if big { (4, 200) } else { (1, 100) };
            attacks::zero_window(t, conns, streams, 1 << 20, secs(10, 3)).await
        }
        "never-sent-body" => {
            let (conns, streams) = if big { (4, 200) } else { (1, 100) };
            attacks::never_sent_body(t, conns, streams, 4 << 20, 4 << 20, secs(15, 4)).await
        }
        "slowloris-preface" => {
            let conns = if big { 2_000 } else { 200 };
            attacks::slowloris_preface(t, conns, Duration::from_millis(500), secs(10, 3)).await
        }
        "slowloris-headers" => {
            let conns = if big { 2_000 } else { 200 };
            attacks::slowloris_headers(t, conns, Duration::from_millis(500), secs(10, 3)).await
        }
        "idle-connections" => {
            let conns = if big { 5_000 } else { 1_000 };
            attacks::idle_connections(t, conns, secs(10, 3)).await
        }
        "abrupt-disconnects" => {
            let (conns, rounds) = if big { (50, 20) } else { (10, 5) };
            attacks::abrupt_disconnects(t, conns, 100, rounds).await
        }
        "saturate" => {
            let (conns, streams) = (8, 32);
            saturate(t, conns, streams, secs(10, 3)).await
        }
        _ => attacks::Outcome::default(),
    }
}

/// Not an attack: an honest load that saturates the server (the issue's soak, 8 connections
/// with 32 calls in flight each, small unary calls back to back), so the probes show whether
/// new connections are still accepted and served promptly.
async fn saturate(
    t: &Target,
    conns: usize,
    streams: usize,
    duration: Duration,
) -> attacks::Outcome {
    let deadline = tokio::time::Instant::now() + duration;
    let uri = format!("http://{}", t.addr);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conns {
        let Ok(channel) = Channel::connect(&uri).await else {
            continue;
        };
        for _ in 0..streams {
            let client = TestServiceClient::new(channel.clone());
            tasks.spawn(async move {
                let mut calls = 0u64;
                while tokio::time::Instant::now() < deadline {
                    let request = rgrpc_conformance::gen::messages::SimpleRequest {
                        response_size: 64,
                        ..Default::default()
                    };
                    if client.unary_call(request).await.is_err() {
                        break;
                    }
                    calls += 1;
                }
                calls
            });
        }
    }
    let mut outcome = attacks::Outcome {
        connections: conns as u32,
        ..attacks::Outcome::default()
    };
    while let Some(calls) = tasks.join_next().await {
        outcome.streams += calls.unwrap_or(0);
    }
    outcome
}

async fn start_server(path: &str) -> Result<(Child, u16), String> {
    let mut child = Command::new(path)
        .args(["--port=0", "--host=127.0.0.1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {path}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .map_err(|_| "server did not print its port".to_owned())?
        .map_err(|e| e.to_string())?
        .ok_or("server exited")?;
    let port = line
        .strip_prefix("PORT ")
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| format!("unexpected first line {line:?}"))?;
    Ok((child, port))
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut server = None;
    let mut which = "all".to_owned();
    let mut scale = Scale::Issue;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (key, value) = match arg.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || value.clone().or_else(|| args.next()).unwrap_or_default();
        match key.as_str() {
            "--server" => server = Some(value()),
            "--attack" => which = value(),
            "--scale" => {
                scale = match value().as_str() {
                    "ci" => Scale::Ci,
                    _ => Scale::Issue,
                }
            }
            "-h" | "--help" => {
                println!("usage: h2-attack --server PATH [--attack NAME,…|all] [--scale issue|ci]\nattacks: {}", ATTACKS.join(" "));
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("h2-attack: unknown flag {other}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(server) = server else {
        eprintln!("h2-attack: --server PATH is required");
        return ExitCode::from(2);
    };
    let names: Vec<&str> = if which == "all" {
        ATTACKS.to_vec()
    } else {
        which.split(',').collect()
    };
    println!(
        "| attack | peak RSS growth | RSS after | server CPU | probe max / median | server did |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for name in names {
        if !ATTACKS.contains(&name) {
            eprintln!("h2-attack: unknown attack {name}");
            return ExitCode::from(2);
        }
        let (mut child, port) = match start_server(&server).await {
            Ok(started) => started,
            Err(e) => {
                eprintln!("h2-attack: {e}");
                return ExitCode::FAILURE;
            }
        };
        let Some(pid) = child.id() else {
            return ExitCode::FAILURE;
        };
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let target = Target {
            addr,
            unary_path: "/grpc.testing.TestService/UnaryCall".to_owned(),
            request_for_response: simple_request,
        };
        // Warm up: one call, so the baseline includes a served connection.
        let uri = format!("http://{addr}");
        let probe = || {
            let uri = uri.clone();
            async move {
                let channel = Channel::builder(&uri)
                    .connect_timeout(Duration::from_secs(5))
                    .connect()
                    .await
                    .map_err(|e| e.to_string())?;
                TestServiceClient::new(channel)
                    .empty_call(Empty::new())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        };
        let _ = probe().await;
        let started = Instant::now();
        let report = attacks::measure(
            pid,
            run_attack(name, &target, scale),
            probe,
            Duration::from_millis(100),
            Duration::from_secs(5),
            Duration::from_secs(3),
        )
        .await;
        eprintln!(
            "{} ({:.1}s)",
            report.line(name),
            started.elapsed().as_secs_f64()
        );
        let probes = &report.probes;
        println!(
            "| {name} | +{:.1} MiB | +{:.1} MiB | {:.2} s | {} / {} ms{} | {} |",
            report.peak_growth_mib(),
            report.after_growth_mib(),
            report.cpu.as_secs_f64(),
            probes.max().as_millis(),
            probes.median().as_millis(),
            if probes.failures > 0 {
                format!(", {} failed", probes.failures)
            } else {
                String::new()
            },
            report.outcome.reaction(),
        );
        let _ = child.kill().await;
    }
    ExitCode::SUCCESS
}
