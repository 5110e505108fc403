//! The text plan: one unified diff and its request lines per change, then
//! the summary line; after an apply, one line per change saying what became
//! of it. Colour only on a terminal, never with `NO_COLOR` set.

use std::fmt::Write as _;

use crate::kinds::seam::Drift;
use crate::pipeline::apply::ApplyReport;
use crate::pipeline::plan::{Change, Plan};
use crate::pipeline::render::common::{
    HELD_HINT, Report, applied_lines, apply_error, apply_summary, drift_line, escaped, held_lines,
    line, orphan_lines, provenance_lines, request_lines, summary_line, unified_diff,
};

/// ANSI styles for a terminal; all empty when colour is off.
#[derive(Debug, Clone, Copy)]
struct Palette {
    header: &'static str,
    hunk: &'static str,
    removed: &'static str,
    added: &'static str,
    reset: &'static str,
}

impl Palette {
    fn new(color: bool) -> Self {
        if color {
            Palette {
                header: "\x1b[1m",
                hunk: "\x1b[36m",
                removed: "\x1b[31m",
                added: "\x1b[32m",
                reset: "\x1b[0m",
            }
        } else {
            Palette {
                header: "",
                hunk: "",
                removed: "",
                added: "",
                reset: "",
            }
        }
    }
}

/// True when stdout should be coloured: a terminal, and `NO_COLOR` not set.
pub fn stdout_wants_color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
        && std::io::stdout().is_terminal()
}

/// The text plan: one diff and request line per change, then the summary line.
pub fn render_text(report: &Report, color: bool) -> String {
    let palette = Palette::new(color);
    let mut out = String::new();
    render_drift(&mut out, report.drift);
    for error in report.errors {
        line(&mut out, &format!("error: {error}"));
    }
    if !report.errors.is_empty() {
        out.push('\n');
    }
    match report.apply {
        Some(applied) => render_apply(&mut out, applied, report.plan),
        None => {
            for change in &report.plan.changes {
                render_change(&mut out, change, palette);
                out.push('\n');
            }
            render_sections(&mut out, report.plan);
            for provenance in provenance_lines(report) {
                out.push_str(&provenance);
                out.push('\n');
            }
            out.push_str(&summary_line(report.plan));
        }
    }
    out.push('\n');
    out
}

/// The orphans and the held drift, each a titled block of lines.
fn render_sections(out: &mut String, plan: &Plan) {
    let orphans = orphan_lines(plan);
    if !orphans.is_empty() {
        out.push_str("Orphans (groupsync manages them; no file declares them any more):\n");
        for orphan in orphans {
            let _ = writeln!(out, "  {orphan}");
        }
        out.push('\n');
    }
    let held = held_lines(plan);
    if !held.is_empty() {
        out.push_str("Held drift (on_drift: hold; not written):\n");
        for held in held {
            let _ = writeln!(out, "  {held}");
        }
        let _ = writeln!(out, "  {HELD_HINT}\n");
    }
}

/// `Drift: ID changed outside groupsync: area "GLOBAL" -> "EMEA", members
/// added "carol", removed "bob"`, one line per group.
fn render_drift(out: &mut String, drift: &[Drift]) {
    for group in drift {
        line(out, &format!("Drift: {}", drift_line(group)));
    }
    if !drift.is_empty() {
        out.push('\n');
    }
}

/// One line per planned change in plan order, then `Apply: 4 updated, 1 failed, 7 unchanged.`
fn render_apply(out: &mut String, applied: &ApplyReport, plan: &Plan) {
    for applied_line in applied_lines(applied, plan) {
        line(out, &applied_line);
    }
    if let Some(error) = apply_error(applied) {
        line(out, &format!("error: {error}"));
    }
    if !plan.orphans.is_empty() || !plan.held.is_empty() {
        out.push('\n');
        render_sections(out, plan);
    }
    out.push_str(&apply_summary(applied, plan));
}

fn render_change(out: &mut String, change: &Change, palette: Palette) {
    for line in unified_diff(change).lines() {
        let style = match line.as_bytes().first() {
            _ if line.starts_with("---") || line.starts_with("+++") => palette.header,
            Some(b'@') => palette.hunk,
            Some(b'-') => palette.removed,
            Some(b'+') => palette.added,
            _ => "",
        };
        let shown = escaped(line);
        if style.is_empty() {
            let _ = writeln!(out, "{shown}");
        } else {
            let _ = writeln!(out, "{style}{shown}{}", palette.reset);
        }
    }
    for request in request_lines(change) {
        let _ = writeln!(out, "{}{request}{}", palette.header, palette.reset);
    }
    for warning in change.warnings() {
        line(out, &format!("warning: {warning}"));
    }
    for note in &change.notes {
        line(out, &format!("note: {note}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::core::{Action, Kind, Target};
    use crate::kinds::roster::{ListChange, ListDrift, ListUser};
    use crate::kinds::seam::{Part, PartDrift};
    use crate::model::{DesiredGroup, Roster, UserGroupResponse};

    /// Usernames come from the pod (list reads) as well as from YAML: a
    /// hostile one is shown escaped in the diff, the request line and drift.
    #[test]
    fn hostile_usernames_never_reach_the_terminal_raw() {
        let evil = "eve\u{1b}[2J\nINFO forged\u{202e}";
        let group = DesiredGroup::test("g1");
        let pod = UserGroupResponse::default();
        let target = Target {
            action: Action::Update,
            group_id: Some("g1"),
            recorded: Some(&pod),
        };
        let members = ListChange {
            kind: Kind::Membership,
            roster: Roster::Members,
            before: Some(vec![evil.to_string()]),
            after: Vec::new(),
            add: Vec::new(),
            remove: vec![ListUser {
                username: evil.to_string(),
                user_id: Some(7),
            }],
            emptied_warning: None,
            adds_first: false,
            held_add: Vec::new(),
            held_remove: Vec::new(),
        };
        let change = Change {
            action: Action::Update,
            group_id: Some("g1".into()),
            key: group.key.clone(),
            source: group.source.path.to_path_buf(),
            parts: vec![
                Part::Group(Box::new(crate::kinds::group::unchanged(&group, &target))),
                Part::List(members),
            ],
            declared: Some(0),
            notes: Vec::new(),
        };
        let plan = Plan {
            changes: vec![change],
            ..Plan::default()
        };
        let mut drift = Drift::new("g1".into());
        drift.add(PartDrift::List(ListDrift {
            roster: Roster::Members,
            added: vec![evil.to_string()],
            removed: Vec::new(),
        }));
        let drift = [drift];
        let report = Report {
            drift: &drift,
            ..Report::of_plan(&plan)
        };
        let text = render_text(&report, false);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}'),
            "{text:?}"
        );
        assert!(!text.lines().any(|line| line.starts_with("INFO")), "{text}");
        assert!(
            text.contains("# eve\\u{1b}[2J\\u{a}INFO forged\\u{202e}"),
            "{text}"
        );
    }
}
