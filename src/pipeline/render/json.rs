//! The JSON plan (`--format json`): one object on stdout, always, with
//! `errors` non-empty whenever the run failed; and `validate`'s document.

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::error::Diagnostic;
use crate::kinds::seam::Drift;
use crate::pipeline::apply::Failure;
use crate::pipeline::orphans::Orphan;
use crate::pipeline::plan::{Change, Held};
use crate::pipeline::render::common::{Report, apply_error};
use crate::text::counted;

/// The JSON plan: `{"changes": [...], "unchanged": N, "errors": [...]}`.
/// `errors` holds the input errors, then every group an apply could not
/// update and the changes a stop left out: non-empty whenever the run failed.
pub fn render_json(report: &Report) -> String {
    let document = JsonPlan {
        digest: report.digest,
        revision: report.revision,
        changes: report.plan.changes.iter().map(JsonChange).collect(),
        unchanged: report.plan.unchanged,
        errors: json_errors(report),
        drift: report.drift.iter().map(JsonDrift).collect(),
        warnings: report.warnings,
        orphans: &report.plan.orphans,
        held_drift: report.plan.held.iter().map(JsonHeld).collect(),
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
                    "{} not started: {}",
                    counted(applied.not_started, "change"),
                    applied.not_started_reason()
                ),
            });
        }
        if let Some(message) = apply_error(applied) {
            errors.push(JsonError::Run { message });
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
    /// The plan's digest: what `plan --out` saves, `approve` names, the journal records.
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<&'a str>,
    /// The revision of the groups dir: `{"commit", "dirty", "author", "subject"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<&'a crate::revision::Revision>,
    changes: Vec<JsonChange<'a>>,
    unchanged: usize,
    errors: Vec<JsonError<'a>>,
    /// Changes made on the pod outside groupsync, found by refresh.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    drift: Vec<JsonDrift<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
    /// Groups groupsync manages that no file declares any more.
    #[serde(skip_serializing_if = "<[Orphan]>::is_empty")]
    orphans: &'a [Orphan],
    /// Drift `on_drift: hold` holds back: shown, not written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    held_drift: Vec<JsonHeld<'a>>,
    /// Only after an apply: the groups updated, those that failed, and those a stop left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    applied: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed: Option<Vec<JsonFailure<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    not_started: Option<usize>,
}

/// `{"group_id": ..., "source": ..., "fields": {"area": {"pod": ..., "git": ...}},
/// "members": {"removed_on_pod": [...], "added_on_pod": [...]}}`
struct JsonHeld<'a>(&'a Held);

impl Serialize for JsonHeld<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let held = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("group_id", &held.group_id)?;
        map.serialize_entry("source", &held.source.display().to_string())?;
        for part in &held.parts {
            part.serialize_held_json(&mut map)?;
        }
        map.end()
    }
}

/// `{"group_id": ..., "fields": {...}, "members": {"added": [...], "removed": [...]}}`
struct JsonDrift<'a>(&'a Drift);

impl Serialize for JsonDrift<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        self.0.serialize_json(&mut map)?;
        map.end()
    }
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

/// One change: its group, action and source, each kind's part (`fields`,
/// then `members` and `assignees` where managed), its requests and warnings.
struct JsonChange<'a>(&'a Change);

impl Serialize for JsonChange<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let change = self.0;
        let requests = change.requests();
        let warnings = change.warnings();
        let mut map = serializer.serialize_map(None)?;
        // `null` for a create: the pod picks the id.
        map.serialize_entry("group_id", &change.group_id)?;
        map.serialize_entry("action", &change.action)?;
        map.serialize_entry("source", &change.source.display().to_string())?;
        for part in &change.parts {
            part.serialize_json(&mut map)?;
        }
        let first = requests
            .first()
            .expect("a planned change sends at least one request");
        map.serialize_entry("request", first)?;
        map.serialize_entry("requests", &requests)?;
        if !warnings.is_empty() {
            map.serialize_entry("warnings", &warnings)?;
        }
        if !change.notes.is_empty() {
            map.serialize_entry("notes", &change.notes)?;
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
    use crate::pipeline::apply::ApplyReport;
    use crate::pipeline::plan::Plan;

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
                error: crate::error::PodError::Setup("no TLS backend".to_string()).into(),
            }],
            not_started: 1,
            save_error: None,
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
}
