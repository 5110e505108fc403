//! The agent and the key manager: what a bot needs to post into a room
//! (`openapi/agent-messages.yaml`). [`AgentClient`] posts one message
//! (`POST {agent}/v4/stream/{sid}/message/create`, multipart, MessageML)
//! with both tokens, `sessionToken` and `keyManagerToken`, and finds a
//! room by its name (`POST {pod}/v3/room/search`).
//!
//! - The session is the pod client's own: a bot logs in once for both.
//! - The key manager token is given ([`KeyManagerToken`]: the environment
//!   or a file), or an RSA bot logs in to `{key manager}/pubkey/authenticate`
//!   with the same kind of JWT as the pod login, lazily, and again once
//!   when the agent answers 401.
//! - One call is one attempt (and its one re-login): the caller decides
//!   about retries, from [`AgentError::is_retryable`] and
//!   [`AgentError::retry_after`]. Answers are read bounded by the
//!   transport; no token, JWT or secret reaches an error or a log.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};
use tokio::sync::Mutex;

use super::answer::{Reply, status_error};
use super::auth::checked_token;
use super::client::PodClient;
use super::failure::public_url;
use super::request::{Call, Verb};
use super::session::login_answer_token;
use crate::config::files::{SMALL_FILE_CAP, read_regular_text};
use crate::config::notify::url_safe_stream_id;
use crate::error::{AuthError, PodError};
use crate::model::agent::{
    KEY_MANAGER_TOKEN_HEADER, MESSAGE_CREATE_TEMPLATE, ROOM_SEARCH_LIMIT, ROOM_SEARCH_PATH,
    RoomDetail, RoomSearchQuery, RoomSearchResults, V4Message, message_create_path,
};
use crate::model::{LoginRequest, PUBKEY_AUTHENTICATE_PATH, SESSION_TOKEN_HEADER};

/// The environment variable that carries a key manager token.
pub const KEY_MANAGER_TOKEN_ENV: &str = "GROUPSYNC_KEY_MANAGER_TOKEN";

/// The key manager login's path template, as the observer reports it.
pub const RELAY_LOGIN_TEMPLATE: &str = "/relay/pubkey/authenticate";

/// How many pages of room search a lookup by name reads at most.
const MAX_ROOM_PAGES: usize = 10;

/// A key manager token. `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyManagerToken(String);

impl KeyManagerToken {
    pub fn new(token: impl Into<String>) -> KeyManagerToken {
        KeyManagerToken(token.into())
    }

    /// The token itself, for the `keyManagerToken` header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The token in `env` (`GROUPSYNC_KEY_MANAGER_TOKEN`), else in `file`; `None` without either.
    pub fn from_sources(
        env: Option<String>,
        file: Option<&Path>,
    ) -> Result<Option<KeyManagerToken>, AuthError> {
        if let Some(token) = env {
            let origin = format!("the environment variable {KEY_MANAGER_TOKEN_ENV}");
            return Ok(Some(KeyManagerToken(
                checked_token(&token, origin)?.expose().to_string(),
            )));
        }
        let Some(path) = file else {
            return Ok(None);
        };
        let text =
            read_regular_text(path, SMALL_FILE_CAP).map_err(|error| AuthError::Unreadable {
                what: "the key manager token file",
                path: path.to_path_buf(),
                reason: error.to_string(),
            })?;
        let origin = format!("the key manager token file {}", path.display());
        Ok(Some(KeyManagerToken(
            checked_token(&text, origin)?.expose().to_string(),
        )))
    }
}

impl fmt::Debug for KeyManagerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for KeyManagerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Which service answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Agent,
    KeyManager,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::Agent => "agent",
            Service::KeyManager => "key manager",
        })
    }
}

/// Why a message was not posted, or a room not found.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The agent or the key manager answered an error status.
    #[error("POST {url}: the {service} answered {status}{}: {message}{}", code_text(*code), hint(*status))]
    Status {
        service: Service,
        url: String,
        status: u16,
        code: Option<i32>,
        message: String,
        retry_after: Option<Duration>,
    },
    /// 401 that logging in again cannot or did not mend.
    #[error("POST {url}: the {service} answered 401: {hint}")]
    Rejected {
        service: Service,
        url: String,
        hint: &'static str,
    },
    /// No key manager token: none given, and no bot to log in with.
    #[error(
        "a Symphony target needs a key manager token: set {KEY_MANAGER_TOKEN_ENV} or auth.key_manager_token_file, or log in as an RSA bot (auth.bot_username), which gets one by itself"
    )]
    NoKeyManagerToken,
    /// The answer was not what the contract promises.
    #[error("POST {url}: unexpected answer from the {service}: {reason}")]
    Decode {
        service: Service,
        url: String,
        reason: String,
    },
    /// Room search found no active room of exactly this name.
    #[error(
        "room search finds no active room named {name:?} that the bot can see: check notify[].room_name, and that the bot is a member"
    )]
    NoRoom { name: String },
    /// Room search found several active rooms of exactly this name.
    #[error("several active rooms are named {name:?} ({ids}): use stream_id instead")]
    SeveralRooms { name: String, ids: String },
    /// The pod (the session login, room search) or the connection failed.
    #[error("{0}")]
    Pod(#[from] PodError),
}

fn code_text(code: Option<i32>) -> String {
    code.map(|code| format!(" (code {code})"))
        .unwrap_or_default()
}

fn hint(status: u16) -> &'static str {
    match status {
        400 => "; the message or the stream id was refused",
        403 => "; the bot is not a member of the room, or lacks the right to post",
        451 => "; compliance blocked the message (not retried)",
        429 => "; throttled",
        500..=599 => "; the service failed to serve the request",
        _ => "",
    }
}

impl AgentError {
    /// True for 429, 5xx and failures to connect: trying again may help.
    pub fn is_retryable(&self) -> bool {
        match self {
            AgentError::Status { status, .. } => *status == 429 || *status >= 500,
            AgentError::Pod(error) => error.is_retryable(),
            _ => false,
        }
    }

    /// What the answer's `Retry-After` asked for.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AgentError::Status { retry_after, .. } => *retry_after,
            AgentError::Pod(error) => error.retry_after(),
            _ => None,
        }
    }

    /// The HTTP status, when one answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            AgentError::Status { status, .. } => Some(*status),
            AgentError::Rejected { .. } => Some(401),
            AgentError::Pod(error) => error.status(),
            _ => None,
        }
    }
}

/// Posts messages through the agent. Cheap to clone; clones share the pod
/// client's connections and session, and the key manager token.
#[derive(Clone)]
pub struct AgentClient {
    pod: PodClient,
    /// `{agent}`, without a trailing `/`.
    agent_url: String,
    /// `{key manager}/pubkey/authenticate`.
    relay_url: Url,
    key_manager: Arc<KeyManager>,
}

impl fmt::Debug for AgentClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentClient")
            .field("agent_url", &self.agent_url)
            .field("relay_url", &public_url(&self.relay_url))
            .finish_non_exhaustive()
    }
}

/// The key manager token: given, or issued by the relay login.
struct KeyManager {
    given: Option<KeyManagerToken>,
    issued: Mutex<(Option<KeyManagerToken>, u64)>,
}

impl AgentClient {
    /// The agent at `agent_url` and the key manager at `key_manager_url`,
    /// with `pod`'s session, transport and observer. Makes no request.
    pub fn new(
        pod: &PodClient,
        agent_url: &str,
        key_manager_url: &str,
        token: Option<KeyManagerToken>,
    ) -> Result<AgentClient, AgentError> {
        let setup = |what: &str, url: &str| {
            PodError::Setup(format!("the {what} URL {url:?} is not usable"))
        };
        let agent_url = agent_url.trim_end_matches('/').to_string();
        Url::parse(&agent_url).map_err(|_| setup("agent", &agent_url))?;
        let relay = format!(
            "{}{PUBKEY_AUTHENTICATE_PATH}",
            key_manager_url.trim_end_matches('/')
        );
        let relay_url = Url::parse(&relay).map_err(|_| setup("key manager", key_manager_url))?;
        if token.is_none() && !pod.session().can_log_in() {
            return Err(AgentError::NoKeyManagerToken);
        }
        if let Some(token) = &token {
            pod.transport().secrets().hold(token.expose());
        }
        Ok(AgentClient {
            pod: pod.clone(),
            agent_url,
            relay_url,
            key_manager: Arc::new(KeyManager {
                given: token,
                issued: Mutex::new((None, 0)),
            }),
        })
    }

    /// Posts `message` (MessageML) and `data` (EntityJSON, if any) into the
    /// stream `stream_id` (URL-safe base64): one attempt, and one more after
    /// a 401 when a bot can log in again.
    pub async fn post_message(
        &self,
        stream_id: &str,
        message: &str,
        data: Option<&str>,
    ) -> Result<V4Message, AgentError> {
        let shown = format!("{}{}", self.agent_url, message_create_path(stream_id));
        let url = Url::parse(&shown)
            .map_err(|_| PodError::Setup(format!("cannot post to the stream {stream_id:?}")))?;
        let (boundary, body) = multipart(message, data);
        let transport = self.pod.transport();
        let session = self.pod.session();
        let mut relogged = false;
        loop {
            let (token, generation) = session.current(transport).await?;
            let (key, key_generation) = self.key_manager_token().await?;
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
            let content_type = format!("multipart/form-data; boundary={boundary}");
            headers.insert(CONTENT_TYPE, header(&content_type)?);
            headers.insert(SESSION_TOKEN_HEADER, header(token.expose())?);
            headers.insert(KEY_MANAGER_TOKEN_HEADER, header(key.expose())?);
            let reply = transport
                .post_to(&url, &shown, MESSAGE_CREATE_TEMPLATE, headers, body.clone())
                .await?;
            if reply.status == StatusCode::UNAUTHORIZED {
                if relogged || !session.can_log_in() {
                    return Err(AgentError::Rejected {
                        service: Service::Agent,
                        url: shown,
                        hint: rejected_hint(relogged),
                    });
                }
                relogged = true;
                session.renew(transport, generation).await?;
                self.renew_key_manager_token(key_generation).await;
                continue;
            }
            return decoded(Service::Agent, &shown, reply);
        }
    }

    /// The stream id (URL-safe base64) of the one active room named exactly `name`.
    pub async fn find_room(&self, name: &str) -> Result<String, AgentError> {
        let mut found: Vec<RoomDetail> = Vec::new();
        for page in 0..MAX_ROOM_PAGES {
            let results = self
                .pod
                .search_rooms(name, page * ROOM_SEARCH_LIMIT)
                .await?;
            let last = results.rooms.len() < ROOM_SEARCH_LIMIT
                || results.count <= ((page + 1) * ROOM_SEARCH_LIMIT) as i64;
            found.extend(
                results.rooms.into_iter().filter(|room| {
                    room.room_system_info.active && room.room_attributes.name == name
                }),
            );
            if last {
                break;
            }
        }
        // Checked as a configured stream id is: the id goes into a URL path.
        let ids: Vec<String> = found
            .iter()
            .filter_map(|room| match url_safe_stream_id(&room.room_system_info.id) {
                Ok(id) => Some(id),
                Err(why) => {
                    tracing::warn!("room search: a room named {name:?} left out: {why}");
                    None
                }
            })
            .collect();
        match ids.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(AgentError::NoRoom {
                name: name.to_string(),
            }),
            several => Err(AgentError::SeveralRooms {
                name: name.to_string(),
                ids: several.join(", "),
            }),
        }
    }

    /// The key manager token and its generation: the given one, or one the
    /// relay login issues now (once, for every clone waiting on it).
    async fn key_manager_token(&self) -> Result<(KeyManagerToken, u64), AgentError> {
        if let Some(token) = &self.key_manager.given {
            return Ok((token.clone(), 0));
        }
        let mut issued = self.key_manager.issued.lock().await;
        if let Some(token) = &issued.0 {
            return Ok((token.clone(), issued.1));
        }
        let token = self.relay_login().await?;
        issued.1 += 1;
        issued.0 = Some(token.clone());
        Ok((token, issued.1))
    }

    /// Forgets the issued token of `generation`, unless another caller already did.
    async fn renew_key_manager_token(&self, generation: u64) {
        let mut issued = self.key_manager.issued.lock().await;
        if issued.1 == generation {
            issued.0 = None;
        }
    }

    /// `POST {key manager}/pubkey/authenticate` with a fresh JWT of the bot.
    async fn relay_login(&self) -> Result<KeyManagerToken, AgentError> {
        let transport = self.pod.transport();
        let jwt = self
            .pod
            .session()
            .bot_jwt(transport.secrets())
            .ok_or(AgentError::NoKeyManagerToken)??;
        let body = serde_json::to_vec(&LoginRequest { token: jwt })
            .expect("a login request serializes to JSON");
        let shown = public_url(&self.relay_url);
        let reply = transport
            .post_json(&self.relay_url, &shown, RELAY_LOGIN_TEMPLATE, body)
            .await?;
        if reply.status == StatusCode::UNAUTHORIZED {
            return Err(AgentError::Rejected {
                service: Service::KeyManager,
                url: shown,
                hint: "the key manager refused the bot's JWT: check pod.key_manager_url and that the bot's public key is imported",
            });
        }
        if !reply.status.is_success() {
            return Err(status_of(Service::KeyManager, &shown, reply));
        }
        let token = login_answer_token(
            &reply,
            ("keyManagerToken", "key manager token"),
            "pod.key_manager_url",
        )
        .map_err(|reason| AgentError::Decode {
            service: Service::KeyManager,
            url: shown,
            reason,
        })?;
        transport.secrets().issued(&token);
        Ok(KeyManagerToken::new(&token))
    }
}

impl PodClient {
    /// `POST /v3/room/search` `{"query": query}`: one page of rooms, from `skip`.
    pub async fn search_rooms(
        &self,
        query: &str,
        skip: usize,
    ) -> Result<RoomSearchResults, PodError> {
        let mut call = Call::new(Verb::Post, ROOM_SEARCH_PATH.to_string(), ROOM_SEARCH_PATH)
            .with_json(&RoomSearchQuery {
                query: query.to_string(),
                active: Some(true),
            });
        call.query = vec![
            ("skip", skip.to_string()),
            ("limit", ROOM_SEARCH_LIMIT.to_string()),
        ];
        // A search changes nothing: safe to repeat.
        call.idempotent = true;
        self.call_json(&call).await
    }
}

/// What to do about an agent that refused the tokens (`after_login`: even
/// ones just issued).
fn rejected_hint(after_login: bool) -> &'static str {
    if after_login {
        "the agent refused even freshly issued tokens; check that the bot account is active and pod.agent_url is right"
    } else {
        "the session token or the key manager token is invalid or expired; put fresh ones in place, or use bot authentication, which logs in again by itself"
    }
}

/// A header value, marked sensitive (it may hold a token).
fn header(value: &str) -> Result<HeaderValue, AgentError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| {
        PodError::Setup("a token holds characters not allowed in an HTTP header".to_string())
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// A 2xx answer as its message, or the error its status means.
fn decoded(service: Service, url: &str, reply: Reply) -> Result<V4Message, AgentError> {
    if !reply.status.is_success() {
        return Err(status_of(service, url, reply));
    }
    serde_json::from_slice(&reply.body).map_err(|_| AgentError::Decode {
        service,
        url: url.to_string(),
        reason: "not a V4Message".to_string(),
    })
}

/// The error an error answer means: its status, code and message (redacted, cut short).
fn status_of(service: Service, url: &str, reply: Reply) -> AgentError {
    match status_error(Verb::Post, url.to_string(), reply) {
        PodError::Status {
            status,
            code,
            message,
            retry_after,
            ..
        } => AgentError::Status {
            service,
            url: url.to_string(),
            status,
            code,
            message,
            retry_after,
        },
        other => AgentError::Pod(other),
    }
}

/// The `multipart/form-data` body of a message: its boundary, and the
/// `message` part (and the `data` part, if any). The boundary is one that
/// neither part holds.
pub fn multipart(message: &str, data: Option<&str>) -> (String, Vec<u8>) {
    let mut boundary = "groupsync-message-boundary".to_string();
    let mut round = 0;
    while message.contains(&boundary) || data.is_some_and(|data| data.contains(&boundary)) {
        round += 1;
        boundary = format!("groupsync-message-boundary-{round}");
    }
    let mut body = String::new();
    for (name, value, content_type) in [
        ("message", Some(message), "text/plain; charset=utf-8"),
        ("data", data, "application/json"),
    ] {
        let Some(value) = value else { continue };
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\nContent-Type: {content_type}\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (boundary, body.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_boundary_is_one_the_parts_do_not_hold() {
        let (boundary, body) = multipart("a --groupsync-message-boundary b", Some("{}"));
        assert_eq!(boundary, "groupsync-message-boundary-1");
        let body = String::from_utf8(body).unwrap();
        assert!(body.starts_with("--groupsync-message-boundary-1\r\n"));
        assert!(body.contains("name=\"data\""));
        assert!(body.ends_with("--groupsync-message-boundary-1--\r\n"));
    }

    #[test]
    fn tokens_never_show() {
        let token = KeyManagerToken::new("km-s3cr3t");
        assert!(!format!("{token} {token:?}").contains("s3cr3t"));
        let error = AgentError::Status {
            service: Service::Agent,
            url: "https://a/agent/v4/stream/x/message/create".into(),
            status: 451,
            code: Some(451),
            message: "blocked".into(),
            retry_after: None,
        };
        assert!(!error.is_retryable());
        assert!(error.to_string().contains("compliance blocked"), "{error}");
    }

    // -- Against the emulator's agent --------------------------------------

    use crate::emulator::{Emulator, EmulatorConfig, Entitlements, SeedRoom};
    use crate::pod::Timeouts;
    use crate::pod::auth::{AuthSource, SessionToken};
    use crate::pod::retry::RetryPolicy;

    const BOT_KEY: &[u8] = include_bytes!("../../tests/fixtures/bot-key.pem");
    const BOT_PUBLIC_KEY: &str = include_str!("../../tests/fixtures/bot-key.pub.pem");
    const MESSAGE: &str = "<messageML>hello</messageML>";

    /// An emulator with a room, a session token `t` and a key manager token `k`, and the bot `bot`.
    async fn agent_pod() -> (Emulator, SeedRoom) {
        let room = SeedRoom::named("Compliance EMEA");
        let config = EmulatorConfig {
            session_tokens: vec![("t".into(), Entitlements::ALL)],
            key_manager_tokens: vec!["k".into()],
            bots: vec![("bot".into(), BOT_PUBLIC_KEY.into())],
            rooms: vec![room.clone()],
            ..Default::default()
        };
        let pod = Emulator::start("127.0.0.1:0".parse().unwrap(), config)
            .await
            .unwrap();
        (pod, room)
    }

    fn agent(pod: &Emulator, auth: AuthSource, token: Option<&str>) -> AgentClient {
        let client = PodClient::new(
            &pod.pod_url(),
            auth,
            RetryPolicy::no_retries(),
            Timeouts::default(),
        )
        .unwrap();
        let token = token.map(KeyManagerToken::new);
        AgentClient::new(&client, &pod.agent_url(), &pod.key_manager_url(), token).unwrap()
    }

    #[tokio::test]
    async fn a_bot_logs_in_to_the_key_manager_and_again_after_a_401() {
        let (pod, room) = agent_pod().await;
        let auth = AuthSource::Bot {
            username: "bot".into(),
            key: jsonwebtoken::EncodingKey::from_rsa_pem(BOT_KEY).unwrap(),
            login_url: pod.login_url(),
        };
        let agent = agent(&pod, auth, None);
        let posted = agent
            .post_message(&room.url_safe_id(), MESSAGE, None)
            .await
            .unwrap();
        assert_eq!(posted.stream.stream_id, room.url_safe_id());
        assert_eq!(pod.count("POST", "/relay/pubkey/authenticate"), 1);

        pod.expire_key_manager_tokens();
        agent
            .post_message(&room.url_safe_id(), MESSAGE, None)
            .await
            .unwrap();
        assert_eq!(pod.count("POST", "/relay/pubkey/authenticate"), 2);
        assert_eq!(pod.messages().len(), 2);
        // The relay's JWT is never recorded.
        for request in pod.requests() {
            assert!(!request.raw_body.contains("eyJ"), "{request:?}");
        }
    }

    #[tokio::test]
    async fn the_agent_answers_as_the_spec_says() {
        let (pod, room) = agent_pod().await;
        let token = || AuthSource::Token(SessionToken::new("t"));
        let sid = room.url_safe_id();
        let status = |result: Result<V4Message, AgentError>| result.unwrap_err().status();

        let wrong_key = agent(&pod, token(), Some("wrong-key"));
        let error = wrong_key
            .post_message(&sid, MESSAGE, None)
            .await
            .unwrap_err();
        assert!(matches!(error, AgentError::Rejected { .. }), "{error:?}");
        assert!(
            !format!("{error} {error:?}").contains("wrong-key"),
            "{error}"
        );

        let agent = agent(&pod, token(), Some("k"));
        let malformed = agent
            .post_message(&sid, "<messageML>a & b</messageML>", None)
            .await;
        assert_eq!(status(malformed), Some(400));
        let freemarker = agent
            .post_message(&sid, "<messageML>${x}</messageML>", None)
            .await;
        assert_eq!(status(freemarker), Some(400));
        let bad_data = agent.post_message(&sid, MESSAGE, Some("[1]")).await;
        assert_eq!(status(bad_data), Some(400));
        // A stream that does not exist is a bad stream (symphony-api.md: 400).
        let unknown = agent.post_message("bm90LWEtcm9vbQ", MESSAGE, None).await;
        assert_eq!(status(unknown), Some(400));
        pod.fail_agent_next(1, 451, None);
        let blocked = agent.post_message(&sid, MESSAGE, None).await.unwrap_err();
        assert_eq!(blocked.status(), Some(451));
        assert!(!blocked.is_retryable());
        pod.fail_agent_next(1, 429, Some("7"));
        let throttled = agent.post_message(&sid, MESSAGE, None).await.unwrap_err();
        assert!(throttled.is_retryable());
        assert_eq!(throttled.retry_after(), Some(Duration::from_secs(7)));
        assert!(pod.messages().is_empty());

        agent.post_message(&sid, MESSAGE, Some("{}")).await.unwrap();
        assert_eq!(pod.messages()[0].data.as_deref(), Some("{}"));
    }

    #[tokio::test]
    async fn a_room_is_found_by_its_exact_name_in_its_url_form() {
        let (pod, room) = agent_pod().await;
        pod.add_room("Compliance EMEA archive");
        let agent = agent(&pod, AuthSource::Token(SessionToken::new("t")), Some("k"));
        assert_eq!(
            agent.find_room("Compliance EMEA").await.unwrap(),
            room.url_safe_id()
        );
        assert!(!room.url_safe_id().contains(['+', '/', '=']));
        let missing = agent.find_room("Compliance").await.unwrap_err();
        assert!(matches!(missing, AgentError::NoRoom { .. }), "{missing:?}");
        pod.add_room("Compliance EMEA");
        let twice = agent.find_room("Compliance EMEA").await.unwrap_err();
        assert!(
            matches!(twice, AgentError::SeveralRooms { .. }),
            "{twice:?}"
        );
    }

    #[tokio::test]
    async fn a_room_whose_id_would_leave_its_url_path_is_never_posted_to() {
        let (pod, _) = agent_pod().await;
        let agent = agent(&pod, AuthSource::Token(SessionToken::new("t")), Some("k"));
        let hostile = SeedRoom {
            stream_id: "../../../pod/v2/admin/usergroups?x=".to_string(),
            ..SeedRoom::named("Hostile")
        };
        pod.add_seed_room(hostile);
        let error = agent.find_room("Hostile").await.unwrap_err();
        assert!(matches!(error, AgentError::NoRoom { .. }), "{error:?}");
    }
}
