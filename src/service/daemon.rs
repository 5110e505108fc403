//! The daemon, `groupsync run`: a cycle at start, then on every change under
//! the groups dir (debounced), on the schedule, on a reload request (SIGHUP:
//! after re-reading the config), and after a failure (with back-off); until
//! stopped (SIGTERM/SIGINT).
//!
//! Never two cycles at once: a cycle runs as its own task while this loop
//! keeps listening, and triggers that arrive meanwhile coalesce into one
//! follow-up cycle. The loop's heartbeat feeds `/healthz` and the systemd
//! watchdog, so a wedged loop stops both; so does a cycle still running
//! [`STUCK_GRACE`] after its `cycle_timeout` (it could not be abandoned, e.g.
//! blocked in a read from a hung file system), so that systemd restarts the
//! service. `READY=1` goes out once the loop is set up, before the first
//! cycle: a pod that does not answer must not fail the start. Once a cycle
//! has planned, before it applies, its drift is logged and counted (once:
//! `daemon/report.rs`); after it, `daemon/finish.rs` takes its result in and
//! publishes the plan left to do for `/plan` and `/plan.json` (a dry run
//! prints it too, under a dated header). Notifications are told of the
//! cycle at both points and sent by tasks of their own (`daemon/notifications.rs`).
//!
//! The daemon holds no state file between cycles: every cycle reads it anew,
//! and a writing cycle locks it only while it runs, so `plan` and `apply`
//! work beside a running daemon. Which groups a cycle reads from the pod
//! depends on why it runs, unless the config or `--refresh` says
//! (`refresh_mode`): a file change plans from the snapshot, so that a commit
//! lands at once; every other cycle reads every declared group, so that a
//! change made in the portal is found and reverted.
//!
//! The loop touches no signal and runs no pipeline itself: `main` hands it a
//! [`Shutdown`] and [`Reloads`], and the cycle is a `RunCycle`, so the tests
//! (in `daemon/tests.rs`) drive it on paused time with a fake cycle.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::{Instant, sleep_until};

use crate::config::{Overrides, RefreshMode, Settings, Trigger};
use crate::error::{Result, short_duration};
use crate::notify::Notifications;
use crate::pipeline::cycle::{
    CycleMode, CycleOptions, CycleOutcome, DEFAULT_LOCK_TIMEOUT, run_cycle_observed,
};
use crate::pod::PodClient;
use crate::service::metrics::{CurrentPlan, Endpoints, Health, Metrics, PlanToken};
use crate::service::systemd::Notifier;
use crate::service::watch::{DirWatch, watch_dir};
use crate::shutdown::{Reloads, Shutdown};

mod finish;
mod notifications;
mod report;
mod setup;
#[cfg(test)]
mod tests;

use axum::body::Bytes;
use notifications::{start_notifications, stop_notifications, with_notifications};
use report::{DriftTally, PlanPrinter, PlannedHook, drift_hook, keeping_plan};
use setup::{check_state_file, observed_client};

/// How long a stop waits for the cycle in flight (its PUTs finish, no new one starts).
pub const STOP_GRACE: Duration = Duration::from_secs(20);
/// How often the loop proves it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A cycle still running this long after its `cycle_timeout` could not be
/// abandoned: the daemon is stuck.
pub const STUCK_GRACE: Duration = Duration::from_secs(5);
/// Back-off after a failed cycle: 10 s, doubling, at most 5 minutes.
const RETRY_FIRST: Duration = Duration::from_secs(10);
const RETRY_MAX: Duration = Duration::from_secs(300);

/// The flags of `run`.
#[derive(Debug, Clone, Copy)]
pub struct DaemonOptions {
    /// Never write: print the plan whenever it differs from the last one
    /// printed. Config `dry_run: true` does the same, and can be turned off by a reload.
    pub dry_run: bool,
    /// `--refresh`: every cycle reads every declared group, whatever the config says.
    pub refresh_every_cycle: bool,
    /// How long a writing cycle waits for another process's cycle to release the state file.
    pub lock_timeout: Duration,
    /// `--prune`: orphans still active are deactivated, whatever `prune:` says.
    pub prune: bool,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            dry_run: false,
            refresh_every_cycle: false,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            prune: false,
        }
    }
}

/// Why a cycle runs (for the logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    Start,
    FileChange,
    Schedule,
    Reload,
    Retry,
}

/// What a finished cycle calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
enum Next {
    /// Nothing until the next trigger: the groups are in sync, or the desired
    /// state is invalid and waits for the files to be fixed.
    Wait,
    /// It failed (the pod, the state file, a group's PUT): try again after the back-off.
    RetryWithBackoff,
    /// A safety limit refused the plan: a retry would be refused again, a person must decide.
    NeedsAPerson,
}

/// Everything one cycle reads (the state file it reads itself, at its start),
/// and what it calls once it has planned, before it applies.
struct CycleJob {
    settings: Arc<Settings>,
    client: Option<PodClient>,
    options: CycleOptions,
    stop: Shutdown,
    on_planned: PlannedHook,
}

/// A cycle's work and its result.
type CycleFuture = Pin<Box<dyn Future<Output = Result<CycleOutcome>> + Send>>;

/// What a cycle runs, and why: [`pipeline_cycle`]; in tests, a fake that
/// fails, refuses or takes its time on demand, and records why and when it ran.
type RunCycle = Box<dyn Fn(Reason, CycleJob) -> CycleFuture + Send + Sync>;

/// What a finished cycle task hands back.
struct CycleDone {
    result: Result<CycleOutcome>,
    duration: Duration,
}

struct Daemon {
    overrides: Overrides,
    settings: Arc<Settings>,
    client: Option<PodClient>,
    options: DaemonOptions,
    cycle: RunCycle,
    /// Where the watch of the groups dir reports changes.
    changes: mpsc::UnboundedSender<()>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    /// What `/plan` and `/plan.json` serve.
    plan: Arc<CurrentPlan>,
    notifier: Arc<Notifier>,
    /// `notify:`: messages to rooms and webhooks.
    notifications: Notifications,
    /// `run --dry-run`'s printer of plans.
    printer: PlanPrinter,
    /// The drift `groupsync_drift_total` has counted (by the cycle task, once planned).
    drift: Arc<Mutex<DriftTally>>,
    /// The last plan a cycle made, rendered (text, JSON): `/plan` serves it
    /// when the limits refused it, for an operator to approve by its digest.
    last_planned: Arc<Mutex<Option<(Bytes, Bytes)>>>,
    /// Cycles started so far; the one running (or last run) is this number.
    cycles_started: u64,
    /// When the pod last accepted a write, for the status line.
    last_change: Option<String>,
    consecutive_failures: u32,
    /// A cycle runs past its time and the watchdog is starved (said once).
    stuck: bool,
}

/// Runs the daemon until `stop` fires, re-reading the config at every request
/// on `reloads`. Errors are fatal start-up errors (a state file that cannot
/// be read or describes another pod, bad credentials).
pub async fn run(
    overrides: Overrides,
    settings: Settings,
    options: DaemonOptions,
    stop: Shutdown,
    reloads: Reloads,
) -> Result<()> {
    let (changes_sender, changes) = mpsc::unbounded_channel();
    let mut daemon = Daemon::start(overrides, settings, options, changes_sender)?;
    daemon.serve_metrics(stop.clone()).await?;
    daemon.run_loop(stop, reloads, changes).await;
    Ok(())
}

impl Daemon {
    /// A daemon whose cycles run the pipeline, reporting file changes on `changes`.
    fn start(
        overrides: Overrides,
        settings: Settings,
        options: DaemonOptions,
        changes: mpsc::UnboundedSender<()>,
    ) -> Result<Daemon> {
        let metrics = Arc::new(Metrics::new());
        check_state_file(&settings)?;
        let client = observed_client(&settings, &metrics)?;
        let none = Notifications::none();
        let notifications = start_notifications(&none, &settings, client.as_ref(), &metrics)?;
        metrics.set_config_valid(true);
        Ok(Daemon {
            overrides,
            settings: Arc::new(settings),
            client,
            options,
            cycle: Box::new(pipeline_cycle),
            changes,
            metrics,
            health: Arc::new(Health::new()),
            plan: Arc::new(CurrentPlan::new()),
            notifier: Arc::new(Notifier::from_env()),
            notifications,
            printer: PlanPrinter::default(),
            drift: Arc::default(),
            last_planned: Arc::default(),
            cycles_started: 0,
            last_change: None,
            consecutive_failures: 0,
            stuck: false,
        })
    }

    /// Serves the endpoints (which log their one start-up line), `/plan`
    /// behind the token of `plan_token_file`, if set.
    async fn serve_metrics(&self, stop: Shutdown) -> Result<()> {
        let Some(listen) = self.settings.metrics_listen else {
            return Ok(());
        };
        let plan_token = (self.settings.plan_token_file.as_deref())
            .map(PlanToken::read)
            .transpose()?;
        let endpoints = Endpoints {
            metrics: self.metrics.clone(),
            health: self.health.clone(),
            plan: self.plan.clone(),
            plan_token,
        };
        crate::service::metrics::serve(listen, endpoints, stop).await?;
        Ok(())
    }

    /// `--dry-run`, or `dry_run: true` in the config as last (re)loaded.
    fn dry_run(&self) -> bool {
        self.options.dry_run || self.settings.dry_run
    }

    /// The loop's heartbeat: proves to `/healthz` and to the systemd
    /// watchdog that the loop goes on, unless a cycle is stuck.
    fn beat(&mut self) {
        self.health.heartbeat();
        if self.health.is_cycle_stuck() {
            self.report_stuck();
        } else if self.notifier.watchdog_interval().is_some() {
            self.notifier.watchdog();
        }
    }

    fn report_stuck(&mut self) {
        if std::mem::replace(&mut self.stuck, true) {
            return;
        }
        let timeout = short_duration(self.settings.cycle_timeout);
        tracing::error!(
            "a cycle has run for longer than cycle_timeout ({timeout}) and could not be abandoned: \
             groupsync is stuck. /healthz answers 503 and the systemd watchdog is no longer fed, \
             so that the service is restarted"
        );
        self.notifier.status(&format!(
            "stuck: a cycle has run for longer than cycle_timeout ({timeout})"
        ));
    }

    async fn run_loop(
        &mut self,
        mut stop: Shutdown,
        mut reloads: Reloads,
        mut changes: mpsc::UnboundedReceiver<()>,
    ) {
        let mut watch = self.watch();
        let mut running: Option<JoinHandle<CycleDone>> = None;
        let mut pending = Some(Reason::Start);
        let mut debounce_until: Option<Instant> = None;
        let mut retry_at: Option<Instant> = None;
        let mut next_scheduled = next_fire(&self.settings.trigger);
        let mut heartbeat =
            tokio::time::interval(heartbeat_period(self.notifier.watchdog_interval()));
        self.log_start(watch.as_ref());
        // Set up and serving: ready, whatever the first cycle meets.
        self.notifier.ready();
        self.notifier.status("started, first cycle running");

        loop {
            if running.is_none()
                && let Some(reason) = pending.take()
            {
                running = Some(self.start_cycle(reason, stop.clone()));
            }
            tokio::select! {
                () = stop.requested() => break,
                joined = wait_for(&mut running) => {
                    running = None;
                    retry_at = match self.finish_cycle(joined) {
                        Next::RetryWithBackoff => Some(Instant::now() + self.retry_delay()),
                        Next::Wait | Next::NeedsAPerson => None,
                    };
                }
                Some(()) = changes.recv() => debounce_until = Some(Instant::now() + self.settings.debounce),
                () = sleep_until_some(debounce_until) => {
                    debounce_until = None;
                    pending.get_or_insert(Reason::FileChange);
                }
                () = sleep_until(next_scheduled) => {
                    next_scheduled = next_fire(&self.settings.trigger);
                    pending.get_or_insert(Reason::Schedule);
                }
                () = sleep_until_some(retry_at) => {
                    retry_at = None;
                    pending.get_or_insert(Reason::Retry);
                }
                Some(()) = reloads.requested() => {
                    if self.reload() {
                        watch = self.watch();
                        next_scheduled = next_fire(&self.settings.trigger);
                    }
                    pending.get_or_insert(Reason::Reload);
                }
                _ = heartbeat.tick() => self.beat(),
            }
        }
        self.notifier.stopping();
        drop(watch);
        self.stop_cycle(running).await;
        stop_notifications(&self.notifications);
    }

    fn watch(&self) -> Option<DirWatch> {
        watch_dir(&self.settings.groups_dir, self.changes.clone())
            .map_err(|err| tracing::error!("{}; cycles will run on the schedule only", err.chain()))
            .ok()
    }

    fn log_start(&self, watch: Option<&DirWatch>) {
        let watching = match watch {
            Some(watch) if watch.polling => "polling",
            Some(_) => "watching",
            None => "not watching",
        };
        let trigger = match &self.settings.trigger {
            Trigger::Cron(cron) => format!("schedule \"{}\"", cron.as_str()),
            Trigger::Interval(every) => format!("every {}s", every.as_secs()),
        };
        tracing::info!(
            "groupsync {} started: {watching} {}, {trigger}{}",
            env!("CARGO_PKG_VERSION"),
            self.settings.groups_dir.display(),
            if self.dry_run() {
                ", dry run: never writing"
            } else {
                ""
            }
        );
    }

    fn start_cycle(&mut self, reason: Reason, stop: Shutdown) -> JoinHandle<CycleDone> {
        self.cycles_started += 1;
        tracing::debug!(?reason, cycle = self.cycles_started, "cycle starting");
        let options = self.cycle_options(reason);
        let read_every_group = options.refresh == RefreshMode::Always;
        let job = CycleJob {
            settings: self.settings.clone(),
            client: self.client.clone(),
            options,
            stop,
            on_planned: keeping_plan(
                with_notifications(
                    drift_hook(self.drift.clone(), self.metrics.clone(), read_every_group),
                    self.notifications.clone(),
                ),
                self.last_planned.clone(),
            ),
        };
        let cycle = (self.cycle)(reason, job);
        self.health
            .cycle_started(self.settings.cycle_timeout.saturating_add(STUCK_GRACE));
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let result = cycle.await;
            CycleDone {
                result,
                duration: started.elapsed(),
            }
        })
    }

    /// A dry run plans; otherwise the cycle applies, never forced: a daemon
    /// never overrides its own safety limits.
    fn cycle_options(&self, reason: Reason) -> CycleOptions {
        let refresh = refresh_mode(
            reason,
            self.settings.refresh,
            self.options.refresh_every_cycle,
        );
        let mode = if self.dry_run() {
            CycleMode::Plan
        } else {
            CycleMode::Apply {
                lock_timeout: self.options.lock_timeout,
                force: false,
                // The daemon's log is the record of what it wrote.
                log_changes: true,
            }
        };
        CycleOptions {
            mode,
            prune: self.options.prune,
            ..CycleOptions::plan(refresh)
        }
    }

    fn retry_delay(&self) -> Duration {
        let doublings = self.consecutive_failures.saturating_sub(1).min(16);
        (RETRY_FIRST * 2u32.pow(doublings)).min(RETRY_MAX)
    }

    /// SIGHUP: re-reads the config file. A broken one (or one whose state
    /// file describes another pod) is refused and the old one kept.
    /// True when the new settings took effect.
    fn reload(&mut self) -> bool {
        self.notifier.reloading();
        let reloaded = Settings::resolve(&self.overrides).and_then(|settings| {
            check_state_file(&settings)?;
            let client = observed_client(&settings, &self.metrics)?;
            let notifications = start_notifications(
                &self.notifications,
                &settings,
                client.as_ref(),
                &self.metrics,
            )?;
            Ok((client, notifications, settings))
        });
        let took_effect = match reloaded {
            Ok((client, notifications, mut settings)) => {
                self.keep_restart_only_settings(&mut settings);
                if settings.dry_run != self.settings.dry_run && !self.options.dry_run {
                    tracing::info!(
                        "dry_run: {}",
                        if settings.dry_run {
                            "true, never writing from now on"
                        } else {
                            "false, writing from now on"
                        }
                    );
                }
                self.settings = Arc::new(settings);
                self.client = client;
                // The old outboxes send what they hold, then end.
                self.notifications = notifications;
                self.metrics.set_config_valid(true);
                tracing::info!("configuration reloaded");
                true
            }
            Err(err) => {
                tracing::error!(
                    "configuration reload refused, the previous configuration stays in force: {}",
                    err.chain()
                );
                self.metrics.set_config_valid(false);
                false
            }
        };
        self.notifier.ready();
        took_effect
    }

    /// Settings a running daemon cannot change: the metrics listener, the
    /// plan's token and the logger. Say so rather than ignore them. (The state
    /// file can change: every cycle opens it anew.)
    fn keep_restart_only_settings(&self, settings: &mut Settings) {
        if settings.metrics_listen != self.settings.metrics_listen {
            tracing::warn!("metrics_listen changed: restart groupsync to apply it");
            settings.metrics_listen = self.settings.metrics_listen;
        }
        if settings.plan_token_file != self.settings.plan_token_file {
            tracing::warn!("plan_token_file changed: restart groupsync to apply it");
            settings.plan_token_file = self.settings.plan_token_file.clone();
        }
        if settings.log != self.settings.log {
            tracing::warn!("log settings changed: restart groupsync to apply them");
        }
    }

    /// Lets the cycle in flight finish (no new PUT starts: it sees the stop), bounded by `STOP_GRACE`.
    async fn stop_cycle(&mut self, running: Option<JoinHandle<CycleDone>>) {
        if let Some(mut handle) = running {
            match tokio::time::timeout(STOP_GRACE, &mut handle).await {
                Ok(joined) => {
                    // Stopping: no retry, whatever the cycle calls for.
                    let _next = self.finish_cycle(joined);
                }
                Err(_) => {
                    tracing::warn!(
                        "the cycle in flight did not finish within {}s; stopping it (the state file holds every answer saved so far)",
                        STOP_GRACE.as_secs()
                    );
                    handle.abort();
                }
            }
        }
        tracing::info!("stopped");
    }
}

/// The real cycle: load -> refresh -> plan -> apply, reading the state file
/// afresh (the reason is in the logs already, and in `job.options`).
fn pipeline_cycle(_reason: Reason, job: CycleJob) -> CycleFuture {
    let CycleJob {
        settings,
        client,
        options,
        stop,
        on_planned,
    } = job;
    // A stop ends the cycle's waits for the pod too, not only its new PUTs.
    let client = client.map(|mut client| {
        client.set_shutdown(stop.clone());
        client
    });
    Box::pin(async move {
        run_cycle_observed(&settings, client.as_ref(), options, stop, &*on_planned).await
    })
}

/// Which groups a cycle reads from the pod: every declared group with
/// `--refresh`; else what the config's `refresh:` says; else, by default,
/// the snapshot's gaps only for a file change (so that a commit lands at
/// once) and every declared group for any other cycle (start, schedule,
/// reload, retry), so that a change made in the portal is found and reverted.
fn refresh_mode(reason: Reason, configured: Option<RefreshMode>, every_cycle: bool) -> RefreshMode {
    if every_cycle {
        return RefreshMode::Always;
    }
    configured.unwrap_or(match reason {
        Reason::FileChange => RefreshMode::Missing,
        Reason::Start | Reason::Schedule | Reason::Reload | Reason::Retry => RefreshMode::Always,
    })
}

/// When the schedule next fires: the cron expression's next time in the local
/// zone (`TZ` respected), or one interval from now.
fn next_fire(trigger: &Trigger) -> Instant {
    match trigger {
        Trigger::Interval(every) => Instant::now() + *every,
        Trigger::Cron(cron) => {
            let now = chrono::Local::now();
            let wait = cron
                .cron()
                .find_next_occurrence(&now, false)
                .ok()
                .and_then(|next| (next - now).to_std().ok())
                // A pattern that never fires again (e.g. Feb 30th): check back daily.
                .unwrap_or(Duration::from_secs(86_400));
            Instant::now() + wait
        }
    }
}

/// How often the loop beats: every [`HEARTBEAT`], or as often as the watchdog
/// wants to be fed (half of `WATCHDOG_USEC`) if that is more often. Each beat
/// pings the watchdog, so a beat slower than that would starve a short
/// watchdog and systemd would kill a healthy daemon.
fn heartbeat_period(watchdog_interval: Option<Duration>) -> Duration {
    watchdog_interval.map_or(HEARTBEAT, |every| {
        HEARTBEAT.min(every).max(Duration::from_millis(1))
    })
}

/// Completes with the task's result when there is a task; pends forever otherwise.
async fn wait_for(
    running: &mut Option<JoinHandle<CycleDone>>,
) -> std::result::Result<CycleDone, JoinError> {
    match running {
        Some(handle) => handle.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
