//! The members and assignees of the groups an import writes (unless
//! `--no-members`), so that a plan right after the import finds the lists
//! as the pod has them:
//! - each list is read whole with the pod client's bounded page walker,
//!   `concurrency` lists at a time; a list whose count in the group list
//!   just read is 0 is known empty without a read, as a refresh knows it;
//! - users a list names by id alone are named through the users lookup by
//!   id (100 a call); one the pod names nowhere (a deleted account?) cannot
//!   be written, and becomes a comment beside its list;
//! - every username is checked with the loader itself (never a second copy
//!   of its rules); one it would refuse becomes a comment too;
//! - a list the pod will not list (403, or 404 for a group gone since the
//!   group list was read) is left out of the group's entry, with the reason as a comment:
//!   groupsync then leaves that list alone.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use crate::desired::parse_file;
use crate::error::{PodError, Result};
use crate::model::{Membership, Roster, UserGroupResponse, UserId};
use crate::pod::{PodClient, in_flight};
use crate::text::yaml_scalar;

/// One list of one group, as an import writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ImportedList {
    /// Read whole: written under its key, and recorded.
    Read(ReadList),
    /// Not written, for this reason: the key is left out (groupsync leaves
    /// the list alone) and nothing is recorded.
    LeftOut(String),
}

/// A list read whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ReadList {
    /// The pod's active users by id, each with its username (`None` for
    /// one the pod names nowhere): what the state file records.
    pub users: BTreeMap<UserId, Option<String>>,
    /// The usernames written, sorted, each once.
    pub written: Vec<String>,
    /// The users on the list that cannot be written, by id.
    pub unwritten: Vec<Unwritten>,
}

/// A user on a list that the import cannot write as a username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unwritten {
    pub user_id: UserId,
    /// The username the pod gave, when it gave one.
    pub username: Option<String>,
    /// Why it cannot be written (the loader's message), when it has a username.
    pub problem: Option<String>,
}

/// The lists of one group, by list, in the order YAML shows them.
pub(super) type GroupLists = BTreeMap<Roster, ImportedList>;

/// The pod's count of active users on `roster`, as the group list reported it.
fn count(group: &UserGroupResponse, roster: Roster) -> Option<i64> {
    match roster {
        Roster::Members => group.member_count,
        Roster::Assignees => group.assignee_count,
    }
}

/// Reads both lists of each of `groups` (each with an id), at most
/// `concurrency` at a time; one [`GroupLists`] per group, in order.
/// `known` names users by id as the state file knows them. A list the pod
/// refuses (403, 404) is left out; any other failure fails the import.
pub(super) async fn read(
    client: &PodClient,
    groups: &[&UserGroupResponse],
    concurrency: usize,
    known: HashMap<UserId, String>,
) -> Result<Vec<GroupLists>> {
    let mut rows: BTreeMap<(usize, Roster), Result<Vec<Membership>, String>> = BTreeMap::new();
    let mut reads = Vec::new();
    for (index, group) in groups.iter().enumerate() {
        for roster in Roster::ALL {
            if count(group, roster) == Some(0) {
                rows.insert((index, roster), Ok(Vec::new()));
            } else {
                reads.push((index, roster, group.id.clone().unwrap_or_default()));
            }
        }
    }
    let answers = in_flight::until_failure(reads, concurrency, |(index, roster, id)| {
        let client = client.clone();
        async move {
            let answer = match client.roster(&id, roster).await {
                Ok(read) => Ok(read),
                Err(error) if matches!(error.status(), Some(403 | 404)) => {
                    Err(format!("the pod would not list them ({error})"))
                }
                Err(error) => return Err(error),
            };
            Ok(((index, roster), answer))
        }
    })
    .await?;
    rows.extend(answers);
    let names = name_unnamed(client, &rows, known).await?;
    let mut lists = vec![GroupLists::new(); groups.len()];
    for ((index, roster), answer) in rows {
        let list = match answer {
            Ok(rows) => list_of(&rows, &names),
            Err(reason) => ImportedList::LeftOut(reason),
        };
        lists[index].insert(roster, list);
    }
    sort_out(lists.iter_mut().flat_map(|lists| lists.values_mut()));
    Ok(lists)
}

/// `rows` as a list read, its users named as `known` names them and sorted
/// out ([`sort_out`]): what [`read`] makes of one list.
#[cfg(test)]
pub(super) fn sorted_out(rows: &[Membership], known: &HashMap<UserId, String>) -> ImportedList {
    let mut list = list_of(rows, &Names::Known(known.clone()));
    sort_out(std::iter::once(&mut list));
    list
}

/// The names of the users the lists read name by id alone: `known`, and
/// the users lookup by id for the rest. An id the lookup does not answer
/// for stays unnamed. When the pod refuses the lookup (403), the users it
/// would have named cannot be told from deleted accounts: each list with
/// one is left out ([`Names::Refused`]).
async fn name_unnamed(
    client: &PodClient,
    rows: &BTreeMap<(usize, Roster), Result<Vec<Membership>, String>>,
    mut known: HashMap<UserId, String>,
) -> Result<Names> {
    let unnamed: BTreeSet<UserId> = rows
        .values()
        .filter_map(|answer| answer.as_ref().ok())
        .flatten()
        .filter(|row| row.active != Some(false) && username_of(row).is_none())
        .filter_map(user_id_of)
        .filter(|id| !known.contains_key(id))
        .collect();
    if unnamed.is_empty() {
        return Ok(Names::Known(known));
    }
    let ids: Vec<UserId> = unnamed.into_iter().collect();
    match client.users_by_id(&ids).await {
        Ok(users) => {
            for user in users {
                if let (Some(id), Some(username)) = (user.id, user.username) {
                    known.insert(id, username);
                }
            }
            Ok(Names::Known(known))
        }
        Err(error) if error.is_forbidden() => Ok(Names::Refused {
            known,
            reason: refused_lookup(&error),
        }),
        Err(error) => Err(error.into()),
    }
}

/// The users lookup's answer, as far as it goes.
enum Names {
    Known(HashMap<UserId, String>),
    /// The pod refused the lookup: users it did not name cannot be told
    /// from deleted accounts.
    Refused {
        known: HashMap<UserId, String>,
        reason: String,
    },
}

fn refused_lookup(error: &PodError) -> String {
    format!(
        "some of them are listed by id alone, and the pod refused to name them ({error}); \
         writing the list without them would remove them"
    )
}

fn user_id_of(row: &Membership) -> Option<UserId> {
    row.user_id.or_else(|| row.user.as_ref()?.id)
}

fn username_of(row: &Membership) -> Option<&str> {
    row.user.as_ref()?.username.as_deref()
}

/// The active users of a list by id, each with its username: the row's
/// own, else the one `names` knows, else none. Two rows of one id are one
/// user. The list is left out when a user is unnamed because the pod
/// refused the lookup.
fn list_of(rows: &[Membership], names: &Names) -> ImportedList {
    let known = match names {
        Names::Known(known) | Names::Refused { known, .. } => known,
    };
    let mut users = BTreeMap::new();
    for row in rows.iter().filter(|row| row.active != Some(false)) {
        let Some(id) = user_id_of(row) else {
            continue;
        };
        let username = username_of(row)
            .map(str::to_string)
            .or_else(|| known.get(&id).cloned());
        if let (None, Names::Refused { reason, .. }) = (&username, names) {
            return ImportedList::LeftOut(reason.clone());
        }
        users.insert(id, username);
    }
    ImportedList::Read(ReadList {
        users,
        ..ReadList::default()
    })
}

/// Splits the users of each list read into the usernames written and the
/// users that cannot be: those without a username, and those the loader
/// refuses (each distinct username checked once, whatever the lists).
fn sort_out<'l>(lists: impl Iterator<Item = &'l mut ImportedList>) {
    let mut read: Vec<&mut ReadList> = lists
        .filter_map(|list| match list {
            ImportedList::Read(read) => Some(read),
            ImportedList::LeftOut(_) => None,
        })
        .collect();
    let usernames: BTreeSet<String> = read
        .iter()
        .flat_map(|read| read.users.values().flatten().cloned())
        .collect();
    let refused = refused_usernames(usernames);
    for read in &mut read {
        let mut written = BTreeSet::new();
        let mut unwritten = Vec::new();
        for (&user_id, username) in &read.users {
            match username {
                None => unwritten.push(Unwritten {
                    user_id,
                    username: None,
                    problem: None,
                }),
                Some(username) => match refused.get(username) {
                    Some(problem) => unwritten.push(Unwritten {
                        user_id,
                        username: Some(username.clone()),
                        problem: Some(problem.clone()),
                    }),
                    None => {
                        written.insert(username.clone());
                    }
                },
            }
        }
        read.written = written.into_iter().collect();
        read.unwritten = unwritten;
    }
}

/// The loader reads this many usernames at once, and each of a batch it
/// refuses on its own, to say which.
const BATCH_NAMES: usize = 1000;

/// The usernames of `usernames` the loader would refuse in a list, each
/// with its message.
fn refused_usernames(usernames: BTreeSet<String>) -> HashMap<String, String> {
    let usernames: Vec<String> = usernames.into_iter().collect();
    let mut refused = HashMap::new();
    for batch in usernames.chunks(BATCH_NAMES) {
        if loader_refuses(batch).is_none() {
            continue;
        }
        for username in batch {
            if let Some(problem) = loader_refuses(std::slice::from_ref(username)) {
                refused.insert(username.clone(), problem);
            }
        }
    }
    refused
}

/// What the loader says of a list of `usernames` written as import writes
/// them; `None` when it reads them back, each as it is.
fn loader_refuses(usernames: &[String]) -> Option<String> {
    let mut text = String::from("groups:\n  - id: \"probe\"\n");
    text.push_str(&list_yaml(Roster::Members, usernames));
    let (groups, problems) = parse_file(Path::new("imported.yaml"), &text);
    if !problems.is_empty() {
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        return Some(messages.join("; "));
    }
    let read = groups
        .first()
        .and_then(|group| group.rosters.get(Roster::Members));
    let expected: BTreeSet<String> = usernames.iter().cloned().collect();
    (read != Some(&expected)).then(|| "the loader reads it back as another name".to_string())
}

/// `    members:` and its usernames, one a line (`    members: []` for none).
pub(super) fn list_yaml(roster: Roster, usernames: &[String]) -> String {
    if usernames.is_empty() {
        return format!("    {}: []\n", roster.key());
    }
    let mut yaml = format!("    {}:\n", roster.key());
    for username in usernames {
        yaml.push_str("      - ");
        yaml.push_str(&yaml_scalar(username));
        yaml.push('\n');
    }
    yaml
}
