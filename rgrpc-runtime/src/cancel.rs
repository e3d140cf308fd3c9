//! [`Cancellation`]: the signal a server handler gets when its call ends early.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// Fires when the client cancels a call (RST_STREAM) or its deadline passes.
///
/// The runtime also drops the handler's future at that point; the signal is for work the
/// handler started elsewhere (spawned tasks, blocking threads) that should stop too.
#[derive(Clone, Debug, Default)]
pub struct Cancellation {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    fired: AtomicBool,
    notify: Notify,
}

impl Cancellation {
    /// A signal that never fires.
    pub fn never() -> Cancellation {
        Cancellation { inner: None }
    }

    pub(crate) fn new() -> Cancellation {
        Cancellation {
            inner: Some(Arc::default()),
        }
    }

    /// True once the call was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|i| i.fired.load(Ordering::Acquire))
    }

    /// Completes when the call is cancelled; never, for a signal that cannot fire.
    pub async fn cancelled(&self) {
        let Some(inner) = &self.inner else {
            return std::future::pending().await;
        };
        loop {
            let notified = inner.notify.notified();
            tokio::pin!(notified);
            // Register before checking the flag so a concurrent fire cannot be missed.
            notified.as_mut().enable();
            if inner.fired.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    pub(crate) fn fire(&self) {
        if let Some(inner) = &self.inner {
            inner.fired.store(true, Ordering::Release);
            inner.notify.notify_waiters();
        }
    }
}
