//! [`ResponseSender`]: how a streaming handler sends its responses.

use std::fmt;
use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use h2::server::SendResponse;
use h2::SendStream;
use http::HeaderMap;

use super::accepted::Compression;
use super::guard::{deadline_status, panic_status, reset_status, Closed, Outcome};
use crate::codec::CompressionEncoding;
use crate::metadata::names;
use crate::metadata::MetadataMap;
use crate::observe::{EndGuard, Observed};
use crate::transport::outbox::Outbox;
use crate::wire::{self, response_head};
use crate::Status;

/// The response side of a streaming call, shared between the handler's [`ResponseSender`]
/// and the call task, which flushes what the handler sent whenever the handler yields and
/// watches for client resets. Usually both run in one task, so the lock is not contended;
/// it is never held across an `.await`.
pub(crate) struct Outbound {
    respond: SendResponse<Bytes>,
    stream: Option<SendStream<Bytes>>,
    outbox: Outbox,
    /// Why no more messages can be sent, once that is so.
    closed: Option<Closed>,
    headers: MetadataMap,
    trailers: MetadataMap,
    compression: Compression,
    /// The handler's explicit choice, if it made one.
    compress: Option<bool>,
    /// The encoding announced in the response headers, once the first message chose it.
    encoding: Option<CompressionEncoding>,
    encoding_chosen: bool,
    /// Hears about each message sent, if the call is observed.
    observed: Option<Observed>,
}

pub(crate) type SharedOutbound = Arc<Mutex<Outbound>>;

pub(crate) fn lock(out: &SharedOutbound) -> std::sync::MutexGuard<'_, Outbound> {
    out.lock().unwrap_or_else(|e| e.into_inner())
}

impl Outbound {
    pub(crate) fn new(
        respond: SendResponse<Bytes>,
        compression: Compression,
        observed: Option<Observed>,
    ) -> SharedOutbound {
        Arc::new(Mutex::new(Outbound {
            respond,
            stream: None,
            outbox: Outbox::default(),
            closed: None,
            headers: MetadataMap::new(),
            trailers: MetadataMap::new(),
            compression,
            compress: None,
            encoding: None,
            encoding_chosen: false,
            observed,
        }))
    }

    /// The encoding for the next message. The response encoding is fixed by the first
    /// message, when the headers go out; later messages can only opt out of it.
    fn message_encoding(&mut self) -> Option<CompressionEncoding> {
        if !self.encoding_chosen {
            self.encoding_chosen = true;
            self.encoding = self.compression.response(self.compress);
        }
        self.encoding.filter(|_| self.compress != Some(false))
    }

    /// Ready when another message may be queued; fails once the client has gone away.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        if let Some(why) = self.closed {
            return Poll::Ready(Err(why.status()));
        }
        self.outbox.poll_ready(cx).map(Ok)
    }

    /// Between polls of the handler: flush what it sent, and report a client reset.
    pub(crate) fn poll_between(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.outbox.register_flusher(cx);
        if !self.outbox.is_empty() {
            let opened = open_stream(
                &mut self.stream,
                &mut self.respond,
                &mut self.headers,
                self.encoding,
            );
            let flushed = match opened {
                Ok(stream) => self.outbox.poll_flush(stream, cx),
                Err(e) => Poll::Ready(Err(e)),
            };
            if let Poll::Ready(Err(_)) = flushed {
                self.close(Closed::ClientGone);
                return Poll::Ready(());
            }
        }
        // h2 refuses `SendResponse::poll_reset` once headers are out; ask the stream then.
        let reset = match &mut self.stream {
            Some(stream) => stream.poll_reset(cx).map(drop),
            None => self.respond.poll_reset(cx).map(drop),
        };
        if reset.is_ready() {
            self.close(Closed::ClientGone);
        }
        reset
    }

    /// No more messages: a sender still held (by a task the handler spawned) gets an error
    /// that says why.
    pub(crate) fn close(&mut self, why: Closed) {
        self.closed.get_or_insert(why);
        self.outbox.wake_sender();
    }

    /// Ends the call: what is still pending, then trailers; or, if nothing was sent, a single
    /// trailers-only HEADERS frame.
    pub(crate) fn finish(&mut self, status: Result<(), Status>, why: Closed) {
        self.close(why);
        let mut trailers = HeaderMap::new();
        std::mem::take(&mut self.trailers).write_to(&mut trailers);
        match &status {
            Ok(()) => {
                wire::write_ok(&mut trailers);
            }
            Err(status) => wire::write_status(status, &mut trailers),
        }
        if self.stream.is_none() && self.outbox.is_empty() {
            let mut headers = std::mem::take(&mut self.headers).into_outgoing();
            headers.extend(trailers);
            let _ = self.respond.send_response(response_head(headers), true);
            return;
        }
        let opened = open_stream(
            &mut self.stream,
            &mut self.respond,
            &mut self.headers,
            self.encoding,
        );
        let Ok(stream) = opened else {
            return;
        };
        if self.outbox.flush_all(stream, false).is_ok() {
            let _ = stream.send_trailers(trailers);
        }
    }
}

/// Opens `stream` by sending the response headers, unless it is open already. (A free
/// function so the caller can keep using the other fields of `Outbound`.)
fn open_stream<'a>(
    stream: &'a mut Option<SendStream<Bytes>>,
    respond: &mut SendResponse<Bytes>,
    headers: &mut MetadataMap,
    encoding: Option<CompressionEncoding>,
) -> Result<&'a mut SendStream<Bytes>, h2::Error> {
    if stream.is_none() {
        let mut head = std::mem::take(headers).into_outgoing();
        if let Some(encoding) = encoding {
            head.insert(names::GRPC_ENCODING, encoding.header_value());
        }
        *stream = Some(respond.send_response(response_head(head), false)?);
    }
    match stream {
        Some(stream) => Ok(stream),
        None => Err(h2::Reason::INTERNAL_ERROR.into()),
    }
}

/// Sends the responses of a server-streaming or bidirectional call.
///
/// Response headers go out with the first message (or with the status, if no message is
/// sent), so [`set_headers`](Self::set_headers) must come before the first
/// [`send`](Self::send).
pub struct ResponseSender<T> {
    out: SharedOutbound,
    encode: Encoder<T>,
}

/// Appends one framed message to a buffer.
pub(crate) type Encoder<T> =
    fn(&T, &mut BytesMut, Option<CompressionEncoding>) -> Result<(), Status>;

impl<T> ResponseSender<T> {
    pub(crate) fn new(out: SharedOutbound, encode: Encoder<T>) -> Self {
        ResponseSender { out, encode }
    }

    /// Sends one message. Waits while the client's flow-control window is full, so a slow
    /// reader slows the handler; fails with `CANCELLED` once the client has gone away.
    pub async fn send(&mut self, message: T) -> Result<(), Status> {
        let encode = self.encode;
        // One lock per message: check for room and queue under the same guard; only a full
        // buffer waits (and then re-locks).
        let mut message = Some(message);
        poll_fn(|cx| {
            let mut out = lock(&self.out);
            if let Err(status) = std::task::ready!(out.poll_ready(cx)) {
                return Poll::Ready(Err(status));
            }
            let Some(message) = message.take() else {
                return Poll::Ready(Ok(()));
            };
            let encoding = out.message_encoding();
            let Outbound {
                outbox, observed, ..
            } = &mut *out;
            Poll::Ready(outbox.push(|buf| {
                let start = buf.len();
                encode(&message, buf, encoding)?;
                if let Some(observed) = observed {
                    observed.sent(buf.len() - start, encoding);
                }
                Ok(())
            }))
        })
        .await
    }

    /// Sets the response header metadata. Has no effect once the first message was sent.
    pub fn set_headers(&mut self, metadata: MetadataMap) {
        lock(&self.out).headers = metadata;
    }

    /// Compress the following messages (with an encoding the client accepts), or not,
    /// overriding the service's default. The encoding is fixed when the first message goes
    /// out, so turning compression on after an uncompressed first message has no effect.
    pub fn set_compress(&mut self, compress: bool) {
        lock(&self.out).compress = Some(compress);
    }

    /// Sets the trailer metadata sent with the final status.
    pub fn set_trailers(&mut self, metadata: MetadataMap) {
        lock(&self.out).trailers = metadata;
    }
}

impl<T> fmt::Debug for ResponseSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseSender").finish_non_exhaustive()
    }
}

/// Ends a server-streaming or bidirectional call the way its work ended.
/// Reports the end to the call's observer (`end`), if it has one.
pub(crate) fn finish_streaming(
    out: &SharedOutbound,
    outcome: Outcome<Result<(), Status>>,
    end: &mut EndGuard,
) {
    let (result, why) = match outcome {
        Outcome::Done(result) => (result, Closed::Finished),
        Outcome::DeadlineExceeded => (Err(deadline_status()), Closed::Deadline),
        Outcome::Panicked => (Err(panic_status()), Closed::Finished),
        Outcome::Reset => {
            if end.is_heard() {
                end.end(Some(&reset_status()));
            }
            return;
        }
    };
    end.end(result.as_ref().err());
    lock(out).finish(result, why);
}
