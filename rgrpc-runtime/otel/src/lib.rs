//! OpenTelemetry for rgrpc: an [`Observer`] that records gRPC's standard metrics (gRFC A66)
//! and OpenTelemetry's RPC semantic conventions, optionally makes a span per call, and
//! carries W3C trace context (`traceparent`, `tracestate`) through metadata.
//!
//! ```no_run
//! use rgrpc_otel::OtelObserver;
//!
//! # fn run(meter: opentelemetry::metrics::Meter) {
//! let observer = OtelObserver::builder(meter).build();
//! let server = rgrpc_runtime::Server::builder().observer(observer.clone());
//! let channel = rgrpc_runtime::Channel::builder("http://127.0.0.1:50051").observer(observer);
//! # }
//! ```
//!
//! Metrics (instruments, units and attributes as gRFC A66 and the semantic conventions name
//! them; histograms with A66's bucket boundaries):
//!
//! | instrument | unit | attributes |
//! | --- | --- | --- |
//! | `grpc.server.call.started` | `{call}` | `grpc.method` |
//! | `grpc.server.call.duration` | `s` | `grpc.method`, `grpc.status` |
//! | `grpc.server.call.sent_total_compressed_message_size` | `By` | `grpc.method`, `grpc.status` |
//! | `grpc.server.call.rcvd_total_compressed_message_size` | `By` | `grpc.method`, `grpc.status` |
//! | `grpc.client.attempt.started` | `{attempt}` | `grpc.method`, `grpc.target` |
//! | `grpc.client.attempt.duration` | `s` | `grpc.method`, `grpc.target`, `grpc.status` |
//! | `grpc.client.attempt.sent_total_compressed_message_size` | `By` | `grpc.method`, `grpc.target`, `grpc.status` |
//! | `grpc.client.attempt.rcvd_total_compressed_message_size` | `By` | `grpc.method`, `grpc.target`, `grpc.status` |
//! | `grpc.client.call.duration` | `s` | `grpc.method`, `grpc.target`, `grpc.status` |
//! | `rpc.server.call.duration` | `s` | `rpc.system.name`, `rpc.method`, `rpc.response.status_code`, `error.type` |
//! | `rpc.client.call.duration` | `s` | `rpc.system.name`, `rpc.method`, `rpc.response.status_code`, `error.type`, `server.address` |
//!
//! A method no registered service has is recorded as `grpc.method="other"` (A66) and
//! `rpc.method="_OTHER"` (semantic conventions): a peer chooses the path, and an unbounded
//! label would let it grow the metric store without limit. rgrpc makes one attempt per call
//! (no retries yet), so a client's attempt and call durations are the same measurement.

#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod propagation;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use opentelemetry::global::{BoxedSpan, BoxedTracer};
use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::trace::{
    Span as _, SpanBuilder, SpanContext, SpanKind, Status as SpanStatus, TraceContextExt,
    Tracer as _, TracerProvider,
};
use opentelemetry::{Context, KeyValue, Value};
use rgrpc_runtime::observe::{CallEnd, CallInfo, CallObserver, MessageInfo, Observer, Side};
use rgrpc_runtime::{Code, MetadataMap};

pub use propagation::{extract_trace_context, inject_trace_context};

/// gRFC A66's latency buckets, in seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0, 0.00001, 0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005,
    0.006, 0.008, 0.01, 0.013, 0.016, 0.02, 0.025, 0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.13, 0.16,
    0.2, 0.25, 0.3, 0.4, 0.5, 0.65, 0.8, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0,
];

/// gRFC A66's size buckets, in bytes.
pub const SIZE_BUCKETS: &[f64] = &[
    0.0,
    1024.0,
    2048.0,
    4096.0,
    16384.0,
    65536.0,
    262144.0,
    1048576.0,
    4194304.0,
    16777216.0,
    67108864.0,
    268435456.0,
    1073741824.0,
    4294967296.0,
];

/// Records metrics (and, if asked, spans) for the calls of the servers and channels it is
/// installed on. Cheap to clone; clones share instruments.
#[derive(Clone)]
pub struct OtelObserver {
    inner: Arc<Inner>,
}

impl fmt::Debug for OtelObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelObserver")
            .field("spans", &self.inner.tracer.is_some())
            .field("propagate", &self.inner.propagate)
            .finish_non_exhaustive()
    }
}

/// Configures an [`OtelObserver`].
pub struct OtelObserverBuilder {
    meter: Meter,
    tracer: Option<BoxedTracer>,
    propagate: bool,
}

impl fmt::Debug for OtelObserverBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelObserverBuilder")
            .field("spans", &self.tracer.is_some())
            .field("propagate", &self.propagate)
            .finish_non_exhaustive()
    }
}

impl OtelObserverBuilder {
    /// Also makes a span per call (kind server or client, named `package.Service/Method`,
    /// with the RPC semantic-convention attributes), from `provider`. A server span's parent
    /// is the trace context the client sent; a client span's is the current context.
    pub fn tracer_provider<P>(mut self, provider: &P) -> Self
    where
        P: TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
    {
        self.tracer = Some(BoxedTracer::new(Box::new(provider.tracer("rgrpc"))));
        self
    }

    /// Whether clients send W3C trace context (`traceparent`, `tracestate`) in their
    /// metadata and servers read it (default: yes).
    pub fn propagate(mut self, propagate: bool) -> Self {
        self.propagate = propagate;
        self
    }

    /// Creates the instruments.
    pub fn build(self) -> OtelObserver {
        let meter = &self.meter;
        let seconds = |name: &'static str, description: &'static str| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .with_boundaries(LATENCY_BUCKETS.to_vec())
                .build()
        };
        let bytes = |name: &'static str, description: &'static str| {
            meter
                .u64_histogram(name)
                .with_unit("By")
                .with_description(description)
                .with_boundaries(SIZE_BUCKETS.to_vec())
                .build()
        };
        let server = ServerInstruments {
            started: meter
                .u64_counter("grpc.server.call.started")
                .with_unit("{call}")
                .with_description("Calls started on the server, including those not completed")
                .build(),
            duration: seconds(
                "grpc.server.call.duration",
                "From the server receiving the call's headers to sending its status",
            ),
            sent: bytes(
                "grpc.server.call.sent_total_compressed_message_size",
                "Compressed bytes of all response messages of a call",
            ),
            rcvd: bytes(
                "grpc.server.call.rcvd_total_compressed_message_size",
                "Compressed bytes of all request messages of a call",
            ),
            semconv_duration: seconds(
                "rpc.server.call.duration",
                "Duration of incoming RPCs (OpenTelemetry RPC semantic conventions)",
            ),
        };
        let client = ClientInstruments {
            started: meter
                .u64_counter("grpc.client.attempt.started")
                .with_unit("{attempt}")
                .with_description("Call attempts started by the client")
                .build(),
            attempt_duration: seconds(
                "grpc.client.attempt.duration",
                "From the attempt's start to its status",
            ),
            sent: bytes(
                "grpc.client.attempt.sent_total_compressed_message_size",
                "Compressed bytes of all request messages of an attempt",
            ),
            rcvd: bytes(
                "grpc.client.attempt.rcvd_total_compressed_message_size",
                "Compressed bytes of all response messages of an attempt",
            ),
            call_duration: seconds(
                "grpc.client.call.duration",
                "From the application starting the call to its status",
            ),
            semconv_duration: seconds(
                "rpc.client.call.duration",
                "Duration of outgoing RPCs (OpenTelemetry RPC semantic conventions)",
            ),
        };
        OtelObserver {
            inner: Arc::new(Inner {
                server,
                client,
                tracer: self.tracer,
                propagate: self.propagate,
                names: RwLock::default(),
            }),
        }
    }
}

impl OtelObserver {
    /// Starts configuring an observer that records into `meter`.
    pub fn builder(meter: Meter) -> OtelObserverBuilder {
        OtelObserverBuilder {
            meter,
            tracer: None,
            propagate: true,
        }
    }
}

struct Inner {
    server: ServerInstruments,
    client: ClientInstruments,
    tracer: Option<BoxedTracer>,
    propagate: bool,
    /// Method and target names as shared strings, made once each: an attribute value
    /// cloned from an `Arc<str>` allocates nothing, one built from a `&str` would.
    names: RwLock<HashMap<String, Arc<str>>>,
}

impl Inner {
    fn name(&self, name: &str) -> Arc<str> {
        if let Some(name) = self
            .names
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return name.clone();
        }
        self.names
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.to_owned())
            .or_insert_with(|| Arc::from(name))
            .clone()
    }
}

struct ServerInstruments {
    started: Counter<u64>,
    duration: Histogram<f64>,
    sent: Histogram<u64>,
    rcvd: Histogram<u64>,
    semconv_duration: Histogram<f64>,
}

struct ClientInstruments {
    started: Counter<u64>,
    attempt_duration: Histogram<f64>,
    sent: Histogram<u64>,
    rcvd: Histogram<u64>,
    call_duration: Histogram<f64>,
    semconv_duration: Histogram<f64>,
}

/// One observed call.
struct Call {
    inner: Arc<Inner>,
    side: Side,
    /// `grpc.method`: the full method, or `"other"`.
    method: Value,
    /// `rpc.method`: the full method, or `"_OTHER"`.
    semconv_method: Value,
    /// `grpc.target` (client side).
    target: Option<Value>,
    sent: AtomicU64,
    rcvd: AtomicU64,
    span: Mutex<Option<BoxedSpan>>,
    /// What a client sends as `traceparent`: its own span's context, or the caller's.
    propagate: Option<SpanContext>,
}

impl Observer for OtelObserver {
    fn call_started(&self, call: &CallInfo<'_>) -> Option<Arc<dyn CallObserver>> {
        let inner = &self.inner;
        let registered = call.is_registered();
        let (method, semconv_method) = if registered {
            let name = Value::from(inner.name(call.full_method()));
            (name.clone(), name)
        } else {
            (Value::from("other"), Value::from("_OTHER"))
        };
        let target = call.target().map(|t| Value::from(inner.name(t)));
        let (span, propagate) = match call.side() {
            Side::Server => {
                inner
                    .server
                    .started
                    .add(1, &[KeyValue::new("grpc.method", method.clone())]);
                let parent = if inner.propagate {
                    extract_trace_context(call.metadata())
                } else {
                    None
                };
                let span = inner.tracer.as_ref().map(|tracer| {
                    let parent = match parent {
                        Some(remote) => Context::new().with_remote_span_context(remote),
                        None => Context::new(),
                    };
                    let mut attributes = vec![
                        KeyValue::new("rpc.system.name", "grpc"),
                        KeyValue::new("rpc.method", semconv_method.clone()),
                    ];
                    if !registered {
                        attributes.push(KeyValue::new(
                            "rpc.method_original",
                            call.full_method().to_owned(),
                        ));
                    }
                    if let Some(remote) = call.peer().and_then(|p| p.remote_addr()) {
                        attributes.push(KeyValue::new(
                            "network.peer.address",
                            remote.ip().to_string(),
                        ));
                        attributes
                            .push(KeyValue::new("network.peer.port", i64::from(remote.port())));
                    }
                    let builder = SpanBuilder::from_name(semconv_method.as_str().into_owned())
                        .with_kind(SpanKind::Server)
                        .with_attributes(attributes);
                    tracer.build_with_context(builder, &parent)
                });
                (span, None)
            }
            Side::Client => {
                let method_kv = KeyValue::new("grpc.method", method.clone());
                match &target {
                    Some(target) => inner.client.started.add(
                        1,
                        &[method_kv, KeyValue::new("grpc.target", target.clone())],
                    ),
                    None => inner.client.started.add(1, &[method_kv]),
                }
                let current = Context::current();
                let span = inner.tracer.as_ref().map(|tracer| {
                    let mut attributes = vec![
                        KeyValue::new("rpc.system.name", "grpc"),
                        KeyValue::new("rpc.method", semconv_method.clone()),
                    ];
                    if let Some(target) = &target {
                        attributes.push(KeyValue::new("server.address", target.clone()));
                    }
                    let builder = SpanBuilder::from_name(semconv_method.as_str().into_owned())
                        .with_kind(SpanKind::Client)
                        .with_attributes(attributes);
                    tracer.build_with_context(builder, &current)
                });
                let propagate = inner.propagate.then(|| match &span {
                    Some(span) => span.span_context().clone(),
                    None => current.span().span_context().clone(),
                });
                (span, propagate.filter(SpanContext::is_valid))
            }
        };
        Some(Arc::new(Call {
            inner: inner.clone(),
            side: call.side(),
            method,
            semconv_method,
            target,
            sent: AtomicU64::new(0),
            rcvd: AtomicU64::new(0),
            span: Mutex::new(span),
            propagate,
        }))
    }
}

impl CallObserver for Call {
    fn outgoing_metadata(&self, metadata: &mut MetadataMap) {
        if let Some(context) = &self.propagate {
            inject_trace_context(context, metadata);
        }
    }

    fn message_sent(&self, message: &MessageInfo) {
        self.sent
            .fetch_add(message.wire_size() as u64, Ordering::Relaxed);
    }

    fn message_received(&self, message: &MessageInfo) {
        self.rcvd
            .fetch_add(message.wire_size() as u64, Ordering::Relaxed);
    }

    fn call_ended(&self, end: &CallEnd<'_>) {
        let code = end.code();
        let seconds = end.duration().as_secs_f64();
        let sent = self.sent.load(Ordering::Relaxed);
        let rcvd = self.rcvd.load(Ordering::Relaxed);
        let status = Value::from(code.as_str());
        let method = KeyValue::new("grpc.method", self.method.clone());
        let grpc_status = KeyValue::new("grpc.status", status.clone());
        let system = KeyValue::new("rpc.system.name", "grpc");
        let rpc_method = KeyValue::new("rpc.method", self.semconv_method.clone());
        let rpc_status = KeyValue::new("rpc.response.status_code", status.clone());
        let error = (code != Code::Ok).then(|| KeyValue::new("error.type", status));
        // Arrays, not vectors, and shared or static strings: building the attributes
        // allocates nothing.
        match self.side {
            Side::Server => {
                let m = &self.inner.server;
                let attributes = [method, grpc_status];
                m.duration.record(seconds, &attributes);
                m.sent.record(sent, &attributes);
                m.rcvd.record(rcvd, &attributes);
                match error {
                    Some(error) => m
                        .semconv_duration
                        .record(seconds, &[system, rpc_method, rpc_status, error]),
                    None => m
                        .semconv_duration
                        .record(seconds, &[system, rpc_method, rpc_status]),
                }
            }
            Side::Client => {
                let m = &self.inner.client;
                let target = self.target.clone().unwrap_or_else(|| Value::from(""));
                let attributes = [
                    method,
                    grpc_status,
                    KeyValue::new("grpc.target", target.clone()),
                ];
                m.attempt_duration.record(seconds, &attributes);
                m.sent.record(sent, &attributes);
                m.rcvd.record(rcvd, &attributes);
                m.call_duration.record(seconds, &attributes);
                let address = KeyValue::new("server.address", target);
                match error {
                    Some(error) => m
                        .semconv_duration
                        .record(seconds, &[system, rpc_method, rpc_status, error, address]),
                    None => m
                        .semconv_duration
                        .record(seconds, &[system, rpc_method, rpc_status, address]),
                }
            }
        }
        let span = self.span.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut span) = span {
            span.set_attribute(KeyValue::new("rpc.response.status_code", code.as_str()));
            if is_span_error(self.side, code) {
                span.set_attribute(KeyValue::new("error.type", code.as_str()));
                let message = end
                    .status()
                    .map(|s| s.message().to_owned())
                    .unwrap_or_default();
                span.set_status(SpanStatus::error(message));
            }
            span.end();
        }
    }
}

/// The semantic conventions' rule: a client span is an error for any status but OK; a server
/// span only for the codes that say the server failed, not the caller.
fn is_span_error(side: Side, code: Code) -> bool {
    match side {
        Side::Client => code != Code::Ok,
        Side::Server => matches!(
            code,
            Code::Unknown
                | Code::DeadlineExceeded
                | Code::Unimplemented
                | Code::Internal
                | Code::Unavailable
                | Code::DataLoss
        ),
    }
}
