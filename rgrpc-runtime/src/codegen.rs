//! The narrow surface generated code uses. Everything generated goes through here, so the
//! runtime can change underneath without regenerating.

pub use std::future::Future;
pub use std::sync::Arc;

pub use crate::client::{client_streaming, server_streaming, streaming, unary};
#[cfg(feature = "protobuf")]
pub use crate::codec::ProtobufCodec;
pub use crate::server::{ServerCall, ServerFuture, Service};
pub use crate::{
    Channel, ClientStreamingCall, IntoRequest, Request, RequestSender, Response, ResponseSender,
    Status, Streaming,
};
pub use crate::{Method, MethodKind};
