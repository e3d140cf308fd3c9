//! The client: a [`Channel`] to one server and the calls made over it.

mod call;
mod channel;

pub use call::{client_streaming, server_streaming, streaming, unary};
pub use call::{ClientStreamingCall, RequestSender};
pub use channel::{Channel, ChannelBuilder};
