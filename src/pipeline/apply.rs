//! The apply stage: a plan's requests -> the pod -> the snapshot.
//!
//! At most `concurrency` changes are in flight. Every answer is recorded in
//! the snapshot at once and the state file is saved every few seconds and at
//! the end, never once per group. One group's failure does not stop the
//! others. A stop request (SIGINT/SIGTERM) starts no new change; those in
//! flight finish.
//!
//! A change's parts are sent in kind order, each by its kind
//! ([`crate::kinds::seam::Part::send`]): the group's own requests first (a create's POST gives
//! the others its id), then its members and assignees, one PUT per user.
//! The first failure ends the change; whatever the pod took before it is
//! recorded ([`crate::kinds::seam::Part::record`]), so that the next plan neither repeats it nor
//! creates a group twice.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::{LIMITS, Limit, Limits};
use crate::error::Refusal;
use crate::kinds::core::{Action, Sent};
use crate::model::UserGroupResponse;
use crate::pipeline::plan::{Change, Plan};
use crate::pod::{PodClient, PodError};
use crate::shutdown::Shutdown;
use crate::store::snapshot::Snapshot;
use crate::store::state_file::StateFile;

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

/// Refuses a plan over `limits` (unless forced): the whole cycle then
/// writes nothing. The limits are checked in the table's order; the first
/// one exceeded is the one the refusal names.
pub fn check_limits(plan: &Plan, limits: &Limits, force: bool) -> Result<(), Refusal> {
    if force {
        return Ok(());
    }
    for spec in &LIMITS {
        let (count, max) = (plan.count(spec.limit), limits.value(spec));
        if count <= max {
            continue;
        }
        let detail = match (spec.limit, plan.creates()) {
            (Limit::Changes, creates) if creates > 0 => format!(" ({creates} of them created)"),
            _ => String::new(),
        };
        return Err(Refusal {
            limit: spec.key,
            count,
            max,
            message: spec.refusal(count, &detail, max),
        });
    }
    Ok(())
}

/// What one change's requests came to.
struct Done {
    index: usize,
    change: Change,
    /// The group's id once known, and every write the pod took, to record
    /// even after a later failure (a created group whose next request failed).
    sent: Sent,
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

/// Sends one change's requests, part by part in kind order; the first failure ends it.
async fn send(index: usize, change: Change, client: &PodClient) -> Done {
    let mut sent = Sent {
        group_id: change.group_id.clone(),
        ..Sent::default()
    };
    let mut outcome = Ok(());
    for part in &change.parts {
        if let Err(error) = part.send(client, &mut sent).await {
            outcome = Err(error);
            break;
        }
    }
    Done {
        index,
        change,
        sent,
        outcome,
    }
}

fn record(report: &mut ApplyReport, snapshot: &mut Snapshot, done: Done) {
    let Done {
        index,
        change,
        sent,
        outcome,
    } = done;
    if let Some(id) = &sent.group_id {
        for part in &change.parts {
            part.record(snapshot, id, &sent);
        }
    }
    match (outcome, sent.group_id.clone()) {
        (Ok(()), Some(group_id)) => {
            let requests: Vec<String> = change.requests().iter().map(ToString::to_string).collect();
            tracing::info!(%group_id, requests = %requests.join("; "), "{} group", past_tense(change.action));
            let response = sent
                .group()
                .or_else(|| snapshot.get(&group_id))
                .cloned()
                .unwrap_or_default();
            report.applied.push(Applied {
                change: index,
                group_id,
                response,
            });
        }
        (outcome, group_id) => {
            let error = outcome.expect_err("a change without an answer failed");
            let group_id = group_id.or(change.group_id);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::core::Kind;
    use crate::kinds::roster::{ListChange, ListUser};
    use crate::kinds::seam::Part;
    use crate::model::Roster;

    fn change_removing(users: usize) -> Change {
        let remove = (0..users)
            .map(|index| ListUser {
                username: format!("user{index}"),
                user_id: Some(index as i64),
            })
            .collect();
        Change {
            action: Action::Update,
            group_id: Some("g1".to_string()),
            key: crate::model::GroupKey::Id("g1".to_string()),
            source: "groups.d/g.yaml".into(),
            parts: vec![Part::List(ListChange {
                kind: Kind::Membership,
                roster: Roster::Members,
                before: Some(Vec::new()),
                after: Vec::new(),
                add: Vec::new(),
                remove,
                emptied_warning: None,
            })],
        }
    }

    #[test]
    fn removals_over_the_limit_across_groups_refuse_the_plan_unless_forced() {
        let limits = Limits {
            max_member_removals: 3,
            ..Limits::default()
        };
        let plan = Plan {
            changes: vec![change_removing(2), change_removing(2)],
            ..Plan::default()
        };
        let refused = check_limits(&plan, &limits, false).unwrap_err().message;
        assert!(
            refused.contains(
                "removes 4 members and assignees, more than limits.max_member_removals = 3"
            ) && refused.contains("nothing was written"),
            "{refused}"
        );
        assert_eq!(check_limits(&plan, &limits, true), Ok(()));
        let within = Plan {
            changes: vec![change_removing(3)],
            ..Plan::default()
        };
        assert_eq!(check_limits(&within, &limits, false), Ok(()));
    }
}
