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
//!
//! Members and assignees follow their group's own requests, one PUT per user
//! ([`write_rosters`]); each user written is recorded, even when a later one fails.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::Limits;
use std::collections::BTreeMap;

use crate::model::{Field, UserGroupResponse, UserGroupUpdate, group_path};
use crate::pipeline::plan::{Action, Change, Plan, minimal_body};
use crate::pipeline::roster::{RosterWrite, write_rosters};
use crate::store::snapshot::{Snapshot, now_ms};
use crate::store::state_file::StateFile;
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
    let removals = plan.member_removals();
    if removals > limits.max_member_removals {
        return Err(format!(
            "refusing to apply: the plan removes {removals} members and assignees, more than limits.max_member_removals = {}; \
             nothing was written. Review it with `groupsync plan`, then rerun with --force or raise the limit",
            limits.max_member_removals
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
    /// The pod group's id, once known (a create's new one).
    group_id: Option<String>,
    /// The pod's group as the last answer showed it, to record even after a
    /// later failure (a created group whose follow-up PUT failed).
    answer: Option<UserGroupResponse>,
    /// The members and assignees the pod took.
    roster_writes: Vec<RosterWrite>,
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

/// Sends one change's requests: the group's own, then its members and assignees.
async fn send(index: usize, change: Change, client: &PodClient) -> Done {
    let (answered, mut outcome) = match (&change.group_id, change.action) {
        (Some(id), _) if change.body.is_empty() => ((Some(id.clone()), None), Ok(())),
        (Some(id), Action::Update | Action::Adopt) => {
            match put_verified(client, id, &change.body, change.recorded.as_ref()).await {
                Ok(response) => ((Some(id.clone()), Some(response)), Ok(())),
                Err(error) => ((Some(id.clone()), None), Err(error)),
            }
        }
        _ => match create(&change, client).await {
            (Some((id, group)), outcome) => ((Some(id), Some(group)), outcome),
            (None, outcome) => ((None, None), outcome),
        },
    };
    let (group_id, answer) = answered;
    let mut roster_writes = Vec::new();
    if let (Some(id), Ok(())) = (&group_id, &outcome)
        && change.writes_rosters()
    {
        let (written, written_outcome) = write_rosters(client, id, &change.rosters).await;
        roster_writes = written;
        outcome = written_outcome;
    }
    Done {
        index,
        change,
        group_id,
        answer,
        roster_writes,
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
    match put_verified(client, &id, &follow_up, Some(&group)).await {
        Ok(updated) => (Some((id, updated)), Ok(())),
        Err(error) => (Some((id, group)), Err(error)),
    }
}

/// PUTs `body` to group `id` and returns what the pod holds after it, checked
/// rather than trusted: an answer about another group is a failure, recorded
/// nowhere; an answer that does not show the fields just sent (a bare `{}`)
/// is followed by one GET of the group, and when that cannot be read, the
/// snapshot records what was sent, so that the next plan does not send it again.
async fn put_verified(
    client: &PodClient,
    id: &str,
    body: &UserGroupUpdate,
    before: Option<&UserGroupResponse>,
) -> Result<UserGroupResponse, PodError> {
    let answer = client.update(id, body).await?;
    answer_is_for(id, &answer, "PUT")?;
    if shows(&answer, body) {
        return Ok(answer);
    }
    tracing::warn!(
        group_id = id,
        "the pod's answer to the PUT does not show the fields sent: reading the group back"
    );
    match client.get(id).await {
        Ok(read) => {
            answer_is_for(id, &read, "GET")?;
            Ok(read)
        }
        Err(error) => {
            tracing::warn!(
                group_id = id,
                "cannot read the group back ({error}); recording what was sent"
            );
            let mut sent = before.cloned().unwrap_or_default().with_update(body);
            sent.id = Some(id.to_string());
            Ok(sent)
        }
    }
}

/// True when `answer` holds every field of `body` with the value sent.
fn shows(answer: &UserGroupResponse, body: &UserGroupUpdate) -> bool {
    Field::ALL
        .into_iter()
        .all(|field| body.field(field).is_none() || answer.field(field) == body.field(field))
}

/// An answer naming another group than the one asked about is a failure.
fn answer_is_for(
    id: &str,
    answer: &UserGroupResponse,
    method: &'static str,
) -> Result<(), PodError> {
    match answer.id.as_deref() {
        Some(other) if other != id => Err(PodError::Decode {
            method,
            path: group_path(id),
            reason: format!(
                "the pod answered about group {other:?} instead; nothing was recorded for either"
            ),
        }),
        _ => Ok(()),
    }
}

fn record(report: &mut ApplyReport, snapshot: &mut Snapshot, done: Done) {
    let Done {
        index,
        change,
        group_id,
        answer,
        roster_writes,
        outcome,
    } = done;
    if let Some(id) = &group_id {
        record_answers(snapshot, id, &change, answer.clone(), &roster_writes);
    }
    match (outcome, group_id) {
        (Ok(()), Some(group_id)) => {
            let requests: Vec<String> = change.requests().iter().map(ToString::to_string).collect();
            tracing::info!(%group_id, requests = %requests.join("; "), "{} group", past_tense(change.action));
            let response = answer
                .or_else(|| snapshot.get(&group_id).cloned())
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

/// Records what the pod took for group `id`: its answer, the lists a new
/// group starts with (nobody), and each member and assignee written.
fn record_answers(
    snapshot: &mut Snapshot,
    id: &str,
    change: &Change,
    answer: Option<UserGroupResponse>,
    roster_writes: &[RosterWrite],
) {
    let at = now_ms();
    if let Some(response) = answer {
        snapshot.record_write(id, response, at);
    }
    if change.action == Action::Create {
        for list in &change.rosters {
            snapshot.record_roster(id, list.roster, BTreeMap::new(), None);
        }
    }
    for write in roster_writes {
        snapshot.record_roster_write(
            id,
            write.roster,
            &write.username,
            write.user_id,
            write.active,
        );
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
    use crate::model::Roster;
    use crate::pipeline::roster::{RosterChange, RosterUser};

    fn change_removing(users: usize) -> Change {
        let remove = (0..users)
            .map(|index| RosterUser {
                username: format!("user{index}"),
                user_id: Some(index as i64),
            })
            .collect();
        Change {
            action: Action::Update,
            group_id: Some("g1".to_string()),
            key: crate::model::GroupKey::Id("g1".to_string()),
            source: "groups.d/g.yaml".into(),
            recorded: None,
            desired: Default::default(),
            fields: Vec::new(),
            body: Default::default(),
            create: None,
            rosters: vec![RosterChange {
                roster: Roster::Members,
                before: Vec::new(),
                after: Vec::new(),
                add: Vec::new(),
                remove,
            }],
        }
    }

    #[test]
    fn an_answer_is_checked_against_what_was_sent() {
        let body = UserGroupUpdate {
            area: Some("EMEA".into()),
            ..UserGroupUpdate::default()
        };
        let answer = |id: Option<&str>, area: Option<&str>| UserGroupResponse {
            id: id.map(str::to_string),
            area: area.map(str::to_string),
            ..UserGroupResponse::default()
        };
        assert!(shows(&answer(Some("g1"), Some("EMEA")), &body));
        assert!(
            !shows(&answer(None, None), &body),
            "a bare {{}} shows nothing"
        );
        assert!(!shows(&answer(Some("g1"), Some("EMEA-old")), &body));
        assert!(answer_is_for("g1", &answer(Some("g1"), None), "PUT").is_ok());
        assert!(answer_is_for("g1", &answer(None, None), "PUT").is_ok());
        let other = answer_is_for("g1", &answer(Some("g2"), None), "PUT").unwrap_err();
        assert!(
            other
                .to_string()
                .contains("answered about group \"g2\" instead"),
            "{other}"
        );
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
        let refused = check_limits(&plan, &limits, false).unwrap_err();
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
