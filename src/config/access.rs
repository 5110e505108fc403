//! Where the pod is and how groupsync logs in to it: the pod URL, the CA
//! file and proxy, the credentials (a session token file, an RSA bot, or the
//! bot of an official SDK `config.yaml`, or systemd's credentials); and the
//! check that each file named, the state file's too, can be read
//! ([`check_files`]).

use std::path::{Path, PathBuf};

use super::bdk::{BdkConfig, read_bdk_config};
use super::file::{AuthSection, HttpUrl, NotifySettingsSection, PodSection, ProxySection};
use super::files::{SMALL_FILE_CAP, STATE_FILE_CAP, check_file_setting};
use super::notify::{
    DEFAULT_DEDUPE, DEFAULT_FLUSH_TIMEOUT, DEFAULT_REPEAT, KEY_MANAGER_TOKEN_CREDENTIAL,
    NotifySettings, TargetEntry,
};
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

/// The pieces of other sections that notifications use.
pub(super) struct AgentKeys {
    pub(super) agent_url: Option<HttpUrl>,
    pub(super) key_manager_url: Option<HttpUrl>,
    pub(super) key_manager_token_file: Option<PathBuf>,
}

/// The notification settings from the file's sections; the agent and the
/// key manager default to the pod's origin + `/agent` and `/relay`.
pub(super) fn notify_settings(
    targets: Option<Vec<TargetEntry>>,
    section: Option<NotifySettingsSection>,
    keys: AgentKeys,
    base_dir: &Path,
    pod_url: Option<&str>,
) -> NotifySettings {
    let section = section.unwrap_or_default();
    let origin_plus = |path: &str| pod_url.map(|url| format!("{}{path}", origin(url)));
    let targets = targets
        .unwrap_or_default()
        .into_iter()
        .map(|entry| entry.resolved(base_dir))
        .collect();
    NotifySettings {
        targets,
        dedupe: section.dedupe.map_or(DEFAULT_DEDUPE, |value| value.0),
        repeat: section.repeat.map_or(DEFAULT_REPEAT, |value| value.0),
        flush_timeout: section
            .flush_timeout
            .map_or(DEFAULT_FLUSH_TIMEOUT, |value| value.0),
        plan_url: section.plan_url.map(|url| url.0),
        agent_url: keys.agent_url.map(|url| url.0).or(origin_plus("/agent")),
        key_manager_url: keys
            .key_manager_url
            .map(|url| url.0)
            .or(origin_plus("/relay")),
        key_manager_token_file: keys
            .key_manager_token_file
            .map(|path| base_dir.join(path))
            .or_else(|| systemd_credential(KEY_MANAGER_TOKEN_CREDENTIAL)),
    }
}

/// `https://acme.symphony.com` of `https://acme.symphony.com/pod`.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |index| index + 3);
    let end = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |index| after_scheme + index);
    &url[..end]
}

/// The name of the session token among systemd's credentials (`LoadCredential=session-token:...`).
pub const SESSION_TOKEN_CREDENTIAL: &str = "session-token";

/// A credential systemd passed to the service (`$CREDENTIALS_DIRECTORY/NAME`), if there is one.
pub(super) fn systemd_credential(name: &str) -> Option<PathBuf> {
    let path = Path::new(&std::env::var_os("CREDENTIALS_DIRECTORY")?).join(name);
    path.is_file().then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_is_scheme_host_and_port() {
        assert_eq!(
            origin("https://acme.symphony.com/pod"),
            "https://acme.symphony.com"
        );
        assert_eq!(origin("http://127.0.0.1:8080/pod"), "http://127.0.0.1:8080");
        assert_eq!(origin("https://acme"), "https://acme");
    }
}
