//! [`ServerBuilder`]: services and options, then a bound [`Server`].

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::DuplexStream;
use tokio::net::{TcpListener, ToSocketAddrs, UnixListener};
use tokio::sync::mpsc;

use super::config::Config;
use super::dispatch::{CallTracker, Shared};
use super::interceptor::{Interceptors, ServerInterceptor};
use super::router::{Router, Service};
use super::server::{Listener, Server};
use crate::codec::CompressionEncoding;
use crate::defaults;
use crate::transport::budget::{Budget, ServerBudgets};
use crate::transport::server::Settings;
use crate::transport::Peer;

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
    /// `add_reflection` was called: reflection services are added at bind.
    #[cfg_attr(not(feature = "reflection"), allow(dead_code))]
    reflection: bool,
    interceptors: Vec<Arc<dyn ServerInterceptor>>,
    #[cfg(feature = "_tls")]
    tls: Option<Tls>,
    /// Why the gRPC-Web configuration is invalid; reported by `bind`.
    #[cfg(feature = "web")]
    invalid_web: Option<String>,
}

/// The TLS a builder was given: settings to build at bind, or a ready acceptor.
#[cfg(feature = "_tls")]
#[derive(Clone, Debug)]
enum Tls {
    Config(crate::tls::ServerTlsConfig),
    Acceptor(crate::tls::TlsAcceptor),
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Starts building a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            router: Router::default(),
            duplicate: None,
            remove_stale_socket: false,
            reflection: false,
            interceptors: Vec::new(),
            #[cfg(feature = "_tls")]
            tls: None,
            config: Config {
                http2: Settings {
                    max_concurrent_streams: Some(defaults::SERVER_MAX_CONCURRENT_STREAMS),
                    initial_stream_window: defaults::SERVER_STREAM_WINDOW,
                    initial_connection_window: defaults::SERVER_CONNECTION_WINDOW,
                    max_frame_size: defaults::MAX_FRAME_SIZE,
                    handshake_timeout: defaults::HANDSHAKE_TIMEOUT,
                    max_header_list_size: defaults::MAX_HEADER_LIST_SIZE,
                },
                max_receive_message_size: defaults::MAX_RECEIVE_MESSAGE_SIZE,
                connection_receive_buffer: defaults::CONNECTION_RECEIVE_BUFFER,
                receive_buffer: defaults::SERVER_RECEIVE_BUFFER,
                connection_send_buffer: defaults::CONNECTION_SEND_BUFFER,
                send_buffer: defaults::SERVER_SEND_BUFFER,
                shutdown_grace: defaults::SHUTDOWN_GRACE,
                send_compressed: None,
                observer: None,
                #[cfg(feature = "web")]
                web: None,
            },
            #[cfg(feature = "web")]
            invalid_web: None,
        }
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

    /// Adds an interceptor; interceptors run in the order they were added, before a call is
    /// routed (see [`ServerInterceptor`]). With none, calls pay one branch.
    pub fn interceptor(mut self, interceptor: impl ServerInterceptor) -> Self {
        self.interceptors.push(Arc::new(interceptor));
        self
    }

    /// Serves TLS on the TCP listener ([`ServerBuilder::bind`], [`ServerBuilder::with_listener`]);
    /// the settings are checked by `bind`, which fails with `InvalidInput` naming the problem.
    /// The TLS handshake counts against the [handshake timeout](ServerBuilder::handshake_timeout).
    /// Unix sockets and in-process connections stay plaintext.
    #[cfg(feature = "_tls")]
    pub fn tls(mut self, config: crate::tls::ServerTlsConfig) -> Self {
        self.tls = Some(Tls::Config(config));
        self
    }

    /// Serves TLS with a ready acceptor; keep a clone to rotate certificates with
    /// [`crate::tls::TlsAcceptor::reload`] (or take one from [`Server::tls_acceptor`]).
    #[cfg(feature = "_tls")]
    pub fn tls_acceptor(mut self, acceptor: crate::tls::TlsAcceptor) -> Self {
        self.tls = Some(Tls::Acceptor(acceptor));
        self
    }

    /// The largest request message accepted; larger ones fail with `RESOURCE_EXHAUSTED`.
    /// Default [`defaults::MAX_RECEIVE_MESSAGE_SIZE`].
    pub fn max_receive_message_size(mut self, bytes: usize) -> Self {
        self.config.max_receive_message_size = bytes;
        self
    }

    /// The most one connection's calls may hold of request messages still arriving (messages
    /// that span HTTP/2 frames); the call that would go over it fails with
    /// `RESOURCE_EXHAUSTED`. Default [`defaults::CONNECTION_RECEIVE_BUFFER`].
    pub fn connection_receive_buffer(mut self, bytes: usize) -> Self {
        self.config.connection_receive_buffer = bytes;
        self
    }

    /// The most all connections together may hold of request messages still arriving; the
    /// call that would go over it fails with `RESOURCE_EXHAUSTED`. Default
    /// [`defaults::SERVER_RECEIVE_BUFFER`].
    pub fn receive_buffer(mut self, bytes: usize) -> Self {
        self.config.receive_buffer = bytes;
        self
    }

    /// The most one connection may hold of large responses (16 KiB or more) that its client
    /// has not read yet (they wait for its HTTP/2 window); a response that would go over it
    /// is answered `RESOURCE_EXHAUSTED` instead. Default
    /// [`defaults::CONNECTION_SEND_BUFFER`].
    pub fn connection_send_buffer(mut self, bytes: usize) -> Self {
        self.config.connection_send_buffer = bytes;
        self
    }

    /// The most all connections together may hold of large responses their clients have not
    /// read yet. Default [`defaults::SERVER_SEND_BUFFER`].
    pub fn send_buffer(mut self, bytes: usize) -> Self {
        self.config.send_buffer = bytes;
        self
    }

    /// Limits concurrent calls per connection (HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`);
    /// default [`defaults::SERVER_MAX_CONCURRENT_STREAMS`].
    pub fn max_concurrent_streams(mut self, streams: u32) -> Self {
        self.config.http2.max_concurrent_streams = Some(streams);
        self
    }

    /// The HTTP/2 flow-control window per stream (default [`defaults::SERVER_STREAM_WINDOW`]).
    pub fn initial_stream_window_size(mut self, bytes: u32) -> Self {
        self.config.http2.initial_stream_window = bytes;
        self
    }

    /// The HTTP/2 flow-control window per connection (default
    /// [`defaults::SERVER_CONNECTION_WINDOW`]).
    pub fn initial_connection_window_size(mut self, bytes: u32) -> Self {
        self.config.http2.initial_connection_window = bytes;
        self
    }

    /// The largest HTTP/2 frame clients may send (default [`defaults::MAX_FRAME_SIZE`]).
    pub fn max_frame_size(mut self, bytes: u32) -> Self {
        self.config.http2.max_frame_size = bytes;
        self
    }

    /// The largest request header list (decoded size, metadata included) accepted,
    /// advertised to clients as `SETTINGS_MAX_HEADER_LIST_SIZE` (default
    /// [`defaults::MAX_HEADER_LIST_SIZE`]). A request over it is answered with HTTP 431; a
    /// header block far over it (an HPACK bomb, a CONTINUATION flood) closes the connection
    /// with GOAWAY `ENHANCE_YOUR_CALM`.
    pub fn max_header_list_size(mut self, bytes: u32) -> Self {
        self.config.http2.max_header_list_size = bytes;
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
        self.config.http2.handshake_timeout = timeout;
        self
    }

    /// Compresses responses of every service with `encoding` when the client accepts it
    /// (per service: [`super::SendCompressed`]). Requests in gzip and deflate are always
    /// accepted.
    pub fn send_compressed(mut self, encoding: CompressionEncoding) -> Self {
        self.config.send_compressed = Some(encoding);
        self
    }

    /// Serves gRPC-Web besides native gRPC, on the same port: browsers call the server
    /// directly, over HTTP/1.1 or HTTP/2 (see [`crate::web`]). An invalid origin or header
    /// name in `web` fails [`ServerBuilder::bind`] with `InvalidInput`.
    ///
    /// ```no_run
    /// # async fn run() -> std::io::Result<()> {
    /// use rgrpc_runtime::web::GrpcWeb;
    /// use rgrpc_runtime::Server;
    ///
    /// let server = Server::builder()
    ///     // .add_service(GreeterServer::new(MyGreeter))
    ///     .grpc_web(GrpcWeb::new().allow_any_origin())
    ///     .bind("127.0.0.1:50051")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "web")]
    pub fn grpc_web(mut self, web: crate::web::GrpcWeb) -> Self {
        match web.build() {
            Ok(web) => {
                self.config.web = Some(Arc::new(web));
                self.invalid_web = None;
            }
            Err(e) => self.invalid_web = Some(e.to_string()),
        }
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
        #[cfg(feature = "_tls")]
        if let Some(tls) = &self.tls {
            let acceptor = match tls {
                Tls::Config(config) => crate::tls::TlsAcceptor::new(config.clone())?,
                Tls::Acceptor(acceptor) => acceptor.clone(),
            };
            return self.into_server(Listener::Tls(listener, acceptor));
        }
        self.into_server(Listener::Tcp(listener))
    }

    /// Observes every call this server receives ([`crate::observe`]): metrics, tracing.
    /// With none (the default) a call pays one branch.
    pub fn observer(mut self, observer: impl crate::observe::Observer) -> Self {
        self.config.observer = Some(Arc::new(observer));
        self
    }

    /// Serves gRPC server reflection (`grpc.reflection.v1` and `v1alpha`) for every service
    /// registered on this builder, from the descriptors generated code embeds (see the
    /// plugin's `descriptors` option). The reflection services are added when the server is
    /// bound, so services added after this call are included too.
    #[cfg(feature = "reflection")]
    pub fn add_reflection(mut self) -> Self {
        self.reflection = true;
        self
    }

    /// The builder with the reflection services added, if asked for.
    #[cfg(feature = "reflection")]
    fn with_reflection(self) -> io::Result<Self> {
        if !self.reflection {
            return Ok(self);
        }
        let (v1, v1alpha) = crate::reflection::for_services(self.router.services())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let this = self.add_service(v1).add_service(v1alpha);
        this.check()?;
        Ok(this)
    }

    fn into_server(self, listener: Listener) -> io::Result<Server> {
        #[cfg(feature = "reflection")]
        let this = self.with_reflection()?;
        #[cfg(not(feature = "reflection"))]
        let this = self;
        Ok(Server::new(
            listener,
            Shared {
                budgets: ServerBudgets {
                    receive: Arc::new(Budget::new(this.config.receive_buffer)),
                    send: Arc::new(Budget::new(this.config.send_buffer)),
                },
                router: this.router,
                interceptors: Interceptors::new(this.interceptors),
                config: this.config,
                calls: CallTracker::default(),
            },
        ))
    }

    fn check(&self) -> io::Result<()> {
        #[cfg(feature = "web")]
        if let Some(e) = &self.invalid_web {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("gRPC-Web: {e}"),
            ));
        }
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
