//! The groups' endpoints: list, get, update (PUT) and create (POST). Query
//! and body parsing, statuses, answers; what the calls do to the pod is
//! `store.rs`'s, how the list pages is `group_pages.rs`'s.

use axum::http::{StatusCode, Uri};
use axum::response::Response;

use super::answer::{Failure, json_response};
use super::cursor::decode_cursor;
use super::group_pages::{GroupFilter, PageRequest, PageStart};
use super::parse::{Cursor, cursor, flag, page_limit, parse_body, parse_query};
use super::shared::{Shared, lock};
use super::store::{CreateError, UpdateError};

/// `GET /v2/admin/usergroups?type=ROLE_SCOPE[&name&area&active&limit&after&before]`.
pub(super) fn list_groups(shared: &Shared, uri: &Uri) -> Result<Response, Failure> {
    let request = page_request(uri, shared.page_size)?;
    Ok(json_response(
        StatusCode::OK,
        &lock(&shared.store).page(&request),
    ))
}

/// `GET /v2/admin/usergroups/{groupId}`.
pub(super) fn get_group(shared: &Shared, id: &str) -> Result<Response, Failure> {
    let group = lock(&shared.store)
        .get(id)
        .ok_or_else(|| group_not_found(id))?;
    Ok(json_response(StatusCode::OK, &group))
}

/// `PUT /v2/admin/usergroups/{groupId}`: 404 for an unknown group, 422 for an empty name.
pub(super) fn update_group(shared: &Shared, id: &str, body: &[u8]) -> Result<Response, Failure> {
    let update = parse_body(body)?;
    match lock(&shared.store).update(id, &update) {
        Ok(group) => Ok(json_response(StatusCode::OK, &group)),
        Err(UpdateError::NotFound) => Err(group_not_found(id)),
        Err(UpdateError::Refused) => Err(Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Error on updating user group.",
        )),
    }
}

/// `POST /v2/admin/usergroups`: 201 with the new group.
pub(super) fn create_group(shared: &Shared, body: &[u8]) -> Result<Response, Failure> {
    let request = parse_body(body)?;
    match lock(&shared.store).create(&request) {
        Ok(group) => Ok(json_response(StatusCode::CREATED, &group)),
        Err(CreateError(message)) => Err(Failure::bad_request(message)),
    }
}

/// The list endpoint's query. Unknown parameters (`sort` among them) are ignored.
#[derive(Debug, Default, serde::Deserialize)]
struct ListQuery {
    #[serde(rename = "type")]
    group_type: Option<String>,
    name: Option<String>,
    area: Option<String>,
    active: Option<String>,
    limit: Option<String>,
    after: Option<String>,
    before: Option<String>,
}

fn page_request(uri: &Uri, page_size: usize) -> Result<PageRequest, Failure> {
    let query: ListQuery = parse_query(uri)?;
    let group_type = query
        .group_type
        .ok_or_else(|| Failure::bad_request("the type query parameter is required"))?;
    let active = flag("active", query.active.as_deref())?;
    let start = match cursor(query.after, query.before, decode_cursor)? {
        Cursor::First => PageStart::First,
        Cursor::After(id) => PageStart::After(id),
        Cursor::Before(id) => PageStart::Before(id),
    };
    Ok(PageRequest {
        start,
        limit: page_limit(query.limit.as_deref(), page_size)?,
        filter: GroupFilter {
            group_type,
            name: query.name,
            area: query.area,
            active,
        },
    })
}

fn group_not_found(id: &str) -> Failure {
    Failure::not_found(format!("Group {id} not found."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(query: &str) -> Uri {
        format!("/pod/v2/admin/usergroups?{query}").parse().unwrap()
    }

    #[test]
    fn parses_list_queries() {
        let request = page_request(
            &uri("type=ROLE_SCOPE&name=N&area=A&active=false&limit=7&sort=name"),
            5,
        )
        .unwrap();
        assert_eq!(request.limit, 5);
        assert_eq!(request.start, PageStart::First);
        let filter = GroupFilter {
            group_type: "ROLE_SCOPE".into(),
            name: Some("N".into()),
            area: Some("A".into()),
            active: Some(false),
        };
        assert_eq!(request.filter, filter);
        assert_eq!(
            page_request(&uri("type=ROLE_SCOPE&after=c61"), 5)
                .unwrap()
                .start,
            PageStart::After("a".into())
        );
    }

    #[test]
    fn refuses_bad_list_queries() {
        for query in [
            "",
            "name=x",
            "type=ROLE_SCOPE&active=yes",
            "type=ROLE_SCOPE&limit=0",
            "type=ROLE_SCOPE&limit=x",
        ] {
            assert!(page_request(&uri(query), 5).is_err(), "{query}");
        }
        for query in [
            "type=ROLE_SCOPE&after=zz",
            "type=ROLE_SCOPE&before=c6",
            "type=ROLE_SCOPE&after=c61&before=c62",
        ] {
            assert!(page_request(&uri(query), 5).is_err(), "{query}");
        }
    }
}
