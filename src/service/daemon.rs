//! The daemon, `groupsync run`: a cycle at start, then on every change under
//! the groups dir (debounced), on the schedule, on SIGHUP (after re-reading
//! the config), and after a failure (with back-off); until SIGTERM/SIGINT.
//!
//! Never two cycles at once: a cycle runs as its own task while this loop
//! keeps listening, and triggers that arrive meanwhile coalesce into one
//! follow-up cycle. The loop's heartbeat feeds `/healthz` and the systemd
//! watchdog, so a wedged loop stops both.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use crate::config::{Overrides, Settings, Trigger};
use crate::error::{Error, Result};
use crate::pipeline::cycle::{CycleOptions, CycleOutcome, pod_client, run_cycle};
use crate::pipeline::render::{Report, render_text};
use crate::pipeline::state::{Snapshot, StateFile};
use crate::pod::PodClient;
use crate::pod::auth::SESSION_TOKEN_ENV;
use crate::service::metrics::{CycleResult, Health, Metrics};
use crate::service::systemd::Notifier;
use crate::service::watch::{DirWatch, watch_dir};
use crate::shutdown::{self, Shutdown};

/// How long a stop waits for the cycle in flight (its PUTs finish, no new one starts).
pub const STOP_GRACE: Duration = Duration::from_secs(20);
/// How often the loop proves it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Back-off after a failed cycle: 10 s, doubling, at most 5 minutes.
const RETRY_FIRST: Duration = Duration::from_secs(10);
const RETRY_MAX: Duration = Duration::from_secs(300);

/// `run` or `run --dry-run`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DaemonOptions {
    /// Never write: print the plan whenever it differs from the last one printed.
    pub dry_run: bool,
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

/// What a finished cycle task hands back: the snapshot it borrowed, its result and duration.
type CycleDone = (Snapshot, Result<CycleOutcome>, Duration);

struct Daemon {
    overrides: Overrides,
    settings: Arc<Settings>,
    client: Option<PodClient>,
    state: Arc<StateFile>,
    /// `None` while a cycle task holds it.
    snapshot: Option<Snapshot>,
    options: DaemonOptions,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    notifier: Arc<Notifier>,
    /// The plan text `run --dry-run` printed last.
    last_printed: Option<String>,
    /// When the pod last accepted a write, for the status line.
    last_change: Option<String>,
    consecutive_failures: u32,
}

/// Runs the daemon until SIGTERM/SIGINT. Errors are fatal start-up errors
/// (the state file locked by another groupsync, bad credentials).
pub async fn run(overrides: Overrides, settings: Settings, options: DaemonOptions) -> Result<()> {
    let (stop_trigger, stop) = shutdown::channel();
    shutdown::trigger_on_signals(stop_trigger)
        .map_err(|err| Error::io("cannot handle SIGINT and SIGTERM", err))?;
    let mut daemon = Daemon::start(overrides, settings, options)?;
    daemon.serve_metrics(stop.clone()).await?;
    daemon.spawn_watchdog();
    daemon.run_loop(stop).await;
    Ok(())
}

impl Daemon {
    fn start(overrides: Overrides, settings: Settings, options: DaemonOptions) -> Result<Daemon> {
        let metrics = Arc::new(Metrics::new());
        let state = StateFile::open(&settings.state_file)?;
        let snapshot = state.load()?;
        let client = observed_client(&settings, &metrics)?;
        metrics.set_config_valid(true);
        Ok(Daemon {
            overrides,
            settings: Arc::new(settings),
            client,
            state: Arc::new(state),
            snapshot: Some(snapshot),
            options,
            metrics,
            health: Arc::new(Health::new()),
            notifier: Arc::new(Notifier::from_env()),
            last_printed: None,
            last_change: None,
            consecutive_failures: 0,
        })
    }

    async fn serve_metrics(&self, stop: Shutdown) -> Result<()> {
        let Some(listen) = self.settings.metrics_listen else {
            return Ok(());
        };
        let (bound, _server) =
            crate::service::metrics::serve(listen, self.metrics.clone(), self.health.clone(), stop)
                .await
                .map_err(|err| Error::io(format!("metrics_listen {listen}: cannot listen"), err))?;
        tracing::info!("metrics on http://{bound}/metrics, health on /healthz and /readyz");
        Ok(())
    }

    /// Pings the systemd watchdog while the loop's heartbeat is fresh.
    fn spawn_watchdog(&self) {
        let Some(every) = self.notifier.watchdog_interval() else {
            return;
        };
        let (notifier, health) = (self.notifier.clone(), self.health.clone());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                ticks.tick().await;
                if health.is_alive(every * 2) {
                    notifier.watchdog();
                }
            }
        });
    }

    async fn run_loop(&mut self, mut stop: Shutdown) {
        let (changes_sender, mut changes) = mpsc::unbounded_channel();
        let mut watch = self.watch(&changes_sender);
        let mut hangups = signal(SignalKind::hangup()).expect("SIGHUP can always be handled");
        let mut running: Option<JoinHandle<CycleDone>> = None;
        let mut pending = Some(Reason::Start);
        let mut debounce_until: Option<Instant> = None;
        let mut retry_at: Option<Instant> = None;
        let mut next_scheduled = next_fire(&self.settings.trigger);
        let mut heartbeat =
            tokio::time::interval(heartbeat_period(self.notifier.watchdog_interval()));
        let mut ready_sent = false;
        self.log_start(watch.as_ref());

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
                    let failed = self.finish_cycle(joined);
                    retry_at = failed.then(|| Instant::now() + self.retry_delay());
                    if !ready_sent {
                        self.notifier.ready();
                        ready_sent = true;
                    }
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
                _ = hangups.recv() => {
                    if self.reload() {
                        watch = self.watch(&changes_sender);
                        next_scheduled = next_fire(&self.settings.trigger);
                    }
                    pending.get_or_insert(Reason::Reload);
                }
                _ = heartbeat.tick() => self.health.heartbeat(),
            }
        }
        self.notifier.stopping();
        drop(watch);
        self.stop_cycle(running).await;
    }

    fn watch(&self, changes: &mpsc::UnboundedSender<()>) -> Option<DirWatch> {
        watch_dir(&self.settings.groups_dir, changes.clone())
            .map_err(|err| tracing::error!("{err}; cycles will run on the schedule only"))
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
            if self.options.dry_run {
                ", dry run: never writing"
            } else {
                ""
            }
        );
    }

    fn start_cycle(&mut self, reason: Reason, stop: Shutdown) -> JoinHandle<CycleDone> {
        tracing::debug!(?reason, "cycle starting");
        let settings = self.settings.clone();
        let state = self.state.clone();
        let client = self.client.clone();
        let mut snapshot = self
            .snapshot
            .take()
            .expect("no cycle is running, so the snapshot is here");
        let options = CycleOptions {
            write: !self.options.dry_run,
            refresh: settings.refresh,
            force: false,
        };
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let result = run_cycle(
                &settings,
                &state,
                &mut snapshot,
                client.as_ref(),
                options,
                stop,
            )
            .await;
            (snapshot, result, started.elapsed())
        })
    }

    /// Takes a finished cycle's results in; true when it failed and deserves a retry.
    fn finish_cycle(
        &mut self,
        joined: std::result::Result<CycleDone, tokio::task::JoinError>,
    ) -> bool {
        let (snapshot, result, duration) = match joined {
            Ok(done) => done,
            Err(err) => {
                tracing::error!(
                    "the cycle task ended abnormally ({err}); reloading the snapshot from the state file"
                );
                self.snapshot = Some(self.state.load().unwrap_or_default());
                self.metrics
                    .observe_cycle(CycleResult::Failure, Duration::ZERO);
                return true;
            }
        };
        self.snapshot = Some(snapshot);
        match result {
            Ok(outcome) => self.cycle_succeeded(&outcome, duration),
            Err(Error::Invalid(diagnostics)) => {
                tracing::error!(
                    "the desired state is invalid; nothing was written, fix the files and save ({} errors):\n{diagnostics}",
                    diagnostics.0.len()
                );
                self.metrics.observe_cycle(CycleResult::Invalid, duration);
                self.health.set_desired_valid(false);
                self.notifier.status(&format!(
                    "invalid desired state: {} errors, nothing written",
                    diagnostics.0.len()
                ));
                false
            }
            Err(err) => {
                tracing::error!("cycle failed, the last good state is kept: {}", err.chain());
                self.metrics.observe_cycle(CycleResult::Failure, duration);
                self.health.set_desired_valid(true);
                self.notifier
                    .status(&format!("error: {}", one_line(&err.chain())));
                self.consecutive_failures += 1;
                // A safety limit needs a person, not a retry.
                !matches!(err, Error::Refused(_))
            }
        }
    }

    fn cycle_succeeded(&mut self, outcome: &CycleOutcome, duration: Duration) -> bool {
        for warning in &outcome.refresh.warnings {
            tracing::warn!("{warning}");
        }
        let applied = outcome
            .apply
            .as_ref()
            .map_or(0, |report| report.applied.len());
        let failed = outcome
            .apply
            .as_ref()
            .map_or(0, |report| report.failed.len());
        let pending = outcome.plan.changes.len() - applied - failed;
        tracing::info!(
            desired = outcome.desired_groups,
            in_sync = outcome.plan.unchanged + applied,
            changes = outcome.plan.changes.len(),
            applied,
            failed,
            drift = outcome.refresh.drift.len(),
            duration_ms = duration.as_millis() as u64,
            "cycle done"
        );
        if applied > 0 {
            self.last_change = Some(chrono::Local::now().format("%H:%M:%S").to_string());
        }
        if self.options.dry_run {
            self.print_if_new(outcome);
        }
        let succeeded = failed == 0;
        self.record_metrics(
            outcome,
            duration,
            [outcome.plan.unchanged + applied, pending, failed],
            succeeded,
        );
        self.notifier
            .status(&self.status_line(outcome, pending, failed));
        if succeeded {
            self.consecutive_failures = 0;
        } else {
            self.consecutive_failures += 1;
        }
        !succeeded
    }

    fn record_metrics(
        &self,
        outcome: &CycleOutcome,
        duration: Duration,
        [in_sync, pending, failed]: [usize; 3],
        succeeded: bool,
    ) {
        let result = if succeeded {
            CycleResult::Success
        } else {
            CycleResult::Failure
        };
        self.metrics.observe_cycle(result, duration);
        self.metrics
            .set_desired_groups(outcome.desired_groups as u64);
        self.metrics
            .set_groups(in_sync as u64, pending as u64, failed as u64);
        self.metrics.add_drift(outcome.refresh.drift.len() as u64);
        self.health.set_desired_valid(true);
        if succeeded {
            self.metrics.set_last_success(SystemTime::now());
            self.health.set_ready(true);
        }
    }

    fn status_line(&self, outcome: &CycleOutcome, pending: usize, failed: usize) -> String {
        let in_sync = outcome.desired_groups - pending - failed;
        let last_change = self
            .last_change
            .as_deref()
            .map_or("none yet".to_string(), str::to_string);
        match (self.options.dry_run, pending, failed) {
            (true, 0, _) => format!("dry run, in sync: {in_sync} groups"),
            (true, _, _) => format!("dry run: {pending} changes pending, {in_sync} groups in sync"),
            (false, _, 0) => format!("in sync: {in_sync} groups; last change {last_change}"),
            (false, _, _) => format!(
                "{failed} groups failed to update, {in_sync} in sync; last change {last_change}"
            ),
        }
    }

    /// `run --dry-run`: prints the plan when it differs from the last one printed.
    fn print_if_new(&mut self, outcome: &CycleOutcome) {
        let report = Report {
            apply: None,
            ..outcome.report()
        };
        let text = render_text(&report, false);
        if self.last_printed.as_deref() != Some(text.as_str()) {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush());
            self.last_printed = Some(text);
        }
    }

    fn retry_delay(&self) -> Duration {
        let doublings = self.consecutive_failures.saturating_sub(1).min(16);
        (RETRY_FIRST * 2u32.pow(doublings)).min(RETRY_MAX)
    }

    /// SIGHUP: re-reads the config file. A broken one is refused and the old one kept.
    /// True when the new settings took effect.
    fn reload(&mut self) -> bool {
        self.notifier.reloading();
        let reloaded = Settings::resolve(&self.overrides)
            .and_then(|settings| Ok((observed_client(&settings, &self.metrics)?, settings)));
        let took_effect = match reloaded {
            Ok((client, mut settings)) => {
                self.keep_restart_only_settings(&mut settings);
                self.settings = Arc::new(settings);
                self.client = client;
                self.metrics.set_config_valid(true);
                tracing::info!("configuration reloaded");
                true
            }
            Err(err) => {
                tracing::error!(
                    "configuration reload refused, the previous configuration stays in force: {err}"
                );
                self.metrics.set_config_valid(false);
                false
            }
        };
        self.notifier.ready();
        took_effect
    }

    /// Settings a running daemon cannot change: the state file (it holds its
    /// lock), the metrics listener and the logger. Say so rather than ignore them.
    fn keep_restart_only_settings(&self, settings: &mut Settings) {
        if settings.state_file != self.settings.state_file {
            tracing::warn!(
                "state_file changed: restart groupsync to use {}",
                settings.state_file.display()
            );
            settings.state_file = self.settings.state_file.clone();
        }
        if settings.metrics_listen != self.settings.metrics_listen {
            tracing::warn!("metrics_listen changed: restart groupsync to apply it");
            settings.metrics_listen = self.settings.metrics_listen;
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
                    self.finish_cycle(joined);
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

/// The pod client of `settings`, counting its requests in `metrics`.
fn observed_client(settings: &Settings, metrics: &Arc<Metrics>) -> Result<Option<PodClient>> {
    let Some(mut client) = pod_client(settings, std::env::var(SESSION_TOKEN_ENV).ok())? else {
        return Ok(None);
    };
    client.set_observer(metrics.request_observer());
    Ok(Some(client))
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
/// is fed if that is more often. The watchdog task pings only while the last
/// beat is at most two of its intervals (= `WATCHDOG_USEC`) old, so a beat
/// slower than that starves a short watchdog and systemd kills a healthy daemon.
fn heartbeat_period(watchdog_interval: Option<Duration>) -> Duration {
    watchdog_interval.map_or(HEARTBEAT, |every| {
        HEARTBEAT.min(every).max(Duration::from_millis(1))
    })
}

/// Completes with the task's result when there is a task; pends forever otherwise.
async fn wait_for(
    running: &mut Option<JoinHandle<CycleDone>>,
) -> std::result::Result<CycleDone, tokio::task::JoinError> {
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

/// The first line of `text`, at most 200 characters (a STATUS= line).
fn one_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heartbeat_keeps_up_with_a_short_watchdog() {
        assert_eq!(heartbeat_period(None), HEARTBEAT);
        assert_eq!(heartbeat_period(Some(Duration::from_secs(30))), HEARTBEAT);
        assert_eq!(
            heartbeat_period(Some(Duration::from_millis(100))),
            Duration::from_millis(100)
        );
        assert_eq!(
            heartbeat_period(Some(Duration::ZERO)),
            Duration::from_millis(1)
        );
    }

    #[test]
    fn one_line_keeps_the_first_line_only() {
        assert_eq!(one_line("a\nb"), "a");
        assert_eq!(one_line(&"x".repeat(300)).len(), 200);
    }
}
