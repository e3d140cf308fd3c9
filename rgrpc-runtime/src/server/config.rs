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
    pub(crate) shutdown_grace: Duration,
    pub(crate) send_compressed: Option<CompressionEncoding>,
    /// Hears about every call (`observe.rs`); `None`: one branch per call.
    pub(crate) observer: Option<Arc<dyn Observer>>,
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
