//! What carries HTTP/2: TCP, Unix domain sockets, and an in-memory duplex for tests. The
//! connection drivers are generic over the byte stream and monomorphized per transport, so
//! TCP pays nothing for the others (no `Box<dyn AsyncRead>` per read).

mod in_process;
mod peer;

pub use in_process::in_process;
pub(crate) use in_process::Dialer;
pub use peer::{Peer, TransportKind};
