//! [`RequestSender`]: the request half of a client-streaming or bidirectional call.

use std::fmt;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use h2::SendStream;
use tokio::time::Instant;

use crate::codec::CompressionEncoding;
use crate::observe::Observed;
use crate::transport::outbox::Outbox;
use crate::Status;

/// Appends one framed message to a buffer.
pub(crate) type Encoder<T> =
    fn(&T, &mut BytesMut, Option<CompressionEncoding>) -> Result<(), Status>;

/// The request stream shared by the sender and its pump task.
struct Shared {
    stream: SendStream<Bytes>,
    outbox: Outbox,
    /// Set when the sender is gone or has closed: the pump stops.
    done: bool,
    /// Why the stream can take no more data, once it cannot.
    failed: Option<Status>,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// The request half of a streaming call.
///
/// Messages are queued and written by a small task per call, so several messages produced
/// in a row share one DATA frame; `send` waits only when 32 KiB are queued and the server
/// is not reading (HTTP/2 flow control).
pub struct RequestSender<T> {
    shared: Arc<Mutex<Shared>>,
    encode: Encoder<T>,
    encoding: Option<CompressionEncoding>,
    compress: bool,
    deadline: Option<Instant>,
    closed: bool,
    close_on_drop: bool,
    pump_started: bool,
    /// Hears about each message sent, if the call is observed.
    observed: Option<Observed>,
}

impl<T> RequestSender<T> {
    pub(crate) fn new(
        stream: SendStream<Bytes>,
        encode: Encoder<T>,
        encoding: Option<CompressionEncoding>,
        deadline: Option<Instant>,
        close_on_drop: bool,
        observed: Option<Observed>,
    ) -> Self {
        RequestSender {
            shared: Arc::new(Mutex::new(Shared {
                stream,
                outbox: Outbox::default(),
                done: false,
                failed: None,
            })),
            encode,
            encoding,
            compress: true,
            deadline,
            closed: false,
            close_on_drop,
            pump_started: false,
            observed,
        }
    }

    /// Queues one message, waiting while 32 KiB are already queued and the server reads
    /// slowly (HTTP/2 flow control).
    ///
    /// An error means the request side can take no more messages; the call's real status is
    /// then read from the response side.
    pub async fn send(&mut self, message: T) -> Result<(), Status> {
        if self.closed {
            return Err(Status::failed_precondition(
                "send after the request side was closed",
            ));
        }
        if self.deadline.is_some_and(|d| d <= Instant::now()) {
            return Err(Status::local_deadline("deadline exceeded"));
        }
        if !self.pump_started {
            self.pump_started = true;
            tokio::spawn(pump(self.shared.clone()));
        }
        let shared = &self.shared;
        let ready = poll_fn(|cx| {
            let mut shared = lock(shared);
            if let Some(status) = &shared.failed {
                return Poll::Ready(Err(status.clone()));
            }
            shared.outbox.poll_ready(cx).map(Ok)
        });
        match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, ready)
                .await
                .unwrap_or_else(|_| Err(Status::local_deadline("deadline exceeded")))?,
            None => ready.await?,
        }
        let encoding = self.encoding.filter(|_| self.compress);
        let encode = self.encode;
        let observed = &self.observed;
        lock(&self.shared).outbox.push(|buf| {
            let start = buf.len();
            encode(&message, buf, encoding)?;
            if let Some(observed) = observed {
                observed.sent(buf.len() - start, encoding);
            }
            Ok(())
        })
    }

    /// Whether the following messages are compressed with the call's encoding (default:
    /// yes, when the call has one). Lets a call mix compressed and plain messages.
    pub fn set_compress(&mut self, compress: bool) {
        self.compress = compress;
    }

    /// Half-closes the request side: what is queued goes out, then the end of the stream.
    pub fn close(&mut self) -> Result<(), Status> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let mut shared = lock(&self.shared);
        shared.done = true;
        let Shared { stream, outbox, .. } = &mut *shared;
        let result = outbox.flush_all(stream, true).map_err(Status::from_h2);
        // Let the pump see `done` and exit.
        outbox.wake_flusher();
        result
    }
}

impl<T> Drop for RequestSender<T> {
    fn drop(&mut self) {
        if self.close_on_drop {
            let _ = self.close();
        } else {
            // Stop the pump so that dropping the call's other half resets the stream.
            let mut shared = lock(&self.shared);
            shared.done = true;
            shared.outbox.wake_flusher();
        }
    }
}

impl<T> fmt::Debug for RequestSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSender")
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// Writes queued messages to the stream until the sender is done.
async fn pump(shared: Arc<Mutex<Shared>>) {
    poll_fn(|cx: &mut Context<'_>| {
        let mut guard = lock(&shared);
        let Shared {
            stream,
            outbox,
            done,
            failed,
        } = &mut *guard;
        if *done {
            return Poll::Ready(());
        }
        outbox.register_flusher(cx);
        match outbox.poll_flush(stream, cx) {
            Poll::Ready(Err(e)) => {
                let status = Status::from_h2(e);
                *failed = Some(Status::new(
                    status.code(),
                    format!(
                        "request stream closed ({}); the call's status is on the response side",
                        status.message()
                    ),
                ));
                outbox.wake_sender();
                Poll::Ready(())
            }
            // Flushed (wait for more) or waiting for window (h2 wakes us).
            Poll::Ready(Ok(())) | Poll::Pending => Poll::Pending,
        }
    })
    .await
}
