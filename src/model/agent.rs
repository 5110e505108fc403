//! The agent's and the room search's types (`openapi/agent-messages.yaml`),
//! shared by the client ([`crate::pod::agent`]) and the emulator: a message
//! posted into a stream, the key manager login, and room search.

use serde::{Deserialize, Serialize};

/// The header that carries the key manager token on agent calls.
pub const KEY_MANAGER_TOKEN_HEADER: &str = "keyManagerToken";

/// Posting a message, under the agent URL: `/v4/stream/{sid}/message/create`.
pub const MESSAGE_CREATE_TEMPLATE: &str = "/v4/stream/{sid}/message/create";

/// Room search, under the pod URL.
pub const ROOM_SEARCH_PATH: &str = "/v3/room/search";

/// The most rooms one search page may hold (`limit`).
pub const ROOM_SEARCH_LIMIT: usize = 100;

/// `/v4/stream/{sid}/message/create` for the stream `sid` (URL-safe base64).
pub fn message_create_path(sid: &str) -> String {
    format!("/v4/stream/{sid}/message/create")
}

/// `V4Message`: what the agent answers a posted message with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V4Message {
    #[serde(default)]
    pub message_id: String,
    #[serde(default)]
    pub timestamp: i64,
    /// The message as the agent rendered it.
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default)]
    pub stream: V4Stream,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V4Stream {
    #[serde(default)]
    pub stream_id: String,
    #[serde(default)]
    pub stream_type: String,
}

/// The body of `POST /pod/v3/room/search`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSearchQuery {
    pub query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// The answer of room search: one page of rooms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSearchResults {
    #[serde(default)]
    pub count: i64,
    #[serde(default)]
    pub skip: i64,
    #[serde(default)]
    pub limit: i64,
    #[serde(default)]
    pub query: serde_json::Value,
    #[serde(default)]
    pub rooms: Vec<RoomDetail>,
}

/// One room of a search.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomDetail {
    #[serde(default)]
    pub room_attributes: RoomAttributes,
    #[serde(default)]
    pub room_system_info: RoomSystemInfo,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomAttributes {
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSystemInfo {
    /// Standard base64 (`+`, `/`, `=`).
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub active: bool,
}
