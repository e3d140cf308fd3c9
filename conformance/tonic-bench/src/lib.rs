//! tonic's side of the bench: the same service, flags and output as rgrpc's `bench-server`
//! and `bench-client`, so any of ours can be run against any of theirs.

/// The harness shared with rgrpc's bench binaries: the very same files.
#[path = "../../src/bench/mod.rs"]
pub mod harness;

/// Messages, client and server for `bench.proto`.
pub mod bench {
    tonic::include_proto!("bench");
}

/// Messages, client and server for `helloworld.proto`.
pub mod helloworld {
    tonic::include_proto!("helloworld");
}
