//! `grpc.health.v1.Health`: gRPC's standard health service (`doc/health-checking.md`), what
//! Kubernetes' gRPC probes, load balancers and `grpc_health_probe` ask.
//!
//! [`service()`] returns the service to register and a [`HealthReporter`], a cheap handle that
//! sets statuses from anywhere:
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use rgrpc_runtime::health::{self, ServingStatus};
//! use rgrpc_runtime::Server;
//!
//! let (reporter, health) = health::service();
//! reporter.set_status("helloworld.Greeter", ServingStatus::SERVING);
//! let server = Server::builder().add_service(health).bind("127.0.0.1:0").await?;
//! // later, from any task: reporter.set_status("helloworld.Greeter", ServingStatus::NOT_SERVING);
//! # Ok(()) }
//! ```
//!
//! What the spec asks, and what this does:
//! - `Check` answers the status of a known name (`""` is the server as a whole, `SERVING`
//!   from the start) and `NOT_FOUND` for a name never set (or [cleared](HealthReporter::clear)).
//! - `Watch` sends the current status at once, then every change. For an unknown name it sends
//!   `SERVICE_UNKNOWN` and keeps the call open, so a status set later still reaches the
//!   watcher (tonic-health ends such a call instead).
//! - [`HealthReporter::shutdown`] marks every name `NOT_SERVING` and ignores later updates
//!   until [`HealthReporter::resume`]; the server calls it when a graceful shutdown begins,
//!   before it stops accepting, and then ends open `Watch` calls once they have sent
//!   `NOT_SERVING`, so they do not hold the shutdown for its whole grace period.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::server::{ServerCall, ServerFuture, Service};
use crate::{Request, Response, ResponseSender, Status};

#[allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod gen;

/// The generated messages and client of `grpc/health/v1/health.proto`.
pub mod pb {
    pub use super::gen::health::*;
    pub use super::gen::health_rgrpc::{Health, HealthClient, HealthServer, FILE_DESCRIPTORS};
}

pub use gen::health::health_check_response::ServingStatus;
pub use gen::health::{HealthCheckRequest, HealthCheckResponse};
pub use gen::health_rgrpc::HealthClient;

/// The health service's own name, as it appears in `:path` and in reflection.
pub const SERVICE_NAME: &str = "grpc.health.v1.Health";

/// A new health service and the handle that sets its statuses. The server as a whole (`""`)
/// starts `SERVING`, as in grpc-go and gRPC C-core; every other name is unknown until set.
pub fn service() -> (HealthReporter, HealthService) {
    let reporter = HealthReporter::new();
    reporter.set_status("", ServingStatus::SERVING);
    let service = HealthService {
        server: gen::health_rgrpc::HealthServer::new(Handlers {
            state: reporter.state.clone(),
        }),
        reporter: reporter.clone(),
    };
    (reporter, service)
}

/// Sets the statuses a [`HealthService`] reports. Cheap to clone; every clone changes the
/// same statuses, from any thread or task.
#[derive(Clone, Debug)]
pub struct HealthReporter {
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    inner: Mutex<Inner>,
    /// `true` once the server's graceful shutdown began: open watches end.
    closing: watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct Inner {
    /// One channel per name that has a status or a watcher; `SERVICE_UNKNOWN` marks a name
    /// that only watchers keep here (removed with its last watcher).
    statuses: HashMap<String, watch::Sender<ServingStatus>>,
    /// Set by `shutdown`: later updates are ignored until `resume`.
    frozen: bool,
}

impl State {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    /// Sets `name`'s status, waking watchers only on a real change.
    fn set(&mut self, name: &str, status: ServingStatus) {
        match self.statuses.get(name) {
            Some(tx) => {
                tx.send_if_modified(|current| std::mem::replace(current, status) != status);
                if status == ServingStatus::SERVICE_UNKNOWN && tx.receiver_count() == 0 {
                    self.statuses.remove(name);
                }
            }
            None if status == ServingStatus::SERVICE_UNKNOWN => {}
            None => {
                self.statuses
                    .insert(name.to_owned(), watch::Sender::new(status));
            }
        }
    }

    fn get(&self, name: &str) -> Option<ServingStatus> {
        let status = *self.statuses.get(name)?.borrow();
        (status != ServingStatus::SERVICE_UNKNOWN).then_some(status)
    }
}

impl Default for HealthReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthReporter {
    /// A reporter with no statuses at all (not even `""`); [`service()`] is the usual start.
    pub fn new() -> HealthReporter {
        HealthReporter {
            state: Arc::new(State {
                inner: Mutex::new(Inner::default()),
                closing: watch::Sender::new(false),
            }),
        }
    }

    /// Sets the status of `service` (a fully-qualified service name, or `""` for the whole
    /// server); watchers see the change. `SERVICE_UNKNOWN` forgets the name, as
    /// [`clear`](Self::clear). Ignored after [`shutdown`](Self::shutdown).
    pub fn set_status(&self, service: &str, status: ServingStatus) {
        let mut inner = self.state.lock();
        if !inner.frozen {
            inner.set(service, status);
        }
    }

    /// Marks `service` `SERVING`.
    pub fn set_serving(&self, service: &str) {
        self.set_status(service, ServingStatus::SERVING);
    }

    /// Marks `service` `NOT_SERVING`.
    pub fn set_not_serving(&self, service: &str) {
        self.set_status(service, ServingStatus::NOT_SERVING);
    }

    /// Forgets `service`: `Check` answers `NOT_FOUND` again and watchers see
    /// `SERVICE_UNKNOWN`.
    pub fn clear(&self, service: &str) {
        self.set_status(service, ServingStatus::SERVICE_UNKNOWN);
    }

    /// The status `Check` would answer for `service`; `None` for an unknown name.
    pub fn status(&self, service: &str) -> Option<ServingStatus> {
        self.state.lock().get(service)
    }

    /// Marks every known name `NOT_SERVING` and ignores later updates until
    /// [`resume`](Self::resume) (grpc-go's `Shutdown`). The server calls this when its
    /// graceful shutdown begins.
    pub fn shutdown(&self) {
        let mut inner = self.state.lock();
        inner.frozen = false;
        let names: Vec<String> = inner
            .statuses
            .iter()
            .filter(|(_, tx)| *tx.borrow() != ServingStatus::SERVICE_UNKNOWN)
            .map(|(name, _)| name.clone())
            .collect();
        for name in names {
            inner.set(&name, ServingStatus::NOT_SERVING);
        }
        inner.frozen = true;
    }

    /// Accepts updates again after [`shutdown`](Self::shutdown); statuses stay as they are
    /// until set.
    pub fn resume(&self) {
        self.state.lock().frozen = false;
        self.state.closing.send_replace(false);
    }

    /// The server is going away: everything `NOT_SERVING`, then open watches end (each after
    /// sending its last status) so that they do not hold up the graceful shutdown.
    pub(crate) fn close_watches(&self) {
        self.shutdown();
        self.state.closing.send_replace(true);
    }
}

/// The `grpc.health.v1.Health` service, made by [`service()`]. Register it with
/// [`crate::ServerBuilder::add_service`].
#[derive(Clone, Debug)]
pub struct HealthService {
    server: gen::health_rgrpc::HealthServer<Handlers>,
    reporter: HealthReporter,
}

impl HealthService {
    /// The handle that sets this service's statuses.
    pub fn reporter(&self) -> &HealthReporter {
        &self.reporter
    }
}

impl Service for HealthService {
    fn name(&self) -> &'static str {
        SERVICE_NAME
    }

    fn call(&self, method: &str, call: ServerCall) -> ServerFuture {
        self.server.call(method, call)
    }

    fn has_method(&self, method: &str) -> bool {
        self.server.has_method(method)
    }

    fn file_descriptors(&self) -> &'static [&'static [u8]] {
        self.server.file_descriptors()
    }

    fn shutting_down(&self) {
        self.reporter.close_watches();
    }
}

/// The handlers behind the generated adapter.
#[derive(Debug)]
struct Handlers {
    state: Arc<State>,
}

fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status.into(),
        ..Default::default()
    }
}

impl gen::health_rgrpc::Health for Handlers {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let name = &request.message().service;
        match self.state.lock().get(name) {
            Some(status) => Ok(Response::new(response(status))),
            None => Err(Status::not_found(format!("unknown service {name:?}"))),
        }
    }

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
        mut responses: ResponseSender<HealthCheckResponse>,
    ) -> Result<(), Status> {
        let name = request.into_message().service;
        let mut watcher = Watcher::new(self.state.clone(), name);
        let mut closing = self.state.closing.subscribe();
        let mut last = None;
        loop {
            // The newest status; a slow client may skip intermediate ones, which the spec
            // allows (only the latest matters to a prober).
            let current = watcher.current();
            if last != Some(current) {
                responses.send(response(current)).await?;
                last = Some(current);
            }
            if *closing.borrow_and_update() {
                return Err(Status::unavailable("the server is shutting down"));
            }
            tokio::select! {
                changed = watcher.changed() => {
                    if changed.is_err() {
                        // The name's channel was replaced; it cannot be while we watch it,
                        // but a watcher must never spin.
                        return Err(Status::unavailable("health status is gone"));
                    }
                }
                _ = closing.changed() => {}
            }
        }
    }
}

/// One `Watch` call's subscription; a name that only watchers kept alive is forgotten when
/// its last watcher leaves, so watching random names cannot grow the map.
struct Watcher {
    state: Arc<State>,
    name: String,
    rx: Option<watch::Receiver<ServingStatus>>,
}

impl Watcher {
    fn new(state: Arc<State>, name: String) -> Watcher {
        let rx = {
            let mut inner = state.lock();
            inner
                .statuses
                .entry(name.clone())
                .or_insert_with(|| watch::Sender::new(ServingStatus::SERVICE_UNKNOWN))
                .subscribe()
        };
        Watcher {
            state,
            name,
            rx: Some(rx),
        }
    }

    fn current(&mut self) -> ServingStatus {
        match &mut self.rx {
            Some(rx) => *rx.borrow_and_update(),
            None => ServingStatus::SERVICE_UNKNOWN,
        }
    }

    async fn changed(&mut self) -> Result<(), watch::error::RecvError> {
        match &mut self.rx {
            Some(rx) => rx.changed().await,
            None => std::future::pending().await,
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        drop(self.rx.take());
        let mut inner = self.state.lock();
        let unused = inner.statuses.get(&self.name).is_some_and(|tx| {
            *tx.borrow() == ServingStatus::SERVICE_UNKNOWN && tx.receiver_count() == 0
        });
        if unused {
            inner.statuses.remove(&self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_clear() {
        let (reporter, _service) = service();
        assert_eq!(reporter.status(""), Some(ServingStatus::SERVING));
        assert_eq!(reporter.status("a.B"), None);
        reporter.set_not_serving("a.B");
        assert_eq!(reporter.status("a.B"), Some(ServingStatus::NOT_SERVING));
        reporter.clear("a.B");
        assert_eq!(reporter.status("a.B"), None);
        assert!(!reporter.state.lock().statuses.contains_key("a.B"));
    }

    #[test]
    fn shutdown_freezes_until_resume() {
        let (reporter, _service) = service();
        reporter.set_serving("a.B");
        reporter.shutdown();
        assert_eq!(reporter.status(""), Some(ServingStatus::NOT_SERVING));
        assert_eq!(reporter.status("a.B"), Some(ServingStatus::NOT_SERVING));
        reporter.set_serving("a.B");
        reporter.set_serving("c.D");
        assert_eq!(reporter.status("a.B"), Some(ServingStatus::NOT_SERVING));
        assert_eq!(reporter.status("c.D"), None);
        reporter.resume();
        reporter.set_serving("a.B");
        assert_eq!(reporter.status("a.B"), Some(ServingStatus::SERVING));
    }

    #[test]
    fn watchers_of_unknown_names_leave_nothing_behind() {
        let (reporter, _service) = service();
        let watcher = Watcher::new(reporter.state.clone(), "x.Y".into());
        let second = Watcher::new(reporter.state.clone(), "x.Y".into());
        assert!(reporter.state.lock().statuses.contains_key("x.Y"));
        drop(watcher);
        assert!(reporter.state.lock().statuses.contains_key("x.Y"));
        drop(second);
        assert!(!reporter.state.lock().statuses.contains_key("x.Y"));
        // A name set while watched stays after the watcher leaves.
        let watcher = Watcher::new(reporter.state.clone(), "x.Y".into());
        reporter.set_serving("x.Y");
        drop(watcher);
        assert_eq!(reporter.status("x.Y"), Some(ServingStatus::SERVING));
    }
}
