//! A webhook target: one JSON document a notification, `POST`ed with
//! `X-Groupsync-Signature: sha256=<lower-case hex HMAC-SHA256(secret, body)>`.
//!
//! The receiver checks it by computing the same HMAC over the body bytes as
//! received, with the secret of `secret_file`, and comparing in constant
//! time. The answer is read no further than [`MAX_ANSWER_BYTES`]; no
//! redirect is followed; the secret is never shown (an answer that echoes it
//! has it redacted).

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};

use super::failure::DeliveryError;
use crate::config::files::{SMALL_FILE_CAP, read_regular_file};
use crate::pod::USER_AGENT;
use crate::pod::retry::parse_retry_after;
use crate::store::journal::record::hex;

/// The header that carries the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Groupsync-Signature";

/// The most of a webhook's answer read (its start says enough).
pub const MAX_ANSWER_BYTES: usize = 64 << 10;

/// A webhook's secret. `Debug` prints `<redacted>`.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Secret {
    /// The secret in `path`: its bytes, a trailing line break dropped; an
    /// empty one is refused. Errors name the file, never its content.
    pub fn read(path: &Path) -> Result<Secret, String> {
        let shown = path.display();
        let mut bytes = read_regular_file(path, SMALL_FILE_CAP)
            .map_err(|error| format!("cannot read the webhook secret file {shown}: {error}"))?;
        while bytes
            .last()
            .is_some_and(|byte| *byte == b'\n' || *byte == b'\r')
        {
            bytes.pop();
        }
        if bytes.is_empty() {
            return Err(format!("the webhook secret file {shown} is empty"));
        }
        Ok(Secret(bytes))
    }

    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into())
    }

    /// `sha256=<lower-case hex HMAC-SHA256(secret, body)>`.
    pub fn signature(&self, body: &[u8]) -> String {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.0);
        format!("sha256={}", hex(aws_lc_rs::hmac::sign(&key, body).as_ref()))
    }

    /// `text` without the secret, should an answer echo it.
    fn redact(&self, text: &str) -> String {
        match std::str::from_utf8(&self.0) {
            Ok(secret) if !secret.is_empty() => text.replace(secret, "<redacted>"),
            _ => text.to_string(),
        }
    }
}

/// One webhook: where, and what signs its bodies.
#[derive(Debug, Clone)]
pub struct Webhook {
    url: String,
    secret: Secret,
    http: reqwest::Client,
}

impl Webhook {
    pub fn new(url: &str, secret: Secret) -> Result<Webhook, String> {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| format!("cannot build the HTTP client for {url}: {error}"))?;
        Ok(Webhook {
            url: url.to_string(),
            secret,
            http,
        })
    }

    /// `POST`s `body` (JSON) signed; a 2xx is delivered.
    pub async fn post(&self, body: Vec<u8>) -> Result<(), DeliveryError> {
        let signature = self.secret.signature(&body);
        let sent = self
            .http
            .post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await;
        let mut response = sent.map_err(|error| DeliveryError::no_answer(&self.url, &error))?;
        let status = response.status();
        let retry_after = (response.headers().get(RETRY_AFTER))
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, SystemTime::now()));
        let mut answer = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            let room = MAX_ANSWER_BYTES - answer.len();
            answer.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if answer.len() == MAX_ANSWER_BYTES {
                break;
            }
        }
        if status.is_success() {
            return Ok(());
        }
        let text = self.secret.redact(&String::from_utf8_lossy(&answer));
        let excerpt: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let excerpt: String = excerpt.chars().take(200).collect();
        let said = match excerpt.is_empty() {
            true => String::new(),
            false => format!(": {excerpt}"),
        };
        Err(DeliveryError::status(
            status.as_u16(),
            format!("POST {}: the webhook answered {status}{said}", self.url),
            retry_after,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_rfc_4231s_hmac_sha256_in_lower_case_hex() {
        // RFC 4231, test case 2.
        let secret = Secret::new(b"Jefe".to_vec());
        assert_eq!(
            secret.signature(b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(format!("{secret:?}"), "<redacted>");
    }

    #[test]
    fn a_trailing_line_break_is_not_part_of_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hook.secret");
        std::fs::write(&path, "Jefe\n").unwrap();
        let secret = Secret::read(&path).unwrap();
        assert_eq!(
            secret.signature(b"what do ya want for nothing?"),
            Secret::new(b"Jefe".to_vec()).signature(b"what do ya want for nothing?")
        );
        std::fs::write(&path, "\n").unwrap();
        assert!(Secret::read(&path).unwrap_err().contains("is empty"));
    }
}
