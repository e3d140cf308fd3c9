//! The server: a [`Server`] accepting connections, a router from `:path` to the registered
//! [`Service`]s, and the per-call machinery handlers run in.
//!
//! Files, in the order a call meets them: `builder.rs` (options), `server.rs` (accept loop,
//! shutdown), `dispatch.rs` (request head → routed call, call tasks), `router.rs`,
//! `call.rs` (the four runners), `unary.rs` (the unary fast path), `guard.rs` (deadline,
//! reset, panics), `respond.rs` (unary answers), `sender.rs` (streaming answers).

mod accepted;
mod builder;
mod call;
mod compressed;
mod config;
mod dispatch;
#[cfg(feature = "web")]
mod grpc_web;
mod guard;
mod interceptor;
mod respond;
mod router;
mod sender;
#[allow(clippy::module_inception)]
mod server;
mod unary;

pub use builder::ServerBuilder;
pub use call::{ServerCall, ServerFuture};
pub use compressed::SendCompressed;
pub use interceptor::{ServerCallHead, ServerInterceptor};
pub use router::Service;
pub use sender::ResponseSender;
pub use server::Server;
