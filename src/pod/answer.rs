//! Pod answers read bounded (`Reply`): the body as it streams in, up to
//! [`MAX_ANSWER_BYTES`] (or [`MAX_ERROR_ANSWER_BYTES`] of an error); a
//! success decoded, an error turned into the [`PodError`] its status means.
//!
//! This is the one place answers become error text, and every text quoted
//! from one (the pod's message, a body's start, a decoder's complaint, a
//! redirect's target) passes through the client's [`Secrets`] first: a pod
//! or a proxy echoing a token or a password never gets it shown.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{CONTENT_TYPE, HeaderMap, LOCATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;

use super::failure::public_url;
use super::request::{Call, Verb};
use super::retry::parse_retry_after;
use super::secrets::Secrets;
use crate::error::PodError;
use crate::model::ApiError;

/// The most groupsync reads of one successful answer (a group, a page, a
/// login): a longer one fails its request, unretried. Read as it streams in,
/// so that a pod sending without end cannot exhaust memory.
pub const MAX_ANSWER_BYTES: usize = 4 << 20;

/// The most groupsync reads of an error answer (its message is all it
/// needs); the rest is left unread, and the status still decides retries.
pub const MAX_ERROR_ANSWER_BYTES: usize = 64 << 10;

/// An HTTP answer, its body read up to [`MAX_ANSWER_BYTES`] (a success) or
/// [`MAX_ERROR_ANSWER_BYTES`] (an error, cut there).
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) retry_after: Option<Duration>,
    /// The `Content-Type` header, if readable.
    pub(super) content_type: Option<String>,
    /// A redirect's target, resolved and without credentials, query or fragment.
    pub(super) location: Option<String>,
    pub(super) body: Vec<u8>,
    /// The client's secrets, which no text quoted from this answer may show.
    pub(super) secrets: Arc<Secrets>,
}

impl Reply {
    /// `text`, taken from this answer, without any secret of the client.
    pub(super) fn quoted(&self, text: &str) -> String {
        self.secrets.redact(text)
    }
}

/// Why no [`Reply`] could be read.
pub(super) enum ReadFailure {
    /// No answer, or the connection broke while reading it.
    Http(reqwest::Error),
    /// A success answer longer than [`MAX_ANSWER_BYTES`].
    TooLarge { status: StatusCode },
}

/// Sends `request` and reads the answer, its body as it streams in and no
/// further than its cap ([`body_cap`]); `secrets` go with it.
pub(super) async fn read_reply(
    request: reqwest::RequestBuilder,
    secrets: Arc<Secrets>,
) -> Result<Reply, ReadFailure> {
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
        secrets,
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

/// A byte count as a limit is written: `4 MiB`, `64 KiB`.
pub(super) fn shown_size(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

/// A 2xx answer as it is, or the error its status means.
pub(super) fn successful(call: &Call, reply: Reply) -> Result<Reply, PodError> {
    if reply.status.is_success() {
        Ok(reply)
    } else {
        Err(status_error(call.verb, call.path.clone(), reply))
    }
}

/// A success answer's body as `T`: the one place pod answers are decoded.
/// An HTML page (a login portal, a proxy's notice) is named as such, and
/// the decoder's message is cut short: it may quote the answer.
pub(super) fn decode_answer<T: DeserializeOwned>(
    call: &Call,
    reply: &Reply,
) -> Result<T, PodError> {
    if is_html(reply) {
        return Err(call.decode_error(HTML_INSTEAD_OF_JSON));
    }
    serde_json::from_slice(&reply.body).map_err(|error| {
        call.decode_error(shortened(
            &reply.quoted(&error.to_string()),
            MAX_REASON_CHARS,
        ))
    })
}

/// What a 200 with an HTML page means, most often.
const HTML_INSTEAD_OF_JSON: &str =
    "the pod answered with an HTML page, not JSON: is the pod URL right?";

/// The longest decoder message, or pod error message, an error shows.
const MAX_REASON_CHARS: usize = 500;

/// True for an answer that is an HTML page: so its `Content-Type` says, or
/// its body starts with `<` (no JSON does).
pub(super) fn is_html(reply: &Reply) -> bool {
    let declared = reply.content_type.as_deref().is_some_and(|content_type| {
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        media_type.eq_ignore_ascii_case("text/html")
            || media_type.eq_ignore_ascii_case("application/xhtml+xml")
    });
    let first = reply.body.iter().find(|byte| !byte.is_ascii_whitespace());
    declared || first == Some(&b'<')
}

/// `text`, cut after `max_chars` characters with `…`.
pub(super) fn shortened(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// The error a non-2xx answer means: its redirect target, else the pod's
/// message (cut short), else the start of its body; no secret shown.
pub(super) fn status_error(verb: Verb, path: String, reply: Reply) -> PodError {
    if let Some(target) = &reply.location {
        return PodError::Status {
            method: verb.as_str(),
            path,
            status: reply.status.as_u16(),
            code: None,
            message: format!("it redirects to {}", reply.quoted(target)),
            retry_after: reply.retry_after,
        };
    }
    let api_error: ApiError = serde_json::from_slice(&reply.body).unwrap_or_default();
    // Redacted before cut short: a cut must not leave half a secret.
    let message = api_error
        .message
        .filter(|message| !message.trim().is_empty())
        .map(|message| shortened(&reply.quoted(&message), MAX_REASON_CHARS))
        .unwrap_or_else(|| body_excerpt(&reply, reply.status));
    PodError::Status {
        method: verb.as_str(),
        path,
        status: reply.status.as_u16(),
        code: api_error.code,
        message,
        retry_after: reply.retry_after,
    }
}

/// The start of a non-JSON error body (a proxy's HTML page, say), on one line
/// and without secrets; the status's reason phrase when the body is empty.
fn body_excerpt(reply: &Reply, status: StatusCode) -> String {
    const MAX_CHARS: usize = 200;
    let text = reply.quoted(&String::from_utf8_lossy(&reply.body));
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        return status
            .canonical_reason()
            .unwrap_or("no message")
            .to_string();
    }
    shortened(&one_line, MAX_CHARS)
}

/// A 200 answer with `body` (and `content_type`, if given), for tests.
#[cfg(test)]
pub(super) fn test_reply(content_type: Option<&str>, body: &str) -> Reply {
    Reply {
        status: StatusCode::OK,
        retry_after: None,
        content_type: content_type.map(str::to_string),
        location: None,
        body: body.as_bytes().to_vec(),
        secrets: Arc::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::test_reply as reply;
    use super::*;
    use crate::model::{UserGroupResponse, group_path};

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
        let call = Call::new(Verb::Get, group_path("g"), "/v2/admin/usergroups/{groupId}");
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
    fn error_excerpt_is_one_short_line() {
        let html = format!("<html>\n  <body>{}</body></html>", "x".repeat(500));
        let excerpt = body_excerpt(&reply(None, &html), StatusCode::BAD_GATEWAY);
        assert!(!excerpt.contains('\n'));
        assert!(excerpt.chars().count() <= 201);
        assert_eq!(
            body_excerpt(&reply(None, ""), StatusCode::BAD_GATEWAY),
            "Bad Gateway"
        );
    }

    /// An error answer with `body` from a client holding the secret `s3cr3t-token`.
    fn echoing(status: StatusCode, body: &str, location: Option<&str>) -> Reply {
        let secrets = Secrets::default();
        secrets.hold("s3cr3t-token");
        Reply {
            status,
            location: location.map(str::to_string),
            secrets: Arc::new(secrets),
            ..reply(None, body)
        }
    }

    #[test]
    fn no_text_quoted_from_an_error_answer_shows_a_secret() {
        let call = Call::new(Verb::Get, group_path("g"), "/v2/admin/usergroups/{groupId}");
        let long = "x".repeat(490);
        for (body, location) in [
            (
                r#"{"code": 500, "message": "bad session s3cr3t-token"}"#.to_string(),
                None,
            ),
            (format!(r#"{{"message": "{long}s3cr3t-token"}}"#), None),
            ("<p>sessionToken: s3cr3t-token</p>".to_string(), None),
            (format!("{}s3cr3t-token", "y".repeat(195)), None),
            (String::new(), Some("https://sso/s3cr3t-token/login")),
        ] {
            let answer = echoing(StatusCode::BAD_GATEWAY, &body, location);
            let error = status_error(call.verb, call.path.clone(), answer);
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains("s3cr3t"), "{body}: {shown}");
        }
        let answer = echoing(StatusCode::OK, r#"{"active": "s3cr3t-token"}"#, None);
        let error = decode_answer::<UserGroupResponse>(&call, &answer).unwrap_err();
        assert!(!format!("{error} {error:?}").contains("s3cr3t"), "{error}");
    }
}
