//! gRPC request and response heads (PROTOCOL-HTTP2, "Requests" and "Responses"): pure
//! functions over `http` types, tested without sockets.

use std::time::Duration;

use http::header::{HeaderValue, CONTENT_TYPE, TE, USER_AGENT};
use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use http::{HeaderMap, Method, StatusCode};
use tokio::time::Instant;

use super::names;
use super::timeout;
use crate::codec::compression::{Accepted, ACCEPT_ENCODING};
use crate::codec::CompressionEncoding;
use crate::metadata::MetadataMap;
use crate::{Code, Status};

/// What the server needs from a valid request head.
#[derive(Debug)]
pub(crate) struct CallHead {
    /// From `grpc-timeout`, as an instant on this host.
    pub(crate) deadline: Option<Instant>,
    /// The request's `grpc-encoding` (`None`: identity).
    pub(crate) encoding: Option<CompressionEncoding>,
    /// The client's `grpc-accept-encoding`.
    pub(crate) accepted: Accepted,
}

/// A request refused from its head alone, answered at once.
#[derive(Debug)]
pub(crate) struct Rejection {
    http: StatusCode,
    status: Status,
    /// Tell the client what we can decode (compression spec, "Negotiation").
    accept_encoding: bool,
}

impl Rejection {
    fn new(http: StatusCode, status: Status) -> Rejection {
        Rejection {
            http,
            status,
            accept_encoding: false,
        }
    }

    /// The trailers-only response that answers the request.
    pub(crate) fn into_response(self) -> http::Response<()> {
        let mut response = trailers_only(&self.status);
        if self.accept_encoding {
            response.headers_mut().insert(
                names::GRPC_ACCEPT_ENCODING,
                HeaderValue::from_static(ACCEPT_ENCODING),
            );
        }
        *response.status_mut() = self.http;
        response
    }
}

/// Validates a request head: the method, `content-type`, `grpc-timeout` and `grpc-encoding`.
pub(crate) fn parse_request(method: &Method, headers: &HeaderMap) -> Result<CallHead, Rejection> {
    if method != Method::POST {
        return Err(Rejection::new(
            StatusCode::METHOD_NOT_ALLOWED,
            Status::internal(format!("method {method} is not POST")),
        ));
    }
    let head = GrpcHeaders::find(headers);
    match head.content_type.map(|v| content_subtype(v.as_bytes())) {
        Some(Subtype::Proto) => {}
        Some(Subtype::Other) => {
            // A gRPC request in a codec we do not serve (`application/grpc+json`): decoding
            // it as protobuf would hand the handler garbage. grpc-go answers the same way
            // ("no codec registered for content-subtype").
            let content_type = head.content_type.map(|v| v.as_bytes()).unwrap_or_default();
            return Err(Rejection::new(
                StatusCode::OK,
                Status::internal(format!(
                    "no codec for content-type {:?}; this server speaks application/grpc+proto",
                    String::from_utf8_lossy(content_type)
                )),
            ));
        }
        Some(Subtype::NotGrpc) | None => {
            // The spec asks for 415 so that non-gRPC clients understand the refusal.
            return Err(Rejection::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Status::internal("invalid gRPC request content-type"),
            ));
        }
    }
    let deadline = match head.timeout {
        None => None,
        Some(value) => match timeout::parse(value.as_bytes()) {
            Some(t) => Some(Instant::now().checked_add(t).unwrap_or_else(far_future)),
            None => {
                return Err(Rejection::new(
                    StatusCode::OK,
                    Status::internal(format!(
                        "malformed grpc-timeout: {:?}",
                        String::from_utf8_lossy(value.as_bytes())
                    )),
                ))
            }
        },
    };
    let encoding = match head.encoding {
        None => None,
        Some(value) => match CompressionEncoding::parse(value.as_bytes()) {
            Ok(encoding) => encoding,
            Err(()) => {
                let mut rejection = Rejection::new(
                    StatusCode::OK,
                    Status::unimplemented(format!(
                        "unsupported grpc-encoding {:?}",
                        String::from_utf8_lossy(value.as_bytes())
                    )),
                );
                rejection.accept_encoding = true;
                return Err(rejection);
            }
        },
    };
    Ok(CallHead {
        deadline,
        encoding,
        accepted: Accepted::parse(head.accept_encoding),
    })
}

/// A gRPC request head (PROTOCOL-HTTP2, "Requests"): `POST` to `path` on `authority`,
/// carrying the call's metadata in `headers`, its remaining time as `grpc-timeout`, and the
/// request encoding.
pub(crate) fn request_head(
    scheme: &Scheme,
    authority: &Authority,
    path: &'static str,
    mut headers: HeaderMap,
    user_agent: &HeaderValue,
    encoding: Option<CompressionEncoding>,
    timeout: Option<Duration>,
) -> Result<http::Request<()>, Status> {
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(scheme.clone());
    parts.authority = Some(authority.clone());
    parts.path_and_query = Some(PathAndQuery::from_static(path));
    let uri = Uri::from_parts(parts)
        .map_err(|e| Status::internal(format!("invalid method path {path:?}: {e}")))?;
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(TE, HeaderValue::from_static("trailers"));
    headers.insert(USER_AGENT, user_agent.clone());
    headers.insert(
        names::GRPC_ACCEPT_ENCODING,
        HeaderValue::from_static(ACCEPT_ENCODING),
    );
    if let Some(encoding) = encoding {
        headers.insert(names::GRPC_ENCODING, encoding.header_value());
    }
    if let Some(timeout) = timeout {
        headers.insert(names::GRPC_TIMEOUT, timeout::format(timeout));
    }
    let mut request = http::Request::new(());
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri;
    *request.version_mut() = http::Version::HTTP_2;
    *request.headers_mut() = headers;
    Ok(request)
}

/// A `200 OK` gRPC response head carrying `headers`.
pub(crate) fn response_head(mut headers: HeaderMap) -> http::Response<()> {
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    let mut response = http::Response::new(());
    *response.headers_mut() = headers;
    response
}

/// A response that is only a HEADERS frame with END_STREAM, carrying the status
/// (PROTOCOL-HTTP2, "Trailers-Only").
pub(crate) fn trailers_only(status: &Status) -> http::Response<()> {
    let mut headers = HeaderMap::new();
    super::write_status(status, &mut headers);
    response_head(headers)
}

/// What a client makes of a response head.
#[derive(Debug)]
pub(crate) enum ResponseHead {
    /// Messages follow; the header metadata.
    Body(MetadataMap),
    /// The head carries the status: trailers-only.
    TrailersOnly(HeaderMap),
    /// Not a gRPC response, or a failed one.
    Error(Status),
}

/// Validates response headers (PROTOCOL-HTTP2, "Responses").
pub(crate) fn parse_response_head(parts: http::response::Parts, end_stream: bool) -> ResponseHead {
    let has_status = parts.headers.contains_key(names::GRPC_STATUS);
    if parts.status != StatusCode::OK {
        return ResponseHead::Error(match Status::from_trailers(parts.headers) {
            Some(status) if status.code() != Code::Ok => status,
            _ => super::status_from_http(parts.status),
        });
    }
    let grpc_content = parts
        .headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if !grpc_content {
        return ResponseHead::Error(Status::unknown(
            "response content-type is not application/grpc",
        ));
    }
    if has_status || end_stream {
        return ResponseHead::TrailersOnly(parts.headers);
    }
    ResponseHead::Body(MetadataMap::from_headers(parts.headers))
}

/// The request headers dispatch looks at, found in one pass over the map: four hashed
/// lookups cost about three times as much for the handful of headers a call carries.
struct GrpcHeaders<'a> {
    content_type: Option<&'a HeaderValue>,
    timeout: Option<&'a HeaderValue>,
    encoding: Option<&'a HeaderValue>,
    accept_encoding: Option<&'a HeaderValue>,
}

impl<'a> GrpcHeaders<'a> {
    fn find(headers: &'a HeaderMap) -> GrpcHeaders<'a> {
        let mut found = GrpcHeaders {
            content_type: None,
            timeout: None,
            encoding: None,
            accept_encoding: None,
        };
        for (name, value) in headers {
            let slot = if name == CONTENT_TYPE {
                &mut found.content_type
            } else if name == names::GRPC_TIMEOUT {
                &mut found.timeout
            } else if name == names::GRPC_ENCODING {
                &mut found.encoding
            } else if name == names::GRPC_ACCEPT_ENCODING {
                &mut found.accept_encoding
            } else {
                continue;
            };
            // The first value counts, as with `HeaderMap::get`.
            slot.get_or_insert(value);
        }
        found
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

/// What a request's `content-type` asks for (PROTOCOL-HTTP2: `application/grpc` followed by
/// an optional `+subtype` and parameters).
#[derive(Debug, PartialEq, Eq)]
enum Subtype {
    /// `application/grpc` or `application/grpc+proto`: the protobuf codec.
    Proto,
    /// `application/grpc+<anything else>`.
    Other,
    /// Not a gRPC content-type at all.
    NotGrpc,
}

fn content_subtype(value: &[u8]) -> Subtype {
    let Some(rest) = value.strip_prefix(b"application/grpc") else {
        return Subtype::NotGrpc;
    };
    let rest = match rest.iter().position(|&b| b == b';') {
        Some(i) => &rest[..i],
        None => rest,
    };
    match rest.trim_ascii_end() {
        b"" | b"+proto" => Subtype::Proto,
        sub if sub.starts_with(b"+") && sub.len() > 1 => Subtype::Other,
        _ => Subtype::NotGrpc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.append(*k, HeaderValue::from_static(v));
        }
        headers
    }

    const GRPC: (&str, &str) = ("content-type", "application/grpc");

    #[test]
    fn a_valid_head_parses() {
        let h = head(&[GRPC, ("grpc-timeout", "1S"), ("grpc-encoding", "gzip")]);
        let call = parse_request(&Method::POST, &h).expect("valid");
        assert!(call.deadline.is_some());
        assert_eq!(call.encoding, Some(CompressionEncoding::Gzip));
    }

    #[test]
    fn bad_heads_are_rejected_with_the_right_answer() {
        let cases = [
            (Method::GET, head(&[GRPC]), 405, "13"),
            (
                Method::POST,
                head(&[("content-type", "application/json")]),
                415,
                "13",
            ),
            (Method::POST, head(&[]), 415, "13"),
            (
                Method::POST,
                head(&[("content-type", "application/grpc+json")]),
                200,
                "13",
            ),
            (
                Method::POST,
                head(&[GRPC, ("grpc-timeout", "12x")]),
                200,
                "13",
            ),
            (
                Method::POST,
                head(&[GRPC, ("grpc-encoding", "snappy")]),
                200,
                "12",
            ),
        ];
        for (method, headers, http, code) in cases {
            let response = parse_request(&method, &headers)
                .expect_err("rejected")
                .into_response();
            assert_eq!(response.status().as_u16(), http, "{headers:?}");
            assert_eq!(response.headers()["grpc-status"], code, "{headers:?}");
        }
        let response = parse_request(&Method::POST, &head(&[GRPC, ("grpc-encoding", "x")]))
            .expect_err("rejected")
            .into_response();
        assert!(response.headers().contains_key("grpc-accept-encoding"));
    }

    #[test]
    fn content_types() {
        for proto in [
            &b"application/grpc"[..],
            b"application/grpc+proto",
            b"application/grpc;charset=utf-8",
            b"application/grpc+proto; x=y",
        ] {
            assert_eq!(content_subtype(proto), Subtype::Proto);
        }
        for other in [
            &b"application/grpc+json"[..],
            b"application/grpc+thrift;a=b",
        ] {
            assert_eq!(content_subtype(other), Subtype::Other);
        }
        for not in [
            &b"application/json"[..],
            b"application/grpcx",
            b"application/grpc+",
            b"application/grpc-web",
            b"",
        ] {
            assert_eq!(content_subtype(not), Subtype::NotGrpc);
        }
    }

    #[test]
    fn response_heads() {
        let ok = http::Response::builder()
            .header("content-type", "application/grpc")
            .body(())
            .expect("response")
            .into_parts()
            .0;
        assert!(matches!(
            parse_response_head(ok, false),
            ResponseHead::Body(_)
        ));
        let proxy = http::Response::builder()
            .status(503)
            .body(())
            .expect("response")
            .into_parts()
            .0;
        match parse_response_head(proxy, true) {
            ResponseHead::Error(status) => assert_eq!(status.code(), Code::Unavailable),
            other => panic!("{other:?}"),
        }
    }
}
