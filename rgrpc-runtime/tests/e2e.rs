//! End-to-end behaviour of the generated client and server over real loopback TCP.

mod common;
mod gen;

use std::time::Duration;

use common::{assert_handler_cancelled, bounded, echo, EchoRequest, EchoResponse, TestServer};
use rgrpc_runtime::client;
use rgrpc_runtime::codec::ProtobufCodec;
use rgrpc_runtime::{Channel, Code, Method, MethodKind, Request, Status};

type EchoCodec = ProtobufCodec<EchoRequest, EchoResponse>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_round_trip() {
    bounded(async {
        let server = TestServer::start().await;
        let client = server.client().await;
        let reply = client.unary(echo("hello")).await.unwrap();
        assert_eq!(reply.message().message, "hello");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_streaming_sends_every_message() {
    bounded(async {
        let server = TestServer::start().await;
        let client = server.client().await;
        let mut req = echo("s");
        req.count = 50;
        let mut stream = client.server_stream(req).await.unwrap();
        let mut got = Vec::new();
        while let Some(m) = stream.message().await.unwrap() {
            got.push(m.message);
        }
        let want: Vec<String> = (0..50).map(|i| format!("s-{i}")).collect();
        assert_eq!(got, want);
        assert!(stream.trailers().is_some());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_streaming_receives_every_message() {
    bounded(async {
        let server = TestServer::start().await;
        let client = server.client().await;
        let mut call = client.client_stream(()).await.unwrap();
        for i in 0..20 {
            let mut r = echo(&i.to_string());
            r.payload = vec![1; 1000];
            call.send(r).await.unwrap();
        }
        let reply = call.finish().await.unwrap();
        let want: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        assert_eq!(reply.message().message, format!("{}:20000", want.join(",")));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidi_ping_pong_interleaves() {
    bounded(async {
        let server = TestServer::start().await;
        let client = server.client().await;
        let (mut tx, mut rx) = client.bidi(()).await.unwrap();
        for i in 0..10 {
            tx.send(echo(&format!("ping {i}"))).await.unwrap();
            // Each reply arrives before the next request is sent: true full duplex.
            let reply = rx.message().await.unwrap().expect("reply");
            assert_eq!(reply.message, format!("ping {i}"));
        }
        tx.close().unwrap();
        assert!(rx.message().await.unwrap().is_none());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidi_empty_stream() {
    bounded(async {
        let server = TestServer::start().await;
        let client = server.client().await;
        let (tx, mut rx) = client.bidi(()).await.unwrap();
        drop(tx); // half-close without sending anything
        assert!(rx.message().await.unwrap().is_none());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_unary_calls_on_one_channel() {
    bounded(async {
        let server = TestServer::start().await;
        let client = server.client().await;
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..1000 {
            let client = client.clone();
            calls.spawn(async move {
                let mut req = echo(&i.to_string());
                req.sleep_ms = 5;
                let reply = client.unary(req).await?;
                assert_eq!(reply.message().message, i.to_string());
                Ok::<_, Status>(())
            });
        }
        let mut ok = 0;
        while let Some(result) = calls.join_next().await {
            result.unwrap().unwrap();
            ok += 1;
        }
        assert_eq!(ok, 1000);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_size_limit_on_the_server() {
    bounded(async {
        let server = TestServer::start().await;
        let client = server.client().await;
        let mut req = echo("3MiB");
        req.payload = vec![7; 3 * 1024 * 1024];
        let reply = client.unary(req).await.unwrap();
        assert_eq!(reply.message().payload.len(), 3 * 1024 * 1024);

        let mut req = echo("5MiB");
        req.payload = vec![7; 5 * 1024 * 1024];
        let err = client.unary(req).await.unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");

        // The same channel (and connection) keeps working.
        let reply = client.unary(echo("after")).await.unwrap();
        assert_eq!(reply.message().message, "after");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_size_limit_on_the_client() {
    bounded(async {
        let server = TestServer::start().await;
        let channel = Channel::builder(&server.uri())
            .max_receive_message_size(1024 * 1024)
            .connect()
            .await
            .unwrap();
        let client = common::EchoClient::new(channel);
        let mut req = echo("big reply");
        req.response_size = 2 * 1024 * 1024;
        let err = client.unary(req).await.unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        let reply = client.unary(echo("after")).await.unwrap();
        assert_eq!(reply.message().message, "after");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_exceeded_on_slow_handler() {
    bounded(async {
        let mut server = TestServer::start().await;
        let client = server.client().await;
        let mut req = echo("slow");
        req.sleep_ms = 5_000;
        let started = std::time::Instant::now();
        let err = client
            .unary(Request::new(req).with_timeout(Duration::from_millis(200)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        // The server enforces the propagated deadline too: the handler is cancelled.
        assert_handler_cancelled(&mut server, "slow").await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_deadline_without_client_enforcement() {
    bounded(async {
        // A raw call with grpc-timeout but no local timer: the server alone must answer.
        let server = TestServer::start().await;
        let channel = Channel::connect(&server.uri()).await.unwrap();
        let mut req = echo("slow-server");
        req.sleep_ms = 5_000;
        let mut request = Request::new(req);
        request.set_timeout(Duration::from_millis(100));
        let err = client::unary(
            &channel,
            &Method::<EchoCodec>::new("/rgrpc.test.Echo/Unary", MethodKind::Unary),
            request,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), Code::DeadlineExceeded);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_cancel_is_seen_by_the_handler() {
    bounded(async {
        let mut server = TestServer::start().await;
        let client = server.client().await;
        let mut req = echo("to-cancel");
        req.sleep_ms = 10_000;
        let call = tokio::spawn(async move { client.unary(req).await });
        server.wait_started("to-cancel").await;
        call.abort(); // drops the call future: RST_STREAM(CANCEL)
        assert_handler_cancelled(&mut server, "to-cancel").await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_server_stream_cancels_it() {
    bounded(async {
        let mut server = TestServer::start().await;
        let client = server.client().await;
        let mut req = echo("stream-cancel");
        req.count = 1000;
        req.sleep_ms = 10;
        let mut stream = client.server_stream(req).await.unwrap();
        assert!(stream.message().await.unwrap().is_some());
        drop(stream);
        assert_handler_cancelled(&mut server, "stream-cancel").await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_method_and_service_are_unimplemented() {
    bounded(async {
        let server = TestServer::start().await;
        let channel = Channel::connect(&server.uri()).await.unwrap();
        let err = client::unary(
            &channel,
            &Method::<EchoCodec>::new("/rgrpc.test.Echo/Nope", MethodKind::Unary),
            Request::new(echo("x")),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), Code::Unimplemented);
        assert!(err.message().contains("Nope"), "{err:?}");
        let err = client::unary(
            &channel,
            &Method::<EchoCodec>::new("/no.Such/Method", MethodKind::Unary),
            Request::new(echo("x")),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), Code::Unimplemented);
        assert!(err.message().contains("no.Such"), "{err:?}");
        // Streaming shapes get the same answer.
        let mut stream = client::server_streaming(
            &channel,
            &Method::<EchoCodec>::new("/no.Such/Method", MethodKind::ServerStreaming),
            Request::new(echo("x")),
        )
        .await
        .unwrap();
        assert_eq!(
            stream.message().await.unwrap_err().code(),
            Code::Unimplemented
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_round_trips_in_headers_and_trailers() {
    bounded(async {
        let server = TestServer::start().await;
        let client = server.client().await;
        let binary = [0u8, 1, 2, 0xfe, 0xff, b'\n'];
        let mut req = Request::new(echo("md")).with_metadata("x-echo-ascii", "value 1");
        req.metadata_mut()
            .append("x-echo-ascii", "value 2")
            .unwrap();
        req.metadata_mut()
            .insert_bin("x-echo-data-bin", &binary)
            .unwrap();
        let reply = client.unary(req).await.unwrap();

        let headers = reply.metadata();
        let values: Vec<&str> = headers.get_all("x-echo-ascii").collect();
        assert_eq!(values, vec!["value 1", "value 2"]);
        assert_eq!(headers.get_bin("x-echo-data-bin").unwrap().as_ref(), binary);

        let trailers = reply.trailers();
        assert_eq!(trailers.get("x-echo-ascii-trailer"), Some("value 1"));
        assert_eq!(
            trailers
                .get_bin("x-echo-data-trailer-bin")
                .unwrap()
                .as_ref(),
            binary
        );

        // Streaming: headers before the first message, trailers after the last.
        let mut req = echo("md-stream");
        req.count = 2;
        let mut stream = client
            .server_stream(Request::new(req).with_metadata("x-echo-s", "streamed"))
            .await
            .unwrap();
        assert_eq!(
            stream.headers().await.unwrap().get("x-echo-s"),
            Some("streamed")
        );
        while stream.message().await.unwrap().is_some() {}
        assert_eq!(
            stream.trailers().unwrap().get("x-echo-s-trailer"),
            Some("streamed")
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_status_with_unicode_and_newline_round_trips() {
    bounded(async {
        let server = TestServer::start().await;
        let client = server.client().await;
        let message = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n 100%";
        let mut req = echo("fail");
        req.fail_code = Code::FailedPrecondition as i32;
        req.fail_message = message.into();
        req.payload = vec![0, 0xff, 1];
        let err = client.unary(req.clone()).await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition);
        assert_eq!(err.message(), message);
        assert_eq!(err.details().as_ref(), [0, 0xff, 1]);

        // Every code survives the trip, in unary and streaming responses.
        for n in 1..=16 {
            req.fail_code = n;
            let err = client.unary(req.clone()).await.unwrap_err();
            assert_eq!(err.code() as i32, n);
            req.count = 1;
            let mut stream = client.server_stream(req.clone()).await.unwrap();
            assert!(stream.message().await.unwrap().is_some());
            let err = stream.message().await.unwrap_err();
            assert_eq!(err.code() as i32, n);
            assert_eq!(err.message(), message);
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_lets_in_flight_calls_finish() {
    bounded(async {
        let mut server = TestServer::start().await;
        let client = server.client().await;
        let mut req = echo("in-flight");
        req.sleep_ms = 300;
        let call = tokio::spawn({
            let client = client.clone();
            async move { client.unary(req).await }
        });
        server.wait_started("in-flight").await;
        server.stop();
        let reply = call.await.unwrap().unwrap();
        assert_eq!(reply.message().message, "in-flight");
        // New connections are refused once the listener is gone.
        server.shutdown().await;
        let err = Channel::connect(&server.uri()).await.unwrap_err();
        assert_eq!(err.status().map(|s| s.code()), Some(Code::Unavailable));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_reconnects_after_server_restart() {
    bounded(async {
        let mut server = TestServer::start().await;
        let addr = server.addr;
        let channel = Channel::connect(&server.uri()).await.unwrap();
        let client = common::EchoClient::new(channel);
        client.unary(echo("one")).await.unwrap();
        server.shutdown().await;
        // Restart on the same port; the next call must reconnect by itself.
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let restarted = rgrpc_runtime::Server::builder()
            .add_service(common::EchoServer::new(common::EchoService { events: tx }))
            .bind(addr)
            .await
            .unwrap();
        tokio::spawn(restarted.serve());
        let reply = client.unary(echo("two")).await.unwrap();
        assert_eq!(reply.message().message, "two");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_to_nothing_is_unavailable() {
    bounded(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = Channel::connect(&format!("http://{addr}"))
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        assert_eq!(err.status().map(|s| s.code()), Some(Code::Unavailable));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_server_status_wins_over_the_send_race() {
    bounded(async {
        // The server answers an unknown service before reading the request; on a fresh
        // connection the client's send can then hit the closed stream. The call must still
        // end with the server's UNIMPLEMENTED (it once came back as UNAVAILABLE).
        let server = TestServer::start().await;
        for _ in 0..3000 {
            let channel = Channel::connect(&server.uri()).await.unwrap();
            let err = client::unary(
                &channel,
                &Method::<EchoCodec>::new("/no.Such/Method", MethodKind::Unary),
                Request::new(echo("x")),
            )
            .await
            .unwrap_err();
            assert_eq!(err.code(), Code::Unimplemented, "{err:?}");
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_of_small_messages_share_data_frames() {
    bounded(async {
        // One DATA frame per 64-byte message trips h2's limit on buffered small frames
        // (ENHANCE_YOUR_CALM "too_many_data_frames") at the receiver; senders must coalesce.
        let server = TestServer::start().await;
        let client = server.client().await;
        let mut req = echo("m");
        req.count = 50_000;
        req.payload = vec![1; 60];
        let mut stream = client.server_stream(req).await.unwrap();
        // Let the frames pile up unread, as behind a slow reader.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut n = 0;
        while let Some(m) = stream.message().await.unwrap() {
            assert_eq!(m.payload.len(), 60);
            n += 1;
        }
        assert_eq!(n, 50_000);

        let mut call = client.client_stream(()).await.unwrap();
        let mut pause = echo("");
        pause.sleep_ms = 500;
        call.send(pause).await.unwrap();
        let mut small = echo("");
        small.payload = vec![2; 60];
        for _ in 1..50_000 {
            call.send(small.clone()).await.unwrap();
        }
        let reply = call.finish().await.unwrap();
        assert_eq!(
            reply.message().message,
            format!("{}:{}", vec![""; 50_000].join(","), 49_999 * 60)
        );
    })
    .await
}
