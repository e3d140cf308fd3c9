//! The load loop of the bench clients: `concurrency` tasks over `connections` connections,
//! a warm-up, a measured window, and the report.
//!
//! A stack plugs in by implementing [`BenchConn`] for its client; everything else (timing,
//! counting, what is printed) is shared, so two stacks differ only in their calls.

use std::future::Future;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::alloc;
use super::args::{ClientArgs, Mode};
use super::histogram::Histogram;
use super::procfs;

/// One connection's client, as the load loop drives it. Cloned once into every task that
/// uses the connection (calls take `&mut self`, as tonic's clients need). Errors are
/// strings: the loop only prints them.
pub trait BenchConn: Clone + Send + Sync + 'static {
    /// One `Unary` call echoing `body`; returns the length of the echoed body.
    fn unary(&mut self, body: &[u8]) -> impl Future<Output = Result<usize, String>> + Send;

    /// One `ServerStream` call for `count` messages of `size` bytes, reporting each message
    /// to `meter`; returns early (dropping the call) once `meter.stopped()`.
    fn server_stream(
        &mut self,
        count: u32,
        size: u32,
        meter: &mut Meter,
    ) -> impl Future<Output = Result<(), String>> + Send;

    /// One `ClientStream` call sending `count` copies of `body`, reporting each sent message
    /// to `meter`; returns early (dropping the call) once `meter.stopped()`.
    fn client_stream(
        &mut self,
        count: u32,
        body: &[u8],
        meter: &mut Meter,
    ) -> impl Future<Output = Result<(), String>> + Send;

    /// One `BidiEcho` stream used ping-pong until `meter.stopped()`: send `body`, wait for
    /// its echo, report the message and its round trip to `meter`, repeat.
    fn bidi(
        &mut self,
        body: &[u8],
        meter: &mut Meter,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

const WARMING: u8 = 0;
const MEASURING: u8 = 1;
const STOPPED: u8 = 2;

/// One task's counters. Only what happens inside the measured window is counted.
#[derive(Debug)]
pub struct Meter {
    phase: Arc<AtomicU8>,
    calls: u64,
    messages: u64,
    bytes: u64,
    latency: Histogram,
}

impl Meter {
    fn new(phase: Arc<AtomicU8>) -> Meter {
        Meter {
            phase,
            calls: 0,
            messages: 0,
            bytes: 0,
            latency: Histogram::default(),
        }
    }

    fn measuring(&self) -> bool {
        self.phase.load(Relaxed) == MEASURING
    }

    /// Whether the run is over: streaming calls should end now.
    pub fn stopped(&self) -> bool {
        self.phase.load(Relaxed) == STOPPED
    }

    /// Counts a message of `bytes` payload bytes received (or sent, for client streaming).
    pub fn message(&mut self, bytes: usize) {
        if self.measuring() {
            self.messages += 1;
            self.bytes += bytes as u64;
        }
    }

    /// Records a round trip (bidi ping-pong).
    pub fn round_trip(&mut self, took: Duration) {
        if self.measuring() {
            self.latency.record(took.as_nanos() as u64);
        }
    }

    fn call(&mut self, took: Duration, bytes: usize) {
        if self.measuring() {
            self.calls += 1;
            self.messages += 1;
            self.bytes += bytes as u64;
            self.latency.record(took.as_nanos() as u64);
        }
    }

    fn stream_done(&mut self) {
        if self.measuring() {
            self.calls += 1;
        }
    }

    fn merge(&mut self, other: &Meter) {
        self.calls += other.calls;
        self.messages += other.messages;
        self.bytes += other.bytes;
        self.latency.merge(&other.latency);
    }
}

/// What a run measured.
#[derive(Debug)]
pub struct Report {
    /// The measured window's length.
    pub elapsed: Duration,
    /// Calls completed in the window (for streaming modes: streams completed).
    pub calls: u64,
    /// Messages in the window (unary: one per call).
    pub messages: u64,
    /// Payload bytes in those messages.
    pub bytes: u64,
    /// Unary call latency, or bidi round-trip latency, in nanoseconds.
    pub latency: Histogram,
    /// This process's CPU time in the window.
    pub cpu: Option<Duration>,
    /// Heap allocations in the window, if counted.
    pub allocations: Option<alloc::Snapshot>,
    /// Calls that failed (the run stops at the first failure of each task).
    pub errors: u64,
}

/// Runs a client binary: parses the flags, connects with `connect` (given the flags, once
/// per `--connections`), drives the load, and prints the report. `stack` names the gRPC stack
/// in the output (`rgrpc`, `tonic`).
pub fn main<C, F, Fut>(stack: &str, connect: F) -> ExitCode
where
    C: BenchConn,
    F: Fn(ClientArgs) -> Fut,
    Fut: Future<Output = Result<C, String>>,
{
    let args = match ClientArgs::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match super::server::runtime(args.threads) {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = runtime.block_on(async {
        let mut connections = Vec::with_capacity(args.connections);
        for _ in 0..args.connections {
            connections.push(connect(args.clone()).await?);
        }
        run(&args, connections).await
    });
    match report {
        Ok(report) => {
            print_report(stack, &args, &report);
            if report.errors > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(message) => {
            eprintln!("{stack} bench client: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Drives `args.concurrency` tasks spread round-robin over `connections`.
pub async fn run<C: BenchConn>(args: &ClientArgs, connections: Vec<C>) -> Result<Report, String> {
    if connections.is_empty() {
        return Err("no connections".into());
    }
    if args.count_allocs {
        alloc::enable();
    }
    let phase = Arc::new(AtomicU8::new(WARMING));
    let body = Arc::new(vec![0x5a_u8; args.size]);
    let mut tasks = Vec::with_capacity(args.concurrency);
    for i in 0..args.concurrency {
        let conn = connections[i % connections.len()].clone();
        let meter = Meter::new(phase.clone());
        let (mode, count, body) = (args.mode, args.stream_count, body.clone());
        tasks.push(tokio::spawn(drive(conn, mode, count, body, meter)));
    }
    tokio::time::sleep(args.warmup).await;

    let (allocs_before, cpu_before) = (alloc::Snapshot::now(), procfs::cpu_time("self"));
    let started = Instant::now();
    phase.store(MEASURING, Relaxed);
    tokio::time::sleep(args.duration).await;
    phase.store(STOPPED, Relaxed);
    let elapsed = started.elapsed();
    let (allocs_after, cpu_after) = (alloc::Snapshot::now(), procfs::cpu_time("self"));

    let mut total = Meter::new(phase);
    let mut errors = 0;
    for task in tasks {
        // Calls in flight finish or notice the stop within one message; a hung call is an
        // error, not a hung benchmark.
        match tokio::time::timeout(Duration::from_secs(30), task).await {
            Ok(Ok((meter, Ok(())))) => total.merge(&meter),
            Ok(Ok((meter, Err(message)))) => {
                total.merge(&meter);
                if errors == 0 {
                    eprintln!("call failed: {message}");
                }
                errors += 1;
            }
            Ok(Err(join)) => return Err(format!("load task died: {join}")),
            Err(_) => return Err("a call did not finish within 30 s of the stop".into()),
        }
    }
    Ok(Report {
        elapsed,
        calls: total.calls,
        messages: total.messages,
        bytes: total.bytes,
        latency: total.latency,
        cpu: cpu_after
            .zip(cpu_before)
            .map(|(after, before)| after.saturating_sub(before)),
        allocations: alloc::enabled().then(|| allocs_after.since(allocs_before)),
        errors,
    })
}

/// One task: calls of `mode` back to back until the stop.
async fn drive<C: BenchConn>(
    mut conn: C,
    mode: Mode,
    count: u32,
    body: Arc<Vec<u8>>,
    mut meter: Meter,
) -> (Meter, Result<(), String>) {
    let result = async {
        while !meter.stopped() {
            match mode {
                Mode::Unary => {
                    let start = Instant::now();
                    let echoed = conn.unary(&body).await?;
                    if echoed != body.len() {
                        return Err(format!("echoed {echoed} bytes, sent {}", body.len()));
                    }
                    meter.call(start.elapsed(), echoed);
                }
                Mode::ServerStream => {
                    conn.server_stream(count, body.len() as u32, &mut meter)
                        .await?;
                    meter.stream_done();
                }
                Mode::ClientStream => {
                    conn.client_stream(count, &body, &mut meter).await?;
                    meter.stream_done();
                }
                Mode::Bidi => {
                    conn.bidi(&body, &mut meter).await?;
                    meter.stream_done();
                }
            }
        }
        Ok(())
    }
    .await;
    (meter, result)
}

fn per_second(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

fn micros(nanos: Option<u64>) -> String {
    nanos.map_or_else(|| "nan".into(), |n| format!("{:.1}", n as f64 / 1000.0))
}

/// Prints the human summary and the `RESULT` line.
pub fn print_report(stack: &str, args: &ClientArgs, report: &Report) {
    let secs = report.elapsed;
    let unary = args.mode == Mode::Unary;
    // Per-operation figures are per call for unary and per message for streaming.
    let (op, ops) = if unary {
        ("call", report.calls)
    } else {
        ("msg", report.messages)
    };
    let mut line = format!(
        "RESULT stack={stack} mode={} size={} concurrency={} connections={} threads={} \
         seconds={:.3} calls={} messages={} calls_per_sec={:.0} msgs_per_sec={:.0} \
         mb_per_sec={:.2}",
        args.mode,
        args.size,
        args.concurrency,
        args.connections,
        args.threads,
        secs.as_secs_f64(),
        report.calls,
        report.messages,
        per_second(report.calls, secs),
        per_second(report.messages, secs),
        per_second(report.bytes, secs) / 1e6,
    );
    if !report.latency.is_empty() {
        line += &format!(
            " p50_us={} p99_us={} p999_us={} max_us={}",
            micros(report.latency.quantile(0.5)),
            micros(report.latency.quantile(0.99)),
            micros(report.latency.quantile(0.999)),
            micros(Some(report.latency.max())),
        );
    }
    if let (Some(cpu), true) = (report.cpu, ops > 0) {
        line += &format!(
            " cpu_us_per_{op}={:.2}",
            cpu.as_secs_f64() * 1e6 / ops as f64
        );
    }
    if let (Some(allocations), true) = (report.allocations, ops > 0) {
        line += &format!(
            " allocs_per_{op}={:.2} alloc_bytes_per_{op}={:.0}",
            allocations.allocations as f64 / ops as f64,
            allocations.bytes as f64 / ops as f64
        );
    }
    line += &format!(" errors={}", report.errors);

    println!(
        "{stack} {} x{} over {} connection(s), {} B payloads, {} thread(s): {:.0} calls/s, \
         {:.0} msgs/s, {:.2} MB/s in {:.2} s",
        args.mode,
        args.concurrency,
        args.connections,
        args.size,
        args.threads,
        per_second(report.calls, secs),
        per_second(report.messages, secs),
        per_second(report.bytes, secs) / 1e6,
        secs.as_secs_f64(),
    );
    if !report.latency.is_empty() {
        let what = if unary { "latency" } else { "round trip" };
        println!(
            "  {what}: p50 {} µs, p99 {} µs, p99.9 {} µs",
            micros(report.latency.quantile(0.5)),
            micros(report.latency.quantile(0.99)),
            micros(report.latency.quantile(0.999)),
        );
    }
    println!("{line}");
    let _ = io::stdout().flush();
}
