//! The client's TLS settings and handshake, one per channel.

use std::fmt;
use std::sync::Arc;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};

use super::info::{HandshakeError, Side, TlsInfo};
use super::{provider, Identity, TlsError, TrustRoots, H2};

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
    pub(super) rustls: Option<Arc<rustls::ClientConfig>>,
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

    /// A ready rustls configuration, used as it is, except that one offering no ALPN
    /// protocol at all offers `h2` (unless [`ClientTlsConfig::require_alpn`] is off). The
    /// server name is still the target's host or [`ClientTlsConfig::server_name`].
    pub fn from_rustls(config: rustls::ClientConfig) -> ClientTlsConfig {
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
            if config.alpn_protocols.is_empty() && self.require_alpn {
                let mut config = rustls::ClientConfig::clone(config);
                config.alpn_protocols = vec![H2.to_vec()];
                return Ok(Arc::new(config));
            }
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
            session.handshake_kind(),
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
