//! [`Request`]: a message with the metadata, deadline and cancellation of its call.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::cancel::Cancellation;
use crate::client::{CallCredentials, CallExtras};
use crate::codec::CompressionEncoding;
use crate::metadata::MetadataMap;
use crate::transport::Peer;

/// What the server knows of a call besides its message and metadata.
#[derive(Debug, Default)]
pub(crate) struct CallContext {
    pub(crate) peer: Option<Arc<Peer>>,
    pub(crate) extensions: http::Extensions,
}

/// An outgoing request on the client, or an incoming one in a server handler.
///
/// ```
/// use std::time::Duration;
/// use rgrpc_runtime::Request;
///
/// let req = Request::new("payload")
///     .with_timeout(Duration::from_millis(200))
///     .with_metadata("x-trace", "abc");
/// assert_eq!(req.metadata().get("x-trace"), Some("abc"));
/// ```
#[derive(Debug)]
pub struct Request<T> {
    message: T,
    metadata: MetadataMap,
    deadline: Option<Instant>,
    cancellation: Cancellation,
    /// Client: overrides the channel's request compression for this call.
    compression: Option<Option<CompressionEncoding>>,
    /// Server: the message arrived compressed.
    compressed: bool,
    /// Server: the connection's other end.
    peer: Option<Arc<Peer>>,
    extensions: http::Extensions,
    /// Client: credentials for this call only, after the channel's.
    credentials: Option<Arc<dyn CallCredentials>>,
}

/// A request taken apart for sending.
pub(crate) struct Parts<T> {
    pub(crate) message: T,
    pub(crate) metadata: MetadataMap,
    pub(crate) deadline: Option<Instant>,
    pub(crate) compression: Option<Option<CompressionEncoding>>,
    /// For interceptors and credentials.
    pub(crate) extras: CallExtras,
}

impl<T> Request<T> {
    /// Wraps a message with empty metadata and no deadline.
    pub fn new(message: T) -> Request<T> {
        Request {
            message,
            metadata: MetadataMap::new(),
            deadline: None,
            cancellation: Cancellation::never(),
            compression: None,
            compressed: false,
            peer: None,
            extensions: http::Extensions::new(),
            credentials: None,
        }
    }

    pub(crate) fn from_server(
        message: T,
        metadata: MetadataMap,
        deadline: Option<Instant>,
        cancellation: Cancellation,
        compressed: bool,
        context: CallContext,
    ) -> Request<T> {
        Request {
            message,
            metadata,
            deadline,
            cancellation,
            compression: None,
            compressed,
            peer: context.peer,
            extensions: context.extensions,
            credentials: None,
        }
    }

    /// Server side: the other end of the call's connection (address, transport). `None` on
    /// a request built by the client.
    pub fn peer(&self) -> Option<&Peer> {
        self.peer.as_deref()
    }

    /// Typed values attached to the call: what an interceptor found out (an authenticated
    /// user, a tenant) for the handler to read. Empty and free unless used.
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// Mutable access to the call's extensions.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    /// The message.
    pub fn message(&self) -> &T {
        &self.message
    }

    /// Mutable access to the message.
    pub fn message_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// Takes the message out.
    pub fn into_message(self) -> T {
        self.message
    }

    /// The request metadata (headers).
    pub fn metadata(&self) -> &MetadataMap {
        &self.metadata
    }

    /// Mutable access to the request metadata.
    pub fn metadata_mut(&mut self) -> &mut MetadataMap {
        &mut self.metadata
    }

    /// Adds an ASCII metadata entry.
    ///
    /// # Panics
    ///
    /// If `key` or `value` is not valid metadata (see [`MetadataMap::insert`]); use
    /// [`Request::metadata_mut`] to handle that as an error.
    // A documented panic on the caller's own constant input, never on peer data.
    #[allow(clippy::panic)]
    pub fn with_metadata(mut self, key: &str, value: &str) -> Request<T> {
        if let Err(e) = self.metadata.append(key, value) {
            panic!("invalid metadata {key:?}: {e}");
        }
        self
    }

    /// Sets the call's deadline to `timeout` from now. The client sends it as `grpc-timeout`
    /// and also enforces it locally.
    pub fn with_timeout(mut self, timeout: Duration) -> Request<T> {
        self.set_timeout(timeout);
        self
    }

    /// Sets the call's deadline to `timeout` from now.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.deadline = Instant::now().checked_add(timeout);
    }

    /// The call's deadline, if it has one.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time left until the deadline (zero once passed), if there is one.
    pub fn timeout(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Fires when the client cancels the call or its deadline passes (server side). Requests
    /// built on the client never fire.
    pub fn cancellation(&self) -> &Cancellation {
        &self.cancellation
    }

    /// Compresses this call's request messages with `encoding` (`None`: send them
    /// uncompressed), overriding the channel's default.
    pub fn with_compression(mut self, encoding: Option<CompressionEncoding>) -> Request<T> {
        self.compression = Some(encoding);
        self
    }

    /// Server side: whether the request message arrived compressed.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// Replaces the message, keeping metadata and deadline.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Request<U> {
        Request {
            message: f(self.message),
            metadata: self.metadata,
            deadline: self.deadline,
            cancellation: self.cancellation,
            compression: self.compression,
            compressed: self.compressed,
            peer: self.peer,
            extensions: self.extensions,
            credentials: self.credentials,
        }
    }

    pub(crate) fn into_parts(self) -> Parts<T> {
        Parts {
            message: self.message,
            metadata: self.metadata,
            deadline: self.deadline,
            compression: self.compression,
            extras: CallExtras {
                extensions: self.extensions,
                credentials: self.credentials,
            },
        }
    }

    /// Client: sends this call with `credentials` too (after the channel's; see
    /// [`crate::client::CallCredentials`]). Refused over plaintext TCP unless the channel
    /// allows it.
    pub fn with_credentials(mut self, credentials: impl CallCredentials) -> Request<T> {
        self.credentials = Some(Arc::new(credentials));
        self
    }

    /// Client: sets or clears this call's own credentials, shared.
    pub fn set_credentials(&mut self, credentials: Option<Arc<dyn CallCredentials>>) {
        self.credentials = credentials;
    }
}

/// Anything a generated client method accepts as a request: a bare message or a [`Request`].
pub trait IntoRequest<T> {
    /// Wraps the value in a [`Request`] if it is not one already.
    fn into_request(self) -> Request<T>;
}

impl<T> IntoRequest<T> for T {
    fn into_request(self) -> Request<T> {
        Request::new(self)
    }
}

impl<T> IntoRequest<T> for Request<T> {
    fn into_request(self) -> Request<T> {
        self
    }
}
