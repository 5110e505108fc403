//! The `groupsync` binary: only wiring. The command line is
//! [`groupsync::cli`], the command bodies are [`groupsync::commands`], and
//! every exit code is decided in one place, [`exit_code`].

use std::process::ExitCode;

use groupsync::cli::usage;
use groupsync::commands::{self, outcome::Outcome, outcome::exit_code};

/// mimalloc: loading a large tree parses files on every core, and glibc's
/// allocator made two threads slower than one (they waited on each other).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ExitCode::from(exit_code(run()))
}

/// Parses the command line and runs the command it names.
fn run() -> anyhow::Result<Outcome> {
    let cli = usage::parse(std::env::args_os())?;
    commands::run(cli)
}
