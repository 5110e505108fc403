//! **Notifications**: what a cycle found and did, told to the people who
//! care, in Symphony rooms and to webhooks (`notify:` in the config).
//!
//! [`Notifications`] takes a cycle in twice: once it has planned
//! ([`Notifications::planned`]: the drift it found) and once it ended
//! ([`Notifications::finished`]: what it reverted, wrote and failed to
//! write, the limit that refused it, and whether cycles fail or recovered).
//! Each gives events ([`event`]), one message per kind of event per cycle,
//! queued for every target that wants that kind. Queuing never waits: each
//! target has its own bounded outbox and task ([`outbox`]), so a target that
//! is down never delays or fails a cycle, a stop or a reload. A one-shot
//! `apply` waits for its messages before it exits, at most
//! `notify_settings.flush_timeout` ([`Notifications::flush`]).
//!
//! # Layout
//!
//! Each file uses only the files listed below it:
//!
//! - `mod.rs` — [`Notifications`]: set-up from the settings, taking cycles in,
//!   `cycle_failing` / `recovered` (and `notify_settings.repeat`), flush, stop, `notify test`.
//! - [`outbox`]  — one target's bounded queue and the task that sends from it; dedupe.
//! - [`deliver`] — a target, one delivery to it, retries with back-off and `Retry-After`.
//! - [`webhook`] — a webhook's HMAC-SHA256 signature, its bounded POST.
//! - [`failure`] — why one attempt did not deliver, and whether another may.
//! - [`render`]  — an event as MessageML and as plain text, escaped, cut under the limits.
//! - [`memory`]  — what is remembered between runs beside the state file: dedupe, rooms, failing.
//! - [`event`]   — the events a cycle gives, and their fingerprints.
//!
//! Agent calls are the pod layer's ([`crate::pod::agent`]).

pub mod deliver;
pub mod event;
pub mod failure;
pub mod memory;
pub mod outbox;
pub mod render;
pub mod webhook;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use self::event::{Event, Planned, Row};
pub use self::failure::DeliveryError;
pub use crate::config::EventKind;

use self::deliver::{Context, Target};
use self::event::{cycle_failing_event, finished_events, planned_events, recovered_event};
use self::memory::{Failing, Memory, memory_path};
use self::outbox::Outbox;
use self::webhook::{Secret, Webhook};
use crate::config::{Destination, Settings};
use crate::error::Error;
use crate::pipeline::cycle::CycleOutcome;
use crate::pod::PodClient;
use crate::pod::agent::{AgentClient, KEY_MANAGER_TOKEN_ENV, KeyManagerToken};
use crate::pod::retry::RetryPolicy;
use crate::shutdown::{self, ShutdownTrigger};
use crate::store::journal::host_name;
use crate::store::snapshot::now_ms;

/// How one message to one target ended: the `result` label of
/// `groupsync_notifications_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delivery {
    Sent,
    /// Refused for good, or every attempt failed.
    Failed,
    /// Dropped: the outbox was full, or groupsync stopped before sending it.
    Dropped,
    /// Not sent: the same message went to the target within `notify_settings.dedupe`.
    Deduplicated,
}

impl Delivery {
    pub const ALL: [Delivery; 4] = [
        Delivery::Sent,
        Delivery::Failed,
        Delivery::Dropped,
        Delivery::Deduplicated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Sent => "sent",
            Delivery::Failed => "failed",
            Delivery::Dropped => "dropped",
            Delivery::Deduplicated => "deduplicated",
        }
    }
}

/// Told of every message's end: the target's label, the event's kind, how it ended.
pub type DeliveryObserver = Arc<dyn Fn(&str, EventKind, Delivery) + Send + Sync>;

/// Why notifications cannot be set up (a secret file, a key manager token, no pod).
#[derive(Debug, thiserror::Error)]
#[error("notify: {0}")]
pub struct NotifyError(pub String);

/// The targets of `notify:` and their outboxes. Cheap to clone; the tasks
/// end once every clone is dropped and their outboxes are empty.
#[derive(Clone, Default)]
pub struct Notifications {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    outboxes: Vec<Arc<Outbox>>,
    context: Context,
    observer: Option<DeliveryObserver>,
    /// What the cycle in flight planned, until it ends.
    planned: Mutex<Planned>,
    repeat: Duration,
    flush_timeout: Duration,
    stop: ShutdownTrigger,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for outbox in &self.outboxes {
            outbox.close();
        }
    }
}

pub(crate) fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Notifications {
    /// No targets: every call does nothing.
    pub fn none() -> Notifications {
        Notifications::default()
    }

    /// The targets of `settings.notify`, each with its task (spawned on the
    /// current tokio runtime). Reads the webhooks' secrets and the key
    /// manager token now. `client` is the pod's: Symphony targets share its
    /// session. `observer` is told how each message ended.
    pub fn start(
        settings: &Settings,
        client: Option<&PodClient>,
        observer: Option<DeliveryObserver>,
    ) -> Result<Notifications, NotifyError> {
        Notifications::none().restarted(settings, client, observer)
    }

    /// [`Notifications::start`] after a reload: the new targets share this
    /// one's memory (while the state file stays where it was), so that the
    /// outboxes of both, the old one sending what it holds, keep one record.
    pub fn restarted(
        &self,
        settings: &Settings,
        client: Option<&PodClient>,
        observer: Option<DeliveryObserver>,
    ) -> Result<Notifications, NotifyError> {
        let notify = &settings.notify;
        if notify.targets.is_empty() {
            return Ok(Notifications::none());
        }
        let mut agent: Option<AgentClient> = None;
        let mut outboxes = Vec::new();
        for target in &notify.targets {
            let events = target.events.clone();
            let target = match &target.destination {
                destination @ Destination::Symphony(room) => {
                    let agent = match &agent {
                        Some(agent) => agent.clone(),
                        None => agent.insert(agent_client(settings, client)?).clone(),
                    };
                    Target::symphony(destination, events, agent, room.clone())
                }
                destination @ Destination::Webhook { url, secret_file } => {
                    let secret = Secret::read(secret_file).map_err(NotifyError)?;
                    let webhook = Webhook::new(url, secret).map_err(NotifyError)?;
                    Target::webhook(destination, events, webhook)
                }
            };
            outboxes.push(Outbox::new(target));
        }
        let path = memory_path(&settings.state_file);
        let kept = (self.inner.as_ref())
            .map(|inner| &inner.context.memory)
            .filter(|memory| locked(memory).path() == Some(path.as_path()));
        let memory = match kept {
            Some(memory) => memory.clone(),
            None => Arc::new(Mutex::new(Memory::open(Some(path)))),
        };
        let context = Context {
            memory,
            plan_url: notify.plan_url.clone(),
            sender: format!("groupsync on {}", host_name()),
            pod_url: settings.pod_url.clone(),
            dedupe: notify.dedupe,
            policy: RetryPolicy::from(&settings.retry),
        };
        let (stop, stopped) = shutdown::channel();
        for outbox in &outboxes {
            let task = outbox
                .clone()
                .run(context.clone(), observer.clone(), stopped.clone());
            tokio::spawn(task);
        }
        Ok(Notifications {
            inner: Some(Arc::new(Inner {
                outboxes,
                context,
                observer,
                planned: Mutex::new(Planned::default()),
                repeat: notify.repeat,
                flush_timeout: notify.flush_timeout,
                stop,
            })),
        })
    }

    /// Each target's label and the events it wants.
    pub fn targets(&self) -> Vec<(String, Vec<EventKind>)> {
        self.outboxes()
            .iter()
            .map(|outbox| (outbox.target.label.clone(), outbox.target.events.clone()))
            .collect()
    }

    fn outboxes(&self) -> &[Arc<Outbox>] {
        self.inner.as_ref().map_or(&[], |inner| &inner.outboxes)
    }

    /// A cycle has planned: its drift is queued at once (the daemon sends
    /// as events come), and what it planned is kept until it ends.
    pub fn planned(&self, outcome: &CycleOutcome) {
        let Some(inner) = &self.inner else {
            return;
        };
        let planned = Planned::of(outcome);
        for event in planned_events(outcome, &planned) {
            inner.dispatch(event);
        }
        *locked(&inner.planned) = planned;
    }

    /// A cycle has ended with `result`: its events are queued, and cycles
    /// failing (once, then every `notify_settings.repeat`) or recovered.
    pub fn finished(&self, result: Result<&CycleOutcome, &Error>) {
        let Some(inner) = &self.inner else {
            return;
        };
        // Taken either way: what a cycle planned is not kept past its end.
        let kept = std::mem::take(&mut *locked(&inner.planned));
        let planned = match result {
            Ok(outcome) => Planned::of(outcome),
            Err(_) => kept,
        };
        for event in finished_events(result, &planned) {
            inner.dispatch(event);
        }
        inner.failing_or_recovered(result);
    }

    /// Waits until every queued message is delivered (or failed for good),
    /// at most `notify_settings.flush_timeout`; what is left then is
    /// dropped. Returns how many messages were left undelivered.
    pub async fn flush(&self) -> usize {
        let Some(inner) = &self.inner else {
            return 0;
        };
        let all_drained = async {
            for outbox in &inner.outboxes {
                outbox.drained().await;
            }
        };
        if tokio::time::timeout(inner.flush_timeout, all_drained)
            .await
            .is_ok()
        {
            return 0;
        }
        let left: usize = inner.outboxes.iter().map(|outbox| outbox.pending()).sum();
        tracing::warn!(
            "{} not delivered within notify_settings.flush_timeout ({}); exiting without them",
            crate::text::counted(left, "notification"),
            crate::error::short_duration(inner.flush_timeout)
        );
        self.stop();
        left
    }

    /// Stopping: no new attempt starts, and queued messages are dropped
    /// (counted). Returns how many were queued.
    pub fn stop(&self) -> usize {
        let Some(inner) = &self.inner else {
            return 0;
        };
        inner.stop.trigger();
        let mut dropped = 0;
        for outbox in &inner.outboxes {
            for event in outbox.take_all() {
                dropped += 1;
                inner.observe(outbox, event.kind, Delivery::Dropped);
            }
        }
        dropped
    }

    /// `groupsync notify test`: one test message to every target, one
    /// attempt each, bypassing the outboxes and dedupe; each target's label
    /// and how it went.
    pub async fn test(&self) -> Vec<(String, Result<(), DeliveryError>)> {
        let Some(inner) = &self.inner else {
            return Vec::new();
        };
        let event = event::test_event(&host_name());
        let mut results = Vec::new();
        for outbox in &inner.outboxes {
            let target = &outbox.target;
            let result = target.send_once(&event, &inner.context).await;
            results.push((target.label.clone(), result));
        }
        results
    }
}

impl Inner {
    /// Queues `event` for every target that wants its kind.
    fn dispatch(&self, event: Event) {
        let event = Arc::new(event);
        let mut weight = None;
        for outbox in &self.outboxes {
            if !outbox.target.wants(event.kind) {
                continue;
            }
            let weight = *weight.get_or_insert_with(|| event.weight());
            for dropped in outbox.push(event.clone(), weight) {
                tracing::warn!(
                    "the outbox of {} is full ({} messages or {} MiB): its oldest message ({}) is dropped",
                    outbox.target.label,
                    outbox::CAPACITY,
                    outbox::MAX_BYTES >> 20,
                    dropped.kind
                );
                self.observe(outbox, dropped.kind, Delivery::Dropped);
            }
        }
    }

    fn observe(&self, outbox: &Outbox, kind: EventKind, delivery: Delivery) {
        if let Some(observer) = &self.observer {
            observer(&outbox.target.label, kind, delivery);
        }
    }

    /// `cycle_failing` on the first failure after a success, and again once
    /// `repeat` has passed since it was said; `recovered` on the first
    /// success after it was said. A refusal is neither: a person decides.
    fn failing_or_recovered(&self, result: Result<&CycleOutcome, &Error>) {
        let ended = match result {
            Ok(_) => Ended::Succeeded,
            Err(Error::Refused { .. }) => Ended::Refused,
            Err(_) => Ended::Failed,
        };
        let mut memory = locked(&self.context.memory);
        let (failing, say) = next_failing(memory.failing(), ended, now_ms(), self.repeat);
        memory.set_failing(failing);
        drop(memory);
        match (say, result) {
            (Some(Say::Failing { since_ms }), Err(error)) => {
                self.dispatch(cycle_failing_event(error, &utc(since_ms)));
            }
            (Some(Say::Recovered { since_ms }), _) => {
                self.dispatch(recovered_event(&utc(since_ms)));
            }
            _ => {}
        }
    }
}

/// How a cycle ended, for `cycle_failing` and `recovered`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Succeeded,
    Failed,
    /// A safety limit refused the plan: neither failing nor recovered, a person decides.
    Refused,
}

/// What to say about cycles failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Say {
    Failing { since_ms: i64 },
    Recovered { since_ms: i64 },
}

/// Cycles failing since `failing` (or not), a cycle that `ended` at `now`:
/// what to remember, and what to say. `cycle_failing` on the first failure
/// after a success, and again once `repeat` has passed since it was said;
/// `recovered` on the first success after it was said.
fn next_failing(
    failing: Option<Failing>,
    ended: Ended,
    now: i64,
    repeat: Duration,
) -> (Option<Failing>, Option<Say>) {
    match ended {
        Ended::Refused => (failing, None),
        Ended::Succeeded => {
            let said = failing.filter(|failing| failing.said_ms.is_some());
            let say = said.map(|failing| Say::Recovered {
                since_ms: failing.since_ms,
            });
            (None, say)
        }
        Ended::Failed => {
            let mut failing = failing.unwrap_or(Failing {
                since_ms: now,
                said_ms: None,
            });
            let repeat = i64::try_from(repeat.as_millis()).unwrap_or(i64::MAX);
            let due = failing
                .said_ms
                .is_none_or(|said| now.saturating_sub(said) >= repeat);
            if !due {
                return (Some(failing), None);
            }
            failing.said_ms = Some(now);
            let since_ms = failing.since_ms;
            (Some(failing), Some(Say::Failing { since_ms }))
        }
    }
}

/// The Symphony targets' agent client: the pod's session, and a key manager
/// token from the environment or a file (an RSA bot logs in for one itself).
fn agent_client(
    settings: &Settings,
    client: Option<&PodClient>,
) -> Result<AgentClient, NotifyError> {
    let missing = || {
        NotifyError(
            "a Symphony target needs the pod (pod.url / GROUPSYNC_POD_URL) and credentials".into(),
        )
    };
    let client = client.ok_or_else(missing)?;
    let notify = &settings.notify;
    let (Some(agent_url), Some(key_manager_url)) = (&notify.agent_url, &notify.key_manager_url)
    else {
        return Err(missing());
    };
    let token = KeyManagerToken::from_sources(
        std::env::var(KEY_MANAGER_TOKEN_ENV).ok(),
        notify.key_manager_token_file.as_deref(),
    )
    .map_err(|error| NotifyError(error.to_string()))?;
    AgentClient::new(client, agent_url, key_manager_url, token)
        .map_err(|error| NotifyError(error.to_string()))
}

/// `2026-12-04T15:00:00Z` of epoch milliseconds.
fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|at| at.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn failing_is_said_once_then_after_repeat_then_recovered() {
        let repeat = Duration::from_secs(6 * 3600);
        let (failing, say) = next_failing(None, Ended::Failed, 0, repeat);
        assert_eq!(say, Some(Say::Failing { since_ms: 0 }));
        let (failing, say) = next_failing(failing, Ended::Failed, 5 * HOUR, repeat);
        assert_eq!(say, None, "within repeat");
        let (failing, say) = next_failing(failing, Ended::Refused, 5 * HOUR, repeat);
        assert_eq!(say, None, "a refusal says nothing");
        let (failing, say) = next_failing(failing, Ended::Failed, 6 * HOUR, repeat);
        assert_eq!(
            say,
            Some(Say::Failing { since_ms: 0 }),
            "said again, same since"
        );
        let (failing, say) = next_failing(failing, Ended::Succeeded, 7 * HOUR, repeat);
        assert_eq!(say, Some(Say::Recovered { since_ms: 0 }));
        assert_eq!(failing, None);
        let (_, say) = next_failing(None, Ended::Succeeded, 8 * HOUR, repeat);
        assert_eq!(say, None, "nothing to recover from");
    }

    #[test]
    fn every_delivery_result_has_its_label() {
        let labels: Vec<&str> = Delivery::ALL.iter().map(|result| result.as_str()).collect();
        assert_eq!(labels, ["sent", "failed", "dropped", "deduplicated"]);
    }
}
