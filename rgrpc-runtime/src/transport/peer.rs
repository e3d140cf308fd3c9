//! [`Peer`]: who is at the other end of a call's connection.

use std::net::SocketAddr;
use std::path::PathBuf;

/// The transport a connection runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// TCP (plaintext HTTP/2 with prior knowledge).
    Tcp,
    /// TLS over TCP; [`Peer::tls`] has what the handshake established.
    Tls,
    /// A Unix domain socket.
    Unix,
    /// An in-memory duplex inside this process ([`crate::in_process`]).
    InProcess,
}

/// The remote and local ends of a call's connection, shared by every call on it (one `Arc`
/// per connection, cloned per call). Over TLS it also carries the peer's certificates and
/// the names authorization matches ([`Peer::tls`]).
#[derive(Clone, Debug)]
pub struct Peer {
    kind: TransportKind,
    remote: Option<SocketAddr>,
    local: Option<SocketAddr>,
    path: Option<PathBuf>,
    #[cfg(feature = "_tls")]
    tls: Option<crate::tls::TlsInfo>,
}

impl Peer {
    /// A TLS connection over TCP, with what its handshake established.
    #[cfg(feature = "_tls")]
    pub(crate) fn over_tls(
        remote: Option<SocketAddr>,
        local: Option<SocketAddr>,
        info: crate::tls::TlsInfo,
    ) -> Peer {
        Peer {
            kind: TransportKind::Tls,
            remote,
            local,
            path: None,
            tls: Some(info),
        }
    }

    /// Over TLS: the peer's certificate chain, the names in its leaf certificate (URI and
    /// DNS SANs, subject), ALPN and SNI. `None` on other transports.
    #[cfg(feature = "_tls")]
    pub fn tls(&self) -> Option<&crate::tls::TlsInfo> {
        self.tls.as_ref()
    }

    pub(crate) fn tcp(remote: Option<SocketAddr>, local: Option<SocketAddr>) -> Peer {
        Peer {
            kind: TransportKind::Tcp,
            remote,
            local,
            path: None,
            #[cfg(feature = "_tls")]
            tls: None,
        }
    }

    pub(crate) fn unix(path: Option<PathBuf>) -> Peer {
        Peer {
            kind: TransportKind::Unix,
            remote: None,
            local: None,
            path,
            #[cfg(feature = "_tls")]
            tls: None,
        }
    }

    pub(crate) fn in_process() -> Peer {
        Peer {
            kind: TransportKind::InProcess,
            remote: None,
            local: None,
            path: None,
            #[cfg(feature = "_tls")]
            tls: None,
        }
    }

    /// The transport the connection runs over.
    pub fn kind(&self) -> TransportKind {
        self.kind
    }

    /// The remote socket address (TCP only).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// The local socket address (TCP only).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }

    /// The socket path the server listens on (Unix sockets bound to a path).
    pub fn unix_path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }
}
