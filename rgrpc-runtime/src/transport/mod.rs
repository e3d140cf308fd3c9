//! Everything that touches a socket or drives HTTP/2: dialling and accepting over TCP, Unix
//! domain sockets and an in-memory duplex; the client and server connection drivers; the
//! coalescing writer and the per-stream outbox. The drivers are generic over the byte
//! stream and monomorphized per transport, so TCP pays nothing for the others (no
//! `Box<dyn AsyncRead>` per read).

pub(crate) mod budget;
pub(crate) mod client;
pub(crate) mod coalesce;
mod in_process;
pub(crate) mod outbox;
mod peer;
pub(crate) mod server;
#[cfg(feature = "_tls")]
pub mod tls;
#[cfg(feature = "_tls")]
mod x509;

pub use in_process::in_process;
pub(crate) use in_process::Dialer;
pub use in_process::InProcessServer;
pub use peer::{Peer, TransportKind};
