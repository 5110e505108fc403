//! groupsync keeps Symphony compliance user groups in line with YAML files in git.
//!
//! # Layout
//!
//! The pipeline is the architecture: **load** -> **refresh** -> **plan** ->
//! **render** | **apply**. The folders are layers; each uses only the ones
//! listed below it, so there is no import circle.
//!
//! - `main.rs` — the binary: parses the command line, runs the command, exits with its code.
//! - [`commands`] — one module per command body; [`commands::outcome`] decides every exit code.
//! - [`cli`] — the command line: clap definitions, help texts, usage checks.
//! - [`demo`] — the story `groupsync demo` tells.
//! - [`service`] — the daemon around the pipeline:
//!   - [`service::daemon`]  — `groupsync run`: cycles on start, file change, schedule and SIGHUP.
//!   - [`service::watch`]   — file-system events under the groups dir, with a polling fallback.
//!   - [`service::systemd`] — `sd_notify`: READY, STATUS, RELOADING, STOPPING and the watchdog.
//!   - [`service::metrics`] — the daemon's HTTP endpoints, one concept per file:
//!     - [`service::metrics::registry`] — the Prometheus metric families and `/metrics`' text.
//!     - [`service::metrics::health`]   — liveness and readiness, `/healthz` and `/readyz`.
//!     - [`service::metrics::plan`]     — the current plan, `/plan` and `/plan.json`, streamed from one copy.
//!     - [`service::metrics::access`]   — who may read the plan: a bearer token, or a loopback listener.
//!     - [`service::metrics::connections`] — the connection cap; the oldest idle connection makes room.
//!     - [`service::metrics::server`]   — the listener, its accept loop and the routes.
//!   - [`service::logging`] — tracing to stderr, text or JSON, journal-aware.
//! - [`notify`] — notifications: what a cycle found and did, to Symphony rooms (through
//!   [`pod::agent`]) and webhooks; events and fingerprints, MessageML, one bounded outbox
//!   and task per target, so that delivery never delays a cycle.
//! - [`pipeline`] — one module per stage, each looping over the resource kinds:
//!   - [`pipeline::cycle`]   — one cycle, load -> refresh -> plan -> apply, shared by every
//!     command; and `apply FILE`, a saved plan carried out exactly.
//!   - [`pipeline::refresh`] — before planning, read declared groups and lists from the pod;
//!     report drift; look up the names of groups declared without `id`.
//!   - [`pipeline::plan`]    — desired state + snapshot -> per group an update, an adoption, a
//!     create or a prune, each a list of kind parts (pure).
//!   - [`pipeline::orphans`], [`pipeline::ownership`] — groups no file declares any more, and
//!     which groups groupsync manages (with what git last declared of them).
//!   - [`pipeline::render`]  — a plan as a unified diff (text), as JSON, or as Markdown for a pull request.
//!   - [`pipeline::apply`]   — a plan's requests, `concurrency` at a time, each answer into the
//!     journal, then the snapshot; a create is never sent twice.
//!   - [`pipeline::journaling`] — one journal record per write, with the revision and plan digest.
//!   - [`pipeline::saved`]   — change control: a plan's digest, the plan file `plan --out`
//!     writes, and the fingerprints that make a stale plan refuse to apply.
//!   - [`pipeline::approval`] — a plan held over its limits, and its approval (`groupsync approve`).
//!   - [`pipeline::import`]  — `groupsync import`: the pod's undeclared groups as groups.d YAML.
//! - [`kinds`] — the resource kinds, one module each behind one seam ([`kinds::seam`]): a
//!   group's fields ([`kinds::group`]), its members ([`kinds::membership`]) and its
//!   assignees ([`kinds::assignment`]); each owns its reads, diff, requests, records and rendering.
//! - [`pod`] — the pod client, one concept per file:
//!   - [`pod::client`]    — the client: one handle, its session, every endpoint through it.
//!   - [`pod::transport`], [`pod::answer`], [`pod::paging`] — HTTP and TLS, bounded answers,
//!     the page walker, [`pod::in_flight`] (many requests, `concurrency` at a time);
//!     [`pod::groups`], [`pod::lists`], [`pod::users`] — the endpoints.
//!   - [`pod::agent`]  — the agent and the key manager: a message posted into a room, room search.
//!   - [`pod::auth`], [`pod::session`] — session tokens and RSA bot login (JWT RS512).
//!   - [`pod::retry`]  — back-off between pod attempts, honouring `Retry-After`.
//! - [`store`] — what is kept between cycles: [`store::snapshot`], [`store::state_file`] (read
//!   as it streams in by [`store::streamed`]), and
//!   [`store::journal`], the hash-chained record of every write (append, rotate, verify, history).
//! - [`desired`] — the **load** stage: `groups.d/` -> `DesiredState` (walk, tree, groups,
//!   duplicates), every error at once; and [`desired::schema`], the JSON Schema of a file, from the same keys.
//! - [`config`] — flags, environment and config file merged into `Settings`, and
//!   [`config::bdk`], the official SDK's `config.yaml`.
//! - [`emulator`] — a faithful pod emulator for tests, the demo and `groupsync emulate`
//!   (uses only [`model`]).
//! - The ground floor, used by all:
//!   - [`model`]    — the shared types: desired groups, the pod's `UserGroupResponse` and `UserGroupUpdate`;
//!     [`model::roster`], members and assignees and their pod types.
//!   - [`error`]    — the one library error type, the pod layer's and the listener's errors, `Diagnostic`.
//!   - [`text`]     — text from files and the pod made safe to show (escapes control and bidi characters).
//!   - [`shutdown`] — graceful stop (a `Shutdown` every wait can be cut short by), the second
//!     stop signal that ends the process, and reload requests.
//!   - [`threads`]  — a stage's runs each on a thread of its own, worked here when none starts.
//!   - [`revision`] — the git revision of the groups dir (commit, dirty, author, subject), or
//!     the one `--revision` gives.
//!
//! The contract the program keeps with its users and with the pod is written
//! down in `docs/` (`docs/interface.md`, `docs/pod-api.md`).

pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod desired;
pub mod emulator;
pub mod error;
pub mod kinds;
pub mod model;
pub mod notify;
pub mod pipeline;
pub mod pod;
pub mod revision;
pub mod service;
pub mod shutdown;
pub mod store;
pub mod text;
pub mod threads;

pub use error::{Diagnostic, Diagnostics, Error, Result};
