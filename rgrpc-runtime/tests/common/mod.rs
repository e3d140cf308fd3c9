//! The Echo test service and helpers shared by the end-to-end tests.
#![allow(dead_code)]

pub mod attacks;
pub mod child;
pub mod h2raw;
pub mod probe;
pub mod tls;

use std::net::SocketAddr;
use std::time::Duration;

use rgrpc_runtime::{
    Channel, Code, MetadataMap, Request, Response, ResponseSender, Server, Status, Streaming,
};
use tokio::sync::{mpsc, oneshot};

pub mod tools;
pub mod web;

pub use crate::gen::echo::{EchoRequest, EchoResponse};
pub use crate::gen::echo_rgrpc::{Echo, EchoClient, EchoServer};

/// What the server saw, reported to the test.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// The handler started (reported before anything else it does).
    Started(String),
    /// The call's cancellation signal fired.
    Cancelled(String),
    /// The handler's future was dropped before it finished.
    Dropped(String),
}

/// The test service: each request says how to behave.
#[derive(Clone)]
pub struct EchoService {
    pub events: mpsc::UnboundedSender<Event>,
}

/// Reports `Dropped` unless disarmed: proves the runtime dropped the handler.
struct DropGuard {
    name: String,
    events: mpsc::UnboundedSender<Event>,
    armed: bool,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.events.send(Event::Dropped(self.name.clone()));
        }
    }
}

impl EchoService {
    fn watch<T>(&self, req: &Request<T>, name: &str) -> DropGuard {
        let _ = self.events.send(Event::Started(name.to_owned()));
        let cancellation = req.cancellation().clone();
        let events = self.events.clone();
        let label = name.to_owned();
        // Bounded so a watcher for a call that finishes normally does not outlive the test.
        tokio::spawn(async move {
            let fired = tokio::time::timeout(Duration::from_secs(10), cancellation.cancelled());
            if fired.await.is_ok() {
                let _ = events.send(Event::Cancelled(label));
            }
        });
        DropGuard {
            name: name.to_owned(),
            events: self.events.clone(),
            armed: true,
        }
    }
}

fn fail(req: &EchoRequest) -> Result<(), Status> {
    if req.fail_code != 0 {
        return Err(
            Status::new(Code::from_i32(req.fail_code), req.fail_message.clone())
                .with_details(req.payload.clone()),
        );
    }
    Ok(())
}

fn reply(req: &EchoRequest) -> EchoResponse {
    let payload = if req.response_size > 0 {
        vec![0xa5; req.response_size as usize]
    } else {
        req.payload.clone()
    };
    EchoResponse {
        message: req.message.clone(),
        payload,
        ..Default::default()
    }
}

/// Copies `x-echo*` request metadata into a map for the response.
fn echo_metadata(md: &MetadataMap, suffix: &str) -> MetadataMap {
    let mut out = MetadataMap::new();
    let mut keys: Vec<&str> = md.iter().map(|(k, _)| k).collect();
    keys.dedup();
    for key in keys {
        if !key.starts_with("x-echo") {
            continue;
        }
        if key.ends_with("-bin") {
            for v in md.get_all_bin(key) {
                let k = format!("{}{suffix}-bin", key.trim_end_matches("-bin"));
                out.append_bin(&k, &v).unwrap();
            }
        } else {
            for v in md.get_all(key) {
                out.append(&format!("{key}{suffix}"), v).unwrap();
            }
        }
    }
    out
}

impl Echo for EchoService {
    async fn unary(&self, req: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        let mut guard = self.watch(&req, &req.message().message);
        if req.message().sleep_ms > 0 {
            tokio::time::sleep(Duration::from_millis(req.message().sleep_ms.into())).await;
        }
        guard.armed = false;
        fail(req.message())?;
        let mut response = Response::new(reply(req.message()));
        if req.is_compressed() {
            response.message_mut().message.push_str(" [compressed]");
        }
        *response.metadata_mut() = echo_metadata(req.metadata(), "");
        *response.trailers_mut() = echo_metadata(req.metadata(), "-trailer");
        Ok(response)
    }

    async fn server_stream(
        &self,
        req: Request<EchoRequest>,
        mut out: ResponseSender<EchoResponse>,
    ) -> Result<(), Status> {
        let mut guard = self.watch(&req, &req.message().message);
        out.set_headers(echo_metadata(req.metadata(), ""));
        out.set_trailers(echo_metadata(req.metadata(), "-trailer"));
        for i in 0..req.message().count {
            let mut r = reply(req.message());
            r.message = format!("{}-{i}", req.message().message);
            out.send(r).await?;
            if req.message().sleep_ms > 0 {
                tokio::time::sleep(Duration::from_millis(req.message().sleep_ms.into())).await;
            }
        }
        guard.armed = false;
        fail(req.message())
    }

    async fn client_stream(
        &self,
        req: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        let mut guard = self.watch(&req, "client_stream");
        let mut requests = req.into_message();
        let mut joined = Vec::new();
        let mut bytes = 0;
        while let Some(r) = requests.message().await? {
            fail(&r)?;
            if r.sleep_ms > 0 {
                // A slow reader: the client's messages pile up meanwhile.
                tokio::time::sleep(Duration::from_millis(r.sleep_ms.into())).await;
            }
            bytes += r.payload.len();
            if requests.last_message_compressed() {
                joined.push(format!("z{}", r.message));
            } else {
                joined.push(r.message);
            }
        }
        guard.armed = false;
        Ok(Response::new(EchoResponse {
            message: format!("{}:{bytes}", joined.join(",")),
            ..Default::default()
        }))
    }

    async fn bidi(
        &self,
        req: Request<Streaming<EchoRequest>>,
        mut out: ResponseSender<EchoResponse>,
    ) -> Result<(), Status> {
        let mut guard = self.watch(&req, "bidi");
        out.set_headers(echo_metadata(req.metadata(), ""));
        let mut requests = req.into_message();
        while let Some(r) = requests.message().await? {
            fail(&r)?;
            out.send(reply(&r)).await?;
        }
        guard.armed = false;
        Ok(())
    }
}

/// Runs a test body with a 30 s bound, so a hang fails the test instead of stalling CI.
pub async fn bounded<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .expect("test timed out")
}

/// A running Echo server on a free loopback port; shuts down when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    /// Set for a server started with TLS: rotates its certificates.
    pub tls_acceptor: Option<rgrpc_runtime::tls::TlsAcceptor>,
    pub events: mpsc::UnboundedReceiver<Event>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|b| b).await
    }

    pub async fn start_with(
        configure: impl FnOnce(rgrpc_runtime::ServerBuilder) -> rgrpc_runtime::ServerBuilder,
    ) -> TestServer {
        let (tx, events) = mpsc::unbounded_channel();
        let builder = Server::builder().add_service(EchoServer::new(EchoService { events: tx }));
        let server = configure(builder).bind("127.0.0.1:0").await.expect("bind");
        let addr = server.local_addr().expect("addr");
        let tls_acceptor = server.tls_acceptor();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve_with_shutdown(async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            tls_acceptor,
            events,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `https://` target of a server started with TLS.
    pub fn https(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub async fn client(&self) -> EchoClient {
        EchoClient::new(Channel::connect(&self.uri()).await.expect("connect"))
    }

    /// The next event the service reported other than `Started`, waiting up to 5 s.
    pub async fn next_event(&mut self) -> Option<Event> {
        loop {
            let event = tokio::time::timeout(Duration::from_secs(5), self.events.recv())
                .await
                .ok()
                .flatten();
            if !matches!(event, Some(Event::Started(_))) {
                return event;
            }
        }
    }

    /// Waits (up to 10 s) until the handler of the call named `name` has started.
    pub async fn wait_started(&mut self, name: &str) {
        let started = async {
            while let Some(event) = self.events.recv().await {
                if event == Event::Started(name.to_owned()) {
                    return;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), started)
            .await
            .expect("the handler started");
    }

    /// Stops the server and waits until it has shut down (its listener closed, in-flight
    /// calls finished or stopped).
    pub async fn shutdown(&mut self) {
        self.stop();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server reports, for call `name`, both that its cancellation fired and that the
/// handler's future was dropped.
pub async fn assert_handler_cancelled(server: &mut TestServer, name: &str) {
    let mut events = vec![server.next_event().await, server.next_event().await];
    events.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        events,
        vec![
            Some(Event::Cancelled(name.into())),
            Some(Event::Dropped(name.into()))
        ]
    );
}

pub fn echo(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.into(),
        ..Default::default()
    }
}

/// An Echo server running on a runtime (and thread) of its own, so that the test's runtime
/// holds only the client's tasks (see `tokio::runtime::RuntimeMetrics::num_alive_tasks`).
/// Stops when dropped.
pub struct ServerThread {
    pub addr: SocketAddr,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerThread {
    pub fn start() -> ServerThread {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("server runtime");
            runtime.block_on(async move {
                let server = TestServer::start().await;
                addr_tx.send(server.addr).expect("send addr");
                // The test thread holds the sender; a blocking wait is fine on this thread's
                // own runtime, which has a worker of its own for the server.
                let _ = tokio::task::spawn_blocking(move || stopped.recv()).await;
                drop(server);
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server thread started");
        ServerThread {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `https://` target of a server started with TLS.
    pub fn https(&self) -> String {
        format!("https://{}", self.addr)
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Every call shape once against the Echo service, asserting what comes back.
pub async fn all_shapes(client: &EchoClient) {
    let reply = client.unary(echo("one")).await.expect("unary");
    assert_eq!(reply.message().message, "one");
    let mut req = echo("s");
    req.count = 3;
    let mut stream = client.server_stream(req).await.expect("server stream");
    let mut got = Vec::new();
    while let Some(m) = stream.message().await.expect("message") {
        got.push(m.message);
    }
    assert_eq!(got, ["s-0", "s-1", "s-2"]);
    let mut call = client.client_stream(()).await.expect("client stream");
    for name in ["a", "b"] {
        call.send(echo(name)).await.expect("send");
    }
    assert_eq!(
        call.finish().await.expect("finish").message().message,
        "a,b:0"
    );
    let (mut tx, mut rx) = client.bidi(()).await.expect("bidi");
    for name in ["x", "y"] {
        tx.send(echo(name)).await.expect("send");
        let reply = rx.message().await.expect("reply").expect("one");
        assert_eq!(reply.message, name);
    }
    drop(tx);
    assert!(rx.message().await.expect("end").is_none());
}
