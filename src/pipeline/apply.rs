//! The apply stage: a plan's PUTs -> the pod -> the snapshot.
//!
//! At most `concurrency` PUTs are in flight. Every 200 is recorded in the
//! snapshot at once and the state file is saved every few seconds and at the
//! end, never once per group. One group's failure does not stop the others.
//! A stop request (SIGINT/SIGTERM) starts no new PUT; those in flight finish.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::Limits;
use crate::model::UserGroupResponse;
use crate::pipeline::plan::{Change, Plan};
use crate::pipeline::state::{Snapshot, StateFile, now_ms};
use crate::pod::{PodClient, PodError};
use crate::shutdown::Shutdown;

/// How often the state file is saved during a long apply.
pub const SAVE_EVERY: Duration = Duration::from_secs(3);

/// One group the pod did not update.
#[derive(Debug)]
pub struct Failure {
    pub group_id: String,
    pub source: PathBuf,
    pub error: PodError,
}

/// What an apply did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// The groups the pod updated, in the order the answers came, with its answer.
    pub applied: Vec<(String, UserGroupResponse)>,
    pub failed: Vec<Failure>,
    /// Changes never started because a stop was requested.
    pub not_started: usize,
}

impl ApplyReport {
    /// True when every planned change was applied.
    pub fn converged(&self) -> bool {
        self.failed.is_empty() && self.not_started == 0
    }
}

/// Refuses a plan over `limits` (unless forced): the whole cycle then writes nothing.
pub fn check_limits(plan: &Plan, limits: &Limits, force: bool) -> Result<(), String> {
    if force {
        return Ok(());
    }
    let changes = plan.changes.len();
    if changes > limits.max_changes {
        return Err(format!(
            "refusing to apply: the plan updates {}, more than limits.max_changes = {}; \
             nothing was written. Review it with `groupsync plan`, then rerun with --force or raise the limit",
            groups(changes),
            limits.max_changes
        ));
    }
    let deactivations = plan.deactivations();
    if deactivations > limits.max_deactivations {
        return Err(format!(
            "refusing to apply: the plan deactivates {}, more than limits.max_deactivations = {}; \
             nothing was written. Review it with `groupsync plan`, then rerun with --force or raise the limit",
            groups(deactivations),
            limits.max_deactivations
        ));
    }
    Ok(())
}

/// `1 group`, `2 groups` (as `render::counted`, which lives above this module).
fn groups(count: usize) -> String {
    match count {
        1 => "1 group".to_string(),
        _ => format!("{count} groups"),
    }
}

/// Sends the plan's PUTs and records each answer in `snapshot` (and the state file).
pub async fn apply(
    plan: &Plan,
    client: &PodClient,
    state: &StateFile,
    snapshot: &mut Snapshot,
    concurrency: usize,
    mut shutdown: Shutdown,
) -> crate::Result<ApplyReport> {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut in_flight = JoinSet::new();
    let mut report = ApplyReport::default();
    let mut last_save = Instant::now();
    let mut pending = plan.changes.iter();

    loop {
        let can_start = !shutdown.is_requested() && pending.len() > 0;
        tokio::select! {
            biased;
            Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                let (change, result): (Change, Result<UserGroupResponse, PodError>) =
                    joined.expect("an apply task never panics");
                record(&mut report, snapshot, change, result);
                if last_save.elapsed() >= SAVE_EVERY {
                    state.save(snapshot)?;
                    last_save = Instant::now();
                }
            }
            permit = permits.clone().acquire_owned(), if can_start => {
                let permit = permit.expect("the semaphore is never closed");
                let change = pending.next().expect("can_start checked that a change is pending").clone();
                let client = client.clone();
                in_flight.spawn(async move {
                    let result = client.update(&change.group_id, &change.body).await;
                    drop(permit);
                    (change, result)
                });
            }
            () = shutdown.requested(), if can_start => {}
            else => break,
        }
    }
    report.not_started = pending.len();
    state.save(snapshot)?;
    Ok(report)
}

fn record(
    report: &mut ApplyReport,
    snapshot: &mut Snapshot,
    change: Change,
    result: Result<UserGroupResponse, PodError>,
) {
    match result {
        Ok(response) => {
            tracing::info!(group_id = %change.group_id, body = %body_json(&change), "updated group");
            snapshot.record_write(&change.group_id, response.clone(), now_ms());
            report.applied.push((change.group_id, response));
        }
        Err(error) => {
            tracing::warn!(group_id = %change.group_id, "update failed: {error}");
            report.failed.push(Failure {
                group_id: change.group_id,
                source: change.source,
                error,
            });
        }
    }
}

fn body_json(change: &Change) -> String {
    serde_json::to_string(&change.body).unwrap_or_default()
}
