//! `make soak` (not part of `make test`): 1,000,000 unary calls (`RGRPC_SOAK_CALLS`
//! overrides) from 8 connections with 32 calls in flight each, the issue-14 load, against a
//! server in a child process. The server's RSS must be flat (at the end no more than 8 MiB
//! over what it was after the first 10% of the calls), and probe calls on fresh connections
//! made every 200 ms alongside must all be answered within a second.

mod common;
mod gen;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::attacks::{procfs, Probes};
use common::child::{serve_child, ChildServer};
use common::{echo, EchoClient};
use rgrpc_runtime::Channel;

#[test]
#[ignore = "the server half of the soak, started by it as a child process"]
fn child_server() {
    serve_child();
}

#[test]
#[ignore = "make soak: a million calls, minutes in a release build"]
fn a_million_unary_calls_with_flat_rss() {
    let total: u64 = std::env::var("RGRPC_SOAK_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let server = ChildServer::start("child_server", "");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let uri = server.uri();
        let done = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let channel = Channel::connect(&uri).await.expect("connect");
            for _ in 0..32 {
                let client = EchoClient::new(channel.clone());
                let done = done.clone();
                workers.spawn(async move {
                    while done.fetch_add(1, Ordering::Relaxed) < total {
                        client.unary(echo("soak")).await.expect("soak call");
                    }
                });
            }
        }
        let probing = {
            let (uri, done) = (uri.clone(), done.clone());
            tokio::spawn(async move {
                let mut probes = Probes::default();
                while done.load(Ordering::Relaxed) < total {
                    let t = Instant::now();
                    let call = async {
                        let channel = Channel::connect(&uri).await.map_err(|e| e.to_string())?;
                        EchoClient::new(channel)
                            .unary(echo("probe"))
                            .await
                            .map_err(|e| e.to_string())
                    };
                    match tokio::time::timeout(Duration::from_secs(5), call).await {
                        Ok(Ok(_)) => probes.latencies.push(t.elapsed()),
                        Ok(Err(e)) => {
                            probes.failures += 1;
                            probes.first_failure.get_or_insert(e);
                        }
                        Err(_) => {
                            probes.failures += 1;
                            probes.first_failure.get_or_insert("no answer in 5 s".into());
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                probes
            })
        };
        // RSS once a tenth of the calls are done (allocator and buffers warmed up), then
        // its highest value from there to the end.
        while done.load(Ordering::Relaxed) < total / 10 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let warm = procfs::vm_kib(server.pid, "VmRSS").expect("server RSS");
        let mut highest = warm;
        while !workers.is_empty() {
            tokio::select! {
                joined = workers.join_next() => {
                    if let Some(joined) = joined {
                        joined.expect("worker");
                    }
                }
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    highest = highest.max(procfs::vm_kib(server.pid, "VmRSS").unwrap_or(0));
                }
            }
        }
        let elapsed = started.elapsed();
        let end = procfs::vm_kib(server.pid, "VmRSS").expect("server RSS");
        let probes = probing.await.expect("probes");
        eprintln!(
            "soak: {total} calls in {:.1} s ({:.0}/s); server RSS {:.1} MiB after 10%, \
             highest {:.1} MiB, {:.1} MiB at the end; {} probes, max {} ms, median {} ms, {} failed",
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64(),
            warm as f64 / 1024.0,
            highest as f64 / 1024.0,
            end as f64 / 1024.0,
            probes.latencies.len(),
            probes.max().as_millis(),
            probes.median().as_millis(),
            probes.failures,
        );
        assert!(end <= warm + 8 * 1024, "RSS grew from {warm} to {end} KiB");
        assert!(highest <= warm + 16 * 1024, "RSS peaked at {highest} KiB");
        assert_eq!(probes.failures, 0, "{:?}", probes.first_failure);
        assert!(probes.max() < Duration::from_secs(1), "a probe took {:?}", probes.max());
    });
}
