//! The benchmark harness: flags, the load loop, the latency histogram, the counting
//! allocator and the `RESULT`/`STATS` lines.
//!
//! It depends on nothing but `std` and `tokio`, because tonic's bench pair
//! (`conformance/tonic-bench`, its own cargo workspace) includes these very files by path:
//! both sides parse the same flags, drive load the same way and print the same lines, so the
//! only difference between a run of ours and a run of theirs is the gRPC stack.

// The one place in the workspace allowed `unsafe`: a `GlobalAlloc` cannot be written without.
#[allow(unsafe_code)]
pub mod alloc;
pub mod args;
pub mod creds;
pub mod histogram;
pub mod load;
pub mod procfs;
pub mod server;
