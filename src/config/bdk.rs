//! Reads the `config.yaml` of Symphony's official SDKs (BDK 2.x), so that a
//! team can point groupsync at the bot it already runs.
//!
//! Only the keys groupsync needs are read: `scheme`, `host`, `port`,
//! `context`, `proxy`, the `pod` section (which inherits each of those it
//! leaves out), `bot.username`, `bot.privateKey.path`, `ssl.trustStore.path`
//! (when it names a PEM file) and `retry`. Every other key is ignored: SDK
//! files carry many (agent, keyManager, datafeed...).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::files::{SMALL_FILE_CAP, read_regular_text};
use crate::config::{MAX_DURATION, ProxyUrl, RetrySettings};
use crate::error::{BdkError, BdkProblem};

const DEFAULT_SCHEME: &str = "https";
const DEFAULT_PORT: u16 = 443;

/// What groupsync takes from an SDK config file.
#[derive(Debug, Clone, PartialEq)]
pub struct BdkConfig {
    /// `{scheme}://{host}[:port][/context]/pod`, e.g. `https://acme.symphony.com/pod`.
    pub pod_url: String,
    /// `{scheme}://{host}[:port][/context]/login`, on the pod's host as the SDKs do.
    pub login_url: String,
    pub bot_username: String,
    /// As written in the file (a relative path is relative to the working directory, as for the SDKs).
    pub private_key_path: PathBuf,
    /// The file's `retry` section, missing keys taking the SDKs' defaults.
    pub retry: Option<RetrySettings>,
    /// `pod.proxy`, else `proxy`: `http://[username:password@]host:port`.
    pub proxy: Option<ProxyUrl>,
    /// `ssl.trustStore.path` when it names a PEM file (`.pem`, `.crt`,
    /// `.cer`: the Python SDK's form). A Java key store (`.jks`, `.p12`...)
    /// is left out: groupsync reads PEM only.
    pub pem_trust_store: Option<PathBuf>,
}

/// The parts of the SDK file that matter here; serde ignores the rest.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SdkFile {
    #[serde(flatten)]
    top: Endpoint,
    #[serde(default)]
    pod: Endpoint,
    #[serde(default)]
    bot: Bot,
    retry: Option<SdkRetry>,
    #[serde(default)]
    ssl: Ssl,
}

/// `scheme`, `host`, `port`, `context` and `proxy`, at the top level or in a section.
#[derive(Debug, Default, Deserialize)]
struct Endpoint {
    scheme: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    context: Option<String>,
    proxy: Option<SdkProxy>,
}

/// `proxy: {host, port, username, password}`; host and port are required.
#[derive(Default, Deserialize)]
struct SdkProxy {
    host: Option<String>,
    port: Option<u16>,
    username: Option<String>,
    password: Option<String>,
}

impl std::fmt::Debug for SdkProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdkProxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ssl {
    trust_store: Option<TrustStore>,
}

#[derive(Debug, Default, Deserialize)]
struct TrustStore {
    path: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bot {
    username: Option<String>,
    private_key: Option<PrivateKey>,
}

#[derive(Debug, Default, Deserialize)]
struct PrivateKey {
    path: Option<PathBuf>,
}

/// The SDKs' retry section; their defaults fill what it leaves out.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SdkRetry {
    #[serde(default = "sdk_defaults::max_attempts")]
    max_attempts: u32,
    #[serde(default = "sdk_defaults::initial_interval_millis")]
    initial_interval_millis: u64,
    #[serde(default = "sdk_defaults::multiplier")]
    multiplier: f64,
    #[serde(default = "sdk_defaults::max_interval_millis")]
    max_interval_millis: u64,
}

/// The official SDKs' retry defaults.
mod sdk_defaults {
    pub fn max_attempts() -> u32 {
        10
    }
    pub fn initial_interval_millis() -> u64 {
        500
    }
    pub fn multiplier() -> f64 {
        2.0
    }
    pub fn max_interval_millis() -> u64 {
        300_000
    }
}

/// Reads an SDK `config.yaml`. Errors name the file and the key at fault.
pub fn read_bdk_config(path: &Path) -> Result<BdkConfig, BdkError> {
    let text = read_regular_text(path, SMALL_FILE_CAP).map_err(|source| BdkError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    parse_bdk_config(&text).map_err(|source| BdkError::Invalid {
        path: path.to_path_buf(),
        source,
    })
}

/// Parses the text of an SDK `config.yaml`.
pub fn parse_bdk_config(text: &str) -> Result<BdkConfig, BdkProblem> {
    let file: SdkFile = serde_yaml::from_str::<Option<SdkFile>>(text)?.unwrap_or_default();
    let pod_base = base_url(&file.pod, &file.top)?;
    Ok(BdkConfig {
        pod_url: format!("{pod_base}/pod"),
        login_url: format!("{pod_base}/login"),
        bot_username: bot_username(&file.bot)?,
        private_key_path: private_key_path(&file.bot)?,
        retry: file.retry.map(retry_settings).transpose()?,
        proxy: proxy_url(file.pod.proxy.as_ref().or(file.top.proxy.as_ref()))?,
        pem_trust_store: pem_trust_store(&file.ssl),
    })
}

/// The proxy section's URL; its host and port are required, as for the SDKs.
fn proxy_url(proxy: Option<&SdkProxy>) -> Result<Option<ProxyUrl>, BdkProblem> {
    let Some(proxy) = proxy else {
        return Ok(None);
    };
    let (Some(host), Some(port)) = (proxy.host.as_deref(), proxy.port) else {
        return Err(BdkProblem::ProxyHostAndPort);
    };
    ProxyUrl::from_parts(
        host,
        port,
        proxy.username.as_deref(),
        proxy.password.as_deref(),
    )
    .map(Some)
    .map_err(BdkProblem::Proxy)
}

/// `ssl.trustStore.path` if it names a PEM file, by its extension.
fn pem_trust_store(ssl: &Ssl) -> Option<PathBuf> {
    const PEM_EXTENSIONS: [&str; 3] = ["pem", "crt", "cer"];
    let path = ssl.trust_store.as_ref()?.path.as_ref()?;
    let extension = path.extension()?.to_str()?;
    PEM_EXTENSIONS
        .iter()
        .any(|pem| extension.eq_ignore_ascii_case(pem))
        .then(|| path.clone())
}

/// `{scheme}://{host}[:port][/context]` of `section`, each missing value taken
/// from `top`, then from the SDKs' defaults (https, 443).
fn base_url(section: &Endpoint, top: &Endpoint) -> Result<String, BdkProblem> {
    let host = section
        .host
        .as_deref()
        .or(top.host.as_deref())
        .map(str::trim)
        .filter(|host| !host.is_empty())
        .ok_or(BdkProblem::NoHost)?;
    if host.contains("://") || host.contains('/') {
        return Err(BdkProblem::HostNotAName {
            host: host.to_string(),
        });
    }
    let scheme = section
        .scheme
        .as_deref()
        .or(top.scheme.as_deref())
        .unwrap_or(DEFAULT_SCHEME);
    if !(scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http")) {
        return Err(BdkProblem::Scheme {
            scheme: scheme.to_string(),
        });
    }
    let scheme = scheme.to_ascii_lowercase();
    let scheme = scheme.as_str();
    let port = section.port.or(top.port).unwrap_or(DEFAULT_PORT);
    let port = if port == default_port(scheme) {
        String::new()
    } else {
        format!(":{port}")
    };
    let context = normalized_context(section.context.as_deref().or(top.context.as_deref()));
    Ok(format!("{scheme}://{host}{port}{context}"))
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "http" { 80 } else { 443 }
}

/// `""`, `"/"` -> `""`; `"ctx"`, `"/ctx/"` -> `"/ctx"`.
fn normalized_context(context: Option<&str>) -> String {
    let trimmed = context.unwrap_or_default().trim().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

fn bot_username(bot: &Bot) -> Result<String, BdkProblem> {
    bot.username
        .as_deref()
        .map(str::trim)
        .filter(|username| !username.is_empty())
        .map(str::to_string)
        .ok_or(BdkProblem::NoBotUsername)
}

fn private_key_path(bot: &Bot) -> Result<PathBuf, BdkProblem> {
    bot.private_key
        .as_ref()
        .and_then(|key| key.path.clone())
        .filter(|path| !path.as_os_str().is_empty())
        .ok_or(BdkProblem::NoPrivateKey)
}

fn retry_settings(retry: SdkRetry) -> Result<RetrySettings, BdkProblem> {
    if retry.max_attempts == 0 {
        return Err(BdkProblem::RetryMaxAttempts);
    }
    if !(retry.multiplier >= 1.0 && retry.multiplier.is_finite()) {
        return Err(BdkProblem::RetryMultiplier(retry.multiplier));
    }
    let max = MAX_DURATION.as_millis() as u64;
    for (key, millis) in [
        ("retry.initialIntervalMillis", retry.initial_interval_millis),
        ("retry.maxIntervalMillis", retry.max_interval_millis),
    ] {
        if millis > max {
            return Err(BdkProblem::RetryIntervalTooLong { key, max });
        }
    }
    let settings = RetrySettings {
        max_attempts: retry.max_attempts,
        initial_interval: Duration::from_millis(retry.initial_interval_millis),
        multiplier: retry.multiplier,
        max_interval: Duration::from_millis(retry.max_interval_millis),
    };
    if settings.initial_interval > settings.max_interval {
        return Err(BdkProblem::RetryIntervals);
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message and its causes, as `{err:#}` prints them.
    fn chain(error: &BdkError) -> String {
        crate::error::with_causes(error.to_string(), std::error::Error::source(error))
    }

    /// A realistic BDK 2.x file, with many keys groupsync does not use.
    const SDK_FILE: &str = r#"
host: acme.symphony.com
port: 443

pod:
  host: acme.symphony.com
  port: 443
agent:
  host: acme-agent.symphony.com
  context: agent
keyManager:
  host: acme-km.symphony.com
  port: 8444
sessionAuth:
  host: acme-api.symphony.com

bot:
  username: groupsync-bot
  emailAddress: groupsync-bot@acme.com
  privateKey:
    path: /etc/groupsync/bot-key.pem
  certificate:
    path: /etc/groupsync/bot.p12
    password: changeit

app:
  appId: groupsync
  privateKey:
    path: /etc/groupsync/app-key.pem

ssl:
  trustStore:
    path: /etc/ssl/truststore.p12
    password: changeit

proxy:
  host: proxy.acme.com
  port: 3128

datafeed:
  version: v2
  retry:
    maxAttempts: 5

retry:
  maxAttempts: 6
  initialIntervalMillis: 2000
  multiplier: 1.5
  maxIntervalMillis: 10000
"#;

    #[test]
    fn reads_a_realistic_sdk_file() {
        let config = parse_bdk_config(SDK_FILE).unwrap();
        assert_eq!(
            config,
            BdkConfig {
                pod_url: "https://acme.symphony.com/pod".to_string(),
                login_url: "https://acme.symphony.com/login".to_string(),
                bot_username: "groupsync-bot".to_string(),
                private_key_path: PathBuf::from("/etc/groupsync/bot-key.pem"),
                retry: Some(RetrySettings {
                    max_attempts: 6,
                    initial_interval: Duration::from_millis(2000),
                    multiplier: 1.5,
                    max_interval: Duration::from_millis(10_000),
                }),
                proxy: Some(ProxyUrl::parse("http://proxy.acme.com:3128").unwrap()),
                // A PKCS#12 trust store is Java's, which groupsync cannot read.
                pem_trust_store: None,
            }
        );
    }

    #[test]
    fn the_pod_section_has_its_own_proxy_and_the_password_never_shows() {
        let text = format!(
            "{MINIMAL}proxy: {{host: all.proxy, port: 8080}}
pod: {{proxy: {{host: pod.proxy, port: 3128, username: u, password: \"p@ss:w\"}}}}
"
        );
        let config = parse_bdk_config(&text).unwrap();
        let proxy = config.proxy.unwrap();
        assert_eq!(proxy.expose(), "http://u:p%40ss%3Aw@pod.proxy:3128/");
        assert_eq!(proxy.to_string(), "http://u:<redacted>@pod.proxy:3128");
        assert!(!format!("{proxy:?}").contains("ss"), "{proxy:?}");

        let no_port = format!(
            "{MINIMAL}proxy: {{host: p}}
"
        );
        assert!(
            parse_bdk_config(&no_port)
                .unwrap_err()
                .to_string()
                .contains("both `host` and `port`")
        );
    }

    #[test]
    fn a_pem_trust_store_is_taken_and_a_java_one_left_out() {
        for (path, taken) in [
            ("/etc/ssl/acme-ca.pem", true),
            ("certs/ca.CRT", true),
            ("/etc/ssl/truststore.p12", false),
            ("/etc/ssl/truststore.jks", false),
            ("/etc/ssl/truststore", false),
        ] {
            let text = format!(
                "{MINIMAL}ssl: {{trustStore: {{path: {path}, password: x}}}}
"
            );
            let config = parse_bdk_config(&text).unwrap();
            assert_eq!(
                config.pem_trust_store,
                taken.then(|| PathBuf::from(path)),
                "{path}"
            );
        }
    }

    const MINIMAL: &str =
        "host: acme.symphony.com\nbot: {username: b, privateKey: {path: k.pem}}\n";

    #[test]
    fn the_pod_section_inherits_the_top_level_values() {
        let text = "scheme: http\nport: 8080\ncontext: /sym/\npod: {host: pod.internal}\nhost: other\nbot: {username: b, privateKey: {path: k.pem}}\n";
        let config = parse_bdk_config(text).unwrap();
        assert_eq!(config.pod_url, "http://pod.internal:8080/sym/pod");
        assert_eq!(config.login_url, "http://pod.internal:8080/sym/login");
    }

    #[test]
    fn scheme_and_port_default_to_https_443_and_the_default_port_is_omitted() {
        let config = parse_bdk_config(MINIMAL).unwrap();
        assert_eq!(config.pod_url, "https://acme.symphony.com/pod");
        assert_eq!(config.retry, None);

        let text = format!("{MINIMAL}port: 8443\n");
        assert_eq!(
            parse_bdk_config(&text).unwrap().pod_url,
            "https://acme.symphony.com:8443/pod"
        );
    }

    #[test]
    fn a_partial_retry_section_takes_the_sdk_defaults() {
        let text = format!("{MINIMAL}retry: {{maxAttempts: 3}}\n");
        let retry = parse_bdk_config(&text).unwrap().retry.unwrap();
        assert_eq!(retry.max_attempts, 3);
        assert_eq!(retry.initial_interval, Duration::from_millis(500));
        assert_eq!(retry.multiplier, 2.0);
        assert_eq!(retry.max_interval, Duration::from_secs(300));
    }

    #[test]
    fn missing_pieces_are_named() {
        let no_host = parse_bdk_config("bot: {username: b, privateKey: {path: k}}")
            .unwrap_err()
            .to_string();
        assert!(no_host.contains("`host`"), "{no_host}");
        let no_user = parse_bdk_config("host: h\nbot: {privateKey: {path: k}}")
            .unwrap_err()
            .to_string();
        assert!(no_user.contains("bot.username"), "{no_user}");
        let no_key = parse_bdk_config("host: h\nbot: {username: b}")
            .unwrap_err()
            .to_string();
        assert!(no_key.contains("bot.privateKey.path"), "{no_key}");
        let url_as_host =
            parse_bdk_config("host: https://h/pod\nbot: {username: b, privateKey: {path: k}}")
                .unwrap_err()
                .to_string();
        assert!(url_as_host.contains("host name"), "{url_as_host}");
    }

    #[test]
    fn bad_retry_values_are_refused() {
        let text = format!("{MINIMAL}retry: {{multiplier: 0.5}}\n");
        assert!(
            parse_bdk_config(&text)
                .unwrap_err()
                .to_string()
                .contains("retry.multiplier")
        );
        let text = format!("{MINIMAL}retry: {{maxAttempts: 0}}\n");
        assert!(
            parse_bdk_config(&text)
                .unwrap_err()
                .to_string()
                .contains("retry.maxAttempts")
        );
        let text = format!(
            "{MINIMAL}retry: {{initialIntervalMillis: 1, maxIntervalMillis: 18446744073709551615}}\n"
        );
        assert_eq!(
            parse_bdk_config(&text).unwrap_err().to_string(),
            "`retry.maxIntervalMillis` must be at most 31536000000 (365 days)"
        );
    }

    #[test]
    fn the_scheme_may_be_written_in_any_case() {
        let text = format!("{MINIMAL}scheme: HTTP\nport: 80\n");
        assert_eq!(
            parse_bdk_config(&text).unwrap().pod_url,
            "http://acme.symphony.com/pod"
        );
    }

    #[test]
    fn read_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        let error = chain(&read_bdk_config(&path).unwrap_err());
        assert!(error.contains(&path.display().to_string()), "{error}");

        std::fs::write(&path, "host: [unclosed\n").unwrap();
        let error = chain(&read_bdk_config(&path).unwrap_err());
        assert!(error.starts_with(&path.display().to_string()), "{error}");

        let error = chain(&read_bdk_config(Path::new("/dev/zero")).unwrap_err());
        assert!(
            error.starts_with(
                "cannot read the SDK config file /dev/zero: it is a character device, not a regular file"
            ),
            "{error}"
        );
    }
}
