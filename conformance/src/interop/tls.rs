//! TLS for the interop programs, with the spec's flags: gRPC's standard test credentials
//! (`conformance/testdata/`, compiled in) unless files are given.
//!
//! - server: `--use_tls [--tls_cert_file=F --tls_key_file=F]` (default `server1.pem`/`.key`);
//! - client: `--use_tls [--use_test_ca] [--ca_file=F] [--server_host_override=NAME]`.

use rgrpc_runtime::tls::{ClientTlsConfig, Identity, ServerTlsConfig, TlsError, TrustRoots};

/// gRPC's test CA (`ca.pem`).
pub const TEST_CA: &[u8] = include_bytes!("../../testdata/ca.pem");
/// gRPC's test server certificate (`server1.pem`: `*.test.google.fr` and others).
pub const TEST_SERVER_CERT: &[u8] = include_bytes!("../../testdata/server1.pem");
/// Its key (`server1.key`).
pub const TEST_SERVER_KEY: &[u8] = include_bytes!("../../testdata/server1.key");
/// The name interop clients verify the test server certificate as.
pub const TEST_HOST_OVERRIDE: &str = "foo.test.google.fr";

/// The server's TLS: the given PEM files, or the test credentials.
pub fn server_config(
    cert_file: Option<&str>,
    key_file: Option<&str>,
) -> Result<ServerTlsConfig, TlsError> {
    let identity = match (cert_file, key_file) {
        (Some(cert), Some(key)) => Identity::from_pem_files(cert, key)?,
        _ => Identity::from_pem(TEST_SERVER_CERT, TEST_SERVER_KEY)?,
    };
    Ok(ServerTlsConfig::new(identity))
}

/// The client's TLS: roots from `ca_file`, or the test CA with `use_test_ca`; the server
/// name override, if any.
pub fn client_config(
    use_test_ca: bool,
    ca_file: Option<&str>,
    server_host_override: Option<&str>,
) -> Result<ClientTlsConfig, TlsError> {
    let roots = match ca_file {
        Some(file) => TrustRoots::from_pem_file(file)?,
        None if use_test_ca => TrustRoots::from_pem(TEST_CA)?,
        None => {
            return Err(TlsError::from_message(
                "--use_tls without --use_test_ca needs --ca_file (no system roots compiled in)",
            ))
        }
    };
    let mut config = ClientTlsConfig::new().trust_roots(roots);
    if let Some(name) = server_host_override.filter(|n| !n.is_empty()) {
        config = config.server_name(name);
    }
    Ok(config)
}
