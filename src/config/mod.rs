//! The config file, flags and environment, merged into [`Settings`].
//!
//! Precedence is flag > environment > config file > default. The binary's
//! clap parser already folds the environment into its flags, so this module
//! sees both as one [`Overrides`]; it adds the config file and the defaults
//! and validates everything once, at start-up, so that later stages can trust
//! every value.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

pub mod bdk;

use self::bdk::{BdkConfig, read_bdk_config};
use crate::error::{Diagnostic, Error};
use crate::model::UpdateMode;

/// The config file read when neither `--config` nor `GROUPSYNC_CONFIG` names one (if it exists).
pub const DEFAULT_CONFIG: &str = "/etc/groupsync/groupsync.yaml";
/// The groups dir when none is configured, relative to the working directory.
pub const DEFAULT_GROUPS_DIR: &str = "groups.d";
/// The state file when none is configured, relative to the working directory.
pub const DEFAULT_STATE_FILE: &str = "groupsync.state.json";

const DEFAULT_INTERVAL: Duration = Duration::from_secs(5 * 60);
const DEFAULT_DEBOUNCE: Duration = Duration::from_secs(1);
const DEFAULT_CONCURRENCY: u64 = 4;
const MAX_CONCURRENCY: u64 = 256;
const DEFAULT_LOG_LEVEL: &str = "info";

/// What flags and environment variables say, already merged by the binary
/// (a flag wins over its variable). `None` = not given.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub groups_dir: Option<PathBuf>,
    pub state_file: Option<PathBuf>,
    pub pod_url: Option<String>,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
    /// An official SDK `config.yaml` to take the pod URL and bot login from.
    pub bdk_config: Option<PathBuf>,
}

/// Every setting, resolved and validated.
///
/// Holds no secret material (token and key files are paths), so `Debug` is safe to log.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    pub groups_dir: PathBuf,
    pub state_file: PathBuf,
    /// `http(s)://host[:port][/path]`, without a trailing `/`.
    pub pod_url: Option<String>,
    pub auth: AuthSettings,
    pub trigger: Trigger,
    /// Quiet time after a change under the groups dir before a cycle starts.
    pub debounce: Duration,
    /// PUTs in flight at once, 1..=256.
    pub concurrency: usize,
    pub update_mode: UpdateMode,
    /// Which groups a cycle reads from the pod before planning.
    pub refresh: RefreshMode,
    pub limits: Limits,
    pub retry: RetrySettings,
    pub metrics_listen: Option<SocketAddr>,
    pub log: LogSettings,
}

/// How groupsync authenticates to the pod: a session token file, an RSA bot, or
/// neither (then only `GROUPSYNC_SESSION_TOKEN`, read by the binary, can help).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthSettings {
    pub session_token_file: Option<PathBuf>,
    pub bot: Option<BotAuth>,
}

/// RSA bot authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotAuth {
    pub username: String,
    pub private_key_file: PathBuf,
    /// As configured, else the pod URL's origin + `/login`; `None` only when no pod URL is set.
    pub login_url: Option<String>,
}

/// When the daemon runs a cycle besides start-up and file changes.
#[derive(Debug, Clone)]
pub enum Trigger {
    Cron(CronSchedule),
    Interval(Duration),
}

/// A validated 5-field POSIX cron expression and the text it was written as.
#[derive(Clone)]
pub struct CronSchedule {
    text: String,
    /// Boxed: a parsed pattern is over 300 bytes, the rest of `Trigger` 16.
    cron: Box<croner::Cron>,
}

/// Safety valves: a cycle planning more than this writes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_changes: usize,
    pub max_deactivations: usize,
}

/// Exponential back-off for failed pod calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrySettings {
    /// Attempts in all, the first one included (>= 1).
    pub max_attempts: u32,
    pub initial_interval: Duration,
    /// Factor between successive waits (>= 1.0).
    pub multiplier: f64,
    pub max_interval: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter directive, e.g. `info` or `groupsync=debug`.
    pub level: String,
}

/// Which groups a cycle reads from the pod before planning (`refresh`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefreshMode {
    /// Only declared groups the snapshot does not know yet.
    #[default]
    Missing,
    /// Every declared group, to find changes made outside groupsync (drift).
    Always,
}

/// The shape of log lines on stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_changes: 100,
            max_deactivations: 10,
        }
    }
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            max_attempts: 6,
            initial_interval: Duration::from_millis(500),
            multiplier: 2.0,
            max_interval: Duration::from_secs(30),
        }
    }
}

impl Settings {
    /// Merges `overrides` over the config file (named, or [`DEFAULT_CONFIG`] if
    /// it exists) over the defaults.
    pub fn resolve(overrides: &Overrides) -> crate::Result<Settings> {
        resolve_with(overrides, Path::new(DEFAULT_CONFIG))
    }

    /// Settings from `overrides` and the defaults alone, reading no config file (the demo's).
    pub fn from_overrides(overrides: &Overrides) -> crate::Result<Settings> {
        merge(overrides, ConfigFile::default(), Path::new(""), None)
    }
}

/// [`Settings::resolve`] with the default config path as a parameter, for tests.
fn resolve_with(overrides: &Overrides, default_config: &Path) -> crate::Result<Settings> {
    let config_file = choose_config_file(overrides, default_config)?;
    let file = match &config_file {
        Some(path) => read_config_file(path)?,
        None => ConfigFile::default(),
    };
    // Relative paths in the file are relative to the file's directory.
    let base_dir = config_file
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    merge(overrides, file, &base_dir, config_file)
}

/// The explicitly named config file (which must exist), else the default one if it exists.
fn choose_config_file(
    overrides: &Overrides,
    default_config: &Path,
) -> crate::Result<Option<PathBuf>> {
    match &overrides.config {
        Some(path) if path.is_file() => Ok(Some(path.clone())),
        Some(path) if path.exists() => Err(config_error(
            path,
            "not a regular file (named by --config or GROUPSYNC_CONFIG)",
        )),
        Some(path) => Err(config_error(
            path,
            "no such file (named by --config or GROUPSYNC_CONFIG)",
        )),
        None if default_config.exists() => Ok(Some(default_config.to_path_buf())),
        None => Ok(None),
    }
}

fn read_config_file(path: &Path) -> crate::Result<ConfigFile> {
    let text =
        std::fs::read_to_string(path).map_err(|error| config_error(path, &read_failure(&error)))?;
    parse_config_file(path, &text)
}

fn read_failure(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::InvalidData => "cannot read: not UTF-8 text".to_string(),
        _ => format!("cannot read: {error}"),
    }
}

/// Parses the YAML text of the config file at `path`; an empty file means all defaults.
fn parse_config_file(path: &Path, text: &str) -> crate::Result<ConfigFile> {
    match serde_yaml::from_str::<Option<ConfigFile>>(text) {
        Ok(file) => Ok(file.unwrap_or_default()),
        Err(error) => Err(Error::Config(yaml_diagnostic(path, &error).to_string())),
    }
}

/// `PATH:LINE:COLUMN: message`, without serde_yaml's own " at line N column M".
fn yaml_diagnostic(path: &Path, error: &serde_yaml::Error) -> Diagnostic {
    let message = error.to_string();
    match error.location() {
        Some(location) => {
            let (line, column) = (location.line(), location.column());
            let suffix = format!(" at line {line} column {column}");
            Diagnostic::at(path, line, column, message.replacen(&suffix, "", 1))
        }
        None => Diagnostic::file(path, message),
    }
}

fn config_error(path: &Path, message: &str) -> Error {
    Error::Config(Diagnostic::file(path, message).to_string())
}

/// Applies precedence and defaults, resolving the file's relative paths against `base_dir`.
fn merge(
    overrides: &Overrides,
    file: ConfigFile,
    base_dir: &Path,
    config_file: Option<PathBuf>,
) -> crate::Result<Settings> {
    let in_file = |message: String| match &config_file {
        Some(path) => config_error(path, &message),
        None => Error::Config(message),
    };
    let auth_section = file.auth.unwrap_or_default();
    let bdk = bdk_config(overrides, &auth_section, base_dir)?;
    let pod_url = pod_url(overrides.pod_url.as_deref(), file.pod)?
        .or_else(|| bdk.as_ref().map(|bdk| bdk.pod_url.clone()));
    let auth =
        auth_settings(auth_section, base_dir, pod_url.as_deref(), bdk.as_ref()).map_err(in_file)?;
    let trigger = trigger(file.schedule, file.interval).map_err(in_file)?;
    let retry = match (file.retry, bdk.and_then(|bdk| bdk.retry)) {
        (None, Some(from_sdk)) => from_sdk,
        (section, _) => retry_settings(section.unwrap_or_default()).map_err(in_file)?,
    };
    let limits = file.limits.unwrap_or_default();
    let log = file.log.unwrap_or_default();
    Ok(Settings {
        groups_dir: choose_path(
            &overrides.groups_dir,
            file.groups_dir,
            base_dir,
            DEFAULT_GROUPS_DIR,
        ),
        state_file: choose_path(
            &overrides.state_file,
            file.state_file,
            base_dir,
            DEFAULT_STATE_FILE,
        ),
        config_file,
        pod_url,
        auth,
        trigger,
        debounce: file
            .debounce
            .map_or(DEFAULT_DEBOUNCE, |debounce| debounce.0),
        concurrency: file
            .concurrency
            .map_or(DEFAULT_CONCURRENCY, |concurrency| concurrency.0) as usize,
        update_mode: file.update_mode.unwrap_or_default(),
        refresh: file.refresh.unwrap_or_default(),
        limits: Limits {
            max_changes: limits.max_changes.unwrap_or(Limits::default().max_changes),
            max_deactivations: limits
                .max_deactivations
                .unwrap_or(Limits::default().max_deactivations),
        },
        retry,
        metrics_listen: file.metrics_listen,
        log: LogSettings {
            format: overrides.log_format.or(log.format).unwrap_or_default(),
            level: log_level(overrides.log_level.as_deref(), log.level),
        },
    })
}

/// The flag/env URL (validated here; the file's was validated while parsing), else the file's.
fn pod_url(
    overridden: Option<&str>,
    from_file: Option<PodSection>,
) -> crate::Result<Option<String>> {
    match overridden {
        Some(url) => parse_http_url(url)
            .map(Some)
            .map_err(|reason| Error::Config(format!("--pod-url / GROUPSYNC_POD_URL: {reason}"))),
        None => Ok(from_file.and_then(|pod| pod.url).map(|url| url.0)),
    }
}

/// A flag/env path as given (relative to the working directory), else the file's
/// (relative to the config file's directory), else the default.
fn choose_path(
    overridden: &Option<PathBuf>,
    from_file: Option<PathBuf>,
    base_dir: &Path,
    default: &str,
) -> PathBuf {
    match (overridden, from_file) {
        (Some(path), _) => path.clone(),
        (None, Some(path)) => base_dir.join(path),
        (None, None) => PathBuf::from(default),
    }
}

/// An empty level (e.g. `RUST_LOG=`) counts as not set.
fn log_level(overridden: Option<&str>, from_file: Option<String>) -> String {
    let non_empty = |level: &&str| !level.trim().is_empty();
    overridden
        .filter(non_empty)
        .map(str::to_string)
        .or(from_file.filter(|level| non_empty(&level.as_str())))
        .unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_string())
}

/// The SDK config named by `--bdk-config` / `GROUPSYNC_BDK_CONFIG`, else by `auth.bdk_config`.
fn bdk_config(
    overrides: &Overrides,
    auth: &AuthSection,
    base_dir: &Path,
) -> crate::Result<Option<BdkConfig>> {
    let path = match (&overrides.bdk_config, &auth.bdk_config) {
        (Some(path), _) => path.clone(),
        (None, Some(path)) => base_dir.join(path),
        (None, None) => return Ok(None),
    };
    read_bdk_config(&path)
        .map(Some)
        .map_err(|reason| config_error(&path, &format!("SDK config file: {reason}")))
}

/// The auth section; a bot from an SDK config file fills in when the section names no way to log in.
fn auth_settings(
    auth: AuthSection,
    base_dir: &Path,
    pod_url: Option<&str>,
    bdk: Option<&BdkConfig>,
) -> Result<AuthSettings, String> {
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
        (None, None) if auth.login_url.is_some() => {
            return Err(
                "auth.login_url is only used with auth.bot_username and auth.private_key_file"
                    .to_string(),
            );
        }
        (None, None) if auth.session_token_file.is_none() => bdk.map(bot_from_sdk),
        (None, None) => None,
        _ => {
            return Err(
                "auth.bot_username and auth.private_key_file go together; set both or neither"
                    .to_string(),
            );
        }
    };
    if bot.is_some() && auth.session_token_file.is_some() {
        return Err(
            "auth: set session_token_file or bot_username + private_key_file, not both".to_string(),
        );
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

/// The name of the session token among systemd's credentials (`LoadCredential=session-token:...`).
pub const SESSION_TOKEN_CREDENTIAL: &str = "session-token";

/// A credential systemd passed to the service (`$CREDENTIALS_DIRECTORY/NAME`), if there is one.
fn systemd_credential(name: &str) -> Option<PathBuf> {
    let path = Path::new(&std::env::var_os("CREDENTIALS_DIRECTORY")?).join(name);
    path.is_file().then_some(path)
}

fn trigger(
    schedule: Option<CronSchedule>,
    interval: Option<ConfigDuration>,
) -> Result<Trigger, String> {
    match (schedule, interval) {
        (Some(_), Some(_)) => {
            Err("`schedule` and `interval` are both set; keep one of them".to_string())
        }
        (Some(schedule), None) => Ok(Trigger::Cron(schedule)),
        (None, Some(interval)) if interval.0.is_zero() => {
            Err("`interval` must be longer than 0s".to_string())
        }
        (None, Some(interval)) => Ok(Trigger::Interval(interval.0)),
        (None, None) => Ok(Trigger::Interval(DEFAULT_INTERVAL)),
    }
}

fn retry_settings(retry: RetrySection) -> Result<RetrySettings, String> {
    let default = RetrySettings::default();
    let settings = RetrySettings {
        max_attempts: retry
            .max_attempts
            .map_or(default.max_attempts, |attempts| attempts.0 as u32),
        initial_interval: retry
            .initial_interval
            .map_or(default.initial_interval, |interval| interval.0),
        multiplier: retry.multiplier.unwrap_or(default.multiplier),
        max_interval: retry
            .max_interval
            .map_or(default.max_interval, |interval| interval.0),
    };
    if !(settings.multiplier >= 1.0 && settings.multiplier.is_finite()) {
        return Err(format!(
            "retry.multiplier must be a number of at least 1, not {}",
            settings.multiplier
        ));
    }
    if settings.initial_interval > settings.max_interval {
        return Err(
            "retry.initial_interval must not be longer than retry.max_interval".to_string(),
        );
    }
    Ok(settings)
}

/// Checks that `text` is an `http(s)://host...` URL without credentials, query or
/// fragment, and returns it without trailing `/`.
fn parse_http_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or_else(|| format!("`{text}` is not a URL starting with http:// or https://"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, port)| {
            if port.parse::<u16>().is_ok() {
                host
            } else {
                authority
            }
        });
    if text.contains(char::is_whitespace) || text.contains(['?', '#']) {
        Err(format!(
            "`{text}` must not contain spaces, a query (?) or a fragment (#)"
        ))
    } else if authority.contains('@') {
        Err("the URL must not contain credentials (user@); use the auth settings".to_string())
    } else if host.is_empty() || host.contains(':') && !host.starts_with('[') {
        Err(format!("`{text}` has no valid host (and optional :port)"))
    } else {
        Ok(text.trim_end_matches('/').to_string())
    }
}

/// The pod URL's origin (`scheme://host[:port]`) + `/login`:
/// `https://acme.symphony.com/pod` -> `https://acme.symphony.com/login`.
pub fn default_login_url(pod_url: &str) -> String {
    let after_scheme = pod_url.find("://").map_or(0, |index| index + 3);
    let origin_end = pod_url[after_scheme..]
        .find('/')
        .map_or(pod_url.len(), |index| after_scheme + index);
    format!("{}/login", &pod_url[..origin_end])
}

impl CronSchedule {
    /// Parses a 5-field POSIX cron expression (minute hour day-of-month month
    /// day-of-week; 0 and 7 are Sunday) or a nickname such as `@hourly`.
    pub fn parse(text: &str) -> Result<CronSchedule, String> {
        let fields = text.split_whitespace().count();
        if !text.trim_start().starts_with('@') && fields != 5 {
            return Err(format!(
                "`{text}` has {fields} fields; a schedule takes 5 (minute hour day-of-month month day-of-week), without seconds or years"
            ));
        }
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .year(croner::parser::Year::Disallowed)
            .build();
        let cron = parser
            .parse(text)
            .map_err(|error| format!("`{text}` is not a valid cron schedule: {error}"))?;
        Ok(CronSchedule {
            text: text.to_string(),
            cron: Box::new(cron),
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed schedule, e.g. for `find_next_occurrence`.
    pub fn cron(&self) -> &croner::Cron {
        &self.cron
    }
}

// The parsed pattern's Debug output is a wall of bit fields; the text says it all.
impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CronSchedule").field(&self.text).finish()
    }
}

/// Parses `500ms`, `30s`, `5m`, `1h` and combinations in descending order such as `1m30s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const EXAMPLES: &str = "write e.g. `500ms`, `30s`, `5m`, `1h` or `1m30s`";
    if text.is_empty() {
        return Err(format!("empty duration; {EXAMPLES}"));
    }
    if text.starts_with('-') {
        return Err(format!("`{text}`: a duration cannot be negative"));
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    let mut previous: Option<TimeUnit> = None;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("`{text}` is not a duration; {EXAMPLES}"));
        }
        let letters = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .map_or(rest.len(), |index| digits + index);
        let unit = TimeUnit::parse(&rest[digits..letters])
            .map_err(|reason| format!("`{text}`: {reason}; {EXAMPLES}"))?;
        if previous.is_some_and(|previous| previous <= unit) {
            return Err(format!(
                "`{text}`: write each unit once, largest first; {EXAMPLES}"
            ));
        }
        let overflow = || format!("`{text}` is too long a duration");
        let count: u64 = rest[..digits].parse().map_err(|_| overflow())?;
        total = unit
            .times(count)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(overflow)?;
        previous = Some(unit);
        rest = &rest[letters..];
    }
    Ok(total)
}

/// The units a duration may use, smallest first (the order `parse_duration` enforces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimeUnit {
    Millis,
    Seconds,
    Minutes,
    Hours,
}

impl TimeUnit {
    fn parse(text: &str) -> Result<TimeUnit, String> {
        match text {
            "ms" => Ok(TimeUnit::Millis),
            "s" => Ok(TimeUnit::Seconds),
            "m" => Ok(TimeUnit::Minutes),
            "h" => Ok(TimeUnit::Hours),
            "" => Err("a number needs a unit (ms, s, m or h)".to_string()),
            other => Err(format!("unknown unit `{other}` (use ms, s, m or h)")),
        }
    }

    fn times(self, count: u64) -> Option<Duration> {
        match self {
            TimeUnit::Millis => Some(Duration::from_millis(count)),
            TimeUnit::Seconds => Some(Duration::from_secs(count)),
            TimeUnit::Minutes => count.checked_mul(60).map(Duration::from_secs),
            TimeUnit::Hours => count.checked_mul(3600).map(Duration::from_secs),
        }
    }
}

// ---- The config file as written. Values that need parsing are checked while
// ---- deserializing, so that their errors carry the file position.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    pod: Option<PodSection>,
    auth: Option<AuthSection>,
    groups_dir: Option<PathBuf>,
    state_file: Option<PathBuf>,
    schedule: Option<CronSchedule>,
    interval: Option<ConfigDuration>,
    debounce: Option<ConfigDuration>,
    concurrency: Option<Bounded<1, MAX_CONCURRENCY>>,
    update_mode: Option<UpdateMode>,
    refresh: Option<RefreshMode>,
    limits: Option<LimitsSection>,
    retry: Option<RetrySection>,
    metrics_listen: Option<SocketAddr>,
    log: Option<LogSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PodSection {
    url: Option<HttpUrl>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthSection {
    session_token_file: Option<PathBuf>,
    bot_username: Option<String>,
    private_key_file: Option<PathBuf>,
    login_url: Option<HttpUrl>,
    bdk_config: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    max_changes: Option<usize>,
    max_deactivations: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetrySection {
    max_attempts: Option<Bounded<1, { u32::MAX as u64 }>>,
    initial_interval: Option<ConfigDuration>,
    multiplier: Option<f64>,
    max_interval: Option<ConfigDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogSection {
    format: Option<LogFormat>,
    level: Option<String>,
}

#[derive(Debug)]
struct ConfigDuration(Duration);

#[derive(Debug)]
struct HttpUrl(String);

/// An integer in `MIN..=MAX`.
#[derive(Debug)]
struct Bounded<const MIN: u64, const MAX: u64>(u64);

/// Deserializes a string scalar through `parse`. The error is raised inside
/// the visitor, where serde_yaml still knows the scalar's position.
fn deserialize_parsed<'de, D, T>(
    deserializer: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct ParsedVisitor<T> {
        expecting: &'static str,
        parse: fn(&str) -> Result<T, String>,
    }
    impl<T> Visitor<'_> for ParsedVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
            (self.parse)(value).map_err(E::custom)
        }
    }
    deserializer.deserialize_str(ParsedVisitor { expecting, parse })
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(deserializer, "a duration such as `30s`", parse_duration)
            .map(ConfigDuration)
    }
}

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(deserializer, "an http(s) URL", parse_http_url).map(HttpUrl)
    }
}

impl<'de> Deserialize<'de> for CronSchedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(deserializer, "a 5-field cron schedule", CronSchedule::parse)
    }
}

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BoundedVisitor<const MIN: u64, const MAX: u64>;
        impl<const MIN: u64, const MAX: u64> Visitor<'_> for BoundedVisitor<MIN, MAX> {
            type Value = u64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an integer from {MIN} to {MAX}")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
                match (MIN..=MAX).contains(&value) {
                    true => Ok(value),
                    false => Err(out_of_range(value, MIN, MAX)),
                }
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<u64, E> {
                match u64::try_from(value) {
                    Ok(value) => self.visit_u64(value),
                    Err(_) => Err(out_of_range(value, MIN, MAX)),
                }
            }
        }
        // `any`, not `u64`: serde_yaml's `deserialize_u64` rejects `-1` as a wrong type.
        deserializer
            .deserialize_any(BoundedVisitor::<MIN, MAX>)
            .map(Bounded)
    }
}

fn out_of_range<E: de::Error>(value: impl fmt::Display, min: u64, max: u64) -> E {
    E::custom(format!(
        "{value} is out of range; expected an integer from {min} to {max}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary directory holding a config file.
    struct ConfigDir {
        dir: tempfile::TempDir,
    }

    impl ConfigDir {
        fn with(contents: &str) -> ConfigDir {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("groupsync.yaml"), contents).unwrap();
            ConfigDir { dir }
        }

        fn path(&self) -> PathBuf {
            self.dir.path().join("groupsync.yaml")
        }

        fn overrides(&self) -> Overrides {
            Overrides {
                config: Some(self.path()),
                ..Overrides::default()
            }
        }

        fn resolve(&self) -> crate::Result<Settings> {
            resolve_with(&self.overrides(), Path::new("/nonexistent/groupsync.yaml"))
        }

        fn error(&self) -> String {
            self.resolve()
                .expect_err("the config should be rejected")
                .to_string()
        }
    }

    fn no_default() -> &'static Path {
        Path::new("/nonexistent/groupsync.yaml")
    }

    #[test]
    fn defaults_apply_without_any_config_file() {
        let settings = resolve_with(&Overrides::default(), no_default()).unwrap();
        assert_eq!(settings.config_file, None);
        assert_eq!(settings.groups_dir, Path::new("groups.d"));
        assert_eq!(settings.state_file, Path::new("groupsync.state.json"));
        assert_eq!(settings.pod_url, None);
        assert_eq!(settings.auth, AuthSettings::default());
        assert!(
            matches!(settings.trigger, Trigger::Interval(interval) if interval == Duration::from_secs(300))
        );
        assert_eq!(settings.debounce, Duration::from_secs(1));
        assert_eq!(settings.concurrency, 4);
        assert_eq!(settings.update_mode, UpdateMode::Minimal);
        assert_eq!(settings.limits, Limits::default());
        assert_eq!(settings.retry, RetrySettings::default());
        assert_eq!(settings.metrics_listen, None);
        assert_eq!(
            settings.log,
            LogSettings {
                format: LogFormat::Text,
                level: "info".to_string()
            }
        );
    }

    #[test]
    fn default_config_file_is_read_when_it_exists() {
        let config = ConfigDir::with("concurrency: 9\n");
        let settings = resolve_with(&Overrides::default(), &config.path()).unwrap();
        assert_eq!(settings.config_file, Some(config.path()));
        assert_eq!(settings.concurrency, 9);
    }

    #[test]
    fn empty_file_means_all_defaults() {
        for text in ["", "\n", "# only a comment\n"] {
            let settings = ConfigDir::with(text).resolve().unwrap();
            assert_eq!(settings.concurrency, 4, "for {text:?}");
        }
    }

    #[test]
    fn every_key_is_read() {
        let config = ConfigDir::with(
            "pod:\n  url: https://acme.symphony.com/pod/\n\
             auth:\n  bot_username: bot\n  private_key_file: /keys/bot.pem\n\
             groups_dir: /etc/groupsync/groups.d\n\
             state_file: /var/lib/groupsync/state.json\n\
             schedule: \"*/5 * * * 7\"\n\
             debounce: 250ms\n\
             concurrency: 8\n\
             update_mode: full\n\
             limits: {max_changes: 5, max_deactivations: 0}\n\
             retry: {max_attempts: 3, initial_interval: 1s, multiplier: 1.5, max_interval: 1m}\n\
             metrics_listen: 127.0.0.1:9464\n\
             log: {format: json, level: debug}\n",
        );
        let settings = config.resolve().unwrap();
        assert_eq!(
            settings.pod_url.as_deref(),
            Some("https://acme.symphony.com/pod")
        );
        let bot = settings.auth.bot.unwrap();
        assert_eq!(bot.username, "bot");
        assert_eq!(bot.private_key_file, Path::new("/keys/bot.pem"));
        assert_eq!(
            bot.login_url.as_deref(),
            Some("https://acme.symphony.com/login")
        );
        assert_eq!(settings.groups_dir, Path::new("/etc/groupsync/groups.d"));
        assert_eq!(
            settings.state_file,
            Path::new("/var/lib/groupsync/state.json")
        );
        assert!(
            matches!(&settings.trigger, Trigger::Cron(schedule) if schedule.as_str() == "*/5 * * * 7")
        );
        assert_eq!(settings.debounce, Duration::from_millis(250));
        assert_eq!(settings.concurrency, 8);
        assert_eq!(settings.update_mode, UpdateMode::Full);
        assert_eq!(
            settings.limits,
            Limits {
                max_changes: 5,
                max_deactivations: 0
            }
        );
        assert_eq!(
            settings.retry,
            RetrySettings {
                max_attempts: 3,
                initial_interval: Duration::from_secs(1),
                multiplier: 1.5,
                max_interval: Duration::from_secs(60)
            }
        );
        assert_eq!(
            settings.metrics_listen,
            Some("127.0.0.1:9464".parse().unwrap())
        );
        assert_eq!(settings.log.format, LogFormat::Json);
        assert_eq!(settings.log.level, "debug");
    }

    #[test]
    fn overrides_beat_the_file() {
        let config = ConfigDir::with(
            "pod: {url: https://file.example}\ngroups_dir: from-file\nstate_file: from-file.json\nlog: {format: json, level: debug}\n",
        );
        let overrides = Overrides {
            groups_dir: Some("flag.d".into()),
            state_file: Some("flag.json".into()),
            pod_url: Some("http://flag.example:8080/".to_string()),
            log_format: Some(LogFormat::Text),
            log_level: Some("warn".to_string()),
            ..config.overrides()
        };
        let settings = resolve_with(&overrides, no_default()).unwrap();
        assert_eq!(settings.groups_dir, Path::new("flag.d"));
        assert_eq!(settings.state_file, Path::new("flag.json"));
        assert_eq!(
            settings.pod_url.as_deref(),
            Some("http://flag.example:8080")
        );
        assert_eq!(settings.log.format, LogFormat::Text);
        assert_eq!(settings.log.level, "warn");
    }

    #[test]
    fn an_empty_log_level_override_counts_as_unset() {
        let config = ConfigDir::with("log: {level: debug}\n");
        let overrides = Overrides {
            log_level: Some(String::new()),
            ..config.overrides()
        };
        assert_eq!(
            resolve_with(&overrides, no_default()).unwrap().log.level,
            "debug"
        );
    }

    #[test]
    fn relative_paths_in_the_file_are_relative_to_its_directory() {
        let config = ConfigDir::with(
            "groups_dir: groups.d\nstate_file: ../state.json\nauth: {session_token_file: token}\n",
        );
        let settings = config.resolve().unwrap();
        let dir = config.dir.path();
        assert_eq!(settings.groups_dir, dir.join("groups.d"));
        assert_eq!(settings.state_file, dir.join("../state.json"));
        assert_eq!(settings.auth.session_token_file, Some(dir.join("token")));
    }

    #[test]
    fn relative_override_paths_stay_relative_to_the_working_directory() {
        let config = ConfigDir::with("groups_dir: groups.d\n");
        let overrides = Overrides {
            groups_dir: Some("mine.d".into()),
            ..config.overrides()
        };
        assert_eq!(
            resolve_with(&overrides, no_default()).unwrap().groups_dir,
            Path::new("mine.d")
        );
    }

    #[test]
    fn a_missing_explicit_config_file_is_an_error_naming_it() {
        let overrides = Overrides {
            config: Some("/nonexistent/mine.yaml".into()),
            ..Overrides::default()
        };
        let error = resolve_with(&overrides, no_default()).unwrap_err();
        assert!(matches!(error, Error::Config(_)));
        assert_eq!(
            error.to_string(),
            "/nonexistent/mine.yaml: no such file (named by --config or GROUPSYNC_CONFIG)"
        );
    }

    #[test]
    fn unknown_top_level_key_names_file_line_and_column() {
        let config = ConfigDir::with("concurrency: 2\nfoo: 1\n");
        let prefix = format!(
            "{}:2:1: unknown field `foo`, expected one of",
            config.path().display()
        );
        let error = config.error();
        assert!(error.starts_with(&prefix), "{error}");
        assert!(!error.contains(" at line "), "{error}");
    }

    #[test]
    fn unknown_nested_key_names_file_line_and_column() {
        let config = ConfigDir::with("retry:\n  max_attempts: 2\n  maxattempts: 3\n");
        let prefix = format!(
            "{}:3:3: retry: unknown field `maxattempts`, expected one of",
            config.path().display()
        );
        let error = config.error();
        assert!(error.starts_with(&prefix), "{error}");
    }

    #[test]
    fn wrong_type_names_file_line_and_column() {
        let config = ConfigDir::with("limits:\n  max_changes: lots\n");
        let prefix = format!(
            "{}:2:16: limits.max_changes: invalid type: string \"lots\"",
            config.path().display()
        );
        let error = config.error();
        assert!(error.starts_with(&prefix), "{error}");
    }

    #[test]
    fn invalid_yaml_names_file_line_and_column() {
        let config = ConfigDir::with("pod:\n\turl: x\n");
        let error = config.error();
        let expected = format!(
            "{}:2:1: found character that cannot start any token",
            config.path().display()
        );
        assert!(error.starts_with(&expected), "{error}");
    }

    #[test]
    fn bad_values_are_reported_at_their_position() {
        let cases = [
            (
                "debounce: 5\n",
                "1:11: debounce: `5`: a number needs a unit",
            ),
            (
                "concurrency: 0\n",
                "1:14: concurrency: 0 is out of range; expected an integer from 1 to 256",
            ),
            (
                "concurrency: 257\n",
                "1:14: concurrency: 257 is out of range",
            ),
            ("concurrency: -1\n", "1:14: concurrency: -1 is out of range"),
            (
                "retry: {max_attempts: 0}\n",
                "1:23: retry.max_attempts: 0 is out of range",
            ),
            (
                "pod: {url: ftp://x}\n",
                "1:12: pod.url: `ftp://x` is not a URL",
            ),
            (
                "update_mode: some\n",
                "1:14: update_mode: unknown variant `some`",
            ),
            (
                "log: {format: xml}\n",
                "1:15: log.format: unknown variant `xml`",
            ),
            (
                "metrics_listen: localhost\n",
                "1:17: metrics_listen: invalid socket address",
            ),
        ];
        for (text, expected) in cases {
            let config = ConfigDir::with(text);
            let expected = format!("{}:{expected}", config.path().display());
            let error = config.error();
            assert!(error.starts_with(&expected), "for {text:?}: {error}");
        }
    }

    #[test]
    fn bad_combinations_are_rejected() {
        let cases = [
            (
                "retry: {multiplier: 0.5}\n",
                "retry.multiplier must be a number of at least 1",
            ),
            (
                "retry: {initial_interval: 1m, max_interval: 1s}\n",
                "retry.initial_interval must not be longer",
            ),
            ("interval: 0s\n", "`interval` must be longer than 0s"),
            ("auth: {bot_username: bot}\n", "go together"),
            ("auth: {login_url: https://x/login}\n", "only used with"),
            (
                "auth: {session_token_file: t, bot_username: b, private_key_file: k}\n",
                "not both",
            ),
        ];
        for (text, expected) in cases {
            let error = ConfigDir::with(text).error();
            assert!(error.contains(expected), "for {text:?}: {error}");
        }
    }

    #[test]
    fn schedule_or_interval() {
        let interval = ConfigDir::with("interval: 1m30s\n").resolve().unwrap();
        assert!(
            matches!(interval.trigger, Trigger::Interval(interval) if interval == Duration::from_secs(90))
        );
        let cron = ConfigDir::with("schedule: \"0 3 * * 0\"\n")
            .resolve()
            .unwrap();
        assert!(
            matches!(&cron.trigger, Trigger::Cron(schedule) if schedule.as_str() == "0 3 * * 0")
        );
        let both = ConfigDir::with("schedule: \"0 3 * * 0\"\ninterval: 5m\n").error();
        assert!(
            both.ends_with(": `schedule` and `interval` are both set; keep one of them"),
            "{both}"
        );
    }

    #[test]
    fn bad_cron_schedules_are_rejected_with_position() {
        let cases = [
            (
                "schedule: \"*/10 * * * * *\"\n",
                "has 6 fields; a schedule takes 5",
            ),
            ("schedule: \"* * * *\"\n", "has 4 fields"),
            ("schedule: \"61 * * * *\"\n", "is not a valid cron schedule"),
            ("schedule: \"* * * * mon-fri\"\n", ""),
            ("schedule: \"* * * * x\"\n", "is not a valid cron schedule"),
        ];
        for (text, expected) in cases {
            let result = ConfigDir::with(text).resolve();
            if expected.is_empty() {
                assert!(result.is_ok(), "for {text:?}: {:?}", result.err());
                continue;
            }
            let error = result.unwrap_err().to_string();
            assert!(error.contains(":1:11: schedule: "), "for {text:?}: {error}");
            assert!(error.contains(expected), "for {text:?}: {error}");
        }
    }

    #[test]
    fn sunday_is_both_0_and_7() {
        let zero = CronSchedule::parse("0 0 * * 0").unwrap();
        let seven = CronSchedule::parse("0 0 * * 7").unwrap();
        assert_eq!(
            zero.cron().pattern.days_of_week,
            seven.cron().pattern.days_of_week
        );
    }

    #[test]
    fn durations_of_every_form() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("1h", Duration::from_secs(3600)),
            ("1m30s", Duration::from_secs(90)),
            ("1h2m3s4ms", Duration::from_millis(3_723_004)),
            ("0s", Duration::ZERO),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "for {text:?}");
        }
    }

    #[test]
    fn bad_durations_are_rejected() {
        let cases = [
            ("", "empty duration"),
            ("-5s", "cannot be negative"),
            ("5", "needs a unit"),
            ("5x", "unknown unit `x`"),
            ("1.5s", "unknown unit `.`"),
            (" 5s", "is not a duration"),
            ("s", "is not a duration"),
            ("30s1m", "largest first"),
            ("1s1s", "largest first"),
            ("99999999999999999999s", "too long"),
            ("5124095576030432h", "too long"),
            ("18446744073709551615s1000ms", "too long"),
        ];
        for (text, expected) in cases {
            let error = parse_duration(text).expect_err(text);
            assert!(error.contains(expected), "for {text:?}: {error}");
        }
    }

    #[test]
    fn pod_urls_are_validated_and_trimmed() {
        assert_eq!(
            parse_http_url("https://acme.example/pod/"),
            Ok("https://acme.example/pod".to_string())
        );
        assert_eq!(
            parse_http_url("http://127.0.0.1:8080"),
            Ok("http://127.0.0.1:8080".to_string())
        );
        for bad in [
            "acme.example",
            "https://",
            "https:///pod",
            "https://u:p@acme.example",
            "https://a.example/?x=1",
            "https://a:b:c",
        ] {
            assert!(parse_http_url(bad).is_err(), "{bad}");
        }
        let overrides = Overrides {
            pod_url: Some("nope".to_string()),
            ..Overrides::default()
        };
        let error = resolve_with(&overrides, no_default())
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("--pod-url / GROUPSYNC_POD_URL: "),
            "{error}"
        );
    }

    #[test]
    fn default_login_url_is_the_pod_origin_plus_login() {
        assert_eq!(
            default_login_url("https://acme.symphony.com/pod"),
            "https://acme.symphony.com/login"
        );
        assert_eq!(
            default_login_url("http://127.0.0.1:8080/pod"),
            "http://127.0.0.1:8080/login"
        );
        assert_eq!(
            default_login_url("https://acme.symphony.com"),
            "https://acme.symphony.com/login"
        );
        assert_eq!(
            default_login_url("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/login"
        );
    }
}
