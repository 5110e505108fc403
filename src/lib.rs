//! groupsync keeps Symphony compliance user groups in line with YAML files in git.
//!
//! # Layout
//!
//! The pipeline is the architecture: **load** -> **plan** -> **render** | **apply**.
//!
//! - [`model`]  — the shared types: desired groups, the pod's `UserGroupResponse` and `UserGroupUpdate`.
//! - [`error`]  — the one library error type and `Diagnostic` (`PATH:LINE:COLUMN: message`).
//! - [`config`] — the config file, flags and environment, merged into `Settings`.
//! - [`load`]   — `groups.d/` -> `DesiredState`: walk, parse, validate, every error at once.
//! - [`state`]  — the state file: the stored snapshot of the pod, locked and written atomically.
//! - [`plan`]   — desired state + snapshot -> the minimal `UserGroupUpdate` per group (pure).
//! - [`render`] — a plan as a unified diff (text) or as JSON.
//! - [`refresh`] — before planning, read declared groups from the pod; report drift.
//! - [`apply`]  — a plan's PUTs, `concurrency` at a time, each answer into the snapshot.
//! - [`cycle`]  — one cycle, load -> refresh -> plan -> apply, shared by every command.
//! - [`pod`]    — the pod client: one method per endpoint, retries, re-login on 401.
//! - [`auth`]   — session tokens and RSA bot login (JWT RS512).
//! - [`retry`]  — back-off between pod attempts, honouring `Retry-After`.
//! - [`bdk`]    — reads the official Symphony SDK's `config.yaml` (pod, bot, retry).
//! - [`shutdown`] — graceful stop: a `Shutdown` tasks can await, fired by SIGINT/SIGTERM.
//! - [`logging`] — tracing to stderr, text or JSON, journal-aware.
//! - [`daemon`] — `groupsync run`: cycles on start, file change, schedule and SIGHUP.
//! - [`watch`]  — file-system events under the groups dir, with a polling fallback.
//! - [`metrics`] — Prometheus metrics and `/metrics`, `/healthz`, `/readyz` (axum).
//! - [`systemd`] — `sd_notify`: READY, STATUS, RELOADING, STOPPING and the watchdog.
//! - [`demo`]   — `groupsync demo`: the whole story against an in-process emulator.
//! - [`emulator`] — a faithful pod emulator for tests, the demo and `groupsync emulate`.

pub mod apply;
pub mod auth;
pub mod bdk;
pub mod config;
pub mod cycle;
pub mod daemon;
pub mod demo;
pub mod emulator;
pub mod error;
pub mod load;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod pod;
pub mod refresh;
pub mod render;
pub mod retry;
pub mod shutdown;
pub mod state;
pub mod systemd;
pub mod watch;

pub use error::{Diagnostic, Diagnostics, Error, Result};
