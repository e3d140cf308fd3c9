//! Server interceptors: see and change an incoming call's head (method, metadata, deadline,
//! extensions; the peer), refuse it before its body is read, and observe how it ended.

use std::sync::Arc;

use http::uri::PathAndQuery;
use tokio::time::Instant;

use crate::intercept::{CallOutcome, Intercepted, Step};
use crate::metadata::MetadataMap;
use crate::transport::Peer;
use crate::Status;

/// An incoming call as far as its headers: what interceptors see and may change before the
/// call is routed to its handler.
#[derive(Debug)]
pub struct ServerCallHead {
    pub(crate) path: PathAndQuery,
    pub(crate) metadata: MetadataMap,
    pub(crate) deadline: Option<Instant>,
    pub(crate) peer: Option<Arc<Peer>>,
    pub(crate) extensions: http::Extensions,
}

impl ServerCallHead {
    /// The method's path, `/package.Service/Method`.
    pub fn method(&self) -> &str {
        self.path.path()
    }

    /// Routes the call to another method (which must take the same request type).
    pub fn set_method(&mut self, method: &str) -> Result<(), Status> {
        self.path = PathAndQuery::try_from(method)
            .map_err(|e| Status::internal(format!("invalid method path {method:?}: {e}")))?;
        Ok(())
    }

    /// The request metadata.
    pub fn metadata(&self) -> &MetadataMap {
        &self.metadata
    }

    /// Mutable access to the request metadata (the handler sees the changes).
    pub fn metadata_mut(&mut self) -> &mut MetadataMap {
        &mut self.metadata
    }

    /// The call's deadline, if the client sent one.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Sets or clears the deadline the server enforces for this call.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// The other end of the call's connection: addresses, transport, TLS identity.
    pub fn peer(&self) -> Option<&Peer> {
        self.peer.as_deref()
    }

    /// Typed values for the handler ([`crate::Request::extensions`]): an authenticated
    /// user, a tenant.
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// Mutable access to the call's extensions.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }
}

/// Runs before a call is routed, in registration order with the server's other
/// interceptors; a rejection answers the call with that status before its body is read.
///
/// ```
/// use rgrpc_runtime::server::{ServerCallHead, ServerInterceptor};
/// use rgrpc_runtime::{Intercepted, Status};
///
/// /// Refuses calls without an API key; tells the handler who called.
/// struct ApiKey;
///
/// #[derive(Clone)]
/// struct Caller(String);
///
/// impl ServerInterceptor for ApiKey {
///     fn on_call(&self, mut call: ServerCallHead) -> Intercepted<ServerCallHead> {
///         let Some(key) = call.metadata().get("x-api-key").map(str::to_owned) else {
///             return Intercepted::reject(Status::unauthenticated("x-api-key is missing"));
///         };
///         call.extensions_mut().insert(Caller(key));
///         Intercepted::proceed(call)
///     }
/// }
/// ```
pub trait ServerInterceptor: Send + Sync + 'static {
    /// Sees the call head and lets it go on (changed or not), refuses it, or decides
    /// asynchronously ([`Intercepted::pending`]).
    fn on_call(&self, call: ServerCallHead) -> Intercepted<ServerCallHead>;

    /// Called once when a call ends, with its status and how long it took — every call
    /// that reached the interceptors, including ones an interceptor refused. The default
    /// does nothing.
    fn on_end(&self, outcome: &CallOutcome<'_>) {
        let _ = outcome;
    }
}

impl Step<ServerCallHead> for dyn ServerInterceptor {
    fn step(&self, head: ServerCallHead) -> Intercepted<ServerCallHead> {
        self.on_call(head)
    }
}

/// A server's interceptors, shared by every connection.
// Used by dispatch once interceptors are wired in (after the issue 8 restructure).
#[allow(dead_code)]
pub(crate) type ServerChain = Arc<[Arc<dyn ServerInterceptor>]>;
