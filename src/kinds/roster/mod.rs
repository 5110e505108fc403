//! The machinery of the user-list kinds, [`crate::kinds::membership`] and
//! [`crate::kinds::assignment`]: a group's members and its assignees differ
//! only in their path, their key and their count ([`ListKind`]), so one
//! module serves both.
//!
//! - read ([`read`]): every list YAML manages that the snapshot lacks (all of
//!   them with `--refresh`) is read, `concurrency` at a time, and recorded
//!   with its users' ids; a list that changed since the snapshot recorded it
//!   is drift. A list of a group whose fresh count is 0 is known to be empty
//!   without a read; an equal count proves nothing (one user swapped for
//!   another), so it is read. Declared users the snapshot has no id for are
//!   looked up by name, 100 a call.
//! - plan (here): per managed list, who to add and who to remove. A username
//!   the pod does not know, or a list that could not be read, is an error for
//!   the group alone.
//! - write ([`write`]): one `PUT .../memberships/{userId}` (or
//!   `/assignments/{userId}`) per user, adds first. Never the bulk `PUT
//!   .../memberships`: it replaces the whole list, so a member added in the
//!   portal between our read and our write would be silently dropped.
//! - show (here): the list sorted in the group's YAML block, a user a line;
//!   JSON `{"add": [...], "remove": [...]}` under the list's key.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};

use crate::kinds::core::{DriftRule, Kind, Request, RequestBody, Target};
use crate::model::{ActiveUpdate, DesiredGroup, Roster, UserGroupResponse, UserId};
use crate::store::snapshot::Snapshot;
use crate::text::{quoted, yaml_scalar};

pub mod read;
pub mod write;

/// What sets one user-list kind apart from the other.
#[derive(Debug, Clone, Copy)]
pub struct ListKind {
    pub kind: Kind,
    /// The list's key and path segment.
    pub roster: Roster,
    /// The pod's count of active users on the list, from a group's read.
    pub count: fn(&UserGroupResponse) -> Option<i64>,
    /// What a plan warns when it leaves a list that had users empty.
    pub emptied_warning: Option<&'static str>,
    /// True when the list's adds must all be done before its removes (so
    /// that a group is never left without the one it replaces).
    pub adds_first: bool,
}

/// One user a plan adds to or removes from a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListUser {
    pub username: String,
    /// `None` when the pod was never asked (an offline plan): the request
    /// shows a placeholder, and an apply cannot send it.
    pub user_id: Option<UserId>,
}

/// One managed list of one changed group: what the snapshot records, what
/// YAML declares, and the per-user writes between the two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListChange {
    pub kind: Kind,
    pub roster: Roster,
    /// The usernames the pod has, sorted; `None` for a group the snapshot
    /// does not record (one to create starts with nobody).
    pub before: Option<Vec<String>>,
    /// The declared usernames, sorted.
    pub after: Vec<String>,
    pub add: Vec<ListUser>,
    pub remove: Vec<ListUser>,
    /// What to warn when the list had users and will have none (its
    /// kind's, never saved: [`crate::kinds::seam::Part::restore`] sets it again).
    #[serde(skip)]
    pub emptied_warning: Option<&'static str>,
    /// Adds before removes (see [`ListKind::adds_first`]).
    pub adds_first: bool,
    /// Drift held under `on_drift: hold`: users the pod dropped though git
    /// still declares them as when last applied (not re-added)...
    pub held_add: Vec<ListUser>,
    /// ...and users the pod gained though git still leaves them out (not removed).
    pub held_remove: Vec<ListUser>,
}

/// What refresh learnt about lists and users that the plan needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosterLookups {
    /// Declared usernames the users lookup did not find.
    pub unknown_users: BTreeSet<String>,
    /// Lists that could not be read, by group id and list: why.
    pub unreadable: BTreeMap<(String, Roster), String>,
}

/// A list whose users changed on the pod since the snapshot recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListDrift {
    pub roster: Roster,
    /// Usernames the pod now has that the snapshot did not record.
    pub added: Vec<String>,
    /// Usernames the snapshot recorded that the pod no longer has.
    pub removed: Vec<String>,
}

/// The change of list `list` that `group` needs against `target`; `None`
/// when YAML does not manage the list. From the snapshot's record of the
/// target, or from nobody for a group to create. An unknown username or an
/// unread list is an error for the group.
pub fn plan(
    list: &ListKind,
    group: &DesiredGroup,
    target: &Target,
    snapshot: &Snapshot,
    lookups: &RosterLookups,
    rule: DriftRule,
) -> Result<Option<ListChange>, String> {
    let Some(declared) = group.rosters.get(list.roster) else {
        return Ok(None);
    };
    let nobody = BTreeMap::new();
    let recorded = match target.group_id {
        None => &nobody,
        Some(id) => match snapshot.roster(id, list.roster) {
            Some(record) => &record.users,
            None => return Err(unread_list(id, list.roster, lookups)),
        },
    };
    let unknown: Vec<&str> = declared
        .iter()
        .filter(|user| lookups.unknown_users.contains(*user))
        .filter(|user| {
            let user = user.to_lowercase();
            !recorded.values().any(|name| name.to_lowercase() == user)
        })
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(unknown_users(list.roster, &unknown));
    }
    let mut change = list_change(list, declared, recorded, snapshot);
    if target.recorded.is_none() {
        change.before = None;
    }
    if let Some(applied) = rule.applied.filter(|_| rule.hold) {
        hold_drift(&mut change, applied.lists.get(&list.roster));
    }
    Ok(Some(change))
}

/// Moves the writes that only undo drift into the held lists: an add of a
/// user git declared at the last apply too (the pod dropped it), a removal
/// of one git left out then too (the pod gained it). A list YAML did not
/// manage at the last apply has no drift: every write stays.
fn hold_drift(change: &mut ListChange, applied: Option<&Vec<String>>) {
    let Some(applied) = applied else {
        return;
    };
    let applied: HashSet<String> = applied.iter().map(|name| name.to_lowercase()).collect();
    let was_declared = |user: &ListUser| applied.contains(&user.username.to_lowercase());
    let (held_add, add) = std::mem::take(&mut change.add)
        .into_iter()
        .partition(|user| was_declared(user));
    let (held_remove, remove) = std::mem::take(&mut change.remove)
        .into_iter()
        .partition(|user| !was_declared(user));
    (change.add, change.remove) = (add, remove);
    (change.held_add, change.held_remove) = (held_add, held_remove);
}

/// Who to add and remove so that `recorded` becomes `declared`. A declared
/// user matches a recorded one by name regardless of case (as the pod's
/// lookup does), or by the user id the snapshot knows for the name, so that
/// a spelling the pod answers differently never turns into an add and a
/// remove of the same user.
fn list_change(
    list: &ListKind,
    declared: &BTreeSet<String>,
    recorded: &BTreeMap<UserId, String>,
    snapshot: &Snapshot,
) -> ListChange {
    let recorded_names: HashSet<String> =
        recorded.values().map(|name| name.to_lowercase()).collect();
    let declared_names: HashSet<String> = declared.iter().map(|name| name.to_lowercase()).collect();
    let declared_ids: HashSet<UserId> = declared
        .iter()
        .filter_map(|name| snapshot.user_id(name))
        .collect();
    let add = declared
        .iter()
        .map(|user| ListUser {
            username: user.clone(),
            user_id: snapshot.user_id(user),
        })
        .filter(|user| {
            !recorded_names.contains(&user.username.to_lowercase())
                && !user.user_id.is_some_and(|id| recorded.contains_key(&id))
        })
        .collect();
    let mut remove: Vec<ListUser> = recorded
        .iter()
        .filter(|(id, user)| {
            !declared_names.contains(&user.to_lowercase()) && !declared_ids.contains(id)
        })
        .map(|(id, user)| ListUser {
            username: user.clone(),
            user_id: Some(*id),
        })
        .collect();
    remove.sort_by(|a, b| a.username.cmp(&b.username));
    let mut before: Vec<String> = recorded.values().cloned().collect();
    before.sort();
    ListChange {
        kind: list.kind,
        roster: list.roster,
        before: Some(before),
        after: declared.iter().cloned().collect(),
        add,
        remove,
        emptied_warning: list.emptied_warning,
        adds_first: list.adds_first,
        held_add: Vec::new(),
        held_remove: Vec::new(),
    }
}

fn unread_list(group_id: &str, roster: Roster, lookups: &RosterLookups) -> String {
    let key = roster.key();
    match lookups.unreadable.get(&(group_id.to_string(), roster)) {
        Some(reason) => format!(
            "the {key} of group {group_id} are unknown: {reason}; nothing is written for this group"
        ),
        None => format!(
            "the {key} of group {group_id} were never read: plan against the pod (pod.url) to read them; nothing is written for this group"
        ),
    }
}

fn unknown_users(roster: Roster, unknown: &[&str]) -> String {
    let key = roster.key();
    let quoted: Vec<String> = unknown.iter().map(|user| format!("{user:?}")).collect();
    let (noun, them) = match unknown.len() {
        1 => ("user", "it"),
        _ => ("users", "them"),
    };
    format!(
        "the pod has no {noun} {} (in `{key}`): fix the username or remove {them}; nothing is written for this group",
        quoted.join(", ")
    )
}

impl ListChange {
    /// True when the list needs at least one write.
    pub fn has_writes(&self) -> bool {
        !self.add.is_empty() || !self.remove.is_empty()
    }

    /// Every write in the order it is sent: adds first (so that an assignee
    /// is replaced before the old one goes), then removes; `true` = add.
    pub fn writes(&self) -> impl Iterator<Item = (&ListUser, bool)> {
        let adds = self.add.iter().map(|user| (user, true));
        adds.chain(self.remove.iter().map(|user| (user, false)))
    }

    /// One `PUT {group}/{segment}/{userId} {"active": ...}` per write.
    pub fn requests(&self, group_path: &str) -> Vec<Request> {
        self.writes()
            .map(|(user, active)| {
                let user_id = match user.user_id {
                    Some(id) => id.to_string(),
                    None => "{userId}".to_string(),
                };
                user_request(group_path, self.roster, &user_id, &user.username, active)
            })
            .collect()
    }

    /// What a reviewer should know before applying: a list that had users left empty.
    pub fn warnings(&self) -> Vec<String> {
        let emptied = self.after.is_empty() && self.before.as_ref().is_some_and(|b| !b.is_empty());
        match self.emptied_warning {
            Some(warning) if emptied => vec![warning.to_string()],
            _ => Vec::new(),
        }
    }

    /// The list as the snapshot records it, in the group's YAML block.
    pub fn yaml_before(&self, out: &mut String) {
        if let Some(before) = &self.before {
            yaml_list(out, self.roster, before);
        }
    }

    /// The list as it will be, in the group's YAML block: as declared, but
    /// for the users whose drift is held.
    pub fn yaml_after(&self, out: &mut String) {
        if self.held_add.is_empty() && self.held_remove.is_empty() {
            yaml_list(out, self.roster, &self.after);
            return;
        }
        let dropped: HashSet<&str> = self
            .held_add
            .iter()
            .map(|user| user.username.as_str())
            .collect();
        let mut after: Vec<String> = self
            .after
            .iter()
            .filter(|user| !dropped.contains(user.as_str()))
            .cloned()
            .chain(self.held_remove.iter().map(|user| user.username.clone()))
            .collect();
        after.sort();
        yaml_list(out, self.roster, &after);
    }

    /// `members "bob" removed on the pod, "dave" added on the pod`; `None` without held drift.
    pub fn held_summary(&self) -> Option<String> {
        let quoted_all = |users: &[ListUser]| {
            let names: Vec<String> = users.iter().map(|user| quoted(&user.username)).collect();
            names.join(", ")
        };
        let mut described = Vec::new();
        if !self.held_add.is_empty() {
            described.push(format!("{} removed on the pod", quoted_all(&self.held_add)));
        }
        if !self.held_remove.is_empty() {
            described.push(format!(
                "{} added on the pod",
                quoted_all(&self.held_remove)
            ));
        }
        (!described.is_empty()).then(|| format!("{} {}", self.roster, described.join(", ")))
    }

    /// `members added "carol", removed "bob"`; `None` without writes.
    pub fn summary(&self) -> Option<String> {
        self.has_writes().then(|| {
            let added: Vec<&str> = shown_users(&self.add);
            let removed: Vec<&str> = shown_users(&self.remove);
            list_changes(self.roster, &added, &removed)
        })
    }

    /// `"members": {"removed_on_pod": [...], "added_on_pod": [...]}`: the users held back.
    pub fn serialize_held_json<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        if self.held_add.is_empty() && self.held_remove.is_empty() {
            return Ok(());
        }
        #[derive(Serialize)]
        struct Held<'a> {
            removed_on_pod: Vec<&'a str>,
            added_on_pod: Vec<&'a str>,
        }
        let entry = Held {
            removed_on_pod: shown_users(&self.held_add),
            added_on_pod: shown_users(&self.held_remove),
        };
        map.serialize_entry(self.roster.key(), &entry)
    }

    /// `"members": {"add": [...], "remove": [...]}`.
    pub fn serialize_json<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        let entry = AddRemove {
            add: shown_users(&self.add),
            remove: shown_users(&self.remove),
        };
        map.serialize_entry(self.roster.key(), &entry)
    }
}

/// One per-user write as a plan shows it.
pub fn user_request(
    group_path: &str,
    roster: Roster,
    user_id: &str,
    username: &str,
    active: bool,
) -> Request {
    Request {
        method: "PUT",
        path: format!("{group_path}/{}/{user_id}", roster.segment()),
        body: RequestBody::Active(ActiveUpdate {
            active: Some(active),
        }),
        user: Some(username.to_string()),
    }
}

impl ListDrift {
    /// `members added "carol", removed "bob"`
    pub fn summary(&self) -> String {
        let added: Vec<&str> = self.added.iter().map(String::as_str).collect();
        let removed: Vec<&str> = self.removed.iter().map(String::as_str).collect();
        list_changes(self.roster, &added, &removed)
    }

    /// `"members": {"added": [...], "removed": [...]}`.
    pub fn serialize_json<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        #[derive(Serialize)]
        struct AddedRemoved<'a> {
            added: &'a [String],
            removed: &'a [String],
        }
        let entry = AddedRemoved {
            added: &self.added,
            removed: &self.removed,
        };
        map.serialize_entry(self.roster.key(), &entry)
    }
}

/// The usernames a plan shows for one list, `[]` when empty.
fn shown_users(users: &[ListUser]) -> Vec<&str> {
    users.iter().map(|user| user.username.as_str()).collect()
}

/// `{"add": [...], "remove": [...]}` of one list, for JSON plans.
#[derive(Debug, Serialize)]
struct AddRemove<'a> {
    add: Vec<&'a str>,
    remove: Vec<&'a str>,
}

/// `members added "carol", removed "bob"`
fn list_changes(roster: Roster, added: &[&str], removed: &[&str]) -> String {
    let quoted_all = |users: &[&str]| {
        let users: Vec<String> = users.iter().map(|user| quoted(user)).collect();
        users.join(", ")
    };
    let mut described = Vec::new();
    if !added.is_empty() {
        described.push(format!("added {}", quoted_all(added)));
    }
    if !removed.is_empty() {
        described.push(format!("removed {}", quoted_all(removed)));
    }
    format!("{roster} {}", described.join(", "))
}

/// One user list as a YAML block: `members:` and a `- user` line each, or `members: []`.
fn yaml_list(out: &mut String, roster: Roster, users: &[String]) {
    if users.is_empty() {
        let _ = writeln!(out, "{roster}: []");
        return;
    }
    let _ = writeln!(out, "{roster}:");
    for user in users {
        let _ = writeln!(out, "  - {}", yaml_scalar(user));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list kind as memberships are: no warning when emptied.
    const MEMBERSHIPS: ListKind = ListKind {
        kind: Kind::Membership,
        roster: Roster::Members,
        count: |group| group.member_count,
        emptied_warning: None,
        adds_first: false,
    };

    fn names(users: &[ListUser]) -> Vec<&str> {
        shown_users(users)
    }

    fn declared(users: &[&str]) -> BTreeSet<String> {
        users.iter().map(|user| user.to_string()).collect()
    }

    fn recorded(users: &[(&str, UserId)]) -> BTreeMap<UserId, String> {
        users
            .iter()
            .map(|(user, id)| (*id, user.to_string()))
            .collect()
    }

    #[test]
    fn adds_and_removes_are_the_two_set_differences() {
        let mut snapshot = Snapshot::default();
        snapshot.remember_user("carol", 3);
        let change = list_change(
            &MEMBERSHIPS,
            &declared(&["alice", "carol", "dave"]),
            &recorded(&[("alice", 1), ("bob", 2)]),
            &snapshot,
        );
        assert_eq!(names(&change.add), ["carol", "dave"]);
        assert_eq!(change.add[0].user_id, Some(3));
        assert_eq!(change.add[1].user_id, None, "never looked up");
        assert_eq!(names(&change.remove), ["bob"]);
        assert_eq!(change.remove[0].user_id, Some(2));
        assert_eq!(
            (change.before.as_ref().map(Vec::len), change.after.len()),
            (Some(2), 3)
        );
        let order: Vec<(&str, bool)> = change
            .writes()
            .map(|(user, active)| (user.username.as_str(), active))
            .collect();
        assert_eq!(order, [("carol", true), ("dave", true), ("bob", false)]);
    }

    #[test]
    fn a_name_spelt_differently_by_the_pod_is_the_same_user() {
        let mut snapshot = Snapshot::default();
        snapshot.remember_user("alice.smith", 1);
        // The pod lists "Alice.Smith"; YAML says "alice.smith": no write at all.
        let change = list_change(
            &MEMBERSHIPS,
            &declared(&["alice.smith"]),
            &recorded(&[("Alice.Smith", 1)]),
            &snapshot,
        );
        assert!(!change.has_writes(), "{change:?}");
        // The same id under another name is the same user too.
        let change = list_change(
            &MEMBERSHIPS,
            &declared(&["alice.smith"]),
            &recorded(&[("#1", 1)]),
            &snapshot,
        );
        assert!(!change.has_writes(), "{change:?}");
    }
}
