//! One target's outbox: a bounded queue ([`CAPACITY`] messages and
//! [`MAX_BYTES`]; when full, the oldest messages are dropped and counted)
//! and the task that sends from it,
//! one message at a time, so that a target that is down or slow holds up
//! nothing but its own messages: never a cycle, a stop or a reload, nor
//! another target.
//!
//! Before sending, the task skips a message whose fingerprint went to this
//! target within `notify_settings.dedupe`; after sending, it records it.
//! A final failure is logged once per target and status, until a message
//! gets through again.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, watch};

use super::deliver::{Context, Target, deliver, until_stopped};
use super::event::Event;
use super::{Delivery, DeliveryObserver, locked};
use crate::shutdown::Shutdown;
use crate::store::snapshot::now_ms;

/// The most messages waiting for one target.
pub const CAPACITY: usize = 1_000;

/// The most bytes of messages waiting for one target ([`Event::weight`]):
/// a target down for days behind a pod that drifts by the thousand would
/// otherwise hold a thousand large messages.
pub const MAX_BYTES: usize = 64 << 20;

/// A target's queue, and what its task and the flush watch.
pub struct Outbox {
    pub target: Target,
    queue: Mutex<Queue>,
    /// The most bytes queued; [`MAX_BYTES`] but in tests.
    max_bytes: usize,
    wake: Notify,
    /// Messages queued or in flight.
    pending: watch::Sender<usize>,
    /// Set when the notifications are dropped: the task sends what is queued, then ends.
    closed: std::sync::atomic::AtomicBool,
    /// The final failure said last (by status), until a success.
    said: Mutex<Option<Option<u16>>>,
}

/// The messages waiting, each with its weight, and their sum.
#[derive(Default)]
struct Queue {
    events: VecDeque<(Arc<Event>, usize)>,
    bytes: usize,
}

impl Queue {
    fn pop_front(&mut self) -> Option<Arc<Event>> {
        let (event, weight) = self.events.pop_front()?;
        self.bytes -= weight;
        Some(event)
    }
}

impl Outbox {
    pub fn new(target: Target) -> Arc<Outbox> {
        Outbox::bounded(target, MAX_BYTES)
    }

    fn bounded(target: Target, max_bytes: usize) -> Arc<Outbox> {
        Arc::new(Outbox {
            target,
            queue: Mutex::new(Queue::default()),
            max_bytes,
            wake: Notify::new(),
            pending: watch::Sender::new(0),
            closed: std::sync::atomic::AtomicBool::new(false),
            said: Mutex::new(None),
        })
    }

    /// Queues `event`, of [`Event::weight`] `weight` (weighed once for
    /// every outbox); returns the oldest messages it made room for (they are
    /// dropped), oldest first. The newest message is always kept.
    pub fn push(&self, event: Arc<Event>, weight: usize) -> Vec<Arc<Event>> {
        let dropped = {
            let mut queue = locked(&self.queue);
            let mut dropped = Vec::new();
            while queue.events.len() >= CAPACITY
                || (!queue.events.is_empty() && queue.bytes + weight > self.max_bytes)
            {
                dropped.extend(queue.pop_front());
            }
            queue.events.push_back((event, weight));
            queue.bytes += weight;
            dropped
        };
        self.pending
            .send_modify(|pending| *pending = (*pending + 1).saturating_sub(dropped.len()));
        self.wake.notify_one();
        dropped
    }

    /// Messages queued or in flight.
    pub fn pending(&self) -> usize {
        *self.pending.borrow()
    }

    /// Waits until nothing is queued or in flight.
    pub async fn drained(&self) {
        let mut pending = self.pending.subscribe();
        let _ = pending.wait_for(|pending| *pending == 0).await;
    }

    /// Lets the task end once its queue is empty.
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Takes every queued message out (a stop: they will not be sent).
    pub fn take_all(&self) -> Vec<Arc<Event>> {
        let taken: Vec<Arc<Event>> = std::mem::take(&mut *locked(&self.queue))
            .events
            .into_iter()
            .map(|(event, _)| event)
            .collect();
        self.pending
            .send_modify(|pending| *pending = pending.saturating_sub(taken.len()));
        taken
    }

    /// Sends what comes, one message at a time, until closed and empty.
    pub async fn run(
        self: Arc<Outbox>,
        context: Context,
        observer: Option<DeliveryObserver>,
        stop: Shutdown,
    ) {
        loop {
            let next = locked(&self.queue).pop_front();
            let Some(event) = next else {
                if self.closed.load(std::sync::atomic::Ordering::SeqCst) || stop.is_requested() {
                    return;
                }
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = until_stopped(&stop) => {}
                }
                continue;
            };
            let result = self.send(&event, &context, &stop).await;
            if let Some(observer) = &observer {
                observer(&self.target.label, event.kind, result);
            }
            self.pending
                .send_modify(|pending| *pending = pending.saturating_sub(1));
        }
    }

    /// Sends one message unless its fingerprint went here within the dedupe window.
    async fn send(&self, event: &Event, context: &Context, stop: &Shutdown) -> Delivery {
        let label = &self.target.label;
        let deduped = event.dedupe && !context.dedupe.is_zero();
        if deduped
            && memory(context).recently_sent(label, &event.fingerprint, context.dedupe, now_ms())
        {
            tracing::debug!(target = %label, event = %event.kind, "already sent within notify_settings.dedupe: not sent again");
            return Delivery::Deduplicated;
        }
        match deliver(&self.target, event, context, stop).await {
            Ok(()) => {
                if deduped {
                    memory(context).record_sent(
                        label,
                        &event.fingerprint,
                        context.dedupe,
                        now_ms(),
                    );
                }
                if locked(&self.said).take().is_some() {
                    tracing::info!(target = %label, "notifications are delivered again");
                }
                tracing::debug!(target = %label, event = %event.kind, "notification delivered");
                Delivery::Sent
            }
            Err(error) => {
                let mut said = locked(&self.said);
                if *said != Some(error.status) {
                    *said = Some(error.status);
                    tracing::warn!(
                        "notification {} to {label} not delivered: {} (said once until one gets through)",
                        event.kind,
                        crate::text::escaped(&error.message)
                    );
                }
                Delivery::Failed
            }
        }
    }
}

fn memory(context: &Context) -> MutexGuard<'_, super::memory::Memory> {
    locked(&context.memory)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Destination, EventKind};
    use crate::notify::event::{Row, test_event};
    use crate::notify::webhook::{Secret, Webhook};

    fn push(outbox: &Outbox, event: Arc<Event>) -> Vec<Arc<Event>> {
        let weight = event.weight();
        outbox.push(event, weight)
    }

    fn hook() -> Target {
        let destination = Destination::Webhook {
            url: "http://127.0.0.1:9/hook".into(),
            secret_file: "/nonexistent".into(),
        };
        let webhook = Webhook::new("http://127.0.0.1:9/hook", Secret::new(b"s".to_vec())).unwrap();
        Target::webhook(&destination, EventKind::ALL.to_vec(), webhook)
    }

    #[test]
    fn an_outbox_over_its_bytes_drops_its_oldest_messages_and_keeps_the_newest() {
        let outbox = Outbox::bounded(hook(), 100_000);
        let heavy = |index: usize, what_bytes: usize| {
            let mut event = test_event("host");
            event.title = format!("message {index}");
            event.rows.push(Row {
                group_id: Some(format!("g{index}")),
                name: None,
                what: "x".repeat(what_bytes),
            });
            Arc::new(event)
        };
        for index in 0..3 {
            assert!(push(&outbox, heavy(index, 30_000)).is_empty());
        }
        // A fourth of 30,000 bytes passes 100,000: the oldest makes room.
        let dropped = push(&outbox, heavy(3, 30_000));
        let titles: Vec<&str> = dropped.iter().map(|event| event.title.as_str()).collect();
        assert_eq!(titles, ["message 0"]);
        assert_eq!(outbox.pending(), 3);
        // One larger than the whole cap empties the queue, and is kept.
        let dropped = push(&outbox, heavy(4, 200_000));
        assert_eq!(dropped.len(), 3);
        assert_eq!(outbox.pending(), 1);
        let left = outbox.take_all();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].title, "message 4");
        // What was taken out is no longer counted: the cap holds three again.
        for index in 5..8 {
            assert!(push(&outbox, heavy(index, 30_000)).is_empty());
        }
    }

    #[test]
    fn a_full_outbox_drops_its_oldest_message() {
        let outbox = Outbox::new(hook());
        let numbered = |index: usize| {
            let mut event = test_event("host");
            event.title = format!("message {index}");
            Arc::new(event)
        };
        for index in 0..CAPACITY {
            assert!(push(&outbox, numbered(index)).is_empty());
        }
        let dropped = push(&outbox, numbered(CAPACITY));
        assert_eq!(dropped.len(), 1, "the oldest is dropped");
        assert_eq!(dropped[0].title, "message 0");
        assert_eq!(outbox.pending(), CAPACITY);
        let left = outbox.take_all();
        assert_eq!(left.first().unwrap().title, "message 1");
        assert_eq!(left.last().unwrap().title, format!("message {CAPACITY}"));
        assert_eq!(outbox.pending(), 0);
    }
}
