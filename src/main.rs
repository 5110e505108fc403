//! The `groupsync` binary: parses the command line, runs one command, and
//! decides every exit code in one place (`run`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use groupsync::config::{Overrides, RefreshMode, Settings};
use groupsync::emulator::{self, Emulator, EmulatorConfig, Entitlements};
use groupsync::pipeline::cycle::{CycleOptions, CycleOutcome, pod_client, run_cycle};
use groupsync::pipeline::import::{self, ImportOptions};
use groupsync::pipeline::plan;
use groupsync::pipeline::render::{self, Report};
use groupsync::pipeline::state::StateFile;
use groupsync::pod::auth::SESSION_TOKEN_ENV;
use groupsync::service::daemon::{self, DaemonOptions};
use groupsync::service::logging;
use groupsync::shutdown;
use groupsync::{Diagnostic, Error, desired};

#[derive(Parser)]
#[command(
    name = "groupsync",
    version,
    about = "Keep Symphony compliance user groups in line with YAML files in git"
)]
struct Cli {
    // Every setting's flag, declared once in the config layer.
    #[command(flatten)]
    overrides: Overrides,
    /// Output format of validate, plan and apply
    // In --help, after --bdk-config (4th of Overrides) and, as a tie sorts by name,
    // before --log-format (5th): where it has always been.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = OutputFormat::Text,
        display_order = 5
    )]
    format: OutputFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Load and check the desired state; print every error, not just the first
    Validate,
    /// One cycle that never writes: print the diff of what apply would do (exit 2 when changes are pending)
    Plan(CycleArgs),
    /// One cycle that writes the minimal PUTs, then prints what it did
    Apply(CycleArgs),
    /// The daemon: a cycle at start, on every change under the groups dir, and on the schedule
    Run {
        /// Never write: print the diff whenever the plan changes
        #[arg(long)]
        dry_run: bool,
        /// One cycle and exit (= apply; with --dry-run, = plan)
        #[arg(long)]
        once: bool,
        #[command(flatten)]
        cycle: CycleArgs,
    },
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
    },
    /// Serve the bundled pod emulator (for trying things without a pod)
    Emulate(EmulateArgs),
    /// The whole story against an in-process emulator, no set-up needed
    Demo,
}

#[derive(Args, Clone, Copy)]
struct CycleArgs {
    /// Read every declared group from the pod first, to see changes made outside groupsync
    #[arg(long)]
    refresh: bool,
    /// Apply even when the plan exceeds limits.max_changes or limits.max_deactivations (this run only)
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct EmulateArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
    /// Groups to start with: a JSON or YAML list of UserGroupResponse objects
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
    /// Public key (PEM) of the bot allowed to log in with RSA authentication
    #[arg(long, value_name = "PEM", requires = "bot_username")]
    public_key: Option<PathBuf>,
    /// Username of that bot
    #[arg(long, default_value = "groupsync-bot", value_name = "NAME")]
    bot_username: String,
}

/// How a command ended. Commands return it; [`exit_code`] alone turns it into
/// the exit codes of `docs/interface.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Done, nothing left to do: valid, no changes, converged, a clean stop.
    Clean,
    /// `plan`: the plan is not empty.
    ChangesPending,
    /// Something failed and was already reported (invalid input, a group
    /// that could not be applied).
    Failed,
}

fn main() -> ExitCode {
    let result = match Cli::try_parse() {
        Ok(cli) => run(cli),
        Err(usage) => Err(Usage(usage).into()),
    };
    ExitCode::from(exit_code(result))
}

/// A command-line parse error (or `--help` / `--version`, which clap also
/// reports this way).
#[derive(Debug)]
struct Usage(clap::Error);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Usage {}

/// Every exit code, in one place: 0 clean, 2 changes pending, 1 anything
/// else. A usage error is 1 too, not clap's 2: for `plan`, 2 means "changes pending".
fn exit_code(result: anyhow::Result<Outcome>) -> u8 {
    match result {
        Ok(Outcome::Clean) => 0,
        Ok(Outcome::ChangesPending) => 2,
        Ok(Outcome::Failed) => 1,
        Err(err) => match err.downcast::<Usage>() {
            Ok(Usage(usage)) => {
                let _ = usage.print();
                // `--help` and `--version` print to stdout and are not errors.
                u8::from(usage.use_stderr())
            }
            Err(err) => {
                eprintln!("error: {err:#}");
                1
            }
        },
    }
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Command::Demo = cli.command {
        return runtime.block_on(demo());
    }
    let settings = Settings::resolve(&cli.overrides)?;
    logging::init(settings.log.format, &settings.log.level).map_err(anyhow::Error::msg)?;
    let format = cli.format;
    match cli.command {
        Command::Validate => validate(&settings, format),
        Command::Plan(args)
        | Command::Run {
            dry_run: true,
            once: true,
            cycle: args,
        } => runtime.block_on(one_cycle(&settings, format, args, false)),
        Command::Apply(args)
        | Command::Run {
            dry_run: false,
            once: true,
            cycle: args,
        } => runtime.block_on(one_cycle(&settings, format, args, true)),
        Command::Run {
            dry_run,
            once: false,
            ..
        } => {
            let options = DaemonOptions { dry_run };
            runtime.block_on(run_daemon(cli.overrides, settings, options))?;
            Ok(Outcome::Clean)
        }
        Command::Import {
            out,
            area,
            active_only,
        } => {
            let options = ImportOptions { area, active_only };
            runtime.block_on(import(&settings, &options, out))
        }
        Command::Emulate(args) => runtime.block_on(emulate(args)),
        Command::Demo => unreachable!("handled above"),
    }
}

/// `groupsync run`: the daemon, stopped by SIGINT/SIGTERM and reloaded by SIGHUP.
async fn run_daemon(
    overrides: Overrides,
    settings: Settings,
    options: DaemonOptions,
) -> anyhow::Result<()> {
    let (stop_trigger, stop) = shutdown::channel();
    shutdown::trigger_on_signals(stop_trigger).context("cannot handle SIGINT and SIGTERM")?;
    let (reload_trigger, reloads) = shutdown::reload_channel();
    shutdown::reload_on_hangup(reload_trigger).context("cannot handle SIGHUP")?;
    daemon::run(overrides, settings, options, stop, reloads).await?;
    Ok(())
}

fn validate(settings: &Settings, format: OutputFormat) -> anyhow::Result<Outcome> {
    let (groups, files, diagnostics) = match desired::load_dir(&settings.groups_dir) {
        Ok(desired) => {
            let files: std::collections::BTreeSet<_> = desired
                .groups
                .iter()
                .map(|group| &group.source.path)
                .collect();
            (desired.groups.len(), files.len(), Vec::new())
        }
        Err(Error::Invalid(diagnostics)) => (0, 0, diagnostics.0),
        Err(other) => return Err(other.into()),
    };
    match format {
        OutputFormat::Json => {
            print_stdout(&render::render_validation_json(groups, files, &diagnostics))?
        }
        OutputFormat::Text if diagnostics.is_empty() => {
            print_stdout(&format!("{groups} groups valid in {files} files\n"))?
        }
        OutputFormat::Text => print_diagnostics(&diagnostics),
    }
    Ok(if diagnostics.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Failed
    })
}

/// `plan` and `apply` (and `run --once`): one cycle, rendered, with its exit code.
async fn one_cycle(
    settings: &Settings,
    format: OutputFormat,
    args: CycleArgs,
    write: bool,
) -> anyhow::Result<Outcome> {
    let mut client = pod_client(settings, std::env::var(SESSION_TOKEN_ENV).ok())?;
    let state = StateFile::open(&settings.state_file)?;
    let mut snapshot = state.load()?;
    // A first SIGINT/SIGTERM ends every wait for the pod and starts no new
    // request (reads included); a second one exits at once.
    let (trigger, stop) = shutdown::channel();
    shutdown::trigger_on_signals(trigger)?;
    if let Some(client) = client.as_mut() {
        client.set_shutdown(stop.clone());
    }
    let options = CycleOptions {
        write,
        refresh: if args.refresh {
            RefreshMode::Always
        } else {
            settings.refresh
        },
        force: args.force,
    };
    let outcome = match run_cycle(
        settings,
        &state,
        &mut snapshot,
        client.as_ref(),
        options,
        stop,
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(Error::Invalid(diagnostics)) => return report_invalid(&diagnostics.0, format),
        Err(other) => return Err(other.into()),
    };
    for warning in &outcome.refresh.warnings {
        tracing::warn!("{warning}");
    }
    print_outcome(&outcome, format)?;
    Ok(match &outcome.apply {
        // A group that could not be planned (a name several pod groups bear) failed.
        _ if !outcome.plan.errors.is_empty() => Outcome::Failed,
        Some(report) if !report.converged() => Outcome::Failed,
        Some(_) => Outcome::Clean,
        None if write || outcome.plan.is_empty() => Outcome::Clean,
        None => Outcome::ChangesPending,
    })
}

fn print_outcome(outcome: &CycleOutcome, format: OutputFormat) -> anyhow::Result<()> {
    let report = outcome.report();
    match format {
        OutputFormat::Text => {
            print_stdout(&render::render_text(&report, render::stdout_wants_color()))
        }
        OutputFormat::Json => print_stdout(&render::render_json(&report)),
    }
}

/// Prints every diagnostic (text: one per line on stderr; JSON: in `errors` on stdout) and exits 1.
fn report_invalid(diagnostics: &[Diagnostic], format: OutputFormat) -> anyhow::Result<Outcome> {
    match format {
        OutputFormat::Text => print_diagnostics(diagnostics),
        OutputFormat::Json => {
            let empty = plan::Plan::default();
            let report = Report {
                errors: diagnostics,
                ..Report::of_plan(&empty)
            };
            print_stdout(&render::render_json(&report))?
        }
    }
    Ok(Outcome::Failed)
}

/// One diagnostic per line on stderr, then the count.
fn print_diagnostics(diagnostics: &[Diagnostic]) {
    let mut text = String::new();
    for diagnostic in diagnostics {
        text.push_str(&format!("{diagnostic}\n"));
    }
    text.push_str(&format!(
        "{} error(s); nothing was planned or written\n",
        diagnostics.len()
    ));
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// `groupsync import`: the YAML to stdout or a new file, the summary on stderr.
async fn import(
    settings: &Settings,
    options: &ImportOptions,
    out: Option<PathBuf>,
) -> anyhow::Result<Outcome> {
    let mut client = pod_client(settings, std::env::var(SESSION_TOKEN_ENV).ok())?.context(
        "import reads the pod: set --pod-url / GROUPSYNC_POD_URL / pod.url, and credentials",
    )?;
    if let Some(out) = &out {
        import::check_new_file(out)?;
    }
    let (trigger, stop) = shutdown::channel();
    shutdown::trigger_on_signals(trigger)?;
    client.set_shutdown(stop);
    let read_at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let imported = import::import(
        &settings.groups_dir,
        &settings.state_file,
        &client,
        options,
        &read_at,
    )
    .await?;
    match &out {
        Some(out) => {
            import::write_new_file(out, &imported.yaml)?;
            eprintln!("{}: {}", out.display(), imported.summary());
        }
        None => {
            print_stdout(&imported.yaml)?;
            eprintln!("{}", imported.summary());
        }
    }
    Ok(Outcome::Clean)
}

/// `groupsync emulate`: serves the emulator until SIGINT/SIGTERM.
async fn emulate(args: EmulateArgs) -> anyhow::Result<Outcome> {
    let groups = match &args.seed {
        Some(path) => emulator::load_seed(path).map_err(anyhow::Error::msg)?,
        None => Vec::new(),
    };
    let bots = match &args.public_key {
        Some(path) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            vec![(args.bot_username.clone(), pem)]
        }
        None => Vec::new(),
    };
    let emulator = Emulator::start(
        args.listen,
        EmulatorConfig {
            groups,
            bots,
            ..EmulatorConfig::default()
        },
    )
    .await
    .with_context(|| format!("cannot listen on {}", args.listen))?;
    let token = emulator.add_session(Entitlements::ALL);
    print_stdout(&format!(
        "pod emulator serving {} groups\n  pod URL:   {}\n  login URL: {}\n\
         A session token for it (made up by the emulator, valid until it stops):\n  export {SESSION_TOKEN_ENV}={token}\n\
         Stop with Ctrl-C.\n",
        emulator.groups().len(),
        emulator.pod_url(),
        emulator.login_url(),
    ))?;
    let (trigger, mut stop) = shutdown::channel();
    shutdown::trigger_on_signals(trigger)?;
    stop.requested().await;
    emulator.shutdown().await;
    Ok(Outcome::Clean)
}

/// `groupsync demo`: in a temporary folder, against an in-process emulator.
async fn demo() -> anyhow::Result<Outcome> {
    let workdir = tempfile_dir()?;
    let mut out = std::io::stdout().lock();
    let result = groupsync::demo::run(&workdir, &mut out, render::stdout_wants_color()).await;
    let _ = std::fs::remove_dir_all(&workdir);
    match result {
        // `demo | head`: the reader left, as with `plan | head`; not an error.
        Err(err) if is_broken_pipe(&err) => Ok(Outcome::Clean),
        other => other.map(|()| Outcome::Clean),
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A fresh private folder under the system's temporary directory.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir();
    for attempt in 0..100u32 {
        let path = base.join(format!("groupsync-demo-{}-{attempt}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => return Ok(path),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err).context("cannot create a temporary folder for the demo"),
        }
    }
    anyhow::bail!(
        "cannot create a temporary folder for the demo under {}",
        base.display()
    )
}

/// Writes to stdout; a closed pipe (`groupsync plan | head`) is not an error.
fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Outcome, Usage, exit_code, is_broken_pipe};

    #[test]
    fn every_outcome_has_its_exit_code() {
        assert_eq!(exit_code(Ok(Outcome::Clean)), 0);
        assert_eq!(exit_code(Ok(Outcome::ChangesPending)), 2);
        assert_eq!(exit_code(Ok(Outcome::Failed)), 1);
        assert_eq!(exit_code(Err(anyhow::anyhow!("the pod is down"))), 1);
    }

    #[test]
    fn a_usage_error_exits_1_and_version_exits_0() {
        let usage = Cli::try_parse_from(["groupsync", "plan", "--no-such-flag"])
            .err()
            .expect("an unknown flag is a usage error");
        assert_eq!(exit_code(Err(Usage(usage).into())), 1);
        let version = Cli::try_parse_from(["groupsync", "--version"])
            .err()
            .expect("clap reports --version as an error");
        assert_eq!(exit_code(Err(Usage(version).into())), 0);
    }

    #[test]
    fn a_broken_pipe_anywhere_in_the_chain_is_recognised() {
        let pipe = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("cannot write the demo");
        assert!(is_broken_pipe(&pipe));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }

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
