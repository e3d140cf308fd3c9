//! What interceptors on either side share: an answer that is ready at once or later, the
//! loop that runs a chain of them in order, and the outcome they can observe.
//!
//! A chain is a plain slice of trait objects run in registration order, not a tower of
//! layers: with none installed the call path pays one `is_empty()` branch, a ready answer
//! allocates nothing, and an asynchronous one costs the one boxed future it returns.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::{Code, Status};

/// A boxed, sendable future: what an asynchronous interceptor answers with.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// An interceptor's answer for a call head `T`: ready now (no allocation), or later.
///
/// `Ok` lets the call go on with the (possibly changed) head; `Err` ends the call with
/// that status before its body is read or sent.
pub enum Intercepted<T> {
    /// Decided without waiting.
    Ready(Result<T, Status>),
    /// Decided by a future (a token check over the network, a lookup).
    Pending(BoxFuture<Result<T, Status>>),
}

impl<T> Intercepted<T> {
    /// Lets the call go on with `head`.
    pub fn proceed(head: T) -> Intercepted<T> {
        Intercepted::Ready(Ok(head))
    }

    /// Ends the call with `status`.
    pub fn reject(status: Status) -> Intercepted<T> {
        Intercepted::Ready(Err(status))
    }

    /// Decides later: boxes `future` (the one allocation an asynchronous answer costs).
    pub fn pending(
        future: impl Future<Output = Result<T, Status>> + Send + 'static,
    ) -> Intercepted<T> {
        Intercepted::Pending(Box::pin(future))
    }
}

impl<T> fmt::Debug for Intercepted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Intercepted::Ready(Ok(_)) => f.write_str("Intercepted::Ready(Ok(..))"),
            Intercepted::Ready(Err(status)) => write!(f, "Intercepted::Ready(Err({status:?}))"),
            Intercepted::Pending(_) => f.write_str("Intercepted::Pending(..)"),
        }
    }
}

/// How a call ended, for interceptors that log or measure.
#[derive(Debug)]
pub struct CallOutcome<'a> {
    pub(crate) method: &'a str,
    /// `None`: OK (no `Status` is built for a success).
    pub(crate) error: Option<&'a Status>,
    pub(crate) duration: Duration,
}

impl CallOutcome<'_> {
    /// The method's path, `/package.Service/Method`.
    pub fn method(&self) -> &str {
        self.method
    }

    /// The status code the call ended with (`OK` for success).
    pub fn code(&self) -> Code {
        self.error.map_or(Code::Ok, Status::code)
    }

    /// The error the call ended with; `None` for success.
    pub fn error(&self) -> Option<&Status> {
        self.error
    }

    /// From the call's start (its head received or sent) to its status.
    pub fn duration(&self) -> Duration {
        self.duration
    }
}

/// One step of a chain: an interceptor of call heads `H`.
pub(crate) trait Step<H> {
    fn step(&self, head: H) -> Intercepted<H>;
}

/// A chain's state once one of its interceptors answered asynchronously: the future it is
/// waiting on and where to go on from. Embedded by the call that waits, so the wait costs
/// no allocation beyond the interceptor's own future.
pub(crate) struct ChainWait<H, S: ?Sized> {
    chain: Arc<[Arc<S>]>,
    next: usize,
    current: BoxFuture<Result<H, Status>>,
}

/// What running a chain gave: a decision now, or a wait.
pub(crate) enum Chained<H, S: ?Sized> {
    Done(Result<H, Status>),
    Waiting(ChainWait<H, S>),
}

/// Runs `chain` over `head` in order. Ready answers are handled in this loop; the first
/// pending one turns the rest of the run into a [`ChainWait`].
pub(crate) fn run<H, S>(chain: &Arc<[Arc<S>]>, head: H) -> Chained<H, S>
where
    S: Step<H> + ?Sized,
{
    let mut head = head;
    for (i, interceptor) in chain.iter().enumerate() {
        match interceptor.step(head) {
            Intercepted::Ready(Ok(next)) => head = next,
            Intercepted::Ready(Err(status)) => return Chained::Done(Err(status)),
            Intercepted::Pending(current) => {
                return Chained::Waiting(ChainWait {
                    chain: chain.clone(),
                    next: i + 1,
                    current,
                })
            }
        }
    }
    Chained::Done(Ok(head))
}

impl<H, S> ChainWait<H, S>
where
    S: Step<H> + ?Sized,
{
    /// Waits for the pending interceptor, then runs the rest of the chain (waiting again on
    /// any later pending one).
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<H, Status>> {
        loop {
            let mut head = match self.current.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(status)) => return Poll::Ready(Err(status)),
                Poll::Ready(Ok(head)) => head,
            };
            loop {
                let Some(interceptor) = self.chain.get(self.next) else {
                    return Poll::Ready(Ok(head));
                };
                self.next += 1;
                match interceptor.step(head) {
                    Intercepted::Ready(Ok(next)) => head = next,
                    Intercepted::Ready(Err(status)) => return Poll::Ready(Err(status)),
                    Intercepted::Pending(next) => {
                        self.current = next;
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Push(&'static str, bool);

    impl Step<Vec<&'static str>> for Push {
        fn step(&self, mut head: Vec<&'static str>) -> Intercepted<Vec<&'static str>> {
            let name = self.0;
            if name == "reject" {
                return Intercepted::reject(Status::permission_denied("no"));
            }
            if self.1 {
                Intercepted::pending(async move {
                    tokio::task::yield_now().await;
                    head.push(name);
                    Ok(head)
                })
            } else {
                head.push(name);
                Intercepted::proceed(head)
            }
        }
    }

    fn chain(steps: Vec<Push>) -> Arc<[Arc<Push>]> {
        steps.into_iter().map(Arc::new).collect()
    }

    async fn finish(answer: Chained<Vec<&'static str>, Push>) -> Result<Vec<&'static str>, Status> {
        match answer {
            Chained::Done(result) => result,
            Chained::Waiting(mut wait) => std::future::poll_fn(|cx| wait.poll(cx)).await,
        }
    }

    #[tokio::test]
    async fn runs_in_order_ready_and_pending_mixed() {
        let all_ready = chain(vec![Push("a", false), Push("b", false)]);
        assert!(matches!(run(&all_ready, vec![]), Chained::Done(Ok(ref v)) if v == &["a", "b"]));
        let mixed = chain(vec![
            Push("a", false),
            Push("b", true),
            Push("c", false),
            Push("d", true),
            Push("e", false),
        ]);
        let answer = run(&mixed, vec![]);
        assert!(matches!(answer, Chained::Waiting(_)));
        assert_eq!(finish(answer).await.unwrap(), ["a", "b", "c", "d", "e"]);
    }

    #[tokio::test]
    async fn a_rejection_stops_the_chain() {
        let early = chain(vec![
            Push("a", false),
            Push("reject", false),
            Push("never", false),
        ]);
        assert_eq!(
            finish(run(&early, vec![])).await.unwrap_err().message(),
            "no"
        );
        let after_async = chain(vec![
            Push("a", true),
            Push("reject", false),
            Push("never", true),
        ]);
        let err = finish(run(&after_async, vec![])).await.unwrap_err();
        assert_eq!(err.code(), crate::Code::PermissionDenied);
    }
}
