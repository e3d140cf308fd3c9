//! gRPC-Web over HTTP/1.1, what a browser speaks to a plain `http://` origin.
//!
//! The HTTP/1.1 protocol is hyper's (`http1` + `server` only), not ours: request framing is
//! where request smuggling lives (RFC 9112 §6.3, §11.2), and hyper's parser is fuzzed, has
//! had its smuggling reports fixed (chunk-size overflow, `Transfer-Encoding` without
//! `chunked`, invalid `Content-Length` forms) and is kept by the people who keep `h2`. What
//! it does with hostile framing, as the tests in `tests/web_http1.rs` check:
//!
//! - `Content-Length` with `Transfer-Encoding: chunked`: the body is read as chunked, the
//!   length dropped, and the connection closed after the response (RFC 9112 §6.1), so a
//!   smuggled second request is never read.
//! - two different `Content-Length`s, a malformed one, `Transfer-Encoding` that does not end
//!   in `chunked`, or any `Transfer-Encoding` on HTTP/1.0: `400 Bad Request`, connection
//!   closed.
//! - a head over the size limit or with too many fields: `431`, connection closed.
//! - a head that does not arrive within the timeout (slowloris): connection closed, and the
//!   same bound covers an idle keep-alive connection; a body that stalls: the call is
//!   cancelled.
//!
//! Each request is answered by [`super::call::handle`], forwarding over the connection's
//! native `upstream`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use h2::client::SendRequest;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

use super::call::{self, Reply, Source, WebBody};
use super::WebConfig;

impl Source for Incoming {
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, String>>> {
        loop {
            return match Pin::new(&mut *self).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => Poll::Ready(Some(Ok(data))),
                    // Chunked trailers carry nothing gRPC-Web uses.
                    Err(_) => continue,
                },
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.to_string()))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}

/// The body of an HTTP/1.1 response.
pub(crate) enum ResponseBody {
    /// Headers only.
    Empty,
    /// A bridged call's messages and trailer frame.
    Call(WebBody<Incoming>),
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            ResponseBody::Empty => Poll::Ready(None),
            ResponseBody::Call(body) => body
                .poll_chunk(cx)
                .map(|chunk| chunk.map(|data| Ok(Frame::data(data)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, ResponseBody::Empty)
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Empty => SizeHint::with_exact(0),
            ResponseBody::Call(_) => SizeHint::default(),
        }
    }
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ResponseBody::Empty => "Empty",
            ResponseBody::Call(_) => "Call",
        })
    }
}

/// Serves gRPC-Web over HTTP/1.1 on `io` until the client closes or `stop` completes (then
/// the request in flight finishes and the connection closes). Each call is forwarded as a
/// native call over `upstream`. Each request head must arrive within `head_timeout` (of the
/// connection's start or the previous response).
pub(crate) async fn serve<I>(
    io: I,
    upstream: SendRequest<Bytes>,
    web: Arc<WebConfig>,
    head_timeout: std::time::Duration,
    stop: impl Future<Output = ()>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(head_timeout)
        .max_header_size(web.http1.max_header_size);
    let config = web.clone();
    let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
        let mut upstream = upstream.clone();
        let web = config.clone();
        async move { Ok::<_, Infallible>(respond(request, &mut upstream, &web).await) }
    });
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::pin!(stop);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = &mut stop => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "HTTP/1.1 connection ended with an error");
    }
}

async fn respond(
    request: http::Request<Incoming>,
    upstream: &mut SendRequest<Bytes>,
    web: &WebConfig,
) -> http::Response<ResponseBody> {
    let (parts, body) = request.into_parts();
    let idle = web.http1.body_idle_timeout;
    let (status, headers, body) = match call::handle(parts, body, upstream, web, idle).await {
        Reply::Head(status, headers) => (status, headers, ResponseBody::Empty),
        Reply::Stream(status, headers, body) => (status, headers, ResponseBody::Call(body)),
    };
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}
