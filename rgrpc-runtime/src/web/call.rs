//! One gRPC-Web call, bridged to a native one.
//!
//! The web request is checked (method, `content-type`, CORS), its head translated into a
//! native gRPC head, and sent as a native call over an HTTP/2 connection to the server's
//! own call machinery (in-process: see `bridge.rs`). Its body is decoded (base64 in text
//! mode) and forwarded as it arrives; the native response comes back as headers, DATA and
//! trailers, and is re-encoded: the same headers with the web `content-type`, the same
//! length-prefixed messages (in base64 in text mode), and the trailers as the last frame of
//! the body. Every call type of the server stays as it is, and native calls never pass here.
//!
//! Request bytes flow with HTTP/2 flow control on the native side: at most one decoded chunk
//! waits here, so a client cannot make the bridge buffer more than the native call would.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use h2::{RecvStream, SendStream};
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, StatusCode, Uri};
use tokio::time::{Instant, Sleep};

use super::cors::{Answer, Decision};
use super::frame::{self, Mode};
use super::text::{self, TextDecoder};
use super::WebConfig;
use crate::{wire, Status};

/// Where a web request's body comes from: an HTTP/1.1 body or an HTTP/2 stream.
pub(crate) trait Source: Send + Unpin + 'static {
    /// The next chunk of the body; `None` at its end. Flow-control credit for the chunk is
    /// returned to the client at once (the bridge holds at most one chunk).
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, String>>>;
}

impl Source for RecvStream {
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, String>>> {
        match self.poll_data(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let _ = self.flow_control().release_capacity(chunk.len());
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.to_string()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// What answers a web request.
pub(crate) enum Reply<S> {
    /// A response with no body: a preflight's answer, a refusal, or a trailers-only gRPC
    /// response (PROTOCOL-WEB: "Trailers may be sent together with response headers").
    Head(StatusCode, HeaderMap),
    /// A response head, then a body that ends with the trailer frame.
    Stream(StatusCode, HeaderMap, WebBody<S>),
}

impl<S> std::fmt::Debug for Reply<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Head(status, headers) => {
                f.debug_tuple("Head").field(status).field(headers).finish()
            }
            Reply::Stream(status, headers, _) => f
                .debug_tuple("Stream")
                .field(status)
                .field(headers)
                .finish(),
        }
    }
}

impl<S> From<Answer> for Reply<S> {
    fn from(answer: Answer) -> Reply<S> {
        Reply::Head(answer.status, answer.headers)
    }
}

/// A web request that passed the checks, ready to be forwarded.
pub(crate) struct Prepared {
    native: http::Request<()>,
    request_mode: Mode,
    mode: Mode,
    content_type: HeaderValue,
    /// The CORS origin to allow, for a cross-origin request.
    origin: Option<HeaderValue>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("path", &self.native.uri().path())
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// Checks a web request's head: a preflight or a refusal is answered from the head alone
/// (no native call, no bridge); a gRPC-Web call comes back translated, to be forwarded.
pub(crate) fn prepare(parts: &http::request::Parts, web: &WebConfig) -> Result<Prepared, Answer> {
    let authority = parts
        .headers
        .get(header::HOST)
        .map(HeaderValue::as_bytes)
        .or_else(|| parts.uri.authority().map(|a| a.as_str().as_bytes()));
    if parts.method == Method::OPTIONS {
        return Err(web.cors.preflight(&parts.headers, authority));
    }
    let web_type = match parts.headers.get(header::CONTENT_TYPE) {
        Some(v) if parts.method == Method::POST => frame::parse_content_type(v.as_bytes()),
        _ => None,
    };
    let Some(web_type) = web_type else {
        return Err(Answer::not_grpc_web(&parts.method));
    };
    let origin = match web.cors.check(&parts.headers, authority) {
        Decision::NotCrossOrigin => None,
        Decision::Allowed(origin) => Some(origin),
        Decision::Denied => return Err(Answer::denied(parts.headers.get(header::ORIGIN))),
    };
    let mode = frame::response_mode(web_type.mode, parts.headers.get(header::ACCEPT));
    Ok(Prepared {
        native: native_request(parts, web_type.native(), authority),
        request_mode: web_type.mode,
        mode,
        content_type: web_type.response(mode),
        origin,
    })
}

/// Forwards a prepared call over `upstream` with its body from `body`. `idle` bounds how
/// long the request body may stall (HTTP/1.1; `None` for HTTP/2, whose streams are bounded
/// like native ones).
pub(crate) async fn forward<S: Source>(
    prepared: Prepared,
    body: S,
    upstream: &mut SendRequest<Bytes>,
    web: &WebConfig,
    idle: Option<Duration>,
) -> Reply<S> {
    let out = Out {
        content_type: prepared.content_type,
        origin: prepared.origin,
        web,
    };
    if let Err(e) = poll_fn(|cx| upstream.poll_ready(cx)).await {
        return out.status(&wire::status_from_h2(e));
    }
    let (response, send) = match upstream.send_request(prepared.native, false) {
        Ok(sent) => sent,
        Err(e) => return out.status(&wire::status_from_h2(e)),
    };
    let mut pump = Some(Pump::new(body, prepared.request_mode, send, idle));
    tokio::pin!(response);
    // Forward the request while waiting for the response head: a unary call answers only
    // once its request has arrived.
    let head = poll_fn(|cx| {
        if let Some(p) = &mut pump {
            match p.poll(cx) {
                Poll::Ready(Ok(())) => pump = None,
                Poll::Ready(Err(status)) => {
                    p.abort();
                    return Poll::Ready(Err(status));
                }
                Poll::Pending => {}
            }
        }
        response
            .as_mut()
            .poll(cx)
            .map(|r| r.map_err(wire::status_from_h2))
    })
    .await;
    let (head, recv) = match head {
        Ok(response) => response.into_parts(),
        Err(status) => return out.status(&status),
    };
    let headers = out.headers(head.headers);
    if recv.is_end_stream() {
        // Trailers-only: the status is in these headers. Whatever of the request is still
        // unread is not wanted.
        return Reply::Head(head.status, headers);
    }
    Reply::Stream(
        head.status,
        headers,
        WebBody {
            pump,
            recv,
            mode: prepared.mode,
            state: State::Data,
            failed: None,
        },
    )
}

/// Answers a web request: [`prepare`], then [`forward`].
pub(crate) async fn handle<S: Source>(
    parts: http::request::Parts,
    body: S,
    upstream: &mut SendRequest<Bytes>,
    web: &WebConfig,
    idle: Option<Duration>,
) -> Reply<S> {
    match prepare(&parts, web) {
        Ok(prepared) => {
            drop(parts);
            forward(prepared, body, upstream, web, idle).await
        }
        Err(answer) => answer.into(),
    }
}

/// How this call's responses look on the web side.
struct Out<'a> {
    content_type: HeaderValue,
    origin: Option<HeaderValue>,
    web: &'a WebConfig,
}

impl Out<'_> {
    fn headers(&self, native: HeaderMap) -> HeaderMap {
        let mut headers = frame::web_response_headers(native, self.content_type.clone());
        if let Some(origin) = &self.origin {
            self.web.cors.decorate(origin.clone(), &mut headers);
        }
        headers
    }

    /// A trailers-only response with a status decided here.
    fn status<S>(&self, status: &Status) -> Reply<S> {
        let mut headers = HeaderMap::new();
        wire::write_status(status, &mut headers);
        Reply::Head(StatusCode::OK, self.headers(headers))
    }
}

/// The native request for a web request: the same path and metadata.
fn native_request(
    parts: &http::request::Parts,
    content_type: HeaderValue,
    authority: Option<&[u8]>,
) -> http::Request<()> {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    // h2 needs a scheme and authority; the native server routes on the path alone.
    let uri = authority
        .and_then(|a| {
            let mut uri = Vec::with_capacity(7 + a.len() + path.len());
            uri.extend_from_slice(b"http://");
            uri.extend_from_slice(a);
            uri.extend_from_slice(path.as_bytes());
            Uri::try_from(uri).ok()
        })
        .or_else(|| Uri::try_from(format!("http://localhost{path}")).ok())
        .unwrap_or_else(|| Uri::from_static("http://localhost/"));
    let mut request = http::Request::new(());
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri;
    *request.headers_mut() = frame::native_request_headers(&parts.headers, content_type);
    request
}

/// Moves the web request body into the native call.
struct Pump<S> {
    source: S,
    text: Option<TextDecoder>,
    send: SendStream<Bytes>,
    /// Decoded bytes not yet taken by the native stream's flow control.
    pending: Bytes,
    /// The body has ended; what is pending is the last of it.
    eof: bool,
    idle: Option<Idle>,
}

/// The request-body stall timer: runs only while the bridge waits on the client.
struct Idle {
    limit: Duration,
    timer: Pin<Box<Sleep>>,
    armed: bool,
}

impl<S: Source> Pump<S> {
    fn new(source: S, mode: Mode, send: SendStream<Bytes>, idle: Option<Duration>) -> Pump<S> {
        Pump {
            source,
            text: (mode == Mode::Text).then(TextDecoder::default),
            send,
            pending: Bytes::new(),
            eof: false,
            idle: idle.map(|limit| Idle {
                limit,
                timer: Box::pin(tokio::time::sleep(limit)),
                armed: false,
            }),
        }
    }

    /// `Ready(Ok)` once the whole body is forwarded, or the native call no longer takes it
    /// (it has answered; its response says how it ended). `Err` when the web body is bad:
    /// not base64, broken off, or stalled.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        loop {
            if !self.pending.is_empty() {
                match poll_send(&mut self.send, &mut self.pending, cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                    Poll::Pending => return Poll::Pending,
                }
            }
            if self.eof {
                let _ = self.send.send_data(Bytes::new(), true);
                return Poll::Ready(Ok(()));
            }
            match self.source.poll_chunk(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Some(idle) = &mut self.idle {
                        idle.armed = false;
                    }
                    self.pending = match &mut self.text {
                        Some(decoder) => decoder.decode(&chunk).map_err(|_| bad_text())?,
                        None => chunk,
                    };
                }
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Err(Status::internal(format!(
                        "the gRPC-Web request body broke off: {e}"
                    ))))
                }
                Poll::Ready(None) => {
                    if let Some(decoder) = &mut self.text {
                        self.pending = decoder.finish().map_err(|_| bad_text())?;
                    }
                    self.eof = true;
                }
                Poll::Pending => {
                    if let Some(idle) = &mut self.idle {
                        if !idle.armed {
                            idle.armed = true;
                            idle.timer.as_mut().reset(Instant::now() + idle.limit);
                        }
                        if idle.timer.as_mut().poll(cx).is_ready() {
                            return Poll::Ready(Err(Status::cancelled(format!(
                                "the gRPC-Web request body stalled for {:?}",
                                idle.limit
                            ))));
                        }
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// Stops the native call (RST_STREAM CANCEL: its handler sees the cancellation).
    fn abort(&mut self) {
        self.send.send_reset(h2::Reason::CANCEL);
    }
}

fn bad_text() -> Status {
    Status::internal("the grpc-web-text request body is not base64")
}

/// Hands `data` to `stream` as its window allows; `Ready(Ok)` once all of it is taken.
pub(crate) fn poll_send(
    stream: &mut SendStream<Bytes>,
    data: &mut Bytes,
    cx: &mut Context<'_>,
) -> Poll<Result<(), h2::Error>> {
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let mut capacity = stream.capacity();
        if capacity == 0 {
            capacity = match stream.poll_capacity(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(Err(h2::Reason::STREAM_CLOSED.into())),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(Some(Ok(n))) => n,
            };
            if capacity == 0 {
                continue;
            }
        }
        let chunk = data.split_to(capacity.min(data.len()));
        stream.send_data(chunk, false)?;
    }
    Poll::Ready(Ok(()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Data,
    Trailers,
    Done,
}

/// The body of a web response: the native call's messages, then its trailers as the trailer
/// frame, in the response's mode. Also forwards the rest of the request as it is polled
/// (server and bidi streaming read while they answer).
pub(crate) struct WebBody<S> {
    pump: Option<Pump<S>>,
    recv: RecvStream,
    mode: Mode,
    state: State,
    /// The request failed after the response began; the body ends with this status.
    failed: Option<Status>,
}

impl<S: Source> WebBody<S> {
    /// The next chunk of the body, already encoded for the wire; `None` after the trailer
    /// frame.
    pub(crate) fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if let Some(pump) = &mut self.pump {
            match pump.poll(cx) {
                Poll::Ready(Ok(())) => self.pump = None,
                Poll::Ready(Err(status)) => {
                    pump.abort();
                    self.pump = None;
                    self.failed = Some(status);
                }
                Poll::Pending => {}
            }
        }
        loop {
            if self.state == State::Done {
                return Poll::Ready(None);
            }
            if let Some(status) = self.failed.take() {
                return Poll::Ready(Some(self.end(&status_trailers(&status))));
            }
            match self.state {
                State::Data => match self.recv.poll_data(cx) {
                    Poll::Ready(Some(Ok(chunk))) => {
                        let _ = self.recv.flow_control().release_capacity(chunk.len());
                        if chunk.is_empty() {
                            continue;
                        }
                        return Poll::Ready(Some(self.encode(chunk)));
                    }
                    Poll::Ready(Some(Err(e))) => {
                        let status = wire::status_from_h2(e);
                        return Poll::Ready(Some(self.end(&status_trailers(&status))));
                    }
                    Poll::Ready(None) => self.state = State::Trailers,
                    Poll::Pending => return Poll::Pending,
                },
                State::Trailers => {
                    let trailers = match self.recv.poll_trailers(cx) {
                        Poll::Ready(Ok(Some(trailers))) => trailers,
                        Poll::Ready(Ok(None)) => {
                            status_trailers(&Status::internal("the call ended without a status"))
                        }
                        Poll::Ready(Err(e)) => status_trailers(&wire::status_from_h2(e)),
                        Poll::Pending => return Poll::Pending,
                    };
                    return Poll::Ready(Some(self.end(&trailers)));
                }
                State::Done => return Poll::Ready(None),
            }
        }
    }

    fn end(&mut self, trailers: &HeaderMap) -> Bytes {
        self.state = State::Done;
        self.pump = None;
        self.encode(frame::trailer_frame(trailers))
    }

    fn encode(&self, chunk: Bytes) -> Bytes {
        match self.mode {
            Mode::Binary => chunk,
            Mode::Text => text::encode(&chunk),
        }
    }
}

fn status_trailers(status: &Status) -> HeaderMap {
    let mut headers = HeaderMap::new();
    wire::write_status(status, &mut headers);
    headers
}
