//! [`Coalesce`]: gathers what h2 writes during one poll of a connection into one syscall.
//!
//! h2 copies small frames into its own buffer, but hands each DATA payload over 256 bytes to
//! the socket as a vectored write of its own, and flushes before the next. With many
//! streams each sending a message of a few hundred bytes to a few KiB (bidi ping-pong,
//! interleaved server streams), that is one `writev` per message. Here, small writes are
//! copied into a buffer, a flush from h2 does not write them, and the task that drives the
//! connection calls [`Drain::poll_drain`] once h2 has nothing more to write: one `write`
//! per round, as grpc-go's 32 KiB write buffer gives. Large writes skip the copy.
//!
//! The buffer grows to the most one round has gathered (at most [`CAPACITY`]) and is kept
//! for the next round: allocating it afresh each round cost more than the copy. A
//! connection that only ever exchanged settings and pings keeps a few dozen bytes.

use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Up to this much is gathered before it is written out; also what a busy connection keeps
/// allocated between rounds (grpc-go keeps a 32 KiB write buffer per connection too).
const CAPACITY: usize = crate::defaults::WRITE_GATHER;

/// A write this large goes straight to the socket: one syscall for it is cheap next to
/// copying it.
const DIRECT: usize = crate::defaults::WRITE_DIRECT;

/// The socket as h2 sees it: reads pass through, small writes wait for the next drain.
#[derive(Debug)]
pub(crate) struct Coalesce<T> {
    shared: Arc<Mutex<State<T>>>,
}

/// The driving task's handle on the same socket, to write out what was gathered.
#[derive(Debug)]
pub(crate) struct Drain<T> {
    shared: Arc<Mutex<State<T>>>,
}

#[derive(Debug)]
struct State<T> {
    io: T,
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    written: usize,
    /// A failed drain, reported to h2 on its next write.
    failed: Option<io::ErrorKind>,
    /// A large write went straight out since the last drain.
    wrote_large: bool,
    /// The last drained round had a large write.
    last_large: bool,
}

/// Wraps `io`; h2 gets the [`Coalesce`], the task driving the connection the [`Drain`].
pub(crate) fn wrap<T>(io: T) -> (Coalesce<T>, Drain<T>) {
    let shared = Arc::new(Mutex::new(State {
        io,
        buf: Vec::new(),
        written: 0,
        failed: None,
        wrote_large: false,
        last_large: false,
    }));
    (
        Coalesce {
            shared: shared.clone(),
        },
        Drain { shared },
    )
}

fn lock<T>(shared: &Mutex<State<T>>) -> MutexGuard<'_, State<T>> {
    // Only this module touches the state and it never panics holding the lock.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T> Clone for Drain<T> {
    fn clone(&self) -> Self {
        Drain {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drain<T> {
    /// True if this round wrote little so far: something is gathered, less than a large
    /// write's worth, and no large write went out. The driver may wait for more then.
    pub(crate) fn is_small(&self) -> bool {
        let state = lock(&self.shared);
        let pending = state.buf.len() - state.written;
        pending > 0 && pending < DIRECT && !state.wrote_large
    }

    /// True if the last round written out had a large write in it.
    pub(crate) fn last_round_large(&self) -> bool {
        lock(&self.shared).last_large
    }
}

impl<T: AsyncWrite + Unpin> Drain<T> {
    /// Writes out everything gathered. Pending while the socket is full (the task is woken
    /// when it drains); an error means the connection is broken.
    pub(crate) fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = lock(&self.shared);
        let result = ready!(state.poll_drain(cx));
        if let Err(e) = &result {
            state.failed = Some(e.kind());
        }
        Poll::Ready(result)
    }
}

impl<T: AsyncWrite + Unpin> Drain<T> {
    /// Runs `work` (a handshake, a connection), writing out what it gathered after each of
    /// its polls. Fails if the socket does.
    pub(crate) async fn around<F: Future>(&self, work: F) -> io::Result<F::Output> {
        let mut work = std::pin::pin!(work);
        let mut output = None;
        poll_fn(|cx| {
            if output.is_none() {
                if let Poll::Ready(out) = work.as_mut().poll(cx) {
                    output = Some(out);
                }
            }
            ready!(self.poll_drain(cx))?;
            match output.take() {
                Some(out) => Poll::Ready(Ok(out)),
                None => Poll::Pending,
            }
        })
        .await
    }
}

impl<T: AsyncWrite + Unpin> State<T> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.buf.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.buf[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.buf.clear();
        self.written = 0;
        self.last_large = std::mem::take(&mut self.wrote_large);
        Poll::Ready(Ok(()))
    }

    fn poll_write_slices(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(kind) = self.failed {
            return Poll::Ready(Err(kind.into()));
        }
        let len = bufs.iter().fold(0usize, |n, b| n.saturating_add(b.len()));
        if len >= DIRECT || self.buf.len() + len > CAPACITY {
            // What was gathered goes first, to keep the bytes in order.
            ready!(self.poll_drain(cx))?;
        }
        if len >= DIRECT {
            self.wrote_large = true;
            return Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        }
        for b in bufs {
            self.buf.extend_from_slice(b);
        }
        Poll::Ready(Ok(len))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Coalesce<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut lock(&self.shared).io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Coalesce<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        lock(&self.shared).poll_write_slices(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        lock(&self.shared).poll_write_slices(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    /// h2 flushes after every large frame; what was gathered waits for the drain.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = lock(&self.shared);
        if !state.buf.is_empty() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut state.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = lock(&self.shared);
        ready!(state.poll_drain(cx))?;
        Pin::new(&mut state.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn small_writes_wait_for_the_drain_and_keep_their_order() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let (mut w, drain) = wrap(a);
        w.write_all(b"one ").await.unwrap();
        let big = vec![b'x'; DIRECT];
        w.write_all(&big).await.unwrap(); // drains "one " first, then goes straight out
        w.write_all(b" two").await.unwrap();
        w.flush().await.unwrap(); // not written yet
        let mut got = vec![0; 4 + DIRECT];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..4], b"one ");
        assert!(got[4..].iter().all(|&c| c == b'x'));
        assert_eq!(lock(&drain.shared).buf, b" two");
        poll_fn(|cx| drain.poll_drain(cx)).await.unwrap();
        let mut tail = [0; 4];
        b.read_exact(&mut tail).await.unwrap();
        assert_eq!(&tail, b" two");
        assert!(lock(&drain.shared).buf.is_empty());
    }

    #[tokio::test]
    async fn a_full_buffer_is_written_before_more_is_gathered() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let (mut w, drain) = wrap(a);
        let chunk = vec![7u8; DIRECT - 1];
        let mut sent = 0;
        while sent < 3 * CAPACITY {
            w.write_all(&chunk).await.unwrap();
            sent += chunk.len();
            assert!(lock(&drain.shared).buf.len() <= CAPACITY);
        }
        w.shutdown().await.unwrap(); // shutting down writes what is left
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), sent);
        assert!(got.iter().all(|&c| c == 7));
    }
}
