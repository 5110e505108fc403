//! The `groupsync` binary: parses the command line, runs one command, and
//! decides every exit code in one place (`run`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use groupsync::config::{LogFormat, Overrides, Settings};
use groupsync::{Error, load, plan, render, state};

#[derive(Parser)]
#[command(
    name = "groupsync",
    version,
    about = "Keep Symphony compliance user groups in line with YAML files in git"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct GlobalArgs {
    /// Config file [default: /etc/groupsync/groupsync.yaml if it exists]
    #[arg(long, global = true, env = "GROUPSYNC_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory of desired groups [default: ./groups.d]
    #[arg(long, global = true, env = "GROUPSYNC_GROUPS_DIR", value_name = "DIR")]
    groups_dir: Option<PathBuf>,
    /// State file: the stored snapshot of the pod [default: ./groupsync.state.json]
    #[arg(
        long = "state",
        global = true,
        env = "GROUPSYNC_STATE",
        value_name = "FILE"
    )]
    state_file: Option<PathBuf>,
    /// Pod base URL, e.g. https://acme.symphony.com/pod
    #[arg(long, global = true, env = "GROUPSYNC_POD_URL", value_name = "URL")]
    pod_url: Option<String>,
    /// Output format of plan, apply and validate
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// Log format
    #[arg(long, global = true, env = "GROUPSYNC_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    /// Log level or tracing filter (e.g. debug, groupsync=trace)
    #[arg(long, global = true, env = "RUST_LOG", value_name = "LEVEL")]
    log_level: Option<String>,
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
    Plan,
    /// One cycle that writes the minimal PUTs, then prints what it did
    Apply,
    /// The daemon: a cycle at start, on every change under the groups dir, and on the schedule
    Run {
        /// Never write: print the diff whenever the plan changes
        #[arg(long)]
        dry_run: bool,
        /// One cycle and exit (= apply; with --dry-run, = plan)
        #[arg(long)]
        once: bool,
    },
    /// Serve the bundled pod emulator
    Emulate,
    /// The whole story against an in-process emulator, no set-up needed
    Demo,
}

/// Exit codes of INTERFACE.md.
const EXIT_OK: u8 = 0;
const EXIT_ERROR: u8 = 1;
const EXIT_CHANGES_PENDING: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Usage errors exit 1, not clap's 2: for plan, 2 means "changes pending".
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                EXIT_ERROR
            } else {
                EXIT_OK
            });
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let overrides = Overrides {
        config: cli.global.config.clone(),
        groups_dir: cli.global.groups_dir.clone(),
        state_file: cli.global.state_file.clone(),
        pod_url: cli.global.pod_url.clone(),
        log_format: cli.global.log_format,
        log_level: cli.global.log_level.clone(),
    };
    let settings = Settings::resolve(&overrides)?;
    let format = cli.global.format;
    match cli.command {
        Command::Validate => validate(&settings, format),
        Command::Plan
        | Command::Run {
            dry_run: true,
            once: true,
        } => plan_once(&settings, format),
        Command::Apply | Command::Run { .. } | Command::Emulate | Command::Demo => {
            anyhow::bail!("this command is not implemented yet")
        }
    }
}

fn validate(settings: &Settings, format: OutputFormat) -> anyhow::Result<u8> {
    match load::load_dir(&settings.groups_dir) {
        Ok(desired) => {
            let files: std::collections::BTreeSet<_> = desired
                .groups
                .iter()
                .map(|group| &group.source.path)
                .collect();
            let summary = format!(
                "{} groups valid in {} files",
                desired.groups.len(),
                files.len()
            );
            match format {
                OutputFormat::Text => print_stdout(&format!("{summary}\n"))?,
                OutputFormat::Json => {
                    print_stdout(&render::render_json(&plan::Plan::default(), &[]))?
                }
            }
            Ok(EXIT_OK)
        }
        Err(Error::Invalid(diagnostics)) => report_invalid(&diagnostics.0, format),
        Err(other) => Err(other.into()),
    }
}

fn plan_once(settings: &Settings, format: OutputFormat) -> anyhow::Result<u8> {
    let desired = match load::load_dir(&settings.groups_dir) {
        Ok(desired) => desired,
        Err(Error::Invalid(diagnostics)) => return report_invalid(&diagnostics.0, format),
        Err(other) => return Err(other.into()),
    };
    let state_file = state::StateFile::open(&settings.state_file)?;
    let snapshot = state_file.load()?;
    let planned = plan::plan(&desired, &snapshot, settings.update_mode);
    let output = match format {
        OutputFormat::Text => render::render_text(&planned, render::stdout_wants_color()),
        OutputFormat::Json => render::render_json(&planned, &[]),
    };
    print_stdout(&output)?;
    Ok(if planned.is_empty() {
        EXIT_OK
    } else {
        EXIT_CHANGES_PENDING
    })
}

/// Prints every diagnostic (text: one per line on stderr; JSON: in `errors` on stdout) and exits 1.
fn report_invalid(
    diagnostics: &[groupsync::Diagnostic],
    format: OutputFormat,
) -> anyhow::Result<u8> {
    match format {
        OutputFormat::Text => {
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
        OutputFormat::Json => {
            print_stdout(&render::render_json(&plan::Plan::default(), diagnostics))?
        }
    }
    Ok(EXIT_ERROR)
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
