//! Who may read the plan. `/plan` and `/plan.json` name groups and the users
//! who scope them, so they are served only ([`PlanAccess`]):
//!
//! - with `plan_token_file` set, to a request carrying `Authorization:
//!   Bearer <token>` ([`PlanToken`], compared in constant time); 401 otherwise;
//! - without it, only when the listener is bound to a loopback address
//!   ([`is_loopback`]); 403 otherwise, saying how to enable it.
//!
//! `/metrics`, `/healthz` and `/readyz` stay open to all.

use std::fmt;
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::{Error, Result};

/// A token file holds one line; anything larger is not one.
const MAX_TOKEN_FILE_BYTES: u64 = 4096;

/// The secret `/plan` and `/plan.json` ask for: never shown, logged or
/// quoted (`Debug` and `Display` say `<redacted>`).
#[derive(Clone, PartialEq, Eq)]
pub struct PlanToken(String);

impl fmt::Debug for PlanToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlanToken(<redacted>)")
    }
}

impl fmt::Display for PlanToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl PlanToken {
    /// Reads `plan_token_file`: a regular file of at most 4 KiB, its trailing
    /// line break dropped, holding visible ASCII only (no spaces). No error
    /// quotes the file's content.
    pub fn read(path: &Path) -> Result<PlanToken> {
        let refuse = |problem: &str| {
            Error::io(
                format!("plan_token_file {}", path.display()),
                std::io::Error::new(std::io::ErrorKind::InvalidData, problem.to_string()),
            )
        };
        let unreadable = |source| {
            Error::io(
                format!("plan_token_file {}: cannot read it", path.display()),
                source,
            )
        };
        if !std::fs::metadata(path).map_err(unreadable)?.is_file() {
            return Err(refuse(
                "not a regular file; point it at a file that holds the token",
            ));
        }
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_TOKEN_FILE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(unreadable)?;
        if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
            return Err(refuse(
                "larger than 4 KiB; it should hold one line, the token",
            ));
        }
        let token = trim_line_break(&bytes);
        if token.is_empty() {
            return Err(refuse("empty; write the token in it, on one line"));
        }
        if !token.iter().all(u8::is_ascii_graphic) {
            return Err(refuse(
                "the token holds spaces, control or non-ASCII characters; \
                 use letters, digits and punctuation only (e.g. `openssl rand -hex 32`)",
            ));
        }
        // Visible ASCII: valid UTF-8.
        Ok(PlanToken(String::from_utf8_lossy(token).into_owned()))
    }

    /// Whether `presented` is this token. The time taken depends on the
    /// token's length only, never on where a wrong guess differs.
    fn matches(&self, presented: &[u8]) -> bool {
        let expected = self.0.as_bytes();
        let mut difference = u8::from(expected.len() != presented.len());
        for (index, byte) in expected.iter().enumerate() {
            difference |= byte ^ presented.get(index).copied().unwrap_or(0);
        }
        std::hint::black_box(difference) == 0
    }
}

/// `bytes` without one trailing `\n` or `\r\n`.
fn trim_line_break(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

/// Whether a listener bound to `address` is reachable from this host only:
/// `127.0.0.0/8`, `::1`, or `::ffff:127.x.x.x`. `0.0.0.0` and `::` (every
/// address of the host) are not.
pub fn is_loopback(address: SocketAddr) -> bool {
    address.ip().to_canonical().is_loopback()
}

/// How `/plan` and `/plan.json` decide whether to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanAccess {
    /// To a request carrying `Authorization: Bearer <token>`.
    Token(PlanToken),
    /// No token configured, and the listener is on a loopback address: to all who reach it.
    Loopback,
    /// No token configured, and the listener is reachable from other hosts: to no one.
    Refused,
}

impl PlanAccess {
    /// The access of a listener bound to `listen`, with `token` read from
    /// `plan_token_file` (if set). A token, once set, is always asked for.
    pub fn decide(listen: SocketAddr, token: Option<PlanToken>) -> PlanAccess {
        match token {
            Some(token) => PlanAccess::Token(token),
            None if is_loopback(listen) => PlanAccess::Loopback,
            None => PlanAccess::Refused,
        }
    }

    /// For the listener's start-up line.
    pub fn describe(&self) -> &'static str {
        match self {
            PlanAccess::Token(_) => "/plan and /plan.json ask for the token of plan_token_file",
            PlanAccess::Loopback => "/plan and /plan.json open on this loopback address",
            PlanAccess::Refused => {
                "/plan and /plan.json refused (403): not a loopback address and no plan_token_file"
            }
        }
    }

    /// `None` when the request may read the plan; else the answer to send (401 or 403).
    pub fn refusal(&self, headers: &HeaderMap) -> Option<Response> {
        match self {
            PlanAccess::Loopback => None,
            PlanAccess::Token(token) => match bearer(headers) {
                Some(presented) if token.matches(presented) => None,
                presented => Some(unauthorized(presented.is_some())),
            },
            PlanAccess::Refused => Some(
                (
                    StatusCode::FORBIDDEN,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "the plan names groups and users, so it is served only to a request with a \
                     token, or on a loopback listener. To read it: set plan_token_file (a file \
                     holding a token) and send `Authorization: Bearer <that token>`, or bind \
                     metrics_listen to 127.0.0.1\n",
                )
                    .into_response(),
            ),
        }
    }
}

/// The credentials of `Authorization: Bearer <credentials>` (the scheme in any case).
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, credentials) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| credentials.trim_ascii())
}

/// 401, with the challenge RFC 6750 asks for (`invalid_token` when one was sent).
fn unauthorized(token_sent: bool) -> Response {
    let challenge = if token_sent {
        "Bearer realm=\"groupsync\", error=\"invalid_token\""
    } else {
        "Bearer realm=\"groupsync\""
    };
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::WWW_AUTHENTICATE, challenge),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        "the plan needs a token: send `Authorization: Bearer <the token in plan_token_file>`\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn token(text: &str) -> PlanToken {
        PlanToken(text.to_string())
    }

    fn with_authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    async fn body_of(response: Response) -> String {
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[test]
    fn only_loopback_addresses_are_loopback() {
        for loopback in [
            "127.0.0.1:9464",
            "127.1.2.3:9464",
            "[::1]:9464",
            "[::ffff:127.0.0.1]:9464",
        ] {
            assert!(is_loopback(address(loopback)), "{loopback}");
        }
        for reachable in [
            "0.0.0.0:9464",
            "[::]:9464",
            "10.1.2.3:9464",
            "192.168.0.10:9464",
            "[fe80::1]:9464",
            "[::ffff:10.0.0.1]:9464",
        ] {
            assert!(!is_loopback(address(reachable)), "{reachable}");
        }
    }

    #[test]
    fn a_token_is_always_asked_for_and_without_one_only_loopback_is_open() {
        let all = address("0.0.0.0:9464");
        let local = address("127.0.0.1:9464");
        assert_eq!(PlanAccess::decide(all, None), PlanAccess::Refused);
        assert_eq!(PlanAccess::decide(local, None), PlanAccess::Loopback);
        for listen in [all, local] {
            assert_eq!(
                PlanAccess::decide(listen, Some(token("s3cret"))),
                PlanAccess::Token(token("s3cret"))
            );
        }
    }

    #[tokio::test]
    async fn a_listener_reachable_from_other_hosts_refuses_the_plan_and_says_how_to_enable_it() {
        let refused = PlanAccess::decide(address("0.0.0.0:9464"), None);
        let answer = refused
            .refusal(&with_authorization("Bearer anything"))
            .expect("refused");
        assert_eq!(answer.status(), StatusCode::FORBIDDEN);
        let body = body_of(answer).await;
        assert!(
            body.contains("set plan_token_file") && body.contains("127.0.0.1"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn a_token_is_checked_and_a_missing_or_wrong_one_is_401_with_a_challenge() {
        let access = PlanAccess::Token(token("s3cret"));
        assert!(
            access
                .refusal(&with_authorization("Bearer s3cret"))
                .is_none()
        );
        assert!(
            access
                .refusal(&with_authorization("bearer s3cret"))
                .is_none()
        );
        for (headers, challenge) in [
            (HeaderMap::new(), "Bearer realm=\"groupsync\""),
            (
                with_authorization("Bearer s3cre"),
                "Bearer realm=\"groupsync\", error=\"invalid_token\"",
            ),
            (
                with_authorization("Bearer s3cretX"),
                "Bearer realm=\"groupsync\", error=\"invalid_token\"",
            ),
            (
                with_authorization("Basic czNjcmV0"),
                "Bearer realm=\"groupsync\"",
            ),
        ] {
            let answer = access.refusal(&headers).expect("refused");
            assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(answer.headers()[header::WWW_AUTHENTICATE], challenge);
            assert!(!body_of(answer).await.contains("s3cret"));
        }
    }

    #[test]
    fn the_token_is_compared_whole() {
        let secret = token("abc");
        assert!(secret.matches(b"abc"));
        for wrong in [&b""[..], b"ab", b"abd", b"abcd", b"\0bc"] {
            assert!(!secret.matches(wrong), "{wrong:?}");
        }
    }

    #[test]
    fn the_token_file_is_one_line_of_visible_ascii_and_never_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, contents: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, contents).unwrap();
            path
        };
        let read = |path: &Path| PlanToken::read(path);
        assert_eq!(read(&write("unix", b"s3cret\n")).unwrap(), token("s3cret"));
        assert_eq!(read(&write("dos", b"s3cret\r\n")).unwrap(), token("s3cret"));
        assert_eq!(read(&write("bare", b"s3cret")).unwrap(), token("s3cret"));
        for (name, contents, problem) in [
            ("empty", &b"\n"[..], "empty"),
            ("two-words", b"s3cret word\n", "spaces"),
            ("two-lines", b"s3cret\nsecond\n", "spaces, control"),
            ("large", &[b'x'; 5000][..], "larger than 4 KiB"),
        ] {
            let error = read(&write(name, contents)).unwrap_err().chain();
            assert!(
                error.starts_with(&format!(
                    "plan_token_file {}: ",
                    dir.path().join(name).display()
                )) && error.contains(problem),
                "{error}"
            );
            assert!(
                !error.contains("s3cret") && !error.contains("xxxx"),
                "{error}"
            );
        }
        let error = read(dir.path()).unwrap_err().chain();
        assert!(error.contains("not a regular file"), "{error}");
        let error = read(&dir.path().join("missing")).unwrap_err().chain();
        assert!(error.contains("cannot read it"), "{error}");
        assert_eq!(format!("{:?}", token("s3cret")), "PlanToken(<redacted>)");
        assert_eq!(token("s3cret").to_string(), "<redacted>");
    }
}
