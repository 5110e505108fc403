//! The clap definitions of `groupsync`: the global flags ([`Cli`]), the
//! commands ([`Command`]) and the flags of each. The settings flags are
//! declared once, on [`Overrides`], in the config layer.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::cli::help::{CREDENTIALS_HELP, RUN_FORCE_HELP, apply_force_help};
use crate::config::{Overrides, parse_duration, parse_listen_address};

#[derive(Parser)]
#[command(
    name = "groupsync",
    version,
    about = "Keep Symphony compliance user groups in line with YAML files in git",
    // Our own `help` command, so that `groupsync help --help` works too.
    disable_help_subcommand = true
)]
pub struct Cli {
    // Every setting's flag, declared once in the config layer.
    #[command(flatten)]
    pub overrides: Overrides,
    /// Output format of validate, plan, apply, show, journal verify and history
    // In --help, after --bdk-config (4th of Overrides) and, as a tie sorts by name,
    // before --log-format (5th): where it has always been.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = OutputFormat::Text,
        display_order = 5
    )]
    pub format: OutputFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Subcommand)]
pub enum Command {
    /// Load and check the desired state; print every error, not just the first
    Validate,
    /// One cycle that never writes: print the diff of what apply would do (exit 2 when changes are pending)
    #[command(after_help = CREDENTIALS_HELP)]
    Plan(PlanArgs),
    /// One cycle that writes the minimal PUTs, then prints what it did; or, given a FILE
    /// that `plan --out` saved, exactly that plan, refused if the pod moved since
    #[command(after_help = CREDENTIALS_HELP)]
    Apply(ApplyArgs),
    /// Print a plan `plan --out` saved, in any --format, after checking it was not altered
    Show {
        /// The plan file
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Approve the plan a writing cycle held over its limits: the daemon's next cycle applies
    /// it if, and only if, its plan still has this digest
    Approve {
        /// The held plan's digest (as /plan shows it; at least its first 12 hex digits)
        #[arg(value_name = "DIGEST")]
        digest: String,
    },
    /// The daemon: a cycle at start, on every change under the groups dir, and on the schedule
    #[command(after_help = CREDENTIALS_HELP)]
    Run(RunArgs),
    /// Write the pod's groups not yet declared as groups.d YAML (to stdout, or a new file)
    Import {
        /// Write to this new file, atomically (an existing file is refused)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Only the groups of this area
        #[arg(long, value_name = "AREA")]
        area: Option<String>,
        /// Only active groups
        #[arg(long)]
        active_only: bool,
        /// Leave out each group's members and assignees (imported by default, as sorted usernames)
        #[arg(long)]
        no_members: bool,
    },
    /// Stop managing groups (orphans, say) without touching the pod, as `terraform state rm` does
    Forget {
        /// The pod's groupIds of the groups to forget
        #[arg(value_name = "ID", required = true)]
        ids: Vec<String>,
        #[command(flatten)]
        lock: LockTimeout,
    },
    /// The journal of every write: `journal verify` checks its hash chain
    Journal {
        #[command(subcommand)]
        command: JournalCommand,
    },
    /// Print the journal's records, one line per write (all groups, or one)
    History(HistoryArgs),
    /// Notifications: `notify test` sends a test message to every target of `notify:`
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Serve the bundled pod emulator (for trying things without a pod)
    Emulate(EmulateArgs),
    /// The whole story against an in-process emulator, no set-up needed
    Demo,
    /// Print the shell completion script for SHELL to stdout
    Completions {
        /// The shell to complete in
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout: groupsync(1), or groupsync-COMMAND(1); or write them all
    Manpage {
        /// The command whose page to print
        #[arg(value_name = "COMMAND")]
        command: Option<String>,
        /// Write every page (groupsync.1, groupsync-plan.1, ...) into this folder instead
        #[arg(long, value_name = "DIR", conflicts_with = "command")]
        out_dir: Option<PathBuf>,
    },
    /// Print the JSON Schema of a groups.d file to stdout (also schema/groups.schema.json)
    Schema,
    /// Print this message or the help of the given command
    Help {
        /// The command whose help to print
        #[arg(value_name = "COMMAND")]
        command: Option<String>,
    },
}

/// What `groupsync journal` does.
#[derive(Subcommand, Clone, Copy)]
pub enum JournalCommand {
    /// Walk the journal's hash chain, rotated files included: exit 1 naming the first line
    /// changed, removed or moved (a partial last line from a crash is a warning)
    Verify,
}

/// The arguments of `history`.
#[derive(Args, Clone)]
pub struct HistoryArgs {
    /// Only the records of this group
    #[arg(value_name = "GROUP_ID")]
    pub group: Option<String>,
    /// Only the records written within this long before now (e.g. 30m, 24h, 720h)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<Duration>,
}

/// What `groupsync notify` does.
#[derive(Subcommand, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyCommand {
    /// Send one test message to every target of `notify:` and say how each went (exit 1 if any failed)
    Test,
}

/// The flags of `plan`: it never writes, so it has nothing to force and
/// takes no lock to wait for.
#[derive(Args, Clone)]
pub struct PlanArgs {
    #[command(flatten)]
    pub refresh: Refresh,
    /// Plan the deactivation of every orphan still active (= prune: deactivate)
    #[arg(long)]
    pub prune: bool,
    /// Also save the plan to FILE, for `apply FILE` (with its digest and a fingerprint of
    /// every resource it touches); needs a pod
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Clone)]
pub struct ApplyArgs {
    /// A plan `plan --out` saved: apply exactly it, without reading the groups dir
    #[arg(value_name = "FILE")]
    pub plan: Option<PathBuf>,
    #[command(flatten)]
    pub refresh: Refresh,
    /// Deactivate every orphan still active (= prune: deactivate)
    #[arg(long, conflicts_with = "plan")]
    pub prune: bool,
    /// Write the drift `on_drift: hold` holds back, too: put the declared values back
    #[arg(long, conflicts_with = "plan")]
    pub revert_drift: bool,
    #[arg(long, help = apply_force_help())]
    pub force: bool,
    #[command(flatten)]
    pub lock: LockTimeout,
}

/// `--refresh[=true|false]` of `plan` and `apply`.
#[derive(Args, Clone, Copy)]
pub struct Refresh {
    /// Read every declared group and managed list from the pod first, as the
    /// default does; `--refresh=false` plans from the state file's snapshot
    /// alone (faster; it may not show the pod as it is)
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub refresh: Option<bool>,
}

#[derive(Args, Clone, Copy)]
pub struct RunArgs {
    /// Never write: print the diff whenever the plan changes
    #[arg(long)]
    pub dry_run: bool,
    /// One cycle and exit (= apply; with --dry-run, = plan)
    #[arg(long)]
    pub once: bool,
    /// Every cycle reads every declared group from the pod, whatever the config's `refresh:` says
    #[arg(long)]
    pub refresh: bool,
    /// Deactivate every orphan still active (= prune: deactivate)
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub lock: LockTimeout,
    #[arg(long, conflicts_with = "dry_run", help = RUN_FORCE_HELP)]
    pub force: bool,
}

#[derive(Args, Clone, Copy)]
pub struct LockTimeout {
    /// How long to wait for another groupsync's cycle to release the state file (e.g. 500ms, 2m)
    // The default is `DEFAULT_LOCK_TIMEOUT`, written out for `--help` (a test keeps them equal).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub lock_timeout: Duration,
}

#[derive(Args)]
pub struct EmulateArgs {
    /// Address to listen on: IP:PORT or HOST:PORT
    #[arg(
        long,
        default_value = "127.0.0.1:8080",
        value_name = "ADDR",
        value_parser = parse_listen_address
    )]
    pub listen: SocketAddr,
    /// Groups to start with: a JSON or YAML list of UserGroupResponse objects
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
    /// Public key (PEM) of the bot allowed to log in with RSA authentication
    #[arg(long, value_name = "PEM", requires = "bot_username")]
    pub public_key: Option<PathBuf>,
    /// Username of that bot
    #[arg(long, default_value = "groupsync-bot", value_name = "NAME")]
    pub bot_username: String,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn the_parser_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// `--help` opens with the program's own text (not the flattened
    /// `Overrides`'s doc comment) and lists the global flags in their order.
    #[test]
    fn help_keeps_its_text_and_the_order_of_its_flags() {
        let help = Cli::command().render_long_help().to_string();
        assert!(
            help.starts_with(
                "Keep Symphony compliance user groups in line with YAML files in git\n"
            ),
            "{help}"
        );
        let flags = [
            "--config",
            "--groups-dir",
            "--state",
            "--pod-url",
            "--bdk-config",
            "--format",
            "--log-format",
            "--log-level",
        ];
        let positions: Vec<usize> = flags
            .iter()
            .map(|flag| help.find(&format!("  {flag} <")).expect(flag))
            .collect();
        assert!(positions.is_sorted(), "{help}");
    }
}
