//! A group's two user lists — its members and its assignees — as YAML
//! declares them ([`Rosters`]) and as the pod serves them (`Membership`,
//! `MembershipList`, `ActiveUpdate`, `MembershipWritten`, the users lookup).
//! The pod types mirror `docs/pod-api.md` ("Members and assignees") field for
//! field; the client and the emulator both use them.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Pagination, group_path};

/// One of a group's two user lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Roster {
    /// The users the group scopes (what its compliance officers may see).
    Members,
    /// The compliance officers responsible for the group.
    Assignees,
}

impl Roster {
    /// Both lists, in the order YAML blocks and plans show them.
    pub const ALL: [Roster; 2] = [Roster::Members, Roster::Assignees];

    /// The key in YAML, in JSON plans and in the state file: `members`, `assignees`.
    pub fn key(self) -> &'static str {
        match self {
            Roster::Members => "members",
            Roster::Assignees => "assignees",
        }
    }

    /// The list whose key is `key`.
    pub fn from_key(key: &str) -> Option<Roster> {
        Roster::ALL.into_iter().find(|roster| roster.key() == key)
    }

    /// The pod's path segment under a group: `memberships`, `assignments`.
    pub fn segment(self) -> &'static str {
        match self {
            Roster::Members => "memberships",
            Roster::Assignees => "assignments",
        }
    }

    /// One user of the list: `member`, `assignee`.
    pub fn noun(self) -> &'static str {
        match self {
            Roster::Members => "member",
            Roster::Assignees => "assignee",
        }
    }
}

impl fmt::Display for Roster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// The user lists a group declares. A list not managed (never read, never
/// written) is absent; a managed one holds exactly the active usernames.
///
/// Boxed, and absent when neither list is: most groups of a large tree
/// declare none, and two empty sets were an eighth of each group's size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rosters(Option<Box<[Option<BTreeSet<String>>; 2]>>);

impl Rosters {
    /// The declared usernames of `roster`, sorted; `None` when it is not managed.
    pub fn get(&self, roster: Roster) -> Option<&BTreeSet<String>> {
        self.0.as_ref()?[slot(roster)].as_ref()
    }

    pub fn set(&mut self, roster: Roster, users: BTreeSet<String>) {
        self.0.get_or_insert_default()[slot(roster)] = Some(users);
    }

    /// True when neither list is managed.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Every managed list with its usernames.
    pub fn managed(&self) -> impl Iterator<Item = (Roster, &BTreeSet<String>)> {
        Roster::ALL
            .into_iter()
            .filter_map(|roster| Some((roster, self.get(roster)?)))
    }
}

/// Where `roster` is kept in [`Rosters`].
fn slot(roster: Roster) -> usize {
    match roster {
        Roster::Members => 0,
        Roster::Assignees => 1,
    }
}

/// A pod user id (int64).
pub type UserId = i64;

/// `/v2/admin/usergroups/{groupId}/memberships` (or `/assignments`).
pub fn roster_path(group_id: &str, roster: Roster) -> String {
    format!("{}/{}", group_path(group_id), roster.segment())
}

/// `/v2/admin/usergroups/{groupId}/memberships/{userId}` (or `/assignments/{userId}`).
pub fn roster_user_path(group_id: &str, roster: Roster, user_id: UserId) -> String {
    format!("{}/{user_id}", roster_path(group_id, roster))
}

/// The users lookup, `GET /v3/users?username=a,b&local=true`.
pub const USERS_PATH: &str = "/v3/users";

/// The most names one users lookup may ask for.
pub const USERS_PER_LOOKUP: usize = 100;

/// `UserRef`: the user nested in a listed membership or an assignment (`expand=user`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
}

/// `GroupRef`: the group nested in a membership (`expand=group`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub group_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// `Membership`, and `Assignment` (a membership plus `userRoles`): one entry
/// of a group's list, and the answer to an assignment PUT.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserRef>,
    /// Assignments only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_added_date: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_removed_date: Option<i64>,
}

/// `MembershipList` / `AssignmentList`: one page of a group's list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipList {
    #[serde(default)]
    pub data: Vec<Membership>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
}

/// `ActiveUpdate`: the body of a per-user membership or assignment PUT.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// The user nested in `MembershipWritten`: the pod spells `userName` here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WrittenUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<UserId>,
    #[serde(default, rename = "userName", skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
}

/// `MembershipWritten`: the answer to a per-user membership PUT.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MembershipWritten {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<WrittenUser>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_added_date: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_removed_date: Option<i64>,
}

/// One entry of the bulk membership PUT's body (`[{"username": ...}]`).
/// groupsync never sends it; the emulator serves it so tests can prove that.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkMember {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// `SuccessResponse`: `{format, message}`, the answer to the bulk PUT.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuccessResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One user of the users lookup's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// `UserList`: the users lookup's answer, `{users, errors}` (both always
/// written, as the pod answers). A name the pod does not know is simply
/// absent from `users`; an answer without `users` is no users list at all,
/// and does not decode (an empty `users` is not "nobody" by default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserList {
    pub users: Vec<UserRecord>,
    #[serde(default)]
    pub errors: Vec<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_list_and_the_user() {
        assert_eq!(
            roster_path("g 1", Roster::Members),
            "/v2/admin/usergroups/g%201/memberships"
        );
        assert_eq!(
            roster_user_path("g1", Roster::Assignees, 42),
            "/v2/admin/usergroups/g1/assignments/42"
        );
    }

    #[test]
    fn a_written_membership_spells_user_name_with_a_capital_n() {
        let written: MembershipWritten = serde_json::from_str(
            r#"{"id":"m1","groupId":"g1","userId":7,"active":true,"user":{"id":7,"userName":"alice"}}"#,
        )
        .unwrap();
        let user = written.user.unwrap();
        assert_eq!(
            (user.id, user.user_name.as_deref()),
            (Some(7), Some("alice"))
        );
        let listed: Membership =
            serde_json::from_str(r#"{"userId":7,"user":{"id":7,"username":"alice"}}"#).unwrap();
        assert_eq!(listed.user.unwrap().username.as_deref(), Some("alice"));
    }

    #[test]
    fn an_active_update_is_one_key_and_nothing_else() {
        let body = ActiveUpdate {
            active: Some(false),
        };
        assert_eq!(serde_json::to_string(&body).unwrap(), r#"{"active":false}"#);
        assert!(serde_json::from_str::<ActiveUpdate>(r#"{"active":true,"x":1}"#).is_err());
    }

    #[test]
    fn a_users_answer_always_has_both_lists_and_needs_its_users() {
        let empty = serde_json::to_value(UserList::default()).unwrap();
        assert_eq!(empty, serde_json::json!({"users": [], "errors": []}));
        let without_errors: UserList = serde_json::from_str(r#"{"users": []}"#).unwrap();
        assert_eq!(without_errors, UserList::default());
        for not_a_list in ["{}", r#"{"nope": 1}"#, "[]"] {
            assert!(
                serde_json::from_str::<UserList>(not_a_list).is_err(),
                "{not_a_list}"
            );
        }
    }

    #[test]
    fn rosters_list_only_the_managed_lists() {
        let mut rosters = Rosters::default();
        assert!(rosters.is_empty());
        rosters.set(Roster::Assignees, BTreeSet::from(["carol".to_string()]));
        let managed: Vec<Roster> = rosters.managed().map(|(roster, _)| roster).collect();
        assert_eq!(managed, [Roster::Assignees]);
        assert!(rosters.get(Roster::Members).is_none());
    }
}
