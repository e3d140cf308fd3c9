//! The four call shapes on the client. Generated clients call these with their methods'
//! [`Method`] descriptors; they can also be used directly with any [`MethodCodec`].

use std::fmt;

use bytes::BytesMut;
use tokio::time::Instant;

use super::channel::Started;
use super::hooks::{CallExtras, ClientWatch};
use super::{Channel, RequestSender};
use crate::codec::{framing, Codec, MethodCodec};
use crate::method::Method;
use crate::observe::{EndGuard, Observed};
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
            .unwrap_or_else(|_| Err(Status::local_deadline("deadline exceeded"))),
        None => fut.await,
    }
}

/// Sends a one-message request and returns the pending response.
// The request's parts as `Request::into_parts` hands them over; bundling them again would
// only move the same fields into another struct.
#[allow(clippy::too_many_arguments)]
async fn send_single<C: Codec>(
    channel: &Channel,
    path: &'static str,
    message: C::Encode,
    metadata: crate::MetadataMap,
    deadline: Option<Instant>,
    encoding: Option<crate::CompressionEncoding>,
    observed: Option<&Observed>,
    extras: CallExtras,
) -> Result<(h2::client::ResponseFuture, Option<ClientWatch>), Status> {
    let frame = framing::encode(&C::default(), &message, &mut BytesMut::new(), encoding)?;
    drop(message);
    if let Some(observed) = observed {
        observed.sent(frame.len(), encoding);
    }
    let Started {
        response,
        mut send,
        watch,
    } = channel
        .start(path, metadata, deadline, encoding, extras)
        .await?;
    // One bounded message: h2 may buffer it until the window opens. If the server has
    // already answered (UNIMPLEMENTED before reading the body, say), the stream is closed and
    // this fails: the server's status, on the response side, is the call's outcome. No send
    // handle outlives this, so dropping the response side resets the stream.
    let _ = send.send_data(frame, true);
    Ok((response, watch))
}

/// A unary call: one request, one response.
pub async fn unary<C: MethodCodec>(
    channel: &Channel,
    method: &Method<C>,
    request: Request<C::Request>,
) -> Result<Response<C::Response>, Status> {
    let path = method.path();
    let Parts {
        message,
        mut metadata,
        deadline,
        compression,
        extras,
    } = request.into_parts();
    let encoding = channel.encoding(compression);
    let mut end = channel.observe(path, &mut metadata, deadline);
    let observed = end.observed();
    let result = with_deadline(deadline, async {
        let (response, watch) = send_single::<C::Client>(
            channel, path, message, metadata, deadline, encoding, observed, extras,
        )
        .await?;
        let inbound = Inbound::client(
            response,
            channel.max_receive_message_size(),
            None,
            observed.cloned(),
            EndGuard::default(),
            watch,
        );
        single_response(Streaming::new::<C::Client>(inbound)).await
    })
    .await;
    end.end(result.as_ref().err());
    result
}

/// A server-streaming call: one request, a stream of responses.
pub async fn server_streaming<C: MethodCodec>(
    channel: &Channel,
    method: &Method<C>,
    request: Request<C::Request>,
) -> Result<Streaming<C::Response>, Status> {
    let path = method.path();
    let Parts {
        message,
        mut metadata,
        deadline,
        compression,
        extras,
    } = request.into_parts();
    let encoding = channel.encoding(compression);
    let mut end = channel.observe(path, &mut metadata, deadline);
    let sent = with_deadline(
        deadline,
        send_single::<C::Client>(
            channel,
            path,
            message,
            metadata,
            deadline,
            encoding,
            end.observed(),
            extras,
        ),
    )
    .await;
    let (response, watch) = match sent {
        Ok(response) => response,
        Err(status) => {
            end.end(Some(&status));
            return Err(status);
        }
    };
    let observed = end.observed().cloned();
    let inbound = Inbound::client(
        response,
        channel.max_receive_message_size(),
        deadline,
        observed,
        end,
        watch,
    );
    Ok(Streaming::new::<C::Client>(inbound))
}

/// A client-streaming call: send requests with [`ClientStreamingCall::send`], then
/// [`ClientStreamingCall::finish`] for the single response. The `request` carries only
/// metadata and deadline.
pub async fn client_streaming<C: MethodCodec>(
    channel: &Channel,
    method: &Method<C>,
    request: Request<()>,
) -> Result<ClientStreamingCall<C::Request, C::Response>, Status> {
    let (sender, responses) = open::<C::Client>(channel, method.path(), request, false).await?;
    Ok(ClientStreamingCall { sender, responses })
}

/// A bidirectional call: a sender for requests and a stream of responses, usable from
/// different tasks. Dropping the sender half-closes the request side; dropping both cancels.
pub async fn streaming<C: MethodCodec>(
    channel: &Channel,
    method: &Method<C>,
    request: Request<()>,
) -> Result<(RequestSender<C::Request>, Streaming<C::Response>), Status> {
    open::<C::Client>(channel, method.path(), request, true).await
}

async fn open<C: Codec>(
    channel: &Channel,
    path: &'static str,
    request: Request<()>,
    close_on_drop: bool,
) -> Result<(RequestSender<C::Encode>, Streaming<C::Decode>), Status> {
    let Parts {
        mut metadata,
        deadline,
        compression,
        extras,
        ..
    } = request.into_parts();
    let encoding = channel.encoding(compression);
    let mut end = channel.observe(path, &mut metadata, deadline);
    let started = with_deadline(
        deadline,
        channel.start(path, metadata, deadline, encoding, extras),
    )
    .await;
    let Started {
        response,
        send,
        watch,
    } = match started {
        Ok(started) => started,
        Err(status) => {
            end.end(Some(&status));
            return Err(status);
        }
    };
    let observed = end.observed().cloned();
    let sender = RequestSender::new(
        send,
        |item, buf, encoding| framing::encode_into(&C::default(), item, buf, encoding),
        encoding,
        deadline,
        close_on_drop,
        observed.clone(),
    );
    let inbound = Inbound::client(
        response,
        channel.max_receive_message_size(),
        deadline,
        observed,
        end,
        watch,
    );
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
