//! The gRPC status model: a [`Code`] plus a message, binary details and trailing metadata.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};

use crate::metadata::names;
use crate::metadata::MetadataMap;

/// The 17 gRPC status codes (grpc/grpc `doc/statuscodes.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Code {
    /// Not an error; returned on success.
    Ok = 0,
    /// The operation was cancelled, typically by the caller.
    Cancelled = 1,
    /// Unknown error.
    Unknown = 2,
    /// The client specified an invalid argument.
    InvalidArgument = 3,
    /// The deadline expired before the operation could complete.
    DeadlineExceeded = 4,
    /// Some requested entity was not found.
    NotFound = 5,
    /// The entity that a client attempted to create already exists.
    AlreadyExists = 6,
    /// The caller does not have permission to execute the operation.
    PermissionDenied = 7,
    /// Some resource has been exhausted (quota, message size, memory).
    ResourceExhausted = 8,
    /// The system is not in a state required for the operation.
    FailedPrecondition = 9,
    /// The operation was aborted, typically due to a concurrency issue.
    Aborted = 10,
    /// The operation was attempted past the valid range.
    OutOfRange = 11,
    /// The operation is not implemented or not supported.
    Unimplemented = 12,
    /// An internal invariant was broken.
    Internal = 13,
    /// The service is currently unavailable; retrying may help.
    Unavailable = 14,
    /// Unrecoverable data loss or corruption.
    DataLoss = 15,
    /// The request does not have valid authentication credentials.
    Unauthenticated = 16,
}

impl Code {
    /// Maps a numeric code to a `Code`; values outside 0..=16 become [`Code::Unknown`].
    pub fn from_i32(value: i32) -> Code {
        match value {
            0 => Code::Ok,
            1 => Code::Cancelled,
            2 => Code::Unknown,
            3 => Code::InvalidArgument,
            4 => Code::DeadlineExceeded,
            5 => Code::NotFound,
            6 => Code::AlreadyExists,
            7 => Code::PermissionDenied,
            8 => Code::ResourceExhausted,
            9 => Code::FailedPrecondition,
            10 => Code::Aborted,
            11 => Code::OutOfRange,
            12 => Code::Unimplemented,
            13 => Code::Internal,
            14 => Code::Unavailable,
            15 => Code::DataLoss,
            16 => Code::Unauthenticated,
            _ => Code::Unknown,
        }
    }

    /// The canonical upper-case name, e.g. `"DEADLINE_EXCEEDED"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// The value sent in the `grpc-status` header.
    pub(crate) fn header_value(self) -> HeaderValue {
        const VALUES: [&str; 17] = [
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
            "16",
        ];
        HeaderValue::from_static(VALUES[self as usize])
    }

    /// Parses a `grpc-status` header value; anything but a plain decimal number is `None`.
    pub(crate) fn parse(value: &[u8]) -> Option<Code> {
        if value.is_empty() || value.len() > 3 || !value.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = value.iter().fold(0i32, |n, d| n * 10 + i32::from(d - b'0'));
        Some(Code::from_i32(n))
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of an RPC: a [`Code`], a message, optional binary details and trailing metadata.
///
/// `Status` is one pointer wide, so `Result<T, Status>` stays small on the success path.
///
/// ```
/// use rgrpc_runtime::{Code, Status};
///
/// let status = Status::not_found("no such user");
/// assert_eq!(status.code(), Code::NotFound);
/// assert_eq!(status.message(), "no such user");
/// ```
#[derive(Clone)]
pub struct Status(Box<Inner>);

#[derive(Clone)]
struct Inner {
    code: Code,
    message: String,
    details: Bytes,
    metadata: MetadataMap,
    origin: Origin,
    /// The error underneath, for [`std::error::Error::source`].
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

/// Who decided a status: lets a caller tell a deadline that fired here from a peer's
/// DEADLINE_EXCEEDED, and a broken connection from a peer's UNAVAILABLE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// Made by this process: the application, or the runtime refusing something.
    Local,
    /// Read from the peer's `grpc-status` (trailers or a trailers-only response).
    Peer,
    /// The call's deadline fired in this process.
    LocalDeadline,
    /// The connection failed: connect, handshake, I/O, or an HTTP/2 connection error.
    Connection,
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $name:ident => $code:ident,)*) => {
        $(
            $(#[$doc])*
            pub fn $name(message: impl Into<String>) -> Status {
                Status::new(Code::$code, message)
            }
        )*
    };
}

impl Status {
    /// Creates a status with a code and a message.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status(Box::new(Inner {
            code,
            message: message.into(),
            details: Bytes::new(),
            metadata: MetadataMap::new(),
            origin: Origin::Local,
            source: None,
        }))
    }

    /// `DEADLINE_EXCEEDED` because the call's deadline fired in this process.
    pub(crate) fn local_deadline(message: impl Into<String>) -> Status {
        let mut status = Status::deadline_exceeded(message);
        status.0.origin = Origin::LocalDeadline;
        status
    }

    /// `UNAVAILABLE` because the connection failed, keeping the cause as the source.
    pub(crate) fn connection(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Status {
        let mut status = Status::unavailable(message);
        status.0.origin = Origin::Connection;
        status.0.source = Some(Arc::new(source));
        status
    }

    /// Keeps `source` as the error underneath this status.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Status {
        self.0.source = Some(Arc::new(source));
        self
    }

    /// True when the peer sent this status (its `grpc-status`), not this process.
    pub fn is_from_peer(&self) -> bool {
        self.0.origin == Origin::Peer
    }

    /// True when the call's deadline fired in this process (the status is
    /// `DEADLINE_EXCEEDED`); false for a `DEADLINE_EXCEEDED` the peer sent.
    pub fn is_local_deadline(&self) -> bool {
        self.0.origin == Origin::LocalDeadline
    }

    /// True when the connection failed (connect, handshake, I/O or an HTTP/2 connection
    /// error) rather than a peer answering with a status.
    pub fn is_connection_error(&self) -> bool {
        self.0.origin == Origin::Connection
    }

    constructors! {
        /// An OK status (used internally for successful trailers).
        ok => Ok,
        /// A `CANCELLED` status.
        cancelled => Cancelled,
        /// An `UNKNOWN` status.
        unknown => Unknown,
        /// An `INVALID_ARGUMENT` status.
        invalid_argument => InvalidArgument,
        /// A `DEADLINE_EXCEEDED` status.
        deadline_exceeded => DeadlineExceeded,
        /// A `NOT_FOUND` status.
        not_found => NotFound,
        /// An `ALREADY_EXISTS` status.
        already_exists => AlreadyExists,
        /// A `PERMISSION_DENIED` status.
        permission_denied => PermissionDenied,
        /// A `RESOURCE_EXHAUSTED` status.
        resource_exhausted => ResourceExhausted,
        /// A `FAILED_PRECONDITION` status.
        failed_precondition => FailedPrecondition,
        /// An `ABORTED` status.
        aborted => Aborted,
        /// An `OUT_OF_RANGE` status.
        out_of_range => OutOfRange,
        /// An `UNIMPLEMENTED` status.
        unimplemented => Unimplemented,
        /// An `INTERNAL` status.
        internal => Internal,
        /// An `UNAVAILABLE` status.
        unavailable => Unavailable,
        /// A `DATA_LOSS` status.
        data_loss => DataLoss,
        /// An `UNAUTHENTICATED` status.
        unauthenticated => Unauthenticated,
    }

    /// Attaches binary details (sent as `grpc-status-details-bin`, usually a
    /// serialized `google.rpc.Status`).
    pub fn with_details(mut self, details: impl Into<Bytes>) -> Status {
        self.0.details = details.into();
        self
    }

    /// Attaches trailing metadata sent alongside the status.
    pub fn with_metadata(mut self, metadata: MetadataMap) -> Status {
        self.0.metadata = metadata;
        self
    }

    /// The status code.
    pub fn code(&self) -> Code {
        self.0.code
    }

    /// The human-readable message (may be empty).
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The binary details; empty when none were sent.
    pub fn details(&self) -> &Bytes {
        &self.0.details
    }

    /// Trailing metadata that came with (or will be sent with) this status.
    pub fn metadata(&self) -> &MetadataMap {
        &self.0.metadata
    }

    /// Mutable access to the trailing metadata.
    pub fn metadata_mut(&mut self) -> &mut MetadataMap {
        &mut self.0.metadata
    }

    /// True for `DEADLINE_EXCEEDED`.
    pub fn is_timeout(&self) -> bool {
        self.0.code == Code::DeadlineExceeded
    }

    /// True for `CANCELLED`.
    pub fn is_cancelled(&self) -> bool {
        self.0.code == Code::Cancelled
    }

    /// Reads `grpc-status`, `grpc-message` and `grpc-status-details-bin` from trailers (or
    /// trailers-only headers). `None` when `grpc-status` is absent.
    pub(crate) fn from_trailers(headers: HeaderMap) -> Option<Status> {
        let code = match headers.get(names::GRPC_STATUS) {
            None => return None,
            Some(v) => match Code::parse(v.as_bytes()) {
                Some(code) => code,
                None => {
                    return Some(Status::internal(format!(
                        "malformed grpc-status header: {:?}",
                        String::from_utf8_lossy(v.as_bytes())
                    )))
                }
            },
        };
        let message = headers
            .get(names::GRPC_MESSAGE)
            .map(|v| crate::wire::percent_decode(v.as_bytes()))
            .unwrap_or_default();
        let details = headers
            .get(names::GRPC_STATUS_DETAILS)
            .and_then(|v| crate::metadata::decode_binary(v.as_bytes()))
            .unwrap_or_default();
        Some(Status(Box::new(Inner {
            code,
            message,
            details,
            metadata: MetadataMap::from_headers(headers),
            origin: Origin::Peer,
            source: None,
        })))
    }

    /// The user's trailing metadata, details and message, for [`crate::wire::write_status`].
    pub(crate) fn parts_for_wire(&self) -> (&MetadataMap, Code, &str, &Bytes) {
        (
            &self.0.metadata,
            self.0.code,
            &self.0.message,
            &self.0.details,
        )
    }

    /// Maps an `h2` error to a status ([`crate::wire::status_from_h2`]).
    pub(crate) fn from_h2(err: h2::Error) -> Status {
        crate::wire::status_from_h2(err)
    }

    /// Marks a status as caused by the connection failing.
    pub(crate) fn into_connection_error(mut self) -> Status {
        self.0.origin = Origin::Connection;
        self
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Status");
        d.field("code", &self.0.code)
            .field("message", &self.0.message);
        if !self.0.details.is_empty() {
            d.field("details", &self.0.details);
        }
        d.finish()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.message.is_empty() {
            write!(f, "{}", self.0.code)
        } else {
            write!(f, "{}: {}", self.0.code, self.0.message)
        }
    }
}

impl std::error::Error for Status {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// I/O errors by kind: a broken or unreachable connection is `UNAVAILABLE` (a connection
/// error), a timeout `DEADLINE_EXCEEDED`, bad data `INTERNAL`, anything else `UNKNOWN`;
/// the error stays reachable through `source()`.
impl From<std::io::Error> for Status {
    fn from(err: std::io::Error) -> Status {
        use std::io::ErrorKind::*;
        let message = err.to_string();
        match err.kind() {
            ConnectionRefused | ConnectionReset | ConnectionAborted | NotConnected | BrokenPipe
            | UnexpectedEof | AddrNotAvailable | WriteZero | HostUnreachable
            | NetworkUnreachable | NetworkDown => Status::connection(message, err),
            TimedOut => Status::deadline_exceeded(message).with_source(err),
            InvalidData | InvalidInput => Status::internal(message).with_source(err),
            PermissionDenied => Status::permission_denied(message).with_source(err),
            _ => Status::unknown(message).with_source(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{percent_decode, percent_encode};

    #[test]
    fn code_round_trip() {
        for n in 0..17 {
            let code = Code::from_i32(n);
            assert_eq!(code as i32, n);
            assert_eq!(Code::parse(code.header_value().as_bytes()), Some(code));
        }
        assert_eq!(Code::from_i32(99), Code::Unknown);
        assert_eq!(Code::parse(b""), None);
        assert_eq!(Code::parse(b"-1"), None);
        assert_eq!(Code::parse(b"1a"), None);
        assert_eq!(Code::parse(b"123456789"), None);
    }

    #[test]
    fn message_percent_encoding_round_trips() {
        let msg = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n 100%";
        let enc = percent_encode(msg);
        assert!(enc.iter().all(|&b| (0x20..=0x7e).contains(&b)));
        assert_eq!(percent_decode(&enc), msg);
        assert_eq!(&percent_encode("plain")[..], b"plain");
    }

    #[test]
    fn malformed_percent_escapes_are_kept() {
        assert_eq!(percent_decode(b"50%"), "50%");
        assert_eq!(percent_decode(b"%zz%4"), "%zz%4");
        assert_eq!(percent_decode(b"%E2%98%BA"), "☺");
        // A lone continuation byte is not UTF-8; it must not panic.
        assert_eq!(percent_decode(b"%80"), "\u{fffd}");
    }

    #[test]
    fn trailers_round_trip() {
        let status = Status::invalid_argument("bad\nthing ☺").with_details(&b"\x00\x01\xff"[..]);
        let mut headers = HeaderMap::new();
        crate::wire::write_status(&status, &mut headers);
        let back = Status::from_trailers(headers).expect("grpc-status present");
        assert_eq!(back.code(), Code::InvalidArgument);
        assert_eq!(back.message(), "bad\nthing ☺");
        assert_eq!(&back.details()[..], b"\x00\x01\xff");
    }

    #[test]
    fn origin_and_source_say_what_happened() {
        let mut headers = HeaderMap::new();
        crate::wire::write_status(&Status::deadline_exceeded("slow"), &mut headers);
        let peer = Status::from_trailers(headers).expect("grpc-status present");
        assert!(peer.is_timeout() && peer.is_from_peer() && !peer.is_local_deadline());
        let local = Status::local_deadline("deadline exceeded");
        assert!(local.is_timeout() && local.is_local_deadline() && !local.is_from_peer());
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let conn = Status::from(io);
        assert_eq!(conn.code(), Code::Unavailable);
        assert!(conn.is_connection_error() && !conn.is_from_peer());
        let source = std::error::Error::source(&conn).expect("source kept");
        assert_eq!(source.to_string(), "refused");
        assert!(!Status::unavailable("peer says no").is_connection_error());
        let timeout = Status::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert_eq!(timeout.code(), Code::DeadlineExceeded);
    }

    #[test]
    fn status_is_one_pointer() {
        assert_eq!(std::mem::size_of::<Status>(), std::mem::size_of::<usize>());
    }
}
