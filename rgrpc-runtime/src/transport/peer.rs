//! [`Peer`]: who is at the other end of a call's connection.

use std::net::SocketAddr;
use std::path::PathBuf;

/// The transport a connection runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// TCP (plaintext HTTP/2 with prior knowledge).
    Tcp,
    /// A Unix domain socket.
    Unix,
    /// An in-memory duplex inside this process ([`crate::in_process`]).
    InProcess,
}

/// The remote and local ends of a call's connection, shared by every call on it (one `Arc`
/// per connection, cloned per call). TLS details will be added with TLS support.
#[derive(Clone, Debug)]
pub struct Peer {
    kind: TransportKind,
    remote: Option<SocketAddr>,
    local: Option<SocketAddr>,
    path: Option<PathBuf>,
}

impl Peer {
    pub(crate) fn tcp(remote: Option<SocketAddr>, local: Option<SocketAddr>) -> Peer {
        Peer {
            kind: TransportKind::Tcp,
            remote,
            local,
            path: None,
        }
    }

    pub(crate) fn unix(path: Option<PathBuf>) -> Peer {
        Peer {
            kind: TransportKind::Unix,
            remote: None,
            local: None,
            path,
        }
    }

    pub(crate) fn in_process() -> Peer {
        Peer {
            kind: TransportKind::InProcess,
            remote: None,
            local: None,
            path: None,
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
