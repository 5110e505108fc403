//! Liveness and readiness: [`Health`], a handful of atomics the daemon loop
//! updates, and `/healthz` (the loop is alive and no cycle is stuck) and
//! `/readyz` (a cycle succeeded, the desired state is valid and no plan was
//! refused by the limits), which read them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

/// `/healthz` fails once the loop has not sent a heartbeat for this long.
pub const LIVENESS_WINDOW: Duration = Duration::from_secs(60);

/// What `/healthz` and `/readyz` answer, updated by the daemon loop.
///
/// Time is tokio's clock, so that the daemon's tests on paused time see it move.
#[derive(Debug)]
pub struct Health {
    /// The zero of the `_ms` fields (atomics cannot hold an `Instant`).
    origin: Instant,
    last_heartbeat_ms: AtomicU64,
    /// When the cycle running now counts as stuck; [`NO_CYCLE`] while none runs.
    stuck_at_ms: AtomicU64,
    ready: AtomicBool,
    desired_valid: AtomicBool,
    /// The last cycle's plan was refused by a safety limit.
    refused: AtomicBool,
}

/// `stuck_at_ms` while no cycle runs.
const NO_CYCLE: u64 = u64::MAX;

impl Default for Health {
    fn default() -> Self {
        Health::new()
    }
}

impl Health {
    /// Alive (as if a heartbeat came now), no cycle running, not ready, desired state valid.
    pub fn new() -> Health {
        Health::with_origin(Instant::now())
    }

    fn with_origin(origin: Instant) -> Health {
        Health {
            origin,
            last_heartbeat_ms: AtomicU64::new(0),
            stuck_at_ms: AtomicU64::new(NO_CYCLE),
            ready: AtomicBool::new(false),
            desired_valid: AtomicBool::new(true),
            refused: AtomicBool::new(false),
        }
    }

    /// Records that the loop is alive; call at least every few seconds.
    pub fn heartbeat(&self) {
        self.last_heartbeat_ms
            .store(millis(self.origin.elapsed()), Ordering::Relaxed);
    }

    /// A cycle starts now; if it still runs `stuck_after` from now, the daemon is stuck.
    pub fn cycle_started(&self, stuck_after: Duration) {
        let stuck_at = millis(self.origin.elapsed().saturating_add(stuck_after));
        self.stuck_at_ms
            .store(stuck_at.min(NO_CYCLE - 1), Ordering::Relaxed);
    }

    /// The cycle has ended (however).
    pub fn cycle_ended(&self) {
        self.stuck_at_ms.store(NO_CYCLE, Ordering::Relaxed);
    }

    /// Whether a cycle runs past the time it was given.
    pub fn is_cycle_stuck(&self) -> bool {
        millis(self.origin.elapsed()) >= self.stuck_at_ms.load(Ordering::Relaxed)
    }

    /// Whether the last heartbeat is at most `max_age` old and no cycle is stuck.
    pub fn is_alive(&self, max_age: Duration) -> bool {
        self.not_alive_reason(max_age).is_none()
    }

    /// Why `/healthz` fails (the loop is silent, or a cycle is stuck), or `None` when alive.
    pub fn not_alive_reason(&self, max_age: Duration) -> Option<String> {
        let last = Duration::from_millis(self.last_heartbeat_ms.load(Ordering::Relaxed));
        if self.is_cycle_stuck() {
            Some(
                "a cycle has run for longer than cycle_timeout and could not be abandoned"
                    .to_string(),
            )
        } else if self.origin.elapsed().saturating_sub(last) > max_age {
            Some(format!(
                "the sync loop has not reported for {} s",
                max_age.as_secs()
            ))
        } else {
            None
        }
    }

    /// True once the first cycle has succeeded.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// False while `groups.d/` does not load.
    pub fn set_desired_valid(&self, valid: bool) {
        self.desired_valid.store(valid, Ordering::Relaxed);
    }

    /// True after a cycle whose plan a safety limit refused, until a cycle plans within the limits.
    pub fn set_refused(&self, refused: bool) {
        self.refused.store(refused, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.not_ready_reason().is_none()
    }

    /// Why `/readyz` fails, or `None` when ready. An invalid desired state
    /// wins, then a refused plan: both are for an operator to fix.
    pub fn not_ready_reason(&self) -> Option<&'static str> {
        if !self.desired_valid.load(Ordering::Relaxed) {
            Some("desired state is invalid")
        } else if self.refused.load(Ordering::Relaxed) {
            Some("a safety limit refused the last plan; its changes are pending")
        } else if !self.ready.load(Ordering::Relaxed) {
            Some("no successful cycle yet")
        } else {
            None
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// `/healthz`: 200 `ok`, or 503 with why the daemon is not alive.
pub async fn healthz_endpoint(State(health): State<Arc<Health>>) -> Response {
    match health.not_alive_reason(LIVENESS_WINDOW) {
        None => (StatusCode::OK, "ok").into_response(),
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason).into_response(),
    }
}

/// `/readyz`: 200 `ready`, or 503 with why the daemon is not ready.
pub async fn readyz_endpoint(State(health): State<Arc<Health>>) -> Response {
    match health.not_ready_reason() {
        None => (StatusCode::OK, "ready").into_response(),
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_alive_until_the_heartbeat_is_too_old() {
        let health = Health::new();
        assert!(health.is_alive(LIVENESS_WINDOW));

        let Some(two_minutes_ago) = Instant::now().checked_sub(Duration::from_secs(120)) else {
            return; // The machine booted less than two minutes ago: nothing to compare.
        };
        let stale = Health::with_origin(two_minutes_ago);
        assert!(!stale.is_alive(LIVENESS_WINDOW));
        assert!(stale.is_alive(Duration::from_secs(180)));
        stale.heartbeat();
        assert!(stale.is_alive(LIVENESS_WINDOW));
    }

    #[tokio::test]
    async fn healthz_fails_once_the_loop_stops_reporting() {
        let Some(two_minutes_ago) = Instant::now().checked_sub(Duration::from_secs(120)) else {
            return;
        };
        let alive = healthz_endpoint(State(Arc::new(Health::new()))).await;
        assert_eq!(alive.status(), StatusCode::OK);
        let stale = Arc::new(Health::with_origin(two_minutes_ago));
        let stale = healthz_endpoint(State(stale)).await;
        assert_eq!(stale.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn health_is_ready_after_a_success_while_the_desired_state_is_valid() {
        let health = Health::new();
        assert_eq!(health.not_ready_reason(), Some("no successful cycle yet"));
        health.set_ready(true);
        assert!(health.is_ready());
        health.set_desired_valid(false);
        assert_eq!(health.not_ready_reason(), Some("desired state is invalid"));
        assert!(!health.is_ready());
        health.set_desired_valid(true);
        assert!(health.is_ready());
    }
}
