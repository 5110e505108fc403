//! The render stage: a plan as text (a unified diff per changed group) or as JSON.
//!
//! Both sides of a diff are the same small YAML block (name, area,
//! description, active): the `---` side is the pod as the snapshot records
//! it, the `+++` side is what the pod will hold after the PUT, so fields the
//! YAML leaves alone show as context.

use std::fmt::Write as _;

use serde::Serialize;
use serde::ser::SerializeMap;
use similar::TextDiff;

use crate::error::Diagnostic;
use crate::model::{Field, FieldValue, UserGroupResponse, UserGroupUpdate, group_path};
use crate::plan::{Change, FieldChange, Plan};

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
pub fn render_text(plan: &Plan, color: bool) -> String {
    let palette = Palette::new(color);
    let mut out = String::new();
    for change in &plan.changes {
        render_change(&mut out, change, palette);
        out.push('\n');
    }
    out.push_str(&summary_line(plan));
    out.push('\n');
    out
}

/// `Plan: 1 to update, 118 unchanged.` or `No changes. 119 groups in sync.`
pub fn summary_line(plan: &Plan) -> String {
    if plan.is_empty() {
        format!("No changes. {} groups in sync.", plan.unchanged)
    } else {
        format!(
            "Plan: {} to update, {} unchanged.",
            plan.changes.len(),
            plan.unchanged
        )
    }
}

fn render_change(out: &mut String, change: &Change, palette: Palette) {
    let before = change
        .recorded
        .as_ref()
        .map(yaml_block_of_pod)
        .unwrap_or_default();
    let after = yaml_block_of_pod(
        &change
            .recorded
            .clone()
            .unwrap_or_default()
            .with_update(&change.desired),
    );
    let old_header = format!(
        "pod {} ({})",
        change.group_id,
        recorded_name(change.recorded.as_ref())
    );
    let new_header = change.source.display().to_string();
    let diff = TextDiff::from_lines(&before, &after);
    let unified = diff
        .unified_diff()
        .context_radius(Field::ALL.len())
        .header(&old_header, &new_header)
        .to_string();
    for line in unified.lines() {
        let style = match line.as_bytes().first() {
            _ if line.starts_with("---") || line.starts_with("+++") => palette.header,
            Some(b'@') => palette.hunk,
            Some(b'-') => palette.removed,
            Some(b'+') => palette.added,
            _ => "",
        };
        if style.is_empty() {
            let _ = writeln!(out, "{line}");
        } else {
            let _ = writeln!(out, "{style}{line}{}", palette.reset);
        }
    }
    let _ = writeln!(
        out,
        "{}{}{}",
        palette.header,
        request_line(&change.group_id, &change.body),
        palette.reset
    );
}

fn recorded_name(recorded: Option<&UserGroupResponse>) -> &str {
    match recorded {
        None => "not in the snapshot",
        Some(pod) => pod.name.as_deref().unwrap_or("no name recorded"),
    }
}

/// `PUT /v2/admin/usergroups/ID {"area":"EMEA"}`
pub fn request_line(group_id: &str, body: &UserGroupUpdate) -> String {
    let json = serde_json::to_string(body).expect("a UserGroupUpdate always serializes");
    format!("PUT {} {json}", group_path(group_id))
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

fn is_plain_safe(text: &str) -> bool {
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
pub fn render_json(plan: &Plan, errors: &[Diagnostic]) -> String {
    let document = JsonPlan {
        changes: plan.changes.iter().map(JsonChange::from).collect(),
        unchanged: plan.unchanged,
        errors: errors.iter().map(JsonError::from).collect(),
    };
    let mut text = serde_json::to_string_pretty(&document).expect("a plan always serializes");
    text.push('\n');
    text
}

#[derive(Serialize)]
struct JsonPlan<'a> {
    changes: Vec<JsonChange<'a>>,
    unchanged: usize,
    errors: Vec<JsonError>,
}

#[derive(Serialize)]
struct JsonChange<'a> {
    group_id: &'a str,
    source: String,
    fields: JsonFields<'a>,
    request: JsonRequest<'a>,
}

impl<'a> From<&'a Change> for JsonChange<'a> {
    fn from(change: &'a Change) -> Self {
        JsonChange {
            group_id: &change.group_id,
            source: change.source.display().to_string(),
            fields: JsonFields(&change.fields),
            request: JsonRequest {
                method: "PUT",
                path: group_path(&change.group_id),
                body: &change.body,
            },
        }
    }
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

#[derive(Serialize)]
struct JsonRequest<'a> {
    method: &'static str,
    path: String,
    body: &'a UserGroupUpdate,
}

#[derive(Serialize)]
struct JsonError {
    path: String,
    line: Option<usize>,
    column: Option<usize>,
    message: String,
}

impl From<&Diagnostic> for JsonError {
    fn from(diagnostic: &Diagnostic) -> Self {
        JsonError {
            path: diagnostic.path.display().to_string(),
            line: diagnostic.position.map(|(line, _)| line),
            column: diagnostic.position.map(|(_, column)| column),
            message: diagnostic.message.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
