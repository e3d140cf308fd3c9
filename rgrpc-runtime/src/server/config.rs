//! The server's options, as [`super::ServerBuilder`] collects them.

use std::sync::Arc;
use std::time::Duration;

use crate::codec::CompressionEncoding;
use crate::observe::Observer;
use crate::transport::server::Settings;

#[derive(Clone)]
pub(crate) struct Config {
    /// What each connection's HTTP/2 is set up with.
    pub(crate) http2: Settings,
    pub(crate) max_receive_message_size: usize,
    /// Bytes of incomplete request messages one connection may hold.
    pub(crate) connection_receive_buffer: usize,
    /// Bytes of incomplete request messages the whole server may hold.
    pub(crate) receive_buffer: usize,
    /// Bytes of large unread responses one connection may hold.
    pub(crate) connection_send_buffer: usize,
    /// Bytes of large unread responses the whole server may hold.
    pub(crate) send_buffer: usize,
    pub(crate) shutdown_grace: Duration,
    pub(crate) send_compressed: Option<CompressionEncoding>,
    /// Hears about every call (`observe.rs`); `None`: one branch per call.
    pub(crate) observer: Option<Arc<dyn Observer>>,
    /// gRPC-Web, when turned on.
    #[cfg(feature = "web")]
    pub(crate) web: Option<Arc<crate::web::WebConfig>>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("http2", &self.http2)
            .field("max_receive_message_size", &self.max_receive_message_size)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("send_compressed", &self.send_compressed)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}
