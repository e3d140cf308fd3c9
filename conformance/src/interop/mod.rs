//! The gRPC interop tests: a `grpc.testing.TestService` server and a client that runs the
//! test cases against any server, both per grpc/grpc `doc/interop-test-descriptions.md`
//! ("the spec" in this module's comments).
//!
//! [`server`] is the service, usable in-process; [`client`] holds the test cases; [`flags`]
//! parses the command lines both binaries share with every other gRPC implementation's
//! interop programs (`--server_host=H --server_port=N --test_case=NAME`, `--port=N`).

pub mod client;
pub mod flags;
pub mod server;
pub mod tls;

use crate::gen::messages::{Payload, PayloadType};

/// Request payload sizes of `client_streaming` and `ping_pong` (spec).
pub const REQUEST_SIZES: [usize; 4] = [27182, 8, 1828, 45904];
/// Response payload sizes of `server_streaming` and `ping_pong` (spec).
pub const RESPONSE_SIZES: [i32; 4] = [31415, 9, 2653, 58979];
/// `large_unary` request payload size.
pub const LARGE_REQUEST_SIZE: usize = 271828;
/// `large_unary` response payload size.
pub const LARGE_RESPONSE_SIZE: i32 = 314159;
/// Request metadata the server echoes back in its response headers ("Echo Metadata").
pub const ECHO_INITIAL_KEY: &str = "x-grpc-test-echo-initial";
/// Request metadata the server echoes back in its trailers ("Echo Metadata").
pub const ECHO_TRAILING_KEY: &str = "x-grpc-test-echo-trailing-bin";

/// A `COMPRESSABLE` payload of `size` zero bytes, the only payload type the spec defines.
pub fn zero_payload(size: usize) -> Payload {
    Payload {
        type_: PayloadType::COMPRESSABLE.into(),
        body: vec![0; size],
        ..Default::default()
    }
}
