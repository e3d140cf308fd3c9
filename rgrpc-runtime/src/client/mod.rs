//! The client: a [`Channel`] to one server and the calls made over it.

mod call;
mod channel;
mod credentials;
mod hooks;
mod interceptor;
pub(crate) mod response;
mod sender;
mod target;

pub use call::ClientStreamingCall;
pub use call::{client_streaming, server_streaming, streaming, unary};
pub use channel::{Channel, ChannelBuilder};
pub use credentials::{
    BearerToken, CallCredentials, CompositeCredentials, CredentialsAnswer, CredentialsContext,
    StaticMetadata,
};
pub(crate) use hooks::{CallExtras, ClientWatch};
pub use interceptor::{ClientCallHead, ClientInterceptor, SecurityLevel};
pub use sender::RequestSender;
