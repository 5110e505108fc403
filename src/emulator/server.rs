//! The HTTP side: one handler that records each request, waits the
//! configured latency, applies injected faults, then routes it to the pod's
//! endpoints (after checking its session) or to the login endpoint.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::model::{LoginRequest, LoginResponse, SESSION_TOKEN_HEADER};

use super::agent::{AGENT_PREFIX, RELAY_LOGIN_PATH, agent_call, relay_login, search_rooms};
use super::answer::{Failure, json_response};
use super::faults::{Fault, failure_response, next_fault};
use super::journal::Arrival;
use super::parse::parse_body;
use super::routes::{Access, LOGIN_PATH, Operation, pod_relative};
use super::shared::{Shared, lock};
use super::{group_endpoints, list_endpoints, user_endpoints};

/// Bodies larger than this are refused with 413; groupsync's are tiny.
const MAX_BODY_BYTES: usize = 1 << 20;

/// Every request goes to [`handle`]: the emulator routes by hand so that it
/// decides every status and body, 404 and 405 included.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// Unwinds a connection's task so that hyper drops the socket unanswered.
/// `resume_unwind` skips the panic hook: nothing is printed, and tokio
/// catches the unwind at the task's edge.
struct AnswerDropped;

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
    } else if let Some(agent_path) = path.strip_prefix(AGENT_PREFIX) {
        let fault = lock(&shared.agent_faults).pop_front();
        if let Some(Fault::Fail {
            status,
            retry_after,
        }) = fault
        {
            return Some(failure_response(status, retry_after));
        }
        agent_call(shared, parts, agent_path, body)
    } else if path == RELAY_LOGIN_PATH {
        relay_login(shared, method, body)
    } else if path == LOGIN_PATH {
        login(shared, method, body)
    } else {
        Err(Failure::not_found(format!("no such endpoint: {path}")))
    };
    Some(result.unwrap_or_else(IntoResponse::into_response))
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
        Operation::List => group_endpoints::list_groups(shared, &parts.uri),
        Operation::Create => group_endpoints::create_group(shared, body),
        Operation::Get(id) => group_endpoints::get_group(shared, &id),
        Operation::Update(id) => group_endpoints::update_group(shared, &id, body),
        Operation::ListRoster(id, roster) => {
            list_endpoints::list_roster(shared, &parts.uri, &id, roster)
        }
        Operation::WriteRoster(id, roster, user_id) => {
            list_endpoints::write_roster(shared, &id, roster, user_id, body)
        }
        Operation::ReplaceMembers(id) => list_endpoints::replace_members(shared, &id, body),
        Operation::LookupUsers => user_endpoints::lookup_users(shared, &parts.uri),
        Operation::SearchRooms => search_rooms(shared, &parts.uri, body),
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

/// `POST /login/pubkey/authenticate`: a session for a bot whose JWT checks out.
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
