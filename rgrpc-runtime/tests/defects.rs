//! Defects found running the core, each with the test that failed before its fix: panicking
//! handlers, duplicate services, a failed `Streaming` that kept failing, shutdown that left
//! calls running, and a sender that blamed the client for a deadline.

mod common;
mod gen;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{bounded, echo, EchoClient, EchoRequest, EchoResponse, EchoServer};
use gen::echo_rgrpc::Echo;
use rgrpc_runtime::{Channel, Code, Request, Response, ResponseSender, Server, Status, Streaming};
use tokio::sync::{mpsc, oneshot};

/// Sets its flag when dropped: proves a handler's future is gone.
struct OnDrop(Arc<AtomicBool>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A service whose requests say how to misbehave.
#[derive(Clone)]
struct Probe {
    dropped: Arc<AtomicBool>,
    /// What a sender left in another task got when it sent after the call ended.
    late_send: mpsc::UnboundedSender<Status>,
}

impl Echo for Probe {
    async fn unary(&self, req: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        match req.message().message.as_str() {
            "panic" => panic!("handler panicked on its first poll"),
            "panic-later" => {
                tokio::task::yield_now().await;
                panic!("handler panicked after a yield")
            }
            "hang" => {
                let _guard = OnDrop(self.dropped.clone());
                // Tell the test the handler is running.
                let _ = self.late_send.send(Status::ok("hang entered"));
                std::future::pending::<()>().await;
                unreachable!()
            }
            "slow" => tokio::time::sleep(Duration::from_millis(100)).await,
            _ => {}
        }
        Ok(Response::new(EchoResponse {
            message: req.message().message.clone(),
            ..Default::default()
        }))
    }

    async fn server_stream(
        &self,
        req: Request<EchoRequest>,
        mut out: ResponseSender<EchoResponse>,
    ) -> Result<(), Status> {
        match req.message().message.as_str() {
            "panic" => {
                out.send(EchoResponse::default()).await?;
                panic!("streaming handler panicked")
            }
            "deadline" => {
                // Hand the sender to another task that sends once the call is over.
                let cancelled = req.cancellation().clone();
                let report = self.late_send.clone();
                tokio::spawn(async move {
                    cancelled.cancelled().await;
                    if let Err(status) = out.send(EchoResponse::default()).await {
                        let _ = report.send(status);
                    }
                });
                std::future::pending::<()>().await;
                Ok(())
            }
            _ => {
                for i in 0..req.message().count {
                    out.send(EchoResponse {
                        message: i.to_string(),
                        ..Default::default()
                    })
                    .await?;
                }
                if req.message().fail_code != 0 {
                    return Err(Status::new(Code::from_i32(req.message().fail_code), "boom"));
                }
                Ok(())
            }
        }
    }

    async fn client_stream(
        &self,
        _req: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        Err(Status::unimplemented("not used"))
    }

    async fn bidi(
        &self,
        _req: Request<Streaming<EchoRequest>>,
        _out: ResponseSender<EchoResponse>,
    ) -> Result<(), Status> {
        panic!("bidi handler panicked")
    }
}

struct Running {
    addr: std::net::SocketAddr,
    client: EchoClient,
    dropped: Arc<AtomicBool>,
    late_send: mpsc::UnboundedReceiver<Status>,
    stop: oneshot::Sender<()>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(grace: Duration) -> Running {
    let dropped = Arc::new(AtomicBool::new(false));
    let (tx, late_send) = mpsc::unbounded_channel();
    let probe = Probe {
        dropped: dropped.clone(),
        late_send: tx,
    };
    let server = Server::builder()
        .add_service(EchoServer::new(probe))
        .shutdown_grace(grace)
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    let uri = format!("http://{addr}");
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(server.serve_with_shutdown(async {
        let _ = stopped.await;
    }));
    let client = EchoClient::new(Channel::connect(&uri).await.expect("connect"));
    Running {
        addr,
        client,
        dropped,
        late_send,
        stop,
        served,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_fails_only_its_own_call() {
    bounded(async {
        let server = start(Duration::from_secs(5)).await;
        let client = server.client.clone();
        // A call in flight on the same connection while the others panic.
        let slow = tokio::spawn({
            let client = client.clone();
            async move { client.unary(echo("slow")).await }
        });
        for what in ["panic", "panic-later"] {
            let err = client.unary(echo(what)).await.unwrap_err();
            assert_eq!(err.code(), Code::Unknown, "{what}: {err:?}");
        }
        let mut stream = client
            .server_stream(echo("panic"))
            .await
            .expect("stream starts");
        assert!(stream.message().await.expect("first message").is_some());
        let err = stream.message().await.unwrap_err();
        assert_eq!(err.code(), Code::Unknown, "{err:?}");
        let (_tx, mut rx) = client.bidi(()).await.expect("bidi starts");
        assert_eq!(rx.message().await.unwrap_err().code(), Code::Unknown);

        let slow = slow.await.expect("join").expect("slow call survives");
        assert_eq!(slow.message().message, "slow");
        let ok = client.unary(echo("fine")).await.expect("still serving");
        assert_eq!(ok.message().message, "fine");
    })
    .await
}

#[tokio::test]
async fn two_services_with_one_name_are_an_error() {
    let (tx, _rx) = mpsc::unbounded_channel();
    let probe = Probe {
        dropped: Arc::default(),
        late_send: tx,
    };
    let err = Server::builder()
        .add_service(EchoServer::new(probe.clone()))
        .add_service(EchoServer::new(probe))
        .bind("127.0.0.1:0")
        .await
        .expect_err("a duplicate service must fail bind");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("rgrpc.test.Echo"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_stream_yields_its_error_once_then_ends() {
    bounded(async {
        let server = start(Duration::from_secs(5)).await;
        let mut req = echo("x");
        req.count = 3;
        req.fail_code = Code::Aborted as i32;
        let mut stream = server.client.server_stream(req).await.expect("starts");
        let mut items = Vec::new();
        // Bounded: before the fix, the error came back on every poll, forever.
        for _ in 0..10 {
            match stream.message().await {
                Ok(Some(m)) => items.push(Ok(m.message)),
                Ok(None) => break,
                Err(status) => items.push(Err(status.code())),
            }
        }
        assert_eq!(
            items,
            vec![
                Ok("0".into()),
                Ok("1".into()),
                Ok("2".into()),
                Err(Code::Aborted)
            ]
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_buffered_is_handed_out_after_a_local_deadline() {
    bounded(async {
        let server = start(Duration::from_secs(5)).await;
        let mut req = echo("x");
        req.count = 50;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
        let mut stream = server
            .client
            .server_stream(Request::new(req).with_timeout(Duration::from_millis(300)))
            .await
            .expect("starts");
        // Read the headers (so messages are in flight and buffered), then let the deadline
        // pass without reading.
        stream.headers().await.expect("headers");
        tokio::time::sleep_until(deadline + Duration::from_millis(50)).await;
        let err = stream.message().await.unwrap_err();
        assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
        assert!(stream.message().await.expect("ended").is_none());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_call_tasks_before_it_returns() {
    bounded(async {
        let mut server = start(Duration::from_millis(200)).await;
        let client = server.client.clone();
        let hung = tokio::spawn(async move { client.unary(echo("hang")).await });
        let entered = server.late_send.recv().await.expect("the handler runs");
        assert_eq!(entered.message(), "hang entered");
        let _ = server.stop.send(());
        server.served.await.expect("join").expect("serve");
        assert!(
            server.dropped.load(Ordering::SeqCst),
            "the hanging handler was still running after serve_with_shutdown returned"
        );
        let _ = hung.await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_used_after_the_deadline_says_so() {
    bounded(async {
        let mut server = start(Duration::from_secs(5)).await;
        // A raw client that sends grpc-timeout but never gives up itself, so the server's
        // deadline is what ends the call (an rgrpc client would reset the stream first).
        let tcp = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect");
        let (mut send, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let request = http::Request::builder()
            .method("POST")
            .uri("http://127.0.0.1/rgrpc.test.Echo/ServerStream")
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("grpc-timeout", "100m")
            .body(())
            .expect("request");
        std::future::poll_fn(|cx| send.poll_ready(cx))
            .await
            .expect("ready");
        let (response, mut body) = send.send_request(request, false).expect("send");
        let message = protobuf::Message::write_to_bytes(&echo("deadline")).expect("encode");
        let mut framed = vec![0u8];
        framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
        framed.extend_from_slice(&message);
        body.send_data(framed.into(), true).expect("send body");
        let response = response.await.expect("response");
        let status = response.headers().get("grpc-status").cloned();
        assert_eq!(status.as_ref().map(|v| v.as_bytes()), Some(&b"4"[..]));
        let late = server
            .late_send
            .recv()
            .await
            .expect("the late send reports");
        assert_eq!(late.code(), Code::DeadlineExceeded, "{late:?}");
        assert!(late.message().contains("deadline"), "{late:?}");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_say_who_decided_them() {
    bounded(async {
        let server = start(Duration::from_secs(5)).await;
        // The server's own deadline status, sent as grpc-status: from the peer.
        let mut req = echo("x");
        req.count = 1;
        req.fail_code = Code::DeadlineExceeded as i32;
        let mut stream = server.client.server_stream(req).await.expect("starts");
        assert!(stream.message().await.expect("first").is_some());
        let peer = stream.message().await.unwrap_err();
        assert!(peer.is_timeout() && peer.is_from_peer() && !peer.is_local_deadline());

        // A deadline that fires here: a raw HTTP/2 server that takes the call and never
        // answers (an rgrpc server would race us with its own DEADLINE_EXCEEDED).
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let silent_addr = silent.local_addr().expect("addr");
        tokio::spawn(async move {
            let Ok((tcp, _)) = silent.accept().await else {
                return;
            };
            let Ok(mut conn) = h2::server::handshake(tcp).await else {
                return;
            };
            let mut held = Vec::new();
            while let Some(Ok(call)) = conn.accept().await {
                held.push(call);
            }
        });
        let channel = Channel::connect(&format!("http://{silent_addr}"))
            .await
            .expect("connect");
        let local = EchoClient::new(channel)
            .unary(Request::new(echo("x")).with_timeout(Duration::from_millis(50)))
            .await
            .unwrap_err();
        assert!(local.is_timeout() && local.is_local_deadline(), "{local:?}");

        // Nothing listens: a connection error, with the I/O error underneath.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let err = Channel::connect(&format!("http://{addr}"))
            .await
            .unwrap_err();
        assert!(err.is_connect() && !err.is_invalid_target(), "{err:?}");
        let status = err.status().expect("a connect error carries its status");
        assert_eq!(status.code(), Code::Unavailable);
        assert!(
            status.is_connection_error() && !status.is_from_peer(),
            "{err:?}"
        );
        // The status is the source, and the I/O error is under it.
        let source = std::error::Error::source(&err).expect("source");
        assert!(source.source().is_some(), "{err:?}");
    })
    .await
}

/// Waits (bounded) until the runtime runs no more than `tasks` tasks; returns what is left.
async fn settle_to(tasks: usize) -> usize {
    let metrics = tokio::runtime::Handle::current().metrics();
    for _ in 0..500 {
        if metrics.num_alive_tasks() <= tasks {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    metrics.num_alive_tasks()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_client_task_outlives_its_calls_and_channel() {
    let server = common::ServerThread::start();
    bounded(async {
        let before = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks();
        let client = EchoClient::new(Channel::connect(&server.uri()).await.expect("connect"));
        // A bidi call with its request pump running, a client-streaming call, and a server
        // stream left half-read.
        let (mut sender, mut responses) = client.bidi(Request::new(())).await.expect("bidi");
        sender.send(echo("a")).await.expect("send");
        assert_eq!(
            responses.message().await.expect("reply").unwrap().message,
            "a"
        );
        let mut upload = client.client_stream(Request::new(())).await.expect("open");
        upload.send(echo("b")).await.expect("send");
        let mut stream = client
            .server_stream(EchoRequest {
                count: 3,
                ..echo("c")
            })
            .await
            .expect("stream");
        assert!(stream.message().await.expect("first").is_some());
        assert!(
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks()
                > before,
            "the connection and the pumps run as tasks"
        );
        // Dropping the channel first leaves the calls working: they still hold it.
        drop(client);
        sender
            .send(echo("d"))
            .await
            .expect("send after the channel was dropped");
        assert_eq!(
            responses.message().await.expect("reply").unwrap().message,
            "d"
        );
        drop((sender, responses, upload, stream));
        let left = settle_to(before).await;
        assert_eq!(
            left, before,
            "tasks left behind after every call and the channel went"
        );
    })
    .await
}
