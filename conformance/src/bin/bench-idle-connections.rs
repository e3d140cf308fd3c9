//! Opens many idle HTTP/2 connections to a server and holds them, so the bench can read the
//! server's memory per idle connection.
//!
//! `bench-idle-connections --addr 127.0.0.1:N [--count 1000] [--hold S]`: connects, completes
//! the HTTP/2 handshake and one PING round trip on each connection (so the server has set
//! every one up), prints `READY n`, then holds them until stdin closes or `--hold` seconds
//! (default 60) pass, whichever is first.

use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

struct Args {
    addr: String,
    count: usize,
    hold: Duration,
}

const USAGE: &str = "usage: bench-idle-connections --addr HOST:PORT [--count N] [--hold S]";

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        addr: String::new(),
        count: 1000,
        hold: Duration::from_secs(60),
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--addr" => parsed.addr = value,
            "--count" => parsed.count = value.parse().map_err(|e| format!("--count: {e}"))?,
            "--hold" => {
                let secs: f64 = value.parse().map_err(|e| format!("--hold: {e}"))?;
                parsed.hold =
                    Duration::try_from_secs_f64(secs).map_err(|e| format!("--hold: {e}"))?;
            }
            _ => return Err(format!("unknown flag {flag:?}\n{USAGE}")),
        }
    }
    if parsed.addr.is_empty() {
        return Err(format!("--addr is required\n{USAGE}"));
    }
    parsed.addr = parsed.addr.trim_start_matches("http://").to_owned();
    Ok(parsed)
}

/// Connects, handshakes and pings once; returns the handle that keeps the connection open.
async fn open(addr: &str) -> Result<h2::client::SendRequest<Bytes>, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let (send, mut conn) = h2::client::handshake(tcp)
        .await
        .map_err(|e| e.to_string())?;
    let mut ping = conn.ping_pong().ok_or("no ping handle")?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    ping.ping(h2::Ping::opaque())
        .await
        .map_err(|e| e.to_string())?;
    Ok(send)
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let mut held = Vec::with_capacity(args.count);
        for i in 0..args.count {
            match open(&args.addr).await {
                Ok(send) => held.push(send),
                Err(e) => {
                    eprintln!("connection {i}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        println!("READY {}", held.len());
        let mut stdin = tokio::io::stdin();
        let mut sink = [0u8; 64];
        let closed = async { while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {} };
        let _ = tokio::time::timeout(args.hold, closed).await;
        ExitCode::SUCCESS
    })
}
