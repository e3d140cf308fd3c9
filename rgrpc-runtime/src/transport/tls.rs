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

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};

pub use super::x509::CertificateIdentity;

/// The ALPN protocol id of HTTP/2 over TLS (RFC 7540 §3.3).
const H2: &[u8] = b"h2";

/// A TLS setting that could not be used: a file that cannot be read, PEM without the
/// expected item, or a certificate/key rustls refuses.
#[derive(Debug)]
pub struct TlsError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl TlsError {
    fn new(message: impl Into<String>) -> TlsError {
        TlsError {
            message: message.into(),
            source: None,
        }
    }

    fn with(
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

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, TlsError> {
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
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
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

    fn is_empty(&self) -> bool {
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

    fn store(&self) -> Result<RootCertStore, TlsError> {
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

/// Whether the server asks clients for a certificate.
#[derive(Clone, Debug, Default)]
pub enum ClientAuth {
    /// No client certificates (plain TLS).
    #[default]
    None,
    /// A client may present a certificate, which must then chain to these roots; one that
    /// presents none is still served (handlers see no peer certificate).
    Optional(TrustRoots),
    /// Every client must present a certificate chaining to these roots (mTLS).
    Required(TrustRoots),
}

/// The crypto provider: the process default if the application installed one, else the
/// one compiled in (`ring` first).
fn provider() -> Result<Arc<CryptoProvider>, TlsError> {
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

/// The server's TLS settings: its identity, whether it verifies client certificates, and
/// ALPN.
///
/// ```
/// # fn run() -> Result<(), rgrpc_runtime::tls::TlsError> {
/// use rgrpc_runtime::tls::{ClientAuth, Identity, ServerTlsConfig, TrustRoots};
///
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/certs");
/// let identity = Identity::from_pem_files(format!("{dir}/server.pem"), format!("{dir}/server.key"))?;
/// let config = ServerTlsConfig::new(identity)
///     .client_auth(ClientAuth::Required(TrustRoots::from_pem_file(format!("{dir}/ca.pem"))?));
/// # let _ = rgrpc_runtime::tls::TlsAcceptor::new(config)?;
/// # Ok(()) }
/// # run().unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct ServerTlsConfig {
    source: ServerSource,
    require_alpn: bool,
}

#[derive(Clone, Debug)]
enum ServerSource {
    Settings {
        identity: Identity,
        client_auth: ClientAuth,
    },
    Rustls(Arc<rustls::ServerConfig>),
}

impl ServerTlsConfig {
    /// TLS with this identity, no client certificates, ALPN `h2` required.
    pub fn new(identity: Identity) -> ServerTlsConfig {
        ServerTlsConfig {
            source: ServerSource::Settings {
                identity,
                client_auth: ClientAuth::None,
            },
            require_alpn: true,
        }
    }

    /// A ready rustls configuration, used as it is except that ALPN is set to `h2` when it
    /// offers no protocol at all.
    pub fn from_rustls(config: rustls::ServerConfig) -> ServerTlsConfig {
        let mut config = config;
        if config.alpn_protocols.is_empty() {
            config.alpn_protocols = vec![H2.to_vec()];
        }
        ServerTlsConfig {
            source: ServerSource::Rustls(Arc::new(config)),
            require_alpn: true,
        }
    }

    /// Whether and how client certificates are verified (default [`ClientAuth::None`]).
    /// Ignored for a configuration from [`ServerTlsConfig::from_rustls`].
    pub fn client_auth(mut self, auth: ClientAuth) -> ServerTlsConfig {
        if let ServerSource::Settings { client_auth, .. } = &mut self.source {
            *client_auth = auth;
        }
        self
    }

    /// Refuse a client that negotiates no ALPN protocol (default `true`; a client that
    /// offers only other protocols is always refused by the handshake itself). grpc-go
    /// since 1.67 refuses such clients too; turn this off only for old clients that speak
    /// HTTP/2 over TLS without ALPN.
    pub fn require_alpn(mut self, require: bool) -> ServerTlsConfig {
        self.require_alpn = require;
        self
    }

    fn build(
        &self,
        previous: Option<&rustls::ServerConfig>,
    ) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let (identity, client_auth) = match &self.source {
            ServerSource::Rustls(config) => return Ok(config.clone()),
            ServerSource::Settings {
                identity,
                client_auth,
            } => (identity, client_auth),
        };
        let provider = provider()?;
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::with("TLS protocol versions", e))?;
        let verifier = match client_auth {
            ClientAuth::None => WebPkiClientVerifier::no_client_auth(),
            ClientAuth::Optional(roots) | ClientAuth::Required(roots) => {
                if roots.is_empty() {
                    return Err(TlsError::new(
                        "client certificate verification needs at least one CA certificate",
                    ));
                }
                let builder =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots.store()?), provider);
                let builder = match client_auth {
                    ClientAuth::Optional(_) => builder.allow_unauthenticated(),
                    _ => builder,
                };
                builder
                    .build()
                    .map_err(|e| TlsError::with("client certificate verifier", e))?
            }
        };
        let mut config = builder
            .with_client_cert_verifier(verifier)
            .with_single_cert(identity.chain.clone(), identity.key.clone_key())
            .map_err(|e| TlsError::with("server certificate and key", e))?;
        config.alpn_protocols = vec![H2.to_vec()];
        if let Some(previous) = previous {
            // Keep resuming the sessions of clients that were connected before a rotation.
            config.session_storage = previous.session_storage.clone();
        }
        Ok(Arc::new(config))
    }
}

/// What the server's handshake uses: swapped whole by a reload.
#[derive(Clone)]
struct Acceptor {
    config: Arc<rustls::ServerConfig>,
    require_alpn: bool,
}

/// The server's TLS handshake, cheap to clone; [`TlsAcceptor::reload`] rotates certificates
/// on a running server (the handles share one setting).
#[derive(Clone)]
pub struct TlsAcceptor {
    current: Arc<RwLock<Acceptor>>,
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor").finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// Builds the settings; fails if rustls refuses the certificate, the key or the roots.
    pub fn new(config: ServerTlsConfig) -> Result<TlsAcceptor, TlsError> {
        let acceptor = Acceptor {
            config: config.build(None)?,
            require_alpn: config.require_alpn,
        };
        Ok(TlsAcceptor {
            current: Arc::new(RwLock::new(acceptor)),
        })
    }

    /// Replaces the settings (a renewed certificate, new client CAs) for connections
    /// accepted from now on; connections already up are unaffected. On error the old
    /// settings stay.
    pub fn reload(&self, config: ServerTlsConfig) -> Result<(), TlsError> {
        let previous = self.snapshot().config;
        let acceptor = Acceptor {
            config: config.build(Some(&previous))?,
            require_alpn: config.require_alpn,
        };
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = acceptor;
        Ok(())
    }

    fn snapshot(&self) -> Acceptor {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The server side of a handshake on `io`.
    pub(crate) async fn accept<IO>(
        &self,
        io: IO,
    ) -> Result<(tokio_rustls::server::TlsStream<IO>, TlsInfo), HandshakeError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let Acceptor {
            config,
            require_alpn,
        } = self.snapshot();
        let stream = tokio_rustls::TlsAcceptor::from(config)
            .accept(io)
            .await
            .map_err(|e| HandshakeError::from_io(Side::Server, e))?;
        let (_, session) = stream.get_ref();
        let info = TlsInfo::new(
            session.alpn_protocol(),
            session.peer_certificates(),
            session.server_name().map(str::to_owned),
            session.protocol_version(),
            session.negotiated_cipher_suite(),
        );
        if require_alpn && info.alpn.as_deref() != Some(H2) {
            return Err(HandshakeError::alpn(Side::Server, info.alpn.as_deref()));
        }
        Ok((stream, info))
    }
}

/// The client's TLS settings for one channel: trust roots, an optional client identity
/// (mTLS), the name to verify, and ALPN.
///
/// ```
/// # fn run() -> Result<(), rgrpc_runtime::tls::TlsError> {
/// use rgrpc_runtime::tls::{ClientTlsConfig, TrustRoots};
///
/// let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/certs/ca.pem");
/// let config = ClientTlsConfig::new()
///     .trust_roots(TrustRoots::from_pem_file(ca)?)
///     .server_name("localhost");
/// # Ok(()) }
/// # run().unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct ClientTlsConfig {
    roots: TrustRoots,
    identity: Option<Identity>,
    server_name: Option<String>,
    require_alpn: bool,
    rustls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for ClientTlsConfig {
    fn default() -> Self {
        ClientTlsConfig::new()
    }
}

impl ClientTlsConfig {
    /// No roots yet (add them with [`ClientTlsConfig::trust_roots`]), no client
    /// certificate, the target's host as the server name, ALPN `h2` required.
    pub fn new() -> ClientTlsConfig {
        ClientTlsConfig {
            roots: TrustRoots::default(),
            identity: None,
            server_name: None,
            require_alpn: true,
            rustls: None,
        }
    }

    /// A ready rustls configuration, used as it is except that ALPN is set to `h2` when it
    /// offers no protocol at all. The server name is still the target's host or
    /// [`ClientTlsConfig::server_name`].
    pub fn from_rustls(config: rustls::ClientConfig) -> ClientTlsConfig {
        let mut config = config;
        if config.alpn_protocols.is_empty() {
            config.alpn_protocols = vec![H2.to_vec()];
        }
        ClientTlsConfig {
            rustls: Some(Arc::new(config)),
            ..ClientTlsConfig::new()
        }
    }

    /// The CA certificates the server's certificate must chain to.
    pub fn trust_roots(mut self, roots: TrustRoots) -> ClientTlsConfig {
        self.roots = roots;
        self
    }

    /// Presents this certificate chain and key when the server asks (mTLS).
    pub fn identity(mut self, identity: Identity) -> ClientTlsConfig {
        self.identity = Some(identity);
        self
    }

    /// Uses `name` instead of the target's host for SNI, for the name the server's
    /// certificate is verified against, and for the calls' `:authority` — the interop
    /// spec's `server_host_override`. A DNS name or an IP address.
    pub fn server_name(mut self, name: impl Into<String>) -> ClientTlsConfig {
        self.server_name = Some(name.into());
        self
    }

    /// The server name override, if one was set.
    pub fn server_name_override(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// Refuse a server that negotiates no ALPN protocol (default `true`). Turn this off only
    /// for servers known to speak HTTP/2 over TLS without ALPN.
    pub fn require_alpn(mut self, require: bool) -> ClientTlsConfig {
        self.require_alpn = require;
        self
    }

    fn build(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        if let Some(config) = &self.rustls {
            return Ok(config.clone());
        }
        if self.roots.is_empty() {
            return Err(TlsError::new(
                "TLS needs trust roots: ClientTlsConfig::trust_roots (or the \
                 tls-native-roots / tls-webpki-roots features)",
            ));
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider()?)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::with("TLS protocol versions", e))?
            .with_root_certificates(self.roots.store()?);
        let mut config = match &self.identity {
            Some(identity) => builder
                .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
                .map_err(|e| TlsError::with("client certificate and key", e))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![H2.to_vec()];
        Ok(Arc::new(config))
    }
}

/// A channel's client side of the handshake. Built once per channel, so the rustls
/// configuration and its session cache are shared by every reconnect (TLS resumption).
#[derive(Clone)]
pub(crate) struct TlsConnector {
    config: Arc<rustls::ClientConfig>,
    server_name: Option<ServerName<'static>>,
    require_alpn: bool,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsConnector {
    pub(crate) fn new(config: &ClientTlsConfig) -> Result<TlsConnector, TlsError> {
        let server_name = match &config.server_name {
            Some(name) => Some(parse_server_name(name)?),
            None => None,
        };
        Ok(TlsConnector {
            config: config.build()?,
            server_name,
            require_alpn: config.require_alpn,
        })
    }

    /// The name verified for a target whose host is `host`: the override, if any.
    pub(crate) fn server_name(&self, host: &str) -> Result<ServerName<'static>, TlsError> {
        match &self.server_name {
            Some(name) => Ok(name.clone()),
            None => parse_server_name(host),
        }
    }

    /// The client side of a handshake on `io`, verifying the server as `name`.
    pub(crate) async fn connect<IO>(
        &self,
        name: ServerName<'static>,
        io: IO,
    ) -> Result<(tokio_rustls::client::TlsStream<IO>, TlsInfo), HandshakeError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let stream = tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(name, io)
            .await
            .map_err(|e| HandshakeError::from_io(Side::Client, e))?;
        let (_, session) = stream.get_ref();
        let info = TlsInfo::new(
            session.alpn_protocol(),
            session.peer_certificates(),
            None,
            session.protocol_version(),
            session.negotiated_cipher_suite(),
        );
        if self.require_alpn && info.alpn.as_deref() != Some(H2) {
            return Err(HandshakeError::alpn(Side::Client, info.alpn.as_deref()));
        }
        Ok((stream, info))
    }
}

/// `host` as a TLS server name: a DNS name or an IP address (brackets around IPv6 allowed).
fn parse_server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(bare.to_owned())
        .map_err(|e| TlsError::with(format!("invalid TLS server name {host:?}"), e))
}

/// What a TLS handshake established: shared by every call on the connection through its
/// [`crate::Peer`].
#[derive(Clone)]
pub struct TlsInfo {
    alpn: Option<Vec<u8>>,
    certificates: Vec<CertificateDer<'static>>,
    identity: Option<CertificateIdentity>,
    server_name: Option<String>,
    version: Option<rustls::ProtocolVersion>,
    cipher_suite: Option<rustls::SupportedCipherSuite>,
}

impl fmt::Debug for TlsInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsInfo")
            .field("alpn", &self.alpn.as_deref().map(String::from_utf8_lossy))
            .field("certificates", &self.certificates.len())
            .field("identity", &self.identity)
            .field("server_name", &self.server_name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl TlsInfo {
    fn new(
        alpn: Option<&[u8]>,
        certificates: Option<&[CertificateDer<'static>]>,
        server_name: Option<String>,
        version: Option<rustls::ProtocolVersion>,
        cipher_suite: Option<rustls::SupportedCipherSuite>,
    ) -> TlsInfo {
        let certificates = certificates.map(<[_]>::to_vec).unwrap_or_default();
        // Parsed once per connection, so authorization does no DER work per call.
        let identity = certificates
            .first()
            .and_then(|leaf| CertificateIdentity::from_der(leaf));
        TlsInfo {
            alpn: alpn.map(<[u8]>::to_vec),
            certificates,
            identity,
            server_name,
            version,
            cipher_suite,
        }
    }

    /// The peer's certificate chain as it sent it (leaf first); empty when it sent none
    /// (always so for a client without a certificate).
    pub fn peer_certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }

    /// The names in the peer's leaf certificate (SANs and subject), if it sent one that
    /// parses.
    pub fn peer_identity(&self) -> Option<&CertificateIdentity> {
        self.identity.as_ref()
    }

    /// The negotiated ALPN protocol (`h2`), if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }

    /// Server side: the name the client asked for (SNI), if it sent one.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// The TLS version, e.g. `TLSv1_3`.
    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.version
    }

    /// The negotiated cipher suite.
    pub fn cipher_suite(&self) -> Option<rustls::CipherSuite> {
        self.cipher_suite.map(|s| s.suite())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

/// A failed TLS handshake, with a reason a person can act on.
#[derive(Debug)]
pub struct HandshakeError {
    message: String,
    source: Option<io::Error>,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl HandshakeError {
    fn alpn(side: Side, got: Option<&[u8]>) -> HandshakeError {
        let peer = match side {
            Side::Client => "server",
            Side::Server => "client",
        };
        let message = match got {
            None => format!(
                "the {peer} negotiated no ALPN protocol; gRPC needs h2 (require_alpn(false) \
                 accepts a {peer} known to speak HTTP/2 without ALPN)"
            ),
            Some(other) => format!(
                "the {peer} negotiated ALPN {:?}; gRPC needs h2",
                String::from_utf8_lossy(other)
            ),
        };
        HandshakeError {
            message,
            source: None,
        }
    }

    fn from_io(side: Side, error: io::Error) -> HandshakeError {
        let rustls = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        let message = match rustls {
            Some(e) => explain(side, e),
            None if error.kind() == io::ErrorKind::UnexpectedEof => match side {
                Side::Client => "the server closed the connection during the TLS handshake \
                                 (does it speak TLS on this port? it may also have refused \
                                 this client's certificate)"
                    .to_owned(),
                Side::Server => {
                    "the client closed the connection during the TLS handshake".to_owned()
                }
            },
            None => error.to_string(),
        };
        HandshakeError {
            message,
            source: Some(error),
        }
    }
}

/// A rustls error, with what it usually means for a gRPC deployment.
fn explain(side: Side, error: &rustls::Error) -> String {
    use rustls::{AlertDescription as Alert, Error as E};
    let peer = match side {
        Side::Client => "server",
        Side::Server => "client",
    };
    let hint = match error {
        E::InvalidCertificate(cert) => match cert {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("the {peer}'s certificate has expired")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("the {peer}'s certificate is not valid yet")
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("the {peer}'s certificate is not valid for the name it was asked for")
            }
            CertificateError::UnknownIssuer => format!(
                "the {peer}'s certificate is not signed by a trusted CA (unknown issuer or \
                 self-signed)"
            ),
            CertificateError::BadSignature => {
                format!("the {peer}'s certificate has a bad signature")
            }
            // webpki's way of saying a self-signed CA certificate was presented as a leaf.
            CertificateError::Other(other)
                if format!("{other:?}").contains("CaUsedAsEndEntity") =>
            {
                format!("the {peer}'s certificate is a CA certificate, not one for a {peer} (self-signed?)")
            }
            _ => format!("the {peer}'s certificate was refused"),
        },
        E::NoCertificatesPresented => format!("the {peer} presented no certificate"),
        E::AlertReceived(alert) => match alert {
            Alert::CertificateRequired => {
                format!("the {peer} requires a client certificate and none was sent")
            }
            Alert::UnknownCA | Alert::BadCertificate | Alert::CertificateUnknown => {
                format!("the {peer} refused this end's certificate")
            }
            Alert::CertificateExpired => {
                format!("the {peer} refused this end's expired certificate")
            }
            Alert::NoApplicationProtocol => {
                format!("the {peer} does not speak h2 (ALPN: no protocol in common)")
            }
            _ => format!("the {peer} aborted the handshake"),
        },
        E::NoApplicationProtocol => {
            format!("the {peer} does not offer h2 (ALPN: no protocol in common)")
        }
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => match side {
            Side::Client => "the server did not answer with TLS (is it a plaintext port? use \
                             http:// for plaintext)"
                .to_owned(),
            Side::Server => {
                "the client did not speak TLS (a plaintext client at a TLS port?)".to_owned()
            }
        },
        _ => return format!("TLS handshake failed: {error}"),
    };
    format!("{hint} ({error})")
}

/// Whether `io` failed because its peer sent a TLS record where HTTP/2 was expected: a
/// plaintext client at a TLS port sees the server's alert. Used to name the likely cause.
pub(crate) fn looks_like_tls(first_bytes: &[u8]) -> bool {
    // A TLS record: content type alert (21) or handshake (22), version 3.x.
    matches!(first_bytes, [21 | 22, 3, _, ..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn certs() -> String {
        format!("{}/tests/certs", env!("CARGO_MANIFEST_DIR"))
    }

    fn identity(name: &str) -> Identity {
        let dir = certs();
        Identity::from_pem_files(format!("{dir}/{name}.pem"), format!("{dir}/{name}.key")).unwrap()
    }

    fn ca() -> TrustRoots {
        TrustRoots::from_pem_file(format!("{}/ca.pem", certs())).unwrap()
    }

    fn client_config() -> ClientTlsConfig {
        ClientTlsConfig::new().trust_roots(ca())
    }

    /// Both handshakes over an in-memory duplex; a byte is echoed to prove the session works.
    async fn handshake(
        server: ServerTlsConfig,
        client: ClientTlsConfig,
        host: &str,
    ) -> (
        Result<TlsInfo, HandshakeError>,
        Result<TlsInfo, HandshakeError>,
    ) {
        let acceptor = TlsAcceptor::new(server).unwrap();
        handshake_with(&acceptor, client, host).await
    }

    async fn handshake_with(
        acceptor: &TlsAcceptor,
        client: ClientTlsConfig,
        host: &str,
    ) -> (
        Result<TlsInfo, HandshakeError>,
        Result<TlsInfo, HandshakeError>,
    ) {
        let connector = TlsConnector::new(&client).unwrap();
        let name = connector.server_name(host).unwrap();
        let (a, b) = tokio::io::duplex(64 * 1024);
        let server = async {
            let (mut stream, info) = acceptor.accept(a).await?;
            let mut byte = [0u8; 1];
            stream
                .read_exact(&mut byte)
                .await
                .map_err(|e| HandshakeError::from_io(Side::Server, e))?;
            stream
                .write_all(&byte)
                .await
                .map_err(|e| HandshakeError::from_io(Side::Server, e))?;
            stream
                .flush()
                .await
                .map_err(|e| HandshakeError::from_io(Side::Server, e))?;
            Ok(info)
        };
        let client = async {
            let (mut stream, info) = connector.connect(name, b).await?;
            stream
                .write_all(b"x")
                .await
                .map_err(|e| HandshakeError::from_io(Side::Client, e))?;
            stream
                .flush()
                .await
                .map_err(|e| HandshakeError::from_io(Side::Client, e))?;
            let mut byte = [0u8; 1];
            stream
                .read_exact(&mut byte)
                .await
                .map_err(|e| HandshakeError::from_io(Side::Client, e))?;
            assert_eq!(&byte, b"x");
            Ok(info)
        };
        let bounded = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            // Whichever side fails first drops its end, so the other one ends too.
            tokio::join!(server, client)
        });
        bounded.await.expect("handshake hung")
    }

    #[tokio::test]
    async fn tls_handshake_negotiates_h2_and_sees_the_server_certificate() {
        let (server, client) = handshake(
            ServerTlsConfig::new(identity("server")),
            client_config(),
            "localhost",
        )
        .await;
        let (server, client) = (server.unwrap(), client.unwrap());
        assert_eq!(server.alpn_protocol(), Some(&b"h2"[..]));
        assert_eq!(server.server_name(), Some("localhost"));
        assert!(server.peer_certificates().is_empty());
        assert!(server.peer_identity().is_none());
        assert_eq!(client.peer_certificates().len(), 1);
        assert_eq!(client.peer_identity().unwrap().dns_names()[0], "localhost");
        assert!(client.protocol_version().is_some());
        assert!(client.cipher_suite().is_some());
    }

    #[tokio::test]
    async fn ip_address_names_and_chains_with_intermediates() {
        let (server, client) = handshake(
            ServerTlsConfig::new(identity("server-chain")),
            client_config(),
            "127.0.0.1",
        )
        .await;
        server.unwrap();
        assert_eq!(client.unwrap().peer_certificates().len(), 2);
        let (server, client) = handshake(
            ServerTlsConfig::new(identity("server")),
            client_config(),
            "[::1]",
        )
        .await;
        server.unwrap();
        client.unwrap();
    }

    #[tokio::test]
    async fn mtls_required_gives_the_server_the_client_identity() {
        let server =
            ServerTlsConfig::new(identity("server")).client_auth(ClientAuth::Required(ca()));
        let (server, client) = handshake(
            server,
            client_config().identity(identity("client")),
            "localhost",
        )
        .await;
        client.unwrap();
        let server = server.unwrap();
        let id = server.peer_identity().unwrap();
        assert_eq!(id.uris(), ["spiffe://rgrpc.test/client"]);
        assert_eq!(id.subject(), "CN=client,O=rgrpc,C=US");
    }

    #[tokio::test]
    async fn mtls_required_refuses_a_client_without_a_certificate() {
        let server =
            ServerTlsConfig::new(identity("server")).client_auth(ClientAuth::Required(ca()));
        let (server, client) = handshake(server, client_config(), "localhost").await;
        let server = server.unwrap_err().to_string();
        assert!(server.contains("presented no certificate"), "{server}");
        // TLS 1.3: the client finishes its handshake first and learns of the refusal on
        // its first read.
        let client = client.unwrap_err().to_string();
        assert!(client.contains("requires a client certificate"), "{client}");
    }

    #[tokio::test]
    async fn mtls_refuses_a_client_certificate_from_an_unknown_ca() {
        let server =
            ServerTlsConfig::new(identity("server")).client_auth(ClientAuth::Required(ca()));
        let (server, client) = handshake(
            server,
            client_config().identity(identity("client-unknown-ca")),
            "localhost",
        )
        .await;
        let server = server.unwrap_err().to_string();
        assert!(server.contains("not signed by a trusted CA"), "{server}");
        let client = client.unwrap_err().to_string();
        assert!(
            client.contains("refused this end's certificate"),
            "{client}"
        );
    }

    #[tokio::test]
    async fn optional_client_auth_accepts_both() {
        let server =
            ServerTlsConfig::new(identity("server")).client_auth(ClientAuth::Optional(ca()));
        let acceptor = TlsAcceptor::new(server).unwrap();
        let (s, c) = handshake_with(&acceptor, client_config(), "localhost").await;
        assert!(s.unwrap().peer_identity().is_none());
        c.unwrap();
        let (s, c) = handshake_with(
            &acceptor,
            client_config().identity(identity("client2")),
            "localhost",
        )
        .await;
        assert_eq!(
            s.unwrap().peer_identity().unwrap().uris(),
            ["spiffe://rgrpc.test/other"]
        );
        c.unwrap();
    }

    #[tokio::test]
    async fn bad_server_certificates_fail_with_a_reason() {
        for (name, host, want) in [
            ("expired", "localhost", "has expired"),
            ("notyet", "localhost", "not valid yet"),
            ("wronghost", "localhost", "not valid for the name"),
            ("server", "elsewhere.example", "not valid for the name"),
            ("selfsigned", "localhost", "self-signed"),
            ("unknown-ca", "localhost", "not signed by a trusted CA"),
        ] {
            let (server, client) =
                handshake(ServerTlsConfig::new(identity(name)), client_config(), host).await;
            let client = client.unwrap_err().to_string();
            assert!(client.contains(want), "{name}@{host}: {client}");
            assert!(server.is_err(), "{name}: the server saw the handshake fail");
        }
    }

    #[tokio::test]
    async fn server_name_override_is_what_is_verified_and_sent() {
        // The certificate names *.test.rgrpc, the host does not: the override wins.
        let client = client_config().server_name("foo.test.rgrpc");
        let (server, client) = handshake(
            ServerTlsConfig::new(identity("server")),
            client,
            "127.0.0.2",
        )
        .await;
        assert_eq!(server.unwrap().server_name(), Some("foo.test.rgrpc"));
        client.unwrap();
    }

    #[tokio::test]
    async fn alpn_is_required_on_both_ends_unless_turned_off() {
        let server_config = || {
            let identity = identity("server");
            let mut config = rustls::ServerConfig::builder_with_provider(provider().unwrap())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(identity.chain.clone(), identity.key.clone_key())
                .unwrap();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            config
        };
        // A server that offers only http/1.1: the client offers h2 only, rustls refuses.
        let (server, client) = handshake(
            ServerTlsConfig::from_rustls(server_config()),
            client_config(),
            "localhost",
        )
        .await;
        assert!(server
            .unwrap_err()
            .to_string()
            .contains("does not offer h2"));
        assert!(client
            .unwrap_err()
            .to_string()
            .contains("does not speak h2"));

        // A client that offers no ALPN at all: refused by default, accepted on opt-out.
        let no_alpn = || {
            let mut config = rustls::ClientConfig::builder_with_provider(provider().unwrap())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(ca().store().unwrap())
                .with_no_client_auth();
            config.alpn_protocols = vec![b"x".to_vec()];
            config.alpn_protocols.clear();
            config
        };
        let mut bare = ClientTlsConfig::from_rustls(no_alpn());
        // from_rustls adds h2 to an empty list; take it out again to play an old client.
        bare.rustls = Some(Arc::new(no_alpn()));
        let bare = bare.require_alpn(false);
        let (server, client) = handshake(
            ServerTlsConfig::new(identity("server")),
            bare.clone(),
            "localhost",
        )
        .await;
        let server = server.unwrap_err().to_string();
        assert!(server.contains("negotiated no ALPN protocol"), "{server}");
        assert!(client.is_err());
        let (server, client) = handshake(
            ServerTlsConfig::new(identity("server")).require_alpn(false),
            bare,
            "localhost",
        )
        .await;
        server.unwrap();
        client.unwrap();

        // A server that negotiates no ALPN: the client refuses unless told otherwise.
        let mut silent = server_config();
        silent.alpn_protocols.clear();
        let silent = ServerTlsConfig {
            source: ServerSource::Rustls(Arc::new(silent)),
            require_alpn: false,
        };
        let (_, client) = handshake(silent.clone(), client_config(), "localhost").await;
        let client = client.unwrap_err().to_string();
        assert!(
            client.contains("the server negotiated no ALPN protocol"),
            "{client}"
        );
        let (server, client) =
            handshake(silent, client_config().require_alpn(false), "localhost").await;
        server.unwrap();
        client.unwrap();
    }

    #[tokio::test]
    async fn plaintext_at_a_tls_port_and_tls_at_a_plaintext_port() {
        // A plaintext HTTP/2 client at a TLS server.
        let acceptor = TlsAcceptor::new(ServerTlsConfig::new(identity("server"))).unwrap();
        let (a, mut b) = tokio::io::duplex(64 * 1024);
        let client = async move {
            b.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                .await
                .unwrap();
            let mut reply = Vec::new();
            let _ = b.read_to_end(&mut reply).await;
            reply
        };
        let (server, reply) = tokio::join!(acceptor.accept(a), client);
        let server = server.unwrap_err().to_string();
        assert!(server.contains("did not speak TLS"), "{server}");
        // What the plaintext client reads back is a TLS alert, which it can recognise.
        assert!(looks_like_tls(&reply), "{reply:?}");

        // A TLS client at a plaintext HTTP/2 server, which answers with a SETTINGS frame
        // and a GOAWAY.
        let connector = TlsConnector::new(&client_config()).unwrap();
        let (a, mut b) = tokio::io::duplex(64 * 1024);
        let server = async move {
            let mut hello = [0u8; 24];
            let _ = b.read_exact(&mut hello).await;
            let _ = b.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await;
            let _ = b
                .write_all(&[0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
                .await;
        };
        let name = connector.server_name("localhost").unwrap();
        let (client, ()) = tokio::join!(connector.connect(name, a), server);
        let client = client.unwrap_err().to_string();
        assert!(client.contains("did not answer with TLS"), "{client}");
    }

    #[tokio::test]
    async fn reload_rotates_the_certificate_for_new_connections() {
        let acceptor = TlsAcceptor::new(ServerTlsConfig::new(identity("server"))).unwrap();
        let (_, c) = handshake_with(&acceptor, client_config(), "localhost").await;
        let first = c.unwrap().peer_certificates()[0].clone();
        // A bad reload keeps the old settings.
        let broken = ServerTlsConfig::new(identity("server"))
            .client_auth(ClientAuth::Required(TrustRoots::new()));
        assert!(acceptor.reload(broken).is_err());
        acceptor
            .reload(ServerTlsConfig::new(identity("server-chain")))
            .unwrap();
        let (_, c) = handshake_with(&acceptor, client_config(), "localhost").await;
        let second = c.unwrap();
        assert_ne!(second.peer_certificates()[0], first);
        assert_eq!(second.peer_certificates().len(), 2);
    }

    #[test]
    fn configuration_errors_name_the_problem() {
        let dir = certs();
        let missing =
            Identity::from_pem_files(format!("{dir}/nope.pem"), format!("{dir}/server.key"))
                .unwrap_err()
                .to_string();
        assert!(missing.contains("nope.pem"), "{missing}");
        let no_key =
            Identity::from_pem_files(format!("{dir}/server.pem"), format!("{dir}/server.pem"))
                .unwrap_err()
                .to_string();
        assert!(
            no_key.contains("server.pem") && no_key.contains("PRIVATE KEY"),
            "{no_key}"
        );
        let not_pem = TrustRoots::from_pem("hello").unwrap_err().to_string();
        assert!(not_pem.contains("no CERTIFICATE"), "{not_pem}");
        // The key of another certificate.
        let chain = std::fs::read(format!("{dir}/server.pem")).unwrap();
        let key = std::fs::read(format!("{dir}/client.key")).unwrap();
        let mismatch = TlsAcceptor::new(ServerTlsConfig::new(
            Identity::from_pem(chain, key).unwrap(),
        ))
        .unwrap_err()
        .to_string();
        assert!(
            mismatch.contains("server certificate and key"),
            "{mismatch}"
        );
        let no_roots = TlsConnector::new(&ClientTlsConfig::new())
            .unwrap_err()
            .to_string();
        assert!(no_roots.contains("trust roots"), "{no_roots}");
        let bad_name = TlsConnector::new(&client_config().server_name("not a name!"))
            .unwrap_err()
            .to_string();
        assert!(bad_name.contains("invalid TLS server name"), "{bad_name}");
        // SEC1 ("EC PRIVATE KEY") keys load as well as PKCS#8.
        identity("client2");
    }
}
