//! TLS and mTLS on rustls 0.23 and tokio-rustls: the server's and the client's settings,
//! the handshakes, and what a handshake learned about the peer.
//!
//! - **Crypto provider.** An application that installed a process-wide rustls
//!   [`CryptoProvider`] gets it used; otherwise `ring` (feature `tls`/`tls-ring`) or
//!   aws-lc-rs (feature `tls-aws-lc`, when `ring` is not compiled in).
//! - **Trust roots** are explicit CA certificates ([`TrustRoots`]); the operating system's
//!   store (`tls-native-roots`) and Mozilla's (`tls-webpki-roots`) are opt-in features.
//! - **ALPN.** Both sides offer only `h2` and, by default, refuse a peer that negotiates no
//!   protocol or another one, as grpc-go does since 1.67 (the opt-out is `require_alpn`).
//! - **Escape hatches**: a ready `rustls::ServerConfig` / `ClientConfig`.
//! - **Rotation**: [`TlsAcceptor::reload`] swaps the server's settings for connections
//!   accepted from then on; connections already up keep theirs.
//!
//! A TLS stream is one more byte stream the connection drivers are monomorphized for: the
//! cost of TLS is rustls', not an extra indirection per read.

// The handshakes are wired into the server's accept loop and the channel's dial once the
// connection drivers have settled in transport/ (issue 8); until then only tests use them.
#![allow(dead_code)]

mod client;
mod info;
mod server;

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

pub use super::x509::CertificateIdentity;
pub use client::ClientTlsConfig;
pub(crate) use client::TlsConnector;
pub(crate) use info::explain_io;
pub use info::{HandshakeError, TlsInfo};
pub use server::{ClientAuth, ServerTlsConfig, TlsAcceptor};

/// The ALPN protocol id of HTTP/2 over TLS (RFC 7540 §3.3).
pub(crate) const H2: &[u8] = b"h2";

/// A TLS setting that could not be used: a file that cannot be read, PEM without the
/// expected item, or a certificate/key rustls refuses.
#[derive(Debug)]
pub struct TlsError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl TlsError {
    pub(crate) fn new(message: impl Into<String>) -> TlsError {
        TlsError {
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn with(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> TlsError {
        let message = format!("{}: {source}", message.into());
        TlsError {
            message,
            source: Some(Box::new(source)),
        }
    }
}

impl TlsError {
    /// An error with this message (for programs that check TLS settings of their own).
    pub fn from_message(message: impl Into<String>) -> TlsError {
        TlsError::new(message)
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<TlsError> for io::Error {
    fn from(e: TlsError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}

pub(crate) fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::with(format!("reading {what} {}", path.display()), e))
}

/// Every certificate in a PEM document (`-----BEGIN CERTIFICATE-----` blocks).
fn certificates_from_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::with(format!("{what}: invalid PEM"), e))?;
    if certs.is_empty() {
        return Err(TlsError::new(format!(
            "{what}: no CERTIFICATE block in the PEM"
        )));
    }
    Ok(certs)
}

/// A certificate chain and its private key: who this end is.
pub struct Identity {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

impl Clone for Identity {
    fn clone(&self) -> Identity {
        Identity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for Identity {
    // Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("certificates", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// From PEM: the certificate chain (leaf first, then intermediates) and the private key
    /// (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(chain: impl AsRef<[u8]>, key: impl AsRef<[u8]>) -> Result<Identity, TlsError> {
        let chain = certificates_from_pem(chain.as_ref(), "certificate chain")?;
        let key = PrivateKeyDer::from_pem_slice(key.as_ref()).map_err(|e| {
            TlsError::with("private key: no usable PRIVATE KEY block in the PEM", e)
        })?;
        Ok(Identity { chain, key })
    }

    /// From a PEM certificate-chain file and a PEM key file; errors name the file.
    pub fn from_pem_files(
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Identity, TlsError> {
        let (chain_path, key_path) = (chain.as_ref(), key.as_ref());
        let chain = certificates_from_pem(
            &read_file(chain_path, "certificate chain")?,
            &format!("certificate chain {}", chain_path.display()),
        )?;
        let key =
            PrivateKeyDer::from_pem_slice(&read_file(key_path, "private key")?).map_err(|e| {
                TlsError::with(
                    format!(
                        "private key {}: no usable PRIVATE KEY block",
                        key_path.display()
                    ),
                    e,
                )
            })?;
        Ok(Identity { chain, key })
    }

    /// From DER: the chain (leaf first) and the key.
    pub fn from_der(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Identity {
        Identity { chain, key }
    }
}

/// The CA certificates a peer's certificate must chain to.
#[derive(Clone, Debug, Default)]
pub struct TrustRoots {
    certificates: Vec<CertificateDer<'static>>,
    #[cfg(feature = "tls-native-roots")]
    native: bool,
    #[cfg(feature = "tls-webpki-roots")]
    webpki: bool,
}

impl TrustRoots {
    /// No roots yet; add some, or every peer is refused.
    pub fn new() -> TrustRoots {
        TrustRoots::default()
    }

    /// Every certificate in a PEM document.
    pub fn from_pem(pem: impl AsRef<[u8]>) -> Result<TrustRoots, TlsError> {
        TrustRoots::new().add_pem(pem)
    }

    /// Every certificate in a PEM file; errors name the file.
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<TrustRoots, TlsError> {
        let path = path.as_ref();
        let pem = read_file(path, "CA certificates")?;
        let certificates =
            certificates_from_pem(&pem, &format!("CA certificates {}", path.display()))?;
        let mut roots = TrustRoots::new();
        roots.certificates = certificates;
        Ok(roots)
    }

    /// Adds every certificate in a PEM document.
    pub fn add_pem(mut self, pem: impl AsRef<[u8]>) -> Result<TrustRoots, TlsError> {
        self.certificates
            .extend(certificates_from_pem(pem.as_ref(), "CA certificates")?);
        Ok(self)
    }

    /// Adds one DER certificate.
    pub fn add_der(mut self, certificate: CertificateDer<'static>) -> TrustRoots {
        self.certificates.push(certificate);
        self
    }

    /// Also trusts the operating system's root store (read when the settings are built).
    #[cfg(feature = "tls-native-roots")]
    pub fn with_native_roots(mut self) -> TrustRoots {
        self.native = true;
        self
    }

    /// Also trusts Mozilla's root store, compiled in (`webpki-roots`).
    #[cfg(feature = "tls-webpki-roots")]
    pub fn with_webpki_roots(mut self) -> TrustRoots {
        self.webpki = true;
        self
    }

    pub(crate) fn is_empty(&self) -> bool {
        #[allow(unused_mut)]
        let mut empty = self.certificates.is_empty();
        #[cfg(feature = "tls-native-roots")]
        {
            empty &= !self.native;
        }
        #[cfg(feature = "tls-webpki-roots")]
        {
            empty &= !self.webpki;
        }
        empty
    }

    pub(crate) fn store(&self) -> Result<RootCertStore, TlsError> {
        let mut store = RootCertStore::empty();
        for (i, certificate) in self.certificates.iter().enumerate() {
            store
                .add(certificate.clone())
                .map_err(|e| TlsError::with(format!("CA certificate {i}"), e))?;
        }
        #[cfg(feature = "tls-native-roots")]
        if self.native {
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                let why = found
                    .errors
                    .first()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                return Err(TlsError::new(format!(
                    "no CA certificates found in the operating system's store {why}"
                )));
            }
            // Like browsers: one unparsable system certificate does not lose the others.
            let _ = store.add_parsable_certificates(found.certs);
        }
        #[cfg(feature = "tls-webpki-roots")]
        if self.webpki {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        Ok(store)
    }
}

/// The crypto provider: the process default if the application installed one, else the
/// one compiled in (`ring` first).
pub(crate) fn provider() -> Result<Arc<CryptoProvider>, TlsError> {
    if let Some(installed) = CryptoProvider::get_default() {
        return Ok(installed.clone());
    }
    #[cfg(feature = "tls-ring")]
    {
        Ok(Arc::new(rustls::crypto::ring::default_provider()))
    }
    #[cfg(all(feature = "tls-aws-lc", not(feature = "tls-ring")))]
    {
        Ok(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
    }
    #[cfg(not(any(feature = "tls-ring", feature = "tls-aws-lc")))]
    {
        Err(TlsError::new(
            "no rustls CryptoProvider: enable rgrpc-runtime's `tls` (ring) or `tls-aws-lc` \
             feature, or install one with CryptoProvider::install_default",
        ))
    }
}

#[cfg(test)]
mod tests;
