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

/// `mi_option_purge_delay` in mimalloc 3's `mimalloc.h` (the Rust bindings
/// name no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Freed memory goes back to the system after 10 ms, not mimalloc 3's
    // 1 s: a daemon that just built a large plan and went idle kept 50 MiB
    // more than it needed (mimalloc 2's default, and what glibc does).
    // SAFETY: setting an option is allowed at any time, from any thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10) };
    ExitCode::from(exit_code(run()))
}

/// Parses the command line and runs the command it names.
fn run() -> anyhow::Result<Outcome> {
    let cli = usage::parse(std::env::args_os())?;
    commands::run(cli)
}
