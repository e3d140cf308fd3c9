//! Interop and benchmark programs for rgrpc: the gRPC interop test client and server
//! (`grpc.testing`), and the benchmark server and client (`bench`).

pub mod bench;
pub mod bench_observer;
pub mod gen;
pub mod interop;
