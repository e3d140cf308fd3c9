//! gRPC-Web end to end: a server with gRPC-Web on, over TCP, called with raw HTTP/1.1 bytes
//! and a raw `h2` client, byte-exact where the bytes are ours to decide. Every path the
//! protocol has: binary and text, unary and streaming, OK, trailers-only errors and errors
//! after messages, metadata both ways (`-bin` too), deadlines, the receive limit,
//! compression, CORS, and native gRPC on the same port. Hostile HTTP/1.1 is in
//! `web_http1.rs`; `curl`, `buf curl` and a browser in `web_tools.rs` and conformance.

mod common;
mod gen;

use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use common::web::{encode_text, frame, post, trailer_frame, Http1};
use common::{
    assert_handler_cancelled, bounded, echo, EchoRequest, EchoResponse, Event, TestServer,
};
use gen::echo_rgrpc::{Echo, EchoServer};
use protobuf::Message;
use rgrpc_runtime::web::GrpcWeb;
use rgrpc_runtime::{
    CompressionEncoding, Request, Response, ResponseSender, Server, Status, Streaming,
};

const UNARY: &str = "/rgrpc.test.Echo/Unary";
const SERVER_STREAM: &str = "/rgrpc.test.Echo/ServerStream";
const CLIENT_STREAM: &str = "/rgrpc.test.Echo/ClientStream";
const BIDI: &str = "/rgrpc.test.Echo/Bidi";
const BINARY: &str = "application/grpc-web+proto";
const TEXT: &str = "application/grpc-web-text+proto";

async fn web_server() -> TestServer {
    TestServer::start_with(|b| b.grpc_web(GrpcWeb::new())).await
}

fn message(request: &EchoRequest) -> Vec<u8> {
    frame(0, &request.write_to_bytes().unwrap())
}

fn reply(text: &str) -> Vec<u8> {
    let response = EchoResponse {
        message: text.into(),
        ..Default::default()
    };
    frame(0, &response.write_to_bytes().unwrap())
}

#[tokio::test]
async fn binary_unary_over_http1_byte_exact_with_metadata_both_ways() {
    let server = web_server().await;
    bounded(async {
        let mut http = Http1::connect(server.addr).await;
        http.send(&post(
            UNARY,
            BINARY,
            &[("x-echo", "hi"), ("x-echo-bin", "AAEC")],
            &message(&echo("hello")),
        ))
        .await;
        let r = http.response().await.expect("a response");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some(BINARY));
        assert_eq!(r.header("x-echo"), Some("hi"));
        assert_eq!(r.header("x-echo-bin"), Some("AAEC"));
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
        let mut expected = reply("hello");
        expected.extend(trailer_frame(
            "grpc-status:0\r\nx-echo-trailer:hi\r\nx-echo-trailer-bin:AAEC\r\n",
        ));
        assert_eq!(r.body, expected);

        // The connection is kept alive for the next call.
        http.send(&post(UNARY, BINARY, &[], &message(&echo("again"))))
            .await;
        let r = http.response().await.expect("a second response");
        assert_eq!(
            r.frames(false).messages,
            vec![(0, reply("again")[5..].to_vec())]
        );
        assert_eq!(r.frames(false).trailer("grpc-status"), Some("0"));
    })
    .await;
}

#[tokio::test]
async fn text_mode_both_ways() {
    let server = web_server().await;
    bounded(async {
        // Two padded chunks, as a client flushing twice would send: one request message
        // split across them.
        let request = message(&echo("text mode"));
        let (a, b) = request.split_at(7);
        let body = format!("{}{}", encode_text(a), encode_text(b));
        assert!(body[..body.len() - 1].contains('='), "padding mid-body");
        let mut http = Http1::connect(server.addr).await;
        http.send(&post(
            UNARY,
            "application/grpc-web-text",
            &[("accept", "application/grpc-web-text")],
            body.as_bytes(),
        ))
        .await;
        let r = http.response().await.expect("a response");
        assert_eq!(r.header("content-type"), Some(TEXT));
        assert!(r.body.iter().all(|b| b.is_ascii_graphic()));
        let frames = r.frames(true);
        assert_eq!(frames.messages, vec![(0, reply("text mode")[5..].to_vec())]);
        assert_eq!(
            frames.trailers,
            Some(vec![("grpc-status".into(), "0".into())])
        );
    })
    .await;
}

#[tokio::test]
async fn a_text_body_that_is_not_base64_fails_the_call() {
    let mut server = web_server().await;
    bounded(async {
        // Before any response: trailers-only INTERNAL.
        let mut http = Http1::connect(server.addr).await;
        http.send(&post(UNARY, TEXT, &[], b"AAAA!!!!")).await;
        let r = http.response().await.expect("a response");
        assert_eq!(r.header("grpc-status"), Some("13"), "{r:?}");
        assert!(
            r.header("grpc-message").unwrap().contains("base64"),
            "{r:?}"
        );

        // Mid-stream (bidi over HTTP/2): the first message is answered, then garbage ends the
        // call with INTERNAL as the last frame, and the handler is cancelled.
        let mut send = h2_connect(server.addr).await;
        let request = http::Request::post(format!("http://rgrpc.test{BIDI}"))
            .header("content-type", TEXT)
            .body(())
            .unwrap();
        let (response, mut body) = send.send_request(request, false).unwrap();
        body.send_data(encode_text(&message(&echo("one"))).into(), false)
            .unwrap();
        let mut recv = response.await.unwrap().into_body();
        let first = recv.data().await.unwrap().unwrap();
        let _ = recv.flow_control().release_capacity(first.len());
        assert_eq!(common::web::decode_text(&first), reply("one"));
        body.send_data(Bytes::from_static(b"@@@@"), false).unwrap();
        let rest = common::web::decode_text(&h2_read_all(&mut recv).await);
        let frames = common::web::parse_frames(&rest);
        assert!(frames.messages.is_empty());
        assert_eq!(frames.trailer("grpc-status"), Some("13"), "{frames:?}");
        // The handler ends early: it sees the reset request stream (or its cancellation
        // fires first) and its future is dropped.
        let mut event = server.next_event().await;
        if event == Some(Event::Cancelled("bidi".into())) {
            event = server.next_event().await;
        }
        assert_eq!(event, Some(Event::Dropped("bidi".into())));
    })
    .await;
}

#[tokio::test]
async fn server_streaming_then_ok_and_errors_after_messages() {
    let server = web_server().await;
    bounded(async {
        let mut http = Http1::connect(server.addr).await;
        let mut ok = echo("s");
        ok.count = 3;
        http.send(&post(SERVER_STREAM, BINARY, &[], &message(&ok)))
            .await;
        let r = http.response().await.expect("a response");
        let mut expected = [reply("s-0"), reply("s-1"), reply("s-2")].concat();
        expected.extend(trailer_frame("grpc-status:0\r\n"));
        assert_eq!(r.body, expected);

        let mut failing = echo("f");
        failing.count = 2;
        failing.fail_code = 9;
        failing.fail_message = "stopped: 100% done".into();
        http.send(&post(SERVER_STREAM, BINARY, &[], &message(&failing)))
            .await;
        let r = http.response().await.expect("a response");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("grpc-status"), None, "the status is in the body");
        let mut expected = [reply("f-0"), reply("f-1")].concat();
        expected.extend(trailer_frame(
            "grpc-status:9\r\ngrpc-message:stopped: 100%25 done\r\n",
        ));
        assert_eq!(r.body, expected);
    })
    .await;
}

#[tokio::test]
async fn an_error_before_any_message_is_trailers_only() {
    let server = web_server().await;
    bounded(async {
        let mut http = Http1::connect(server.addr).await;
        let mut failing = echo("x");
        failing.fail_code = 5;
        failing.fail_message = "no such thing".into();
        http.send(&post(
            UNARY,
            BINARY,
            &[("x-echo", "kept")],
            &message(&failing),
        ))
        .await;
        let r = http.response().await.expect("a response");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some(BINARY));
        assert_eq!(r.header("grpc-status"), Some("5"));
        assert_eq!(r.header("grpc-message"), Some("no such thing"));
        assert_eq!(r.header("content-length"), Some("0"));
        assert!(r.body.is_empty());

        // Unknown methods too, from the router.
        http.send(&post(
            "/rgrpc.test.Echo/Nope",
            BINARY,
            &[],
            &message(&echo("x")),
        ))
        .await;
        let r = http.response().await.expect("a response");
        assert_eq!(r.header("grpc-status"), Some("12"));
    })
    .await;
}

#[tokio::test]
async fn deadlines_are_enforced_and_cancel_the_handler() {
    let mut server = web_server().await;
    bounded(async {
        let mut http = Http1::connect(server.addr).await;
        let mut slow = echo("slow");
        slow.sleep_ms = 10_000;
        http.send(&post(
            UNARY,
            BINARY,
            &[("grpc-timeout", "100m")],
            &message(&slow),
        ))
        .await;
        let r = http.response().await.expect("a response");
        assert_eq!(r.header("grpc-status"), Some("4"), "{r:?}");
        assert_handler_cancelled(&mut server, "slow").await;
    })
    .await;
}

#[tokio::test]
async fn a_web_client_that_goes_away_cancels_its_call() {
    let mut server = web_server().await;
    bounded(async {
        // HTTP/1.1: the connection closes mid-stream.
        let mut http = Http1::connect(server.addr).await;
        let mut slow = echo("h1 gone");
        slow.count = 2;
        slow.sleep_ms = 10_000;
        http.send(&post(SERVER_STREAM, BINARY, &[], &message(&slow)))
            .await;
        http.wait_for(b"h1 gone-0").await;
        drop(http);
        assert_handler_cancelled(&mut server, "h1 gone").await;

        // HTTP/2: the stream is reset.
        let mut send = h2_connect(server.addr).await;
        let request = http::Request::post(format!("http://rgrpc.test{SERVER_STREAM}"))
            .header("content-type", BINARY)
            .body(())
            .unwrap();
        let (response, mut body) = send.send_request(request, false).unwrap();
        let mut slow = echo("h2 gone");
        slow.count = 2;
        slow.sleep_ms = 10_000;
        body.send_data(message(&slow).into(), true).unwrap();
        let mut recv = response.await.unwrap().into_body();
        recv.data().await.unwrap().unwrap();
        body.send_reset(h2::Reason::CANCEL);
        assert_handler_cancelled(&mut server, "h2 gone").await;
    })
    .await;
}

#[tokio::test]
async fn the_receive_limit_applies() {
    let server =
        TestServer::start_with(|b| b.grpc_web(GrpcWeb::new()).max_receive_message_size(64)).await;
    bounded(async {
        let mut big = echo("big");
        big.payload = vec![7; 1000];
        let mut http = Http1::connect(server.addr).await;
        http.send(&post(UNARY, BINARY, &[], &message(&big))).await;
        let r = http.response().await.expect("a response");
        assert_eq!(r.header("grpc-status"), Some("8"), "{r:?}");
    })
    .await;
}

#[tokio::test]
async fn compression_when_the_client_asks() {
    let server = TestServer::start_with(|b| {
        b.grpc_web(GrpcWeb::new())
            .send_compressed(CompressionEncoding::Gzip)
    })
    .await;
    bounded(async {
        // A browser asks for nothing: no compressed messages.
        let mut http = Http1::connect(server.addr).await;
        http.send(&post(UNARY, BINARY, &[], &message(&echo("plain"))))
            .await;
        let r = http.response().await.expect("a response");
        assert_eq!(r.header("grpc-encoding"), None);
        assert_eq!(r.frames(false).messages[0].0, 0);

        // A client that accepts gzip gets it; its gzip request is read.
        let payload = echo("zipped").write_to_bytes().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&payload).unwrap();
        let body = frame(1, &gz.finish().unwrap());
        http.send(&post(
            UNARY,
            BINARY,
            &[("grpc-encoding", "gzip"), ("grpc-accept-encoding", "gzip")],
            &body,
        ))
        .await;
        let r = http.response().await.expect("a response");
        assert_eq!(r.header("grpc-encoding"), Some("gzip"));
        let frames = r.frames(false);
        let (flag, compressed) = &frames.messages[0];
        assert_eq!(*flag, 1);
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut plain)
            .unwrap();
        let response = EchoResponse::parse_from_bytes(&plain).unwrap();
        assert_eq!(response.message, "zipped [compressed]");
        assert_eq!(frames.trailer("grpc-status"), Some("0"));
    })
    .await;
}

#[tokio::test]
async fn client_streaming_over_a_chunked_http1_body() {
    let server = web_server().await;
    bounded(async {
        let mut http = Http1::connect(server.addr).await;
        let mut raw = format!(
            "POST {CLIENT_STREAM} HTTP/1.1\r\nhost: t\r\ncontent-type: {BINARY}\r\n\
             transfer-encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        for m in ["a", "b", "c"] {
            let chunk = message(&echo(m));
            raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            raw.extend_from_slice(&chunk);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"0\r\n\r\n");
        http.send(&raw).await;
        let r = http.response().await.expect("a response");
        let mut expected = reply("a,b,c:0");
        expected.extend(trailer_frame("grpc-status:0\r\n"));
        assert_eq!(r.body, expected);
    })
    .await;
}

/// A raw HTTP/2 connection to the server, for gRPC-Web over HTTP/2.
async fn h2_connect(addr: std::net::SocketAddr) -> h2::client::SendRequest<Bytes> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

async fn h2_read_all(body: &mut h2::RecvStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    out
}

#[tokio::test]
async fn over_http2_bidi_interleaves_and_native_shares_the_connection() {
    let server = web_server().await;
    bounded(async {
        let mut send = h2_connect(server.addr).await;
        let request = http::Request::post(format!("http://rgrpc.test{BIDI}"))
            .header("content-type", BINARY)
            .header("x-echo", "h2")
            .body(())
            .unwrap();
        let (response, mut body) = send.send_request(request, false).unwrap();
        body.send_data(message(&echo("one")).into(), false).unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.headers()["content-type"], BINARY);
        assert_eq!(response.headers()["x-echo"], "h2");
        let mut recv = response.into_body();
        // The first reply arrives before the second request is sent: a real bidi stream.
        let first = recv.data().await.unwrap().unwrap();
        let _ = recv.flow_control().release_capacity(first.len());
        assert_eq!(&first[..], &reply("one")[..]);
        body.send_data(message(&echo("two")).into(), true).unwrap();
        let rest = h2_read_all(&mut recv).await;
        let mut expected = reply("two");
        expected.extend(trailer_frame("grpc-status:0\r\n"));
        assert_eq!(rest, expected);
        assert!(
            recv.trailers().await.unwrap().is_none(),
            "no HTTP/2 trailers"
        );

        // A native call on the same connection is untouched.
        let request = http::Request::post(format!("http://rgrpc.test{UNARY}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .unwrap();
        let (response, mut body) = send.send_request(request, false).unwrap();
        body.send_data(message(&echo("native")).into(), true)
            .unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.headers()["content-type"], "application/grpc");
        let mut recv = response.into_body();
        assert_eq!(h2_read_all(&mut recv).await, reply("native"));
        let trailers = recv.trailers().await.unwrap().expect("native trailers");
        assert_eq!(trailers["grpc-status"], "0");

        // And an rgrpc client on the same port.
        let client = server.client().await;
        let reply = client.unary(echo("channel")).await.unwrap();
        assert_eq!(reply.message().message, "channel");
    })
    .await;
}

#[tokio::test]
async fn over_http2_a_preflight_and_text_mode() {
    let server =
        TestServer::start_with(|b| b.grpc_web(GrpcWeb::new().allow_origin("http://page.test")))
            .await;
    bounded(async {
        let mut send = h2_connect(server.addr).await;
        let preflight = http::Request::builder()
            .method("OPTIONS")
            .uri(format!("http://rgrpc.test{UNARY}"))
            .header("origin", "http://page.test")
            .header("access-control-request-method", "POST")
            .body(())
            .unwrap();
        let (response, _) = send.send_request(preflight, true).unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), 204);
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            "http://page.test"
        );

        let request = http::Request::post(format!("http://rgrpc.test{UNARY}"))
            .header("content-type", TEXT)
            .header("origin", "http://page.test")
            .body(())
            .unwrap();
        let (response, mut body) = send.send_request(request, false).unwrap();
        let text = encode_text(&message(&echo("h2 text")));
        body.send_data(Bytes::from(text), true).unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.headers()["content-type"], TEXT);
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            "http://page.test"
        );
        let mut recv = response.into_body();
        let body = common::web::decode_text(&h2_read_all(&mut recv).await);
        let mut expected = reply("h2 text");
        expected.extend(trailer_frame("grpc-status:0\r\n"));
        assert_eq!(body, expected);
    })
    .await;
}

#[tokio::test]
async fn cors_over_http1() {
    let server = TestServer::start_with(|b| {
        b.grpc_web(
            GrpcWeb::new()
                .allow_origin("http://page.test:8080")
                .allow_headers(["x-echo"])
                .expose_headers(["x-echo"]),
        )
    })
    .await;
    let mut server = server;
    bounded(async {
        let mut http = Http1::connect(server.addr).await;
        http.send(
            b"OPTIONS /rgrpc.test.Echo/Unary HTTP/1.1\r\nhost: rgrpc.test\r\n\
              origin: http://page.test:8080\r\naccess-control-request-method: POST\r\n\
              access-control-request-headers: content-type,x-grpc-web,x-echo\r\n\r\n",
        )
        .await;
        let r = http.response().await.expect("a preflight answer");
        assert_eq!(r.status, 204);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("http://page.test:8080")
        );
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("content-type, x-grpc-web, x-user-agent, grpc-timeout, x-echo")
        );
        assert_eq!(
            r.header("access-control-allow-methods"),
            Some("POST, OPTIONS")
        );
        assert_eq!(r.header("access-control-max-age"), Some("7200"));
        assert_eq!(r.header("vary"), Some("origin"));

        http.send(&post(
            UNARY,
            BINARY,
            &[("origin", "http://page.test:8080"), ("x-echo", "seen")],
            &message(&echo("cors")),
        ))
        .await;
        let r = http.response().await.expect("a response");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("http://page.test:8080")
        );
        assert_eq!(
            r.header("access-control-expose-headers"),
            Some("grpc-status, grpc-message, grpc-status-details-bin, x-echo")
        );
        assert_eq!(r.header("x-echo"), Some("seen"));

        // Another origin: the preflight is refused, and so is a call that skips it; the
        // handler never runs.
        http.send(
            b"OPTIONS /rgrpc.test.Echo/Unary HTTP/1.1\r\nhost: rgrpc.test\r\n\
              origin: http://evil.test\r\naccess-control-request-method: POST\r\n\r\n",
        )
        .await;
        let r = http.response().await.expect("a preflight answer");
        assert_eq!(r.status, 403);
        assert_eq!(r.header("access-control-allow-origin"), None);
        let mut slow = echo("evil");
        slow.sleep_ms = 1;
        http.send(&post(
            UNARY,
            BINARY,
            &[("origin", "http://evil.test")],
            &message(&slow),
        ))
        .await;
        let r = http.response().await.expect("a refusal");
        assert_eq!(r.status, 403);
        assert_eq!(r.header("grpc-status"), Some("7"));
        // A handler reports its start before it answers, so by now every handler that
        // ran has: the allowed call's did, the refused one's never started.
        let mut started = Vec::new();
        while let Ok(event) = server.events.try_recv() {
            started.push(event);
        }
        assert_eq!(started, vec![Event::Started("cors".into())]);
    })
    .await;
}

#[tokio::test]
async fn what_is_not_grpc_web_over_http1_is_refused() {
    let server = web_server().await;
    bounded(async {
        let mut http = Http1::connect(server.addr).await;
        http.send(b"GET / HTTP/1.1\r\nhost: rgrpc.test\r\n\r\n")
            .await;
        let r = http.response().await.expect("an answer");
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("POST, OPTIONS"));
        for content_type in ["application/json", "application/grpc", "text/plain"] {
            http.send(&post(UNARY, content_type, &[], &message(&echo("x"))))
                .await;
            let r = http.response().await.expect("an answer");
            assert_eq!(r.status, 415, "{content_type}");
        }
        // A codec the server does not have is the native answer: INTERNAL.
        http.send(&post(UNARY, "application/grpc-web+json", &[], b"{}"))
            .await;
        let r = http.response().await.expect("an answer");
        assert_eq!(r.header("grpc-status"), Some("13"));
    })
    .await;
}

/// Reports the peer the handler sees.
#[derive(Clone)]
struct WhoAmI;

impl Echo for WhoAmI {
    async fn unary(&self, req: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        let peer = req.peer().ok_or_else(|| Status::internal("no peer"))?;
        let remote = peer
            .remote_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        Ok(Response::new(EchoResponse {
            message: format!("{:?} {remote}", peer.kind()),
            ..Default::default()
        }))
    }
    async fn server_stream(
        &self,
        _: Request<EchoRequest>,
        _: ResponseSender<EchoResponse>,
    ) -> Result<(), Status> {
        Err(Status::unimplemented(""))
    }
    async fn client_stream(
        &self,
        _: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        Err(Status::unimplemented(""))
    }
    async fn bidi(
        &self,
        _: Request<Streaming<EchoRequest>>,
        _: ResponseSender<EchoResponse>,
    ) -> Result<(), Status> {
        Err(Status::unimplemented(""))
    }
}

#[tokio::test]
async fn handlers_see_the_web_client_as_their_peer() {
    bounded(async {
        let server = Server::builder()
            .add_service(EchoServer::new(WhoAmI))
            .grpc_web(GrpcWeb::new())
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(server.serve());
        let mut http = Http1::connect(addr).await;
        http.send(&post(UNARY, BINARY, &[], &message(&echo(""))))
            .await;
        let r = http.response().await.expect("a response");
        let frames = r.frames(false);
        let seen = EchoResponse::parse_from_bytes(&frames.messages[0].1).unwrap();
        assert_eq!(seen.message, format!("Tcp {}", http.local_addr()));
    })
    .await;
}

#[tokio::test]
async fn shutdown_closes_idle_web_connections_and_finishes_calls_in_flight() {
    bounded(async {
        let (tx, _events) = tokio::sync::mpsc::unbounded_channel();
        let server = Server::builder()
            .add_service(EchoServer::new(common::EchoService { events: tx }))
            .grpc_web(GrpcWeb::new())
            .shutdown_grace(Duration::from_secs(10))
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve_with_shutdown(async {
            let _ = stopped.await;
        }));
        // An idle keep-alive HTTP/1.1 connection, an HTTP/2 connection whose bridge is open,
        // and an HTTP/1.1 call in flight.
        let mut idle = Http1::connect(addr).await;
        idle.send(&post(UNARY, BINARY, &[], &message(&echo("warm"))))
            .await;
        idle.response().await.expect("a response");
        let mut send = h2_connect(addr).await;
        let request = http::Request::post(format!("http://rgrpc.test{UNARY}"))
            .header("content-type", BINARY)
            .body(())
            .unwrap();
        let (response, mut body) = send.send_request(request, false).unwrap();
        body.send_data(message(&echo("h2")).into(), true).unwrap();
        let mut recv = response.await.unwrap().into_body();
        h2_read_all(&mut recv).await;
        let mut busy = Http1::connect(addr).await;
        let mut slow = echo("busy");
        slow.count = 2;
        slow.sleep_ms = 300;
        busy.send(&post(SERVER_STREAM, BINARY, &[], &message(&slow)))
            .await;
        // Its first message is out: the call is running when the server stops.
        busy.wait_for(b"busy-0").await;
        let _ = stop.send(());
        let r = busy.response().await.expect("the call in flight finishes");
        let frames = r.frames(false);
        assert_eq!(frames.messages.len(), 2);
        assert_eq!(frames.trailer("grpc-status"), Some("0"));
        assert!(idle.closed_within(Duration::from_secs(5)).await);
        tokio::time::timeout(Duration::from_secs(5), serving)
            .await
            .expect("shutdown finished")
            .unwrap()
            .unwrap();
        drop(send);
    })
    .await;
}
