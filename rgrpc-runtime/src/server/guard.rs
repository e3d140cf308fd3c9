//! How a call's work is raced against its deadline and a client reset, and how a handler's
//! panic is kept inside its own call.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::Instant;

use crate::cancel::Cancellation;
use crate::Status;

/// Why a call's response side takes no more messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Closed {
    /// The client reset the stream or the connection failed.
    ClientGone,
    /// The call's deadline passed.
    Deadline,
    /// The handler returned; a sender it left behind is too late.
    Finished,
}

impl Closed {
    /// What a sender used after this is told.
    pub(crate) fn status(self) -> Status {
        match self {
            Closed::ClientGone => Status::cancelled("the call has ended; the client went away"),
            Closed::Deadline => {
                Status::deadline_exceeded("the call has ended; its deadline passed")
            }
            Closed::Finished => Status::cancelled("the call has ended; its handler returned"),
        }
    }
}

/// How a call's work ended.
pub(crate) enum Outcome<T> {
    Done(T),
    Reset,
    DeadlineExceeded,
    /// The handler panicked: only its own call fails.
    Panicked,
}

/// The status for a call whose handler panicked. UNKNOWN, as grpc-go answers for a handler
/// error that is not a status and as `statuscodes.md` describes errors that carry no
/// information; INTERNAL would claim a broken invariant of the runtime. The panic's message
/// stays in the server's log, not on the wire, where it could leak internals.
pub(crate) fn panic_status() -> Status {
    Status::unknown("the method handler panicked")
}

/// The status for a call whose deadline passed on the server.
pub(crate) fn deadline_status() -> Status {
    Status::local_deadline("deadline exceeded")
}

/// Polls `fut`, catching a panic from inside it. The handler's state is dropped right
/// after, never polled again, so whatever a panic left half-done is not observed.
pub(crate) fn poll_caught<F: Future + ?Sized>(
    fut: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Result<Poll<F::Output>, ()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.poll(cx))).map_err(|_| {
        tracing::error!("a method handler panicked; its call fails with UNKNOWN");
    })
}

/// Polls `work` until it finishes, the client resets the stream, or the deadline passes. On
/// the latter two, fires `cancel` before `work` is dropped.
///
/// `close` runs first, with why the call stopped, so that a sender the handler handed to
/// another task already reports the real reason when that task wakes on the cancellation.
pub(crate) async fn guard<T>(
    work: impl Future<Output = T>,
    deadline: Option<Instant>,
    cancel: &Cancellation,
    mut reset: impl FnMut(&mut Context<'_>) -> Poll<()>,
    mut close: impl FnMut(Closed),
) -> Outcome<T> {
    tokio::pin!(work);
    let expiry = async {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expiry);
    poll_fn(|cx| {
        match poll_caught(work.as_mut(), cx) {
            Ok(Poll::Ready(out)) => return Poll::Ready(Outcome::Done(out)),
            Ok(Poll::Pending) => {}
            Err(()) => {
                close(Closed::Finished);
                cancel.fire();
                return Poll::Ready(Outcome::Panicked);
            }
        }
        if reset(cx).is_ready() {
            close(Closed::ClientGone);
            cancel.fire();
            return Poll::Ready(Outcome::Reset);
        }
        if expiry.as_mut().poll(cx).is_ready() {
            close(Closed::Deadline);
            cancel.fire();
            return Poll::Ready(Outcome::DeadlineExceeded);
        }
        Poll::Pending
    })
    .await
}

/// What an observer hears for a call the client reset (nothing goes on the wire).
pub(crate) fn reset_status() -> Status {
    Status::cancelled("the client cancelled the call")
}
