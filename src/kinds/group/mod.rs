//! The **group** kind: a group's own fields (name, area, description,
//! active), and which pod group a declared group is ([`names`]).
//!
//! - read ([`read`]): declared groups by GET, or one paged walk when there are
//!   many; names declared without `id` looked up; drift noted per field.
//! - plan (here): the declared fields whose recorded value differs; the
//!   minimal `PUT /v2/admin/usergroups/{id}` (`update_mode: full`: every
//!   declared field), or a create's POST and the PUT that follows it.
//! - write ([`write`]): the PUT or the POST, each answer checked, then recorded.
//! - show (here): the fields as a YAML block, `area "A" -> "B"`, JSON `fields`.

use std::fmt::Write as _;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};

use crate::kinds::core::{Action, DriftRule, Request, RequestBody, Target};
use crate::model::{
    DesiredGroup, Field, FieldRef, FieldValue, GroupKey, USERGROUPS_PATH, UpdateMode,
    UserGroupCreate, UserGroupResponse, UserGroupUpdate,
};
use crate::text::yaml_scalar;

pub mod names;
pub mod read;
pub mod write;

/// One field that differs: the pod's recorded value (`None` when unknown) and the declared one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldChange {
    pub field: Field,
    pub from: Option<FieldValue>,
    pub to: FieldValue,
}

/// The group kind's part of a change: its fields, before and after, and the
/// requests that take it from one to the other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupFields {
    /// The pod's state as the snapshot records it; `None` when the group is not in the snapshot.
    pub recorded: Option<UserGroupResponse>,
    /// The fields the YAML declares.
    pub desired: UserGroupUpdate,
    /// The declared fields whose value differs from the recorded one, in field order.
    pub fields: Vec<FieldChange>,
    /// The body of the PUT; for a create, of the PUT that follows the POST
    /// (`{"active": false}`), empty when none follows.
    pub body: UserGroupUpdate,
    /// A create's POST body.
    pub create: Option<UserGroupCreate>,
    /// Fields that differ only by drift under `on_drift: hold`: shown, not
    /// sent. `from` = the pod's value, `to` = the declared one.
    pub held: Vec<FieldChange>,
}

/// The fields part `group` needs against `target`, or `None` when the pod
/// already holds every declared field (see [`unchanged`]). Under `rule`,
/// a field whose declared value is the one last applied, and which the pod
/// no longer holds, is held rather than sent.
pub fn plan(
    group: &DesiredGroup,
    target: &Target,
    mode: UpdateMode,
    rule: DriftRule,
) -> Option<GroupFields> {
    if target.action == Action::Create {
        return Some(create(group));
    }
    // A group known by name is planned only from a recorded entry naming its id.
    if matches!(group.key, GroupKey::Name { .. })
        && target.recorded.and_then(|pod| pod.id.as_deref()).is_none()
    {
        return None;
    }
    let differing = differing_fields(&group.fields, target.recorded);
    if differing.is_empty() {
        return None;
    }
    let (held, fields): (Vec<FieldChange>, Vec<FieldChange>) = differing
        .into_iter()
        .partition(|change| is_held(change, &group.fields, rule));
    let body = match (mode, fields.is_empty()) {
        (_, true) => UserGroupUpdate::default(),
        (UpdateMode::Minimal, false) => body_of(&fields),
        (UpdateMode::Full, false) => without(&group.fields, &held),
    };
    Some(GroupFields {
        recorded: target.recorded.cloned(),
        desired: group.fields.clone(),
        fields,
        body,
        create: None,
        held,
    })
}

/// True when `change` is drift to hold: the rule holds, and what git
/// declares now is what it declared when last applied.
fn is_held(change: &FieldChange, declared: &UserGroupUpdate, rule: DriftRule) -> bool {
    let Some(applied) = rule.applied.filter(|_| rule.hold) else {
        return false;
    };
    applied.fields.field(change.field) == declared.field(change.field)
}

/// `declared` without the fields `held`.
fn without(declared: &UserGroupUpdate, held: &[FieldChange]) -> UserGroupUpdate {
    let mut body = declared.clone();
    for change in held {
        body.clear(change.field);
    }
    body
}

/// The part of a group no file declares any more, still active: deactivate it.
pub fn prune(recorded: &UserGroupResponse) -> GroupFields {
    let desired = UserGroupUpdate {
        active: Some(false),
        ..UserGroupUpdate::default()
    };
    GroupFields {
        recorded: Some(recorded.clone()),
        fields: differing_fields(&desired, Some(recorded)),
        body: desired.clone(),
        desired,
        create: None,
        held: Vec::new(),
    }
}

/// The fields part of a group whose fields match, for a change its other
/// kinds make: shown in the diff, sending nothing.
pub fn unchanged(group: &DesiredGroup, target: &Target) -> GroupFields {
    GroupFields {
        recorded: target.recorded.cloned(),
        desired: group.fields.clone(),
        fields: Vec::new(),
        body: UserGroupUpdate::default(),
        create: None,
        held: Vec::new(),
    }
}

/// A create: the POST of the declared name, type, area and description,
/// and a PUT of `active: false` after it when the group is declared inactive.
fn create(group: &DesiredGroup) -> GroupFields {
    let GroupKey::Name { group_type, name } = &group.key else {
        unreachable!("only a group declared without `id` is created");
    };
    let desired = &group.fields;
    let post = UserGroupCreate {
        name: name.clone(),
        group_type: group_type.clone(),
        area: desired.area.clone(),
        description: desired.description.clone(),
    };
    let body = UserGroupUpdate {
        active: desired.active.filter(|active| !active),
        ..UserGroupUpdate::default()
    };
    GroupFields {
        recorded: None,
        desired: desired.clone(),
        fields: differing_fields(desired, None),
        body,
        create: Some(post),
        held: Vec::new(),
    }
}

impl GroupFields {
    /// True when the part sends a request.
    pub fn has_writes(&self) -> bool {
        self.create.is_some() || !self.body.is_empty()
    }

    /// A create's POST and the PUT that may follow it, or the one PUT of an update.
    pub fn requests(&self, group_path: &str) -> Vec<Request> {
        let mut requests = Vec::with_capacity(2);
        if let Some(create) = &self.create {
            requests.push(Request {
                method: "POST",
                path: USERGROUPS_PATH.to_string(),
                body: RequestBody::Create(create.clone()),
                user: None,
            });
        }
        if !self.body.is_empty() {
            requests.push(Request {
                method: "PUT",
                path: group_path.to_string(),
                body: RequestBody::Update(self.body.clone()),
                user: None,
            });
        }
        requests
    }

    /// True when the PUT turns an active group inactive (or may: from an
    /// unknown state). A group created inactive was never active.
    pub fn deactivates(&self) -> bool {
        self.create.is_none()
            && self.body.active == Some(false)
            && self.recorded.as_ref().and_then(|pod| pod.active) != Some(false)
    }

    /// The name the group is declared by, or else the one the pod has.
    pub fn name(&self) -> Option<&str> {
        self.desired
            .name
            .as_deref()
            .or_else(|| self.recorded.as_ref()?.name.as_deref())
    }

    /// How the `---` side of a diff names the pod group: its recorded name.
    pub fn recorded_name(&self) -> &str {
        match &self.recorded {
            None => "not in the snapshot",
            Some(pod) => pod.name.as_deref().unwrap_or("no name recorded"),
        }
    }

    /// The fields as the snapshot records them, as a YAML block (none for a group not recorded).
    pub fn yaml_before(&self, out: &mut String) {
        if let Some(recorded) = &self.recorded {
            yaml_block(out, recorded);
        }
    }

    /// The fields as the pod will hold them after the requests: a new group
    /// is active unless declared otherwise; a held field keeps the pod's value.
    pub fn yaml_after(&self, out: &mut String) {
        let base = match (&self.recorded, &self.create) {
            (Some(recorded), _) => recorded.clone(),
            (None, Some(_)) => UserGroupResponse {
                active: Some(true),
                ..UserGroupResponse::default()
            },
            (None, None) => UserGroupResponse::default(),
        };
        yaml_block(out, &base.with_update(&without(&self.desired, &self.held)));
    }

    /// `area "GLOBAL" on the pod, "EMEA" in git`; `None` without held fields.
    pub fn held_summary(&self) -> Option<String> {
        (!self.held.is_empty()).then(|| {
            let each: Vec<String> = self
                .held
                .iter()
                .map(|change| {
                    let pod = change
                        .from
                        .as_ref()
                        .map_or("(unknown)".to_string(), quoted_value);
                    format!(
                        "{} {pod} on the pod, {} in git",
                        change.field,
                        quoted_value(&change.to)
                    )
                })
                .collect();
            each.join(", ")
        })
    }

    /// `area "GLOBAL" -> "EMEA", active true -> false`; `None` without changed fields.
    pub fn summary(&self) -> Option<String> {
        (!self.fields.is_empty()).then(|| field_changes(&self.fields))
    }

    /// `"fields": {"area": {"pod": "GLOBAL", "git": "EMEA"}}`: the fields held back.
    pub fn serialize_held_json<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        #[derive(Serialize)]
        struct PodGit<'a> {
            pod: &'a Option<FieldValue>,
            git: &'a FieldValue,
        }
        let held: std::collections::BTreeMap<&str, PodGit> = self
            .held
            .iter()
            .map(|change| {
                let entry = PodGit {
                    pod: &change.from,
                    git: &change.to,
                };
                (change.field.key(), entry)
            })
            .collect();
        map.serialize_entry("fields", &held)
    }

    /// `"fields": {"area": {"from": "EMEA-old", "to": "EMEA"}}`, always present.
    pub fn serialize_json<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        map.serialize_entry("fields", &JsonFields(&self.fields))
    }
}

/// The four managed fields of a pod group as a YAML block; unknown fields are left out.
fn yaml_block(out: &mut String, pod: &UserGroupResponse) {
    for field in Field::ALL {
        match pod.field(field) {
            Some(FieldRef::Text(text)) => {
                let _ = writeln!(out, "{}: {}", field.key(), yaml_scalar(text));
            }
            Some(FieldRef::Flag(flag)) => {
                let _ = writeln!(out, "{}: {flag}", field.key());
            }
            None => {}
        }
    }
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

fn quoted_value(value: &FieldValue) -> String {
    serde_json::to_string(value).expect("field values always serialize")
}

/// `{"area": {"from": "EMEA-old", "to": "EMEA"}}`, in field order.
pub struct JsonFields<'a>(pub &'a [FieldChange]);

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

/// The minimal PUT that brings `pod` in line with `desired` (empty when it matches).
pub fn minimal_body(desired: &UserGroupUpdate, pod: &UserGroupResponse) -> UserGroupUpdate {
    body_of(&differing_fields(desired, Some(pod)))
}

/// The declared fields whose recorded value is different or unknown.
fn differing_fields(
    desired: &UserGroupUpdate,
    recorded: Option<&UserGroupResponse>,
) -> Vec<FieldChange> {
    changed_fields(
        |field| recorded.and_then(|pod| pod.field(field)),
        |field| desired.field(field),
    )
}

/// Every field `to` holds whose value `from` does not hold (different, or
/// unknown). Borrows until a difference is found.
pub fn changed_fields<'a, 'b>(
    from: impl Fn(Field) -> Option<FieldRef<'a>>,
    to: impl Fn(Field) -> Option<FieldRef<'b>>,
) -> Vec<FieldChange> {
    Field::ALL
        .into_iter()
        .filter_map(|field| {
            let to = to(field)?;
            let from = from(field);
            (from != Some(to)).then(|| FieldChange {
                field,
                from: from.map(FieldRef::to_value),
                to: to.to_value(),
            })
        })
        .collect()
}

fn body_of(fields: &[FieldChange]) -> UserGroupUpdate {
    let mut body = UserGroupUpdate::default();
    for change in fields {
        body.set(change.field, change.to.clone());
    }
    body
}
