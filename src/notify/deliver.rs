//! One target ([`Target`]) and the delivery of one message to it: rendered
//! for its kind (MessageML into a room, signed JSON to a webhook), sent,
//! and sent again after 429, 5xx or no answer, with back-off and
//! `Retry-After` ([`deliver`]); 400, 403, 451 and the like are final.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::BackoffBuilder;
use serde_json::{Value, json};

pub use super::failure::DeliveryError;

use super::event::Event;
use super::locked;
use super::memory::Memory;
use super::render::Rendering;
use super::webhook::Webhook;
use crate::config::{Destination, EventKind, Room};
use crate::pod::agent::AgentClient;
use crate::pod::retry::RetryPolicy;
use crate::shutdown::Shutdown;

/// What every delivery shares: the memory, how messages are signed off and
/// where the whole plan is.
#[derive(Debug, Clone)]
pub struct Context {
    pub memory: Arc<Mutex<Memory>>,
    pub plan_url: Option<String>,
    /// `groupsync on <host>`.
    pub sender: String,
    /// The pod the messages are about (webhooks carry it).
    pub pod_url: Option<String>,
    pub dedupe: Duration,
    pub policy: RetryPolicy,
}

/// One target of `notify:`.
#[derive(Debug)]
pub struct Target {
    /// `symphony stream_id ...`, `webhook https://...`: how logs, metrics and `notify test` name it.
    pub label: String,
    pub events: Vec<EventKind>,
    channel: Channel,
}

#[derive(Debug)]
enum Channel {
    Symphony { agent: Box<AgentClient>, room: Room },
    Webhook(Webhook),
}

impl Target {
    /// A Symphony target posting through `agent`.
    pub fn symphony(
        destination: &Destination,
        events: Vec<EventKind>,
        agent: AgentClient,
        room: Room,
    ) -> Target {
        Target {
            label: destination.to_string(),
            events,
            channel: Channel::Symphony {
                agent: Box::new(agent),
                room,
            },
        }
    }

    pub fn webhook(destination: &Destination, events: Vec<EventKind>, webhook: Webhook) -> Target {
        Target {
            label: destination.to_string(),
            events,
            channel: Channel::Webhook(webhook),
        }
    }

    pub fn wants(&self, kind: EventKind) -> bool {
        self.events.contains(&kind)
    }

    /// One attempt to deliver `event`.
    pub async fn send_once(&self, event: &Event, context: &Context) -> Result<(), DeliveryError> {
        let rendering = Rendering {
            event,
            plan_url: context.plan_url.as_deref(),
            sender: &context.sender,
        };
        let (messageml, text) = rendering.render();
        match &self.channel {
            Channel::Symphony { agent, room } => {
                let stream_id = stream_id(agent, room, context).await?;
                let posted = agent.post_message(&stream_id, &messageml, None).await;
                if let (Err(error), Room::Name(name)) = (&posted, room)
                    && matches!(error.status(), Some(400 | 403 | 404))
                {
                    // The room may be gone or renamed: looked up again next time.
                    locked(&context.memory).forget_room(name);
                }
                posted?;
                Ok(())
            }
            Channel::Webhook(webhook) => webhook.post(webhook_body(event, &text, context)).await,
        }
    }
}

/// The stream of `room`: as configured, else as resolved before, else as room search finds it now.
async fn stream_id(
    agent: &AgentClient,
    room: &Room,
    context: &Context,
) -> Result<String, DeliveryError> {
    let name = match room {
        Room::StreamId(id) => return Ok(id.clone()),
        Room::Name(name) => name,
    };
    let known = locked(&context.memory).room(name);
    if let Some(id) = known {
        return Ok(id);
    }
    let id = agent.find_room(name).await?;
    locked(&context.memory).set_room(name, &id);
    Ok(id)
}

/// A webhook's JSON body: `{event, text, title, fingerprint, pod, groups, ...}`
/// and the event's own fields.
pub fn webhook_body(event: &Event, text: &str, context: &Context) -> Vec<u8> {
    let mut body = serde_json::Map::new();
    body.insert("event".into(), json!(event.name()));
    body.insert("text".into(), json!(text));
    body.insert("title".into(), json!(event.title));
    body.insert("fingerprint".into(), json!(event.fingerprint));
    body.insert("pod".into(), json!(context.pod_url));
    body.insert("groups".into(), event.groups_json());
    for (key, value) in &event.fields {
        body.insert(key.clone(), value.clone());
    }
    serde_json::to_vec(&Value::Object(body)).expect("a JSON map serializes")
}

/// Delivers `event` to `target`: attempts until one succeeds, one fails for
/// good, the policy's attempts are spent, or a stop is requested (no new
/// attempt then). Retries honour `Retry-After`.
pub async fn deliver(
    target: &Target,
    event: &Event,
    context: &Context,
    stop: &Shutdown,
) -> Result<(), DeliveryError> {
    let policy = context.policy;
    let mut waits = policy.backoff().build();
    let mut attempt = 1;
    loop {
        let error = match target.send_once(event, context).await {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        let wait = waits
            .next()
            .filter(|_| error.retryable && !stop.is_requested());
        let Some(backoff) = wait else {
            return Err(match (error.retryable, attempt) {
                (true, attempts) if attempts > 1 => DeliveryError {
                    message: format!("gave up after {attempts} attempts: {}", error.message),
                    ..error
                },
                _ => error,
            });
        };
        let wait = policy.wait(backoff, error.retry_after);
        tracing::debug!(
            target = %target.label,
            "notification not delivered: {}; trying again in {wait:?}",
            error.message
        );
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = until_stopped(stop) => {}
        }
        attempt += 1;
    }
}

/// Completes once a stop is requested; never when its trigger is gone without firing.
pub async fn until_stopped(stop: &Shutdown) {
    let mut stop = stop.clone();
    stop.requested().await;
    if !stop.is_requested() {
        std::future::pending::<()>().await;
    }
}
