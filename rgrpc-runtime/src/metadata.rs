//! Custom metadata: the headers and trailers an application sends and receives with a call.
//!
//! Keys ending in `-bin` carry binary values, base64-encoded on the wire; all other keys carry
//! printable ASCII. Headers that belong to the gRPC protocol itself (`content-type`, `te`,
//! `grpc-*`, …) are never exposed through iteration and never sent from user metadata.

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

/// The protocol's header names, built once: a `&'static str` key is parsed on every use.
pub(crate) mod names {
    use http::header::HeaderName;

    pub(crate) const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
    pub(crate) const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
    pub(crate) const GRPC_STATUS_DETAILS: HeaderName =
        HeaderName::from_static("grpc-status-details-bin");
    pub(crate) const GRPC_ENCODING: HeaderName = HeaderName::from_static("grpc-encoding");
    pub(crate) const GRPC_ACCEPT_ENCODING: HeaderName =
        HeaderName::from_static("grpc-accept-encoding");
    pub(crate) const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
}

/// Accepts padded and unpadded input and emits unpadded output, as PROTOCOL-HTTP2 asks.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a key or value was refused by [`MetadataMap`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidMetadata(&'static str);

impl InvalidMetadata {
    pub(crate) fn new(why: &'static str) -> InvalidMetadata {
        InvalidMetadata(why)
    }
}

impl fmt::Display for InvalidMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for InvalidMetadata {}

/// A multimap of metadata keys to ASCII or binary values.
///
/// ```
/// use rgrpc_runtime::MetadataMap;
///
/// let mut md = MetadataMap::new();
/// md.insert("x-trace-id", "abc").unwrap();
/// md.insert_bin("x-token-bin", b"\x00\xff").unwrap();
/// assert_eq!(md.get("x-trace-id"), Some("abc"));
/// assert_eq!(md.get_bin("x-token-bin").unwrap().as_ref(), b"\x00\xff");
/// ```
#[derive(Clone, Default)]
pub struct MetadataMap {
    headers: HeaderMap,
}

impl MetadataMap {
    /// An empty map; does not allocate.
    pub fn new() -> MetadataMap {
        MetadataMap {
            headers: HeaderMap::new(),
        }
    }

    /// Wraps received headers without copying them.
    pub(crate) fn from_headers(headers: HeaderMap) -> MetadataMap {
        MetadataMap { headers }
    }

    /// The headers underneath, protocol headers included (authorization matches them).
    #[cfg(feature = "authz")]
    pub(crate) fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Gives back the headers it wraps, untouched.
    pub(crate) fn into_headers(self) -> HeaderMap {
        self.headers
    }

    /// Appends a prepared entry: no parsing, and a shared value is not copied.
    pub(crate) fn append_value(&mut self, key: HeaderName, value: HeaderValue) {
        self.headers.append(key, value);
    }

    /// Moves every entry of `other` into this map, after the entries already here.
    pub fn extend(&mut self, other: MetadataMap) {
        let mut last = None;
        for (key, value) in other.headers {
            // `HeaderMap`'s iterator names a key once, before all of its values.
            if let Some(key) = key {
                last = Some(key);
            }
            if let Some(key) = &last {
                self.headers.append(key.clone(), value);
            }
        }
    }

    /// Sets an ASCII value, replacing any previous values for `key`.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), InvalidMetadata> {
        let (name, value) = ascii_pair(key, value)?;
        self.headers.insert(name, value);
        Ok(())
    }

    /// Adds an ASCII value, keeping previous values for `key`.
    pub fn append(&mut self, key: &str, value: &str) -> Result<(), InvalidMetadata> {
        let (name, value) = ascii_pair(key, value)?;
        self.headers.append(name, value);
        Ok(())
    }

    /// Sets a binary value; `key` must end in `-bin`.
    pub fn insert_bin(&mut self, key: &str, value: &[u8]) -> Result<(), InvalidMetadata> {
        let name = bin_name(key)?;
        self.headers.insert(name, encode_binary(value));
        Ok(())
    }

    /// Adds a binary value, keeping previous values; `key` must end in `-bin`.
    pub fn append_bin(&mut self, key: &str, value: &[u8]) -> Result<(), InvalidMetadata> {
        let name = bin_name(key)?;
        self.headers.append(name, encode_binary(value));
        Ok(())
    }

    /// The first ASCII value for `key`, if any and if it is printable ASCII.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.headers.get(key).and_then(|v| v.to_str().ok())
    }

    /// The first value for `key` as raw bytes, protocol headers included.
    pub(crate) fn get_raw(&self, key: &str) -> Option<&[u8]> {
        self.headers.get(key).map(|v| v.as_bytes())
    }

    /// Every ASCII value for `key`, in order.
    pub fn get_all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.headers
            .get_all(key)
            .iter()
            .filter_map(|v| v.to_str().ok())
    }

    /// The first binary value for `key`, base64-decoded; `None` if absent or not valid base64.
    pub fn get_bin(&self, key: &str) -> Option<Bytes> {
        self.headers
            .get(key)
            .and_then(|v| decode_binary(v.as_bytes()))
    }

    /// Every binary value for `key`, decoded; values that are not valid base64 are skipped.
    pub fn get_all_bin(&self, key: &str) -> impl Iterator<Item = Bytes> + '_ {
        self.headers
            .get_all(key)
            .iter()
            .filter_map(|v| decode_binary(v.as_bytes()))
    }

    /// Removes every value for `key`.
    pub fn remove(&mut self, key: &str) {
        self.headers.remove(key);
    }

    /// True when `key` has at least one value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.headers.contains_key(key)
    }

    /// The application's keys and raw values, in order, without protocol headers. Binary values
    /// are returned as sent on the wire (base64).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers
            .iter()
            .filter(|(k, _)| !is_reserved(k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
    }

    /// Number of application entries (protocol headers excluded).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True when there are no application entries.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Copies the application entries into an outgoing header map.
    pub(crate) fn write_to(&self, out: &mut HeaderMap) {
        for (k, v) in self.headers.iter() {
            if !is_reserved(k.as_str()) {
                out.append(k.clone(), v.clone());
            }
        }
    }

    /// Gives up the map for use as an outgoing header block, protocol headers removed.
    pub(crate) fn into_outgoing(self) -> HeaderMap {
        let mut headers = self.headers;
        if headers.keys().any(|k| is_reserved(k.as_str())) {
            let mut clean = HeaderMap::with_capacity(headers.len());
            for (k, v) in headers.drain() {
                if let Some(k) = k {
                    if !is_reserved(k.as_str()) {
                        clean.append(k, v);
                    }
                }
            }
            headers = clean;
        }
        headers
    }
}

impl fmt::Debug for MetadataMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(v).into_owned())),
            )
            .finish()
    }
}

/// Headers owned by the protocol (PROTOCOL-HTTP2): never user metadata.
fn is_reserved(key: &str) -> bool {
    matches!(
        key,
        "content-type" | "te" | "content-length" | "connection" | "host" | "user-agent"
    ) || key.starts_with("grpc-")
}

fn ascii_pair(key: &str, value: &str) -> Result<(HeaderName, HeaderValue), InvalidMetadata> {
    if key.ends_with("-bin") {
        return Err(InvalidMetadata(
            "keys ending in -bin take binary values (insert_bin)",
        ));
    }
    let name = name(key)?;
    if !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(InvalidMetadata(
            "ASCII metadata values must be printable ASCII",
        ));
    }
    let value = HeaderValue::from_str(value).map_err(|_| InvalidMetadata("invalid value"))?;
    Ok((name, value))
}

fn bin_name(key: &str) -> Result<HeaderName, InvalidMetadata> {
    if !key.ends_with("-bin") {
        return Err(InvalidMetadata("binary metadata keys must end in -bin"));
    }
    name(key)
}

fn name(key: &str) -> Result<HeaderName, InvalidMetadata> {
    // gRPC keys are lower-case 0-9 a-z _ - . (PROTOCOL-HTTP2, "Custom-Metadata").
    let valid = !key.is_empty()
        && key
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'_' | b'-' | b'.'));
    if !valid {
        return Err(InvalidMetadata(
            "metadata keys are lower-case letters, digits, '_', '-' and '.'",
        ));
    }
    if is_reserved(key) {
        return Err(InvalidMetadata("metadata key is reserved by the protocol"));
    }
    HeaderName::from_bytes(key.as_bytes()).map_err(|_| InvalidMetadata("invalid key"))
}

pub(crate) fn encode_binary(value: &[u8]) -> HeaderValue {
    let encoded = BASE64.encode(value);
    // Base64 output is visible ASCII, always a valid header value.
    HeaderValue::from_maybe_shared(Bytes::from(encoded)).unwrap_or(HeaderValue::from_static(""))
}

pub(crate) fn decode_binary(value: &[u8]) -> Option<Bytes> {
    BASE64.decode(value).ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_values_accept_padded_and_unpadded() {
        assert_eq!(decode_binary(b"AAH/").unwrap().as_ref(), b"\x00\x01\xff");
        assert_eq!(decode_binary(b"YQ").unwrap().as_ref(), b"a");
        assert_eq!(decode_binary(b"YQ==").unwrap().as_ref(), b"a");
        assert!(decode_binary(b"!!").is_none());
        assert_eq!(encode_binary(b"a").as_bytes(), b"YQ");
    }

    #[test]
    fn reserved_and_invalid_keys_are_refused() {
        let mut md = MetadataMap::new();
        assert!(md.insert("grpc-status", "0").is_err());
        assert!(md.insert("content-type", "x").is_err());
        assert!(md.insert("Upper", "x").is_err());
        assert!(md.insert("x-bin", "x").is_err());
        assert!(md.insert_bin("x", b"x").is_err());
        assert!(md.insert("x-a", "line\nbreak").is_err());
        assert!(md.is_empty());
    }

    #[test]
    fn iteration_hides_protocol_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-timeout", HeaderValue::from_static("1S"));
        headers.insert("x-user", HeaderValue::from_static("v"));
        let md = MetadataMap::from_headers(headers);
        assert_eq!(md.iter().collect::<Vec<_>>(), vec![("x-user", &b"v"[..])]);
        let out = md.into_outgoing();
        assert_eq!(out.len(), 1);
    }
}
