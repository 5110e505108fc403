//! The pod client: one method per endpoint of `docs/pod-api.md`, with
//! retries ([`crate::pod::retry`]) and the session handled for the caller.
//!
//! - A bot logs in lazily on the first call and keeps its session token until
//!   a call answers 401; then it logs in again **once** and repeats the call.
//!   Many tasks hitting the same 401 cause one login, not one each: a token
//!   carries a generation number and only the first task to report a stale
//!   generation renews it.
//! - 429 (honouring `Retry-After`), 5xx, connection errors and timeouts are
//!   retried; 400, 403, 404 and 422 never are. A `POST` that creates a group
//!   is only sent again when the pod surely did not act on it (connection
//!   refused, 429, 503): there is no DELETE to undo a duplicate.
//! - A DNS failure or a refused TLS certificate is final at once: the URL or
//!   the trust set-up is wrong. Every retry is a WARN line saying why, which
//!   attempt comes next and after what wait.
//! - Given a [`Shutdown`] ([`PodClient::set_shutdown`]), a stop ends every
//!   wait between attempts at once, starts no new request, and gives a request
//!   in flight at most [`STOP_GRACE_IN_FLIGHT`] more.
//! - Neither logs nor errors ever hold the `sessionToken` header or a JWT.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use backon::BackoffBuilder;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use tracing::{debug, trace, warn};

use crate::config::NetworkSettings;
use crate::error::{PodError, TransportKind};
use crate::model::{
    ActiveUpdate, ApiError, LoginRequest, Membership, Pagination, Roster, SESSION_TOKEN_HEADER,
    USERGROUPS_PATH, USERS_PATH, USERS_PER_LOOKUP, UserGroupCreate, UserGroupResponse,
    UserGroupUpdate, UserId, UserList, UserRecord, group_path,
};
use crate::pod::auth::{AuthSource, PUBKEY_AUTHENTICATE_PATH, SessionToken, bot_jwt};
use crate::pod::retry::{RetryPolicy, parse_retry_after};
use crate::shutdown::Shutdown;

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("groupsync/", env!("CARGO_PKG_VERSION"));

/// Records asked for per page when listing.
pub const LIST_PAGE_SIZE: u32 = 100;

/// The most groupsync reads of one successful answer (a group, a page, a
/// login): a longer one fails its request, unretried. Read as it streams in,
/// so that a pod sending without end cannot exhaust memory.
pub const MAX_ANSWER_BYTES: usize = 4 << 20;

/// The most groupsync reads of an error answer (its message is all it
/// needs); the rest is left unread, and the status still decides retries.
pub const MAX_ERROR_ANSWER_BYTES: usize = 64 << 10;

/// The most pages one list walk follows before it fails.
pub const MAX_LIST_PAGES: usize = 10_000;

/// The most one list walk may hold: its answers' bytes plus the records
/// decoded from them (a record counted at its in-memory size, so that a page
/// of `{}`s counts too). Past it the walk fails.
pub const MAX_LIST_BYTES: usize = 64 << 20;

/// Path templates, as [`RequestOutcome::path`] reports them (bounded metric labels).
pub const GROUP_PATH_TEMPLATE: &str = "/v2/admin/usergroups/{groupId}";
pub const LOGIN_PATH_TEMPLATE: &str = "/login/pubkey/authenticate";
pub const MEMBERSHIPS_PATH_TEMPLATE: &str = "/v2/admin/usergroups/{groupId}/memberships";
pub const MEMBERSHIP_PATH_TEMPLATE: &str = "/v2/admin/usergroups/{groupId}/memberships/{userId}";
pub const ASSIGNMENTS_PATH_TEMPLATE: &str = "/v2/admin/usergroups/{groupId}/assignments";
pub const ASSIGNMENT_PATH_TEMPLATE: &str = "/v2/admin/usergroups/{groupId}/assignments/{userId}";

const JSON: &str = "application/json";

/// Once a stop is requested, how much longer a request in flight may take
/// before it is dropped (and fails with [`PodError::Stopped`]).
pub const STOP_GRACE_IN_FLIGHT: Duration = Duration::from_secs(10);

/// How long to wait for the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To establish a connection (TCP and TLS).
    pub connect: Duration,
    /// For a whole request: connect, send, and read the full answer.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(30),
        }
    }
}

/// The list's optional filters; a group must match every one given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub name: Option<String>,
    pub area: Option<String>,
    pub active: Option<bool>,
}

/// What [`PodClient::create_once`] ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// The pod answered the POST with the new group.
    New(UserGroupResponse),
    /// The POST's answer was lost, and the name's lookup found the group it made.
    FoundAfterFailure(UserGroupResponse),
}

impl Created {
    /// The group, however it was learnt.
    pub fn group(&self) -> &UserGroupResponse {
        match self {
            Created::New(group) | Created::FoundAfterFailure(group) => group,
        }
    }
}

/// One HTTP attempt, as reported to the observer (see [`PodClient::set_observer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOutcome {
    pub method: &'static str,
    /// The path template, e.g. `/v2/admin/usergroups/{groupId}`, never a concrete id.
    pub path: &'static str,
    /// The HTTP status, or `None` when no answer came (connection error, timeout).
    pub status: Option<u16>,
    pub duration: Duration,
}

impl RequestOutcome {
    /// The status as a metric label: `"200"`, `"429"`, or `"error"` when no answer came.
    pub fn code(&self) -> String {
        self.status
            .map_or_else(|| "error".to_string(), |status| status.to_string())
    }
}

/// Called once per HTTP attempt.
pub type Observer = Arc<dyn Fn(&RequestOutcome) + Send + Sync>;

/// A client for one pod. Cheap to clone; clones share the HTTP connections and the session.
#[derive(Clone)]
pub struct PodClient {
    shared: Arc<Shared>,
    observer: Option<Observer>,
    shutdown: Option<Shutdown>,
}

struct Shared {
    http: reqwest::Client,
    /// The pod URL without a trailing `/`, e.g. `https://acme.symphony.com/pod`.
    base_url: String,
    bot: Option<BotLogin>,
    session: Mutex<Session>,
    policy: RetryPolicy,
}

/// What a bot needs to log in.
struct BotLogin {
    username: String,
    key: jsonwebtoken::EncodingKey,
    /// `{login_url}/pubkey/authenticate`.
    authenticate_url: Url,
}

/// The current session token, and how many times it was issued.
struct Session {
    token: Option<SessionToken>,
    generation: u64,
    /// When the pod last refused the bot login (401), if within [`LOGIN_REJECTED_PAUSE`].
    login_rejected_at: Option<Instant>,
}

/// After the pod refuses the bot login, no call logs in again for this long:
/// each fails at once with the same error. Without it, every call waiting for
/// the session (and every later PUT of the same apply) would send its own
/// doomed login. The daemon's next cycle after the pause tries once more.
const LOGIN_REJECTED_PAUSE: Duration = Duration::from_secs(60);

impl fmt::Debug for PodClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PodClient")
            .field("base_url", &self.shared.base_url)
            .field("bot", &self.shared.bot.as_ref().map(|bot| &bot.username))
            .field("policy", &self.shared.policy)
            .finish_non_exhaustive()
    }
}

/// One HTTP verb the client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Get,
    Put,
    Post,
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Put => "PUT",
            Verb::Post => "POST",
        }
    }

    fn method(self) -> Method {
        match self {
            Verb::Get => Method::GET,
            Verb::Put => Method::PUT,
            Verb::Post => Method::POST,
        }
    }
}

/// One pod request, as sent again on every attempt.
#[derive(Clone)]
struct Call {
    verb: Verb,
    /// The concrete path under the pod URL, ids percent-encoded.
    path: String,
    template: &'static str,
    query: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    /// False for a request that must not be repeated when it may have been acted on.
    idempotent: bool,
}

impl Call {
    fn new(verb: Verb, path: String, template: &'static str) -> Call {
        Call {
            verb,
            path,
            template,
            query: Vec::new(),
            body: None,
            idempotent: verb != Verb::Post,
        }
    }

    fn with_json(mut self, body: &impl Serialize) -> Call {
        // The model types serialize infallibly (plain strings and booleans).
        self.body = Some(serde_json::to_vec(body).expect("model types serialize to JSON"));
        self
    }

    fn decode_error(&self, reason: impl Into<String>) -> PodError {
        PodError::Decode {
            method: self.verb.as_str(),
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn over_limit(&self, what: String) -> PodError {
        PodError::OverLimit {
            method: self.verb.as_str(),
            path: self.path.clone(),
            what,
        }
    }
}

/// What one call remembers across its attempts.
#[derive(Default)]
struct CallState {
    /// The one re-login a call may make after a 401 has been made.
    relogin_used: AtomicBool,
    /// The current attempt failed while logging in, before the pod saw the
    /// request: safe to repeat even when the request is not idempotent.
    login_failed: AtomicBool,
}

/// An HTTP answer, its body read up to [`MAX_ANSWER_BYTES`] (a success) or
/// [`MAX_ERROR_ANSWER_BYTES`] (an error, cut there).
struct Reply {
    status: StatusCode,
    retry_after: Option<Duration>,
    /// The `Content-Type` header, if readable.
    content_type: Option<String>,
    /// A redirect's target, resolved and without credentials, query or fragment.
    location: Option<String>,
    body: Vec<u8>,
}

/// Why no [`Reply`] could be read.
enum ReadFailure {
    /// No answer, or the connection broke while reading it.
    Http(reqwest::Error),
    /// A success answer longer than [`MAX_ANSWER_BYTES`].
    TooLarge { status: StatusCode },
}

impl PodClient {
    /// A client for the pod at `pod_url` (e.g. `https://acme.symphony.com/pod`),
    /// trusting the system's CAs and taking proxies from the environment.
    /// Makes no request: a bot logs in on the first call.
    pub fn new(
        pod_url: &str,
        auth: AuthSource,
        policy: RetryPolicy,
        timeouts: Timeouts,
    ) -> Result<PodClient, PodError> {
        PodClient::with_network(pod_url, auth, policy, timeouts, &NetworkSettings::default())
    }

    /// [`PodClient::new`], with `network`'s extra CA certificates (read now)
    /// and proxy. Warns when a session token would cross the network
    /// unencrypted (plain `http://` to a host that is not loopback).
    pub fn with_network(
        pod_url: &str,
        auth: AuthSource,
        policy: RetryPolicy,
        timeouts: Timeouts,
        network: &NetworkSettings,
    ) -> Result<PodClient, PodError> {
        let base_url = checked_base_url(pod_url)?;
        let http = http_client(timeouts, network)?;
        let (bot, token) = match auth {
            AuthSource::Token(token) => (None, Some(token)),
            AuthSource::Bot {
                username,
                key,
                login_url,
            } => {
                let authenticate_url = authenticate_url(&login_url)?;
                let bot = BotLogin {
                    username,
                    key,
                    authenticate_url,
                };
                (Some(bot), None)
            }
        };
        warn_if_unencrypted(&base_url, bot.as_ref().map(|bot| &bot.authenticate_url));
        let shared = Shared {
            http,
            base_url,
            bot,
            session: Mutex::new(Session {
                token,
                generation: 0,
                login_rejected_at: None,
            }),
            policy,
        };
        Ok(PodClient {
            shared: Arc::new(shared),
            observer: None,
            shutdown: None,
        })
    }

    /// Calls `observer` once per HTTP attempt (login included). Clones made
    /// after this call share the observer; clones made before do not.
    pub fn set_observer(&mut self, observer: Arc<dyn Fn(&RequestOutcome) + Send + Sync>) {
        self.observer = Some(observer);
    }

    /// Makes the client stoppable by `shutdown`: once a stop is requested,
    /// waits between attempts end at once, no new request is sent, and a
    /// request in flight gets at most [`STOP_GRACE_IN_FLIGHT`] more; each
    /// ends with [`PodError::Stopped`]. Clones made after this call share it.
    pub fn set_shutdown(&mut self, shutdown: Shutdown) {
        self.shutdown = Some(shutdown);
    }

    /// The pod URL requests go under, without a trailing `/`.
    pub fn pod_url(&self) -> &str {
        &self.shared.base_url
    }

    /// `PUT /v2/admin/usergroups/{groupId}`: changes the fields `body` carries.
    pub async fn update(
        &self,
        group_id: &str,
        body: &UserGroupUpdate,
    ) -> Result<UserGroupResponse, PodError> {
        let call = Call::new(
            Verb::Put,
            checked_group_path(group_id)?,
            GROUP_PATH_TEMPLATE,
        )
        .with_json(body);
        self.call_json(&call).await
    }

    /// `GET /v2/admin/usergroups/{groupId}`.
    pub async fn get(&self, group_id: &str) -> Result<UserGroupResponse, PodError> {
        let call = Call::new(
            Verb::Get,
            checked_group_path(group_id)?,
            GROUP_PATH_TEMPLATE,
        );
        self.call_json(&call).await
    }

    /// `GET /v2/admin/usergroups?type=...`, every page: follows
    /// `pagination.cursors.after` while `pagination.next` is present.
    pub async fn list(&self, group_type: &str) -> Result<Vec<UserGroupResponse>, PodError> {
        self.list_matching(group_type, &ListFilter::default()).await
    }

    /// The groups of `group_type` named exactly `name` (the list's `name`
    /// filter; every page, since the pod filters each page after taking it).
    pub async fn list_named(
        &self,
        group_type: &str,
        name: &str,
    ) -> Result<Vec<UserGroupResponse>, PodError> {
        let filter = ListFilter {
            name: Some(name.to_string()),
            ..ListFilter::default()
        };
        self.list_matching(group_type, &filter).await
    }

    /// The list with `filter`'s query parameters, every page.
    pub async fn list_matching(
        &self,
        group_type: &str,
        filter: &ListFilter,
    ) -> Result<Vec<UserGroupResponse>, PodError> {
        self.walk_pages(list_call(group_type, filter)).await
    }

    /// `GET /v2/admin/usergroups/{groupId}/memberships?active=true&expand=user`
    /// (or `/assignments`), every page: the group's active members (or assignees).
    pub async fn roster(
        &self,
        group_id: &str,
        roster: Roster,
    ) -> Result<Vec<Membership>, PodError> {
        let path = format!("{}/{}", checked_group_path(group_id)?, roster.segment());
        let template = match roster {
            Roster::Members => MEMBERSHIPS_PATH_TEMPLATE,
            Roster::Assignees => ASSIGNMENTS_PATH_TEMPLATE,
        };
        let mut first_page = Call::new(Verb::Get, path, template);
        first_page.query.push(("active", "true".to_string()));
        first_page.query.push(("expand", "user".to_string()));
        self.walk_pages(first_page).await
    }

    /// `PUT /v2/admin/usergroups/{groupId}/memberships/{userId}` (or
    /// `/assignments/{userId}`) with `{"active": active}`: adds or removes
    /// one user. The answer's shape differs between the two (a membership's
    /// user spells `userName`) and nothing in it is needed beyond its status.
    pub async fn set_roster_user(
        &self,
        group_id: &str,
        roster: Roster,
        user_id: UserId,
        active: bool,
    ) -> Result<(), PodError> {
        let path = format!(
            "{}/{}/{user_id}",
            checked_group_path(group_id)?,
            roster.segment()
        );
        let template = match roster {
            Roster::Members => MEMBERSHIP_PATH_TEMPLATE,
            Roster::Assignees => ASSIGNMENT_PATH_TEMPLATE,
        };
        let body = ActiveUpdate {
            active: Some(active),
        };
        let call = Call::new(Verb::Put, path, template).with_json(&body);
        let _answer: serde_json::Value = self.call_json(&call).await?;
        Ok(())
    }

    /// `GET /v3/users?username=a,b&local=true`: the users of those names the
    /// pod knows (an unknown name is simply absent), at most
    /// [`USERS_PER_LOOKUP`] names a call.
    pub async fn users_by_name(&self, usernames: &[String]) -> Result<Vec<UserRecord>, PodError> {
        let mut users = Vec::with_capacity(usernames.len());
        for chunk in usernames.chunks(USERS_PER_LOOKUP) {
            let mut call = Call::new(Verb::Get, USERS_PATH.to_string(), USERS_PATH);
            call.query.push(("username", chunk.join(",")));
            call.query.push(("local", "true".to_string()));
            let answer: UserList = self.call_json(&call).await?;
            users.extend(answer.users);
        }
        Ok(users)
    }

    /// Every record of a paged list: `first_page` with `limit`, then again
    /// with `after` = `pagination.cursors.after` while `pagination.next` is
    /// present. The one walker of every list, so that each keeps the same
    /// bounds: it fails at a cursor it already followed, after
    /// [`MAX_LIST_PAGES`] pages, and past [`MAX_LIST_BYTES`].
    async fn walk_pages<T: DeserializeOwned>(&self, first_page: Call) -> Result<Vec<T>, PodError> {
        let mut records = Vec::new();
        let mut held_bytes = 0usize;
        let mut seen_cursors = HashSet::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            pages += 1;
            let call = page_call(&first_page, after.as_deref());
            let reply = self.call_with_retries(&call).await?;
            let page: Page<T> = decode_answer(&call, &reply)?;
            held_bytes += reply.body.len() + page.data.len() * std::mem::size_of::<T>();
            if held_bytes > MAX_LIST_BYTES {
                return Err(call.over_limit(format!(
                    "the list's {pages} pages so far add up to more than {}, the most groupsync holds of one list",
                    shown_size(MAX_LIST_BYTES)
                )));
            }
            records.extend(page.data);
            let Some(cursor) = next_cursor(page.pagination.as_ref())
                .map_err(|reason| call.decode_error(reason))?
            else {
                return Ok(records);
            };
            if pages >= MAX_LIST_PAGES {
                return Err(call.over_limit(format!(
                    "the list still says `next` after {MAX_LIST_PAGES} pages, the most groupsync follows; the pod's paging looks broken"
                )));
            }
            // A cursor seen before would page forever.
            if !seen_cursors.insert(cursor.clone()) {
                return Err(call.decode_error(format!(
                    "the pod returned the cursor {} a second time; stopping rather than paging forever",
                    shown_cursor(&cursor)
                )));
            }
            after = Some(cursor);
        }
    }

    /// `POST /v2/admin/usergroups`: creates a group.
    pub async fn create(&self, body: &UserGroupCreate) -> Result<UserGroupResponse, PodError> {
        let call =
            Call::new(Verb::Post, USERGROUPS_PATH.to_string(), USERGROUPS_PATH).with_json(body);
        self.call_json(&call).await
    }

    /// Creates a group without ever making two: POST is not idempotent and
    /// there is no DELETE. After a failure that leaves it unclear whether the
    /// pod acted (a timeout, a dropped connection, a 5xx), the name is looked
    /// up first; a group found is the one the POST made. Only when none is
    /// found is the POST sent again, within the retry policy's attempts.
    pub async fn create_once(&self, body: &UserGroupCreate) -> Result<Created, PodError> {
        let policy = self.shared.policy;
        let mut waits = policy.backoff().build();
        loop {
            let error = match self.create(body).await {
                Ok(group) => return Ok(Created::New(group)),
                Err(error) if error.may_have_been_processed() && !self.stopping() => error,
                Err(error) => return Err(error),
            };
            warn!(
                "{error}; the pod may have created {:?} all the same: looking it up by name before anything else",
                body.name
            );
            let mut found = match self.list_named(&body.group_type, &body.name).await {
                Ok(found) => found,
                Err(lookup) => {
                    warn!("cannot look {:?} up: {lookup}", body.name);
                    return Err(error);
                }
            };
            match found.len() {
                0 => {}
                1 => return Ok(Created::FoundAfterFailure(found.remove(0))),
                _ => {
                    return Err(PodError::CreateUnclear {
                        name: body.name.clone(),
                        ids: found.into_iter().filter_map(|group| group.id).collect(),
                        cause: Box::new(error),
                    });
                }
            }
            let Some(backoff) = waits.next() else {
                return Err(error);
            };
            let wait = policy.wait(backoff, error.retry_after());
            warn!(
                "the pod has no group named {:?}: creating it again in {}",
                body.name,
                shown_wait(wait)
            );
            self.pause(wait).await;
        }
    }

    /// Runs `call` with retries and decodes the answer.
    async fn call_json<T: DeserializeOwned>(&self, call: &Call) -> Result<T, PodError> {
        let reply = self.call_with_retries(call).await?;
        decode_answer(call, &reply)
    }

    /// Runs `call` until it succeeds, fails for good, or the policy's attempts are spent.
    async fn call_with_retries(&self, call: &Call) -> Result<Reply, PodError> {
        let policy = self.shared.policy;
        let state = CallState::default();
        let mut waits = policy.backoff().build();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            state.login_failed.store(false, Ordering::SeqCst);
            let error = match self.attempt(call, &state).await {
                Ok(reply) => return Ok(reply),
                Err(error) => error,
            };
            let worth_retrying = worth_retrying(call, &state, &error);
            let Some(backoff) = waits.next().filter(|_| worth_retrying) else {
                // With a single attempt allowed there was no retry to exhaust.
                return Err(if worth_retrying && attempt > 1 {
                    PodError::RetriesExhausted {
                        attempts: attempt,
                        last: Box::new(error),
                    }
                } else {
                    error
                });
            };
            let wait = policy.wait(backoff, error.retry_after());
            warn!(
                "{error}; retrying in {} (attempt {} of {})",
                shown_wait(wait),
                attempt + 1,
                policy.max_attempts
            );
            // A stop ends the wait early; the next attempt then refuses to send.
            self.pause(wait).await;
        }
    }

    /// Sleeps for `wait`, or until a stop is requested.
    async fn pause(&self, wait: Duration) {
        match &self.shutdown {
            Some(shutdown) => {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = stop_requested(shutdown) => {}
                }
            }
            None => tokio::time::sleep(wait).await,
        }
    }

    fn stopping(&self) -> bool {
        self.shutdown.as_ref().is_some_and(Shutdown::is_requested)
    }

    /// One attempt: send with the current session; on a 401, log in again
    /// (once per call, and only for a bot) and send once more.
    async fn attempt(&self, call: &Call, state: &CallState) -> Result<Reply, PodError> {
        let login_failed = |_: &PodError| state.login_failed.store(true, Ordering::SeqCst);
        let (token, generation) = self.current_session().await.inspect_err(login_failed)?;
        let reply = self.send(call, &token).await?;
        if reply.status != StatusCode::UNAUTHORIZED {
            return successful(call, reply);
        }
        if self.shared.bot.is_none() {
            return Err(session_rejected(call, false));
        }
        if state.relogin_used.swap(true, Ordering::SeqCst) {
            return Err(session_rejected(call, true));
        }
        debug!(method = call.verb.as_str(), path = %call.path, "session refused (401); logging in again");
        let token = self
            .renew_session(generation)
            .await
            .inspect_err(login_failed)?;
        let reply = self.send(call, &token).await?;
        if reply.status == StatusCode::UNAUTHORIZED {
            return Err(session_rejected(call, true));
        }
        successful(call, reply)
    }

    /// The session token to use and its generation; a bot without one logs in
    /// now. The lock is held during the login so that concurrent callers wait
    /// for it instead of logging in too.
    async fn current_session(&self) -> Result<(SessionToken, u64), PodError> {
        let mut session = self.shared.session.lock().await;
        if let Some(token) = &session.token {
            return Ok((token.clone(), session.generation));
        }
        let Some(bot) = &self.shared.bot else {
            unreachable!("a static session token is set at construction and never dropped");
        };
        if let Some(rejected_at) = session.login_rejected_at
            && rejected_at.elapsed() < LOGIN_REJECTED_PAUSE
        {
            return Err(PodError::LoginRejected {
                username: bot.username.clone(),
                login_url: public_url(&bot.authenticate_url),
            });
        }
        let token = match self.login(bot).await {
            Err(error @ PodError::LoginRejected { .. }) => {
                session.login_rejected_at = Some(Instant::now());
                return Err(error);
            }
            result => result?,
        };
        session.login_rejected_at = None;
        session.generation += 1;
        session.token = Some(token.clone());
        Ok((token, session.generation))
    }

    /// Drops the session of `stale_generation` (unless another caller already
    /// replaced it) and returns a current one.
    async fn renew_session(&self, stale_generation: u64) -> Result<SessionToken, PodError> {
        {
            let mut session = self.shared.session.lock().await;
            if session.generation == stale_generation {
                session.token = None;
            }
        }
        Ok(self.current_session().await?.0)
    }

    /// `POST {login_url}/pubkey/authenticate` with a fresh JWT. One attempt:
    /// the caller's retry loop repeats it on 5xx, 429 or no answer.
    async fn login(&self, bot: &BotLogin) -> Result<SessionToken, PodError> {
        let jwt = bot_jwt(&bot.username, &bot.key, SystemTime::now())?;
        let body = serde_json::to_vec(&LoginRequest { token: jwt.clone() })
            .expect("a login request serializes to JSON");
        let url = &bot.authenticate_url;
        let request = self
            .shared
            .http
            .post(url.clone())
            .header(ACCEPT, JSON)
            .header(CONTENT_TYPE, JSON)
            .body(body);
        let (verb, shown_url) = (Verb::Post, public_url(url));
        // Neither the request (a JWT) nor the answer (a token) is ever traced.
        let reply = self
            .exchange(request, verb, &shown_url, LOGIN_PATH_TEMPLATE, url)
            .await?;
        match reply.status {
            status if status.is_success() => login_token(&reply, &shown_url),
            StatusCode::UNAUTHORIZED => Err(PodError::LoginRejected {
                username: bot.username.clone(),
                login_url: shown_url,
            }),
            _ => Err(without_secret(status_error(verb, shown_url, reply), &jwt)),
        }
    }

    /// Sends one pod request with `token` and reads the answer.
    async fn send(&self, call: &Call, token: &SessionToken) -> Result<Reply, PodError> {
        let url = self.url_for(call)?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(JSON));
        headers.insert(SESSION_TOKEN_HEADER, session_header(token)?);
        let mut request = self.shared.http.request(call.verb.method(), url.clone());
        if let Some(body) = &call.body {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
            trace!(method = call.verb.as_str(), path = %call.path, body = %String::from_utf8_lossy(body), "pod request body");
            request = request.body(body.clone());
        }
        let reply = self
            .exchange(
                request.headers(headers),
                call.verb,
                &call.path,
                call.template,
                &url,
            )
            .await?;
        trace!(method = call.verb.as_str(), path = %call.path, body = %String::from_utf8_lossy(&reply.body), "pod answer body");
        Ok(reply)
    }

    /// Sends `request`, reads the whole answer, logs it and tells the observer.
    /// Sends nothing once a stop is requested; a stop during the exchange
    /// leaves it [`STOP_GRACE_IN_FLIGHT`] to finish.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        verb: Verb,
        shown_path: &str,
        template: &'static str,
        url: &Url,
    ) -> Result<Reply, PodError> {
        let stopped = |cut_off_after| PodError::Stopped {
            method: verb.as_str(),
            path: shown_path.to_string(),
            cut_off_after,
        };
        if self.stopping() {
            return Err(stopped(None));
        }
        let started = Instant::now();
        let result = within_stop_grace(
            read_reply(request),
            self.shutdown.as_ref(),
            STOP_GRACE_IN_FLIGHT,
        )
        .await;
        let duration = started.elapsed();
        let status = match &result {
            Some(Ok(Reply { status, .. }) | Err(ReadFailure::TooLarge { status })) => {
                Some(status.as_u16())
            }
            _ => None,
        };
        debug!(
            method = verb.as_str(),
            path = %shown_path,
            status = status.map_or_else(|| "error".to_string(), |status| status.to_string()),
            duration_ms = duration.as_millis() as u64,
            "pod request"
        );
        if let Some(observer) = &self.observer {
            observer(&RequestOutcome {
                method: verb.as_str(),
                path: template,
                status,
                duration,
            });
        }
        match result {
            Some(Ok(reply)) => Ok(reply),
            Some(Err(ReadFailure::Http(error))) => Err(transport_error(verb, url, &error)),
            Some(Err(ReadFailure::TooLarge { status })) => Err(PodError::OverLimit {
                method: verb.as_str(),
                path: shown_path.to_string(),
                what: format!(
                    "the answer ({status}) is larger than {}, the most groupsync reads of one answer",
                    shown_size(MAX_ANSWER_BYTES)
                ),
            }),
            None => Err(stopped(Some(STOP_GRACE_IN_FLIGHT))),
        }
    }

    fn url_for(&self, call: &Call) -> Result<Url, PodError> {
        let mut url =
            Url::parse(&format!("{}{}", self.shared.base_url, call.path)).map_err(|error| {
                PodError::Setup(format!("cannot build a URL for {}: {error}", call.path))
            })?;
        if !call.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(call.query.iter().map(|(key, value)| (*key, value.as_str())));
        }
        Ok(url)
    }
}

/// The HTTP client: no redirects followed, `network`'s CA file added to the
/// system's roots, `network`'s proxy (else the environment's).
fn http_client(timeouts: Timeouts, network: &NetworkSettings) -> Result<reqwest::Client, PodError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.request)
        // A redirect would carry the sessionToken header wherever it points.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &network.ca_file {
        builder = builder.tls_certs_merge(read_ca_file(path)?);
    }
    if let Some(proxy) = &network.proxy {
        // reqwest's error could show the URL, password included: not passed on.
        let proxy = reqwest::Proxy::all(proxy.expose())
            .map_err(|_| PodError::Setup(format!("proxy.url: cannot use the proxy {proxy}")))?
            .no_proxy(reqwest::NoProxy::from_env());
        builder = builder.proxy(proxy);
    }
    builder.build().map_err(|error| {
        let what = match &network.ca_file {
            Some(path) => format!(
                "cannot build the HTTP client with the CA file {} ({CA_FILE_SETTING})",
                path.display()
            ),
            None => "cannot build the HTTP client".to_string(),
        };
        PodError::Setup(format!("{what}: {}", error_chain(&error)))
    })
}

/// Where a CA file can be set, for messages.
const CA_FILE_SETTING: &str = "pod.ca_file / --ca-file / GROUPSYNC_CA_FILE";

/// The certificates of the PEM bundle at `path`; an error names the file
/// and never quotes it.
fn read_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, PodError> {
    let failed = |reason: String| {
        PodError::Setup(format!(
            "the CA file {} ({CA_FILE_SETTING}) {reason}",
            path.display()
        ))
    };
    let pem = std::fs::read(path).map_err(|error| failed(format!("cannot be read: {error}")))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|_| failed("is not a valid PEM bundle".to_string()))?;
    if certificates.is_empty() {
        return Err(failed(
            "holds no certificate: expected PEM blocks `-----BEGIN CERTIFICATE-----`".to_string(),
        ));
    }
    Ok(certificates)
}

/// Warns, once per client, when a session token (or the login that buys one)
/// would cross the network unencrypted: plain `http://` to a host that is not
/// loopback.
fn warn_if_unencrypted(base_url: &str, login_url: Option<&Url>) {
    let pod = Url::parse(base_url).ok();
    let plain: Vec<String> = pod
        .iter()
        .chain(login_url)
        .filter(|url| url.scheme() == "http" && !is_loopback(url))
        .map(public_url)
        .collect();
    if !plain.is_empty() {
        warn!(
            "{} plain http:// to a host that is not loopback: session tokens would cross the network unencrypted; use https://",
            plain.join(" and ") + if plain.len() == 1 { " is" } else { " are" }
        );
    }
}

/// True for a URL whose host is this machine: `localhost` or a loopback address.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(address) => address.is_loopback(),
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

/// True when `error` deserves another attempt of `call`: it is retryable, and
/// repeating the call cannot do twice what the pod may already have done.
fn worth_retrying(call: &Call, state: &CallState, error: &PodError) -> bool {
    error.is_retryable()
        && (call.idempotent
            || state.login_failed.load(Ordering::SeqCst)
            || error.surely_not_processed())
}

/// Completes once a stop is requested; never when the trigger is gone
/// without firing (nobody can stop us then).
async fn stop_requested(shutdown: &Shutdown) {
    let mut shutdown = shutdown.clone();
    shutdown.requested().await;
    if !shutdown.is_requested() {
        std::future::pending::<()>().await;
    }
}

/// `work`'s output, or `None` when a stop was requested and `work` did not
/// finish within `grace` of it (it is then dropped).
async fn within_stop_grace<T>(
    work: impl Future<Output = T>,
    shutdown: Option<&Shutdown>,
    grace: Duration,
) -> Option<T> {
    let Some(shutdown) = shutdown else {
        return Some(work.await);
    };
    let cut_off = async {
        stop_requested(shutdown).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        biased;
        output = work => Some(output),
        () = cut_off => None,
    }
}

/// A wait as people read it: `250ms`, `1.5s`, `300s`.
fn shown_wait(wait: Duration) -> String {
    if wait < Duration::from_secs(1) {
        format!("{}ms", wait.as_millis())
    } else if wait < Duration::from_secs(10) {
        format!("{:.1}s", wait.as_secs_f64())
    } else {
        format!("{}s", wait.as_secs())
    }
}

/// The request for the group list's first page, without `limit`.
fn list_call(group_type: &str, filter: &ListFilter) -> Call {
    let mut call = Call::new(Verb::Get, USERGROUPS_PATH.to_string(), USERGROUPS_PATH);
    call.query.push(("type", group_type.to_string()));
    if let Some(name) = &filter.name {
        call.query.push(("name", name.clone()));
    }
    if let Some(area) = &filter.area {
        call.query.push(("area", area.clone()));
    }
    if let Some(active) = filter.active {
        call.query.push(("active", active.to_string()));
    }
    call
}

/// One page of a paged list: `{data, pagination}`.
#[derive(serde::Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
    #[serde(default)]
    pagination: Option<Pagination>,
}

/// `first_page` with `limit` and, past the first page, `after`.
fn page_call(first_page: &Call, after: Option<&str>) -> Call {
    let mut call = first_page.clone();
    call.query.push(("limit", LIST_PAGE_SIZE.to_string()));
    if let Some(after) = after {
        call.query.push(("after", after.to_string()));
    }
    call
}

/// A cursor as an error shows it: quoted, and cut short if long.
fn shown_cursor(cursor: &str) -> String {
    const MAX_CHARS: usize = 64;
    match cursor.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{:?}…", &cursor[..cut]),
        None => format!("{cursor:?}"),
    }
}

/// A byte count as a limit is written: `4 MiB`, `64 KiB`.
fn shown_size(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

/// The cursor of the next page, `None` on the last page.
fn next_cursor(pagination: Option<&Pagination>) -> Result<Option<String>, &'static str> {
    let Some(pagination) = pagination.filter(|pagination| pagination.next.is_some()) else {
        return Ok(None);
    };
    match pagination.cursors.after.as_deref() {
        Some(after) if !after.is_empty() => Ok(Some(after.to_string())),
        _ => Err("pagination.next is present but pagination.cursors.after is missing"),
    }
}

/// Sends `request` and reads the answer, its body as it streams in and no
/// further than its cap ([`body_cap`]).
async fn read_reply(request: reqwest::RequestBuilder) -> Result<Reply, ReadFailure> {
    let mut response = request.send().await.map_err(ReadFailure::Http)?;
    let status = response.status();
    let headers = response.headers();
    let retry_after = header_text(headers, RETRY_AFTER)
        .and_then(|value| parse_retry_after(&value, SystemTime::now()));
    let content_type = header_text(headers, CONTENT_TYPE);
    let location = status
        .is_redirection()
        .then(|| redirect_target(response.url(), header_text(headers, LOCATION)));
    let cap = body_cap(status);
    let too_large = || ReadFailure::TooLarge { status };
    if status.is_success()
        && response
            .content_length()
            .is_some_and(|length| length > cap as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadFailure::Http)? {
        let room = cap - body.len();
        if chunk.len() > room {
            if status.is_success() {
                return Err(too_large());
            }
            // An error answer's start says enough; the rest is never read.
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Reply {
        status,
        retry_after,
        content_type,
        location,
        body,
    })
}

/// How much of an answer with `status` is read.
fn body_cap(status: StatusCode) -> usize {
    if status.is_success() {
        MAX_ANSWER_BYTES
    } else {
        MAX_ERROR_ANSWER_BYTES
    }
}

fn header_text(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
}

/// Where a redirect points, as an error may show it: resolved against the
/// request's URL, without credentials, query or fragment.
fn redirect_target(request_url: &Url, location: Option<String>) -> String {
    match location.map(|location| request_url.join(&location)) {
        Some(Ok(target)) => public_url(&target),
        Some(Err(_)) => "an address that is not a URL".to_string(),
        None => "nowhere (no Location header)".to_string(),
    }
}

/// A 2xx answer as it is, or the error its status means.
fn successful(call: &Call, reply: Reply) -> Result<Reply, PodError> {
    if reply.status.is_success() {
        Ok(reply)
    } else {
        Err(status_error(call.verb, call.path.clone(), reply))
    }
}

/// A success answer's body as `T`: the one place pod answers are decoded.
/// An HTML page (a login portal, a proxy's notice) is named as such, and
/// the decoder's message is cut short: it may quote the answer.
fn decode_answer<T: DeserializeOwned>(call: &Call, reply: &Reply) -> Result<T, PodError> {
    if is_html(reply) {
        return Err(call.decode_error(HTML_INSTEAD_OF_JSON));
    }
    serde_json::from_slice(&reply.body)
        .map_err(|error| call.decode_error(shortened(&error.to_string(), MAX_REASON_CHARS)))
}

/// What a 200 with an HTML page means, most often.
const HTML_INSTEAD_OF_JSON: &str =
    "the pod answered with an HTML page, not JSON: is the pod URL right?";

/// The longest decoder message, or pod error message, an error shows.
const MAX_REASON_CHARS: usize = 500;

/// True for an answer that is an HTML page: so its `Content-Type` says, or
/// its body starts with `<` (no JSON does).
fn is_html(reply: &Reply) -> bool {
    let declared = reply.content_type.as_deref().is_some_and(|content_type| {
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        media_type.eq_ignore_ascii_case("text/html")
            || media_type.eq_ignore_ascii_case("application/xhtml+xml")
    });
    let first = reply.body.iter().find(|byte| !byte.is_ascii_whitespace());
    declared || first == Some(&b'<')
}

/// `text`, cut after `max_chars` characters with `…`.
fn shortened(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

fn status_error(verb: Verb, path: String, reply: Reply) -> PodError {
    if let Some(target) = &reply.location {
        return PodError::Status {
            method: verb.as_str(),
            path,
            status: reply.status.as_u16(),
            code: None,
            message: format!("it redirects to {target}"),
            retry_after: reply.retry_after,
        };
    }
    let api_error: ApiError = serde_json::from_slice(&reply.body).unwrap_or_default();
    let message = api_error
        .message
        .filter(|message| !message.trim().is_empty())
        .map(|message| shortened(&message, MAX_REASON_CHARS))
        .unwrap_or_else(|| body_excerpt(&reply.body, reply.status));
    PodError::Status {
        method: verb.as_str(),
        path,
        status: reply.status.as_u16(),
        code: api_error.code,
        message,
        retry_after: reply.retry_after,
    }
}

/// The start of a non-JSON error body (a proxy's HTML page, say), on one line;
/// the status's reason phrase when the body is empty.
fn body_excerpt(body: &[u8], status: StatusCode) -> String {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(body);
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        return status
            .canonical_reason()
            .unwrap_or("no message")
            .to_string();
    }
    shortened(&one_line, MAX_CHARS)
}

fn session_rejected(call: &Call, after_login: bool) -> PodError {
    PodError::SessionRejected {
        method: call.verb.as_str(),
        path: call.path.clone(),
        after_login,
    }
}

/// The session token of a login answer. No error quotes the answer, any
/// part of it, or the decoder's message (which may quote it): whatever the
/// login URL answers may be a token.
fn login_token(reply: &Reply, shown_url: &str) -> Result<SessionToken, PodError> {
    let decode_error = |reason: &str| PodError::Decode {
        method: Verb::Post.as_str(),
        path: shown_url.to_string(),
        reason: reason.to_string(),
    };
    if is_html(reply) {
        return Err(decode_error(
            "the login answered with an HTML page, not JSON: is auth.login_url right?",
        ));
    }
    let answer: serde_json::Value = serde_json::from_slice(&reply.body)
        .map_err(|_| decode_error("the login answer is not JSON"))?;
    let token = match &answer {
        serde_json::Value::Object(fields) => fields.get("token"),
        _ => {
            return Err(decode_error(&format!(
                "the login answer is {}, not the expected object {{\"name\": \"sessionToken\", \"token\": ...}}",
                json_kind(&answer)
            )));
        }
    };
    let token = token
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
        .filter(|token| !token.is_empty() && token.bytes().all(|byte| byte.is_ascii_graphic()))
        .ok_or_else(|| decode_error("the login answer holds no usable session token"))?;
    Ok(SessionToken::new(token))
}

/// What kind of JSON value `value` is, with an article: `a string`, `an array`.
fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// `error` with every copy of `secret` (a login JWT, or its signature alone)
/// blanked: a login endpoint may echo the request in its error message.
fn without_secret(error: PodError, secret: &str) -> PodError {
    let PodError::Status {
        method,
        path,
        status,
        code,
        message,
        retry_after,
    } = error
    else {
        return error;
    };
    let mut message = message.replace(secret, "<redacted>");
    if let Some(signature) = secret.rsplit('.').next().filter(|part| !part.is_empty()) {
        message = message.replace(signature, "<redacted>");
    }
    PodError::Status {
        method,
        path,
        status,
        code,
        message,
        retry_after,
    }
}

/// The `sessionToken` header, marked sensitive so that no debug output of the headers shows it.
fn session_header(token: &SessionToken) -> Result<HeaderValue, PodError> {
    let mut value = HeaderValue::from_str(token.expose()).map_err(|_| {
        PodError::Setup(
            "the session token holds characters not allowed in an HTTP header".to_string(),
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

fn transport_error(verb: Verb, url: &Url, error: &reqwest::Error) -> PodError {
    let kind = if error.is_timeout() {
        TransportKind::Timeout
    } else if error.is_connect() {
        connect_failure_kind(error)
    } else {
        TransportKind::Other
    };
    let what = match kind {
        TransportKind::Timeout => "no answer in time",
        TransportKind::Connect => "cannot connect",
        TransportKind::Dns => "the host name does not resolve",
        TransportKind::Tls => "the server's TLS certificate was refused",
        TransportKind::Other => "the connection failed",
    };
    PodError::Transport {
        method: verb.as_str(),
        url: public_url(url),
        kind,
        reason: format!("{what}: {}", error_chain(error)),
    }
}

/// What kind of connect failure `error` is, from the messages of its chain:
/// neither hyper-util's DNS error nor rustls' error type can be downcast to
/// here (they are not dependencies of ours), so stable fragments of their
/// messages tell. The DNS ones come from hyper-util (`dns error`) and
/// getaddrinfo; the certificate one is rustls' `Error::InvalidCertificate`.
fn connect_failure_kind(error: &(dyn std::error::Error + 'static)) -> TransportKind {
    const DNS: &[&str] = &[
        "dns error",
        "error resolving DNS",
        "failed to lookup address information",
    ];
    const CERTIFICATE: &[&str] = &["invalid peer certificate"];
    let mut current = Some(error);
    while let Some(cause) = current {
        let text = cause.to_string();
        if DNS.iter().any(|fragment| text.contains(fragment)) {
            return TransportKind::Dns;
        }
        if CERTIFICATE.iter().any(|fragment| text.contains(fragment)) {
            return TransportKind::Tls;
        }
        current = cause.source();
    }
    TransportKind::Connect
}

/// An error and its sources, `: `-joined, with reqwest's URL left out (it
/// may carry a query); hyper's and the OS's messages hold no headers.
fn error_chain(error: &reqwest::Error) -> String {
    crate::error::with_causes(
        error_text_without_url(error),
        std::error::Error::source(error),
    )
}

fn error_text_without_url(error: &reqwest::Error) -> String {
    let text = error.to_string();
    // reqwest appends " for url (...)" when it knows the URL.
    match text.find(" for url (") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

/// Scheme, host, port and path of `url`: no credentials, query or fragment.
fn public_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// The pod URL, checked, without a trailing `/`.
fn checked_base_url(pod_url: &str) -> Result<String, PodError> {
    let invalid =
        |reason: &str| PodError::Setup(format!("the pod URL {pod_url:?} is not usable: {reason}"));
    let url = Url::parse(pod_url).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("it must start with https:// (or http://)"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not have a query or a fragment"));
    }
    Ok(pod_url.trim_end_matches('/').to_string())
}

/// `{login_url}/pubkey/authenticate`, checked.
fn authenticate_url(login_url: &str) -> Result<Url, PodError> {
    let joined = format!(
        "{}{PUBKEY_AUTHENTICATE_PATH}",
        login_url.trim_end_matches('/')
    );
    Url::parse(&joined).map_err(|error| {
        PodError::Setup(format!(
            "the login URL {login_url:?} is not usable: {error}"
        ))
    })
}

/// The path of one group; refuses ids that a URL parser would resolve away
/// (`.`, `..`) or that would name the collection (empty).
fn checked_group_path(group_id: &str) -> Result<String, PodError> {
    if matches!(group_id, "" | "." | "..") {
        return Err(PodError::BadGroupId {
            id: group_id.to_string(),
        });
    }
    Ok(group_path(group_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Cursors;

    fn status(status: u16, path: &str) -> PodError {
        PodError::Status {
            method: "PUT",
            path: path.to_string(),
            status,
            code: Some(status as i32),
            message: "pod says no".to_string(),
            retry_after: None,
        }
    }

    #[test]
    fn only_throttling_server_errors_and_no_answer_are_retryable() {
        for code in [429, 500, 502, 503, 504] {
            assert!(status(code, "/x").is_retryable(), "{code}");
        }
        for code in [400, 401, 403, 404, 409, 422] {
            assert!(!status(code, "/x").is_retryable(), "{code}");
        }
        let transport = PodError::Transport {
            method: "GET",
            url: "https://p/pod/x".into(),
            kind: TransportKind::Timeout,
            reason: "no answer in time".into(),
        };
        assert!(transport.is_retryable());
        assert!(!transport.surely_not_processed());
    }

    #[test]
    fn hints_say_what_to_do() {
        let path = group_path("abc");
        assert!(
            status(403, &path)
                .to_string()
                .contains("MANAGE_ROLE_SCOPES")
        );
        assert!(status(403, &path).to_string().contains("VIEW_ROLE_SCOPES"));
        assert!(
            status(404, &path)
                .to_string()
                .contains("no such group on the pod: check the id")
        );
        assert!(
            status(404, USERGROUPS_PATH)
                .to_string()
                .contains("check the pod URL")
        );
        let message = status(422, &path).to_string();
        assert_eq!(
            message,
            "PUT /v2/admin/usergroups/abc: the pod answered 422 (code 422): pod says no"
        );
    }

    #[test]
    fn status_and_kind_reach_through_exhausted_retries() {
        let error = PodError::RetriesExhausted {
            attempts: 3,
            last: Box::new(status(503, "/x")),
        };
        assert_eq!(error.status(), Some(503));
        assert!(!error.is_retryable());
        assert_eq!(error.kind(), "retries_exhausted");
        assert!(
            error
                .to_string()
                .starts_with("gave up after 3 attempts: PUT /x: the pod answered 503")
        );
    }

    #[test]
    fn session_errors_say_401_and_what_to_do() {
        let call = Call::new(Verb::Get, group_path("g"), GROUP_PATH_TEMPLATE);
        let static_token = session_rejected(&call, false);
        assert_eq!(static_token.status(), Some(401));
        assert!(
            static_token.to_string().contains("invalid or expired"),
            "{static_token}"
        );
        assert!(
            session_rejected(&call, true)
                .to_string()
                .contains("freshly issued")
        );
    }

    #[test]
    fn no_error_shows_a_session_token() {
        // Transport errors are built from reqwest errors whose URL is stripped;
        // the token is never part of a URL, a path or a message.
        let token = SessionToken::new("TOPSECRET-token");
        let header = session_header(&token).unwrap();
        assert!(!format!("{header:?}").contains("TOPSECRET"));
        let errors = [
            status(500, "/x"),
            PodError::LoginRejected {
                username: "bot".into(),
                login_url: "https://p/login/pubkey/authenticate".into(),
            },
        ];
        for error in errors {
            assert!(!format!("{error} {error:?}").contains("TOPSECRET"));
        }
    }

    #[test]
    fn public_url_drops_query_and_credentials() {
        let url = Url::parse(
            "https://user:pw@acme.symphony.com/pod/v2/admin/usergroups?type=ROLE_SCOPE&after=c#x",
        )
        .unwrap();
        assert_eq!(
            public_url(&url),
            "https://acme.symphony.com/pod/v2/admin/usergroups"
        );
    }

    #[test]
    fn cursor_follows_next_and_after() {
        let page = |after: Option<&str>, next: Option<&str>| Pagination {
            cursors: Cursors {
                before: "b".into(),
                after: after.map(str::to_string),
            },
            previous: None,
            next: next.map(str::to_string),
        };
        assert_eq!(next_cursor(None), Ok(None));
        assert_eq!(next_cursor(Some(&page(Some("c2"), None))), Ok(None));
        assert_eq!(
            next_cursor(Some(&page(Some("c2"), Some("n")))),
            Ok(Some("c2".to_string()))
        );
        assert!(next_cursor(Some(&page(None, Some("n")))).is_err());
        assert!(next_cursor(Some(&page(Some(""), Some("n")))).is_err());
    }

    #[test]
    fn ids_that_a_url_would_resolve_away_are_refused() {
        for id in ["", ".", ".."] {
            assert!(
                matches!(checked_group_path(id), Err(PodError::BadGroupId { .. })),
                "{id:?}"
            );
        }
        assert_eq!(
            checked_group_path("a b/c").unwrap(),
            "/v2/admin/usergroups/a%20b%2Fc"
        );
    }

    fn reply(content_type: Option<&str>, body: &str) -> Reply {
        Reply {
            status: StatusCode::OK,
            retry_after: None,
            content_type: content_type.map(str::to_string),
            location: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn html_is_told_by_its_content_type_or_its_first_character() {
        assert!(is_html(&reply(Some("text/html; charset=utf-8"), "{}")));
        assert!(is_html(&reply(Some("TEXT/HTML"), "")));
        assert!(is_html(&reply(None, "\n  <!DOCTYPE html><p>")));
        assert!(is_html(&reply(Some("application/json"), "<html>")));
        assert!(!is_html(&reply(
            Some("application/json"),
            "{\"id\": \"g\"}"
        )));
        assert!(!is_html(&reply(None, "")));
    }

    #[test]
    fn decoder_messages_are_cut_short() {
        let call = Call::new(Verb::Get, group_path("g"), GROUP_PATH_TEMPLATE);
        let long_name = "n".repeat(10_000);
        let body = format!("{{\"id\": \"g\", \"name\": {{\"{long_name}\": 1}}}}");
        let error = decode_answer::<UserGroupResponse>(&call, &reply(None, &body)).unwrap_err();
        assert!(error.to_string().chars().count() < 700, "{error}");
    }

    #[test]
    fn a_redirect_target_is_resolved_and_stripped() {
        let request = Url::parse("https://acme.symphony.com/pod/v2/admin/usergroups/g1").unwrap();
        let target = |location: &str| redirect_target(&request, Some(location.to_string()));
        assert_eq!(
            target("https://u:p@sso.acme.com/login?token=t#f"),
            "https://sso.acme.com/login"
        );
        assert_eq!(target("/other?x=1"), "https://acme.symphony.com/other");
        assert_eq!(
            redirect_target(&request, None),
            "nowhere (no Location header)"
        );
        assert_eq!(target("http://[::1"), "an address that is not a URL");
    }

    #[test]
    fn a_login_error_never_shows_the_jwt_or_its_signature() {
        let jwt = "eyJhbGciOiJSUzUxMiJ9.eyJzdWIiOiJib3QifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
        for message in [
            format!("bad token {jwt}"),
            "bad signature c2lnbmF0dXJlLXNpZ25hdHVyZQ".to_string(),
        ] {
            let error = PodError::Status {
                method: "POST",
                path: "https://p/login/pubkey/authenticate".to_string(),
                status: 400,
                code: None,
                message,
                retry_after: None,
            };
            let shown = without_secret(error, jwt).to_string();
            assert!(!shown.contains("c2lnbmF0dXJl"), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
    }

    #[test]
    fn a_login_answer_is_never_quoted() {
        let url = "https://p/login/pubkey/authenticate";
        for (body, expected) in [
            (r#""s3cr3t""#, "the login answer is a string"),
            (r#"["s3cr3t"]"#, "the login answer is an array"),
            (r#"{"token": ["s3cr3t"]}"#, "holds no usable session token"),
            (r#"{"token": "s3 cr3t"}"#, "holds no usable session token"),
            ("s3cr3t", "the login answer is not JSON"),
            ("<p>s3cr3t</p>", "HTML page"),
        ] {
            let error = login_token(&reply(None, body), url).unwrap_err();
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains("s3cr3t"), "{body}: {shown}");
            assert!(shown.contains(expected), "{body}: {shown}");
        }
        let token = login_token(
            &reply(None, r#"{"name": "sessionToken", "token": " t1 "}"#),
            url,
        );
        assert_eq!(token.unwrap().expose(), "t1");
    }

    #[test]
    fn loopback_hosts_are_this_machine() {
        for url in [
            "http://127.0.0.1:8080/pod",
            "http://127.8.9.10/pod",
            "http://[::1]:80/pod",
            "http://localhost/pod",
            "http://LOCALHOST./pod",
            "http://pod.localhost/pod",
        ] {
            assert!(is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
        for url in [
            "http://10.0.0.1/pod",
            "http://acme.symphony.com/pod",
            "http://localhost.acme.com/pod",
        ] {
            assert!(!is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
    }

    #[test]
    fn sizes_read_as_limits_are_written() {
        assert_eq!(shown_size(MAX_ANSWER_BYTES), "4 MiB");
        assert_eq!(shown_size(MAX_ERROR_ANSWER_BYTES), "64 KiB");
        assert_eq!(shown_size(MAX_LIST_BYTES), "64 MiB");
    }

    #[test]
    fn a_long_cursor_is_cut_in_messages() {
        let shown = shown_cursor(&"c".repeat(1000));
        assert!(shown.chars().count() < 80, "{shown}");
        assert_eq!(shown_cursor("same"), "\"same\"");
    }

    #[test]
    fn error_excerpt_is_one_short_line() {
        let html = format!("<html>\n  <body>{}</body></html>", "x".repeat(500));
        let excerpt = body_excerpt(html.as_bytes(), StatusCode::BAD_GATEWAY);
        assert!(!excerpt.contains('\n'));
        assert!(excerpt.chars().count() <= 201);
        assert_eq!(body_excerpt(b"", StatusCode::BAD_GATEWAY), "Bad Gateway");
    }

    // -- DNS and TLS failures are final -------------------------------------

    /// One link of a constructed error chain, standing in for the crates'
    /// own error types (which are not reachable from here).
    #[derive(Debug)]
    struct Link {
        text: &'static str,
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    }

    impl fmt::Display for Link {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.text)
        }
    }

    impl std::error::Error for Link {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.source.as_deref().map(|source| source as _)
        }
    }

    fn link(text: &'static str, source: impl std::error::Error + Send + Sync + 'static) -> Link {
        Link {
            text,
            source: Some(Box::new(source)),
        }
    }

    fn leaf(text: &'static str) -> Link {
        Link { text, source: None }
    }

    #[test]
    fn a_refused_certificate_is_told_apart_by_rustls_message() {
        // As reqwest 0.13 reports a self-signed certificate (seen against
        // `openssl s_server`): hyper-util's error over an io::Error wrapping
        // an io::Error wrapping rustls' `InvalidCertificate`.
        let rustls = leaf("invalid peer certificate: UnknownIssuer");
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls);
        let outer = std::io::Error::other(inner);
        let chain = link(
            "error sending request",
            link("client error (Connect)", outer),
        );
        assert_eq!(connect_failure_kind(&chain), TransportKind::Tls);
    }

    #[test]
    fn a_name_that_does_not_resolve_is_told_apart_by_its_message() {
        let getaddrinfo = std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        );
        let chain = link(
            "client error (Connect)",
            link("dns error", link("error resolving DNS", getaddrinfo)),
        );
        assert_eq!(connect_failure_kind(&chain), TransportKind::Dns);
        // Without hyper-util's wrapping, getaddrinfo's own words suffice.
        let bare = std::io::Error::other(
            "failed to lookup address information: Temporary failure in name resolution",
        );
        assert_eq!(connect_failure_kind(&bare), TransportKind::Dns);
    }

    #[test]
    fn a_refused_connection_stays_a_retried_connect_failure() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let chain = link("client error (Connect)", link("tcp connect error", refused));
        assert_eq!(connect_failure_kind(&chain), TransportKind::Connect);
    }

    fn transport(kind: TransportKind, url: &str) -> PodError {
        PodError::Transport {
            method: "GET",
            url: url.into(),
            kind,
            reason: "why".into(),
        }
    }

    #[test]
    fn dns_and_tls_failures_are_final_with_a_hint() {
        let pod = "https://acme.symphony.com/pod/v2/admin/usergroups/g1";
        for kind in [TransportKind::Dns, TransportKind::Tls] {
            let error = transport(kind, pod);
            assert!(!error.is_retryable(), "{kind:?}");
            assert!(
                error
                    .to_string()
                    .contains("check pod.url / GROUPSYNC_POD_URL"),
                "{error}"
            );
        }
        assert!(
            transport(TransportKind::Tls, pod)
                .to_string()
                .contains("issued by a CA this host trusts")
        );
        let login = transport(
            TransportKind::Dns,
            "https://acme.symphony.com/login/pubkey/authenticate",
        );
        assert!(
            login.to_string().contains("check auth.login_url"),
            "{login}"
        );
        for kind in [TransportKind::Connect, TransportKind::Timeout] {
            let error = transport(kind, pod);
            assert!(error.is_retryable(), "{kind:?}");
            assert_eq!(error.to_string(), format!("GET {pod}: why"));
        }
    }

    fn token_client(pod_url: &str, max_attempts: u32) -> PodClient {
        let policy = RetryPolicy {
            max_attempts,
            initial_interval: Duration::from_millis(1),
            multiplier: 1.0,
            max_interval: Duration::from_millis(1),
        };
        let auth = AuthSource::Token(SessionToken::new("unit-test-token"));
        PodClient::new(pod_url, auth, policy, Timeouts::default()).unwrap()
    }

    #[tokio::test]
    async fn a_host_under_dot_invalid_fails_at_once_with_the_hint() {
        // RFC 6761: `.invalid` never resolves; only the local resolver is asked.
        let client = token_client("http://groupsync-test.invalid/pod", 6);

        let error = client.get("g1").await.unwrap_err();

        assert!(
            matches!(
                error,
                PodError::Transport {
                    kind: TransportKind::Dns,
                    ..
                }
            ),
            "not a final DNS error: {error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains("groupsync-test.invalid")
                && message.contains("does not resolve")
                && message.contains("check pod.url / GROUPSYNC_POD_URL"),
            "{message}"
        );
    }

    // -- Stopping ---------------------------------------------------------------

    use crate::emulator::{Emulator, EmulatorConfig, Entitlements};
    use crate::shutdown;

    async fn emulator() -> Emulator {
        let config = EmulatorConfig {
            session_tokens: vec![("unit-test-token".into(), Entitlements::ALL)],
            groups: vec![UserGroupResponse {
                id: Some("g1".into()),
                name: Some("G".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        Emulator::start("127.0.0.1:0".parse().unwrap(), config)
            .await
            .unwrap()
    }

    /// How long a test waits for what should take milliseconds (a guard against hanging).
    const PATIENCE: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn a_stop_ends_a_retry_after_wait_at_once() {
        let pod = emulator().await;
        pod.fail_next(1, 429, Some("600"));
        let (trigger, stop) = shutdown::channel();
        let mut client = token_client(&pod.pod_url(), 6);
        client.set_shutdown(stop);

        let call = tokio::spawn(async move { client.get("g1").await });
        while pod.requests().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        trigger.trigger();
        let error = tokio::time::timeout(PATIENCE, call)
            .await
            .expect("the Retry-After wait (300 s) was not cut short")
            .unwrap()
            .unwrap_err();

        assert!(
            matches!(
                error,
                PodError::Stopped {
                    cut_off_after: None,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("stopped before the request was sent"),
            "{error}"
        );
        assert_eq!(pod.requests().len(), 1, "a request was sent after the stop");
    }

    #[tokio::test]
    async fn after_a_stop_no_request_is_sent() {
        let pod = emulator().await;
        let (trigger, stop) = shutdown::channel();
        let mut client = token_client(&pod.pod_url(), 6);
        client.set_shutdown(stop);
        trigger.trigger();

        let error = client.get("g1").await.unwrap_err();

        assert_eq!(error.kind(), "stopped", "{error:?}");
        assert!(!error.is_retryable());
        assert!(pod.requests().is_empty());
    }

    #[tokio::test]
    async fn work_in_flight_gets_the_grace_after_a_stop_then_is_dropped() {
        let (trigger, stop) = shutdown::channel();
        trigger.trigger();

        let never_done = std::future::pending::<()>();
        let outcome = tokio::time::timeout(
            PATIENCE,
            within_stop_grace(never_done, Some(&stop), Duration::from_millis(20)),
        )
        .await
        .expect("the work was not cut off after the grace");
        assert_eq!(outcome, None);

        // Work that finishes within the grace keeps its output.
        let quick = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            7
        };
        let outcome = within_stop_grace(quick, Some(&stop), PATIENCE).await;
        assert_eq!(outcome, Some(7));
    }

    #[tokio::test]
    async fn without_a_stop_work_in_flight_is_never_cut_off() {
        let (trigger, stop) = shutdown::channel();
        let never_stopped = Shutdown::never();
        let cut_off = |shutdown| {
            tokio::time::timeout(
                Duration::from_millis(100),
                within_stop_grace(std::future::pending::<()>(), shutdown, Duration::ZERO),
            )
        };
        assert!(cut_off(Some(&never_stopped)).await.is_err());
        assert!(cut_off(None).await.is_err());
        // A trigger dropped without firing is no stop either.
        drop(trigger);
        assert!(cut_off(Some(&stop)).await.is_err());
    }

    #[test]
    fn waits_read_as_people_write_them() {
        assert_eq!(shown_wait(Duration::from_millis(250)), "250ms");
        assert_eq!(shown_wait(Duration::from_millis(1500)), "1.5s");
        assert_eq!(shown_wait(Duration::from_secs(300)), "300s");
    }

    #[test]
    fn base_url_is_checked() {
        assert_eq!(
            checked_base_url("https://acme.symphony.com/pod/").unwrap(),
            "https://acme.symphony.com/pod"
        );
        assert!(checked_base_url("acme.symphony.com/pod").is_err());
        assert!(checked_base_url("ftp://acme/pod").is_err());
        assert!(checked_base_url("https://acme/pod?x=1").is_err());
    }
}
