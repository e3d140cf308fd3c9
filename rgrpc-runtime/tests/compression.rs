//! Message compression end to end: negotiation, both encodings in both directions,
//! per-message choices, and decompression limits.

mod common;
mod gen;

use std::io::Write;

use bytes::Bytes;
use common::{bounded, echo, EchoClient, TestServer};
use flate2::write::GzEncoder;
use protobuf::Message;
use rgrpc_runtime::{Channel, Code, CompressionEncoding, Request};

const ENCODINGS: [CompressionEncoding; 2] =
    [CompressionEncoding::Gzip, CompressionEncoding::Deflate];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_requests_are_decompressed() {
    bounded(async {
        let server = TestServer::start().await;
        for encoding in ENCODINGS {
            let channel = Channel::builder(&server.uri())
                .send_compressed(encoding)
                .connect()
                .await
                .unwrap();
            let client = EchoClient::new(channel);
            let mut req = echo("big");
            req.payload = vec![b'a'; 3 * 1024 * 1024];
            let reply = client.unary(req).await.unwrap();
            assert_eq!(reply.message().message, "big [compressed]", "{encoding}");
            assert_eq!(reply.message().payload.len(), 3 * 1024 * 1024);
            // A call can opt out of the channel's default.
            let reply = client
                .unary(Request::new(echo("plain")).with_compression(None))
                .await
                .unwrap();
            assert_eq!(reply.message().message, "plain");
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_message_compression_on_a_stream() {
    bounded(async {
        let server = TestServer::start().await;
        let client = server.client().await;
        let request = Request::new(()).with_compression(Some(CompressionEncoding::Gzip));
        let mut call = client.client_stream(request).await.unwrap();
        call.send(echo("a")).await.unwrap();
        call.set_compress(false);
        call.send(echo("b")).await.unwrap();
        call.set_compress(true);
        call.send(echo("c")).await.unwrap();
        let reply = call.finish().await.unwrap();
        assert_eq!(reply.message().message, "za,b,zc:0");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_compresses_what_the_client_accepts() {
    bounded(async {
        for encoding in ENCODINGS {
            let server = TestServer::start_with(|b| b.send_compressed(encoding)).await;
            let client = server.client().await;
            let mut req = echo("r");
            req.response_size = 100_000;
            let reply = client.unary(req.clone()).await.unwrap();
            assert!(reply.is_compressed(), "{encoding}");
            assert_eq!(reply.message().payload, vec![0xa5; 100_000]);

            req.count = 3;
            let mut stream = client.server_stream(req).await.unwrap();
            let mut n = 0;
            while let Some(m) = stream.message().await.unwrap() {
                assert!(stream.last_message_compressed());
                assert_eq!(m.payload.len(), 100_000);
                n += 1;
            }
            assert_eq!(n, 3);
        }
    })
    .await
}

/// Raw h2 plumbing for requests our own client would never send.
mod raw {
    use std::future::poll_fn;

    use bytes::Bytes;
    use http::HeaderMap;

    pub async fn call(
        addr: std::net::SocketAddr,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (HeaderMap, Vec<u8>, HeaderMap) {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut send, conn) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(conn);
        poll_fn(|cx| send.poll_ready(cx)).await.unwrap();
        let mut req = http::Request::builder()
            .method("POST")
            .uri("http://127.0.0.1/rgrpc.test.Echo/Unary")
            .header("content-type", "application/grpc");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let (response, mut stream) = send.send_request(req.body(()).unwrap(), false).unwrap();
        stream.send_data(Bytes::from(body), true).unwrap();
        let (parts, mut body) = response.await.unwrap().into_parts();
        let mut data = Vec::new();
        while let Some(Ok(chunk)) = body.data().await {
            let _ = body.flow_control().release_capacity(chunk.len());
            data.extend_from_slice(&chunk);
        }
        let trailers = body.trailers().await.ok().flatten().unwrap_or_default();
        (parts.headers, data, trailers)
    }
}

fn framed(flag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![flag];
    v.extend_from_slice(&(body.len() as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn status_of(headers: &http::HeaderMap, trailers: &http::HeaderMap) -> Option<String> {
    trailers
        .get("grpc-status")
        .or_else(|| headers.get("grpc-status"))
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_compression_for_a_client_that_does_not_accept_it() {
    bounded(async {
        let server = TestServer::start_with(|b| b.send_compressed(CompressionEncoding::Gzip)).await;
        let body = framed(0, &echo("x").write_to_bytes().unwrap());
        let (headers, data, trailers) = raw::call(server.addr, &[], body).await;
        assert_eq!(status_of(&headers, &trailers).as_deref(), Some("0"));
        assert!(!headers.contains_key("grpc-encoding"));
        assert_eq!(data[0], 0, "response must not be compressed");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bomb_is_resource_exhausted_not_memory() {
    bounded(async {
        let server = TestServer::start().await;
        // 64 MiB of protobuf field bytes compress to a few tens of KiB.
        let mut req = echo("bomb");
        req.payload = vec![0; 64 * 1024 * 1024];
        let plain = req.write_to_bytes().unwrap();
        let compressed = gzip(&plain);
        assert!(compressed.len() < 1024 * 1024);
        let (headers, _, trailers) = raw::call(
            server.addr,
            &[("grpc-encoding", "gzip")],
            framed(1, &compressed),
        )
        .await;
        assert_eq!(
            status_of(&headers, &trailers).as_deref(),
            Some(&*(Code::ResourceExhausted as i32).to_string())
        );
        // Compressed flag with identity encoding, and garbage gzip: INTERNAL.
        let body = framed(1, b"not gzip");
        let (headers, _, trailers) =
            raw::call(server.addr, &[("grpc-encoding", "gzip")], body).await;
        assert_eq!(status_of(&headers, &trailers).as_deref(), Some("13"));
        let body = framed(1, &gzip(&echo("x").write_to_bytes().unwrap()));
        let (headers, _, trailers) =
            raw::call(server.addr, &[("grpc-encoding", "identity")], body).await;
        assert_eq!(status_of(&headers, &trailers).as_deref(), Some("13"));
        // The server still serves.
        let client = server.client().await;
        assert_eq!(
            client.unary(echo("ok")).await.unwrap().message().message,
            "ok"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_refuses_a_bomb_from_the_server() {
    bounded(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut conn = h2::server::handshake(tcp).await.unwrap();
            while let Some(Ok((_req, mut respond))) = conn.accept().await {
                let mut reply = common::EchoResponse::new();
                reply.payload = vec![0; 64 * 1024 * 1024];
                let body = framed(1, &gzip(&reply.write_to_bytes().unwrap()));
                let head = http::Response::builder()
                    .header("content-type", "application/grpc")
                    .header("grpc-encoding", "gzip")
                    .body(())
                    .unwrap();
                let mut stream = respond.send_response(head, false).unwrap();
                let _ = stream.send_data(Bytes::from(body), false);
                let mut t = http::HeaderMap::new();
                t.insert("grpc-status", "0".parse().unwrap());
                let _ = stream.send_trailers(t);
            }
        });
        let client = EchoClient::new(Channel::connect(&format!("http://{addr}")).await.unwrap());
        let err = client.unary(echo("x")).await.unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    })
    .await
}
