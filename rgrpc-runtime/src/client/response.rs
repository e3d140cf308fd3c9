//! [`ResponseEnd`]: what only the client's side of an inbound stream has: the response head
//! it waits for, the header and trailer metadata, the status in the trailers, and the call's
//! local deadline. `Streaming` holds one on the client and none on the server.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use h2::client::ResponseFuture;
use h2::RecvStream;
use http::HeaderMap;
use tokio::time::{Instant, Sleep};

use super::hooks::ClientWatch;
use crate::codec::CompressionEncoding;
use crate::metadata::{names, MetadataMap};
use crate::wire::{self, ResponseHead};
use crate::{Code, Status};

/// The peer's `grpc-encoding`; `Err` holds a name we cannot decode.
pub(crate) type Encoding = Result<Option<CompressionEncoding>, String>;

/// What the response head said.
pub(crate) enum Head {
    /// Messages follow on `body`, in `encoding`.
    Body(RecvStream, Encoding),
    /// The call ended with the head (trailers-only, or not a gRPC response at all).
    Ended(Result<(), Status>),
}

pub(crate) struct ResponseEnd {
    /// The response head, until it arrives.
    head: Option<ResponseFuture>,
    deadline: Option<Pin<Box<Sleep>>>,
    pub(crate) headers: Option<MetadataMap>,
    pub(crate) trailers: Option<MetadataMap>,
    /// With interceptors: reports the call's end to them (when this is dropped).
    watch: Option<Watched>,
}

/// An intercepted call's end as far as it is known; reported when dropped (with the
/// response stream), as CANCELLED if it had not ended.
struct Watched {
    watch: Option<ClientWatch>,
    /// `None` until the call ended; `Some(None)` for OK.
    ended: Option<Option<Status>>,
}

impl Drop for Watched {
    fn drop(&mut self) {
        let Some(watch) = self.watch.take() else {
            return;
        };
        match &self.ended {
            Some(error) => watch.report(error.as_ref()),
            None => watch.report(Some(&Status::cancelled(
                "the call was dropped before it ended",
            ))),
        }
    }
}

impl ResponseEnd {
    pub(crate) fn new(
        response: ResponseFuture,
        deadline: Option<Instant>,
        watch: Option<ClientWatch>,
    ) -> ResponseEnd {
        ResponseEnd {
            head: Some(response),
            deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
            headers: None,
            trailers: None,
            watch: watch.map(|watch| Watched {
                watch: Some(watch),
                ended: None,
            }),
        }
    }

    /// Notes how the call ended, for the interceptors (the first ending counts).
    pub(crate) fn note(&mut self, result: Result<(), &Status>) {
        if let Some(watched) = &mut self.watch {
            if watched.ended.is_none() {
                watched.ended = Some(result.err().cloned());
            }
        }
    }

    /// `Err` once the call's deadline has passed.
    pub(crate) fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Result<(), Status> {
        if let Some(sleep) = &mut self.deadline {
            if sleep.as_mut().poll(cx).is_ready() {
                let status = Status::local_deadline("deadline exceeded");
                self.note(Err(&status));
                return Err(status);
            }
        }
        Ok(())
    }

    /// Waits for the response head and validates it (PROTOCOL-HTTP2, "Responses").
    pub(crate) fn poll_head(&mut self, cx: &mut Context<'_>) -> Poll<Head> {
        let Some(response) = &mut self.head else {
            return Poll::Ready(Head::Ended(Err(Status::internal(
                "the response head was already read",
            ))));
        };
        let response = match ready!(Pin::new(response).poll(cx)) {
            Ok(response) => response,
            Err(e) => {
                self.head = None;
                let status = Status::from_h2(e);
                self.note(Err(&status));
                return Poll::Ready(Head::Ended(Err(status)));
            }
        };
        self.head = None;
        let (parts, body) = response.into_parts();
        Poll::Ready(
            match wire::parse_response_head(parts, body.is_end_stream()) {
                ResponseHead::Body(headers) => {
                    let encoding = match headers.get_raw(names::GRPC_ENCODING.as_str()) {
                        Some(value) => CompressionEncoding::parse(value)
                            .map_err(|()| String::from_utf8_lossy(value).into_owned()),
                        None => Ok(None),
                    };
                    self.headers = Some(headers);
                    Head::Body(body, encoding)
                }
                ResponseHead::TrailersOnly(trailers) => Head::Ended(self.end(trailers)),
                ResponseHead::Error(status) => {
                    self.note(Err(&status));
                    Head::Ended(Err(status))
                }
            },
        )
    }

    /// The call's outcome from its trailers, keeping their metadata on success. The common
    /// OK case keeps the trailers as metadata without building a `Status`.
    pub(crate) fn end(&mut self, trailers: HeaderMap) -> Result<(), Status> {
        let ended = self.status(trailers);
        self.note(ended.as_ref().map(|_| ()));
        ended
    }

    fn status(&mut self, trailers: HeaderMap) -> Result<(), Status> {
        if wire::is_ok(&trailers) {
            self.trailers = Some(MetadataMap::from_headers(trailers));
            return Ok(());
        }
        let status = Status::from_trailers(trailers)
            .unwrap_or_else(|| Status::internal("the call ended without a grpc-status"));
        if status.code() == Code::Ok {
            self.trailers = Some(status.metadata().clone());
            return Ok(());
        }
        Err(status)
    }
}
