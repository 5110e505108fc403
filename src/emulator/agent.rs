//! The agent's message endpoint, the key manager's login and the pod's room
//! search, as `openapi/agent-messages.yaml` has them:
//!
//! - `POST /agent/v4/stream/{sid}/message/create` — both tokens
//!   (`sessionToken`, `keyManagerToken`; missing or wrong: 401), a stream id
//!   in URL-safe base64 of a room the emulator knows (else 400), active
//!   (else 403: the bot may no longer post there),
//!   a `multipart/form-data` body with `message` (MessageML: well-formed,
//!   root `<messageML>`, no unescaped `${` or `#{`; else 400) and, if any,
//!   `data` (a JSON object; else 400). 200 with a `V4Message`; the message is
//!   kept ([`super::Emulator::messages`]).
//! - `POST /relay/pubkey/authenticate` — a key manager token for a bot whose
//!   JWT checks out (401 otherwise), as the pod login does.
//! - `POST /pod/v3/room/search` — rooms whose name holds the query (any
//!   case), `limit` at most 100; ids in standard base64.
//!
//! Every error body is a `V2Error`, `{code, message}`.

use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::model::agent::{
    KEY_MANAGER_TOKEN_HEADER, ROOM_SEARCH_LIMIT, RoomAttributes, RoomDetail, RoomSearchQuery,
    RoomSearchResults, RoomSystemInfo, V4Message, V4Stream,
};
use crate::model::{LoginRequest, LoginResponse, SESSION_TOKEN_HEADER};

use super::answer::{Failure, json_response};
use super::messageml::check_messageml;
use super::multipart::form_fields;
use super::parse::{parse_body, parse_query};
use super::random::random_hex;
use super::rooms::PostedMessage;
use super::shared::{Shared, lock};

/// Where the agent's endpoints live.
pub const AGENT_PREFIX: &str = "/agent";
/// Where the key manager answers RSA bot authentication.
pub const RELAY_LOGIN_PATH: &str = "/relay/pubkey/authenticate";

/// A call under `/agent`: `path` is what follows the prefix.
pub(super) fn agent_call(
    shared: &Shared,
    parts: &Parts,
    path: &str,
    body: &[u8],
) -> Result<Response, Failure> {
    let sid = path
        .strip_prefix("/v4/stream/")
        .and_then(|rest| rest.strip_suffix("/message/create"))
        .filter(|sid| !sid.contains('/'))
        .ok_or_else(|| Failure::not_found(format!("no such endpoint: {AGENT_PREFIX}{path}")))?;
    if parts.method != "POST" {
        return Err(Failure::method_not_allowed("POST"));
    }
    authorize(shared, parts)?;
    if sid.is_empty()
        || !sid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Failure::bad_request(format!(
            "Invalid stream id {sid:?}: expected URL-safe base64"
        )));
    }
    // As symphony-api.md has it: a stream that does not exist is a bad
    // stream (400); one the bot may no longer post to (an inactive room) is 403.
    let room = lock(&shared.rooms)
        .room(sid)
        .map(|room| (room.active, room.name.clone()));
    let room = match room {
        None => {
            return Err(Failure::bad_request(format!(
                "Invalid stream id {sid:?}: no such stream"
            )));
        }
        Some((false, _)) => {
            return Err(Failure::new(
                StatusCode::FORBIDDEN,
                "The user is not a member of this stream",
            ));
        }
        Some((true, name)) => name,
    };
    let content_type = parts
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let fields = form_fields(content_type, body).map_err(Failure::bad_request)?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.clone())
    };
    let message = field("message")
        .filter(|message| !message.is_empty())
        .ok_or_else(|| Failure::bad_request("Message is required"))?;
    check_messageml(&message).map_err(Failure::bad_request)?;
    let data = field("data");
    if let Some(data) = &data
        && !serde_json::from_str::<serde_json::Value>(data).is_ok_and(|value| value.is_object())
    {
        return Err(Failure::bad_request(
            "data must be a JSON object (EntityJSON)",
        ));
    }
    let posted = PostedMessage {
        message_id: random_hex(22),
        stream_id: sid.to_string(),
        room: Some(room),
        message: message.clone(),
        data: data.clone(),
        timestamp: now_ms(),
    };
    let answer = V4Message {
        message_id: posted.message_id.clone(),
        timestamp: posted.timestamp,
        message,
        data,
        stream: V4Stream {
            stream_id: sid.to_string(),
            stream_type: "ROOM".to_string(),
        },
    };
    lock(&shared.rooms).messages.push(posted);
    Ok(json_response(StatusCode::OK, &answer))
}

/// 401 without a valid `sessionToken` and `keyManagerToken`.
fn authorize(shared: &Shared, parts: &Parts) -> Result<(), Failure> {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    let session_valid = header(SESSION_TOKEN_HEADER)
        .is_some_and(|token| lock(&shared.sessions).entitlements(token).is_some());
    if !session_valid {
        return Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            "Invalid session: the sessionToken header is missing or not valid",
        ));
    }
    let key_valid = header(KEY_MANAGER_TOKEN_HEADER)
        .is_some_and(|token| lock(&shared.rooms).key_manager_token_valid(token));
    if !key_valid {
        return Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            "Invalid key manager token: the keyManagerToken header is missing or not valid",
        ));
    }
    Ok(())
}

/// `POST /relay/pubkey/authenticate`: a key manager token for a bot whose JWT checks out.
pub(super) fn relay_login(shared: &Shared, method: &str, body: &[u8]) -> Result<Response, Failure> {
    if method != "POST" {
        return Err(Failure::method_not_allowed("POST"));
    }
    let request: LoginRequest = parse_body(body)?;
    shared
        .bots
        .verify(&request.token)
        .map_err(|reason| Failure::new(StatusCode::UNAUTHORIZED, reason))?;
    let token = lock(&shared.rooms).issue_key_manager_token();
    Ok(json_response(
        StatusCode::OK,
        &LoginResponse {
            name: KEY_MANAGER_TOKEN_HEADER.to_string(),
            token,
        },
    ))
}

#[derive(Deserialize)]
struct SearchPage {
    skip: Option<usize>,
    limit: Option<usize>,
}

/// `POST /pod/v3/room/search`: the rooms whose name holds the query.
pub(super) fn search_rooms(shared: &Shared, uri: &Uri, body: &[u8]) -> Result<Response, Failure> {
    let page: SearchPage = parse_query(uri)?;
    let limit = page.limit.unwrap_or(50);
    if limit == 0 || limit > ROOM_SEARCH_LIMIT {
        return Err(Failure::bad_request(format!(
            "limit must be from 1 to {ROOM_SEARCH_LIMIT}"
        )));
    }
    let skip = page.skip.unwrap_or(0);
    let search: RoomSearchQuery = parse_body(body)?;
    let wanted = search.query.to_lowercase();
    let rooms = lock(&shared.rooms);
    let matching: Vec<RoomDetail> = (rooms.rooms.iter())
        .filter(|room| room.name.to_lowercase().contains(&wanted))
        .filter(|room| search.active.is_none_or(|active| room.active == active))
        .map(|room| RoomDetail {
            room_attributes: RoomAttributes {
                name: room.name.clone(),
            },
            room_system_info: RoomSystemInfo {
                id: room.stream_id.clone(),
                active: room.active,
            },
        })
        .collect();
    let answer = RoomSearchResults {
        count: matching.len() as i64,
        skip: skip as i64,
        limit: limit as i64,
        query: json!({"query": search.query}),
        rooms: matching.into_iter().skip(skip).take(limit).collect(),
    };
    Ok(json_response(StatusCode::OK, &answer))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}
