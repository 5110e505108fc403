//! The emulated pod's memberships and assignments: one record per group,
//! list and user, kept after a removal (inactive), dated on every change,
//! and paged like the group list. No HTTP, no users' details here.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use crate::model::{Cursors, Pagination, Roster, UserId};

use super::cursor::{decode_cursor, encode_cursor};
use super::random::random_hex;

/// One membership or assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub id: String,
    pub user_id: UserId,
    pub active: bool,
    pub last_added_date: Option<i64>,
    pub last_removed_date: Option<i64>,
}

/// What a per-user write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Written {
    pub entry: Entry,
    /// True when the group had no record for this user before.
    pub created: bool,
}

/// The field a list is sorted by; the user id breaks ties.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum SortKey {
    #[default]
    UserId,
    LastAddedDate,
    LastRemovedDate,
}

/// The `sort` query parameter: a field, `-` in front for descending.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct RosterSort {
    pub key: SortKey,
    pub descending: bool,
}

impl RosterSort {
    /// `lastAddedDate`, `-lastRemovedDate`, ...; `None` for anything else.
    pub(super) fn parse(text: &str) -> Option<RosterSort> {
        let (descending, field) = match text.strip_prefix('-') {
            Some(field) => (true, field),
            None => (false, text),
        };
        let key = match field {
            "lastAddedDate" => SortKey::LastAddedDate,
            "lastRemovedDate" => SortKey::LastRemovedDate,
            _ => return None,
        };
        Some(RosterSort { key, descending })
    }

    fn position(&self, entry: &Entry) -> Position {
        let primary = match self.key {
            SortKey::UserId => entry.user_id,
            SortKey::LastAddedDate => entry.last_added_date.unwrap_or(0),
            SortKey::LastRemovedDate => entry.last_removed_date.unwrap_or(0),
        };
        Position(primary, entry.user_id)
    }

    /// How `a` compares to `b` in this sort's order.
    fn order(&self, a: Position, b: Position) -> Ordering {
        if self.descending {
            b.cmp(&a)
        } else {
            a.cmp(&b)
        }
    }
}

/// Where a record sits in a sorted list: its sort value, then its user id.
/// A cursor points at one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Position(i64, UserId);

impl Position {
    fn cursor(self) -> String {
        encode_cursor(&format!("{}:{}", self.0, self.1))
    }

    /// The position a cursor of ours points at.
    pub(super) fn from_cursor(cursor: &str) -> Option<Position> {
        let text = decode_cursor(cursor)?;
        let (primary, user) = text.split_once(':')?;
        Some(Position(primary.parse().ok()?, user.parse().ok()?))
    }
}

/// Where a list page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RosterStart {
    First,
    After(Position),
    Before(Position),
}

/// The filters of a list call, applied after paging as for groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct RosterFilter {
    pub user_id: Option<UserId>,
    pub active: Option<bool>,
}

impl RosterFilter {
    fn matches(&self, entry: &Entry) -> bool {
        self.user_id.is_none_or(|id| entry.user_id == id)
            && self.active.is_none_or(|active| entry.active == active)
    }
}

/// One call of a list endpoint, its query already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RosterPageRequest {
    pub start: RosterStart,
    pub limit: usize,
    pub sort: RosterSort,
    pub filter: RosterFilter,
}

/// One page: the records that passed the filter, and the paging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RosterPage {
    pub entries: Vec<Entry>,
    pub pagination: Pagination,
}

/// Both lists of every group that has had one, by group id.
#[derive(Debug, Default)]
pub(super) struct RosterBook {
    groups: HashMap<String, [BTreeMap<UserId, Entry>; 2]>,
}

fn index(roster: Roster) -> usize {
    match roster {
        Roster::Members => 0,
        Roster::Assignees => 1,
    }
}

impl RosterBook {
    fn list(&self, group_id: &str, roster: Roster) -> Option<&BTreeMap<UserId, Entry>> {
        Some(&self.groups.get(group_id)?[index(roster)])
    }

    /// Activates or deactivates `user_id` in the list. A change of state is
    /// dated `now` (`lastAddedDate` on activation, `lastRemovedDate` on
    /// removal); writing the state a record already has changes nothing. A
    /// removal of a user never listed records an inactive, undated entry.
    pub(super) fn set_active(
        &mut self,
        group_id: &str,
        roster: Roster,
        user_id: UserId,
        active: bool,
        now: i64,
    ) -> Written {
        let list = &mut self.groups.entry(group_id.to_owned()).or_default()[index(roster)];
        let created = !list.contains_key(&user_id);
        let entry = list.entry(user_id).or_insert_with(|| Entry {
            id: random_hex(24),
            user_id,
            active: false,
            last_added_date: None,
            last_removed_date: None,
        });
        match (entry.active, active) {
            (false, true) => entry.last_added_date = Some(now),
            (true, false) => entry.last_removed_date = Some(now),
            _ => {}
        }
        entry.active = active;
        Written {
            entry: entry.clone(),
            created,
        }
    }

    /// The user ids active in the list, ascending.
    pub(super) fn active_users(&self, group_id: &str, roster: Roster) -> Vec<UserId> {
        self.list(group_id, roster)
            .into_iter()
            .flat_map(BTreeMap::values)
            .filter(|entry| entry.active)
            .map(|entry| entry.user_id)
            .collect()
    }

    /// Every record of the list, active or not, by user id.
    pub(super) fn entries(&self, group_id: &str, roster: Roster) -> Vec<Entry> {
        self.list(group_id, roster)
            .into_iter()
            .flat_map(BTreeMap::values)
            .cloned()
            .collect()
    }

    pub(super) fn active_count(&self, group_id: &str, roster: Roster) -> i64 {
        self.list(group_id, roster).map_or(0, |list| {
            list.values().filter(|entry| entry.active).count() as i64
        })
    }

    /// One page: `limit` records in sort order, THEN filtered, as the group
    /// list does, so a page may be empty and still carry `next`.
    pub(super) fn page(
        &self,
        group_id: &str,
        roster: Roster,
        request: &RosterPageRequest,
    ) -> RosterPage {
        let sort = request.sort;
        let mut sorted: Vec<(Position, &Entry)> = self
            .list(group_id, roster)
            .into_iter()
            .flat_map(BTreeMap::values)
            .map(|entry| (sort.position(entry), entry))
            .collect();
        sorted.sort_by(|a, b| sort.order(a.0, b.0));
        let limit = request.limit.max(1);
        let (start, end) = match request.start {
            RosterStart::First => (0, limit.min(sorted.len())),
            RosterStart::After(cursor) => {
                let start =
                    sorted.partition_point(|(at, _)| sort.order(*at, cursor) != Ordering::Greater);
                (start, (start + limit).min(sorted.len()))
            }
            RosterStart::Before(cursor) => {
                let end =
                    sorted.partition_point(|(at, _)| sort.order(*at, cursor) == Ordering::Less);
                (end.saturating_sub(limit), end)
            }
        };
        let records = &sorted[start..end];
        let before = records
            .first()
            .map(|(at, _)| at.cursor())
            .unwrap_or_default();
        let after = match (records.last(), request.start) {
            (Some((at, _)), _) => Some(at.cursor()),
            // An empty page after a cursor goes on from that cursor.
            (None, RosterStart::After(cursor)) => Some(cursor.cursor()),
            (None, _) => None,
        };
        let pagination = Pagination {
            previous: (start > 0 && !records.is_empty()).then(|| before.clone()),
            next: if end < sorted.len() {
                after.clone()
            } else {
                None
            },
            cursors: Cursors { before, after },
        };
        let entries = records
            .iter()
            .map(|(_, entry)| *entry)
            .filter(|entry| request.filter.matches(entry))
            .cloned()
            .collect();
        RosterPage {
            entries,
            pagination,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMBERS: Roster = Roster::Members;

    fn book_with(users: impl IntoIterator<Item = UserId>) -> RosterBook {
        let mut book = RosterBook::default();
        for (at, user) in users.into_iter().enumerate() {
            book.set_active("g", MEMBERS, user, true, 100 + at as i64);
        }
        book
    }

    fn first(limit: usize) -> RosterPageRequest {
        RosterPageRequest {
            start: RosterStart::First,
            limit,
            sort: RosterSort::default(),
            filter: RosterFilter::default(),
        }
    }

    fn users(page: &RosterPage) -> Vec<UserId> {
        page.entries.iter().map(|entry| entry.user_id).collect()
    }

    fn after(page: &RosterPage) -> RosterStart {
        let cursor = page.pagination.cursors.after.as_deref().unwrap();
        RosterStart::After(Position::from_cursor(cursor).unwrap())
    }

    #[test]
    fn writes_date_only_real_changes_and_keep_removed_records() {
        let mut book = RosterBook::default();
        let added = book.set_active("g", MEMBERS, 7, true, 10);
        assert!(added.created);
        assert_eq!(
            (added.entry.last_added_date, added.entry.last_removed_date),
            (Some(10), None)
        );
        let again = book.set_active("g", MEMBERS, 7, true, 11);
        assert!(!again.created);
        assert_eq!(again.entry, added.entry);
        let removed = book.set_active("g", MEMBERS, 7, false, 12);
        assert_eq!(
            (removed.entry.active, removed.entry.last_removed_date),
            (false, Some(12))
        );
        assert_eq!(book.active_count("g", MEMBERS), 0);
        assert_eq!(book.entries("g", MEMBERS).len(), 1);
        let back = book.set_active("g", MEMBERS, 7, true, 13);
        assert_eq!(
            (back.entry.last_added_date, back.entry.last_removed_date),
            (Some(13), Some(12))
        );
        assert_eq!(back.entry.id, added.entry.id);
        assert_eq!(
            book.active_users("g", Roster::Assignees),
            Vec::<UserId>::new()
        );
    }

    #[test]
    fn pages_run_in_user_order_until_next_is_absent() {
        let book = book_with([3, 1, 2, 5, 4]);
        let page = book.page("g", MEMBERS, &first(2));
        assert_eq!(users(&page), [1, 2]);
        assert!(page.pagination.next.is_some() && page.pagination.previous.is_none());
        let second = book.page(
            "g",
            MEMBERS,
            &RosterPageRequest {
                start: after(&page),
                ..first(2)
            },
        );
        assert_eq!(users(&second), [3, 4]);
        let last = book.page(
            "g",
            MEMBERS,
            &RosterPageRequest {
                start: after(&second),
                ..first(2)
            },
        );
        assert_eq!(users(&last), [5]);
        assert!(last.pagination.next.is_none() && last.pagination.previous.is_some());
        let cursor = Position::from_cursor(&last.pagination.cursors.before).unwrap();
        let back = book.page(
            "g",
            MEMBERS,
            &RosterPageRequest {
                start: RosterStart::Before(cursor),
                ..first(2)
            },
        );
        assert_eq!(users(&back), [3, 4]);
    }

    #[test]
    fn sorts_by_date_either_way() {
        // Added in the order 3, 1, 2: dates 100, 101, 102.
        let book = book_with([3, 1, 2]);
        let sorted = |text| RosterPageRequest {
            sort: RosterSort::parse(text).unwrap(),
            ..first(10)
        };
        assert_eq!(
            users(&book.page("g", MEMBERS, &sorted("lastAddedDate"))),
            [3, 1, 2]
        );
        let newest_first = book.page("g", MEMBERS, &sorted("-lastAddedDate"));
        assert_eq!(users(&newest_first), [2, 1, 3]);
        let paged = RosterPageRequest {
            limit: 1,
            ..sorted("-lastAddedDate")
        };
        let page = book.page("g", MEMBERS, &paged);
        let next = book.page(
            "g",
            MEMBERS,
            &RosterPageRequest {
                start: after(&page),
                ..paged
            },
        );
        assert_eq!(users(&next), [1]);
        assert_eq!(RosterSort::parse("name"), None);
    }

    #[test]
    fn filters_apply_after_paging() {
        let mut book = book_with([1, 2, 3]);
        book.set_active("g", MEMBERS, 1, false, 200);
        let active_only = RosterPageRequest {
            filter: RosterFilter {
                active: Some(true),
                ..Default::default()
            },
            ..first(1)
        };
        let page = book.page("g", MEMBERS, &active_only);
        assert!(page.entries.is_empty());
        assert!(page.pagination.next.is_some());
        let next = book.page(
            "g",
            MEMBERS,
            &RosterPageRequest {
                start: after(&page),
                ..active_only
            },
        );
        assert_eq!(users(&next), [2]);
    }

    #[test]
    fn an_empty_list_is_one_empty_page() {
        let page = RosterBook::default().page("g", MEMBERS, &first(5));
        assert!(page.entries.is_empty());
        assert_eq!(page.pagination.next, None);
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let position = Position(-5, 42);
        assert_eq!(Position::from_cursor(&position.cursor()), Some(position));
        for bad in ["", "zz", &encode_cursor("42"), &encode_cursor("a:1")] {
            assert_eq!(Position::from_cursor(bad), None, "{bad}");
        }
    }
}
