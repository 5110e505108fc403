//! What the pod showed of each resource a plan touches, when the plan was
//! made: a saved plan is applied only while the pod still shows exactly
//! that. A group's fields are kept as values (so a refusal can say what
//! moved); a list as its count and the SHA-256 of its user ids.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::kinds::core::Action;
use crate::kinds::roster::read::users_of;
use crate::kinds::seam::Part;
use crate::model::{Membership, Roster, UserGroupResponse, UserId};
use crate::pipeline::plan::Change;
use crate::pod::{PodClient, PodError, is_exactly_named};
use crate::store::journal::record::sha256_hex;
use crate::store::snapshot::{Snapshot, now_ms};
use crate::text::escaped;

/// What the pod showed of one changed group and the lists the change writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fingerprint {
    pub group: Touched,
    /// The group's fields; `None` for a group to create (the pod had none of its name).
    pub fields: Option<SeenFields>,
    /// Each list the change writes; `None` for one never read.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lists: BTreeMap<Roster, Option<SeenList>>,
}

/// The group a change touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Touched {
    /// A group the pod has.
    Id(String),
    /// A group to create: the pod must not have one of this type and name.
    Absent { group_type: String, name: String },
}

/// A group's fields as the pod showed them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeenFields {
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub group_type: Option<String>,
    pub area: Option<String>,
    pub description: Option<String>,
    pub active: Option<bool>,
}

/// A list as the pod showed it: how many users, and the SHA-256 of their ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeenList {
    pub users: usize,
    pub sha256: String,
}

impl SeenFields {
    fn of(group: &UserGroupResponse) -> SeenFields {
        SeenFields {
            name: group.name.as_deref().map(str::to_owned),
            group_type: group.group_type.as_deref().map(str::to_owned),
            area: group.area.as_deref().map(str::to_owned),
            description: group.description.as_deref().map(str::to_owned),
            active: group.active,
        }
    }

    /// `area "EMEA" when planned, "EMEA-temporary" now`, for the first field that differs.
    fn moved(&self, now: &SeenFields) -> Option<String> {
        let text = |value: &Option<String>| match value {
            Some(text) => format!("{:?}", escaped(text)),
            None => "none".to_string(),
        };
        let flag = |value: &Option<bool>| value.map_or("none".to_string(), |flag| flag.to_string());
        let pairs = [
            ("name", text(&self.name), text(&now.name)),
            ("type", text(&self.group_type), text(&now.group_type)),
            ("area", text(&self.area), text(&now.area)),
            (
                "description",
                text(&self.description),
                text(&now.description),
            ),
            ("active", flag(&self.active), flag(&now.active)),
        ];
        pairs
            .into_iter()
            .find(|(_, then, now)| then != now)
            .map(|(field, then, now)| format!("{field} {then} when planned, {now} now"))
    }
}

impl SeenList {
    fn of<'a>(ids: impl Iterator<Item = &'a UserId>) -> SeenList {
        let ids: Vec<String> = ids.map(ToString::to_string).collect();
        SeenList {
            users: ids.len(),
            sha256: sha256_hex(ids.join(",").as_bytes()),
        }
    }
}

impl Touched {
    /// `group 6543a1f0c2`, or `the name "EMEA rates" (ROLE_SCOPE)`.
    pub fn resource(&self) -> String {
        match self {
            Touched::Id(id) => format!("group {}", escaped(id)),
            Touched::Absent { group_type, name } => {
                format!("the name {:?} ({})", escaped(name), escaped(group_type))
            }
        }
    }
}

/// The fingerprint of every change of `changes` that writes, in order,
/// from `snapshot` (which the plan's refresh just filled from the pod).
pub fn take(changes: &[Change], snapshot: &Snapshot) -> Vec<Fingerprint> {
    changes
        .iter()
        .filter(|change| change.writes())
        .map(|change| of_change(change, snapshot))
        .collect()
}

/// True when `fingerprints` are one for each change that writes, in order,
/// each of the group and the lists that change touches: what [`take`]
/// makes. A file whose fingerprints were left out or swapped would apply
/// without the pod being checked.
pub fn cover(changes: &[Change], fingerprints: &[Fingerprint]) -> bool {
    let writing: Vec<&Change> = changes.iter().filter(|change| change.writes()).collect();
    writing.len() == fingerprints.len()
        && writing
            .iter()
            .zip(fingerprints)
            .all(|(change, fingerprint)| {
                let expected = of_change(change, &Snapshot::default());
                fingerprint.group == expected.group
                    && fingerprint.lists.keys().eq(expected.lists.keys())
            })
}

fn of_change(change: &Change, snapshot: &Snapshot) -> Fingerprint {
    let (Some(id), false) = (&change.group_id, change.action == Action::Create) else {
        return Fingerprint {
            group: absent_of(change),
            fields: None,
            lists: BTreeMap::new(),
        };
    };
    let lists = written_lists(change)
        .map(|roster| {
            let seen = snapshot
                .roster(id, roster)
                .map(|record| SeenList::of(record.users.keys()));
            (roster, seen)
        })
        .collect();
    Fingerprint {
        group: Touched::Id(id.clone()),
        fields: snapshot.get(id).map(SeenFields::of),
        lists,
    }
}

/// A create's name and type, from its POST.
fn absent_of(change: &Change) -> Touched {
    let create = change.parts.iter().find_map(|part| match part {
        Part::Group(fields) => fields.create.as_ref(),
        Part::List(_) => None,
    });
    Touched::Absent {
        group_type: create
            .map(|post| post.group_type.to_string())
            .unwrap_or_default(),
        name: create.map(|post| post.name.to_string()).unwrap_or_default(),
    }
}

/// The lists a change writes to.
fn written_lists(change: &Change) -> impl Iterator<Item = Roster> + '_ {
    change.parts.iter().filter_map(|part| match part {
        Part::List(list) if part.has_writes() => Some(list.roster),
        _ => None,
    })
}

/// Why a fingerprint no longer holds: the resource, and what moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub resource: String,
    pub what: String,
}

/// What the pod shows now of the resource one fingerprint describes.
#[derive(Debug)]
pub enum Reading {
    /// For a create: the groups of its type and name.
    Named(Vec<UserGroupResponse>),
    /// The group is gone (404).
    Gone,
    /// The group, and the rows of each list the fingerprint records (none
    /// read when the plan never read the group: that alone refuses it).
    Group {
        group: UserGroupResponse,
        lists: Vec<(Roster, Vec<Membership>)>,
    },
}

/// Reads the resource `fingerprint` describes from the pod again. Reads
/// only: [`judge`] records what was read and compares it, so that the
/// reads of many fingerprints can run at once.
pub async fn read(fingerprint: &Fingerprint, client: &PodClient) -> Result<Reading, PodError> {
    let id = match &fingerprint.group {
        Touched::Absent { group_type, name } => {
            return Ok(Reading::Named(client.list_named(group_type, name).await?));
        }
        Touched::Id(id) => id,
    };
    let group = match client.get(id).await {
        Ok(group) => group,
        Err(error) if error.status() == Some(404) => return Ok(Reading::Gone),
        Err(error) => return Err(error),
    };
    let mut lists = Vec::new();
    if fingerprint.fields.is_some() {
        for roster in fingerprint.lists.keys() {
            lists.push((*roster, client.roster(id, *roster).await?));
        }
    }
    Ok(Reading::Group { group, lists })
}

/// Records `reading`, what the pod shows now of `fingerprint`'s resource,
/// in `snapshot`; `Some` when it no longer shows what it showed.
/// `known_users` names the users a list's rows leave unnamed (the
/// snapshot's, taken once for all the checks).
pub fn judge(
    fingerprint: &Fingerprint,
    reading: Reading,
    snapshot: &mut Snapshot,
    known_users: &HashMap<UserId, String>,
) -> Option<Moved> {
    let moved = |what: String| {
        Some(Moved {
            resource: fingerprint.group.resource(),
            what,
        })
    };
    let (id, group, lists) = match (&fingerprint.group, reading) {
        (Touched::Absent { group_type, name }, Reading::Named(found)) => {
            let made = found
                .iter()
                .find(|group| is_exactly_named(group, group_type, name))?;
            return moved(format!(
                "the pod has a group of that name now, {}",
                escaped(made.id.as_deref().unwrap_or("without an id"))
            ));
        }
        (Touched::Id(_), Reading::Gone) => return moved("the pod no longer has it".to_string()),
        (Touched::Id(id), Reading::Group { group, lists }) => (id, group, lists),
        (_, reading) => unreachable!("{reading:?} is not what `read` gives for {fingerprint:?}"),
    };
    let now = SeenFields::of(&group);
    snapshot.record_read(id, group, now_ms());
    // A group the plan never read is no proof of anything (Terraform's stale
    // plan from an empty state): refused like one that moved.
    let Some(then) = &fingerprint.fields else {
        return moved(
            "the plan did not read it from the pod; make the plan again with refresh".to_string(),
        );
    };
    if let Some(what) = then.moved(&now) {
        return moved(what);
    }
    for (roster, rows) in lists {
        let then = fingerprint.lists.get(&roster).and_then(Option::as_ref);
        let users = users_of(&rows, known_users);
        let seen = SeenList::of(users.keys());
        snapshot.record_roster(id, roster, users, Some(now_ms()));
        if then != Some(&seen) {
            let then_count = then.map_or("not read".to_string(), |then| then.users.to_string());
            return moved(format!(
                "its {roster}: {then_count} when planned, {} now, not the same users",
                seen.users
            ));
        }
    }
    None
}
