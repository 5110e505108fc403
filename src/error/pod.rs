//! The pod layer's errors, kept on the ground floor so that the crate's
//! [`Error`](super::Error) can name them without importing the pod client.
//! The pod layer re-exports them where callers expect them.

use std::path::PathBuf;
use std::time::Duration;

use crate::model::{PUBKEY_AUTHENTICATE_PATH, USERGROUPS_PATH};

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// No connection could be made: the request surely did not reach the pod.
    Connect,
    /// The host name does not resolve: a wrong URL, so final (never retried).
    Dns,
    /// The server's TLS certificate was refused: final (never retried).
    Tls,
    /// No complete answer within the timeout.
    Timeout,
    /// The connection broke while sending or reading.
    Other,
}

impl TransportKind {
    /// True for failures that trying again cannot mend: the URL or the trust set-up is wrong.
    pub fn is_final(self) -> bool {
        matches!(self, TransportKind::Dns | TransportKind::Tls)
    }

    /// True when the request surely never reached the server.
    fn surely_not_sent(self) -> bool {
        matches!(
            self,
            TransportKind::Connect | TransportKind::Dns | TransportKind::Tls
        )
    }
}

/// Everything a pod call can end with besides success. Each message says what
/// happened and what to do; none holds a session token or a JWT.
#[derive(Debug, thiserror::Error)]
pub enum PodError {
    /// The pod answered with an error status; `message` is the pod's own (from `{code, message}`).
    #[error(
        "{method} {path}: the pod answered {status}{}: {message}{}",
        code_suffix(*code),
        status_hint(*status, path)
    )]
    Status {
        method: &'static str,
        path: String,
        status: u16,
        code: Option<i32>,
        message: String,
        /// What the pod's `Retry-After` header asked for, if it sent one.
        retry_after: Option<Duration>,
    },

    /// The pod refused the session token (401) and logging in again cannot or did not help.
    #[error("{method} {path}: the pod answered 401: {}", session_rejected_hint(*after_login))]
    SessionRejected {
        method: &'static str,
        path: String,
        /// True when the token refused was freshly issued by a bot login.
        after_login: bool,
    },

    /// The login call answered 401. Final: retrying cannot help.
    #[error(
        "the pod refused the bot login for {username} at {login_url}: wrong key, unknown user, or the public key is not imported"
    )]
    LoginRejected { username: String, login_url: String },

    /// The login call answered an error status other than 401 (the inner
    /// [`PodError::Status`], its path the login URL). The status is the
    /// login's: a 403 here says nothing of the bot's rights on groups, so
    /// [`PodError::status`] does not report it.
    #[error("{0}")]
    LoginFailed(Box<PodError>),

    /// No HTTP answer: connection failed, timed out or broke.
    #[error("{method} {url}: {reason}{}", transport_hint(*kind, url))]
    Transport {
        method: &'static str,
        /// Scheme, host and path only: no query, no credentials.
        url: String,
        kind: TransportKind,
        reason: String,
    },

    /// The pod answered, but not with the JSON the contract promises.
    #[error("{method} {path}: unexpected answer from the pod: {reason}")]
    Decode {
        method: &'static str,
        path: String,
        reason: String,
    },

    /// The pod's answer went past a limit that keeps memory and time bounded
    /// (an answer's size, a list's pages). Final: asking again would get the same.
    #[error("{method} {path}: {what}; {}", over_limit_hint(path))]
    OverLimit {
        method: &'static str,
        path: String,
        /// Which limit, and by how much, e.g. "the answer is larger than 4 MiB, ...".
        what: String,
    },

    /// Every attempt failed (more than one was allowed); `last` says how the last one did.
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted { attempts: u32, last: Box<PodError> },

    /// The bot's credentials could not be used (e.g. the JWT could not be signed).
    #[error("{0}")]
    Auth(#[from] AuthError),

    /// A group id that cannot name a group in a URL path.
    #[error("the group id {id:?} cannot be sent to the pod: an id must not be empty, `.` or `..`")]
    BadGroupId { id: String },

    /// A user to add whose id the pod was never asked for (its users lookup
    /// was refused): the per-user write has no path to go to.
    #[error(
        "the pod's id of user {username:?} is unknown (the users lookup was refused); nothing more was written for this group"
    )]
    UnknownUserId { username: String },

    /// A per-user write answered 404, and looking the user up again found
    /// no such user: it is the user that is missing, not the group.
    #[error(
        "{method} {path}: the pod has no user {username:?} (any more): fix the username or remove it; nothing was written for this user"
    )]
    NoSuchUser {
        method: &'static str,
        path: String,
        username: String,
    },

    /// The client could not be built (a bad pod URL, no TLS backend).
    #[error("{0}")]
    Setup(String),

    /// A create's answer was lost (`cause`), and looking its name up then
    /// found several groups: which one the POST made cannot be told.
    #[error(
        "{cause}; the pod may have created the group all the same, and now holds {} groups named {name:?} (ids {}): add `id:` with the one this group means",
        ids.len(),
        ids.join(", ")
    )]
    CreateUnclear {
        name: String,
        ids: Vec<String>,
        cause: Box<PodError>,
    },

    /// A create failed unclearly (`cause`, the last attempt's), and looking
    /// its name up then found only groups whose name or type is not exactly
    /// the one sent (a pod's name filter may ignore case or match a prefix):
    /// none of them is taken for the group.
    #[error(
        "{cause}; looking {name:?} up afterwards found no group of exactly that name and type, only {}: none of them was taken for it. Run again, or add `id:` if the pod holds the group now",
        others.join(", ")
    )]
    CreateFoundOthers {
        name: String,
        /// The groups found, each as `"name" (type TYPE, id ID)`.
        others: Vec<String>,
        cause: Box<PodError>,
    },

    /// A stop (SIGINT/SIGTERM) was requested: the request was not sent (again),
    /// or it was in flight and got no answer within the grace it was given.
    #[error("{method} {path}: {}", stopped_text(*cut_off_after))]
    Stopped {
        method: &'static str,
        path: String,
        /// `Some(grace)` when the request was in flight and dropped after `grace`.
        cut_off_after: Option<Duration>,
    },
}

impl PodError {
    /// The HTTP status a pod endpoint answered the request with; `None` when
    /// it got no answer, and for the bot's login whatever the login answered
    /// (see [`PodError::is_login_failure`]): a login refused with 403 must
    /// never read as a group read refused with 403.
    pub fn status(&self) -> Option<u16> {
        match self {
            PodError::Status { status, .. } => Some(*status),
            PodError::SessionRejected { .. } => Some(401),
            PodError::RetriesExhausted { last, .. } => last.status(),
            PodError::CreateUnclear { cause, .. } | PodError::CreateFoundOthers { cause, .. } => {
                cause.status()
            }
            _ => None,
        }
    }

    /// True when a pod endpoint refused the request for want of a right
    /// (403): VIEW_ROLE_SCOPES on a read, MANAGE_ROLE_SCOPES on a write.
    /// Never true for the bot's login, whatever it answered.
    pub fn is_forbidden(&self) -> bool {
        self.status() == Some(403)
    }

    /// True when the bot's login failed: refused (401), answered another
    /// error status, could not be reached, or answered something unusable.
    /// The request itself was never sent; its endpoint is not at fault.
    pub fn is_login_failure(&self) -> bool {
        match self {
            PodError::LoginRejected { .. } | PodError::LoginFailed(_) => true,
            PodError::Transport { url: path, .. }
            | PodError::Decode { path, .. }
            | PodError::OverLimit { path, .. } => path.ends_with(PUBKEY_AUTHENTICATE_PATH),
            PodError::RetriesExhausted { last, .. } => last.is_login_failure(),
            _ => false,
        }
    }

    /// True when trying again later may succeed: 429, 5xx, no answer at all.
    pub fn is_retryable(&self) -> bool {
        match self {
            PodError::Status { status, .. } => *status == 429 || *status >= 500,
            PodError::Transport { kind, .. } => !kind.is_final(),
            PodError::LoginFailed(answer) => answer.is_retryable(),
            _ => false,
        }
    }

    /// True when the request got no clear answer and the pod may have acted
    /// on it all the same: a timeout, a broken connection, a 5xx other than
    /// 503, a request in flight cut off by a stop.
    pub fn may_have_been_processed(&self) -> bool {
        match self {
            PodError::Stopped { cut_off_after, .. } => cut_off_after.is_some(),
            PodError::RetriesExhausted { last, .. } => last.may_have_been_processed(),
            _ => self.is_retryable() && !self.surely_not_processed(),
        }
    }

    /// True when the pod surely did not act on the request, so that even a
    /// non-idempotent one may be sent again.
    pub fn surely_not_processed(&self) -> bool {
        match self {
            PodError::Status { status, .. } => *status == 429 || *status == 503,
            // The login failed: the request itself was never sent.
            PodError::LoginFailed(_) => true,
            PodError::Transport { kind, .. } => kind.surely_not_sent(),
            _ => false,
        }
    }

    /// What the pod's `Retry-After` asked for, if anything.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PodError::Status { retry_after, .. } => *retry_after,
            PodError::LoginFailed(answer) => answer.retry_after(),
            _ => None,
        }
    }

    /// A short, stable name for the kind of error (for logs and metric labels).
    pub fn kind(&self) -> &'static str {
        match self {
            PodError::Status { .. } => "status",
            PodError::SessionRejected { .. } => "session_rejected",
            PodError::LoginRejected { .. } => "login_rejected",
            PodError::LoginFailed(_) => "login_failed",
            PodError::Transport { .. } => "transport",
            PodError::Decode { .. } => "decode",
            PodError::OverLimit { .. } => "over_limit",
            PodError::RetriesExhausted { .. } => "retries_exhausted",
            PodError::Auth(_) => "auth",
            PodError::BadGroupId { .. } => "bad_group_id",
            PodError::UnknownUserId { .. } => "unknown_user_id",
            PodError::NoSuchUser { .. } => "no_such_user",
            PodError::Setup(_) => "setup",
            PodError::Stopped { .. } => "stopped",
            PodError::CreateUnclear { .. } => "create_unclear",
            PodError::CreateFoundOthers { .. } => "create_found_others",
        }
    }
}

fn code_suffix(code: Option<i32>) -> String {
    code.map(|code| format!(" (code {code})"))
        .unwrap_or_default()
}

/// What to do about an error status, by status and endpoint.
fn status_hint(status: u16, path: &str) -> &'static str {
    let login = path.ends_with(PUBKEY_AUTHENTICATE_PATH);
    let one_group = path.starts_with(&format!("{USERGROUPS_PATH}/"));
    match status {
        300..=399 => "; the URL redirects elsewhere: configure the address it redirects to",
        403 if login => "; the pod refused the bot login: check that the bot account is active",
        403 => {
            "; the bot needs the Scope Management role with MANAGE_ROLE_SCOPES (to write) / VIEW_ROLE_SCOPES (to read)"
        }
        404 if login => "; check auth.login_url (default: the pod URL's origin + /login)",
        404 if one_group => "; no such group on the pod: check the id",
        404 => "; check the pod URL (e.g. https://acme.symphony.com/pod)",
        429 => "; the pod is throttling requests",
        500..=599 => "; the pod failed to serve the request",
        _ => "",
    }
}

/// What to do about a transport failure that retrying cannot mend.
fn transport_hint(kind: TransportKind, url: &str) -> &'static str {
    let login = url.ends_with(PUBKEY_AUTHENTICATE_PATH);
    match kind {
        TransportKind::Dns if login => {
            "; check auth.login_url (default: the pod URL's origin + /login) and pod.url / GROUPSYNC_POD_URL"
        }
        TransportKind::Dns => "; check pod.url / GROUPSYNC_POD_URL",
        TransportKind::Tls => {
            "; check pod.url / GROUPSYNC_POD_URL (and auth.login_url), and that the server's certificate is issued by a CA this host trusts (the system's CA store, SSL_CERT_FILE, or pod.ca_file)"
        }
        _ => "",
    }
}

/// What to do when the pod's answer is past a limit: most often the URL
/// points at something that is not a pod.
fn over_limit_hint(path: &str) -> &'static str {
    if path.ends_with(PUBKEY_AUTHENTICATE_PATH) {
        "check auth.login_url (default: the pod URL's origin + /login)"
    } else {
        "check that pod.url / GROUPSYNC_POD_URL points at a Symphony pod"
    }
}

fn stopped_text(cut_off_after: Option<Duration>) -> String {
    match cut_off_after {
        None => "stopped before the request was sent: groupsync is stopping".to_string(),
        Some(grace) => format!(
            "stopped: no answer within {}s of the stop request; the pod may or may not have acted on it",
            grace.as_secs()
        ),
    }
}

fn session_rejected_hint(after_login: bool) -> &'static str {
    if after_login {
        "the pod refused even a freshly issued session token; check that the bot account is active and its session is not revoked"
    } else {
        "the session token is invalid or expired; put a fresh one in GROUPSYNC_SESSION_TOKEN or auth.session_token_file, or use bot authentication (auth.bot_username), which logs in again by itself"
    }
}

/// Why no usable credentials could be set up. Messages name the file or
/// variable at fault and say what to do; they never quote a secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{origin} is empty; put a session token in it")]
    EmptyToken { origin: String },

    #[error(
        "{origin} holds characters a session token cannot have (only visible ASCII is allowed); check it holds just the token"
    )]
    MalformedToken { origin: String },

    #[error("cannot read {what} {}: {reason}", path.display())]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },

    #[error(
        "the bot's private key file {} is accessible by group or others (mode {mode:04o}); run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    KeyFileTooOpen { path: PathBuf, mode: u32 },

    #[error(
        "the bot's private key file {} is not a usable RSA private key; expected PEM with `BEGIN RSA PRIVATE KEY` (PKCS#1) or `BEGIN PRIVATE KEY` (PKCS#8), unencrypted",
        path.display()
    )]
    InvalidKey { path: PathBuf },

    #[error("the bot's username (auth.bot_username) is empty")]
    EmptyUsername,

    #[error("cannot sign the login JWT for {username}: the private key was refused by the signer")]
    Signing { username: String },
}
