//! What the memberships, assignments and users endpoints do to the store,
//! answered with the pod's own types. Every write recounts the group, so
//! that `memberCount` and `assigneeCount` always match its active records.
//! A list write never moves the group's `modifiedDate`: the lists are
//! resources of their own. No HTTP here.

use std::collections::BTreeSet;
use std::fmt;

use crate::model::{
    Membership, MembershipList, MembershipWritten, Roster, SuccessResponse, UserId, UserList,
};

use super::people::{SeedUser, UserSearch};
use super::rosters::{Entry, RosterPageRequest, Written};
use super::store::Store;

/// Why a list call was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ListError {
    /// No group has this id (404).
    GroupNotFound(String),
    /// No user has this id (404).
    UserNotFound(UserId),
    /// The user may not be assigned (400): not a compliance officer.
    NotAnOfficer(String),
    /// Usernames the pod does not know (400).
    UnknownUsernames(Vec<String>),
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListError::GroupNotFound(id) => write!(f, "Group {id} not found."),
            ListError::UserNotFound(id) => write!(f, "User {id} not found."),
            ListError::NotAnOfficer(username) => write!(
                f,
                "User {username} is neither a Super Compliance Officer nor a Compliance Officer \
                 and cannot be assigned."
            ),
            ListError::UnknownUsernames(names) => {
                write!(f, "Unknown usernames: {}.", names.join(", "))
            }
        }
    }
}

/// The `expand` query parameter: which nested objects a listed record carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Expand {
    pub user: bool,
    pub group: bool,
}

impl Store {
    pub(super) fn add_user(&mut self, user: SeedUser) -> Result<(), String> {
        self.directory.add(user)
    }

    pub(super) fn user(&self, username: &str) -> Option<SeedUser> {
        self.directory.by_username(username).cloned()
    }

    pub(super) fn users(&self) -> Vec<SeedUser> {
        self.directory.all()
    }

    pub(super) fn lookup_users(&self, search: &UserSearch) -> UserList {
        self.directory.lookup(search)
    }

    /// One page of a group's list; `user_role` keeps the assignees holding
    /// that role (after paging, like every filter).
    pub(super) fn list_page(
        &self,
        group_id: &str,
        roster: Roster,
        request: &RosterPageRequest,
        user_role: Option<&str>,
        expand: Expand,
    ) -> Result<MembershipList, ListError> {
        self.require_group(group_id)?;
        let page = self.book.page(group_id, roster, request);
        let data = page
            .entries
            .iter()
            .filter(|entry| user_role.is_none_or(|role| self.holds_role(entry.user_id, role)))
            .map(|entry| self.membership(group_id, roster, entry, expand))
            .collect();
        Ok(MembershipList {
            data,
            pagination: Some(page.pagination),
        })
    }

    /// `PUT .../memberships/{userId}`: the membership as the pod answers it.
    pub(super) fn write_member(
        &mut self,
        group_id: &str,
        user_id: UserId,
        active: bool,
    ) -> Result<MembershipWritten, ListError> {
        let written = self.write(group_id, Roster::Members, user_id, active)?;
        let entry = written.entry;
        Ok(MembershipWritten {
            id: Some(entry.id),
            group_id: Some(group_id.to_owned()),
            group: None,
            user_id: Some(user_id),
            user: self.directory.get(user_id).map(SeedUser::written_user),
            active: Some(entry.active),
            last_added_date: entry.last_added_date,
            last_removed_date: entry.last_removed_date,
        })
    }

    /// `PUT .../assignments/{userId}`: the assignment, and whether it is new (201).
    pub(super) fn write_assignee(
        &mut self,
        group_id: &str,
        user_id: UserId,
        active: bool,
    ) -> Result<(Membership, bool), ListError> {
        let written = self.write(group_id, Roster::Assignees, user_id, active)?;
        let expand = Expand {
            user: true,
            group: false,
        };
        let assignment = self.membership(group_id, Roster::Assignees, &written.entry, expand);
        Ok((assignment, written.created))
    }

    /// The bulk `PUT .../memberships`: exactly these users active, everyone
    /// else deactivated. An unknown username changes nothing.
    pub(super) fn replace_members(
        &mut self,
        group_id: &str,
        usernames: &[String],
    ) -> Result<SuccessResponse, ListError> {
        self.set_list(group_id, Roster::Members, usernames)?;
        Ok(SuccessResponse {
            format: Some("TEXT".to_owned()),
            message: Some(format!(
                "The membership of group {group_id} was replaced: {} active members.",
                self.book.active_count(group_id, Roster::Members)
            )),
        })
    }

    /// Makes exactly `usernames` active in the list, as a portal admin would:
    /// unknown usernames or (for assignees) non-officers change nothing.
    pub(super) fn set_list(
        &mut self,
        group_id: &str,
        roster: Roster,
        usernames: &[String],
    ) -> Result<(), ListError> {
        self.require_group(group_id)?;
        let wanted = self.resolve(roster, usernames)?;
        let now = self.stamp();
        for user_id in self.book.active_users(group_id, roster) {
            if !wanted.contains(&user_id) {
                self.book.set_active(group_id, roster, user_id, false, now);
            }
        }
        for user_id in wanted {
            self.book.set_active(group_id, roster, user_id, true, now);
        }
        self.recount(group_id);
        Ok(())
    }

    /// The usernames active in the list, sorted.
    pub(super) fn active_usernames(&self, group_id: &str, roster: Roster) -> Vec<String> {
        let mut names: Vec<String> = self
            .book
            .active_users(group_id, roster)
            .into_iter()
            .filter_map(|id| self.directory.get(id))
            .map(|user| user.username.clone())
            .collect();
        names.sort();
        names
    }

    /// Every record of the list, active or not, with its user, by user id.
    pub(super) fn records(&self, group_id: &str, roster: Roster) -> Vec<Membership> {
        let expand = Expand {
            user: true,
            group: false,
        };
        self.book
            .entries(group_id, roster)
            .iter()
            .map(|entry| self.membership(group_id, roster, entry, expand))
            .collect()
    }

    fn write(
        &mut self,
        group_id: &str,
        roster: Roster,
        user_id: UserId,
        active: bool,
    ) -> Result<Written, ListError> {
        self.require_group(group_id)?;
        let user = self
            .directory
            .get(user_id)
            .ok_or(ListError::UserNotFound(user_id))?;
        if roster == Roster::Assignees && active && !user.is_officer() {
            return Err(ListError::NotAnOfficer(user.username.clone()));
        }
        let now = self.stamp();
        let written = self.book.set_active(group_id, roster, user_id, active, now);
        self.recount(group_id);
        Ok(written)
    }

    /// The ids of `usernames`, each known and (for assignees) an officer.
    fn resolve(&self, roster: Roster, usernames: &[String]) -> Result<BTreeSet<UserId>, ListError> {
        let unknown: BTreeSet<&String> = usernames
            .iter()
            .filter(|name| self.directory.by_username(name).is_none())
            .collect();
        if !unknown.is_empty() {
            return Err(ListError::UnknownUsernames(
                unknown.into_iter().cloned().collect(),
            ));
        }
        let users = usernames
            .iter()
            .filter_map(|name| self.directory.by_username(name));
        let mut ids = BTreeSet::new();
        for user in users {
            if roster == Roster::Assignees && !user.is_officer() {
                return Err(ListError::NotAnOfficer(user.username.clone()));
            }
            ids.insert(user.id);
        }
        Ok(ids)
    }

    fn require_group(&self, group_id: &str) -> Result<(), ListError> {
        if self.contains(group_id) {
            Ok(())
        } else {
            Err(ListError::GroupNotFound(group_id.to_owned()))
        }
    }

    fn holds_role(&self, user_id: UserId, role: &str) -> bool {
        self.directory
            .get(user_id)
            .is_some_and(|user| user.roles.iter().any(|held| held == role))
    }

    /// A record as the pod lists it; an assignment carries its user's roles.
    fn membership(
        &self,
        group_id: &str,
        roster: Roster,
        entry: &Entry,
        expand: Expand,
    ) -> Membership {
        let user = self.directory.get(entry.user_id);
        Membership {
            id: Some(entry.id.clone()),
            group_id: Some(group_id.to_owned()),
            group: if expand.group {
                self.group_ref(group_id)
            } else {
                None
            },
            user_id: Some(entry.user_id),
            user: user.filter(|_| expand.user).map(SeedUser::user_ref),
            user_roles: (roster == Roster::Assignees)
                .then(|| user.map(|user| user.roles.clone()).unwrap_or_default()),
            active: Some(entry.active),
            last_added_date: entry.last_added_date,
            last_removed_date: entry.last_removed_date,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UserGroupResponse;

    fn store() -> Store {
        let mut store = Store::new(vec![UserGroupResponse::test("g").with_name("G")]).unwrap();
        store.add_user(SeedUser::new(1, "alice")).unwrap();
        store.add_user(SeedUser::new(2, "bob")).unwrap();
        store.add_user(SeedUser::officer(3, "olga")).unwrap();
        store
    }

    fn counts(store: &Store) -> (Option<i64>, Option<i64>) {
        let group = store.get("g").unwrap();
        (group.member_count, group.assignee_count)
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn counts_follow_every_write() {
        let mut store = store();
        let modified = store.get("g").unwrap().modified_date;
        store.write_member("g", 1, true).unwrap();
        store.write_member("g", 2, true).unwrap();
        store.write_assignee("g", 3, true).unwrap();
        assert_eq!(counts(&store), (Some(2), Some(1)));
        store.write_member("g", 1, false).unwrap();
        assert_eq!(counts(&store), (Some(1), Some(1)));
        assert_eq!(store.active_usernames("g", Roster::Members), ["bob"]);
        assert_eq!(store.records("g", Roster::Members).len(), 2);
        assert_eq!(store.get("g").unwrap().modified_date, modified);
    }

    #[test]
    fn an_assignment_is_new_once_and_only_for_officers() {
        let mut store = store();
        assert!(store.write_assignee("g", 3, true).unwrap().1);
        let (assignment, created) = store.write_assignee("g", 3, false).unwrap();
        assert!(!created);
        assert_eq!(
            assignment.user_roles,
            Some(vec!["COMPLIANCE_OFFICER".into()])
        );
        assert_eq!(
            store.write_assignee("g", 1, true),
            Err(ListError::NotAnOfficer("alice".into()))
        );
        assert_eq!(
            store.write_member("zz", 1, true),
            Err(ListError::GroupNotFound("zz".into()))
        );
        assert_eq!(
            store.write_member("g", 99, true),
            Err(ListError::UserNotFound(99))
        );
    }

    #[test]
    fn a_written_membership_names_its_user_user_name() {
        let mut store = store();
        let written = store.write_member("g", 1, true).unwrap();
        let user = written.user.unwrap();
        assert_eq!(user.user_name.as_deref(), Some("alice"));
        assert_eq!((written.active, written.user_id), (Some(true), Some(1)));
        assert!(written.last_added_date.is_some());
    }

    #[test]
    fn the_bulk_replace_deactivates_everyone_not_listed() {
        let mut store = store();
        store
            .set_list("g", Roster::Members, &names(&["alice", "bob"]))
            .unwrap();
        let answer = store
            .replace_members("g", &names(&["bob", "olga"]))
            .unwrap();
        assert_eq!(answer.format.as_deref(), Some("TEXT"));
        assert_eq!(
            store.active_usernames("g", Roster::Members),
            ["bob", "olga"]
        );
        assert_eq!(
            store.replace_members("g", &names(&["bob", "nobody"])),
            Err(ListError::UnknownUsernames(names(&["nobody"])))
        );
        assert_eq!(
            store.active_usernames("g", Roster::Members),
            ["bob", "olga"]
        );
        assert_eq!(counts(&store).0, Some(2));
    }

    #[test]
    fn a_portal_assignee_must_be_an_officer() {
        let mut store = store();
        assert!(
            store
                .set_list("g", Roster::Assignees, &names(&["bob"]))
                .is_err()
        );
        store
            .set_list("g", Roster::Assignees, &names(&["olga"]))
            .unwrap();
        assert_eq!(counts(&store), (Some(0), Some(1)));
    }
}
