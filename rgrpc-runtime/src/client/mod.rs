//! The client: a [`Channel`] to one server and the calls made over it.

mod call;
mod channel;
pub(crate) mod response;
mod sender;
mod target;

pub use call::ClientStreamingCall;
pub use call::{client_streaming, server_streaming, streaming, unary};
pub use channel::{Channel, ChannelBuilder};
pub use sender::RequestSender;
