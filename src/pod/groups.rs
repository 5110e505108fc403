//! The group endpoints of `docs/pod-api.md` (`/v2/admin/usergroups`): get,
//! list (all, filtered, by name), update, create, and a create that never
//! makes two.

use backon::BackoffBuilder;
use tracing::warn;

use super::client::{Answered, PodClient};
use super::request::{Call, Verb};
use super::retry::shown_wait;
use crate::error::PodError;
use crate::model::{
    ROLE_SCOPE, USERGROUPS_PATH, UserGroupCreate, UserGroupResponse, UserGroupUpdate, group_path,
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
#[derive(Debug)]
pub enum Created {
    /// The pod answered the POST with the new group.
    New(Answered<UserGroupResponse>),
    /// The POST's answer was lost, and the name's lookup found the group it
    /// made: the one group of exactly the name and type sent.
    FoundAfterFailure(UserGroupResponse),
    /// The pod took the POST (a 2xx) but its answer is not a group: it made
    /// a group all the same, so the write is journaled; never sent again.
    Unreadable { status: u16, error: PodError },
}

impl Created {
    /// The group, however it was learnt; `None` when the answer was no group.
    pub fn group(&self) -> Option<&UserGroupResponse> {
        match self {
            Created::New(Answered { body: group, .. }) | Created::FoundAfterFailure(group) => {
                Some(group)
            }
            Created::Unreadable { .. } => None,
        }
    }

    /// The POST's HTTP status; 0 when its answer was lost and the group was
    /// found by its name afterwards.
    pub fn status(&self) -> u16 {
        match self {
            Created::New(Answered { status, .. }) | Created::Unreadable { status, .. } => *status,
            Created::FoundAfterFailure(_) => 0,
        }
    }
}

impl PodClient {
    /// `PUT /v2/admin/usergroups/{groupId}`: changes the fields `body` carries.
    /// `Ok` once the pod took it (a 2xx), with its answer decoded, or why not.
    pub async fn update(
        &self,
        group_id: &str,
        body: &UserGroupUpdate,
    ) -> Result<Answered<Result<UserGroupResponse, PodError>>, PodError> {
        let call = Call::new(
            Verb::Put,
            checked_group_path(group_id)?,
            GROUP_PATH_TEMPLATE,
        )
        .with_json(body);
        self.call_taken(&call).await
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
    /// `Ok` once the pod took it (a 2xx), with its answer decoded, or why not.
    pub async fn create(
        &self,
        body: &UserGroupCreate,
    ) -> Result<Answered<Result<UserGroupResponse, PodError>>, PodError> {
        let call =
            Call::new(Verb::Post, USERGROUPS_PATH.to_string(), USERGROUPS_PATH).with_json(body);
        self.call_taken(&call).await
    }

    /// Creates a group without ever making two: POST is not idempotent and
    /// there is no DELETE. After a failure that leaves it unclear whether the
    /// pod acted (a timeout, a dropped connection, a 5xx), the name is looked
    /// up first; the one group named exactly as sent, byte for byte and of
    /// the type sent ([`is_exactly_named`]), is the one the POST made. A
    /// pod's name filter may ignore case or match a prefix: what else it
    /// returns is never taken for the group. Only when no exact match is
    /// found is the POST sent again, within the retry policy's attempts;
    /// when they are spent, the error names what the lookup found instead.
    pub async fn create_once(&self, body: &UserGroupCreate) -> Result<Created, PodError> {
        let policy = self.policy();
        let mut waits = policy.backoff().build();
        loop {
            let error = match self.create(body).await {
                Ok(Answered {
                    status,
                    body: Ok(group),
                }) => {
                    return Ok(Created::New(Answered {
                        status,
                        body: group,
                    }));
                }
                Ok(Answered {
                    status,
                    body: Err(error),
                }) => return Ok(Created::Unreadable { status, error }),
                Err(error) if error.may_have_been_processed() && !self.stopping() => error,
                Err(error) => return Err(error),
            };
            warn!(
                "{error}; the pod may have created {:?} all the same: looking it up by name before anything else",
                body.name
            );
            let found = match self.list_named(&body.group_type, &body.name).await {
                Ok(found) => found,
                Err(lookup) => {
                    warn!("cannot look {:?} up: {lookup}", body.name);
                    return Err(error);
                }
            };
            let (mut exact, others): (Vec<_>, Vec<_>) = found
                .into_iter()
                .partition(|group| is_exactly_named(group, &body.group_type, &body.name));
            match exact.len() {
                0 => {}
                1 => return Ok(Created::FoundAfterFailure(exact.remove(0))),
                _ => {
                    return Err(PodError::CreateUnclear {
                        name: body.name.to_string(),
                        ids: exact
                            .into_iter()
                            .filter_map(|group| group.id.map(String::from))
                            .collect(),
                        cause: Box::new(error),
                    });
                }
            }
            let others: Vec<String> = others.iter().map(shown_group).collect();
            let Some(backoff) = waits.next() else {
                if others.is_empty() {
                    return Err(error);
                }
                return Err(PodError::CreateFoundOthers {
                    name: body.name.to_string(),
                    others,
                    cause: Box::new(error),
                });
            };
            let wait = policy.wait(backoff, error.retry_after());
            let besides = if others.is_empty() {
                String::new()
            } else {
                format!(" (only {}, not taken for it)", others.join(", "))
            };
            warn!(
                "the pod has no group named exactly {:?}{besides}: creating it again in {}",
                body.name,
                shown_wait(wait)
            );
            self.pause(wait).await;
        }
    }
}

/// True when `group` is named `name` byte for byte and is of `group_type`
/// (a group whose type the pod left out counts as `ROLE_SCOPE`, the only
/// type there is): the one test of "the same group name" everywhere.
pub fn is_exactly_named(group: &UserGroupResponse, group_type: &str, name: &str) -> bool {
    group.name.as_deref() == Some(name)
        && group.group_type.as_deref().unwrap_or(ROLE_SCOPE) == group_type
}

/// A group as a message names it: `"name" (type T, id I)`.
fn shown_group(group: &UserGroupResponse) -> String {
    format!(
        "{:?} (type {}, id {})",
        group.name.as_deref().unwrap_or_default(),
        group.group_type.as_deref().unwrap_or(ROLE_SCOPE),
        group.id.as_deref().unwrap_or("none")
    )
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

    #[test]
    fn a_name_is_the_same_only_byte_for_byte_and_of_the_same_type() {
        let group = |name: &str, group_type: Option<&str>| UserGroupResponse {
            id: Some("g1".into()),
            name: Some(name.into()),
            group_type: group_type.map(Into::into),
            ..UserGroupResponse::default()
        };
        assert!(is_exactly_named(
            &group("New rates", None),
            ROLE_SCOPE,
            "New rates"
        ));
        assert!(is_exactly_named(
            &group("New rates", Some(ROLE_SCOPE)),
            ROLE_SCOPE,
            "New rates"
        ));
        for near in ["new rates", "New rates 2", "New rates ", "New"] {
            assert!(
                !is_exactly_named(&group(near, None), ROLE_SCOPE, "New rates"),
                "{near}"
            );
        }
        assert!(!is_exactly_named(
            &group("New rates", Some("OTHER")),
            ROLE_SCOPE,
            "New rates"
        ));
        assert_eq!(
            shown_group(&group("new rates", None)),
            "\"new rates\" (type ROLE_SCOPE, id g1)"
        );
    }
}
