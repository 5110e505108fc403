//! Session tokens: the configured ones, the ones login and `add_session`
//! issue, and what each may do.

use std::collections::HashMap;

use super::random::random_hex;

/// What a session may do: VIEW_ROLE_SCOPES (`view`, to read) and
/// MANAGE_ROLE_SCOPES (`manage`, to write). A bot may have either without the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Entitlements {
    pub view: bool,
    pub manage: bool,
}

impl Entitlements {
    pub const ALL: Entitlements = Entitlements {
        view: true,
        manage: true,
    };
    pub const VIEW_ONLY: Entitlements = Entitlements {
        view: true,
        manage: false,
    };
    pub const MANAGE_ONLY: Entitlements = Entitlements {
        view: false,
        manage: true,
    };
    pub const NONE: Entitlements = Entitlements {
        view: false,
        manage: false,
    };
}

/// Every valid session token and its entitlements. Tokens are secrets: this
/// type has no `Debug` and nothing here logs them.
#[derive(Default)]
pub(super) struct Sessions {
    valid: HashMap<String, Entitlements>,
}

impl Sessions {
    pub(super) fn new(configured: &[(String, Entitlements)]) -> Sessions {
        Sessions {
            valid: configured.iter().cloned().collect(),
        }
    }

    /// What `token` may do, or `None` if it is unknown or expired.
    pub(super) fn entitlements(&self, token: &str) -> Option<Entitlements> {
        self.valid.get(token).copied()
    }

    /// A new valid token, 64 hex digits.
    pub(super) fn issue(&mut self, entitlements: Entitlements) -> String {
        let token = random_hex(64);
        self.valid.insert(token.clone(), entitlements);
        token
    }

    /// Rejects every token known so far; later ones are valid again.
    pub(super) fn expire_all(&mut self) {
        self.valid.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_are_valid_until_expired() {
        let mut sessions = Sessions::new(&[("configured".into(), Entitlements::VIEW_ONLY)]);
        let issued = sessions.issue(Entitlements::ALL);
        assert_eq!(
            sessions.entitlements("configured"),
            Some(Entitlements::VIEW_ONLY)
        );
        assert_eq!(sessions.entitlements(&issued), Some(Entitlements::ALL));
        assert_eq!(sessions.entitlements("unknown"), None);
        sessions.expire_all();
        assert_eq!(sessions.entitlements("configured"), None);
        assert_eq!(sessions.entitlements(&issued), None);
        let later = sessions.issue(Entitlements::ALL);
        assert_eq!(sessions.entitlements(&later), Some(Entitlements::ALL));
    }
}
