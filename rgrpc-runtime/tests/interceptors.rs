//! Interceptors on both sides over loopback: registration order, seeing and changing the
//! method, metadata, deadline and extensions, rejecting before the body is read, the
//! asynchronous path, and the outcome (status, duration) they observe.

mod common;
mod gen;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::probe::{probe_server, Trail};
use common::{all_shapes, bounded, echo, EchoClient, TestServer};
use rgrpc_runtime::client::{ClientCallHead, ClientInterceptor};
use rgrpc_runtime::server::{ServerCallHead, ServerInterceptor};
use rgrpc_runtime::{CallOutcome, Channel, Code, Intercepted, Request, Status};

/// Appends its name to the trail and to `x-order`; optionally decides asynchronously.
struct Mark {
    name: &'static str,
    asynchronous: bool,
}

fn mark(head: &mut ServerCallHead, name: &'static str) {
    let mut trail = head
        .extensions()
        .get::<Trail>()
        .cloned()
        .unwrap_or_default();
    trail.0.push(name);
    head.extensions_mut().insert(trail);
    head.metadata_mut()
        .append("x-order", name)
        .expect("metadata");
}

impl ServerInterceptor for Mark {
    fn on_call(&self, mut call: ServerCallHead) -> Intercepted<ServerCallHead> {
        let name = self.name;
        if self.asynchronous {
            Intercepted::pending(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                mark(&mut call, name);
                Ok(call)
            })
        } else {
            mark(&mut call, name);
            Intercepted::proceed(call)
        }
    }
}

async fn client(uri: &str) -> EchoClient {
    EchoClient::new(Channel::connect(uri).await.expect("connect"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_interceptors_run_in_order_ready_and_async_and_reach_the_handler() {
    bounded(async {
        let (uri, _) = probe_server(|b| {
            b.interceptor(Mark { name: "a", asynchronous: false })
                .interceptor(Mark { name: "b", asynchronous: true })
                .interceptor(Mark { name: "c", asynchronous: false })
                .interceptor(Mark { name: "d", asynchronous: true })
        })
        .await;
        let reply = client(&uri).await.unary(echo("")).await.expect("unary");
        assert_eq!(
            reply.message().message,
            "trail=[\"a\", \"b\", \"c\", \"d\"] order=[\"a\", \"b\", \"c\", \"d\"] deadline=false auth=-"
        );
    })
    .await
}

/// Refuses one method, synchronously or not.
struct Refuse {
    method: &'static str,
    asynchronous: bool,
}

impl ServerInterceptor for Refuse {
    fn on_call(&self, call: ServerCallHead) -> Intercepted<ServerCallHead> {
        if call.method() != self.method {
            return Intercepted::proceed(call);
        }
        let status = Status::permission_denied("not you");
        if self.asynchronous {
            Intercepted::pending(async move {
                tokio::task::yield_now().await;
                Err(status)
            })
        } else {
            Intercepted::reject(status)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_answers_before_the_body_is_read_and_the_handler_never_runs() {
    bounded(async {
        for asynchronous in [false, true] {
            let (uri, probe) = probe_server(|b| {
                b.interceptor(Refuse {
                    method: "/rgrpc.test.Echo/ClientStream",
                    asynchronous,
                })
            })
            .await;
            let client = client(&uri).await;
            let mut call = client.client_stream(()).await.expect("opened");
            // The request body may be refused mid-way: the answer is already there.
            for _ in 0..3 {
                if call.send(echo("m")).await.is_err() {
                    break;
                }
            }
            let err = call.finish().await.unwrap_err();
            assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
            assert_eq!(err.message(), "not you");
            assert_eq!(
                probe.handled.load(Ordering::SeqCst),
                0,
                "async={asynchronous}"
            );
            // Other methods pass.
            client.unary(echo("")).await.expect("unary");
            assert_eq!(probe.handled.load(Ordering::SeqCst), 1);
        }
    })
    .await
}

/// Changes what the server sees: the method (a legacy name), the deadline.
struct Rewrite;

impl ServerInterceptor for Rewrite {
    fn on_call(&self, mut call: ServerCallHead) -> Intercepted<ServerCallHead> {
        if call.method() == "/rgrpc.test.Echo/Legacy" {
            if let Err(status) = call.set_method("/rgrpc.test.Echo/Unary") {
                return Intercepted::reject(status);
            }
        }
        if call.metadata().get("x-short-deadline").is_some() {
            call.set_deadline(Some(
                tokio::time::Instant::now() + Duration::from_millis(50),
            ));
        }
        Intercepted::proceed(call)
    }
}

/// Client side: sends Unary calls marked `x-legacy` to the old name.
struct Legacy;

impl ClientInterceptor for Legacy {
    fn on_call(&self, mut call: ClientCallHead) -> Intercepted<ClientCallHead> {
        if call.metadata().get("x-legacy").is_some() {
            call.set_method("/rgrpc.test.Echo/Legacy");
        }
        Intercepted::proceed(call)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interceptors_change_the_method_and_the_deadline() {
    bounded(async {
        let (uri, _) = probe_server(|b| b.interceptor(Rewrite)).await;
        let channel = Channel::builder(&uri)
            .interceptor(Legacy)
            .connect()
            .await
            .expect("connect");
        let client = EchoClient::new(channel);
        // Without the server's rewrite the legacy name is unknown.
        let (plain_uri, _) = probe_server(|b| b).await;
        let plain = EchoClient::new(
            Channel::builder(&plain_uri)
                .interceptor(Legacy)
                .connect()
                .await
                .expect("connect"),
        );
        let err = plain
            .unary(Request::new(echo("")).with_metadata("x-legacy", "1"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unimplemented, "{err:?}");
        // With it, the call arrives at Unary.
        client
            .unary(Request::new(echo("")).with_metadata("x-legacy", "1"))
            .await
            .expect("rewritten to Unary");
        // A deadline set by the server's interceptor is enforced.
        let mut slow = echo("");
        slow.sleep_ms = 2_000;
        let err = client
            .unary(Request::new(slow).with_metadata("x-short-deadline", "1"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    })
    .await
}

/// Client interceptors: order, metadata, deadline, refusal before anything is sent.
struct Stamp(&'static str);

impl ClientInterceptor for Stamp {
    fn on_call(&self, mut call: ClientCallHead) -> Intercepted<ClientCallHead> {
        if call.metadata().get("x-refuse").is_some() {
            return Intercepted::reject(Status::failed_precondition("refused by the client"));
        }
        if let Err(e) = call.metadata_mut().append("x-order", self.0) {
            return Intercepted::reject(Status::internal(e.to_string()));
        }
        if self.0 == "async" {
            return Intercepted::pending(async move {
                tokio::task::yield_now().await;
                call.set_deadline(Some(tokio::time::Instant::now() + Duration::from_secs(30)));
                Ok(call)
            });
        }
        Intercepted::proceed(call)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_interceptors_run_in_order_and_can_refuse_before_sending() {
    bounded(async {
        let (uri, probe) = probe_server(|b| b).await;
        let channel = Channel::builder(&uri)
            .interceptor(Stamp("one"))
            .interceptor(Stamp("async"))
            .interceptor(Stamp("three"))
            .connect()
            .await
            .expect("connect");
        let client = EchoClient::new(channel);
        let reply = client.unary(echo("")).await.expect("unary");
        assert_eq!(
            reply.message().message,
            "trail=[] order=[\"one\", \"async\", \"three\"] deadline=true auth=-"
        );
        let err = client
            .unary(Request::new(echo("")).with_metadata("x-refuse", "1"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition);
        assert_eq!(
            probe.handled.load(Ordering::SeqCst),
            1,
            "the refused call was never sent"
        );
        // Every shape goes through them.
        let echo_server = TestServer::start().await;
        let channel = Channel::builder(&echo_server.uri())
            .interceptor(Stamp("one"))
            .interceptor(Stamp("async"))
            .connect()
            .await
            .expect("connect");
        all_shapes(&EchoClient::new(channel)).await;
    })
    .await
}

/// Records every outcome it is told of.
#[derive(Clone, Default)]
struct Outcomes(Arc<(Mutex<Vec<Seen>>, tokio::sync::Notify)>);

/// Method, code, duration.
type Seen = (String, Code, Duration);

impl Outcomes {
    fn record(&self, outcome: &CallOutcome<'_>) {
        self.0 .0.lock().expect("lock").push((
            outcome.method().to_owned(),
            outcome.code(),
            outcome.duration(),
        ));
        self.0 .1.notify_waiters();
    }

    /// Waits (up to 10 s) until `n` outcomes are in.
    async fn wait_for(&self, n: usize) -> Vec<Seen> {
        let waited = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let notified = self.0 .1.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let seen = self.0 .0.lock().expect("lock").clone();
                if seen.len() >= n {
                    return seen;
                }
                notified.await;
            }
        });
        waited.await.expect("the outcomes arrived")
    }
}

impl ServerInterceptor for Outcomes {
    fn on_call(&self, call: ServerCallHead) -> Intercepted<ServerCallHead> {
        Intercepted::proceed(call)
    }
    fn on_end(&self, outcome: &CallOutcome<'_>) {
        self.record(outcome);
    }
}

impl ClientInterceptor for Outcomes {
    fn on_call(&self, call: ClientCallHead) -> Intercepted<ClientCallHead> {
        Intercepted::proceed(call)
    }
    fn on_end(&self, outcome: &CallOutcome<'_>) {
        self.record(outcome);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_observe_status_and_duration() {
    bounded(async {
        let server_seen = Outcomes::default();
        let (uri, _) = probe_server({
            let seen = server_seen.clone();
            |b| {
                b.interceptor(seen).interceptor(Refuse {
                    method: "/rgrpc.test.Echo/Bidi",
                    asynchronous: true,
                })
            }
        })
        .await;
        let client_seen = Outcomes::default();
        let channel = Channel::builder(&uri)
            .interceptor(client_seen.clone())
            .connect()
            .await
            .expect("connect");
        let client = EchoClient::new(channel);
        let mut slow = echo("");
        slow.sleep_ms = 30;
        client.unary(slow).await.expect("unary");
        let mut failing = echo("");
        failing.count = 2;
        failing.fail_code = Code::Aborted as i32;
        let mut stream = client.server_stream(failing).await.expect("stream");
        while let Ok(Some(_)) = stream.message().await {}
        drop(stream);
        let (tx, mut rx) = client.bidi(()).await.expect("bidi");
        assert_eq!(
            rx.message().await.unwrap_err().code(),
            Code::PermissionDenied
        );
        drop((tx, rx));
        let want = [
            ("/rgrpc.test.Echo/Unary", Code::Ok),
            ("/rgrpc.test.Echo/ServerStream", Code::Aborted),
            ("/rgrpc.test.Echo/Bidi", Code::PermissionDenied),
        ];
        for seen in [server_seen.wait_for(3).await, client_seen.wait_for(3).await] {
            let got: Vec<(&str, Code)> = seen.iter().map(|(m, c, _)| (m.as_str(), *c)).collect();
            assert_eq!(got, want);
            assert!(
                seen[0].2 >= Duration::from_millis(30),
                "unary took {:?}",
                seen[0].2
            );
        }
        // A call dropped before it ended is CANCELLED on the client.
        let mut long = echo("");
        long.count = 1_000_000;
        let mut stream = client.server_stream(long).await.expect("stream");
        stream.message().await.expect("first");
        drop(stream);
        let seen = client_seen.wait_for(4).await;
        assert_eq!(seen[3].1, Code::Cancelled);
        // And on the server, where the client's reset ends it.
        let seen = server_seen.wait_for(4).await;
        assert_eq!(seen[3].1, Code::Cancelled, "{seen:?}");
    })
    .await
}

/// An observer that records each call's path and how it ended.
#[derive(Clone, Default)]
struct Ends(Outcomes);

struct EndsCall(Outcomes, String);

impl rgrpc_runtime::observe::Observer for Ends {
    fn call_started(
        &self,
        call: &rgrpc_runtime::observe::CallInfo<'_>,
    ) -> Option<Arc<dyn rgrpc_runtime::observe::CallObserver>> {
        Some(Arc::new(EndsCall(self.0.clone(), call.path().to_owned())))
    }
}

impl rgrpc_runtime::observe::CallObserver for EndsCall {
    fn call_ended(&self, end: &rgrpc_runtime::observe::CallEnd<'_>) {
        self.0
             .0
             .0
            .lock()
            .expect("lock")
            .push((self.1.clone(), end.code(), end.duration()));
        self.0 .0 .1.notify_waiters();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_observer_and_the_interceptors_hear_the_same_ends() {
    bounded(async {
        for asynchronous in [false, true] {
            let observed = Ends::default();
            let intercepted = Outcomes::default();
            let (uri, _) = probe_server({
                let (observed, intercepted) = (observed.clone(), intercepted.clone());
                |b| {
                    b.observer(observed)
                        .interceptor(intercepted)
                        .interceptor(Refuse {
                            method: "/rgrpc.test.Echo/Unary",
                            asynchronous,
                        })
                }
            })
            .await;
            let client = client(&uri).await;
            let err = client.unary(echo("")).await.unwrap_err();
            assert_eq!(err.code(), Code::PermissionDenied);
            let mut stream = client
                .server_stream(common::EchoRequest {
                    count: 1,
                    ..echo("")
                })
                .await
                .expect("stream");
            while stream.message().await.expect("message").is_some() {}
            let want = [
                ("/rgrpc.test.Echo/Unary", Code::PermissionDenied),
                ("/rgrpc.test.Echo/ServerStream", Code::Ok),
            ];
            for seen in [observed.0.wait_for(2).await, intercepted.wait_for(2).await] {
                let got: Vec<(&str, Code)> =
                    seen.iter().map(|(m, c, _)| (m.as_str(), *c)).collect();
                assert_eq!(got, want, "async={asynchronous}");
            }
        }
    })
    .await
}
