//! The rooms the emulator knows, the messages posted into them, and the key
//! manager tokens it accepts.

use std::collections::HashSet;

use super::random::random_hex;

/// A room: its name and its stream id, in standard base64 (`+`, `/`, `=`)
/// as room search gives it; the agent takes it URL-safe (`-`, `_`, no `=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedRoom {
    pub name: String,
    pub stream_id: String,
    pub active: bool,
}

impl SeedRoom {
    /// An active room named `name` with a fresh stream id, one that holds
    /// `+` and `/` and padding, as many real ones do.
    pub fn named(name: &str) -> SeedRoom {
        SeedRoom {
            name: name.to_string(),
            // As real ones are: 22 base64 digits (16 bytes) and `==`.
            stream_id: format!("{}+/Aw==", random_hex(18)),
            active: true,
        }
    }

    /// The stream id as the agent's URLs carry it.
    pub fn url_safe_id(&self) -> String {
        self.stream_id
            .trim_end_matches('=')
            .replace('+', "-")
            .replace('/', "_")
    }
}

/// A message the agent took, as it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedMessage {
    pub message_id: String,
    /// URL-safe, as in the path.
    pub stream_id: String,
    /// The room's name, if the stream is a known room.
    pub room: Option<String>,
    /// The MessageML, as sent.
    pub message: String,
    /// The EntityJSON, if sent.
    pub data: Option<String>,
    pub timestamp: i64,
}

/// Rooms, messages and key manager tokens.
#[derive(Debug, Default)]
pub(super) struct Rooms {
    pub(super) rooms: Vec<SeedRoom>,
    pub(super) messages: Vec<PostedMessage>,
    key_manager_tokens: HashSet<String>,
}

impl Rooms {
    pub(super) fn new(rooms: Vec<SeedRoom>, tokens: &[String]) -> Rooms {
        Rooms {
            rooms,
            messages: Vec::new(),
            key_manager_tokens: tokens.iter().cloned().collect(),
        }
    }

    /// The room whose URL-safe stream id is `sid`.
    pub(super) fn room(&self, sid: &str) -> Option<&SeedRoom> {
        self.rooms.iter().find(|room| room.url_safe_id() == sid)
    }

    pub(super) fn key_manager_token_valid(&self, token: &str) -> bool {
        self.key_manager_tokens.contains(token)
    }

    /// A new valid key manager token.
    pub(super) fn issue_key_manager_token(&mut self) -> String {
        let token = random_hex(48);
        self.key_manager_tokens.insert(token.clone());
        token
    }

    /// Every key manager token known so far answers 401 from now on.
    pub(super) fn expire_key_manager_tokens(&mut self) {
        self.key_manager_tokens.clear();
    }
}
