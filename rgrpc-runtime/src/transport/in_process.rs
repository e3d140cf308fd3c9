//! The in-process transport: a client and a server joined by in-memory duplex streams, over
//! the full HTTP/2 path (framing, flow control, trailers) with no socket.

use std::io;

use tokio::io::DuplexStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::client::Channel;
use crate::server::ServerBuilder;

/// Each in-memory connection's buffer in each direction: room for a full default HTTP/2
/// frame (64 KiB) plus headers, so one write never has to wait for the reader mid-frame.
const DUPLEX_BUFFER: usize = crate::defaults::IN_PROCESS_BUFFER;

/// How a channel reaches an in-process server: each dial makes a duplex pair and hands
/// the server its end.
#[derive(Clone, Debug)]
pub(crate) struct Dialer(mpsc::UnboundedSender<DuplexStream>);

impl Dialer {
    pub(crate) fn new() -> (Dialer, mpsc::UnboundedReceiver<DuplexStream>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Dialer(tx), rx)
    }

    /// A new connection to the server; fails once the server has stopped.
    pub(crate) fn dial(&self) -> io::Result<DuplexStream> {
        let (client, server) = tokio::io::duplex(DUPLEX_BUFFER);
        self.0.send(server).map_err(|_| {
            io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "the in-process server has stopped",
            )
        })?;
        Ok(client)
    }
}

/// A server running in this process for [`in_process`]; dropping it stops the server.
#[derive(Debug)]
pub struct InProcessServer {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl InProcessServer {
    /// Shuts the server down gracefully (as [`crate::Server::serve_with_shutdown`]) and
    /// waits until it has.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| io::Error::other(format!("server task failed: {e}")))?,
            None => Ok(()),
        }
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts `server` in this process and returns a [`Channel`] connected to it: the whole
/// HTTP/2 path, without a socket. For tests.
///
/// ```
/// # async fn run() -> std::io::Result<()> {
/// use rgrpc_runtime::{in_process, Server};
///
/// let (channel, server) = in_process(Server::builder() /* .add_service(..) */).await?;
/// // GreeterClient::new(channel).say_hello(..).await
/// server.shutdown().await
/// # }
/// ```
pub async fn in_process(server: ServerBuilder) -> io::Result<(Channel, InProcessServer)> {
    let (dialer, incoming) = Dialer::new();
    let server = server.bind_in_process(incoming)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve_with_shutdown(async {
        let _ = stopped.await;
    }));
    let channel = Channel::in_process(dialer)
        .await
        .map_err(|status| io::Error::new(io::ErrorKind::ConnectionRefused, status))?;
    Ok((
        channel,
        InProcessServer {
            stop: Some(stop),
            task: Some(task),
        },
    ))
}
