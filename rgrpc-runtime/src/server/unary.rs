//! The unary call, written out as a state machine instead of an `async` block.
//!
//! A unary call is the hot path of most servers. As nested `async` blocks (reader, guard,
//! handler) its future was about 1.9 KB: too big for the allocator's per-thread cache, and
//! copied whole when boxed. Spelled out, the call holds only what the stage it is in needs,
//! and the deadline timer is only created if the call has to wait.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use http::HeaderMap;
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use super::accepted::{Accepted, Compression};
use super::guard::{poll_caught, Outcome};
use super::respond::finish_unary;
use crate::cancel::Cancellation;
use crate::codec::framing::{FrameDecoder, RawMessage};
use crate::codec::Codec;
use crate::metadata::MetadataMap;
use crate::observe::{EndGuard, Observed};
use crate::request::CallContext;
use crate::streaming::open_message;
use crate::transport::budget::{ConnectionBudget, Held};
use crate::{Request, Response, Status};

/// Reads the one request message of a unary or server-streaming call straight from the h2
/// body: these calls need none of `Streaming`'s machinery.
pub(super) struct SingleRead {
    body: RecvStream,
    decoder: FrameDecoder,
    message: Option<RawMessage>,
    held: Held,
}

impl SingleRead {
    pub(super) fn new(
        body: RecvStream,
        max_receive: usize,
        budget: std::sync::Arc<ConnectionBudget>,
    ) -> SingleRead {
        SingleRead {
            body,
            decoder: FrameDecoder::new(max_receive),
            message: None,
            held: Held::new(Some(budget)),
        }
    }

    /// Ready with the decoded message, and whether it arrived compressed, once the request
    /// stream has ended with exactly one message on it.
    pub(super) fn poll_message<C: Codec>(
        &mut self,
        cx: &mut Context<'_>,
        compression: Compression,
        max_receive: usize,
        observed: Option<&Observed>,
    ) -> Poll<Result<(C::Decode, bool), Status>> {
        ready!(self.poll_end(cx))?;
        let raw = self
            .message
            .take()
            // statuscodes.md: a request cardinality violation is UNIMPLEMENTED.
            .ok_or_else(|| Status::unimplemented("client sent no request message"))?;
        let compressed = raw.compressed;
        if let Some(observed) = observed {
            observed.received(raw.data.len(), compression.request.filter(|_| compressed));
        }
        let data = open_message(raw, &Ok(compression.request), max_receive)?;
        Poll::Ready(Ok((C::default().decode(data)?, compressed)))
    }

    /// Reads until the end of the request stream.
    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        loop {
            if let Some(raw) = self.decoder.next_message()? {
                if self.message.is_some() {
                    return Poll::Ready(Err(Status::unimplemented(
                        "client sent more than one request message",
                    )));
                }
                self.message = Some(raw);
                continue;
            }
            // What an unfinished message holds counts against the connection's budget.
            self.held.set(self.decoder.buffered())?;
            match ready!(self.body.poll_data(cx)) {
                Some(Ok(chunk)) => {
                    let _ = self.body.flow_control().release_capacity(chunk.len());
                    self.decoder.push(chunk);
                }
                Some(Err(e)) => return Poll::Ready(Err(Status::from_h2(e))),
                None if self.decoder.has_partial() => {
                    return Poll::Ready(Err(Status::internal(
                        "stream ended in the middle of a message",
                    )))
                }
                None => return Poll::Ready(Ok(())),
            }
        }
    }
}

pin_project! {
    /// One unary call: read the request, run the handler, send the response; or stop early
    /// on a client reset or the deadline, firing the call's [`Cancellation`] first.
    pub(super) struct UnaryCall<C, F, Fut> {
        #[pin]
        stage: Stage<F, Fut>,
        respond: SendResponse<Bytes>,
        deadline: Option<Instant>,
        // Created the first time the call has to wait, and only if it has a deadline.
        timer: Option<Pin<Box<Sleep>>>,
        cancel: Cancellation,
        compression: Compression,
        max_receive: usize,
        budget: std::sync::Arc<ConnectionBudget>,
        // The call's observer, if any; reports the end even if the call is dropped.
        end: EndGuard,
        codec: PhantomData<fn() -> C>,
    }
}

pin_project! {
    #[project = StageProj]
    enum Stage<F, Fut> {
        Reading { read: SingleRead, headers: HeaderMap, context: CallContext, handler: Option<F> },
        Running { #[pin] handler: Fut },
        Done,
    }
}

impl<C, F, Fut> UnaryCall<C, F, Fut>
where
    C: Codec,
    F: FnOnce(Request<C::Decode>) -> Fut,
    Fut: Future<Output = Result<Response<C::Encode>, Status>>,
{
    pub(super) fn new(call: Accepted, handler: F) -> Self {
        UnaryCall {
            stage: Stage::Reading {
                read: SingleRead::new(call.body, call.max_receive, call.budget.clone()),
                headers: call.headers,
                context: call.context,
                handler: Some(handler),
            },
            respond: call.respond,
            deadline: call.deadline,
            timer: None,
            cancel: Cancellation::new(),
            compression: call.compression,
            max_receive: call.max_receive,
            budget: call.budget,
            end: EndGuard::server(call.observed, call.hooks),
            codec: PhantomData,
        }
    }
}

impl<C, F, Fut> Future for UnaryCall<C, F, Fut>
where
    C: Codec,
    F: FnOnce(Request<C::Decode>) -> Fut,
    Fut: Future<Output = Result<Response<C::Encode>, Status>>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let outcome = loop {
            match this.stage.as_mut().project() {
                StageProj::Reading {
                    read,
                    headers,
                    context,
                    handler,
                } => {
                    let polled = read.poll_message::<C>(
                        cx,
                        *this.compression,
                        *this.max_receive,
                        this.end.observed(),
                    );
                    match polled {
                        Poll::Ready(Ok((message, compressed))) => {
                            let (Some(handler), metadata) =
                                (handler.take(), std::mem::take(headers))
                            else {
                                return Poll::Ready(());
                            };
                            let request = Request::from_server(
                                message,
                                MetadataMap::from_headers(metadata),
                                *this.deadline,
                                this.cancel.clone(),
                                compressed,
                                std::mem::take(context),
                            );
                            let handler = handler(request);
                            this.stage.set(Stage::Running { handler });
                            continue;
                        }
                        Poll::Ready(Err(status)) => break Outcome::Done(Err(status)),
                        Poll::Pending => {}
                    }
                }
                StageProj::Running { handler } => match poll_caught(handler, cx) {
                    Ok(Poll::Ready(result)) => break Outcome::Done(result),
                    Ok(Poll::Pending) => {}
                    Err(()) => break Outcome::Panicked,
                },
                StageProj::Done => return Poll::Ready(()),
            }
            // Waiting on the client or the handler: watch for a reset and the deadline.
            if this.respond.poll_reset(cx).is_ready() {
                break Outcome::Reset;
            }
            if let Some(deadline) = *this.deadline {
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.as_mut().poll(cx).is_ready() {
                    break Outcome::DeadlineExceeded;
                }
            }
            return Poll::Pending;
        };
        if !matches!(outcome, Outcome::Done(_)) {
            this.cancel.fire();
        }
        // Drop the handler (and what it holds) before answering.
        this.stage.set(Stage::Done);
        finish_unary::<C>(
            this.respond,
            outcome,
            *this.compression,
            this.end,
            this.budget,
        );
        Poll::Ready(())
    }
}
