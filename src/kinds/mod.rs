//! The **resource kinds** groupsync manages, one module each behind one seam:
//!
//! - [`group`]      — a group's own fields (name, area, description, active),
//!   and which pod group a declared group is ([`group::names`]).
//! - [`membership`] — the users a group scopes.
//! - [`assignment`] — the compliance officers responsible for a group.
//! - [`roster`]     — the list machinery memberships and assignments share.
//! - [`core`]       — what every kind shares: [`core::Kind`], the target of a
//!   change, requests, what an apply sent.
//! - [`seam`]       — the one place that dispatches to a kind: reads, plan
//!   parts, and each [`seam::Part`]'s requests, limits, rendering, writes
//!   and records. The pipeline calls only this, and names no kind.
//!
//! Each kind owns its pod reads (through the client's bounded walker), its
//! diff against the snapshot, its minimal write requests, how an answer is
//! recorded in the snapshot, how it renders (YAML lines of the diff, a
//! summary, its JSON entry), and what it counts toward the limits.
//!
//! # How to add a resource kind
//! 1. Its pod types in `model/` and its endpoints as an `impl PodClient`
//!    file in `pod/` (the emulator answers them in `emulator/`).
//! 2. Its module here: a part type with `has_writes`, `requests`,
//!    `yaml_before`/`yaml_after`, `summary`, `serialize_json`, `send` and
//!    `record`, a `plan` function, and a `read` function. A per-user list
//!    of a group is a [`roster::ListKind`] value, as `membership.rs` is,
//!    plus a `Roster` value in `model/roster.rs` (the snapshot keeps it by its key).
//! 3. The registration: a [`core::Kind`] variant, and one arm in each
//!    `match` of [`seam`] (a list kind: one arm of `list_kind`).
//! 4. Its YAML key in `desired/` (the loader and the JSON Schema) when YAML declares it.
//! 5. Its journal kind: a `WriteKind` variant in `store/journal/record.rs`
//!    and its arm in `pipeline/journaling.rs` (`write_kind`), so that every
//!    write of it is recorded under its own name.
//!
//! The compiler names the rest: a list kind adds one arm to each
//! exhaustive `match` over `Roster` (the pod's list endpoints, the
//! emulator's, import). Nothing in plan, apply, render or the state file
//! changes.

pub mod assignment;
pub mod core;
pub mod group;
pub mod membership;
pub mod roster;
pub mod seam;
