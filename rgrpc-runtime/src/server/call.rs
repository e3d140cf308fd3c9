//! [`ServerCall`]: one accepted request, and the four ways a handler runs on it.
//!
//! Each runner returns the call's work as one future that races the handler against the
//! call's deadline and a client reset; whichever ends first decides what goes on the wire.
//! Unary calls, the hot path, have a hand-written future of their own (`unary.rs`).

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use h2::server::SendResponse;
use h2::RecvStream;
use http::HeaderMap;
use tokio::time::Instant;

use super::sender::{lock, Closed, Outbound, ResponseSender};
use super::unary::{SingleRead, UnaryCall};
use crate::cancel::Cancellation;
use crate::codec::compression::Accepted;
use crate::codec::{framing, Codec, CompressionEncoding};
use crate::metadata::names;
use crate::metadata::MetadataMap;
use crate::request::CallContext;
use crate::streaming::{Inbound, Streaming};
use crate::wire::{self, response_head};
use crate::{Request, Response, Status};

/// The work of one call. The connection polls it once in place, so a handler that finishes
/// at once answers within the batch of requests the connection is serving (one write for
/// the batch); if it is still pending, it continues as a task of its own.
pub type ServerFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// An accepted call, handed by the router to a [`super::Service`]. Generated code picks the
/// runner that matches the method's shape.
pub struct ServerCall {
    pub(super) headers: HeaderMap,
    pub(super) body: RecvStream,
    pub(super) respond: SendResponse<Bytes>,
    pub(super) deadline: Option<Instant>,
    pub(super) max_receive: usize,
    pub(super) compression: Compression,
    pub(super) context: CallContext,
}

/// How a call's messages are compressed: what the client sent and accepts, and what the
/// service would like to send.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Compression {
    /// The request's `grpc-encoding`.
    pub(crate) request: Option<CompressionEncoding>,
    /// The client's `grpc-accept-encoding`.
    pub(crate) accepted: Accepted,
    /// The service's default for responses.
    pub(crate) default: Option<CompressionEncoding>,
}

impl Compression {
    /// The response encoding: `want` is the handler's explicit choice, if any. Only an
    /// encoding the client accepts is ever used.
    pub(crate) fn response(self, want: Option<bool>) -> Option<CompressionEncoding> {
        let default = self.default.filter(|e| self.accepted.contains(*e));
        match want {
            Some(false) => None,
            Some(true) => default.or(self.accepted.preferred()),
            None => default,
        }
    }
}

pub(super) enum Outcome<T> {
    Done(T),
    Reset,
    DeadlineExceeded,
    /// The handler panicked: only its own call fails.
    Panicked,
}

/// The status for a call whose handler panicked. UNKNOWN, as grpc-go answers for a handler
/// error that is not a status and as `statuscodes.md` describes errors that carry no
/// information; INTERNAL would claim a broken invariant of the runtime. The panic's message
/// stays in the server's log, not on the wire, where it could leak internals.
pub(super) fn panic_status() -> Status {
    Status::unknown("the method handler panicked")
}

/// Polls `fut`, catching a panic from inside it. The handler's state is dropped right
/// after, never polled again, so whatever a panic left half-done is not observed.
pub(super) fn poll_caught<F: Future + ?Sized>(
    fut: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Result<Poll<F::Output>, ()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.poll(cx))).map_err(|_| {
        tracing::error!("a method handler panicked; its call fails with UNKNOWN");
    })
}

/// Polls `work` until it finishes, the client resets the stream, or the deadline passes. On
/// the latter two, fires `cancel` before `work` is dropped.
///
/// `close` runs first, with why the call stopped, so that a sender the handler handed to
/// another task already reports the real reason when that task wakes on the cancellation.
async fn guard<T>(
    work: impl Future<Output = T>,
    deadline: Option<Instant>,
    cancel: &Cancellation,
    mut reset: impl FnMut(&mut Context<'_>) -> Poll<()>,
    mut close: impl FnMut(Closed),
) -> Outcome<T> {
    tokio::pin!(work);
    let expiry = async {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expiry);
    poll_fn(|cx| {
        match poll_caught(work.as_mut(), cx) {
            Ok(Poll::Ready(out)) => return Poll::Ready(Outcome::Done(out)),
            Ok(Poll::Pending) => {}
            Err(()) => {
                close(Closed::Finished);
                cancel.fire();
                return Poll::Ready(Outcome::Panicked);
            }
        }
        if reset(cx).is_ready() {
            close(Closed::ClientGone);
            cancel.fire();
            return Poll::Ready(Outcome::Reset);
        }
        if expiry.as_mut().poll(cx).is_ready() {
            close(Closed::Deadline);
            cancel.fire();
            return Poll::Ready(Outcome::DeadlineExceeded);
        }
        Poll::Pending
    })
    .await
}

fn deadline_status() -> Status {
    Status::local_deadline("deadline exceeded")
}

impl std::fmt::Debug for ServerCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCall")
            .field("deadline", &self.deadline)
            .field("max_receive", &self.max_receive)
            .finish_non_exhaustive()
    }
}

impl ServerCall {
    /// Compresses responses with `encoding` when the client accepts it (handlers can still
    /// choose per response). Used by [`super::SendCompressed`] for per-service compression.
    pub fn set_send_compression(&mut self, encoding: Option<CompressionEncoding>) {
        self.compression.default = encoding;
    }

    /// Answers at once with `status`, as a trailers-only response.
    pub fn reject(mut self, status: Status) -> ServerFuture {
        send_trailers_only(&mut self.respond, &status);
        // A zero-sized future: boxing it does not allocate.
        Box::pin(std::future::ready(()))
    }

    /// Answers `UNIMPLEMENTED` for a method the service does not have.
    pub fn unimplemented(self, service: &str, method: &str) -> ServerFuture {
        self.reject(Status::unimplemented(format!(
            "unknown method {method} for service {service}"
        )))
    }

    /// Splits a call whose requests stream in: the handler's request, and what answers
    /// the call.
    fn into_streaming<C: Codec>(
        self,
        cancel: &Cancellation,
    ) -> (Request<Streaming<C::Decode>>, SendResponse<Bytes>) {
        let inbound = Inbound::server(self.body, self.max_receive, self.compression.request);
        let metadata = MetadataMap::from_headers(self.headers);
        let request = Request::from_server(
            Streaming::new::<C>(inbound),
            metadata,
            self.deadline,
            cancel.clone(),
            false,
            self.context,
        );
        (request, self.respond)
    }

    /// Runs a unary handler.
    pub fn unary<C, F, Fut>(self, handler: F) -> ServerFuture
    where
        C: Codec,
        F: FnOnce(Request<C::Decode>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Response<C::Encode>, Status>> + Send + 'static,
    {
        Box::pin(UnaryCall::<C, F, Fut>::new(self, handler))
    }

    /// Runs a client-streaming handler.
    pub fn client_streaming<C, F, Fut>(self, handler: F) -> ServerFuture
    where
        C: Codec,
        F: FnOnce(Request<Streaming<C::Decode>>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Response<C::Encode>, Status>> + Send + 'static,
    {
        Box::pin(async move {
            let (deadline, compression) = (self.deadline, self.compression);
            let cancel = Cancellation::new();
            let (request, mut respond) = self.into_streaming::<C>(&cancel);
            let outcome = guard(
                handler(request),
                deadline,
                &cancel,
                |cx| respond.poll_reset(cx).map(drop),
                |_| {},
            )
            .await;
            finish_unary::<C>(&mut respond, outcome, compression);
        })
    }

    /// Runs a server-streaming handler.
    pub fn server_streaming<C, F, Fut>(self, handler: F) -> ServerFuture
    where
        C: Codec,
        F: FnOnce(Request<C::Decode>, ResponseSender<C::Encode>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), Status>> + Send + 'static,
    {
        Box::pin(async move {
            let (deadline, max_receive, compression) =
                (self.deadline, self.max_receive, self.compression);
            let headers = self.headers;
            let context = self.context;
            let cancel = Cancellation::new();
            let out = Outbound::new(self.respond, compression);
            let sender = ResponseSender::new(out.clone(), encode_with::<C>);
            let mut read = SingleRead::new(self.body, max_receive);
            let work = async {
                let (message, compressed) =
                    poll_fn(|cx| read.poll_message::<C>(cx, compression, max_receive)).await?;
                let metadata = MetadataMap::from_headers(headers);
                let request = Request::from_server(
                    message,
                    metadata,
                    deadline,
                    cancel.clone(),
                    compressed,
                    context,
                );
                handler(request, sender).await
            };
            let outcome = guard(
                work,
                deadline,
                &cancel,
                |cx| lock(&out).poll_between(cx),
                |why| lock(&out).close(why),
            )
            .await;
            finish_streaming(&out, outcome);
        })
    }

    /// Runs a bidirectional-streaming handler.
    pub fn streaming<C, F, Fut>(self, handler: F) -> ServerFuture
    where
        C: Codec,
        F: FnOnce(Request<Streaming<C::Decode>>, ResponseSender<C::Encode>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), Status>> + Send + 'static,
    {
        Box::pin(async move {
            let (deadline, compression) = (self.deadline, self.compression);
            let cancel = Cancellation::new();
            let (request, respond) = self.into_streaming::<C>(&cancel);
            let out = Outbound::new(respond, compression);
            let sender = ResponseSender::new(out.clone(), encode_with::<C>);
            let outcome = guard(
                handler(request, sender),
                deadline,
                &cancel,
                |cx| lock(&out).poll_between(cx),
                |why| lock(&out).close(why),
            )
            .await;
            finish_streaming(&out, outcome);
        })
    }
}

fn encode_with<C: Codec>(
    item: &C::Encode,
    buf: &mut BytesMut,
    encoding: Option<CompressionEncoding>,
) -> Result<(), Status> {
    framing::encode_into(&C::default(), item, buf, encoding)
}

/// Sends the single response, or the status, of a unary or client-streaming call.
pub(super) fn finish_unary<C: Codec>(
    respond: &mut SendResponse<Bytes>,
    outcome: Outcome<Result<Response<C::Encode>, Status>>,
    compression: Compression,
) {
    match outcome {
        Outcome::Done(Ok(response)) => send_unary::<C>(respond, response, compression),
        Outcome::Done(Err(status)) => send_trailers_only(respond, &status),
        Outcome::DeadlineExceeded => send_trailers_only(respond, &deadline_status()),
        Outcome::Panicked => send_trailers_only(respond, &panic_status()),
        Outcome::Reset => {}
    }
}

fn finish_streaming(out: &super::sender::SharedOutbound, outcome: Outcome<Result<(), Status>>) {
    match outcome {
        Outcome::Done(result) => lock(out).finish(result, Closed::Finished),
        Outcome::DeadlineExceeded => lock(out).finish(Err(deadline_status()), Closed::Deadline),
        Outcome::Panicked => lock(out).finish(Err(panic_status()), Closed::Finished),
        Outcome::Reset => {}
    }
}

fn send_unary<C: Codec>(
    respond: &mut SendResponse<Bytes>,
    response: Response<C::Encode>,
    compression: Compression,
) {
    let encoding = compression.response(response.compress());
    let (message, metadata, trailers) = response.into_parts();
    let frame = match framing::encode(&C::default(), &message, &mut BytesMut::new(), encoding) {
        Ok(frame) => frame,
        Err(status) => return send_trailers_only(respond, &status),
    };
    let mut headers = metadata.into_outgoing();
    if let Some(encoding) = encoding {
        headers.insert(names::GRPC_ENCODING, encoding.header_value());
    }
    let Ok(mut stream) = respond.send_response(response_head(headers), false) else {
        return;
    };
    // The whole message is already in memory; h2 sends it as the window allows.
    if stream.send_data(frame, false).is_err() {
        return;
    }
    let mut trailers = trailers.into_outgoing();
    wire::write_ok(&mut trailers);
    let _ = stream.send_trailers(trailers);
}

/// A response that is only a HEADERS frame with END_STREAM, carrying the status
/// (PROTOCOL-HTTP2, "Trailers-Only").
pub(crate) fn send_trailers_only(respond: &mut SendResponse<Bytes>, status: &Status) {
    let _ = respond.send_response(wire::trailers_only(status), true);
}
