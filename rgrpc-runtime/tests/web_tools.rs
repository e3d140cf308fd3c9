//! gRPC-Web against real clients: `curl` (byte-exact bodies and heads, over HTTP/1.1 and
//! h2c, binary and text) and `buf curl --protocol grpcweb` (Connect's Go gRPC-Web client,
//! over HTTP/1.1 and h2c). `make deps` installs curl and npm; buf comes from npm.

mod common;
mod gen;

use std::path::Path;

use common::tools::{buf, curl, repo, run, scratch};
use common::web::{decode_text, encode_text, frame, parse_frames, trailer_frame};
use common::{bounded, echo, EchoRequest, EchoResponse, TestServer};
use protobuf::Message;
use rgrpc_runtime::web::GrpcWeb;
use rgrpc_runtime::CompressionEncoding;

const UNARY: &str = "rgrpc.test.Echo/Unary";
const SERVER_STREAM: &str = "rgrpc.test.Echo/ServerStream";

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

/// What one curl run got.
struct Got {
    /// The response head as curl printed it (`HTTP/1.1 200 OK` or `HTTP/2 200`, then
    /// lower-cased header lines).
    head: Vec<String>,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.iter().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            (k.eq_ignore_ascii_case(name)).then(|| v.trim())
        })
    }
}

/// Runs curl against the server: `http2` picks h2c with prior knowledge over HTTP/1.1;
/// `extra` are curl arguments; the body, if any, is posted as given.
async fn curl_call(dir: &Path, url: &str, http2: bool, extra: &[&str], body: Option<&[u8]>) -> Got {
    let head_file = dir.join("head");
    let body_file = dir.join("body");
    let data_file = dir.join("data");
    let mut args: Vec<String> = vec![
        "-sS".into(),
        if http2 {
            "--http2-prior-knowledge".into()
        } else {
            "--http1.1".into()
        },
        "--dump-header".into(),
        head_file.display().to_string(),
        "--output".into(),
        body_file.display().to_string(),
    ];
    if let Some(body) = body {
        std::fs::write(&data_file, body).unwrap();
        args.push("--data-binary".into());
        args.push(format!("@{}", data_file.display()));
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(url.into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run(&curl(), &args).await;
    assert!(
        output.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let head = std::fs::read_to_string(&head_file).unwrap();
    Got {
        head: head
            .lines()
            .map(|l| l.trim_end().to_owned())
            .filter(|l| !l.is_empty())
            .collect(),
        body: std::fs::read(&body_file).unwrap_or_default(),
    }
}

#[tokio::test]
async fn curl_binary_and_text_over_http1_and_h2c_byte_exact() {
    let server = TestServer::start_with(|b| b.grpc_web(GrpcWeb::new())).await;
    let dir = scratch("web-curl-modes");
    bounded(async {
        let url = format!("http://{}/{UNARY}", server.addr);
        let mut expected = reply("curl");
        expected.extend(trailer_frame(
            "grpc-status:0\r\nx-echo-trailer:hi\r\nx-echo-trailer-bin:AAEC\r\n",
        ));
        for http2 in [false, true] {
            let got = curl_call(
                &dir,
                &url,
                http2,
                &[
                    "-H",
                    "content-type: application/grpc-web+proto",
                    "-H",
                    "x-echo: hi",
                    "-H",
                    "x-echo-bin: AAEC",
                ],
                Some(&message(&echo("curl"))),
            )
            .await;
            let status_line = if http2 {
                "HTTP/2 200"
            } else {
                "HTTP/1.1 200 OK"
            };
            assert_eq!(got.head[0], status_line);
            assert_eq!(
                got.header("content-type"),
                Some("application/grpc-web+proto")
            );
            assert_eq!(got.header("x-echo"), Some("hi"));
            assert_eq!(got.header("x-echo-bin"), Some("AAEC"));
            assert_eq!(got.body, expected, "binary, http2={http2}");

            // Text mode: the request in base64, the response base64 chunk by chunk, each
            // padded on its own: here the message, then the trailer frame.
            let text = encode_text(&message(&echo("curl")));
            let got = curl_call(
                &dir,
                &url,
                http2,
                &[
                    "-H",
                    "content-type: application/grpc-web-text",
                    "-H",
                    "accept: application/grpc-web-text",
                    "-H",
                    "x-echo: hi",
                    "-H",
                    "x-echo-bin: AAEC",
                ],
                Some(text.as_bytes()),
            )
            .await;
            assert_eq!(
                got.header("content-type"),
                Some("application/grpc-web-text+proto")
            );
            let (message_part, trailer_part) = expected.split_at(reply("curl").len());
            let text = format!("{}{}", encode_text(message_part), encode_text(trailer_part));
            assert_eq!(
                String::from_utf8_lossy(&got.body),
                text,
                "text, http2={http2}"
            );
            assert_eq!(decode_text(&got.body), expected);
        }
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn curl_sees_errors_in_the_head_or_as_the_last_frame() {
    let server = TestServer::start_with(|b| b.grpc_web(GrpcWeb::new())).await;
    let dir = scratch("web-curl-errors");
    bounded(async {
        for http2 in [false, true] {
            // Before any message: trailers-only, the status in the head, no body.
            let mut failing = echo("x");
            failing.fail_code = 3;
            failing.fail_message = "bad argument: ünïcode".into();
            let got = curl_call(
                &dir,
                &format!("http://{}/{UNARY}", server.addr),
                http2,
                &["-H", "content-type: application/grpc-web+proto"],
                Some(&message(&failing)),
            )
            .await;
            assert_eq!(got.header("grpc-status"), Some("3"));
            assert_eq!(
                got.header("grpc-message"),
                Some("bad argument: %C3%BCn%C3%AFcode")
            );
            assert!(got.body.is_empty());

            // After messages: they arrive, then the status as the trailer frame.
            let mut failing = echo("s");
            failing.count = 2;
            failing.fail_code = 14;
            failing.fail_message = "gone".into();
            let got = curl_call(
                &dir,
                &format!("http://{}/{SERVER_STREAM}", server.addr),
                http2,
                &["-H", "content-type: application/grpc-web+proto"],
                Some(&message(&failing)),
            )
            .await;
            assert_eq!(got.header("grpc-status"), None);
            let mut expected = [reply("s-0"), reply("s-1")].concat();
            expected.extend(trailer_frame("grpc-status:14\r\ngrpc-message:gone\r\n"));
            assert_eq!(got.body, expected, "http2={http2}");
        }
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn curl_preflights() {
    let server = TestServer::start_with(|b| {
        b.grpc_web(
            GrpcWeb::new()
                .allow_origin("http://page.test")
                .allow_headers(["x-echo"]),
        )
    })
    .await;
    let dir = scratch("web-curl-cors");
    bounded(async {
        let url = format!("http://{}/{UNARY}", server.addr);
        for http2 in [false, true] {
            let preflight = |origin: &'static str| {
                [
                    "-X",
                    "OPTIONS",
                    "-H",
                    origin,
                    "-H",
                    "access-control-request-method: POST",
                    "-H",
                    "access-control-request-headers: content-type,x-grpc-web,x-echo",
                ]
            };
            let got = curl_call(
                &dir,
                &url,
                http2,
                &preflight("origin: http://page.test"),
                None,
            )
            .await;
            assert!(got.head[0].contains(" 204"), "{:?}", got.head);
            assert_eq!(
                got.header("access-control-allow-origin"),
                Some("http://page.test")
            );
            assert_eq!(
                got.header("access-control-allow-methods"),
                Some("POST, OPTIONS")
            );
            assert_eq!(
                got.header("access-control-allow-headers"),
                Some("content-type, x-grpc-web, x-user-agent, grpc-timeout, x-echo")
            );
            let got = curl_call(
                &dir,
                &url,
                http2,
                &preflight("origin: http://evil.test"),
                None,
            )
            .await;
            assert!(got.head[0].contains(" 403"), "{:?}", got.head);
            assert_eq!(got.header("access-control-allow-origin"), None);
        }
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn buf_curl_grpcweb_over_http1_and_h2c() {
    // buf's client asks for gzip (`grpc-accept-encoding`); the server compresses, buf
    // decodes: compression when the client asks.
    let server = TestServer::start_with(|b| {
        b.grpc_web(GrpcWeb::new())
            .send_compressed(CompressionEncoding::Gzip)
    })
    .await;
    let buf = buf();
    let schema = repo().join("proto/echo.proto");
    let schema = schema.display().to_string();
    bounded(async {
        for http2 in [false, true] {
            let call = |path: &'static str, data: &'static str, extra: &'static [&'static str]| {
                let mut args = vec![
                    "curl".to_owned(),
                    "--protocol".into(),
                    "grpcweb".into(),
                    "--schema".into(),
                    schema.clone(),
                    "-d".into(),
                    data.into(),
                ];
                if http2 {
                    args.push("--http2-prior-knowledge".into());
                }
                args.extend(extra.iter().map(|s| s.to_string()));
                args.push(format!("http://{}/{path}", server.addr));
                args
            };
            let unary = call(
                UNARY,
                r#"{"message":"buf","payload":"AAEC"}"#,
                &["-H", "x-echo: from buf", "-v"],
            );
            let unary: Vec<&str> = unary.iter().map(String::as_str).collect();
            let output = run(&buf, &unary).await;
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "{stderr}");
            let json: String = stdout.split_whitespace().collect();
            assert_eq!(json, r#"{"message":"buf","payload":"AAEC"}"#);
            // -v shows the exchange: response metadata and a gzip'd message (buf decoded
            // it above); it does not print trailers, which curl checks byte by byte.
            assert!(stderr.contains("< (#1) X-Echo: from buf"), "{stderr}");
            assert!(stderr.contains("< (#1) Grpc-Encoding: gzip"), "{stderr}");
            assert!(stderr.contains("* (#1) Call complete"), "{stderr}");

            let stream = call(SERVER_STREAM, r#"{"message":"s","count":3}"#, &[]);
            let stream: Vec<&str> = stream.iter().map(String::as_str).collect();
            let output = run(&buf, &stream).await;
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let stdout: String = String::from_utf8_lossy(&output.stdout)
                .split_whitespace()
                .collect();
            assert_eq!(
                stdout,
                r#"{"message":"s-0"}{"message":"s-1"}{"message":"s-2"}"#
            );

            let failing = call(
                UNARY,
                r#"{"message":"x","failCode":9,"failMessage":"not now"}"#,
                &[],
            );
            let failing: Vec<&str> = failing.iter().map(String::as_str).collect();
            let output = run(&buf, &failing).await;
            assert!(!output.status.success());
            let stderr: String = String::from_utf8_lossy(&output.stderr)
                .split_whitespace()
                .collect();
            assert!(
                stderr.contains(r#""code":"failed_precondition""#)
                    && stderr.contains(r#""message":"notnow""#),
                "{stderr}"
            );
        }
    })
    .await;
}

/// The text body the helpers decode really is what a gRPC-Web text client reads: the
/// frames back.
#[test]
fn text_helpers_round_trip() {
    let body = [reply("a"), trailer_frame("grpc-status:0\r\n")].concat();
    let text = format!("{}{}", encode_text(&body[..3]), encode_text(&body[3..]));
    assert_eq!(
        parse_frames(&decode_text(text.as_bytes())).messages.len(),
        1
    );
}
