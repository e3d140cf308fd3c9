//! The four call shapes on the client. Generated clients call these; they can also be used
//! directly with any [`Codec`].

use std::fmt;

use bytes::{Bytes, BytesMut};
use h2::SendStream;
use tokio::time::Instant;

use super::Channel;
use crate::codec::{framing, Codec, CompressionEncoding};
use crate::flow;
use crate::request::Parts;
use crate::streaming::{Inbound, Streaming};
use crate::{Request, Response, Status};

/// Runs `fut`, failing with `DEADLINE_EXCEEDED` at `deadline`. Dropping `fut` on expiry drops
/// its h2 handles, which resets the stream with CANCEL.
async fn with_deadline<T>(
    deadline: Option<Instant>,
    fut: impl std::future::Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, fut)
            .await
            .unwrap_or_else(|_| Err(Status::deadline_exceeded("deadline exceeded"))),
        None => fut.await,
    }
}

/// A unary call: one request, one response.
pub async fn unary<C: Codec>(
    channel: &Channel,
    path: &'static str,
    request: Request<C::Encode>,
) -> Result<Response<C::Decode>, Status> {
    let Parts {
        message,
        metadata,
        deadline,
        compression,
    } = request.into_parts();
    let encoding = channel.encoding(compression);
    with_deadline(deadline, async {
        let frame = framing::encode(&C::default(), &message, &mut BytesMut::new(), encoding)?;
        drop(message);
        let (response, mut send) = channel.start(path, metadata, deadline, encoding).await?;
        // One bounded message: h2 may buffer it until the window opens. If the server has
        // already answered (UNIMPLEMENTED before reading the body, say), the stream is closed
        // and this fails: the server's status, on the response side, is the call's outcome.
        let _ = send.send_data(frame, true);
        let inbound = Inbound::client(response, channel.max_receive_message_size(), None);
        single_response(Streaming::<C::Decode>::new::<C>(inbound)).await
    })
    .await
}

/// A server-streaming call: one request, a stream of responses.
pub async fn server_streaming<C: Codec>(
    channel: &Channel,
    path: &'static str,
    request: Request<C::Encode>,
) -> Result<Streaming<C::Decode>, Status> {
    let Parts {
        message,
        metadata,
        deadline,
        compression,
    } = request.into_parts();
    let encoding = channel.encoding(compression);
    let response = with_deadline(deadline, async {
        let frame = framing::encode(&C::default(), &message, &mut BytesMut::new(), encoding)?;
        let (response, mut send) = channel.start(path, metadata, deadline, encoding).await?;
        // As in `unary`: a server that answered early has the last word.
        let _ = send.send_data(frame, true);
        // No send handle outlives this: dropping the `Streaming` then resets the stream.
        Ok(response)
    })
    .await?;
    let inbound = Inbound::client(response, channel.max_receive_message_size(), deadline);
    Ok(Streaming::new::<C>(inbound))
}

/// A client-streaming call: send requests with [`ClientStreamingCall::send`], then
/// [`ClientStreamingCall::finish`] for the single response. The `request` carries only
/// metadata and deadline.
pub async fn client_streaming<C: Codec>(
    channel: &Channel,
    path: &'static str,
    request: Request<()>,
) -> Result<ClientStreamingCall<C::Encode, C::Decode>, Status> {
    let (sender, responses) = open::<C>(channel, path, request, false).await?;
    Ok(ClientStreamingCall { sender, responses })
}

/// A bidirectional call: a sender for requests and a stream of responses, usable from
/// different tasks. Dropping the sender half-closes the request side; dropping both cancels.
pub async fn streaming<C: Codec>(
    channel: &Channel,
    path: &'static str,
    request: Request<()>,
) -> Result<(RequestSender<C::Encode>, Streaming<C::Decode>), Status> {
    open::<C>(channel, path, request, true).await
}

async fn open<C: Codec>(
    channel: &Channel,
    path: &'static str,
    request: Request<()>,
    close_on_drop: bool,
) -> Result<(RequestSender<C::Encode>, Streaming<C::Decode>), Status> {
    let Parts {
        metadata,
        deadline,
        compression,
        ..
    } = request.into_parts();
    let encoding = channel.encoding(compression);
    let (response, send) =
        with_deadline(deadline, channel.start(path, metadata, deadline, encoding)).await?;
    let sender = RequestSender {
        stream: send,
        buf: BytesMut::new(),
        encode: |item, buf, encoding| framing::encode(&C::default(), item, buf, encoding),
        encoding,
        compress: true,
        deadline,
        closed: false,
        close_on_drop,
    };
    let inbound = Inbound::client(response, channel.max_receive_message_size(), deadline);
    Ok((sender, Streaming::new::<C>(inbound)))
}

/// Reads exactly one message and the OK status after it.
async fn single_response<T>(mut responses: Streaming<T>) -> Result<Response<T>, Status> {
    let message = responses
        .message()
        .await?
        .ok_or_else(|| Status::internal("server sent OK without a response message"))?;
    if responses.message().await?.is_some() {
        return Err(Status::internal(
            "server sent more than one response message to a unary call",
        ));
    }
    let (headers, trailers, compressed) = responses.into_parts();
    Ok(Response::from_parts(
        message,
        headers.unwrap_or_default(),
        trailers.unwrap_or_default(),
        compressed,
    ))
}

/// The request half of a streaming call.
pub struct RequestSender<T> {
    stream: SendStream<Bytes>,
    buf: BytesMut,
    encode: fn(&T, &mut BytesMut, Option<CompressionEncoding>) -> Result<Bytes, Status>,
    encoding: Option<CompressionEncoding>,
    compress: bool,
    deadline: Option<Instant>,
    closed: bool,
    close_on_drop: bool,
}

impl<T> RequestSender<T> {
    /// Sends one message, waiting for HTTP/2 flow control when the server reads slowly.
    ///
    /// An error means the request side can take no more messages; the call's real status is
    /// then read from the response side.
    pub async fn send(&mut self, message: T) -> Result<(), Status> {
        if self.closed {
            return Err(Status::failed_precondition(
                "send after the request side was closed",
            ));
        }
        let encoding = self.encoding.filter(|_| self.compress);
        let frame = (self.encode)(&message, &mut self.buf, encoding)?;
        drop(message);
        let stream = &mut self.stream;
        with_deadline(self.deadline, async {
            flow::send_data(stream, frame, false).await.map_err(|e| {
                let status = Status::from_h2(&e);
                Status::new(
                    status.code(),
                    format!(
                        "request stream closed ({}); the call's status is on the response side",
                        status.message()
                    ),
                )
            })
        })
        .await
    }

    /// Whether the following messages are compressed with the call's encoding (default:
    /// yes, when the call has one). Lets a call mix compressed and plain messages.
    pub fn set_compress(&mut self, compress: bool) {
        self.compress = compress;
    }

    /// Half-closes the request side: tells the server no more messages follow.
    pub fn close(&mut self) -> Result<(), Status> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        self.stream
            .send_data(Bytes::new(), true)
            .map_err(|e| Status::from_h2(&e))
    }
}

impl<T> Drop for RequestSender<T> {
    fn drop(&mut self) {
        if self.close_on_drop {
            let _ = self.close();
        }
    }
}

impl<T> fmt::Debug for RequestSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSender")
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// A client-streaming call in progress. Dropping it without [`finish`](Self::finish) cancels
/// the call.
pub struct ClientStreamingCall<Req, Resp> {
    sender: RequestSender<Req>,
    responses: Streaming<Resp>,
}

impl<Req, Resp> ClientStreamingCall<Req, Resp> {
    /// Sends one request message.
    pub async fn send(&mut self, message: Req) -> Result<(), Status> {
        self.sender.send(message).await
    }

    /// Whether the following messages are compressed (see [`RequestSender::set_compress`]).
    pub fn set_compress(&mut self, compress: bool) {
        self.sender.set_compress(compress);
    }

    /// Half-closes the request side and waits for the response.
    pub async fn finish(mut self) -> Result<Response<Resp>, Status> {
        // If the server already answered, closing fails; its status is what matters.
        let _ = self.sender.close();
        single_response(self.responses).await
    }
}

impl<Req, Resp> fmt::Debug for ClientStreamingCall<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientStreamingCall")
            .finish_non_exhaustive()
    }
}
