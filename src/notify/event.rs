//! What a cycle tells people ([`Event`]), derived from what it planned and
//! how it ended, as they are: the drift refresh found ([`Drift::summary`]),
//! the changes applied ([`Part::summary`]), the failures (`Failure.error`),
//! the refusal of a limit. Each kind of event is one message per cycle that
//! lists every group it is about, by id and by name.
//!
//! Every event has a fingerprint: a SHA-256 of its kind and of what it says
//! of each group (the values from and to, the users added and removed, the
//! status of a failure), never of a time, a duration or a count of cycles,
//! so that the same news found again is known as such and not sent twice.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value, json};

use crate::config::EventKind;
use crate::error::{Error, Refusal};
use crate::kinds::core::Action;
use crate::kinds::seam::{Drift, Part, PartDrift};
use crate::model::{Field, FieldValue};
use crate::pipeline::cycle::CycleOutcome;
use crate::pipeline::plan::Change;

/// One message's content, before it is rendered for a room or a webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    /// One line: `Drift: 2 groups changed outside groupsync`.
    pub title: String,
    /// A sentence of context before the table.
    pub lead: String,
    /// One row a group, in a stable order.
    pub rows: Vec<Row>,
    /// Lines after the table: what to do, since when.
    pub notes: Vec<String>,
    /// Lower-case hex SHA-256 of what the event says (see the module's doc).
    pub fingerprint: String,
    /// False for `cycle_failing` and `recovered`, whose timing is `notify_settings.repeat`'s.
    pub dedupe: bool,
    /// The event's own fields for a webhook's JSON body (`limit`, `digest`, `error`, ...).
    pub fields: Map<String, Value>,
}

/// One group an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// `None` for a group a failed create never made.
    pub group_id: Option<String>,
    /// As declared, or else as the pod has it; `None` when neither is known.
    pub name: Option<String>,
    /// What changed: `area "EMEA" -> "GLOBAL", members added "carol"`.
    pub what: String,
}

impl Event {
    /// The event's name in a message and a webhook's `event`: its kind's, or
    /// `test` for the message of `groupsync notify test`.
    pub fn name(&self) -> &'static str {
        match self.fields.contains_key("test") {
            true => "test",
            false => self.kind.as_str(),
        }
    }

    fn new(kind: EventKind, title: String, lead: String, rows: Vec<Row>) -> Event {
        let mut event = Event {
            kind,
            title,
            lead,
            rows,
            notes: Vec::new(),
            fingerprint: String::new(),
            dedupe: true,
            fields: Map::new(),
        };
        event.fingerprint = fingerprint(kind, event.rows.iter().map(Row::identity));
        event
    }

    /// About how many bytes the event holds: what an outbox counts against
    /// its [`MAX_BYTES`](super::outbox::MAX_BYTES) (an event keeps a row for
    /// every group it is about, and a drift of 100,000 groups is megabytes).
    pub fn weight(&self) -> usize {
        let text = |text: &String| std::mem::size_of::<String>() + text.len();
        let optional = |text: &Option<String>| text.as_ref().map_or(0, String::len);
        let rows: usize = (self.rows.iter())
            .map(|row| {
                std::mem::size_of::<Row>()
                    + optional(&row.group_id)
                    + optional(&row.name)
                    + row.what.len()
            })
            .sum();
        let fields = serde_json::to_string(&self.fields).map_or(0, |json| json.len());
        std::mem::size_of::<Event>()
            + self.title.len()
            + self.lead.len()
            + self.fingerprint.len()
            + self.notes.iter().map(text).sum::<usize>()
            + rows
            + fields
    }

    /// The event's groups as a webhook's JSON shows them.
    pub fn groups_json(&self) -> Value {
        let groups: Vec<Value> = (self.rows.iter())
            .map(|row| json!({"id": row.group_id, "name": row.name, "change": row.what}))
            .collect();
        Value::Array(groups)
    }
}

impl Row {
    /// What the fingerprint takes of the row: the group and what changed.
    fn identity(&self) -> String {
        format!(
            "{}\u{0}{}",
            self.group_id.as_deref().unwrap_or(""),
            self.what
        )
    }
}

/// The lower-case hex SHA-256 of `kind` and `lines` (sorted: the order groups come in is no news).
pub fn fingerprint(kind: EventKind, lines: impl Iterator<Item = String>) -> String {
    let mut lines: Vec<String> = lines.collect();
    lines.sort();
    let mut text = kind.as_str().to_string();
    for line in lines {
        text.push('\n');
        text.push_str(&line);
    }
    crate::store::journal::record::sha256_hex(text.as_bytes())
}

/// What a cycle planned, kept until it ends: the names of its groups and
/// its changes (a refusal lists them; the outcome is gone by then).
#[derive(Debug, Clone, Default)]
pub struct Planned {
    names: BTreeMap<String, String>,
    changes: Vec<Row>,
}

impl Planned {
    /// What `outcome` planned.
    pub fn of(outcome: &CycleOutcome) -> Planned {
        let mut names = BTreeMap::new();
        for change in &outcome.plan.changes {
            if let (Some(id), Some(name)) = (&change.group_id, change.name()) {
                names.insert(id.clone(), name.to_string());
            }
        }
        for drift in &outcome.refresh.drift {
            if let Some(name) = drifted_name(drift) {
                names.entry(drift.group_id.clone()).or_insert(name);
            }
        }
        let changes = (outcome.plan.changes.iter())
            .map(|change| Row {
                group_id: change.group_id.clone(),
                name: change.name().map(str::to_string),
                what: describe_change(change),
            })
            .collect();
        Planned { names, changes }
    }

    fn name(&self, group_id: &str) -> Option<String> {
        self.names.get(group_id).cloned()
    }
}

/// The name the pod gives a group whose name drifted.
fn drifted_name(drift: &Drift) -> Option<String> {
    drift.parts.iter().find_map(|part| match part {
        PartDrift::Group(fields) => fields.iter().find_map(|change| match &change.to {
            FieldValue::Text(name) if change.field == Field::Name => Some(name.clone()),
            _ => None,
        }),
        PartDrift::List(_) => None,
    })
}

/// What a change does, in words: `area "GLOBAL" -> "EMEA", members added "carol"`;
/// a create names the fields it sets.
pub fn describe_change(change: &Change) -> String {
    let parts: Vec<String> = change
        .parts
        .iter()
        .filter_map(|part| match (change.action, part) {
            (Action::Create, Part::Group(fields)) => {
                let set: Vec<String> = (fields.fields.iter())
                    .map(|field| format!("{} {}", field.field, quoted(&field.to)))
                    .collect();
                Some(format!("created with {}", set.join(", ")))
            }
            _ => part.summary(),
        })
        .collect();
    match (change.action, parts.is_empty()) {
        (Action::Create, true) => "created".to_string(),
        (_, true) => "no field changed".to_string(),
        (Action::Adopt, false) => format!("adopted by name; {}", parts.join(", ")),
        _ => parts.join(", "),
    }
}

fn quoted(value: &FieldValue) -> String {
    serde_json::to_string(value).expect("field values serialize")
}

/// The events a cycle has once it planned: the drift it found.
pub fn planned_events(outcome: &CycleOutcome, planned: &Planned) -> Vec<Event> {
    let mut events = Vec::new();
    let rows: Vec<Row> = (outcome.refresh.drift.iter())
        .map(|drift| drift_row(drift, planned))
        .collect();
    if !rows.is_empty() {
        let title = format!(
            "Drift: {} changed outside groupsync",
            groups_counted(rows.len())
        );
        let lead = "Found on the pod by groupsync's read: changed by someone or something else since groupsync last read or wrote them (from -> to).".to_string();
        events.push(Event::new(EventKind::DriftFound, title, lead, rows));
    }
    let held = held_drift(outcome);
    if !held.is_empty() {
        events.push(drift_held_event(&held, planned));
    }
    events
}

fn drift_row(drift: &Drift, planned: &Planned) -> Row {
    Row {
        group_id: Some(drift.group_id.clone()),
        name: planned.name(&drift.group_id),
        what: drift.summary(),
    }
}

/// The drift `on_drift: hold` keeps back in this cycle: the drift found
/// of each group the plan holds ([`crate::pipeline::plan::Held`]).
pub fn held_drift(outcome: &CycleOutcome) -> Vec<&Drift> {
    // A set: drift and held groups can each be every group of a large tree.
    let held: HashSet<&str> = (outcome.plan.held.iter())
        .map(|held| held.group_id.as_str())
        .collect();
    (outcome.refresh.drift.iter())
        .filter(|drift| held.contains(drift.group_id.as_str()))
        .collect()
}

/// `drift_held`: drift that `on_drift: hold` keeps until a person decides.
pub fn drift_held_event(held: &[&Drift], planned: &Planned) -> Event {
    let rows: Vec<Row> = held.iter().map(|drift| drift_row(drift, planned)).collect();
    let title = format!("Drift held: {} left as changed", groups_counted(rows.len()));
    let lead = "Changed on the pod outside groupsync, and held (on_drift: hold): groupsync does not put these back by itself.".to_string();
    let mut event = Event::new(EventKind::DriftHeld, title, lead, rows);
    event.notes.push(
        "`groupsync apply --revert-drift` puts them back; a commit that changes the declared value releases them."
            .to_string(),
    );
    event
}

/// The events a cycle has once it ended: what it reverted, wrote and
/// failed to write, or the limit that refused it. Failing and recovering
/// are the caller's ([`cycle_failing_event`], [`recovered_event`]): they
/// depend on the cycles before.
pub fn finished_events(result: Result<&CycleOutcome, &Error>, planned: &Planned) -> Vec<Event> {
    match result {
        Ok(outcome) => outcome_events(outcome, planned),
        Err(Error::Refused {
            refusal, digest, ..
        }) => vec![refused_event(refusal, planned, digest.clone())],
        Err(_) => Vec::new(),
    }
}

fn outcome_events(outcome: &CycleOutcome, planned: &Planned) -> Vec<Event> {
    let Some(report) = &outcome.apply else {
        return Vec::new();
    };
    let mut events = Vec::new();
    let change_of = |index: usize| outcome.plan.changes.get(index);
    let name_of = |index: usize, id: Option<&str>| {
        change_of(index)
            .and_then(|change| change.name().map(str::to_string))
            .or_else(|| id.and_then(|id| planned.name(id)))
    };
    let mut applied: Vec<(&Change, Row)> = Vec::new();
    for done in &report.applied {
        let Some(change) = change_of(done.change) else {
            continue;
        };
        let name = name_of(done.change, Some(&done.group_id)).or(done
            .response
            .name
            .as_deref()
            .map(str::to_owned));
        let row = Row {
            group_id: Some(done.group_id.clone()),
            name,
            what: describe_change(change),
        };
        applied.push((change, row));
    }
    applied.sort_by(|a, b| a.1.group_id.cmp(&b.1.group_id));
    let drifted: HashSet<&str> = (outcome.refresh.drift.iter())
        .map(|drift| drift.group_id.as_str())
        .collect();
    let reverted: Vec<Row> = (applied.iter())
        .filter(|(_, row)| {
            row.group_id
                .as_deref()
                .is_some_and(|id| drifted.contains(id))
        })
        .map(|(_, row)| row.clone())
        .collect();
    if !reverted.is_empty() {
        let title = format!(
            "Drift reverted: {} put back",
            groups_counted(reverted.len())
        );
        let lead = "groupsync wrote the declared values back over the changes made outside it:"
            .to_string();
        events.push(Event::new(EventKind::DriftReverted, title, lead, reverted));
    }
    if !applied.is_empty() {
        let rows: Vec<Row> = applied.into_iter().map(|(_, row)| row).collect();
        let title = format!("Applied: {} changed on the pod", groups_counted(rows.len()));
        let lead = "groupsync wrote these changes to the pod:".to_string();
        let mut event = Event::new(EventKind::Applied, title, lead, rows);
        event.notes.extend(provenance_note(outcome));
        events.push(event);
    }
    let mut failed: Vec<(Row, String)> = (report.failed.iter())
        .map(|failure| {
            let status = failure
                .error
                .status()
                .map_or("no answer".to_string(), |status| status.to_string());
            let kinds: Vec<&str> = (failure.error.0.iter())
                .map(|step| step.error.kind())
                .collect();
            let row = Row {
                group_id: failure.group_id.clone(),
                name: name_of(failure.change, failure.group_id.as_deref()),
                what: format!("{status}: {}", failure.error),
            };
            let identity = format!(
                "{}\u{0}{status}\u{0}{}",
                failure.group_id.as_deref().unwrap_or(""),
                kinds.join(",")
            );
            (row, identity)
        })
        .collect();
    failed.sort_by(|a, b| a.0.group_id.cmp(&b.0.group_id));
    if !failed.is_empty() {
        let title = format!("Apply failed for {}", groups_counted(failed.len()));
        let lead = "The pod refused or never answered these writes (its status, then its message); the next cycle tries again:".to_string();
        let identities: Vec<String> = failed
            .iter()
            .map(|(_, identity)| identity.clone())
            .collect();
        let rows = failed.into_iter().map(|(row, _)| row).collect();
        let mut event = Event::new(EventKind::ApplyFailed, title, lead, rows);
        // The pod's message may carry request ids or times: the status and kind decide.
        event.fingerprint = fingerprint(EventKind::ApplyFailed, identities.into_iter());
        events.push(event);
    }
    events
}

/// `From abc1234 "Add the EMEA desk" by Jane Doe; plan 1a2b3c4d5e6f (journaled).`
fn provenance_note(outcome: &CycleOutcome) -> Option<String> {
    let digest = crate::pipeline::saved::digest::short(&outcome.digest);
    match (&outcome.revision, digest.is_empty()) {
        (Some(revision), false) => Some(format!("From {revision}; plan {digest}.")),
        (Some(revision), true) => Some(format!("From {revision}.")),
        (None, false) => Some(format!("Plan {digest}.")),
        (None, true) => None,
    }
}

/// `refused`: a safety limit kept a plan from being written.
pub fn refused_event(refusal: &Refusal, planned: &Planned, digest: Option<String>) -> Event {
    let title = format!("Refused: the plan is over {}", refusal.limit);
    let lead = format!("{} Nothing was written. The plan:", refusal.message);
    let mut event = Event::new(EventKind::Refused, title, lead, planned.changes.clone());
    let review = "Review it with `groupsync plan`";
    event.notes.push(match &digest {
        Some(digest) => {
            format!(
                "Plan digest {digest}. {review}, then approve it with `groupsync approve {digest}`."
            )
        }
        None => format!(
            "{review}; then apply it once with `groupsync apply --force`, or raise `{}`.",
            refusal.limit
        ),
    });
    let mut lines = vec![format!(
        "{}\u{0}{}\u{0}{}",
        refusal.limit, refusal.count, refusal.max
    )];
    lines.extend(event.rows.iter().map(Row::identity));
    lines.extend(digest.iter().cloned());
    event.fingerprint = fingerprint(EventKind::Refused, lines.into_iter());
    event.fields.insert("limit".into(), json!(refusal.limit));
    event.fields.insert("count".into(), json!(refusal.count));
    event.fields.insert("max".into(), json!(refusal.max));
    event.fields.insert("digest".into(), json!(digest));
    event
}

/// `cycle_failing`: cycles end in `error`, since `since` (an RFC 3339 time).
pub fn cycle_failing_event(error: &Error, since: &str) -> Event {
    let title = "Cycles are failing: groups are not being kept in line".to_string();
    let lead = format!("The last cycle failed: {}", error.chain());
    let mut event = Event::new(EventKind::CycleFailing, title, lead, Vec::new());
    event.notes.push(format!(
        "Failing since {since}. Said again while it lasts, every notify_settings.repeat."
    ));
    event.fingerprint = fingerprint(
        EventKind::CycleFailing,
        [error.kind().to_string()].into_iter(),
    );
    event.dedupe = false;
    event.fields.insert("error".into(), json!(error.chain()));
    event
        .fields
        .insert("error_kind".into(), json!(error.kind()));
    event.fields.insert("failing_since".into(), json!(since));
    event
}

/// `recovered`: a cycle succeeded after cycles failed since `since`.
pub fn recovered_event(since: &str) -> Event {
    let title = "Recovered: cycles succeed again".to_string();
    let lead = format!("The last cycle succeeded; cycles had failed since {since}.");
    let mut event = Event::new(EventKind::Recovered, title, lead, Vec::new());
    event.dedupe = false;
    event.fields.insert("failing_since".into(), json!(since));
    event
}

/// The message of `groupsync notify test`.
pub fn test_event(host: &str) -> Event {
    let title = "Test: groupsync can post here".to_string();
    let lead = format!(
        "`groupsync notify test` on {host} sent this to check the set-up; nothing changed."
    );
    let mut event = Event::new(EventKind::Applied, title, lead, Vec::new());
    event.dedupe = false;
    event.fields.insert("test".into(), json!(true));
    event
}

/// `1 group`, `3 groups`.
fn groups_counted(count: usize) -> String {
    crate::text::counted(count, "group")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drifted(id: &str, area: &str) -> Drift {
        Drift::of_area(id, area)
    }

    fn outcome_with(drift: Vec<Drift>) -> CycleOutcome {
        CycleOutcome {
            desired_groups: 2,
            refresh: crate::pipeline::refresh::RefreshReport {
                drift,
                ..Default::default()
            },
            plan: Default::default(),
            apply: None,
            ..CycleOutcome::default()
        }
    }

    #[test]
    fn one_drift_event_lists_every_group_and_its_fingerprint_ignores_their_order() {
        let a = outcome_with(vec![drifted("a1", "GLOBAL"), drifted("b2", "APAC")]);
        let b = outcome_with(vec![drifted("b2", "APAC"), drifted("a1", "GLOBAL")]);
        let events_a = planned_events(&a, &Planned::of(&a));
        let events_b = planned_events(&b, &Planned::of(&b));
        assert_eq!(events_a.len(), 1);
        assert_eq!(events_a[0].kind, EventKind::DriftFound);
        assert_eq!(events_a[0].rows.len(), 2);
        assert_eq!(events_a[0].rows[0].what, "area \"EMEA\" -> \"GLOBAL\"");
        assert_eq!(events_a[0].fingerprint, events_b[0].fingerprint);
        assert_eq!(events_a[0].fingerprint.len(), 64);
        // Another value is other news.
        let c = outcome_with(vec![drifted("a1", "AMER"), drifted("b2", "APAC")]);
        assert_ne!(
            planned_events(&c, &Planned::of(&c))[0].fingerprint,
            events_a[0].fingerprint
        );
    }

    #[test]
    fn no_drift_no_event() {
        let quiet = outcome_with(Vec::new());
        assert!(planned_events(&quiet, &Planned::of(&quiet)).is_empty());
        assert!(finished_events(Ok(&quiet), &Planned::of(&quiet)).is_empty());
    }

    #[test]
    fn a_refusal_says_how_to_approve_with_or_without_a_digest() {
        let refusal = Refusal {
            limit: "limits.max_changes",
            count: 12,
            max: 10,
            message: "12 changes planned, over limits.max_changes (10).".into(),
        };
        let without = refused_event(&refusal, &Planned::default(), None);
        assert!(
            without.notes[0].contains("groupsync apply --force"),
            "{without:?}"
        );
        let with = refused_event(&refusal, &Planned::default(), Some("ab12".into()));
        assert!(with.notes[0].contains("groupsync approve ab12"), "{with:?}");
        assert_ne!(with.fingerprint, without.fingerprint);
        assert_eq!(with.fields["digest"], json!("ab12"));
    }

    #[test]
    fn failing_is_fingerprinted_by_the_kind_of_error_alone() {
        let one = cycle_failing_event(
            &Error::CycleTimeout(std::time::Duration::from_secs(1)),
            "t1",
        );
        let two = cycle_failing_event(
            &Error::CycleTimeout(std::time::Duration::from_secs(9)),
            "t2",
        );
        assert_eq!(one.fingerprint, two.fingerprint);
        assert!(!one.dedupe);
    }
}
