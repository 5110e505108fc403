//! One cycle of the pipeline: load -> refresh -> plan -> (apply). `plan`,
//! `apply` and the daemon all run exactly this; rendering is the caller's.
//!
//! A cycle reads the state file itself, every time: a plan reads it without
//! a lock and never writes it (what its refresh reads lives in memory for
//! that plan only); a writing cycle locks it for its own duration, loads it
//! under the lock, saves it, and lets go. So plans run beside the daemon, and
//! the daemon and `apply` take turns.

use std::path::Path;
use std::time::Duration;

use tracing::Instrument as _;

use crate::config::{PruneMode, RefreshMode, Settings};
use crate::desired::{load_dir, load_dir_beside};
use crate::error::{Error, Result};
use crate::model::DesiredState;
pub use crate::model::GroupCounts;
use crate::pipeline::apply::{ApplyOptions, ApplyReport, Records, apply, check_limits};
use crate::pipeline::approval::{self, OverLimits};
use crate::pipeline::journaling::Recorder;
use crate::pipeline::ownership;
use crate::pipeline::plan::{Plan, PlanOptions, plan};
use crate::pipeline::refresh::{RefreshReport, refresh};
use crate::pipeline::render::Report;
use crate::pipeline::saved::digest::{desired_digest, plan_digest};
use crate::pipeline::saved::document::{PlanOrigin, SavedPlan};
use crate::pipeline::saved::fingerprint::{self, Fingerprint};
use crate::pod::auth::AuthSource;
use crate::pod::retry::RetryPolicy;
use crate::pod::{PodClient, PodError, Timeouts, in_flight};
use crate::revision::Revision;
use crate::shutdown::Shutdown;
use crate::store::snapshot::{AppliedPlan, Snapshot, normalize_pod_url};
use crate::store::state_file::{StateFile, read_unlocked};

/// How long a writing cycle waits for another process's cycle to release
/// the state file (`--lock-timeout`).
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether a cycle may write, and how it reads first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CycleOptions {
    pub mode: CycleMode,
    pub refresh: RefreshMode,
    /// `--prune`: orphans still active are deactivated, whatever `prune:` says.
    pub prune: bool,
    /// `apply --revert-drift`: held drift is written like any change.
    pub revert_drift: bool,
    /// `plan --out`: the outcome carries the plan as a plan file saves it.
    pub save_plan: bool,
}

/// A plan, or an apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleMode {
    /// Only plan (`plan`, dry runs): the state file is read without a lock and never written.
    Plan,
    /// Send the planned PUTs (`apply`, the daemon): the state file is locked
    /// for the cycle, waiting up to `lock_timeout` for another writer.
    Apply {
        lock_timeout: Duration,
        /// Override `limits` for this cycle (`apply --force`).
        force: bool,
        /// Log each change carried out at INFO (the daemon's record); a
        /// command that prints the summary logs them at DEBUG.
        log_changes: bool,
    },
}

impl CycleOptions {
    /// A plan that reads what `refresh` selects.
    pub fn plan(refresh: RefreshMode) -> CycleOptions {
        CycleOptions {
            mode: CycleMode::Plan,
            refresh,
            prune: false,
            revert_drift: false,
            save_plan: false,
        }
    }

    /// An apply within the limits, waiting the default time for the lock.
    pub fn apply(refresh: RefreshMode) -> CycleOptions {
        CycleOptions {
            mode: CycleMode::Apply {
                lock_timeout: DEFAULT_LOCK_TIMEOUT,
                force: false,
                log_changes: false,
            },
            ..CycleOptions::plan(refresh)
        }
    }

    pub fn writes(&self) -> bool {
        matches!(self.mode, CycleMode::Apply { .. })
    }
}

/// What one cycle saw and did.
#[derive(Debug, Default)]
pub struct CycleOutcome {
    pub desired_groups: usize,
    pub refresh: RefreshReport,
    pub plan: Plan,
    /// `None` when the cycle did not write (a plan, or nothing to do).
    pub apply: Option<ApplyReport>,
    /// The revision of the groups dir the cycle planned from, when known.
    pub revision: Option<Revision>,
    /// The plan's digest ([`plan_digest`]): the same plan, the same digest.
    pub digest: String,
    /// The plan as `plan --out` saves it (only when asked: `save_plan`).
    pub saved: Option<SavedPlan>,
}

impl CycleOutcome {
    /// The outcome a saved plan holds before it is applied: its plan,
    /// revision and digest (for `show` and `apply FILE`).
    pub fn of_saved(saved: &SavedPlan) -> CycleOutcome {
        CycleOutcome {
            plan: saved.plan(),
            revision: saved.revision.clone(),
            digest: saved.digest.clone(),
            ..CycleOutcome::default()
        }
    }

    /// How many declared groups are in sync, pending and failed.
    pub fn group_counts(&self) -> GroupCounts {
        let (applied, failed) = self
            .apply
            .as_ref()
            .map_or((0, 0), |report| (report.applied.len(), report.failed.len()));
        GroupCounts {
            in_sync: self.plan.unchanged + applied,
            pending: self.plan.changes.len() - applied - failed,
            failed: failed + self.plan.errors.len(),
        }
    }

    /// What to render of this cycle.
    pub fn report(&self) -> Report<'_> {
        Report {
            plan: &self.plan,
            drift: &self.refresh.drift,
            warnings: &self.refresh.warnings,
            errors: &self.plan.errors,
            apply: self.apply.as_ref(),
            revision: self.revision.as_ref(),
            digest: Some(&self.digest),
        }
    }
}

/// The pod client the settings describe, or `None` without a pod URL (offline planning).
///
/// `env_token` is `GROUPSYNC_SESSION_TOKEN`, which wins over the config file.
pub fn pod_client(settings: &Settings, env_token: Option<String>) -> Result<Option<PodClient>> {
    let Some(pod_url) = settings.pod_url.as_deref() else {
        return Ok(None);
    };
    let auth = AuthSource::from_settings(&settings.auth, pod_url, env_token)?.ok_or_else(|| {
        Error::NoCredentials {
            pod_url: pod_url.to_string(),
        }
    })?;
    let client = PodClient::with_network(
        pod_url,
        auth,
        RetryPolicy::from(&settings.retry),
        Timeouts::default(),
        &settings.network,
    )?;
    Ok(Some(client))
}

/// Runs one cycle: loads the desired state, reads the state file (locked
/// for the cycle when it writes), refreshes, plans, and applies if asked to.
/// A cycle running longer than `cycle_timeout` is abandoned (dropped, as a
/// crash would end it: the answers saved so far stay) and fails.
pub async fn run_cycle(
    settings: &Settings,
    client: Option<&PodClient>,
    options: CycleOptions,
    stop: Shutdown,
) -> Result<CycleOutcome> {
    run_cycle_observed(settings, client, options, stop, &|_| {}).await
}

/// Sees a cycle's outcome once it has planned, before it applies (and
/// before the limits are checked): the daemon logs and counts drift there,
/// ahead of the updates that revert it.
pub type OnPlanned<'a> = &'a (dyn Fn(&CycleOutcome) + Send + Sync);

/// [`run_cycle`], calling `on_planned` between plan and apply.
pub async fn run_cycle_observed(
    settings: &Settings,
    client: Option<&PodClient>,
    options: CycleOptions,
    stop: Shutdown,
    on_planned: OnPlanned<'_>,
) -> Result<CycleOutcome> {
    let timeout = settings.cycle_timeout;
    let cycle = async {
        // Every log line of the cycle names the revision it plans from.
        let revision = revision_of(settings).await;
        let span = revision_span(revision.as_ref());
        unbounded_cycle(settings, client, (options, revision), stop, on_planned)
            .instrument(span)
            .await
    };
    tokio::time::timeout(timeout, cycle)
        .await
        .unwrap_or(Err(Error::CycleTimeout(timeout)))
}

async fn unbounded_cycle(
    settings: &Settings,
    client: Option<&PodClient>,
    (options, revision): (CycleOptions, Option<Revision>),
    stop: Shutdown,
    on_planned: OnPlanned<'_>,
) -> Result<CycleOutcome> {
    let path = settings.state_file.as_path();
    match options.mode {
        CycleMode::Plan => {
            // Both at once: a large tree is mostly parsing, a large state file too.
            let (desired, snapshot) = std::thread::scope(|scope| {
                let reader = std::thread::Builder::new()
                    .name("groupsync-state".to_string())
                    .spawn_scoped(scope, || read_unlocked(path));
                // The files are parsed on the cores the state file's reader leaves.
                let desired = load_dir_beside(&settings.groups_dir, usize::from(reader.is_ok()));
                let snapshot = match reader {
                    Ok(reader) => reader
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                    // No thread to be had: read here, after the files.
                    Err(_) => read_unlocked(path),
                };
                (desired, snapshot)
            });
            let (desired, mut snapshot) = (desired?, snapshot?);
            tie_to_pod(&mut snapshot, path, client.map(PodClient::pod_url))?;
            let refresh = refresh_from_pod(
                &desired,
                &mut snapshot,
                client,
                options,
                settings.concurrency,
            )
            .await?;
            let from = (client.map(PodClient::pod_url), revision);
            let mut outcome = planned(settings, (&desired, &snapshot), refresh, options, from);
            if options.save_plan {
                let pod_url = client.ok_or(Error::NoPod)?.pod_url().to_string();
                let origin = PlanOrigin {
                    pod_url,
                    revision: outcome.revision.clone(),
                    desired_digest: desired_digest(&desired),
                    fingerprints: fingerprint::take(&outcome.plan.changes, &snapshot),
                };
                outcome.saved = Some(SavedPlan::new(&outcome.plan, origin));
            }
            on_planned(&outcome);
            drop_aside((desired, snapshot));
            Ok(outcome)
        }
        CycleMode::Apply {
            lock_timeout,
            force,
            log_changes,
        } => {
            // Before the lock: a tree that does not load fails at once.
            let desired = load_dir(&settings.groups_dir)?;
            let state = StateFile::lock_within(path, lock_timeout, &stop).await?;
            let mut snapshot = state.load()?;
            let adopted = tie_to_pod(&mut snapshot, path, client.map(PodClient::pod_url))?;
            let refresh = refresh_from_pod(
                &desired,
                &mut snapshot,
                client,
                options,
                settings.concurrency,
            )
            .await?;
            if refresh.read > 0 || adopted {
                state.save(&snapshot)?;
            }
            let from = (client.map(PodClient::pod_url), revision);
            let mut outcome = planned(settings, (&desired, &snapshot), refresh, options, from);
            on_planned(&outcome);
            if !outcome.plan.is_empty() {
                let client = client.ok_or(Error::NoPod)?;
                let limits = (&settings.limits, settings.max_prune_fraction);
                if let Err(refusal) = check_limits(&outcome.plan, limits, force) {
                    let over = OverLimits {
                        digest: &outcome.digest,
                        revision: outcome.revision.as_ref(),
                        groups: outcome.group_counts(),
                        refusal,
                    };
                    approval::consume_or_hold(settings, client.pod_url(), over)?;
                }
                let writing = Writing {
                    settings,
                    client,
                    state: &state,
                    log_changes,
                };
                let report = apply_journaled(writing, &outcome, &mut snapshot, stop).await?;
                approval::applied(settings);
                outcome.apply = Some(report);
            }
            let report = outcome.apply.as_ref();
            let marked = ownership::record(&desired, &outcome.plan, report, &mut snapshot);
            if marked && let Err(error) = state.save(&snapshot) {
                match &mut outcome.apply {
                    Some(report) if report.save_error.is_none() => report.save_error = Some(error),
                    Some(_) => {}
                    None => return Err(error),
                }
            }
            Ok(outcome)
        }
    }
}

/// `apply FILE`: carries out a saved plan exactly, or nothing of it. It
/// never reads the groups dir: under the state file's lock it checks that
/// the plan is for this pod, reads every resource the plan touches again,
/// and refuses the whole plan, writing nothing, at the first that no longer
/// shows what the plan saw (a stale plan). Then the limits, as for any
/// apply, and the plan's requests, each journaled under the plan's digest.
/// What groupsync manages is recorded by the next cycle that reads groups.d.
/// Bounded by `cycle_timeout`, and logged under the plan's revision, as any cycle.
pub async fn run_saved(
    settings: &Settings,
    client: &PodClient,
    (saved, path): (&SavedPlan, &Path),
    options: CycleOptions,
    stop: Shutdown,
) -> Result<CycleOutcome> {
    let timeout = settings.cycle_timeout;
    let span = revision_span(saved.revision.as_ref());
    let cycle = unbounded_saved(settings, client, (saved, path), options, stop).instrument(span);
    tokio::time::timeout(timeout, cycle)
        .await
        .unwrap_or(Err(Error::CycleTimeout(timeout)))
}

async fn unbounded_saved(
    settings: &Settings,
    client: &PodClient,
    (saved, path): (&SavedPlan, &Path),
    options: CycleOptions,
    stop: Shutdown,
) -> Result<CycleOutcome> {
    let CycleMode::Apply {
        lock_timeout,
        force,
        log_changes,
    } = options.mode
    else {
        unreachable!("a saved plan is only ever applied");
    };
    saved.check_pod(path, client.pod_url())?;
    let state_path = settings.state_file.as_path();
    let state = StateFile::lock_within(state_path, lock_timeout, &stop).await?;
    let mut snapshot = state.load()?;
    tie_to_pod(&mut snapshot, state_path, Some(client.pod_url()))?;
    let mut outcome = CycleOutcome::of_saved(saved);
    // The prune limit weighs against what is managed now, not what the file says.
    outcome.plan.managed = snapshot.managed_groups().count();
    let moved = still_as_planned(saved, client, &mut snapshot, settings.concurrency).await;
    state.save(&snapshot)?;
    if let Some(moved) = moved? {
        return Err(crate::error::PlanFileError::Stale {
            path: path.to_path_buf(),
            resource: moved.resource,
            what: moved.what,
        }
        .into());
    }
    if outcome.plan.is_empty() {
        return Ok(outcome);
    }
    let limits = (&settings.limits, settings.max_prune_fraction);
    // Refused, not held: a reviewed file is forced through or made again.
    check_limits(&outcome.plan, limits, force).map_err(|refusal| Error::Refused {
        refusal,
        groups: outcome.group_counts(),
        digest: None,
    })?;
    let writing = Writing {
        settings,
        client,
        state: &state,
        log_changes,
    };
    outcome.apply = Some(apply_journaled(writing, &outcome, &mut snapshot, stop).await?);
    Ok(outcome)
}

/// What a writing cycle writes with.
struct Writing<'a> {
    settings: &'a Settings,
    client: &'a PodClient,
    state: &'a StateFile,
    log_changes: bool,
}

/// Applies `outcome`'s plan, each write journaled under its revision and
/// digest (the journal opened first: none can go unrecorded), and records
/// the plan as the last applied.
async fn apply_journaled(
    writing: Writing<'_>,
    outcome: &CycleOutcome,
    snapshot: &mut Snapshot,
    stop: Shutdown,
) -> Result<ApplyReport> {
    let Writing {
        settings,
        client,
        state,
        log_changes,
    } = writing;
    let revision = outcome.revision.as_ref();
    let mut journal = Recorder::open(settings, client, revision, Some(&outcome.digest))?;
    let records = Records {
        state,
        snapshot,
        journal: &mut journal,
        applied: Some(AppliedPlan {
            revision: revision.map(Revision::id),
            digest: outcome.digest.clone(),
            at_ms: 0,
        }),
    };
    let options = ApplyOptions {
        concurrency: settings.concurrency,
        log_changes,
    };
    apply(&outcome.plan, client, records, options, stop).await
}

/// The first resource of `saved` that no longer shows what the plan saw,
/// reading each again (and recording what it read in `snapshot`).
async fn still_as_planned(
    saved: &SavedPlan,
    client: &PodClient,
    snapshot: &mut Snapshot,
    concurrency: usize,
) -> Result<Option<fingerprint::Moved>> {
    let known_users = snapshot.usernames_by_id();
    let readings = read_fingerprints(&saved.fingerprints, client, concurrency).await;
    for (each, reading) in saved.fingerprints.iter().zip(readings) {
        if let Some(moved) = fingerprint::judge(each, reading?, snapshot, &known_users) {
            return Ok(Some(moved));
        }
    }
    Ok(None)
}

/// Reads what the pod shows now of each fingerprint's resource, at most
/// `concurrency` at a time (one after another, a plan of 1,000 changes at
/// a real pod's 100 ms took 100 s to check); answers in `fingerprints` order.
async fn read_fingerprints(
    fingerprints: &[Fingerprint],
    client: &PodClient,
    concurrency: usize,
) -> Vec<std::result::Result<fingerprint::Reading, PodError>> {
    in_flight::in_order(fingerprints.to_vec(), concurrency, |each| {
        let client = client.clone();
        async move { fingerprint::read(&each, &client).await }
    })
    .await
}

/// The span every log line of a cycle carries: `cycle{revision=...}`, when known.
fn revision_span(revision: Option<&Revision>) -> tracing::Span {
    match revision {
        Some(revision) => tracing::info_span!("cycle", revision = %revision.id()),
        None => tracing::Span::none(),
    }
}

/// The revision of the groups dir, read afresh each cycle (`git` runs off
/// the async threads); `--revision` / `GROUPSYNC_REVISION` wins.
async fn revision_of(settings: &Settings) -> Option<Revision> {
    let dir = settings.groups_dir.clone();
    let given = settings.revision.clone();
    tokio::task::spawn_blocking(move || Revision::resolve(&dir, given.as_deref()))
        .await
        .ok()
        .flatten()
}

/// Frees `value` on a thread of its own: a large tree and snapshot take a
/// while to free, and nothing waits for it (a command that exits first
/// leaves it to the operating system).
fn drop_aside<T: Send + 'static>(value: T) {
    let freed = std::thread::Builder::new()
        .name("groupsync-free".to_string())
        .spawn(move || drop(value));
    // No thread to be had: free it here.
    if let Err(error) = freed {
        tracing::debug!("freeing in place: {error}");
    }
}

/// Ties the snapshot read from `path` to the pod at `pod_url` (none: an
/// offline plan, which any snapshot serves). Fails if it describes another
/// pod; true when it adopted this one just now, so that a writing cycle records it.
pub fn tie_to_pod(snapshot: &mut Snapshot, path: &Path, pod_url: Option<&str>) -> Result<bool> {
    let Some(pod_url) = pod_url else {
        return Ok(false);
    };
    let adopting = snapshot.pod_url().is_none();
    snapshot
        .claim_for_pod(pod_url)
        .map_err(|recorded| Error::StateOfAnotherPod {
            path: path.to_path_buf(),
            recorded,
            configured: normalize_pod_url(pod_url),
        })?;
    Ok(adopting)
}

/// Reads from the pod what `options.refresh` selects into `snapshot` (nothing offline).
async fn refresh_from_pod(
    desired: &DesiredState,
    snapshot: &mut Snapshot,
    client: Option<&PodClient>,
    options: CycleOptions,
    concurrency: usize,
) -> Result<RefreshReport> {
    match client {
        Some(client) => Ok(refresh(desired, snapshot, client, options.refresh, concurrency).await?),
        None => Ok(RefreshReport::offline(desired, snapshot)),
    }
}

/// The outcome of a cycle that has planned and not (yet) applied.
/// `from`: the pod the plan is for (none: offline) and the revision it is made from.
fn planned(
    settings: &Settings,
    (desired, snapshot): (&DesiredState, &Snapshot),
    refresh: RefreshReport,
    cycle: CycleOptions,
    (pod_url, revision): (Option<&str>, Option<Revision>),
) -> CycleOutcome {
    let options = PlanOptions {
        mode: settings.update_mode,
        on_drift: settings.on_drift,
        revert_drift: cycle.revert_drift,
        prune: cycle.prune || settings.prune == PruneMode::Deactivate,
    };
    let plan = plan(desired, snapshot, &refresh.lookups, &options);
    CycleOutcome {
        desired_groups: desired.groups.len(),
        refresh,
        digest: plan_digest(pod_url, &plan.changes),
        plan,
        revision,
        ..CycleOutcome::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::PodError;
    use crate::kinds::core::Action;
    use crate::model::{GroupKey, UserGroupResponse};
    use crate::pipeline::apply::{Applied, Failure};
    use crate::pipeline::plan::Change;

    fn change(group_id: &str) -> Change {
        Change {
            action: Action::Update,
            group_id: Some(group_id.to_string()),
            key: GroupKey::Id(group_id.into()),
            source: "groups.d/g.yaml".into(),
            parts: Vec::new(),
            declared: None,
            notes: Vec::new(),
        }
    }

    /// 5 groups declared: 2 in sync, 3 to change.
    fn outcome(apply: Option<ApplyReport>) -> CycleOutcome {
        CycleOutcome {
            desired_groups: 5,
            refresh: RefreshReport::default(),
            plan: Plan {
                changes: vec![change("a"), change("b"), change("c")],
                unchanged: 2,
                ..Plan::default()
            },
            apply,
            ..CycleOutcome::default()
        }
    }

    #[test]
    fn a_plan_only_cycle_leaves_every_change_pending() {
        let counts = outcome(None).group_counts();
        let expected = GroupCounts {
            in_sync: 2,
            pending: 3,
            failed: 0,
        };
        assert_eq!(counts, expected);
    }

    #[test]
    fn applied_groups_are_in_sync_and_the_rest_failed_or_pending() {
        let report = ApplyReport {
            applied: vec![Applied {
                change: 0,
                group_id: "a".to_string(),
                response: UserGroupResponse::default(),
            }],
            failed: vec![Failure {
                change: 1,
                group_id: Some("b".to_string()),
                source: "groups.d/g.yaml".into(),
                error: PodError::Setup("no TLS backend".to_string()).into(),
            }],
            not_started: 1,
            save_error: None,
        };
        let counts = outcome(Some(report)).group_counts();
        let expected = GroupCounts {
            in_sync: 3,
            pending: 1,
            failed: 1,
        };
        assert_eq!(counts, expected);
        assert_eq!(counts.in_sync + counts.pending + counts.failed, 5);
    }
}
