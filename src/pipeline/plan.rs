//! The plan stage: desired state + snapshot -> the minimal set of requests.
//!
//! A pure function of its inputs: no I/O, no clock, deterministic order (by
//! group key, which `DesiredState` already guarantees). Each declared group
//! is bound to its pod group ([`bind`]: by id, or by what refresh bound its
//! name to), then every resource kind plans its part against it
//! ([`plan_parts`]): an update, an adoption, a create, or an error for that
//! group alone. Drift the group's `on_drift: hold` holds back is shown, not
//! planned. Groups groupsync manages that no file declares any more are
//! orphans ([`crate::pipeline::orphans`]): listed, and deactivated when pruning.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::Limit;
use crate::error::Diagnostic;
use crate::kinds::core::{Action, DriftRule, NEW_GROUP_PATH, Request};
use crate::kinds::group::names::bind;
use crate::kinds::seam::{Lookups, Part, plan_parts};
use crate::model::{
    DesiredGroup, DesiredState, DriftPolicy, GroupKey, Text, UpdateMode, group_path,
};
use crate::pipeline::orphans::{Orphan, orphans_of, prune_part, rename_notes};
use crate::store::snapshot::Snapshot;
use crate::threads;

/// One group that needs requests: its pod group, and each kind's part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub action: Action,
    /// The pod's groupId; `None` for a create, whose id the pod picks.
    pub group_id: Option<String>,
    /// How the YAML names the group.
    pub key: GroupKey,
    /// The file that declares the group.
    pub source: PathBuf,
    /// Each kind's part, in kind order: the group's own fields first, then
    /// each list the YAML manages (kept for the diff even without writes).
    pub parts: Vec<Part>,
    /// The declared group's index in the desired state; `None` for a prune.
    pub declared: Option<usize>,
    /// What a reviewer may want to do about it (pin the id, add `previously:`).
    pub notes: Vec<String>,
}

impl Change {
    /// Every request the change sends, in order, part by part.
    pub fn requests(&self) -> Vec<Request> {
        let group_path = match &self.group_id {
            Some(id) => group_path(id),
            None => NEW_GROUP_PATH.to_string(),
        };
        let mut requests = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            requests.extend(part.requests(&group_path));
        }
        requests
    }

    /// True when the change turns an active group inactive (or may: from an unknown state).
    pub fn deactivates(&self) -> bool {
        self.count(Limit::Deactivations) > 0
    }

    /// Members and assignees the change removes (`limits.max_member_removals`).
    pub fn removals(&self) -> usize {
        self.count(Limit::MemberRemovals)
    }

    /// What the change counts toward `limit`: one change, and what its parts count.
    pub fn count(&self, limit: Limit) -> usize {
        match limit {
            Limit::Changes => 1,
            _ => self.parts.iter().map(|part| part.count(limit)).sum(),
        }
    }

    /// What a reviewer should know before applying.
    pub fn warnings(&self) -> Vec<String> {
        self.parts.iter().flat_map(Part::warnings).collect()
    }

    /// True when the change does something (a part that holds drift only does not).
    pub fn writes(&self) -> bool {
        self.parts.iter().any(Part::has_writes)
    }

    /// The name the group is declared by, or else the one the pod has.
    pub fn name(&self) -> Option<&str> {
        self.parts.iter().find_map(Part::name)
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
    /// Groups whose drift `on_drift: hold` holds back: shown, not written.
    pub held: Vec<Held>,
    /// Groups groupsync manages that no file declares any more.
    pub orphans: Vec<Orphan>,
    /// The pod group each declared group is bound to, by the group's index
    /// in the desired state (a group to create, or one that could not be
    /// planned, has none).
    pub bound: Vec<(usize, Text)>,
    /// How many groups groupsync manages (declared or orphaned).
    pub managed: usize,
    /// Pruning was asked for and held back: a declared group could not be
    /// bound to its pod group, so which groups are orphans is not sure.
    pub prune_withheld: bool,
}

/// A group whose drift is held: its parts that hold some.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub group_id: String,
    pub source: PathBuf,
    pub parts: Vec<Part>,
}

impl Held {
    /// `area "GLOBAL" on the pod, "EMEA" in git, members "dave" added on the pod`
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self.parts.iter().filter_map(Part::held_summary).collect();
        parts.join(", ")
    }
}

/// How a plan treats drift and orphans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanOptions {
    pub mode: UpdateMode,
    /// The config's `on_drift`; a group's own wins.
    pub on_drift: DriftPolicy,
    /// `apply --revert-drift`: held drift is planned like any change.
    pub revert_drift: bool,
    /// `prune: deactivate` / `--prune`: an orphan still active is deactivated.
    pub prune: bool,
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
        self.count(Limit::MemberRemovals)
    }

    /// How many changes turn an active group inactive (`limits.max_deactivations`).
    pub fn deactivations(&self) -> usize {
        self.count(Limit::Deactivations)
    }

    /// How many changes deactivate an orphan.
    pub fn prunes(&self) -> usize {
        self.changes
            .iter()
            .filter(|change| change.action == Action::Prune)
            .count()
    }

    /// What the whole plan counts toward `limit`.
    pub fn count(&self, limit: Limit) -> usize {
        self.changes.iter().map(|change| change.count(limit)).sum()
    }
}

/// Compares every desired group with the snapshot and plans the requests
/// that converge them; `lookups` holds what refresh learnt (the names of
/// groups declared without `id`, unknown users, unreadable lists). Then the
/// orphans: listed, and with `prune`, deactivated.
pub fn plan(
    desired: &DesiredState,
    snapshot: &Snapshot,
    lookups: &Lookups,
    options: &PlanOptions,
) -> Plan {
    let workers = threads::cores()
        .min(desired.groups.len() / GROUPS_PER_THREAD)
        .max(1);
    plan_on(workers, desired, snapshot, lookups, options)
}

/// Fewer groups than this are planned on one thread: a thread costs more
/// than planning them. 100,000 groups took 40 ms on one.
const GROUPS_PER_THREAD: usize = 10_000;

/// [`plan`] on `workers` threads, each planning one run of the declared
/// groups; the runs' plans are joined in order, so the plan is the same
/// whatever the number.
fn plan_on(
    workers: usize,
    desired: &DesiredState,
    snapshot: &Snapshot,
    lookups: &Lookups,
    options: &PlanOptions,
) -> Plan {
    let declared_ids = declared_ids_named(desired, lookups);
    let per_run = desired.groups.len().div_ceil(workers).max(1);
    let plan_run = |(run, groups): (usize, &[Box<DesiredGroup>])| {
        // The first run's plan becomes the whole one: room for every group.
        let bound = if run == 0 {
            desired.groups.len()
        } else {
            groups.len()
        };
        let mut part = Run::with_capacity(bound);
        for (index, group) in (run * per_run..).zip(groups) {
            part.add(
                index,
                group,
                plan_group(group, snapshot, lookups, &declared_ids, options),
            );
        }
        part
    };
    let runs: Vec<_> = desired.groups.chunks(per_run).enumerate().collect();
    let parts = threads::each_on_a_thread("groupsync-plan", runs, plan_run);
    let (mut result, unbound) = Run::join(parts);
    add_orphans(&mut result, snapshot, options.prune && !unbound);
    result.prune_withheld = options.prune && unbound && !result.orphans.is_empty();
    result
}

/// The plan of one run of declared groups, and whether any of them could
/// not be bound to its pod group.
#[derive(Default)]
struct Run {
    plan: Plan,
    unbound: bool,
}

impl Run {
    /// With room for `bound` groups bound to their pod group.
    fn with_capacity(bound: usize) -> Self {
        let mut run = Run::default();
        run.plan.bound.reserve_exact(bound);
        run
    }

    fn add(&mut self, index: usize, group: &DesiredGroup, planned: Result<Planned, Unplanned>) {
        match planned {
            Ok(planned) => planned.into_plan(&mut self.plan, index),
            Err(Unplanned { message, bound }) => {
                self.unbound |= !bound;
                self.plan.errors.push(Diagnostic::at(
                    &*group.source.path,
                    group.source.line as usize,
                    group.source.column as usize,
                    message,
                ));
            }
        }
    }

    /// The runs' plans as one, in order.
    fn join(runs: Vec<Run>) -> (Plan, bool) {
        let mut runs = runs.into_iter();
        let Run {
            plan: mut joined,
            mut unbound,
        } = runs.next().unwrap_or_default();
        for run in runs {
            let Run {
                plan,
                unbound: run_unbound,
            } = run;
            joined.changes.extend(plan.changes);
            joined.unchanged += plan.unchanged;
            joined.errors.extend(plan.errors);
            joined.held.extend(plan.held);
            joined.bound.extend(plan.bound);
            unbound |= run_unbound;
        }
        (joined, unbound)
    }
}

/// The groups declared by id whose id a group declared by name also stands
/// for (a conflict `bind` reports): only those ids, not all 100,000 of a
/// large tree, whose map was most of what planning it allocated.
fn declared_ids_named<'d>(
    desired: &'d DesiredState,
    lookups: &Lookups,
) -> HashMap<&'d str, &'d DesiredGroup> {
    let named: HashSet<&str> = desired
        .groups
        .iter()
        .filter(|group| group.id().is_none())
        .filter_map(|group| lookups.names.get(&group.key).id())
        .collect();
    if named.is_empty() {
        return HashMap::new();
    }
    desired
        .groups
        .iter()
        .filter_map(|group| Some((group.id()?, &**group)))
        .filter(|(id, _)| named.contains(id))
        .collect()
}

/// The orphans of `snapshot`, into `plan`: listed; with `prune`, a
/// deactivation for each one still active; and a note on each create that
/// may be a rename missing `previously:`.
fn add_orphans(plan: &mut Plan, snapshot: &Snapshot, prune: bool) {
    let mut declared: Vec<&str> = plan
        .bound
        .iter()
        .map(|(_, id)| id.as_str())
        .chain(
            plan.changes
                .iter()
                .filter_map(|change| change.group_id.as_deref()),
        )
        .collect();
    // Mostly sorted already (groups with an id come in id order), which a
    // stable sort finds and keeps.
    declared.sort();
    let (orphans, managed) = orphans_of(&declared, snapshot);
    for change in plan.changes.iter_mut() {
        if let (Action::Create, GroupKey::Name { group_type, name }) = (change.action, &change.key)
        {
            let file = change.source.display().to_string();
            let notes = rename_notes(group_type, name, &file, &orphans, snapshot);
            change.notes.extend(notes);
        }
    }
    if prune {
        for orphan in &orphans {
            let Some(part) = prune_part(orphan, snapshot) else {
                continue;
            };
            plan.changes.push(Change {
                action: Action::Prune,
                group_id: Some(orphan.group_id.clone()),
                key: GroupKey::Id(orphan.group_id.as_str().into()),
                source: PathBuf::from(&orphan.last_file),
                parts: vec![part],
                declared: None,
                notes: Vec::new(),
            });
        }
    }
    plan.orphans = orphans;
    plan.managed = managed;
}

/// What planning one declared group came to.
struct Planned {
    target_id: Option<Text>,
    change: Option<Change>,
    held: Option<Held>,
}

/// A group that cannot be planned: why, and whether its pod group is known.
struct Unplanned {
    message: String,
    bound: bool,
}

impl Planned {
    fn into_plan(self, plan: &mut Plan, index: usize) {
        if let Some(id) = self.target_id {
            plan.bound.push((index, id));
        }
        if let Some(held) = self.held {
            plan.held.push(held);
        }
        match self.change {
            Some(change) => plan.changes.push(Change {
                declared: Some(index),
                ..change
            }),
            None => plan.unchanged += 1,
        }
    }
}

/// The change one declared group needs (none when the pod already matches
/// it, or only held drift differs), and the drift it holds.
fn plan_group(
    group: &DesiredGroup,
    snapshot: &Snapshot,
    lookups: &Lookups,
    declared_ids: &HashMap<&str, &DesiredGroup>,
    options: &PlanOptions,
) -> Result<Planned, Unplanned> {
    let target =
        bind(group, snapshot, &lookups.names, declared_ids).map_err(|message| Unplanned {
            message,
            bound: false,
        })?;
    let target_id = target.group_id.map(Text::from);
    let policy = group.on_drift.unwrap_or(options.on_drift);
    let rule = DriftRule {
        hold: policy == DriftPolicy::Hold && !options.revert_drift,
        applied: target
            .group_id
            .and_then(|id| snapshot.managed(id))
            .map(|managed| &managed.applied),
    };
    let parts =
        plan_parts(group, &target, snapshot, lookups, options.mode, rule).map_err(|message| {
            Unplanned {
                message,
                bound: target_id.is_some(),
            }
        })?;
    let Some(parts) = parts else {
        return Ok(Planned {
            target_id,
            change: None,
            held: None,
        });
    };
    let held = match &target_id {
        Some(id) if parts.iter().any(Part::has_held) => Some(Held {
            group_id: id.to_string(),
            source: group.source.path.to_path_buf(),
            parts: parts
                .iter()
                .filter(|part| part.has_held())
                .cloned()
                .collect(),
        }),
        _ => None,
    };
    let mut change = Change {
        action: target.action,
        group_id: target_id.as_deref().map(str::to_owned),
        key: group.key.clone(),
        source: group.source.path.to_path_buf(),
        parts,
        declared: None,
        notes: Vec::new(),
    };
    let change = change.writes().then(|| {
        change.notes.extend(pin_hint(group, target_id.as_deref()));
        change
    });
    Ok(Planned {
        target_id,
        change,
        held,
    })
}

/// For a group declared without `id` whose id is known: how to pin it.
fn pin_hint(group: &DesiredGroup, group_id: Option<&str>) -> Option<String> {
    let id = group_id.filter(|_| group.id().is_none())?;
    Some(format!(
        "the pod's id of this group is {id}: add `id: \"{id}\"` to pin it"
    ))
}
#[cfg(test)]
fn fields_of(change: &Change) -> &crate::kinds::group::GroupFields {
    match &change.parts[0] {
        Part::Group(fields) => fields,
        other => panic!("the group's part comes first: {other:?}"),
    }
}

#[cfg(test)]
fn options(mode: UpdateMode) -> PlanOptions {
    PlanOptions {
        mode,
        ..PlanOptions::default()
    }
}

#[cfg(test)]
fn with_names(names: &crate::kinds::group::names::NameLookups) -> Lookups {
    Lookups {
        names: names.clone(),
        ..Lookups::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::group::FieldChange;
    use crate::model::{Field, FieldValue, UserGroupResponse, UserGroupUpdate};

    fn group(id: &str) -> DesiredGroup {
        DesiredGroup::test(id)
    }

    fn pod(id: &str, name: &str, area: &str, description: &str, active: bool) -> UserGroupResponse {
        UserGroupResponse::test(id)
            .with_name(name)
            .with_area(area)
            .with_description(description)
            .with_active(active)
    }

    fn plan_of(groups: Vec<DesiredGroup>, pods: Vec<UserGroupResponse>, mode: UpdateMode) -> Plan {
        let mut snapshot = Snapshot::default();
        for response in pods {
            let id = response.id.clone().unwrap();
            snapshot.record_read(&id, response, 0);
        }
        let mut groups = groups;
        groups.sort_by(|a, b| a.key.cmp(&b.key));
        let desired = DesiredState::new(groups);
        let lookups = Lookups::offline(&desired, &snapshot);
        plan(&desired, &snapshot, &lookups, &options(mode))
    }

    #[test]
    fn unchanged_group_plans_nothing() {
        let plan = plan_of(
            vec![
                group("g1")
                    .with_name("EMEA")
                    .with_area("EU")
                    .with_description("d")
                    .with_active(true),
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
                    .with_name("EMEA")
                    .with_area("EMEA")
                    .with_description("d")
                    .with_active(true),
            ],
            vec![pod("g1", "EMEA", "EMEA-old", "d", true)],
            UpdateMode::Minimal,
        );
        assert_eq!(plan.changes.len(), 1);
        let change = &plan.changes[0];
        assert_eq!(
            fields_of(change).body,
            UserGroupUpdate {
                area: Some("EMEA".into()),
                ..Default::default()
            }
        );
        assert_eq!(
            fields_of(change).fields,
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
            vec![group("g1").with_area("EU")],
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
            vec![group("g1").with_description("")],
            vec![recorded.clone()],
            UpdateMode::Minimal,
        );
        assert_eq!(
            fields_of(&declared_empty.changes[0]).body.description,
            Some(Default::default())
        );
        assert_eq!(fields_of(&declared_empty.changes[0]).fields[0].from, None);

        let not_declared = plan_of(vec![group("g1")], vec![recorded], UpdateMode::Minimal);
        assert!(not_declared.is_empty());

        let clears = plan_of(
            vec![group("g1").with_description("")],
            vec![pod("g1", "EMEA", "EU", "text", true)],
            UpdateMode::Minimal,
        );
        assert_eq!(
            fields_of(&clears.changes[0]).body.description,
            Some(Default::default())
        );
    }

    #[test]
    fn full_mode_sends_every_declared_field_of_a_changed_group_only() {
        let plan = plan_of(
            vec![
                group("g1")
                    .with_name("EMEA")
                    .with_area("EMEA")
                    .with_active(true),
                group("g2").with_name("APAC").with_area("AP"),
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
            fields_of(change).body,
            UserGroupUpdate {
                name: Some("EMEA".into()),
                area: Some("EMEA".into()),
                description: None,
                active: Some(true),
            }
        );
        assert_eq!(
            fields_of(change).fields.len(),
            1,
            "fields lists only what differs"
        );
    }

    #[test]
    fn unknown_group_is_planned_with_every_declared_field_from_null() {
        let plan = plan_of(
            vec![group("new").with_name("N").with_active(false)],
            vec![],
            UpdateMode::Minimal,
        );
        let change = &plan.changes[0];
        assert_eq!(fields_of(change).recorded, None);
        assert_eq!(
            fields_of(change).body,
            UserGroupUpdate {
                name: Some("N".into()),
                active: Some(false),
                ..Default::default()
            }
        );
        assert!(
            fields_of(change)
                .fields
                .iter()
                .all(|field| field.from.is_none())
        );
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
                group("a").with_active(false),
                group("b").with_active(true),
                group("c").with_active(false).with_name("x"),
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
                group("c").with_name("C"),
                group("a").with_name("A"),
                group("b").with_name("B"),
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
        use crate::kinds::roster::RosterLookups;
        use crate::model::Roster;

        fn set(users: &[&str]) -> BTreeSet<String> {
            users.iter().map(|user| user.to_string()).collect()
        }

        /// A snapshot holding group `g1` (active, named "G") whose members are `members`.
        fn snapshot_with(members: &[(&str, i64)]) -> Snapshot {
            let mut snapshot = Snapshot::default();
            snapshot.record_read("g1", pod("g1", "G", "A", "D", true), 0);
            let users: BTreeMap<i64, String> = members
                .iter()
                .map(|(user, id)| (*id, user.to_string()))
                .collect();
            snapshot.record_roster("g1", Roster::Members, users, Some(0));
            snapshot
        }

        fn plan_members(declared: &[&str], snapshot: &Snapshot, lookups: &RosterLookups) -> Plan {
            let mut group = group("g1").with_name("G");
            group.rosters.set(Roster::Members, set(declared));
            let desired = DesiredState::new(vec![group]);
            plan(
                &desired,
                snapshot,
                &Lookups {
                    lists: lookups.clone(),
                    ..Lookups::default()
                },
                &options(UpdateMode::Minimal),
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
            assert!(fields_of(change).body.is_empty() && fields_of(change).fields.is_empty());
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
                vec![group("g1").with_name("G")],
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
                ..group("unused").with_name("New")
            };
            group.rosters.set(Roster::Members, set(&["alice"]));
            group.rosters.set(Roster::Assignees, set(&["carol"]));
            let desired = DesiredState::new(vec![group]);
            let plan = plan(
                &desired,
                &snapshot,
                &Lookups::default(),
                &options(UpdateMode::Minimal),
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
            let users = BTreeMap::from([(3, "carol".to_string())]);
            snapshot.record_roster("g1", Roster::Assignees, users, Some(0));
            let mut group = group("g1").with_name("G");
            group.rosters.set(Roster::Assignees, set(&[]));
            let desired = DesiredState::new(vec![group]);
            let plan = plan(
                &desired,
                &snapshot,
                &Lookups::default(),
                &options(UpdateMode::Minimal),
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
    use crate::kinds::group::names::{Found, NameLookups};
    use crate::model::{ROLE_SCOPE, UserGroupResponse};

    fn named(name: &str, line: u32) -> DesiredGroup {
        DesiredGroup::test_named(name).at("groups.d/n.yaml", line, 5)
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
        let desired = DesiredState::new(vec![group]);
        let plan = plan(
            &desired,
            &Snapshot::default(),
            &Lookups::default(),
            &options(UpdateMode::Minimal),
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
        let desired = DesiredState::new(vec![fx, rates]);
        let mut snapshot = Snapshot::default();
        snapshot.record_read("r1", pod("r1", "Rates", "old"), 0);
        let mut names = NameLookups::from_snapshot(&desired, &snapshot);
        assert_eq!(names.get(&key("Rates")), &Found::Recorded("r1".into()));
        names.found_on_pod(ROLE_SCOPE, "FX", &[pod("f1", "FX", "old")]);
        snapshot.record_read("f1", pod("f1", "FX", "old"), 0);

        let plan = plan(
            &desired,
            &snapshot,
            &with_names(&names),
            &options(UpdateMode::Minimal),
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
                .all(|change| fields_of(change).body.area.as_deref() == Some("EMEA"))
        );
    }

    #[test]
    fn an_adopted_group_that_already_matches_is_unchanged() {
        let desired = DesiredState::new(vec![named("FX", 2)]);
        let mut snapshot = Snapshot::default();
        snapshot.record_read("f1", pod("f1", "FX", ""), 0);
        let mut names = NameLookups::default();
        names.found_on_pod(ROLE_SCOPE, "FX", &[pod("f1", "FX", "")]);
        let plan = plan(
            &desired,
            &snapshot,
            &with_names(&names),
            &options(UpdateMode::Minimal),
        );
        assert!(plan.is_empty() && plan.errors.is_empty(), "{plan:?}");
        assert_eq!(plan.unchanged, 1);
    }

    #[test]
    fn several_matches_or_a_declared_id_fail_that_group_alone() {
        let mut by_id = named("Taken", 9);
        by_id.key = GroupKey::Id("t1".into());
        by_id.fields.name = None;
        let desired = DesiredState::new(vec![by_id, named("Other name", 3), named("Twice", 2)]);
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
            &with_names(&names),
            &options(UpdateMode::Minimal),
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
        let desired = DesiredState::new(vec![named("Rates", 2)]);
        let mut names = NameLookups::default();
        names.not_looked_up(ROLE_SCOPE, "Rates", "the pod answered 403".into());
        let plan = plan(
            &desired,
            &Snapshot::default(),
            &with_names(&names),
            &options(UpdateMode::Minimal),
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
    use crate::kinds::group::names::NameLookups;
    use crate::model::{Field, UserGroupResponse, UserGroupUpdate};

    fn text() -> impl Strategy<Value = Option<Text>> {
        prop::option::of(prop_oneof![Just(String::new()), "[a-c]{1,2}"].prop_map(Text::from))
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
        let desired = prop::collection::btree_map("g[0-9]", fields(), 0..8).prop_map(|groups| {
            DesiredState::new(groups.into_iter().map(|(id, fields)| DesiredGroup {
                fields,
                ..DesiredGroup::test(&id).at("groups.d/p.yaml", 1, 1)
            }))
        });
        let snapshot = prop::collection::btree_map("g[0-9]", fields(), 0..8).prop_map(|pods| {
            let mut snapshot = Snapshot::default();
            for (id, fields) in pods {
                let pod = UserGroupResponse {
                    id: Some(id.as_str().into()),
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
            let first = plan(&desired, &snapshot, &Lookups::default(), &options(mode));
            let mut after = snapshot.clone();
            for change in &first.changes {
                let id = change.group_id.as_deref().unwrap();
                let base = after.get(id).cloned().unwrap_or_default();
                after.record_write(id, base.with_update(&fields_of(change).body), 1);
            }
            let second = plan(&desired, &after, &Lookups::default(), &options(mode));
            prop_assert!(second.is_empty(), "still planned: {:?}", second.changes);
            prop_assert_eq!(second.unchanged, desired.groups.len());
        }

        #[test]
        fn planning_on_several_threads_plans_the_same((desired, snapshot, mode) in inputs(), workers in 2..5usize) {
            let names = NameLookups::default();
            let lookups = with_names(&names);
            let options = PlanOptions { prune: true, ..options(mode) };
            prop_assert_eq!(
                plan_on(workers, &desired, &snapshot, &lookups, &options),
                plan_on(1, &desired, &snapshot, &lookups, &options)
            );
        }

        #[test]
        fn planning_is_deterministic((desired, snapshot, mode) in inputs()) {
            let names = NameLookups::default();
            prop_assert_eq!(plan(&desired, &snapshot, &with_names(&names), &options(mode)), plan(&desired, &snapshot, &with_names(&names), &options(mode)));
        }

        #[test]
        fn minimal_bodies_hold_only_differing_fields((desired, snapshot, _mode) in inputs()) {
            for change in plan(&desired, &snapshot, &Lookups::default(), &options(UpdateMode::Minimal)).changes {
                for field in Field::ALL {
                    let sent = fields_of(&change).body.get(field);
                    let recorded = change.group_id.as_deref().and_then(|id| snapshot.get(id)).and_then(|pod| pod.get(field));
                    if let Some(value) = sent {
                        prop_assert_ne!(Some(value), recorded);
                    }
                }
            }
        }
    }
}
