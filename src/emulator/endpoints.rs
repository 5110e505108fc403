//! The endpoints of a group's lists and the users lookup: query and body
//! parsing, statuses, answers. Routing and sessions are `server.rs`'s; what
//! the calls do to the pod is `lists.rs`'s.

use axum::extract::Query;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;

use crate::model::{ActiveUpdate, BulkMember, Roster, USERS_PER_LOOKUP, UserId};

use super::lists::{Expand, ListError};
use super::people::UserSearch;
use super::rosters::{Position, RosterFilter, RosterPageRequest, RosterSort, RosterStart};
use super::server::{Cursor, Failure, cursor, flag, json_response, page_limit, parse_body};
use super::{Shared, lock};

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

/// `GET /v3/users?username=a,b&local=true` (or `uid=`, or `email=`).
pub(super) fn lookup_users(shared: &Shared, uri: &Uri) -> Result<Response, Failure> {
    let query = parse_query::<UsersQuery>(uri)?;
    let search = user_search(query)?;
    let found = lock(&shared.store).lookup_users(&search);
    Ok(json_response(StatusCode::OK, &found))
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

/// The users lookup's query. Unknown parameters are ignored.
#[derive(Debug, Default, Deserialize)]
struct UsersQuery {
    uid: Option<String>,
    email: Option<String>,
    username: Option<String>,
    local: Option<String>,
    active: Option<String>,
}

fn parse_query<T: serde::de::DeserializeOwned>(uri: &Uri) -> Result<T, Failure> {
    let Query(query) =
        Query::<T>::try_from_uri(uri).map_err(|err| Failure::bad_request(err.body_text()))?;
    Ok(query)
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

/// Exactly one search list of at most [`USERS_PER_LOOKUP`] entries.
fn user_search(query: UsersQuery) -> Result<UserSearch, Failure> {
    flag("local", query.local.as_deref())?;
    flag("active", query.active.as_deref())?;
    let lists = [
        ("uid", query.uid),
        ("email", query.email),
        ("username", query.username),
    ];
    let mut given = lists
        .into_iter()
        .filter_map(|(name, list)| Some((name, list?)));
    let (Some((name, list)), None) = (given.next(), given.next()) else {
        return Err(Failure::bad_request(
            "give exactly one search list: uid, email or username",
        ));
    };
    let entries: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect();
    if entries.is_empty() {
        return Err(Failure::bad_request(format!("{name} lists nothing")));
    }
    if entries.len() > USERS_PER_LOOKUP {
        return Err(Failure::bad_request(format!(
            "at most {USERS_PER_LOOKUP} entries a call, not {}",
            entries.len()
        )));
    }
    Ok(match name {
        "uid" => UserSearch::Ids(
            entries
                .iter()
                .map(|entry| entry.parse::<UserId>())
                .collect::<Result<_, _>>()
                .map_err(|_| Failure::bad_request("uid lists integers"))?,
        ),
        "email" => UserSearch::Emails(entries),
        _ => UserSearch::Usernames(entries),
    })
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

    fn users_query(query: &str) -> Result<UserSearch, Failure> {
        let uri: Uri = format!("/pod/v3/users?{query}").parse().unwrap();
        user_search(parse_query(&uri)?)
    }

    fn list_query(query: &str) -> Result<RosterPageRequest, Failure> {
        let uri: Uri = format!("/pod/v2/admin/usergroups/g/memberships?{query}")
            .parse()
            .unwrap();
        roster_page_request(&parse_query(&uri)?, 5)
    }

    #[test]
    fn a_users_lookup_takes_one_list_of_at_most_100() {
        assert_eq!(
            users_query("username=a,b&local=true").unwrap(),
            UserSearch::Usernames(vec!["a".into(), "b".into()])
        );
        assert_eq!(users_query("uid=1,2").unwrap(), UserSearch::Ids(vec![1, 2]));
        let hundred_and_one = (0..=100)
            .map(|n| format!("u{n}"))
            .collect::<Vec<_>>()
            .join(",");
        for bad in [
            "",
            "local=true",
            "username=a&uid=1",
            "username=",
            "uid=x",
            "username=a&local=maybe",
            &format!("username={hundred_and_one}"),
        ] {
            let failure = users_query(bad).unwrap_err();
            assert_eq!(failure.status, StatusCode::BAD_REQUEST, "{bad}");
        }
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
