//! The daemon loop on paused time: a fake cycle in place of the pipeline,
//! stop, reload and file changes sent by hand, and tokio's clock
//! (`start_paused`) moving only when every task waits. So the back-off, the
//! schedule, the coalescing and the stop grace are checked to the second, in
//! virtual time, without waiting for them.
//!
//! The tests move the clock with `sleep_until` rather than `time::advance`:
//! the paused clock then jumps from one timer to the next, in order, whereas
//! `advance` fires every timer it jumps over "at the same time" and in any order.

use std::collections::VecDeque;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::finish::one_line;
use super::report::plan_left;
use super::*;
use crate::Diagnostic;
use crate::error::PodError;
use crate::error::{Diagnostics, Error};
use crate::kinds::group::FieldChange;
use crate::kinds::seam::Lookups;
use crate::kinds::seam::{Drift, PartDrift};
use crate::model::{DesiredGroup, DesiredState, Field, FieldValue};
use crate::pipeline::apply::{Applied, ApplyReport, Failure};
use crate::pipeline::cycle::GroupCounts;
use crate::pipeline::plan::{Plan, PlanOptions, plan};
use crate::service::metrics::LIVENESS_WINDOW;
use crate::shutdown::{self, ReloadTrigger, ShutdownTrigger};
use crate::store::snapshot::Snapshot;

/// What the fake cycle does when started.
#[derive(Debug, Clone, Copy)]
enum Act {
    /// Ends at once, every group in sync.
    Succeed,
    /// Ends at once: the pod cannot be reached.
    FailOnPod,
    /// Ends at once: a safety limit refuses the plan.
    Refuse,
    /// Ends at once: a file under `groups.d/` does not load.
    Invalid,
    /// Ends at once, the PUT of one of the three groups refused by the pod.
    OneGroupFails,
    /// The cycle task panics.
    Panic,
    /// Runs this long, then ends with every group in sync.
    SucceedAfter(Duration),
    /// Ends at once, a dry run's: c3 found with this area on the pod, its change pending.
    Drifted(&'static str),
}

impl Act {
    async fn play(self) -> Result<CycleOutcome> {
        match self {
            Act::Succeed => Ok(in_sync()),
            Act::FailOnPod => Err(Error::Pod(PodError::Setup(
                "the pod cannot be reached".to_string(),
            ))),
            Act::Refuse => Err(Error::Refused {
                digest: Some("ab".repeat(32)),
                refusal: crate::error::Refusal {
                    limit: "limits.max_deactivations",
                    count: 2,
                    max: 1,
                    message: "the plan deactivates 2 groups, limits.max_deactivations is 1"
                        .to_string(),
                },
                groups: GroupCounts {
                    in_sync: 1,
                    pending: 2,
                    failed: 0,
                },
            }),
            Act::Invalid => Err(Error::Invalid(Diagnostics(vec![Diagnostic::at(
                "groups.d/emea.yaml",
                3,
                7,
                "unknown field `aera`",
            )]))),
            Act::OneGroupFails => Ok(one_group_failed()),
            Act::Panic => panic!("the fake cycle panics, as a bug would"),
            Act::SucceedAfter(duration) => {
                tokio::time::sleep(duration).await;
                Ok(in_sync())
            }
            Act::Drifted(area) => Ok(drifted(area)),
        }
    }
}

/// Three groups declared, all in sync.
fn in_sync() -> CycleOutcome {
    CycleOutcome {
        desired_groups: 3,
        refresh: Default::default(),
        plan: Plan {
            unchanged: 3,
            ..Plan::default()
        },
        apply: None,
        ..CycleOutcome::default()
    }
}

/// Three groups declared; the PUT that would bring the third in line failed.
fn one_group_failed() -> CycleOutcome {
    // A real change sends a request: one field to put back.
    let group = DesiredGroup::test("c3")
        .with_area("EMEA")
        .at("groups.d/more/others.yaml", 1, 1);
    let desired = DesiredState::new(vec![group]);
    let snapshot = Snapshot::default();
    let lookups = Lookups::offline(&desired, &snapshot);
    let change = plan(&desired, &snapshot, &lookups, &PlanOptions::default())
        .changes
        .remove(0);
    let failure = Failure {
        change: 0,
        group_id: change.group_id.clone(),
        source: change.source.clone(),
        error: PodError::Setup("the pod cannot be reached".to_string()).into(),
    };
    CycleOutcome {
        desired_groups: 3,
        refresh: Default::default(),
        plan: Plan {
            changes: vec![change],
            unchanged: 2,
            ..Plan::default()
        },
        apply: Some(ApplyReport {
            applied: Vec::new(),
            failed: vec![failure],
            not_started: 0,
            save_error: None,
        }),
        ..CycleOutcome::default()
    }
}

/// A dry run's cycle: c3 changed to `area` on the pod, the change that
/// reverts it planned and left pending.
fn drifted(area: &str) -> CycleOutcome {
    let mut outcome = CycleOutcome {
        apply: None,
        ..one_group_failed()
    };
    let mut drift = Drift::new("c3".to_string());
    drift.add(PartDrift::Group(vec![FieldChange {
        field: Field::Area,
        from: Some(FieldValue::Text("EMEA".to_string())),
        to: FieldValue::Text(area.to_string()),
    }]));
    outcome.refresh.drift.push(drift);
    outcome
}

/// One cycle the fake was asked to run: why, and when (since the loop started).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Call {
    reason: Reason,
    at: Duration,
}

fn call(reason: Reason, secs: u64) -> Call {
    Call {
        reason,
        at: Duration::from_secs(secs),
    }
}

/// Plays `script`, then `otherwise` for ever, and records every call.
struct FakeCycle {
    origin: Instant,
    script: Mutex<VecDeque<Act>>,
    otherwise: Act,
    calls: Mutex<Vec<Call>>,
    /// The options each call was given, in call order.
    options: Mutex<Vec<CycleOptions>>,
    /// One per call: `Ok` once that cycle ran to its end, `Err` if it was dropped (aborted) first.
    endings: Mutex<Vec<oneshot::Receiver<()>>>,
}

impl FakeCycle {
    fn new(script: &[Act], otherwise: Act) -> Arc<FakeCycle> {
        Arc::new(FakeCycle {
            origin: Instant::now(),
            script: Mutex::new(script.iter().copied().collect()),
            otherwise,
            calls: Mutex::new(Vec::new()),
            options: Mutex::new(Vec::new()),
            endings: Mutex::new(Vec::new()),
        })
    }

    fn as_run_cycle(self: &Arc<Self>) -> RunCycle {
        let fake = Arc::clone(self);
        Box::new(move |reason, job| fake.start(reason, job))
    }

    fn start(&self, reason: Reason, job: CycleJob) -> CycleFuture {
        let act = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(self.otherwise);
        self.calls.lock().unwrap().push(Call {
            reason,
            at: self.origin.elapsed(),
        });
        self.options.lock().unwrap().push(job.options);
        let (ended, ending) = oneshot::channel();
        self.endings.lock().unwrap().push(ending);
        Box::pin(async move {
            let result = act.play().await;
            // As the real cycle does once it has planned.
            if let Ok(outcome) = &result {
                (job.on_planned)(outcome);
            }
            let _ = ended.send(());
            result
        })
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Each call's reason, with how it reads the pod.
    fn refreshes(&self) -> Vec<(Reason, RefreshMode)> {
        let calls = self.calls();
        let options = self.options.lock().unwrap();
        calls
            .iter()
            .zip(options.iter())
            .map(|(call, options)| (call.reason, options.refresh))
            .collect()
    }

    /// Whether cycle number `index` ran to its end (true) or was aborted (false).
    async fn ran_to_its_end(&self, index: usize) -> bool {
        let ending = self.endings.lock().unwrap().remove(index);
        ending.await.is_ok()
    }
}

/// `interval: 1h`: no scheduled cycle within any of these tests.
const HOURLY: &str = "interval: 1h\n";

/// A daemon loop on a [`FakeCycle`], in a temporary folder, driven by hand.
struct Harness {
    fake: Arc<FakeCycle>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    stop: ShutdownTrigger,
    reload: ReloadTrigger,
    changes: mpsc::UnboundedSender<()>,
    running: JoinHandle<()>,
    /// `groupsync.yaml`, which a reload re-reads.
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Starts the loop with a config of `debounce: 1s` and `trigger`; the
    /// fake cycle plays `script`, then `otherwise`.
    fn start(trigger: &str, script: &[Act], otherwise: Act) -> Harness {
        Harness::start_with(DaemonOptions::default(), trigger, script, otherwise)
    }

    /// [`Harness::start`] with the flags of `run` given.
    fn start_with(
        options: DaemonOptions,
        trigger: &str,
        script: &[Act],
        otherwise: Act,
    ) -> Harness {
        let dir = tempfile::tempdir().expect("a temporary folder");
        Harness::start_in(
            dir,
            Notifier::default(),
            options,
            trigger,
            script,
            otherwise,
        )
    }

    /// [`Harness::start`] with a systemd listening, its watchdog fed every second.
    fn start_with_systemd(trigger: &str, script: &[Act], otherwise: Act) -> (Harness, Systemd) {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let systemd = Systemd::bind(dir.path());
        let notifier = Notifier::with_socket(Some(systemd.path.clone()), Some(2_000_000));
        let options = DaemonOptions::default();
        let harness = Harness::start_in(dir, notifier, options, trigger, script, otherwise);
        (harness, systemd)
    }

    fn start_in(
        dir: tempfile::TempDir,
        notifier: Notifier,
        options: DaemonOptions,
        trigger: &str,
        script: &[Act],
        otherwise: Act,
    ) -> Harness {
        std::fs::create_dir(dir.path().join("groups.d")).unwrap();
        let config = dir.path().join("groupsync.yaml");
        write_config(&config, trigger);
        let overrides = Overrides {
            config: Some(config.clone()),
            ..Overrides::default()
        };
        let settings = Settings::resolve(&overrides).expect("the test config is valid");
        let (changes, changes_received) = mpsc::unbounded_channel();
        let mut daemon = Daemon::start(overrides, settings, options, changes.clone())
            .expect("the daemon starts");
        let fake = FakeCycle::new(script, otherwise);
        daemon.cycle = fake.as_run_cycle();
        daemon.notifier = Arc::new(notifier);
        let metrics = daemon.metrics.clone();
        let health = daemon.health.clone();
        let (stop, stop_received) = shutdown::channel();
        let (reload, reloads) = shutdown::reload_channel();
        let running = tokio::spawn(async move {
            daemon
                .run_loop(stop_received, reloads, changes_received)
                .await;
        });
        Harness {
            fake,
            metrics,
            health,
            stop,
            reload,
            changes,
            running,
            config,
            _dir: dir,
        }
    }

    /// Rewrites the config file with another `trigger` (for the next reload).
    fn rewrite_config(&self, trigger: &str) {
        write_config(&self.config, trigger);
    }

    /// Lets the clock run to `secs` seconds after the start; the loop's timers fire on the way.
    /// (Pick times no timer of the loop fires at: which of two goes first is up to tokio.)
    async fn run_until(&self, secs: u64) {
        self.run_until_ms(secs * 1_000).await;
    }

    async fn run_until_ms(&self, millis: u64) {
        sleep_until(self.fake.origin + Duration::from_millis(millis)).await;
    }

    /// [`Harness::run_until`] a second at a time, collecting what `systemd`
    /// hears on the way (its queue holds only a few messages).
    async fn run_until_hearing(&self, systemd: &Systemd, secs: u64) {
        let now = self.fake.origin.elapsed().as_millis() as u64;
        for millis in (now..secs * 1_000).step_by(1_000).skip(1) {
            self.run_until_ms(millis).await;
            systemd.listen();
        }
        self.run_until(secs).await;
        systemd.listen();
    }

    fn calls(&self) -> Vec<Call> {
        self.fake.calls()
    }

    fn file_changed(&self) {
        self.changes.send(()).expect("the loop listens");
    }

    /// The value of one series of the daemon's metrics, e.g. `name{label="x"}`.
    fn metric(&self, series: &str) -> Option<f64> {
        let text = self.metrics.encode();
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|value| value.parse().expect("a number"))
    }

    fn cycle_failures(&self, kind: &str) -> Option<f64> {
        self.metric(&format!(
            "groupsync_cycle_failures_total{{kind=\"{kind}\"}}"
        ))
    }

    /// Requests a stop and waits for the loop to end; returns how long that took.
    async fn stop(self) -> Duration {
        let stopped = Instant::now();
        self.stop.trigger();
        self.running.await.expect("the loop does not panic");
        stopped.elapsed()
    }
}

/// A service manager for the loop to notify: a datagram socket, read on demand.
struct Systemd {
    path: PathBuf,
    socket: UnixDatagram,
    heard: Mutex<Vec<String>>,
}

impl Systemd {
    fn bind(dir: &Path) -> Systemd {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        socket.set_nonblocking(true).unwrap();
        Systemd {
            path,
            socket,
            heard: Mutex::new(Vec::new()),
        }
    }

    /// Reads every message waiting.
    fn listen(&self) {
        let mut buffer = [0u8; 4096];
        while let Ok(length) = self.socket.recv(&mut buffer) {
            let message = String::from_utf8_lossy(&buffer[..length]).into_owned();
            self.heard.lock().unwrap().push(message);
        }
    }

    /// Every message heard since the last call.
    fn take(&self) -> Vec<String> {
        self.listen();
        std::mem::take(&mut *self.heard.lock().unwrap())
    }
}

fn watchdog_pings(messages: &[String]) -> usize {
    messages
        .iter()
        .filter(|message| *message == "WATCHDOG=1\n")
        .count()
}

/// The test config: `groups.d/` and the state file beside it, `debounce: 1s`, then `trigger`.
fn write_config(path: &Path, trigger: &str) {
    let text =
        format!("groups_dir: groups.d\nstate_file: groupsync.state.json\ndebounce: 1s\n{trigger}");
    std::fs::write(path, text).unwrap();
}

fn reasons(calls: &[Call]) -> Vec<Reason> {
    calls.iter().map(|call| call.reason).collect()
}

/// The seconds between one call and the next.
fn gaps(calls: &[Call]) -> Vec<u64> {
    calls
        .windows(2)
        .map(|pair| (pair[1].at - pair[0].at).as_secs())
        .collect()
}

// ---------------------------------------------------------------------------
// Failures and the back-off
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_failing_cycle_is_retried_after_10s_then_doubling_up_to_5_minutes() {
    let daemon = Harness::start(HOURLY, &[], Act::FailOnPod);
    daemon.run_until(1_000).await;
    let calls = daemon.calls();
    assert_eq!(gaps(&calls), [10, 20, 40, 80, 160, 300, 300], "{calls:?}");
    assert_eq!(reasons(&calls[..2]), [Reason::Start, Reason::Retry]);
    assert!(reasons(&calls[1..]).iter().all(|r| *r == Reason::Retry));
    assert_eq!(daemon.cycle_failures("pod"), Some(8.0));
    assert_eq!(
        daemon.metric("groupsync_cycles_total{result=\"failure\"}"),
        Some(8.0)
    );
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_success_starts_the_back_off_again_from_10s() {
    let script = [Act::FailOnPod, Act::FailOnPod, Act::Succeed];
    let daemon = Harness::start(HOURLY, &script, Act::FailOnPod);
    daemon.run_until(100).await;
    daemon.file_changed();
    daemon.run_until(150).await;
    let expected = [
        call(Reason::Start, 0),
        call(Reason::Retry, 10),
        call(Reason::Retry, 30),
        call(Reason::FileChange, 101),
        call(Reason::Retry, 111),
        call(Reason::Retry, 131),
    ];
    assert_eq!(daemon.calls(), expected);
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_plan_is_not_retried_it_waits_for_a_person() {
    let daemon = Harness::start(HOURLY, &[], Act::Refuse);
    daemon.run_until(1_000).await;
    assert_eq!(daemon.calls(), [call(Reason::Start, 0)]);
    assert_eq!(daemon.cycle_failures("refused"), Some(1.0));
    assert_eq!(daemon.cycle_failures("pod"), Some(0.0));

    // The loop still listens: a fixed file gets its cycle.
    daemon.file_changed();
    daemon.run_until(1_100).await;
    assert_eq!(
        daemon.calls(),
        [call(Reason::Start, 0), call(Reason::FileChange, 1_001)]
    );
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_invalid_desired_state_is_not_retried_it_waits_for_a_file_change() {
    let daemon = Harness::start(HOURLY, &[Act::Invalid], Act::Succeed);
    daemon.run_until(1_000).await;
    assert_eq!(daemon.calls(), [call(Reason::Start, 0)]);
    assert_eq!(daemon.cycle_failures("invalid_input"), Some(1.0));
    assert_eq!(
        daemon.metric("groupsync_cycles_total{result=\"invalid\"}"),
        Some(1.0)
    );
    daemon.file_changed();
    daemon.run_until(1_100).await;
    assert_eq!(daemon.calls().len(), 2, "the fixed file gets its cycle");
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_cycle_with_a_failed_put_is_retried_with_back_off() {
    let daemon = Harness::start(HOURLY, &[], Act::OneGroupFails);
    daemon.run_until(100).await;
    let calls = daemon.calls();
    assert_eq!(gaps(&calls), [10, 20, 40], "{calls:?}");
    assert_eq!(
        daemon.metric("groupsync_groups{state=\"failed\"}"),
        Some(1.0)
    );
    assert_eq!(
        daemon.metric("groupsync_groups{state=\"in_sync\"}"),
        Some(2.0)
    );
    assert_eq!(
        daemon.metric("groupsync_cycles_total{result=\"failure\"}"),
        Some(4.0)
    );
    // Not an error: the cycle ran to its end.
    assert_eq!(daemon.cycle_failures("pod"), Some(0.0));
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_panicking_cycle_is_retried_and_the_loop_lives_on() {
    let daemon = Harness::start(HOURLY, &[Act::Panic], Act::Succeed);
    daemon.run_until(100).await;
    assert_eq!(
        daemon.calls(),
        [call(Reason::Start, 0), call(Reason::Retry, 10)]
    );
    assert_eq!(
        daemon.metric("groupsync_cycles_total{result=\"success\"}"),
        Some(1.0)
    );
    daemon.stop().await;
}

// ---------------------------------------------------------------------------
// Triggers
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_schedule_starts_a_cycle_every_interval() {
    let daemon = Harness::start("interval: 60s\n", &[], Act::Succeed);
    daemon.run_until(200).await;
    let expected = [
        call(Reason::Start, 0),
        call(Reason::Schedule, 60),
        call(Reason::Schedule, 120),
        call(Reason::Schedule, 180),
    ];
    assert_eq!(daemon.calls(), expected);
    assert_eq!(
        daemon.metric("groupsync_cycles_total{result=\"success\"}"),
        Some(4.0)
    );
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_file_changes_is_one_cycle_a_debounce_after_the_last() {
    // `debounce: 1s`: each change moves the cycle to 1 s after it.
    let daemon = Harness::start(HOURLY, &[], Act::Succeed);
    for millis in [10_000, 10_000, 10_500, 11_400] {
        daemon.run_until_ms(millis).await;
        daemon.file_changed();
    }
    daemon.run_until(100).await;
    let debounced = Call {
        reason: Reason::FileChange,
        at: Duration::from_millis(12_400),
    };
    assert_eq!(daemon.calls(), [call(Reason::Start, 0), debounced]);
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_reload_rereads_the_config_and_runs_a_cycle() {
    let daemon = Harness::start(HOURLY, &[], Act::Succeed);
    daemon.run_until(100).await;
    daemon.rewrite_config("interval: 30s\n");
    assert!(daemon.reload.request());
    daemon.run_until(150).await;
    let expected = [
        call(Reason::Start, 0),
        call(Reason::Reload, 100),
        call(Reason::Schedule, 130),
    ];
    assert_eq!(daemon.calls(), expected);
    assert_eq!(daemon.metric("groupsync_config_valid"), Some(1.0));
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_broken_config_on_reload_is_refused_and_the_old_one_kept() {
    let daemon = Harness::start("interval: 60s\n", &[], Act::Succeed);
    daemon.run_until(30).await;
    daemon.rewrite_config("interval: [\n");
    assert!(daemon.reload.request());
    daemon.run_until(100).await;
    let expected = [
        call(Reason::Start, 0),
        call(Reason::Reload, 30),
        call(Reason::Schedule, 60),
    ];
    assert_eq!(daemon.calls(), expected, "the old schedule stays");
    assert_eq!(daemon.metric("groupsync_config_valid"), Some(0.0));
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn triggers_during_a_cycle_merge_into_one_follow_up_cycle() {
    // The first cycle runs from 0 to 60 s; meanwhile a file changes (10 s,
    // debounced to 11 s), the schedule fires (50 s) and a reload arrives
    // (55 s, which also moves the next schedule to 105 s).
    let script = [Act::SucceedAfter(Duration::from_secs(60))];
    let daemon = Harness::start("interval: 50s\n", &script, Act::Succeed);
    daemon.run_until(10).await;
    daemon.file_changed();
    daemon.run_until(55).await;
    assert!(daemon.reload.request());
    daemon.run_until(59).await;
    assert_eq!(
        daemon.calls(),
        [call(Reason::Start, 0)],
        "never two at once"
    );
    daemon.run_until(100).await;
    assert_eq!(
        daemon.calls(),
        [call(Reason::Start, 0), call(Reason::FileChange, 60)]
    );
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_interval_schedule_fires_one_interval_from_now() {
    let every = Duration::from_secs(90);
    assert_eq!(next_fire(&Trigger::Interval(every)), Instant::now() + every);
}

#[tokio::test(start_paused = true)]
async fn a_cron_schedule_fires_at_its_next_occurrence() {
    let every_minute = crate::config::CronSchedule::parse("* * * * *").unwrap();
    let wait = next_fire(&Trigger::Cron(every_minute)) - Instant::now();
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
    let yearly = crate::config::CronSchedule::parse("0 0 1 1 *").unwrap();
    let wait = next_fire(&Trigger::Cron(yearly)) - Instant::now();
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(366 * 86_400),
        "{wait:?}"
    );
}

// ---------------------------------------------------------------------------
// What a cycle reads and may write
// ---------------------------------------------------------------------------

/// A start, a file change at 20 s (debounced to 21 s), the schedule at 60 s, a reload at 65 s.
async fn one_cycle_of_each_reason(daemon: &Harness) {
    daemon.run_until(20).await;
    daemon.file_changed();
    daemon.run_until(65).await;
    assert!(daemon.reload.request());
    daemon.run_until(75).await;
}

#[tokio::test(start_paused = true)]
async fn by_default_a_file_change_plans_from_the_snapshot_and_every_other_cycle_reads_the_pod() {
    let daemon = Harness::start("interval: 60s\n", &[Act::FailOnPod], Act::Succeed);
    one_cycle_of_each_reason(&daemon).await;
    let expected = [
        (Reason::Start, RefreshMode::Always),
        (Reason::Retry, RefreshMode::Always),
        (Reason::FileChange, RefreshMode::Missing),
        (Reason::Schedule, RefreshMode::Always),
        (Reason::Reload, RefreshMode::Always),
    ];
    assert_eq!(daemon.fake.refreshes(), expected);
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn refresh_in_the_config_decides_for_every_cycle() {
    let daemon = Harness::start("interval: 60s\nrefresh: missing\n", &[], Act::Succeed);
    one_cycle_of_each_reason(&daemon).await;
    let refreshes = daemon.fake.refreshes();
    assert_eq!(refreshes.len(), 4, "{refreshes:?}");
    assert!(
        refreshes
            .iter()
            .all(|(_, refresh)| *refresh == RefreshMode::Missing),
        "{refreshes:?}"
    );
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn run_refresh_reads_every_declared_group_on_every_cycle_even_over_the_config() {
    let options = DaemonOptions {
        refresh_every_cycle: true,
        ..DaemonOptions::default()
    };
    let trigger = "interval: 60s\nrefresh: missing\n";
    let daemon = Harness::start_with(options, trigger, &[], Act::Succeed);
    one_cycle_of_each_reason(&daemon).await;
    let refreshes = daemon.fake.refreshes();
    assert_eq!(refreshes.len(), 4, "{refreshes:?}");
    assert!(
        refreshes
            .iter()
            .all(|(_, refresh)| *refresh == RefreshMode::Always),
        "{refreshes:?}"
    );
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_cycle_applies_unforced_within_the_lock_timeout_and_a_dry_run_only_plans() {
    let options = DaemonOptions {
        lock_timeout: Duration::from_millis(1_500),
        ..DaemonOptions::default()
    };
    let daemon = Harness::start_with(options, HOURLY, &[], Act::Succeed);
    daemon.run_until(1).await;
    let mode = daemon.fake.options.lock().unwrap()[0].mode;
    let expected = CycleMode::Apply {
        lock_timeout: Duration::from_millis(1_500),
        force: false,
        log_changes: true,
    };
    assert_eq!(mode, expected);
    daemon.stop().await;

    let dry_run = DaemonOptions {
        dry_run: true,
        ..DaemonOptions::default()
    };
    let daemon = Harness::start_with(dry_run, HOURLY, &[], Act::Succeed);
    daemon.run_until(1).await;
    assert_eq!(daemon.fake.options.lock().unwrap()[0].mode, CycleMode::Plan);
    daemon.stop().await;
}

#[test]
fn a_daemon_on_the_state_file_of_another_pod_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.json");
    let mut snapshot = crate::store::snapshot::Snapshot::default();
    snapshot.claim_for_pod("https://a.example/pod").unwrap();
    std::fs::write(&state_file, snapshot.to_json()).unwrap();
    let overrides = Overrides {
        groups_dir: Some(dir.path().join("groups.d")),
        state_file: Some(state_file.clone()),
        pod_url: Some("https://b.example/pod".to_string()),
        ..Overrides::default()
    };
    let settings = Settings::from_overrides(&overrides).unwrap();
    let (changes, _received) = mpsc::unbounded_channel();
    let error = Daemon::start(overrides, settings, DaemonOptions::default(), changes)
        .err()
        .expect("refused");
    assert!(
        matches!(&error, Error::StateOfAnotherPod { recorded, configured, .. }
            if recorded == "https://a.example/pod" && configured == "https://b.example/pod"),
        "{error}"
    );
    assert_eq!(std::fs::read(&state_file).unwrap(), snapshot.to_json());
}

#[test]
fn the_refresh_mode_follows_the_flag_then_the_config_then_the_reason() {
    use RefreshMode::{Always, Missing};
    assert_eq!(refresh_mode(Reason::FileChange, None, false), Missing);
    assert_eq!(refresh_mode(Reason::Schedule, None, false), Always);
    assert_eq!(
        refresh_mode(Reason::Schedule, Some(Missing), false),
        Missing
    );
    assert_eq!(
        refresh_mode(Reason::FileChange, Some(Always), false),
        Always
    );
    assert_eq!(
        refresh_mode(Reason::FileChange, Some(Missing), true),
        Always
    );
}

// ---------------------------------------------------------------------------
// Readiness, liveness and the watchdog
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn ready_is_sent_once_set_up_before_the_first_cycle_ends() {
    let script = [Act::SucceedAfter(Duration::from_secs(100))];
    let (daemon, systemd) = Harness::start_with_systemd(HOURLY, &script, Act::Succeed);
    daemon.run_until_hearing(&systemd, 10).await;
    let heard = systemd.take();
    assert_eq!(
        heard[..2],
        ["READY=1\n", "STATUS=started, first cycle running\n"],
        "{heard:?}"
    );
    assert!(watchdog_pings(&heard) >= 5, "{heard:?}");
    assert_eq!(
        daemon.health.not_ready_reason(),
        Some("no successful cycle yet")
    );

    daemon.run_until_hearing(&systemd, 110).await;
    let heard = systemd.take();
    assert!(
        heard.contains(&"STATUS=in sync: 3 groups; last change none yet\n".to_string()),
        "the first cycle's outcome goes in STATUS=: {heard:?}"
    );
    assert!(daemon.health.is_ready());
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_dead_pod_leaves_the_daemon_ready_alive_and_feeding_the_watchdog() {
    let (daemon, systemd) = Harness::start_with_systemd(HOURLY, &[], Act::FailOnPod);
    daemon.run_until_hearing(&systemd, 100).await;
    let heard = systemd.take();
    assert_eq!(heard[0], "READY=1\n", "{heard:?}");
    assert!(watchdog_pings(&heard) >= 90, "{heard:?}");
    assert!(daemon.health.is_alive(LIVENESS_WINDOW));
    assert!(!daemon.health.is_ready());
    assert!(daemon.calls().len() > 2, "retried: {:?}", daemon.calls());
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_cycle_running_past_cycle_timeout_is_stuck_until_it_ends() {
    // cycle_timeout 60s: stuck from 65 s (STUCK_GRACE later) until the cycle ends at 200 s.
    let script = [Act::SucceedAfter(Duration::from_secs(200))];
    let trigger = "interval: 1h\ncycle_timeout: 60s\n";
    let (daemon, systemd) = Harness::start_with_systemd(trigger, &script, Act::Succeed);
    daemon.run_until_hearing(&systemd, 60).await;
    assert!(daemon.health.is_alive(LIVENESS_WINDOW));
    assert!(watchdog_pings(&systemd.take()) >= 50);

    daemon.run_until_hearing(&systemd, 70).await;
    let heard = systemd.take();
    let stuck = heard
        .iter()
        .position(|message| {
            message == "STATUS=stuck: a cycle has run for longer than cycle_timeout (1m)\n"
        })
        .unwrap_or_else(|| panic!("no STATUS=stuck: {heard:?}"));
    assert_eq!(watchdog_pings(&heard[stuck..]), 0, "{heard:?}");
    assert_eq!(
        daemon.health.not_alive_reason(LIVENESS_WINDOW).as_deref(),
        Some("a cycle has run for longer than cycle_timeout and could not be abandoned")
    );

    daemon.file_changed();
    daemon.run_until_hearing(&systemd, 190).await;
    assert_eq!(watchdog_pings(&systemd.take()), 0, "starved while stuck");
    assert_eq!(
        daemon.calls(),
        [call(Reason::Start, 0)],
        "never two at once"
    );

    daemon.run_until_hearing(&systemd, 210).await;
    assert!(daemon.health.is_alive(LIVENESS_WINDOW), "the cycle ended");
    assert!(watchdog_pings(&systemd.take()) >= 5, "fed again");
    assert_eq!(
        daemon.calls(),
        [call(Reason::Start, 0), call(Reason::FileChange, 200)]
    );
    daemon.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_plan_counts_its_changes_pending_and_unreadies_until_one_within_the_limits() {
    let script = [Act::Succeed, Act::Refuse];
    let daemon = Harness::start(HOURLY, &script, Act::Succeed);
    daemon.run_until(10).await;
    assert!(daemon.health.is_ready());

    daemon.file_changed();
    daemon.run_until(20).await;
    let groups = |state| daemon.metric(&format!("groupsync_groups{{state=\"{state}\"}}"));
    assert_eq!(groups("pending"), Some(2.0));
    assert_eq!(groups("in_sync"), Some(1.0));
    assert_eq!(groups("failed"), Some(0.0));
    assert_eq!(
        daemon.health.not_ready_reason(),
        Some("a safety limit refused the last plan; its changes are pending")
    );
    assert_eq!(
        daemon.calls().len(),
        2,
        "not retried: it waits for a person"
    );

    daemon.file_changed();
    daemon.run_until(30).await;
    assert!(daemon.health.is_ready());
    assert_eq!(groups("pending"), Some(0.0));
    assert_eq!(groups("in_sync"), Some(3.0));
    daemon.stop().await;
}

// ---------------------------------------------------------------------------
// Stopping
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_stop_while_idle_ends_the_loop_at_once() {
    let daemon = Harness::start(HOURLY, &[], Act::Succeed);
    daemon.run_until(5).await;
    assert_eq!(daemon.stop().await, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_stop_waits_for_the_cycle_in_flight_to_finish() {
    let script = [Act::SucceedAfter(Duration::from_secs(30))];
    let daemon = Harness::start(HOURLY, &script, Act::Succeed);
    daemon.run_until(15).await;
    let (fake, metrics) = (daemon.fake.clone(), daemon.metrics.clone());
    assert_eq!(daemon.stop().await, Duration::from_secs(15));
    assert!(fake.ran_to_its_end(0).await);
    assert!(
        metrics
            .encode()
            .contains("groupsync_cycles_total{result=\"success\"} 1\n"),
        "the finished cycle is taken in"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_aborts_the_cycle_still_running_after_the_grace_period() {
    let script = [Act::SucceedAfter(Duration::from_secs(3_600))];
    let daemon = Harness::start(HOURLY, &script, Act::Succeed);
    daemon.run_until(15).await;
    let fake = daemon.fake.clone();
    assert_eq!(daemon.stop().await, STOP_GRACE);
    assert!(!fake.ran_to_its_end(0).await, "the cycle was aborted");
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

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

#[test]
fn the_plan_left_after_a_write_is_what_did_not_get_applied() {
    // Nothing written: all of it is left.
    let failed = one_group_failed();
    let (plan, _) = plan_left(&CycleOutcome {
        apply: None,
        ..one_group_failed()
    });
    assert_eq!(plan, failed.plan);

    // c3 failed: still to do. Had it been applied, it would be in sync.
    let (plan, _) = plan_left(&failed);
    assert_eq!(plan, failed.plan);
    let mut applied = one_group_failed();
    let report = applied.apply.as_mut().unwrap();
    report.failed.clear();
    report.applied.push(Applied {
        change: 0,
        group_id: "c3".to_string(),
        response: Default::default(),
    });
    applied.refresh.drift.push(Drift::new("c3".to_string()));
    let (plan, drift) = plan_left(&applied);
    assert_eq!(
        plan,
        Plan {
            changes: Vec::new(),
            unchanged: 3,
            ..applied.plan.clone()
        }
    );
    assert!(drift.is_empty(), "reverted drift is no longer shown");
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_counts_drift_once_until_it_changes() {
    let dry_run = DaemonOptions {
        dry_run: true,
        ..DaemonOptions::default()
    };
    let script = [
        Act::Drifted("GLOBAL"),
        Act::Drifted("GLOBAL"),
        Act::Drifted("GLOBAL"),
        Act::Drifted("APAC"),
    ];
    let daemon = Harness::start_with(dry_run, "interval: 10s\n", &script, Act::Succeed);
    let drift = || daemon.metric("groupsync_drift_total");
    daemon.run_until(1).await;
    assert_eq!(drift(), Some(1.0), "seen at start");
    daemon.run_until(25).await;
    assert_eq!(
        drift(),
        Some(1.0),
        "seen again on two scheduled cycles, not counted again"
    );
    daemon.run_until(35).await;
    assert_eq!(drift(), Some(2.0), "drifted otherwise");
    daemon.stop().await;
}
