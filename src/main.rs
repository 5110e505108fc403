//! The `groupsync` binary: parses the command line, runs one command, and
//! decides every exit code in one place (`run`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use groupsync::config::{Overrides, RefreshMode, Settings, parse_duration, parse_listen_address};
use groupsync::emulator::{self, Emulator, EmulatorConfig, Entitlements};
use groupsync::pipeline::cycle::{CycleMode, CycleOptions, CycleOutcome, pod_client, run_cycle};
use groupsync::pipeline::import::{self, ImportOptions};
use groupsync::pipeline::plan;
use groupsync::pipeline::render::{self, JsonDocument, Report, markdown};
use groupsync::pod::auth::SESSION_TOKEN_ENV;
use groupsync::service::daemon::{self, DaemonOptions};
use groupsync::service::logging;
use groupsync::shutdown;
use groupsync::text::counted;
use groupsync::text::escaped;
use groupsync::{Diagnostic, Error, desired};

#[derive(Parser)]
#[command(
    name = "groupsync",
    version,
    about = "Keep Symphony compliance user groups in line with YAML files in git",
    // Our own `help` command, so that `groupsync help --help` works too.
    disable_help_subcommand = true
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
    Markdown,
}

/// Where the pod credentials come from: `--help` of the commands that talk to the pod.
const CREDENTIALS_HELP: &str = "\
Credentials for the pod (the first one set is used):
  GROUPSYNC_SESSION_TOKEN     a session token in the environment
  auth.session_token_file     a file holding a session token (config file)
  auth.bot_username + auth.private_key_file
                              RSA bot login (config file)
  --bdk-config FILE           the bot of an official Symphony SDK config.yaml (or auth.bdk_config)
  $CREDENTIALS_DIRECTORY/session-token
                              under systemd: LoadCredential=session-token:FILE in the unit
Without a pod URL (--pod-url, GROUPSYNC_POD_URL, pod.url) no credentials are needed: plan works
offline from the state file.";

#[derive(Subcommand)]
enum Command {
    /// Load and check the desired state; print every error, not just the first
    Validate,
    /// One cycle that never writes: print the diff of what apply would do (exit 2 when changes are pending)
    #[command(after_help = CREDENTIALS_HELP)]
    Plan(PlanArgs),
    /// One cycle that writes the minimal PUTs, then prints what it did
    #[command(after_help = CREDENTIALS_HELP)]
    Apply(ApplyArgs),
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
    },
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
    /// Print the man page (roff) to stdout: groupsync(1), or groupsync-COMMAND(1)
    Manpage {
        /// The command whose page to print
        #[arg(value_name = "COMMAND")]
        command: Option<String>,
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

/// The flags of `plan`: it never writes, so it has nothing to force and
/// takes no lock to wait for.
#[derive(Args, Clone, Copy)]
struct PlanArgs {
    /// Read every declared group from the pod first, to see changes made outside groupsync
    #[arg(long)]
    refresh: bool,
}

#[derive(Args, Clone, Copy)]
struct ApplyArgs {
    /// Read every declared group from the pod first, to see changes made outside groupsync
    #[arg(long)]
    refresh: bool,
    /// Apply even when the plan exceeds limits.max_changes or limits.max_deactivations (this run only)
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    lock: LockTimeout,
}

#[derive(Args, Clone, Copy)]
struct RunArgs {
    /// Never write: print the diff whenever the plan changes
    #[arg(long)]
    dry_run: bool,
    /// One cycle and exit (= apply; with --dry-run, = plan)
    #[arg(long)]
    once: bool,
    /// Every cycle reads every declared group from the pod, whatever the config's `refresh:` says
    #[arg(long)]
    refresh: bool,
    #[command(flatten)]
    lock: LockTimeout,
    /// Only with --once (= apply --force); refused for the daemon, which never overrides its safety limits
    #[arg(long, conflicts_with = "dry_run")]
    force: bool,
}

#[derive(Args, Clone, Copy)]
struct LockTimeout {
    /// How long to wait for another groupsync's cycle to release the state file (e.g. 500ms, 2m)
    // The default is `DEFAULT_LOCK_TIMEOUT`, written out for `--help` (a test keeps them equal).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    lock_timeout: Duration,
}

/// Why `run --force` is refused (see [`refuse_force_for_the_daemon`]).
const DAEMON_FORCE_REFUSED: &str = "--force is refused for the daemon: a daemon never overrides its own safety limits \
     (limits.max_changes, limits.max_deactivations). Review the plan with `groupsync plan`, \
     then override them for one run with `groupsync apply --force`, or raise the limits";

#[derive(Args)]
struct EmulateArgs {
    /// Address to listen on: IP:PORT or HOST:PORT
    #[arg(
        long,
        default_value = "127.0.0.1:8080",
        value_name = "ADDR",
        value_parser = parse_listen_address
    )]
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
    let result = match parse_from(std::env::args_os())
        .and_then(|cli| refuse_force_for_the_daemon(cli).map_err(Usage))
    {
        Ok(cli) => {
            let json = cli.json_document();
            let result = run(cli);
            if let (Some(document), Err(err)) = (json, &result) {
                print_failure_json(document, err);
            }
            result
        }
        Err(usage) => Err(usage.into()),
    };
    ExitCode::from(exit_code(result))
}

/// The command line, with the settings flags that mean nothing to the
/// command refused (clap would accept them: they are global).
fn parse_from(
    args: impl IntoIterator<Item = impl Into<std::ffi::OsString> + Clone>,
) -> Result<Cli, Usage> {
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

impl Cli {
    /// The JSON document this command prints with `--format json`, if it prints one.
    fn json_document(&self) -> Option<JsonDocument> {
        if self.format != OutputFormat::Json {
            return None;
        }
        match self.command {
            Command::Validate => Some(JsonDocument::Validation),
            Command::Plan(_) | Command::Apply(_) => Some(JsonDocument::Plan),
            Command::Run(ref args) if args.once => Some(JsonDocument::Plan),
            Command::Run(_)
            | Command::Import { .. }
            | Command::Emulate(_)
            | Command::Demo
            | Command::Help { .. }
            | Command::Completions { .. }
            | Command::Manpage { .. }
            | Command::Schema => None,
        }
    }
}

/// `--format json`: stdout holds one JSON object, a failure included (its
/// `errors` names it); the `error: ...` line on stderr stays, for people.
fn print_failure_json(document: JsonDocument, err: &anyhow::Error) {
    if err.downcast_ref::<Usage>().is_some() {
        return;
    }
    // A closed stdout leaves only stderr to tell: `exit_code` does that next.
    let _ = print_stdout(&render::render_failure_json(document, &format!("{err:#}")));
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

/// `run --force` without `--once` is a usage error: a daemon must never
/// override its own safety limits. (`run --once --force` is `apply --force`.)
fn refuse_force_for_the_daemon(cli: Cli) -> Result<Cli, clap::Error> {
    match &cli.command {
        Command::Run(args) if args.force && !args.once => {
            let mut command = Cli::command();
            command.build();
            let run = command
                .find_subcommand_mut("run")
                .expect("the parser has a run command");
            Err(run.error(ErrorKind::ArgumentConflict, DAEMON_FORCE_REFUSED))
        }
        _ => Ok(cli),
    }
}

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
                // The message may carry text from the pod or a file: escaped.
                eprintln!("error: {}", escaped(&format!("{err:#}")));
                1
            }
        },
    }
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Demo => return runtime.block_on(demo()),
        Command::Help { command } => return help(command.as_deref()),
        Command::Completions { shell } => return print_stdout(&completions(shell)).map(printed),
        Command::Manpage { command } => {
            return print_stdout(&manpage(command.as_deref())?).map(printed);
        }
        Command::Schema => {
            return print_stdout(&desired::schema::groups_schema_text()).map(printed);
        }
        Command::Emulate(args) => {
            init_logging_from_flags(&cli.overrides)?;
            return runtime.block_on(emulate(args));
        }
        _ => {}
    }
    let settings = Settings::resolve(&cli.overrides)?;
    logging::init(settings.log.format, &settings.log.level).map_err(anyhow::Error::msg)?;
    let format = cli.format;
    let mut command = cli.command;
    // `dry_run: true` in the config makes `run --once` a plan, as `--dry-run` does.
    if let Command::Run(args) = &mut command
        && args.once
    {
        args.dry_run |= settings.dry_run;
    }
    match command {
        Command::Validate => validate(&settings, format),
        Command::Plan(args) => {
            let options = CycleOptions::plan(refresh_mode(args.refresh, &settings));
            runtime.block_on(one_cycle(&settings, format, options))
        }
        Command::Apply(args) => {
            let refresh = refresh_mode(args.refresh, &settings);
            let options = apply_options(refresh, args.force, args.lock);
            runtime.block_on(one_cycle(&settings, format, options))
        }
        Command::Run(args) if args.once => {
            let refresh = refresh_mode(args.refresh, &settings);
            let options = if args.dry_run {
                CycleOptions::plan(refresh)
            } else {
                apply_options(refresh, args.force, args.lock)
            };
            runtime.block_on(one_cycle(&settings, format, options))
        }
        Command::Run(args) => {
            let options = DaemonOptions {
                dry_run: args.dry_run,
                refresh_every_cycle: args.refresh,
                lock_timeout: args.lock.lock_timeout,
            };
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
        Command::Emulate(_)
        | Command::Demo
        | Command::Help { .. }
        | Command::Completions { .. }
        | Command::Manpage { .. }
        | Command::Schema => unreachable!("handled above"),
    }
}

/// `groupsync help [COMMAND]`: exactly what `groupsync [COMMAND] --help` prints.
fn help(command: Option<&str>) -> anyhow::Result<Outcome> {
    let args = ["groupsync"].into_iter().chain(command).chain(["--help"]);
    match Cli::try_parse_from(args) {
        Err(help_or_usage) => Err(Usage(help_or_usage).into()),
        Ok(_) => unreachable!("--help always ends the parse"),
    }
}

/// The outcome of a command that only prints, once it has printed.
fn printed(_: ()) -> Outcome {
    Outcome::Clean
}

/// `groupsync completions SHELL`: the script that shell sources.
fn completions(shell: clap_complete::Shell) -> String {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "groupsync", &mut script);
    String::from_utf8(script).expect("completion scripts are UTF-8")
}

/// `groupsync manpage [COMMAND]`: groupsync(1), or groupsync-COMMAND(1), in roff.
fn manpage(command: Option<&str>) -> anyhow::Result<String> {
    let mut cli = Cli::command();
    // Built, so that a command's page is titled `groupsync-plan`, as the main page names it.
    cli.build();
    let shown = match command {
        None => cli,
        Some(name) => match cli.find_subcommand(name) {
            Some(subcommand) => subcommand.clone(),
            None => {
                let names: Vec<&str> = cli.get_subcommands().map(|sub| sub.get_name()).collect();
                anyhow::bail!("no command `{name}`; the commands are {}", names.join(", "))
            }
        },
    };
    let mut page = Vec::new();
    clap_mangen::Man::new(shown)
        .source(concat!("groupsync ", env!("CARGO_PKG_VERSION")))
        .render(&mut page)?;
    Ok(String::from_utf8(page)?)
}

/// The emulator reads no config file: only the log flags (and `RUST_LOG`,
/// `GROUPSYNC_LOG_FORMAT`) apply to it.
fn init_logging_from_flags(overrides: &Overrides) -> anyhow::Result<()> {
    let log_flags = Overrides {
        log_format: overrides.log_format,
        log_level: overrides.log_level.clone(),
        ..Overrides::default()
    };
    let log = Settings::from_overrides(&log_flags)?.log;
    logging::init(log.format, &log.level).map_err(anyhow::Error::msg)
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
        OutputFormat::Text if diagnostics.is_empty() => print_stdout(&format!(
            "{} valid in {}\n",
            counted(groups, "group"),
            counted(files, "file")
        ))?,
        OutputFormat::Text => print_diagnostics(&diagnostics),
        OutputFormat::Markdown if diagnostics.is_empty() => {
            print_stdout(&markdown::render_valid_markdown(groups, files))?
        }
        OutputFormat::Markdown => {
            print_diagnostics(&diagnostics);
            print_stdout(&markdown::render_invalid_markdown(&diagnostics))?
        }
    }
    Ok(if diagnostics.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Failed
    })
}

/// Which groups one cycle reads: every declared group with `--refresh`; else
/// the config's `refresh:`; else only those the snapshot does not know.
fn refresh_mode(flag: bool, settings: &Settings) -> RefreshMode {
    if flag {
        RefreshMode::Always
    } else {
        settings.refresh.unwrap_or(RefreshMode::Missing)
    }
}

/// The options of `apply` (and `run --once`).
fn apply_options(refresh: RefreshMode, force: bool, lock: LockTimeout) -> CycleOptions {
    CycleOptions {
        mode: CycleMode::Apply {
            lock_timeout: lock.lock_timeout,
            force,
        },
        refresh,
    }
}

/// `plan` and `apply` (and `run --once`): one cycle, rendered, with its exit code.
async fn one_cycle(
    settings: &Settings,
    format: OutputFormat,
    options: CycleOptions,
) -> anyhow::Result<Outcome> {
    let mut client = pod_client(settings, std::env::var(SESSION_TOKEN_ENV).ok())?;
    // A first SIGINT/SIGTERM ends every wait for the pod and starts no new
    // request (reads included); a second one exits at once.
    let (trigger, stop) = shutdown::channel();
    shutdown::trigger_on_signals(trigger)?;
    if let Some(client) = client.as_mut() {
        client.set_shutdown(stop.clone());
    }
    let outcome = match run_cycle(settings, client.as_ref(), options, stop).await {
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
        None if options.writes() || outcome.plan.is_empty() => Outcome::Clean,
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
        OutputFormat::Markdown => print_stdout(&markdown::render_markdown(&report)),
    }
}

/// Prints every diagnostic (text: one per line on stderr; JSON: in `errors`
/// on stdout; Markdown: both) and exits 1.
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
        OutputFormat::Markdown => {
            print_diagnostics(diagnostics);
            print_stdout(&markdown::render_invalid_markdown(diagnostics))?
        }
    }
    Ok(Outcome::Failed)
}

/// One diagnostic per line on stderr, then the count.
fn print_diagnostics(diagnostics: &[Diagnostic]) {
    let mut text = String::new();
    for diagnostic in diagnostics {
        text.push_str(&escaped(&diagnostic.to_string()));
        text.push('\n');
    }
    text.push_str(&format!(
        "{}; nothing was planned or written\n",
        counted(diagnostics.len(), "error")
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
    let seed = match &args.seed {
        Some(path) => emulator::load_seed(path).map_err(anyhow::Error::msg)?,
        None => EmulatorConfig::default(),
    };
    let bots = match &args.public_key {
        Some(path) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            vec![(args.bot_username.clone(), pem)]
        }
        None => Vec::new(),
    };
    let emulator = Emulator::start(args.listen, EmulatorConfig { bots, ..seed })
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let token = emulator.add_session(Entitlements::ALL);
    print_stdout(&format!(
        "pod emulator serving {}\n  pod URL:   {}\n  login URL: {}\n\
         A session token for it (made up by the emulator, valid until it stops):\n  export {SESSION_TOKEN_ENV}={token}\n\
         Stop with Ctrl-C.\n",
        counted(emulator.groups().len(), "group"),
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

    use groupsync::pipeline::cycle::DEFAULT_LOCK_TIMEOUT;

    use super::{
        Cli, Command, DAEMON_FORCE_REFUSED, Outcome, Usage, exit_code, is_broken_pipe, parse_from,
        refuse_force_for_the_daemon,
    };

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
    fn run_force_is_refused_for_the_daemon_and_is_apply_force_with_once() {
        let refused = parse(&["groupsync", "run", "--force"])
            .err()
            .expect("a daemon never forces");
        assert!(
            refused.to_string().contains(DAEMON_FORCE_REFUSED),
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
            assert_eq!(exit_code(Err(Usage(usage).into())), 1);
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
