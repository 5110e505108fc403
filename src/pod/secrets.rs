//! The credentials one client holds (`Secrets`), so that no text quoted from
//! an answer shows them: the session token (given, or issued by a login),
//! each login JWT, and the proxy's password (from `proxy.url` or the
//! `*_PROXY` variables). A pod or a proxy may echo any of them in an error
//! page; [`super::answer`] and [`super::transport`] pass every quoted text
//! through [`Secrets::redact`] before it reaches an error or a log.

use std::collections::VecDeque;
use std::fmt;
use std::sync::RwLock;

use reqwest::Url;

use crate::config::NetworkSettings;

/// What a secret is replaced with.
pub const REDACTED: &str = "<redacted>";

/// The proxy variables reqwest reads when `proxy.url` is not set (upper and lower case).
const PROXY_VARIABLES: [&str; 3] = ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"];

/// How many secrets issued by logins (tokens, JWTs) are remembered: a
/// daemon logs in again every session lifetime, and an echo of a token
/// older than the last few is past caring about.
const MAX_ISSUED: usize = 32;

/// The secrets of one client, shared by its clones. `Debug` shows only how many.
#[derive(Default)]
pub(super) struct Secrets {
    known: RwLock<Known>,
}

#[derive(Default)]
struct Known {
    /// Held for the client's life: a given session token, the proxy password.
    fixed: Vec<String>,
    /// Issued by logins, the oldest dropped past [`MAX_ISSUED`].
    issued: VecDeque<String>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known = self
            .known
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        write!(
            f,
            "Secrets({} held, {} issued)",
            known.fixed.len(),
            known.issued.len()
        )
    }
}

impl Secrets {
    /// The secrets `network` and the environment's proxy variables hold.
    pub(super) fn for_network(network: &NetworkSettings) -> Secrets {
        let secrets = Secrets::default();
        let configured = network
            .proxy
            .as_ref()
            .map(|proxy| proxy.expose().to_string());
        let from_env = PROXY_VARIABLES
            .iter()
            .flat_map(|name| [name.to_string(), name.to_ascii_lowercase()])
            .filter_map(|name| std::env::var(name).ok());
        for proxy in configured.into_iter().chain(from_env) {
            for secret in proxy_secrets(&proxy) {
                secrets.hold(&secret);
            }
        }
        secrets
    }

    /// Remembers `secret` (and the forms it may be echoed in) for the client's life.
    pub(super) fn hold(&self, secret: &str) {
        let mut known = self.write();
        for form in echoed_forms(secret) {
            if !known.fixed.contains(&form) {
                known.fixed.push(form);
            }
        }
    }

    /// Remembers `secret`, issued by a login (a session token, a JWT).
    pub(super) fn issued(&self, secret: &str) {
        let mut known = self.write();
        for form in echoed_forms(secret) {
            if known.issued.contains(&form) {
                continue;
            }
            if known.issued.len() == MAX_ISSUED {
                known.issued.pop_front();
            }
            known.issued.push_back(form);
        }
    }

    /// `text` with every known secret replaced by [`REDACTED`], the longest first.
    pub(super) fn redact(&self, text: &str) -> String {
        let known = self
            .known
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut secrets: Vec<&str> = known
            .fixed
            .iter()
            .chain(&known.issued)
            .map(String::as_str)
            .filter(|secret| text.contains(secret))
            .collect();
        if secrets.is_empty() {
            return text.to_string();
        }
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        secrets.into_iter().fold(text.to_string(), |text, secret| {
            text.replace(secret, REDACTED)
        })
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Known> {
        self.known
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `secret` as an answer may quote it: as is, and as a JSON string escapes
/// it (with `/` escaped too, as some encoders do). Empty for an empty one.
fn echoed_forms(secret: &str) -> Vec<String> {
    if secret.is_empty() {
        return Vec::new();
    }
    let mut forms = vec![secret.to_string()];
    let json = serde_json::to_string(secret).expect("a string serializes to JSON");
    let escaped = json[1..json.len() - 1].to_string();
    let slashes = escaped.replace('/', "\\/");
    for form in [escaped, slashes] {
        if !forms.contains(&form) {
            forms.push(form);
        }
    }
    forms
}

/// The secrets of a proxy URL: its password as written and decoded, and
/// the `Proxy-Authorization: Basic` value of its user and password.
fn proxy_secrets(proxy: &str) -> Vec<String> {
    let Ok(url) = Url::parse(proxy) else {
        return Vec::new();
    };
    let Some(password) = url.password().filter(|password| !password.is_empty()) else {
        return Vec::new();
    };
    let decoded = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    let (user, plain) = (decoded(url.username()), decoded(password));
    let mut secrets = vec![
        password.to_string(),
        plain.clone(),
        base64(format!("{user}:{plain}").as_bytes()),
        base64(format!("{}:{password}", url.username()).as_bytes()),
    ];
    secrets.dedup();
    secrets
}

/// Standard base64 with padding, as HTTP basic authentication writes it.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let triple = chunk
            .iter()
            .enumerate()
            .fold(0u32, |triple, (index, byte)| {
                triple | u32::from(*byte) << (16 - 8 * index)
            });
        for index in 0..4 {
            if index <= chunk.len() {
                let sextet = (triple >> (18 - 6 * index)) & 0x3f;
                text.push(char::from(ALPHABET[sextet as usize]));
            } else {
                text.push('=');
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_held_or_issued_secret_is_redacted_longest_first() {
        let secrets = Secrets::default();
        secrets.hold("tok");
        secrets.issued("tok-issued-later");
        let shown = secrets.redact("a tok-issued-later and a tok, twice: tok");
        assert_eq!(shown, "a <redacted> and a <redacted>, twice: <redacted>");
        assert_eq!(secrets.redact("nothing here"), "nothing here");
        assert!(!format!("{secrets:?}").contains("tok"));
    }

    #[test]
    fn a_secret_escaped_by_a_json_encoder_is_redacted_too() {
        let secrets = Secrets::default();
        secrets.hold("a/b\"c");
        assert_eq!(secrets.redact(r#"got a\/b\"c"#), "got <redacted>");
        assert_eq!(secrets.redact(r#"got a/b\"c"#), "got <redacted>");
        assert_eq!(secrets.redact("got a/b\"c"), "got <redacted>");
    }

    #[test]
    fn only_the_last_issued_secrets_are_kept() {
        let secrets = Secrets::default();
        for index in 0..=MAX_ISSUED {
            secrets.issued(&format!("issued-{index:03}"));
        }
        assert_eq!(secrets.redact("issued-000"), "issued-000");
        assert_eq!(
            secrets.redact(&format!("issued-{MAX_ISSUED:03}")),
            "<redacted>"
        );
    }

    #[test]
    fn a_proxy_password_is_known_as_written_decoded_and_as_basic_credentials() {
        let secrets = proxy_secrets("http://gs:p%40ss@proxy.acme.com:3128");
        assert!(secrets.contains(&"p%40ss".to_string()), "{secrets:?}");
        assert!(secrets.contains(&"p@ss".to_string()), "{secrets:?}");
        // base64("gs:p@ss")
        assert!(secrets.contains(&"Z3M6cEBzcw==".to_string()), "{secrets:?}");
        assert!(proxy_secrets("http://proxy.acme.com:3128").is_empty());
        assert!(proxy_secrets("http://user@proxy.acme.com:3128").is_empty());
        assert!(proxy_secrets("not a url").is_empty());
    }

    #[test]
    fn base64_pads_as_basic_authentication_does() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"gs:pr0xy-pa55word"), "Z3M6cHIweHktcGE1NXdvcmQ=");
    }
}
