//! Parsing the command line: clap's parse, then the checks clap cannot make
//! (global settings flags given to a command they mean nothing to, and
//! `run --force` without `--once`). Any failure is a [`Usage`] error.

use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use crate::cli::args::{Cli, Command};
use crate::cli::help::daemon_force_refused;

/// A command-line parse error (or `--help` / `--version`, which clap also
/// reports this way).
#[derive(Debug)]
pub struct Usage(pub clap::Error);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Usage {}

/// The command line `args` (the program's name first), checked.
pub fn parse(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> Result<Cli, Usage> {
    let cli = parse_from(args)?;
    refuse_force_for_the_daemon(cli).map_err(Usage)
}

/// The command line, with the settings flags that mean nothing to the
/// command refused (clap would accept them: they are global).
fn parse_from(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> Result<Cli, Usage> {
    let matches = Cli::command().try_get_matches_from(args).map_err(Usage)?;
    let cli =
        Cli::from_arg_matches(&matches).map_err(|err| Usage(err.format(&mut Cli::command())))?;
    refuse_flags_meaningless_to(&matches)?;
    Ok(cli)
}

/// `emulate` takes only the log flags of the global ones; `demo`, `help`
/// and the commands that print a file of the program's own (`completions`,
/// `manpage`, `schema`) none. Values from the environment are not refused:
/// they are set for the other commands.
fn refuse_flags_meaningless_to(matches: &ArgMatches) -> Result<(), Usage> {
    let Some((name, command_matches)) = matches.subcommand() else {
        return Ok(());
    };
    let allowed: &[&str] = match name {
        "emulate" => &["log_format", "log_level"],
        "demo" | "help" | "completions" | "manpage" | "schema" => &[],
        _ => return Ok(()),
    };
    let mut cli = Cli::command();
    cli.build();
    let given_here = |id: &str| {
        [matches, command_matches]
            .iter()
            .any(|matches| matches.value_source(id) == Some(ValueSource::CommandLine))
    };
    let refused = cli
        .get_arguments()
        .filter(|arg| arg.is_global_set() && !allowed.contains(&arg.get_id().as_str()))
        .find(|arg| given_here(arg.get_id().as_str()))
        .map(|arg| arg.get_long().unwrap_or(arg.get_id().as_str()).to_string());
    match refused {
        None => Ok(()),
        Some(flag) => {
            let command = cli
                .find_subcommand_mut(name)
                .expect("the command just parsed exists");
            let message = format!("--{flag} means nothing to `groupsync {name}`; leave it out");
            Err(Usage(command.error(ErrorKind::ArgumentConflict, message)))
        }
    }
}

/// `run --force` without `--once` is a usage error: a daemon must never
/// override its own safety limits. (`run --once --force` is `apply --force`.)
fn refuse_force_for_the_daemon(cli: Cli) -> Result<Cli, clap::Error> {
    match &cli.command {
        Command::Run(args) if args.force && !args.once => {
            Err(conflict("run", daemon_force_refused()))
        }
        // A saved plan is applied as it was made: nothing is read again to plan.
        Command::Apply(args) if args.plan.is_some() && args.refresh.refresh.is_some() => {
            Err(conflict(
                "apply",
                "--refresh means nothing to `apply FILE`: a saved plan is applied as it was \
                 made, after reading again only what it touches; leave it out"
                    .to_string(),
            ))
        }
        _ => Ok(cli),
    }
}

/// A usage error of `subcommand`: `message`.
fn conflict(subcommand: &str, message: String) -> clap::Error {
    let mut command = Cli::command();
    command.build();
    command
        .find_subcommand_mut(subcommand)
        .expect("the parser has this command")
        .error(ErrorKind::ArgumentConflict, message)
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Usage, parse_from, refuse_force_for_the_daemon};
    use crate::cli::args::{Cli, Command};
    use crate::cli::help::daemon_force_refused;
    use crate::pipeline::cycle::DEFAULT_LOCK_TIMEOUT;

    /// `args` parsed and checked as `main` does.
    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(args).and_then(refuse_force_for_the_daemon)
    }

    fn long_help_of(subcommand: &str) -> String {
        Cli::command()
            .find_subcommand_mut(subcommand)
            .expect(subcommand)
            .render_long_help()
            .to_string()
    }

    #[test]
    fn the_force_help_and_the_daemon_refusal_name_every_limit() {
        let help = crate::cli::help::apply_force_help();
        for spec in &crate::config::LIMITS {
            assert!(help.contains(spec.key), "{help}");
            assert!(daemon_force_refused().contains(spec.key));
        }
    }

    #[test]
    fn run_force_is_refused_for_the_daemon_and_is_apply_force_with_once() {
        let refused = parse(&["groupsync", "run", "--force"])
            .err()
            .expect("a daemon never forces");
        assert!(
            refused.to_string().contains(&daemon_force_refused()),
            "{refused}"
        );
        assert!(refused.use_stderr(), "an error, so exit 1");
        let once = parse(&["groupsync", "run", "--once", "--force"]).unwrap();
        assert!(matches!(once.command, Command::Run(args) if args.force && args.once));
        parse(&["groupsync", "run", "--once", "--dry-run", "--force"])
            .err()
            .expect("a dry run has nothing to force");
    }

    #[test]
    fn only_the_writing_commands_take_force_and_lock_timeout() {
        let plan = long_help_of("plan");
        assert!(plan.contains("--refresh"), "{plan}");
        assert!(!plan.contains("--force"), "{plan}");
        assert!(!plan.contains("--lock-timeout"), "{plan}");
        for writer in ["apply", "run"] {
            let help = long_help_of(writer);
            for flag in ["--refresh", "--force", "--lock-timeout <DURATION>"] {
                assert!(help.contains(flag), "{writer} --help lacks {flag}:\n{help}");
            }
        }
        parse(&["groupsync", "plan", "--force"])
            .err()
            .expect("plan has no --force");
    }

    #[test]
    fn the_lock_timeout_defaults_to_the_library_default_and_parses_durations() {
        let apply = parse(&["groupsync", "apply"]).unwrap();
        assert!(
            matches!(apply.command, Command::Apply(args) if args.lock.lock_timeout == DEFAULT_LOCK_TIMEOUT)
        );
        let run = parse(&["groupsync", "run", "--lock-timeout", "300ms"]).unwrap();
        assert!(
            matches!(run.command, Command::Run(args) if args.lock.lock_timeout.as_millis() == 300)
        );
        parse(&["groupsync", "apply", "--lock-timeout", "soon"])
            .err()
            .expect("not a duration");
    }

    /// (That such a refusal exits 1 is tested with the exit codes, in
    /// `commands::outcome`.)
    #[test]
    fn settings_flags_are_refused_where_they_mean_nothing_and_only_there() {
        for refused in [
            &["groupsync", "emulate", "--groups-dir", "x"][..],
            &["groupsync", "--groups-dir", "x", "emulate"],
            &["groupsync", "emulate", "--format", "json"],
            &["groupsync", "demo", "--state", "y"],
            &["groupsync", "demo", "--log-level", "debug"],
            &["groupsync", "help", "--config", "c.yaml"],
            &["groupsync", "completions", "bash", "--format", "json"],
            &["groupsync", "manpage", "plan", "--log-level", "debug"],
            &["groupsync", "schema", "--groups-dir", "x"],
        ] {
            let Err(Usage(usage)) = parse_from(refused) else {
                panic!("{refused:?} was accepted");
            };
            assert!(usage.use_stderr(), "{refused:?}");
            assert!(
                usage.to_string().contains("means nothing to `groupsync "),
                "{refused:?}: {usage}"
            );
        }
        for accepted in [
            &[
                "groupsync",
                "emulate",
                "--log-level",
                "debug",
                "--log-format",
                "json",
            ][..],
            &["groupsync", "demo"],
            &["groupsync", "help", "plan"],
            &["groupsync", "plan", "--state", "y", "--groups-dir", "x"],
            &["groupsync", "--format", "json", "validate"],
            &["groupsync", "--format", "markdown", "plan"],
            &["groupsync", "completions", "zsh"],
            &["groupsync", "schema"],
        ] {
            assert!(parse_from(accepted).is_ok(), "{accepted:?} was refused");
        }
    }
}
