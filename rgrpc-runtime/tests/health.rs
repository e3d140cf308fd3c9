//! `grpc.health.v1` over loopback, our client against our service: Check, Watch (current
//! status at once, then every change; an unknown name streams SERVICE_UNKNOWN and stays
//! open), and the reporter used from another task. The grpcio peers (its health client
//! against us, our client against its server) are in `conformance/tests/health_peer.rs`.

mod common;
mod gen;

use std::time::Duration;

use common::bounded;
use rgrpc_runtime::health::{self, HealthCheckRequest, HealthClient, ServingStatus};
use rgrpc_runtime::{Channel, Code, Server, Streaming};

fn ask(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.into(),
        ..Default::default()
    }
}

async fn serve() -> (health::HealthReporter, HealthClient) {
    let (reporter, service) = health::service();
    let server = Server::builder()
        .add_service(service)
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    tokio::spawn(server.serve());
    let channel = Channel::connect(&format!("http://{addr}"))
        .await
        .expect("connect");
    (reporter, HealthClient::new(channel))
}

async fn next(watch: &mut Streaming<health::HealthCheckResponse>) -> ServingStatus {
    let message = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .expect("a status within 5 s")
        .expect("the watch is still open")
        .expect("a message, not the end of the stream");
    message.status.enum_value_or_default()
}

#[tokio::test]
async fn check_known_and_unknown() {
    bounded(async {
        let (reporter, client) = serve().await;
        let overall = client.check(ask("")).await.expect("check \"\"");
        assert_eq!(
            overall.message().status.enum_value_or_default(),
            ServingStatus::SERVING
        );
        let unknown = client.check(ask("no.Such")).await.unwrap_err();
        assert_eq!(unknown.code(), Code::NotFound);

        reporter.set_not_serving("a.B");
        let b = client.check(ask("a.B")).await.expect("check a.B");
        assert_eq!(
            b.message().status.enum_value_or_default(),
            ServingStatus::NOT_SERVING
        );
        reporter.clear("a.B");
        assert_eq!(
            client.check(ask("a.B")).await.unwrap_err().code(),
            Code::NotFound
        );
    })
    .await;
}

#[tokio::test]
async fn watch_sends_current_then_changes() {
    bounded(async {
        let (reporter, client) = serve().await;
        reporter.set_serving("a.B");
        let mut watch = client.watch(ask("a.B")).await.expect("watch");
        assert_eq!(next(&mut watch).await, ServingStatus::SERVING);
        // Set from another task, as an application's own monitoring would.
        let from_elsewhere = reporter.clone();
        tokio::spawn(async move { from_elsewhere.set_not_serving("a.B") })
            .await
            .expect("task");
        assert_eq!(next(&mut watch).await, ServingStatus::NOT_SERVING);
        // Setting the same status again is not a change: the next message is the real one.
        reporter.set_not_serving("a.B");
        reporter.set_serving("a.B");
        assert_eq!(next(&mut watch).await, ServingStatus::SERVING);
    })
    .await;
}

#[tokio::test]
async fn watch_of_unknown_name_stays_open() {
    bounded(async {
        let (reporter, client) = serve().await;
        let mut watch = client.watch(ask("later.Service")).await.expect("watch");
        assert_eq!(next(&mut watch).await, ServingStatus::SERVICE_UNKNOWN);
        // Still open: nothing else arrives on its own ...
        let quiet = tokio::time::timeout(Duration::from_millis(100), watch.message()).await;
        assert!(quiet.is_err(), "the watch ended or sent: {quiet:?}");
        // ... and a status set later reaches it.
        reporter.set_serving("later.Service");
        assert_eq!(next(&mut watch).await, ServingStatus::SERVING);
        reporter.clear("later.Service");
        assert_eq!(next(&mut watch).await, ServingStatus::SERVICE_UNKNOWN);
    })
    .await;
}

#[tokio::test]
async fn shutdown_marks_everything_not_serving() {
    bounded(async {
        let (reporter, client) = serve().await;
        reporter.set_serving("a.B");
        let mut overall = client.watch(ask("")).await.expect("watch");
        assert_eq!(next(&mut overall).await, ServingStatus::SERVING);
        reporter.shutdown();
        assert_eq!(next(&mut overall).await, ServingStatus::NOT_SERVING);
        let b = client.check(ask("a.B")).await.expect("check");
        assert_eq!(
            b.message().status.enum_value_or_default(),
            ServingStatus::NOT_SERVING
        );
        reporter.set_serving("a.B");
        assert_eq!(reporter.status("a.B"), Some(ServingStatus::NOT_SERVING));
    })
    .await;
}

/// A graceful shutdown first marks everything NOT_SERVING, which open watches deliver, and
/// then ends them, so they do not hold the shutdown for its grace period.
#[tokio::test]
async fn graceful_shutdown_reports_not_serving_then_ends_watches() {
    bounded(async {
        let (reporter, service) = health::service();
        reporter.set_serving("a.B");
        let server = Server::builder()
            .add_service(service)
            .shutdown_grace(Duration::from_secs(20))
            .bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = server.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve_with_shutdown(async {
            let _ = stopped.await;
        }));
        let channel = Channel::connect(&format!("http://{addr}"))
            .await
            .expect("connect");
        let client = HealthClient::new(channel);
        let mut overall = client.watch(ask("")).await.expect("watch");
        let mut b = client.watch(ask("a.B")).await.expect("watch");
        assert_eq!(next(&mut overall).await, ServingStatus::SERVING);
        assert_eq!(next(&mut b).await, ServingStatus::SERVING);

        let started = tokio::time::Instant::now();
        stop.send(()).expect("server running");
        assert_eq!(next(&mut overall).await, ServingStatus::NOT_SERVING);
        assert_eq!(next(&mut b).await, ServingStatus::NOT_SERVING);
        let end = overall.message().await.unwrap_err();
        assert_eq!(end.code(), Code::Unavailable, "{end}");
        serving.await.expect("server task").expect("clean shutdown");
        // Well inside the 20 s grace: the watches did not hold the shutdown.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(reporter.status("a.B"), Some(ServingStatus::NOT_SERVING));
    })
    .await;
}
