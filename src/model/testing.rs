//! Test builders for the shared types, so that tests say only what matters
//! to them: `DesiredGroup::test("g1").with_area("EMEA")`,
//! `UserGroupResponse::test("g1").with_name("EMEA").with_active(true)`.

use std::collections::BTreeSet;
use std::path::Path;

use super::{DesiredGroup, GroupKey, ROLE_SCOPE, Roster, SourcePos, UserGroupResponse};
use crate::model::Text;

impl DesiredGroup {
    /// A group declared by id, with no field, at `groups.d/test.yaml:1:1`.
    pub fn test(id: &str) -> DesiredGroup {
        DesiredGroup {
            key: GroupKey::Id(id.into()),
            fields: Default::default(),
            rosters: Default::default(),
            on_drift: None,
            previously: Box::default(),
            source: SourcePos {
                path: Path::new("groups.d/test.yaml").into(),
                line: 1,
                column: 1,
            },
        }
    }

    /// A `ROLE_SCOPE` group declared without `id`, by `name`.
    pub fn test_named(name: &str) -> DesiredGroup {
        let mut group = DesiredGroup::test("");
        group.key = GroupKey::Name {
            group_type: ROLE_SCOPE.into(),
            name: name.into(),
        };
        group.with_name(name)
    }

    /// The `type` of a group declared without `id` (`ROLE_SCOPE` unless set).
    pub fn with_type(mut self, group_type: &str) -> Self {
        let GroupKey::Name {
            group_type: declared,
            ..
        } = &mut self.key
        else {
            panic!(
                "only a group declared without id has a type: {:?}",
                self.key
            );
        };
        *declared = group_type.into();
        self
    }

    pub fn with_name(mut self, name: &str) -> Self {
        self.fields.name = Some(name.into());
        self
    }

    pub fn with_area(mut self, area: &str) -> Self {
        self.fields.area = Some(area.into());
        self
    }

    pub fn with_description(mut self, description: &str) -> Self {
        self.fields.description = Some(description.into());
        self
    }

    pub fn with_active(mut self, active: bool) -> Self {
        self.fields.active = Some(active);
        self
    }

    /// Manages `roster` with exactly `users`.
    pub fn with_roster(mut self, roster: Roster, users: &[&str]) -> Self {
        let users: BTreeSet<String> = users.iter().map(|user| user.to_string()).collect();
        self.rosters.set(roster, users);
        self
    }

    /// Declared in `path` at `line`:`column`.
    pub fn at(mut self, path: &str, line: u32, column: u32) -> Self {
        self.source = SourcePos {
            path: Path::new(path).into(),
            line,
            column,
        };
        self
    }
}

impl UserGroupResponse {
    /// The pod's `ROLE_SCOPE` group `id`, every other field absent.
    pub fn test(id: &str) -> UserGroupResponse {
        UserGroupResponse {
            id: Some(id.into()),
            group_type: Some(ROLE_SCOPE.into()),
            ..UserGroupResponse::default()
        }
    }

    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn with_area(mut self, area: &str) -> Self {
        self.area = Some(area.into());
        self
    }

    pub fn with_description(mut self, description: &str) -> Self {
        self.description = Some(description.into());
        self
    }

    pub fn with_active(mut self, active: bool) -> Self {
        self.active = Some(active);
        self
    }

    pub fn with_type(mut self, group_type: Option<&str>) -> Self {
        self.group_type = group_type.map(Text::from);
        self
    }

    /// `memberCount` and `assigneeCount`.
    pub fn with_counts(mut self, members: i64, assignees: i64) -> Self {
        self.member_count = Some(members);
        self.assignee_count = Some(assignees);
        self
    }

    /// `createdDate` and `modifiedDate`, in epoch milliseconds.
    pub fn with_dates(mut self, created: i64, modified: i64) -> Self {
        self.created_date = Some(created);
        self.modified_date = Some(modified);
        self
    }
}
