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
