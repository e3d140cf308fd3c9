//! TLS settings from the committed test PKI (`tests/certs/gen.sh`), for the TLS, authz and
//! credentials tests.

use rgrpc_runtime::tls::{ClientAuth, ClientTlsConfig, Identity, ServerTlsConfig, TrustRoots};

/// The path of a file of the test PKI.
pub fn cert_path(file: &str) -> String {
    format!("{}/tests/certs/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// `NAME.pem` + `NAME.key` from the test PKI.
pub fn identity(name: &str) -> Identity {
    Identity::from_pem_files(
        cert_path(&format!("{name}.pem")),
        cert_path(&format!("{name}.key")),
    )
    .expect("test identity")
}

/// The test CA.
pub fn ca() -> TrustRoots {
    TrustRoots::from_pem_file(cert_path("ca.pem")).expect("test CA")
}

/// TLS with the `server` certificate (localhost, 127.0.0.1, *.test.rgrpc).
pub fn server_tls() -> ServerTlsConfig {
    ServerTlsConfig::new(identity("server"))
}

/// mTLS: `server`, client certificates from the test CA required.
pub fn server_mtls() -> ServerTlsConfig {
    server_tls().client_auth(ClientAuth::Required(ca()))
}

/// A client trusting the test CA.
pub fn client_tls() -> ClientTlsConfig {
    ClientTlsConfig::new().trust_roots(ca())
}

/// A client trusting the test CA, presenting `NAME.pem`.
pub fn client_mtls(name: &str) -> ClientTlsConfig {
    client_tls().identity(identity(name))
}
