//! The server's options, as [`super::ServerBuilder`] collects them.

use std::time::Duration;

use crate::codec::CompressionEncoding;
use crate::transport::server::Settings;

#[derive(Clone, Debug)]
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
}
