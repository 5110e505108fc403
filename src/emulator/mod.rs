//! A faithful Symphony pod emulator, served over real HTTP on a spawned tokio
//! task: for the tests, `groupsync demo` and `groupsync emulate`.
//!
//! It follows `docs/pod-api.md` and answers with the same serde types as the
//! client ([`crate::model`]), so the two cannot drift apart. What it emulates:
//!
//! - `PUT /pod/v2/admin/usergroups/{groupId}` — applies only the fields sent;
//!   `modifiedDate` moves only when a value really changes; an empty `name` is 422.
//! - `GET /pod/v2/admin/usergroups/{groupId}` — one group, or 404.
//! - `GET /pod/v2/admin/usergroups?type=ROLE_SCOPE[&name&area&active&limit&after&before]`
//!   — pages of raw records in id order, filtered *after* paging as real pods
//!   do, so a page may be empty and still carry `next`. `sort` is accepted and
//!   ignored; `limit` is capped at the configured page size.
//! - `POST /pod/v2/admin/usergroups` — creates an active group with a 24-hex-digit
//!   id (201); a missing or empty `name`, a missing or unknown `type` is 400.
//! - `POST /login/pubkey/authenticate` — RSA bot login: an RS512 JWT whose
//!   `exp` is at most 300 s ahead, checked against the bot's public key.
//! - Session tokens (401) and the VIEW_ROLE_SCOPES / MANAGE_ROLE_SCOPES
//!   entitlements (403); malformed, mistyped or unknown body fields (400);
//!   unknown routes (404) and methods (405). Every error body is `{code, message}`.
//!
//! And what a test needs to provoke the rest: injected failures with
//! `Retry-After` ([`Emulator::fail_next`]), answers lost after the pod acted
//! ([`Emulator::drop_next_answers`]), latency ([`Emulator::set_latency`]),
//! expired sessions, admin changes behind groupsync's back
//! ([`Emulator::set_group`]), and a record of every request.
//!
//! Secrets stay secret: session tokens and JWTs are neither logged nor
//! recorded, and no `Debug` output here prints them.
//!
//! Layout: `server` (HTTP, routing, endpoints), `store` (groups, dates,
//! paging), `sessions` (tokens), `login` (JWT checks), `journal` (recorded
//! requests), `random` (tokens and ids).

mod journal;
mod login;
mod random;
mod server;
mod sessions;
mod store;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::model::UserGroupResponse;

use journal::Journal;
use login::BotKeys;
use server::Fault;
use sessions::Sessions;
use store::Store;

pub use server::{LOGIN_PATH, POD_PREFIX};

/// How long [`Emulator::shutdown`] lets requests in flight finish before it aborts them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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

/// How an emulator starts. `Default` is an empty pod, no sessions, no bots,
/// bots logging in with every entitlement, pages of 100.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// The seed; missing ids, dates, counts and types get filled in.
    pub groups: Vec<UserGroupResponse>,
    /// Session tokens accepted from the start.
    pub session_tokens: Vec<(String, Entitlements)>,
    /// Bots that may log in: username and public key PEM.
    pub bots: Vec<(String, String)>,
    /// What a session from bot login may do.
    pub bot_entitlements: Entitlements,
    /// Raw records per list page (and the most a `limit` may ask for).
    pub page_size: usize,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            groups: Vec::new(),
            session_tokens: Vec::new(),
            bots: Vec::new(),
            bot_entitlements: Entitlements::ALL,
            page_size: 100,
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
            .field(
                "session_tokens",
                &format_args!("<{} redacted>", self.session_tokens.len()),
            )
            .field("session_entitlements", &session_entitlements)
            .field("bots", &bot_names)
            .field("bot_entitlements", &self.bot_entitlements)
            .field("page_size", &self.page_size)
            .finish()
    }
}

/// One request as the emulator received it. Login bodies have their JWT
/// replaced by `<redacted>`; token values are never kept.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// As received, still percent-encoded, e.g. `/pod/v2/admin/usergroups/abc`.
    pub path: String,
    pub query: Option<String>,
    /// The body parsed as JSON, if it is JSON.
    pub body: Option<serde_json::Value>,
    pub raw_body: String,
    /// The status answered (0 while the request is still in flight, or when
    /// its answer was dropped: [`Emulator::drop_next_answers`]).
    pub status: u16,
    pub had_session_token: bool,
    /// When the request arrived.
    pub started: Instant,
}

/// A running emulator. Cheap to clone; every clone drives the same server,
/// which stops on [`Emulator::shutdown`] or when the last clone is dropped.
#[derive(Clone)]
pub struct Emulator {
    shared: Arc<Shared>,
    address: SocketAddr,
    server: Arc<ServerTask>,
}

/// The state every request handler and every handle share.
struct Shared {
    store: Mutex<Store>,
    sessions: Mutex<Sessions>,
    faults: Mutex<VecDeque<Fault>>,
    latency: Mutex<Duration>,
    journal: Mutex<Journal>,
    bots: BotKeys,
    bot_entitlements: Entitlements,
    page_size: usize,
}

/// The spawned server and the switch that stops it; dropping the switch stops it too.
struct ServerTask {
    stop: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Shared {
    fn new(config: EmulatorConfig) -> Result<Shared, String> {
        Ok(Shared {
            store: Mutex::new(Store::new(config.groups)?),
            sessions: Mutex::new(Sessions::new(&config.session_tokens)),
            faults: Mutex::new(VecDeque::new()),
            latency: Mutex::new(Duration::ZERO),
            journal: Mutex::new(Journal::default()),
            bots: BotKeys::new(&config.bots)?,
            bot_entitlements: config.bot_entitlements,
            page_size: config.page_size.max(1),
        })
    }
}

impl Emulator {
    /// Binds `listen` (tests pass `127.0.0.1:0`) and serves on a spawned task.
    /// A seed with a duplicate id or a bot key that is not RSA PEM is `InvalidInput`.
    pub async fn start(listen: SocketAddr, config: EmulatorConfig) -> io::Result<Emulator> {
        let shared = Arc::new(
            Shared::new(config)
                .map_err(|reason| io::Error::new(io::ErrorKind::InvalidInput, reason))?,
        );
        let listener = TcpListener::bind(listen).await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = server::router(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                // A send and a dropped sender both mean "stop".
                let _ = stopped.await;
            });
            if let Err(err) = serve.await {
                tracing::error!(%err, "pod emulator stopped serving");
            }
        });
        tracing::info!(%address, "pod emulator listening");
        let server = ServerTask {
            stop: Mutex::new(Some(stop)),
            task: Mutex::new(Some(task)),
        };
        Ok(Emulator {
            shared,
            address,
            server: Arc::new(server),
        })
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// `http://IP:PORT`; an unspecified listen address (`0.0.0.0`, `::`) is given as loopback.
    pub fn base_url(&self) -> String {
        let ip = match self.address.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.address.port()))
    }

    /// The pod URL a client is configured with: `{base}/pod`.
    pub fn pod_url(&self) -> String {
        format!("{}{POD_PREFIX}", self.base_url())
    }

    /// The login URL a client is configured with: `{base}/login`.
    pub fn login_url(&self) -> String {
        format!("{}/login", self.base_url())
    }

    /// Every request received since the start or the last clear, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.journal).requests()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.journal).clear();
    }

    /// How many recorded requests have this method (any case) and a path starting with `path_prefix`.
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        let journal = lock(&self.shared.journal);
        journal
            .iter()
            .filter(|request| {
                request.method.eq_ignore_ascii_case(method) && request.path.starts_with(path_prefix)
            })
            .count()
    }

    /// The next `count` pod calls (anything under `/pod`, not login) answer
    /// `status` with a `{code, message}` body, and `Retry-After: <value>` when
    /// given. Calls add up: `fail_next(1, 503, None)` then `fail_next(1, 429,
    /// Some("2"))` fail one call with each. An invalid status becomes 500; a
    /// value that cannot be a header is left out.
    pub fn fail_next(&self, count: usize, status: u16, retry_after: Option<&str>) {
        let fault = Fault::Fail {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            retry_after: retry_after.and_then(|value| HeaderValue::from_str(value).ok()),
        };
        lock(&self.shared.faults).extend(std::iter::repeat_n(fault, count));
    }

    /// Expires every session just before the next pod call (after the
    /// failures already queued): that call answers 401, as when a session
    /// runs out in the middle of a run.
    pub fn expire_sessions_at_next_call(&self) {
        lock(&self.shared.faults).push_back(Fault::ExpireSessions);
    }

    /// The next `count` pod calls with `method` (after the faults already
    /// queued; calls with other methods pass by) are carried out, then their
    /// connection closes without an answer: the pod acted, the client cannot
    /// know it. For "a create is never sent twice". An unknown method is ignored.
    pub fn drop_next_answers(&self, method: &str, count: usize) {
        let Ok(method) = axum::http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        else {
            return;
        };
        let fault = Fault::DropAnswer(method);
        lock(&self.shared.faults).extend(std::iter::repeat_n(fault, count));
    }

    /// Adds `latency` to every request from now on; requests wait concurrently.
    pub fn set_latency(&self, latency: Duration) {
        *lock(&self.shared.latency) = latency;
    }

    /// Every session token configured or issued so far answers 401 from now on.
    pub fn expire_sessions(&self) {
        lock(&self.shared.sessions).expire_all();
    }

    /// A new valid session token with these entitlements.
    pub fn add_session(&self, entitlements: Entitlements) -> String {
        lock(&self.shared.sessions).issue(entitlements)
    }

    pub fn group(&self, id: &str) -> Option<UserGroupResponse> {
        lock(&self.shared.store).get(id)
    }

    /// Every group, sorted by id.
    pub fn groups(&self) -> Vec<UserGroupResponse> {
        lock(&self.shared.store).all()
    }

    /// An admin's change behind groupsync's back: replaces or creates the
    /// group (a fresh id if it has none) and moves its `modifiedDate`.
    /// Returns the group as the pod now holds it.
    pub fn set_group(&self, group: UserGroupResponse) -> UserGroupResponse {
        lock(&self.shared.store).replace(group)
    }

    /// Stops accepting connections, lets requests in flight finish (up to a
    /// few seconds), and waits for the server task. Stops every clone's server.
    pub async fn shutdown(self) {
        if let Some(stop) = lock(&self.server.stop).take() {
            let _ = stop.send(());
        }
        let Some(mut task) = lock(&self.server.task).take() else {
            return;
        };
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
        tracing::info!(address = %self.address, "pod emulator stopped");
    }
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// Reads a seed for `groupsync emulate --seed FILE`: a JSON or YAML list of
/// `UserGroupResponse` objects (camelCase keys), each with an id, no id twice.
pub fn load_seed(path: &Path) -> Result<Vec<UserGroupResponse>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("{}: cannot read the seed: {err}", path.display()))?;
    parse_seed(&text).map_err(|reason| format!("{}: {reason}", path.display()))
}

fn parse_seed(text: &str) -> Result<Vec<UserGroupResponse>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new()); // an empty file is an empty pod
    }
    // YAML is a superset of JSON: one parser reads both.
    let groups: Vec<UserGroupResponse> = serde_yaml::from_str(text).map_err(|err| {
        format!("not a list of user groups (camelCase keys, e.g. id, name, createdDate): {err}")
    })?;
    let mut seen = std::collections::HashSet::new();
    for (index, group) in groups.iter().enumerate() {
        let Some(id) = group.id.as_deref().filter(|id| !id.is_empty()) else {
            return Err(format!("group #{} has no id", index + 1));
        };
        if !seen.insert(id) {
            return Err(format!("group id {id:?} appears twice"));
        }
    }
    Ok(groups)
}

/// Locks a mutex, ignoring poisoning: a panicked test must not hide the state from the next assertion.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_from_yaml_and_json() {
        let yaml = "- id: a\n  name: Alpha\n  createdDate: 5\n- id: b\n  active: false\n";
        let json =
            r#"[{"id": "a", "name": "Alpha", "createdDate": 5}, {"id": "b", "active": false}]"#;
        for text in [yaml, json] {
            let groups = parse_seed(text).unwrap();
            assert_eq!(groups.len(), 2);
            assert_eq!(
                (groups[0].name.as_deref(), groups[0].created_date),
                (Some("Alpha"), Some(5))
            );
            assert_eq!(groups[1].active, Some(false));
        }
    }

    #[test]
    fn seeds_need_unique_ids() {
        assert!(
            parse_seed("- name: no id\n")
                .unwrap_err()
                .contains("#1 has no id")
        );
        assert!(
            parse_seed("- id: a\n- id: a\n")
                .unwrap_err()
                .contains("twice")
        );
        assert!(parse_seed("id: a\n").is_err());
        assert_eq!(parse_seed("\n"), Ok(Vec::new()));
    }

    #[test]
    fn load_seed_names_the_file() {
        let missing = Path::new("/nonexistent/seed.yaml");
        assert!(
            load_seed(missing)
                .unwrap_err()
                .starts_with("/nonexistent/seed.yaml: ")
        );
    }

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
