//! Receive budgets: how many bytes of incomplete request messages a server holds, per
//! connection and in all.
//!
//! The server gives HTTP/2 flow-control window back as soon as it has moved received bytes
//! into a call's message buffer (so a message larger than the window can arrive at all).
//! Without a budget, a client could announce a 4 MiB message on each of its 200 streams, send
//! all but the last byte and stop: 800 MiB held per connection (measured with `h2-attack
//! never-sent-body`: 4 connections took an interop server to +3.2 GiB). With it, the call
//! whose message would take a connection (or the server) over its budget fails with
//! `RESOURCE_EXHAUSTED` and its buffer is freed. Whole messages that arrive in one chunk are
//! handed out zero-copy and never counted; the check costs one comparison per received chunk
//! and atomics only while a message spans chunks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::Status;

/// Bytes held against a limit.
#[derive(Debug)]
pub(crate) struct Budget {
    used: AtomicUsize,
    limit: usize,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Budget {
        Budget {
            used: AtomicUsize::new(0),
            limit,
        }
    }

    /// Takes `n` bytes if they fit.
    fn take(&self, n: usize) -> bool {
        let before = self.used.fetch_add(n, Ordering::AcqRel);
        if before.saturating_add(n) > self.limit {
            self.used.fetch_sub(n, Ordering::AcqRel);
            return false;
        }
        true
    }

    fn give(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// Bytes held now.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// One connection's receive budget, and the server's that it is part of; one `Arc` per
/// connection, cloned once per call.
#[derive(Debug)]
pub(crate) struct ConnectionBudget {
    connection: Budget,
    server: Arc<Budget>,
}

impl ConnectionBudget {
    pub(crate) fn new(limit: usize, server: Arc<Budget>) -> ConnectionBudget {
        ConnectionBudget {
            connection: Budget::new(limit),
            server,
        }
    }
}

/// What one call holds against its connection's budget; given back when it drops.
#[derive(Debug, Default)]
pub(crate) struct Held {
    budget: Option<Arc<ConnectionBudget>>,
    held: usize,
}

impl Held {
    /// Charges `budget` for what the call holds (`None`: nothing is counted, as on the
    /// client, whose buffers are its own calls').
    pub(crate) fn new(budget: Option<Arc<ConnectionBudget>>) -> Held {
        Held { budget, held: 0 }
    }

    /// The call now holds `now` bytes; `RESOURCE_EXHAUSTED` if the growth does not fit its
    /// connection's or the server's budget (what it held before stays charged).
    pub(crate) fn set(&mut self, now: usize) -> Result<(), Status> {
        if now == self.held {
            return Ok(());
        }
        let Some(budget) = &self.budget else {
            return Ok(());
        };
        if now < self.held {
            let freed = self.held - now;
            budget.connection.give(freed);
            budget.server.give(freed);
            self.held = now;
            return Ok(());
        }
        let grow = now - self.held;
        if !budget.connection.take(grow) {
            return Err(Status::resource_exhausted(format!(
                "this connection holds {} bytes of incomplete messages, its limit",
                budget.connection.limit
            )));
        }
        if !budget.server.take(grow) {
            budget.connection.give(grow);
            return Err(Status::resource_exhausted(format!(
                "the server holds {} bytes of incomplete messages, its limit",
                budget.server.limit
            )));
        }
        self.held = now;
        Ok(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_share_their_connection_and_server_budgets() {
        let server = Arc::new(Budget::new(250));
        let a = Arc::new(ConnectionBudget::new(150, server.clone()));
        let b = Arc::new(ConnectionBudget::new(150, server.clone()));
        let mut a1 = Held::new(Some(a.clone()));
        let mut a2 = Held::new(Some(a.clone()));
        a1.set(100).unwrap();
        // 100 + 60 > 150: over the connection's budget; what a2 held is unchanged.
        assert_eq!(
            a2.set(60).unwrap_err().code(),
            crate::Code::ResourceExhausted
        );
        a2.set(50).unwrap();
        let mut b1 = Held::new(Some(b.clone()));
        // The connection has room, the server (150 held of 250) does not.
        assert!(b1.set(120).is_err());
        assert_eq!(a.connection.used(), 150);
        assert_eq!(b.connection.used(), 0);
        b1.set(100).unwrap();
        assert_eq!(server.used(), 250);
        a1.set(10).unwrap();
        assert_eq!(server.used(), 160);
        drop(a1);
        drop(a2);
        drop(b1);
        assert_eq!(server.used(), 0);
        assert_eq!(a.connection.used(), 0);
        let mut free = Held::new(None);
        free.set(usize::MAX).unwrap();
    }
}
