//! The in-process HTTP/2 connection a web connection's calls are forwarded over.
//!
//! Every call type of the server is built on h2 stream handles, so rather than making each
//! generic over HTTP versions, a gRPC-Web call becomes a native call on an in-memory duplex
//! into the same server (the server side is an ordinary connection of it, carrying the web
//! client's `Peer`). One per web connection, opened when its first web request arrives, and
//! closed with it: native connections never have one.

use std::sync::Arc;

use bytes::Bytes;
use h2::client::{Connection, SendRequest};
use tokio::io::DuplexStream;
use tokio::sync::OnceCell;

use crate::defaults;

/// An open bridge: the handle calls are sent on, the client half of the HTTP/2 connection
/// (a future to drive), and the duplex end the server must serve as a native connection.
pub(crate) struct Bridge {
    pub(crate) send: SendRequest<Bytes>,
    pub(crate) client: Connection<DuplexStream, Bytes>,
    pub(crate) server_io: DuplexStream,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge").finish_non_exhaustive()
    }
}

/// Opens a bridge. The client handshake only writes the preface into the duplex, so this
/// completes before the server side is polled.
pub(crate) async fn open() -> Result<Bridge, h2::Error> {
    let (client_io, server_io) = tokio::io::duplex(defaults::IN_PROCESS_BUFFER);
    let (send, client) = h2::client::Builder::new()
        .initial_window_size(defaults::CLIENT_STREAM_WINDOW)
        .initial_connection_window_size(defaults::CLIENT_CONNECTION_WINDOW)
        .max_frame_size(defaults::MAX_FRAME_SIZE)
        .enable_push(false)
        .handshake(client_io)
        .await?;
    Ok(Bridge {
        send,
        client,
        server_io,
    })
}

/// An HTTP/2 connection's bridge, opened by the first gRPC-Web call on it and shared by the
/// rest; empty (one word) on connections that carry none.
#[derive(Debug, Default)]
pub(crate) struct Link(Option<Arc<OnceCell<SendRequest<Bytes>>>>);

impl Link {
    /// The bridge's handle, to be opened (once) by whichever call gets to it first.
    pub(crate) fn cell(&mut self) -> Arc<OnceCell<SendRequest<Bytes>>> {
        self.0.get_or_insert_with(Arc::default).clone()
    }
}
