//! The bridge against a stand-in native server (a raw `h2` server answering fixed gRPC
//! responses), driven over in-memory duplex streams with raw HTTP/1.1 bytes and a raw `h2`
//! client: byte-exact, without the rest of the server. The end-to-end tests over TCP are in
//! `tests/web*.rs`.

use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use http::HeaderMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::{GrpcWeb, WebConfig};

const LIMIT: Duration = Duration::from_secs(10);

/// A native gRPC server that answers by path: `Echo` echoes the request's messages and
/// metadata, `Fail` answers trailers-only, `Stream` sends three messages one by one,
/// `Seen` reports the request head it got.
async fn native_server(io: DuplexStream) {
    let mut conn = h2::server::handshake(io).await.unwrap();
    while let Some(Ok((request, mut respond))) = conn.accept().await {
        tokio::spawn(async move {
            let (parts, mut body) = request.into_parts();
            let mut received = Vec::new();
            while let Some(Ok(chunk)) = body.data().await {
                let _ = body.flow_control().release_capacity(chunk.len());
                received.extend_from_slice(&chunk);
            }
            let head = |pairs: &[(&str, String)]| {
                let mut response =
                    http::Response::builder().header("content-type", "application/grpc");
                for (k, v) in pairs {
                    response = response.header(*k, v.as_str());
                }
                response.body(()).unwrap()
            };
            let trailers = |pairs: &[(&str, &str)]| {
                let mut t = HeaderMap::new();
                for (k, v) in pairs {
                    t.insert(
                        http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                        v.parse().unwrap(),
                    );
                }
                t
            };
            match parts.uri.path() {
                "/t.S/Echo" => {
                    let md = parts
                        .headers
                        .get("x-md")
                        .map(|v| v.to_str().unwrap().to_owned());
                    let mut stream = respond
                        .send_response(head(&[("x-md", md.unwrap_or_default())]), false)
                        .unwrap();
                    stream.send_data(received.into(), false).unwrap();
                    stream
                        .send_trailers(trailers(&[("x-t-bin", "AAE"), ("grpc-status", "0")]))
                        .unwrap();
                }
                "/t.S/Fail" => {
                    let mut response = head(&[]);
                    response
                        .headers_mut()
                        .insert("grpc-status", "5".parse().unwrap());
                    response
                        .headers_mut()
                        .insert("grpc-message", "not%20here".parse().unwrap());
                    respond.send_response(response, true).unwrap();
                }
                "/t.S/Stream" => {
                    let mut stream = respond.send_response(head(&[]), false).unwrap();
                    for m in [&b"a"[..], b"bc", b"def"] {
                        stream.send_data(Bytes::from(message(m)), false).unwrap();
                        tokio::task::yield_now().await;
                    }
                    stream
                        .send_trailers(trailers(&[("grpc-status", "0")]))
                        .unwrap();
                }
                "/t.S/Seen" => {
                    let seen: Vec<String> = parts
                        .headers
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v.to_str().unwrap()))
                        .collect();
                    let mut response = head(&[("x-seen", seen.join(";"))]);
                    response
                        .headers_mut()
                        .insert("grpc-status", "0".parse().unwrap());
                    respond.send_response(response, true).unwrap();
                }
                other => panic!("unexpected path {other}"),
            }
        });
    }
}

/// A bridge to a fresh [`native_server`].
async fn upstream() -> SendRequest<Bytes> {
    let bridge = super::open_bridge().await.unwrap();
    tokio::spawn(native_server(bridge.server_io));
    let client = bridge.client;
    tokio::spawn(async move {
        let _ = client.await;
    });
    bridge.send
}

fn message(payload: &[u8]) -> Vec<u8> {
    let mut m = vec![0];
    m.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    m.extend_from_slice(payload);
    m
}

/// The trailer frame holding `block`, written out by hand.
fn trailer(block: &[u8]) -> Vec<u8> {
    let mut t = vec![0x80];
    t.extend_from_slice(&(block.len() as u32).to_be_bytes());
    t.extend_from_slice(block);
    t
}

fn config(web: GrpcWeb) -> std::sync::Arc<WebConfig> {
    std::sync::Arc::new(web.build().unwrap())
}

/// Serves HTTP/1.1 on one end of a duplex and returns the other.
async fn http1(web: GrpcWeb) -> DuplexStream {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let upstream = upstream().await;
    let web = config(web);
    let head_timeout = web.http1.header_timeout;
    tokio::spawn(super::serve_http1(
        server,
        upstream,
        web,
        head_timeout,
        std::future::pending(),
    ));
    client
}

/// Sends `request` and reads until the server closes the connection.
async fn exchange(mut io: DuplexStream, request: &[u8]) -> Vec<u8> {
    tokio::time::timeout(LIMIT, async move {
        io.write_all(request).await.unwrap();
        let mut out = Vec::new();
        io.read_to_end(&mut out).await.unwrap();
        out
    })
    .await
    .expect("exchange timed out")
}

/// Splits an HTTP/1.1 response into its head (lower-cased) and de-chunked body.
fn parse_response(raw: &[u8]) -> (String, Vec<u8>) {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut rest = &raw[split + 4..];
    if !head.contains("transfer-encoding: chunked") {
        return (head, rest.to_vec());
    }
    let mut body = Vec::new();
    loop {
        let line = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line]).unwrap(), 16).unwrap();
        rest = &rest[line + 2..];
        if size == 0 {
            return (head, body);
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

fn post(path: &str, content_type: &str, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nhost: api.test\r\ncontent-type: {content_type}\r\n\
         content-length: {}\r\nconnection: close\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

#[tokio::test]
async fn binary_unary_over_http1_is_byte_exact() {
    let io = http1(GrpcWeb::new()).await;
    let request = post(
        "/t.S/Echo",
        "application/grpc-web+proto",
        "x-md: hi\r\n",
        &message(b"hello"),
    );
    let (head, body) = parse_response(&exchange(io, &request).await);
    assert!(head.starts_with("http/1.1 200 ok"), "{head}");
    assert!(
        head.contains("content-type: application/grpc-web+proto"),
        "{head}"
    );
    assert!(head.contains("x-md: hi"), "{head}");
    let mut expected = message(b"hello");
    expected.extend_from_slice(&trailer(b"grpc-status:0\r\nx-t-bin:AAE\r\n"));
    assert_eq!(body, expected);
}

#[tokio::test]
async fn text_mode_decodes_a_body_split_mid_quantum_and_answers_in_text() {
    let io = http1(GrpcWeb::new()).await;
    // Two messages, flushed (and padded) separately, then sent in chunks of 3 characters.
    let text: String = [message(b"A"), message(b"hello")]
        .iter()
        .map(|m| String::from_utf8(super::text::encode(m).to_vec()).unwrap())
        .collect();
    let mut request = b"POST /t.S/Echo HTTP/1.1\r\nhost: api.test\r\n\
        content-type: application/grpc-web-text\r\naccept: application/grpc-web-text\r\n\
        transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        .to_vec();
    for piece in text.as_bytes().chunks(3) {
        request.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        request.extend_from_slice(piece);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let (head, body) = parse_response(&exchange(io, &request).await);
    assert!(
        head.contains("content-type: application/grpc-web-text+proto"),
        "{head}"
    );
    let mut decoder = super::text::TextDecoder::default();
    let mut decoded = decoder.decode(&body).unwrap().to_vec();
    decoded.extend_from_slice(&decoder.finish().unwrap());
    let mut expected = [message(b"A"), message(b"hello")].concat();
    expected.extend_from_slice(&trailer(b"grpc-status:0\r\nx-t-bin:AAE\r\n"));
    assert_eq!(decoded, expected);
}

#[tokio::test]
async fn trailers_only_puts_the_status_in_the_headers() {
    let io = http1(GrpcWeb::new()).await;
    let request = post("/t.S/Fail", "application/grpc-web", "", &message(b""));
    let (head, body) = parse_response(&exchange(io, &request).await);
    assert!(head.starts_with("http/1.1 200 ok"), "{head}");
    assert!(head.contains("grpc-status: 5"), "{head}");
    assert!(head.contains("grpc-message: not%20here"), "{head}");
    assert!(head.contains("content-length: 0"), "{head}");
    assert!(body.is_empty());
}

#[tokio::test]
async fn streamed_messages_arrive_in_order_before_the_trailers() {
    let io = http1(GrpcWeb::new()).await;
    let request = post("/t.S/Stream", "application/grpc-web", "", &message(b"go"));
    let (_, body) = parse_response(&exchange(io, &request).await);
    let expected = [
        message(b"a"),
        message(b"bc"),
        message(b"def"),
        trailer(b"grpc-status:0\r\n"),
    ]
    .concat();
    assert_eq!(body, expected);
}

#[tokio::test]
async fn the_native_head_carries_metadata_but_not_the_connection() {
    let io = http1(GrpcWeb::new()).await;
    let request = post(
        "/t.S/Seen",
        "application/grpc-web-text+proto",
        "x-md-bin: AAE=\r\ngrpc-timeout: 5S\r\nkeep-alive: 5\r\n",
        b"",
    );
    let (head, _) = parse_response(&exchange(io, &request).await);
    let seen = head
        .lines()
        .find_map(|l| l.strip_prefix("x-seen: "))
        .expect("x-seen")
        .to_owned();
    for want in [
        "content-type=application/grpc+proto",
        "te=trailers",
        "x-md-bin=aae=", // the head was lower-cased above
        "grpc-timeout=5s",
    ] {
        assert!(seen.split(';').any(|s| s == want), "{want} not in {seen}");
    }
    for gone in ["host=", "connection=", "keep-alive=", "content-length="] {
        assert!(
            !seen.split(';').any(|s| s.starts_with(gone)),
            "{gone} in {seen}"
        );
    }
}

#[tokio::test]
async fn preflight_and_origin_checks() {
    let web = || GrpcWeb::new().allow_origin("http://page.test:8080");
    let preflight = b"OPTIONS /t.S/Echo HTTP/1.1\r\nhost: api.test\r\n\
        origin: http://page.test:8080\r\naccess-control-request-method: POST\r\n\
        access-control-request-headers: content-type,x-grpc-web\r\nconnection: close\r\n\r\n";
    let (head, body) = parse_response(&exchange(http1(web()).await, preflight).await);
    assert!(head.starts_with("http/1.1 204 no content"), "{head}");
    assert!(
        head.contains("access-control-allow-origin: http://page.test:8080"),
        "{head}"
    );
    assert!(
        head.contains("access-control-allow-methods: post, options"),
        "{head}"
    );
    assert!(body.is_empty());

    let denied = post(
        "/t.S/Echo",
        "application/grpc-web",
        "origin: http://evil.test\r\n",
        &message(b"x"),
    );
    let (head, _) = parse_response(&exchange(http1(web()).await, &denied).await);
    assert!(head.starts_with("http/1.1 403 forbidden"), "{head}");
    assert!(!head.contains("access-control-allow-origin"), "{head}");

    let allowed = post(
        "/t.S/Echo",
        "application/grpc-web",
        "origin: http://page.test:8080\r\n",
        &message(b"x"),
    );
    let (head, _) = parse_response(&exchange(http1(web()).await, &allowed).await);
    assert!(head.starts_with("http/1.1 200 ok"), "{head}");
    assert!(
        head.contains(
            "access-control-expose-headers: grpc-status, grpc-message, grpc-status-details-bin"
        ),
        "{head}"
    );
}

#[tokio::test]
async fn smuggling_with_both_lengths_reads_one_request_and_closes() {
    // Content-Length says 5 (`0\r\n\r\n`), chunked says empty; a second request hides
    // behind. hyper goes by Transfer-Encoding and closes the connection after answering,
    // so the hidden request never runs.
    let io = http1(GrpcWeb::new()).await;
    let request = b"POST /t.S/Seen HTTP/1.1\r\nhost: api.test\r\n\
        content-type: application/grpc-web\r\ncontent-length: 5\r\n\
        transfer-encoding: chunked\r\n\r\n0\r\n\r\n\
        POST /t.S/Fail HTTP/1.1\r\nhost: api.test\r\ncontent-type: application/grpc-web\r\n\
        content-length: 0\r\n\r\n";
    let raw = exchange(io, request).await;
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(text.matches("HTTP/1.1 ").count(), 1, "{text}");
    assert!(!text.contains("grpc-status: 5"), "{text}");
}

#[tokio::test]
async fn web_over_an_http2_stream() {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let web = config(GrpcWeb::new());
    tokio::spawn(async move {
        let mut conn = h2::server::handshake(server_io).await.unwrap();
        while let Some(Ok((request, mut respond))) = conn.accept().await {
            let (parts, body) = request.into_parts();
            assert!(super::is_web_request(&parts));
            let Some(prepared) = super::prepare_h2(&parts, &mut respond, &web) else {
                continue;
            };
            let upstream = upstream().await;
            tokio::spawn(super::serve_h2_stream(
                prepared,
                body,
                respond,
                upstream,
                web.clone(),
            ));
        }
    });
    let (mut send, conn) = h2::client::handshake(client_io).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let request = http::Request::post("http://api.test/t.S/Echo")
        .header("content-type", "application/grpc-web")
        .header("x-md", "over h2")
        .body(())
        .unwrap();
    let (response, mut body) = send.send_request(request, false).unwrap();
    body.send_data(Bytes::from(message(b"yo")), true).unwrap();
    let response = tokio::time::timeout(LIMIT, response)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/grpc-web+proto"
    );
    assert_eq!(response.headers()["x-md"], "over h2");
    let mut recv = response.into_body();
    let mut got = Vec::new();
    while let Some(chunk) = tokio::time::timeout(LIMIT, recv.data()).await.unwrap() {
        got.extend_from_slice(&chunk.unwrap());
    }
    let mut expected = message(b"yo");
    expected.extend_from_slice(&trailer(b"grpc-status:0\r\nx-t-bin:AAE\r\n"));
    assert_eq!(got, expected);
    assert!(recv.trailers().await.unwrap().is_none());
}
