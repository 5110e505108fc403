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
pub fn trigger_on_signals(trigger: ShutdownTrigger) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        tracing::info!("{name} received: finishing the requests in flight, then stopping");
        trigger.trigger();
    });
    Ok(())
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
