//! The group endpoints of `docs/pod-api.md` (`/v2/admin/usergroups`): get,
//! list (all, filtered, by name), update, create, and a create that never
//! makes two.

use backon::BackoffBuilder;
use tracing::warn;

use super::client::PodClient;
use super::request::{Call, Verb};
use super::retry::shown_wait;
use crate::error::PodError;
use crate::model::{
    USERGROUPS_PATH, UserGroupCreate, UserGroupResponse, UserGroupUpdate, group_path,
};

/// One group's path template, as [`super::transport::RequestOutcome::path`] reports it (a bounded metric label).
pub const GROUP_PATH_TEMPLATE: &str = "/v2/admin/usergroups/{groupId}";

/// The list's optional filters; a group must match every one given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub name: Option<String>,
    pub area: Option<String>,
    pub active: Option<bool>,
}

/// What [`PodClient::create_once`] ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// The pod answered the POST with the new group.
    New(UserGroupResponse),
    /// The POST's answer was lost, and the name's lookup found the group it made.
    FoundAfterFailure(UserGroupResponse),
}

impl Created {
    /// The group, however it was learnt.
    pub fn group(&self) -> &UserGroupResponse {
        match self {
            Created::New(group) | Created::FoundAfterFailure(group) => group,
        }
    }
}

impl PodClient {
    /// `PUT /v2/admin/usergroups/{groupId}`: changes the fields `body` carries.
    pub async fn update(
        &self,
        group_id: &str,
        body: &UserGroupUpdate,
    ) -> Result<UserGroupResponse, PodError> {
        let call = Call::new(
            Verb::Put,
            checked_group_path(group_id)?,
            GROUP_PATH_TEMPLATE,
        )
        .with_json(body);
        self.call_json(&call).await
    }

    /// `GET /v2/admin/usergroups/{groupId}`.
    pub async fn get(&self, group_id: &str) -> Result<UserGroupResponse, PodError> {
        let call = Call::new(
            Verb::Get,
            checked_group_path(group_id)?,
            GROUP_PATH_TEMPLATE,
        );
        self.call_json(&call).await
    }

    /// `GET /v2/admin/usergroups?type=...`, every page: follows
    /// `pagination.cursors.after` while `pagination.next` is present.
    pub async fn list(&self, group_type: &str) -> Result<Vec<UserGroupResponse>, PodError> {
        self.list_matching(group_type, &ListFilter::default()).await
    }

    /// The groups of `group_type` named exactly `name` (the list's `name`
    /// filter; every page, since the pod filters each page after taking it).
    pub async fn list_named(
        &self,
        group_type: &str,
        name: &str,
    ) -> Result<Vec<UserGroupResponse>, PodError> {
        let filter = ListFilter {
            name: Some(name.to_string()),
            ..ListFilter::default()
        };
        self.list_matching(group_type, &filter).await
    }

    /// The list with `filter`'s query parameters, every page.
    pub async fn list_matching(
        &self,
        group_type: &str,
        filter: &ListFilter,
    ) -> Result<Vec<UserGroupResponse>, PodError> {
        self.walk_pages(list_call(group_type, filter)).await
    }

    /// `POST /v2/admin/usergroups`: creates a group.
    pub async fn create(&self, body: &UserGroupCreate) -> Result<UserGroupResponse, PodError> {
        let call =
            Call::new(Verb::Post, USERGROUPS_PATH.to_string(), USERGROUPS_PATH).with_json(body);
        self.call_json(&call).await
    }

    /// Creates a group without ever making two: POST is not idempotent and
    /// there is no DELETE. After a failure that leaves it unclear whether the
    /// pod acted (a timeout, a dropped connection, a 5xx), the name is looked
    /// up first; a group found is the one the POST made. Only when none is
    /// found is the POST sent again, within the retry policy's attempts.
    pub async fn create_once(&self, body: &UserGroupCreate) -> Result<Created, PodError> {
        let policy = self.policy();
        let mut waits = policy.backoff().build();
        loop {
            let error = match self.create(body).await {
                Ok(group) => return Ok(Created::New(group)),
                Err(error) if error.may_have_been_processed() && !self.stopping() => error,
                Err(error) => return Err(error),
            };
            warn!(
                "{error}; the pod may have created {:?} all the same: looking it up by name before anything else",
                body.name
            );
            let mut found = match self.list_named(&body.group_type, &body.name).await {
                Ok(found) => found,
                Err(lookup) => {
                    warn!("cannot look {:?} up: {lookup}", body.name);
                    return Err(error);
                }
            };
            match found.len() {
                0 => {}
                1 => return Ok(Created::FoundAfterFailure(found.remove(0))),
                _ => {
                    return Err(PodError::CreateUnclear {
                        name: body.name.clone(),
                        ids: found.into_iter().filter_map(|group| group.id).collect(),
                        cause: Box::new(error),
                    });
                }
            }
            let Some(backoff) = waits.next() else {
                return Err(error);
            };
            let wait = policy.wait(backoff, error.retry_after());
            warn!(
                "the pod has no group named {:?}: creating it again in {}",
                body.name,
                shown_wait(wait)
            );
            self.pause(wait).await;
        }
    }
}

/// The request for the group list's first page, without `limit`.
fn list_call(group_type: &str, filter: &ListFilter) -> Call {
    let mut call = Call::new(Verb::Get, USERGROUPS_PATH.to_string(), USERGROUPS_PATH);
    call.query.push(("type", group_type.to_string()));
    if let Some(name) = &filter.name {
        call.query.push(("name", name.clone()));
    }
    if let Some(area) = &filter.area {
        call.query.push(("area", area.clone()));
    }
    if let Some(active) = filter.active {
        call.query.push(("active", active.to_string()));
    }
    call
}

/// The path of one group; refuses ids that a URL parser would resolve away
/// (`.`, `..`) or that would name the collection (empty).
pub(super) fn checked_group_path(group_id: &str) -> Result<String, PodError> {
    if matches!(group_id, "" | "." | "..") {
        return Err(PodError::BadGroupId {
            id: group_id.to_string(),
        });
    }
    Ok(group_path(group_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_a_url_would_resolve_away_are_refused() {
        for id in ["", ".", ".."] {
            assert!(
                matches!(checked_group_path(id), Err(PodError::BadGroupId { .. })),
                "{id:?}"
            );
        }
        assert_eq!(
            checked_group_path("a b/c").unwrap(),
            "/v2/admin/usergroups/a%20b%2Fc"
        );
    }
}
