//! [`Streaming`]: the inbound message stream, shared by the client (responses) and the server
//! (requests).

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use h2::RecvStream;
use tokio::time::Instant;

use crate::client::response::{Encoding, Head, ResponseEnd};
use crate::client::ClientWatch;
use crate::codec::compression::{self, CompressionEncoding};
use crate::codec::framing::{FrameDecoder, RawMessage};
use crate::codec::Codec;
use crate::metadata::MetadataMap;
use crate::observe::{EndGuard, Observed};
use crate::transport::budget::{ConnectionBudget, Held};
use crate::Status;

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
        static EMPTY: std::sync::OnceLock<MetadataMap> = std::sync::OnceLock::new();
        Ok(match &mut self.inbound.client {
            Some(client) => client.headers.get_or_insert_with(MetadataMap::new),
            None => EMPTY.get_or_init(MetadataMap::new),
        })
    }

    /// Trailer metadata, once the stream has ended with an OK status (client side).
    pub fn trailers(&self) -> Option<&MetadataMap> {
        self.inbound.client.as_ref()?.trailers.as_ref()
    }

    /// Whether the message most recently returned arrived compressed.
    pub fn last_message_compressed(&self) -> bool {
        self.inbound.last_compressed
    }

    pub(crate) fn into_parts(self) -> (Option<MetadataMap>, Option<MetadataMap>, bool) {
        let compressed = self.inbound.last_compressed;
        match self.inbound.client {
            Some(client) => (client.headers, client.trailers, compressed),
            None => (None, None, compressed),
        }
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

enum State {
    /// Client: waiting for the response head (held by the [`ResponseEnd`]).
    Head,
    Body(RecvStream),
    /// Ended: `None` after an OK status, else the error not yet handed to the reader.
    Done(Option<Status>),
    /// Ended with an error that the reader has already been given: it is not repeated, so
    /// `collect()` or `filter_map(Result::ok)` on the stream terminate.
    Failed(Status),
}

/// The codec-independent part of [`Streaming`]: h2 body → framed messages → decompressed
/// bytes, ending cleanly or with one error. What only the client has (the response head,
/// trailers and local deadline) is its [`ResponseEnd`].
pub(crate) struct Inbound {
    state: State,
    /// `Some` on the client.
    client: Option<ResponseEnd>,
    decoder: FrameDecoder,
    max_len: usize,
    encoding: Encoding,
    last_compressed: bool,
    /// Hears about each message received, if the call is observed.
    observed: Option<Observed>,
    /// Client: the call ends when this stream does (or is dropped).
    end: EndGuard,
    /// On the server, what an unfinished message holds, charged to the connection.
    held: Held,
}

impl Inbound {
    /// `end` is the call's end, when this stream's end is the call's (not for unary calls,
    /// whose caller reports it); `observed` hears each message.
    pub(crate) fn client(
        response: h2::client::ResponseFuture,
        max_len: usize,
        deadline: Option<Instant>,
        observed: Option<Observed>,
        end: EndGuard,
        watch: Option<ClientWatch>,
    ) -> Inbound {
        Inbound {
            state: State::Head,
            client: Some(ResponseEnd::new(response, deadline, watch)),
            decoder: FrameDecoder::new(max_len),
            max_len,
            encoding: Ok(None),
            last_compressed: false,
            observed,
            end,
            held: Held::default(),
        }
    }

    /// The server's view of a request body; unsupported encodings were refused at dispatch.
    pub(crate) fn server(
        body: RecvStream,
        max_len: usize,
        encoding: Option<CompressionEncoding>,
        observed: Option<Observed>,
        budget: std::sync::Arc<ConnectionBudget>,
    ) -> Inbound {
        Inbound {
            state: State::Body(body),
            client: None,
            decoder: FrameDecoder::new(max_len),
            max_len,
            encoding: Ok(encoding),
            last_compressed: false,
            observed,
            end: EndGuard::default(),
            held: Held::new(Some(budget)),
        }
    }

    /// Ends the stream with `status`, which the caller hands to the reader now, dropping the
    /// h2 handles (which resets the stream if it is still open). Messages still buffered are
    /// dropped: nothing is handed out after a terminal error.
    pub(crate) fn fail(&mut self, status: &Status) {
        if let Some(client) = &mut self.client {
            client.note(Err(status));
        }
        self.state = State::Failed(status.clone());
        self.decoder.clear();
        let _ = self.held.set(0);
    }

    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Result<(), Status> {
        let Some(client) = &mut self.client else {
            return Ok(());
        };
        let expired = client.poll_deadline(cx);
        if let Err(status) = &expired {
            self.fail(status);
        }
        expired
    }

    /// Client: waits for the response head. Ready at once on the server, or once the head
    /// has arrived; `Err` if the call ended before any headers.
    fn poll_headers(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        let headers_seen = self.client.as_ref().is_some_and(|c| c.headers.is_some());
        match &self.state {
            State::Head => {}
            State::Done(Some(status)) | State::Failed(status) if !headers_seen => {
                return Poll::Ready(Err(status.clone()))
            }
            _ => return Poll::Ready(Ok(())),
        }
        self.poll_deadline(cx)?;
        let Some(client) = &mut self.client else {
            return Poll::Ready(Ok(()));
        };
        match ready!(client.poll_head(cx)) {
            Head::Body(body, encoding) => {
                self.encoding = encoding;
                self.state = State::Body(body);
                Poll::Ready(Ok(()))
            }
            Head::Ended(Ok(())) => {
                self.state = State::Done(None);
                Poll::Ready(Ok(()))
            }
            Head::Ended(Err(status)) => {
                self.state = State::Done(Some(status.clone()));
                Poll::Ready(Err(status))
            }
        }
    }

    /// The next raw message (decompression happens here once compression is negotiated).
    /// On the client, the stream's end is the call's, reported to its observer.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, Status>> {
        let polled = self.poll_message(cx);
        if self.end.observed().is_some() {
            match &polled {
                Poll::Ready(Ok(None)) => self.end.end(None),
                Poll::Ready(Err(status)) => self.end.end(Some(status)),
                _ => {}
            }
        }
        polled
    }

    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, Status>> {
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
                    if let Some(observed) = &self.observed {
                        let encoding = self.encoding.as_ref().ok().copied().flatten();
                        observed.received(raw.data.len(), encoding.filter(|_| raw.compressed));
                    }
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
            if matches!(self.state, State::Body(_)) {
                // On the server, an unfinished message counts against the connection's
                // receive budget before more of it is read.
                if let Err(status) = self.held.set(self.decoder.buffered()) {
                    self.fail(&status);
                    return Poll::Ready(Err(status));
                }
            }
            match &mut self.state {
                State::Head => {
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
                        let Some(client) = &mut self.client else {
                            // The server's end: the client half-closed.
                            self.state = State::Done(None);
                            return Poll::Ready(Ok(None));
                        };
                        let trailers = match ready!(body.poll_trailers(cx)) {
                            Ok(trailers) => trailers.unwrap_or_default(),
                            Err(e) => {
                                let status = Status::from_h2(e);
                                self.fail(&status);
                                return Poll::Ready(Err(status));
                            }
                        };
                        self.state = State::Done(client.end(trailers).err());
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
    encoding: &Encoding,
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
