//! A raw HTTP/2 peer for the hostile-peer tests and the `h2-attack` tool: frames written byte
//! by byte as an attacker writes them (RFC 9113 §4.1, §6), the bits of HPACK (RFC 7541) an
//! attacker needs, and a small HPACK decoder to read what the other side answered.
//!
//! Self-contained (std, tokio) so `conformance/src/bin/h2-attack.rs` includes this very file.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame types (RFC 9113 §6).
pub mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const PRIORITY: u8 = 0x2;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PUSH_PROMISE: u8 = 0x5;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags.
pub mod flag {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
}

/// SETTINGS identifiers (RFC 9113 §6.5.2).
pub mod setting {
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    pub const ENABLE_PUSH: u16 = 0x2;
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
}

/// HTTP/2 error codes (RFC 9113 §7) by name, for reports.
pub fn error_name(code: u32) -> &'static str {
    match code {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x4 => "SETTINGS_TIMEOUT",
        0x5 => "STREAM_CLOSED",
        0x6 => "FRAME_SIZE_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xa => "CONNECT_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        0xc => "INADEQUATE_SECURITY",
        0xd => "HTTP_1_1_REQUIRED",
        _ => "UNKNOWN",
    }
}

/// One frame: the 9-byte header and `payload`.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + payload.len());
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

pub fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(pairs.len() * 6);
    for (id, value) in pairs {
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&value.to_be_bytes());
    }
    frame(kind::SETTINGS, 0, 0, &payload)
}

pub fn settings_ack() -> Vec<u8> {
    frame(kind::SETTINGS, flag::ACK, 0, &[])
}

pub fn ping(data: [u8; 8]) -> Vec<u8> {
    frame(kind::PING, 0, 0, &data)
}

pub fn window_update(stream: u32, increment: u32) -> Vec<u8> {
    frame(kind::WINDOW_UPDATE, 0, stream, &increment.to_be_bytes())
}

pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(kind::RST_STREAM, 0, stream, &code.to_be_bytes())
}

pub fn priority(stream: u32, depends_on: u32, weight: u8) -> Vec<u8> {
    let mut payload = depends_on.to_be_bytes().to_vec();
    payload.push(weight);
    frame(kind::PRIORITY, 0, stream, &payload)
}

pub fn data(stream: u32, end_stream: bool, payload: &[u8]) -> Vec<u8> {
    let flags = if end_stream { flag::END_STREAM } else { 0 };
    frame(kind::DATA, flags, stream, payload)
}

pub fn headers(stream: u32, end_headers: bool, end_stream: bool, block: &[u8]) -> Vec<u8> {
    let mut flags = 0;
    if end_headers {
        flags |= flag::END_HEADERS;
    }
    if end_stream {
        flags |= flag::END_STREAM;
    }
    frame(kind::HEADERS, flags, stream, block)
}

pub fn continuation(stream: u32, end_headers: bool, block: &[u8]) -> Vec<u8> {
    let flags = if end_headers { flag::END_HEADERS } else { 0 };
    frame(kind::CONTINUATION, flags, stream, block)
}

pub fn goaway(last_stream: u32, code: u32) -> Vec<u8> {
    let mut payload = last_stream.to_be_bytes().to_vec();
    payload.extend_from_slice(&code.to_be_bytes());
    frame(kind::GOAWAY, 0, 0, &payload)
}

/// A gRPC message: the 5-byte prefix announcing `announced` bytes, then `body`.
pub fn grpc_message(announced: u32, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&announced.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A frame as read.
#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// A GOAWAY's error code and debug data.
    pub fn goaway(&self) -> Option<(u32, String)> {
        if self.kind != kind::GOAWAY || self.payload.len() < 8 {
            return None;
        }
        let code = u32::from_be_bytes(self.payload[4..8].try_into().ok()?);
        Some((
            code,
            String::from_utf8_lossy(&self.payload[8..]).into_owned(),
        ))
    }

    /// A RST_STREAM's error code.
    pub fn rst_code(&self) -> Option<u32> {
        if self.kind != kind::RST_STREAM || self.payload.len() != 4 {
            return None;
        }
        Some(u32::from_be_bytes(self.payload[..4].try_into().ok()?))
    }

    /// The settings a SETTINGS frame carries.
    pub fn settings(&self) -> Vec<(u16, u32)> {
        if self.kind != kind::SETTINGS {
            return Vec::new();
        }
        self.payload
            .chunks_exact(6)
            .map(|c| {
                (
                    u16::from_be_bytes([c[0], c[1]]),
                    u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                )
            })
            .collect()
    }

    /// The header block fragment of a HEADERS or CONTINUATION frame, padding and priority
    /// fields removed.
    pub fn block(&self) -> &[u8] {
        let mut p = &self.payload[..];
        if self.kind == kind::HEADERS {
            let mut pad = 0;
            if self.flags & 0x8 != 0 && !p.is_empty() {
                pad = usize::from(p[0]);
                p = &p[1..];
            }
            if self.flags & 0x20 != 0 && p.len() >= 5 {
                p = &p[5..];
            }
            p = &p[..p.len().saturating_sub(pad)];
        }
        p
    }
}

/// Reads one frame, refusing payloads over `max` bytes.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> io::Result<Frame> {
    let mut head = [0u8; 9];
    r.read_exact(&mut head).await?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes"),
        ));
    }
    let mut payload = vec![0; len];
    r.read_exact(&mut payload).await?;
    Ok(Frame {
        kind: head[3],
        flags: head[4],
        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
        payload,
    })
}

/// HPACK, encoding side: only what a hostile peer needs (no Huffman, so sizes are exact).
pub mod hpack {
    /// An integer with an `n`-bit prefix (RFC 7541 §5.1); `first` holds the pattern bits.
    pub fn int(out: &mut Vec<u8>, n: u8, first: u8, mut value: usize) {
        let max = (1usize << n) - 1;
        if value < max {
            out.push(first | value as u8);
            return;
        }
        out.push(first | max as u8);
        value -= max;
        while value >= 128 {
            out.push((value % 128) as u8 | 0x80);
            value /= 128;
        }
        out.push(value as u8);
    }

    /// A string literal, not Huffman-coded (§5.2).
    pub fn string(out: &mut Vec<u8>, s: &[u8]) {
        int(out, 7, 0, s.len());
        out.extend_from_slice(s);
    }

    /// An indexed header field (§6.1).
    pub fn indexed(out: &mut Vec<u8>, index: usize) {
        int(out, 7, 0x80, index);
    }

    /// A literal header field with a new name, without indexing (§6.2.2).
    pub fn literal(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
        out.push(0x00);
        string(out, name);
        string(out, value);
    }

    /// A literal header field with a new name, added to the dynamic table (§6.2.1).
    pub fn literal_indexed(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
        out.push(0x40);
        string(out, name);
        string(out, value);
    }

    /// A literal header field whose name is entry `index`, without indexing.
    pub fn literal_name_index(out: &mut Vec<u8>, index: usize, value: &[u8]) {
        int(out, 4, 0x00, index);
        string(out, value);
    }

    /// The head of a gRPC request: POST, http, `path`, `authority`, `content-type:
    /// application/grpc`, `te: trailers`.
    pub fn grpc_request(path: &str, authority: &str) -> Vec<u8> {
        let mut out = Vec::new();
        indexed(&mut out, 3); // :method POST
        indexed(&mut out, 6); // :scheme http
        literal_name_index(&mut out, 4, path.as_bytes()); // :path
        literal_name_index(&mut out, 1, authority.as_bytes()); // :authority
        literal_name_index(&mut out, 31, b"application/grpc"); // content-type
        literal(&mut out, b"te", b"trailers");
        out
    }

    /// A response head: `:status 200`, `content-type: application/grpc`.
    pub fn grpc_response() -> Vec<u8> {
        let mut out = Vec::new();
        indexed(&mut out, 8); // :status 200
        literal_name_index(&mut out, 31, b"application/grpc");
        out
    }
}

/// A decoded header field: name and value.
pub type Field = (Vec<u8>, Vec<u8>);

/// An HPACK decoder (RFC 7541), enough to read what a real HTTP/2 stack answers: static and
/// dynamic table, Huffman strings. Errors are strings: this is a test tool.
#[derive(Debug)]
pub struct Decoder {
    dynamic: VecDeque<Field>,
    size: usize,
    max: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            dynamic: VecDeque::new(),
            size: 0,
            max: 4096,
        }
    }
}

impl Decoder {
    /// Decodes one complete header block.
    pub fn decode(&mut self, mut block: &[u8]) -> Result<Vec<Field>, String> {
        let mut out = Vec::new();
        while let Some(&b) = block.first() {
            if b & 0x80 != 0 {
                let i = read_int(&mut block, 7)?;
                out.push(self.entry(i)?);
            } else if b & 0xe0 == 0x20 {
                let size = read_int(&mut block, 5)?;
                self.max = size;
                self.evict(0);
            } else {
                let (n, index) = if b & 0xc0 == 0x40 {
                    (6, true)
                } else {
                    (4, false)
                };
                let i = read_int(&mut block, n)?;
                let name = if i == 0 {
                    read_string(&mut block)?
                } else {
                    self.entry(i)?.0
                };
                let value = read_string(&mut block)?;
                if index {
                    let size = name.len() + value.len() + 32;
                    self.evict(size);
                    if size <= self.max {
                        self.size += size;
                        self.dynamic.push_front((name.clone(), value.clone()));
                    }
                }
                out.push((name, value));
            }
        }
        Ok(out)
    }

    fn entry(&self, i: usize) -> Result<Field, String> {
        if i == 0 {
            return Err("index 0".into());
        }
        if i <= STATIC.len() {
            let (n, v) = STATIC[i - 1];
            return Ok((n.as_bytes().to_vec(), v.as_bytes().to_vec()));
        }
        self.dynamic
            .get(i - STATIC.len() - 1)
            .cloned()
            .ok_or_else(|| format!("index {i} out of range"))
    }

    fn evict(&mut self, room: usize) {
        while self.size + room > self.max {
            match self.dynamic.pop_back() {
                Some((n, v)) => self.size -= n.len() + v.len() + 32,
                None => break,
            }
        }
    }
}

fn read_int(block: &mut &[u8], n: u8) -> Result<usize, String> {
    let max = (1usize << n) - 1;
    let (&first, rest) = block.split_first().ok_or("truncated integer")?;
    *block = rest;
    let mut value = usize::from(first) & max;
    if value < max {
        return Ok(value);
    }
    let mut shift = 0;
    loop {
        let (&b, rest) = block.split_first().ok_or("truncated integer")?;
        *block = rest;
        if shift > 28 {
            return Err("integer overflow".into());
        }
        value += usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
}

fn read_string(block: &mut &[u8]) -> Result<Vec<u8>, String> {
    let huffman = block.first().ok_or("truncated string")? & 0x80 != 0;
    let len = read_int(block, 7)?;
    if block.len() < len {
        return Err("truncated string".into());
    }
    let (s, rest) = block.split_at(len);
    *block = rest;
    if huffman {
        huffman_decode(s)
    } else {
        Ok(s.to_vec())
    }
}

/// Decodes a Huffman string bit by bit against the code table (RFC 7541 Appendix B).
fn huffman_decode(src: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let (mut code, mut len) = (0u32, 0u8);
    for &byte in src {
        for bit in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> bit) & 1);
            len += 1;
            if len > 30 {
                return Err("bad huffman code".into());
            }
            if let Some(sym) =
                (0..256).find(|&s| HUFFMAN_LENGTHS[s] == len && HUFFMAN_CODES[s] == code)
            {
                out.push(sym as u8);
                code = 0;
                len = 0;
            }
        }
    }
    // Padding: at most 7 bits, all ones (the start of EOS).
    if len > 7 || code != (1 << len) - 1 {
        return Err("bad huffman padding".into());
    }
    Ok(out)
}

const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

// The Huffman code table of RFC 7541 Appendix B, as h2 0.4 (MIT) generates it in
// `src/hpack/huffman/table.rs`.
const HUFFMAN_CODES: [u32; 256] = [
    0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7, 0xfffffe8,
    0xffffea, 0x3ffffffc, 0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec, 0xfffffed,
    0xfffffee, 0xfffffef, 0xffffff0, 0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3, 0xffffff4,
    0xffffff5, 0xffffff6, 0xffffff7, 0xffffff8, 0xffffff9, 0xffffffa, 0xffffffb, 0x14, 0x3f8,
    0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa, 0x3fa, 0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18,
    0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x5c, 0xfb, 0x7ffc, 0x20, 0xffb,
    0x3fc, 0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72, 0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0,
    0x1ffc, 0x3ffc, 0x22, 0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26, 0x27, 0x6, 0x74, 0x75,
    0x28, 0x29, 0x2a, 0x7, 0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78, 0x79, 0x7a, 0x7b, 0x7ffe,
    0x7fc, 0x3ffd, 0x1ffd, 0xffffffc, 0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3, 0x3fffd4,
    0x3fffd5, 0x7fffd9, 0x3fffd6, 0x7fffda, 0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb,
    0x7fffdf, 0xffffec, 0xffffed, 0x3fffd7, 0x7fffe0, 0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3,
    0x7fffe4, 0x1fffdc, 0x3fffd8, 0x7fffe5, 0x3fffd9, 0x7fffe6, 0x7fffe7, 0xffffef, 0x3fffda,
    0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8, 0x7fffe9, 0x1fffde, 0x7fffea, 0x3fffdd,
    0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec, 0x1fffe0, 0x1fffe1, 0x3fffe0,
    0x1fffe2, 0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef, 0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4,
    0x7ffff0, 0x3fffe5, 0x3fffe6, 0x7ffff1, 0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7,
    0x7ffff2, 0x3fffe8, 0x1ffffec, 0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde, 0x7ffffdf,
    0x3ffffe5, 0xfffff1, 0x1ffffed, 0x7fff2, 0x1fffe3, 0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7,
    0x7ffffe2, 0xfffff2, 0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9, 0xffffffd, 0x7ffffe3, 0x7ffffe4,
    0x7ffffe5, 0xfffec, 0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7, 0x1fffe8, 0x7ffff3,
    0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4, 0x3ffffeb,
    0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea, 0x7ffffeb,
    0xffffffe, 0x7ffffec, 0x7ffffed, 0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee,
];

const HUFFMAN_LENGTHS: [u8; 256] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5,
    5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6,
    6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22,
    23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22,
    21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20,
    22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
    21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22,
    22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
];
