//! Where the pod is and how groupsync logs in to it: the pod URL, the CA
//! file and proxy, the credentials (a session token file, an RSA bot, or the
//! bot of an official SDK `config.yaml`, or systemd's credentials); and the
//! check that each file named, the state file's too, can be read
//! ([`check_files`]).

use std::path::{Path, PathBuf};

use super::bdk::{BdkConfig, read_bdk_config};
use super::file::{AuthSection, PodSection, ProxySection};
use super::files::{SMALL_FILE_CAP, STATE_FILE_CAP, check_file_setting};
use super::settings::flag_label;
use super::values::{default_login_url, parse_http_url};
use super::{AuthSettings, BotAuth, NetworkSettings, Overrides};
use crate::error::{ConfigError, RuleError};

/// The flag/env URL (validated here; the file's was validated while parsing), else the file's.
pub(super) fn pod_url(
    overridden: Option<&str>,
    from_file: PodSection,
) -> Result<Option<String>, ConfigError> {
    match overridden {
        Some(url) => parse_http_url(url)
            .map(Some)
            .map_err(|source| ConfigError::Flag {
                flag: flag_label("pod_url"),
                source,
            }),
        None => Ok(from_file.url.map(|url| url.0)),
    }
}

/// The CA file (flag/env, else `pod.ca_file`, else the SDK file's PEM trust
/// store) and the proxy (`proxy.url`, else the SDK file's `proxy`). The CA
/// file is read when the pod client is built, which names it if it is bad.
pub(super) fn network_settings(
    overrides: &Overrides,
    ca_file: Option<&Path>,
    proxy: Option<ProxySection>,
    base_dir: &Path,
    bdk: Option<&BdkConfig>,
) -> NetworkSettings {
    let ca_file = overrides
        .ca_file
        .clone()
        .or_else(|| ca_file.map(|path| base_dir.join(path)))
        .or_else(|| bdk.and_then(|bdk| bdk.pem_trust_store.clone()));
    let proxy = proxy
        .and_then(|section| section.url)
        .or_else(|| bdk.and_then(|bdk| bdk.proxy.clone()));
    NetworkSettings { ca_file, proxy }
}

/// The SDK config named by `--bdk-config` / `GROUPSYNC_BDK_CONFIG`, else by `auth.bdk_config`.
pub(super) fn bdk_config(
    overrides: &Overrides,
    auth: &AuthSection,
    base_dir: &Path,
) -> Result<Option<BdkConfig>, ConfigError> {
    let path = match (&overrides.bdk_config, &auth.bdk_config) {
        (Some(path), _) => path.clone(),
        (None, Some(path)) => base_dir.join(path),
        (None, None) => return Ok(None),
    };
    read_bdk_config(&path)
        .map(Some)
        .map_err(|source| ConfigError::Sdk { path, source })
}

/// The auth section; a bot from an SDK config file fills in when the section names no way to log in.
pub(super) fn auth_settings(
    auth: AuthSection,
    base_dir: &Path,
    pod_url: Option<&str>,
    bdk: Option<&BdkConfig>,
) -> Result<AuthSettings, RuleError> {
    let bot_from_sdk = |bdk: &BdkConfig| BotAuth {
        username: bdk.bot_username.clone(),
        private_key_file: bdk.private_key_path.clone(),
        login_url: Some(bdk.login_url.clone()),
    };
    let bot = match (auth.bot_username, auth.private_key_file) {
        (Some(username), Some(key)) => Some(BotAuth {
            username,
            private_key_file: base_dir.join(key),
            login_url: auth
                .login_url
                .map(|url| url.0)
                .or_else(|| pod_url.map(default_login_url)),
        }),
        (None, None) if auth.login_url.is_some() => return Err(RuleError::LoginUrlWithoutBot),
        (None, None) if auth.session_token_file.is_none() => bdk.map(bot_from_sdk),
        (None, None) => None,
        _ => return Err(RuleError::HalfABot),
    };
    if bot.is_some() && auth.session_token_file.is_some() {
        return Err(RuleError::TwoWaysToLogIn);
    }
    let session_token_file = match auth.session_token_file {
        Some(file) => Some(base_dir.join(file)),
        None if bot.is_none() => systemd_credential(SESSION_TOKEN_CREDENTIAL),
        None => None,
    };
    Ok(AuthSettings {
        session_token_file,
        bot,
    })
}

/// Refuses, before anything is read, a file that a setting names and that
/// is there but is no regular file (a FIFO, a device, a directory) or is
/// far too large: the state file, the CA file, the session token file and
/// the bot's private key. (The SDK config file is read while merging, the
/// same way.) A missing file is left to whoever reads it.
pub(super) fn check_files(
    state_file: &Path,
    auth: &AuthSettings,
    network: &NetworkSettings,
    bdk: Option<&BdkConfig>,
) -> Result<(), ConfigError> {
    let with_flag = |key: &str, flag: &str| format!("{key} / {}", flag_label(flag));
    let state = with_flag("state_file", "state_file");
    check_file_setting(state_file, STATE_FILE_CAP, "the state file", &state)?;
    if let Some(ca_file) = &network.ca_file {
        let from_sdk = bdk.is_some_and(|bdk| bdk.pem_trust_store.as_ref() == Some(ca_file));
        let setting = match from_sdk {
            true => "ssl.trustStore.path in the SDK config".to_string(),
            false => with_flag("pod.ca_file", "ca_file"),
        };
        check_file_setting(ca_file, SMALL_FILE_CAP, "the CA file", &setting)?;
    }
    if let Some(token_file) = &auth.session_token_file {
        let setting = "auth.session_token_file";
        check_file_setting(
            token_file,
            SMALL_FILE_CAP,
            "the session token file",
            setting,
        )?;
    }
    if let Some(bot) = &auth.bot {
        let key = &bot.private_key_file;
        let setting = match bdk.is_some_and(|bdk| bdk.private_key_path == *key) {
            true => "bot.privateKey.path in the SDK config",
            false => "auth.private_key_file",
        };
        check_file_setting(key, SMALL_FILE_CAP, "the bot's private key file", setting)?;
    }
    Ok(())
}

/// The name of the session token among systemd's credentials (`LoadCredential=session-token:...`).
pub const SESSION_TOKEN_CREDENTIAL: &str = "session-token";

/// A credential systemd passed to the service (`$CREDENTIALS_DIRECTORY/NAME`), if there is one.
pub(super) fn systemd_credential(name: &str) -> Option<PathBuf> {
    let path = Path::new(&std::env::var_os("CREDENTIALS_DIRECTORY")?).join(name);
    path.is_file().then_some(path)
}
