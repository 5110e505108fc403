//! What the daemon tells people about a cycle besides its counts: the drift
//! it found (logged and counted as soon as the cycle has planned, before the
//! updates that revert it; counted once, [`DriftTally`]), and the plan left
//! to do ([`plan_left`]), which a dry run prints under a header line that
//! dates it ([`PlanPrinter`]).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use chrono::{DateTime, Utc};

use crate::kinds::seam::Drift;
use crate::pipeline::cycle::CycleOutcome;
use crate::pipeline::plan::Plan;
use crate::service::metrics::Metrics;

/// Called by the cycle once it has planned, before it applies.
pub(super) type PlannedHook = Arc<dyn Fn(&CycleOutcome) + Send + Sync>;

/// The drift `groupsync_drift_total` has counted, by group: a dry run (or a
/// refused plan) finds the same drift cycle after cycle, and counts it once.
#[derive(Debug, Default)]
pub(super) struct DriftTally {
    counted: BTreeMap<String, Drift>,
}

impl DriftTally {
    /// Takes in the drift a cycle found, and says how many groups of it
    /// are new: not counted yet, or drifted otherwise since they were.
    ///
    /// `read_every_group`: the cycle read every declared group, so a
    /// counted group with no drift and nothing left to plan is back in
    /// line, and is forgotten (should it drift again, that counts again).
    /// A cycle that read only some groups forgets none.
    pub(super) fn newly_seen(
        &mut self,
        drift: &[Drift],
        plan: &Plan,
        read_every_group: bool,
    ) -> usize {
        if read_every_group {
            let planned = |id: &str| {
                (plan.changes.iter()).any(|change| change.group_id.as_deref() == Some(id))
            };
            let drifted = |id: &str| drift.iter().any(|group| group.group_id == id);
            self.counted.retain(|id, _| drifted(id) || planned(id));
        }
        drift
            .iter()
            .filter(|group| {
                let new = self.counted.get(&group.group_id) != Some(*group);
                if new {
                    self.counted
                        .insert(group.group_id.clone(), (*group).clone());
                }
                new
            })
            .count()
    }

    /// Groups whose change was applied: back in line, groupsync put them there.
    pub(super) fn forget<'a>(&mut self, group_ids: impl IntoIterator<Item = &'a str>) {
        for id in group_ids {
            self.counted.remove(id);
        }
    }
}

/// `hook`, then the plan kept in `slot`, rendered as `/plan` serves it
/// (nothing when there is nothing to do): should the limits refuse it, the
/// daemon serves it for approval.
pub(super) fn keeping_plan(
    hook: PlannedHook,
    slot: Arc<Mutex<Option<(Bytes, Bytes)>>>,
) -> PlannedHook {
    Arc::new(move |outcome: &CycleOutcome| {
        hook(outcome);
        let documents = (!outcome.plan.is_empty()).then(|| {
            let report = outcome.report();
            (
                Bytes::from(crate::pipeline::render::render_text(&report, false)),
                Bytes::from(crate::pipeline::render::render_json(&report)),
            )
        });
        *slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = documents;
    })
}

/// What the daemon does when a cycle has planned: logs its drift, and counts
/// what is new of it in `metrics` (see [`DriftTally::newly_seen`]).
pub(super) fn drift_hook(
    tally: Arc<Mutex<DriftTally>>,
    metrics: Arc<Metrics>,
    read_every_group: bool,
) -> PlannedHook {
    Arc::new(move |outcome: &CycleOutcome| {
        log_drift(outcome);
        let new = tally
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .newly_seen(&outcome.refresh.drift, &outcome.plan, read_every_group);
        metrics.add_drift(new as u64);
    })
}

/// One WARN line per group changed outside groupsync: its id, its file, and
/// each field as `area "EMEA" -> "GLOBAL"`.
fn log_drift(outcome: &CycleOutcome) {
    for group in &outcome.refresh.drift {
        let id = &group.group_id;
        let fields = group.summary();
        let change = (outcome.plan.changes.iter())
            .find(|change| change.group_id.as_deref() == Some(id.as_str()));
        match change {
            Some(change) => tracing::warn!(
                "drift: group {id} ({}) changed outside groupsync: {fields}",
                change.source.display()
            ),
            None => tracing::warn!(
                "drift: group {id} changed outside groupsync: {fields} (the plan has nothing to revert for it)"
            ),
        }
    }
}

/// What is left to do after a cycle, as `groupsync plan` would show it now:
/// the plan less the changes the cycle applied, and the drift of the groups
/// it did not put back in line. A cycle that did not write leaves it all.
pub(super) fn plan_left(outcome: &CycleOutcome) -> (Plan, Vec<Drift>) {
    let Some(applied) = &outcome.apply else {
        return (outcome.plan.clone(), outcome.refresh.drift.clone());
    };
    let applied_changes: Vec<usize> = applied.applied.iter().map(|done| done.change).collect();
    let plan = Plan {
        changes: (outcome.plan.changes.iter().enumerate())
            .filter(|(index, _)| !applied_changes.contains(index))
            .map(|(_, change)| change.clone())
            .collect(),
        unchanged: outcome.plan.unchanged + applied.applied.len(),
        ..outcome.plan.clone()
    };
    let was_applied = |id: &str| applied.applied.iter().any(|done| done.group_id == id);
    let drift = (outcome.refresh.drift.iter())
        .filter(|group| !was_applied(&group.group_id))
        .cloned()
        .collect();
    (plan, drift)
}

/// `run --dry-run`: prints the text plan when it differs from the last one
/// printed, under a header line that says when and which cycle, so that
/// plans printed one after another are told apart.
#[derive(Debug, Default)]
pub(super) struct PlanPrinter {
    /// The plan text printed last (shared with `/plan`, not a copy).
    last_printed: Option<Bytes>,
}

impl PlanPrinter {
    /// Prints `text` on stdout unless it is the plan printed last.
    pub(super) fn print_if_new(&mut self, text: &Bytes, cycle: u64) {
        if self.last_printed.as_ref() == Some(text) {
            return;
        }
        let header = plan_header(Utc::now(), cycle);
        let mut stdout = std::io::stdout().lock();
        // A closed stdout (a pipe whose reader left) is no reason to stop syncing.
        let _ = (stdout.write_all(header.as_bytes()))
            .and_then(|()| stdout.write_all(text))
            .and_then(|()| stdout.flush());
        self.last_printed = Some(text.clone());
    }
}

/// `# plan at 2026-12-04T15:00:00Z (cycle 3)` and a line break.
pub(super) fn plan_header(at: DateTime<Utc>, cycle: u64) -> String {
    format!(
        "# plan at {} (cycle {cycle})\n",
        at.format("%Y-%m-%dT%H:%M:%SZ")
    )
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::kinds::core::Action;
    use crate::model::GroupKey;
    use crate::pipeline::plan::Change;

    fn drifted(id: &str, area: &str) -> Drift {
        Drift::of_area(id, area)
    }

    /// A plan with something to do for each of `ids`.
    fn plan_for(ids: &[&str]) -> Plan {
        let change = |id: &str| Change {
            action: Action::Update,
            group_id: Some(id.to_string()),
            key: GroupKey::Id(id.into()),
            source: "groups.d/g.yaml".into(),
            parts: Vec::new(),
            declared: None,
            notes: Vec::new(),
        };
        Plan {
            changes: ids.iter().map(|id| change(id)).collect(),
            ..Plan::default()
        }
    }

    #[test]
    fn the_same_drift_seen_again_is_not_counted_again() {
        let mut tally = DriftTally::default();
        let drift = [drifted("a1", "GLOBAL")];
        let plan = plan_for(&["a1"]);
        assert_eq!(tally.newly_seen(&drift, &plan, true), 1);
        assert_eq!(tally.newly_seen(&drift, &plan, true), 0);
        assert_eq!(tally.newly_seen(&drift, &plan, false), 0);
        // A second group drifts beside it.
        let both = [drifted("a1", "GLOBAL"), drifted("b2", "APAC")];
        assert_eq!(tally.newly_seen(&both, &plan_for(&["a1", "b2"]), true), 1);
    }

    #[test]
    fn drift_that_changes_counts_again() {
        let mut tally = DriftTally::default();
        let plan = plan_for(&["a1"]);
        assert_eq!(tally.newly_seen(&[drifted("a1", "GLOBAL")], &plan, true), 1);
        assert_eq!(tally.newly_seen(&[drifted("a1", "APAC")], &plan, true), 1);
        assert_eq!(tally.newly_seen(&[drifted("a1", "APAC")], &plan, true), 0);
    }

    #[test]
    fn a_group_back_in_line_that_drifts_again_counts_again() {
        let mut tally = DriftTally::default();
        let drift = [drifted("a1", "GLOBAL")];
        assert_eq!(tally.newly_seen(&drift, &plan_for(&["a1"]), true), 1);
        // A cycle that read only some groups proves nothing: still counted.
        assert_eq!(tally.newly_seen(&[], &Plan::default(), false), 0);
        assert_eq!(tally.newly_seen(&drift, &plan_for(&["a1"]), true), 0);
        // Put back on the pod by someone: no drift, nothing to plan.
        assert_eq!(tally.newly_seen(&[], &Plan::default(), true), 0);
        assert_eq!(tally.newly_seen(&drift, &plan_for(&["a1"]), true), 1);
        // Put back by groupsync's own update.
        tally.forget(["a1"]);
        assert_eq!(tally.newly_seen(&drift, &plan_for(&["a1"]), false), 1);
    }

    #[test]
    fn a_group_whose_change_is_still_pending_stays_counted() {
        let mut tally = DriftTally::default();
        assert_eq!(
            tally.newly_seen(&[drifted("a1", "GLOBAL")], &plan_for(&["a1"]), true),
            1
        );
        // A refused plan: the drift is in the snapshot now, the change pending.
        assert_eq!(tally.newly_seen(&[], &plan_for(&["a1"]), true), 0);
        assert_eq!(
            tally.newly_seen(&[drifted("a1", "GLOBAL")], &plan_for(&["a1"]), true),
            0
        );
    }

    #[test]
    fn a_printed_plan_is_dated_and_numbered() {
        let at = Utc.with_ymd_and_hms(2026, 12, 4, 15, 0, 0).unwrap();
        assert_eq!(
            plan_header(at, 3),
            "# plan at 2026-12-04T15:00:00Z (cycle 3)\n"
        );
    }
}
