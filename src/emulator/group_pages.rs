//! How the group list pages: `limit` raw records in id order, THEN filtered,
//! as real pods do, so a page may be empty and still carry `next`. No HTTP here.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::model::Text;
use crate::model::{Cursors, Pagination, ROLE_SCOPE, UserGroupResponse, UserGroupResponseList};

use super::cursor::encode_cursor;

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
                .is_none_or(|name| group.name.as_deref() == Some(name.as_str()))
            && self
                .area
                .as_ref()
                .is_none_or(|area| group.area.as_deref() == Some(area.as_str()))
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

/// One page of the list endpoint over `groups` (by id): `limit` raw records
/// in id order, THEN filtered, as real pods do, so a page may be empty and
/// still carry `next`.
pub(super) fn page(
    groups: &BTreeMap<Text, UserGroupResponse>,
    request: &PageRequest,
) -> UserGroupResponseList {
    if request.filter.group_type != ROLE_SCOPE {
        return UserGroupResponseList {
            data: Vec::new(),
            pagination: Some(Pagination::default()),
        };
    }
    let raw = raw_page(groups, &request.start, request.limit.max(1));
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

/// Records of one page before filtering, and whether records lie on either side.
struct RawPage<'a> {
    records: Vec<&'a UserGroupResponse>,
    more_before: bool,
    more_after: bool,
    /// The id the page starts after, for the `after` cursor of an empty page.
    position: &'a str,
}

fn raw_page<'a>(
    groups: &'a BTreeMap<Text, UserGroupResponse>,
    start: &'a PageStart,
    limit: usize,
) -> RawPage<'a> {
    match start {
        PageStart::First => forward_page(groups, Bound::Unbounded, "", limit),
        PageStart::After(id) => forward_page(groups, Bound::Excluded(id), id, limit),
        PageStart::Before(id) => backward_page(groups, id, limit),
    }
}

fn forward_page<'a>(
    groups: &'a BTreeMap<Text, UserGroupResponse>,
    from: Bound<&'a str>,
    position: &'a str,
    limit: usize,
) -> RawPage<'a> {
    let mut rest = groups
        .range::<str, _>((from, Bound::Unbounded))
        .map(|(_, group)| group);
    let records: Vec<_> = rest.by_ref().take(limit).collect();
    let more_before = match from {
        Bound::Excluded(id) => groups
            .range::<str, _>((Bound::Unbounded, Bound::Included(id)))
            .next()
            .is_some(),
        _ => false,
    };
    RawPage {
        more_after: rest.next().is_some(),
        more_before,
        records,
        position,
    }
}

fn backward_page<'a>(
    groups: &'a BTreeMap<Text, UserGroupResponse>,
    until: &'a str,
    limit: usize,
) -> RawPage<'a> {
    let mut earlier = groups
        .range::<str, _>((Bound::Unbounded, Bound::Excluded(until)))
        .rev()
        .map(|(_, group)| group);
    let mut records: Vec<_> = earlier.by_ref().take(limit).collect();
    records.reverse();
    RawPage {
        more_before: earlier.next().is_some(),
        more_after: groups
            .range::<str, _>((Bound::Included(until), Bound::Unbounded))
            .next()
            .is_some(),
        records,
        // An empty page lies before every group: its `after` cursor starts from the first one.
        position: "",
    }
}

fn id_of(group: &UserGroupResponse) -> &str {
    group.id.as_deref().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::cursor::decode_cursor;

    /// Active `ROLE_SCOPE` groups with these ids.
    fn groups_of(ids: &[&str]) -> BTreeMap<Text, UserGroupResponse> {
        let group = |id: &str| UserGroupResponse::test(id).with_active(true);
        ids.iter().map(|id| (Text::from(*id), group(id))).collect()
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
    fn pages_follow_id_order_and_stop_without_next() {
        let groups = groups_of(&["c", "a", "b"]);
        let first = page(&groups, &first_page(2));
        assert_eq!(ids(&first), ["a", "b"]);
        let pagination = first.pagination.unwrap();
        assert!(pagination.next.is_some() && pagination.previous.is_none());
        let after = decode_cursor(pagination.cursors.after.as_deref().unwrap()).unwrap();
        let last = page(
            &groups,
            &PageRequest {
                start: PageStart::After(after),
                ..first_page(2)
            },
        );
        assert_eq!(ids(&last), ["c"]);
        let pagination = last.pagination.unwrap();
        assert!(pagination.next.is_none() && pagination.previous.is_some());
        let before = decode_cursor(&pagination.cursors.before).unwrap();
        let back = page(
            &groups,
            &PageRequest {
                start: PageStart::Before(before),
                ..first_page(2)
            },
        );
        assert_eq!(ids(&back), ["a", "b"]);
    }

    #[test]
    fn filters_apply_after_paging_so_an_empty_page_can_carry_next() {
        let mut groups = groups_of(&["a", "b", "c"]);
        groups.insert("a".into(), UserGroupResponse::test("a").with_active(false));
        let inactive_only = |start| PageRequest {
            start,
            limit: 1,
            filter: GroupFilter {
                group_type: ROLE_SCOPE.into(),
                active: Some(false),
                ..Default::default()
            },
        };
        assert_eq!(ids(&page(&groups, &inactive_only(PageStart::First))), ["a"]);
        let second = page(&groups, &inactive_only(PageStart::After("a".into())));
        assert!(second.data.is_empty());
        assert!(second.pagination.unwrap().next.is_some());
    }

    #[test]
    fn an_unknown_type_lists_nothing() {
        let groups = groups_of(&["a"]);
        let request = PageRequest {
            filter: GroupFilter {
                group_type: "OTHER".into(),
                ..Default::default()
            },
            ..first_page(5)
        };
        let listed = page(&groups, &request);
        assert!(listed.data.is_empty());
        assert!(listed.pagination.unwrap().next.is_none());
    }
}
