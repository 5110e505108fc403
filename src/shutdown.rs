//! Graceful stop as a small type of its own: a `Shutdown` that tasks can poll
//! or await, and the `ShutdownTrigger` that fires it (on SIGINT/SIGTERM, or by hand in tests).
//! Beside it, the daemon's other request from outside: `Reloads`, fed by a
//! `ReloadTrigger` (on SIGHUP, or by hand in tests).
//!
//! `main` installs the signal handlers and hands the daemon the receiving
//! ends, so the daemon itself never touches signals and tests can drive it.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::sync::watch;

/// Fires the shutdown; every clone of the matching `Shutdown` sees it.
#[derive(Debug, Clone)]
pub struct ShutdownTrigger {
    sender: watch::Sender<bool>,
}

/// Tells whether a stop has been requested; cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown {
    receiver: watch::Receiver<bool>,
}

/// A connected trigger and shutdown.
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (sender, receiver) = watch::channel(false);
    (ShutdownTrigger { sender }, Shutdown { receiver })
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    /// A new `Shutdown` watching this trigger.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            receiver: self.sender.subscribe(),
        }
    }
}

impl Shutdown {
    /// A shutdown that never fires (for one-off runs in tests).
    pub fn never() -> Shutdown {
        let (trigger, shutdown) = channel();
        // Keep the sender alive forever so `requested()` pends instead of returning.
        std::mem::forget(trigger);
        shutdown
    }

    pub fn is_requested(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Completes once a stop has been requested (or its trigger is gone).
    pub async fn requested(&mut self) {
        let _ = self.receiver.wait_for(|stop| *stop).await;
    }
}

/// Fires `trigger` on the first SIGINT or SIGTERM, from a background task.
/// A second one exits the process at once, with 130 after SIGINT and 143
/// after SIGTERM (128 + the signal's number, as a shell reports a death by
/// signal); the state file stays valid, since it is only ever replaced whole.
pub fn trigger_on_signals(trigger: ShutdownTrigger) -> std::io::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        let (name, _) = next_signal(&mut interrupt, &mut terminate).await;
        tracing::info!(
            "{name} received: finishing the requests in flight, then stopping (a second signal exits at once)"
        );
        trigger.trigger();
        let (name, exit_code) = next_signal(&mut interrupt, &mut terminate).await;
        tracing::warn!("{name} received again: exiting at once (exit {exit_code})");
        std::process::exit(exit_code);
    });
    Ok(())
}

/// Asks the daemon to re-read its configuration.
#[derive(Debug, Clone)]
pub struct ReloadTrigger {
    sender: mpsc::Sender<()>,
}

/// The daemon's end of the reload requests.
#[derive(Debug)]
pub struct Reloads {
    /// Room for one request: requests made while one waits merge into it.
    receiver: mpsc::Receiver<()>,
}

/// A connected reload trigger and receiver.
pub fn reload_channel() -> (ReloadTrigger, Reloads) {
    let (sender, receiver) = mpsc::channel(1);
    (ReloadTrigger { sender }, Reloads { receiver })
}

impl ReloadTrigger {
    /// Requests a reload; false once the `Reloads` end is gone.
    pub fn request(&self) -> bool {
        match self.sender.try_send(()) {
            // A request already waiting covers this one too.
            Ok(()) | Err(TrySendError::Full(())) => true,
            Err(TrySendError::Closed(())) => false,
        }
    }
}

impl Reloads {
    /// Completes at the next request; `None` once every trigger is gone (then never again).
    pub async fn requested(&mut self) -> Option<()> {
        self.receiver.recv().await
    }
}

/// Requests a reload through `trigger` on every SIGHUP, from a background task.
pub fn reload_on_hangup(trigger: ReloadTrigger) -> std::io::Result<()> {
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            if !trigger.request() {
                break;
            }
        }
    });
    Ok(())
}

/// The next SIGINT or SIGTERM: its name and the exit code it stands for.
async fn next_signal(
    interrupt: &mut tokio::signal::unix::Signal,
    terminate: &mut tokio::signal::unix::Signal,
) -> (&'static str, i32) {
    tokio::select! {
        _ = interrupt.recv() => ("SIGINT", 130),
        _ = terminate.recv() => ("SIGTERM", 143),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn trigger_reaches_every_clone() {
        let (trigger, shutdown) = channel();
        let mut waiting = shutdown.clone();
        assert!(!shutdown.is_requested());
        let waiter = tokio::spawn(async move { waiting.requested().await });
        trigger.trigger();
        waiter.await.unwrap();
        assert!(shutdown.is_requested());
    }

    #[tokio::test]
    async fn reload_requests_made_while_one_waits_merge_into_it() {
        let (trigger, mut reloads) = reload_channel();
        assert!(trigger.request());
        assert!(trigger.request());
        assert_eq!(reloads.requested().await, Some(()));
        assert!(
            reloads.receiver.try_recv().is_err(),
            "a second request waits"
        );
    }

    #[tokio::test]
    async fn reloads_end_once_every_trigger_is_gone() {
        let (trigger, mut reloads) = reload_channel();
        let second = trigger.clone();
        drop(trigger);
        assert!(second.request());
        drop(second);
        assert_eq!(reloads.requested().await, Some(()));
        assert_eq!(reloads.requested().await, None);
    }

    #[test]
    fn a_reload_trigger_knows_when_nobody_listens() {
        let (trigger, reloads) = reload_channel();
        drop(reloads);
        assert!(!trigger.request());
    }
}
