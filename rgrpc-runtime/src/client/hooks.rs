//! What a channel runs on each call before sending it: its interceptors, then its
//! credentials, then the call's own; and what reports the call's end to the interceptors.

use std::sync::Arc;

use tokio::time::Instant;

use super::credentials::{self, CallCredentials};
use super::interceptor::{ClientCallHead, ClientChain};
use crate::intercept::{self, CallOutcome, Chained};
use crate::Status;

/// What a call carries for interceptors and credentials besides its message and metadata.
#[derive(Default)]
pub(crate) struct CallExtras {
    pub(crate) extensions: http::Extensions,
    pub(crate) credentials: Option<Arc<dyn CallCredentials>>,
}

impl CallExtras {
    /// Nothing for interceptors or credentials to do with (the common case: one branch).
    pub(crate) fn is_empty(&self) -> bool {
        self.credentials.is_none()
    }
}

impl std::fmt::Debug for CallExtras {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallExtras")
            .field("credentials", &self.credentials.is_some())
            .finish_non_exhaustive()
    }
}

/// What a channel runs on each call: its interceptors, then its credentials, then the
/// call's own credentials.
#[derive(Clone, Default)]
pub(crate) struct ChannelHooks {
    pub(crate) chain: Option<ClientChain>,
    pub(crate) credentials: Option<Arc<dyn CallCredentials>>,
    pub(crate) allow_insecure_credentials: bool,
}

impl std::fmt::Debug for ChannelHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelHooks")
            .field("interceptors", &self.chain.as_ref().map_or(0, |c| c.len()))
            .field("credentials", &self.credentials.is_some())
            .finish_non_exhaustive()
    }
}

impl ChannelHooks {
    /// Nothing installed on the channel.
    pub(crate) fn is_empty(&self) -> bool {
        self.chain.is_none() && self.credentials.is_none()
    }

    /// Runs the interceptors and credentials over a call's head; returns the head to send and
    /// what reports the call's end to the interceptors. A chain that waits is awaited in
    /// place: no allocation beyond the interceptors' own futures.
    pub(crate) async fn run(
        &self,
        head: ClientCallHead,
        call_credentials: Option<Arc<dyn CallCredentials>>,
    ) -> Result<(ClientCallHead, Option<ClientWatch>), Status> {
        let started = Instant::now();
        let method = head.method;
        let mut head = head;
        if let Some(chain) = &self.chain {
            head = match intercept::run(chain, head) {
                Chained::Done(done) => done,
                Chained::Waiting(mut wait) => std::future::poll_fn(|cx| wait.poll(cx)).await,
            }
            .inspect_err(|status| report(chain, method, started, Some(status)))?;
        }
        let watch = self.chain.as_ref().map(|chain| ClientWatch {
            chain: chain.clone(),
            method,
            started,
        });
        for credentials in [self.credentials.as_ref(), call_credentials.as_ref()]
            .into_iter()
            .flatten()
        {
            head = match credentials::apply(credentials, self.allow_insecure_credentials, head)
                .await
            {
                Ok(head) => head,
                Err(status) => {
                    if let Some(watch) = watch {
                        watch.report(Some(&status));
                    }
                    return Err(status);
                }
            };
        }
        Ok((head, watch))
    }
}

fn report(chain: &ClientChain, method: &str, started: Instant, error: Option<&Status>) {
    let outcome = CallOutcome {
        method,
        error,
        duration: started.elapsed(),
    };
    for interceptor in chain.iter() {
        interceptor.on_end(&outcome);
    }
}

/// Reports an intercepted call's end to the channel's interceptors, once.
pub(crate) struct ClientWatch {
    chain: ClientChain,
    method: &'static str,
    started: Instant,
}

impl ClientWatch {
    /// The call ended: `None` for OK.
    pub(crate) fn report(self, error: Option<&Status>) {
        report(&self.chain, self.method, self.started, error);
    }
}

impl std::fmt::Debug for ClientWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientWatch")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}
