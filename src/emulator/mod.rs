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
//! - `GET /pod/v2/admin/usergroups/{groupId}/memberships[?userId&active&expand&limit&after&before&sort]`
//!   and `.../assignments[?...&userRole]` — a group's records, active or not,
//!   paged like the group list (filters after paging, same page size, `next`
//!   absent on the last page) in user-id order, or by `lastAddedDate` /
//!   `lastRemovedDate` (`-` in front: descending); `expand=user` nests the
//!   user, `expand=group` the group; an assignment carries its user's
//!   `userRoles`. 404 for an unknown group.
//! - `PUT .../memberships/{userId}` and `.../assignments/{userId}` with
//!   `{"active": true|false}` — 200 with the membership (its user spells
//!   `userName`); 201 for a new assignment, else 200. A real change dates the
//!   record (`lastAddedDate` / `lastRemovedDate`); a removed record stays
//!   listed, inactive. 404 for an unknown group or user, 400 for a
//!   non-officer assignee, a body without `active`, a userId that is not an integer.
//! - `PUT .../memberships` with `[{"username": ...}]` — the bulk replace:
//!   everyone not listed is deactivated; an unknown username is 400 and
//!   changes nothing. groupsync never calls it; tests prove that.
//! - `GET /pod/v3/users?username=a,b` (or `uid=`, `email=`; `local` and
//!   `active` accepted) — `{users, errors}`; an unknown entry is simply
//!   absent; no list, two lists or over 100 entries is 400. Any valid session may look users up.
//! - `memberCount` and `assigneeCount` of every group answer are its active
//!   records, whatever the seed said; a list write never moves `modifiedDate`.
//! - `POST /login/pubkey/authenticate` — RSA bot login: an RS512 JWT whose
//!   `exp` is at most 300 s ahead, checked against the bot's public key.
//! - The agent and the key manager, for notifications (`emulator/agent.rs`):
//!   `POST /agent/v4/stream/{sid}/message/create` (multipart MessageML,
//!   checked as the agent does: 400 when malformed, 401 without both tokens,
//!   403 for a stream it does not know), `POST /relay/pubkey/authenticate`
//!   (a key manager token for a bot), and `POST /pod/v3/room/search`. The
//!   messages it takes are kept ([`Emulator::messages`]); failures can be
//!   injected into the agent's next answers ([`Emulator::fail_agent_next`]).
//! - Session tokens (401) and the VIEW_ROLE_SCOPES / MANAGE_ROLE_SCOPES
//!   entitlements (403: reads need VIEW, writes MANAGE); malformed, mistyped
//!   or unknown body fields (400); unknown routes (404) and methods (405).
//!   Every error body is `{code, message}`.
//!
//! And what a test needs to provoke the rest: injected failures with
//! `Retry-After` ([`Emulator::fail_next`]), answers lost after the pod acted
//! ([`Emulator::drop_next_answers`]), latency ([`Emulator::set_latency`]),
//! expired sessions, admin changes behind groupsync's back
//! ([`Emulator::set_group`], [`Emulator::set_roster`]), users added on the
//! way ([`Emulator::add_user`]), and a record of every request.
//!
//! Secrets stay secret: session tokens and JWTs are neither logged nor
//! recorded, and no `Debug` output here prints them.
//!
//! # Layout
//!
//! One concept a file; each file uses only files listed below it, so no two
//! use each other (`tests/layers.rs` checks that):
//!
//! - `mod.rs` — the [`Emulator`] handle: start, inspect, inject, stop.
//! - `server` — HTTP: records each request, waits the latency, applies the
//!   injected faults, checks the session, dispatches; the bot login.
//! - `agent` — the agent's message endpoint, the key manager login, room search.
//! - `multipart` — a `multipart/form-data` body's fields; `messageml` — the
//!   agent's check of a message (well-formed XML, its root, Freemarker markers).
//! - `group_endpoints`, `list_endpoints`, `user_endpoints` — the groups',
//!   the lists' and the users lookup's endpoints: queries, bodies, statuses, answers.
//! - `routes` — method and path to operation, and the entitlement it needs.
//! - `parse` — query parameters, paging cursors and JSON bodies (400 when unreadable).
//! - `shared` — the state every handler and handle share, and `lock`.
//! - `faults` — injected failures, session expiries and dropped answers.
//! - `answer` — JSON answers and `{code, message}` failures.
//! - `seed` — seed files, and the store an [`EmulatorConfig`] starts from.
//! - `config` — [`EmulatorConfig`].
//! - `lists` — what the list calls and the users lookup do to the store.
//! - `store` — the groups: PUT, POST, admin changes, dates and counts.
//! - `group_pages` — how the group list pages; `rosters` — membership and
//!   assignment records, and how they page.
//! - `rooms` — rooms, messages posted, key manager tokens.
//! - `people` — the user directory; `sessions` — tokens and [`Entitlements`];
//!   `login` — JWT checks; `journal` — recorded requests.
//! - `cursor` — opaque paging cursors; `random` — tokens and ids.
//!
//! The seed of `groupsync emulate --seed FILE` ([`load_seed`]), JSON or
//! YAML, is either a bare list of groups (`UserGroupResponse`, camelCase
//! keys) or a mapping of groups and users, where a group may list its
//! active members and assignees by username:
//!
//! ```yaml
//! groups:
//!   - {id: g1, name: EMEA trading, members: [alice, bob], assignees: [olga]}
//! users:
//!   - {id: 1001, username: alice, firstName: Alice, lastName: Smith}
//!   - {id: 1002, username: bob}
//!   - {id: 2001, username: olga, roles: [COMPLIANCE_OFFICER]}
//! ```

mod agent;
mod answer;
mod config;
mod cursor;
mod faults;
mod group_endpoints;
mod group_pages;
mod journal;
mod list_endpoints;
mod lists;
mod login;
mod messageml;
mod multipart;
mod parse;
mod people;
mod random;
mod rooms;
mod rosters;
mod routes;
mod seed;
mod server;
mod sessions;
mod shared;
mod store;
mod user_endpoints;

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::model::{Membership, Roster, UserGroupResponse};

use self::faults::Fault;
use self::shared::{Shared, lock};

pub use self::agent::{AGENT_PREFIX, RELAY_LOGIN_PATH};
pub use self::config::EmulatorConfig;
pub use self::journal::RecordedRequest;
pub use self::people::{COMPLIANCE_OFFICER, SUPER_COMPLIANCE_OFFICER, SeedUser};
pub use self::rooms::{PostedMessage, SeedRoom};
pub use self::routes::{LOGIN_PATH, POD_PREFIX};
pub use self::seed::{load_seed, parse_seed};
pub use self::sessions::Entitlements;

/// How long [`Emulator::shutdown`] lets requests in flight finish before it aborts them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running emulator. Cheap to clone; every clone drives the same server,
/// which stops on [`Emulator::shutdown`] or when the last clone is dropped.
#[derive(Clone)]
pub struct Emulator {
    shared: Arc<Shared>,
    address: SocketAddr,
    server: Arc<ServerTask>,
}

/// The spawned server and the switch that stops it; dropping the switch stops it too.
struct ServerTask {
    stop: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Emulator {
    /// Binds `listen` (tests pass `127.0.0.1:0`) and serves on a spawned task.
    /// A seed with a duplicate id, a user twice, a member or assignee the seed
    /// cannot place, or a bot key that is not RSA PEM is `InvalidInput`.
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

    /// The next `count` calls to the agent (`/agent/...`) answer `status`
    /// (a `V2Error` body) and `Retry-After: <value>` when given: `500` then
    /// a normal answer for a retry, `451` for a message compliance blocks.
    pub fn fail_agent_next(&self, count: usize, status: u16, retry_after: Option<&str>) {
        let fault = Fault::Fail {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            retry_after: retry_after.and_then(|value| HeaderValue::from_str(value).ok()),
        };
        lock(&self.shared.agent_faults).extend(std::iter::repeat_n(fault, count));
    }

    /// Every message the agent took, in arrival order.
    pub fn messages(&self) -> Vec<PostedMessage> {
        lock(&self.shared.rooms).messages.clone()
    }

    /// A new active room named `name`; bots may post into it.
    pub fn add_room(&self, name: &str) -> SeedRoom {
        let room = SeedRoom::named(name);
        lock(&self.shared.rooms).rooms.push(room.clone());
        room
    }

    /// Adds `room` as it is (a test may give it any stream id).
    pub fn add_seed_room(&self, room: SeedRoom) {
        lock(&self.shared.rooms).rooms.push(room);
    }

    /// A new valid key manager token.
    pub fn add_key_manager_token(&self) -> String {
        lock(&self.shared.rooms).issue_key_manager_token()
    }

    /// Every key manager token issued or configured so far answers 401 from now on.
    pub fn expire_key_manager_tokens(&self) {
        lock(&self.shared.rooms).expire_key_manager_tokens();
    }

    /// The agent URL a client is configured with: `{base}/agent`.
    pub fn agent_url(&self) -> String {
        format!("{}{AGENT_PREFIX}", self.base_url())
    }

    /// The key manager URL a client is configured with: `{base}/relay`.
    pub fn key_manager_url(&self) -> String {
        format!("{}/relay", self.base_url())
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

    /// Adds a user to the pod, or replaces the user with its id; a username
    /// another id holds is an error.
    pub fn add_user(&self, user: SeedUser) -> Result<(), String> {
        lock(&self.shared.store).add_user(user)
    }

    /// The user with this username.
    pub fn user(&self, username: &str) -> Option<SeedUser> {
        lock(&self.shared.store).user(username)
    }

    /// Every user, sorted by id.
    pub fn users(&self) -> Vec<SeedUser> {
        lock(&self.shared.store).users()
    }

    /// The usernames active in a group's list, sorted (none for an unknown group).
    pub fn roster(&self, group_id: &str, roster: Roster) -> Vec<String> {
        lock(&self.shared.store).active_usernames(group_id, roster)
    }

    /// The group's active members' usernames, sorted.
    pub fn members(&self, group_id: &str) -> Vec<String> {
        self.roster(group_id, Roster::Members)
    }

    /// The group's active assignees' usernames, sorted.
    pub fn assignees(&self, group_id: &str) -> Vec<String> {
        self.roster(group_id, Roster::Assignees)
    }

    /// Every record of a group's list, active or not, with its user, by user id.
    pub fn roster_records(&self, group_id: &str, roster: Roster) -> Vec<Membership> {
        lock(&self.shared.store).records(group_id, roster)
    }

    /// An admin's change in the portal: exactly these users are active in
    /// the group's list from now on, everyone else is removed (dated as the
    /// pod would; the group's counts follow, its `modifiedDate` does not
    /// move). An unknown group or username, or a non-officer assignee, is an
    /// error and changes nothing.
    pub fn set_roster<S: AsRef<str>>(
        &self,
        group_id: &str,
        roster: Roster,
        usernames: impl IntoIterator<Item = S>,
    ) -> Result<(), String> {
        let usernames: Vec<String> = usernames
            .into_iter()
            .map(|name| name.as_ref().to_owned())
            .collect();
        lock(&self.shared.store)
            .set_list(group_id, roster, &usernames)
            .map_err(|err| err.to_string())
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
