//! The OpenTelemetry adapter on real calls over loopback, read back through the SDK's
//! in-memory exporters: every A66 and semantic-convention instrument with its unit, bucket
//! boundaries, attributes and byte totals; `"other"` for an unregistered method; and W3C
//! trace context from the client's span to the server's. The service is the runtime's own
//! health service (unary Check, server-streaming Watch).

use std::collections::BTreeMap;
use std::time::Duration;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, HistogramDataPoint, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use protobuf::Message;
use rgrpc_otel::{OtelObserver, LATENCY_BUCKETS, SIZE_BUCKETS};
use rgrpc_runtime::health::{self, HealthCheckRequest, HealthClient};
use rgrpc_runtime::{Channel, Code, Server};

struct Telemetry {
    meters: SdkMeterProvider,
    metrics: InMemoryMetricExporter,
    tracers: SdkTracerProvider,
    spans: InMemorySpanExporter,
}

impl Telemetry {
    fn new() -> Telemetry {
        let metrics = InMemoryMetricExporter::default();
        let meters = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metrics.clone()).build())
            .build();
        let spans = InMemorySpanExporter::default();
        let tracers = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        Telemetry {
            meters,
            metrics,
            tracers,
            spans,
        }
    }

    fn observer(&self) -> OtelObserver {
        OtelObserver::builder(self.meters.meter("rgrpc-test"))
            .tracer_provider(&self.tracers)
            .build()
    }

    /// Every histogram data point and counter value, by instrument name.
    fn collect(&self) -> BTreeMap<String, Instrument> {
        self.meters.force_flush().expect("flush metrics");
        let exported = self.metrics.get_finished_metrics().expect("metrics");
        let mut out = BTreeMap::new();
        for resource in &exported {
            for scope in resource.scope_metrics() {
                for metric in scope.metrics() {
                    let instrument =
                        out.entry(metric.name().to_owned())
                            .or_insert_with(|| Instrument {
                                unit: metric.unit().to_owned(),
                                points: Vec::new(),
                            });
                    match metric.data() {
                        AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                            instrument
                                .points
                                .extend(h.data_points().map(Point::from_f64));
                        }
                        AggregatedMetrics::U64(MetricData::Histogram(h)) => {
                            instrument
                                .points
                                .extend(h.data_points().map(Point::from_u64));
                        }
                        AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                            instrument.points.extend(sum.data_points().map(|p| Point {
                                attributes: attributes(p.attributes()),
                                count: p.value(),
                                sum: p.value() as f64,
                                bounds: Vec::new(),
                            }));
                        }
                        other => panic!("{}: unexpected data {other:?}", metric.name()),
                    }
                }
            }
        }
        out
    }
}

#[derive(Debug)]
struct Instrument {
    unit: String,
    points: Vec<Point>,
}

#[derive(Debug)]
struct Point {
    attributes: BTreeMap<String, String>,
    count: u64,
    sum: f64,
    bounds: Vec<f64>,
}

fn attributes<'a>(kvs: impl Iterator<Item = &'a KeyValue>) -> BTreeMap<String, String> {
    kvs.map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect()
}

impl Point {
    fn from_f64(p: &HistogramDataPoint<f64>) -> Point {
        Point {
            attributes: attributes(p.attributes()),
            count: p.count(),
            sum: p.sum(),
            bounds: p.bounds().collect(),
        }
    }

    fn from_u64(p: &HistogramDataPoint<u64>) -> Point {
        Point {
            attributes: attributes(p.attributes()),
            count: p.count(),
            sum: p.sum() as f64,
            bounds: p.bounds().collect(),
        }
    }
}

fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The one point of `name` with exactly `attributes`.
fn point<'a>(
    metrics: &'a BTreeMap<String, Instrument>,
    name: &str,
    unit: &str,
    attributes: &BTreeMap<String, String>,
) -> &'a Point {
    let instrument = metrics
        .get(name)
        .unwrap_or_else(|| panic!("no {name}; have {:?}", metrics.keys()));
    assert_eq!(instrument.unit, unit, "{name}'s unit");
    instrument
        .points
        .iter()
        .find(|p| &p.attributes == attributes)
        .unwrap_or_else(|| {
            panic!(
                "{name}: no point {attributes:?} in {:#?}",
                instrument.points
            )
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn a66_and_semconv_metrics_and_trace_context() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let telemetry = Telemetry::new();
        let observer = telemetry.observer();
        let (_reporter, service) = health::service();
        let server = Server::builder()
            .add_service(service)
            .observer(observer.clone())
            .bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = server.local_addr().expect("addr");
        tokio::spawn(server.serve());
        let target = addr.to_string();
        let channel = Channel::builder(&format!("http://{addr}"))
            .observer(observer)
            .connect()
            .await
            .expect("connect");
        let client = HealthClient::new(channel.clone());

        // Two OK Checks inside an application span: their client spans are its children and
        // the server spans continue the same trace.
        let app_tracer = telemetry.tracers.tracer("app");
        let app_span = app_tracer.start("app-operation");
        let app_trace_id = app_span.span_context().trace_id();
        let cx = Context::current_with_span(app_span);
        let request = HealthCheckRequest::new();
        let request_size = request.compute_size();
        let mut response_size = 0;
        for _ in 0..2 {
            let _attached = cx.clone().attach();
            let reply = client.check(request.clone()).await.expect("check");
            response_size = reply.message().compute_size();
        }
        // NOT_FOUND, and a method nobody registered.
        let missing = HealthCheckRequest {
            service: "no.Such".into(),
            ..Default::default()
        };
        let missing_size = missing.compute_size();
        assert_eq!(
            client.check(missing).await.unwrap_err().code(),
            Code::NotFound
        );
        let unregistered = rgrpc_runtime::codegen::unary(
            &channel,
            &rgrpc_runtime::Method::<
                rgrpc_runtime::codegen::ProtobufCodec<HealthCheckRequest, HealthCheckRequest>,
            >::new(
                "/grpc.health.v1.Health/Nope",
                rgrpc_runtime::MethodKind::Unary,
            ),
            rgrpc_runtime::Request::new(HealthCheckRequest::new()),
        )
        .await
        .unwrap_err();
        assert_eq!(unregistered.code(), Code::Unimplemented);
        drop(cx);

        let check = "grpc.health.v1.Health/Check";
        // The server records a call's metrics when it ends, which can be just after the
        // client has its answer: wait until all four server calls are in.
        let mut metrics = telemetry.collect();
        for _ in 0..200 {
            let ended = metrics
                .get("grpc.server.call.duration")
                .map_or(0, |i| i.points.iter().map(|p| p.count).sum::<u64>());
            if ended == 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            metrics = telemetry.collect();
        }

        // gRFC A66, server side.
        let ok = attrs(&[("grpc.method", check), ("grpc.status", "OK")]);
        let started = point(
            &metrics,
            "grpc.server.call.started",
            "{call}",
            &attrs(&[("grpc.method", check)]),
        );
        assert_eq!(started.count, 3);
        let duration = point(&metrics, "grpc.server.call.duration", "s", &ok);
        assert_eq!(duration.count, 2);
        assert_eq!(duration.bounds, LATENCY_BUCKETS);
        assert!(
            duration.sum > 0.0 && duration.sum < 10.0,
            "{}",
            duration.sum
        );
        let rcvd = point(
            &metrics,
            "grpc.server.call.rcvd_total_compressed_message_size",
            "By",
            &ok,
        );
        assert_eq!((rcvd.count, rcvd.sum), (2, (2 * request_size) as f64));
        assert_eq!(rcvd.bounds, SIZE_BUCKETS);
        let sent = point(
            &metrics,
            "grpc.server.call.sent_total_compressed_message_size",
            "By",
            &ok,
        );
        assert_eq!((sent.count, sent.sum), (2, (2 * response_size) as f64));
        let not_found = attrs(&[("grpc.method", check), ("grpc.status", "NOT_FOUND")]);
        let rcvd = point(
            &metrics,
            "grpc.server.call.rcvd_total_compressed_message_size",
            "By",
            &not_found,
        );
        assert_eq!((rcvd.count, rcvd.sum), (1, missing_size as f64));
        let sent = point(
            &metrics,
            "grpc.server.call.sent_total_compressed_message_size",
            "By",
            &not_found,
        );
        assert_eq!((sent.count, sent.sum), (1, 0.0));
        // The unregistered method is "other", never its path.
        point(
            &metrics,
            "grpc.server.call.started",
            "{call}",
            &attrs(&[("grpc.method", "other")]),
        );
        point(
            &metrics,
            "grpc.server.call.duration",
            "s",
            &attrs(&[("grpc.method", "other"), ("grpc.status", "UNIMPLEMENTED")]),
        );

        // gRFC A66, client side: per attempt and per call, with the target.
        let client_ok = attrs(&[
            ("grpc.method", check),
            ("grpc.target", &target),
            ("grpc.status", "OK"),
        ]);
        let attempts = point(
            &metrics,
            "grpc.client.attempt.started",
            "{attempt}",
            &attrs(&[("grpc.method", check), ("grpc.target", &target)]),
        );
        assert_eq!(attempts.count, 3);
        assert_eq!(
            point(&metrics, "grpc.client.attempt.duration", "s", &client_ok).count,
            2
        );
        assert_eq!(
            point(&metrics, "grpc.client.call.duration", "s", &client_ok).count,
            2
        );
        let sent = point(
            &metrics,
            "grpc.client.attempt.sent_total_compressed_message_size",
            "By",
            &client_ok,
        );
        assert_eq!((sent.count, sent.sum), (2, (2 * request_size) as f64));
        let rcvd = point(
            &metrics,
            "grpc.client.attempt.rcvd_total_compressed_message_size",
            "By",
            &client_ok,
        );
        assert_eq!((rcvd.count, rcvd.sum), (2, (2 * response_size) as f64));

        // OpenTelemetry RPC semantic conventions, in seconds.
        let semconv = point(
            &metrics,
            "rpc.server.call.duration",
            "s",
            &attrs(&[
                ("rpc.system.name", "grpc"),
                ("rpc.method", check),
                ("rpc.response.status_code", "OK"),
            ]),
        );
        assert_eq!(semconv.count, 2);
        assert!(
            semconv.sum < 10.0,
            "seconds, not milliseconds: {}",
            semconv.sum
        );
        point(
            &metrics,
            "rpc.server.call.duration",
            "s",
            &attrs(&[
                ("rpc.system.name", "grpc"),
                ("rpc.method", check),
                ("rpc.response.status_code", "NOT_FOUND"),
                ("error.type", "NOT_FOUND"),
            ]),
        );
        point(
            &metrics,
            "rpc.server.call.duration",
            "s",
            &attrs(&[
                ("rpc.system.name", "grpc"),
                ("rpc.method", "_OTHER"),
                ("rpc.response.status_code", "UNIMPLEMENTED"),
                ("error.type", "UNIMPLEMENTED"),
            ]),
        );
        let client_semconv = point(
            &metrics,
            "rpc.client.call.duration",
            "s",
            &attrs(&[
                ("rpc.system.name", "grpc"),
                ("rpc.method", check),
                ("rpc.response.status_code", "OK"),
                ("server.address", &target),
            ]),
        );
        assert_eq!(client_semconv.count, 2);

        // Spans: the client's are children of the application's span, the server's
        // continue the client's through `traceparent`.
        let spans = telemetry.spans.get_finished_spans().expect("spans");
        let client_spans: Vec<_> = spans
            .iter()
            .filter(|s| s.span_kind == SpanKind::Client && s.name == check)
            .collect();
        let server_spans: Vec<_> = spans
            .iter()
            .filter(|s| s.span_kind == SpanKind::Server && s.name == check)
            .collect();
        assert_eq!(client_spans.len(), 3, "{spans:#?}");
        assert_eq!(server_spans.len(), 3, "{spans:#?}");
        let in_app: Vec<_> = client_spans
            .iter()
            .filter(|s| s.span_context.trace_id() == app_trace_id)
            .collect();
        assert_eq!(in_app.len(), 2, "both Checks in the app span's trace");
        for client_span in in_app {
            let server_span = server_spans
                .iter()
                .find(|s| s.parent_span_id == client_span.span_context.span_id())
                .expect("a server span whose parent is the client span");
            assert_eq!(server_span.span_context.trace_id(), app_trace_id);
            assert!(server_span.parent_span_is_remote);
            assert!(server_span
                .attributes
                .contains(&KeyValue::new("rpc.system.name", "grpc")));
            assert!(server_span.attributes.contains(&KeyValue::new(
                "rpc.response.status_code",
                Value::from("OK")
            )));
        }
        let failed = client_spans
            .iter()
            .find(|s| {
                s.attributes
                    .contains(&KeyValue::new("rpc.response.status_code", "NOT_FOUND"))
            })
            .expect("the NOT_FOUND client span");
        assert!(matches!(
            failed.status,
            opentelemetry::trace::Status::Error { .. }
        ));
        // NOT_FOUND is the caller's problem: the server span is not an error.
        let server_not_found = server_spans
            .iter()
            .find(|s| {
                s.attributes
                    .contains(&KeyValue::new("rpc.response.status_code", "NOT_FOUND"))
            })
            .expect("the NOT_FOUND server span");
        assert!(!matches!(
            server_not_found.status,
            opentelemetry::trace::Status::Error { .. }
        ));
    })
    .await
    .expect("test timed out");
}
