//! The server: a [`Server`] accepting connections, a router from `:path` to the registered
//! [`Service`]s, and the per-call machinery handlers run in.

mod call;
mod compressed;
mod router;
mod sender;
#[allow(clippy::module_inception)]
mod server;
mod unary;

pub use call::{ServerCall, ServerFuture};
pub use compressed::SendCompressed;
pub use router::Service;
pub use sender::ResponseSender;
pub use server::{Server, ServerBuilder};
