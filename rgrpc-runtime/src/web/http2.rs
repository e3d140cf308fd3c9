//! gRPC-Web on an HTTP/2 stream: a request whose `content-type` is gRPC-Web (or a CORS
//! preflight) on a connection that otherwise carries native gRPC. The connection's dispatch
//! hands it here from the branch that would otherwise refuse it, so native calls pay
//! nothing for it.

use std::future::{poll_fn, Future};
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use h2::client::SendRequest;
use h2::server::SendResponse;
use h2::RecvStream;

use super::call::{self, poll_send, Prepared, Reply};
use super::WebConfig;

/// Whether an HTTP/2 request that native gRPC refuses is one for gRPC-Web: a preflight or a
/// gRPC-Web `content-type`.
pub(crate) fn is_web_request(parts: &http::request::Parts) -> bool {
    parts.method == http::Method::OPTIONS
        || parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| super::frame::parse_content_type(v.as_bytes()).is_some())
}

/// Checks a gRPC-Web request's head. A preflight or a refusal is answered here, at once
/// (`None`); a call comes back to be forwarded with [`serve_stream`].
pub(crate) fn prepare(
    parts: &http::request::Parts,
    respond: &mut SendResponse<Bytes>,
    web: &WebConfig,
) -> Option<Prepared> {
    match call::prepare(parts, web) {
        Ok(prepared) => Some(prepared),
        Err(answer) => {
            let mut response = http::Response::new(());
            *response.status_mut() = answer.status;
            *response.headers_mut() = answer.headers;
            let _ = respond.send_response(response, true);
            None
        }
    }
}

/// Forwards a gRPC-Web call that arrived as an HTTP/2 stream as a native call over
/// `upstream`, and answers it. A client reset of the stream drops the native call
/// (RST_STREAM CANCEL), as it would for a native call.
pub(crate) async fn serve_stream(
    prepared: Prepared,
    body: RecvStream,
    mut respond: SendResponse<Bytes>,
    mut upstream: SendRequest<Bytes>,
    web: Arc<WebConfig>,
) {
    let reply = call::forward(prepared, body, &mut upstream, &web, None);
    tokio::pin!(reply);
    let reply = poll_fn(|cx| {
        if respond.poll_reset(cx).is_ready() {
            return Poll::Ready(None);
        }
        reply.as_mut().poll(cx).map(Some)
    })
    .await;
    let (status, headers, body) = match reply {
        None => return,
        Some(Reply::Head(status, headers)) => (status, headers, None),
        Some(Reply::Stream(status, headers, body)) => (status, headers, Some(body)),
    };
    let mut response = http::Response::new(());
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    let Some(mut body) = body else {
        let _ = respond.send_response(response, true);
        return;
    };
    let Ok(mut stream) = respond.send_response(response, false) else {
        return;
    };
    let mut pending = Bytes::new();
    poll_fn(|cx| loop {
        if stream.poll_reset(cx).is_ready() {
            return Poll::Ready(());
        }
        if !pending.is_empty() {
            match poll_send(&mut stream, &mut pending, cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
        match body.poll_chunk(cx) {
            Poll::Ready(Some(chunk)) => pending = chunk,
            Poll::Ready(None) => {
                let _ = stream.send_data(Bytes::new(), true);
                return Poll::Ready(());
            }
            Poll::Pending => return Poll::Pending,
        }
    })
    .await;
}
