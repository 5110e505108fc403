//! The **service**: what makes one cycle a long-running daemon.
//!
//! - [`daemon`]  — `groupsync run`: when cycles run, and what a finished one means.
//! - [`watch`]   — file-system events under the groups dir, with a polling fallback.
//! - [`systemd`] — `sd_notify`: READY, STATUS, RELOADING, STOPPING and the watchdog.
//! - [`metrics`] — Prometheus metrics and `/metrics`, `/healthz`, `/readyz` (axum).
//! - [`logging`] — tracing to stderr, text or JSON, journal-aware.

pub mod daemon;
pub mod logging;
pub mod metrics;
pub mod systemd;
pub mod watch;
