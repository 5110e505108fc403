//! The emulated pod's groups: what PUT, POST and an admin change do to them,
//! and how the list endpoint pages over them. The store also holds the users
//! and the groups' lists (`lists.rs` serves those), so that a group's
//! `memberCount` and `assigneeCount` are always its active records. No HTTP here.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::{
    Cursors, GroupRef, Pagination, ROLE_SCOPE, Roster, UserGroupCreate, UserGroupResponse,
    UserGroupResponseList, UserGroupUpdate,
};

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

/// Where a list page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PageStart {
    First,
    /// Strictly after this group id (the `after` cursor).
    After(String),
    /// Strictly before this group id (the `before` cursor).
    Before(String),
}

/// The filters of a list call; a group must match every one given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct GroupFilter {
    pub group_type: String,
    pub name: Option<String>,
    pub area: Option<String>,
    pub active: Option<bool>,
}

impl GroupFilter {
    fn matches(&self, group: &UserGroupResponse) -> bool {
        group.group_type.as_deref() == Some(self.group_type.as_str())
            && self
                .name
                .as_ref()
                .is_none_or(|name| group.name.as_ref() == Some(name))
            && self
                .area
                .as_ref()
                .is_none_or(|area| group.area.as_ref() == Some(area))
            && self
                .active
                .is_none_or(|active| group.active == Some(active))
    }
}

/// One call of the list endpoint, its query already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PageRequest {
    pub start: PageStart,
    /// Raw records per page, before filtering.
    pub limit: usize,
    pub filter: GroupFilter,
}

/// The groups, sorted by id, the users, the groups' lists, and the clock
/// that dates their changes.
#[derive(Debug)]
pub(super) struct Store {
    groups: BTreeMap<String, UserGroupResponse>,
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
            id: group.id.clone(),
            name: group.name.clone(),
            area: group.area.clone(),
            group_type: group.group_type.clone(),
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
            self.groups.insert(id.to_owned(), next.clone());
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
            id: Some(id.clone()),
            name: Some(request.name.clone()),
            area: request.area.clone(),
            description: request.description.clone(),
            group_type: Some(ROLE_SCOPE.to_owned()),
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

    /// One page of the list endpoint: `limit` raw records in id order, THEN
    /// filtered, as real pods do, so a page may be empty and still carry `next`.
    pub(super) fn page(&self, request: &PageRequest) -> UserGroupResponseList {
        if request.filter.group_type != ROLE_SCOPE {
            return UserGroupResponseList {
                data: Vec::new(),
                pagination: Some(Pagination::default()),
            };
        }
        let raw = self.raw_page(&request.start, request.limit.max(1));
        let before = raw
            .records
            .first()
            .map(|group| encode_cursor(id_of(group)))
            .unwrap_or_default();
        let after = encode_cursor(
            raw.records
                .last()
                .map_or(raw.position, |group| id_of(group)),
        );
        let pagination = Pagination {
            previous: (raw.more_before && !raw.records.is_empty()).then(|| before.clone()),
            next: raw.more_after.then(|| after.clone()),
            cursors: Cursors {
                before,
                after: Some(after),
            },
        };
        let data = raw
            .records
            .into_iter()
            .filter(|group| request.filter.matches(group))
            .cloned()
            .collect();
        UserGroupResponseList {
            data,
            pagination: Some(pagination),
        }
    }

    fn raw_page<'a>(&'a self, start: &'a PageStart, limit: usize) -> RawPage<'a> {
        match start {
            PageStart::First => self.forward_page(Bound::Unbounded, "", limit),
            PageStart::After(id) => self.forward_page(Bound::Excluded(id), id, limit),
            PageStart::Before(id) => self.backward_page(id, limit),
        }
    }

    fn forward_page<'a>(
        &'a self,
        from: Bound<&'a String>,
        position: &'a str,
        limit: usize,
    ) -> RawPage<'a> {
        let mut rest = self
            .groups
            .range::<String, _>((from, Bound::Unbounded))
            .map(|(_, group)| group);
        let records: Vec<_> = rest.by_ref().take(limit).collect();
        let more_before = match from {
            Bound::Excluded(id) => self.groups.range::<String, _>(..=id).next().is_some(),
            _ => false,
        };
        RawPage {
            more_after: rest.next().is_some(),
            more_before,
            records,
            position,
        }
    }

    fn backward_page<'a>(&'a self, until: &'a String, limit: usize) -> RawPage<'a> {
        let mut earlier = self
            .groups
            .range::<String, _>(..until)
            .rev()
            .map(|(_, group)| group);
        let mut records: Vec<_> = earlier.by_ref().take(limit).collect();
        records.reverse();
        RawPage {
            more_before: earlier.next().is_some(),
            more_after: self.groups.range::<String, _>(until..).next().is_some(),
            records,
            // An empty page lies before every group: its `after` cursor starts from the first one.
            position: "",
        }
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
    fn fresh_id(&self) -> String {
        loop {
            let id = random_hex(24);
            if !self.groups.contains_key(&id) {
                return id;
            }
        }
    }
}

/// Records of one page before filtering, and whether records lie on either side.
struct RawPage<'a> {
    records: Vec<&'a UserGroupResponse>,
    more_before: bool,
    more_after: bool,
    /// The id the page starts after, for the `after` cursor of an empty page.
    position: &'a str,
}

/// Fills the type a pod always reports (from `previous`, else ROLE_SCOPE);
/// the counts are the caller's: [`Store::recount`].
fn fill_defaults(group: &mut UserGroupResponse, previous: Option<&UserGroupResponse>) {
    group.group_type = group
        .group_type
        .take()
        .or_else(|| previous.and_then(|old| old.group_type.clone()));
    group
        .group_type
        .get_or_insert_with(|| ROLE_SCOPE.to_owned());
}

fn id_of(group: &UserGroupResponse) -> &str {
    group.id.as_deref().unwrap_or_default()
}

/// An opaque cursor: `c` and the hex of the group id it points at.
pub(super) fn encode_cursor(id: &str) -> String {
    let mut cursor = String::with_capacity(1 + 2 * id.len());
    cursor.push('c');
    for byte in id.bytes() {
        cursor.push_str(&format!("{byte:02x}"));
    }
    cursor
}

/// The group id a cursor points at, or `None` if no cursor of ours looks like this.
pub(super) fn decode_cursor(cursor: &str) -> Option<String> {
    let hex = cursor.strip_prefix('c')?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|index| {
            hex.get(index..index + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: &str) -> UserGroupResponse {
        UserGroupResponse {
            id: Some(id.into()),
            name: Some(format!("Group {id}")),
            active: Some(true),
            ..Default::default()
        }
    }

    fn store_of(ids: &[&str]) -> Store {
        Store::new(ids.iter().map(|id| group(id)).collect()).unwrap()
    }

    fn first_page(limit: usize) -> PageRequest {
        PageRequest {
            start: PageStart::First,
            limit,
            filter: GroupFilter {
                group_type: ROLE_SCOPE.into(),
                ..Default::default()
            },
        }
    }

    fn ids(list: &UserGroupResponseList) -> Vec<&str> {
        list.data.iter().map(id_of).collect()
    }

    #[test]
    fn seeded_counts_give_way_to_the_lists() {
        let seeded = Store::new(vec![UserGroupResponse {
            member_count: Some(3),
            assignee_count: Some(1),
            ..group("a")
        }])
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
        let dated = UserGroupResponse {
            created_date: Some(5),
            modified_date: Some(7),
            ..group("a")
        };
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
            name: Some(String::new()),
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
                    name: String::new(),
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
        let replaced = store.replace(UserGroupResponse {
            name: Some("Admin's".into()),
            member_count: Some(40),
            ..group("a")
        });
        assert_eq!(replaced.member_count, Some(1), "the count follows the list");
        assert_eq!(replaced.created_date, before.created_date);
        assert!(replaced.modified_date > before.modified_date);
        assert_eq!(
            store.replace(group("b")).group_type.as_deref(),
            Some(ROLE_SCOPE)
        );
    }

    #[test]
    fn pages_follow_id_order_and_stop_without_next() {
        let store = store_of(&["c", "a", "b"]);
        let page = store.page(&first_page(2));
        assert_eq!(ids(&page), ["a", "b"]);
        let pagination = page.pagination.unwrap();
        assert!(pagination.next.is_some() && pagination.previous.is_none());
        let after = decode_cursor(pagination.cursors.after.as_deref().unwrap()).unwrap();
        let last = store.page(&PageRequest {
            start: PageStart::After(after),
            ..first_page(2)
        });
        assert_eq!(ids(&last), ["c"]);
        let pagination = last.pagination.unwrap();
        assert!(pagination.next.is_none() && pagination.previous.is_some());
        let before = decode_cursor(&pagination.cursors.before).unwrap();
        let back = store.page(&PageRequest {
            start: PageStart::Before(before),
            ..first_page(2)
        });
        assert_eq!(ids(&back), ["a", "b"]);
    }

    #[test]
    fn filters_apply_after_paging_so_an_empty_page_can_carry_next() {
        let mut store = store_of(&["a", "b", "c"]);
        store.replace(UserGroupResponse {
            active: Some(false),
            ..group("a")
        });
        let inactive_only = |start| PageRequest {
            start,
            limit: 1,
            filter: GroupFilter {
                group_type: ROLE_SCOPE.into(),
                active: Some(false),
                ..Default::default()
            },
        };
        assert_eq!(ids(&store.page(&inactive_only(PageStart::First))), ["a"]);
        let second = store.page(&inactive_only(PageStart::After("a".into())));
        assert!(second.data.is_empty());
        assert!(second.pagination.unwrap().next.is_some());
    }

    #[test]
    fn an_unknown_type_lists_nothing() {
        let store = store_of(&["a"]);
        let request = PageRequest {
            filter: GroupFilter {
                group_type: "OTHER".into(),
                ..Default::default()
            },
            ..first_page(5)
        };
        let page = store.page(&request);
        assert!(page.data.is_empty());
        assert!(page.pagination.unwrap().next.is_none());
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        for id in ["", "abc", "ünïcode/with spaces"] {
            assert_eq!(decode_cursor(&encode_cursor(id)).as_deref(), Some(id));
        }
        for bad in ["", "abc", "c1", "czz", "cff"] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
