//! The daemon's HTTP endpoints, served by [`serve`] when `metrics_listen` is
//! set: `/metrics` (OpenMetrics text), `/healthz` (the loop is alive and no
//! cycle is stuck), `/readyz` (a cycle succeeded, the desired state is valid
//! and no plan was refused by the limits), open to all; `/plan` and
//! `/plan.json` (what the daemon would do now), to a bearer token or on a
//! loopback listener only. One concept per file:
//!
//! - [`registry`] — [`Metrics`]: the metric families in a registry of their own
//!   (no global state, so tests read it with [`Metrics::encode`]); `/metrics`.
//! - [`health`]   — [`Health`]: a handful of atomics the daemon loop updates; `/healthz`, `/readyz`.
//! - [`plan`]     — [`CurrentPlan`]: a slot the daemon loop fills; `/plan`, `/plan.json`,
//!   streamed from one shared copy, a bounded number at once.
//! - [`access`]   — [`PlanAccess`]: who may read the plan (a bearer token, or a loopback listener).
//! - [`connections`] — the connection cap: the oldest idle connection makes room for a new one.
//! - [`server`]   — [`serve`]: the listener, its accept loop, and the routes to the handlers above.
//!
//! The names other modules use are re-exported here.

pub mod access;
pub mod connections;
pub mod health;
pub mod plan;
pub mod registry;
pub mod server;
#[cfg(test)]
mod testing;

pub use access::{PlanAccess, PlanToken, is_loopback};
pub use connections::MAX_CONNECTIONS;
pub use health::{Health, LIVENESS_WINDOW};
pub use plan::{CurrentPlan, MAX_PLAN_DOWNLOADS, NoPlan, PLAN_CHUNK, PLAN_TEXT_CONTENT_TYPE};
pub use registry::{CycleResult, Metrics, OPENMETRICS_CONTENT_TYPE};
pub use server::{CONNECTION_LIFETIME, Endpoints, HEADER_READ_TIMEOUT, serve};
