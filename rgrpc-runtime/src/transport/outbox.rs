//! Coalescing outgoing messages into DATA frames, within HTTP/2 flow control.
//!
//! A sender appends encoded messages to a pending buffer; one flusher moves that buffer to
//! h2 as window capacity allows. Messages produced while the flusher waits (for the producer
//! to yield, for the connection, for window) share a DATA frame, so a stream of small
//! messages costs a few large frames instead of one frame each: fewer syscalls, and no trip
//! over h2's limit on small buffered frames (`ENHANCE_YOUR_CALM "too_many_data_frames"`),
//! which one frame per 64-byte message exceeds.
//!
//! Only the flusher polls h2 for capacity (h2 keeps one waker per stream), and the buffer
//! never holds more than [`FLUSH_THRESHOLD`] plus one message, so a slow reader still slows
//! the writer.

use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use h2::SendStream;

/// A sender waits once this much is pending.
pub(crate) const FLUSH_THRESHOLD: usize = crate::defaults::SEND_BUFFER;

#[derive(Default)]
pub(crate) struct Outbox {
    pending: BytesMut,
    /// Woken when there is something to flush.
    flusher: Option<Waker>,
    /// Woken when a full buffer drains.
    sender: Option<Waker>,
}

impl Outbox {
    /// Ready when the sender may append another message.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.pending.len() < FLUSH_THRESHOLD {
            return Poll::Ready(());
        }
        set_waker(&mut self.sender, cx);
        self.wake_flusher();
        Poll::Pending
    }

    /// Appends one message with `write`, waking the flusher if the buffer was empty.
    pub(crate) fn push<E>(
        &mut self,
        write: impl FnOnce(&mut BytesMut) -> Result<(), E>,
    ) -> Result<(), E> {
        let was_empty = self.pending.is_empty();
        write(&mut self.pending)?;
        if was_empty {
            self.wake_flusher();
        }
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Called by the flusher on each poll so that senders can wake it.
    pub(crate) fn register_flusher(&mut self, cx: &mut Context<'_>) {
        set_waker(&mut self.flusher, cx);
    }

    /// Wakes a sender waiting for room, e.g. so it can see that the call has ended.
    pub(crate) fn wake_sender(&mut self) {
        if let Some(waker) = self.sender.take() {
            waker.wake();
        }
    }

    /// Wakes the flusher, to flush or to notice that the sender is done.
    pub(crate) fn wake_flusher(&mut self) {
        if let Some(waker) = &self.flusher {
            waker.wake_by_ref();
        }
    }

    /// Moves pending bytes into `stream` as window capacity allows; `Ready(Ok)` once empty.
    pub(crate) fn poll_flush(
        &mut self,
        stream: &mut SendStream<Bytes>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), h2::Error>> {
        let before = self.pending.len();
        let result = self.flush_some(stream, cx);
        if self.pending.len() < FLUSH_THRESHOLD && before >= FLUSH_THRESHOLD {
            self.wake_sender();
        }
        result
    }

    fn flush_some(
        &mut self,
        stream: &mut SendStream<Bytes>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), h2::Error>> {
        while !self.pending.is_empty() {
            stream.reserve_capacity(self.pending.len());
            let mut capacity = stream.capacity();
            if capacity == 0 {
                capacity = match stream.poll_capacity(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(None) => return Poll::Ready(Err(h2::Reason::STREAM_CLOSED.into())),
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                    Poll::Ready(Some(Ok(n))) => n,
                };
                if capacity == 0 {
                    continue;
                }
            }
            let chunk = self.pending.split_to(capacity.min(self.pending.len()));
            stream.send_data(chunk.freeze(), false)?;
        }
        Poll::Ready(Ok(()))
    }

    /// Hands everything pending to h2 at once, ending the stream if `end_of_stream`. For the
    /// end of a call: what is pending is bounded, so h2 may hold it until the window opens.
    pub(crate) fn flush_all(
        &mut self,
        stream: &mut SendStream<Bytes>,
        end_of_stream: bool,
    ) -> Result<(), h2::Error> {
        let rest = self.pending.split().freeze();
        if !rest.is_empty() || end_of_stream {
            stream.send_data(rest, end_of_stream)?;
        }
        self.wake_sender();
        Ok(())
    }
}

fn set_waker(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(waker) if waker.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}
