//! The status a server call ended with, noted where it is written, for interceptors that
//! observe outcomes.
//!
//! A call's status is written in a few places deep in the runners (`respond.rs`,
//! `sender.rs`). Rather than thread an observer through every runner, an observed call's
//! polls run inside [`Tap::observe`], and those places [`note`] what they send. With no
//! observed call anywhere in the process, noting costs one relaxed load and a branch.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::Status;

/// Set once any server with interceptors has been built: until then `note` returns at once.
static ANY_OBSERVED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The status noted while an observed call is being polled on this thread.
    static CURRENT: RefCell<Option<Noted>> = const { RefCell::new(None) };
}

/// What a call sent as its status.
#[derive(Debug)]
pub(crate) enum Noted {
    /// Nothing yet (armed).
    Nothing,
    Ok,
    Err(Status),
}

/// Turns noting on for the process (a server with interceptors exists).
pub(crate) fn enable() {
    ANY_OBSERVED.store(true, Ordering::Relaxed);
}

/// Notes the status a call is sending, if an observed call is being polled on this thread.
pub(crate) fn note(status: Result<(), &Status>) {
    if !ANY_OBSERVED.load(Ordering::Relaxed) {
        return;
    }
    CURRENT.with(|current| {
        if let Ok(mut current) = current.try_borrow_mut() {
            if let Some(noted) = current.as_mut() {
                *noted = match status {
                    Err(status) if status.code() != crate::Code::Ok => Noted::Err(status.clone()),
                    _ => Noted::Ok,
                };
            }
        }
    });
}

/// Collects what an observed call notes across its polls.
#[derive(Debug)]
pub(crate) struct Tap {
    pub(crate) noted: Noted,
}

impl Tap {
    pub(crate) fn new() -> Tap {
        Tap {
            noted: Noted::Nothing,
        }
    }

    /// Runs `poll` (one poll of the observed call) with noting armed for this call.
    pub(crate) fn observe<T>(&mut self, poll: impl FnOnce() -> T) -> T {
        let outer = CURRENT.with(|current| {
            current
                .try_borrow_mut()
                .ok()
                .map(|mut c| c.replace(std::mem::replace(&mut self.noted, Noted::Nothing)))
        });
        let result = poll();
        CURRENT.with(|current| {
            if let Ok(mut current) = current.try_borrow_mut() {
                if let Some(noted) = current.take() {
                    self.noted = noted;
                }
                // Calls are not polled inside calls, but restore whatever was there.
                if let Some(outer) = outer {
                    *current = outer;
                }
            }
        });
        result
    }
}
