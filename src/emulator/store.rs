//! The emulated pod's groups: what PUT, POST and an admin change do to them
//! (`group_pages.rs` pages over them). The store also holds the users and the
//! groups' lists (`lists.rs` serves those), so that a group's `memberCount`
//! and `assigneeCount` are always its active records. No HTTP here.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::Text;
use crate::model::{
    GroupRef, ROLE_SCOPE, Roster, UserGroupCreate, UserGroupResponse, UserGroupResponseList,
    UserGroupUpdate,
};

use super::group_pages::{self, PageRequest};
use super::people::Directory;
use super::random::random_hex;
use super::rosters::RosterBook;

/// Why a PUT was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum UpdateError {
    /// No group has this id (404).
    NotFound,
    /// The pod refuses the new values (422), e.g. an empty name.
    Refused,
}

/// Why a POST was refused (400), as the message to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CreateError(pub String);

/// The groups, sorted by id, the users, the groups' lists, and the clock
/// that dates their changes.
#[derive(Debug)]
pub(super) struct Store {
    groups: BTreeMap<Text, UserGroupResponse>,
    pub(super) directory: Directory,
    pub(super) book: RosterBook,
    /// The last date handed out, so that dates strictly increase.
    last_stamp: i64,
}

impl Store {
    /// A store holding `seed`, with missing ids, dates, counts and types filled in.
    pub(super) fn new(seed: Vec<UserGroupResponse>) -> Result<Store, String> {
        let mut store = Store {
            groups: BTreeMap::new(),
            directory: Directory::default(),
            book: RosterBook::default(),
            last_stamp: seed
                .iter()
                .flat_map(|group| [group.created_date, group.modified_date])
                .flatten()
                .max()
                .unwrap_or(0),
        };
        for mut group in seed {
            let id = match group.id.clone() {
                Some(id) => id,
                None => store.fresh_id(),
            };
            if store.groups.contains_key(&id) {
                return Err(format!("the seed holds group id {id:?} twice"));
            }
            group.id = Some(id.clone());
            let now = store.stamp();
            let created = group.created_date.or(group.modified_date).unwrap_or(now);
            group.created_date = Some(created);
            group.modified_date = Some(group.modified_date.unwrap_or(created));
            fill_defaults(&mut group, None);
            store.groups.insert(id.clone(), group);
            store.recount(&id);
        }
        Ok(store)
    }

    pub(super) fn contains(&self, id: &str) -> bool {
        self.groups.contains_key(id)
    }

    /// The group as a membership nests it (`expand=group`).
    pub(super) fn group_ref(&self, id: &str) -> Option<GroupRef> {
        let group = self.groups.get(id)?;
        Some(GroupRef {
            id: group.id.as_deref().map(str::to_owned),
            name: group.name.as_deref().map(str::to_owned),
            area: group.area.as_deref().map(str::to_owned),
            group_type: group.group_type.as_deref().map(str::to_owned),
            active: group.active,
        })
    }

    /// Sets the group's `memberCount` and `assigneeCount` to its active records.
    pub(super) fn recount(&mut self, id: &str) {
        let members = self.book.active_count(id, Roster::Members);
        let assignees = self.book.active_count(id, Roster::Assignees);
        if let Some(group) = self.groups.get_mut(id) {
            group.member_count = Some(members);
            group.assignee_count = Some(assignees);
        }
    }

    pub(super) fn get(&self, id: &str) -> Option<UserGroupResponse> {
        self.groups.get(id).cloned()
    }

    /// Every group, sorted by id.
    pub(super) fn all(&self) -> Vec<UserGroupResponse> {
        self.groups.values().cloned().collect()
    }

    /// PUT: applies the fields `update` sends; `modifiedDate` moves only if a value really changed.
    pub(super) fn update(
        &mut self,
        id: &str,
        update: &UserGroupUpdate,
    ) -> Result<UserGroupResponse, UpdateError> {
        let current = self.groups.get(id).ok_or(UpdateError::NotFound)?;
        if update.name.as_deref() == Some("") {
            return Err(UpdateError::Refused);
        }
        let mut next = current.with_update(update);
        if next != *current {
            next.modified_date = Some(self.stamp());
            self.groups.insert(id.into(), next.clone());
        }
        Ok(next)
    }

    /// POST: a new active group with a fresh 24-hex-digit id, no members, dated now.
    pub(super) fn create(
        &mut self,
        request: &UserGroupCreate,
    ) -> Result<UserGroupResponse, CreateError> {
        if request.name.is_empty() {
            return Err(CreateError("name is required and must not be empty".into()));
        }
        if request.group_type != ROLE_SCOPE {
            return Err(CreateError(format!(
                "unknown group type {:?}; the only type is {ROLE_SCOPE}",
                request.group_type
            )));
        }
        let id = self.fresh_id();
        let now = self.stamp();
        let group = UserGroupResponse {
            id: Some(id.as_str().into()),
            name: Some(request.name.clone()),
            area: request.area.clone(),
            description: request.description.clone(),
            group_type: Some(ROLE_SCOPE.into()),
            active: Some(true),
            created_date: Some(now),
            modified_date: Some(now),
            member_count: Some(0),
            assignee_count: Some(0),
        };
        self.groups.insert(id, group.clone());
        Ok(group)
    }

    /// An admin's change behind groupsync's back: replaces (or creates) the
    /// group and always moves its `modifiedDate`. Fields the new value leaves
    /// out that a pod always reports (type, created date) are kept; the
    /// counts always follow the group's lists.
    pub(super) fn replace(&mut self, mut group: UserGroupResponse) -> UserGroupResponse {
        let id = group.id.clone().unwrap_or_else(|| self.fresh_id());
        let now = self.stamp();
        let previous = self.groups.get(&id);
        group.id = Some(id.clone());
        group.created_date = group
            .created_date
            .or(previous.and_then(|old| old.created_date))
            .or(Some(now));
        group.modified_date = Some(now);
        fill_defaults(&mut group, previous);
        self.groups.insert(id.clone(), group);
        self.recount(&id);
        self.groups[&id].clone()
    }

    /// One page of the list endpoint: [`group_pages::page`] over the groups.
    pub(super) fn page(&self, request: &PageRequest) -> UserGroupResponseList {
        group_pages::page(&self.groups, request)
    }

    /// A date for a change: now in epoch milliseconds, but always later than the last one handed out.
    pub(super) fn stamp(&mut self) -> i64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as i64);
        self.last_stamp = now.max(self.last_stamp + 1);
        self.last_stamp
    }

    /// A 24-lowercase-hex-digit id like the pod's, unused so far.
    fn fresh_id(&self) -> Text {
        loop {
            let id = random_hex(24);
            if !self.groups.contains_key(id.as_str()) {
                return id.into();
            }
        }
    }
}

/// Fills the type a pod always reports (from `previous`, else ROLE_SCOPE);
/// the counts are the caller's: [`Store::recount`].
fn fill_defaults(group: &mut UserGroupResponse, previous: Option<&UserGroupResponse>) {
    group.group_type = group
        .group_type
        .take()
        .or_else(|| previous.and_then(|old| old.group_type.clone()));
    group.group_type.get_or_insert_with(|| ROLE_SCOPE.into());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An active group as a seed or an admin gives it: no type, no dates,
    /// no counts, for the store to fill in.
    fn group(id: &str) -> UserGroupResponse {
        UserGroupResponse::test(id)
            .with_type(None)
            .with_name(&format!("Group {id}"))
            .with_active(true)
    }

    fn store_of(ids: &[&str]) -> Store {
        Store::new(ids.iter().map(|id| group(id)).collect()).unwrap()
    }

    #[test]
    fn seeded_counts_give_way_to_the_lists() {
        let seeded = Store::new(vec![group("a").with_counts(3, 1)])
            .unwrap()
            .get("a")
            .unwrap();
        assert_eq!(
            (seeded.member_count, seeded.assignee_count),
            (Some(0), Some(0))
        );
    }

    #[test]
    fn seed_gets_dates_counts_and_type() {
        let store = store_of(&["a"]);
        let seeded = store.get("a").unwrap();
        assert_eq!(seeded.group_type.as_deref(), Some(ROLE_SCOPE));
        assert_eq!(
            (seeded.member_count, seeded.assignee_count),
            (Some(0), Some(0))
        );
        assert!(seeded.created_date.is_some());
        assert_eq!(seeded.created_date, seeded.modified_date);
    }

    #[test]
    fn seed_keeps_given_dates_and_rejects_duplicate_ids() {
        let dated = group("a").with_dates(5, 7);
        let store = Store::new(vec![dated]).unwrap();
        assert_eq!(
            store.get("a").map(|g| (g.created_date, g.modified_date)),
            Some((Some(5), Some(7)))
        );
        assert!(Store::new(vec![group("a"), group("a")]).is_err());
    }

    #[test]
    fn update_moves_modified_date_only_on_a_real_change() {
        let mut store = store_of(&["a"]);
        let before = store.get("a").unwrap();
        let same = store
            .update(
                "a",
                &UserGroupUpdate {
                    active: Some(true),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(same, before);
        let renamed = store
            .update(
                "a",
                &UserGroupUpdate {
                    name: Some("New".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(renamed.modified_date > before.modified_date);
        assert_eq!(renamed.created_date, before.created_date);
        assert_eq!(store.get("a"), Some(renamed));
    }

    #[test]
    fn update_refuses_unknown_ids_and_empty_names() {
        let mut store = store_of(&["a"]);
        let empty_name = UserGroupUpdate {
            name: Some(Text::default()),
            ..Default::default()
        };
        assert_eq!(
            store.update("zz", &UserGroupUpdate::default()),
            Err(UpdateError::NotFound)
        );
        assert_eq!(store.update("a", &empty_name), Err(UpdateError::Refused));
    }

    #[test]
    fn stamps_strictly_increase() {
        let mut store = store_of(&[]);
        let stamps: Vec<i64> = (0..100).map(|_| store.stamp()).collect();
        assert!(stamps.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn create_makes_an_active_empty_group() {
        let mut store = store_of(&[]);
        let request = UserGroupCreate {
            name: "New".into(),
            group_type: ROLE_SCOPE.into(),
            area: Some("EMEA".into()),
            description: None,
        };
        let created = store.create(&request).unwrap();
        let id = created.id.clone().unwrap();
        assert_eq!(id.len(), 24);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(
            (created.active, created.member_count),
            (Some(true), Some(0))
        );
        assert_eq!(store.get(&id), Some(created));
        assert!(
            store
                .create(&UserGroupCreate {
                    name: Text::default(),
                    ..request.clone()
                })
                .is_err()
        );
        assert!(
            store
                .create(&UserGroupCreate {
                    group_type: "OTHER".into(),
                    ..request
                })
                .is_err()
        );
    }

    #[test]
    fn replace_keeps_what_the_pod_always_reports_and_moves_the_date() {
        let mut store = store_of(&["a"]);
        store.book.set_active("a", Roster::Members, 7, true, 1);
        store.recount("a");
        let before = store.get("a").unwrap();
        let replaced = store.replace(group("a").with_name("Admin's").with_counts(40, 40));
        assert_eq!(
            (replaced.member_count, replaced.assignee_count),
            (Some(1), Some(0)),
            "the counts follow the lists"
        );
        assert_eq!(replaced.created_date, before.created_date);
        assert!(replaced.modified_date > before.modified_date);
        assert_eq!(
            store.replace(group("b")).group_type.as_deref(),
            Some(ROLE_SCOPE)
        );
    }
}
