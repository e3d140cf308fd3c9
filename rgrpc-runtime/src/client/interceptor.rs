//! Client interceptors: see and change an outgoing call's head (method, metadata, deadline,
//! extensions) before anything is sent, refuse it with a status, and observe how it ended.

use std::sync::Arc;

use http::uri::Authority;
use tokio::time::Instant;

use crate::intercept::{CallOutcome, Intercepted, Step};
use crate::metadata::MetadataMap;

/// How well the channel's transport protects what a call sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecurityLevel {
    /// TLS: private and authenticated.
    Tls,
    /// A Unix socket or an in-process connection: never leaves the machine.
    Local,
    /// Plaintext TCP: anyone on the path can read it.
    Insecure,
}

/// An outgoing call before anything of it is sent.
#[derive(Debug)]
pub struct ClientCallHead {
    pub(crate) method: &'static str,
    pub(crate) authority: Authority,
    pub(crate) metadata: MetadataMap,
    pub(crate) deadline: Option<Instant>,
    pub(crate) extensions: http::Extensions,
    pub(crate) security: SecurityLevel,
}

impl ClientCallHead {
    pub(crate) fn new(
        method: &'static str,
        authority: Authority,
        metadata: MetadataMap,
        deadline: Option<Instant>,
        extensions: http::Extensions,
        security: SecurityLevel,
    ) -> ClientCallHead {
        ClientCallHead {
            method,
            authority,
            metadata,
            deadline,
            extensions,
            security,
        }
    }

    /// The method's path, `/package.Service/Method`.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// Sends the call to another method (same request and response types, or the server
    /// will fail to decode it).
    pub fn set_method(&mut self, method: &'static str) {
        self.method = method;
    }

    /// The `:authority` the call is sent with.
    pub fn authority(&self) -> &str {
        self.authority.as_str()
    }

    /// The request metadata.
    pub fn metadata(&self) -> &MetadataMap {
        &self.metadata
    }

    /// Mutable access to the request metadata.
    pub fn metadata_mut(&mut self) -> &mut MetadataMap {
        &mut self.metadata
    }

    /// The call's deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Sets or clears the call's deadline.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// Values the caller attached to the request ([`crate::Request::extensions_mut`]), for
    /// interceptors.
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// Mutable access to the call's extensions.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    /// How the channel's transport protects the call.
    pub fn security(&self) -> SecurityLevel {
        self.security
    }
}

/// Runs before a client call sends anything, in registration order with the channel's other
/// interceptors (then the channel's and the call's credentials).
///
/// ```
/// use rgrpc_runtime::client::{ClientCallHead, ClientInterceptor};
/// use rgrpc_runtime::Intercepted;
///
/// /// Stamps every call with a request id.
/// struct RequestId;
///
/// impl ClientInterceptor for RequestId {
///     fn on_call(&self, mut call: ClientCallHead) -> Intercepted<ClientCallHead> {
///         match call.metadata_mut().insert("x-request-id", "42") {
///             Ok(()) => Intercepted::proceed(call),
///             Err(e) => Intercepted::reject(rgrpc_runtime::Status::internal(e.to_string())),
///         }
///     }
/// }
/// ```
pub trait ClientInterceptor: Send + Sync + 'static {
    /// Sees the call head and lets it go on (changed or not), refuses it, or decides
    /// asynchronously ([`Intercepted::pending`]).
    fn on_call(&self, call: ClientCallHead) -> Intercepted<ClientCallHead>;

    /// Called once when a call that this interceptor let through ends (its status and how
    /// long it took). The default does nothing.
    fn on_end(&self, outcome: &CallOutcome<'_>) {
        let _ = outcome;
    }
}

impl std::fmt::Debug for dyn ClientInterceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientInterceptor(..)")
    }
}

impl Step<ClientCallHead> for dyn ClientInterceptor {
    fn step(&self, head: ClientCallHead) -> Intercepted<ClientCallHead> {
        self.on_call(head)
    }
}

/// A channel's interceptors, shared by its clones.
pub(crate) type ClientChain = Arc<[Arc<dyn ClientInterceptor>]>;
