//! `groupsync plan`, `apply` and `run --once`: one cycle, rendered in the
//! chosen format, with its outcome (changes pending, converged, failed).
//! A cycle that writes notifies (`notify:`) and waits for its messages
//! before it exits, at most `notify_settings.flush_timeout`; a plan never notifies.

use crate::Diagnostic;
use crate::Error;
use crate::cli::args::{ApplyArgs, LockTimeout, OutputFormat, PlanArgs, RunArgs};
use crate::commands::outcome::Outcome;
use crate::commands::output::{print_diagnostics, print_stdout};
use crate::config::{RefreshMode, Settings};
use crate::notify::Notifications;
use std::path::{Path, PathBuf};

use crate::pipeline::cycle::{
    CycleMode, CycleOptions, CycleOutcome, pod_client, run_cycle_observed, run_saved,
};
use crate::pipeline::plan::Plan;
use crate::pipeline::render::{self, Report, markdown};
use crate::pipeline::saved::digest::short;
use crate::pipeline::saved::document::SavedPlan;
use crate::pod::auth::SESSION_TOKEN_ENV;
use crate::shutdown::{self, SecondSignalSender, Shutdown};
use crate::text::escaped;

/// The plan files a cycle reads or writes: `plan --out FILE`, `apply FILE`.
#[derive(Debug, Clone, Default)]
pub struct PlanFiles {
    /// Save the plan here (`plan --out`).
    pub out: Option<PathBuf>,
    /// Apply this saved plan instead of planning (`apply FILE`).
    pub apply: Option<PathBuf>,
}

/// The options of `plan`.
pub fn plan_options(args: &PlanArgs, settings: &Settings) -> CycleOptions {
    CycleOptions {
        prune: args.prune,
        save_plan: args.out.is_some(),
        ..CycleOptions::plan(refresh_mode(args.refresh.refresh, settings))
    }
}

/// The options of `apply`.
pub fn apply_options(args: &ApplyArgs, settings: &Settings) -> CycleOptions {
    let refresh = refresh_mode(args.refresh.refresh, settings);
    CycleOptions {
        prune: args.prune,
        revert_drift: args.revert_drift,
        ..writing(refresh, args.force, args.lock)
    }
}

/// The options of `run --once`: `apply`, or `plan` with `--dry-run` or
/// `dry_run: true` in the config.
pub fn once_options(args: RunArgs, settings: &Settings) -> CycleOptions {
    let refresh = refresh_mode(args.refresh.then_some(true), settings);
    let options = if args.dry_run || settings.dry_run {
        CycleOptions::plan(refresh)
    } else {
        writing(refresh, args.force, args.lock)
    };
    CycleOptions {
        prune: args.prune,
        ..options
    }
}

/// Which groups one cycle reads: as `--refresh[=BOOL]` says; else as the
/// config's `refresh:` says; else every declared group and managed list, so
/// that a plan shows the pod as it is (as Terraform refreshes by default).
fn refresh_mode(flag: Option<bool>, settings: &Settings) -> RefreshMode {
    match flag {
        Some(true) => RefreshMode::Always,
        Some(false) => RefreshMode::Missing,
        None => settings.refresh.unwrap_or(RefreshMode::Always),
    }
}

/// The options of a cycle that writes (`apply`, `run --once`).
fn writing(refresh: RefreshMode, force: bool, lock: LockTimeout) -> CycleOptions {
    CycleOptions {
        mode: CycleMode::Apply {
            lock_timeout: lock.lock_timeout,
            force,
            // The summary on stdout says every change; the log need not say it again.
            log_changes: false,
        },
        ..CycleOptions::plan(refresh)
    }
}

/// One cycle, rendered, with its outcome: planned from the groups dir, or
/// the saved plan `files.apply` names; the plan saved to `files.out` if asked.
pub async fn run(
    settings: Settings,
    format: OutputFormat,
    (options, files): (CycleOptions, PlanFiles),
    second_signal: SecondSignalSender,
) -> anyhow::Result<Outcome> {
    // A plan file that is no plan fails before anything else: nothing is read of the pod.
    let saved = match &files.apply {
        Some(path) => Some((SavedPlan::read(path).map_err(Error::from)?, path.clone())),
        None => None,
    };
    let mut client = pod_client(&settings, std::env::var(SESSION_TOKEN_ENV).ok())?;
    if files.out.is_some() && client.is_none() {
        anyhow::bail!(
            "plan --out needs the pod: a saved plan records what the pod shows of every group it \
             touches, so that `apply FILE` can tell a stale plan. Set --pod-url / \
             GROUPSYNC_POD_URL / pod.url, and credentials"
        );
    }
    // A first SIGINT/SIGTERM ends every wait for the pod and starts no new
    // request (reads included); a second one exits at once.
    let (trigger, stop) = shutdown::channel();
    shutdown::trigger_on_signals(trigger, second_signal)?;
    if let Some(client) = client.as_mut() {
        client.set_shutdown(stop.clone());
    }
    let notifications = match options.writes() {
        true => Notifications::start(&settings, client.as_ref(), None)?,
        false => Notifications::none(),
    };
    let notify = |outcome: &CycleOutcome| notifications.planned(outcome);
    let result = match &saved {
        Some((plan, path)) => {
            let client = client.as_ref().ok_or(Error::NoPod)?;
            let result = run_saved(&settings, client, (plan, path), options, stop.clone()).await;
            if let Ok(outcome) = &result {
                notify(outcome);
            }
            result
        }
        None => {
            run_cycle_observed(&settings, client.as_ref(), options, stop.clone(), &notify).await
        }
    };
    notifications.finished(result.as_ref());
    let result = match (result, &files.out) {
        (Ok(outcome), Some(path)) => save_plan(outcome, path),
        (result, _) => result,
    };
    let ended = report(result, format, options);
    flush(&notifications, stop).await;
    ended
}

/// Writes the plan `plan --out` asked for, and says so on stderr.
fn save_plan(outcome: CycleOutcome, path: &Path) -> crate::Result<CycleOutcome> {
    // A plan that left groups out is not the whole change: applied, it would be half of it.
    if !outcome.plan.errors.is_empty() {
        eprintln!(
            "No plan file written: {} could not be planned (below); fix them and plan again",
            crate::text::counted(outcome.plan.errors.len(), "group")
        );
        return Ok(outcome);
    }
    let saved = outcome
        .saved
        .as_ref()
        .expect("a cycle asked to save its plan carries it");
    saved.write(path).map_err(|source| {
        Error::io(
            format!("cannot write the plan file {}", path.display()),
            source,
        )
    })?;
    eprintln!(
        "Saved the plan to {} (digest {}): apply exactly it with `groupsync apply {}`",
        escaped(&path.display().to_string()),
        short(&saved.digest),
        escaped(&path.display().to_string()),
    );
    Ok(outcome)
}

/// `groupsync show FILE`: the saved plan, checked, in `format`.
pub fn show(path: &Path, format: OutputFormat) -> anyhow::Result<Outcome> {
    let saved = SavedPlan::read(path).map_err(Error::from)?;
    print_outcome(&CycleOutcome::of_saved(&saved), format)?;
    Ok(Outcome::Clean)
}

/// Waits for the notifications, at most `notify_settings.flush_timeout`;
/// a stop request ends the wait at once.
async fn flush(notifications: &Notifications, mut stop: Shutdown) {
    tokio::select! {
        _left = notifications.flush() => {}
        () = stop.requested() => {
            notifications.stop();
        }
    }
}

/// Prints the cycle's outcome, and says how the command ended.
fn report(
    result: crate::Result<CycleOutcome>,
    format: OutputFormat,
    options: CycleOptions,
) -> anyhow::Result<Outcome> {
    let outcome = match result {
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
            let empty = Plan::default();
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
