//! The apply stage: a plan's requests -> the pod -> the snapshot.
//!
//! At most `concurrency` changes are in flight. Every answer is recorded in
//! the snapshot at once and the state file is saved every few seconds and at
//! the end, never once per group. One group's failure does not stop the
//! others. A stop request (SIGINT/SIGTERM) starts no new change; those in
//! flight finish.
//!
//! A create is a POST ([`PodClient::create_once`], which never makes two
//! groups of one POST), then, when the group is declared otherwise than the
//! pod made it (`active: false`), a PUT of the difference. The new group is
//! recorded even when that PUT fails, so that the next plan finds it by name.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::Limits;
use crate::model::UserGroupResponse;
use crate::pipeline::plan::{Action, Change, Plan, minimal_body};
use crate::pipeline::state::{Snapshot, StateFile, now_ms};
use crate::pod::{Created, PodClient, PodError};
use crate::shutdown::Shutdown;

/// How often the state file is saved during a long apply.
pub const SAVE_EVERY: Duration = Duration::from_secs(3);

/// One change the pod carried out.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The change's index in the plan.
    pub change: usize,
    /// The group's id (a created group's new one).
    pub group_id: String,
    /// The pod's answer to the last request.
    pub response: UserGroupResponse,
}

/// One change the pod did not carry out (in full).
#[derive(Debug)]
pub struct Failure {
    /// The change's index in the plan.
    pub change: usize,
    /// `None` for a create that made no group.
    pub group_id: Option<String>,
    pub source: PathBuf,
    pub error: PodError,
}

/// What an apply did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// The changes carried out, in the order the answers came.
    pub applied: Vec<Applied>,
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
        let creates = match plan.creates() {
            0 => String::new(),
            creates => format!(" ({creates} of them created)"),
        };
        return Err(format!(
            "refusing to apply: the plan updates {}{creates}, more than limits.max_changes = {}; \
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

/// What one change's requests came to.
struct Done {
    index: usize,
    change: Change,
    /// The pod's group as the last answer showed it, to record even after a
    /// later failure (a created group whose follow-up PUT failed).
    recorded: Option<(String, UserGroupResponse)>,
    outcome: Result<(), PodError>,
}

/// Sends the plan's requests and records each answer in `snapshot` (and the state file).
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
    let mut pending = plan.changes.iter().enumerate();

    loop {
        let can_start = !shutdown.is_requested() && pending.len() > 0;
        tokio::select! {
            biased;
            Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                let done: Done = joined.expect("an apply task never panics");
                record(&mut report, snapshot, done);
                if last_save.elapsed() >= SAVE_EVERY {
                    state.save(snapshot)?;
                    last_save = Instant::now();
                }
            }
            permit = permits.clone().acquire_owned(), if can_start => {
                let permit = permit.expect("the semaphore is never closed");
                let (index, change) = pending.next().expect("can_start checked that a change is pending");
                let (change, client) = (change.clone(), client.clone());
                in_flight.spawn(async move {
                    let done = send(index, change, &client).await;
                    drop(permit);
                    done
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

/// Sends one change's requests.
async fn send(index: usize, change: Change, client: &PodClient) -> Done {
    let (recorded, outcome) = match (&change.group_id, change.action) {
        (Some(id), Action::Update | Action::Adopt) => match client.update(id, &change.body).await {
            Ok(response) => (Some((id.clone(), response)), Ok(())),
            Err(error) => (None, Err(error)),
        },
        _ => create(&change, client).await,
    };
    Done {
        index,
        change,
        recorded,
        outcome,
    }
}

/// A create's POST, then the PUT of whatever the new group still lacks.
async fn create(
    change: &Change,
    client: &PodClient,
) -> (Option<(String, UserGroupResponse)>, Result<(), PodError>) {
    let post = change
        .create
        .as_ref()
        .expect("a change without a group id is a create");
    let created = match client.create_once(post).await {
        Ok(created) => created,
        Err(error) => return (None, Err(error)),
    };
    if let Created::FoundAfterFailure(group) = &created {
        tracing::warn!(
            group_id = group.id.as_deref().unwrap_or_default(),
            "the answer to the POST of {:?} was lost; the pod had created it, and this is that group",
            post.name
        );
    }
    let group = created.group().clone();
    let Some(id) = group.id.clone().filter(|id| !id.is_empty()) else {
        let error = PodError::Decode {
            method: "POST",
            path: crate::model::USERGROUPS_PATH.to_string(),
            reason: "the new group has no id".to_string(),
        };
        return (None, Err(error));
    };
    let follow_up = minimal_body(&change.desired, &group);
    if follow_up.is_empty() {
        return (Some((id, group)), Ok(()));
    }
    match client.update(&id, &follow_up).await {
        Ok(updated) => (Some((id, updated)), Ok(())),
        Err(error) => (Some((id, group)), Err(error)),
    }
}

fn record(report: &mut ApplyReport, snapshot: &mut Snapshot, done: Done) {
    let Done {
        index,
        change,
        recorded,
        outcome,
    } = done;
    if let Some((id, response)) = &recorded {
        snapshot.record_write(id, response.clone(), now_ms());
    }
    match (outcome, recorded) {
        (Ok(()), Some((group_id, response))) => {
            let requests: Vec<String> = change.requests().iter().map(ToString::to_string).collect();
            tracing::info!(%group_id, requests = %requests.join("; "), "{} group", past_tense(change.action));
            report.applied.push(Applied {
                change: index,
                group_id,
                response,
            });
        }
        (outcome, recorded) => {
            let error = outcome.expect_err("a change without an answer failed");
            let group_id = recorded.map(|(id, _)| id).or(change.group_id);
            tracing::warn!(group = %change.key, "{} failed: {error}", change_noun(change.action));
            report.failed.push(Failure {
                change: index,
                group_id,
                source: change.source,
                error,
            });
        }
    }
}

/// `created`, `adopted`, `updated`.
pub fn past_tense(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Adopt => "adopted",
        Action::Update => "updated",
    }
}

fn change_noun(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Adopt | Action::Update => "update",
    }
}
