//! [`Streaming`]: the inbound message stream, shared by the client (responses) and the server
//! (requests).

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use h2::RecvStream;
use http::HeaderMap;
use tokio::time::{Instant, Sleep};

use crate::codec::compression::{self, CompressionEncoding};
use crate::codec::framing::{FrameDecoder, RawMessage};
use crate::codec::Codec;
use crate::metadata::MetadataMap;
use crate::wire::{self, ResponseHead};
use crate::{Code, Status};

/// A stream of incoming messages.
///
/// On the client it yields the server's responses and ends with the call's status: `Ok(None)`
/// after an OK status, `Err(status)` otherwise. On the server it yields the client's requests
/// and ends with `Ok(None)` when the client half-closes.
///
/// Dropping it before the end cancels the call.
pub struct Streaming<T> {
    inbound: Inbound,
    decode: fn(Bytes) -> Result<T, Status>,
}

impl<T> Streaming<T> {
    pub(crate) fn new<C: Codec<Decode = T>>(inbound: Inbound) -> Streaming<T> {
        Streaming {
            inbound,
            decode: |bytes| C::default().decode(bytes),
        }
    }

    /// The next message, `Ok(None)` at a clean end.
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        poll_fn(|cx| self.poll_message(cx)).await
    }

    /// Polls for the next message.
    pub fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<T>, Status>> {
        match ready!(self.inbound.poll_next(cx)) {
            Ok(Some(bytes)) => match (self.decode)(bytes) {
                Ok(message) => Poll::Ready(Ok(Some(message))),
                Err(status) => {
                    self.inbound.fail(&status);
                    Poll::Ready(Err(status))
                }
            },
            Ok(None) => Poll::Ready(Ok(None)),
            Err(status) => Poll::Ready(Err(status)),
        }
    }

    /// Response header metadata (client side); waits for the headers to arrive. On the server,
    /// the request metadata is on the [`crate::Request`] instead.
    pub async fn headers(&mut self) -> Result<&MetadataMap, Status> {
        poll_fn(|cx| self.inbound.poll_headers(cx)).await?;
        Ok(self.inbound.headers.get_or_insert_with(MetadataMap::new))
    }

    /// Trailer metadata, once the stream has ended with an OK status (client side).
    pub fn trailers(&self) -> Option<&MetadataMap> {
        self.inbound.trailers.as_ref()
    }

    /// Whether the message most recently returned arrived compressed.
    pub fn last_message_compressed(&self) -> bool {
        self.inbound.last_compressed
    }

    pub(crate) fn into_parts(self) -> (Option<MetadataMap>, Option<MetadataMap>, bool) {
        (
            self.inbound.headers,
            self.inbound.trailers,
            self.inbound.last_compressed,
        )
    }
}

impl<T> futures_core::Stream for Streaming<T> {
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // `Streaming` holds no self-references, so it is `Unpin`.
        let this = self.get_mut();
        this.poll_message(cx).map(Result::transpose)
    }
}

impl<T> fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streaming").finish_non_exhaustive()
    }
}

/// Which end of the call reads this stream; decides how the end of the body is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

enum State {
    /// Client: waiting for the response headers.
    Head(h2::client::ResponseFuture),
    Body(RecvStream),
    /// Ended: `None` after an OK status, else the error not yet handed to the reader.
    Done(Option<Status>),
    /// Ended with an error that the reader has already been given: it is not repeated, so
    /// `collect()` or `filter_map(Result::ok)` on the stream terminate.
    Failed(Status),
}

/// The codec-independent part of [`Streaming`]: h2 body → framed messages, status at the end.
pub(crate) struct Inbound {
    state: State,
    side: Side,
    decoder: FrameDecoder,
    max_len: usize,
    deadline: Option<Pin<Box<Sleep>>>,
    headers: Option<MetadataMap>,
    trailers: Option<MetadataMap>,
    /// The peer's `grpc-encoding`; `Err` holds a name we cannot decode.
    encoding: Result<Option<CompressionEncoding>, String>,
    last_compressed: bool,
}

impl Inbound {
    pub(crate) fn client(
        response: h2::client::ResponseFuture,
        max_len: usize,
        deadline: Option<Instant>,
    ) -> Inbound {
        Inbound {
            state: State::Head(response),
            side: Side::Client,
            decoder: FrameDecoder::new(max_len),
            max_len,
            deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
            headers: None,
            trailers: None,
            encoding: Ok(None),
            last_compressed: false,
        }
    }

    /// The server's view of a request body; unsupported encodings were refused at dispatch.
    pub(crate) fn server(
        body: RecvStream,
        max_len: usize,
        encoding: Option<CompressionEncoding>,
    ) -> Inbound {
        Inbound {
            state: State::Body(body),
            side: Side::Server,
            decoder: FrameDecoder::new(max_len),
            max_len,
            deadline: None,
            headers: None,
            trailers: None,
            encoding: Ok(encoding),
            last_compressed: false,
        }
    }

    /// Ends the stream with `status`, which the caller hands to the reader now, dropping the
    /// h2 handles (which resets the stream if it is still open). Messages still buffered are
    /// dropped: nothing is handed out after a terminal error.
    pub(crate) fn fail(&mut self, status: &Status) {
        self.state = State::Failed(status.clone());
        self.decoder.clear();
    }

    /// Ends the call with the status in `trailers`. The common OK case keeps the trailers as
    /// metadata without building a `Status`.
    fn end(&mut self, trailers: HeaderMap) {
        if wire::is_ok(&trailers) {
            self.trailers = Some(MetadataMap::from_headers(trailers));
            self.state = State::Done(None);
            return;
        }
        let status = Status::from_trailers(trailers)
            .unwrap_or_else(|| Status::internal("the call ended without a grpc-status"));
        if status.code() == Code::Ok {
            self.trailers = Some(status.metadata().clone());
            self.state = State::Done(None);
        } else {
            self.state = State::Done(Some(status));
        }
    }

    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Result<(), Status> {
        if let Some(sleep) = &mut self.deadline {
            if sleep.as_mut().poll(cx).is_ready() {
                let status = Status::local_deadline("deadline exceeded");
                self.fail(&status);
                return Err(status);
            }
        }
        Ok(())
    }

    fn poll_headers(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        if !matches!(self.state, State::Head(_)) {
            return Poll::Ready(match &self.state {
                State::Done(Some(status)) | State::Failed(status) if self.headers.is_none() => {
                    Err(status.clone())
                }
                _ => Ok(()),
            });
        }
        if let Err(status) = self.poll_deadline(cx) {
            return Poll::Ready(Err(status));
        }
        let State::Head(response) = &mut self.state else {
            return Poll::Ready(Ok(()));
        };
        let response = match ready!(Pin::new(response).poll(cx)) {
            Ok(response) => response,
            Err(e) => {
                let status = Status::from_h2(e);
                self.state = State::Done(Some(status.clone()));
                return Poll::Ready(Err(status));
            }
        };
        let (parts, body) = response.into_parts();
        match wire::parse_response_head(parts, body.is_end_stream()) {
            ResponseHead::Body(headers) => {
                if let Some(value) = headers.get_raw("grpc-encoding") {
                    self.encoding = CompressionEncoding::parse(value)
                        .map_err(|()| String::from_utf8_lossy(value).into_owned());
                }
                self.headers = Some(headers);
                self.state = State::Body(body);
            }
            ResponseHead::TrailersOnly(trailers) => self.end(trailers),
            ResponseHead::Error(status) => {
                self.state = State::Done(Some(status.clone()));
                return Poll::Ready(Err(status));
            }
        }
        Poll::Ready(Ok(()))
    }

    /// The next raw message (decompression happens here once compression is negotiated).
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, Status>> {
        loop {
            match &self.state {
                State::Failed(_) => return Poll::Ready(Ok(None)),
                State::Done(Some(status)) => {
                    let status = status.clone();
                    self.fail(&status);
                    return Poll::Ready(Err(status));
                }
                _ => {}
            }
            // A deadline that has passed ends the call even with messages still buffered.
            if let Err(status) = self.poll_deadline(cx) {
                return Poll::Ready(Err(status));
            }
            match self.decoder.next_message() {
                Ok(Some(raw)) => {
                    self.last_compressed = raw.compressed;
                    let opened = open_message(raw, &self.encoding, self.max_len);
                    if let Err(status) = &opened {
                        self.fail(status);
                    }
                    return Poll::Ready(opened.map(Some));
                }
                Ok(None) => {}
                Err(status) => {
                    self.fail(&status);
                    return Poll::Ready(Err(status));
                }
            }
            match &mut self.state {
                State::Head(_) => {
                    if let Err(status) = ready!(self.poll_headers(cx)) {
                        self.fail(&status);
                        return Poll::Ready(Err(status));
                    }
                }
                State::Body(body) => match ready!(body.poll_data(cx)) {
                    Some(Ok(chunk)) => {
                        // Give the window back at once: we only pull from h2 when the reader
                        // asks for a message, so buffering stays bounded by one message.
                        let _ = body.flow_control().release_capacity(chunk.len());
                        self.decoder.push(chunk);
                    }
                    Some(Err(e)) => {
                        let status = Status::from_h2(e);
                        self.fail(&status);
                        return Poll::Ready(Err(status));
                    }
                    None => {
                        if self.decoder.has_partial() {
                            let status =
                                Status::internal("stream ended in the middle of a message");
                            self.fail(&status);
                            return Poll::Ready(Err(status));
                        }
                        if self.side == Side::Server {
                            self.state = State::Done(None);
                            return Poll::Ready(Ok(None));
                        }
                        let trailers = match ready!(body.poll_trailers(cx)) {
                            Ok(trailers) => trailers.unwrap_or_default(),
                            Err(e) => {
                                let status = Status::from_h2(e);
                                self.fail(&status);
                                return Poll::Ready(Err(status));
                            }
                        };
                        self.end(trailers);
                    }
                },
                State::Done(None) => return Poll::Ready(Ok(None)),
                // Handled at the top of the loop.
                State::Done(Some(_)) | State::Failed(_) => return Poll::Ready(Ok(None)),
            }
        }
    }
}

/// A received message's bytes, decompressed if its flag says so. `encoding` is the peer's
/// `grpc-encoding` (`Err`: one we cannot decode).
pub(crate) fn open_message(
    raw: RawMessage,
    encoding: &Result<Option<CompressionEncoding>, String>,
    max_len: usize,
) -> Result<Bytes, Status> {
    if !raw.compressed {
        return Ok(raw.data);
    }
    match encoding {
        Ok(Some(encoding)) => compression::decompress(*encoding, &raw.data, max_len),
        Ok(None) => Err(Status::internal(
            "compressed flag set on a message but no grpc-encoding was negotiated",
        )),
        Err(name) => Err(Status::internal(format!(
            "message compressed with unsupported grpc-encoding {name:?}"
        ))),
    }
}
