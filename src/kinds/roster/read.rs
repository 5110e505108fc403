//! The reads of a user-list kind before planning: each managed list the
//! refresh mode selects, `concurrency` at a time through the pod client's
//! bounded page walker, recorded with its users' ids; then the ids of
//! declared users the snapshot does not know, looked up by name.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::RefreshMode;
use crate::kinds::core::ReadContext;
use crate::kinds::roster::{ListDrift, ListKind, RosterLookups};
use crate::model::{DesiredGroup, Membership, Roster, UserId};
use crate::pod::{LIST_PAGE_SIZE, ListDate, PodClient, PodError, in_flight};
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

/// Above this many users a recorded list is probed before it is walked:
/// two one-row reads instead of three pages or more.
const PROBE_ABOVE: usize = 2 * LIST_PAGE_SIZE as usize;

/// The newest dates a list's rows carry: when a list's newest add or newest
/// removal is what the snapshot recorded, the list has not changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Newest {
    added: Option<i64>,
    removed: Option<i64>,
}

/// One list to read, and what the snapshot knows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ListRead {
    group_id: String,
    roster: Roster,
    /// The recorded list's size and newest dates, when it may be probed.
    probe: Option<Newest>,
}

/// What reading one list came to.
#[derive(Debug)]
enum ListAnswer {
    /// The list as walked, and its newest dates when it is long enough to be
    /// probed next time (and the pod sorts as it should).
    Walked {
        rows: Vec<Membership>,
        newest: Option<Newest>,
    },
    /// The probes showed the recorded list is still the pod's.
    Unchanged,
}

/// Reads list `list` of each declared group bound to a pod group (`bound`
/// gives each group's id) that the refresh mode selects, records it in
/// `snapshot`, and looks up the ids of the users the list declares (in every
/// group, those to create included) that the snapshot does not know. A list
/// no longer managed is forgotten. Users the pod lists by id alone are
/// looked up by id, so that every row counts, named.
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
        let recorded = entry.roster(roster);
        if recorded.is_some() && ctx.mode != RefreshMode::Always {
            continue;
        }
        let fresh = entry.read_at_ms.is_some_and(|at| at >= ctx.started_ms);
        if fresh && (list.count)(&entry.pod) == Some(0) {
            // The pod says nobody is on it: nothing to read.
            let empty = BTreeMap::new();
            note_drift(&mut found, group_id, roster, recorded, &empty);
            snapshot.record_roster(group_id, roster, empty, Some(now_ms()));
            continue;
        }
        reads.push(ListRead {
            group_id: group_id.to_string(),
            roster,
            probe: recorded.and_then(probe_of),
        });
    }
    let client = ctx.client;
    let mut walked = Vec::new();
    for (read, answer) in read_lists(client, reads, ctx.concurrency).await {
        match answer {
            Ok(ListAnswer::Walked { rows, newest }) => walked.push((read, rows, newest)),
            Ok(ListAnswer::Unchanged) => {
                snapshot.record_roster_checked(&read.group_id, read.roster, now_ms());
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
    let names = name_unnamed(&mut found, snapshot, client, &walked).await;
    for (read, rows, newest) in walked {
        let users = users_of(&rows, &names);
        let previous = snapshot.roster(&read.group_id, read.roster);
        note_drift(&mut found, &read.group_id, read.roster, previous, &users);
        snapshot.record_roster(&read.group_id, read.roster, users, Some(now_ms()));
        if let Some(newest) = newest {
            snapshot.record_roster_newest(
                &read.group_id,
                read.roster,
                newest.added,
                newest.removed,
            );
        }
        found.read += 1;
    }
    look_up_users(&mut found, snapshot, client, declared_users).await?;
    Ok(found)
}

/// What a recorded list offers for probing: its newest dates, when it is
/// long enough for probes to pay and they were recorded.
fn probe_of(record: &RosterRecord) -> Option<Newest> {
    let newest = Newest {
        added: record.newest_added_ms,
        removed: record.newest_removed_ms,
    };
    let recorded = newest.added.is_some() || newest.removed.is_some();
    (record.users.len() > PROBE_ABOVE && recorded).then_some(newest)
}

/// Reads `reads`, at most `concurrency` at a time; answers in `reads` order.
/// Once one list shows that the pod does not sort, no other list is probed.
async fn read_lists(
    client: &PodClient,
    reads: Vec<ListRead>,
    concurrency: usize,
) -> Vec<(ListRead, Result<ListAnswer, PodError>)> {
    let sorts = Arc::new(AtomicBool::new(true));
    in_flight::in_order(reads, concurrency, |read| {
        let (client, sorts) = (client.clone(), sorts.clone());
        async move {
            let answer = read_list(&client, &read, &sorts).await;
            (read, answer)
        }
    })
    .await
}

/// Reads one list: a long recorded one is probed first (its newest add and
/// newest removal) and walked only when either moved; any other is walked,
/// and probed after the walk when it is long, for the next time.
async fn read_list(
    client: &PodClient,
    read: &ListRead,
    sorts: &AtomicBool,
) -> Result<ListAnswer, PodError> {
    let (group_id, roster) = (read.group_id.as_str(), read.roster);
    let mut probed = None;
    if let Some(recorded) = read.probe.filter(|_| sorts.load(Ordering::Relaxed)) {
        let newest = newest_of(client, group_id, roster).await?;
        if newest == recorded {
            return Ok(ListAnswer::Unchanged);
        }
        if newest.added < recorded.added || newest.removed < recorded.removed {
            pod_does_not_sort(sorts, group_id, roster);
        }
        probed = Some(newest);
    }
    let rows = client.roster(group_id, roster).await?;
    if rows.len() <= PROBE_ABOVE || !sorts.load(Ordering::Relaxed) {
        return Ok(ListAnswer::Walked { rows, newest: None });
    }
    // Probed before the walk: a change since then only makes the next probe walk again.
    let newest = match probed {
        Some(newest) => newest,
        None => newest_of(client, group_id, roster).await?,
    };
    // The first row sorted by date must be at least as new as every row walked.
    let walked_newest = rows.iter().filter_map(|row| row.last_added_date).max();
    if newest.added < walked_newest {
        pod_does_not_sort(sorts, group_id, roster);
        return Ok(ListAnswer::Walked { rows, newest: None });
    }
    Ok(ListAnswer::Walked {
        rows,
        newest: Some(newest),
    })
}

/// The newest add and the newest removal of a list: one row sorted each way.
async fn newest_of(client: &PodClient, group_id: &str, roster: Roster) -> Result<Newest, PodError> {
    let added = client
        .roster_newest(group_id, roster, ListDate::Added)
        .await?;
    let removed = client
        .roster_newest(group_id, roster, ListDate::Removed)
        .await?;
    Ok(Newest {
        added: added.as_ref().and_then(|row| ListDate::Added.of(row)),
        removed: removed.as_ref().and_then(|row| ListDate::Removed.of(row)),
    })
}

/// The pod answered a sorted read out of order: every list is walked whole from now on.
fn pod_does_not_sort(sorts: &AtomicBool, group_id: &str, roster: Roster) {
    if sorts.swap(false, Ordering::Relaxed) {
        tracing::debug!(
            group_id,
            "the pod ignores `sort` on the {roster} list: reading every list whole"
        );
    }
}

/// The ids of the active rows, walked, that carry no username and whose name
/// the snapshot does not know, named through the users lookup by id. A pod
/// refusing the lookup leaves them `#<id>` (a warning): they still count.
async fn name_unnamed(
    found: &mut RosterRefresh,
    snapshot: &Snapshot,
    client: &PodClient,
    walked: &[(ListRead, Vec<Membership>, Option<Newest>)],
) -> HashMap<UserId, String> {
    let mut names: HashMap<UserId, String> = snapshot.usernames_by_id();
    let unnamed: BTreeSet<UserId> = walked
        .iter()
        .flat_map(|(_, rows, _)| rows.iter())
        .filter(|row| row.active != Some(false) && username_of(row).is_none())
        .filter_map(user_id_of)
        .filter(|id| !names.contains_key(id))
        .collect();
    if unnamed.is_empty() {
        return names;
    }
    let ids: Vec<UserId> = unnamed.into_iter().collect();
    match client.users_by_id(&ids).await {
        Ok(users) => {
            for user in users {
                if let (Some(id), Some(username)) = (user.id, user.username) {
                    names.insert(id, username);
                }
            }
        }
        Err(error) => found.warnings.push(format!(
            "cannot look up the names of {} listed by id alone ({error}); they are shown as #<id>",
            crate::text::counted(ids.len(), "user")
        )),
    }
    names
}

fn user_id_of(row: &Membership) -> Option<UserId> {
    row.user_id.or_else(|| row.user.as_ref()?.id)
}

fn username_of(row: &Membership) -> Option<&str> {
    row.user.as_ref()?.username.as_deref()
}

/// The active users of a list by id, each with its username: the row's own,
/// else one the lookup found (`names`), else `#<id>`, so that every user
/// still shows and can be removed. Two rows of one id are one user.
pub fn users_of(rows: &[Membership], names: &HashMap<UserId, String>) -> BTreeMap<UserId, String> {
    rows.iter()
        .filter(|row| row.active != Some(false))
        .filter_map(|row| {
            let id = user_id_of(row)?;
            let username = username_of(row)
                .map(str::to_string)
                .or_else(|| names.get(&id).cloned())
                .unwrap_or_else(|| format!("#{id}"));
            Some((id, username))
        })
        .collect()
}

fn note_drift(
    found: &mut RosterRefresh,
    group_id: &str,
    roster: Roster,
    previous: Option<&RosterRecord>,
    now: &BTreeMap<UserId, String>,
) {
    let Some(previous) = previous else {
        return;
    };
    // By user id: a name the pod spells differently from the snapshot is no drift.
    let mut added: Vec<String> = now
        .iter()
        .filter(|(id, _)| !previous.users.contains_key(id))
        .map(|(_, user)| user.clone())
        .collect();
    let mut removed: Vec<String> = previous
        .users
        .iter()
        .filter(|(id, _)| !now.contains_key(id))
        .map(|(_, user)| user.clone())
        .collect();
    added.sort();
    removed.sort();
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

    fn recorded(users: &[(&str, UserId)]) -> BTreeMap<UserId, String> {
        users
            .iter()
            .map(|(user, id)| (*id, user.to_string()))
            .collect()
    }

    #[test]
    fn listed_users_are_keyed_by_id_named_as_best_known_and_inactive_ones_left_out() {
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
        // A row with a user id and no expanded user at all still counts.
        let bare = Membership {
            user_id: Some(4),
            ..Membership::default()
        };
        let twin = membership(5, Some("alice"), None);
        let looked_up = HashMap::from([(4, "dave".to_string())]);
        let users = users_of(
            &[
                membership(1, Some("alice"), Some(true)),
                membership(2, None, None),
                membership(3, Some("gone"), Some(false)),
                bare,
                twin,
            ],
            &looked_up,
        );
        assert_eq!(
            users,
            recorded(&[("alice", 1), ("#2", 2), ("dave", 4), ("alice", 5)]),
            "two users who share a name stay two"
        );
    }

    #[test]
    fn drift_compares_users_by_id() {
        let mut found = RosterRefresh::default();
        let previous = RosterRecord {
            users: recorded(&[("alice", 1), ("bob", 2)]),
            read_at_ms: Some(0),
            ..RosterRecord::default()
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
