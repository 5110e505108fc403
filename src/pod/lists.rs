//! A group's two user lists, members and assignees
//! (`/v2/admin/usergroups/{groupId}/memberships` and `/assignments`): read
//! the active list, and add or remove one user.

use super::client::PodClient;
use super::groups::checked_group_path;
use super::request::{Call, Verb};
use crate::error::PodError;
use crate::model::{ActiveUpdate, Membership, MembershipList, Roster, UserId};

/// The two dates a list's rows carry, and sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListDate {
    /// When the user was last added.
    Added,
    /// When the user was last removed (the row stays, inactive).
    Removed,
}

impl ListDate {
    /// The field's name in the pod's answers and its `sort` parameter.
    pub fn field(self) -> &'static str {
        match self {
            ListDate::Added => "lastAddedDate",
            ListDate::Removed => "lastRemovedDate",
        }
    }

    /// This date of `row`.
    pub fn of(self, row: &Membership) -> Option<i64> {
        match self {
            ListDate::Added => row.last_added_date,
            ListDate::Removed => row.last_removed_date,
        }
    }
}

/// Path templates, as [`super::transport::RequestOutcome::path`] reports them (bounded metric labels).
pub const MEMBERSHIPS_PATH_TEMPLATE: &str = "/v2/admin/usergroups/{groupId}/memberships";
pub const MEMBERSHIP_PATH_TEMPLATE: &str = "/v2/admin/usergroups/{groupId}/memberships/{userId}";
pub const ASSIGNMENTS_PATH_TEMPLATE: &str = "/v2/admin/usergroups/{groupId}/assignments";
pub const ASSIGNMENT_PATH_TEMPLATE: &str = "/v2/admin/usergroups/{groupId}/assignments/{userId}";

impl PodClient {
    /// `GET /v2/admin/usergroups/{groupId}/memberships?active=true&expand=user`
    /// (or `/assignments`), every page: the group's active members (or assignees).
    pub async fn roster(
        &self,
        group_id: &str,
        roster: Roster,
    ) -> Result<Vec<Membership>, PodError> {
        let path = format!("{}/{}", checked_group_path(group_id)?, roster.segment());
        let template = match roster {
            Roster::Members => MEMBERSHIPS_PATH_TEMPLATE,
            Roster::Assignees => ASSIGNMENTS_PATH_TEMPLATE,
        };
        let mut first_page = Call::new(Verb::Get, path, template);
        first_page.query.push(("active", "true".to_string()));
        first_page.query.push(("expand", "user".to_string()));
        self.walk_pages(first_page).await
    }

    /// `GET .../memberships?sort=-{date}&limit=1` (or `/assignments`): the
    /// one row, active or not, with the newest `date` (`lastAddedDate` or
    /// `lastRemovedDate`); `None` for a list that never had anyone. One
    /// request, whatever the list's length.
    pub async fn roster_newest(
        &self,
        group_id: &str,
        roster: Roster,
        date: ListDate,
    ) -> Result<Option<Membership>, PodError> {
        let path = format!("{}/{}", checked_group_path(group_id)?, roster.segment());
        let template = match roster {
            Roster::Members => MEMBERSHIPS_PATH_TEMPLATE,
            Roster::Assignees => ASSIGNMENTS_PATH_TEMPLATE,
        };
        let mut call = Call::new(Verb::Get, path, template);
        call.query.push(("sort", format!("-{}", date.field())));
        call.query.push(("limit", "1".to_string()));
        let page: MembershipList = self.call_json(&call).await?;
        Ok(page.data.into_iter().next())
    }

    /// `PUT /v2/admin/usergroups/{groupId}/memberships/{userId}` (or
    /// `/assignments/{userId}`) with `{"active": active}`: adds or removes
    /// one user. The answer's shape differs between the two (a membership's
    /// user spells `userName`) and nothing in it is needed beyond its status.
    pub async fn set_roster_user(
        &self,
        group_id: &str,
        roster: Roster,
        user_id: UserId,
        active: bool,
    ) -> Result<u16, PodError> {
        let path = format!(
            "{}/{}/{user_id}",
            checked_group_path(group_id)?,
            roster.segment()
        );
        let template = match roster {
            Roster::Members => MEMBERSHIP_PATH_TEMPLATE,
            Roster::Assignees => ASSIGNMENT_PATH_TEMPLATE,
        };
        let body = ActiveUpdate {
            active: Some(active),
        };
        let call = Call::new(Verb::Put, path, template).with_json(&body);
        // The body's shape differs between the two lists, and nothing of it
        // is used: only the status is kept, and a 2xx is taken whatever follows.
        Ok(self.call_with_retries(&call).await?.status.as_u16())
    }
}
