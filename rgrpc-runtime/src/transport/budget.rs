//! Server memory budgets, per connection and in all: bytes of incomplete request messages
//! (receive) and of large responses handed to HTTP/2 and not yet written (send).
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
//!
//! The send side: a unary response is handed to h2 whole, and h2 holds it until the peer's
//! window lets it out. A client that sets its window to 0 and asks for large responses on
//! every stream made the server hold them all (`h2-attack zero-window`: 4 connections x 200
//! streams x 1 MiB took an interop server to +806 MiB). A response of [`TRACK_FROM`] bytes
//! or more is charged to its connection's and the server's send budget until h2 lets go of
//! its bytes (written, or dropped with a reset stream); one that does not fit is answered
//! `RESOURCE_EXHAUSTED` instead. Smaller responses cost a connection at most its stream
//! limit times [`TRACK_FROM`] and are not counted, so the hot path pays nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::Status;

/// Responses this large or larger are charged to the send budgets; the size from which
/// writes skip the gathering buffer too.
pub(crate) const TRACK_FROM: usize = crate::defaults::WRITE_DIRECT;

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

/// A server's budgets, shared by its connections.
#[derive(Debug)]
pub(crate) struct ServerBudgets {
    pub(crate) receive: Arc<Budget>,
    pub(crate) send: Arc<Budget>,
}

/// One connection's budgets, and the server's that they are part of; one `Arc` per
/// connection, cloned once per call.
#[derive(Debug)]
pub(crate) struct ConnectionBudget {
    connection: Budget,
    server: Arc<Budget>,
    send: Budget,
    server_send: Arc<Budget>,
}

impl ConnectionBudget {
    /// `receive` and `send` are this connection's limits.
    pub(crate) fn new(receive: usize, send: usize, server: &ServerBudgets) -> ConnectionBudget {
        ConnectionBudget {
            connection: Budget::new(receive),
            server: server.receive.clone(),
            send: Budget::new(send),
            server_send: server.send.clone(),
        }
    }
}

/// A large response frame's bytes, charged to the send budgets until dropped.
struct Unsent {
    frame: Bytes,
    budget: Arc<ConnectionBudget>,
}

impl AsRef<[u8]> for Unsent {
    fn as_ref(&self) -> &[u8] {
        &self.frame
    }
}

impl Drop for Unsent {
    fn drop(&mut self) {
        self.budget.send.give(self.frame.len());
        self.budget.server_send.give(self.frame.len());
    }
}

/// `frame` as it goes to h2: a frame of [`TRACK_FROM`] bytes or more is charged to the
/// connection's and the server's send budgets until h2 drops the last of its bytes;
/// `RESOURCE_EXHAUSTED` if it does not fit.
pub(crate) fn charge_unsent(budget: &Arc<ConnectionBudget>, frame: Bytes) -> Result<Bytes, Status> {
    let len = frame.len();
    if len < TRACK_FROM {
        return Ok(frame);
    }
    if !budget.send.take(len) {
        return Err(Status::resource_exhausted(format!(
            "this connection holds {} bytes of responses its client has not read, its limit",
            budget.send.limit
        )));
    }
    if !budget.server_send.take(len) {
        budget.send.give(len);
        return Err(Status::resource_exhausted(format!(
            "the server holds {} bytes of responses its clients have not read, its limit",
            budget.server_send.limit
        )));
    }
    Ok(Bytes::from_owner(Unsent {
        frame,
        budget: budget.clone(),
    }))
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

    fn server(receive: usize, send: usize) -> ServerBudgets {
        ServerBudgets {
            receive: Arc::new(Budget::new(receive)),
            send: Arc::new(Budget::new(send)),
        }
    }

    #[test]
    fn large_frames_are_charged_until_dropped() {
        let budgets = server(0, 3 * TRACK_FROM);
        let a = Arc::new(ConnectionBudget::new(0, 2 * TRACK_FROM, &budgets));
        let b = Arc::new(ConnectionBudget::new(0, 2 * TRACK_FROM, &budgets));
        // Small frames are never counted.
        let small = charge_unsent(&a, Bytes::from(vec![1; TRACK_FROM - 1])).unwrap();
        assert_eq!(a.send.used(), 0);
        let big = || Bytes::from(vec![7; TRACK_FROM]);
        let a1 = charge_unsent(&a, big()).unwrap();
        assert_eq!(&a1[..], &big()[..]);
        let a2 = charge_unsent(&a, big()).unwrap();
        // Over the connection's budget.
        assert_eq!(
            charge_unsent(&a, big()).unwrap_err().code(),
            crate::Code::ResourceExhausted
        );
        let b1 = charge_unsent(&b, big()).unwrap();
        // The connection has room, the server does not.
        assert!(charge_unsent(&b, big()).is_err());
        assert_eq!(budgets.send.used(), 3 * TRACK_FROM);
        // h2 slices frames into DATA frames; the charge ends with the last slice.
        let mut rest = a1;
        let head = rest.split_to(10);
        drop(rest);
        assert_eq!(a.send.used(), 2 * TRACK_FROM);
        drop(head);
        assert_eq!(a.send.used(), TRACK_FROM);
        drop((a2, b1, small));
        assert_eq!(budgets.send.used(), 0);
    }

    #[test]
    fn calls_share_their_connection_and_server_budgets() {
        let budgets = server(250, 0);
        let server = budgets.receive.clone();
        let a = Arc::new(ConnectionBudget::new(150, 0, &budgets));
        let b = Arc::new(ConnectionBudget::new(150, 0, &budgets));
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
