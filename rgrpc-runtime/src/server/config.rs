//! The server's options, as [`super::ServerBuilder`] collects them.

use std::time::Duration;

use crate::codec::CompressionEncoding;
use crate::transport::server::Settings;

#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// What each connection's HTTP/2 is set up with.
    pub(crate) http2: Settings,
    pub(crate) max_receive_message_size: usize,
    pub(crate) shutdown_grace: Duration,
    pub(crate) send_compressed: Option<CompressionEncoding>,
}
