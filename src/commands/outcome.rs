//! How a command ended ([`Outcome`]), and the one match that turns it, or
//! the error it ended in, into the process's exit code ([`exit_code`],
//! [`code_of`]); and what each code means per command ([`EXIT_STATUS`]),
//! from which the docs' table and groupsync(1)'s EXIT STATUS are written.

use crate::cli::usage::Usage;
use crate::shutdown::StopSignal;
use crate::text::escaped;

/// How a command ended. Commands return it; [`exit_code`] alone turns it into
/// the exit codes of `docs/interface.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done, nothing left to do: valid, no changes, converged, a clean stop.
    Clean,
    /// `plan`: the plan is not empty.
    ChangesPending,
    /// Something failed and was already reported (invalid input, a group
    /// that could not be applied).
    Failed,
    /// A second SIGINT or SIGTERM came before the command ended (the first
    /// asked it to stop): the process exits at once, not waiting for it.
    Interrupted(StopSignal),
}

/// The process's exit code: [`code_of`] the outcome; 1 for an error, a
/// usage error too (not clap's 2: for `plan`, 2 means "changes pending");
/// 0 for `--help` and `--version`.
///
/// What ends the process unannounced is told here: the error (on stderr),
/// the usage message, or the signal.
pub fn exit_code(result: anyhow::Result<Outcome>) -> u8 {
    let code = result_code(&result);
    tell(result, code);
    code
}

/// The exit code `result` stands for, deciding only (tests call this: it prints nothing).
fn result_code(result: &anyhow::Result<Outcome>) -> u8 {
    match result {
        Ok(outcome) => code_of(*outcome),
        Err(err) => match err.downcast_ref::<Usage>() {
            // `--help` and `--version` print to stdout and are not errors.
            Some(Usage(usage)) => u8::from(usage.use_stderr()),
            None => code_of(Outcome::Failed),
        },
    }
}

/// Tells what ends the process with `code`: the usage message, the error,
/// or the second stop signal. A stderr that cannot be written to is no error.
fn tell(result: anyhow::Result<Outcome>, code: u8) {
    use std::io::Write;
    match result {
        Ok(Outcome::Interrupted(signal)) => {
            tracing::warn!("{signal} received again: exiting at once (exit {code})");
        }
        Ok(_) => {}
        Err(err) => match err.downcast::<Usage>() {
            Ok(Usage(usage)) => {
                let _ = usage.print();
            }
            Err(err) => {
                // The message may carry text from the pod or a file: escaped.
                let message = format!("error: {}\n", escaped(&format!("{err:#}")));
                let _ = std::io::stderr().write_all(message.as_bytes());
            }
        },
    }
}

/// Every exit code, in one place: 0 clean, 2 changes pending, 1 failed, 130
/// after a second SIGINT and 143 after a second SIGTERM (128 + the signal's
/// number, as a shell reports a death by signal).
pub const fn code_of(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Clean => 0,
        Outcome::ChangesPending => 2,
        Outcome::Failed => 1,
        Outcome::Interrupted(StopSignal::Interrupt) => 130,
        Outcome::Interrupted(StopSignal::Terminate) => 143,
    }
}

/// What each exit code means for one or more commands: a row of the exit
/// codes table of `docs/interface.md` and of groupsync(1)'s EXIT STATUS,
/// both written from [`EXIT_STATUS`].
#[derive(Debug, Clone, Copy)]
pub struct ExitStatus {
    /// The commands the row is about, as typed: `run --once`.
    pub commands: &'static [&'static str],
    /// What [`Outcome::Clean`] means for them.
    pub clean: &'static str,
    /// What [`Outcome::Failed`] means for them.
    pub failed: &'static str,
    /// What [`Outcome::ChangesPending`] means, for those that have it.
    pub pending: Option<&'static str>,
}

/// The exit codes of every command.
pub const EXIT_STATUS: [ExitStatus; 11] = [
    ExitStatus {
        commands: &["validate"],
        clean: "valid",
        failed: "invalid input or config",
        pending: None,
    },
    ExitStatus {
        commands: &["plan", "run --dry-run --once"],
        clean: "no changes",
        failed: "any error",
        pending: Some("changes pending"),
    },
    ExitStatus {
        commands: &["apply", "run --once"],
        clean: "converged: every planned change applied (or nothing to do)",
        failed: "any error (for `apply FILE`: a plan file altered, truncated, for another pod or stale, with nothing written)",
        pending: None,
    },
    ExitStatus {
        commands: &["show"],
        clean: "printed",
        failed: "the plan file cannot be read, is not a plan, or was altered",
        pending: None,
    },
    ExitStatus {
        commands: &["approve"],
        clean: "approval recorded (and journaled)",
        failed: "no plan is held, the digest is not the held plan's, or any error",
        pending: None,
    },
    ExitStatus {
        commands: &["import"],
        clean: "written (groups the loader would refuse left out, each named on stderr)",
        failed: "any error (an existing `--out` file, a missing directory, an import too large for stdout, `cycle_timeout` included)",
        pending: None,
    },
    ExitStatus {
        commands: &["forget"],
        clean: "forgotten",
        failed: "any error (an id groupsync does not manage included: nothing forgotten)",
        pending: None,
    },
    ExitStatus {
        commands: &["journal verify"],
        clean: "the chain is intact (a partial last line from a crash is a warning)",
        failed: "a line changed, removed or moved (named `FILE:LINE: ...`), no journal, or any error",
        pending: None,
    },
    ExitStatus {
        commands: &["history"],
        clean: "printed (no records is no error)",
        failed: "any error (a journal file that cannot be read)",
        pending: None,
    },
    ExitStatus {
        commands: &["notify test"],
        clean: "every target took its test message",
        failed: "a target failed (each is named), `notify:` lists none, or any other error",
        pending: None,
    },
    ExitStatus {
        commands: &["run"],
        clean: "clean stop on SIGTERM/SIGINT",
        failed: "fatal start-up error",
        pending: None,
    },
];

/// [`EXIT_STATUS`] as the Markdown table of `docs/interface.md` (ending in a newline).
pub fn exit_status_markdown() -> String {
    let codes = [Outcome::Clean, Outcome::Failed, Outcome::ChangesPending].map(code_of);
    let mut text = format!(
        "| command | {} | {} | {} |\n|---|---|---|---|\n",
        codes[0], codes[1], codes[2]
    );
    for row in &EXIT_STATUS {
        let commands: Vec<String> = row
            .commands
            .iter()
            .map(|name| format!("`{name}`"))
            .collect();
        text.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            commands.join(", "),
            row.clean,
            row.failed,
            row.pending.unwrap_or("—")
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    // `result_code`, not `exit_code`: a test prints nothing of its own.
    use super::{Outcome, result_code};
    use crate::cli::args::Cli;
    use crate::cli::usage::{Usage, parse};
    use crate::shutdown::StopSignal;

    #[test]
    fn every_outcome_has_its_exit_code() {
        assert_eq!(result_code(&Ok(Outcome::Clean)), 0);
        assert_eq!(result_code(&Ok(Outcome::ChangesPending)), 2);
        assert_eq!(result_code(&Ok(Outcome::Failed)), 1);
        assert_eq!(result_code(&Err(anyhow::anyhow!("the pod is down"))), 1);
    }

    #[test]
    fn a_second_stop_signal_exits_128_plus_its_number() {
        let interrupted = |signal| result_code(&Ok(Outcome::Interrupted(signal)));
        assert_eq!(interrupted(StopSignal::Interrupt), 130);
        assert_eq!(interrupted(StopSignal::Terminate), 143);
    }

    #[test]
    fn a_usage_error_exits_1_and_version_exits_0() {
        let usage = Cli::try_parse_from(["groupsync", "plan", "--no-such-flag"])
            .err()
            .expect("an unknown flag is a usage error");
        assert_eq!(result_code(&Err(Usage(usage).into())), 1);
        let version = Cli::try_parse_from(["groupsync", "--version"])
            .err()
            .expect("clap reports --version as an error");
        assert_eq!(result_code(&Err(Usage(version).into())), 0);
    }

    #[test]
    fn a_flag_refused_where_it_means_nothing_exits_1() {
        for refused in [
            &["groupsync", "emulate", "--groups-dir", "x"][..],
            &["groupsync", "demo", "--state", "y"],
            &["groupsync", "schema", "--groups-dir", "x"],
        ] {
            let usage = parse(refused).err().expect("refused");
            assert_eq!(result_code(&Err(usage.into())), 1, "{refused:?}");
        }
    }
}
