//! The command line: what `groupsync` accepts, and the usage checks clap
//! cannot make by itself. Nothing here runs a command: that is
//! [`crate::commands`].
//!
//! - [`args`]  — the clap definitions: `Cli`, `Command` and each command's flags.
//! - [`help`]  — the longer texts of `--help` and of refusals, each written once.
//! - [`usage`] — parsing: clap's, then the flags refused where they mean nothing.

pub mod args;
pub mod help;
pub mod usage;
