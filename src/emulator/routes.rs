//! Which operation a pod call asks for, from its method and path, and what
//! a session needs to be allowed it. Wrong paths are 404, wrong methods 405.

use percent_encoding::percent_decode_str;

use crate::model::agent::ROOM_SEARCH_PATH;
use crate::model::{Roster, USERGROUPS_PATH, USERS_PATH, UserId};

use super::answer::Failure;

/// Where the login service answers RSA bot authentication.
pub const LOGIN_PATH: &str = "/login/pubkey/authenticate";
/// Where the pod's endpoints live.
pub const POD_PREFIX: &str = "/pod";

/// What a pod call asks to do, once its method and path are understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Operation {
    List,
    Create,
    Get(String),
    Update(String),
    /// `GET .../{groupId}/memberships` or `.../assignments`.
    ListRoster(String, Roster),
    /// `PUT .../{groupId}/memberships/{userId}` or `.../assignments/{userId}`.
    WriteRoster(String, Roster, UserId),
    /// The bulk `PUT .../{groupId}/memberships`.
    ReplaceMembers(String),
    /// `GET /v3/users`.
    LookupUsers,
    /// `POST /v3/room/search`.
    SearchRooms,
}

/// What a session needs for an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// Any valid session (the users lookup).
    Session,
    /// VIEW_ROLE_SCOPES.
    View,
    /// MANAGE_ROLE_SCOPES.
    Manage,
}

impl Operation {
    /// The operation `method` and the pod-relative `path` name (groupId percent-decoded).
    pub(super) fn parse(method: &str, path: &str) -> Result<Operation, Failure> {
        let no_such_endpoint =
            || Failure::not_found(format!("no such endpoint: {POD_PREFIX}{path}"));
        if path == ROOM_SEARCH_PATH {
            return match method {
                "POST" => Ok(Operation::SearchRooms),
                _ => Err(Failure::method_not_allowed("POST")),
            };
        }
        if path == USERS_PATH {
            return match method {
                "GET" => Ok(Operation::LookupUsers),
                _ => Err(Failure::method_not_allowed("GET")),
            };
        }
        if path == USERGROUPS_PATH {
            return match method {
                "GET" => Ok(Operation::List),
                "POST" => Ok(Operation::Create),
                _ => Err(Failure::method_not_allowed("GET, POST")),
            };
        }
        let rest = path
            .strip_prefix(USERGROUPS_PATH)
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or_else(no_such_endpoint)?;
        let segments: Vec<&str> = rest.split('/').collect();
        match segments[..] {
            [group] if !group.is_empty() => Operation::on_group(method, group_id(group)?),
            [group, list] if !group.is_empty() => {
                let roster = roster_named(list).ok_or_else(no_such_endpoint)?;
                Operation::on_list(method, group_id(group)?, roster)
            }
            [group, list, user] if !group.is_empty() && !user.is_empty() => {
                let roster = roster_named(list).ok_or_else(no_such_endpoint)?;
                if method != "PUT" {
                    return Err(Failure::method_not_allowed("PUT"));
                }
                let user_id = user.parse::<UserId>().map_err(|_| {
                    Failure::bad_request(format!("userId must be an integer, not {user:?}"))
                })?;
                Ok(Operation::WriteRoster(group_id(group)?, roster, user_id))
            }
            _ => Err(no_such_endpoint()),
        }
    }

    fn on_group(method: &str, id: String) -> Result<Operation, Failure> {
        match method {
            "GET" => Ok(Operation::Get(id)),
            "PUT" => Ok(Operation::Update(id)),
            _ => Err(Failure::method_not_allowed("GET, PUT")),
        }
    }

    /// Only the membership list has a (bulk) PUT.
    fn on_list(method: &str, id: String, roster: Roster) -> Result<Operation, Failure> {
        match (method, roster) {
            ("GET", _) => Ok(Operation::ListRoster(id, roster)),
            ("PUT", Roster::Members) => Ok(Operation::ReplaceMembers(id)),
            (_, Roster::Members) => Err(Failure::method_not_allowed("GET, PUT")),
            (_, Roster::Assignees) => Err(Failure::method_not_allowed("GET")),
        }
    }

    /// Reading needs VIEW_ROLE_SCOPES, writing MANAGE_ROLE_SCOPES; looking
    /// users up, any session.
    pub(super) fn access(&self) -> Access {
        match self {
            Operation::LookupUsers | Operation::SearchRooms => Access::Session,
            Operation::List | Operation::Get(_) | Operation::ListRoster(..) => Access::View,
            Operation::Create
            | Operation::Update(_)
            | Operation::WriteRoster(..)
            | Operation::ReplaceMembers(_) => Access::Manage,
        }
    }
}

/// The path under `/pod`, if `path` is a pod call.
pub(super) fn pod_relative(path: &str) -> Option<&str> {
    path.strip_prefix(POD_PREFIX)
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// A percent-encoded groupId segment, decoded.
fn group_id(segment: &str) -> Result<String, Failure> {
    Ok(percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| Failure::bad_request("groupId is not valid UTF-8 once percent-decoded"))?
        .into_owned())
}

/// The list a path segment names: `memberships` or `assignments`.
fn roster_named(segment: &str) -> Option<Roster> {
    Roster::ALL
        .into_iter()
        .find(|roster| roster.segment() == segment)
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn routes_methods_and_paths() {
        assert_eq!(
            Operation::parse("GET", USERGROUPS_PATH).unwrap(),
            Operation::List
        );
        assert_eq!(
            Operation::parse("POST", USERGROUPS_PATH).unwrap(),
            Operation::Create
        );
        assert_eq!(
            Operation::parse("PUT", "/v2/admin/usergroups/a%2Fb%20c").unwrap(),
            Operation::Update("a/b c".into())
        );
        assert_eq!(
            Operation::parse("GET", "/v2/admin/usergroups/abc").unwrap(),
            Operation::Get("abc".into())
        );
        let status = |method, path| Operation::parse(method, path).unwrap_err().status;
        assert_eq!(
            status("DELETE", "/v2/admin/usergroups/abc"),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            status("PUT", USERGROUPS_PATH),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            status("GET", "/v2/admin/usergroups/a/b"),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status("GET", "/v2/admin/usergroups/"),
            StatusCode::NOT_FOUND
        );
        assert_eq!(status("GET", "/v1/other"), StatusCode::NOT_FOUND);
    }

    #[test]
    fn routes_the_lists_and_the_users_lookup() {
        let parse = |method, path| Operation::parse(method, path).unwrap();
        assert_eq!(
            parse("GET", "/v2/admin/usergroups/g%201/memberships"),
            Operation::ListRoster("g 1".into(), Roster::Members)
        );
        assert_eq!(
            parse("PUT", "/v2/admin/usergroups/g/memberships"),
            Operation::ReplaceMembers("g".into())
        );
        assert_eq!(
            parse("PUT", "/v2/admin/usergroups/g/assignments/-42"),
            Operation::WriteRoster("g".into(), Roster::Assignees, -42)
        );
        assert_eq!(parse("GET", USERS_PATH), Operation::LookupUsers);
        let status = |method, path| Operation::parse(method, path).unwrap_err().status;
        let cases = [
            (
                "PUT",
                "/v2/admin/usergroups/g/assignments",
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            (
                "POST",
                "/v2/admin/usergroups/g/memberships",
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            (
                "GET",
                "/v2/admin/usergroups/g/memberships/1",
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            (
                "PUT",
                "/v2/admin/usergroups/g/memberships/x",
                StatusCode::BAD_REQUEST,
            ),
            (
                "PUT",
                "/v2/admin/usergroups/g/memberships/",
                StatusCode::NOT_FOUND,
            ),
            (
                "PUT",
                "/v2/admin/usergroups/g/owners/1",
                StatusCode::NOT_FOUND,
            ),
            (
                "GET",
                "/v2/admin/usergroups//memberships",
                StatusCode::NOT_FOUND,
            ),
            (
                "GET",
                "/v2/admin/usergroups/g/memberships/1/x",
                StatusCode::NOT_FOUND,
            ),
            ("POST", USERS_PATH, StatusCode::METHOD_NOT_ALLOWED),
        ];
        for (method, path, expected) in cases {
            assert_eq!(status(method, path), expected, "{method} {path}");
        }
    }

    #[test]
    fn lists_need_view_and_manage_and_the_lookup_a_session() {
        let access = |method, path| Operation::parse(method, path).unwrap().access();
        assert_eq!(
            access("GET", "/v2/admin/usergroups/g/assignments"),
            Access::View
        );
        assert_eq!(
            access("PUT", "/v2/admin/usergroups/g/memberships"),
            Access::Manage
        );
        assert_eq!(
            access("PUT", "/v2/admin/usergroups/g/memberships/1"),
            Access::Manage
        );
        assert_eq!(access("GET", USERS_PATH), Access::Session);
    }

    #[test]
    fn only_paths_under_pod_are_pod_calls() {
        assert_eq!(
            pod_relative("/pod/v2/admin/usergroups"),
            Some("/v2/admin/usergroups")
        );
        assert_eq!(pod_relative("/pod"), Some(""));
        assert_eq!(pod_relative("/podcast"), None);
        assert_eq!(pod_relative("/login/pubkey/authenticate"), None);
    }
}
