//! Graceful stop as a small type of its own: a `Shutdown` that tasks can poll
//! or await, and the `ShutdownTrigger` that fires it (on SIGINT/SIGTERM, or by hand in tests).
//! Beside it, the daemon's other request from outside: `Reloads`, fed by a
//! `ReloadTrigger` (on SIGHUP, or by hand in tests).
//!
//! A second SIGINT/SIGTERM is not a stop but the end: [`trigger_on_signals`]
//! reports it through a [`SecondSignal`], which the command layer races
//! against the command, so that the exit code it stands for is decided with
//! every other one.
//!
//! The command layer installs the signal handlers and hands the daemon the
//! receiving ends, so the daemon itself never touches signals and tests can drive it.

use std::fmt;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::sync::{oneshot, watch};

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

/// A signal that stops groupsync: the first asks for a graceful stop, the
/// second ends the process at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (`kill`, systemd's stop).
    Terminate,
}

impl StopSignal {
    /// `SIGINT` or `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        }
    }
}

impl fmt::Display for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where [`trigger_on_signals`] reports a second stop signal.
#[derive(Debug)]
pub struct SecondSignalSender {
    sender: oneshot::Sender<StopSignal>,
}

/// Completes with the second stop signal, after which the process is to
/// exit at once.
#[derive(Debug)]
pub struct SecondSignal {
    receiver: oneshot::Receiver<StopSignal>,
}

/// A connected sender and receiver of the second stop signal.
pub fn second_signal_channel() -> (SecondSignalSender, SecondSignal) {
    let (sender, receiver) = oneshot::channel();
    (SecondSignalSender { sender }, SecondSignal { receiver })
}

impl SecondSignalSender {
    fn send(self, signal: StopSignal) {
        // Nobody waits any more: the command has ended and the process with it.
        let _ = self.sender.send(signal);
    }
}

impl SecondSignal {
    /// The second stop signal; never completes when none can come (the
    /// sender is gone unused: the command installed no signal handler).
    pub async fn received(self) -> StopSignal {
        match self.receiver.await {
            Ok(signal) => signal,
            Err(_) => std::future::pending().await,
        }
    }
}

/// Fires `trigger` on the first SIGINT or SIGTERM, from a background task,
/// and reports a second one to `second` (whose receiver exits the process at
/// once, with 130 after SIGINT and 143 after SIGTERM); the state file stays
/// valid, since it is only ever replaced whole.
pub fn trigger_on_signals(
    trigger: ShutdownTrigger,
    second: SecondSignalSender,
) -> std::io::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        let first = next_signal(&mut interrupt, &mut terminate).await;
        tracing::info!(
            "{first} received: finishing the requests in flight, then stopping (a second signal exits at once)"
        );
        trigger.trigger();
        second.send(next_signal(&mut interrupt, &mut terminate).await);
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

/// The next SIGINT or SIGTERM.
async fn next_signal(
    interrupt: &mut tokio::signal::unix::Signal,
    terminate: &mut tokio::signal::unix::Signal,
) -> StopSignal {
    tokio::select! {
        _ = interrupt.recv() => StopSignal::Interrupt,
        _ = terminate.recv() => StopSignal::Terminate,
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

    #[tokio::test]
    async fn a_second_signal_reaches_its_receiver() {
        let (sender, second) = second_signal_channel();
        sender.send(StopSignal::Terminate);
        assert_eq!(second.received().await, StopSignal::Terminate);
    }

    #[tokio::test(start_paused = true)]
    async fn no_second_signal_comes_once_its_sender_is_gone_unused() {
        let (sender, second) = second_signal_channel();
        drop(sender);
        let waited =
            tokio::time::timeout(std::time::Duration::from_secs(3600), second.received()).await;
        assert!(waited.is_err(), "received {waited:?}");
    }

    #[test]
    fn stop_signals_are_named_as_the_logs_name_them() {
        assert_eq!(StopSignal::Interrupt.to_string(), "SIGINT");
        assert_eq!(StopSignal::Terminate.name(), "SIGTERM");
    }

    #[test]
    fn a_reload_trigger_knows_when_nobody_listens() {
        let (trigger, reloads) = reload_channel();
        drop(reloads);
        assert!(!trigger.request());
    }
}
