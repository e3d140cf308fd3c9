//! Where gRPC-Web meets the server (the protocol itself is in [`crate::web`]): a TCP
//! connection's first bytes choose HTTP/2 or HTTP/1.1, a gRPC-Web request on an HTTP/2
//! connection is started from the branch of dispatch that would otherwise refuse it, and
//! each web connection's calls reach this server's own call machinery over a bridge, an
//! in-process HTTP/2 connection served like any other, with the web client's [`Peer`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::SendRequest;
use h2::server::SendResponse;
use h2::RecvStream;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::dispatch::{CatchUnwind, Shared};
use crate::transport::server::ServerConnection;
use crate::transport::Peer;
use crate::web::{self, Bridge, Link, Protocol, WebConfig};
use crate::{wire, Status};

impl Shared {
    /// Whether TCP connections are sniffed for HTTP/1.1.
    pub(super) fn serves_http1(&self) -> bool {
        self.config.web.as_ref().is_some_and(|w| w.http1.enabled)
    }

    /// Starts a gRPC-Web request that arrived on an HTTP/2 connection. Preflights and
    /// refusals are answered in place; a call opens the connection's bridge if it is the
    /// first, then runs as any call does.
    pub(super) fn start_web(
        self: &Arc<Self>,
        web: &Arc<WebConfig>,
        parts: http::request::Parts,
        body: RecvStream,
        mut respond: SendResponse<Bytes>,
        peer: &Arc<Peer>,
        link: &mut Link,
    ) -> Option<CatchUnwind> {
        let prepared = web::prepare_h2(&parts, &mut respond, web)?;
        drop(parts);
        let bridge = link.cell();
        let (shared, peer, web) = (self.clone(), peer.clone(), web.clone());
        Some(CatchUnwind(Box::pin(async move {
            let opened = bridge
                .get_or_try_init(|| open_bridge(shared, peer))
                .await
                .cloned();
            match opened {
                Ok(upstream) => web::serve_h2_stream(prepared, body, respond, upstream, web).await,
                Err(e) => {
                    let status = Status::unavailable(format!("gRPC-Web bridge failed: {e}"));
                    let _ = respond.send_response(wire::trailers_only(&status), true);
                }
            }
        })))
    }
}

/// Opens a bridge for an HTTP/2 connection's web calls and runs it as a tracked task; it
/// ends once the connection and its web calls have let go of the returned handle.
async fn open_bridge(
    shared: Arc<Shared>,
    peer: Arc<Peer>,
) -> Result<SendRequest<Bytes>, h2::Error> {
    let Bridge {
        send,
        client,
        server_io,
    } = web::open_bridge().await?;
    let inner = shared.clone();
    shared.spawn_tracked(drive(client, server_io, peer, inner));
    Ok(send)
}

/// Drives both halves of a bridge: the client connection the web calls are sent on, and
/// the server connection that runs them. The server half has no stop signal of its own:
/// it ends when the client half closes, which it does once every handle is gone.
async fn drive(
    client: h2::client::Connection<DuplexStream, Bytes>,
    server_io: DuplexStream,
    peer: Arc<Peer>,
    shared: Arc<Shared>,
) {
    let (_keep_running, never) = watch::channel(false);
    let settings = shared.config.http2.clone();
    tokio::join!(
        async {
            if let Err(e) = client.await {
                tracing::debug!(error = %e, "gRPC-Web bridge closed with an error");
            }
        },
        ServerConnection::new(server_io, peer, shared.clone(), &settings, never),
    );
}

/// Serves a TCP connection whose protocol its first bytes tell: HTTP/2 as any connection,
/// HTTP/1.1 as gRPC-Web. The wait for those bytes counts against the handshake timeout, and
/// what is left of it is what the protocol's own handshake (the HTTP/2 preface and
/// SETTINGS, or the first HTTP/1.1 request head) gets: a client that dribbles its first
/// bytes gains no time.
pub(super) async fn serve_tcp(
    io: TcpStream,
    peer: Arc<Peer>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut settings = shared.config.http2.clone();
    let started = Instant::now();
    let sniffed = tokio::select! {
        sniffed = tokio::time::timeout(settings.handshake_timeout, web::sniff(&io)) => sniffed,
        _ = stop.wait_for(|stop| *stop) => return,
    };
    let spent = started.elapsed();
    match sniffed {
        Ok(Ok(Protocol::Http2)) => {
            settings.handshake_timeout = left(settings.handshake_timeout, spent);
            ServerConnection::new(io, peer, shared, &settings, stop).await
        }
        Ok(Ok(Protocol::Http1)) => serve_http1(io, peer, shared, stop, spent).await,
        Ok(Err(e)) => tracing::debug!(error = %e, "connection closed before a request"),
        Err(_) => tracing::debug!("no request within the handshake timeout"),
    }
}

/// What is left of `limit` after `spent`; at least a millisecond, so that a timer is set.
fn left(limit: Duration, spent: Duration) -> Duration {
    limit.saturating_sub(spent).max(Duration::from_millis(1))
}

/// Serves gRPC-Web over HTTP/1.1 on `io`, its calls bridged into this server. `spent` is
/// what the connection already used of its time to a first request head (sniffing); hyper
/// applies one head timeout to every request of a connection, so a connection that sniffed
/// slowly keeps the shorter one. Generic over the byte stream, for a transport that knows
/// its protocol otherwise (TLS's ALPN `http/1.1`, with `spent` zero).
pub(super) async fn serve_http1<T>(
    io: T,
    peer: Arc<Peer>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    spent: Duration,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(web) = shared.config.web.clone() else {
        return;
    };
    let Bridge {
        send,
        client,
        server_io,
    } = match web::open_bridge().await {
        Ok(bridge) => bridge,
        Err(e) => {
            tracing::debug!(error = %e, "gRPC-Web bridge failed");
            return;
        }
    };
    let head_timeout = left(web.http1.header_timeout, spent);
    let stopped = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    tokio::join!(
        web::serve_http1(io, send, web, head_timeout, stopped),
        drive(client, server_io, peer, shared),
    );
}
