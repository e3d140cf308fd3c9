//! gRPC-Web: browsers call the server directly, on the port that serves native gRPC, with
//! no proxy (gRPC's `PROTOCOL-WEB.md`).
//!
//! Turned on with [`crate::ServerBuilder::grpc_web`]:
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use rgrpc_runtime::web::GrpcWeb;
//! use rgrpc_runtime::Server;
//!
//! Server::builder()
//!     // .add_service(GreeterServer::new(MyGreeter))
//!     .grpc_web(GrpcWeb::new().allow_origin("https://app.example.com"))
//!     .serve("127.0.0.1:50051")
//!     .await
//! # }
//! ```
//!
//! What the server then accepts, besides native gRPC:
//!
//! - `application/grpc-web[+proto]` (binary) and `application/grpc-web-text[+proto]`
//!   (base64, decoded across chunk boundaries and in-stream padding) requests, answered in
//!   the mode the client's `Accept` asks for (else its own); the call's trailers are the
//!   last frame of the body (flag `0x80`), and a call that fails before any message is
//!   answered trailers-only, the status in the headers.
//! - over HTTP/1.1 (what a browser uses on a plain `http://` origin; told apart from
//!   HTTP/2 by the connection's first bytes, on TCP) and over HTTP/2 (a gRPC-Web
//!   `content-type` on an ordinary stream).
//! - metadata both ways (`-bin` values in base64, as on HTTP/2), deadlines
//!   (`grpc-timeout`), the receive limit and per-message compression when the client asks
//!   (`grpc-encoding`, `grpc-accept-encoding`), exactly as for native calls: the calls run
//!   in the same machinery.
//! - CORS: preflights are answered; cross-origin calls are allowed from the origins given
//!   ([`GrpcWeb::allow_origin`], or any with [`GrpcWeb::allow_any_origin`]; none by
//!   default), with the request headers gRPC-Web clients send plus
//!   [`GrpcWeb::allow_headers`], and `grpc-status`, `grpc-message`,
//!   `grpc-status-details-bin` plus [`GrpcWeb::expose_headers`] readable by the page.
//!
//! Unary and server-streaming calls are what browsers make; client and bidirectional
//! streaming work where the client can stream a request body (HTTP/2, or HTTP/1.1 clients
//! that send a chunked body while reading the response).
//!
//! How: a web call is translated into a native call on an in-process HTTP/2 connection
//! into the same server (one per web connection, carrying the web client's
//! [`crate::Peer`]), and its response translated back. The server's call types stay as they
//! are, and native calls pay nothing: the check for a gRPC-Web request sits in the branch
//! that would otherwise refuse the request.
//!
//! Not done: `Content-Encoding` (whole-body) compression; PROTOCOL-WEB's text-mode rule
//! that `-bin` trailers skip base64 (Envoy and tonic-web keep base64 too, and a raw value
//! could break the header block); HTTP/1.1 on Unix sockets (no peek there; gRPC-Web over
//! HTTP/2 works on every transport).

mod bridge;
mod call;
mod cors;
mod frame;
mod http1;
mod http2;
mod sniff;
mod text;

use std::io;
use std::time::Duration;

use crate::defaults;

pub(crate) use bridge::{open as open_bridge, Bridge, Link};
pub(crate) use http1::serve as serve_http1;
pub(crate) use http2::{is_web_request, prepare as prepare_h2, serve_stream as serve_h2_stream};
pub(crate) use sniff::{sniff, Protocol};

/// How a server answers gRPC-Web: which origins may call, which headers browsers may send
/// and read, and HTTP/1.1's limits. Every default is in [`crate::defaults`].
#[derive(Clone, Debug, Default)]
pub struct GrpcWeb {
    origins: Origins,
    allow_headers: Vec<String>,
    expose_headers: Vec<String>,
    credentials: bool,
    max_age: Option<Duration>,
    http1: Option<bool>,
    http1_header_timeout: Option<Duration>,
    http1_max_header_size: Option<usize>,
    http1_body_idle_timeout: Option<Option<Duration>>,
}

#[derive(Clone, Debug, Default)]
enum Origins {
    #[default]
    None,
    Any,
    List(Vec<String>),
}

impl GrpcWeb {
    /// gRPC-Web with the defaults: no cross-origin caller allowed (pages served by the
    /// server's own origin, and non-browser clients, can call), HTTP/1.1 on.
    pub fn new() -> GrpcWeb {
        GrpcWeb::default()
    }

    /// Lets pages from `origin` (`scheme://host[:port]`, e.g. `https://app.example.com`)
    /// call; may be given several times. An invalid origin fails the server's `bind`.
    pub fn allow_origin(mut self, origin: &str) -> Self {
        match &mut self.origins {
            Origins::List(list) => list.push(origin.to_owned()),
            Origins::Any => {}
            none => *none = Origins::List(vec![origin.to_owned()]),
        }
        self
    }

    /// Lets pages from any origin call (`access-control-allow-origin: *`). For public APIs
    /// and development; combined with [`GrpcWeb::allow_credentials`], any site can make
    /// calls with the user's cookies.
    pub fn allow_any_origin(mut self) -> Self {
        self.origins = Origins::Any;
        self
    }

    /// Request headers browsers may send besides `content-type`, `x-grpc-web`,
    /// `x-user-agent` and `grpc-timeout`: the metadata keys the pages send.
    pub fn allow_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.allow_headers
            .extend(names.into_iter().map(|n| n.as_ref().to_owned()));
        self
    }

    /// Response headers pages may read besides `grpc-status`, `grpc-message` and
    /// `grpc-status-details-bin`: the response metadata keys (header metadata, and trailing
    /// metadata of trailers-only responses). Trailers in the body need no exposing.
    pub fn expose_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.expose_headers
            .extend(names.into_iter().map(|n| n.as_ref().to_owned()));
        self
    }

    /// Whether cross-origin calls may carry cookies and HTTP authentication
    /// (`access-control-allow-credentials: true`; default no).
    pub fn allow_credentials(mut self, allow: bool) -> Self {
        self.credentials = allow;
        self
    }

    /// How long browsers may cache a preflight's answer (default
    /// [`defaults::CORS_MAX_AGE`]).
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// Whether HTTP/1.1 is served on the port besides HTTP/2 (default yes; browsers speak
    /// HTTP/1.1 to plain `http://` origins). TCP only: Unix sockets serve gRPC-Web over
    /// HTTP/2.
    pub fn http1(mut self, enabled: bool) -> Self {
        self.http1 = Some(enabled);
        self
    }

    /// How long an HTTP/1.1 client may take to send a request head, and how long an idle
    /// keep-alive connection stays open (default [`defaults::HTTP1_HEADER_TIMEOUT`]).
    pub fn http1_header_timeout(mut self, timeout: Duration) -> Self {
        self.http1_header_timeout = Some(timeout);
        self
    }

    /// The largest HTTP/1.1 request head, request line included (default
    /// [`defaults::HTTP1_MAX_HEADER_SIZE`]); larger ones get `431`.
    pub fn http1_max_header_size(mut self, bytes: usize) -> Self {
        self.http1_max_header_size = Some(bytes);
        self
    }

    /// How long an HTTP/1.1 request body may pause before the call is cancelled (default
    /// [`defaults::HTTP1_BODY_IDLE_TIMEOUT`]; `None`: no limit, as for HTTP/2 streams).
    pub fn http1_body_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.http1_body_idle_timeout = Some(timeout);
        self
    }

    /// The compiled configuration; `InvalidInput` for an origin or header name that cannot
    /// be one.
    pub(crate) fn build(&self) -> io::Result<WebConfig> {
        let invalid = |e: cors::InvalidCors| io::Error::new(io::ErrorKind::InvalidInput, e.0);
        let origins = match &self.origins {
            Origins::None => cors::Origins::None,
            Origins::Any => cors::Origins::Any,
            Origins::List(list) => cors::Origins::List(
                list.iter()
                    .map(|o| cors::parse_origin(o))
                    .collect::<Result<_, _>>()
                    .map_err(invalid)?,
            ),
        };
        let cors = cors::Cors::new(
            origins,
            &self.allow_headers,
            &self.expose_headers,
            self.credentials,
            self.max_age.unwrap_or(defaults::CORS_MAX_AGE),
        )
        .map_err(invalid)?;
        Ok(WebConfig {
            cors,
            http1: Http1Config {
                enabled: self.http1.unwrap_or(true),
                header_timeout: self
                    .http1_header_timeout
                    .unwrap_or(defaults::HTTP1_HEADER_TIMEOUT),
                max_header_size: self
                    .http1_max_header_size
                    .unwrap_or(defaults::HTTP1_MAX_HEADER_SIZE),
                body_idle_timeout: self
                    .http1_body_idle_timeout
                    .unwrap_or(Some(defaults::HTTP1_BODY_IDLE_TIMEOUT)),
            },
        })
    }
}

/// A server's compiled gRPC-Web configuration.
#[derive(Clone, Debug)]
pub(crate) struct WebConfig {
    pub(crate) cors: cors::Cors,
    pub(crate) http1: Http1Config,
}

#[derive(Clone, Debug)]
pub(crate) struct Http1Config {
    pub(crate) enabled: bool,
    pub(crate) header_timeout: Duration,
    pub(crate) max_header_size: usize,
    pub(crate) body_idle_timeout: Option<Duration>,
}

#[cfg(test)]
mod tests;
