//! [`Accepted`]: what the connection hands a call: the HTTP/2 stream and what its request
//! head said. The runners (`call.rs`, `unary.rs`) take it apart.

use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use http::HeaderMap;
use tokio::time::Instant;

use crate::codec::compression::Accepted as AcceptedEncodings;
use crate::codec::CompressionEncoding;
use crate::observe::{EndHooks, Observed};
use crate::request::CallContext;
use crate::transport::budget::ConnectionBudget;

/// One accepted stream with a valid gRPC request head.
pub(crate) struct Accepted {
    pub(crate) headers: HeaderMap,
    pub(crate) body: RecvStream,
    pub(crate) respond: SendResponse<Bytes>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) max_receive: usize,
    pub(crate) compression: Compression,
    pub(crate) context: CallContext,
    /// The call's observer, if the server has one and it wants this call.
    pub(crate) observed: Option<Observed>,
    /// The server's interceptors' end hooks, if it has interceptors.
    pub(crate) hooks: Option<EndHooks>,
    /// Charged for what the call buffers of incomplete request messages.
    pub(crate) budget: std::sync::Arc<ConnectionBudget>,
}

/// How a call's messages are compressed: what the client sent and accepts, and what the
/// service would like to send.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Compression {
    /// The request's `grpc-encoding`.
    pub(crate) request: Option<CompressionEncoding>,
    /// The client's `grpc-accept-encoding`.
    pub(crate) accepted: AcceptedEncodings,
    /// The service's default for responses.
    pub(crate) default: Option<CompressionEncoding>,
}

impl Compression {
    /// The response encoding: `want` is the handler's explicit choice, if any. Only an
    /// encoding the client accepts is ever used.
    pub(crate) fn response(self, want: Option<bool>) -> Option<CompressionEncoding> {
        let default = self.default.filter(|e| self.accepted.contains(*e));
        match want {
            Some(false) => None,
            Some(true) => default.or(self.accepted.preferred()),
            None => default,
        }
    }
}
