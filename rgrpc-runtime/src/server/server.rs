//! [`Server`]: binding, the accept loop, per-connection HTTP/2, and graceful shutdown.

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};
use tokio::net::{TcpListener, ToSocketAddrs, UnixListener};
use tokio::sync::mpsc;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use super::call::Compression;
use super::router::{Router, Service};
use super::{ServerCall, ServerFuture};
use crate::coalesce::{self, Coalesce};
use crate::codec::CompressionEncoding;
use crate::defaults;
use crate::request::CallContext;
use crate::transport::Peer;
use crate::wire;

/// Collects services and options, then binds a [`Server`].
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use rgrpc_runtime::Server;
///
/// let server = Server::builder()
///     // .add_service(GreeterServer::new(MyGreeter))
///     .bind("127.0.0.1:50051")
///     .await?;
/// server.serve_with_shutdown(async { let _ = tokio::signal::ctrl_c().await; }).await
/// # }
/// ```
#[derive(Clone)]
pub struct ServerBuilder {
    router: Router,
    config: Config,
    /// A service name registered twice; reported by `bind`.
    duplicate: Option<&'static str>,
    remove_stale_socket: bool,
}

#[derive(Clone, Debug)]
struct Config {
    max_receive_message_size: usize,
    max_concurrent_streams: Option<u32>,
    initial_stream_window: u32,
    initial_connection_window: u32,
    shutdown_grace: Duration,
    handshake_timeout: Duration,
    send_compressed: Option<CompressionEncoding>,
    max_frame_size: u32,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// Registers a service; calls are routed to it by its fully-qualified name.
    ///
    /// Registering two services with one name is an error, reported by [`ServerBuilder::bind`]
    /// (and `serve`), so the mistake cannot silently drop a service.
    pub fn add_service(mut self, service: impl Service) -> Self {
        if let Err(name) = self.router.add(Arc::new(service)) {
            self.duplicate.get_or_insert(name);
        }
        self
    }

    /// The largest request message accepted; larger ones fail with `RESOURCE_EXHAUSTED`.
    /// Default [`defaults::MAX_RECEIVE_MESSAGE_SIZE`].
    pub fn max_receive_message_size(mut self, bytes: usize) -> Self {
        self.config.max_receive_message_size = bytes;
        self
    }

    /// Limits concurrent calls per connection (HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`);
    /// default [`defaults::SERVER_MAX_CONCURRENT_STREAMS`].
    pub fn max_concurrent_streams(mut self, streams: u32) -> Self {
        self.config.max_concurrent_streams = Some(streams);
        self
    }

    /// The HTTP/2 flow-control window per stream (default [`defaults::SERVER_STREAM_WINDOW`]).
    pub fn initial_stream_window_size(mut self, bytes: u32) -> Self {
        self.config.initial_stream_window = bytes;
        self
    }

    /// The HTTP/2 flow-control window per connection (default
    /// [`defaults::SERVER_CONNECTION_WINDOW`]).
    pub fn initial_connection_window_size(mut self, bytes: u32) -> Self {
        self.config.initial_connection_window = bytes;
        self
    }

    /// The largest HTTP/2 frame clients may send (default [`defaults::MAX_FRAME_SIZE`]).
    pub fn max_frame_size(mut self, bytes: u32) -> Self {
        self.config.max_frame_size = bytes;
        self
    }

    /// How long a graceful shutdown waits for in-flight calls before stopping them and closing
    /// connections (default [`defaults::SHUTDOWN_GRACE`]).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.config.shutdown_grace = grace;
        self
    }

    /// How long a new connection may take to complete the HTTP/2 handshake before it is
    /// closed (default [`defaults::HANDSHAKE_TIMEOUT`]).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.handshake_timeout = timeout;
        self
    }

    /// Compresses responses of every service with `encoding` when the client accepts it
    /// (per service: [`super::SendCompressed`]). Requests in gzip and deflate are always
    /// accepted.
    pub fn send_compressed(mut self, encoding: CompressionEncoding) -> Self {
        self.config.send_compressed = Some(encoding);
        self
    }

    /// Binds the listening socket. Fails with `InvalidInput` if two services share a name.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> io::Result<Server> {
        self.check()?;
        let listener = TcpListener::bind(addr).await?;
        self.with_listener(listener)
    }

    /// Binds a Unix domain socket at `path`. A file already there is an error (as for any
    /// bind) unless [`ServerBuilder::remove_stale_socket`] was set, in which case a socket
    /// file left by an earlier run is removed first (never a regular file).
    pub fn bind_unix(self, path: impl AsRef<std::path::Path>) -> io::Result<Server> {
        self.check()?;
        let path = path.as_ref();
        if self.remove_stale_socket {
            use std::os::unix::fs::FileTypeExt;
            match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)?,
                _ => {}
            }
        }
        let listener = UnixListener::bind(path)?;
        let peer = Arc::new(Peer::unix(Some(path.to_owned())));
        self.into_server(Listener::Unix(listener, peer))
    }

    /// Before [`ServerBuilder::bind_unix`], remove a socket file left at the path by an earlier
    /// run (default: no, binding over an existing file fails).
    pub fn remove_stale_socket(mut self, remove: bool) -> Self {
        self.remove_stale_socket = remove;
        self
    }

    pub(crate) fn bind_in_process(
        self,
        incoming: mpsc::UnboundedReceiver<DuplexStream>,
    ) -> io::Result<Server> {
        self.check()?;
        self.into_server(Listener::InProcess(incoming, Arc::new(Peer::in_process())))
    }

    /// Uses an already-bound listener. Fails with `InvalidInput` if two services share a
    /// name.
    pub fn with_listener(self, listener: TcpListener) -> io::Result<Server> {
        self.check()?;
        self.into_server(Listener::Tcp(listener))
    }

    fn into_server(self, listener: Listener) -> io::Result<Server> {
        Ok(Server {
            listener,
            shared: Arc::new(Shared {
                router: self.router,
                config: self.config,
                calls: CallTracker::default(),
            }),
        })
    }

    fn check(&self) -> io::Result<()> {
        match self.duplicate {
            Some(name) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("service {name} was added twice"),
            )),
            None => Ok(()),
        }
    }

    /// Binds `addr` and serves until the process ends.
    pub async fn serve(self, addr: impl ToSocketAddrs) -> io::Result<()> {
        self.bind(addr).await?.serve().await
    }
}

struct Shared {
    router: Router,
    config: Config,
    calls: CallTracker,
}

/// The calls that run as tasks of their own (those not finished by their first poll), so
/// that shutdown can wait for them and, after the grace period, stop them: without this,
/// handlers kept running after `serve_with_shutdown` had returned.
struct CallTracker {
    running: AtomicUsize,
    idle: Notify,
    kill_tx: watch::Sender<bool>,
    kill_rx: watch::Receiver<bool>,
}

impl Default for CallTracker {
    fn default() -> Self {
        let (kill_tx, kill_rx) = watch::channel(false);
        CallTracker {
            running: AtomicUsize::new(0),
            idle: Notify::new(),
            kill_tx,
            kill_rx,
        }
    }
}

/// Held by a running call task; the last one out wakes a waiting shutdown.
struct Running(Arc<Shared>);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.calls.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.calls.idle.notify_waiters();
        }
    }
}

impl CallTracker {
    /// Resolves once no call task is running.
    async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.running.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// Runs a call as a task of its own, tracked for shutdown; a panic inside fails only it.
fn spawn_call(shared: &Arc<Shared>, call: ServerFuture, on_connection: Arc<()>) {
    shared.calls.running.fetch_add(1, Ordering::AcqRel);
    let running = Running(shared.clone());
    let mut kill = shared.calls.kill_rx.clone();
    tokio::spawn(async move {
        let _running = (running, on_connection);
        let call = CatchUnwind(call);
        tokio::select! {
            biased;
            () = call => {}
            _ = kill.wait_for(|kill| *kill) => {}
        }
    });
}

/// Polls a call, turning a panic that escaped the call's own guard into the end of that call
/// (its stream is reset when the call's h2 handles are dropped) instead of the end of the
/// connection's task and every call on it.
struct CatchUnwind(ServerFuture);

impl Future for CatchUnwind {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        poll_call(&mut self.0, cx)
    }
}

fn poll_call(call: &mut ServerFuture, cx: &mut std::task::Context<'_>) -> Poll<()> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(cx))) {
        Ok(poll) => poll,
        Err(_) => {
            tracing::error!("a call panicked outside its handler; its stream is reset");
            Poll::Ready(())
        }
    }
}

/// A bound gRPC server.
pub struct Server {
    listener: Listener,
    shared: Arc<Shared>,
}

/// Where connections come from. Each arm hands its own stream type to the (generic)
/// connection driver, so each transport gets its own monomorphized code.
#[derive(Debug)]
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, Arc<Peer>),
    InProcess(mpsc::UnboundedReceiver<DuplexStream>, Arc<Peer>),
}

/// One accepted connection.
enum Incoming {
    Tcp(tokio::net::TcpStream, Arc<Peer>),
    Unix(tokio::net::UnixStream, Arc<Peer>),
    InProcess(DuplexStream, Arc<Peer>),
}

impl Listener {
    async fn accept(&mut self) -> io::Result<Incoming> {
        match self {
            Listener::Tcp(listener) => {
                let (tcp, remote) = listener.accept().await?;
                // Small gRPC frames must not wait for Nagle's algorithm.
                let _ = tcp.set_nodelay(true);
                let peer = Peer::tcp(Some(remote), tcp.local_addr().ok());
                Ok(Incoming::Tcp(tcp, Arc::new(peer)))
            }
            Listener::Unix(listener, peer) => {
                let (unix, _) = listener.accept().await?;
                Ok(Incoming::Unix(unix, peer.clone()))
            }
            Listener::InProcess(incoming, peer) => match incoming.recv().await {
                Some(duplex) => Ok(Incoming::InProcess(duplex, peer.clone())),
                // Every channel is gone; nothing can connect again.
                None => std::future::pending().await,
            },
        }
    }
}

impl Server {
    /// Starts building a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            router: Router::default(),
            duplicate: None,
            remove_stale_socket: false,
            config: Config {
                max_receive_message_size: defaults::MAX_RECEIVE_MESSAGE_SIZE,
                max_concurrent_streams: Some(defaults::SERVER_MAX_CONCURRENT_STREAMS),
                initial_stream_window: defaults::SERVER_STREAM_WINDOW,
                initial_connection_window: defaults::SERVER_CONNECTION_WINDOW,
                shutdown_grace: defaults::SHUTDOWN_GRACE,
                handshake_timeout: defaults::HANDSHAKE_TIMEOUT,
                send_compressed: None,
                max_frame_size: defaults::MAX_FRAME_SIZE,
            },
        }
    }

    /// The address the server listens on (useful after binding port 0); an error for a
    /// server that does not listen on TCP.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.listener {
            Listener::Tcp(listener) => listener.local_addr(),
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the server does not listen on TCP",
            )),
        }
    }

    /// Serves until the process ends.
    pub async fn serve(self) -> io::Result<()> {
        self.serve_with_shutdown(std::future::pending()).await
    }

    /// Serves until `signal` completes, then shuts down gracefully: stops accepting, sends
    /// GOAWAY so clients open no new calls, lets in-flight calls finish within the grace
    /// period, then closes what is left.
    pub async fn serve_with_shutdown(mut self, signal: impl Future<Output = ()>) -> io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut connections = JoinSet::new();
        tokio::pin!(signal);
        loop {
            tokio::select! {
                _ = &mut signal => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => {
                        let shared = self.shared.clone();
                        let stop = stop_rx.clone();
                        match accepted {
                            Incoming::Tcp(io, peer) => {
                                connections.spawn(serve_connection(io, peer, shared, stop))
                            }
                            Incoming::Unix(io, peer) => {
                                connections.spawn(serve_connection(io, peer, shared, stop))
                            }
                            Incoming::InProcess(io, peer) => {
                                connections.spawn(serve_connection(io, peer, shared, stop))
                            }
                        };
                    }
                    Err(e) => {
                        // Usually EMFILE or a connection reset before accept: keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        if let Listener::Unix(_, peer) = &self.listener {
            // Leave no socket file behind for the next run to trip over.
            if let Some(path) = peer.unix_path() {
                let _ = std::fs::remove_file(path);
            }
        }
        drop(self.listener);
        let _ = stop_tx.send(true);
        let grace = self.shared.config.shutdown_grace;
        let calls = &self.shared.calls;
        let drained = tokio::time::timeout(grace, async {
            while connections.join_next().await.is_some() {}
            calls.wait_idle().await;
        })
        .await;
        if drained.is_err() {
            // Stop the calls still running (their futures are dropped, which resets their
            // streams and fires nothing else), then the connections.
            let _ = calls.kill_tx.send(true);
            connections.shutdown().await;
            calls.wait_idle().await;
        }
        Ok(())
    }
}

/// Drives one connection: the handshake, then accepting and running its calls. Generic over
/// the byte stream, monomorphized per transport.
async fn serve_connection<T>(
    io: T,
    peer: Arc<Peer>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // The handshake's state is about as big as the connection's; boxed, it is freed once the
    // handshake is done instead of sitting beside the connection in every idle task.
    let (io, drain) = coalesce::wrap(io);
    let handshake = drain.around(handshake(io, &shared.config, &mut stop));
    let Ok(Some(mut conn)) = Box::pin(handshake).await else {
        return;
    };
    // Accept every stream that is ready, run each new call once in place, and only then
    // return to h2, which writes all the responses of the batch in one go: the difference
    // between one write per response and one per batch is about 2x in throughput.
    let stop = stop.wait_for(|stop| *stop);
    tokio::pin!(stop);
    let mut stopping = false;
    let mut batch: Vec<ServerFuture> = Vec::new();
    let mut stepped_aside = false;
    // One clone per call of this connection running as a task of its own.
    let running = Arc::new(());
    poll_fn(|cx| {
        if !stopping && stop.as_mut().poll(cx).is_ready() {
            stopping = true;
            conn.graceful_shutdown();
        }
        loop {
            loop {
                match conn.poll_accept(cx) {
                    Poll::Ready(Some(Ok((request, respond)))) => {
                        if let Some(call) = dispatch(&shared, &peer, request, respond) {
                            batch.push(call);
                        }
                    }
                    Poll::Ready(Some(Err(e))) => {
                        tracing::debug!(error = %e, "connection error");
                        return Poll::Ready(());
                    }
                    Poll::Ready(None) => return Poll::Ready(()),
                    Poll::Pending => break,
                }
            }
            if batch.is_empty() {
                // h2 has written all it has. Calls running as tasks of their own wake this
                // task whenever they queue a frame, and tokio runs a freshly woken task
                // next, so if there are such calls and little is gathered, more is likely
                // on its way: step aside once (to the back of the run queue) to let every
                // runnable call queue its frames, as grpc-go's writer yields before
                // flushing a small batch. Calls answered in place need no such wait.
                if !stepped_aside && Arc::strong_count(&running) > 1 && drain.is_small() {
                    stepped_aside = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                stepped_aside = false;
                // Put what was gathered on the wire in one go.
                if let Poll::Ready(Err(e)) = drain.poll_drain(cx) {
                    tracing::debug!(error = %e, "connection write failed");
                    return Poll::Ready(());
                }
                return Poll::Pending;
            }
            for mut call in batch.drain(..) {
                if poll_call(&mut call, cx).is_pending() {
                    // Waiting on something (the request body, the handler's own I/O): give
                    // it a task of its own so it runs in parallel with this connection.
                    spawn_call(&shared, call, running.clone());
                }
            }
            // The calls queued responses; polling h2 again writes them.
        }
    })
    .await;
}

type Connection<T> = h2::server::Connection<Coalesce<T>, Bytes>;

/// The HTTP/2 handshake, within the handshake timeout; `None` if it failed or the server
/// is stopping.
async fn handshake<T: AsyncRead + AsyncWrite + Unpin>(
    io: Coalesce<T>,
    config: &Config,
    stop: &mut watch::Receiver<bool>,
) -> Option<Connection<T>> {
    let mut builder = h2::server::Builder::new();
    builder
        .initial_window_size(config.initial_stream_window)
        .initial_connection_window_size(config.initial_connection_window)
        .max_frame_size(config.max_frame_size);
    if let Some(max) = config.max_concurrent_streams {
        builder.max_concurrent_streams(max);
    }
    let handshake = tokio::time::timeout(config.handshake_timeout, builder.handshake(io));
    tokio::select! {
        conn = handshake => match conn {
            Ok(Ok(conn)) => Some(conn),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "HTTP/2 handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!("HTTP/2 handshake timed out");
                None
            }
        },
        _ = stop.wait_for(|stop| *stop) => None,
    }
}

/// Validates the request head (PROTOCOL-HTTP2, "Requests") and routes it; `None` when it
/// was answered at once.
fn dispatch(
    shared: &Shared,
    peer: &Arc<Peer>,
    request: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) -> Option<ServerFuture> {
    let (parts, body) = request.into_parts();
    let head = match wire::parse_request(&parts.method, &parts.headers) {
        Ok(head) => head,
        Err(rejection) => {
            let _ = respond.send_response(rejection.into_response(), true);
            return None;
        }
    };
    let compression = Compression {
        request: head.encoding,
        accepted: head.accepted,
        default: shared.config.send_compressed,
    };
    let call = ServerCall {
        context: CallContext {
            peer: Some(peer.clone()),
            extensions: parts.extensions,
        },
        headers: parts.headers,
        body,
        respond,
        deadline: head.deadline,
        max_receive: shared.config.max_receive_message_size,
        compression,
    };
    Some(shared.router.route(parts.uri.path(), call))
}
