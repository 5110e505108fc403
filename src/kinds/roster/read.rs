//! The reads of a user-list kind before planning: each managed list the
//! refresh mode selects, `concurrency` at a time through the pod client's
//! bounded page walker, recorded with its users' ids; then the ids of
//! declared users the snapshot does not know, looked up by name.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::RefreshMode;
use crate::kinds::core::ReadContext;
use crate::kinds::roster::{ListDrift, ListKind, RosterLookups};
use crate::model::{DesiredGroup, Membership, Roster, UserId};
use crate::pod::{PodClient, PodError};
use crate::store::snapshot::{RosterRecord, Snapshot, now_ms};

/// What [`read`] found, for refresh to report.
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

/// Reads list `list` of each declared group bound to a pod group (`bound`
/// gives each group's id) that the refresh mode selects, records it in
/// `snapshot`, and looks up the ids of the users the list declares (in every
/// group, those to create included) that the snapshot does not know. A list
/// no longer managed is forgotten.
pub async fn read<'d>(
    list: &ListKind,
    ctx: &ReadContext<'d>,
    bound: &[(&'d DesiredGroup, &'d str)],
    snapshot: &mut Snapshot,
) -> Result<RosterRefresh, PodError> {
    let roster = list.roster;
    let mut found = RosterRefresh::default();
    let mut reads = Vec::new();
    let declared_users: BTreeSet<String> = ctx
        .desired
        .groups
        .iter()
        .filter_map(|group| group.rosters.get(roster))
        .flat_map(|users| users.iter().cloned())
        .collect();
    for (group, group_id) in bound {
        if group.rosters.get(roster).is_none() {
            snapshot.forget_roster(group_id, roster);
            continue;
        }
        let Some(entry) = snapshot.entry(group_id) else {
            continue; // not on the pod (refresh has warned): nothing to read
        };
        let unread = entry.roster(roster).is_none();
        if !unread && ctx.mode != RefreshMode::Always {
            continue;
        }
        let fresh = entry.read_at_ms.is_some_and(|at| at >= ctx.started_ms);
        if fresh && (list.count)(&entry.pod) == Some(0) {
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
    let client = ctx.client;
    for (read, answer) in read_lists(client, reads, ctx.concurrency).await {
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
                if error.is_forbidden() && found.warnings.is_empty() {
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
        Err(error) if error.is_forbidden() => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UserRef;

    fn recorded(users: &[(&str, UserId)]) -> BTreeMap<String, UserId> {
        users
            .iter()
            .map(|(user, id)| (user.to_string(), *id))
            .collect()
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
}
