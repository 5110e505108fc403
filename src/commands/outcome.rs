//! How a command ended ([`Outcome`]), and the one match that turns it, or
//! the error it ended in, into the process's exit code ([`exit_code`]).

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

/// Every exit code, in one place: 0 clean, 2 changes pending, 130 after a
/// second SIGINT and 143 after a second SIGTERM (128 + the signal's number,
/// as a shell reports a death by signal), 1 anything else. A usage error is
/// 1 too, not clap's 2: for `plan`, 2 means "changes pending".
///
/// What ends the process unannounced is told here: the error (on stderr),
/// the usage message, or the signal.
pub fn exit_code(result: anyhow::Result<Outcome>) -> u8 {
    let code = code_of(&result);
    tell(result, code);
    code
}

/// The exit code `result` stands for, deciding only.
fn code_of(result: &anyhow::Result<Outcome>) -> u8 {
    match result {
        Ok(Outcome::Clean) => 0,
        Ok(Outcome::ChangesPending) => 2,
        Ok(Outcome::Failed) => 1,
        Ok(Outcome::Interrupted(StopSignal::Interrupt)) => 130,
        Ok(Outcome::Interrupted(StopSignal::Terminate)) => 143,
        Err(err) => match err.downcast_ref::<Usage>() {
            // `--help` and `--version` print to stdout and are not errors.
            Some(Usage(usage)) => u8::from(usage.use_stderr()),
            None => 1,
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    // `code_of`, not `exit_code`: a test prints nothing of its own.
    use super::{Outcome, code_of as exit_code_of};
    use crate::cli::args::Cli;
    use crate::cli::usage::{Usage, parse};
    use crate::shutdown::StopSignal;

    #[test]
    fn every_outcome_has_its_exit_code() {
        assert_eq!(exit_code_of(&Ok(Outcome::Clean)), 0);
        assert_eq!(exit_code_of(&Ok(Outcome::ChangesPending)), 2);
        assert_eq!(exit_code_of(&Ok(Outcome::Failed)), 1);
        assert_eq!(exit_code_of(&Err(anyhow::anyhow!("the pod is down"))), 1);
    }

    #[test]
    fn a_second_stop_signal_exits_128_plus_its_number() {
        let interrupted = |signal| exit_code_of(&Ok(Outcome::Interrupted(signal)));
        assert_eq!(interrupted(StopSignal::Interrupt), 130);
        assert_eq!(interrupted(StopSignal::Terminate), 143);
    }

    #[test]
    fn a_usage_error_exits_1_and_version_exits_0() {
        let usage = Cli::try_parse_from(["groupsync", "plan", "--no-such-flag"])
            .err()
            .expect("an unknown flag is a usage error");
        assert_eq!(exit_code_of(&Err(Usage(usage).into())), 1);
        let version = Cli::try_parse_from(["groupsync", "--version"])
            .err()
            .expect("clap reports --version as an error");
        assert_eq!(exit_code_of(&Err(Usage(version).into())), 0);
    }

    #[test]
    fn a_flag_refused_where_it_means_nothing_exits_1() {
        for refused in [
            &["groupsync", "emulate", "--groups-dir", "x"][..],
            &["groupsync", "demo", "--state", "y"],
            &["groupsync", "schema", "--groups-dir", "x"],
        ] {
            let usage = parse(refused).err().expect("refused");
            assert_eq!(exit_code_of(&Err(usage.into())), 1, "{refused:?}");
        }
    }
}
