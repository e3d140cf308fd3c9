//! What every bench server shares: the runtime, the `PORT` line, the call counter and the
//! `STATS` line printed on SIGUSR1, and shutdown on SIGINT/SIGTERM.
//!
//! The bench runner signals SIGUSR1 before and after a load run and divides the difference in
//! allocations by the difference in calls: allocations per call on the server, without the
//! server having to know when a run starts or ends.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use tokio::runtime::Runtime;
use tokio::signal::unix::{signal, SignalKind};

use super::alloc;
use super::args::ServerArgs;

static CALLS: AtomicU64 = AtomicU64::new(0);

/// Counts one call (a unary call or a whole stream) for the `STATS` line.
#[inline]
pub fn count_call() {
    CALLS.fetch_add(1, Relaxed);
}

/// Parses the server flags, or prints the error and usage and exits with status 2.
pub fn args_or_exit() -> ServerArgs {
    ServerArgs::parse(std::env::args().skip(1)).unwrap_or_else(|message| {
        eprintln!("{message}");
        std::process::exit(2)
    })
}

/// A tokio runtime with `threads` workers (all the benches use the multi-threaded scheduler,
/// so ours and tonic's are driven alike).
pub fn runtime(threads: usize) -> io::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
}

/// Prints `PORT n` as the first line (the runner reads it when it asked for port 0), turns
/// on allocation counting if asked, and starts the SIGUSR1 `STATS` reporter. Call inside the
/// runtime once the listener is bound.
pub fn started(args: &ServerArgs, port: u16) -> io::Result<()> {
    if args.count_allocs {
        alloc::enable();
    }
    let mut usr1 = signal(SignalKind::user_defined1())?;
    println!("PORT {port}");
    io::stdout().flush()?;
    tokio::spawn(async move {
        while usr1.recv().await.is_some() {
            // Read the counters before formatting: the line's own allocations land in the
            // next interval, not this one.
            let calls = CALLS.load(Relaxed);
            let allocs = alloc::Snapshot::now();
            println!(
                "STATS calls={calls} allocations={} alloc_bytes={}",
                allocs.allocations, allocs.bytes
            );
            let _ = io::stdout().flush();
        }
    });
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
