//! The plan stage: desired state + snapshot -> the minimal set of PUTs.
//!
//! A pure function of its inputs: no I/O, no clock, deterministic order (by
//! group id, which `DesiredState` already guarantees).

use std::path::PathBuf;

use crate::model::{
    DesiredGroup, DesiredState, Field, FieldRef, FieldValue, UpdateMode, UserGroupResponse,
    UserGroupUpdate,
};
use crate::pipeline::state::Snapshot;

/// One field that differs: the pod's recorded value (`None` when unknown) and the declared one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: Field,
    pub from: Option<FieldValue>,
    pub to: FieldValue,
}

/// One group that needs a PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub group_id: String,
    /// The file that declares the group.
    pub source: PathBuf,
    /// The pod's state as the snapshot records it; `None` when the group is not in the snapshot.
    pub recorded: Option<UserGroupResponse>,
    /// The fields the YAML declares.
    pub desired: UserGroupUpdate,
    /// The declared fields whose value differs from the recorded one, in field order.
    pub fields: Vec<FieldChange>,
    /// The body of the PUT.
    pub body: UserGroupUpdate,
}

impl Change {
    /// True when the PUT turns an active group inactive (or may: from an unknown state).
    pub fn deactivates(&self) -> bool {
        self.body.active == Some(false)
            && self.recorded.as_ref().and_then(|pod| pod.active) != Some(false)
    }
}

/// What a cycle would do: the changes, and how many declared groups already match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub unchanged: usize,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// How many changes turn an active group inactive (`limits.max_deactivations`).
    pub fn deactivations(&self) -> usize {
        self.changes
            .iter()
            .filter(|change| change.deactivates())
            .count()
    }
}

/// Compares every desired group with the snapshot and plans the PUTs that converge them.
pub fn plan(desired: &DesiredState, snapshot: &Snapshot, mode: UpdateMode) -> Plan {
    let mut result = Plan::default();
    for group in &desired.groups {
        // Groups known by name are planned once create and adopt exist.
        let Some(id) = group.id() else { continue };
        match plan_group(group, snapshot.get(id), mode) {
            Some(change) => result.changes.push(change),
            None => result.unchanged += 1,
        }
    }
    result
}

/// The change one group needs, or `None` when the pod already matches every declared field.
pub fn plan_group(
    group: &DesiredGroup,
    recorded: Option<&UserGroupResponse>,
    mode: UpdateMode,
) -> Option<Change> {
    let fields = differing_fields(&group.fields, recorded);
    if fields.is_empty() {
        return None;
    }
    let body = match mode {
        UpdateMode::Minimal => body_of(&fields),
        UpdateMode::Full => group.fields.clone(),
    };
    Some(Change {
        group_id: group.id().unwrap_or_default().to_string(),
        source: group.source.path.clone(),
        recorded: recorded.cloned(),
        desired: group.fields.clone(),
        fields,
        body,
    })
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
        plan(&DesiredState { groups }, &snapshot, mode)
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
            .map(|change| change.group_id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
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
            let first = plan(&desired, &snapshot, mode);
            let mut after = snapshot.clone();
            for change in &first.changes {
                let base = after.get(&change.group_id).cloned().unwrap_or_default();
                after.record_write(&change.group_id, base.with_update(&change.body), 1);
            }
            let second = plan(&desired, &after, mode);
            prop_assert!(second.is_empty(), "still planned: {:?}", second.changes);
            prop_assert_eq!(second.unchanged, desired.groups.len());
        }

        #[test]
        fn planning_is_deterministic((desired, snapshot, mode) in inputs()) {
            prop_assert_eq!(plan(&desired, &snapshot, mode), plan(&desired, &snapshot, mode));
        }

        #[test]
        fn minimal_bodies_hold_only_differing_fields((desired, snapshot, _mode) in inputs()) {
            for change in plan(&desired, &snapshot, UpdateMode::Minimal).changes {
                for field in Field::ALL {
                    let sent = change.body.get(field);
                    let recorded = snapshot.get(&change.group_id).and_then(|pod| pod.get(field));
                    if let Some(value) = sent {
                        prop_assert_ne!(Some(value), recorded);
                    }
                }
            }
        }
    }
}
