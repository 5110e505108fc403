//! The commands: one module per command body. [`run`] runs the one the
//! command line names, on a runtime of its own, and returns how it ended;
//! [`outcome::exit_code`] alone turns that into the exit code.
//!
//! - [`outcome`]  — how a command ended, and the one match from that to the exit code.
//! - [`output`]   — stdout (a closed pipe is not an error), diagnostics, failures as JSON or Markdown.
//! - [`validate`] — `groupsync validate`.
//! - [`cycle`]    — `plan`, `apply` and `run --once`: one cycle, rendered; `show` of a saved plan.
//! - [`approve`]  — `groupsync approve`: approve a plan held over its limits.
//! - [`daemon`]   — `groupsync run`: the daemon, with its signals.
//! - [`import`]   — `groupsync import`.
//! - [`journal`]  — `groupsync journal verify` and `groupsync history`: the journal, read back.
//! - [`notify`]   — `groupsync notify test`.
//! - [`emulate`]  — `groupsync emulate`.
//! - [`demo`]     — `groupsync demo`.
//! - [`docs`]     — `help`, `completions` and `schema`: texts of the program's own.
//! - [`manpage`]  — `groupsync manpage`: the man pages, with the sections clap cannot write.
//!
//! A command that handles SIGINT/SIGTERM stops gracefully on the first; the
//! second ends it here, as [`Outcome::Interrupted`].

pub mod approve;
pub mod cycle;
pub mod daemon;
pub mod demo;
pub mod docs;
pub mod emulate;
pub mod forget;
pub mod import;
pub mod journal;
pub mod manpage;
pub mod notify;
pub mod outcome;
pub mod output;
pub mod validate;

use std::future::Future;

use anyhow::Context;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

use crate::cli::args::{Cli, Command, JournalCommand, OutputFormat};
use crate::commands::outcome::Outcome;
use crate::commands::output::FailureDocument;
use crate::config::Settings;
use crate::pipeline::import::ImportOptions;
use crate::pipeline::render::JsonDocument;
use crate::service::logging;
use crate::shutdown::{self, SecondSignalSender};

/// Runs the command `cli` names. With `--format json` or `markdown`, a
/// command that prints a document prints one for its failure too.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let document = failure_document(&cli);
    let result = dispatch(cli);
    if let (Some(document), Err(err)) = (document, &result) {
        output::print_failure(document, err);
    }
    result
}

/// The document this command prints in its `--format`, if it prints one.
fn failure_document(cli: &Cli) -> Option<FailureDocument> {
    let json = match cli.command {
        Command::Validate => JsonDocument::Validation,
        Command::Plan(_) | Command::Apply(_) | Command::Show { .. } => JsonDocument::Plan,
        Command::Run(ref args) if args.once => JsonDocument::Plan,
        Command::Run(_)
        | Command::Import { .. }
        | Command::Forget { .. }
        | Command::Approve { .. }
        | Command::Journal { .. }
        | Command::History(_)
        | Command::Notify(_)
        | Command::Emulate(_)
        | Command::Demo
        | Command::Help { .. }
        | Command::Completions { .. }
        | Command::Manpage { .. }
        | Command::Schema => return None,
    };
    match cli.format {
        OutputFormat::Text => None,
        OutputFormat::Json => Some(FailureDocument::Json(json)),
        OutputFormat::Markdown => Some(FailureDocument::Markdown),
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // The commands that read no settings.
    match cli.command {
        Command::Demo => return runtime.block_on(demo::run()),
        Command::Help { command } => return docs::help(command.as_deref()),
        Command::Completions { shell } => return docs::completions(shell),
        Command::Manpage { command, out_dir } => {
            return manpage::run(command.as_deref(), out_dir.as_deref());
        }
        Command::Schema => return docs::schema(),
        Command::Emulate(args) => {
            emulate::init_logging_from_flags(&cli.overrides)?;
            return until_second_signal(runtime, |second| emulate::run(args, second));
        }
        _ => {}
    }
    let settings = Settings::resolve(&cli.overrides)?;
    logging::init(settings.log.format, &settings.log.level)?;
    let format = cli.format;
    match cli.command {
        Command::Validate => validate::run(&settings, format),
        Command::Plan(args) => {
            let options = cycle::plan_options(&args, &settings);
            let files = cycle::PlanFiles {
                out: args.out,
                apply: None,
            };
            until_second_signal(runtime, |second| {
                cycle::run(settings, format, (options, files), second)
            })
        }
        Command::Apply(args) => {
            let options = cycle::apply_options(&args, &settings);
            let files = cycle::PlanFiles {
                out: None,
                apply: args.plan,
            };
            until_second_signal(runtime, |second| {
                cycle::run(settings, format, (options, files), second)
            })
        }
        Command::Show { file } => cycle::show(&file, format),
        Command::Approve { digest } => approve::run(&settings, &digest),
        Command::Run(args) if args.once => {
            let options = cycle::once_options(args, &settings);
            let files = cycle::PlanFiles::default();
            until_second_signal(runtime, |second| {
                cycle::run(settings, format, (options, files), second)
            })
        }
        Command::Run(args) => until_second_signal(runtime, |second| {
            daemon::run(cli.overrides, settings, args, second)
        }),
        Command::Import {
            out,
            area,
            active_only,
            no_members,
        } => {
            let options = ImportOptions {
                area,
                active_only,
                members: !no_members,
            };
            until_second_signal(runtime, |second| {
                import::run(settings, options, out, second)
            })
        }
        Command::Forget { ids, lock } => {
            runtime.block_on(forget::run(&settings, &ids, lock.lock_timeout))
        }
        Command::Journal {
            command: JournalCommand::Verify,
        } => journal::verify(&settings, format),
        Command::History(args) => journal::history(&settings, &args, format),
        Command::Notify(command) => runtime.block_on(notify::run(settings, command)),
        Command::Emulate(_)
        | Command::Demo
        | Command::Help { .. }
        | Command::Completions { .. }
        | Command::Manpage { .. }
        | Command::Schema => unreachable!("handled above"),
    }
}

/// Runs `command` on `runtime` to its end, unless a second SIGINT or SIGTERM
/// comes first (`command` hands its sender to the signal handlers it
/// installs): then the outcome is [`Outcome::Interrupted`], and the runtime
/// and the command are left behind at once, whatever they are blocked in.
///
/// The command is polled on a thread of its own, as `block_on` polls a
/// future on the calling thread: never queued behind a runtime worker that a
/// blocking call holds (a read of a hung file system), and never keeping this
/// thread from seeing the second signal.
fn until_second_signal<F>(
    runtime: Runtime,
    command: impl FnOnce(SecondSignalSender) -> F,
) -> anyhow::Result<Outcome>
where
    F: Future<Output = anyhow::Result<Outcome>> + Send + 'static,
{
    let (sender, second_signal) = shutdown::second_signal_channel();
    let command = command(sender);
    let (done, ended) = oneshot::channel();
    let handle = runtime.handle().clone();
    let thread = std::thread::Builder::new()
        .name("groupsync-command".to_string())
        .spawn(move || {
            let _ = done.send(handle.block_on(command));
        })
        .context("cannot start the command's thread")?;
    let first = runtime.block_on(async {
        tokio::select! {
            ended = ended => Ok(ended),
            signal = second_signal.received() => Err(signal),
        }
    });
    match first {
        Ok(ended) => match (ended, thread.join()) {
            (Ok(result), _) => result,
            (Err(_), Err(panic)) => std::panic::resume_unwind(panic),
            (Err(_), Ok(())) => {
                unreachable!("the command's thread sends its result before it ends")
            }
        },
        Err(signal) => {
            runtime.shutdown_background();
            Ok(Outcome::Interrupted(signal))
        }
    }
}
