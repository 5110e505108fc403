//! [`PodClient`], one pod's client, and its core request method: a call run
//! attempt by attempt, with retries ([`crate::pod::retry`]) and the session
//! ([`crate::pod::session`]) handled for the caller. The endpoints are
//! `impl PodClient` blocks of their own, one file per resource kind.
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
//!   in flight at most [`STOP_GRACE_IN_FLIGHT`](super::stop::STOP_GRACE_IN_FLIGHT) more.
//! - Neither logs nor errors ever hold the `sessionToken` header, a JWT or
//!   the proxy's password, even where a pod or a proxy echoes one back: every
//!   text quoted from an answer is redacted ([`super::secrets`]).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use backon::BackoffBuilder;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use tracing::{debug, warn};

use super::answer::{Reply, decode_answer, successful};
use super::auth::AuthSource;
use super::request::Call;
use super::retry::{RetryPolicy, shown_wait};
use super::session::{Session, session_rejected};
use super::transport::{RequestOutcome, Timeouts, Transport, warn_if_unencrypted};
use crate::config::NetworkSettings;
use crate::error::PodError;
use crate::shutdown::Shutdown;

/// A client for one pod. Cheap to clone; clones share the HTTP connections and the session.
#[derive(Clone)]
pub struct PodClient {
    transport: Transport,
    session: Arc<Session>,
    policy: RetryPolicy,
}

impl fmt::Debug for PodClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PodClient")
            .field("base_url", &self.transport.base_url())
            .field("bot", &self.session.bot_username())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
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

/// A write's decoded answer and its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered<T> {
    pub status: u16,
    pub body: T,
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
        let transport = Transport::new(pod_url, timeouts, network)?;
        let session = Session::new(auth, transport.secrets())?;
        warn_if_unencrypted(transport.base_url(), session.login_url());
        Ok(PodClient {
            transport,
            session: Arc::new(session),
            policy,
        })
    }

    /// Calls `observer` once per HTTP attempt (login included). Clones made
    /// after this call share the observer; clones made before do not.
    pub fn set_observer(&mut self, observer: Arc<dyn Fn(&RequestOutcome) + Send + Sync>) {
        self.transport.set_observer(observer);
    }

    /// Makes the client stoppable by `shutdown`: once a stop is requested,
    /// waits between attempts end at once, no new request is sent, and a
    /// request in flight gets at most [`STOP_GRACE_IN_FLIGHT`](super::stop::STOP_GRACE_IN_FLIGHT) more; each
    /// ends with [`PodError::Stopped`]. Clones made after this call share it.
    pub fn set_shutdown(&mut self, shutdown: Shutdown) {
        self.transport.set_shutdown(shutdown);
    }

    /// Who writes as this client, as the journal names it: `bot USERNAME`,
    /// or `session token`.
    pub fn actor(&self) -> String {
        match self.session.bot_username() {
            Some(username) => format!("bot {}", crate::text::escaped(username)),
            None => "session token".to_string(),
        }
    }

    /// The pod URL requests go under, without a trailing `/`.
    pub fn pod_url(&self) -> &str {
        self.transport.base_url()
    }

    /// How requests reach the pod (and the agent): shared by every clone.
    pub(super) fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The session every clone shares.
    pub(super) fn session(&self) -> &Session {
        &self.session
    }

    /// The retry policy every call of this client follows.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Sleeps for `wait`, or until a stop is requested.
    pub(super) async fn pause(&self, wait: Duration) {
        self.transport.pause(wait).await;
    }

    /// True once a stop is requested.
    pub(super) fn stopping(&self) -> bool {
        self.transport.stopping()
    }

    /// Runs `call` with retries and decodes the answer.
    pub(super) async fn call_json<T: DeserializeOwned>(&self, call: &Call) -> Result<T, PodError> {
        Ok(self.call_answered(call).await?.body)
    }

    /// [`PodClient::call_json`], with the answer's HTTP status (a write's
    /// journal record names it: an assignment answers 200 or 201).
    pub(super) async fn call_answered<T: DeserializeOwned>(
        &self,
        call: &Call,
    ) -> Result<Answered<T>, PodError> {
        let taken = self.call_taken(call).await?;
        Ok(Answered {
            status: taken.status,
            body: taken.body?,
        })
    }

    /// A write: `Err` only when the pod did not take it; once it answered
    /// 2xx, the status is kept whether or not its body can be read, so that
    /// the write is journaled either way.
    pub(super) async fn call_taken<T: DeserializeOwned>(
        &self,
        call: &Call,
    ) -> Result<Answered<Result<T, PodError>>, PodError> {
        let reply = self.call_with_retries(call).await?;
        Ok(Answered {
            status: reply.status.as_u16(),
            body: decode_answer(call, &reply),
        })
    }

    /// Runs `call` until it succeeds, fails for good, or the policy's attempts are spent.
    pub(super) async fn call_with_retries(&self, call: &Call) -> Result<Reply, PodError> {
        let policy = self.policy;
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

    /// One attempt: send with the current session; on a 401, log in again
    /// (once per call, and only for a bot) and send once more.
    async fn attempt(&self, call: &Call, state: &CallState) -> Result<Reply, PodError> {
        let login_failed = |_: &PodError| state.login_failed.store(true, Ordering::SeqCst);
        let (token, generation) = self
            .session
            .current(&self.transport)
            .await
            .inspect_err(login_failed)?;
        let reply = self.transport.send(call, &token).await?;
        if reply.status != StatusCode::UNAUTHORIZED {
            return successful(call, reply);
        }
        if !self.session.can_log_in() {
            return Err(session_rejected(call, false));
        }
        if state.relogin_used.swap(true, Ordering::SeqCst) {
            return Err(session_rejected(call, true));
        }
        debug!(method = call.verb.as_str(), path = %call.path, "session refused (401); logging in again");
        let token = self
            .session
            .renew(&self.transport, generation)
            .await
            .inspect_err(login_failed)?;
        let reply = self.transport.send(call, &token).await?;
        if reply.status == StatusCode::UNAUTHORIZED {
            return Err(session_rejected(call, true));
        }
        successful(call, reply)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::{Emulator, EmulatorConfig, Entitlements};
    use crate::error::TransportKind;
    use crate::model::{USERGROUPS_PATH, UserGroupResponse, group_path};
    use crate::pod::auth::SessionToken;
    use crate::shutdown;

    // -- Which errors the call loop retries, and how they read ---------------

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
    fn a_login_failure_never_reads_as_a_refusal_by_a_group_endpoint() {
        let login = |code| {
            PodError::LoginFailed(Box::new(status(
                code,
                "https://p/login/pubkey/authenticate",
            )))
        };
        for error in [
            login(403),
            PodError::RetriesExhausted {
                attempts: 4,
                last: Box::new(login(503)),
            },
            PodError::LoginRejected {
                username: "bot".into(),
                login_url: "https://p/login/pubkey/authenticate".into(),
            },
        ] {
            assert!(error.is_login_failure(), "{error:?}");
            assert!(!error.is_forbidden(), "{error:?}");
            assert_eq!(error.status(), None, "{error:?}");
        }
        let message = login(403).to_string();
        assert!(
            message.contains("the pod refused the bot login"),
            "{message}"
        );
        assert!(!message.contains("VIEW_ROLE_SCOPES"), "{message}");
        // A login failing with 5xx is retried; the request itself was never sent.
        assert!(login(503).is_retryable() && !login(403).is_retryable());
        assert!(!login(502).may_have_been_processed());

        let read = status(403, &group_path("g1"));
        assert!(read.is_forbidden() && !read.is_login_failure());
    }

    // -- A DNS failure is final -----------------------------------------------

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
}
