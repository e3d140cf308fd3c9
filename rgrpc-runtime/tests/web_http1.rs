//! Hostile HTTP/1.1 on the gRPC port, as `malformed.rs` does for HTTP/2: request
//! smuggling, framing the RFC forbids, oversized and slow heads and bodies, garbage. Each
//! must be refused cleanly (a 4xx and a closed connection, or a failed call), never
//! mis-framed, and the server must keep serving.

mod common;
mod gen;

use std::time::Duration;

use common::web::{frame, post, Http1};
use common::{bounded, echo, TestServer};
use protobuf::Message;
use rgrpc_runtime::web::GrpcWeb;

const UNARY: &str = "/rgrpc.test.Echo/Unary";
const BINARY: &str = "application/grpc-web+proto";
/// Timeouts short enough for a test, long enough not to fire by accident on a busy host.
const SHORT: Duration = Duration::from_millis(300);
/// How long a test waits for the server to close a connection.
const CLOSE: Duration = Duration::from_secs(10);

async fn server() -> TestServer {
    TestServer::start_with(|b| {
        b.grpc_web(
            GrpcWeb::new()
                .http1_header_timeout(SHORT)
                .http1_body_idle_timeout(Some(SHORT))
                .http1_max_header_size(4096),
        )
        .handshake_timeout(SHORT)
    })
    .await
}

fn message(text: &str) -> Vec<u8> {
    frame(0, &echo(text).write_to_bytes().unwrap())
}

/// A well-formed call still works: the server survived whatever came before.
async fn still_serves(server: &TestServer) {
    let mut http = Http1::connect(server.addr).await;
    http.send(&post(UNARY, BINARY, &[], &message("alive")))
        .await;
    let r = http.response().await.expect("a response");
    assert_eq!(r.frames(false).trailer("grpc-status"), Some("0"));
    let reply = server.client().await.unary(echo("native")).await.unwrap();
    assert_eq!(reply.message().message, "native");
}

/// Sends `raw` on a fresh connection; the server must answer `status` and close.
async fn refused(server: &TestServer, raw: &[u8], status: u16) {
    let mut http = Http1::connect(server.addr).await;
    http.send(raw).await;
    let r = http.response().await.expect("an answer");
    assert_eq!(r.status, status, "{:?}", String::from_utf8_lossy(raw));
    assert!(
        http.closed_within(CLOSE).await,
        "the connection stays open after {:?}",
        String::from_utf8_lossy(raw)
    );
}

/// A unary request head with the given framing lines, then `body`.
fn with_framing(lines: &str, body: &[u8]) -> Vec<u8> {
    let mut raw =
        format!("POST {UNARY} HTTP/1.1\r\nhost: t\r\ncontent-type: {BINARY}\r\n{lines}\r\n")
            .into_bytes();
    raw.extend_from_slice(body);
    raw
}

#[tokio::test]
async fn content_length_with_chunked_cannot_smuggle_a_request() {
    let server = server().await;
    bounded(async {
        let call = message("front");
        // The chunked body is the whole call; Content-Length (in either order) claims the
        // body is shorter, so that a server going by it would read the rest as a second
        // request. RFC 9112 §6.1: Transfer-Encoding wins and the connection closes.
        let chunked = [
            format!("{:x}\r\n", call.len()).into_bytes(),
            call.clone(),
            b"\r\n0\r\n\r\n".to_vec(),
        ]
        .concat();
        let smuggled = post(UNARY, BINARY, &[], &message("smuggled"));
        for lines in [
            "content-length: 4\r\ntransfer-encoding: chunked\r\n",
            "transfer-encoding: chunked\r\ncontent-length: 4\r\n",
        ] {
            let mut raw = with_framing(lines, &chunked);
            raw.extend_from_slice(&smuggled);
            let mut http = Http1::connect(server.addr).await;
            http.send(&raw).await;
            let r = http.response().await.expect("an answer");
            assert_eq!(r.status, 200);
            assert_eq!(r.frames(false).trailer("grpc-status"), Some("0"));
            let seen = String::from_utf8_lossy(&r.body).into_owned();
            assert!(seen.contains("front"), "{seen}");
            assert!(
                http.closed_within(CLOSE).await,
                "the smuggled request was read ({lines:?})"
            );
        }
        still_serves(&server).await;
    })
    .await;
}

#[tokio::test]
async fn lengths_that_disagree_or_are_malformed_get_400() {
    let server = server().await;
    bounded(async {
        let call = message("x");
        let n = call.len();
        for lines in [
            format!("content-length: {n}\r\ncontent-length: {}\r\n", n + 1),
            format!("content-length: {n}, {}\r\n", n + 1),
            format!("content-length: +{n}\r\n"),
            format!("content-length: -{n}\r\n"),
            format!("content-length: {n}x\r\n"),
            "content-length: 99999999999999999999999\r\n".to_owned(),
            "transfer-encoding: gzip\r\n".to_owned(),
            "transfer-encoding: chunked, gzip\r\n".to_owned(),
            "transfer-encoding: chunked\r\ntransfer-encoding: identity\r\n".to_owned(),
        ] {
            refused(&server, &with_framing(&lines, &call), 400).await;
        }
        // Transfer-Encoding does not exist in HTTP/1.0.
        let raw = format!(
            "POST {UNARY} HTTP/1.0\r\ncontent-type: {BINARY}\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"
        );
        refused(&server, raw.as_bytes(), 400).await;
        still_serves(&server).await;
    })
    .await;
}

#[tokio::test]
async fn equal_duplicate_lengths_are_one_length() {
    // RFC 9110 §8.6 lets a recipient treat identical Content-Length values as one; framing
    // stays unambiguous, so the pipelined request after it is read correctly.
    let server = server().await;
    bounded(async {
        let call = message("dup");
        let n = call.len();
        let mut raw = with_framing(
            &format!("content-length: {n}\r\ncontent-length: {n}\r\n"),
            &call,
        );
        raw.extend_from_slice(&post(UNARY, BINARY, &[], &message("next")));
        let mut http = Http1::connect(server.addr).await;
        http.send(&raw).await;
        for expected in ["dup", "next"] {
            let r = http.response().await.expect("an answer");
            let seen = String::from_utf8_lossy(&r.body).into_owned();
            assert!(seen.contains(expected), "{seen}");
        }
    })
    .await;
}

#[tokio::test]
async fn broken_chunked_bodies_fail_the_call_and_close() {
    let server = server().await;
    bounded(async {
        for body in [
            &b"ffffffffffffffffffff\r\n"[..], // a size that overflows
            b"zz\r\nabc\r\n0\r\n\r\n",        // not hex
            b"5\r\nabcdefgh\r\n0\r\n\r\n",    // more data than the size
        ] {
            let raw = with_framing("transfer-encoding: chunked\r\n", body);
            let mut http = Http1::connect(server.addr).await;
            http.send(&raw).await;
            // Either an error status or a closed connection; never a successful call, and
            // never a connection left open for a next request.
            if let Some(r) = http.response().await {
                let code = r
                    .header("grpc-status")
                    .map(str::to_owned)
                    .or_else(|| r.frames(false).trailer("grpc-status").map(str::to_owned));
                assert_ne!(code.as_deref(), Some("0"), "{body:?}: {r:?}");
            }
            assert!(http.closed_within(CLOSE).await, "{body:?}");
        }
        still_serves(&server).await;
    })
    .await;
}

#[tokio::test]
async fn oversized_heads_get_431() {
    let server = server().await;
    bounded(async {
        let big = format!("x-big: {}\r\n", "a".repeat(8192));
        refused(&server, &with_framing(&big, b""), 431).await;
        let many: String = (0..150).map(|i| format!("x-h{i}: v\r\n")).collect();
        refused(&server, &with_framing(&many, b""), 431).await;
        still_serves(&server).await;
    })
    .await;
}

#[tokio::test]
async fn malformed_heads_get_400() {
    let server = server().await;
    bounded(async {
        for raw in [
            &b"POST /a HTTP/1.1\r\nhost: t\r\n folded: header\r\n\r\n"[..],
            b"POST /a HTTP/1.1\r\nhost: t\r\nbad header: x\r\n\r\n",
            b"POST /a HTTP/1.1\r\nhost: t\r\nx: a\x00b\r\n\r\n",
            b"POST /a HTTP/9.9\r\nhost: t\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", // a TLS ClientHello
            b"hello?\r\n\r\n",
        ] {
            refused(&server, raw, 400).await;
        }
        still_serves(&server).await;
    })
    .await;
}

#[tokio::test]
async fn slow_or_silent_clients_are_closed() {
    let server = server().await;
    bounded(async {
        // A head that never ends (slowloris).
        let mut http = Http1::connect(server.addr).await;
        http.send(b"POST /rgrpc.test.Echo/Unary HTTP/1.1\r\nhost: t\r\n")
            .await;
        assert!(
            http.closed_within(CLOSE).await,
            "a slow head was waited for"
        );

        // One byte, not enough to tell HTTP/2 from HTTP/1.1: the handshake timeout.
        let mut http = Http1::connect(server.addr).await;
        http.send(b"P").await;
        assert!(
            http.closed_within(CLOSE).await,
            "a silent client was waited for"
        );

        // An idle keep-alive connection after a call.
        let mut http = Http1::connect(server.addr).await;
        http.send(&post(UNARY, BINARY, &[], &message("once"))).await;
        http.response().await.expect("an answer");
        assert!(http.closed_within(CLOSE).await, "an idle connection stayed");

        // A body that stalls: the call is cancelled, the answer says so, and the
        // connection (whose framing is now unknown) closes.
        let call = message("stalls");
        let mut http = Http1::connect(server.addr).await;
        let mut raw = with_framing(&format!("content-length: {}\r\n", call.len() + 10), &call);
        raw.truncate(raw.len() - 2);
        http.send(&raw).await;
        let r = http.response().await.expect("an answer");
        assert_eq!(r.header("grpc-status"), Some("1"), "{r:?}");
        assert!(
            http.closed_within(CLOSE).await,
            "a stalled body's connection stayed"
        );
        still_serves(&server).await;
    })
    .await;
}

#[tokio::test]
async fn pipelined_and_expect_continue_requests() {
    let server = server().await;
    bounded(async {
        let mut http = Http1::connect(server.addr).await;
        let raw = [
            post(UNARY, BINARY, &[], &message("one")),
            post(UNARY, BINARY, &[], &message("two")),
        ]
        .concat();
        http.send(&raw).await;
        for expected in ["one", "two"] {
            let r = http.response().await.expect("an answer");
            assert!(String::from_utf8_lossy(&r.body).contains(expected));
        }

        let call = message("continue");
        let head = format!(
            "POST {UNARY} HTTP/1.1\r\nhost: t\r\ncontent-type: {BINARY}\r\n\
             content-length: {}\r\nexpect: 100-continue\r\n\r\n",
            call.len()
        );
        http.send(head.as_bytes()).await;
        let r = http.response().await.expect("100 Continue");
        assert_eq!(r.status, 100);
        http.send(&call).await;
        let r = http.response().await.expect("the answer");
        assert!(String::from_utf8_lossy(&r.body).contains("continue"));
    })
    .await;
}
