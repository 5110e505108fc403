//! Members and assignees: a group's two user lists, the resource kind that
//! sits beside the group itself in every stage. Memberships and assignments
//! differ only in their path and their key ([`Roster`]), so one module serves both.
//!
//! - **refresh** ([`read_rosters`]): every list YAML manages that the
//!   snapshot lacks (all of them with `--refresh`) is read, `concurrency` at a
//!   time, and recorded with its users' ids; a list that changed since the
//!   snapshot recorded it is drift. A list of a group whose fresh `memberCount`
//!   (or `assigneeCount`) is 0 is known to be empty without a read; an equal
//!   count proves nothing (one user swapped for another), so it is read.
//!   Declared users the snapshot has no id for are looked up by name, 100 a call.
//! - **plan** ([`plan_rosters`]): per managed list, who to add and who to
//!   remove. A username the pod does not know, or a list that could not be
//!   read, is an error for the group alone.
//! - **apply** ([`write_rosters`]): one `PUT .../memberships/{userId}` (or
//!   `/assignments/{userId}`) per user, adds first. Never the bulk `PUT
//!   .../memberships`: it replaces the whole list, so a member added in the
//!   portal between our read and our write would be silently dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::RefreshMode;
use crate::model::{DesiredGroup, Membership, Roster, UserId};
use crate::store::snapshot::{RosterRecord, Snapshot, SnapshotEntry, now_ms};
use crate::pod::{PodClient, PodError};

/// One user a plan adds to or removes from a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterUser {
    pub username: String,
    /// `None` when the pod was never asked (an offline plan): the request
    /// shows a placeholder, and an apply cannot send it.
    pub user_id: Option<UserId>,
}

/// One managed list of one changed group: what the snapshot records, what
/// YAML declares, and the per-user writes between the two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterChange {
    pub roster: Roster,
    /// The usernames the pod has, sorted (empty for a group to create).
    pub before: Vec<String>,
    /// The declared usernames, sorted.
    pub after: Vec<String>,
    pub add: Vec<RosterUser>,
    pub remove: Vec<RosterUser>,
}

impl RosterChange {
    /// True when the list needs at least one write.
    pub fn has_writes(&self) -> bool {
        !self.add.is_empty() || !self.remove.is_empty()
    }

    /// Every write in the order it is sent: adds first (so that an assignee
    /// is replaced before the old one goes), then removes; `true` = add.
    pub fn writes(&self) -> impl Iterator<Item = (&RosterUser, bool)> {
        let adds = self.add.iter().map(|user| (user, true));
        adds.chain(self.remove.iter().map(|user| (user, false)))
    }

    /// True when the change removes the last assignee of a group that had one.
    pub fn leaves_no_assignee(&self) -> bool {
        self.roster == Roster::Assignees && self.after.is_empty() && !self.before.is_empty()
    }
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

/// What [`read_rosters`] found, for refresh to report.
#[derive(Debug, Default)]
pub struct RosterRefresh {
    pub lookups: RosterLookups,
    /// By group id.
    pub drift: Vec<(String, ListDrift)>,
    pub warnings: Vec<String>,
    /// Lists read from the pod.
    pub read: usize,
}

/// One list to read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ListRead {
    group_id: String,
    roster: Roster,
}

/// Reads the lists `mode` selects of the declared groups bound to a pod
/// group (`bound` gives each group's id), records them in `snapshot`, and
/// looks up the ids of the users of `declared` (every group's, those to
/// create included) it does not know. `fresh_since_ms`: group entries read
/// at or after it carry counts that can be trusted.
pub async fn read_rosters<'d>(
    bound: impl Iterator<Item = (&'d DesiredGroup, &'d str)>,
    declared: &'d [DesiredGroup],
    snapshot: &mut Snapshot,
    client: &PodClient,
    mode: RefreshMode,
    concurrency: usize,
    fresh_since_ms: i64,
) -> Result<RosterRefresh, PodError> {
    let mut found = RosterRefresh::default();
    let mut reads = Vec::new();
    let declared_users: BTreeSet<String> = declared
        .iter()
        .flat_map(|group| group.rosters.managed())
        .flat_map(|(_, users)| users.iter().cloned())
        .collect();
    for (group, group_id) in bound {
        for roster in Roster::ALL {
            if group.rosters.get(roster).is_none() {
                snapshot.forget_roster(group_id, roster);
                continue;
            }
            let Some(entry) = snapshot.entry(group_id) else {
                continue; // not on the pod (refresh has warned): nothing to read
            };
            let unread = entry.roster(roster).is_none();
            if !unread && mode != RefreshMode::Always {
                continue;
            }
            let fresh = entry.read_at_ms.is_some_and(|at| at >= fresh_since_ms);
            if fresh && count_of(entry, roster) == Some(0) {
                // The pod says nobody is on it: nothing to read.
                let empty = BTreeMap::new();
                note_drift(&mut found, group_id, roster, entry.roster(roster), &empty);
                snapshot.record_roster(group_id, roster, empty, Some(now_ms()));
                continue;
            }
            reads.push(ListRead {
                group_id: group_id.to_string(),
                roster,
            });
        }
    }
    for (read, answer) in read_lists(client, reads, concurrency).await {
        match answer {
            Ok(memberships) => {
                let users = users_of(&memberships);
                let previous = snapshot.roster(&read.group_id, read.roster);
                note_drift(&mut found, &read.group_id, read.roster, previous, &users);
                snapshot.record_roster(&read.group_id, read.roster, users, Some(now_ms()));
                found.read += 1;
            }
            Err(error) if matches!(error.status(), Some(403 | 404)) => {
                let reason = format!("the pod refused to list them ({error})");
                if error.status() == Some(403) && found.warnings.is_empty() {
                    found.warnings.push(format!(
                        "cannot read members or assignees from the pod ({error}); groups that declare them are not planned. Grant VIEW_ROLE_SCOPES"
                    ));
                }
                found
                    .lookups
                    .unreadable
                    .insert((read.group_id, read.roster), reason);
            }
            Err(error) => return Err(error),
        }
    }
    look_up_users(&mut found, snapshot, client, declared_users).await?;
    Ok(found)
}

/// The pod's count of active users on `roster`, from the group's last read.
fn count_of(entry: &SnapshotEntry, roster: Roster) -> Option<i64> {
    match roster {
        Roster::Members => entry.pod.member_count,
        Roster::Assignees => entry.pod.assignee_count,
    }
}

/// Reads `reads`, at most `concurrency` at a time; answers in `reads` order.
async fn read_lists(
    client: &PodClient,
    reads: Vec<ListRead>,
    concurrency: usize,
) -> Vec<(ListRead, Result<Vec<Membership>, PodError>)> {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for (index, read) in reads.into_iter().enumerate() {
        let (client, permits) = (client.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("never closed");
            let answer = client.roster(&read.group_id, read.roster).await;
            (index, read, answer)
        });
    }
    let mut answers = Vec::with_capacity(tasks.len());
    while let Some(joined) = tasks.join_next().await {
        answers.push(joined.expect("a list read never panics"));
    }
    answers.sort_by_key(|(index, _, _)| *index);
    answers
        .into_iter()
        .map(|(_, read, answer)| (read, answer))
        .collect()
}

/// The active users of a list by username; a user the pod names no
/// username for is keyed `#<id>`, so that it still shows and is removed.
fn users_of(memberships: &[Membership]) -> BTreeMap<String, UserId> {
    memberships
        .iter()
        .filter(|membership| membership.active != Some(false))
        .filter_map(|membership| {
            let user = membership.user.as_ref();
            let id = membership.user_id.or(user?.id)?;
            let username = user
                .and_then(|user| user.username.clone())
                .unwrap_or_else(|| format!("#{id}"));
            Some((username, id))
        })
        .collect()
}

fn note_drift(
    found: &mut RosterRefresh,
    group_id: &str,
    roster: Roster,
    previous: Option<&RosterRecord>,
    now: &BTreeMap<String, UserId>,
) {
    let Some(previous) = previous else {
        return;
    };
    // By user id: a name the pod spells differently from the snapshot is no drift.
    let previous_ids: HashSet<UserId> = previous.users.values().copied().collect();
    let now_ids: HashSet<UserId> = now.values().copied().collect();
    let added: Vec<String> = now
        .iter()
        .filter(|(_, id)| !previous_ids.contains(id))
        .map(|(user, _)| user.clone())
        .collect();
    let removed: Vec<String> = previous
        .users
        .iter()
        .filter(|(_, id)| !now_ids.contains(id))
        .map(|(user, _)| user.clone())
        .collect();
    if !added.is_empty() || !removed.is_empty() {
        let drift = ListDrift {
            roster,
            added,
            removed,
        };
        found.drift.push((group_id.to_string(), drift));
    }
}

/// Looks up the ids of the declared users the snapshot does not know. A
/// name the pod does not answer for is unknown; the pod refusing the lookup
/// leaves the ids unknown (a warning), which only an apply would miss.
async fn look_up_users(
    found: &mut RosterRefresh,
    snapshot: &mut Snapshot,
    client: &PodClient,
    declared: BTreeSet<String>,
) -> Result<(), PodError> {
    let wanted: Vec<String> = declared
        .into_iter()
        .filter(|username| snapshot.user_id(username).is_none())
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let users = match client.users_by_name(&wanted).await {
        Ok(users) => users,
        Err(error) if error.status() == Some(403) => {
            found.warnings.push(format!(
                "cannot look users up by name ({error}); members and assignees new to groupsync cannot be added"
            ));
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    // Usernames compare without regard to case, as the pod's lookup does.
    let by_lowercase: HashMap<String, &str> = wanted
        .iter()
        .map(|username| (username.to_lowercase(), username.as_str()))
        .collect();
    let mut known = BTreeSet::new();
    for user in users {
        let (Some(id), Some(username)) = (user.id, user.username) else {
            continue;
        };
        let declared = match by_lowercase.get(&username.to_lowercase()) {
            Some(declared) => *declared,
            None => continue,
        };
        snapshot.remember_user(declared, id);
        known.insert(declared.to_string());
    }
    found.lookups.unknown_users.extend(
        wanted
            .into_iter()
            .filter(|username| !known.contains(username)),
    );
    Ok(())
}

/// The changes of every list `group` manages: from the snapshot's records
/// of pod group `group_id`, or from nobody for a group to create (`None`).
/// An unknown username or an unread list is an error for the group.
pub fn plan_rosters(
    group: &DesiredGroup,
    group_id: Option<&str>,
    snapshot: &Snapshot,
    lookups: &RosterLookups,
) -> Result<Vec<RosterChange>, String> {
    let nobody = BTreeMap::new();
    let mut changes = Vec::new();
    for (roster, declared) in group.rosters.managed() {
        let recorded = match group_id {
            None => &nobody,
            Some(id) => match snapshot.roster(id, roster) {
                Some(record) => &record.users,
                None => return Err(unread_list(id, roster, lookups)),
            },
        };
        let unknown: Vec<&str> = declared
            .iter()
            .filter(|user| lookups.unknown_users.contains(*user))
            .filter(|user| {
                let user = user.to_lowercase();
                !recorded.keys().any(|name| name.to_lowercase() == user)
            })
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(unknown_users(roster, &unknown));
        }
        changes.push(list_change(roster, declared, recorded, snapshot));
    }
    Ok(changes)
}

/// Who to add and remove so that `recorded` becomes `declared`. A declared
/// user matches a recorded one by name regardless of case (as the pod's
/// lookup does), or by the user id the snapshot knows for the name, so that
/// a spelling the pod answers differently never turns into an add and a
/// remove of the same user.
fn list_change(
    roster: Roster,
    declared: &BTreeSet<String>,
    recorded: &BTreeMap<String, UserId>,
    snapshot: &Snapshot,
) -> RosterChange {
    let recorded_names: HashSet<String> = recorded.keys().map(|name| name.to_lowercase()).collect();
    let recorded_ids: HashSet<UserId> = recorded.values().copied().collect();
    let declared_names: HashSet<String> = declared.iter().map(|name| name.to_lowercase()).collect();
    let declared_ids: HashSet<UserId> = declared
        .iter()
        .filter_map(|name| snapshot.user_id(name))
        .collect();
    let add = declared
        .iter()
        .map(|user| RosterUser {
            username: user.clone(),
            user_id: snapshot.user_id(user),
        })
        .filter(|user| {
            !recorded_names.contains(&user.username.to_lowercase())
                && !user.user_id.is_some_and(|id| recorded_ids.contains(&id))
        })
        .collect();
    let remove = recorded
        .iter()
        .filter(|(user, id)| {
            !declared_names.contains(&user.to_lowercase()) && !declared_ids.contains(id)
        })
        .map(|(user, id)| RosterUser {
            username: user.clone(),
            user_id: Some(*id),
        })
        .collect();
    RosterChange {
        roster,
        before: recorded.keys().cloned().collect(),
        after: declared.iter().cloned().collect(),
        add,
        remove,
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

/// One per-user write of an apply, and whether the pod took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterWrite {
    pub roster: Roster,
    pub username: String,
    pub user_id: UserId,
    /// `true` = added, `false` = removed.
    pub active: bool,
}

/// Sends every write of `changes` to pod group `group_id`, one at a time, in
/// order; stops at the first failure. Returns the writes the pod took, and
/// the failure if there was one.
pub async fn write_rosters(
    client: &PodClient,
    group_id: &str,
    changes: &[RosterChange],
) -> (Vec<RosterWrite>, Result<(), PodError>) {
    let mut written = Vec::new();
    for change in changes {
        for (user, active) in change.writes() {
            let Some(user_id) = user.user_id else {
                let error = PodError::UnknownUserId {
                    username: user.username.clone(),
                };
                return (written, Err(error));
            };
            if let Err(error) = client
                .set_roster_user(group_id, change.roster, user_id, active)
                .await
            {
                return (written, Err(error));
            }
            written.push(RosterWrite {
                roster: change.roster,
                username: user.username.clone(),
                user_id,
                active,
            });
        }
    }
    (written, Ok(()))
}

/// The usernames a plan shows for one list, `[]` when empty.
pub fn shown_users(users: &[RosterUser]) -> Vec<&str> {
    users.iter().map(|user| user.username.as_str()).collect()
}

/// `{"add": [...], "remove": [...]}` of one list, for JSON plans.
#[derive(Debug, Serialize)]
pub struct AddRemove<'a> {
    pub add: Vec<&'a str>,
    pub remove: Vec<&'a str>,
}

impl<'a> From<&'a RosterChange> for AddRemove<'a> {
    fn from(change: &'a RosterChange) -> Self {
        AddRemove {
            add: shown_users(&change.add),
            remove: shown_users(&change.remove),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UserRef;

    fn names(users: &[RosterUser]) -> Vec<&str> {
        shown_users(users)
    }

    fn declared(users: &[&str]) -> BTreeSet<String> {
        users.iter().map(|user| user.to_string()).collect()
    }

    fn recorded(users: &[(&str, UserId)]) -> BTreeMap<String, UserId> {
        users
            .iter()
            .map(|(user, id)| (user.to_string(), *id))
            .collect()
    }

    #[test]
    fn adds_and_removes_are_the_two_set_differences() {
        let mut snapshot = Snapshot::default();
        snapshot.remember_user("carol", 3);
        let change = list_change(
            Roster::Members,
            &declared(&["alice", "carol", "dave"]),
            &recorded(&[("alice", 1), ("bob", 2)]),
            &snapshot,
        );
        assert_eq!(names(&change.add), ["carol", "dave"]);
        assert_eq!(change.add[0].user_id, Some(3));
        assert_eq!(change.add[1].user_id, None, "never looked up");
        assert_eq!(names(&change.remove), ["bob"]);
        assert_eq!(change.remove[0].user_id, Some(2));
        assert_eq!((change.before.len(), change.after.len()), (2, 3));
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
            Roster::Members,
            &declared(&["alice.smith"]),
            &recorded(&[("Alice.Smith", 1)]),
            &snapshot,
        );
        assert!(!change.has_writes(), "{change:?}");
        // The same id under another name is the same user too.
        let change = list_change(
            Roster::Members,
            &declared(&["alice.smith"]),
            &recorded(&[("#1", 1)]),
            &snapshot,
        );
        assert!(!change.has_writes(), "{change:?}");
    }

    #[test]
    fn listed_users_are_keyed_by_username_or_by_id_and_inactive_ones_left_out() {
        let membership = |user_id: i64, username: Option<&str>, active: Option<bool>| Membership {
            user_id: Some(user_id),
            user: Some(UserRef {
                id: Some(user_id),
                username: username.map(str::to_string),
                ..UserRef::default()
            }),
            active,
            ..Membership::default()
        };
        let users = users_of(&[
            membership(1, Some("alice"), Some(true)),
            membership(2, None, None),
            membership(3, Some("gone"), Some(false)),
        ]);
        assert_eq!(users, recorded(&[("alice", 1), ("#2", 2)]));
    }

    #[test]
    fn drift_compares_users_by_id() {
        let mut found = RosterRefresh::default();
        let previous = RosterRecord {
            users: recorded(&[("alice", 1), ("bob", 2)]),
            read_at_ms: Some(0),
        };
        let now = recorded(&[("Alice", 1), ("eve", 5)]);
        note_drift(&mut found, "g1", Roster::Members, Some(&previous), &now);
        let (group_id, drift) = &found.drift[0];
        assert_eq!(group_id, "g1");
        assert_eq!(
            (drift.added.as_slice(), drift.removed.as_slice()),
            (&["eve".to_string()][..], &["bob".to_string()][..])
        );
        // Nothing recorded before: a first read is no drift.
        let mut first = RosterRefresh::default();
        note_drift(&mut first, "g1", Roster::Members, None, &now);
        assert!(first.drift.is_empty());
    }

    #[test]
    fn the_last_assignee_going_is_flagged_only_for_assignees() {
        let change = |roster| RosterChange {
            roster,
            before: vec!["carol".into()],
            after: Vec::new(),
            add: Vec::new(),
            remove: Vec::new(),
        };
        assert!(change(Roster::Assignees).leaves_no_assignee());
        assert!(!change(Roster::Members).leaves_no_assignee());
    }
}
