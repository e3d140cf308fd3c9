//! [`SendCompressed`]: per-service response compression.

use super::{ServerCall, ServerFuture, Service};
use crate::codec::CompressionEncoding;

/// Wraps a service so its responses are compressed with `encoding` whenever the client
/// accepts it; handlers can still opt out per response.
///
/// ```no_run
/// # use rgrpc_runtime::server::{SendCompressed, Service, ServerCall, ServerFuture};
/// # use rgrpc_runtime::{CompressionEncoding, Server};
/// # struct Svc;
/// # impl Service for Svc {
/// #     fn name(&self) -> &'static str { "x.Svc" }
/// #     fn call(&self, method: &str, call: ServerCall) -> ServerFuture {
/// #         call.unimplemented("x.Svc", method)
/// #     }
/// # }
/// let builder = Server::builder().add_service(SendCompressed::new(Svc, CompressionEncoding::Gzip));
/// ```
#[derive(Debug, Clone)]
pub struct SendCompressed<S> {
    inner: S,
    encoding: CompressionEncoding,
}

impl<S: Service> SendCompressed<S> {
    /// Compresses `inner`'s responses with `encoding`.
    pub fn new(inner: S, encoding: CompressionEncoding) -> Self {
        SendCompressed { inner, encoding }
    }
}

impl<S: Service> Service for SendCompressed<S> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn call(&self, method: &str, mut call: ServerCall) -> ServerFuture {
        call.set_send_compression(Some(self.encoding));
        self.inner.call(method, call)
    }

    fn has_method(&self, method: &str) -> bool {
        self.inner.has_method(method)
    }

    fn file_descriptors(&self) -> &'static [&'static [u8]] {
        self.inner.file_descriptors()
    }

    fn shutting_down(&self) {
        self.inner.shutting_down();
    }
}
