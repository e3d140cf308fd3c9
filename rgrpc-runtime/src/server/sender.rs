//! [`ResponseSender`]: how a streaming handler sends its responses.

use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use h2::server::SendResponse;
use h2::SendStream;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::HeaderMap;

use super::call::Compression;
use crate::codec::CompressionEncoding;
use crate::flow::{self, StreamSlot};
use crate::metadata::MetadataMap;
use crate::Status;

/// The response side of a streaming call, shared between the handler's [`ResponseSender`]
/// and the call task that watches for client resets. Both run in one task, so the lock is
/// never contended; it is never held across an `.await`.
pub(crate) struct Outbound {
    respond: SendResponse<Bytes>,
    stream: Option<SendStream<Bytes>>,
    headers: MetadataMap,
    trailers: MetadataMap,
    compression: Compression,
    /// The handler's explicit choice, if it made one.
    compress: Option<bool>,
    /// The encoding announced in the response headers.
    encoding: Option<CompressionEncoding>,
}

pub(crate) type SharedOutbound = Arc<Mutex<Outbound>>;

pub(crate) fn lock(out: &SharedOutbound) -> std::sync::MutexGuard<'_, Outbound> {
    out.lock().unwrap_or_else(|e| e.into_inner())
}

impl Outbound {
    pub(crate) fn new(respond: SendResponse<Bytes>, compression: Compression) -> SharedOutbound {
        Arc::new(Mutex::new(Outbound {
            respond,
            stream: None,
            headers: MetadataMap::new(),
            trailers: MetadataMap::new(),
            compression,
            compress: None,
            encoding: None,
        }))
    }

    /// The encoding for the next message. The response encoding is fixed by the first
    /// message, when the headers go out; later messages can only opt out of it.
    fn message_encoding(&mut self) -> Option<CompressionEncoding> {
        if self.stream.is_none() {
            self.encoding = self.compression.response(self.compress);
        }
        self.encoding.filter(|_| self.compress != Some(false))
    }

    pub(crate) fn poll_reset(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        // h2 refuses `SendResponse::poll_reset` once headers are out; ask the stream then.
        match &mut self.stream {
            Some(stream) => stream.poll_reset(cx).map(drop),
            None => self.respond.poll_reset(cx).map(drop),
        }
    }

    /// Ends the call: trailers after the messages, or a single trailers-only HEADERS frame if
    /// nothing was sent yet.
    pub(crate) fn finish(&mut self, status: Result<(), Status>) {
        let mut trailers = HeaderMap::new();
        std::mem::take(&mut self.trailers).write_to(&mut trailers);
        match &status {
            Ok(()) => {
                trailers.insert("grpc-status", HeaderValue::from_static("0"));
            }
            Err(status) => status.write_trailers(&mut trailers),
        }
        match &mut self.stream {
            Some(stream) => {
                let _ = stream.send_trailers(trailers);
            }
            None => {
                let mut headers = std::mem::take(&mut self.headers).into_outgoing();
                headers.extend(trailers);
                let _ = self.respond.send_response(response_head(headers), true);
            }
        }
    }
}

impl StreamSlot for Outbound {
    fn with<R>(&mut self, f: impl FnOnce(&mut SendStream<Bytes>) -> R) -> Result<R, h2::Error> {
        if self.stream.is_none() {
            let mut headers = std::mem::take(&mut self.headers).into_outgoing();
            if let Some(encoding) = self.encoding {
                headers.insert("grpc-encoding", encoding.header_value());
            }
            self.stream = Some(self.respond.send_response(response_head(headers), false)?);
        }
        match &mut self.stream {
            Some(stream) => Ok(f(stream)),
            None => Err(h2::Error::from(h2::Reason::INTERNAL_ERROR)),
        }
    }
}

/// A `200 OK` gRPC response head carrying `headers`.
pub(crate) fn response_head(mut headers: HeaderMap) -> http::Response<()> {
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    let mut response = http::Response::new(());
    *response.headers_mut() = headers;
    response
}

/// Sends the responses of a server-streaming or bidirectional call.
///
/// Response headers go out with the first message (or with the status, if no message is
/// sent), so [`set_headers`](Self::set_headers) must come before the first
/// [`send`](Self::send).
pub struct ResponseSender<T> {
    out: SharedOutbound,
    buf: BytesMut,
    encode: Encoder<T>,
}

type Encoder<T> = fn(&T, &mut BytesMut, Option<CompressionEncoding>) -> Result<Bytes, Status>;

impl<T> ResponseSender<T> {
    pub(crate) fn new(out: SharedOutbound, encode: Encoder<T>) -> Self {
        ResponseSender {
            out,
            buf: BytesMut::new(),
            encode,
        }
    }

    /// Sends one message. Waits while the client's flow-control window is full, so a slow
    /// reader slows the handler; fails with `CANCELLED` once the client has gone away.
    pub async fn send(&mut self, message: T) -> Result<(), Status> {
        let encoding = lock(&self.out).message_encoding();
        let frame = (self.encode)(&message, &mut self.buf, encoding)?;
        drop(message);
        flow::send_data(&mut self.out, frame, false)
            .await
            .map_err(|e| Status::cancelled(format!("client went away: {e}")))
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
