//! How an emulator starts: its seed, sessions, bots and page size.

use std::fmt;

use crate::model::UserGroupResponse;

use super::people::SeedUser;
use super::rooms::SeedRoom;
use super::sessions::Entitlements;

/// How an emulator starts. `Default` is an empty pod, no users, no
/// sessions, no bots, bots logging in with every entitlement, pages of 100.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// The seed; missing ids, dates and types get filled in; the counts
    /// always follow `memberships` and `assignments`.
    pub groups: Vec<UserGroupResponse>,
    /// The pod's users; no id or username twice.
    pub users: Vec<SeedUser>,
    /// Active members from the start: (group id, username).
    pub memberships: Vec<(String, String)>,
    /// Active assignees from the start: (group id, username), each a
    /// compliance officer.
    pub assignments: Vec<(String, String)>,
    /// Session tokens accepted from the start.
    pub session_tokens: Vec<(String, Entitlements)>,
    /// Bots that may log in: username and public key PEM.
    pub bots: Vec<(String, String)>,
    /// What a session from bot login may do.
    pub bot_entitlements: Entitlements,
    /// Raw records per list page (and the most a `limit` may ask for).
    pub page_size: usize,
    /// The rooms messages may be posted into, and room search finds.
    pub rooms: Vec<SeedRoom>,
    /// Key manager tokens the agent accepts from the start.
    pub key_manager_tokens: Vec<String>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            groups: Vec::new(),
            users: Vec::new(),
            memberships: Vec::new(),
            assignments: Vec::new(),
            session_tokens: Vec::new(),
            bots: Vec::new(),
            bot_entitlements: Entitlements::ALL,
            page_size: 100,
            rooms: Vec::new(),
            key_manager_tokens: Vec::new(),
        }
    }
}

/// Shows the groups and bot names, never a token or a key.
impl fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let session_entitlements: Vec<_> = self
            .session_tokens
            .iter()
            .map(|(_, entitlements)| entitlements)
            .collect();
        let bot_names: Vec<_> = self.bots.iter().map(|(username, _)| username).collect();
        f.debug_struct("EmulatorConfig")
            .field("groups", &self.groups)
            .field("users", &self.users)
            .field("memberships", &self.memberships)
            .field("assignments", &self.assignments)
            .field(
                "session_tokens",
                &format_args!("<{} redacted>", self.session_tokens.len()),
            )
            .field("session_entitlements", &session_entitlements)
            .field("bots", &bot_names)
            .field("bot_entitlements", &self.bot_entitlements)
            .field("page_size", &self.page_size)
            .field("rooms", &self.rooms)
            .field(
                "key_manager_tokens",
                &format_args!("<{} redacted>", self.key_manager_tokens.len()),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_debug_hides_tokens_and_keys() {
        let config = EmulatorConfig {
            session_tokens: vec![("secret-token".into(), Entitlements::ALL)],
            bots: vec![("bot".into(), "-----BEGIN PUBLIC KEY-----secret".into())],
            ..Default::default()
        };
        let debug = format!("{config:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("bot"));
    }
}
