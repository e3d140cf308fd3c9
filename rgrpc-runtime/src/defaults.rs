//! Every default the runtime uses, in one table, each with where it comes from. Builders
//! and docs refer here instead of repeating the numbers.
//!
//! | default | value | source |
//! | --- | --- | --- |
//! | [`MAX_RECEIVE_MESSAGE_SIZE`] | 4 MiB | grpc-go and gRPC C-core |
//! | [`SERVER_MAX_CONCURRENT_STREAMS`] | 200 | hyper's server |
//! | [`SERVER_STREAM_WINDOW`] / [`SERVER_CONNECTION_WINDOW`] | 1 MiB / 2 MiB | measured (BENCHMARKS.md) |
//! | [`CLIENT_STREAM_WINDOW`] / [`CLIENT_CONNECTION_WINDOW`] | 2 MiB / 5 MiB | hyper's client (which tonic uses) |
//! | [`MAX_FRAME_SIZE`] | 64 KiB | measured: ~1.4x streaming throughput over HTTP/2's 16 KiB |
//! | [`SHUTDOWN_GRACE`] | 10 s | grpc-go's examples, Kubernetes' 30 s termination budget |
//! | [`HANDSHAKE_TIMEOUT`] | 20 s | gRPC `connection-backoff.md`'s minimum connect timeout; also bounds a client's TCP connect + TLS handshake when no connect timeout is set |
//! | [`WRITE_GATHER`] / [`WRITE_DIRECT`] | 32 KiB / 16 KiB | grpc-go's 32 KiB write buffer; measured |
//! | [`SEND_BUFFER`] | 32 KiB | grpc-go's write buffer; bounds what a slow reader lets pile up |
//! | [`IN_PROCESS_BUFFER`] | 256 KiB | room for a whole 64 KiB frame plus headers per write |
//! | [`MAX_HEADER_LIST_SIZE`] | 16 KiB | hyper's (tonic's) default; gRPC C-core's hard metadata limit |
//! | [`MAX_PENDING_ACCEPT_RESET_STREAMS`] | 1024 | measured: h2's and hyper's 20 cut off honest clients (`tests/faults.rs`) |
//! | [`MAX_LOCAL_ERROR_RESET_STREAMS`] | 1024 | h2's default |
//! | [`MAX_CONCURRENT_RESET_STREAMS`] | 10 | h2's default (RFC 9113 §5.4.2 "some time") |
//! | [`RESET_STREAM_DURATION`] | 1 s | h2's default |
//! | [`MAX_SEND_BUFFER_PER_STREAM`] | 400 KiB | h2's default |
//! | [`CONNECTION_RECEIVE_BUFFER`] / [`SERVER_RECEIVE_BUFFER`] | 16 MiB / 256 MiB | four / 64 messages at the 4 MiB limit; measured (issue 14) |
//! | [`CONNECTION_SEND_BUFFER`] / [`SERVER_SEND_BUFFER`] | 32 MiB / 256 MiB | eight / 64 unread 4 MiB responses; measured (issue 14) |
//! | [`CORS_MAX_AGE`] | 2 h | Chromium's cap on caching a preflight (Firefox's is 24 h) |
//! | [`HTTP1_HEADER_TIMEOUT`] | 20 s | as [`HANDSHAKE_TIMEOUT`]: from connect (or the last response) to a request head |
//! | [`HTTP1_MAX_HEADER_SIZE`] | 16 KiB | as [`MAX_HEADER_LIST_SIZE`]: a web call carries no more metadata than a native one |
//! | [`HTTP1_BODY_IDLE_TIMEOUT`] | 20 s | as [`HANDSHAKE_TIMEOUT`]; browsers send a request body at once |

use std::time::Duration;

/// The largest message received before `RESOURCE_EXHAUSTED`, on both sides.
pub const MAX_RECEIVE_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// Concurrent streams a client may open on one server connection
/// (`SETTINGS_MAX_CONCURRENT_STREAMS`). grpc-go sets no limit, which lets one connection hold
/// unbounded server memory; 200 is far above the 32 streams per connection the benchmarks use.
pub const SERVER_MAX_CONCURRENT_STREAMS: u32 = 200;

/// The server's HTTP/2 flow-control window per stream.
pub const SERVER_STREAM_WINDOW: u32 = 1024 * 1024;

/// The server's HTTP/2 flow-control window per connection.
pub const SERVER_CONNECTION_WINDOW: u32 = 2 * 1024 * 1024;

/// The client's HTTP/2 flow-control window per stream. With 1 MiB per stream and 2 MiB per
/// connection, a server streaming small messages to eight streams at once was held back by
/// window updates: about 1.4M instead of 2M messages/s at 1 KiB.
pub const CLIENT_STREAM_WINDOW: u32 = 2 * 1024 * 1024;

/// The client's HTTP/2 flow-control window per connection.
pub const CLIENT_CONNECTION_WINDOW: u32 = 5 * 1024 * 1024;

/// The largest HTTP/2 frame either side accepts (`SETTINGS_MAX_FRAME_SIZE`; HTTP/2's own
/// default is 16 KiB). Bigger DATA frames mean fewer syscalls on both ends.
pub const MAX_FRAME_SIZE: u32 = 64 * 1024;

/// How long a graceful shutdown lets in-flight calls finish before stopping them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long a new server connection may take to complete its handshakes (TLS, if served,
/// and HTTP/2 together), so idle half-open connections cannot pile up. A client dialling TLS
/// without a connect timeout of its own is bounded by it too: a server that accepts but
/// never answers the ClientHello must not hang the call.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// Up to this much of a connection's small writes is gathered into one syscall; also what a
/// busy connection keeps allocated between rounds.
pub const WRITE_GATHER: usize = 32 * 1024;

/// A write this large goes straight to the socket: one syscall for it is cheap next to
/// copying it.
pub const WRITE_DIRECT: usize = 16 * 1024;

/// A streaming sender waits once this much of its messages is queued and not yet taken by
/// HTTP/2 flow control.
pub const SEND_BUFFER: usize = 32 * 1024;

/// Each in-process connection's buffer in each direction.
pub const IN_PROCESS_BUFFER: usize = 256 * 1024;

/// The largest header list (decoded, as RFC 9113 §6.5.2 counts it: name + value + 32 per
/// field) either side accepts, advertised as `SETTINGS_MAX_HEADER_LIST_SIZE`. 16 KiB is
/// hyper's default (so what tonic accepts, rgrpc accepts) and gRPC C-core's hard metadata
/// limit; gRPC's 8 KiB suggestion is C-core's *soft* limit and would refuse metadata that
/// grpc-go and tonic peers send (large tokens). A request over it is answered 431 and its
/// stream reset; a header block that decodes to over four times it (an HPACK bomb) or that
/// needs more than a handful of CONTINUATION frames closes the connection with GOAWAY
/// `ENHANCE_YOUR_CALM` (h2 0.4's rules).
pub const MAX_HEADER_LIST_SIZE: u32 = 16 * 1024;

/// Streams a client may reset before the server has accepted them, per connection, before
/// the connection is closed with GOAWAY `ENHANCE_YOUR_CALM` `too_many_resets`: h2 0.4's
/// rapid-reset defence (CVE-2023-44487). h2 and hyper default to 20, which an honest client
/// reaches by cancelling calls in a burst: 1,000 queued calls sharing a 20 ms deadline open
/// streams as earlier ones are reset and reset them a moment later, hundreds of them before
/// the server's next accept (`tests/faults.rs`; 200 was not enough either). With 1024, 2,000
/// such calls keep their connection (4,000 do not), and a rapid-reset attacker is still cut
/// off within 0.1 s (`tests/hostile.rs`: ~31,000 streams).
pub const MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 1024;

/// Streams the server may have to reset for a peer's protocol errors, per connection, before
/// it closes the connection with GOAWAY `ENHANCE_YOUR_CALM` (h2's default).
pub const MAX_LOCAL_ERROR_RESET_STREAMS: usize = 1024;

/// Locally reset streams remembered at once, so that frames the peer sent before it saw the
/// reset are ignored rather than treated as errors (h2's default).
pub const MAX_CONCURRENT_RESET_STREAMS: usize = 10;

/// How long a locally reset stream is remembered (h2's default).
pub const RESET_STREAM_DURATION: Duration = Duration::from_secs(1);

/// The most h2 buffers per stream before a streaming sender waits for the peer's window
/// (h2's default); [`SEND_BUFFER`] is what our own senders queue on top.
pub const MAX_SEND_BUFFER_PER_STREAM: usize = 400 * 1024;

/// The most one server connection's calls may hold of request messages still arriving (a
/// message spanning HTTP/2 frames is buffered until it is whole). Four messages at
/// [`MAX_RECEIVE_MESSAGE_SIZE`] at once. Without it a client announcing a 4 MiB message on
/// each of 200 streams and never finishing them held 800 MiB per connection (issue 14).
pub const CONNECTION_RECEIVE_BUFFER: usize = 16 * 1024 * 1024;

/// The most all of a server's connections together may hold of request messages still
/// arriving: 64 messages at [`MAX_RECEIVE_MESSAGE_SIZE`], so that many connections at their
/// own limit cannot add up to the machine's memory.
pub const SERVER_RECEIVE_BUFFER: usize = 256 * 1024 * 1024;

/// The most one server connection may hold of large unary responses (16 KiB or more) its
/// client has not read: eight 4 MiB responses waiting for the client's window. Without it a
/// client with a zero window asking for 1 MiB responses on 200 streams held 200 MiB per
/// connection (issue 14).
pub const CONNECTION_SEND_BUFFER: usize = 32 * 1024 * 1024;

/// The most all of a server's connections together may hold of large unary responses their
/// clients have not read.
pub const SERVER_SEND_BUFFER: usize = 256 * 1024 * 1024;

/// How long a browser may cache the answer to a gRPC-Web CORS preflight
/// (`access-control-max-age`). Chromium caps it at two hours, so more buys nothing there.
pub const CORS_MAX_AGE: Duration = Duration::from_secs(2 * 3600);

/// How long an HTTP/1.1 (gRPC-Web) client may take to send a request head, counted from the
/// connection's start or the end of the previous response, so slow or idle connections
/// cannot pile up (hyper's own default is 30 s).
pub const HTTP1_HEADER_TIMEOUT: Duration = HANDSHAKE_TIMEOUT;

/// The largest HTTP/1.1 (gRPC-Web) request head, request line included; larger ones are
/// answered `431`. Metadata rides in headers, so this bounds a web call's metadata as
/// [`MAX_HEADER_LIST_SIZE`] bounds a native call's (browsers' own headers, cookies included,
/// stay well under it).
pub const HTTP1_MAX_HEADER_SIZE: usize = MAX_HEADER_LIST_SIZE as usize;

/// How long an HTTP/1.1 (gRPC-Web) request body may pause before its call is cancelled:
/// a slow-body client cannot hold a call open for ever. Browsers send the whole body at once.
pub const HTTP1_BODY_IDLE_TIMEOUT: Duration = HANDSHAKE_TIMEOUT;
