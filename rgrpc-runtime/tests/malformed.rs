//! Hostile and malformed input, sent with a raw `h2` client (and raw TCP) to an rgrpc server,
//! and malformed answers from a raw `h2` server to an rgrpc client. Each must give the right
//! gRPC status or a clean connection error, and the server must keep serving.

mod common;
mod gen;

use std::future::poll_fn;
use std::time::Duration;

use bytes::Bytes;
use common::{bounded, echo, TestServer};
use h2::client::SendRequest;
use http::{HeaderMap, StatusCode};
use protobuf::Message;
use rgrpc_runtime::{Channel, Code};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What came back for one raw request.
#[derive(Debug)]
struct Answer {
    http: StatusCode,
    headers: HeaderMap,
    trailers: Option<HeaderMap>,
}

impl Answer {
    /// The grpc-status, from trailers or (trailers-only) headers.
    fn code(&self) -> Option<Code> {
        let from = self.trailers.as_ref().unwrap_or(&self.headers);
        let value = from.get("grpc-status")?.to_str().ok()?;
        Some(Code::from_i32(value.parse().ok()?))
    }
}

async fn raw_connect(addr: std::net::SocketAddr) -> SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

fn framed(flag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![flag];
    v.extend_from_slice(&(body.len() as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn valid_body() -> Vec<u8> {
    framed(0, &echo("ok").write_to_bytes().unwrap())
}

/// Sends one request with the given head and DATA chunks, and reads the whole answer.
async fn raw_call(
    send: &mut SendRequest<Bytes>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    chunks: Vec<Vec<u8>>,
) -> Answer {
    poll_fn(|cx| send.poll_ready(cx)).await.unwrap();
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (response, mut stream) = send.send_request(req.body(()).unwrap(), false).unwrap();
    let n = chunks.len();
    // The server may answer and reset the stream before it has read the body (a rejected
    // head is answered at once), so a failed send is expected and the answer is what counts.
    for (i, chunk) in chunks.into_iter().enumerate() {
        if stream.send_data(Bytes::from(chunk), i + 1 == n).is_err() {
            break;
        }
    }
    if n == 0 {
        let _ = stream.send_data(Bytes::new(), true);
    }
    let response = response.await.unwrap();
    let (parts, mut body) = response.into_parts();
    while let Some(chunk) = body.data().await {
        if chunk.is_err() {
            break;
        }
    }
    let trailers = body.trailers().await.ok().flatten();
    Answer {
        http: parts.status,
        headers: parts.headers,
        trailers,
    }
}

const GRPC: &[(&str, &str)] = &[("content-type", "application/grpc"), ("te", "trailers")];
const UNARY: &str = "/rgrpc.test.Echo/Unary";

/// After each hostile request on the connection, a valid one still works.
async fn still_serves(send: &mut SendRequest<Bytes>) {
    let answer = raw_call(send, "POST", UNARY, GRPC, vec![valid_body()]).await;
    assert_eq!(answer.code(), Some(Code::Ok), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_get_the_right_status() {
    bounded(async {
        let server = TestServer::start().await;
        let mut send = raw_connect(server.addr).await;
        let body = echo("x").write_to_bytes().unwrap();

        let cases: Vec<(&str, Vec<Vec<u8>>, Code)> = vec![
            ("compressed flag 2", vec![framed(2, &body)], Code::Internal),
            (
                "compressed flag without grpc-encoding",
                vec![framed(1, &body)],
                Code::Internal,
            ),
            (
                "truncated message",
                vec![framed(0, &body)[..4].to_vec()],
                Code::Internal,
            ),
            (
                "length longer than the body",
                vec![{
                    let mut f = framed(0, &body);
                    f[4] += 10;
                    f
                }],
                Code::Internal,
            ),
            (
                "length prefix over the limit",
                vec![vec![0, 0x7f, 0xff, 0xff, 0xff]],
                Code::ResourceExhausted,
            ),
            // statuscodes.md: a request cardinality violation is UNIMPLEMENTED.
            ("no message for a unary call", vec![], Code::Unimplemented),
            (
                "two messages for a unary call",
                vec![valid_body(), valid_body()],
                Code::Unimplemented,
            ),
            (
                "bytes that are not protobuf",
                vec![framed(0, &[0xff; 16])],
                Code::Internal,
            ),
            (
                "prefix split over many DATA frames",
                valid_body().chunks(1).map(<[u8]>::to_vec).collect(),
                Code::Ok,
            ),
        ];
        for (name, chunks, want) in cases {
            let answer = raw_call(&mut send, "POST", UNARY, GRPC, chunks).await;
            assert_eq!(answer.http, StatusCode::OK, "{name}: {answer:?}");
            assert_eq!(answer.code(), Some(want), "{name}: {answer:?}");
            still_serves(&mut send).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_headers_get_the_right_status() {
    bounded(async {
        let server = TestServer::start().await;
        let mut send = raw_connect(server.addr).await;

        let answer = raw_call(
            &mut send,
            "POST",
            UNARY,
            &[("content-type", "application/json")],
            vec![valid_body()],
        )
        .await;
        assert_eq!(answer.http, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        still_serves(&mut send).await;

        let answer = raw_call(&mut send, "POST", UNARY, &[], vec![valid_body()]).await;
        assert_eq!(answer.http, StatusCode::UNSUPPORTED_MEDIA_TYPE);

        // A codec the server does not have is refused, not decoded as protobuf.
        let answer = raw_call(
            &mut send,
            "POST",
            UNARY,
            &[
                ("content-type", "application/grpc+json"),
                ("te", "trailers"),
            ],
            vec![valid_body()],
        )
        .await;
        assert_eq!(answer.http, StatusCode::OK, "{answer:?}");
        assert_eq!(answer.code(), Some(Code::Internal), "{answer:?}");
        let answer = raw_call(
            &mut send,
            "POST",
            UNARY,
            &[
                ("content-type", "application/grpc+proto"),
                ("te", "trailers"),
            ],
            vec![valid_body()],
        )
        .await;
        assert_eq!(answer.code(), Some(Code::Ok), "{answer:?}");

        let answer = raw_call(&mut send, "GET", UNARY, GRPC, vec![]).await;
        assert_eq!(answer.http, StatusCode::METHOD_NOT_ALLOWED);
        still_serves(&mut send).await;

        for bad in ["", "1", "S", "123456789S", "-1S", "1.5S", "10x", "１S"] {
            let headers = [GRPC, &[("grpc-timeout", bad)]].concat();
            let answer = raw_call(&mut send, "POST", UNARY, &headers, vec![valid_body()]).await;
            assert_eq!(
                answer.code(),
                Some(Code::Internal),
                "timeout {bad:?}: {answer:?}"
            );
        }
        still_serves(&mut send).await;

        let headers = [GRPC, &[("grpc-encoding", "snappy")]].concat();
        let answer = raw_call(&mut send, "POST", UNARY, &headers, vec![valid_body()]).await;
        assert_eq!(answer.code(), Some(Code::Unimplemented), "{answer:?}");
        assert!(answer.headers.contains_key("grpc-accept-encoding"));

        for path in [
            "/",
            "/rgrpc.test.Echo",
            "/rgrpc.test.Echo/",
            "//Unary",
            "/a/b/c",
        ] {
            let answer = raw_call(&mut send, "POST", path, GRPC, vec![valid_body()]).await;
            assert_eq!(
                answer.code(),
                Some(Code::Unimplemented),
                "{path}: {answer:?}"
            );
        }
        still_serves(&mut send).await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_request_errors_reach_the_handler() {
    bounded(async {
        let server = TestServer::start().await;
        let mut send = raw_connect(server.addr).await;
        let ok = valid_body();
        let mut bad = framed(0, &echo("x").write_to_bytes().unwrap());
        bad[0] = 9;
        // A good message, then a bad prefix: the handler's `message()` fails and its error is
        // the call's status.
        let answer = raw_call(
            &mut send,
            "POST",
            "/rgrpc.test.Echo/ClientStream",
            GRPC,
            vec![ok.clone(), bad],
        )
        .await;
        assert_eq!(answer.code(), Some(Code::Internal), "{answer:?}");
        let answer = raw_call(
            &mut send,
            "POST",
            "/rgrpc.test.Echo/Bidi",
            GRPC,
            vec![ok, vec![0, 0xff, 0xff, 0xff]],
        )
        .await;
        assert_eq!(answer.code(), Some(Code::Internal), "{answer:?}");
        still_serves(&mut send).await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_connections_do_not_disturb_the_server() {
    bounded(async {
        let server =
            TestServer::start_with(|b| b.handshake_timeout(Duration::from_millis(500))).await;
        // Not HTTP/2 at all.
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
        assert!(closed.is_ok(), "server kept a non-HTTP/2 connection open");
        // A valid preface followed by a SETTINGS frame of impossible length.
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        tcp.write_all(&[0, 0, 4, 0x4, 0, 0, 0, 0, 0, 1, 2, 3, 4])
            .await
            .unwrap();
        let closed = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
        assert!(
            closed.is_ok(),
            "server kept a broken HTTP/2 connection open"
        );
        // Half a preface and then silence: closed by the handshake timeout.
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(b"PRI * HTTP/2").await.unwrap();
        let closed = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
        assert!(closed.is_ok(), "server kept a silent connection open");

        let client = server.client().await;
        assert_eq!(
            client.unary(echo("fine")).await.unwrap().message().message,
            "fine"
        );
    })
    .await
}

/// A canned answer: head, DATA chunks, trailers.
type Canned = (http::Response<()>, Vec<Vec<u8>>, Option<HeaderMap>);

/// A raw h2 server that answers every request with `respond`, for client-side checks.
async fn raw_server(respond: fn() -> Canned) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(tcp).await else {
                    return;
                };
                while let Some(Ok((_req, mut send))) = conn.accept().await {
                    let (head, chunks, trailers) = respond();
                    let end = chunks.is_empty() && trailers.is_none();
                    let Ok(mut stream) = send.send_response(head, end) else {
                        continue;
                    };
                    for chunk in chunks {
                        let _ = stream.send_data(Bytes::from(chunk), false);
                    }
                    if let Some(t) = trailers {
                        let _ = stream.send_trailers(t);
                    } else if !end {
                        let _ = stream.send_data(Bytes::new(), true);
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

fn head(status: u16, content_type: Option<&str>) -> http::Response<()> {
    let mut b = http::Response::builder().status(status);
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    b.body(()).unwrap()
}

fn ok_trailers() -> Option<HeaderMap> {
    let mut t = HeaderMap::new();
    t.insert("grpc-status", "0".parse().unwrap());
    Some(t)
}

async fn client_sees(uri: String) -> Code {
    let client = common::EchoClient::new(Channel::connect(&uri).await.unwrap());
    client.unary(echo("x")).await.unwrap_err().code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_maps_bad_answers_to_statuses() {
    bounded(async {
        // A proxy's 503 without gRPC headers → UNAVAILABLE (http-grpc-status-mapping.md).
        let uri = raw_server(|| (head(503, Some("text/html")), vec![b"busy".to_vec()], None)).await;
        assert_eq!(client_sees(uri).await, Code::Unavailable);
        let uri = raw_server(|| (head(404, None), vec![], None)).await;
        assert_eq!(client_sees(uri).await, Code::Unimplemented);
        let uri = raw_server(|| (head(401, None), vec![], None)).await;
        assert_eq!(client_sees(uri).await, Code::Unauthenticated);
        // 200 but no grpc-status anywhere.
        let uri = raw_server(|| (head(200, Some("application/grpc")), vec![], None)).await;
        assert_eq!(client_sees(uri).await, Code::Internal);
        // A malformed grpc-status.
        let uri = raw_server(|| {
            let mut t = HeaderMap::new();
            t.insert("grpc-status", "abc".parse().unwrap());
            (head(200, Some("application/grpc")), vec![], Some(t))
        })
        .await;
        assert_eq!(client_sees(uri).await, Code::Internal);
        // OK status but no message for a unary call.
        let uri = raw_server(|| (head(200, Some("application/grpc")), vec![], ok_trailers())).await;
        assert_eq!(client_sees(uri).await, Code::Internal);
        // A truncated response message.
        let uri = raw_server(|| {
            let body = framed(0, b"\x0a\x03abc")[..6].to_vec();
            (
                head(200, Some("application/grpc")),
                vec![body],
                ok_trailers(),
            )
        })
        .await;
        assert_eq!(client_sees(uri).await, Code::Internal);
        // A response that is not protobuf.
        let uri = raw_server(|| {
            let body = framed(0, &[0xff; 8]);
            (
                head(200, Some("application/grpc")),
                vec![body],
                ok_trailers(),
            )
        })
        .await;
        assert_eq!(client_sees(uri).await, Code::Internal);
        // Bad compressed flag in a response.
        let uri = raw_server(|| {
            let body = framed(7, b"");
            (
                head(200, Some("application/grpc")),
                vec![body],
                ok_trailers(),
            )
        })
        .await;
        assert_eq!(client_sees(uri).await, Code::Internal);
        // A length prefix over the client's limit.
        let uri = raw_server(|| {
            let body = vec![0, 0xff, 0xff, 0xff, 0xff];
            (
                head(200, Some("application/grpc")),
                vec![body],
                ok_trailers(),
            )
        })
        .await;
        assert_eq!(client_sees(uri).await, Code::ResourceExhausted);
    })
    .await
}
