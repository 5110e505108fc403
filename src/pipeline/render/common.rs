//! What every plan format shares: the [`Report`] of a cycle, the unified
//! diff of a change, its request lines, the summary lines, and what became
//! of each change in an apply.
//!
//! Both sides of a diff are the same small YAML block, each resource kind
//! adding its lines ([`crate::kinds::seam::Part::yaml_before`]): the `---`
//! side is the pod as the snapshot records it (`/dev/null` for a group to
//! create), the `+++` side is what the pod will hold after the requests, so
//! that fields the YAML leaves alone show as context and an added user is a
//! `+` line.

use std::collections::HashMap;
use std::fmt::Write as _;

use similar::TextDiff;

use crate::error::Diagnostic;
use crate::kinds::core::Action;
use crate::kinds::seam::{Drift, Part};
use crate::model::Field;
use crate::pipeline::apply::{Applied, ApplyReport, Failure, past_tense};
use crate::pipeline::plan::{Change, Plan};
use crate::revision::Revision;
use crate::text::counted;

/// Everything one cycle has to show: its plan, and what refresh and apply found.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    pub plan: &'a Plan,
    pub drift: &'a [Drift],
    pub warnings: &'a [String],
    pub errors: &'a [Diagnostic],
    /// Present when the cycle wrote.
    pub apply: Option<&'a ApplyReport>,
    /// The revision of the groups dir the plan was made from, when known.
    pub revision: Option<&'a Revision>,
    /// The plan's digest, when it has one.
    pub digest: Option<&'a str>,
}

impl<'a> Report<'a> {
    /// A report of a plan alone.
    pub fn of_plan(plan: &'a Plan) -> Report<'a> {
        Report {
            plan,
            drift: &[],
            warnings: &[],
            errors: &[],
            apply: None,
            revision: None,
            digest: None,
        }
    }
}

/// `text` with every control, bidi and zero-width character written as
/// `\u{...}` ([`crate::text::escaped`]), owned.
pub fn escaped(text: &str) -> String {
    crate::text::escaped(text).into_owned()
}

/// Appends `text` and a line break, every control, bidi and zero-width
/// character in it escaped: text from files and from the pod never drives
/// the terminal nor starts a line of its own.
pub fn line(out: &mut String, text: &str) {
    out.push_str(&escaped(text));
    out.push('\n');
}

/// `ID changed outside groupsync: area "GLOBAL" -> "EMEA", members added
/// "carol"`, escaped: one line whatever the pod's values hold.
pub fn drift_line(group: &Drift) -> String {
    escaped(&format!(
        "{} changed outside groupsync: {}",
        group.group_id,
        group.summary()
    ))
}

/// `area "GLOBAL" -> "EMEA", members added "carol", removed "bob"`
fn changes_made(change: &Change) -> String {
    let parts: Vec<String> = change.parts.iter().filter_map(Part::summary).collect();
    parts.join(", ")
}

/// One line per planned change, in plan order: what became of it (created,
/// adopted, updated, failed, or not started).
pub fn applied_lines(applied: &ApplyReport, plan: &Plan) -> Vec<String> {
    let done: HashMap<usize, &Applied> = applied
        .applied
        .iter()
        .map(|applied| (applied.change, applied))
        .collect();
    let failed: HashMap<usize, &Failure> = applied
        .failed
        .iter()
        .map(|failure| (failure.change, failure))
        .collect();
    let mut lines = Vec::with_capacity(plan.changes.len());
    for (index, change) in plan.changes.iter().enumerate() {
        let source = change.source.display();
        let line = if let Some(applied) = done.get(&index) {
            let id = &applied.group_id;
            let verb = past_tense(change.action);
            let what = match change.action {
                Action::Update => changes_made(change),
                Action::Create | Action::Adopt => {
                    let name = change.name().unwrap_or_default();
                    format!("{name}; add id: \"{id}\" to pin it")
                }
                Action::Prune => "deactivated: no file declares it any more".to_string(),
            };
            format!("{verb} {id} ({source}): {what}")
        } else if let Some(failure) = failed.get(&index) {
            let shown = shown_group(change, failure.group_id.as_deref());
            format!("failed  {shown} ({source}): {}", failure.error)
        } else {
            let shown = shown_group(change, None);
            let reason = match applied.save_error {
                Some(_) => applied.not_started_reason(),
                None => "groupsync was stopping",
            };
            format!("skipped {shown} ({source}): not started, {reason}")
        };
        lines.push(line);
    }
    lines
}

/// `Apply: 4 updated, 1 failed, 7 unchanged.` (with `2 created, ` first
/// when there were creates, and the changes a stop left out last). Every
/// declared group is counted: one that could not be planned failed.
pub fn apply_summary(applied: &ApplyReport, plan: &Plan) -> String {
    let mut out = String::new();
    let creates = plan.creates();
    let created = applied
        .applied
        .iter()
        .filter(|applied| plan.changes[applied.change].action == Action::Create)
        .count();
    let _ = write!(out, "Apply: ");
    if creates > 0 {
        let _ = write!(out, "{created} created, ");
    }
    let pruned = applied
        .applied
        .iter()
        .filter(|applied| plan.changes[applied.change].action == Action::Prune)
        .count();
    let _ = write!(
        out,
        "{} updated, ",
        applied.applied.len() - created - pruned
    );
    if plan.prunes() > 0 {
        let _ = write!(out, "{pruned} pruned, ");
    }
    let _ = write!(
        out,
        "{} failed, {} unchanged.",
        applied.failed.len() + plan.errors.len(),
        plan.unchanged
    );
    if applied.not_started > 0 {
        let _ = write!(
            out,
            " {} not started: {}.",
            applied.not_started,
            applied.not_started_reason()
        );
    }
    out
}

/// What failed an apply as a whole, besides its changes: the state file
/// that could not be saved, or the journal that could not be written.
pub fn apply_error(applied: &ApplyReport) -> Option<String> {
    let error = applied.save_error.as_ref()?;
    let after = match error {
        crate::Error::Journal(_) => {
            "no new write was started; fix the journal (`groupsync journal verify`), and the \
             next cycle reads the pod again"
        }
        _ => "the state file is left as it was, and the next cycle reads the pod again",
    };
    Some(format!("{}; {after}", error.chain()))
}

/// Where a plan with changes (not an apply) comes from and how to name it:
/// `Revision: abc1234 (dirty) "Add the EMEA desk" by Jane Doe` (when known)
/// and `Digest: <64 hex digits>`. Escaped: a commit subject is anyone's text.
pub fn provenance_lines(report: &Report) -> Vec<String> {
    let mut lines = Vec::new();
    // An apply's record of it is the journal; a plan with nothing to do needs no name.
    if report.apply.is_some() || report.plan.is_empty() {
        return lines;
    }
    if let Some(revision) = report.revision {
        lines.push(escaped(&format!("Revision: {revision}")));
    }
    if let Some(digest) = report.digest {
        lines.push(format!("Digest: {}", escaped(digest)));
    }
    lines
}

/// `Plan: 1 to create, 2 to update, 118 unchanged.` (the create and prune
/// parts only when there are some) or `No changes. 119 groups in sync.`;
/// held drift, when there is some, after it.
pub fn summary_line(plan: &Plan) -> String {
    let held = match plan.held.len() {
        0 => String::new(),
        held => format!(" {} held back (on_drift: hold).", counted(held, "group"),),
    };
    if plan.is_empty() {
        let in_sync = counted(plan.unchanged, "group");
        return format!("No changes. {in_sync} in sync.{held}");
    }
    let (creates, prunes) = (plan.creates(), plan.prunes());
    let create_part = match creates {
        0 => String::new(),
        creates => format!("{creates} to create, "),
    };
    let prune_part = match prunes {
        0 => String::new(),
        prunes => format!("{prunes} to prune, "),
    };
    format!(
        "Plan: {create_part}{} to update, {prune_part}{} unchanged.{held}",
        plan.changes.len() - creates - prunes,
        plan.unchanged
    )
}

/// One line per orphan: what it is and what to do about it.
pub fn orphan_lines(plan: &Plan) -> Vec<String> {
    let pruning: Vec<&str> = plan
        .changes
        .iter()
        .filter(|change| change.action == Action::Prune)
        .filter_map(|change| change.group_id.as_deref())
        .collect();
    plan.orphans
        .iter()
        .map(|orphan| {
            let name = orphan
                .name
                .as_deref()
                .map(|name| format!(" {}", crate::text::quoted(name)))
                .unwrap_or_default();
            let what = if pruning.contains(&orphan.group_id.as_str()) {
                "deactivated by this plan (prune)"
            } else if !orphan.active {
                "inactive already"
            } else if plan.prune_withheld {
                "still active, and not pruned: a declared group could not be bound to its pod \
                 group (see the errors), so which groups are orphans is not sure"
            } else {
                "still active: `--prune` (or `prune: deactivate`) deactivates it"
            };
            escaped(&format!(
                "{}{name} (last declared in {}): {what}; `groupsync forget {}` stops managing it",
                orphan.group_id, orphan.last_file, orphan.group_id
            ))
        })
        .collect()
}

/// One line per group whose drift is held: what the pod has, what git says.
pub fn held_lines(plan: &Plan) -> Vec<String> {
    plan.held
        .iter()
        .map(|held| {
            escaped(&format!(
                "{} ({}): {}",
                held.group_id,
                held.source.display(),
                held.summary()
            ))
        })
        .collect()
}

/// What to do about held drift, once after its lines.
pub const HELD_HINT: &str = "`groupsync apply --revert-drift` puts the declared values back; \
     a commit that declares the pod's values keeps them";

/// A group in a line of text: its id, or for a create that made none, its name.
pub fn shown_group(change: &Change, group_id: Option<&str>) -> String {
    match group_id.or(change.group_id.as_deref()) {
        Some(id) => id.to_string(),
        None => change.key.to_string(),
    }
}

/// Each request of the change as one safe line of text.
pub fn request_lines(change: &Change) -> Vec<String> {
    change
        .requests()
        .iter()
        .map(|request| escaped(&request.to_string()))
        .collect()
}

/// The change as a unified diff of two YAML blocks, without colour. Every
/// value in it is escaped where it is placed, so each line is one safe line.
pub fn unified_diff(change: &Change) -> String {
    let (mut before, mut after) = (String::new(), String::new());
    for part in &change.parts {
        part.yaml_before(&mut before);
        part.yaml_after(&mut after);
    }
    // Escaped before they are placed: a line break in a pod's group name or
    // a file's name must not start a line of its own.
    let old_header = match &change.group_id {
        None => "/dev/null".to_string(),
        Some(id) => {
            let name = change.parts.iter().find_map(Part::recorded_name);
            escaped(&format!(
                "pod {id} ({})",
                name.unwrap_or("not in the snapshot")
            ))
        }
    };
    let new_header = match change.action {
        Action::Prune => escaped(&format!("{} (deleted)", change.source.display())),
        _ => escaped(&change.source.display().to_string()),
    };
    let diff = TextDiff::from_lines(&before, &after);
    diff.unified_diff()
        .context_radius(Field::ALL.len())
        .header(&old_header, &new_header)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_with_nothing_to_do_says_how_many_groups_are_in_sync() {
        let one = Plan {
            unchanged: 1,
            ..Plan::default()
        };
        assert_eq!(summary_line(&one), "No changes. 1 group in sync.");
    }
}
