//! Entry points for the fuzz targets in `rgrpc-runtime/fuzz/` and for the test that replays
//! their corpora on stable (`tests/fuzz_corpora.rs`). Each takes arbitrary bytes, drives one
//! parser the network feeds, and checks what must hold for any input (no panic, limits
//! kept, round trips exact). Behind the `fuzzing` feature and hidden: not an API.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};

use crate::codec::compression::{self, CompressionEncoding};
use crate::codec::framing::{FrameDecoder, RawMessage};
use crate::wire::{self, timeout};
use crate::{metadata, Status};

/// A fuzz target's entry point.
pub type Entry = fn(&[u8]);

/// Every entry point, by the name of its fuzz target and corpus directory.
pub const TARGETS: &[(&str, Entry)] = &[
    ("framing", framing),
    ("timeout", grpc_timeout),
    ("grpc_message", grpc_message),
    ("metadata_bin", metadata_bin),
    ("decompress", decompress),
    ("request_head", request_head),
    ("response_head", response_head),
];

/// The framing decoder: `data[0]` picks the size limit, `data[1]` how the rest is cut into
/// chunks. Cut any way, the rest decodes to the same messages and the same first error as
/// when it arrives in one chunk, and no message exceeds the limit.
pub fn framing(data: &[u8]) {
    let [limit, step, rest @ ..] = data else {
        return;
    };
    let max = usize::from(*limit) * 64;
    let step = 1 + usize::from(*step) % 41;
    let whole = decode_chunks(max, [rest].into_iter());
    let cut = decode_chunks(max, rest.chunks(step));
    assert_eq!(whole, cut, "step {step}");
    for message in &whole.0 {
        assert!(message.data.len() <= max);
    }
}

type Decoded = (Vec<RawMessage>, Option<crate::Code>, bool);

fn decode_chunks<'a>(max: usize, chunks: impl Iterator<Item = &'a [u8]>) -> Decoded {
    let mut decoder = FrameDecoder::new(max);
    let mut out = Vec::new();
    let mut pushed = 0;
    for chunk in chunks {
        pushed += chunk.len();
        decoder.push(Bytes::copy_from_slice(chunk));
        loop {
            match decoder.next_message() {
                Ok(Some(message)) => out.push(message),
                Ok(None) => break,
                Err(status) => return (out, Some(status.code()), true),
            }
        }
        // What is held grows with what arrived, never with what a prefix announced.
        assert!(
            decoder.buffered() <= 2 * pushed + 64,
            "{} held",
            decoder.buffered()
        );
    }
    let partial = decoder.has_partial();
    (out, None, partial)
}

/// `grpc-timeout`: a value that parses formats back to one that parses to no less; any
/// duration (from the first 12 bytes) formats to a valid value of at most 9 bytes.
pub fn grpc_timeout(data: &[u8]) {
    if let Some(parsed) = timeout::parse(data) {
        let formatted = timeout::format(parsed);
        let again = timeout::parse(formatted.as_bytes());
        assert!(again.is_some_and(|again| again >= parsed || again == max_timeout()));
    }
    if data.len() >= 12 {
        let secs = u64::from_le_bytes(data[..8].try_into().unwrap_or_default());
        let nanos = u32::from_le_bytes(data[8..12].try_into().unwrap_or_default()) % 1_000_000_000;
        let d = Duration::new(secs, nanos);
        let formatted = timeout::format(d);
        assert!(formatted.len() <= 9, "{formatted:?}");
        let back = timeout::parse(formatted.as_bytes());
        assert!(
            back.is_some_and(|back| back >= d.min(max_timeout())),
            "{d:?} {formatted:?}"
        );
    }
}

fn max_timeout() -> Duration {
    Duration::from_secs(99_999_999 * 3600)
}

/// `grpc-message`: decoding is total; decode(encode(decode(x))) == decode(x), and what
/// encoding writes is always a valid header value.
pub fn grpc_message(data: &[u8]) {
    let decoded = wire::percent_decode(data);
    let encoded = wire::percent_encode(&decoded);
    assert!(HeaderValue::from_maybe_shared(encoded.clone()).is_ok());
    assert_eq!(wire::percent_decode(&encoded), decoded);
}

/// `-bin` metadata values: base64, padded or not. What decodes re-encodes to a value that
/// decodes to the same bytes, and any bytes round-trip.
pub fn metadata_bin(data: &[u8]) {
    if let Some(bytes) = metadata::decode_binary(data) {
        let encoded = metadata::encode_binary(&bytes);
        assert_eq!(metadata::decode_binary(encoded.as_bytes()), Some(bytes));
    }
    let encoded = metadata::encode_binary(data);
    assert_eq!(
        metadata::decode_binary(encoded.as_bytes()).as_deref(),
        Some(data)
    );
}

/// Decompression: `data[0]` picks gzip or deflate and a limit; the rest is decompressed
/// within it (never more) and, compressed, round-trips.
pub fn decompress(data: &[u8]) {
    let [pick, rest @ ..] = data else {
        return;
    };
    let encoding = if pick & 1 == 0 {
        CompressionEncoding::Gzip
    } else {
        CompressionEncoding::Deflate
    };
    let max = usize::from(pick >> 1) * 512;
    if let Ok(out) = compression::decompress(encoding, rest, max) {
        assert!(out.len() <= max);
    }
    let mut packed = BytesMut::new();
    if compression::compress(encoding, rest, &mut packed).is_ok() {
        let back = compression::decompress(encoding, &packed, rest.len());
        assert_eq!(back.ok().as_deref(), Some(rest));
    }
}

/// Lines of `name: value` (the first line is the method or status) as a header map; lines
/// that are not a valid name and value are skipped.
fn head(data: &[u8]) -> (&[u8], HeaderMap) {
    let mut lines = data.split(|&b| b == b'\n');
    let first = lines.next().unwrap_or_default();
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    (first, headers)
}

/// The server's request-head check (`wire::parse_request`) on a method line and headers
/// (`content-type`, `grpc-timeout`, `grpc-encoding`, `grpc-accept-encoding`, metadata): a
/// refusal is always a well-formed answer carrying a gRPC status.
pub fn request_head(data: &[u8]) {
    let (method, headers) = head(data);
    let Ok(method) = Method::from_bytes(method) else {
        return;
    };
    if let Err(rejection) = wire::parse_request(&method, &headers) {
        let response = rejection.into_response();
        assert!(matches!(response.status().as_u16(), 200 | 405 | 415));
        assert!(response.headers().contains_key("grpc-status"));
    }
}

/// The client's response-head and trailer parsing on a status line and headers.
pub fn response_head(data: &[u8]) {
    let (status, headers) = head(data);
    let end_stream = status.first().is_some_and(|b| b & 1 == 1);
    let code = std::str::from_utf8(status)
        .ok()
        .and_then(|s| s.trim().parse::<u16>().ok())
        .and_then(|n| StatusCode::from_u16(n).ok())
        .unwrap_or(StatusCode::OK);
    let mut response = http::Response::new(());
    *response.status_mut() = code;
    *response.headers_mut() = headers.clone();
    let (parts, ()) = response.into_parts();
    let _ = wire::parse_response_head(parts, end_stream);
    if let Some(status) = Status::from_trailers(headers) {
        // The message and details survive a trip back onto the wire.
        let mut trailers = HeaderMap::new();
        wire::write_status(&status, &mut trailers);
        let again = Status::from_trailers(trailers);
        assert_eq!(again.as_ref().map(Status::code), Some(status.code()));
        assert_eq!(again.as_ref().map(Status::message), Some(status.message()));
    }
}
