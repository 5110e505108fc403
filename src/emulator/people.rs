//! The emulated pod's user directory: who exists, who may be assigned, and
//! the users lookup (`GET /v3/users`). No HTTP here.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::model::{UserId, UserList, UserRecord, UserRef, WrittenUser};

/// The role of a Super Compliance Officer.
pub const SUPER_COMPLIANCE_OFFICER: &str = "SUPER_COMPLIANCE_OFFICER";
/// The role of a Compliance Officer.
pub const COMPLIANCE_OFFICER: &str = "COMPLIANCE_OFFICER";

/// A user of the emulated pod, as a seed or a test gives it:
/// `SeedUser::new(1001, "alice")`, `SeedUser::officer(2001, "olga")`.
/// A missing email becomes `<username>@example.com`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedUser {
    pub id: UserId,
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
    /// Only users holding `SUPER_COMPLIANCE_OFFICER` or `COMPLIANCE_OFFICER` may be assigned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

impl SeedUser {
    /// A plain user: no roles, so a member but never an assignee.
    pub fn new(id: UserId, username: impl Into<String>) -> SeedUser {
        SeedUser {
            id,
            username: username.into(),
            first_name: None,
            last_name: None,
            email_address: None,
            roles: Vec::new(),
        }
    }

    /// A Compliance Officer: may be assigned.
    pub fn officer(id: UserId, username: impl Into<String>) -> SeedUser {
        SeedUser::new(id, username).roles([COMPLIANCE_OFFICER])
    }

    pub fn roles<S: Into<String>>(mut self, roles: impl IntoIterator<Item = S>) -> SeedUser {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    pub fn name(mut self, first: impl Into<String>, last: impl Into<String>) -> SeedUser {
        self.first_name = Some(first.into());
        self.last_name = Some(last.into());
        self
    }

    pub fn email(mut self, email: impl Into<String>) -> SeedUser {
        self.email_address = Some(email.into());
        self
    }

    /// True when the user may be assigned to a group.
    pub fn is_officer(&self) -> bool {
        self.roles
            .iter()
            .any(|role| role == SUPER_COMPLIANCE_OFFICER || role == COMPLIANCE_OFFICER)
    }

    /// The nested user of a listed membership (`expand=user`) or an assignment.
    pub(super) fn user_ref(&self) -> UserRef {
        UserRef {
            id: Some(self.id),
            username: Some(self.username.clone()),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            email_address: self.email_address.clone(),
        }
    }

    /// The nested user of a membership PUT's answer, which spells `userName`.
    pub(super) fn written_user(&self) -> WrittenUser {
        WrittenUser {
            id: Some(self.id),
            user_name: Some(self.username.clone()),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            email_address: self.email_address.clone(),
        }
    }

    fn record(&self) -> UserRecord {
        let full_name = [&self.first_name, &self.last_name]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        UserRecord {
            id: Some(self.id),
            username: Some(self.username.clone()),
            email_address: self.email_address.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            display_name: Some(if full_name.is_empty() {
                self.username.clone()
            } else {
                full_name
            }),
        }
    }
}

/// One users lookup: a single search list, as the query gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum UserSearch {
    Ids(Vec<UserId>),
    Emails(Vec<String>),
    Usernames(Vec<String>),
}

/// Every user, by id and by username.
#[derive(Debug, Default)]
pub(super) struct Directory {
    by_id: BTreeMap<UserId, SeedUser>,
    ids_by_username: HashMap<String, UserId>,
}

impl Directory {
    /// Adds `user`, or replaces the user with its id. A username that another
    /// id already holds, or an empty one, is refused.
    pub(super) fn add(&mut self, mut user: SeedUser) -> Result<(), String> {
        if user.username.is_empty() {
            return Err(format!("user {} has an empty username", user.id));
        }
        if let Some(&holder) = self.ids_by_username.get(&user.username)
            && holder != user.id
        {
            return Err(format!(
                "username {:?} belongs to user {holder} already, not {}",
                user.username, user.id
            ));
        }
        user.email_address
            .get_or_insert_with(|| format!("{}@example.com", user.username));
        if let Some(previous) = self.by_id.get(&user.id) {
            self.ids_by_username.remove(&previous.username);
        }
        self.ids_by_username.insert(user.username.clone(), user.id);
        self.by_id.insert(user.id, user);
        Ok(())
    }

    pub(super) fn get(&self, id: UserId) -> Option<&SeedUser> {
        self.by_id.get(&id)
    }

    pub(super) fn by_username(&self, username: &str) -> Option<&SeedUser> {
        self.get(*self.ids_by_username.get(username)?)
    }

    /// Every user, sorted by id.
    pub(super) fn all(&self) -> Vec<SeedUser> {
        self.by_id.values().cloned().collect()
    }

    /// The users lookup: the users found, in the order asked, each once; an
    /// entry the pod does not know is simply absent.
    pub(super) fn lookup(&self, search: &UserSearch) -> UserList {
        let found: Vec<&SeedUser> = match search {
            UserSearch::Ids(ids) => ids.iter().filter_map(|id| self.get(*id)).collect(),
            UserSearch::Usernames(names) => names
                .iter()
                .filter_map(|name| self.by_username(name))
                .collect(),
            UserSearch::Emails(emails) => emails
                .iter()
                .filter_map(|email| {
                    self.by_id
                        .values()
                        .find(|user| user.email_address.as_deref() == Some(email.as_str()))
                })
                .collect(),
        };
        let mut seen = std::collections::HashSet::new();
        UserList {
            users: found
                .into_iter()
                .filter(|user| seen.insert(user.id))
                .map(SeedUser::record)
                .collect(),
            errors: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory() -> Directory {
        let mut directory = Directory::default();
        directory
            .add(SeedUser::new(1, "alice").name("Alice", "Smith"))
            .unwrap();
        directory.add(SeedUser::officer(2, "olga")).unwrap();
        directory
    }

    fn usernames(list: &UserList) -> Vec<&str> {
        list.users
            .iter()
            .filter_map(|user| user.username.as_deref())
            .collect()
    }

    #[test]
    fn only_officers_may_be_assigned() {
        let directory = directory();
        assert!(!directory.by_username("alice").unwrap().is_officer());
        assert!(directory.by_username("olga").unwrap().is_officer());
        assert!(
            SeedUser::new(3, "s")
                .roles([SUPER_COMPLIANCE_OFFICER])
                .is_officer()
        );
    }

    #[test]
    fn a_username_belongs_to_one_id() {
        let mut directory = directory();
        assert!(directory.add(SeedUser::new(9, "alice")).is_err());
        assert!(directory.add(SeedUser::new(9, "")).is_err());
        directory.add(SeedUser::new(1, "alicia")).unwrap();
        assert!(directory.by_username("alice").is_none());
        assert_eq!(directory.by_username("alicia").map(|user| user.id), Some(1));
    }

    #[test]
    fn lookups_skip_the_unknown_and_keep_the_order_asked() {
        let directory = directory();
        let names = UserSearch::Usernames(vec!["olga".into(), "nobody".into(), "alice".into()]);
        assert_eq!(usernames(&directory.lookup(&names)), ["olga", "alice"]);
        let ids = UserSearch::Ids(vec![2, 2, 7]);
        assert_eq!(usernames(&directory.lookup(&ids)), ["olga"]);
        let emails = UserSearch::Emails(vec!["alice@example.com".into()]);
        let found = directory.lookup(&emails);
        assert_eq!(found.users[0].display_name.as_deref(), Some("Alice Smith"));
    }
}
