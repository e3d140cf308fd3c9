//! Status <-> trailers: `grpc-status`, the percent-encoded `grpc-message`,
//! `grpc-status-details-bin`, and the maps from HTTP status codes and HTTP/2 errors to gRPC
//! codes. The one place that writes `grpc-status`.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};

use super::names;
use crate::{Code, Status};

/// Writes `status` into a trailer (or trailers-only) map, after the status's own trailing
/// metadata.
pub(crate) fn write_status(status: &Status, headers: &mut HeaderMap) {
    let (metadata, code, message, details) = status.parts_for_wire();
    metadata.write_to(headers);
    headers.insert(names::GRPC_STATUS, code.header_value());
    if !message.is_empty() {
        let encoded = percent_encode(message);
        // Percent-encoding leaves only visible ASCII, which is always a valid value.
        if let Ok(v) = HeaderValue::from_maybe_shared(encoded) {
            headers.insert(names::GRPC_MESSAGE, v);
        }
    }
    if !details.is_empty() {
        headers.insert(
            names::GRPC_STATUS_DETAILS,
            crate::metadata::encode_binary(details),
        );
    }
}

/// Writes an OK status: the success path builds no `Status`.
pub(crate) fn write_ok(headers: &mut HeaderMap) {
    headers.insert(names::GRPC_STATUS, HeaderValue::from_static("0"));
}

/// True when `headers` carry `grpc-status: 0`.
pub(crate) fn is_ok(headers: &HeaderMap) -> bool {
    headers
        .get(names::GRPC_STATUS)
        .is_some_and(|v| v.as_bytes() == b"0")
}

/// The status a client reports for a non-200 HTTP response without `grpc-status`
/// (PROTOCOL-HTTP2 and `doc/http-grpc-status-mapping.md`).
pub(crate) fn status_from_http(status: http::StatusCode) -> Status {
    let code = match status.as_u16() {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    };
    Status::new(code, format!("HTTP status {status} without a gRPC status"))
}

/// Maps an `h2` error to the status the spec assigns to its HTTP/2 error code
/// (PROTOCOL-HTTP2, "Errors"), keeping the error as the source.
pub(crate) fn status_from_h2(err: h2::Error) -> Status {
    if let Some(reason) = err.reason() {
        let code = match reason {
            h2::Reason::CANCEL => Code::Cancelled,
            h2::Reason::REFUSED_STREAM => Code::Unavailable,
            h2::Reason::ENHANCE_YOUR_CALM => Code::ResourceExhausted,
            h2::Reason::INADEQUATE_SECURITY => Code::PermissionDenied,
            _ if err.is_go_away() => Code::Unavailable,
            _ => Code::Internal,
        };
        let hint = if reason == h2::Reason::FRAME_SIZE_ERROR && err.is_library() {
            // What a plaintext client reads when a TLS server answers its preface with an
            // alert record (0x15 0x03 0x03 …): a "frame" 1.3 MB long.
            " (if the server speaks TLS, connect with https://)"
        } else {
            ""
        };
        let mut status = Status::new(code, format!("stream error: {err}{hint}"));
        if err.is_go_away() {
            status = status.into_connection_error();
        }
        return status.with_source(err);
    }
    if err.is_io() || err.is_go_away() {
        // A TLS alert after the handshake (say, a server refusing this client's certificate
        // in TLS 1.3) arrives as an I/O error on the first read: say what it means.
        #[cfg(feature = "_tls")]
        if let Some(why) = err.get_io().and_then(crate::transport::tls::explain_io) {
            return Status::connection(format!("connection error: {why}"), err);
        }
        return Status::connection(format!("connection error: {err}"), err);
    }
    // Misuse of a closed stream and similar library errors: a bug or a race, not a
    // network failure.
    Status::internal(format!("HTTP/2 error: {err}")).with_source(err)
}

/// Percent-encodes a `grpc-message`: every byte outside visible ASCII 0x20..=0x7E, and `%`
/// itself, becomes `%XX` (PROTOCOL-HTTP2, "Responses").
pub(crate) fn percent_encode(message: &str) -> Bytes {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = message.as_bytes();
    if bytes
        .iter()
        .all(|&b| (0x20..=0x7e).contains(&b) && b != b'%')
    {
        return Bytes::copy_from_slice(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
    Bytes::from(out)
}

/// Decodes a percent-encoded `grpc-message`. Malformed escapes are kept verbatim, as the spec
/// asks receivers to be lenient; invalid UTF-8 is replaced rather than rejected.
pub(crate) fn percent_decode(value: &[u8]) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'%' && i + 2 < value.len() {
            if let (Some(h), Some(l)) = (hex(value[i + 1]), hex(value[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(value[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses_map_per_the_spec() {
        for (http, code) in [
            (400, Code::Internal),
            (401, Code::Unauthenticated),
            (403, Code::PermissionDenied),
            (404, Code::Unimplemented),
            (429, Code::Unavailable),
            (502, Code::Unavailable),
            (503, Code::Unavailable),
            (504, Code::Unavailable),
            (500, Code::Unknown),
        ] {
            let status = http::StatusCode::from_u16(http).expect("valid");
            assert_eq!(status_from_http(status).code(), code, "{http}");
        }
    }

    #[test]
    fn rst_stream_codes_map_per_the_spec() {
        for (reason, code) in [
            (h2::Reason::CANCEL, Code::Cancelled),
            (h2::Reason::REFUSED_STREAM, Code::Unavailable),
            (h2::Reason::ENHANCE_YOUR_CALM, Code::ResourceExhausted),
            (h2::Reason::INADEQUATE_SECURITY, Code::PermissionDenied),
            (h2::Reason::PROTOCOL_ERROR, Code::Internal),
        ] {
            assert_eq!(status_from_h2(reason.into()).code(), code, "{reason:?}");
        }
    }

    #[test]
    fn ok_is_written_once_and_read_back() {
        let mut headers = HeaderMap::new();
        write_ok(&mut headers);
        assert!(is_ok(&headers));
        assert_eq!(headers.len(), 1);
    }
}
