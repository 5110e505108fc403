//! The apply stage: a plan's requests -> the pod -> the snapshot.
//!
//! Each change is a chain of steps its parts give ([`Part::stages`]): the
//! group's own requests first (a create's POST gives the others its id),
//! then one step per user added to or removed from a list. Every step of
//! every change shares one budget of `concurrency` requests in flight, so
//! that no group's list waits behind another's: a 500-user list is written
//! 16 users at a time, beside the other groups' writes. The orders that
//! matter are kept: a group's own requests before its lists, and a list's
//! adds before its removes where its kind says so (assignments).
//!
//! One step's failure fails that step alone (a user's write names the user);
//! the rest of its change goes on, but for what must follow it. Every answer
//! is recorded in the snapshot as it comes, and the state file is saved every
//! few seconds and at the end, never once per write. When a save fails, no
//! new step starts, those in flight finish, and the report says why; the
//! state file stays as it was. Every write the pod took is appended to the
//! journal as its answer arrives, before the snapshot records it; a journal
//! that cannot be written halts new steps the same way. A stop request
//! (SIGINT/SIGTERM) likewise starts no new step.

use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::{LIMITS, Limit, Limits};
use crate::error::Refusal;
use crate::kinds::core::{Action, Kind, StepFailure, StepOutcome};
use crate::kinds::seam::Part;
use crate::model::UserGroupResponse;
use crate::pipeline::journaling::Recorder;
use crate::pipeline::plan::{Change, Plan};
use crate::pod::{PodClient, PodError};
use crate::shutdown::Shutdown;
use crate::store::snapshot::{AppliedPlan, Snapshot};
use crate::store::state_file::StateFile;
use crate::text::counted;

/// How often the state file is saved during a long apply.
pub const SAVE_EVERY: Duration = Duration::from_secs(3);

/// One change the pod carried out.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The change's index in the plan.
    pub change: usize,
    /// The group's id (a created group's new one).
    pub group_id: String,
    /// The pod's group as the last answer about it showed it.
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
    pub error: ChangeFailure,
}

/// Why a change was not carried out in full: every step that failed.
#[derive(Debug)]
pub struct ChangeFailure(pub Vec<StepFailure>);

impl ChangeFailure {
    /// The pod's HTTP status of the first failure, when it answered.
    pub fn status(&self) -> Option<u16> {
        self.0.first().and_then(|failure| failure.error.status())
    }
}

impl From<PodError> for ChangeFailure {
    fn from(error: PodError) -> ChangeFailure {
        ChangeFailure(vec![StepFailure {
            kind: Kind::Group,
            user: None,
            error,
        }])
    }
}

/// One failure as it is; several as `2 writes failed: membership "a": ...; ...`.
impl fmt::Display for ChangeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            several => {
                let each: Vec<String> = several.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "{} failed: {}",
                    counted(several.len(), "write"),
                    each.join("; ")
                )
            }
        }
    }
}

/// What an apply did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// The changes carried out, in the order they finished.
    pub applied: Vec<Applied>,
    pub failed: Vec<Failure>,
    /// Changes never started: a stop was requested, or the state file or
    /// the journal could not be written.
    pub not_started: usize,
    /// The state file could not be saved, or the journal written
    /// ([`crate::Error::Journal`]); no step started after that.
    pub save_error: Option<crate::Error>,
}

impl ApplyReport {
    /// True when every planned change was applied and recorded.
    pub fn converged(&self) -> bool {
        self.failed.is_empty() && self.not_started == 0 && self.save_error.is_none()
    }

    /// Why changes were not started: `stopped by a signal`, or the failed save.
    pub fn not_started_reason(&self) -> &'static str {
        match self.save_error {
            Some(crate::Error::Journal(_)) => "the journal could not be written",
            Some(_) => "the state file could not be saved",
            None => "stopped by a signal",
        }
    }
}

/// How an apply runs.
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    /// Requests in flight at once, all changes together.
    pub concurrency: usize,
    /// Log each change carried out at INFO (the daemon's record of its
    /// writes); a command that prints a summary of them logs at DEBUG.
    pub log_changes: bool,
}

/// Refuses a plan over `limits` (unless forced): the whole cycle then
/// writes nothing. The limits are checked in the table's order; the first
/// one exceeded is the one the refusal names. Then the share of the managed
/// groups pruned at once (`limits.max_prune_fraction`).
pub fn check_limits(
    plan: &Plan,
    (limits, max_prune_fraction): (&Limits, f64),
    force: bool,
) -> Result<(), Refusal> {
    if force {
        return Ok(());
    }
    check_table(plan, limits)?;
    check_prune_fraction(plan, max_prune_fraction)
}

/// More than `max_fraction` of the managed groups pruned at once: most
/// likely a groups dir checked out half-way, or a merge gone wrong.
fn check_prune_fraction(plan: &Plan, max_fraction: f64) -> Result<(), Refusal> {
    let prunes = plan.prunes();
    if prunes == 0 || (prunes as f64) <= max_fraction * plan.managed as f64 {
        return Ok(());
    }
    Err(Refusal {
        limit: "limits.max_prune_fraction",
        count: prunes,
        max: (max_fraction * plan.managed as f64) as usize,
        message: format!(
            "refusing to apply: the plan prunes {prunes} of the {} groups groupsync manages, more \
             than limits.max_prune_fraction = {max_fraction}; nothing was written. Is the groups \
             dir checked out half-way, or did a merge drop files? Review it with `groupsync plan`, \
             then rerun with --force or raise the limit",
            plan.managed
        ),
    })
}

fn check_table(plan: &Plan, limits: &Limits) -> Result<(), Refusal> {
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

/// One step to send: change `change`, part `part`, step `step` of that part.
#[derive(Debug, Clone, Copy)]
struct StepRef {
    change: usize,
    part: usize,
    step: usize,
}

/// Where one change stands while its steps run.
struct Progress {
    change: Arc<Change>,
    /// The pod group's id, once known (a create's once its POST answered).
    group_id: Option<String>,
    created: bool,
    /// Per part, its stages of steps, and the next one to queue.
    stages: Vec<Vec<Vec<usize>>>,
    next_stage: Vec<usize>,
    /// Per part, the steps of its current stage still running, and whether one failed.
    running: Vec<usize>,
    part_failed: Vec<bool>,
    /// True once any of its steps was sent.
    started: bool,
    failures: Vec<StepFailure>,
    /// The group as the last answer about it showed it.
    group: Option<UserGroupResponse>,
}

impl Progress {
    fn new(change: &Change) -> Progress {
        let stages: Vec<Vec<Vec<usize>>> = change.parts.iter().map(Part::stages).collect();
        let parts = stages.len();
        Progress {
            change: Arc::new(change.clone()),
            group_id: change.group_id.clone(),
            created: false,
            stages,
            next_stage: vec![0; parts],
            running: vec![0; parts],
            part_failed: vec![false; parts],
            started: false,
            failures: Vec::new(),
            group: None,
        }
    }

    /// The steps of `part`'s next stage (marking them running), if it has one and may go on.
    fn next_steps(&mut self, index: usize, part: usize) -> Vec<StepRef> {
        if self.part_failed[part] {
            return Vec::new();
        }
        let Some(stage) = self.stages[part].get(self.next_stage[part]) else {
            return Vec::new();
        };
        self.next_stage[part] += 1;
        self.running[part] = stage.len();
        stage
            .iter()
            .map(|&step| StepRef {
                change: index,
                part,
                step,
            })
            .collect()
    }

    /// True while a step of the change runs or could still be queued.
    fn busy(&self) -> bool {
        self.running.iter().any(|running| *running > 0)
    }
}

/// Where an apply records what it does: the snapshot (saved to the state
/// file every few seconds) and the journal (every write, as it comes).
pub struct Records<'a> {
    pub state: &'a StateFile,
    pub snapshot: &'a mut Snapshot,
    pub journal: &'a mut Recorder,
    /// The plan to record as the last applied (its `at_ms` set when the
    /// apply ends), with the final save: no second write of the state file.
    pub applied: Option<AppliedPlan>,
}

/// Sends the plan's requests and records each answer in the journal, then
/// in the snapshot (and the state file), as it comes.
pub async fn apply(
    plan: &Plan,
    client: &PodClient,
    records: Records<'_>,
    options: ApplyOptions,
    mut shutdown: Shutdown,
) -> crate::Result<ApplyReport> {
    let Records {
        state,
        snapshot,
        journal,
        applied,
    } = records;
    let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut in_flight = JoinSet::new();
    let mut report = ApplyReport::default();
    let mut last_save = Instant::now();
    let mut progress: Vec<Progress> = plan.changes.iter().map(Progress::new).collect();
    // Every change's first part goes first; the others follow it.
    let mut queue: VecDeque<StepRef> = VecDeque::new();
    for index in 0..progress.len() {
        queue.extend(first_steps(&mut progress, index, snapshot));
    }
    let mut finished = vec![false; progress.len()];
    for index in 0..progress.len() {
        finish_if_done(
            &mut report,
            &mut progress,
            &mut finished,
            index,
            snapshot,
            options,
        );
    }

    loop {
        let halted = shutdown.is_requested() || report.save_error.is_some();
        let can_start = !halted && !queue.is_empty();
        tokio::select! {
            biased;
            Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                let (at, outcome): (StepRef, StepOutcome) = joined.expect("an apply step never panics");
                if let Err(error) = journal_step(journal, &progress[at.change], &outcome)
                    && report.save_error.is_none()
                {
                    tracing::error!("{}; no new write is started", error.chain());
                    report.save_error = Some(error);
                }
                let follow = step_done(&mut progress[at.change], at, outcome, snapshot);
                queue.extend(follow);
                finish_if_done(&mut report, &mut progress, &mut finished, at.change, snapshot, options);
                if last_save.elapsed() >= SAVE_EVERY && report.save_error.is_none() {
                    if let Err(error) = state.save(snapshot) {
                        tracing::error!("{}; no new write is started", error.chain());
                        report.save_error = Some(error);
                    }
                    last_save = Instant::now();
                }
            }
            permit = permits.clone().acquire_owned(), if can_start => {
                let permit = permit.expect("the semaphore is never closed");
                let at = queue.pop_front().expect("can_start checked that a step is queued");
                let change = &mut progress[at.change];
                change.started = true;
                let (change, group_id, client) =
                    (change.change.clone(), change.group_id.clone(), client.clone());
                in_flight.spawn(async move {
                    let part = &change.parts[at.part];
                    let outcome = part.send_step(at.step, &client, group_id.as_deref()).await;
                    drop(permit);
                    (at, outcome)
                });
            }
            () = shutdown.requested(), if can_start => {}
            else => break,
        }
    }
    end_unfinished(&mut report, &mut progress, &finished);
    if let Some(applied) = applied {
        let at_ms = crate::store::snapshot::now_ms();
        snapshot.set_last_applied(AppliedPlan { at_ms, ..applied });
    }
    if let Err(error) = journal.sync()
        && report.save_error.is_none()
    {
        report.save_error = Some(error.into());
    }
    if report.save_error.is_none()
        && let Err(error) = state.save(snapshot)
    {
        report.save_error = Some(error);
    }
    Ok(report)
}

/// Appends a record of every write in `outcome` to the journal.
fn journal_step(
    journal: &mut Recorder,
    change: &Progress,
    outcome: &StepOutcome,
) -> crate::Result<()> {
    let group_id = outcome.created.as_deref().or(change.group_id.as_deref());
    for written in &outcome.written {
        journal.record(group_id.unwrap_or_default(), &change.change, written)?;
    }
    Ok(())
}

/// The steps a change starts with: its first part's first stage, or, when
/// that part sends nothing, every other part's.
fn first_steps(progress: &mut [Progress], index: usize, snapshot: &mut Snapshot) -> Vec<StepRef> {
    let change = &mut progress[index];
    if change.stages.is_empty() {
        return Vec::new();
    }
    let first = change.next_steps(index, 0);
    if !first.is_empty() {
        return first;
    }
    after_first_part(change, index, snapshot)
}

/// Once a change's first part is done: the first stage of each other part,
/// each told its group exists.
fn after_first_part(change: &mut Progress, index: usize, snapshot: &mut Snapshot) -> Vec<StepRef> {
    let Some(group_id) = change.group_id.clone() else {
        return Vec::new();
    };
    let mut steps = Vec::new();
    for part in 1..change.stages.len() {
        if change.stages[part].is_empty() {
            continue;
        }
        change.change.parts[part].begin(snapshot, &group_id, change.created);
        steps.extend(change.next_steps(index, part));
    }
    steps
}

/// Records one step's outcome and returns the steps it lets start.
fn step_done(
    change: &mut Progress,
    at: StepRef,
    outcome: StepOutcome,
    snapshot: &mut Snapshot,
) -> Vec<StepRef> {
    if let Some(id) = &outcome.created {
        change.group_id = Some(id.clone());
        change.created = true;
    }
    if let Some(id) = change.group_id.clone() {
        change.change.parts[at.part].record(snapshot, &id, &outcome);
    }
    if let Some(group) = outcome.group() {
        change.group = Some(group.clone());
    }
    if let Some(failure) = outcome.failure {
        // An orphan the pod no longer has: nothing to prune, nothing to manage.
        if change.change.action == Action::Prune
            && failure.error.status() == Some(404)
            && let Some(id) = &change.group_id
        {
            snapshot.forget_managed(id);
        }
        change.part_failed[at.part] = true;
        change.failures.push(failure);
    }
    change.running[at.part] -= 1;
    if change.running[at.part] > 0 {
        return Vec::new();
    }
    let next = change.next_steps(at.change, at.part);
    if !next.is_empty() || at.part != 0 || change.part_failed[0] {
        return next;
    }
    after_first_part(change, at.change, snapshot)
}

/// Reports change `index` once nothing of it runs or waits any more.
fn finish_if_done(
    report: &mut ApplyReport,
    progress: &mut [Progress],
    finished: &mut [bool],
    index: usize,
    snapshot: &Snapshot,
    options: ApplyOptions,
) {
    let change = &mut progress[index];
    if finished[index] || change.busy() {
        return;
    }
    finished[index] = true;
    let failures = std::mem::take(&mut change.failures);
    let source = change.change.source.clone();
    match (failures.is_empty(), change.group_id.clone()) {
        (true, Some(group_id)) => {
            log_applied(&change.change, &group_id, options);
            let response = change
                .group
                .clone()
                .or_else(|| snapshot.get(&group_id).cloned())
                .unwrap_or_default();
            report.applied.push(Applied {
                change: index,
                group_id,
                response,
            });
        }
        (_, group_id) => {
            let error = ChangeFailure(failures);
            tracing::warn!(group = %change.change.key, "{} failed: {error}", change_noun(change.change.action));
            report.failed.push(Failure {
                change: index,
                group_id,
                source,
                error,
            });
        }
    }
}

/// The changes a stop or a failed save left unfinished: those never
/// started are "not started"; those started fail, naming what was not sent.
fn end_unfinished(report: &mut ApplyReport, progress: &mut [Progress], finished: &[bool]) {
    let reason = report.not_started_reason();
    for (index, change) in progress.iter_mut().enumerate() {
        if finished[index] {
            continue;
        }
        if !change.started {
            report.not_started += 1;
            continue;
        }
        let mut failures = std::mem::take(&mut change.failures);
        failures.push(StepFailure {
            kind: Kind::Group,
            user: None,
            error: PodError::Setup(format!("its remaining writes were not sent: {reason}")),
        });
        report.failed.push(Failure {
            change: index,
            group_id: change.group_id.clone(),
            source: change.change.source.clone(),
            error: ChangeFailure(failures),
        });
    }
}

/// The record of a change carried out: INFO for the daemon, DEBUG when a summary shows it.
fn log_applied(change: &Change, group_id: &str, options: ApplyOptions) {
    let requests: Vec<String> = change.requests().iter().map(ToString::to_string).collect();
    let requests = requests.join("; ");
    let verb = past_tense(change.action);
    if options.log_changes {
        tracing::info!(%group_id, %requests, "{verb} group");
    } else {
        tracing::debug!(%group_id, %requests, "{verb} group");
    }
}

/// `created`, `adopted`, `updated`, `pruned`.
pub fn past_tense(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Adopt => "adopted",
        Action::Update => "updated",
        Action::Prune => "pruned",
    }
}

fn change_noun(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Adopt | Action::Update => "update",
        Action::Prune => "prune",
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
            key: crate::model::GroupKey::Id("g1".into()),
            source: "groups.d/g.yaml".into(),
            parts: vec![Part::List(ListChange {
                kind: Kind::Membership,
                roster: Roster::Members,
                before: Some(Vec::new()),
                after: Vec::new(),
                add: Vec::new(),
                remove,
                emptied_warning: None,
                adds_first: false,
                held_add: Vec::new(),
                held_remove: Vec::new(),
            })],
            declared: None,
            notes: Vec::new(),
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
        let refused = check_limits(&plan, (&limits, 0.5), false)
            .unwrap_err()
            .message;
        assert!(
            refused.contains(
                "removes 4 members and assignees, more than limits.max_member_removals = 3"
            ) && refused.contains("nothing was written"),
            "{refused}"
        );
        assert_eq!(check_limits(&plan, (&limits, 0.5), true), Ok(()));
        let within = Plan {
            changes: vec![change_removing(3)],
            ..Plan::default()
        };
        assert_eq!(check_limits(&within, (&limits, 0.5), false), Ok(()));
    }
}
