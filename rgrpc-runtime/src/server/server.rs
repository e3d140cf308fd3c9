//! [`Server`]: the accept loop and graceful shutdown. Each accepted connection is served by
//! the transport's connection driver, which hands its streams to `dispatch`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::DuplexStream;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::dispatch::Shared;
use crate::transport::server::ServerConnection;
use crate::transport::Peer;

/// A bound gRPC server.
pub struct Server {
    listener: Listener,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

/// Where connections come from. Each arm hands its own stream type to the (generic)
/// connection driver, so each transport gets its own monomorphized code.
#[derive(Debug)]
pub(crate) enum Listener {
    Tcp(TcpListener),
    #[cfg(feature = "_tls")]
    Tls(TcpListener, crate::tls::TlsAcceptor),
    Unix(UnixListener, Arc<Peer>),
    InProcess(mpsc::UnboundedReceiver<DuplexStream>, Arc<Peer>),
}

/// One accepted connection. (Short-lived and moved once: the size of the TLS arm, which
/// carries its peer unshared until the handshake is done, does not matter.)
#[allow(clippy::large_enum_variant)]
enum Incoming {
    Tcp(tokio::net::TcpStream, Arc<Peer>),
    /// The handshake runs in the connection's own task, not the accept loop.
    #[cfg(feature = "_tls")]
    Tls(tokio::net::TcpStream, crate::tls::TlsAcceptor, Peer),
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
            #[cfg(feature = "_tls")]
            Listener::Tls(listener, acceptor) => {
                let (tcp, remote) = listener.accept().await?;
                let _ = tcp.set_nodelay(true);
                let peer = Peer::tcp(Some(remote), tcp.local_addr().ok());
                Ok(Incoming::Tls(tcp, acceptor.clone(), peer))
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
    pub(crate) fn new(listener: Listener, shared: Shared) -> Server {
        Server {
            listener,
            shared: Arc::new(shared),
        }
    }

    /// The address the server listens on (useful after binding port 0); an error for a
    /// server that does not listen on TCP.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.listener {
            Listener::Tcp(listener) => listener.local_addr(),
            #[cfg(feature = "_tls")]
            Listener::Tls(listener, _) => listener.local_addr(),
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the server does not listen on TCP",
            )),
        }
    }

    /// The TLS acceptor of a server that serves TLS: [`crate::tls::TlsAcceptor::reload`]
    /// on it rotates certificates for the connections accepted from then on.
    #[cfg(feature = "_tls")]
    pub fn tls_acceptor(&self) -> Option<crate::tls::TlsAcceptor> {
        match &self.listener {
            Listener::Tls(_, acceptor) => Some(acceptor.clone()),
            _ => None,
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
                        let settings = &self.shared.config.http2;
                        let stop = stop_rx.clone();
                        match accepted {
                            #[cfg(feature = "web")]
                            Incoming::Tcp(io, peer) if shared.serves_http1() => connections
                                .spawn(super::grpc_web::serve_tcp(io, peer, shared, stop)),
                            Incoming::Tcp(io, peer) => connections
                                .spawn(ServerConnection::new(io, peer, shared, settings, stop)),
                            #[cfg(feature = "_tls")]
                            Incoming::Tls(io, acceptor, peer) => {
                                connections.spawn(serve_tls(io, acceptor, peer, shared, stop))
                            }
                            Incoming::Unix(io, peer) => connections
                                .spawn(ServerConnection::new(io, peer, shared, settings, stop)),
                            Incoming::InProcess(io, peer) => connections
                                .spawn(ServerConnection::new(io, peer, shared, settings, stop)),
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
        // Before anything stops: health reports NOT_SERVING to its watchers.
        self.shared.router.shutting_down();
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
            calls.kill();
            connections.shutdown().await;
            calls.wait_idle().await;
        }
        Ok(())
    }
}

/// Serves one TLS connection: the TLS handshake, then HTTP/2 over it. Both handshakes
/// together must finish within the handshake timeout; a failed handshake closes only this
/// connection.
#[cfg(feature = "_tls")]
async fn serve_tls(
    tcp: tokio::net::TcpStream,
    acceptor: crate::tls::TlsAcceptor,
    peer: Peer,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut settings = shared.config.http2.clone();
    let started = tokio::time::Instant::now();
    let handshake = tokio::time::timeout(settings.handshake_timeout, acceptor.accept(tcp));
    let accepted = tokio::select! {
        accepted = handshake => accepted,
        _ = stop.wait_for(|stop| *stop) => return,
    };
    let remote = peer.remote_addr();
    let (stream, info) = match accepted {
        Ok(Ok(accepted)) => accepted,
        Ok(Err(e)) => {
            tracing::debug!(?remote, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(?remote, "TLS handshake timed out");
            return;
        }
    };
    settings.handshake_timeout = settings.handshake_timeout.saturating_sub(started.elapsed());
    let peer = Arc::new(Peer::over_tls(remote, peer.local_addr(), info));
    ServerConnection::new(stream, peer, shared, &settings, stop).await;
}
