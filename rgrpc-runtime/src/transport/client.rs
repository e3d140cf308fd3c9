//! The client's side of a connection: dialling an [`Endpoint`], the HTTP/2 handshake, and
//! [`ClientConnection`], the task that drives the connection with each round's writes
//! gathered into one syscall.
//!
//! Generic over the byte stream and monomorphized per transport, like the server's.

use std::future::{poll_fn, Future};
use std::path::PathBuf;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

use super::coalesce::{self, Coalesce, Drain};
use super::Dialer;
use crate::defaults;
use crate::Status;

/// Where a connection goes.
#[derive(Clone, Debug)]
pub(crate) enum Endpoint {
    /// `host:port`, resolved by the OS.
    Tcp(String),
    Unix(PathBuf),
    /// Linux's abstract socket namespace (`unix-abstract:name`).
    UnixAbstract(Vec<u8>),
    InProcess(Dialer),
    /// TLS over TCP to `addr`, verifying the server as `name`.
    #[cfg(feature = "_tls")]
    Tls {
        addr: String,
        name: rustls_pki_types::ServerName<'static>,
        connector: super::tls::TlsConnector,
    },
}

/// The HTTP/2 settings of a client connection, and how long dialling may take.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) initial_stream_window: u32,
    pub(crate) initial_connection_window: u32,
    pub(crate) max_frame_size: u32,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) max_header_list_size: u32,
}

/// Dials `endpoint`, performs the HTTP/2 handshake and spawns the connection's driver;
/// errors are `UNAVAILABLE` connection errors naming `target`.
pub(crate) async fn connect(
    endpoint: &Endpoint,
    target: &str,
    settings: &Settings,
) -> Result<SendRequest<Bytes>, Status> {
    let failed = |e: std::io::Error| Status::connection(format!("connect {target}: {e}"), e);
    match endpoint {
        Endpoint::Tcp(addr) => {
            let tcp = bounded(settings, target, TcpStream::connect(addr.as_str()))
                .await?
                .map_err(failed)?;
            // Small gRPC frames must not wait for Nagle's algorithm.
            let _ = tcp.set_nodelay(true);
            handshake(tcp, target, settings).await
        }
        #[cfg(feature = "_tls")]
        Endpoint::Tls {
            addr,
            name,
            connector,
        } => {
            // The TCP connect and the TLS handshake together, within the connect timeout,
            // or the handshake timeout if none is set: a server that accepts but never
            // answers the ClientHello must not hang the call.
            let limit = settings
                .connect_timeout
                .unwrap_or(crate::defaults::HANDSHAKE_TIMEOUT);
            let connect = async {
                let tcp = TcpStream::connect(addr.as_str()).await.map_err(failed)?;
                let _ = tcp.set_nodelay(true);
                connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| Status::connection(format!("TLS handshake with {target}: {e}"), e))
            };
            let (tls, _info) =
                tokio::time::timeout(limit, connect)
                    .await
                    .map_err(|elapsed| {
                        Status::connection(
                            format!("connect {target}: TLS handshake timed out after {limit:?}"),
                            elapsed,
                        )
                    })??;
            handshake(tls, target, settings).await
        }
        Endpoint::Unix(path) => {
            let unix = bounded(settings, target, UnixStream::connect(path))
                .await?
                .map_err(failed)?;
            handshake(unix, target, settings).await
        }
        Endpoint::UnixAbstract(name) => {
            let unix = connect_abstract(name).map_err(failed)?;
            handshake(unix, target, settings).await
        }
        Endpoint::InProcess(dialer) => {
            let duplex = dialer.dial().map_err(failed)?;
            handshake(duplex, target, settings).await
        }
    }
}

/// `connect` within the connect timeout, if one is set.
async fn bounded<T>(
    settings: &Settings,
    target: &str,
    connect: impl Future<Output = T>,
) -> Result<T, Status> {
    match settings.connect_timeout {
        Some(limit) => tokio::time::timeout(limit, connect)
            .await
            .map_err(|elapsed| {
                Status::connection(
                    format!("connect {target}: timed out after {limit:?}"),
                    elapsed,
                )
            }),
        None => Ok(connect.await),
    }
}

/// The HTTP/2 handshake on a connected stream, then the connection's driver task.
async fn handshake<T>(
    io: T,
    target: &str,
    settings: &Settings,
) -> Result<SendRequest<Bytes>, Status>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (io, drain) = coalesce::wrap(io);
    let handshake = h2::client::Builder::new()
        .initial_window_size(settings.initial_stream_window)
        .initial_connection_window_size(settings.initial_connection_window)
        .max_frame_size(settings.max_frame_size)
        // A hostile server's response heads and trailers are bounded as the server bounds
        // requests (defaults::MAX_HEADER_LIST_SIZE).
        .max_header_list_size(settings.max_header_list_size)
        .max_concurrent_reset_streams(defaults::MAX_CONCURRENT_RESET_STREAMS)
        .reset_stream_duration(defaults::RESET_STREAM_DURATION)
        .max_send_buffer_size(defaults::MAX_SEND_BUFFER_PER_STREAM)
        .handshake::<_, Bytes>(io);
    let (send, connection) = match drain.around(handshake).await {
        Ok(Ok(handshake)) => handshake,
        Ok(Err(e)) => return Err(handshake_failed(target, e)),
        Err(e) => return Err(handshake_failed(target, e)),
    };
    let connection = ClientConnection {
        connection,
        drain,
        target: target.to_owned(),
    };
    tokio::spawn(connection.run());
    Ok(send)
}

/// A failed HTTP/2 handshake (an h2 or a socket error) as a connection error naming the target.
fn handshake_failed(target: &str, error: impl std::error::Error + Send + Sync + 'static) -> Status {
    Status::connection(format!("HTTP/2 handshake with {target}: {error}"), error)
}

/// One client connection after its handshake, run as a task of its own until the
/// connection closes (every handle and stream on it dropped, or an error).
pub(crate) struct ClientConnection<T> {
    connection: h2::client::Connection<Coalesce<T>, Bytes>,
    drain: Drain<T>,
    /// What log lines name.
    target: String,
}

impl<T: AsyncRead + AsyncWrite + Unpin> ClientConnection<T> {
    async fn run(mut self) {
        if let Err(e) = self.drive().await {
            tracing::debug!(target = %self.target, error = %e, "connection closed");
        }
    }

    /// Runs the HTTP/2 connection, batching writes.
    ///
    /// Every call that queues a request wakes this task, and tokio runs a freshly woken task
    /// next: driven plainly, the connection would write (one syscall) after every single
    /// request. Yielding once after each wake lets all the callers that are runnable queue
    /// their requests first, and what h2 writes in the round is gathered by `drain` into one
    /// write (measured: ~1 writev per call before, a fraction after, at 64 concurrent calls).
    /// The yield is tokio's, which also lets the I/O driver run first: at 64 concurrent unary
    /// calls that made about twice the calls/s of stepping aside only to the back of the run
    /// queue. A round with a large write in it (16 KiB or more) does not wait.
    async fn drive(&mut self) -> Result<(), String> {
        loop {
            let mut polled = false;
            let connection = &mut self.connection;
            let round = poll_fn(|cx| {
                if polled {
                    // Woken again: something is queued. Step aside before handling it.
                    return Poll::Ready(None);
                }
                polled = true;
                Pin::new(&mut *connection).poll(cx).map(Some)
            });
            match self.drain.around(round).await {
                Ok(Some(done)) => return done.map_err(|e| e.to_string()),
                Ok(None) => {}
                Err(e) => return Err(e.to_string()),
            }
            // After a large write the round is worth sending as it is; waiting for more only
            // puts the two ends of a ping-pong in lockstep.
            if !self.drain.last_round_large() {
                tokio::task::yield_now().await;
            }
        }
    }
}

/// Connects to a name in Linux's abstract socket namespace.
#[cfg(target_os = "linux")]
fn connect_abstract(name: &[u8]) -> std::io::Result<UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    // A local connect does not wait on a network; the socket is made non-blocking for
    // tokio right after.
    let std = std::os::unix::net::UnixStream::connect_addr(&addr)?;
    std.set_nonblocking(true)?;
    UnixStream::from_std(std)
}

#[cfg(not(target_os = "linux"))]
fn connect_abstract(_name: &[u8]) -> std::io::Result<UnixStream> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "abstract unix sockets exist only on Linux",
    ))
}
