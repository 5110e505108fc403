//! Graceful stop as a small type of its own: a `Shutdown` that tasks can poll
//! or await, and the `ShutdownTrigger` that fires it (on SIGINT/SIGTERM, or by hand in tests).

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
    use tokio::signal::unix::{SignalKind, signal};
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
}
