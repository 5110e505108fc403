//! The session a client's calls share (`Session`): the token in use and its
//! generation, a bot's login (`POST {login_url}/pubkey/authenticate` with a
//! fresh JWT), one renewal per stale generation, and a pause after the pod
//! refuses the bot.

use std::time::{Duration, Instant, SystemTime};

use reqwest::{StatusCode, Url};
use tokio::sync::Mutex;

use super::answer::{Reply, is_html, status_error};
use super::auth::{AuthSource, PUBKEY_AUTHENTICATE_PATH, SessionToken, bot_jwt};
use super::failure::public_url;
use super::request::{Call, Verb};
use super::secrets::Secrets;
use super::transport::Transport;
use crate::error::PodError;
use crate::model::LoginRequest;

/// The login's path template, as [`super::transport::RequestOutcome::path`] reports it.
pub const LOGIN_PATH_TEMPLATE: &str = "/login/pubkey/authenticate";

/// After the pod refuses the bot login, no call logs in again for this long:
/// each fails at once with the same error. Without it, every call waiting for
/// the session (and every later PUT of the same apply) would send its own
/// doomed login. The daemon's next cycle after the pause tries once more.
const LOGIN_REJECTED_PAUSE: Duration = Duration::from_secs(60);

/// A client's session, shared by its clones: a static token, or a bot that
/// logs in when it has none.
pub(super) struct Session {
    bot: Option<BotLogin>,
    state: Mutex<SessionState>,
}

/// What a bot needs to log in.
struct BotLogin {
    username: String,
    key: jsonwebtoken::EncodingKey,
    /// `{login_url}/pubkey/authenticate`.
    authenticate_url: Url,
}

/// The current session token, and how many times it was issued.
struct SessionState {
    token: Option<SessionToken>,
    generation: u64,
    /// When the pod last refused the bot login (401), if within [`LOGIN_REJECTED_PAUSE`].
    login_rejected_at: Option<Instant>,
}

impl Session {
    /// The session `auth` gives: its token now (held in `secrets`), or a
    /// bot that logs in on the first call. Checks the login URL; makes no request.
    pub(super) fn new(auth: AuthSource, secrets: &Secrets) -> Result<Session, PodError> {
        let (bot, token) = match auth {
            AuthSource::Token(token) => {
                secrets.hold(token.expose());
                (None, Some(token))
            }
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
        Ok(Session {
            bot,
            state: Mutex::new(SessionState {
                token,
                generation: 0,
                login_rejected_at: None,
            }),
        })
    }

    /// The bot's username; `None` for a static token.
    pub(super) fn bot_username(&self) -> Option<&String> {
        self.bot.as_ref().map(|bot| &bot.username)
    }

    /// Where the bot logs in; `None` for a static token.
    pub(super) fn login_url(&self) -> Option<&Url> {
        self.bot.as_ref().map(|bot| &bot.authenticate_url)
    }

    /// A fresh login JWT of the bot (held among `secrets`), for the key
    /// manager's login; `None` for a static token.
    pub(super) fn bot_jwt(&self, secrets: &Secrets) -> Option<Result<String, PodError>> {
        let bot = self.bot.as_ref()?;
        Some(
            bot_jwt(&bot.username, &bot.key, SystemTime::now())
                .inspect(|jwt| issue_jwt(secrets, jwt))
                .map_err(PodError::from),
        )
    }

    /// True when a refused session can be renewed by logging in (a bot).
    pub(super) fn can_log_in(&self) -> bool {
        self.bot.is_some()
    }

    /// The session token to use and its generation; a bot without one logs in
    /// now, over `transport`. The lock is held during the login so that
    /// concurrent callers wait for it instead of logging in too.
    pub(super) async fn current(
        &self,
        transport: &Transport,
    ) -> Result<(SessionToken, u64), PodError> {
        let mut session = self.state.lock().await;
        if let Some(token) = &session.token {
            return Ok((token.clone(), session.generation));
        }
        let Some(bot) = &self.bot else {
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
        let token = match login(bot, transport).await {
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
    pub(super) async fn renew(
        &self,
        transport: &Transport,
        stale_generation: u64,
    ) -> Result<SessionToken, PodError> {
        {
            let mut session = self.state.lock().await;
            if session.generation == stale_generation {
                session.token = None;
            }
        }
        Ok(self.current(transport).await?.0)
    }
}

/// `POST {login_url}/pubkey/authenticate` with a fresh JWT. One attempt:
/// the caller's retry loop repeats it on 5xx, 429 or no answer. The JWT
/// (and its signature alone) and the token issued join the client's
/// secrets, so that no answer echoing them gets them shown.
async fn login(bot: &BotLogin, transport: &Transport) -> Result<SessionToken, PodError> {
    let jwt = bot_jwt(&bot.username, &bot.key, SystemTime::now())?;
    issue_jwt(transport.secrets(), &jwt);
    let body = serde_json::to_vec(&LoginRequest { token: jwt.clone() })
        .expect("a login request serializes to JSON");
    let url = &bot.authenticate_url;
    let (verb, shown_url) = (Verb::Post, public_url(url));
    // Neither the request (a JWT) nor the answer (a token) is ever traced.
    let reply = transport
        .post_json(url, &shown_url, LOGIN_PATH_TEMPLATE, body)
        .await?;
    match reply.status {
        status if status.is_success() => {
            let token = login_token(&reply, &shown_url)?;
            transport.secrets().issued(token.expose());
            Ok(token)
        }
        StatusCode::UNAUTHORIZED => Err(PodError::LoginRejected {
            username: bot.username.clone(),
            login_url: shown_url,
        }),
        // The login's status, never to be read as one of a pod endpoint.
        _ => Err(PodError::LoginFailed(Box::new(status_error(
            verb, shown_url, reply,
        )))),
    }
}

/// Holds `jwt`, and its signature alone, among `secrets`.
fn issue_jwt(secrets: &Secrets, jwt: &str) {
    secrets.issued(jwt);
    if let Some(signature) = jwt.rsplit('.').next().filter(|part| !part.is_empty()) {
        secrets.issued(signature);
    }
}

/// The error for a call whose session the pod refused (401), `after_login`
/// when the session was freshly issued.
pub(super) fn session_rejected(call: &Call, after_login: bool) -> PodError {
    PodError::SessionRejected {
        method: call.verb.as_str(),
        path: call.path.clone(),
        after_login,
    }
}

/// The session token of a login answer.
fn login_token(reply: &Reply, shown_url: &str) -> Result<SessionToken, PodError> {
    let token = login_answer_token(reply, ("sessionToken", "session token"), "auth.login_url")
        .map_err(|reason| PodError::Decode {
            method: Verb::Post.as_str(),
            path: shown_url.to_string(),
            reason,
        })?;
    Ok(SessionToken::new(&token))
}

/// The token of a login answer, `{"name": NAME, "token": ...}` (the pod's
/// or the key manager's: `noun` is what the token is called, `setting` the
/// URL to check), or why there is none. No reason quotes the answer, any part of it, or the decoder's
/// message (which may quote it): whatever a login URL answers may be a token.
pub(super) fn login_answer_token(
    reply: &Reply,
    (name, noun): (&str, &str),
    setting: &str,
) -> Result<String, String> {
    if is_html(reply) {
        return Err(format!(
            "the login answered with an HTML page, not JSON: is {setting} right?"
        ));
    }
    let answer: serde_json::Value = serde_json::from_slice(&reply.body)
        .map_err(|_| "the login answer is not JSON".to_string())?;
    let token = match &answer {
        serde_json::Value::Object(fields) => fields.get("token"),
        _ => {
            return Err(format!(
                "the login answer is {}, not the expected object {{\"name\": \"{name}\", \"token\": ...}}",
                json_kind(&answer)
            ));
        }
    };
    token
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
        .filter(|token| !token.is_empty() && token.bytes().all(|byte| byte.is_ascii_graphic()))
        .map(str::to_string)
        .ok_or_else(|| format!("the login answer holds no usable {noun}"))
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

#[cfg(test)]
mod tests {
    use super::super::answer::test_reply as reply;
    use super::*;
    use crate::model::group_path;

    #[test]
    fn session_errors_say_401_and_what_to_do() {
        let call = Call::new(Verb::Get, group_path("g"), "/v2/admin/usergroups/{groupId}");
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
    fn a_login_error_never_shows_the_jwt_or_its_signature() {
        let jwt = "eyJhbGciOiJSUzUxMiJ9.eyJzdWIiOiJib3QifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
        let secrets = std::sync::Arc::new(Secrets::default());
        secrets.issued(jwt);
        secrets.issued("c2lnbmF0dXJlLXNpZ25hdHVyZQ");
        for message in [
            format!("bad token {jwt}"),
            "bad signature c2lnbmF0dXJlLXNpZ25hdHVyZQ".to_string(),
        ] {
            let answer = Reply {
                status: StatusCode::BAD_REQUEST,
                secrets: secrets.clone(),
                ..reply(None, &serde_json::json!({ "message": message }).to_string())
            };
            let url = "https://p/login/pubkey/authenticate".to_string();
            let error = PodError::LoginFailed(Box::new(status_error(Verb::Post, url, answer)));
            let shown = format!("{error} {error:?}");
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
}
