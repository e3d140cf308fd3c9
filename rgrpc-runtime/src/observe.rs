//! Observing calls: an [`Observer`] installed on a server or a channel hears when each call
//! starts, every message it sends and receives (wire size, compression), and how it ended
//! (status, duration). Metrics and tracing adapters are built on it; the runtime itself
//! depends on no telemetry library.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use rgrpc_runtime::observe::{CallEnd, CallInfo, CallObserver, MessageInfo, Observer};
//!
//! /// Counts calls that ended in an error, per process.
//! #[derive(Debug, Default)]
//! struct Errors(Arc<AtomicU64>);
//!
//! #[derive(Debug)]
//! struct ErrorsCall(Arc<AtomicU64>);
//!
//! impl Observer for Errors {
//!     fn call_started(&self, _call: &CallInfo<'_>) -> Option<Arc<dyn CallObserver>> {
//!         Some(Arc::new(ErrorsCall(self.0.clone())))
//!     }
//! }
//!
//! impl CallObserver for ErrorsCall {
//!     fn call_ended(&self, end: &CallEnd<'_>) {
//!         if end.code() != rgrpc_runtime::Code::Ok {
//!             self.0.fetch_add(1, Ordering::Relaxed);
//!         }
//!     }
//! }
//! ```
//!
//! Cost: with no observer installed a call pays one `Option` check where it starts and one at
//! each event site, and allocates nothing more (`make bench` counts allocations per call).
//! An observer that returns `None` from [`Observer::call_started`] opts a call out (sampling)
//! at the same price. The runtime reads the clock only for observed calls.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::codec::CompressionEncoding;
use crate::metadata::MetadataMap;
use crate::transport::Peer;
use crate::{Code, Status};

/// Hears about calls on a server or a channel. Install one with
/// `ServerBuilder::observer` or `ChannelBuilder::observer`.
pub trait Observer: Send + Sync + 'static {
    /// A call is starting. Return the observer of this one call (it gets the call's later
    /// events), or `None` to leave the call unobserved.
    fn call_started(&self, call: &CallInfo<'_>) -> Option<Arc<dyn CallObserver>>;
}

/// Observes one call. Events may come from different tasks (a streaming handler's sender and
/// its request stream), hence `&self` and `Sync`; [`call_ended`](Self::call_ended) comes
/// exactly once, last.
pub trait CallObserver: Send + Sync + 'static {
    /// Client side, before the request headers go out: add metadata to propagate (trace
    /// context, say). Never called on the server.
    fn outgoing_metadata(&self, metadata: &mut MetadataMap) {
        let _ = metadata;
    }

    /// A message was sent.
    fn message_sent(&self, message: &MessageInfo) {
        let _ = message;
    }

    /// A message was received.
    fn message_received(&self, message: &MessageInfo) {
        let _ = message;
    }

    /// The call ended: its status and how long it took.
    fn call_ended(&self, end: &CallEnd<'_>);
}

/// Which end of a call is observing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The call was made by a channel.
    Client,
    /// The call was received by a server.
    Server,
}

/// What is known of a call when it starts. Everything is borrowed for the duration of
/// [`Observer::call_started`].
pub struct CallInfo<'a> {
    pub(crate) side: Side,
    pub(crate) path: &'a str,
    pub(crate) registered: bool,
    pub(crate) peer: Option<&'a Peer>,
    pub(crate) target: Option<&'a str>,
    pub(crate) metadata: &'a MetadataMap,
    pub(crate) deadline: Option<Instant>,
}

impl<'a> CallInfo<'a> {
    /// Describes a call (for tests of observers, and for transports outside this crate).
    pub fn new(side: Side, path: &'a str, metadata: &'a MetadataMap) -> CallInfo<'a> {
        CallInfo {
            side,
            path,
            registered: true,
            peer: None,
            target: None,
            metadata,
            deadline: None,
        }
    }

    /// Sets whether the server routes this method to a registered service.
    pub fn with_registered(mut self, registered: bool) -> Self {
        self.registered = registered;
        self
    }

    /// Sets the peer.
    pub fn with_peer(mut self, peer: &'a Peer) -> Self {
        self.peer = Some(peer);
        self
    }

    /// Sets the channel's target.
    pub fn with_target(mut self, target: &'a str) -> Self {
        self.target = Some(target);
        self
    }

    /// Sets the deadline.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Client or server.
    pub fn side(&self) -> Side {
        self.side
    }

    /// The HTTP/2 `:path`, `/package.Service/Method`, as the client sent it.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// `package.Service/Method`: gRFC A66's `grpc.method` (before the `"other"` rule).
    pub fn full_method(&self) -> &'a str {
        self.path.strip_prefix('/').unwrap_or(self.path)
    }

    /// `package.Service`, if the path has the gRPC form.
    pub fn service(&self) -> Option<&'a str> {
        self.full_method()
            .split_once('/')
            .map(|(service, _)| service)
    }

    /// `Method`, if the path has the gRPC form.
    pub fn method(&self) -> Option<&'a str> {
        self.full_method().split_once('/').map(|(_, method)| method)
    }

    /// Server side: whether a registered service has this method. A peer can send any path,
    /// so metrics should not use an unregistered one as a label (gRFC A66 says `"other"`).
    /// Always `true` on the client.
    pub fn is_registered(&self) -> bool {
        self.registered
    }

    /// Server side: the connection's other end.
    pub fn peer(&self) -> Option<&'a Peer> {
        self.peer
    }

    /// Client side: the channel's target (`host:port`, a socket path, `in-process`).
    pub fn target(&self) -> Option<&'a str> {
        self.target
    }

    /// The call's metadata: what the client sent (server side) or is about to send (client
    /// side; [`CallObserver::outgoing_metadata`] can still add to it).
    pub fn metadata(&self) -> &'a MetadataMap {
        self.metadata
    }

    /// The call's deadline, if it has one.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

impl fmt::Debug for CallInfo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallInfo")
            .field("side", &self.side)
            .field("path", &self.path)
            .field("registered", &self.registered)
            .field("peer", &self.peer)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// One message sent or received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageInfo {
    pub(crate) wire_size: usize,
    pub(crate) compression: Option<CompressionEncoding>,
}

impl MessageInfo {
    /// A message of `wire_size` bytes on the wire, compressed with `compression` if any.
    pub fn new(wire_size: usize, compression: Option<CompressionEncoding>) -> MessageInfo {
        MessageInfo {
            wire_size,
            compression,
        }
    }

    /// Bytes of the message as it went over the wire (after compression), without gRPC's
    /// 5-byte prefix and HTTP/2 framing: gRFC A66's "compressed message size".
    pub fn wire_size(&self) -> usize {
        self.wire_size
    }

    /// The encoding the message was compressed with, if it was.
    pub fn compression(&self) -> Option<CompressionEncoding> {
        self.compression
    }
}

/// How a call ended.
#[derive(Debug)]
pub struct CallEnd<'a> {
    pub(crate) status: Option<&'a Status>,
    pub(crate) duration: Duration,
}

impl<'a> CallEnd<'a> {
    /// An end with `status` (`None`: OK) after `duration`.
    pub fn new(status: Option<&'a Status>, duration: Duration) -> CallEnd<'a> {
        CallEnd { status, duration }
    }

    /// The status code the call ended with.
    pub fn code(&self) -> Code {
        self.status.map_or(Code::Ok, Status::code)
    }

    /// The error status, if the call did not end OK.
    pub fn status(&self) -> Option<&'a Status> {
        self.status
    }

    /// From the call's start (headers received or about to be sent) to its end.
    pub fn duration(&self) -> Duration {
        self.duration
    }
}

/// A call being observed, as the runtime carries it: the call's observer and when the call
/// started. `None` in an `Option<Observed>` when no observer is installed: nothing is
/// allocated and the clock is not read.
#[derive(Clone)]
pub(crate) struct Observed {
    call: Arc<dyn CallObserver>,
    start: Instant,
}

impl fmt::Debug for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observed")
            .field("start", &self.start)
            .finish_non_exhaustive()
    }
}

impl Observed {
    /// Asks `observer` about a call; `None` if it does not want it.
    pub(crate) fn start(observer: &dyn Observer, info: &CallInfo<'_>) -> Option<Observed> {
        let call = observer.call_started(info)?;
        Some(Observed {
            call,
            start: Instant::now(),
        })
    }

    pub(crate) fn outgoing_metadata(&self, metadata: &mut MetadataMap) {
        self.call.outgoing_metadata(metadata);
    }

    /// A framed message of `framed_len` bytes (prefix included) was sent.
    pub(crate) fn sent(&self, framed_len: usize, compression: Option<CompressionEncoding>) {
        let wire_size = framed_len.saturating_sub(crate::codec::framing::HEADER_LEN);
        self.call
            .message_sent(&MessageInfo::new(wire_size, compression));
    }

    /// A message whose body was `wire_size` bytes on the wire was received.
    pub(crate) fn received(&self, wire_size: usize, compression: Option<CompressionEncoding>) {
        self.call
            .message_received(&MessageInfo::new(wire_size, compression));
    }

    fn ended(self, status: Option<&Status>) {
        self.call
            .call_ended(&CallEnd::new(status, self.start.elapsed()));
    }
}

/// Server side: asks `observer` about a call just accepted. The headers are lent to the
/// observer as read-only metadata (and given back).
pub(crate) fn server_call(
    observer: &dyn Observer,
    path: &str,
    registered: bool,
    peer: &Peer,
    headers: &mut http::HeaderMap,
    deadline: Option<Instant>,
) -> Option<Observed> {
    let metadata = MetadataMap::from_headers(std::mem::take(headers));
    let info = CallInfo {
        side: Side::Server,
        path,
        registered,
        peer: Some(peer),
        target: None,
        metadata: &metadata,
        deadline,
    };
    let observed = Observed::start(observer, &info);
    *headers = metadata.into_headers();
    observed
}

/// Client side: asks `observer` about a call about to start, and lets the call's observer
/// add to the outgoing metadata.
pub(crate) fn client_call(
    observer: &dyn Observer,
    path: &str,
    target: &str,
    metadata: &mut MetadataMap,
    deadline: Option<Instant>,
) -> Option<Observed> {
    let info = CallInfo {
        side: Side::Client,
        path,
        registered: true,
        peer: None,
        target: Some(target),
        metadata,
        deadline,
    };
    let observed = Observed::start(observer, &info)?;
    observed.outgoing_metadata(metadata);
    Some(observed)
}

/// What hears a call's end besides its observer: a server's interceptors
/// ([`crate::server::ServerInterceptor::on_end`]). One per server, shared by its calls.
pub(crate) trait EndHook: Send + Sync + 'static {
    /// The call at `method` ended with `status` (`None`: OK) after `duration`.
    fn call_ended(&self, method: &str, status: Option<&Status>, duration: Duration);
}

/// A call's end hook, with what it reports: the method and when the call started.
pub(crate) struct EndHooks {
    hook: Arc<dyn EndHook>,
    method: http::uri::PathAndQuery,
    start: Instant,
}

impl EndHooks {
    pub(crate) fn new(hook: Arc<dyn EndHook>, method: http::uri::PathAndQuery) -> EndHooks {
        EndHooks {
            hook,
            method,
            start: Instant::now(),
        }
    }

    fn ended(self, status: Option<&Status>) {
        self.hook
            .call_ended(self.method.path(), status, self.start.elapsed());
    }
}

impl fmt::Debug for EndHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndHooks")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// Reports a call's end exactly once, to its observer and its end hooks (each optional):
/// through [`end`](Self::end), or, if the call is dropped first, on drop as `CANCELLED` (or
/// `DEADLINE_EXCEEDED` once the deadline has passed). With neither, it is two `None`s and
/// does nothing.
#[derive(Debug, Default)]
pub(crate) struct EndGuard {
    observed: Option<Observed>,
    hooks: Option<EndHooks>,
    deadline: Option<Instant>,
}

impl EndGuard {
    pub(crate) fn new(observed: Option<Observed>, deadline: Option<Instant>) -> EndGuard {
        EndGuard {
            observed,
            hooks: None,
            deadline,
        }
    }

    /// A server call's guard: its observer and its interceptors' end hooks.
    pub(crate) fn server(observed: Option<Observed>, hooks: Option<EndHooks>) -> EndGuard {
        EndGuard {
            observed,
            hooks,
            deadline: None,
        }
    }

    /// The call's observer, for its message events.
    pub(crate) fn observed(&self) -> Option<&Observed> {
        self.observed.as_ref()
    }

    /// Whether anything hears the call's end (so a status is worth building for it).
    pub(crate) fn is_heard(&self) -> bool {
        self.observed.is_some() || self.hooks.is_some()
    }

    /// The call ended with `status` (`None`: OK).
    pub(crate) fn end(&mut self, status: Option<&Status>) {
        if let Some(observed) = self.observed.take() {
            observed.ended(status);
        }
        if let Some(hooks) = self.hooks.take() {
            hooks.ended(status);
        }
    }

    /// Disarms the guard, handing back what it would have reported to.
    pub(crate) fn into_parts(mut self) -> (Option<Observed>, Option<EndHooks>) {
        (self.observed.take(), self.hooks.take())
    }
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        if !self.is_heard() {
            return;
        }
        let status = match self.deadline {
            Some(deadline) if deadline <= Instant::now() => {
                Status::local_deadline("deadline exceeded")
            }
            _ => Status::cancelled("the call was dropped before it ended"),
        };
        self.end(Some(&status));
    }
}

/// An [`Observer`] that does nothing with the calls it observes, for measuring what
/// observation itself costs. It hands every call the same observer, so it allocates nothing.
#[derive(Debug)]
pub struct NoopObserver(Arc<dyn CallObserver>);

impl Default for NoopObserver {
    fn default() -> Self {
        NoopObserver(Arc::new(NoopCall))
    }
}

#[derive(Debug)]
struct NoopCall;

impl CallObserver for NoopCall {
    fn call_ended(&self, _: &CallEnd<'_>) {}
}

impl Observer for NoopObserver {
    fn call_started(&self, _: &CallInfo<'_>) -> Option<Arc<dyn CallObserver>> {
        Some(self.0.clone())
    }
}

impl fmt::Debug for dyn Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Observer")
    }
}

impl fmt::Debug for dyn CallObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallObserver")
    }
}

/// Opt-in `tracing` spans: one span per call, named `grpc.server` or `grpc.client`, carrying
/// OpenTelemetry's RPC semantic-convention attributes (`otel.name` and `otel.kind` for a
/// `tracing-opentelemetry` layer; `rpc.system.name`, `rpc.method` (`package.Service/Method`,
/// or `_OTHER` for a method no registered service has), `rpc.response.status_code`,
/// `error.type`, `server.address` on the client, `network.peer.address`/`.port` on the
/// server). Messages are `DEBUG` events inside the span (`rpc.message.type` `SENT` or
/// `RECEIVED`, `rpc.message.compressed_size`).
///
/// The span covers the call from start to end; it is not entered around the handler.
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingObserver {
    _private: (),
}

impl TracingObserver {
    /// Spans for every call (at `INFO`; none are made while that level is disabled).
    pub fn new() -> TracingObserver {
        TracingObserver { _private: () }
    }
}

struct TracingCall {
    span: tracing::Span,
}

impl Observer for TracingObserver {
    fn call_started(&self, call: &CallInfo<'_>) -> Option<Arc<dyn CallObserver>> {
        // A peer can send any path: an unregistered one is not recorded as a method.
        let method = if call.is_registered() {
            call.full_method()
        } else {
            "_OTHER"
        };
        let span = match call.side() {
            Side::Server => tracing::info_span!(
                "grpc.server",
                otel.name = method,
                otel.kind = "server",
                rpc.system.name = "grpc",
                rpc.method = method,
                rpc.response.status_code = tracing::field::Empty,
                error.r#type = tracing::field::Empty,
                network.peer.address = tracing::field::Empty,
                network.peer.port = tracing::field::Empty,
            ),
            Side::Client => tracing::info_span!(
                "grpc.client",
                otel.name = method,
                otel.kind = "client",
                rpc.system.name = "grpc",
                rpc.method = method,
                rpc.response.status_code = tracing::field::Empty,
                error.r#type = tracing::field::Empty,
                server.address = call.target().unwrap_or(""),
            ),
        };
        if span.is_disabled() {
            return None;
        }
        if let Some(remote) = call.peer().and_then(Peer::remote_addr) {
            span.record("network.peer.address", tracing::field::display(remote.ip()));
            span.record("network.peer.port", remote.port());
        }
        Some(Arc::new(TracingCall { span }))
    }
}

impl CallObserver for TracingCall {
    fn message_sent(&self, message: &MessageInfo) {
        tracing::debug!(
            parent: &self.span,
            rpc.message.r#type = "SENT",
            rpc.message.compressed_size = message.wire_size,
        );
    }

    fn message_received(&self, message: &MessageInfo) {
        tracing::debug!(
            parent: &self.span,
            rpc.message.r#type = "RECEIVED",
            rpc.message.compressed_size = message.wire_size,
        );
    }

    fn call_ended(&self, end: &CallEnd<'_>) {
        let code = end.code();
        self.span.record("rpc.response.status_code", code.as_str());
        if code != Code::Ok {
            self.span.record("error.type", code.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_info_names() {
        let md = MetadataMap::new();
        let info = CallInfo::new(Side::Server, "/pkg.Svc/Do", &md);
        assert_eq!(info.full_method(), "pkg.Svc/Do");
        assert_eq!(info.service(), Some("pkg.Svc"));
        assert_eq!(info.method(), Some("Do"));
        let odd = CallInfo::new(Side::Server, "nonsense", &md).with_registered(false);
        assert_eq!(odd.service(), None);
        assert!(!odd.is_registered());
    }

    #[test]
    fn noop_observer_shares_one_call_observer() {
        let md = MetadataMap::new();
        let info = CallInfo::new(Side::Client, "/a.B/C", &md);
        let noop = NoopObserver::default();
        let a = noop.call_started(&info).unwrap();
        let b = noop.call_started(&info).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }
}
