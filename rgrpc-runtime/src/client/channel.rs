//! [`Channel`]: one HTTP/2 connection to a server, shared by every call made through it.

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use h2::client::{ResponseFuture, SendRequest};
use h2::SendStream;
use http::header::HeaderValue;
use tokio::time::Instant;

use super::hooks::{CallExtras, ChannelHooks, ClientWatch};
use super::interceptor::{ClientCallHead, ClientInterceptor, SecurityLevel};
use super::target::Target;
use super::CallCredentials;
use crate::codec::CompressionEncoding;
use crate::defaults;
use crate::metadata::MetadataMap;
use crate::observe::{self, EndGuard, Observer};
use crate::transport::client::{self as transport, Endpoint};
use crate::transport::Dialer;
use crate::wire;
use crate::{Error, Status};

/// A cheap-to-clone handle to a server, safe to share across tasks; every call made through
/// it (or its clones) is multiplexed over one HTTP/2 connection. If the connection breaks,
/// the next call reconnects.
///
/// ```no_run
/// # async fn run() -> Result<(), rgrpc_runtime::Error> {
/// use rgrpc_runtime::Channel;
///
/// let channel = Channel::connect("http://127.0.0.1:50051").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    /// Interceptors and credentials; empty: one branch per call.
    hooks: ChannelHooks,
    security: SecurityLevel,
    settings: transport::Settings,
    max_receive_message_size: usize,
    send_compressed: Option<CompressionEncoding>,
    observer: Option<Arc<dyn Observer>>,
    user_agent: HeaderValue,
    /// The live connection and its generation; the lock is held only to clone or replace it.
    conn: Mutex<Option<(u64, SendRequest<Bytes>)>>,
    /// Serializes reconnects; only taken on the slow path, when no connection works.
    connecting: tokio::sync::Mutex<()>,
}

/// Options for a [`Channel`]; made by [`Channel::builder`].
#[derive(Clone, Debug)]
pub struct ChannelBuilder {
    target: String,
    max_receive_message_size: usize,
    settings: transport::Settings,
    send_compressed: Option<CompressionEncoding>,
    dialer: Option<Dialer>,
    interceptors: Vec<Arc<dyn ClientInterceptor>>,
    hooks: ChannelHooks,
    #[cfg(feature = "_tls")]
    tls: Option<crate::tls::ClientTlsConfig>,
    observer: Option<Arc<dyn Observer>>,
}

impl ChannelBuilder {
    /// Compresses request messages with `encoding` by default; a call can override it with
    /// [`crate::Request::with_compression`]. Responses in gzip and deflate are always accepted.
    pub fn send_compressed(mut self, encoding: CompressionEncoding) -> Self {
        self.send_compressed = Some(encoding);
        self
    }

    /// The largest message the client accepts; larger ones fail with `RESOURCE_EXHAUSTED`.
    /// Default [`defaults::MAX_RECEIVE_MESSAGE_SIZE`].
    pub fn max_receive_message_size(mut self, bytes: usize) -> Self {
        self.max_receive_message_size = bytes;
        self
    }

    /// Gives up connecting after this long (default: no limit beyond the OS's).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = Some(timeout);
        self
    }

    /// The HTTP/2 flow-control window per stream (default [`defaults::CLIENT_STREAM_WINDOW`]).
    pub fn initial_stream_window_size(mut self, bytes: u32) -> Self {
        self.settings.initial_stream_window = bytes;
        self
    }

    /// The HTTP/2 flow-control window for the whole connection (default
    /// [`defaults::CLIENT_CONNECTION_WINDOW`]).
    pub fn initial_connection_window_size(mut self, bytes: u32) -> Self {
        self.settings.initial_connection_window = bytes;
        self
    }

    /// The largest HTTP/2 frame the server may send us (default [`defaults::MAX_FRAME_SIZE`]).
    pub fn max_frame_size(mut self, bytes: u32) -> Self {
        self.settings.max_frame_size = bytes;
        self
    }

    /// Adds an interceptor; interceptors run in the order they were added, before a call
    /// sends anything (see [`ClientInterceptor`]). With none, calls pay one branch.
    pub fn interceptor(mut self, interceptor: impl ClientInterceptor) -> Self {
        self.interceptors.push(Arc::new(interceptor));
        self
    }

    /// Sends every call with these credentials (after the interceptors; a call's own
    /// [`crate::Request::with_credentials`] come after them). Refused over plaintext TCP
    /// with `UNAUTHENTICATED` unless [`ChannelBuilder::allow_insecure_credentials`].
    pub fn credentials(mut self, credentials: impl CallCredentials) -> Self {
        self.hooks.credentials = Some(Arc::new(credentials));
        self
    }

    /// Lets credentials travel over plaintext TCP (default `false`: a token sent in the
    /// clear can be replayed by anyone on the path). For tests and trusted networks.
    pub fn allow_insecure_credentials(mut self, allow: bool) -> Self {
        self.hooks.allow_insecure_credentials = allow;
        self
    }

    /// TLS settings: trust roots, a client certificate, a server-name override. An
    /// `https://` target uses TLS with these (or, without them, with no roots unless the
    /// `tls-native-roots`/`tls-webpki-roots` features provide some); with an `http://`
    /// target they are an error. The settings are built once per channel, so reconnects
    /// resume TLS sessions.
    #[cfg(feature = "_tls")]
    pub fn tls(mut self, config: crate::tls::ClientTlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Observes every call made through the channel ([`crate::observe`]): metrics, tracing,
    /// trace-context propagation. With none (the default) a call pays one branch.
    pub fn observer(mut self, observer: impl Observer) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// The largest response header list (headers or trailers, decoded size) the client
    /// accepts, advertised as `SETTINGS_MAX_HEADER_LIST_SIZE` (default
    /// [`defaults::MAX_HEADER_LIST_SIZE`]). A response over it fails its call; a header
    /// block far over it closes the connection.
    pub fn max_header_list_size(mut self, bytes: u32) -> Self {
        self.settings.max_header_list_size = bytes;
        self
    }

    /// Connects now. Fails if the target is invalid or the server cannot be reached
    /// ([`Error::is_connect`], with the `UNAVAILABLE` status).
    pub async fn connect(self) -> Result<Channel, Error> {
        let channel = self.connect_lazy()?;
        channel.reconnect(None).await.map_err(Error::connect)?;
        Ok(channel)
    }

    /// Returns at once; the connection is made by the first call. Fails only if the target
    /// is invalid.
    pub fn connect_lazy(self) -> Result<Channel, Error> {
        let target = match &self.dialer {
            Some(dialer) => Target::local(Endpoint::InProcess(dialer.clone()), "in-process".into()),
            None => Target::parse(&self.target)?,
        };
        let target = self.secure(target)?;
        let security = match &target.endpoint {
            Endpoint::Tcp(_) => SecurityLevel::Insecure,
            #[cfg(feature = "_tls")]
            Endpoint::Tls { .. } => SecurityLevel::Tls,
            Endpoint::Unix(_) | Endpoint::UnixAbstract(_) | Endpoint::InProcess(_) => {
                SecurityLevel::Local
            }
        };
        let mut hooks = self.hooks;
        if !self.interceptors.is_empty() {
            hooks.chain = Some(self.interceptors.into());
        }
        Ok(Channel {
            inner: Arc::new(Inner {
                target,
                hooks,
                security,
                settings: self.settings,
                max_receive_message_size: self.max_receive_message_size,
                send_compressed: self.send_compressed,
                observer: self.observer,
                user_agent: HeaderValue::from_static(concat!(
                    "grpc-rust-rgrpc/",
                    env!("CARGO_PKG_VERSION")
                )),
                conn: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
            }),
        })
    }
}

impl ChannelBuilder {
    /// Puts TLS on a network target: for `https://`, or refused for `http://` with TLS
    /// settings.
    #[cfg(feature = "_tls")]
    fn secure(&self, mut target: Target) -> Result<Target, Error> {
        let https = target.scheme == http::uri::Scheme::HTTPS;
        let Endpoint::Tcp(addr) = &target.endpoint else {
            return match self.tls {
                Some(_) => Err(Error::invalid_option(format!(
                    "TLS settings for {}: TLS runs over TCP only (https://host:port)",
                    target.name
                ))),
                None => Ok(target),
            };
        };
        if !https {
            return match self.tls {
                Some(_) => Err(Error::invalid_option(format!(
                    "TLS settings with the plaintext target {:?}: use https://",
                    self.target
                ))),
                None => Ok(target),
            };
        }
        let config = self.tls.clone().unwrap_or_default();
        let connector = crate::tls::TlsConnector::new(&config)
            .map_err(|e| Error::invalid_option(format!("TLS for {}: {e}", target.name)))?;
        let name = connector
            .server_name(target.authority.host())
            .map_err(|e| Error::invalid_option(format!("TLS for {}: {e}", target.name)))?;
        if let Some(host) = config.server_name_override() {
            // The interop spec's server_host_override: SNI, the verified name and
            // :authority are all the override.
            target.authority = host.parse().map_err(|e| {
                Error::invalid_option(format!("server name {host:?} as :authority: {e}"))
            })?;
        }
        target.endpoint = Endpoint::Tls {
            addr: addr.clone(),
            name,
            connector,
        };
        Ok(target)
    }

    #[cfg(not(feature = "_tls"))]
    fn secure(&self, target: Target) -> Result<Target, Error> {
        if target.scheme == http::uri::Scheme::HTTPS {
            return Err(Error::invalid_target(
                &self.target,
                "https:// needs rgrpc-runtime's `tls` feature",
            ));
        }
        Ok(target)
    }
}

impl Channel {
    /// A channel to an in-process server, connected now.
    pub(crate) async fn in_process(dialer: Dialer) -> Result<Channel, Error> {
        let mut builder = Channel::builder("in-process");
        builder.dialer = Some(dialer);
        builder.connect().await
    }

    /// Connects to `target` with default options: `http://host:port`, or a Unix socket as
    /// `unix:path`, `unix:///abs/path` or `unix-abstract:name`.
    pub async fn connect(target: &str) -> Result<Channel, Error> {
        Channel::builder(target).connect().await
    }

    /// Starts configuring a channel to `target`.
    pub fn builder(target: &str) -> ChannelBuilder {
        ChannelBuilder {
            target: target.to_owned(),
            max_receive_message_size: defaults::MAX_RECEIVE_MESSAGE_SIZE,
            settings: transport::Settings {
                initial_stream_window: defaults::CLIENT_STREAM_WINDOW,
                initial_connection_window: defaults::CLIENT_CONNECTION_WINDOW,
                max_frame_size: defaults::MAX_FRAME_SIZE,
                connect_timeout: None,
                max_header_list_size: defaults::MAX_HEADER_LIST_SIZE,
            },
            send_compressed: None,
            dialer: None,
            interceptors: Vec::new(),
            hooks: ChannelHooks::default(),
            #[cfg(feature = "_tls")]
            tls: None,
            observer: None,
        }
    }

    pub(crate) fn max_receive_message_size(&self) -> usize {
        self.inner.max_receive_message_size
    }

    /// The request encoding for a call: the call's own choice, else the channel's default.
    pub(crate) fn encoding(
        &self,
        call: Option<Option<CompressionEncoding>>,
    ) -> Option<CompressionEncoding> {
        call.unwrap_or(self.inner.send_compressed)
    }

    /// Starts observing a call to `path`, if the channel has an observer: its end is
    /// reported through the guard (on drop, as cancelled). The observer may add to
    /// `metadata` (trace context).
    pub(crate) fn observe(
        &self,
        path: &str,
        metadata: &mut MetadataMap,
        deadline: Option<Instant>,
    ) -> EndGuard {
        match &self.inner.observer {
            None => EndGuard::default(),
            Some(observer) => EndGuard::new(
                observe::client_call(
                    &**observer,
                    path,
                    &self.inner.target.name,
                    metadata,
                    deadline,
                ),
                deadline,
            ),
        }
    }

    /// Opens a stream for `path` and sends the request headers, after the channel's
    /// interceptors and credentials (and the call's own). The watch, if any, reports the
    /// call's end to the interceptors.
    pub(crate) async fn start(
        &self,
        path: &'static str,
        metadata: MetadataMap,
        deadline: Option<Instant>,
        encoding: Option<CompressionEncoding>,
        extras: CallExtras,
    ) -> Result<Started, Status> {
        if !self.inner.hooks.is_empty() || !extras.is_empty() {
            return self
                .start_hooked(path, metadata, deadline, encoding, extras)
                .await;
        }
        let (response, send) = self.open(path, metadata, deadline, encoding).await?;
        Ok(Started {
            response,
            send,
            watch: None,
        })
    }

    /// [`Channel::start`] through the interceptors and credentials.
    async fn start_hooked(
        &self,
        path: &'static str,
        metadata: MetadataMap,
        deadline: Option<Instant>,
        encoding: Option<CompressionEncoding>,
        extras: CallExtras,
    ) -> Result<Started, Status> {
        let head = ClientCallHead::new(
            path,
            self.inner.target.authority.clone(),
            metadata,
            deadline,
            extras.extensions,
            self.inner.security,
        );
        let (head, watch) = self.inner.hooks.run(head, extras.credentials).await?;
        match self
            .open(head.method, head.metadata, head.deadline, encoding)
            .await
        {
            Ok((response, send)) => Ok(Started {
                response,
                send,
                watch,
            }),
            Err(status) => {
                if let Some(watch) = watch {
                    watch.report(Some(&status));
                }
                Err(status)
            }
        }
    }

    async fn open(
        &self,
        path: &'static str,
        metadata: MetadataMap,
        deadline: Option<Instant>,
        encoding: Option<CompressionEncoding>,
    ) -> Result<(ResponseFuture, SendStream<Bytes>), Status> {
        let mut send = self.ready().await?;
        let timeout = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Status::local_deadline(
                        "deadline exceeded before the call started",
                    ));
                }
                Some(left)
            }
            None => None,
        };
        let target = &self.inner.target;
        let head = wire::request_head(
            &target.scheme,
            &target.authority,
            path,
            metadata.into_outgoing(),
            &self.inner.user_agent,
            encoding,
            timeout,
        )?;
        send.send_request(head, false).map_err(Status::from_h2)
    }

    /// A connection handle ready to open a stream, reconnecting once if the cached connection
    /// has gone away.
    async fn ready(&self) -> Result<SendRequest<Bytes>, Status> {
        let cached = self
            .inner
            .conn
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let (generation, mut send) = match cached {
            Some(conn) => conn,
            None => self.reconnect(None).await?,
        };
        if poll_fn(|cx| send.poll_ready(cx)).await.is_ok() {
            return Ok(send);
        }
        let (_, mut send) = self.reconnect(Some(generation)).await?;
        poll_fn(|cx| send.poll_ready(cx))
            .await
            .map_err(Status::from_h2)?;
        Ok(send)
    }

    /// Makes a new connection unless another task already replaced `stale`.
    async fn reconnect(&self, stale: Option<u64>) -> Result<(u64, SendRequest<Bytes>), Status> {
        let _connecting = self.inner.connecting.lock().await;
        let current = self
            .inner
            .conn
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some((generation, send)) = current {
            if Some(generation) != stale {
                return Ok((generation, send));
            }
        }
        let target = &self.inner.target;
        let send = transport::connect(&target.endpoint, &target.name, &self.inner.settings).await?;
        let generation = stale.map_or(0, |g| g + 1);
        *self.inner.conn.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((generation, send.clone()));
        Ok((generation, send))
    }
}

/// A call's stream, opened: the response to come, the request side, and what reports the
/// call's end to the interceptors.
pub(crate) struct Started {
    pub(crate) response: ResponseFuture,
    pub(crate) send: SendStream<Bytes>,
    pub(crate) watch: Option<ClientWatch>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("target", &self.inner.target.name)
            .finish_non_exhaustive()
    }
}
