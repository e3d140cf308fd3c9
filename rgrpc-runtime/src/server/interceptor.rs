//! Server interceptors: see and change an incoming call's head (method, metadata, deadline,
//! extensions; the peer), refuse it before its body is read, and observe how it ended.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::PathAndQuery;
use tokio::time::Instant;

use super::accepted::{Accepted, Compression};
use super::call::{ServerCall, ServerFuture};
use super::guard::deadline_status;
use super::respond::send_trailers_only;
use super::router::Router;
use crate::intercept::{self, CallOutcome, ChainWait, Chained, Intercepted, Step};
use crate::metadata::MetadataMap;
use crate::observe::{EndGuard, EndHook, EndHooks};
use crate::request::CallContext;
use crate::transport::budget::ConnectionBudget;
use crate::transport::Peer;
use crate::Status;

/// An incoming call as far as its headers: what interceptors see and may change before the
/// call is routed to its handler.
#[derive(Debug)]
pub struct ServerCallHead {
    pub(crate) path: PathAndQuery,
    pub(crate) authority: Option<http::uri::Authority>,
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

    /// The `:authority` the client sent (the host it meant), if any.
    pub fn authority(&self) -> Option<&str> {
        self.authority.as_ref().map(http::uri::Authority::as_str)
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

impl std::fmt::Debug for dyn ServerInterceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerInterceptor(..)")
    }
}

impl Step<ServerCallHead> for dyn ServerInterceptor {
    fn step(&self, head: ServerCallHead) -> Intercepted<ServerCallHead> {
        self.on_call(head)
    }
}

/// A server's interceptors, shared by every connection: the chain calls run through, and
/// the end hook that tells each interceptor how its calls ended (made once, so a call pays
/// an `Arc` clone for it, not an allocation).
pub(crate) struct Interceptors {
    chain: Arc<[Arc<dyn ServerInterceptor>]>,
    ends: Arc<dyn EndHook>,
}

impl Interceptors {
    pub(crate) fn new(list: Vec<Arc<dyn ServerInterceptor>>) -> Interceptors {
        let chain: Arc<[Arc<dyn ServerInterceptor>]> = list.into();
        Interceptors {
            ends: Arc::new(ChainEnds(chain.clone())),
            chain,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chain.is_empty()
    }
}

/// Tells every interceptor of a chain how a call ended ([`ServerInterceptor::on_end`]).
struct ChainEnds(Arc<[Arc<dyn ServerInterceptor>]>);

impl EndHook for ChainEnds {
    fn call_ended(&self, method: &str, status: Option<&Status>, duration: Duration) {
        let outcome = CallOutcome {
            method,
            error: status.filter(|s| s.code() != crate::Code::Ok),
            duration,
        };
        for interceptor in self.0.iter() {
            interceptor.on_end(&outcome);
        }
    }
}

/// A call through the server's interceptors: runs the chain on its head, then routes it
/// (or answers the refusal). Every call that reaches the chain, refused or not, reports
/// its end to the interceptors through the same [`EndGuard`] the runners end observed
/// calls with.
pub(crate) fn start(
    interceptors: &Interceptors,
    router: &Router,
    uri: http::Uri,
    accepted: Accepted,
) -> ServerFuture {
    let uri = uri.into_parts();
    let authority = uri.authority;
    let path = uri
        .path_and_query
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let Accepted {
        headers,
        body,
        respond,
        deadline,
        max_receive,
        compression,
        context,
        observed,
        hooks: _,
        budget,
    } = accepted;
    let hooks = EndHooks::new(interceptors.ends.clone(), path.clone());
    let client_deadline = deadline;
    let head = ServerCallHead {
        path,
        authority,
        metadata: MetadataMap::from_headers(headers),
        deadline,
        peer: context.peer,
        extensions: context.extensions,
    };
    let rest = Rest {
        body,
        respond,
        max_receive,
        compression,
        end: EndGuard::server(observed, Some(hooks)),
        budget,
    };
    match intercept::run(&interceptors.chain, head) {
        Chained::Done(Ok(head)) => route(router, rest, head),
        Chained::Done(Err(status)) => {
            let Rest {
                mut respond,
                mut end,
                ..
            } = rest;
            send_trailers_only(&mut respond, &status);
            end.end(Some(&status));
            // A zero-sized future: boxing it does not allocate.
            Box::pin(std::future::ready(()))
        }
        Chained::Waiting(wait) => {
            // While the interceptors decide, the call is held to the client's deadline.
            let deadline = deadline_sleep(client_deadline);
            Box::pin(Waiting {
                wait,
                rest: Some(rest),
                router: router.clone(),
                routed: None,
                deadline,
            })
        }
    }
}

/// What a call needs besides its head to be routed after its interceptors. Its end guard
/// reports a call dropped while it waits (the client reset it, the server stopped) as
/// CANCELLED.
struct Rest {
    body: h2::RecvStream,
    respond: h2::server::SendResponse<bytes::Bytes>,
    max_receive: usize,
    compression: Compression,
    end: EndGuard,
    budget: Arc<ConnectionBudget>,
}

fn route(router: &Router, rest: Rest, head: ServerCallHead) -> ServerFuture {
    let (observed, hooks) = rest.end.into_parts();
    let call = ServerCall(Accepted {
        headers: head.metadata.into_headers(),
        body: rest.body,
        respond: rest.respond,
        deadline: head.deadline,
        max_receive: rest.max_receive,
        compression: rest.compression,
        context: CallContext {
            peer: head.peer,
            extensions: head.extensions,
        },
        observed,
        hooks,
        budget: rest.budget,
    });
    router.route(head.path.path(), call)
}

fn deadline_sleep(deadline: Option<Instant>) -> Option<Pin<Box<tokio::time::Sleep>>> {
    deadline.map(|d| Box::pin(tokio::time::sleep_until(d)))
}

/// A call waiting on an interceptor that answered asynchronously, then running routed. A
/// client that resets the stream meanwhile ends the wait (the interceptor's future is
/// dropped).
struct Waiting {
    wait: ChainWait<ServerCallHead, dyn ServerInterceptor>,
    rest: Option<Rest>,
    router: Router,
    routed: Option<ServerFuture>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Future for Waiting {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if let Some(routed) = &mut this.routed {
                return routed.as_mut().poll(cx);
            }
            let Some(rest) = &mut this.rest else {
                return Poll::Ready(());
            };
            if rest.respond.poll_reset(cx).is_ready() {
                // Dropping `rest` reports the call as CANCELLED.
                this.rest = None;
                return Poll::Ready(());
            }
            if let Some(sleep) = &mut this.deadline {
                if sleep.as_mut().poll(cx).is_ready() {
                    let status = deadline_status();
                    send_trailers_only(&mut rest.respond, &status);
                    rest.end.end(Some(&status));
                    return Poll::Ready(());
                }
            }
            let decided = match this.wait.poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(decided) => decided,
            };
            let Some(mut rest) = this.rest.take() else {
                return Poll::Ready(());
            };
            match decided {
                Ok(head) => this.routed = Some(route(&this.router, rest, head)),
                Err(status) => {
                    send_trailers_only(&mut rest.respond, &status);
                    rest.end.end(Some(&status));
                    return Poll::Ready(());
                }
            }
        }
    }
}

/// The authorization policy as an interceptor: the caller's principals come from the TLS
/// certificate on the call's connection (URI SANs, DNS SANs, subject).
#[cfg(feature = "authz")]
impl ServerInterceptor for crate::authz::AuthzPolicy {
    fn on_call(&self, call: ServerCallHead) -> Intercepted<ServerCallHead> {
        let verdict = with_caller(call.peer(), |caller| {
            self.check(call.method(), call.metadata.headers(), caller)
        });
        match verdict {
            Ok(()) => Intercepted::proceed(call),
            Err(status) => Intercepted::reject(status),
        }
    }
}

/// The caller as authorization sees it, from the connection's peer.
#[cfg(feature = "authz")]
fn with_caller<T>(peer: Option<&Peer>, f: impl FnOnce(crate::authz::Caller<'_>) -> T) -> T {
    use crate::authz::Caller;
    #[cfg(feature = "_tls")]
    if let Some(tls) = peer.and_then(Peer::tls) {
        return match tls.peer_identity() {
            Some(identity) => {
                // A certificate has a handful of names: gathered on the stack, no allocation
                // per call unless it has more than 16.
                let mut stack = [""; 16];
                let mut count = 0;
                let mut names = identity.principals();
                for (slot, name) in stack.iter_mut().zip(&mut names) {
                    *slot = name;
                    count += 1;
                }
                let rest: Vec<&str> = names.collect();
                if rest.is_empty() {
                    f(Caller::Certificate(&stack[..count]))
                } else {
                    let all: Vec<&str> = stack.iter().copied().chain(rest).collect();
                    f(Caller::Certificate(&all))
                }
            }
            None => f(Caller::TlsWithoutCertificate),
        };
    }
    let _ = peer;
    f(Caller::Plaintext)
}
