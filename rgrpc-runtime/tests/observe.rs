//! The observer hook on both ends of real calls over loopback: what each call's observer
//! hears (start with path, peer, metadata and target; every message with its wire size and
//! compression; the end with status and duration, exactly once) for the four call shapes, an
//! error, an unknown method and a call the client drops.

mod common;
mod gen;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{bounded, echo, EchoClient, EchoRequest, EchoServer, EchoService};
use protobuf::Message;
use rgrpc_runtime::observe::{CallEnd, CallInfo, CallObserver, MessageInfo, Observer, Side};
use rgrpc_runtime::{Channel, Code, CompressionEncoding, Request, Server};

/// One event, as the test records it.
#[derive(Clone, Debug, PartialEq)]
enum Event {
    Started {
        side: Side,
        path: String,
        registered: bool,
        has_peer: bool,
        target: Option<String>,
        marker: Option<String>,
    },
    Sent(Side, usize, Option<CompressionEncoding>),
    Received(Side, usize, Option<CompressionEncoding>),
    Ended(Side, Code, Duration),
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Event>>>);

struct RecordCall {
    side: Side,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Recorder {
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// The events once both ends have reported their call's end.
    async fn wait_for_ends(&self, ends: usize) -> Vec<Event> {
        for _ in 0..500 {
            let done = self
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|e| matches!(e, Event::Ended(..)))
                .count();
            if done >= ends {
                return self.take();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("only some calls ended: {:?}", self.take());
    }
}

impl Observer for Recorder {
    fn call_started(&self, call: &CallInfo<'_>) -> Option<Arc<dyn CallObserver>> {
        self.0.lock().unwrap().push(Event::Started {
            side: call.side(),
            path: call.path().to_owned(),
            registered: call.is_registered(),
            has_peer: call.peer().is_some(),
            target: call.target().map(str::to_owned),
            marker: call.metadata().get("x-marker").map(str::to_owned),
        });
        Some(Arc::new(RecordCall {
            side: call.side(),
            events: self.0.clone(),
        }))
    }
}

impl CallObserver for RecordCall {
    fn outgoing_metadata(&self, metadata: &mut rgrpc_runtime::MetadataMap) {
        // What a propagator does: the server's observer must see it.
        metadata.insert("x-marker", "from-client-observer").unwrap();
    }

    fn message_sent(&self, message: &MessageInfo) {
        let event = Event::Sent(self.side, message.wire_size(), message.compression());
        self.events.lock().unwrap().push(event);
    }

    fn message_received(&self, message: &MessageInfo) {
        let event = Event::Received(self.side, message.wire_size(), message.compression());
        self.events.lock().unwrap().push(event);
    }

    fn call_ended(&self, end: &CallEnd<'_>) {
        let event = Event::Ended(self.side, end.code(), end.duration());
        self.events.lock().unwrap().push(event);
    }
}

async fn serve(recorder: &Recorder) -> (EchoClient, String) {
    let (events, _) = tokio::sync::mpsc::unbounded_channel();
    let server = Server::builder()
        .add_service(EchoServer::new(EchoService { events }))
        .observer(recorder.clone())
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    tokio::spawn(server.serve());
    let channel = Channel::builder(&format!("http://{addr}"))
        .observer(recorder.clone())
        .connect()
        .await
        .expect("connect");
    (EchoClient::new(channel), addr.to_string())
}

fn only(events: &[Event], side: Side) -> Vec<Event> {
    events
        .iter()
        .filter(|e| match e {
            Event::Started { side: s, .. } => *s == side,
            Event::Sent(s, ..) | Event::Received(s, ..) | Event::Ended(s, ..) => *s == side,
        })
        .cloned()
        .map(|e| match e {
            // Durations vary; checked separately.
            Event::Ended(side, code, _) => Event::Ended(side, code, Duration::ZERO),
            e => e,
        })
        .collect()
}

fn started(side: Side, path: &str, target: Option<&str>) -> Event {
    Event::Started {
        side,
        path: path.into(),
        registered: true,
        has_peer: side == Side::Server,
        target: target.map(str::to_owned),
        marker: (side == Side::Server).then(|| "from-client-observer".to_owned()),
    }
}

#[tokio::test]
async fn unary_events_on_both_ends() {
    bounded(async {
        let recorder = Recorder::default();
        let (client, target) = serve(&recorder).await;
        let request = EchoRequest {
            message: "hi".into(),
            payload: vec![7; 100],
            ..Default::default()
        };
        let size = request.compute_size() as usize;
        let reply = client.unary(request.clone()).await.expect("unary");
        let reply_size = reply.message().compute_size() as usize;
        let events = recorder.wait_for_ends(2).await;
        assert_eq!(
            only(&events, Side::Client),
            [
                started(Side::Client, "/rgrpc.test.Echo/Unary", Some(&target)),
                Event::Sent(Side::Client, size, None),
                Event::Received(Side::Client, reply_size, None),
                Event::Ended(Side::Client, Code::Ok, Duration::ZERO),
            ]
        );
        assert_eq!(
            only(&events, Side::Server),
            [
                started(Side::Server, "/rgrpc.test.Echo/Unary", None),
                Event::Received(Side::Server, size, None),
                Event::Sent(Side::Server, reply_size, None),
                Event::Ended(Side::Server, Code::Ok, Duration::ZERO),
            ]
        );
        for event in &events {
            if let Event::Ended(_, _, duration) = event {
                assert!(*duration > Duration::ZERO && *duration < Duration::from_secs(10));
            }
        }

        // Compressed: the wire size is the compressed size, and says gzip.
        let request = EchoRequest {
            payload: vec![0; 4096],
            ..Default::default()
        };
        client
            .unary(Request::new(request).with_compression(Some(CompressionEncoding::Gzip)))
            .await
            .expect("compressed unary");
        let events = recorder.wait_for_ends(2).await;
        let sent = events
            .iter()
            .find_map(|e| match e {
                Event::Sent(Side::Client, n, c) => Some((*n, *c)),
                _ => None,
            })
            .unwrap();
        assert_eq!(sent.1, Some(CompressionEncoding::Gzip));
        assert!(sent.0 < 4096 / 4, "gzip of zeros is small: {}", sent.0);
        assert!(events.contains(&Event::Received(Side::Server, sent.0, sent.1)));
    })
    .await;
}

#[tokio::test]
async fn streaming_errors_unknown_methods_and_drops() {
    bounded(async {
        let recorder = Recorder::default();
        let (client, _) = serve(&recorder).await;

        // Server streaming: three responses on each end.
        let mut request = echo("s");
        request.count = 3;
        let mut stream = client.server_stream(request).await.expect("stream");
        while stream.message().await.expect("message").is_some() {}
        let events = recorder.wait_for_ends(2).await;
        let count = |f: &dyn Fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
        assert_eq!(
            count(&|e| matches!(e, Event::Received(Side::Client, ..))),
            3
        );
        assert_eq!(count(&|e| matches!(e, Event::Sent(Side::Server, ..))), 3);
        assert_eq!(count(&|e| matches!(e, Event::Ended(_, Code::Ok, _))), 2);

        // Bidi: two each way, then the client half-closes.
        let (mut requests, mut responses) = client.bidi(()).await.expect("bidi");
        for word in ["a", "b"] {
            requests.send(echo(word)).await.expect("send");
            responses.message().await.expect("reply").expect("a reply");
        }
        requests.close().expect("close");
        assert!(responses.message().await.expect("end").is_none());
        let events = recorder.wait_for_ends(2).await;
        let count = |f: &dyn Fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
        assert_eq!(count(&|e| matches!(e, Event::Sent(..))), 4);
        assert_eq!(count(&|e| matches!(e, Event::Received(..))), 4);
        assert_eq!(count(&|e| matches!(e, Event::Ended(_, Code::Ok, _))), 2);

        // An error status reaches both observers.
        let mut failing = echo("x");
        failing.fail_code = Code::NotFound as i32;
        let error = client.unary(failing).await.unwrap_err();
        assert_eq!(error.code(), Code::NotFound);
        let events = recorder.wait_for_ends(2).await;
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, Event::Ended(_, Code::NotFound, _)))
                .count(),
            2,
            "{events:?}"
        );

        // A method no service has: the server reports it unregistered.
        let raw = client.channel().clone();
        let unknown =
            rgrpc_runtime::codegen::unary(
                &raw,
                &rgrpc_runtime::Method::<
                    rgrpc_runtime::codegen::ProtobufCodec<EchoRequest, EchoRequest>,
                >::new("/rgrpc.test.Echo/Nope", rgrpc_runtime::MethodKind::Unary),
                Request::new(echo("?")),
            )
            .await
            .unwrap_err();
        assert_eq!(unknown.code(), Code::Unimplemented);
        let events = recorder.wait_for_ends(2).await;
        assert!(events.iter().any(|e| matches!(
            e,
            Event::Started { side: Side::Server, registered: false, path, .. }
                if path == "/rgrpc.test.Echo/Nope"
        )));

        // A call the client drops mid-way: CANCELLED on both ends, each reported once.
        let mut slow = echo("slow");
        slow.sleep_ms = 5_000;
        let call = client.unary(slow);
        let dropped = tokio::time::timeout(Duration::from_millis(200), call).await;
        assert!(dropped.is_err());
        let events = recorder.wait_for_ends(2).await;
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, Event::Ended(_, Code::Cancelled, _)))
                .count(),
            2,
            "{events:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !recorder
                .take()
                .iter()
                .any(|e| matches!(e, Event::Ended(..))),
            "an end was reported twice"
        );
    })
    .await;
}

/// A `tracing` subscriber that keeps each span's name and fields, as strings.
mod spans {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    pub type Spans = Arc<Mutex<BTreeMap<u64, (String, BTreeMap<String, String>)>>>;

    #[derive(Default)]
    pub struct Capture {
        pub spans: Spans,
        next: AtomicU64,
    }

    struct Fields<'a>(&'a mut BTreeMap<String, String>);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(
                field.name().to_owned(),
                format!("{value:?}").trim_matches('"').into(),
            );
        }

        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }

        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
            let mut fields = BTreeMap::new();
            span.record(&mut Fields(&mut fields));
            self.spans
                .lock()
                .unwrap()
                .insert(id, (span.metadata().name().to_owned(), fields));
            Id::from_u64(id)
        }

        fn record(&self, span: &Id, values: &Record<'_>) {
            if let Some((_, fields)) = self.spans.lock().unwrap().get_mut(&span.into_u64()) {
                values.record(&mut Fields(fields));
            }
        }

        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
}

/// `TracingObserver`: one span per call on each end, with OpenTelemetry's RPC attribute
/// names. (A current-thread runtime, so the thread's subscriber sees the server's tasks.)
#[tokio::test]
async fn tracing_spans_carry_rpc_attributes() {
    let capture = spans::Capture::default();
    let spans = capture.spans.clone();
    let _default = tracing::subscriber::set_default(capture);
    bounded(async {
        let observer = rgrpc_runtime::observe::TracingObserver::new();
        let (events, _) = tokio::sync::mpsc::unbounded_channel();
        let server = Server::builder()
            .add_service(EchoServer::new(EchoService { events }))
            .observer(observer)
            .bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = server.local_addr().expect("addr");
        tokio::spawn(server.serve());
        let channel = Channel::builder(&format!("http://{addr}"))
            .observer(observer)
            .connect()
            .await
            .expect("connect");
        let client = EchoClient::new(channel);
        client.unary(echo("hi")).await.expect("unary");
        let mut failing = echo("x");
        failing.fail_code = Code::NotFound as i32;
        client.unary(failing).await.unwrap_err();
        // The server's span is complete once its call ended, just after the client's.
        for _ in 0..500 {
            let done = spans
                .lock()
                .unwrap()
                .values()
                .filter(|(_, f)| f.contains_key("rpc.response.status_code"))
                .count();
            if done == 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let spans = spans.lock().unwrap();
    let of = |name: &str, code: &str| {
        spans
            .values()
            .find(|(n, f)| {
                n == name && f.get("rpc.response.status_code").map(String::as_str) == Some(code)
            })
            .unwrap_or_else(|| panic!("no {name} span with {code}: {spans:#?}"))
            .1
            .clone()
    };
    let server = of("grpc.server", "OK");
    assert_eq!(server["rpc.system.name"], "grpc");
    assert_eq!(server["rpc.method"], "rgrpc.test.Echo/Unary");
    assert_eq!(server["otel.kind"], "server");
    assert_eq!(server["network.peer.address"], "127.0.0.1");
    assert!(!server.contains_key("error.type"));
    let client = of("grpc.client", "NOT_FOUND");
    assert_eq!(client["rpc.method"], "rgrpc.test.Echo/Unary");
    assert_eq!(client["error.type"], "NOT_FOUND");
    assert!(client["server.address"].starts_with("127.0.0.1:"));
    of("grpc.server", "NOT_FOUND");
    of("grpc.client", "OK");
}
