//! The HTTP side: one handler that records each request, waits the
//! configured latency, then routes it to the pod or the login endpoints.
//! The groups' endpoints are here; their lists' and the users lookup's are
//! in `endpoints.rs`.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Bytes, to_bytes};
use axum::extract::{Query, Request, State};
use axum::http::header::{ALLOW, RETRY_AFTER};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::{
    ApiError, LoginRequest, LoginResponse, Roster, SESSION_TOKEN_HEADER, USERGROUPS_PATH,
    USERS_PATH, UserId,
};

use super::endpoints;
use super::journal::Arrival;
use super::store::{CreateError, GroupFilter, PageRequest, PageStart, UpdateError, decode_cursor};
use super::{Shared, lock};

/// Where the login service answers RSA bot authentication.
pub const LOGIN_PATH: &str = "/login/pubkey/authenticate";
/// Where the pod's endpoints live.
pub const POD_PREFIX: &str = "/pod";
/// Bodies larger than this are refused with 413; groupsync's are tiny.
const MAX_BODY_BYTES: usize = 1 << 20;

/// Every request goes to [`handle`]: the emulator routes by hand so that it
/// decides every status and body, 404 and 405 included.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// A pod call answered with an error status and a `{code, message}` body.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) status: StatusCode,
    message: String,
    /// The `Allow` header of a 405.
    allow: Option<&'static str>,
}

impl Failure {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
            allow: None,
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::BAD_REQUEST, message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::NOT_FOUND, message)
    }

    fn method_not_allowed(allow: &'static str) -> Failure {
        let message = format!("method not allowed here; allowed: {allow}");
        Failure {
            allow: Some(allow),
            ..Failure::new(StatusCode::METHOD_NOT_ALLOWED, message)
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = error_response(self.status, self.message);
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

/// Something injected into the next pod call: a failure to answer instead
/// (with its `Retry-After` header), sessions that expire just before it, or
/// an answer lost after the pod acted on the call.
#[derive(Debug, Clone)]
pub(super) enum Fault {
    Fail {
        status: StatusCode,
        retry_after: Option<HeaderValue>,
    },
    ExpireSessions,
    /// The next call with this method is carried out, then its connection
    /// closes without an answer. Calls with other methods pass it by.
    DropAnswer(axum::http::Method),
}

/// Unwinds a connection's task so that hyper drops the socket unanswered.
/// `resume_unwind` skips the panic hook: nothing is printed, and tokio
/// catches the unwind at the task's edge.
struct AnswerDropped;

/// The answer of an injected failure.
fn failure_response(status: StatusCode, retry_after: Option<HeaderValue>) -> Response {
    let message = status.canonical_reason().unwrap_or("injected failure");
    let mut response = error_response(status, message);
    if let Some(retry_after) = retry_after {
        response.headers_mut().insert(RETRY_AFTER, retry_after);
    }
    response
}

/// What a pod call asks to do, once its method and path are understood.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Operation {
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
}

/// What a session needs for an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Any valid session (the users lookup).
    Session,
    /// VIEW_ROLE_SCOPES.
    View,
    /// MANAGE_ROLE_SCOPES.
    Manage,
}

impl Operation {
    /// The operation `method` and the pod-relative `path` name (groupId percent-decoded).
    fn parse(method: &str, path: &str) -> Result<Operation, Failure> {
        let no_such_endpoint =
            || Failure::not_found(format!("no such endpoint: {POD_PREFIX}{path}"));
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
    fn access(&self) -> Access {
        match self {
            Operation::LookupUsers => Access::Session,
            Operation::List | Operation::Get(_) | Operation::ListRoster(..) => Access::View,
            Operation::Create
            | Operation::Update(_)
            | Operation::WriteRoster(..)
            | Operation::ReplaceMembers(_) => Access::Manage,
        }
    }
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

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, MAX_BODY_BYTES).await;
    let id = lock(&shared.journal).begin(Arrival {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        body: body.as_deref().unwrap_or_default(),
        had_session_token: parts.headers.contains_key(SESSION_TOKEN_HEADER),
        started,
    });
    // Each request sleeps on its own task: latency delays requests, it never serializes them.
    let latency = *lock(&shared.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = match body {
        Ok(body) => answer(&shared, &parts, &body),
        Err(_) => Some(
            Failure::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is too large",
            )
            .into_response(),
        ),
    };
    let Some(response) = response else {
        tracing::debug!(method = %parts.method, path = parts.uri.path(), "pod emulator dropped the answer");
        std::panic::resume_unwind(Box::new(AnswerDropped));
    };
    let status = response.status().as_u16();
    lock(&shared.journal).finish(id, status);
    tracing::debug!(method = %parts.method, path = parts.uri.path(), status, "pod emulator answered");
    response
}

/// The answer to send, or `None` when an injected fault drops it.
fn answer(shared: &Shared, parts: &Parts, body: &Bytes) -> Option<Response> {
    let path = parts.uri.path();
    let method = parts.method.as_str();
    let result = if let Some(pod_path) = pod_relative(path) {
        let fault = next_fault(&mut lock(&shared.faults), &parts.method);
        match fault {
            // An injected failure stands in for whatever the pod would have answered.
            Some(Fault::Fail {
                status,
                retry_after,
            }) => return Some(failure_response(status, retry_after)),
            Some(Fault::ExpireSessions) => lock(&shared.sessions).expire_all(),
            Some(Fault::DropAnswer(_)) => {
                // The pod acts on the call; only its answer is lost.
                let _ = pod_call(shared, parts, method, pod_path, body);
                return None;
            }
            None => {}
        }
        pod_call(shared, parts, method, pod_path, body)
    } else if path == LOGIN_PATH {
        login(shared, method, body)
    } else {
        Err(Failure::not_found(format!("no such endpoint: {path}")))
    };
    Some(result.unwrap_or_else(IntoResponse::into_response))
}

/// The fault for a call with `method`: the first queued one, unless it waits
/// for a call with another method.
fn next_fault(
    faults: &mut std::collections::VecDeque<Fault>,
    method: &axum::http::Method,
) -> Option<Fault> {
    match faults.front() {
        Some(Fault::DropAnswer(wanted)) if wanted != method => None,
        _ => faults.pop_front(),
    }
}

/// The path under `/pod`, if `path` is a pod call.
fn pod_relative(path: &str) -> Option<&str> {
    path.strip_prefix(POD_PREFIX)
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn pod_call(
    shared: &Shared,
    parts: &Parts,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Response, Failure> {
    let operation = Operation::parse(method, path)?;
    authorize(shared, parts, operation.access())?;
    match operation {
        Operation::List => list_groups(shared, &parts.uri),
        Operation::Create => create_group(shared, body),
        Operation::Get(id) => get_group(shared, &id),
        Operation::Update(id) => update_group(shared, &id, body),
        Operation::ListRoster(id, roster) => {
            endpoints::list_roster(shared, &parts.uri, &id, roster)
        }
        Operation::WriteRoster(id, roster, user_id) => {
            endpoints::write_roster(shared, &id, roster, user_id, body)
        }
        Operation::ReplaceMembers(id) => endpoints::replace_members(shared, &id, body),
        Operation::LookupUsers => endpoints::lookup_users(shared, &parts.uri),
    }
}

/// 401 without a valid `sessionToken`; 403 without the entitlement the operation needs.
fn authorize(shared: &Shared, parts: &Parts, access: Access) -> Result<(), Failure> {
    let Some(header) = parts.headers.get(SESSION_TOKEN_HEADER) else {
        return Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized: the sessionToken header is missing.",
        ));
    };
    let entitlements = header
        .to_str()
        .ok()
        .and_then(|token| lock(&shared.sessions).entitlements(token));
    let Some(entitlements) = entitlements else {
        return Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized: Session tokens invalid.",
        ));
    };
    let (allowed, needed) = match access {
        Access::Session => return Ok(()),
        Access::View => (entitlements.view, "VIEW_ROLE_SCOPES"),
        Access::Manage => (entitlements.manage, "MANAGE_ROLE_SCOPES"),
    };
    if allowed {
        return Ok(());
    }
    let message = format!("Forbidden: the caller lacks the Scope Management role with {needed}.");
    Err(Failure::new(StatusCode::FORBIDDEN, message))
}

fn list_groups(shared: &Shared, uri: &Uri) -> Result<Response, Failure> {
    let request = page_request(uri, shared.page_size)?;
    Ok(json_response(
        StatusCode::OK,
        &lock(&shared.store).page(&request),
    ))
}

fn get_group(shared: &Shared, id: &str) -> Result<Response, Failure> {
    let group = lock(&shared.store)
        .get(id)
        .ok_or_else(|| group_not_found(id))?;
    Ok(json_response(StatusCode::OK, &group))
}

fn update_group(shared: &Shared, id: &str, body: &[u8]) -> Result<Response, Failure> {
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

fn create_group(shared: &Shared, body: &[u8]) -> Result<Response, Failure> {
    let request = parse_body(body)?;
    match lock(&shared.store).create(&request) {
        Ok(group) => Ok(json_response(StatusCode::CREATED, &group)),
        Err(CreateError(message)) => Err(Failure::bad_request(message)),
    }
}

fn login(shared: &Shared, method: &str, body: &[u8]) -> Result<Response, Failure> {
    if method != "POST" {
        return Err(Failure::method_not_allowed("POST"));
    }
    let request: LoginRequest = parse_body(body)?;
    let bot = shared
        .bots
        .verify(&request.token)
        .map_err(|reason| Failure::new(StatusCode::UNAUTHORIZED, reason))?;
    let token = lock(&shared.sessions).issue(shared.bot_entitlements);
    tracing::debug!(bot, "pod emulator: bot logged in");
    Ok(json_response(
        StatusCode::OK,
        &LoginResponse {
            name: SESSION_TOKEN_HEADER.to_owned(),
            token,
        },
    ))
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
    let Query(query) = Query::<ListQuery>::try_from_uri(uri)
        .map_err(|err| Failure::bad_request(err.body_text()))?;
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

/// A boolean query parameter: absent, `true` or `false`.
pub(super) fn flag(name: &str, value: Option<&str>) -> Result<Option<bool>, Failure> {
    match value {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(Failure::bad_request(format!(
            "{name} must be true or false, not {other:?}"
        ))),
    }
}

/// The pod's page size is also the most a `limit` can ask for.
pub(super) fn page_limit(limit: Option<&str>, page_size: usize) -> Result<usize, Failure> {
    match limit {
        None => Ok(page_size),
        Some(text) => match text.parse::<usize>() {
            Ok(limit) if limit > 0 => Ok(limit.min(page_size)),
            _ => Err(Failure::bad_request(format!(
                "limit must be a positive integer, not {text:?}"
            ))),
        },
    }
}

/// Where a page starts, as the `after` or `before` cursor says.
pub(super) enum Cursor<T> {
    First,
    After(T),
    Before(T),
}

/// The one cursor given, decoded. An empty cursor counts as none: it can
/// only mean "from the start".
pub(super) fn cursor<T>(
    after: Option<String>,
    before: Option<String>,
    decode: impl Fn(&str) -> Option<T>,
) -> Result<Cursor<T>, Failure> {
    let decode = |cursor: &str| {
        decode(cursor).ok_or_else(|| Failure::bad_request("invalid pagination cursor"))
    };
    match (
        after.filter(|c| !c.is_empty()),
        before.filter(|c| !c.is_empty()),
    ) {
        (None, None) => Ok(Cursor::First),
        (Some(after), None) => Ok(Cursor::After(decode(&after)?)),
        (None, Some(before)) => Ok(Cursor::Before(decode(&before)?)),
        (Some(_), Some(_)) => Err(Failure::bad_request("give at most one of after and before")),
    }
}

/// The body as `T`; an empty body, malformed JSON, a wrong type or an unknown field is a 400.
pub(super) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    if body.is_empty() {
        return Err(Failure::bad_request("the request body is required"));
    }
    serde_json::from_slice(body)
        .map_err(|err| Failure::bad_request(format!("invalid request body: {err}")))
}

fn group_not_found(id: &str) -> Failure {
    Failure::not_found(format!("Group {id} not found."))
}

pub(super) fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    (status, axum::Json(body)).into_response()
}

fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    let body = ApiError {
        code: Some(i32::from(status.as_u16())),
        message: Some(message.into()),
    };
    json_response(status, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(query: &str) -> Uri {
        format!("/pod/v2/admin/usergroups?{query}").parse().unwrap()
    }

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

    #[test]
    fn bodies_must_be_json_of_the_right_shape() {
        use crate::model::UserGroupUpdate;
        assert!(parse_body::<UserGroupUpdate>(b"").is_err());
        assert!(parse_body::<UserGroupUpdate>(b"{").is_err());
        assert!(parse_body::<UserGroupUpdate>(b"{\"active\": \"yes\"}").is_err());
        assert!(parse_body::<UserGroupUpdate>(b"{\"colour\": \"red\"}").is_err());
        assert_eq!(
            parse_body::<UserGroupUpdate>(b"{}").unwrap(),
            UserGroupUpdate::default()
        );
    }
}
