//! Which groups groupsync manages: after a writing cycle, every declared
//! group the cycle left in line — written, or found so — is marked managed
//! in the snapshot, with what git declared of it as last applied (the base
//! of the three-way diff `on_drift: hold` needs, and what makes a group an
//! orphan once no file declares it). A state file from before these marks
//! is adopted this way on its first writing cycle.

use std::collections::{BTreeMap, HashSet};

use crate::kinds::core::Action;
use crate::model::DesiredState;
use crate::pipeline::apply::ApplyReport;
use crate::pipeline::plan::Plan;
use crate::store::snapshot::{LastApplied, ManagedHow, Snapshot, now_ms};

/// Marks every declared group `plan` bound to a pod group, and every group
/// `report` created, managed; a change that failed or was not started
/// leaves its group as it was. True when the snapshot changed.
pub fn record(
    desired: &DesiredState,
    plan: &Plan,
    report: Option<&ApplyReport>,
    snapshot: &mut Snapshot,
) -> bool {
    let at = now_ms();
    let applied: HashSet<usize> = report
        .map(|report| report.applied.iter().map(|done| done.change).collect())
        .unwrap_or_default();
    let unfinished: HashSet<usize> = plan
        .changes
        .iter()
        .enumerate()
        .filter(|(index, _)| !applied.contains(index))
        .filter_map(|(_, change)| change.declared)
        .collect();
    let mut marks: Vec<(usize, String, ManagedHow)> = plan
        .bound
        .iter()
        .filter(|(index, _)| !unfinished.contains(index))
        .map(|(index, id)| (*index, id.to_string(), ManagedHow::Declared))
        .collect();
    for done in report
        .map(|report| report.applied.as_slice())
        .unwrap_or_default()
    {
        let change = &plan.changes[done.change];
        if let (Action::Create, Some(index)) = (change.action, change.declared) {
            marks.push((index, done.group_id.clone(), ManagedHow::Created));
        }
    }
    let mut changed = false;
    for (index, id, how) in marks {
        let group = &desired.groups[index];
        let lists: BTreeMap<_, _> = group
            .rosters
            .managed()
            .map(|(roster, users)| (roster, users.iter().cloned().collect()))
            .collect();
        let last = LastApplied {
            fields: group.fields.clone(),
            lists,
        };
        let file = group.source.path.display().to_string();
        changed |= snapshot.mark_managed(&id, how, &file, last, at);
    }
    changed
}
