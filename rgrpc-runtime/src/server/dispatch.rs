//! From an accepted HTTP/2 stream to a running call: the request head is checked, the call
//! routed to its service, and calls that do not finish at once run as tasks of their own,
//! tracked so that shutdown can wait for them.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use tokio::sync::{watch, Notify};

use super::accepted::{Accepted, Compression};
use super::config::Config;
use super::interceptor::{self, Interceptors};
use super::router::Router;
use super::{ServerCall, ServerFuture};
use crate::observe;
use crate::request::CallContext;
use crate::transport::budget::{ConnectionBudget, ServerBudgets};
use crate::transport::server::Calls;
use crate::transport::Peer;
use crate::wire;

/// What every connection of a server shares.
pub(crate) struct Shared {
    pub(crate) router: Router,
    /// Empty: calls go straight to the router (one branch).
    pub(crate) interceptors: Interceptors,
    pub(crate) config: Config,
    pub(crate) calls: CallTracker,
    /// What all connections together may hold (`transport::budget`).
    pub(crate) budgets: ServerBudgets,
}

impl Calls for Shared {
    type Call = CatchUnwind;

    #[cfg(not(feature = "web"))]
    type Connection = ();
    #[cfg(feature = "web")]
    type Connection = crate::web::Link;

    /// Validates the request head (PROTOCOL-HTTP2, "Requests") and routes it.
    fn start(
        self: &Arc<Self>,
        request: http::Request<RecvStream>,
        mut respond: SendResponse<Bytes>,
        peer: &Arc<Peer>,
        budget: &Arc<ConnectionBudget>,
        #[allow(unused_variables)] connection: &mut Self::Connection,
    ) -> Option<CatchUnwind> {
        let (mut parts, body) = request.into_parts();
        let head = match wire::parse_request(&parts.method, &parts.headers) {
            Ok(head) => head,
            Err(rejection) => {
                // gRPC-Web is one of the requests native gRPC refuses: checking for it here
                // costs native calls nothing.
                #[cfg(feature = "web")]
                if let Some(web) = &self.config.web {
                    if crate::web::is_web_request(&parts) {
                        return self.start_web(web, parts, body, respond, peer, connection);
                    }
                }
                let _ = respond.send_response(rejection.into_response(), true);
                return None;
            }
        };
        let observed = match &self.config.observer {
            None => None,
            Some(observer) => observe::server_call(
                &**observer,
                parts.uri.path(),
                self.router.is_registered(parts.uri.path()),
                peer,
                &mut parts.headers,
                head.deadline,
            ),
        };
        let accepted = Accepted {
            context: CallContext {
                peer: Some(peer.clone()),
                extensions: parts.extensions,
            },
            headers: parts.headers,
            body,
            respond,
            deadline: head.deadline,
            max_receive: self.config.max_receive_message_size,
            compression: Compression {
                request: head.encoding,
                accepted: head.accepted,
                default: self.config.send_compressed,
            },
            budget: budget.clone(),
            observed,
            hooks: None,
        };
        if !self.interceptors.is_empty() {
            let call = interceptor::start(&self.interceptors, &self.router, parts.uri, accepted);
            return Some(CatchUnwind(call));
        }
        let call = ServerCall(accepted);
        Some(CatchUnwind(self.router.route(parts.uri.path(), call)))
    }

    fn connection_budget(&self) -> Arc<ConnectionBudget> {
        Arc::new(ConnectionBudget::new(
            self.config.connection_receive_buffer,
            self.config.connection_send_buffer,
            &self.budgets,
        ))
    }

    /// Runs a call as a task of its own, tracked for shutdown; a panic inside fails only it.
    fn spawn(&self, call: CatchUnwind, connection: Arc<()>) {
        self.spawn_tracked(async move {
            let _connection = connection;
            call.await
        });
    }
}

impl Shared {
    /// Runs `work` as a task that shutdown waits for and, after the grace period, stops.
    pub(super) fn spawn_tracked(&self, work: impl Future<Output = ()> + Send + 'static) {
        let running = self.calls.enter();
        let mut kill = self.calls.kill_rx.clone();
        tokio::spawn(async move {
            let _running = running;
            tokio::select! {
                biased;
                () = work => {}
                _ = kill.wait_for(|kill| *kill) => {}
            }
        });
    }
}

/// A call's work, polled so that a panic that escaped the call's own guard ends that call
/// (its stream is reset when the call's h2 handles are dropped) instead of the connection's
/// task and every call on it.
pub(crate) struct CatchUnwind(pub(super) ServerFuture);

impl Future for CatchUnwind {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let call = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(_) => {
                tracing::error!("a call panicked outside its handler; its stream is reset");
                Poll::Ready(())
            }
        }
    }
}

/// The calls that run as tasks of their own (those not finished by their first poll), so
/// that shutdown can wait for them and, after the grace period, stop them: without this,
/// handlers kept running after `serve_with_shutdown` had returned.
pub(crate) struct CallTracker {
    running: Arc<Running>,
    kill_tx: watch::Sender<bool>,
    kill_rx: watch::Receiver<bool>,
}

#[derive(Default)]
struct Running {
    count: AtomicUsize,
    idle: Notify,
}

/// Held by a running call task; the last one out wakes a waiting shutdown.
struct Entered(Arc<Running>);

impl Drop for Entered {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Default for CallTracker {
    fn default() -> Self {
        let (kill_tx, kill_rx) = watch::channel(false);
        CallTracker {
            running: Arc::default(),
            kill_tx,
            kill_rx,
        }
    }
}

impl CallTracker {
    fn enter(&self) -> Entered {
        self.running.count.fetch_add(1, Ordering::AcqRel);
        Entered(self.running.clone())
    }

    /// Stops every call task still running: their futures are dropped, which resets their
    /// streams.
    pub(crate) fn kill(&self) {
        let _ = self.kill_tx.send(true);
    }

    /// Resolves once no call task is running.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let idle = self.running.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.running.count.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}
