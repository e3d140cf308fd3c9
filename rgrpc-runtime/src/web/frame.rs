//! The gRPC-Web wire format as a delta to native gRPC (PROTOCOL-WEB, "Protocol differences"):
//! content types, the trailer frame at the end of the body, and the translation of a web
//! request head into a native one and of a native response head back. Pure functions over
//! `http` types and bytes.

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{self, HeaderName, HeaderValue};
use http::HeaderMap;

use crate::metadata::names;

/// The flag byte of the trailer frame: the MSB set, uncompressed (PROTOCOL-WEB, "Message
/// framing": `10000000b`).
pub(crate) const TRAILER_FLAG: u8 = 0x80;

/// How a body is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `application/grpc-web`: the same length-prefixed frames as native gRPC.
    Binary,
    /// `application/grpc-web-text`: those frames in base64.
    Text,
}

/// A gRPC-Web request's `content-type`, understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WebType<'a> {
    pub(crate) mode: Mode,
    /// The message format after `+` (`proto`, `json`, …); empty when not given, which means
    /// protobuf (PROTOCOL-HTTP2).
    pub(crate) subtype: &'a [u8],
}

impl WebType<'_> {
    /// The native `content-type` for the same message format.
    pub(crate) fn native(&self) -> HeaderValue {
        match self.subtype {
            b"" | b"proto" => HeaderValue::from_static("application/grpc+proto"),
            other => {
                let mut v = Vec::with_capacity(17 + other.len());
                v.extend_from_slice(b"application/grpc+");
                v.extend_from_slice(other);
                // `parse` only lets token characters through, all valid in a value.
                HeaderValue::from_bytes(&v)
                    .unwrap_or(HeaderValue::from_static("application/grpc+invalid"))
            }
        }
    }

    /// The `content-type` of a response in `mode` carrying this message format.
    pub(crate) fn response(&self, mode: Mode) -> HeaderValue {
        match (mode, self.subtype) {
            (Mode::Binary, b"" | b"proto") => {
                HeaderValue::from_static("application/grpc-web+proto")
            }
            (Mode::Text, b"" | b"proto") => {
                HeaderValue::from_static("application/grpc-web-text+proto")
            }
            (mode, other) => {
                let base: &[u8] = match mode {
                    Mode::Binary => b"application/grpc-web+",
                    Mode::Text => b"application/grpc-web-text+",
                };
                let v = [base, other].concat();
                HeaderValue::from_bytes(&v)
                    .unwrap_or(HeaderValue::from_static("application/grpc-web+proto"))
            }
        }
    }
}

/// Parses a gRPC-Web `content-type`: `application/grpc-web` or `application/grpc-web-text`
/// (also spelled `application/grpc-web-text-base64`), then an optional `+format`, then
/// optional parameters. Media types are case-insensitive (RFC 9110 §8.3.1). `None` for
/// anything else, native gRPC included.
pub(crate) fn parse_content_type(value: &[u8]) -> Option<WebType<'_>> {
    let rest = strip_prefix_ignore_case(value, b"application/grpc-web")?;
    let (mode, rest) = match strip_prefix_ignore_case(rest, b"-text-base64")
        .or_else(|| strip_prefix_ignore_case(rest, b"-text"))
    {
        Some(rest) => (Mode::Text, rest),
        None => (Mode::Binary, rest),
    };
    let essence = match rest.iter().position(|&b| b == b';') {
        Some(i) => &rest[..i],
        None => rest,
    }
    .trim_ascii_end();
    let subtype = match essence {
        b"" => essence,
        [b'+', format @ ..] if !format.is_empty() && format.iter().all(|&b| is_token(b)) => format,
        _ => return None,
    };
    Some(WebType { mode, subtype })
}

fn strip_prefix_ignore_case<'a>(value: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    match value.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => Some(&value[prefix.len()..]),
        _ => None,
    }
}

/// RFC 9110 `tchar`.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The response mode a request asks for. PROTOCOL-WEB has the client say so in `Accept`
/// ("Accept: application/grpc-web-text"), as Envoy and tonic-web read it; a request that
/// names neither gRPC-Web type there gets its own mode back.
pub(crate) fn response_mode(request: Mode, accept: Option<&HeaderValue>) -> Mode {
    let Some(accept) = accept else {
        return request;
    };
    let mut binary = false;
    for item in accept.as_bytes().split(|&b| b == b',') {
        match parse_content_type(item.trim_ascii()) {
            Some(WebType {
                mode: Mode::Text, ..
            }) => return Mode::Text,
            Some(_) => binary = true,
            None => {}
        }
    }
    if binary {
        Mode::Binary
    } else {
        request
    }
}

/// The trailer frame: the call's trailers as an HTTP/1 header block without the final empty
/// line, after a 5-byte prefix with the flag [`TRAILER_FLAG`] (PROTOCOL-WEB, "Message
/// framing"). `grpc-status`, `grpc-message` and `grpc-status-details-bin` come first, then
/// the metadata in the order received; `name:value` with no space, as Envoy and tonic-web
/// write it. Header values never hold CR or LF, so the block cannot be broken by one.
pub(crate) fn trailer_frame(trailers: &HeaderMap) -> Bytes {
    let len: usize = trailers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 3)
        .sum();
    let mut out = BytesMut::with_capacity(5 + len);
    out.put_u8(TRAILER_FLAG);
    out.put_u32(0); // patched below
    let first = [
        names::GRPC_STATUS,
        names::GRPC_MESSAGE,
        names::GRPC_STATUS_DETAILS,
    ];
    for name in &first {
        for value in trailers.get_all(name) {
            put_line(&mut out, name, value);
        }
    }
    for (name, value) in trailers {
        if !first.contains(name) {
            put_line(&mut out, name, value);
        }
    }
    let body_len = u32::try_from(out.len() - 5).unwrap_or(u32::MAX);
    out[1..5].copy_from_slice(&body_len.to_be_bytes());
    out.freeze()
}

fn put_line(out: &mut BytesMut, name: &HeaderName, value: &HeaderValue) {
    out.put_slice(name.as_str().as_bytes());
    out.put_u8(b':');
    out.put_slice(value.as_bytes());
    out.put_slice(b"\r\n");
}

/// Headers that belong to one HTTP/1.1 connection or to the web framing, never forwarded
/// into the native call: HTTP/2 forbids the connection-specific ones (RFC 9113 §8.2.2), and
/// `content-type`, `te`, `host` and `content-length` are set or implied by the native request.
const NOT_FORWARDED: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::TE,
    header::HOST,
    header::CONTENT_LENGTH,
    header::CONTENT_TYPE,
];

/// The native request head for a web request's headers: every header but the
/// connection-specific ones (and those the `Connection` header names, RFC 9110 §7.6.1)
/// becomes metadata, as a proxy would forward it; `content-type` is the native one and
/// `te: trailers` is added (PROTOCOL-HTTP2, "Requests").
pub(crate) fn native_request_headers(web: &HeaderMap, content_type: HeaderValue) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(web.len() + 2);
    out.insert(header::CONTENT_TYPE, content_type);
    out.insert(header::TE, HeaderValue::from_static("trailers"));
    for (name, value) in web {
        if NOT_FORWARDED.contains(name) || named_by_connection(web, name) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

fn named_by_connection(headers: &HeaderMap, name: &HeaderName) -> bool {
    headers.get_all(header::CONNECTION).iter().any(|v| {
        v.as_bytes().split(|&b| b == b',').any(|token| {
            token
                .trim_ascii()
                .eq_ignore_ascii_case(name.as_str().as_bytes())
        })
    })
}

/// The web response head for a native one: the same headers (metadata, `grpc-encoding`,
/// and, in a trailers-only response, the status: PROTOCOL-WEB, "Trailers-only responses:
/// no change") with the web `content-type`.
pub(crate) fn web_response_headers(mut native: HeaderMap, content_type: HeaderValue) -> HeaderMap {
    native.insert(header::CONTENT_TYPE, content_type);
    native
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let web = |v: &'static [u8]| parse_content_type(v);
        let t = |mode, subtype: &'static [u8]| Some(WebType { mode, subtype });
        assert_eq!(web(b"application/grpc-web"), t(Mode::Binary, b""));
        assert_eq!(
            web(b"application/grpc-web+proto"),
            t(Mode::Binary, b"proto")
        );
        assert_eq!(web(b"application/grpc-web+json"), t(Mode::Binary, b"json"));
        assert_eq!(web(b"application/grpc-web-text"), t(Mode::Text, b""));
        assert_eq!(
            web(b"application/grpc-web-text+proto"),
            t(Mode::Text, b"proto")
        );
        assert_eq!(web(b"application/grpc-web-text-base64"), t(Mode::Text, b""));
        assert_eq!(
            web(b"Application/gRPC-Web-Text+proto"),
            t(Mode::Text, b"proto")
        );
        assert_eq!(
            web(b"application/grpc-web+proto; charset=utf-8"),
            t(Mode::Binary, b"proto")
        );
        for not in [
            &b"application/grpc"[..],
            b"application/grpc+proto",
            b"application/grpc-webx",
            b"application/grpc-web+",
            b"application/grpc-web-textual",
            b"application/grpc-web+pro to",
            b"application/grpc-we",
            b"",
        ] {
            assert_eq!(web(not), None, "{:?}", String::from_utf8_lossy(not));
        }
    }

    #[test]
    fn native_and_response_types() {
        let binary = parse_content_type(b"application/grpc-web").unwrap();
        assert_eq!(binary.native(), "application/grpc+proto");
        assert_eq!(binary.response(Mode::Binary), "application/grpc-web+proto");
        assert_eq!(
            binary.response(Mode::Text),
            "application/grpc-web-text+proto"
        );
        let json = parse_content_type(b"application/grpc-web-text+json").unwrap();
        assert_eq!(json.native(), "application/grpc+json");
        assert_eq!(json.response(Mode::Text), "application/grpc-web-text+json");
    }

    #[test]
    fn accept_decides_the_response_mode() {
        let accept = |v: &'static str| Some(HeaderValue::from_static(v));
        assert_eq!(response_mode(Mode::Text, None), Mode::Text);
        assert_eq!(response_mode(Mode::Binary, None), Mode::Binary);
        let text = accept("application/grpc-web-text");
        assert_eq!(response_mode(Mode::Binary, text.as_ref()), Mode::Text);
        let binary = accept("application/grpc-web+proto");
        assert_eq!(response_mode(Mode::Text, binary.as_ref()), Mode::Binary);
        let any = accept("*/*");
        assert_eq!(response_mode(Mode::Text, any.as_ref()), Mode::Text);
        let both = accept("application/grpc-web, application/grpc-web-text");
        assert_eq!(response_mode(Mode::Binary, both.as_ref()), Mode::Text);
    }

    #[test]
    fn trailer_frame_is_byte_exact() {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-trailer-bin", HeaderValue::from_static("AAE"));
        trailers.insert("grpc-message", HeaderValue::from_static("no%20way"));
        trailers.insert("grpc-status", HeaderValue::from_static("5"));
        let frame = trailer_frame(&trailers);
        let block = b"grpc-status:5\r\ngrpc-message:no%20way\r\nx-trailer-bin:AAE\r\n";
        let mut expected = vec![0x80, 0, 0, 0, block.len() as u8];
        expected.extend_from_slice(block);
        assert_eq!(&frame[..], &expected[..]);
        // An empty trailer map still ends the body with a (empty) trailer frame.
        assert_eq!(&trailer_frame(&HeaderMap::new())[..], &[0x80, 0, 0, 0, 0]);
    }

    #[test]
    fn request_headers_lose_what_belongs_to_the_connection() {
        let mut web = HeaderMap::new();
        for (k, v) in [
            ("host", "example.com"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "dropped"),
            ("keep-alive", "timeout=5"),
            ("content-length", "12"),
            ("content-type", "application/grpc-web-text"),
            ("transfer-encoding", "chunked"),
            ("te", "gzip"),
            ("x-user-agent", "grpc-web-javascript/0.1"),
            ("grpc-timeout", "1S"),
            ("x-md-bin", "AAE"),
            ("x-md", "a"),
        ] {
            web.append(k, HeaderValue::from_static(v));
        }
        web.append("x-md", HeaderValue::from_static("b"));
        let native =
            native_request_headers(&web, HeaderValue::from_static("application/grpc+proto"));
        let mut got: Vec<(String, String)> = native
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        got.sort();
        let mut want: Vec<(String, String)> = [
            ("content-type", "application/grpc+proto"),
            ("te", "trailers"),
            ("x-user-agent", "grpc-web-javascript/0.1"),
            ("grpc-timeout", "1S"),
            ("x-md-bin", "AAE"),
            ("x-md", "a"),
            ("x-md", "b"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        want.sort();
        assert_eq!(got, want);
    }
}
