//! The TLS credentials both stacks' bench binaries use: gRPC's standard test certificate
//! (`conformance/testdata/`), so TLS runs compare the same handshake and cipher suites.

/// The test CA.
pub const CA: &[u8] = include_bytes!("../../testdata/ca.pem");
/// The server certificate (`*.test.google.fr`, …).
pub const SERVER_CERT: &[u8] = include_bytes!("../../testdata/server1.pem");
/// Its key.
pub const SERVER_KEY: &[u8] = include_bytes!("../../testdata/server1.key");
/// The name clients verify the server certificate as.
pub const SERVER_NAME: &str = "foo.test.google.fr";
