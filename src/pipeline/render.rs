//! The render stage: a plan as text (a unified diff per changed group), as
//! JSON, or as Markdown for a pull request ([`markdown`]).
//!
//! Both sides of a diff are the same small YAML block (name, area,
//! description, active): the `---` side is the pod as the snapshot records
//! it (`/dev/null` for a group to create), the `+++` side is what the pod
//! will hold after the requests, so fields the YAML leaves alone show as context.
//! The member and assignee lists the YAML manages follow, sorted, one user a
//! line, so that an added user is a `+` line and a removed one a `-` line.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde::ser::SerializeMap;
use similar::TextDiff;

use crate::error::Diagnostic;
use crate::model::{Field, FieldValue, Roster, UserGroupResponse};
use crate::pipeline::apply::{Applied, ApplyReport, Failure, past_tense};
use crate::pipeline::plan::{Action, Change, FieldChange, Plan, Request};
use crate::pipeline::refresh::Drift;
use crate::pipeline::roster::{AddRemove, ListDrift, RosterChange};

pub mod markdown;

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
            out.push_str(&summary_line(report.plan));
        }
    }
    out.push('\n');
    out
}

/// Everything one cycle has to show: its plan, and what refresh and apply found.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    pub plan: &'a Plan,
    pub drift: &'a [Drift],
    pub warnings: &'a [String],
    pub errors: &'a [Diagnostic],
    /// Present when the cycle wrote.
    pub apply: Option<&'a ApplyReport>,
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
        }
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

/// `ID changed outside groupsync: area "GLOBAL" -> "EMEA", members added "carol"`
fn drift_line(group: &Drift) -> String {
    let mut parts = Vec::new();
    if !group.fields.is_empty() {
        parts.push(field_changes(&group.fields));
    }
    parts.extend(group.lists.iter().map(list_drift));
    format!(
        "{} changed outside groupsync: {}",
        escaped(&group.group_id),
        parts.join(", ")
    )
}

/// `area "GLOBAL" -> "EMEA", active true -> false`
pub fn field_changes(fields: &[FieldChange]) -> String {
    let described: Vec<String> = fields
        .iter()
        .map(|change| {
            let from = change
                .from
                .as_ref()
                .map_or("(unknown)".to_string(), quoted_value);
            format!("{} {from} -> {}", change.field, quoted_value(&change.to))
        })
        .collect();
    described.join(", ")
}

/// `area "GLOBAL" -> "EMEA", members added "carol", removed "bob"`
fn changes_made(change: &Change) -> String {
    let mut parts = Vec::new();
    if !change.fields.is_empty() {
        parts.push(field_changes(&change.fields));
    }
    for list in change.rosters.iter().filter(|list| list.has_writes()) {
        let added: Vec<&str> = list.add.iter().map(|user| user.username.as_str()).collect();
        let removed: Vec<&str> = list
            .remove
            .iter()
            .map(|user| user.username.as_str())
            .collect();
        parts.push(list_changes(list.roster, &added, &removed));
    }
    parts.join(", ")
}

/// `members added "carol", removed "bob"`
fn list_drift(drift: &ListDrift) -> String {
    let added: Vec<&str> = drift.added.iter().map(String::as_str).collect();
    let removed: Vec<&str> = drift.removed.iter().map(String::as_str).collect();
    list_changes(drift.roster, &added, &removed)
}

fn list_changes(roster: Roster, added: &[&str], removed: &[&str]) -> String {
    let quoted = |users: &[&str]| {
        let users: Vec<String> = users.iter().map(|user| quoted_text(user)).collect();
        users.join(", ")
    };
    let mut described = Vec::new();
    if !added.is_empty() {
        described.push(format!("added {}", quoted(added)));
    }
    if !removed.is_empty() {
        described.push(format!("removed {}", quoted(removed)));
    }
    format!("{roster} {}", described.join(", "))
}

fn quoted_text(text: &str) -> String {
    serde_json::to_string(text).expect("strings always serialize")
}

fn quoted_value(value: &FieldValue) -> String {
    serde_json::to_string(value).expect("field values always serialize")
}

/// One line per planned change in plan order (created, adopted, updated,
/// failed, or not started), then `Apply: 4 updated, 1 failed, 7 unchanged.`
/// (with `2 created, ` first when there were creates).
fn render_apply(out: &mut String, applied: &ApplyReport, plan: &Plan) {
    for applied_line in applied_lines(applied, plan) {
        line(out, &applied_line);
    }
    out.push_str(&apply_summary(applied, plan));
}

/// One line per planned change, in plan order: what became of it.
fn applied_lines(applied: &ApplyReport, plan: &Plan) -> Vec<String> {
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
            };
            format!("{verb} {id} ({source}): {what}")
        } else if let Some(failure) = failed.get(&index) {
            let shown = shown_group(change, failure.group_id.as_deref());
            format!("failed  {shown} ({source}): {}", failure.error)
        } else {
            let shown = shown_group(change, None);
            format!("skipped {shown} ({source}): not started, groupsync was stopping")
        };
        lines.push(line);
    }
    lines
}

/// `Apply: 4 updated, 1 failed, 7 unchanged.` (with `2 created, ` first
/// when there were creates, and the changes a stop left out last).
fn apply_summary(applied: &ApplyReport, plan: &Plan) -> String {
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
    let _ = write!(
        out,
        "{} updated, {} failed, {} unchanged.",
        applied.applied.len() - created,
        applied.failed.len(),
        plan.unchanged
    );
    if applied.not_started > 0 {
        let _ = write!(
            out,
            " {} not started: stopped by a signal.",
            applied.not_started
        );
    }
    out
}

/// `Plan: 1 to create, 2 to update, 118 unchanged.` (the create part only
/// when there are creates) or `No changes. 119 groups in sync.`
pub fn summary_line(plan: &Plan) -> String {
    if plan.is_empty() {
        return format!("No changes. {} in sync.", counted(plan.unchanged, "group"));
    }
    let creates = plan.creates();
    let create_part = match creates {
        0 => String::new(),
        creates => format!("{creates} to create, "),
    };
    format!(
        "Plan: {create_part}{} to update, {} unchanged.",
        plan.changes.len() - creates,
        plan.unchanged
    )
}

/// `1 group`, `2 groups`: a count and its noun, in the right number.
pub fn counted(count: usize, noun: &str) -> String {
    match count {
        1 => format!("1 {noun}"),
        _ => format!("{count} {noun}s"),
    }
}

/// A group in a line of text: its id, or for a create that made none, its name.
fn shown_group(change: &Change, group_id: Option<&str>) -> String {
    match group_id.or(change.group_id.as_deref()) {
        Some(id) => id.to_string(),
        None => change.key.to_string(),
    }
}

/// `text` with every control, bidi and zero-width character written as
/// `\u{...}` ([`crate::text::escaped`]), owned.
fn escaped(text: &str) -> String {
    crate::text::escaped(text).into_owned()
}

/// Appends `text` and a line break, every control, bidi and zero-width
/// character in it escaped: text from files and from the pod never drives
/// the terminal nor starts a line of its own.
fn line(out: &mut String, text: &str) {
    out.push_str(&escaped(text));
    out.push('\n');
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
}

/// Each request of the change as one safe line of text.
fn request_lines(change: &Change) -> Vec<String> {
    change
        .requests()
        .iter()
        .map(|request| escaped(&request.to_string()))
        .collect()
}

/// The change as a unified diff of two YAML blocks, without colour.
fn unified_diff(change: &Change) -> String {
    let mut before = change
        .recorded
        .as_ref()
        .map(yaml_block_of_pod)
        .unwrap_or_default();
    let mut after = yaml_block_of_pod(&after_changes(change));
    for list in &change.rosters {
        if change.recorded.is_some() {
            before.push_str(&yaml_list(list.roster, &list.before));
        }
        after.push_str(&yaml_list(list.roster, &list.after));
    }
    let old_header = match &change.group_id {
        None => "/dev/null".to_string(),
        Some(id) => format!("pod {id} ({})", recorded_name(change.recorded.as_ref())),
    };
    let new_header = change.source.display().to_string();
    let diff = TextDiff::from_lines(&before, &after);
    diff.unified_diff()
        .context_radius(Field::ALL.len())
        .header(&old_header, &new_header)
        .to_string()
}

/// One user list as a YAML block: `members:` and a `- user` line each, or `members: []`.
fn yaml_list(roster: Roster, users: &[String]) -> String {
    if users.is_empty() {
        return format!("{roster}: []\n");
    }
    let mut block = format!("{roster}:\n");
    for user in users {
        let _ = writeln!(
            block,
            "  - {}",
            yaml_scalar(&FieldValue::Text(user.clone()))
        );
    }
    block
}

/// The group as the pod will hold it after the change: a new group is active
/// unless declared otherwise.
fn after_changes(change: &Change) -> UserGroupResponse {
    let base = match (&change.recorded, change.action) {
        (Some(recorded), _) => recorded.clone(),
        (None, Action::Create) => UserGroupResponse {
            active: Some(true),
            ..UserGroupResponse::default()
        },
        (None, _) => UserGroupResponse::default(),
    };
    base.with_update(&change.desired)
}

fn recorded_name(recorded: Option<&UserGroupResponse>) -> &str {
    match recorded {
        None => "not in the snapshot",
        Some(pod) => pod.name.as_deref().unwrap_or("no name recorded"),
    }
}

/// The four managed fields of a pod group as a YAML block; unknown fields are left out.
fn yaml_block_of_pod(pod: &UserGroupResponse) -> String {
    let mut block = String::new();
    for field in Field::ALL {
        if let Some(value) = pod.get(field) {
            let _ = writeln!(block, "{}: {}", field.key(), yaml_scalar(&value));
        }
    }
    block
}

/// A field value as a YAML scalar: plain where YAML would read it back as the
/// same string, double-quoted (JSON escaping, valid YAML) otherwise.
fn yaml_scalar(value: &FieldValue) -> String {
    match value {
        FieldValue::Flag(flag) => flag.to_string(),
        FieldValue::Text(text) if is_plain_safe(text) => text.clone(),
        FieldValue::Text(text) => serde_json::to_string(text).expect("strings always serialize"),
    }
}

/// True when `text` can stand as a plain YAML scalar and read back as the same string.
pub(crate) fn is_plain_safe(text: &str) -> bool {
    const INDICATORS: &[char] = &[
        '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@',
        '`',
    ];
    let Some(first) = text.chars().next() else {
        return false;
    };
    !INDICATORS.contains(&first)
        && text.trim() == text
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.ends_with(':')
        && !text.chars().any(char::is_control)
        && !reads_as_non_string(text)
}

/// Plain scalars YAML 1.1 or 1.2 would read as null, a boolean or a number.
fn reads_as_non_string(text: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n", ".nan", ".inf", "-.inf",
        "+.inf",
    ];
    let lower = text.to_ascii_lowercase();
    KEYWORDS.contains(&lower.as_str())
        || text.parse::<f64>().is_ok()
        || text.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '.')
}

/// The JSON plan: `{"changes": [...], "unchanged": N, "errors": [...]}`.
/// `errors` holds the input errors, then every group an apply could not
/// update and the changes a stop left out: non-empty whenever the run failed.
pub fn render_json(report: &Report) -> String {
    let document = JsonPlan {
        changes: report.plan.changes.iter().map(JsonChange::from).collect(),
        unchanged: report.plan.unchanged,
        errors: json_errors(report),
        drift: report
            .drift
            .iter()
            .map(|group| JsonDrift {
                group_id: &group.group_id,
                fields: JsonFields(&group.fields),
                members: list_drift_of(group, Roster::Members),
                assignees: list_drift_of(group, Roster::Assignees),
            })
            .collect(),
        warnings: report.warnings,
        applied: report.apply.map(|applied| {
            applied
                .applied
                .iter()
                .map(|applied| applied.group_id.as_str())
                .collect()
        }),
        failed: report
            .apply
            .map(|applied| applied.failed.iter().map(JsonFailure::from).collect()),
        not_started: report.apply.map(|applied| applied.not_started),
    };
    to_json_text(&document)
}

fn json_errors<'a>(report: &Report<'a>) -> Vec<JsonError<'a>> {
    let mut errors: Vec<JsonError> = report.errors.iter().map(JsonError::from).collect();
    if let Some(applied) = report.apply {
        errors.extend(applied.failed.iter().map(|failure| JsonError::Group {
            message: failure.error.to_string(),
            group_id: failure.group_id.as_deref(),
            file: failure.source.display().to_string(),
        }));
        if applied.not_started > 0 {
            errors.push(JsonError::Run {
                message: format!(
                    "{} not started: stopped by a signal",
                    counted(applied.not_started, "change")
                ),
            });
        }
    }
    errors
}

/// `groupsync validate --format json`: `{"groups": 12, "files": 5, "errors": [...]}`.
pub fn render_validation_json(groups: usize, files: usize, errors: &[Diagnostic]) -> String {
    let errors = errors.iter().map(JsonError::from).collect();
    to_json_text(&JsonValidation {
        groups,
        files,
        errors,
    })
}

/// Which command's JSON document a failure is reported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonDocument {
    /// `validate`'s: `{"groups": 0, "files": 0, "errors": [...]}`.
    Validation,
    /// The plan's (`plan`, `apply`, `run --once`): `{"changes": [], "unchanged": 0, "errors": [...]}`.
    Plan,
}

/// `--format json` for a run that failed before it had anything to show (a
/// bad config, the pod down, the state file, a safety limit): the command's
/// document, empty, with `errors` holding `{"message": ...}`.
pub fn render_failure_json(document: JsonDocument, message: &str) -> String {
    let errors = vec![JsonError::Run {
        message: message.to_string(),
    }];
    match document {
        JsonDocument::Validation => to_json_text(&JsonValidation {
            groups: 0,
            files: 0,
            errors,
        }),
        JsonDocument::Plan => to_json_text(&JsonPlan {
            errors,
            ..JsonPlan::default()
        }),
    }
}

fn to_json_text(document: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(document).expect("output always serializes");
    text.push('\n');
    text
}

#[derive(Serialize)]
struct JsonValidation<'a> {
    groups: usize,
    files: usize,
    errors: Vec<JsonError<'a>>,
}

#[derive(Serialize, Default)]
struct JsonPlan<'a> {
    changes: Vec<JsonChange<'a>>,
    unchanged: usize,
    errors: Vec<JsonError<'a>>,
    /// Changes made on the pod outside groupsync, found by refresh.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    drift: Vec<JsonDrift<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
    /// Only after an apply: the groups updated, those that failed, and those a stop left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    applied: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed: Option<Vec<JsonFailure<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    not_started: Option<usize>,
}

#[derive(Serialize)]
struct JsonDrift<'a> {
    group_id: &'a str,
    fields: JsonFields<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    members: Option<JsonListDrift<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assignees: Option<JsonListDrift<'a>>,
}

/// `{"added": [...], "removed": [...]}`: users changed outside groupsync.
#[derive(Serialize)]
struct JsonListDrift<'a> {
    added: &'a [String],
    removed: &'a [String],
}

fn list_drift_of(drift: &Drift, roster: Roster) -> Option<JsonListDrift<'_>> {
    let list = drift.lists.iter().find(|list| list.roster == roster)?;
    Some(JsonListDrift {
        added: &list.added,
        removed: &list.removed,
    })
}

#[derive(Serialize)]
struct JsonFailure<'a> {
    /// `null` for a create that made no group.
    group_id: Option<&'a str>,
    source: String,
    /// The pod's HTTP status, when it answered.
    status: Option<u16>,
    message: String,
}

impl<'a> From<&'a Failure> for JsonFailure<'a> {
    fn from(failure: &'a Failure) -> Self {
        JsonFailure {
            group_id: failure.group_id.as_deref(),
            source: failure.source.display().to_string(),
            status: failure.error.status(),
            message: failure.error.to_string(),
        }
    }
}

#[derive(Serialize)]
struct JsonChange<'a> {
    /// `null` for a create: the pod picks the id.
    group_id: Option<&'a str>,
    action: Action,
    source: String,
    fields: JsonFields<'a>,
    /// Only for a group that manages its members.
    #[serde(skip_serializing_if = "Option::is_none")]
    members: Option<AddRemove<'a>>,
    /// Only for a group that manages its assignees.
    #[serde(skip_serializing_if = "Option::is_none")]
    assignees: Option<AddRemove<'a>>,
    /// The first of `requests`.
    request: Request,
    requests: Vec<Request>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

impl<'a> From<&'a Change> for JsonChange<'a> {
    fn from(change: &'a Change) -> Self {
        let requests = change.requests();
        JsonChange {
            group_id: change.group_id.as_deref(),
            action: change.action,
            source: change.source.display().to_string(),
            fields: JsonFields(&change.fields),
            members: list_of(change, Roster::Members),
            assignees: list_of(change, Roster::Assignees),
            request: requests
                .first()
                .cloned()
                .expect("a planned change sends at least one request"),
            requests,
            warnings: change.warnings(),
        }
    }
}

/// The adds and removes of one list the change manages.
fn list_of(change: &Change, roster: Roster) -> Option<AddRemove<'_>> {
    change
        .rosters
        .iter()
        .find(|list: &&RosterChange| list.roster == roster)
        .map(AddRemove::from)
}

/// `{"area": {"from": "EMEA-old", "to": "EMEA"}}`, in field order.
struct JsonFields<'a>(&'a [FieldChange]);

impl Serialize for JsonFields<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct FromTo<'a> {
            from: &'a Option<FieldValue>,
            to: &'a FieldValue,
        }
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for change in self.0 {
            map.serialize_entry(
                change.field.key(),
                &FromTo {
                    from: &change.from,
                    to: &change.to,
                },
            )?;
        }
        map.end()
    }
}

/// One entry of `errors`: every kind has a `message`; `file`, `line` and
/// `group_id` where known.
#[derive(Serialize)]
#[serde(untagged)]
enum JsonError<'a> {
    /// An input error in a file. `path` and `column` were there before `file`
    /// and stay; `line` and `column` are `null` without a position.
    Input {
        path: String,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
        file: String,
    },
    /// A group whose PUT failed; `file` declares it.
    Group {
        message: String,
        /// `None` for a group that was to be created.
        #[serde(skip_serializing_if = "Option::is_none")]
        group_id: Option<&'a str>,
        file: String,
    },
    /// Anything else that failed the run.
    Run { message: String },
}

impl From<&Diagnostic> for JsonError<'_> {
    fn from(diagnostic: &Diagnostic) -> Self {
        let path = diagnostic.path.display().to_string();
        JsonError::Input {
            file: path.clone(),
            path,
            line: diagnostic.position.map(|(line, _)| line),
            column: diagnostic.position.map(|(_, column)| column),
            message: diagnostic.message.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Usernames come from the pod (list reads) as well as from YAML: a
    /// hostile one is shown escaped in the diff, the request line and drift.
    #[test]
    fn hostile_usernames_never_reach_the_terminal_raw() {
        use crate::pipeline::roster::RosterUser;
        let evil = "eve\u{1b}[2J\nINFO forged\u{202e}";
        let group = crate::model::DesiredGroup {
            key: crate::model::GroupKey::Id("g1".into()),
            fields: Default::default(),
            rosters: Default::default(),
            source: crate::model::SourcePos {
                path: "groups.d/g.yaml".into(),
                line: 1,
                column: 1,
            },
        };
        let mut change = Change::update(
            &group,
            "g1",
            Some(&UserGroupResponse::default()),
            Vec::new(),
            Default::default(),
        );
        change.rosters = vec![RosterChange {
            roster: Roster::Members,
            before: vec![evil.to_string()],
            after: Vec::new(),
            add: Vec::new(),
            remove: vec![RosterUser {
                username: evil.to_string(),
                user_id: Some(7),
            }],
        }];
        let plan = Plan {
            changes: vec![change],
            ..Plan::default()
        };
        let drift = [Drift {
            group_id: "g1".into(),
            fields: Vec::new(),
            lists: vec![ListDrift {
                roster: Roster::Members,
                added: vec![evil.to_string()],
                removed: Vec::new(),
            }],
        }];
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

    #[test]
    fn a_failure_is_the_commands_document_with_one_error() {
        let plan: serde_json::Value =
            serde_json::from_str(&render_failure_json(JsonDocument::Plan, "the pod is down"))
                .unwrap();
        assert_eq!(
            plan,
            serde_json::json!({
                "changes": [], "unchanged": 0, "errors": [{"message": "the pod is down"}]
            })
        );
        let validation: serde_json::Value =
            serde_json::from_str(&render_failure_json(JsonDocument::Validation, "bad config"))
                .unwrap();
        assert_eq!(
            validation,
            serde_json::json!({"groups": 0, "files": 0, "errors": [{"message": "bad config"}]})
        );
    }

    #[test]
    fn input_errors_keep_their_fields_and_name_the_file() {
        let errors = [
            Diagnostic::at("groups.d/a.yaml", 3, 1, "unknown key"),
            Diagnostic::file("groups.d/b.yaml", "not UTF-8"),
        ];
        let json: serde_json::Value =
            serde_json::from_str(&render_validation_json(0, 0, &errors)).unwrap();
        assert_eq!(
            json["errors"],
            serde_json::json!([
                {"path": "groups.d/a.yaml", "file": "groups.d/a.yaml", "line": 3, "column": 1, "message": "unknown key"},
                {"path": "groups.d/b.yaml", "file": "groups.d/b.yaml", "line": null, "column": null, "message": "not UTF-8"},
            ])
        );
    }

    #[test]
    fn groups_an_apply_could_not_update_are_errors_too() {
        let applied = ApplyReport {
            applied: Vec::new(),
            failed: vec![Failure {
                change: 0,
                group_id: Some("c3".to_string()),
                source: "groups.d/c.yaml".into(),
                error: crate::error::PodError::Setup("no TLS backend".to_string()),
            }],
            not_started: 1,
        };
        let plan = Plan::default();
        let report = Report {
            apply: Some(&applied),
            ..Report::of_plan(&plan)
        };
        let json: serde_json::Value = serde_json::from_str(&render_json(&report)).unwrap();
        assert_eq!(
            json["errors"],
            serde_json::json!([
                {"message": "no TLS backend", "group_id": "c3", "file": "groups.d/c.yaml"},
                {"message": "1 change not started: stopped by a signal"},
            ])
        );
    }

    #[test]
    fn counts_take_the_right_number() {
        assert_eq!(counted(0, "group"), "0 groups");
        assert_eq!(counted(1, "group"), "1 group");
        assert_eq!(counted(2, "error"), "2 errors");
        let one = Plan {
            unchanged: 1,
            ..Plan::default()
        };
        assert_eq!(summary_line(&one), "No changes. 1 group in sync.");
    }

    fn text(value: &str) -> String {
        yaml_scalar(&FieldValue::Text(value.to_string()))
    }

    #[test]
    fn plain_strings_stay_plain() {
        assert_eq!(text("EMEA trading scope"), "EMEA trading scope");
        assert_eq!(
            text("Traders in London and Paris"),
            "Traders in London and Paris"
        );
        assert_eq!(text("a-b_c"), "a-b_c");
    }

    #[test]
    fn strings_yaml_would_misread_are_quoted() {
        for (input, expected) in [
            ("", r#""""#),
            ("true", r#""true""#),
            ("No", r#""No""#),
            ("123", r#""123""#),
            ("1e3", r#""1e3""#),
            ("null", r#""null""#),
            ("a: b", r#""a: b""#),
            (" lead", r#"" lead""#),
            ("- x", r#""- x""#),
            ("two\nlines", r#""two\nlines""#),
            ("x #comment", r#""x #comment""#),
        ] {
            assert_eq!(text(input), expected, "for {input:?}");
        }
    }

    #[test]
    fn quoted_output_reads_back_as_the_same_string() {
        for input in [
            "",
            "true",
            "123",
            "a: b",
            " lead",
            "tab\there",
            "quote\"d",
            "ünï",
        ] {
            let rendered = text(input);
            let back: String = serde_yaml::from_str(&format!("v: {rendered}"))
                .map(|map: std::collections::BTreeMap<String, String>| map["v"].clone())
                .unwrap();
            assert_eq!(back, input);
        }
    }
}
