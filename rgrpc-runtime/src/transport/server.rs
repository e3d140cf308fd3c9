//! [`ServerConnection`]: one accepted connection: the HTTP/2 handshake, then accepting its
//! streams and running their calls, with each round's writes gathered into one syscall.
//!
//! What a call *is* (routing, handlers, status) is decided above, in `server/`, through
//! [`Calls`]; this file only drives HTTP/2 over a byte stream. It is generic over that stream
//! and monomorphized per transport (TCP, Unix, in-process), so no read goes through a
//! `dyn` call.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use super::budget::ConnectionBudget;
use super::coalesce::{self, Coalesce, Drain};
use super::Peer;
use crate::defaults;

/// What a server connection does with the streams it accepts; implemented by `server/`.
pub(crate) trait Calls: Send + Sync + 'static {
    /// The work of one call. Polled once in place by the connection; if still pending, it is
    /// handed to [`Calls::spawn`]. A panic inside must not escape its `poll`.
    type Call: Future<Output = ()> + Send + Unpin + 'static;

    /// What a connection keeps for its calls besides the peer: `()` for native gRPC alone;
    /// with gRPC-Web, the bridge its first web call opens (`server/grpc_web.rs`).
    type Connection: Default + Send + Unpin + 'static;

    /// Starts a call on an accepted stream; `None` when it was answered at once (a rejected
    /// request head, say).
    fn start(
        self: &Arc<Self>,
        request: http::Request<RecvStream>,
        respond: SendResponse<Bytes>,
        peer: &Arc<Peer>,
        budget: &Arc<ConnectionBudget>,
        connection: &mut Self::Connection,
    ) -> Option<Self::Call>;

    /// A new connection's receive budget (see `transport::budget`).
    fn connection_budget(&self) -> Arc<ConnectionBudget>;

    /// Continues `call` as a task of its own. `connection` is held by the task while it
    /// runs, so that the connection knows calls of its own are running elsewhere.
    fn spawn(&self, call: Self::Call, connection: Arc<()>);
}

/// The HTTP/2 settings of a server connection.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) max_concurrent_streams: Option<u32>,
    pub(crate) initial_stream_window: u32,
    pub(crate) initial_connection_window: u32,
    pub(crate) max_frame_size: u32,
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_header_list_size: u32,
}

type Connection<T> = h2::server::Connection<Coalesce<T>, Bytes>;

/// A future that resolves once (when the server starts shutting down).
type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The handshake, boxed: its state is about as big as the connection's, and boxed it is
/// freed once the handshake is done instead of sitting beside the connection in every idle
/// connection's task.
type Handshake<T> = Pin<Box<dyn Future<Output = Option<Connection<T>>> + Send>>;

impl<T, C> ServerConnection<T, C>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    C: Calls,
{
    /// Serves one accepted connection until it closes, or until `stop` turns true (then it
    /// sends GOAWAY and lets its calls finish). The returned future is the connection's task.
    pub(crate) fn new(
        io: T,
        peer: Arc<Peer>,
        calls: Arc<C>,
        settings: &Settings,
        mut stop: watch::Receiver<bool>,
    ) -> Self {
        let (io, drain) = coalesce::wrap(io);
        let handshake = {
            let drain = drain.clone();
            let settings = settings.clone();
            Box::pin(async move {
                match drain.around(handshake(io, &settings)).await {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::debug!(error = %e, "HTTP/2 handshake failed");
                        None
                    }
                }
            })
        };
        let budget = calls.connection_budget();
        ServerConnection {
            stage: Stage::Handshake(handshake),
            drain,
            peer,
            budget,
            calls,
            connection: C::Connection::default(),
            stop: Box::pin(async move {
                let _ = stop.wait_for(|stop| *stop).await;
            }),
            batch: Vec::new(),
            stopping: false,
            stepped_aside: false,
            running: Arc::new(()),
        }
    }
}

/// The HTTP/2 handshake, within the handshake timeout; `None` if it failed or the server
/// is stopping.
async fn handshake<T: AsyncRead + AsyncWrite + Unpin>(
    io: Coalesce<T>,
    settings: &Settings,
) -> Option<Connection<T>> {
    let mut builder = h2::server::Builder::new();
    builder
        .initial_window_size(settings.initial_stream_window)
        .initial_connection_window_size(settings.initial_connection_window)
        .max_frame_size(settings.max_frame_size)
        // Bounds what one header block may cost (see defaults::MAX_HEADER_LIST_SIZE): h2
        // otherwise takes 16 MiB lists and reads ~20 MiB of CONTINUATION frames at 64 KiB
        // frames before it gives up (issue 14's CONTINUATION flood).
        .max_header_list_size(settings.max_header_list_size)
        .max_pending_accept_reset_streams(defaults::MAX_PENDING_ACCEPT_RESET_STREAMS)
        .max_local_error_reset_streams(Some(defaults::MAX_LOCAL_ERROR_RESET_STREAMS))
        .max_concurrent_reset_streams(defaults::MAX_CONCURRENT_RESET_STREAMS)
        .reset_stream_duration(defaults::RESET_STREAM_DURATION)
        .max_send_buffer_size(defaults::MAX_SEND_BUFFER_PER_STREAM);
    if let Some(max) = settings.max_concurrent_streams {
        builder.max_concurrent_streams(max);
    }
    match tokio::time::timeout(settings.handshake_timeout, builder.handshake(io)).await {
        Ok(Ok(conn)) => Some(conn),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "HTTP/2 handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!("HTTP/2 handshake timed out");
            None
        }
    }
}

/// One server connection, as the task that serves it: the handshake, then accepting
/// streams, running each new call once in place, and writing what a round produced in one go.
pub(crate) struct ServerConnection<T, C: Calls> {
    stage: Stage<T>,
    drain: Drain<T>,
    peer: Arc<Peer>,
    /// What this connection's calls may hold of incomplete messages.
    budget: Arc<ConnectionBudget>,
    calls: Arc<C>,
    connection: C::Connection,
    stop: Stop,
    /// Calls accepted this round, not yet polled.
    batch: Vec<C::Call>,
    /// GOAWAY has been sent.
    stopping: bool,
    /// This round already waited once for calls running elsewhere to queue their frames.
    stepped_aside: bool,
    /// One clone per call of this connection running as a task of its own.
    running: Arc<()>,
}

// The task's memory is the connection's either way: it moves from the boxed handshake into
// this slot, so boxing `Serving` too would only add an allocation and a pointer hop.
#[allow(clippy::large_enum_variant)]
enum Stage<T> {
    Handshake(Handshake<T>),
    Serving(Connection<T>),
    Done,
}

impl<T, C> Future for ServerConnection<T, C>
where
    T: AsyncRead + AsyncWrite + Unpin,
    C: Calls,
{
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let stop = !this.stopping && this.stop.as_mut().poll(cx).is_ready();
        if let Stage::Handshake(handshake) = &mut this.stage {
            if stop {
                this.stage = Stage::Done;
                return Poll::Ready(());
            }
            this.stage = match handshake.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(conn)) => Stage::Serving(conn),
                Poll::Ready(None) => Stage::Done,
            };
        }
        let Stage::Serving(conn) = &mut this.stage else {
            return Poll::Ready(());
        };
        if stop {
            this.stopping = true;
            conn.graceful_shutdown();
        }
        this.poll_round(cx)
    }
}

impl<T, C> ServerConnection<T, C>
where
    T: AsyncRead + AsyncWrite + Unpin,
    C: Calls,
{
    /// Accept every stream that is ready, run each new call once in place, and only then
    /// return to h2, which writes all the responses of the batch in one go: the difference
    /// between one write per response and one per batch is about 2x in throughput.
    fn poll_round(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Stage::Serving(conn) = &mut self.stage else {
            return Poll::Ready(());
        };
        loop {
            loop {
                match conn.poll_accept(cx) {
                    Poll::Ready(Some(Ok((request, respond)))) => {
                        let started = self.calls.start(
                            request,
                            respond,
                            &self.peer,
                            &self.budget,
                            &mut self.connection,
                        );
                        if let Some(call) = started {
                            self.batch.push(call);
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
            if self.batch.is_empty() {
                // h2 has written all it has. Calls running as tasks of their own wake this
                // task whenever they queue a frame, and tokio runs a freshly woken task
                // next, so if there are such calls and little is gathered, more is likely
                // on its way: step aside once (to the back of the run queue) to let every
                // runnable call queue its frames, as grpc-go's writer yields before
                // flushing a small batch. Calls answered in place need no such wait.
                if !self.stepped_aside
                    && Arc::strong_count(&self.running) > 1
                    && self.drain.is_small()
                {
                    self.stepped_aside = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                self.stepped_aside = false;
                // Put what was gathered on the wire in one go.
                if let Poll::Ready(Err(e)) = self.drain.poll_drain(cx) {
                    tracing::debug!(error = %e, "connection write failed");
                    return Poll::Ready(());
                }
                return Poll::Pending;
            }
            for mut call in self.batch.drain(..) {
                if Pin::new(&mut call).poll(cx).is_pending() {
                    // Waiting on something (the request body, the handler's own I/O): give
                    // it a task of its own so it runs in parallel with this connection.
                    self.calls.spawn(call, self.running.clone());
                }
            }
            // The calls queued responses; polling h2 again writes them.
        }
    }
}
