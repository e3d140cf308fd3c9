//! Which protocol a new connection speaks, told from its first bytes: HTTP/2 with prior
//! knowledge starts with the client preface (RFC 9113 §3.4), anything else on a gRPC port
//! is taken for HTTP/1.1 (a request line, or garbage that hyper answers with `400`).

use std::io;
use std::time::Duration;

use tokio::net::TcpStream;

/// The protocol a connection opens with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// HTTP/2 (the client preface).
    Http2,
    /// HTTP/1.1 (anything else).
    Http1,
}

/// The HTTP/2 client connection preface.
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How many bytes decide: `PRI ` is no HTTP/1.1 method (RFC 9113 §3.4 chose it so), and
/// the three letters alone are not enough (`PROPFIND`, `PRIVATE` would be methods).
const DECISIVE: usize = 4;

/// Classifies the first bytes of a connection; `None` while too few have arrived.
pub(crate) fn classify(first: &[u8]) -> Option<Protocol> {
    let n = first.len().min(PREFACE.len());
    if first[..n] != PREFACE[..n] {
        return Some(Protocol::Http1);
    }
    (n >= DECISIVE).then_some(Protocol::Http2)
}

/// Waits for the first bytes of `tcp` and classifies them without consuming them
/// (`MSG_PEEK`), so the chosen protocol's code reads the connection from its start and the
/// HTTP/2 path keeps its plain `TcpStream`. The caller bounds the wait (the handshake
/// timeout).
pub(crate) async fn sniff(tcp: &TcpStream) -> io::Result<Protocol> {
    let mut first = [0u8; DECISIVE];
    let mut wait = Duration::from_millis(1);
    loop {
        let n = tcp.peek(&mut first).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(protocol) = classify(&first[..n]) {
            return Ok(protocol);
        }
        // Fewer bytes than decide it, which real clients never send (the preface and a
        // request line leave in one segment). Peeking again would return the same bytes at
        // once, so back off briefly instead of spinning.
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_WAIT);
    }
}

/// The longest pause between two peeks of a client that sent less than [`DECISIVE`] bytes.
const MAX_WAIT: Duration = Duration::from_millis(50);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preface_is_http2_and_request_lines_are_http1() {
        assert_eq!(classify(PREFACE), Some(Protocol::Http2));
        assert_eq!(classify(b"PRI "), Some(Protocol::Http2));
        for partial in [&b"P"[..], b"PR", b"PRI"] {
            assert_eq!(classify(partial), None, "{partial:?}");
        }
        for http1 in [
            &b"POST /a.B/C HTTP/1.1\r\n"[..],
            b"OPTIONS * HTTP/1.1",
            b"GET / HTTP/1.0",
            b"PUT",
            b"PROPFIND",
            b"PRIVATE",
            b"\x16\x03\x01", // a TLS ClientHello on a plaintext port: hyper answers 400
            b"\r\n",
        ] {
            assert_eq!(classify(http1), Some(Protocol::Http1), "{http1:?}");
        }
    }

    #[tokio::test]
    async fn sniffing_leaves_the_bytes_in_place() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            // Split the request line so the first peek sees too little.
            tcp.write_all(b"PR").await.unwrap();
            tokio::task::yield_now().await;
            tcp.write_all(b"OPFIND / HTTP/1.1\r\n").await.unwrap();
            tcp
        });
        let (mut server, _) = listener.accept().await.unwrap();
        let protocol = tokio::time::timeout(Duration::from_secs(10), sniff(&server))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(protocol, Protocol::Http1);
        let mut read = [0u8; 8];
        server.read_exact(&mut read).await.unwrap();
        assert_eq!(&read, b"PROPFIND");
        drop(client.await.unwrap());
    }
}
