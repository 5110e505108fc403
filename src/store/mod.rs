//! The **store**: what groupsync keeps between cycles.
//!
//! - [`snapshot`]   — the snapshot of the pod (each group's fields and managed
//!   lists, user ids) and the state file's JSON format.
//! - [`streamed`]   — the state file read as it streams in, a group at a
//!   time, without holding its text.
//! - [`state_file`] — the state file on disk: read without a lock, locked by
//!   writing cycles, replaced atomically, never replaced when unreadable.
//! - [`journal`]    — the journal: one hash-chained JSON line per write,
//!   appended, rotated, verified, read back as history.

pub mod journal;
pub mod snapshot;
pub mod state_file;
pub mod streamed;
