//! The server's TLS settings and handshake, and certificate rotation.

use std::fmt;
use std::sync::{Arc, RwLock};

use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite};

use super::info::{HandshakeError, Side, TlsInfo};
use super::{provider, Identity, TlsError, TrustRoots, H2};

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
    pub(super) source: ServerSource,
    pub(super) require_alpn: bool,
}

#[derive(Clone, Debug)]
pub(super) enum ServerSource {
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

    /// A ready rustls configuration, used as it is, except that one offering no ALPN
    /// protocol at all offers `h2` (unless [`ServerTlsConfig::require_alpn`] is off).
    pub fn from_rustls(config: rustls::ServerConfig) -> ServerTlsConfig {
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
            ServerSource::Rustls(config) => {
                if config.alpn_protocols.is_empty() && self.require_alpn {
                    let mut config = rustls::ServerConfig::clone(config);
                    config.alpn_protocols = vec![H2.to_vec()];
                    return Ok(Arc::new(config));
                }
                return Ok(config.clone());
            }
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
            session.handshake_kind(),
        );
        if require_alpn && info.alpn.as_deref() != Some(H2) {
            return Err(HandshakeError::alpn(Side::Server, info.alpn.as_deref()));
        }
        Ok((stream, info))
    }
}
