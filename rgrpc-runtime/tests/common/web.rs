//! For the gRPC-Web tests: a raw HTTP/1.1 client (bytes on a socket, no HTTP library, so
//! the test sees exactly what the server sent) and gRPC-Web framing written out by hand.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One HTTP/1.1 response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Names lower-cased, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body's gRPC-Web frames (decoded from base64 first if `text`).
    pub fn frames(&self, text: bool) -> Frames {
        let body = if text {
            decode_text(&self.body)
        } else {
            self.body.clone()
        };
        parse_frames(&body)
    }
}

/// A connection to the server speaking HTTP/1.1.
pub struct Http1 {
    tcp: TcpStream,
    buf: Vec<u8>,
}

impl Http1 {
    pub async fn connect(addr: SocketAddr) -> Http1 {
        Http1 {
            tcp: TcpStream::connect(addr).await.expect("connect"),
            buf: Vec::new(),
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.tcp.local_addr().expect("local address")
    }

    /// Reads until `needle` has arrived (it stays buffered for [`Http1::response`]).
    pub async fn wait_for(&mut self, needle: &[u8]) {
        while !self.buf.windows(needle.len()).any(|w| w == needle) {
            assert!(self.fill().await, "connection closed before {needle:?}");
        }
    }

    pub async fn send(&mut self, raw: &[u8]) {
        self.tcp.write_all(raw).await.expect("write");
    }

    /// Reads one response; `None` if the server closed the connection first.
    pub async fn response(&mut self) -> Option<Reply> {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if !self.fill().await {
                return None;
            }
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).expect("ASCII head");
        self.buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("status line");
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status code");
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (k, v) = l.split_once(':').expect("header line");
                (k.trim().to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect();
        let find = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let body = if find("transfer-encoding").as_deref() == Some("chunked") {
            let mut body = Vec::new();
            loop {
                let line = self.line().await;
                let size = usize::from_str_radix(line.split(';').next().unwrap_or(""), 16)
                    .expect("chunk size");
                if size == 0 {
                    // No trailers are sent: the empty line ends the body.
                    assert_eq!(self.line().await, "");
                    break body;
                }
                body.extend_from_slice(&self.take(size).await);
                assert_eq!(self.line().await, "");
            }
        } else if let Some(len) = find("content-length") {
            self.take(len.parse().expect("content-length")).await
        } else if status == 204 || status == 304 || (100..200).contains(&status) {
            Vec::new()
        } else {
            while self.fill().await {}
            std::mem::take(&mut self.buf)
        };
        Some(Reply {
            status,
            headers,
            body,
        })
    }

    /// Whether the server closes the connection (within `within`) without sending more.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        match tokio::time::timeout(within, async { while self.fill().await {} }).await {
            Ok(()) => self.buf.is_empty(),
            Err(_) => false,
        }
    }

    /// Reads more; false at EOF or on a reset.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    async fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill().await, "connection closed mid-body");
        }
        self.buf.drain(..n).collect()
    }

    async fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8(self.buf[..i].to_vec()).expect("ASCII");
                self.buf.drain(..i + 2);
                return line;
            }
            assert!(self.fill().await, "connection closed mid-line");
        }
    }
}

/// A length-prefixed frame: `flag`, the big-endian length, `payload`.
pub fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![flag];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The trailer frame for a header block written out by hand.
pub fn trailer_frame(block: &str) -> Vec<u8> {
    frame(0x80, block.as_bytes())
}

/// A POST with `content-length`, the head lines given, and `body`.
pub fn post(path: &str, content_type: &str, lines: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nhost: rgrpc.test\r\ncontent-type: {content_type}\r\n\
         content-length: {}\r\n",
        body.len()
    );
    for (k, v) in lines {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A gRPC-Web body taken apart.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Frames {
    /// (flag, payload) of each message frame.
    pub messages: Vec<(u8, Vec<u8>)>,
    /// The trailer frame's lines, split at the first `:`.
    pub trailers: Option<Vec<(String, String)>>,
}

impl Frames {
    pub fn trailer(&self, name: &str) -> Option<&str> {
        self.trailers
            .as_ref()?
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Splits a gRPC-Web body into frames; the trailer frame must be last.
pub fn parse_frames(mut body: &[u8]) -> Frames {
    let mut out = Frames::default();
    while !body.is_empty() {
        assert!(out.trailers.is_none(), "a frame after the trailer frame");
        assert!(body.len() >= 5, "a truncated frame prefix");
        let flag = body[0];
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let payload = body[5..5 + len].to_vec();
        body = &body[5 + len..];
        if flag & 0x80 != 0 {
            let block = String::from_utf8(payload).expect("ASCII trailers");
            assert!(block.is_empty() || block.ends_with("\r\n"), "{block:?}");
            out.trailers = Some(
                block
                    .split_terminator("\r\n")
                    .map(|l| {
                        let (k, v) = l.split_once(':').expect("trailer line");
                        (k.to_owned(), v.to_owned())
                    })
                    .collect(),
            );
        } else {
            out.messages.push((flag, payload));
        }
    }
    out
}

/// Base64 with padding, the way a gRPC-Web text client sends it.
pub fn encode_text(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes a text body made of separately padded chunks (PROTOCOL-WEB lets padding occur
/// wherever the sender flushed), quantum by quantum.
pub fn decode_text(text: &[u8]) -> Vec<u8> {
    use base64::Engine;
    assert_eq!(text.len() % 4, 0, "a text body is whole quanta");
    let mut out = Vec::new();
    let mut run = Vec::new();
    for quantum in text.chunks(4) {
        run.extend_from_slice(quantum);
        if quantum.contains(&b'=') {
            out.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(&run)
                    .expect("base64"),
            );
            run.clear();
        }
    }
    out.extend(
        base64::engine::general_purpose::STANDARD
            .decode(&run)
            .expect("base64"),
    );
    out
}
