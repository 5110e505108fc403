//! The plan stage: desired state + snapshot -> the minimal set of requests.
//!
//! A pure function of its inputs: no I/O, no clock, deterministic order (by
//! group key, which `DesiredState` already guarantees). A group declared
//! without `id` is planned from what refresh bound its name to
//! ([`NameLookups`]): an update, an adoption, a create, or an error for that
//! group alone.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::Diagnostic;
use crate::model::{
    ActiveUpdate, DesiredGroup, DesiredState, Field, FieldRef, FieldValue, GroupKey,
    USERGROUPS_PATH, UpdateMode, UserGroupCreate, UserGroupResponse, UserGroupUpdate, group_path,
};
use crate::pipeline::names::{Found, NameLookups};
use crate::pipeline::roster::{RosterChange, RosterLookups, plan_rosters};
use crate::store::snapshot::Snapshot;

/// One field that differs: the pod's recorded value (`None` when unknown) and the declared one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: Field,
    pub from: Option<FieldValue>,
    pub to: FieldValue,
}

/// What a change does to its pod group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A group declared without `id` that the pod does not have: POST it.
    Create,
    /// A group declared without `id`, found on the pod by its name this cycle: update it.
    Adopt,
    /// A group the snapshot knows: update it.
    Update,
}

/// One group that needs requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: Action,
    /// The pod's groupId; `None` for a create, whose id the pod picks.
    pub group_id: Option<String>,
    /// How the YAML names the group.
    pub key: GroupKey,
    /// The file that declares the group.
    pub source: PathBuf,
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
    /// Each user list the YAML manages (`members`, then `assignees`), with
    /// its per-user writes; a list without writes is kept for the diff.
    pub rosters: Vec<RosterChange>,
}

/// One request a change sends, as plans show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    pub method: &'static str,
    /// Under the pod URL; `{new id}` stands for the id a create's POST returns.
    pub path: String,
    pub body: RequestBody,
    /// The user a per-user write adds or removes, by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// A request's JSON body, its keys in the order the pod's types declare them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum RequestBody {
    Create(UserGroupCreate),
    Update(UserGroupUpdate),
    Active(ActiveUpdate),
}

impl std::fmt::Display for Request {
    /// `PUT /v2/admin/usergroups/ID {"area":"EMEA"}`, and for a per-user
    /// write the user's name after it: `... {"active":true}  # alice.smith`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = serde_json::to_string(&self.body).expect("request bodies always serialize");
        write!(f, "{} {} {body}", self.method, self.path)?;
        if let Some(user) = &self.user {
            write!(f, "  # {user}")?;
        }
        Ok(())
    }
}

/// The path a create's follow-up PUT shows in a plan.
pub const NEW_GROUP_PATH: &str = "/v2/admin/usergroups/{new id}";

impl Change {
    /// A change to the pod group `group_id`, which `group` declares.
    pub fn update(
        group: &DesiredGroup,
        group_id: &str,
        recorded: Option<&UserGroupResponse>,
        fields: Vec<FieldChange>,
        body: UserGroupUpdate,
    ) -> Change {
        Change {
            action: Action::Update,
            group_id: Some(group_id.to_string()),
            key: group.key.clone(),
            source: group.source.path.clone(),
            recorded: recorded.cloned(),
            desired: group.fields.clone(),
            fields,
            body,
            create: None,
            rosters: Vec::new(),
        }
    }

    /// True when the PUT turns an active group inactive (or may: from an
    /// unknown state). A group created inactive was never active.
    pub fn deactivates(&self) -> bool {
        self.action != Action::Create
            && self.body.active == Some(false)
            && self.recorded.as_ref().and_then(|pod| pod.active) != Some(false)
    }

    /// Every request the change sends, in order: a create's POST and the
    /// PUT that may follow it, or the one PUT of an update; then one PUT per
    /// user added to or removed from a list.
    pub fn requests(&self) -> Vec<Request> {
        let mut requests = Vec::with_capacity(2);
        if let Some(create) = &self.create {
            requests.push(Request {
                method: "POST",
                path: USERGROUPS_PATH.to_string(),
                body: RequestBody::Create(create.clone()),
                user: None,
            });
        }
        let group_path = match &self.group_id {
            Some(id) => group_path(id),
            None => NEW_GROUP_PATH.to_string(),
        };
        if !self.body.is_empty() {
            requests.push(Request {
                method: "PUT",
                path: group_path.clone(),
                body: RequestBody::Update(self.body.clone()),
                user: None,
            });
        }
        for list in &self.rosters {
            for (user, active) in list.writes() {
                let user_id = match user.user_id {
                    Some(id) => id.to_string(),
                    None => "{userId}".to_string(),
                };
                requests.push(Request {
                    method: "PUT",
                    path: format!("{group_path}/{}/{user_id}", list.roster.segment()),
                    body: RequestBody::Active(ActiveUpdate {
                        active: Some(active),
                    }),
                    user: Some(user.username.clone()),
                });
            }
        }
        requests
    }

    /// True when the change adds or removes a member or an assignee.
    pub fn writes_rosters(&self) -> bool {
        self.rosters.iter().any(RosterChange::has_writes)
    }

    /// Members and assignees the change removes (`limits.max_member_removals`).
    pub fn removals(&self) -> usize {
        self.rosters.iter().map(|list| list.remove.len()).sum()
    }

    /// What a reviewer should know before applying: the last assignee removed.
    pub fn warnings(&self) -> Vec<String> {
        self.rosters
            .iter()
            .filter(|list| list.leaves_no_assignee())
            .map(|_| {
                "this removes the group's last assignee: no compliance officer will be responsible for it".to_string()
            })
            .collect()
    }

    /// The name the group is declared by, or else the one the pod has.
    pub fn name(&self) -> Option<&str> {
        self.desired
            .name
            .as_deref()
            .or_else(|| self.recorded.as_ref()?.name.as_deref())
    }
}

/// What a cycle would do: the changes, how many declared groups already
/// match, and the groups that cannot be planned (each an error of its own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub unchanged: usize,
    /// One per group that cannot be planned; the other groups go on.
    pub errors: Vec<Diagnostic>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// How many changes create a group.
    pub fn creates(&self) -> usize {
        self.changes
            .iter()
            .filter(|change| change.action == Action::Create)
            .count()
    }

    /// Members plus assignees removed, across all groups (`limits.max_member_removals`).
    pub fn member_removals(&self) -> usize {
        self.changes.iter().map(Change::removals).sum()
    }

    /// How many changes turn an active group inactive (`limits.max_deactivations`).
    pub fn deactivations(&self) -> usize {
        self.changes
            .iter()
            .filter(|change| change.deactivates())
            .count()
    }
}

/// Compares every desired group with the snapshot and plans the requests
/// that converge them; `names` binds the groups declared without `id`, and
/// `rosters` says which users and lists refresh could not find.
pub fn plan(
    desired: &DesiredState,
    snapshot: &Snapshot,
    names: &NameLookups,
    rosters: &RosterLookups,
    mode: UpdateMode,
) -> Plan {
    let mut result = Plan::default();
    let declared_ids: HashMap<&str, &DesiredGroup> = desired
        .groups
        .iter()
        .filter_map(|group| Some((group.id()?, group)))
        .collect();
    for group in &desired.groups {
        let planned = match &group.key {
            GroupKey::Id(id) => Ok(plan_group(group, snapshot.get(id), mode)),
            GroupKey::Name { .. } => {
                plan_named(group, snapshot, names.get(&group.key), &declared_ids, mode)
            }
        };
        let target = pod_group_of(group, names);
        let planned =
            planned.and_then(|change| with_rosters(group, change, target, snapshot, rosters));
        match planned {
            Ok(Some(change)) => result.changes.push(change),
            Ok(None) => result.unchanged += 1,
            Err(message) => result.errors.push(Diagnostic::at(
                &group.source.path,
                group.source.line,
                group.source.column,
                message,
            )),
        }
    }
    result
}

/// The pod group a declared group is bound to, and what a change to it is.
fn pod_group_of<'a>(group: &'a DesiredGroup, names: &'a NameLookups) -> Option<(&'a str, Action)> {
    match &group.key {
        GroupKey::Id(id) => Some((id, Action::Update)),
        GroupKey::Name { .. } => match names.get(&group.key) {
            Found::Recorded(id) => Some((id, Action::Update)),
            Found::Adopted(id) => Some((id, Action::Adopt)),
            _ => None,
        },
    }
}

/// `planned` with the writes of the user lists the group manages; a group
/// whose fields match but whose lists do not becomes a change of `target`.
fn with_rosters(
    group: &DesiredGroup,
    planned: Option<Change>,
    target: Option<(&str, Action)>,
    snapshot: &Snapshot,
    lookups: &RosterLookups,
) -> Result<Option<Change>, String> {
    if group.rosters.is_empty() {
        return Ok(planned);
    }
    if let Some(mut change) = planned {
        change.rosters = plan_rosters(group, change.group_id.as_deref(), snapshot, lookups)?;
        return Ok(Some(change));
    }
    let Some((id, action)) = target else {
        return Ok(None);
    };
    let rosters = plan_rosters(group, Some(id), snapshot, lookups)?;
    if !rosters.iter().any(RosterChange::has_writes) {
        return Ok(None);
    }
    let recorded = snapshot.get(id);
    let change = Change::update(group, id, recorded, Vec::new(), UserGroupUpdate::default());
    Ok(Some(Change {
        action,
        rosters,
        ..change
    }))
}

/// The change a group declared without `id` needs, from what its name is bound to.
fn plan_named(
    group: &DesiredGroup,
    snapshot: &Snapshot,
    found: &Found,
    declared_ids: &HashMap<&str, &DesiredGroup>,
    mode: UpdateMode,
) -> Result<Option<Change>, String> {
    let name = group.fields.name.as_deref().unwrap_or_default();
    let (id, action) = match found {
        Found::Recorded(id) => (id, Action::Update),
        Found::Adopted(id) => (id, Action::Adopt),
        Found::Nothing => return Ok(Some(create(group))),
        Found::Several(ids) => {
            return Err(format!(
                "the pod has {} groups named {name:?} (ids {}); add `id:` with the one this group means",
                ids.len(),
                ids.join(", ")
            ));
        }
        Found::Unknown(reason) => {
            return Err(format!(
                "cannot tell whether the pod already has a group named {name:?}: {reason}; add its `id:`, or grant VIEW_ROLE_SCOPES"
            ));
        }
    };
    if let Some(other) = declared_ids.get(id.as_str()) {
        return Err(format!(
            "the pod's group named {name:?} is {id}, which {} declares by its id; remove one of the two",
            other.source
        ));
    }
    let change =
        plan_group(group, snapshot.get(id), mode).map(|change| Change { action, ..change });
    Ok(change)
}

/// A create: the POST of the declared name, type, area and description,
/// and a PUT of `active: false` after it when the group is declared inactive.
fn create(group: &DesiredGroup) -> Change {
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
    Change {
        action: Action::Create,
        group_id: None,
        key: group.key.clone(),
        source: group.source.path.clone(),
        recorded: None,
        desired: desired.clone(),
        fields: differing_fields(desired, None),
        body,
        create: Some(post),
        rosters: Vec::new(),
    }
}

/// The change one group needs, or `None` when the pod already matches every declared field.
pub fn plan_group(
    group: &DesiredGroup,
    recorded: Option<&UserGroupResponse>,
    mode: UpdateMode,
) -> Option<Change> {
    let id = match &group.key {
        GroupKey::Id(id) => id.as_str(),
        GroupKey::Name { .. } => recorded?.id.as_deref()?,
    };
    let fields = differing_fields(&group.fields, recorded);
    if fields.is_empty() {
        return None;
    }
    let body = match mode {
        UpdateMode::Minimal => body_of(&fields),
        UpdateMode::Full => group.fields.clone(),
    };
    Some(Change::update(group, id, recorded, fields, body))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GroupKey, SourcePos};

    /// A desired group builder: `group("g1").name("x").active(true)`.
    struct GroupBuilder(DesiredGroup);

    fn group(id: &str) -> GroupBuilder {
        GroupBuilder(DesiredGroup {
            key: GroupKey::Id(id.to_string()),
            fields: UserGroupUpdate::default(),
            rosters: Default::default(),
            source: SourcePos {
                path: PathBuf::from("groups.d/test.yaml"),
                line: 1,
                column: 1,
            },
        })
    }

    impl GroupBuilder {
        fn name(mut self, value: &str) -> Self {
            self.0.fields.name = Some(value.to_string());
            self
        }
        fn area(mut self, value: &str) -> Self {
            self.0.fields.area = Some(value.to_string());
            self
        }
        fn description(mut self, value: &str) -> Self {
            self.0.fields.description = Some(value.to_string());
            self
        }
        fn active(mut self, value: bool) -> Self {
            self.0.fields.active = Some(value);
            self
        }
    }

    fn pod(id: &str, name: &str, area: &str, description: &str, active: bool) -> UserGroupResponse {
        UserGroupResponse {
            id: Some(id.to_string()),
            name: Some(name.to_string()),
            area: Some(area.to_string()),
            description: Some(description.to_string()),
            group_type: Some("ROLE_SCOPE".to_string()),
            active: Some(active),
            ..UserGroupResponse::default()
        }
    }

    fn plan_of(groups: Vec<GroupBuilder>, pods: Vec<UserGroupResponse>, mode: UpdateMode) -> Plan {
        let mut snapshot = Snapshot::default();
        for response in pods {
            let id = response.id.clone().unwrap();
            snapshot.record_read(&id, response, 0);
        }
        let mut groups: Vec<DesiredGroup> = groups.into_iter().map(|builder| builder.0).collect();
        groups.sort_by(|a, b| a.key.cmp(&b.key));
        let desired = DesiredState { groups };
        let names = NameLookups::from_snapshot(&desired, &snapshot);
        plan(&desired, &snapshot, &names, &RosterLookups::default(), mode)
    }

    #[test]
    fn unchanged_group_plans_nothing() {
        let plan = plan_of(
            vec![
                group("g1")
                    .name("EMEA")
                    .area("EU")
                    .description("d")
                    .active(true),
            ],
            vec![pod("g1", "EMEA", "EU", "d", true)],
            UpdateMode::Minimal,
        );
        assert!(plan.is_empty());
        assert_eq!(plan.unchanged, 1);
    }

    #[test]
    fn one_differing_field_is_the_whole_body() {
        let plan = plan_of(
            vec![
                group("g1")
                    .name("EMEA")
                    .area("EMEA")
                    .description("d")
                    .active(true),
            ],
            vec![pod("g1", "EMEA", "EMEA-old", "d", true)],
            UpdateMode::Minimal,
        );
        assert_eq!(plan.changes.len(), 1);
        let change = &plan.changes[0];
        assert_eq!(
            change.body,
            UserGroupUpdate {
                area: Some("EMEA".into()),
                ..Default::default()
            }
        );
        assert_eq!(
            change.fields,
            vec![FieldChange {
                field: Field::Area,
                from: Some(FieldValue::Text("EMEA-old".into())),
                to: FieldValue::Text("EMEA".into()),
            }]
        );
    }

    #[test]
    fn undeclared_fields_are_left_alone() {
        let plan = plan_of(
            vec![group("g1").area("EU")],
            vec![pod("g1", "other name", "EU", "other description", false)],
            UpdateMode::Minimal,
        );
        assert!(plan.is_empty(), "{plan:?}");
    }

    #[test]
    fn empty_string_is_a_value_and_differs_from_absent() {
        let mut recorded = pod("g1", "EMEA", "EU", "text", true);
        recorded.description = None;
        let declared_empty = plan_of(
            vec![group("g1").description("")],
            vec![recorded.clone()],
            UpdateMode::Minimal,
        );
        assert_eq!(
            declared_empty.changes[0].body.description,
            Some(String::new())
        );
        assert_eq!(declared_empty.changes[0].fields[0].from, None);

        let not_declared = plan_of(vec![group("g1")], vec![recorded], UpdateMode::Minimal);
        assert!(not_declared.is_empty());

        let clears = plan_of(
            vec![group("g1").description("")],
            vec![pod("g1", "EMEA", "EU", "text", true)],
            UpdateMode::Minimal,
        );
        assert_eq!(clears.changes[0].body.description, Some(String::new()));
    }

    #[test]
    fn full_mode_sends_every_declared_field_of_a_changed_group_only() {
        let plan = plan_of(
            vec![
                group("g1").name("EMEA").area("EMEA").active(true),
                group("g2").name("APAC").area("AP"),
            ],
            vec![
                pod("g1", "EMEA", "old", "d", true),
                pod("g2", "APAC", "AP", "d", true),
            ],
            UpdateMode::Full,
        );
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(plan.unchanged, 1);
        let change = &plan.changes[0];
        assert_eq!(
            change.body,
            UserGroupUpdate {
                name: Some("EMEA".into()),
                area: Some("EMEA".into()),
                description: None,
                active: Some(true),
            }
        );
        assert_eq!(change.fields.len(), 1, "fields lists only what differs");
    }

    #[test]
    fn unknown_group_is_planned_with_every_declared_field_from_null() {
        let plan = plan_of(
            vec![group("new").name("N").active(false)],
            vec![],
            UpdateMode::Minimal,
        );
        let change = &plan.changes[0];
        assert_eq!(change.recorded, None);
        assert_eq!(
            change.body,
            UserGroupUpdate {
                name: Some("N".into()),
                active: Some(false),
                ..Default::default()
            }
        );
        assert!(change.fields.iter().all(|field| field.from.is_none()));
        assert!(
            change.deactivates(),
            "an unknown group made inactive counts as a deactivation"
        );
    }

    #[test]
    fn unknown_group_declaring_no_field_plans_nothing() {
        let plan = plan_of(vec![group("bare")], vec![], UpdateMode::Minimal);
        assert!(plan.is_empty());
        assert_eq!(plan.unchanged, 1);
    }

    #[test]
    fn deactivations_count_only_active_to_inactive() {
        let plan = plan_of(
            vec![
                group("a").active(false),
                group("b").active(true),
                group("c").active(false).name("x"),
            ],
            vec![
                pod("a", "A", "", "", true),
                pod("b", "B", "", "", false),
                pod("c", "C", "", "", false),
            ],
            UpdateMode::Minimal,
        );
        assert_eq!(plan.changes.len(), 3);
        assert_eq!(plan.deactivations(), 1);
    }

    #[test]
    fn changes_come_in_group_id_order() {
        let plan = plan_of(
            vec![
                group("c").name("C"),
                group("a").name("A"),
                group("b").name("B"),
            ],
            vec![],
            UpdateMode::Minimal,
        );
        let ids: Vec<&str> = plan
            .changes
            .iter()
            .filter_map(|change| change.group_id.as_deref())
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }

    mod rosters {
        use std::collections::{BTreeMap, BTreeSet};

        use super::*;
        use crate::model::Roster;

        fn set(users: &[&str]) -> BTreeSet<String> {
            users.iter().map(|user| user.to_string()).collect()
        }

        /// A snapshot holding group `g1` (active, named "G") whose members are `members`.
        fn snapshot_with(members: &[(&str, i64)]) -> Snapshot {
            let mut snapshot = Snapshot::default();
            snapshot.record_read("g1", pod("g1", "G", "A", "D", true), 0);
            let users: BTreeMap<String, i64> = members
                .iter()
                .map(|(user, id)| (user.to_string(), *id))
                .collect();
            snapshot.record_roster("g1", Roster::Members, users, Some(0));
            snapshot
        }

        fn plan_members(declared: &[&str], snapshot: &Snapshot, lookups: &RosterLookups) -> Plan {
            let mut group = group("g1").name("G").0;
            group.rosters.set(Roster::Members, set(declared));
            let desired = DesiredState {
                groups: vec![group],
            };
            plan(
                &desired,
                snapshot,
                &NameLookups::default(),
                lookups,
                UpdateMode::Minimal,
            )
        }

        fn request_lines(change: &Change) -> Vec<String> {
            change.requests().iter().map(ToString::to_string).collect()
        }

        #[test]
        fn a_list_change_alone_is_one_update_with_a_write_per_user() {
            let mut snapshot = snapshot_with(&[("alice", 1), ("bob", 2)]);
            snapshot.remember_user("carol", 3);
            let plan = plan_members(&["alice", "carol"], &snapshot, &RosterLookups::default());
            assert_eq!((plan.changes.len(), plan.unchanged), (1, 0));
            let change = &plan.changes[0];
            assert_eq!(change.action, Action::Update);
            assert!(change.body.is_empty() && change.fields.is_empty());
            assert_eq!(
                request_lines(change),
                [
                    "PUT /v2/admin/usergroups/g1/memberships/3 {\"active\":true}  # carol",
                    "PUT /v2/admin/usergroups/g1/memberships/2 {\"active\":false}  # bob",
                ]
            );
            assert_eq!(plan.member_removals(), 1);
        }

        #[test]
        fn matching_lists_plan_nothing_and_unmanaged_lists_are_never_read() {
            let snapshot = snapshot_with(&[("alice", 1)]);
            let plan = plan_members(&["alice"], &snapshot, &RosterLookups::default());
            assert_eq!((plan.changes.len(), plan.unchanged), (0, 1));
            // Without `members:` the recorded list plays no part.
            let plan = plan_of(
                vec![group("g1").name("G")],
                vec![pod("g1", "G", "A", "D", true)],
                UpdateMode::Minimal,
            );
            assert_eq!((plan.changes.len(), plan.unchanged), (0, 1));
        }

        #[test]
        fn an_unknown_username_fails_the_group_naming_the_user() {
            let snapshot = snapshot_with(&[("alice", 1)]);
            let lookups = RosterLookups {
                unknown_users: set(&["dave"]),
                ..RosterLookups::default()
            };
            let plan = plan_members(&["alice", "dave"], &snapshot, &lookups);
            assert!(plan.changes.is_empty());
            let error = plan.errors[0].to_string();
            assert!(
                error.starts_with("groups.d/test.yaml:1:1: ")
                    && error.contains("the pod has no user \"dave\" (in `members`)")
                    && error.contains("nothing is written for this group"),
                "{error}"
            );
        }

        #[test]
        fn a_list_never_read_is_an_error_not_a_guess() {
            let mut snapshot = Snapshot::default();
            snapshot.record_read("g1", pod("g1", "G", "A", "D", true), 0);
            let plan = plan_members(&["alice"], &snapshot, &RosterLookups::default());
            assert!(plan.changes.is_empty());
            assert!(
                plan.errors[0]
                    .message
                    .contains("the members of group g1 were never read")
            );
            let lookups = RosterLookups {
                unreadable: BTreeMap::from([(
                    ("g1".to_string(), Roster::Members),
                    "403".to_string(),
                )]),
                ..RosterLookups::default()
            };
            let plan = plan_members(&["alice"], &snapshot, &lookups);
            assert!(
                plan.errors[0].message.contains("are unknown: 403"),
                "{:?}",
                plan.errors
            );
        }

        #[test]
        fn a_created_group_adds_every_declared_user_to_its_new_id() {
            let mut snapshot = Snapshot::default();
            snapshot.remember_user("alice", 1);
            let mut group = DesiredGroup {
                key: GroupKey::Name {
                    group_type: "ROLE_SCOPE".into(),
                    name: "New".into(),
                },
                ..group("unused").name("New").0
            };
            group.rosters.set(Roster::Members, set(&["alice"]));
            group.rosters.set(Roster::Assignees, set(&["carol"]));
            let desired = DesiredState {
                groups: vec![group],
            };
            let plan = plan(
                &desired,
                &snapshot,
                &NameLookups::default(),
                &RosterLookups::default(),
                UpdateMode::Minimal,
            );
            let lines = request_lines(&plan.changes[0]);
            assert_eq!(lines.len(), 3, "{lines:?}");
            assert!(lines[0].starts_with("POST /v2/admin/usergroups "));
            assert_eq!(
                lines[1..],
                [
                    "PUT /v2/admin/usergroups/{new id}/memberships/1 {\"active\":true}  # alice",
                    "PUT /v2/admin/usergroups/{new id}/assignments/{userId} {\"active\":true}  # carol",
                ]
            );
        }

        #[test]
        fn removing_the_last_assignee_is_allowed_with_a_warning() {
            let mut snapshot = snapshot_with(&[]);
            let users = BTreeMap::from([("carol".to_string(), 3)]);
            snapshot.record_roster("g1", Roster::Assignees, users, Some(0));
            let mut group = group("g1").name("G").0;
            group.rosters.set(Roster::Assignees, set(&[]));
            let desired = DesiredState {
                groups: vec![group],
            };
            let plan = plan(
                &desired,
                &snapshot,
                &NameLookups::default(),
                &RosterLookups::default(),
                UpdateMode::Minimal,
            );
            let change = &plan.changes[0];
            assert_eq!(change.removals(), 1);
            assert_eq!(change.warnings().len(), 1);
            assert!(change.warnings()[0].contains("last assignee"));
        }
    }
}

#[cfg(test)]
mod named_groups {
    use super::*;
    use crate::model::{ROLE_SCOPE, SourcePos};

    fn named(name: &str, line: usize) -> DesiredGroup {
        DesiredGroup {
            key: GroupKey::Name {
                group_type: ROLE_SCOPE.into(),
                name: name.into(),
            },
            fields: UserGroupUpdate {
                name: Some(name.into()),
                ..Default::default()
            },
            rosters: Default::default(),
            source: SourcePos {
                path: "groups.d/n.yaml".into(),
                line,
                column: 5,
            },
        }
    }

    fn pod(id: &str, name: &str, area: &str) -> UserGroupResponse {
        UserGroupResponse {
            id: Some(id.into()),
            name: Some(name.into()),
            area: Some(area.into()),
            group_type: Some(ROLE_SCOPE.into()),
            active: Some(true),
            ..Default::default()
        }
    }

    fn key(name: &str) -> GroupKey {
        named(name, 1).key
    }

    #[test]
    fn a_name_nowhere_to_be_found_is_a_create_with_its_requests() {
        let mut group = named("Rates", 2);
        group.fields.area = Some("EMEA".into());
        group.fields.active = Some(false);
        let desired = DesiredState {
            groups: vec![group],
        };
        let plan = plan(
            &desired,
            &Snapshot::default(),
            &NameLookups::default(),
            &RosterLookups::default(),
            UpdateMode::Minimal,
        );
        let change = &plan.changes[0];
        assert_eq!(
            (change.action, change.group_id.as_deref()),
            (Action::Create, None)
        );
        let requests: Vec<String> = change.requests().iter().map(ToString::to_string).collect();
        assert_eq!(
            requests,
            [
                r#"POST /v2/admin/usergroups {"name":"Rates","type":"ROLE_SCOPE","area":"EMEA"}"#,
                r#"PUT /v2/admin/usergroups/{new id} {"active":false}"#,
            ]
        );
        assert_eq!(plan.creates(), 1);
        assert_eq!(
            plan.deactivations(),
            0,
            "a group created inactive was never active"
        );
    }

    #[test]
    fn a_recorded_name_is_updated_and_an_adopted_one_adopted() {
        let mut rates = named("Rates", 2);
        rates.fields.area = Some("EMEA".into());
        let mut fx = named("FX", 3);
        fx.fields.area = Some("EMEA".into());
        let desired = DesiredState {
            groups: vec![fx, rates],
        };
        let mut snapshot = Snapshot::default();
        snapshot.record_read("r1", pod("r1", "Rates", "old"), 0);
        let mut names = NameLookups::from_snapshot(&desired, &snapshot);
        assert_eq!(names.get(&key("Rates")), &Found::Recorded("r1".into()));
        names.found_on_pod(ROLE_SCOPE, "FX", &[pod("f1", "FX", "old")]);
        snapshot.record_read("f1", pod("f1", "FX", "old"), 0);

        let plan = plan(
            &desired,
            &snapshot,
            &names,
            &RosterLookups::default(),
            UpdateMode::Minimal,
        );

        let actions: Vec<(Action, Option<&str>)> = plan
            .changes
            .iter()
            .map(|change| (change.action, change.group_id.as_deref()))
            .collect();
        assert_eq!(
            actions,
            [(Action::Adopt, Some("f1")), (Action::Update, Some("r1"))]
        );
        assert!(
            plan.changes
                .iter()
                .all(|change| change.body.area.as_deref() == Some("EMEA"))
        );
    }

    #[test]
    fn an_adopted_group_that_already_matches_is_unchanged() {
        let desired = DesiredState {
            groups: vec![named("FX", 2)],
        };
        let mut snapshot = Snapshot::default();
        snapshot.record_read("f1", pod("f1", "FX", ""), 0);
        let mut names = NameLookups::default();
        names.found_on_pod(ROLE_SCOPE, "FX", &[pod("f1", "FX", "")]);
        let plan = plan(
            &desired,
            &snapshot,
            &names,
            &RosterLookups::default(),
            UpdateMode::Minimal,
        );
        assert!(plan.is_empty() && plan.errors.is_empty(), "{plan:?}");
        assert_eq!(plan.unchanged, 1);
    }

    #[test]
    fn several_matches_or_a_declared_id_fail_that_group_alone() {
        let mut by_id = named("Taken", 9);
        by_id.key = GroupKey::Id("t1".into());
        by_id.fields.name = None;
        let desired = DesiredState {
            groups: vec![by_id, named("Other name", 3), named("Twice", 2)],
        };
        let mut snapshot = Snapshot::default();
        snapshot.record_read("t1", pod("t1", "Other name", ""), 0);
        let mut names = NameLookups::from_snapshot(&desired, &snapshot);
        names.found_on_pod(
            ROLE_SCOPE,
            "Twice",
            &[pod("b", "Twice", ""), pod("a", "Twice", "")],
        );

        let plan = plan(
            &desired,
            &snapshot,
            &names,
            &RosterLookups::default(),
            UpdateMode::Minimal,
        );

        let errors: Vec<String> = plan.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [
                "groups.d/n.yaml:3:5: the pod's group named \"Other name\" is t1, which groups.d/n.yaml:9:5 declares by its id; remove one of the two",
                "groups.d/n.yaml:2:5: the pod has 2 groups named \"Twice\" (ids a, b); add `id:` with the one this group means",
            ]
        );
        assert_eq!(plan.unchanged, 1, "the group declared by id goes on");
    }

    #[test]
    fn a_name_that_could_not_be_looked_up_is_never_created() {
        let desired = DesiredState {
            groups: vec![named("Rates", 2)],
        };
        let mut names = NameLookups::default();
        names.not_looked_up(ROLE_SCOPE, "Rates", "the pod answered 403".into());
        let plan = plan(
            &desired,
            &Snapshot::default(),
            &names,
            &RosterLookups::default(),
            UpdateMode::Minimal,
        );
        assert!(plan.is_empty());
        assert!(
            plan.errors[0]
                .to_string()
                .contains("cannot tell whether the pod already has a group named \"Rates\""),
            "{:?}",
            plan.errors
        );
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::model::{GroupKey, SourcePos};

    fn text() -> impl Strategy<Value = Option<String>> {
        prop::option::of(prop_oneof![Just(String::new()), "[a-c]{1,2}"])
    }

    fn fields() -> impl Strategy<Value = UserGroupUpdate> {
        (text(), text(), text(), prop::option::of(any::<bool>())).prop_map(
            |(name, area, description, active)| UserGroupUpdate {
                name,
                area,
                description,
                active,
            },
        )
    }

    /// Up to 8 desired groups with ids from a small pool (so they overlap the
    /// snapshot), and a snapshot of up to 8 recorded groups.
    fn inputs() -> impl Strategy<Value = (DesiredState, Snapshot, UpdateMode)> {
        let desired =
            prop::collection::btree_map("g[0-9]", fields(), 0..8).prop_map(|groups| DesiredState {
                groups: groups
                    .into_iter()
                    .map(|(id, fields)| DesiredGroup {
                        key: GroupKey::Id(id),
                        fields,
                        rosters: Default::default(),
                        source: SourcePos {
                            path: "groups.d/p.yaml".into(),
                            line: 1,
                            column: 1,
                        },
                    })
                    .collect(),
            });
        let snapshot = prop::collection::btree_map("g[0-9]", fields(), 0..8).prop_map(|pods| {
            let mut snapshot = Snapshot::default();
            for (id, fields) in pods {
                let pod = UserGroupResponse {
                    id: Some(id.clone()),
                    ..Default::default()
                }
                .with_update(&fields);
                snapshot.record_read(&id, pod, 0);
            }
            snapshot
        });
        let mode = prop_oneof![Just(UpdateMode::Minimal), Just(UpdateMode::Full)];
        (desired, snapshot, mode)
    }

    proptest! {
        #[test]
        fn applying_the_plan_converges((desired, snapshot, mode) in inputs()) {
            let first = plan(&desired, &snapshot, &NameLookups::default(), &RosterLookups::default(), mode);
            let mut after = snapshot.clone();
            for change in &first.changes {
                let id = change.group_id.as_deref().unwrap();
                let base = after.get(id).cloned().unwrap_or_default();
                after.record_write(id, base.with_update(&change.body), 1);
            }
            let second = plan(&desired, &after, &NameLookups::default(), &RosterLookups::default(), mode);
            prop_assert!(second.is_empty(), "still planned: {:?}", second.changes);
            prop_assert_eq!(second.unchanged, desired.groups.len());
        }

        #[test]
        fn planning_is_deterministic((desired, snapshot, mode) in inputs()) {
            let names = NameLookups::default();
            prop_assert_eq!(plan(&desired, &snapshot, &names, &RosterLookups::default(), mode), plan(&desired, &snapshot, &names, &RosterLookups::default(), mode));
        }

        #[test]
        fn minimal_bodies_hold_only_differing_fields((desired, snapshot, _mode) in inputs()) {
            for change in plan(&desired, &snapshot, &NameLookups::default(), &RosterLookups::default(), UpdateMode::Minimal).changes {
                for field in Field::ALL {
                    let sent = change.body.get(field);
                    let recorded = change.group_id.as_deref().and_then(|id| snapshot.get(id)).and_then(|pod| pod.get(field));
                    if let Some(value) = sent {
                        prop_assert_ne!(Some(value), recorded);
                    }
                }
            }
        }
    }
}
