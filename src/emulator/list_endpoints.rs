//! The endpoints of a group's lists, memberships and assignments: query and
//! body parsing, statuses, answers. Routing and sessions are `server.rs`'s;
//! what the calls do to the pod is `lists.rs`'s.

use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;

use crate::model::{ActiveUpdate, BulkMember, Roster, UserId};

use super::answer::{Failure, json_response};
use super::lists::{Expand, ListError};
use super::parse::{Cursor, cursor, flag, page_limit, parse_body, parse_query};
use super::rosters::{Position, RosterFilter, RosterPageRequest, RosterSort, RosterStart};
use super::shared::{Shared, lock};

/// `GET .../{groupId}/memberships` or `.../assignments`.
pub(super) fn list_roster(
    shared: &Shared,
    uri: &Uri,
    group_id: &str,
    roster: Roster,
) -> Result<Response, Failure> {
    let query = parse_query::<ListQuery>(uri)?;
    let request = roster_page_request(&query, shared.page_size)?;
    let expand = expand(query.expand.as_deref())?;
    // Only assignments have roles to filter on; elsewhere the parameter is unknown, so ignored.
    let user_role = query
        .user_role
        .as_deref()
        .filter(|_| roster == Roster::Assignees);
    let page = lock(&shared.store)
        .list_page(group_id, roster, &request, user_role, expand)
        .map_err(failure)?;
    Ok(json_response(StatusCode::OK, &page))
}

/// `PUT .../memberships/{userId}` (200) or `.../assignments/{userId}` (201 when new, else 200).
pub(super) fn write_roster(
    shared: &Shared,
    group_id: &str,
    roster: Roster,
    user_id: UserId,
    body: &[u8],
) -> Result<Response, Failure> {
    let update: ActiveUpdate = parse_body(body)?;
    let active = update
        .active
        .ok_or_else(|| Failure::bad_request("active is required: {\"active\": true|false}"))?;
    let mut store = lock(&shared.store);
    match roster {
        Roster::Members => {
            let written = store
                .write_member(group_id, user_id, active)
                .map_err(failure)?;
            Ok(json_response(StatusCode::OK, &written))
        }
        Roster::Assignees => {
            let (assignment, created) = store
                .write_assignee(group_id, user_id, active)
                .map_err(failure)?;
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(json_response(status, &assignment))
        }
    }
}

/// The bulk `PUT .../memberships` with `[{"username": ...}]`: replaces the whole membership.
pub(super) fn replace_members(
    shared: &Shared,
    group_id: &str,
    body: &[u8],
) -> Result<Response, Failure> {
    let members: Vec<BulkMember> = parse_body(body)?;
    let usernames = members
        .into_iter()
        .map(|member| member.username.filter(|name| !name.is_empty()))
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| Failure::bad_request("every entry needs a username"))?;
    let answer = lock(&shared.store)
        .replace_members(group_id, &usernames)
        .map_err(failure)?;
    Ok(json_response(StatusCode::OK, &answer))
}

/// The query of both list endpoints. Unknown parameters are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    user_id: Option<String>,
    active: Option<String>,
    user_role: Option<String>,
    expand: Option<String>,
    limit: Option<String>,
    after: Option<String>,
    before: Option<String>,
    sort: Option<String>,
}

fn roster_page_request(query: &ListQuery, page_size: usize) -> Result<RosterPageRequest, Failure> {
    let sort = match query.sort.as_deref() {
        None | Some("") => RosterSort::default(),
        Some(text) => RosterSort::parse(text).ok_or_else(|| {
            Failure::bad_request(format!(
                "sort must be lastAddedDate or lastRemovedDate (- in front for descending), not {text:?}"
            ))
        })?,
    };
    let user_id = match query.user_id.as_deref() {
        None => None,
        Some(text) => Some(text.parse::<UserId>().map_err(|_| {
            Failure::bad_request(format!("userId must be an integer, not {text:?}"))
        })?),
    };
    let start = match cursor(
        query.after.clone(),
        query.before.clone(),
        Position::from_cursor,
    )? {
        Cursor::First => RosterStart::First,
        Cursor::After(position) => RosterStart::After(position),
        Cursor::Before(position) => RosterStart::Before(position),
    };
    Ok(RosterPageRequest {
        start,
        limit: page_limit(query.limit.as_deref(), page_size)?,
        sort,
        filter: RosterFilter {
            user_id,
            active: flag("active", query.active.as_deref())?,
        },
    })
}

/// `expand=user`, `expand=group`, `expand=user,group`.
fn expand(text: Option<&str>) -> Result<Expand, Failure> {
    let mut expand = Expand::default();
    for part in text.unwrap_or_default().split(',').map(str::trim) {
        match part {
            "" => {}
            "user" => expand.user = true,
            "group" => expand.group = true,
            other => {
                return Err(Failure::bad_request(format!(
                    "expand takes user and group, not {other:?}"
                )));
            }
        }
    }
    Ok(expand)
}

fn failure(error: ListError) -> Failure {
    let status = match error {
        ListError::GroupNotFound(_) | ListError::UserNotFound(_) => StatusCode::NOT_FOUND,
        ListError::NotAnOfficer(_) | ListError::UnknownUsernames(_) => StatusCode::BAD_REQUEST,
    };
    Failure::new(status, error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list_query(query: &str) -> Result<RosterPageRequest, Failure> {
        let uri: Uri = format!("/pod/v2/admin/usergroups/g/memberships?{query}")
            .parse()
            .unwrap();
        roster_page_request(&parse_query(&uri)?, 5)
    }

    #[test]
    fn list_queries_parse_and_refuse_garbage() {
        let request = list_query("userId=7&active=true&limit=50&sort=-lastAddedDate").unwrap();
        assert_eq!(request.limit, 5);
        assert_eq!(
            request.filter,
            RosterFilter {
                user_id: Some(7),
                active: Some(true)
            }
        );
        assert!(request.sort.descending);
        for bad in ["userId=x", "active=yes", "sort=name", "limit=0", "after=zz"] {
            assert!(list_query(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expand_names_user_and_group() {
        assert_eq!(
            expand(Some("user, group")).unwrap(),
            Expand {
                user: true,
                group: true
            }
        );
        assert_eq!(expand(None).unwrap(), Expand::default());
        assert!(expand(Some("users")).is_err());
    }
}
