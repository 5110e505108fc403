//! The notification settings: `notify:` (the targets, each checked where it
//! is written), `notify_settings:` (dedupe, repeat, flush timeout, the
//! `/plan` URL), and where the agent and the key manager are
//! (`pod.agent_url`, `pod.key_manager_url`, `auth.key_manager_token_file`).
//!
//! A target is read by a visitor of its own ([`TargetEntry`]), so that every
//! mistake in it (an unknown `kind` or event, a stream id that is not
//! base64, a webhook URL that is not http(s), a secret file that is missing
//! or that group or others may read) is an error at its `file:line:col`. The
//! secret file is looked at while the config file is parsed, relative to its
//! folder ([`reading_from`]).

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::values::parse_http_url;

/// `notify_settings.dedupe`: a message with the same fingerprint sent this recently is not sent again.
pub const DEFAULT_DEDUPE: Duration = Duration::from_secs(60 * 60);
/// `notify_settings.repeat`: how often `cycle_failing` is said again while cycles keep failing.
pub const DEFAULT_REPEAT: Duration = Duration::from_secs(6 * 60 * 60);
/// `notify_settings.flush_timeout`: how long a one-shot `apply` waits for its notifications.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// The shortest `notify_settings.repeat`.
pub const MIN_REPEAT: Duration = Duration::from_secs(60);
/// The name of the key manager token among systemd's credentials.
pub const KEY_MANAGER_TOKEN_CREDENTIAL: &str = "key-manager-token";

/// What a notification is about: the `events:` filter of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Groups changed on the pod outside groupsync.
    DriftFound,
    /// Drift groupsync put back.
    DriftReverted,
    /// Drift `on_drift: hold` keeps until a person decides.
    DriftHeld,
    /// A cycle wrote to the pod.
    Applied,
    /// Writes the pod refused or never answered.
    ApplyFailed,
    /// Cycles fail (said once, then every `notify_settings.repeat`).
    CycleFailing,
    /// A cycle succeeded after failures.
    Recovered,
    /// A safety limit refused a plan.
    Refused,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        EventKind::DriftFound,
        EventKind::DriftReverted,
        EventKind::DriftHeld,
        EventKind::Applied,
        EventKind::ApplyFailed,
        EventKind::CycleFailing,
        EventKind::Recovered,
        EventKind::Refused,
    ];

    /// As the config file and the metrics spell it: `drift_found`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::DriftFound => "drift_found",
            EventKind::DriftReverted => "drift_reverted",
            EventKind::DriftHeld => "drift_held",
            EventKind::Applied => "applied",
            EventKind::ApplyFailed => "apply_failed",
            EventKind::CycleFailing => "cycle_failing",
            EventKind::Recovered => "recovered",
            EventKind::Refused => "refused",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything about notifications, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySettings {
    /// `notify:`, in the file's order.
    pub targets: Vec<TargetSettings>,
    pub dedupe: Duration,
    pub repeat: Duration,
    pub flush_timeout: Duration,
    /// Where people read the whole plan (`notify_settings.plan_url`), named when a message is cut short.
    pub plan_url: Option<String>,
    /// `{agent}`, e.g. `https://acme.symphony.com/agent`; `None` without a pod URL.
    pub agent_url: Option<String>,
    /// `{key manager}`, e.g. `https://acme.symphony.com/relay`; `None` without a pod URL.
    pub key_manager_url: Option<String>,
    /// `auth.key_manager_token_file`, else systemd's `key-manager-token` credential.
    pub key_manager_token_file: Option<PathBuf>,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            targets: Vec::new(),
            dedupe: DEFAULT_DEDUPE,
            repeat: DEFAULT_REPEAT,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
            plan_url: None,
            agent_url: None,
            key_manager_url: None,
            key_manager_token_file: None,
        }
    }
}

/// One target: where, and which events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSettings {
    pub destination: Destination,
    /// Never empty; every event unless `events:` says otherwise.
    pub events: Vec<EventKind>,
}

/// Where a target's messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A Symphony room, through the agent.
    Symphony(Room),
    /// An HTTP endpoint, each body signed with the secret in `secret_file`.
    Webhook { url: String, secret_file: PathBuf },
}

/// How a Symphony target names its room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Room {
    /// A stream id, URL-safe base64 without padding (as written, converted).
    StreamId(String),
    /// A room's name, resolved through room search.
    Name(String),
}

impl fmt::Display for Destination {
    /// `symphony stream_id cmVhbGx5X2Ffcm9vbQ`, `symphony room_name Compliance EMEA`,
    /// `webhook https://hooks.acme.test/groupsync`: how messages and metrics name a target.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Symphony(Room::StreamId(id)) => write!(f, "symphony stream_id {id}"),
            Destination::Symphony(Room::Name(name)) => write!(f, "symphony room_name {name}"),
            Destination::Webhook { url, .. } => write!(f, "webhook {url}"),
        }
    }
}

// ---------------------------------------------------------------------------
// One target as written.

/// One entry of `notify:`, checked as it is read.
#[derive(Debug)]
pub(super) struct TargetEntry {
    destination: Destination,
    events: Vec<EventKind>,
}

impl TargetEntry {
    /// The target, its secret file relative to `base_dir`.
    pub(super) fn resolved(self, base_dir: &Path) -> TargetSettings {
        let destination = match self.destination {
            Destination::Webhook { url, secret_file } => Destination::Webhook {
                url,
                secret_file: base_dir.join(secret_file),
            },
            symphony => symphony,
        };
        TargetSettings {
            destination,
            events: self.events,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum TargetKind {
    Symphony,
    Webhook,
}

/// The keys a target may have.
const TARGET_KEYS: &[&str] = &[
    "kind",
    "stream_id",
    "room_name",
    "url",
    "secret_file",
    "events",
];

/// The keys of one kind, besides `kind` and `events`; the others are refused.
fn keys_of(kind: TargetKind) -> &'static [&'static str] {
    match kind {
        TargetKind::Symphony => &["stream_id", "room_name"],
        TargetKind::Webhook => &["url", "secret_file"],
    }
}

impl<'de> Deserialize<'de> for TargetEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TargetVisitor)
    }
}

struct TargetVisitor;

/// What one entry held, before its rules are checked.
#[derive(Default)]
struct Written {
    kind: Option<TargetKind>,
    stream_id: Option<StreamId>,
    room_name: Option<RoomName>,
    url: Option<WebhookUrl>,
    secret_file: Option<SecretFile>,
    events: Option<Vec<EventKind>>,
    keys: Vec<&'static str>,
}

impl<'de> Visitor<'de> for TargetVisitor {
    type Value = TargetEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a target such as `{kind: symphony, stream_id: ...}`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TargetEntry, A::Error> {
        let mut written = Written::default();
        while let Some(key) = map.next_key::<String>()? {
            let Some(known) = TARGET_KEYS.iter().copied().find(|known| *known == key) else {
                return Err(de::Error::unknown_field(&key, TARGET_KEYS));
            };
            if written.keys.contains(&known) {
                return Err(de::Error::duplicate_field(known));
            }
            written.keys.push(known);
            match known {
                "kind" => written.kind = Some(map.next_value()?),
                "stream_id" => written.stream_id = Some(map.next_value()?),
                "room_name" => written.room_name = Some(map.next_value()?),
                "url" => written.url = Some(map.next_value()?),
                "secret_file" => written.secret_file = Some(map.next_value()?),
                _ => written.events = Some(map.next_value()?),
            }
        }
        written.checked().map_err(de::Error::custom)
    }
}

impl Written {
    /// The target, or what is wrong with the entry as a whole.
    fn checked(self) -> Result<TargetEntry, String> {
        let kind = self
            .kind
            .ok_or("missing `kind`: `symphony` (a room) or `webhook`")?;
        let name = match kind {
            TargetKind::Symphony => "symphony",
            TargetKind::Webhook => "webhook",
        };
        if let Some(other) = (self.keys.iter())
            .find(|key| !["kind", "events"].contains(key) && !keys_of(kind).contains(key))
        {
            return Err(format!(
                "`{other}` is not a key of a `kind: {name}` target (it takes {})",
                keys_of(kind).join(", ")
            ));
        }
        let events = match self.events {
            Some(events) if events.is_empty() => {
                return Err(
                    "`events: []` would send nothing; leave `events` out for every event".into(),
                );
            }
            Some(mut events) => {
                events.sort();
                events.dedup();
                events
            }
            None => EventKind::ALL.to_vec(),
        };
        let destination =
            match kind {
                TargetKind::Symphony => match (self.stream_id, self.room_name) {
                    (Some(id), None) => Destination::Symphony(Room::StreamId(id.0)),
                    (None, Some(name)) => Destination::Symphony(Room::Name(name.0)),
                    _ => return Err(
                        "a `kind: symphony` target takes `stream_id` or `room_name` (one of them)"
                            .into(),
                    ),
                },
                TargetKind::Webhook => {
                    let url = self.url.ok_or("a `kind: webhook` target needs `url`")?;
                    let secret_file = self.secret_file.ok_or(
                    "a `kind: webhook` target needs `secret_file`: an unsigned webhook is refused",
                )?;
                    Destination::Webhook {
                        url: url.0,
                        secret_file: secret_file.0,
                    }
                }
            };
        Ok(TargetEntry {
            destination,
            events,
        })
    }
}

/// A stream id, standard or URL-safe base64 (padding optional), kept URL-safe without padding.
struct StreamId(String);

impl<'de> Deserialize<'de> for StreamId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        url_safe_stream_id(&text)
            .map(StreamId)
            .map_err(de::Error::custom)
    }
}

/// `id` (standard or URL-safe base64, padded or not) as URL-safe base64
/// without padding, the form stream ids take in URLs; or why it is none.
pub fn url_safe_stream_id(id: &str) -> Result<String, String> {
    let bare = id.trim_end_matches('=');
    let base64_char = |c: char| c.is_ascii_alphanumeric() || "+/-_".contains(c);
    let padding = id.len() - bare.len();
    if bare.is_empty()
        || !bare.chars().all(base64_char)
        || bare.len() % 4 == 1
        || padding > 2
        || (padding > 0 && !id.len().is_multiple_of(4))
    {
        return Err(format!(
            "`{}` is not a stream id: expected base64, as the room's settings show it",
            crate::text::escaped(id)
        ));
    }
    Ok(bare.replace('+', "-").replace('/', "_"))
}

/// A room's name: not empty, no control or invisible characters.
struct RoomName(String);

impl<'de> Deserialize<'de> for RoomName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        if name.trim().is_empty() {
            return Err(de::Error::custom("an empty room name"));
        }
        if name.chars().any(crate::text::needs_escape) {
            return Err(de::Error::custom(format!(
                "`{}` holds control or invisible characters",
                crate::text::escaped(&name)
            )));
        }
        Ok(RoomName(name))
    }
}

/// A webhook's URL: http(s), no credentials, query or fragment.
struct WebhookUrl(String);

impl<'de> Deserialize<'de> for WebhookUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_http_url(&text)
            .map(WebhookUrl)
            .map_err(|error| de::Error::custom(error.to_string()))
    }
}

/// A webhook's secret file, as written; checked (relative to the config
/// file's folder) while it is read.
struct SecretFile(PathBuf);

impl<'de> Deserialize<'de> for SecretFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let path = PathBuf::deserialize(deserializer)?;
        let full = CONFIG_DIR.with(|dir| match &*dir.borrow() {
            Some(dir) => dir.join(&path),
            None => path.clone(),
        });
        check_secret_file(&full).map_err(de::Error::custom)?;
        Ok(SecretFile(path))
    }
}

/// A secret file must be a regular file that neither group nor others may
/// read or write (`chmod 600`), as a bot's key.
pub fn check_secret_file(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display();
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("the secret file {shown} does not exist"));
        }
        Err(error) => return Err(format!("the secret file {shown} cannot be read: {error}")),
    };
    if !metadata.is_file() {
        return Err(format!("the secret file {shown} is not a regular file"));
    }
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "the secret file {shown} may be read by group or others (mode {mode:04o}); `chmod 600` it"
        ));
    }
    Ok(())
}

thread_local! {
    /// The folder of the config file being parsed on this thread.
    static CONFIG_DIR: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

/// Runs `parse` with relative secret files taken from `dir` (the config
/// file's folder): serde gives a value's reader no context of its own.
pub(super) fn reading_from<T>(dir: &Path, parse: impl FnOnce() -> T) -> T {
    let previous = CONFIG_DIR.with(|current| current.replace(Some(dir.to_path_buf())));
    let result = parse();
    CONFIG_DIR.with(|current| *current.borrow_mut() = previous);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_are_kept_url_safe_without_padding() {
        assert_eq!(
            url_safe_stream_id("cmVhbGx5X2Ffcm9vbQ==").unwrap(),
            "cmVhbGx5X2Ffcm9vbQ"
        );
        assert_eq!(url_safe_stream_id("ab+/cd==").unwrap(), "ab-_cd");
        assert_eq!(url_safe_stream_id("ab-_cd").unwrap(), "ab-_cd");
        for bad in ["", "a", "not base64!", "ab=", "ab===", "é", "abcde"] {
            assert!(url_safe_stream_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_target_is_named_by_kind_and_what_it_points_at() {
        let room = Destination::Symphony(Room::Name("Compliance EMEA".into()));
        assert_eq!(room.to_string(), "symphony room_name Compliance EMEA");
        let hook = Destination::Webhook {
            url: "https://h/x".into(),
            secret_file: "/s".into(),
        };
        assert_eq!(hook.to_string(), "webhook https://h/x");
    }
}
