//! How groupsync proves who it is to the pod: a session token given to it, or
//! an RSA bot that logs in by itself (a JWT signed RS512, traded at
//! `{login_url}/pubkey/authenticate` for a session token).
//!
//! Secrets never leave this module by accident: [`SessionToken`] and
//! [`AuthSource`] print as `<redacted>`, and no error carries a token, a JWT
//! or key material. The login call itself is made by [`crate::pod::session`],
//! which owns the session cache; the client's call loop retries it.

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::config::files::{SMALL_FILE_CAP, read_regular_file, read_regular_text};
use crate::config::{AuthSettings, default_login_url};

/// The environment variable that carries a session token (it wins over the config file).
pub const SESSION_TOKEN_ENV: &str = "GROUPSYNC_SESSION_TOKEN";

pub use crate::error::AuthError;
pub use crate::model::PUBKEY_AUTHENTICATE_PATH;

/// How long a login JWT is valid. The pod accepts at most 300 s; the official
/// SDKs use 240 s to leave room for clock skew, and so do we.
pub const JWT_LIFETIME: Duration = Duration::from_secs(240);

/// A pod session token. `Debug` and `Display` print `<redacted>`;
/// [`SessionToken::expose`] is the only way to the text.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    pub fn new(token: impl Into<String>) -> SessionToken {
        SessionToken(token.into())
    }

    /// The token itself, for the `sessionToken` header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the pod client gets its session from.
pub enum AuthSource {
    /// A session token given from outside; when the pod refuses it, only a new one helps.
    Token(SessionToken),
    /// An RSA bot: groupsync logs in by itself, and again when the session expires.
    Bot {
        username: String,
        key: EncodingKey,
        /// Where `/pubkey/authenticate` lives, e.g. `https://acme.symphony.com/login`.
        login_url: String,
    },
}

impl fmt::Debug for AuthSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthSource::Token(_) => f.debug_tuple("Token").field(&"<redacted>").finish(),
            AuthSource::Bot {
                username,
                login_url,
                ..
            } => f
                .debug_struct("Bot")
                .field("username", username)
                .field("key", &"<redacted>")
                .field("login_url", login_url)
                .finish(),
        }
    }
}

impl AuthSource {
    /// Picks the credentials to use, in this order: the session token in the
    /// environment (`env_token`, i.e. `GROUPSYNC_SESSION_TOKEN`), then
    /// `auth.session_token_file`, then the RSA bot. `None` when none is set.
    ///
    /// The bot's key is read and checked now (file mode, format, a trial
    /// signature), so a bad key stops start-up instead of the first cycle.
    pub fn from_settings(
        auth: &AuthSettings,
        pod_url: &str,
        env_token: Option<String>,
    ) -> Result<Option<AuthSource>, AuthError> {
        if let Some(token) = env_token {
            let origin = format!("the environment variable {SESSION_TOKEN_ENV}");
            return Ok(Some(AuthSource::Token(checked_token(&token, origin)?)));
        }
        if let Some(path) = &auth.session_token_file {
            return Ok(Some(AuthSource::Token(read_token_file(path)?)));
        }
        let Some(bot) = &auth.bot else {
            return Ok(None);
        };
        if bot.username.trim().is_empty() {
            return Err(AuthError::EmptyUsername);
        }
        let key = read_private_key(&bot.private_key_file)?;
        // Sign once now: jsonwebtoken only parses the PEM, the signer is what checks the key.
        bot_jwt(&bot.username, &key, SystemTime::now()).map_err(|_| AuthError::InvalidKey {
            path: bot.private_key_file.clone(),
        })?;
        let login_url = bot
            .login_url
            .clone()
            .unwrap_or_else(|| default_login_url(pod_url));
        Ok(Some(AuthSource::Bot {
            username: bot.username.clone(),
            key,
            login_url: login_url.trim_end_matches('/').to_string(),
        }))
    }
}

/// Reads a session token file, trimmed (files usually end in a newline):
/// a regular file of at most [`SMALL_FILE_CAP`], read without blocking.
fn read_token_file(path: &Path) -> Result<SessionToken, AuthError> {
    let text = read_regular_text(path, SMALL_FILE_CAP).map_err(|error| AuthError::Unreadable {
        what: "the session token file",
        path: path.to_path_buf(),
        reason: error.to_string(),
    })?;
    checked_token(&text, format!("the session token file {}", path.display()))
}

/// A token as given, trimmed; refused when empty or not fit for an HTTP header.
pub(super) fn checked_token(text: &str, origin: String) -> Result<SessionToken, AuthError> {
    let token = text.trim();
    if token.is_empty() {
        return Err(AuthError::EmptyToken { origin });
    }
    if !token.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(AuthError::MalformedToken { origin });
    }
    Ok(SessionToken::new(token))
}

/// Reads an RSA private key (PKCS#1 or PKCS#8 PEM), refusing a file that
/// group or others may read or write, as ssh does; a regular file of at
/// most [`SMALL_FILE_CAP`], read without blocking.
pub fn read_private_key(path: &Path) -> Result<EncodingKey, AuthError> {
    let unreadable = |reason: String| AuthError::Unreadable {
        what: "the bot's private key file",
        path: path.to_path_buf(),
        reason,
    };
    let metadata = std::fs::metadata(path).map_err(|error| unreadable(error.to_string()))?;
    if metadata.is_file() {
        // Anything else is refused by the read, for what it is.
        check_key_file_mode(path, metadata)?;
    }
    let pem =
        read_regular_file(path, SMALL_FILE_CAP).map_err(|error| unreadable(error.to_string()))?;
    // The parser's own error is not passed on: it could one day quote the input.
    EncodingKey::from_rsa_pem(&pem).map_err(|_| AuthError::InvalidKey {
        path: path.to_path_buf(),
    })
}

#[cfg(unix)]
fn check_key_file_mode(path: &Path, metadata: std::fs::Metadata) -> Result<(), AuthError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(AuthError::KeyFileTooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_key_file_mode(_path: &Path, _metadata: std::fs::Metadata) -> Result<(), AuthError> {
    Ok(())
}

/// The claims of a login JWT: who the bot is, and until when the JWT counts.
#[derive(Serialize)]
struct LoginClaims<'a> {
    sub: &'a str,
    exp: u64,
}

/// A login JWT for `username`, signed RS512 with `key`, valid for [`JWT_LIFETIME`] from `now`.
pub fn bot_jwt(username: &str, key: &EncodingKey, now: SystemTime) -> Result<String, AuthError> {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let claims = LoginClaims {
        sub: username,
        exp: (since_epoch + JWT_LIFETIME).as_secs(),
    };
    jsonwebtoken::encode(&Header::new(Algorithm::RS512), &claims, key).map_err(|_| {
        AuthError::Signing {
            username: username.to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BotAuth;
    use jsonwebtoken::{DecodingKey, Validation};
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    const PKCS1_KEY: &str = include_str!("../../tests/fixtures/bot-key.pem");
    const PKCS8_KEY: &str = include_str!("../../tests/fixtures/bot-key.pkcs8.pem");
    const PUBLIC_KEY: &str = include_str!("../../tests/fixtures/bot-key.pub.pem");

    /// Writes `contents` to a file in `dir` with `mode`.
    fn file_with_mode(dir: &Path, name: &str, contents: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn bot_settings(key_file: PathBuf) -> AuthSettings {
        AuthSettings {
            session_token_file: None,
            bot: Some(BotAuth {
                username: "groupsync-bot".to_string(),
                private_key_file: key_file,
                login_url: None,
            }),
        }
    }

    #[derive(serde::Deserialize)]
    struct Claims {
        sub: String,
        exp: u64,
    }

    #[test]
    fn session_token_never_prints() {
        let token = SessionToken::new("s3cr3t-token");
        assert_eq!(format!("{token:?}"), "<redacted>");
        assert_eq!(format!("{token}"), "<redacted>");
        assert_eq!(token.expose(), "s3cr3t-token");
        let source = AuthSource::Token(token);
        assert!(!format!("{source:?}").contains("s3cr3t"));
    }

    #[test]
    fn env_token_wins_and_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_with_mode(dir.path(), "token", "from-file\n", 0o600);
        let settings = AuthSettings {
            session_token_file: Some(file),
            bot: None,
        };
        let source =
            AuthSource::from_settings(&settings, "https://p/pod", Some(" from-env\n".into()));
        match source.unwrap() {
            Some(AuthSource::Token(token)) => assert_eq!(token.expose(), "from-env"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn token_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_with_mode(dir.path(), "token", "  from-file\n", 0o600);
        let settings = AuthSettings {
            session_token_file: Some(file),
            bot: None,
        };
        match AuthSource::from_settings(&settings, "https://p/pod", None).unwrap() {
            Some(AuthSource::Token(token)) => assert_eq!(token.expose(), "from-file"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn empty_tokens_name_their_origin() {
        let error = AuthSource::from_settings(
            &AuthSettings::default(),
            "https://p/pod",
            Some(" \n".into()),
        )
        .unwrap_err();
        assert!(error.to_string().contains(SESSION_TOKEN_ENV), "{error}");

        let dir = tempfile::tempdir().unwrap();
        let file = file_with_mode(dir.path(), "token", "\n", 0o600);
        let settings = AuthSettings {
            session_token_file: Some(file.clone()),
            bot: None,
        };
        let error = AuthSource::from_settings(&settings, "https://p/pod", None).unwrap_err();
        assert!(
            error.to_string().contains(&file.display().to_string()),
            "{error}"
        );
    }

    #[test]
    fn a_token_with_inner_whitespace_is_refused_without_quoting_it() {
        let error = AuthSource::from_settings(
            &AuthSettings::default(),
            "https://p/pod",
            Some("abc\ndef".into()),
        )
        .unwrap_err();
        assert!(matches!(error, AuthError::MalformedToken { .. }));
        assert!(!error.to_string().contains("abc"), "{error}");
    }

    #[test]
    fn nothing_configured_is_none() {
        let source = AuthSource::from_settings(&AuthSettings::default(), "https://p/pod", None);
        assert!(source.unwrap().is_none());
    }

    #[test]
    fn pkcs1_and_pkcs8_keys_both_sign_verifiable_jwts() {
        let dir = tempfile::tempdir().unwrap();
        for (name, pem) in [("pkcs1.pem", PKCS1_KEY), ("pkcs8.pem", PKCS8_KEY)] {
            let path = file_with_mode(dir.path(), name, pem, 0o600);
            let source = AuthSource::from_settings(
                &bot_settings(path),
                "https://acme.symphony.com/pod",
                None,
            )
            .unwrap()
            .unwrap();
            let AuthSource::Bot {
                username,
                key,
                login_url,
            } = &source
            else {
                panic!("{source:?}");
            };
            assert_eq!(login_url, "https://acme.symphony.com/login");
            let now = SystemTime::now();
            let jwt = bot_jwt(username, key, now).unwrap();

            let decoding = DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).unwrap();
            let data =
                jsonwebtoken::decode::<Claims>(&jwt, &decoding, &Validation::new(Algorithm::RS512))
                    .unwrap();
            assert_eq!(data.header.alg, Algorithm::RS512);
            assert_eq!(data.claims.sub, "groupsync-bot");
            let now_secs = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
            assert_eq!(data.claims.exp, now_secs + 240);
        }
    }

    #[test]
    fn a_key_file_open_to_others_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_with_mode(dir.path(), "key.pem", PKCS1_KEY, 0o644);
        let error = AuthSource::from_settings(&bot_settings(path.clone()), "https://p/pod", None)
            .unwrap_err();
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("0644"), "{message}");
        assert!(
            message.contains(&format!("chmod 600 {}", path.display())),
            "{message}"
        );
        assert!(!message.contains("PRIVATE KEY"), "{message}");
    }

    #[test]
    fn a_group_readable_key_file_is_refused_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_with_mode(dir.path(), "key.pem", PKCS1_KEY, 0o640);
        let error = read_private_key(&path).unwrap_err();
        assert!(
            matches!(error, AuthError::KeyFileTooOpen { mode: 0o640, .. }),
            "{error:?}"
        );
    }

    #[test]
    fn a_file_that_is_no_key_is_refused_without_quoting_it() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0\n-----END RSA PRIVATE KEY-----\n";
        let path = file_with_mode(dir.path(), "key.pem", garbage, 0o600);
        let error =
            AuthSource::from_settings(&bot_settings(path), "https://p/pod", None).unwrap_err();
        assert!(matches!(error, AuthError::InvalidKey { .. }), "{error:?}");
        assert!(!format!("{error} {error:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn bot_source_debug_hides_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_with_mode(dir.path(), "key.pem", PKCS8_KEY, 0o600);
        let source = AuthSource::from_settings(&bot_settings(path), "https://p/pod", None)
            .unwrap()
            .unwrap();
        let debug = format!("{source:?}");
        assert!(debug.contains("groupsync-bot"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        let key_body: String = PKCS8_KEY.lines().nth(1).unwrap().chars().take(20).collect();
        assert!(!debug.contains(&key_body), "{debug}");
    }
}
