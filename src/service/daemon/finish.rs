//! What a finished cycle means for the daemon: its result goes into the
//! metrics, `/healthz` and `/readyz`, `/plan` and the status line, a dry
//! run prints its plan, and the loop learns what comes next ([`Next`]).

use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use tokio::task::JoinError;

use super::report::plan_left;
use super::{CycleDone, Daemon, Next};
use crate::error::{Diagnostics, Error};
use crate::pipeline::cycle::{CycleOutcome, GroupCounts};
use crate::pipeline::render::{Report, render_json, render_text};
use crate::service::metrics::CycleResult;
use crate::text::counted;

impl Daemon {
    /// Takes a finished cycle's results in, and says what it calls for.
    pub(super) fn finish_cycle(
        &mut self,
        joined: std::result::Result<CycleDone, JoinError>,
    ) -> Next {
        self.health.cycle_ended();
        if std::mem::take(&mut self.stuck) {
            tracing::warn!("the stuck cycle has ended; groupsync is no longer stuck");
        }
        let done = match joined {
            Ok(done) => done,
            Err(err) => {
                tracing::error!(
                    "the cycle task ended abnormally ({err}); the next cycle reads the state file afresh"
                );
                self.metrics
                    .observe_cycle(CycleResult::Failure, Duration::ZERO);
                return Next::RetryWithBackoff;
            }
        };
        if let Err(err) = &done.result {
            self.metrics.count_cycle_failure(err.kind());
        }
        self.notifications.finished(done.result.as_ref());
        match done.result {
            Ok(outcome) => self.cycle_completed(&outcome, done.duration),
            Err(Error::Invalid(diagnostics)) => {
                self.desired_state_invalid(&diagnostics, done.duration)
            }
            Err(err) => self.cycle_failed(&err, done.duration),
        }
    }

    /// Nothing was written; the next file change tries again.
    fn desired_state_invalid(&mut self, diagnostics: &Diagnostics, duration: Duration) -> Next {
        let errors = counted(diagnostics.0.len(), "error");
        tracing::error!(
            "the desired state is invalid; nothing was written, fix the files and save ({errors}):\n{diagnostics}"
        );
        self.metrics.observe_cycle(CycleResult::Invalid, duration);
        self.health.set_desired_valid(false);
        self.plan.withdraw(format!(
            "no plan: the desired state is invalid ({errors}), nothing would be written:\n{diagnostics}"
        ));
        self.notifier
            .status(&format!("invalid desired state: {errors}, nothing written"));
        Next::Wait
    }

    /// The cycle stopped on an error; the last good state is kept.
    fn cycle_failed(&mut self, err: &Error, duration: Duration) -> Next {
        tracing::error!("cycle failed, the last good state is kept: {}", err.chain());
        self.metrics.observe_cycle(CycleResult::Failure, duration);
        self.plan
            .withdraw(format!("no plan: the last cycle failed: {}", err.chain()));
        self.health.set_desired_valid(true);
        self.notifier
            .status(&format!("error: {}", one_line(&err.chain())));
        self.consecutive_failures += 1;
        match err {
            Error::Refused {
                groups,
                digest,
                refusal,
            } => {
                self.plan_refused(*groups);
                self.serve_held_plan(&refusal.message, digest.as_deref());
                Next::NeedsAPerson
            }
            // Retried, it would fail the same way.
            Error::StateOfAnotherPod { .. } => Next::NeedsAPerson,
            _ => Next::RetryWithBackoff,
        }
    }

    /// Serves the plan the limits refused at `/plan`, under a line saying
    /// how to approve it.
    fn serve_held_plan(&self, refusal: &str, digest: Option<&str>) {
        let kept = self
            .last_planned
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let (Some((text, json)), Some(digest)) = (kept, digest) else {
            return;
        };
        let header = format!(
            "Held: {}\nApprove exactly this plan with `groupsync approve {digest}`; the next \
             cycle applies it if its plan still has this digest.\n\n",
            crate::text::escaped(refusal)
        );
        let mut held = Vec::with_capacity(header.len() + text.len());
        held.extend_from_slice(header.as_bytes());
        held.extend_from_slice(&text);
        self.plan.publish(Bytes::from(held), json);
    }

    /// A safety limit refused the plan: its changes are pending, and not ready
    /// until a person decides (a later cycle within the limits clears it).
    fn plan_refused(&self, groups: GroupCounts) {
        let GroupCounts {
            in_sync,
            pending,
            failed,
        } = groups;
        self.metrics
            .set_groups(in_sync as u64, pending as u64, failed as u64);
        self.metrics
            .set_desired_groups((in_sync + pending + failed) as u64);
        self.health.set_refused(true);
    }

    /// The cycle ran to its end (its drift was logged and counted once it
    /// had planned); a group whose PUT failed calls for a retry.
    fn cycle_completed(&mut self, outcome: &CycleOutcome, duration: Duration) -> Next {
        for warning in &outcome.refresh.warnings {
            tracing::warn!("{warning}");
        }
        if let Some(applied) = &outcome.apply {
            (self
                .drift
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()))
            .forget(applied.applied.iter().map(|done| done.group_id.as_str()));
        }
        // A group that cannot be planned (a name several pod groups bear) waits for a person.
        for error in &outcome.plan.errors {
            tracing::error!("{error}");
        }
        let counts = outcome.group_counts();
        let applied = outcome
            .apply
            .as_ref()
            .map_or(0, |report| report.applied.len());
        tracing::info!(
            desired = outcome.desired_groups,
            in_sync = counts.in_sync,
            changes = outcome.plan.changes.len(),
            applied,
            failed = counts.failed,
            drift = outcome.refresh.drift.len(),
            duration_ms = duration.as_millis() as u64,
            "cycle done"
        );
        if applied > 0 {
            self.last_change = Some(chrono::Local::now().format("%H:%M:%S").to_string());
        }
        let text = self.publish_plan(outcome);
        if self.dry_run() {
            self.printer.print_if_new(&text, self.cycles_started);
        }
        let converged = counts.failed == 0;
        self.record_metrics(outcome, duration, counts, converged);
        self.notifier.status(&self.status_line(counts));
        if converged {
            self.consecutive_failures = 0;
            Next::Wait
        } else {
            self.consecutive_failures += 1;
            Next::RetryWithBackoff
        }
    }

    fn record_metrics(
        &self,
        outcome: &CycleOutcome,
        duration: Duration,
        counts: GroupCounts,
        converged: bool,
    ) {
        let result = if converged {
            CycleResult::Success
        } else {
            CycleResult::Failure
        };
        self.metrics.observe_cycle(result, duration);
        self.metrics
            .set_desired_groups(outcome.desired_groups as u64);
        self.metrics.set_plan_findings(
            outcome.plan.orphans.len() as u64,
            outcome.plan.held.len() as u64,
        );
        self.metrics.set_groups(
            counts.in_sync as u64,
            counts.pending as u64,
            counts.failed as u64,
        );
        self.health.set_desired_valid(true);
        self.health.set_refused(false);
        if converged {
            self.metrics.set_last_success(SystemTime::now());
            self.health.set_ready(true);
            // Nothing left to write: the pod is in line with this revision.
            if let Some(revision) = outcome.revision.as_ref().filter(|_| !self.dry_run()) {
                self.metrics.set_applied_revision(&revision.id());
            }
        }
    }

    fn status_line(&self, counts: GroupCounts) -> String {
        let GroupCounts {
            in_sync,
            pending,
            failed,
        } = counts;
        let last_change = self
            .last_change
            .as_deref()
            .map_or("none yet".to_string(), str::to_string);
        let groups = |count| counted(count, "group");
        match (self.dry_run(), pending, failed) {
            (true, 0, _) => format!("dry run, in sync: {}", groups(in_sync)),
            (true, _, _) => format!(
                "dry run: {} pending, {} in sync",
                counted(pending, "change"),
                groups(in_sync)
            ),
            (false, _, 0) => format!("in sync: {}; last change {last_change}", groups(in_sync)),
            (false, _, _) => format!(
                "{} failed to update, {in_sync} in sync; last change {last_change}",
                groups(failed)
            ),
        }
    }

    /// Publishes what is left to do after `outcome` for `/plan` and
    /// `/plan.json`, rendered as `groupsync plan` prints it; returns the
    /// text (shared with `/plan`, not a copy).
    fn publish_plan(&self, outcome: &CycleOutcome) -> Bytes {
        let (plan, drift) = plan_left(outcome);
        let report = Report {
            plan: &plan,
            drift: &drift,
            apply: None,
            ..outcome.report()
        };
        let text = Bytes::from(render_text(&report, false));
        self.plan
            .publish(text.clone(), Bytes::from(render_json(&report)));
        text
    }
}

/// The first line of `text`, at most 200 characters (a STATUS= line).
pub(super) fn one_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}
