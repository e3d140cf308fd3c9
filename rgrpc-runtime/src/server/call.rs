//! [`ServerCall`]: one accepted request, and the four ways a handler runs on it.
//!
//! Each runner returns the call's work as one future that races the handler against the
//! call's deadline and a client reset; whichever ends first decides what goes on the wire.
//! Unary calls, the hot path, have a hand-written future of their own (`unary.rs`).

use std::future::{poll_fn, Future};
use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use h2::server::SendResponse;

use super::accepted::Accepted;
use super::guard::guard;
use super::respond::{finish_unary, send_trailers_only};
use super::sender::{finish_streaming, lock, Outbound, ResponseSender};
use super::unary::{SingleRead, UnaryCall};
use crate::cancel::Cancellation;
use crate::codec::{framing, Codec, CompressionEncoding, MethodCodec};
use crate::metadata::MetadataMap;
use crate::method::Method;
use crate::observe::EndGuard;
use crate::streaming::{Inbound, Streaming};
use crate::{Request, Response, Status};

/// The work of one call. The connection polls it once in place, so a handler that finishes
/// at once answers within the batch of requests the connection is serving (one write for
/// the batch); if it is still pending, it continues as a task of its own.
pub type ServerFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// An accepted call, handed by the router to a [`super::Service`]. Generated code picks the
/// runner that matches the method's shape.
pub struct ServerCall(pub(super) Accepted);

impl std::fmt::Debug for ServerCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCall")
            .field("deadline", &self.0.deadline)
            .field("max_receive", &self.0.max_receive)
            .finish_non_exhaustive()
    }
}

impl ServerCall {
    /// Compresses responses with `encoding` when the client accepts it (handlers can still
    /// choose per response). Used by [`super::SendCompressed`] for per-service compression.
    pub fn set_send_compression(&mut self, encoding: Option<CompressionEncoding>) {
        self.0.compression.default = encoding;
    }

    /// Answers at once with `status`, as a trailers-only response.
    pub fn reject(mut self, status: Status) -> ServerFuture {
        send_trailers_only(&mut self.0.respond, &status);
        EndGuard::server(self.0.observed.take(), self.0.hooks.take()).end(Some(&status));
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
        let call = self.0;
        let inbound = Inbound::server(
            call.body,
            call.max_receive,
            call.compression.request,
            call.observed,
            call.budget,
        );
        let metadata = MetadataMap::from_headers(call.headers);
        let request = Request::from_server(
            Streaming::new::<C>(inbound),
            metadata,
            call.deadline,
            cancel.clone(),
            false,
            call.context,
        );
        (request, call.respond)
    }

    /// Runs a unary handler for `method`.
    pub fn unary<C, F, Fut>(self, _method: &Method<C>, handler: F) -> ServerFuture
    where
        C: MethodCodec,
        F: FnOnce(Request<C::Request>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Response<C::Response>, Status>> + Send + 'static,
    {
        Box::pin(UnaryCall::<C::Server, F, Fut>::new(self.0, handler))
    }

    /// Runs a client-streaming handler for `method`.
    pub fn client_streaming<C, F, Fut>(mut self, _method: &Method<C>, handler: F) -> ServerFuture
    where
        C: MethodCodec,
        F: FnOnce(Request<Streaming<C::Request>>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Response<C::Response>, Status>> + Send + 'static,
    {
        Box::pin(async move {
            let (deadline, compression) = (self.0.deadline, self.0.compression);
            let budget = self.0.budget.clone();
            let mut end = EndGuard::server(self.0.observed.clone(), self.0.hooks.take());
            let cancel = Cancellation::new();
            let (request, mut respond) = self.into_streaming::<C::Server>(&cancel);
            let outcome = guard(
                handler(request),
                deadline,
                &cancel,
                |cx| respond.poll_reset(cx).map(drop),
                |_| {},
            )
            .await;
            finish_unary::<C::Server>(&mut respond, outcome, compression, &mut end, &budget);
        })
    }

    /// Runs a server-streaming handler for `method`.
    pub fn server_streaming<C, F, Fut>(self, _method: &Method<C>, handler: F) -> ServerFuture
    where
        C: MethodCodec,
        F: FnOnce(Request<C::Request>, ResponseSender<C::Response>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), Status>> + Send + 'static,
    {
        Box::pin(async move {
            let Accepted {
                headers,
                body,
                respond,
                deadline,
                max_receive,
                compression,
                context,
                budget,
                observed,
                hooks,
            } = self.0;
            let mut end = EndGuard::server(observed, hooks);
            let cancel = Cancellation::new();
            let out = Outbound::new(respond, compression, end.observed().cloned());
            let sender = ResponseSender::new(out.clone(), encode_with::<C::Server>);
            let mut read = SingleRead::new(body, max_receive, budget);
            let observed = end.observed();
            let work = async {
                let (message, compressed) = poll_fn(|cx| {
                    read.poll_message::<C::Server>(cx, compression, max_receive, observed)
                })
                .await?;
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
            finish_streaming(&out, outcome, &mut end);
        })
    }

    /// Runs a bidirectional-streaming handler for `method`.
    pub fn streaming<C, F, Fut>(mut self, _method: &Method<C>, handler: F) -> ServerFuture
    where
        C: MethodCodec,
        F: FnOnce(Request<Streaming<C::Request>>, ResponseSender<C::Response>) -> Fut
            + Send
            + 'static,
        Fut: Future<Output = Result<(), Status>> + Send + 'static,
    {
        Box::pin(async move {
            let (deadline, compression) = (self.0.deadline, self.0.compression);
            let mut end = EndGuard::server(self.0.observed.clone(), self.0.hooks.take());
            let cancel = Cancellation::new();
            let (request, respond) = self.into_streaming::<C::Server>(&cancel);
            let out = Outbound::new(respond, compression, end.observed().cloned());
            let sender = ResponseSender::new(out.clone(), encode_with::<C::Server>);
            let outcome = guard(
                handler(request, sender),
                deadline,
                &cancel,
                |cx| lock(&out).poll_between(cx),
                |why| lock(&out).close(why),
            )
            .await;
            finish_streaming(&out, outcome, &mut end);
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
