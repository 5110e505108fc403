//! Groups declared without `id`: which pod group each one is.
//!
//! A group without `id` is known by its type and exact name. Before a
//! cycle reads anything, [`NameLookups::from_snapshot`] binds each name to
//! the group the snapshot records under it, so that a group renamed on the
//! pod behind groupsync's back shows as drift (its id was known before the
//! read), never as a reason to create a second one. Names the snapshot does
//! not know are looked up on the pod by refresh ([`NameLookups::found_on_pod`]).
//! The plan then turns each binding into an update, an adoption, a create or
//! an error.

use std::collections::{BTreeMap, HashMap};

use crate::kinds::core::{Action, Target};
use crate::model::{DesiredGroup, DesiredState, GroupKey, ROLE_SCOPE, Text, UserGroupResponse};
use crate::store::snapshot::Snapshot;

/// What is known of the pod group a name stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The snapshot records one group of that type and name.
    Recorded(String),
    /// This cycle's lookup found one group on the pod; it is now in the snapshot.
    Adopted(String),
    /// Several groups bear the name: which one is meant cannot be told.
    Several(Vec<String>),
    /// The pod has no such group (or, offline, the snapshot has none).
    Nothing,
    /// The name could not be looked up, for the reason given (which says
    /// what to grant, if anything): a create could duplicate it.
    Unknown(String),
}

impl Found {
    /// The one pod group the name stands for, when there is one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Found::Recorded(id) | Found::Adopted(id) => Some(id),
            Found::Several(_) | Found::Nothing | Found::Unknown(_) => None,
        }
    }
}

/// The binding of every group declared without `id`, by its key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameLookups {
    found: BTreeMap<GroupKey, Found>,
    /// The former names (`previously:`) of each group that declares some.
    previously: BTreeMap<GroupKey, Vec<Text>>,
}

impl NameLookups {
    /// Binds each name declared without `id` to what the snapshot records:
    /// one group, several, or nothing (to be looked up on the pod).
    ///
    /// A name the snapshot does not know is tried under the group's former
    /// names (`previously:`): a group renamed in git is renamed on the pod,
    /// never created a second time.
    pub fn from_snapshot(desired: &DesiredState, snapshot: &Snapshot) -> NameLookups {
        let mut lookups = NameLookups::default();
        let named: Vec<&DesiredGroup> = desired
            .groups
            .iter()
            .map(|group| &**group)
            .filter(|group| matches!(group.key, GroupKey::Name { .. }))
            .collect();
        if named.is_empty() {
            return lookups;
        }
        let index = snapshot_index(snapshot);
        let ids_named = |group_type: &str, name: &str| {
            index.get(&(group_type, name)).cloned().unwrap_or_default()
        };
        for group in named {
            let GroupKey::Name { group_type, name } = &group.key else {
                continue;
            };
            let mut found = found_among(ids_named(group_type, name));
            for old in &group.previously {
                if found != Found::Nothing {
                    break;
                }
                found = found_among(ids_named(group_type, old));
            }
            lookups.found.insert(group.key.clone(), found);
            if !group.previously.is_empty() {
                lookups
                    .previously
                    .insert(group.key.clone(), group.previously.to_vec());
            }
        }
        lookups
    }

    /// The former names `key`'s group declares, to look up on the pod when its name finds nothing.
    pub fn previously(&self, key: &GroupKey) -> &[Text] {
        self.previously.get(key).map_or(&[], Vec::as_slice)
    }

    /// What is known of `key`'s group; `Nothing` for a name never bound.
    pub fn get(&self, key: &GroupKey) -> &Found {
        self.found.get(key).unwrap_or(&Found::Nothing)
    }

    /// The names still to be looked up on the pod, by type then name.
    pub fn unresolved(&self) -> impl Iterator<Item = (&str, &str)> {
        self.found
            .iter()
            .filter_map(|(key, found)| match (key, found) {
                (GroupKey::Name { group_type, name }, Found::Nothing) => {
                    Some((group_type.as_str(), name.as_str()))
                }
                _ => None,
            })
    }

    /// The ids the snapshot binds names to, so that refresh reads them with the declared ones.
    pub fn recorded_ids(&self) -> impl Iterator<Item = &str> {
        self.found.values().filter_map(|found| match found {
            Found::Recorded(id) => Some(id.as_str()),
            _ => None,
        })
    }

    /// What the pod's lookup of `group_type` + `name` returned (`matches`:
    /// exactly the groups of that type and name). One match is adopted:
    /// the caller records it in the snapshot.
    pub fn found_on_pod(&mut self, group_type: &str, name: &str, matches: &[UserGroupResponse]) {
        let ids: Vec<String> = matches
            .iter()
            .filter_map(|group| group.id.as_deref().map(str::to_owned))
            .collect();
        let found = match found_among(ids) {
            Found::Recorded(id) => Found::Adopted(id),
            other => other,
        };
        self.set(group_type, name, found);
    }

    /// True when `group_type` + `name` is bound to nothing so far.
    pub fn is_unbound(&self, group_type: &str, name: &str) -> bool {
        let key = GroupKey::Name {
            group_type: group_type.into(),
            name: name.into(),
        };
        self.get(&key) == &Found::Nothing
    }

    /// The name could not be looked up, for `reason`.
    pub fn not_looked_up(&mut self, group_type: &str, name: &str, reason: String) {
        self.set(group_type, name, Found::Unknown(reason));
    }

    /// Every adoption of this cycle: the key and the pod's id.
    pub fn adopted(&self) -> impl Iterator<Item = (&GroupKey, &str)> {
        self.found.iter().filter_map(|(key, found)| match found {
            Found::Adopted(id) => Some((key, id.as_str())),
            _ => None,
        })
    }

    fn set(&mut self, group_type: &str, name: &str, found: Found) {
        let key = GroupKey::Name {
            group_type: group_type.into(),
            name: name.into(),
        };
        self.found.insert(key, found);
    }
}

/// The pod group `group` is bound to: its own id, or what its name is bound
/// to. A name bound to several groups, one that could not be looked up, or
/// one that is the group another file declares by its id, is an error for
/// this group alone.
pub fn bind<'a>(
    group: &'a DesiredGroup,
    snapshot: &'a Snapshot,
    names: &'a NameLookups,
    declared_ids: &HashMap<&str, &DesiredGroup>,
) -> Result<Target<'a>, String> {
    let (action, id) = match &group.key {
        GroupKey::Id(id) => (Action::Update, id.as_str()),
        GroupKey::Name { name, .. } => match names.get(&group.key) {
            Found::Recorded(id) => (Action::Update, id.as_str()),
            Found::Adopted(id) => (Action::Adopt, id.as_str()),
            Found::Nothing => {
                return Ok(Target {
                    action: Action::Create,
                    group_id: None,
                    recorded: None,
                });
            }
            Found::Several(ids) => {
                return Err(format!(
                    "the pod has {} groups named {name:?} (ids {}); add `id:` with the one this group means",
                    ids.len(),
                    ids.join(", ")
                ));
            }
            Found::Unknown(reason) => {
                return Err(format!(
                    "cannot tell whether the pod already has a group named {name:?}: {reason}, or add its `id:`"
                ));
            }
        },
    };
    if let GroupKey::Name { name, .. } = &group.key
        && let Some(other) = declared_ids.get(id)
    {
        return Err(format!(
            "the pod's group named {name:?} is {id}, which {} declares by its id; remove one of the two",
            other.source
        ));
    }
    Ok(Target {
        action,
        group_id: Some(id),
        recorded: snapshot.get(id),
    })
}

/// True when `group` is of `group_type` and named exactly `name` (a group
/// whose type the pod left out counts as `ROLE_SCOPE`, the only type there
/// is): the pod client's own test, so that a lookup and a create's recovery
/// agree on what the same name is.
pub fn is_named(group: &UserGroupResponse, group_type: &str, name: &str) -> bool {
    crate::pod::groups::is_exactly_named(group, group_type, name)
}

/// The snapshot's group ids by (type, name), each list sorted.
fn snapshot_index(snapshot: &Snapshot) -> HashMap<(&str, &str), Vec<String>> {
    let mut index: HashMap<(&str, &str), Vec<String>> = HashMap::new();
    for (id, entry) in snapshot.iter() {
        let Some(name) = entry.pod.name.as_deref() else {
            continue;
        };
        let group_type = entry.pod.group_type.as_deref().unwrap_or(ROLE_SCOPE);
        index
            .entry((group_type, name))
            .or_default()
            .push(id.to_string());
    }
    index
}

fn found_among(mut ids: Vec<String>) -> Found {
    ids.sort();
    match ids.len() {
        0 => Found::Nothing,
        1 => Found::Recorded(ids.remove(0)),
        _ => Found::Several(ids),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> DesiredGroup {
        DesiredGroup::test_named(name).at("groups.d/n.yaml", 1, 1)
    }

    fn pod(id: &str, name: &str) -> UserGroupResponse {
        UserGroupResponse::test(id).with_name(name)
    }

    fn key(name: &str) -> GroupKey {
        named(name).key
    }

    #[test]
    fn the_snapshot_binds_names_to_one_group_several_or_none() {
        let mut snapshot = Snapshot::default();
        for (id, name) in [("a1", "Alpha"), ("b1", "Beta"), ("b2", "Beta")] {
            snapshot.record_read(id, pod(id, name), 0);
        }
        let desired = DesiredState::new(vec![named("Alpha"), named("Beta"), named("Gamma")]);
        let names = NameLookups::from_snapshot(&desired, &snapshot);
        assert_eq!(names.get(&key("Alpha")), &Found::Recorded("a1".into()));
        assert_eq!(
            names.get(&key("Beta")),
            &Found::Several(vec!["b1".into(), "b2".into()])
        );
        assert_eq!(names.get(&key("Gamma")), &Found::Nothing);
        assert_eq!(
            names.unresolved().collect::<Vec<_>>(),
            [(ROLE_SCOPE, "Gamma")]
        );
        assert_eq!(names.recorded_ids().collect::<Vec<_>>(), ["a1"]);
    }

    #[test]
    fn a_name_is_exact_and_of_its_type() {
        let mut snapshot = Snapshot::default();
        snapshot.record_read("a1", pod("a1", "alpha"), 0);
        let mut other = pod("a2", "Alpha");
        other.group_type = Some("OTHER".into());
        snapshot.record_read("a2", other, 0);
        let desired = DesiredState::new(vec![named("Alpha")]);
        let names = NameLookups::from_snapshot(&desired, &snapshot);
        assert_eq!(names.get(&key("Alpha")), &Found::Nothing);
    }

    #[test]
    fn one_match_on_the_pod_is_adopted() {
        let mut names = NameLookups::default();
        names.found_on_pod(ROLE_SCOPE, "Alpha", &[pod("a1", "Alpha")]);
        names.found_on_pod(ROLE_SCOPE, "Beta", &[]);
        names.found_on_pod(
            ROLE_SCOPE,
            "Gamma",
            &[pod("g2", "Gamma"), pod("g1", "Gamma")],
        );
        assert_eq!(names.get(&key("Alpha")), &Found::Adopted("a1".into()));
        assert_eq!(names.get(&key("Beta")), &Found::Nothing);
        assert_eq!(
            names.get(&key("Gamma")),
            &Found::Several(vec!["g1".into(), "g2".into()])
        );
        assert_eq!(names.adopted().collect::<Vec<_>>(), [(&key("Alpha"), "a1")]);
    }
}
