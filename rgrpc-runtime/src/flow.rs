//! Writing DATA within HTTP/2 flow control, so a slow reader slows the writer instead of
//! letting frames pile up in memory.

use std::future::poll_fn;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use h2::SendStream;

/// Something that lends out a `SendStream` for a moment: the stream itself, or a stream
/// shared with the task that watches for resets (opened on first use by sending the response
/// headers). The closure never awaits, so a lock is never held across an `.await`.
pub(crate) trait StreamSlot {
    fn with<R>(&mut self, f: impl FnOnce(&mut SendStream<Bytes>) -> R) -> Result<R, h2::Error>;
}

impl StreamSlot for SendStream<Bytes> {
    fn with<R>(&mut self, f: impl FnOnce(&mut SendStream<Bytes>) -> R) -> Result<R, h2::Error> {
        Ok(f(self))
    }
}

impl<S: StreamSlot> StreamSlot for Arc<Mutex<S>> {
    fn with<R>(&mut self, f: impl FnOnce(&mut SendStream<Bytes>) -> R) -> Result<R, h2::Error> {
        let mut guard = self.lock().unwrap_or_else(|e| e.into_inner());
        guard.with(f)
    }
}

/// Sends `data`, waiting for window capacity as needed, ending the stream after it if
/// `end_of_stream`.
pub(crate) async fn send_data(
    slot: &mut impl StreamSlot,
    mut data: Bytes,
    end_of_stream: bool,
) -> Result<(), h2::Error> {
    if data.is_empty() {
        return slot.with(|s| s.send_data(data, end_of_stream))?;
    }
    while !data.is_empty() {
        let mut capacity = slot.with(|s| {
            s.reserve_capacity(data.len());
            s.capacity()
        })?;
        if capacity == 0 {
            capacity = poll_fn(|cx| match slot.with(|s| s.poll_capacity(cx)) {
                Ok(polled) => polled,
                Err(e) => std::task::Poll::Ready(Some(Err(e))),
            })
            .await
            .ok_or_else(closed)??;
            if capacity == 0 {
                continue;
            }
        }
        let chunk = data.split_to(capacity.min(data.len()));
        let last = data.is_empty();
        slot.with(|s| s.send_data(chunk, end_of_stream && last))??;
    }
    Ok(())
}

fn closed() -> h2::Error {
    h2::Error::from(h2::Reason::STREAM_CLOSED)
}
