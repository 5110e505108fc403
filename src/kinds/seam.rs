//! The one seam between the pipeline and the resource kinds: every operation
//! the pipeline needs of a kind is a method here with one `match`, so that
//! refresh, plan, apply and render loop over kinds and name none.
//!
//! - [`read_all`]: each kind's reads, in kind order (a group's id first).
//! - [`plan_parts`]: each kind's part of one declared group's change.
//! - [`Part`]: one kind's part of a change — its requests, what it counts
//!   toward the limits, how it shows, how it is sent and recorded.
//! - [`Drift`], [`PartDrift`]: what changed on the pod outside groupsync.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};

use crate::config::Limit;

use crate::kinds::assignment::ASSIGNMENTS;
use crate::kinds::core::{DriftRule, Kind, ReadContext, Request, StepOutcome, Target};
use crate::kinds::group::names::{Found, NameLookups};
use crate::kinds::group::{self, FieldChange, GroupFields, JsonFields, field_changes};
use crate::kinds::membership::MEMBERSHIPS;
use crate::kinds::roster::{self, ListChange, ListDrift, ListKind, RosterLookups};
use crate::model::{DesiredGroup, DesiredState, UpdateMode};
use crate::pod::{PodClient, PodError};
use crate::store::snapshot::Snapshot;

/// The list kinds' specifics, by kind.
fn list_kind(kind: Kind) -> Option<&'static ListKind> {
    match kind {
        Kind::Group => None,
        Kind::Membership => Some(&MEMBERSHIPS),
        Kind::Assignment => Some(&ASSIGNMENTS),
    }
}

/// What the reads of every kind learnt that the plan needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookups {
    /// Which pod group each group declared without `id` is.
    pub names: NameLookups,
    /// Unknown usernames and unreadable lists.
    pub lists: RosterLookups,
}

impl Lookups {
    /// No pod to read (offline planning): names are bound from the snapshot alone.
    pub fn offline(desired: &DesiredState, snapshot: &Snapshot) -> Lookups {
        Lookups {
            names: NameLookups::from_snapshot(desired, snapshot),
            lists: RosterLookups::default(),
        }
    }
}

/// What a refresh read and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refreshed {
    /// Resources read from the pod and recorded in the snapshot.
    pub read: usize,
    pub drift: Vec<Drift>,
    /// Problems that do not stop the cycle (no read permission, unknown
    /// group), each said once.
    pub warnings: Vec<String>,
    pub lookups: Lookups,
}

impl Refreshed {
    /// No pod to read: names bound from the snapshot alone.
    pub fn offline(desired: &DesiredState, snapshot: &Snapshot) -> Refreshed {
        Refreshed {
            lookups: Lookups::offline(desired, snapshot),
            ..Refreshed::default()
        }
    }

    fn warn(&mut self, warnings: Vec<String>) {
        for warning in warnings {
            if !self.warnings.contains(&warning) {
                self.warnings.push(warning);
            }
        }
    }

    /// Adds `drift` to the group's entry, made on first sight.
    fn drifted(&mut self, group_id: String, drift: PartDrift) {
        match self.drift.iter_mut().find(|seen| seen.group_id == group_id) {
            Some(seen) => seen.add(drift),
            None => {
                let mut seen = Drift::new(group_id);
                seen.add(drift);
                self.drift.push(seen);
            }
        }
    }
}

/// Reads every kind in kind order into `snapshot`: the groups (which binds
/// the names declared without `id`), then each list of the groups bound.
pub async fn read_all(
    ctx: &ReadContext<'_>,
    snapshot: &mut Snapshot,
) -> Result<Refreshed, PodError> {
    let mut found = Refreshed::default();
    for kind in Kind::ALL {
        match list_kind(kind) {
            None => {
                let read = group::read::read(ctx, snapshot).await?;
                found.read += read.read;
                found.warn(read.warnings);
                for (group_id, fields) in read.drift {
                    found.drifted(group_id, PartDrift::Group(fields));
                }
                found.lookups.names = read.names;
            }
            Some(list) => {
                let bound = bound_groups(ctx.desired, &found.lookups.names);
                let read = roster::read::read(list, ctx, &bound, snapshot).await?;
                found.read += read.read;
                found.warn(read.warnings);
                for (group_id, drift) in read.drift {
                    found.drifted(group_id, PartDrift::List(drift));
                }
                let lookups = &mut found.lookups.lists;
                lookups.unknown_users.extend(read.lookups.unknown_users);
                lookups.unreadable.extend(read.lookups.unreadable);
            }
        }
    }
    Ok(found)
}

/// The declared groups bound to a pod group, with its id.
fn bound_groups<'d>(
    desired: &'d DesiredState,
    names: &'d NameLookups,
) -> Vec<(&'d DesiredGroup, &'d str)> {
    desired
        .groups
        .iter()
        .filter_map(|group| {
            let id = match group.id() {
                Some(id) => id,
                None => match names.get(&group.key) {
                    Found::Recorded(id) | Found::Adopted(id) => id.as_str(),
                    _ => return None,
                },
            };
            Some((&**group, id))
        })
        .collect()
}

/// Every kind's part of the change `group` needs against `target`, in kind
/// order; `None` when no part writes anything. A change always has its
/// group's part, writing or not, for the diff to show.
pub fn plan_parts(
    group: &DesiredGroup,
    target: &Target,
    snapshot: &Snapshot,
    lookups: &Lookups,
    mode: UpdateMode,
    rule: DriftRule,
) -> Result<Option<Vec<Part>>, String> {
    let mut fields = None;
    let mut lists = Vec::new();
    for kind in Kind::ALL {
        match list_kind(kind) {
            None => fields = group::plan(group, target, mode, rule),
            Some(list) => {
                let change = roster::plan(list, group, target, snapshot, &lookups.lists, rule)?;
                lists.extend(change.map(Part::List));
            }
        }
    }
    let lists_matter = lists
        .iter()
        .any(|part| part.has_writes() || part.has_held());
    if fields.is_none() && !lists_matter {
        return Ok(None);
    }
    let fields = fields.unwrap_or_else(|| group::unchanged(group, target));
    let mut parts = vec![Part::Group(Box::new(fields))];
    parts.extend(lists);
    Ok(Some(parts))
}

/// One kind's part of a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// Boxed: a group's fields are several times the size of a list's change.
    Group(Box<GroupFields>),
    List(ListChange),
}

impl Part {
    /// Sets again what a saved plan leaves out: each list kind's fixed
    /// specifics, taken from the kind rather than trusted from a file.
    pub fn restore(&mut self) {
        if let Part::List(list) = self
            && let Some(kind) = list_kind(list.kind)
        {
            list.emptied_warning = kind.emptied_warning;
            list.adds_first = kind.adds_first;
            list.roster = kind.roster;
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Part::Group(_) => Kind::Group,
            Part::List(list) => list.kind,
        }
    }

    /// True when the part sends at least one request.
    pub fn has_writes(&self) -> bool {
        match self {
            Part::Group(fields) => fields.has_writes(),
            Part::List(list) => list.has_writes(),
        }
    }

    /// The part's requests, in the order they are sent; `group_path` is the
    /// group's (`{new id}` for a group to create).
    pub fn requests(&self, group_path: &str) -> Vec<Request> {
        match self {
            Part::Group(fields) => fields.requests(group_path),
            Part::List(list) => list.requests(group_path),
        }
    }

    /// What the part counts toward a safety limit: a group deactivated
    /// (`limits.max_deactivations`), users removed from a list
    /// (`limits.max_member_removals`). Changes are counted by the plan.
    pub fn count(&self, limit: Limit) -> usize {
        match (self, limit) {
            (Part::Group(fields), Limit::Deactivations) => usize::from(fields.deactivates()),
            (Part::List(list), Limit::MemberRemovals) => list.remove.len(),
            _ => 0,
        }
    }

    /// What a reviewer should know before applying.
    pub fn warnings(&self) -> Vec<String> {
        match self {
            Part::Group(_) => Vec::new(),
            Part::List(list) => list.warnings(),
        }
    }

    /// The group's name, as declared or else as recorded, if the part knows it.
    pub fn name(&self) -> Option<&str> {
        match self {
            Part::Group(fields) => fields.name(),
            Part::List(_) => None,
        }
    }

    /// How the `---` side of a diff names the pod group, if the part knows it.
    pub fn recorded_name(&self) -> Option<&str> {
        match self {
            Part::Group(fields) => Some(fields.recorded_name()),
            Part::List(_) => None,
        }
    }

    /// The part as the snapshot records it, as lines of the group's YAML block.
    pub fn yaml_before(&self, out: &mut String) {
        match self {
            Part::Group(fields) => fields.yaml_before(out),
            Part::List(list) => list.yaml_before(out),
        }
    }

    /// The part as it will be, as lines of the group's YAML block.
    pub fn yaml_after(&self, out: &mut String) {
        match self {
            Part::Group(fields) => fields.yaml_after(out),
            Part::List(list) => list.yaml_after(out),
        }
    }

    /// `area "GLOBAL" -> "EMEA"` or `members added "carol"`; `None` when the part changes nothing.
    pub fn summary(&self) -> Option<String> {
        match self {
            Part::Group(fields) => fields.summary(),
            Part::List(list) => list.summary(),
        }
    }

    /// True when the part holds drift back (`on_drift: hold`).
    pub fn has_held(&self) -> bool {
        self.held_summary().is_some()
    }

    /// The drift the part holds back, in words: `area "GLOBAL" on the pod,
    /// "EMEA" in git`, `members "dave" added on the pod`.
    pub fn held_summary(&self) -> Option<String> {
        match self {
            Part::Group(fields) => fields.held_summary(),
            Part::List(list) => list.held_summary(),
        }
    }

    /// The drift the part holds back, as its entry of a JSON held-drift record.
    pub fn serialize_held_json<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        match self {
            Part::Group(fields) => fields.serialize_held_json(map),
            Part::List(list) => list.serialize_held_json(map),
        }
    }

    /// The part's entry of a JSON change: `fields`, `members`, `assignees`.
    pub fn serialize_json<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        match self {
            Part::Group(fields) => fields.serialize_json(map),
            Part::List(list) => list.serialize_json(map),
        }
    }

    /// The part's writes in stages, by step index: a stage's steps may all
    /// run at once, and a stage starts when the one before it succeeded.
    pub fn stages(&self) -> Vec<Vec<usize>> {
        match self {
            Part::Group(fields) => fields.stages(),
            Part::List(list) => list.stages(),
        }
    }

    /// Sends step `step` to group `group_id` (`None` before a create made it).
    pub async fn send_step(
        &self,
        step: usize,
        client: &PodClient,
        group_id: Option<&str>,
    ) -> StepOutcome {
        match self {
            Part::Group(fields) => fields.send_step(client, group_id).await,
            Part::List(list) => list.send_step(step, client, group_id).await,
        }
    }

    /// Before the part's first step, once its group exists (`created`: by this change).
    pub fn begin(&self, snapshot: &mut Snapshot, group_id: &str, created: bool) {
        match self {
            Part::Group(_) => {}
            Part::List(list) => list.begin(snapshot, group_id, created),
        }
    }

    /// Records in `snapshot` what the pod took of one step for group `group_id`.
    pub fn record(&self, snapshot: &mut Snapshot, group_id: &str, outcome: &StepOutcome) {
        match self {
            Part::Group(fields) => fields.record(snapshot, group_id, outcome),
            Part::List(list) => list.record(snapshot, group_id, outcome),
        }
    }
}

/// A group whose resources changed on the pod since the snapshot recorded them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub group_id: String,
    /// In kind order; the group's own part always first (possibly empty).
    pub parts: Vec<PartDrift>,
}

/// What changed of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartDrift {
    /// `from` = the snapshot's value, `to` = the pod's value now.
    Group(Vec<FieldChange>),
    /// Members or assignees added or removed outside groupsync.
    List(ListDrift),
}

impl Drift {
    /// Test drift: group `group_id` found with `area` on the pod where the
    /// snapshot says `EMEA`.
    #[cfg(test)]
    pub fn of_area(group_id: &str, area: &str) -> Drift {
        use crate::model::{Field, FieldValue};
        let mut drift = Drift::new(group_id.to_string());
        drift.add(PartDrift::Group(vec![crate::kinds::group::FieldChange {
            field: Field::Area,
            from: Some(FieldValue::Text("EMEA".to_string())),
            to: FieldValue::Text(area.to_string()),
        }]));
        drift
    }

    /// The drift of group `group_id`, with nothing in it yet.
    pub fn new(group_id: String) -> Drift {
        Drift {
            group_id,
            parts: vec![PartDrift::Group(Vec::new())],
        }
    }

    /// Adds what changed of one more kind; the group's own fields take the first place.
    pub fn add(&mut self, drift: PartDrift) {
        match (&drift, self.parts.first_mut()) {
            (PartDrift::Group(_), Some(first @ PartDrift::Group(_))) => *first = drift,
            _ => self.parts.push(drift),
        }
    }

    /// `area "GLOBAL" -> "EMEA", members added "carol", removed "bob"`
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self.parts.iter().filter_map(PartDrift::summary).collect();
        parts.join(", ")
    }

    /// `{"group_id": ..., "fields": {...}, "members": {...}}`
    pub fn serialize_json<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry("group_id", &self.group_id)?;
        for part in &self.parts {
            match part {
                PartDrift::Group(fields) => map.serialize_entry("fields", &JsonFields(fields))?,
                PartDrift::List(list) => list.serialize_json(map)?,
            }
        }
        Ok(())
    }
}

impl PartDrift {
    /// The change in words; `None` when nothing of this kind changed.
    pub fn summary(&self) -> Option<String> {
        match self {
            PartDrift::Group(fields) if fields.is_empty() => None,
            PartDrift::Group(fields) => Some(field_changes(fields)),
            PartDrift::List(list) => Some(list.summary()),
        }
    }
}
