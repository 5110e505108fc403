//! The config file, flags and environment, merged into [`Settings`].
//!
//! Precedence is flag > environment > config file > default. Each flag and
//! its environment variable are declared once, on [`Overrides`], which the
//! binary flattens into its clap parser; clap folds the environment into the
//! flags, so this module sees both as one `Overrides`. It adds the config
//! file and the defaults and validates everything once, at start-up, so that
//! later stages can trust every value.
//!
//! - `mod.rs` (this file) — [`Settings`] and its parts, [`Overrides`], and
//!   the precedence rules ([`Settings::resolve`], `merge`).
//! - `file.rs` — the config file's format: its sections (unknown keys are
//!   errors) and the visitors that give every bad value its `file:line:col`.
//! - `values.rs` — the value parsers: [`parse_duration`] (and its range,
//!   [`MAX_DURATION`]), http(s) URLs, [`parse_listen_address`],
//!   [`CronSchedule`], [`default_login_url`], integer ranges.
//! - [`files`] — the files settings name, read safely: regular files only,
//!   opened without blocking, never past a cap; and [`files::real_path`].
//! - [`settings`] — [`SETTINGS`], every setting described once: key, flag,
//!   variable, value, default, what it does.
//! - [`limits`] — [`LIMITS`], the safety limits as one table: key, what it
//!   counts, default, refusal.
//! - [`docs`] — both tables as the Markdown of `docs/interface.md`.
//! - `journal.rs` — where the journal goes (beside the state file unless
//!   `journal_file` says), the checks on its path, and `--revision`.
//! - `access.rs` — where the pod is and how to log in to it: the pod URL,
//!   CA file and proxy, and the credentials.
//! - [`bdk`] — the official SDK's `config.yaml`.
//!
//! Every failure is a [`ConfigError`] (with a [`ValueError`] or [`BdkError`]
//! as its cause where there is one), defined in `crate::error` so that the
//! crate's `Error` can carry it.
//!
//! # How to add a setting
//!
//! A config file key takes four edits, none of them in `main.rs`:
//! 1. `file.rs`: a field in `ConfigFile`, or in its section struct
//!    (`RetrySection`, ...), typed with a parsing wrapper (`ConfigDuration`
//!    with its minimum, `HttpUrl`, `Bounded`) where the text needs checking,
//!    so that a bad value is reported at its position;
//! 2. this file: a field in [`Settings`], or in the part it belongs to
//!    ([`Limits`], ...);
//! 3. this file: one line in `merge` (or in the helper `merge` calls for that
//!    section, e.g. `retry_settings`) that takes the file's value or the
//!    default, a `DEFAULT_...` constant;
//! 4. `settings.rs`: its row in [`SETTINGS`]: key, value, default (that
//!    constant) and what it does (a duration: `.at_least(MIN_...)`, the
//!    constant its `ConfigDuration` takes). Then `UPDATE_DOCS=1 cargo test --test tests docs`
//!    writes it into the table of `docs/interface.md`.
//!
//! A path to a file groupsync reads also gets its line in `check_files`
//! (`access.rs`: a regular file, not too large), so that `validate` refuses
//! a FIFO or a device there; whoever reads it does so through [`files`].
//!
//! A flag, with its environment variable, takes one more: a field on
//! [`Overrides`] (its doc comment is the `--help` text; its `#[arg]` gives
//! `--name`, `env = "GROUPSYNC_..."` and `global = true`), which the line in
//! `merge` puts first, as in `overrides.log_format.or(log.format)`; its row
//! names the field (`.with_flag("log_format")`), and the docs take the flag's
//! name and variable from the `#[arg]`.
//!
//! Tests fail until each step is done: the table must hold exactly the keys
//! `file.rs` accepts and the fields of `Overrides`, each default it shows
//! must be the one `merge` applies, and `docs/interface.md` must show the
//! table as the code renders it. Add the key to the `every_key_is_read`
//! test too. The compiler lists the places that build a part with a
//! `Default` impl (`bdk.rs`, tests).
//!
//! A new safety limit is a [`Limit`] variant with its row in [`LIMITS`] (key,
//! what it counts, default, refusal), a field in [`Limits`] and in
//! `LimitsSection`, and its line in `merge`; the compiler then points at
//! [`Limits::value`], and the pipeline counts it. Its settings row, its row
//! of the docs' limits table and its refusal text follow from `LIMITS`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod access;
pub mod bdk;
pub mod docs;
mod file;
pub mod files;
mod journal;
pub mod limits;
pub mod notify;
pub mod settings;
mod values;

pub use self::journal::{JOURNAL_SUFFIX, JournalSettings, beside_state};
pub use self::limits::{LIMITS, Limit, LimitSpec, limit_keys};
pub use self::notify::{Destination, EventKind, NotifySettings, Room, TargetSettings};
pub use self::settings::{DefaultValue, SETTINGS, SettingSpec};
pub use self::values::{
    CronSchedule, MAX_DURATION, ProxyUrl, default_login_url, parse_duration, parse_listen_address,
};

use self::access::{
    AgentKeys, auth_settings, bdk_config, check_files, network_settings, notify_settings, pod_url,
};
use self::file::{ConfigFile, LogFilter, RetrySection, read_config_file};
use self::files::real_path;
use self::journal::{journal_settings, revision};
use self::settings::flag_label;
use self::values::{duration_out_of_range, parse_log_filter};
use crate::error;
pub use crate::error::{
    BdkError, BdkProblem, ConfigError, FileError, RuleError, ValueError, format_size,
};
use crate::model::{DriftPolicy, UpdateMode};

/// The config file read when neither `--config` nor `GROUPSYNC_CONFIG` names one (if it exists).
pub const DEFAULT_CONFIG: &str = "/etc/groupsync/groupsync.yaml";
/// The groups dir when none is configured, relative to the working directory.
pub const DEFAULT_GROUPS_DIR: &str = "groups.d";
/// The state file when none is configured, relative to the working directory.
pub const DEFAULT_STATE_FILE: &str = "groupsync.state.json";

const DEFAULT_INTERVAL: Duration = Duration::from_secs(5 * 60);
const DEFAULT_DEBOUNCE: Duration = Duration::from_secs(1);
/// How long a cycle may run before it is abandoned as failed.
pub const DEFAULT_CYCLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// The shortest `interval`: one scheduled cycle a second at most (each one
/// reads the tree and may write and fsync the state file).
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest `debounce`: a burst of saves by an editor or `git checkout`
/// is one change, not one cycle per file.
pub const MIN_DEBOUNCE: Duration = Duration::from_millis(100);
/// The shortest `cycle_timeout`.
pub const MIN_CYCLE_TIMEOUT: Duration = Duration::from_secs(1);
const DEFAULT_CONCURRENCY: u64 = 4;
/// `journal.max_size`: the size at which the journal rotates.
pub const DEFAULT_JOURNAL_MAX_SIZE: u64 = 64 * 1024 * 1024;
/// The smallest `journal.max_size` (a file then holds a record or two).
pub const MIN_JOURNAL_SIZE: u64 = 1024;
/// The largest `journal.max_size`.
pub const MAX_JOURNAL_SIZE: u64 = 64 * 1024 * 1024 * 1024;
const DEFAULT_LOG_LEVEL: &str = "info";

/// What flags and environment variables say (clap lets a flag win over its
/// variable). `None` = neither given.
///
/// The binary flattens this into its parser (`#[command(flatten)]`), so each
/// field is a global flag declared here once: the doc comment is its
/// `--help` text, the `#[arg]` its name, variable and value name.
#[derive(Debug, Default, Clone, clap::Args)]
// Without this, clap would make the doc comment above the binary's `--help` text.
#[command(about = None, long_about = None)]
pub struct Overrides {
    /// Config file [default: /etc/groupsync/groupsync.yaml if it exists]
    #[arg(long, global = true, env = "GROUPSYNC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of desired groups [default: ./groups.d]
    #[arg(long, global = true, env = "GROUPSYNC_GROUPS_DIR", value_name = "DIR")]
    pub groups_dir: Option<PathBuf>,
    /// State file: the stored snapshot of the pod [default: ./groupsync.state.json]
    #[arg(
        long = "state",
        global = true,
        env = "GROUPSYNC_STATE",
        value_name = "FILE"
    )]
    pub state_file: Option<PathBuf>,
    // The help text is read in a terminal: a bare URL is what it needs.
    #[allow(rustdoc::bare_urls)]
    /// Pod base URL, e.g. https://acme.symphony.com/pod
    #[arg(long, global = true, env = "GROUPSYNC_POD_URL", value_name = "URL")]
    pub pod_url: Option<String>,
    /// An official Symphony SDK config.yaml to take the pod URL and bot login from
    #[arg(long, global = true, env = "GROUPSYNC_BDK_CONFIG", value_name = "FILE")]
    pub bdk_config: Option<PathBuf>,
    /// PEM file of CA certificates to trust for the pod, besides the system's
    #[arg(long, global = true, env = "GROUPSYNC_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Log format
    #[arg(long, global = true, env = "GROUPSYNC_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log level or tracing filter (e.g. debug, groupsync=trace)
    #[arg(long, global = true, env = "RUST_LOG", value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Abandon a cycle running longer than this, as failed (e.g. 90s, 10m) [default: 10m]
    #[arg(
        long,
        global = true,
        env = "GROUPSYNC_CYCLE_TIMEOUT",
        value_name = "DURATION",
        value_parser = parse_duration
    )]
    pub cycle_timeout: Option<Duration>,
    /// Journal: one hash-chained record per write [default: beside the state file, STATE.journal.jsonl]
    #[arg(
        long = "journal",
        global = true,
        env = "GROUPSYNC_JOURNAL",
        value_name = "FILE"
    )]
    pub journal_file: Option<PathBuf>,
    /// The revision of the groups dir, instead of the git commit it is at (e.g. a CI build's commit)
    #[arg(long, global = true, env = "GROUPSYNC_REVISION", value_name = "TEXT")]
    pub revision: Option<String>,
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
    /// The journal: one hash-chained record per write (a regular file or
    /// none yet; not a symlink, not the state file, not inside `groups_dir`).
    pub journal_file: PathBuf,
    pub journal: JournalSettings,
    /// The revision `--revision` / `GROUPSYNC_REVISION` gives, replacing
    /// the one read from git; one line of visible text.
    pub revision: Option<String>,
    /// `http(s)://host[:port][/path]`, without a trailing `/`.
    pub pod_url: Option<String>,
    pub auth: AuthSettings,
    /// How requests reach the pod: extra CA certificates, a proxy.
    pub network: NetworkSettings,
    pub trigger: Trigger,
    /// Quiet time after a change under the groups dir before a cycle starts.
    pub debounce: Duration,
    /// A cycle running longer is abandoned as failed (> 0).
    pub cycle_timeout: Duration,
    /// PUTs in flight at once, 1..=256.
    pub concurrency: usize,
    pub update_mode: UpdateMode,
    /// Which groups a cycle reads from the pod before planning, when the
    /// config says (`refresh:`); `None` leaves it to the command: `plan` and
    /// `apply` read every declared group, the daemon chooses per cycle.
    pub refresh: Option<RefreshMode>,
    /// What becomes of an orphan, a managed group no file declares any more.
    pub prune: PruneMode,
    /// What drift calls for when a group says nothing (`on_drift:` in YAML wins).
    pub on_drift: DriftPolicy,
    pub limits: Limits,
    /// More than this share of the managed groups pruned at once needs `--force`.
    pub max_prune_fraction: f64,
    pub retry: RetrySettings,
    /// Where `/metrics`, `/healthz`, `/readyz` and `/plan` are served (resolved at start-up).
    pub metrics_listen: Option<SocketAddr>,
    /// A file holding the token `/plan` and `/plan.json` ask for (read by the daemon at start-up).
    pub plan_token_file: Option<PathBuf>,
    pub log: LogSettings,
    /// `dry_run: true`: the daemon (`run`, `run --once`) never writes, as with `--dry-run`.
    pub dry_run: bool,
    /// `notify:` and `notify_settings:`, and where the agent is.
    pub notify: NotifySettings,
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

/// How requests reach the pod and its login endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkSettings {
    /// `pod.ca_file` (or the SDK file's PEM `ssl.trustStore`): CA
    /// certificates trusted besides the system's.
    pub ca_file: Option<PathBuf>,
    /// `proxy.url` (or the SDK file's `proxy`): every request goes through it
    /// but those to hosts in `NO_PROXY`. `None` leaves it to `HTTPS_PROXY`,
    /// `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`.
    pub proxy: Option<ProxyUrl>,
}

/// When the daemon runs a cycle besides start-up and file changes.
#[derive(Debug, Clone)]
pub enum Trigger {
    Cron(CronSchedule),
    Interval(Duration),
}

/// Safety valves: a cycle planning more than this writes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_changes: usize,
    pub max_deactivations: usize,
    /// Members plus assignees removed, across all groups.
    pub max_member_removals: usize,
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

/// What becomes of an orphan (`prune:`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PruneMode {
    /// Listed in every plan; nothing written.
    #[default]
    Off,
    /// Deactivated (`PUT {"active": false}`), its members and assignees left as they are.
    Deactivate,
}

/// The share of managed groups one cycle may prune without `--force`.
pub const DEFAULT_MAX_PRUNE_FRACTION: f64 = 0.5;

/// The shape of log lines on stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Limits {
    /// The configured value of the limit `spec` (a row of [`LIMITS`]).
    pub fn value(&self, spec: &LimitSpec) -> usize {
        match spec.limit {
            Limit::Changes => self.max_changes,
            Limit::Deactivations => self.max_deactivations,
            Limit::MemberRemovals => self.max_member_removals,
        }
    }
}

/// Each limit's default, from [`LIMITS`].
impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_changes: Limit::Changes.spec().default,
            max_deactivations: Limit::Deactivations.spec().default,
            max_member_removals: Limit::MemberRemovals.spec().default,
        }
    }
}

/// `retry:` when the config file has none (and no SDK file gives one).
const DEFAULT_RETRY: RetrySettings = RetrySettings {
    max_attempts: 6,
    initial_interval: Duration::from_millis(500),
    multiplier: 2.0,
    max_interval: Duration::from_secs(30),
};

impl Default for RetrySettings {
    fn default() -> Self {
        DEFAULT_RETRY
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
) -> Result<Option<PathBuf>, ConfigError> {
    match &overrides.config {
        Some(path) if path.is_file() => Ok(Some(path.clone())),
        Some(path) if path.exists() => Err(ConfigError::NotAFile { path: path.clone() }),
        Some(path) => Err(ConfigError::NoSuchFile { path: path.clone() }),
        None if default_config.exists() => Ok(Some(default_config.to_path_buf())),
        None => Ok(None),
    }
}

/// Applies precedence and defaults, resolving the file's relative paths against `base_dir`.
fn merge(
    overrides: &Overrides,
    file: ConfigFile,
    base_dir: &Path,
    config_file: Option<PathBuf>,
) -> crate::Result<Settings> {
    let in_file = |rule: RuleError| ConfigError::Rule {
        file: config_file.clone(),
        rule,
    };
    let mut auth_section = file.auth.unwrap_or_default();
    let bdk = bdk_config(overrides, &auth_section, base_dir)?;
    let mut pod_section = file.pod.unwrap_or_default();
    let agent_keys = AgentKeys {
        agent_url: pod_section.agent_url.take(),
        key_manager_url: pod_section.key_manager_url.take(),
        key_manager_token_file: auth_section.key_manager_token_file.take(),
    };
    let network = network_settings(
        overrides,
        pod_section.ca_file.as_deref(),
        file.proxy,
        base_dir,
        bdk.as_ref(),
    );
    let pod_url = pod_url(overrides.pod_url.as_deref(), pod_section)?
        .or_else(|| bdk.as_ref().map(|bdk| bdk.pod_url.clone()));
    let auth =
        auth_settings(auth_section, base_dir, pod_url.as_deref(), bdk.as_ref()).map_err(in_file)?;
    let interval = file.interval.map(|interval| interval.0);
    let trigger = trigger(file.schedule, interval).map_err(in_file)?;
    let retry = match (file.retry, bdk.as_ref().and_then(|bdk| bdk.retry)) {
        (None, Some(from_sdk)) => from_sdk,
        (section, _) => retry_settings(section.unwrap_or_default()).map_err(in_file)?,
    };
    let limits = file.limits.unwrap_or_default();
    let log = file.log.unwrap_or_default();
    let cycle_timeout = cycle_timeout(
        overrides.cycle_timeout,
        file.cycle_timeout.map(|timeout| timeout.0),
    )?;
    let groups_dir = choose_path(
        &overrides.groups_dir,
        file.groups_dir,
        base_dir,
        DEFAULT_GROUPS_DIR,
    );
    let state_file = choose_path(
        &overrides.state_file,
        file.state_file,
        base_dir,
        DEFAULT_STATE_FILE,
    );
    refuse_state_file_inside(&groups_dir, &state_file)?;
    check_files(&state_file, &auth, &network, bdk.as_ref())?;
    let (journal_file, journal) = journal_settings(
        overrides.journal_file.as_ref(),
        file.journal_file,
        file.journal.and_then(|journal| journal.max_size),
        base_dir,
        &state_file,
        &groups_dir,
    )?;
    let notify = notify_settings(
        file.notify,
        file.notify_settings,
        agent_keys,
        base_dir,
        pod_url.as_deref(),
    );
    Ok(Settings {
        groups_dir,
        state_file,
        journal_file,
        journal,
        revision: revision(overrides.revision.as_deref())?,
        config_file,
        pod_url,
        auth,
        network,
        trigger,
        debounce: file
            .debounce
            .map_or(DEFAULT_DEBOUNCE, |debounce| debounce.0),
        cycle_timeout,
        concurrency: file
            .concurrency
            .map_or(DEFAULT_CONCURRENCY, |concurrency| concurrency.0) as usize,
        update_mode: file.update_mode.unwrap_or_default(),
        refresh: file.refresh,
        prune: file.prune.unwrap_or_default(),
        on_drift: file.on_drift.unwrap_or_default(),
        max_prune_fraction: limits
            .max_prune_fraction
            .as_ref()
            .map_or(DEFAULT_MAX_PRUNE_FRACTION, |fraction| fraction.0),
        limits: Limits {
            max_changes: limits.max_changes.unwrap_or(Limits::default().max_changes),
            max_deactivations: limits
                .max_deactivations
                .unwrap_or(Limits::default().max_deactivations),
            max_member_removals: limits
                .max_member_removals
                .unwrap_or(Limits::default().max_member_removals),
        },
        retry,
        metrics_listen: file.metrics_listen.map(|listen| listen.0),
        plan_token_file: file.plan_token_file.map(|path| base_dir.join(path)),
        log: LogSettings {
            format: overrides.log_format.or(log.format).unwrap_or_default(),
            level: log_level(overrides.log_level.as_deref(), log.level)?,
        },
        dry_run: file.dry_run.unwrap_or(false),
        notify,
    })
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

/// Refuses a state file inside the groups dir, hidden sub-folders and links
/// included (a link whose target is not there yet too: the first save
/// creates it): each save would be a change there, starting another cycle.
fn refuse_state_file_inside(groups_dir: &Path, state_file: &Path) -> Result<(), ConfigError> {
    if !real_path(state_file).starts_with(real_path(groups_dir)) {
        return Ok(());
    }
    Err(ConfigError::StateFileInsideGroupsDir {
        state_file: state_file.to_path_buf(),
        groups_dir: groups_dir.to_path_buf(),
    })
}

/// An empty level (e.g. `RUST_LOG=`) counts as not set.
/// The flag/env level is checked here (the file's was checked while parsing).
fn log_level(
    overridden: Option<&str>,
    from_file: Option<LogFilter>,
) -> Result<String, ConfigError> {
    let non_empty = |level: &&str| !level.trim().is_empty();
    if let Some(level) = overridden.filter(non_empty) {
        return parse_log_filter(level).map_err(|source| ConfigError::Flag {
            flag: flag_label("log_level"),
            source,
        });
    }
    Ok(from_file
        .map(|level| level.0)
        .filter(|level| non_empty(&level.as_str()))
        .unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_string()))
}

/// The schedule or the interval (the file's interval was checked while parsing).
fn trigger(
    schedule: Option<CronSchedule>,
    interval: Option<Duration>,
) -> Result<Trigger, RuleError> {
    match (schedule, interval) {
        (Some(_), Some(_)) => Err(RuleError::ScheduleAndInterval),
        (Some(schedule), None) => Ok(Trigger::Cron(schedule)),
        (None, Some(interval)) => Ok(Trigger::Interval(interval)),
        (None, None) => Ok(Trigger::Interval(DEFAULT_INTERVAL)),
    }
}

/// The flag/env value (its minimum checked here: the flag's parser checked
/// only the maximum), else the file's (checked while parsing), else the default.
fn cycle_timeout(
    overridden: Option<Duration>,
    from_file: Option<Duration>,
) -> Result<Duration, ConfigError> {
    match (overridden, from_file) {
        (Some(timeout), _) if timeout < MIN_CYCLE_TIMEOUT => Err(ConfigError::Flag {
            flag: flag_label("cycle_timeout"),
            source: duration_out_of_range(&error::short_duration(timeout), MIN_CYCLE_TIMEOUT),
        }),
        (Some(timeout), _) | (None, Some(timeout)) => Ok(timeout),
        (None, None) => Ok(DEFAULT_CYCLE_TIMEOUT),
    }
}

fn retry_settings(retry: RetrySection) -> Result<RetrySettings, RuleError> {
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
        return Err(RuleError::RetryMultiplier(settings.multiplier));
    }
    if settings.initial_interval > settings.max_interval {
        return Err(RuleError::RetryIntervals);
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

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

        /// The error with its causes, as `groupsync` prints it (`{err:#}`).
        fn error(&self) -> String {
            self.resolve()
                .expect_err("the config should be rejected")
                .chain()
        }
    }

    fn no_default() -> &'static Path {
        Path::new("/nonexistent/groupsync.yaml")
    }

    /// A binary's parser with [`Overrides`] flattened in, as `main.rs` does it.
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        overrides: Overrides,
        #[command(subcommand)]
        command: Command,
    }

    #[derive(clap::Subcommand)]
    enum Command {
        Plan,
    }

    /// Parses `args` as [`Cli`] with every environment variable left out, so
    /// that the test run's own (`RUST_LOG`, say) cannot leak in.
    fn parse_without_env(args: &[&str]) -> Overrides {
        use clap::{CommandFactory, FromArgMatches};
        let command = Cli::command().mut_args(|arg| arg.env(None));
        let matches = command.try_get_matches_from(args).unwrap();
        Cli::from_arg_matches(&matches).unwrap().overrides
    }

    #[test]
    fn flattened_flags_land_in_their_fields_before_or_after_the_command() {
        for args in [
            [
                "groupsync",
                "--groups-dir",
                "X",
                "--state",
                "s.json",
                "plan",
            ],
            [
                "groupsync",
                "plan",
                "--groups-dir",
                "X",
                "--state",
                "s.json",
            ],
        ] {
            let overrides = parse_without_env(&args);
            assert_eq!(overrides.groups_dir, Some(PathBuf::from("X")), "{args:?}");
            assert_eq!(
                overrides.state_file,
                Some(PathBuf::from("s.json")),
                "{args:?}"
            );
            assert_eq!(overrides.config, None, "{args:?}");
            assert_eq!(overrides.pod_url, None, "{args:?}");
            assert_eq!(overrides.bdk_config, None, "{args:?}");
            assert_eq!(overrides.ca_file, None, "{args:?}");
            assert_eq!(overrides.log_format, None, "{args:?}");
            assert_eq!(overrides.log_level, None, "{args:?}");
            assert_eq!(overrides.cycle_timeout, None, "{args:?}");
            assert_eq!(overrides.journal_file, None, "{args:?}");
            assert_eq!(overrides.revision, None, "{args:?}");
        }
        let overrides = parse_without_env(&["groupsync", "--log-format", "json", "plan"]);
        assert_eq!(overrides.log_format, Some(LogFormat::Json));
    }

    #[test]
    fn every_flag_is_global_and_has_its_environment_variable() {
        use clap::Args;
        let command = Overrides::augment_args(clap::Command::new("groupsync"));
        let flags: Vec<_> = command.get_arguments().collect();
        assert!(!flags.is_empty(), "Overrides declares no flag");
        for flag in flags {
            let long = flag.get_long().expect("every override is a --flag");
            let expected = match long {
                "log-level" => "RUST_LOG".to_string(),
                _ => format!("GROUPSYNC_{}", long.to_uppercase().replace('-', "_")),
            };
            assert_eq!(
                flag.get_env().and_then(|env| env.to_str()),
                Some(expected.as_str()),
                "--{long}"
            );
            assert!(flag.is_global_set(), "--{long} is not global");
        }
    }

    #[test]
    fn defaults_apply_without_any_config_file() {
        let settings = resolve_with(&Overrides::default(), no_default()).unwrap();
        assert_eq!(settings.config_file, None);
        assert_eq!(settings.groups_dir, Path::new("groups.d"));
        assert_eq!(settings.state_file, Path::new("groupsync.state.json"));
        assert_eq!(
            settings.journal_file,
            Path::new("groupsync.state.journal.jsonl")
        );
        assert_eq!(settings.journal.max_size, 64 * 1024 * 1024);
        assert_eq!(settings.revision, None);
        assert_eq!(settings.pod_url, None);
        assert_eq!(settings.auth, AuthSettings::default());
        assert!(
            matches!(settings.trigger, Trigger::Interval(interval) if interval == Duration::from_secs(300))
        );
        assert_eq!(settings.debounce, Duration::from_secs(1));
        assert_eq!(settings.cycle_timeout, Duration::from_secs(600));
        assert_eq!(settings.concurrency, 4);
        assert_eq!(settings.update_mode, UpdateMode::Minimal);
        assert_eq!(settings.refresh, None, "left to the command");
        assert_eq!(settings.limits, Limits::default());
        assert_eq!(settings.retry, RetrySettings::default());
        assert_eq!(settings.metrics_listen, None);
        assert!(!settings.dry_run);
        assert_eq!(
            settings.log,
            LogSettings {
                format: LogFormat::Text,
                level: "info".to_string()
            }
        );
    }

    /// Each default the settings table shows, written into the config file,
    /// changes nothing: the table shows the defaults `merge` applies.
    #[test]
    fn every_default_the_table_shows_is_the_one_applied() {
        let config = ConfigDir::with("");
        let unset = format!("{:?}", config.resolve().unwrap());
        let mut checked = 0;
        for spec in SETTINGS {
            let value = match spec.default {
                DefaultValue::Text(text) => text.to_string(),
                DefaultValue::Duration(duration) => crate::error::short_duration(duration),
                DefaultValue::Size(size) => format_size(size),
                DefaultValue::Count(count) => count.to_string(),
                DefaultValue::Number(number) => number.to_string(),
                DefaultValue::Bool(value) => value.to_string(),
                DefaultValue::None | DefaultValue::Note(_) | DefaultValue::Path(_) => continue,
            };
            let key = spec.key.expect("a default written as a value has a key");
            let text = match key.split_once('.') {
                Some((section, field)) => format!("{section}: {{{field}: {value}}}\n"),
                None => format!("{key}: {value}\n"),
            };
            std::fs::write(config.path(), &text).unwrap();
            let set = format!("{:?}", config.resolve().unwrap());
            assert_eq!(set, unset, "{text:?} is not the default");
            checked += 1;
        }
        assert!(checked >= 15, "only {checked} defaults checked");
    }

    #[test]
    fn default_config_file_is_read_when_it_exists() {
        let config = ConfigDir::with("concurrency: 9\n");
        let settings = resolve_with(&Overrides::default(), &config.path()).unwrap();
        assert_eq!(settings.config_file, Some(config.path()));
        assert_eq!(settings.concurrency, 9);
    }

    #[test]
    fn every_key_is_read() {
        let config = ConfigDir::with(
            "pod:\n  url: https://acme.symphony.com/pod/\n  ca_file: certs/acme-ca.pem\n\
             \x20 agent_url: https://agent.acme.com/agent\n  key_manager_url: https://km.acme.com/relay\n\
             proxy: {url: \"http://proxy.acme.com:3128\"}\n\
             auth:\n  bot_username: bot\n  private_key_file: /keys/bot.pem\n\
             \x20 key_manager_token_file: km-token\n\
             groups_dir: /etc/groupsync/groups.d\n\
             state_file: /var/lib/groupsync/state.json\n\
             journal_file: /var/log/groupsync/journal.jsonl\n\
             journal: {max_size: 1MiB}\n\
             schedule: \"*/5 * * * 7\"\n\
             debounce: 250ms\n\
             cycle_timeout: 90s\n\
             concurrency: 8\n\
             update_mode: full\n\
             refresh: always\n\
             limits: {max_changes: 5, max_deactivations: 0, max_member_removals: 3}\n\
             retry: {max_attempts: 3, initial_interval: 1s, multiplier: 1.5, max_interval: 1m}\n\
             metrics_listen: 127.0.0.1:9464\n\
             log: {format: json, level: debug}\n\
             dry_run: true\n\
             notify:\n  - {kind: symphony, room_name: Compliance EMEA, events: [refused, applied]}\n\
             \x20 - {kind: webhook, url: \"https://hooks.acme.test/g\", secret_file: hook.secret}\n\
             notify_settings: {dedupe: 2h, repeat: 12h, flush_timeout: 3s, plan_url: \"https://g.acme/plan\"}\n",
        );
        let secret = config.dir.path().join("hook.secret");
        std::fs::write(&secret, "s\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let settings = config.resolve().unwrap();
        let notify = &settings.notify;
        assert_eq!(
            notify.targets,
            [
                TargetSettings {
                    destination: Destination::Symphony(Room::Name("Compliance EMEA".into())),
                    events: vec![EventKind::Applied, EventKind::Refused],
                },
                TargetSettings {
                    destination: Destination::Webhook {
                        url: "https://hooks.acme.test/g".into(),
                        secret_file: secret.clone(),
                    },
                    events: EventKind::ALL.to_vec(),
                },
            ]
        );
        assert_eq!(notify.dedupe, Duration::from_secs(2 * 3600));
        assert_eq!(notify.repeat, Duration::from_secs(12 * 3600));
        assert_eq!(notify.flush_timeout, Duration::from_secs(3));
        assert_eq!(notify.plan_url.as_deref(), Some("https://g.acme/plan"));
        assert_eq!(
            notify.agent_url.as_deref(),
            Some("https://agent.acme.com/agent")
        );
        assert_eq!(
            notify.key_manager_url.as_deref(),
            Some("https://km.acme.com/relay")
        );
        assert_eq!(
            notify.key_manager_token_file,
            Some(config.dir.path().join("km-token"))
        );
        assert_eq!(
            settings.pod_url.as_deref(),
            Some("https://acme.symphony.com/pod")
        );
        assert_eq!(
            settings.network.ca_file,
            Some(config.dir.path().join("certs/acme-ca.pem"))
        );
        assert_eq!(
            settings.network.proxy.as_ref().map(ToString::to_string),
            Some("http://proxy.acme.com:3128".to_string())
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
        assert_eq!(
            settings.journal_file,
            Path::new("/var/log/groupsync/journal.jsonl")
        );
        assert_eq!(settings.journal.max_size, 1024 * 1024);
        assert!(
            matches!(&settings.trigger, Trigger::Cron(schedule) if schedule.as_str() == "*/5 * * * 7")
        );
        assert_eq!(settings.debounce, Duration::from_millis(250));
        assert_eq!(settings.cycle_timeout, Duration::from_secs(90));
        assert_eq!(settings.concurrency, 8);
        assert_eq!(settings.update_mode, UpdateMode::Full);
        assert_eq!(settings.refresh, Some(RefreshMode::Always));
        assert_eq!(
            settings.limits,
            Limits {
                max_changes: 5,
                max_deactivations: 0,
                max_member_removals: 3
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
        assert!(settings.dry_run);
    }

    #[test]
    fn the_ca_file_comes_from_the_flag_then_the_file_then_the_sdk() {
        let config = ConfigDir::with("pod: {ca_file: file-ca.pem}\n");
        std::fs::write(
            config.dir.path().join("sdk.yaml"),
            "host: acme.symphony.com\nbot: {username: b, privateKey: {path: k.pem}}\n\
             ssl: {trustStore: {path: /etc/sdk-ca.pem}}\n\
             proxy: {host: sdk.proxy, port: 3128, username: u, password: hunter2}\n",
        )
        .unwrap();
        let sdk = Overrides {
            bdk_config: Some(config.dir.path().join("sdk.yaml")),
            ..Overrides::default()
        };
        let settings = resolve_with(&sdk, no_default()).unwrap();
        assert_eq!(
            settings.network.ca_file.as_deref(),
            Some(Path::new("/etc/sdk-ca.pem"))
        );
        let proxy = settings.network.proxy.clone().unwrap();
        assert_eq!(proxy.expose(), "http://u:hunter2@sdk.proxy:3128/");
        assert!(!format!("{settings:?}").contains("hunter2"), "{settings:?}");

        let file_and_sdk = Overrides {
            bdk_config: sdk.bdk_config.clone(),
            ..config.overrides()
        };
        let settings = resolve_with(&file_and_sdk, no_default()).unwrap();
        assert_eq!(
            settings.network.ca_file,
            Some(config.dir.path().join("file-ca.pem"))
        );

        let flag = Overrides {
            ca_file: Some("flag-ca.pem".into()),
            ..file_and_sdk
        };
        let settings = resolve_with(&flag, no_default()).unwrap();
        assert_eq!(
            settings.network.ca_file.as_deref(),
            Some(Path::new("flag-ca.pem"))
        );
    }

    #[test]
    fn proxy_url_wins_over_the_sdk_proxy_and_a_bad_one_is_not_quoted() {
        let config = ConfigDir::with("proxy: {url: \"http://file.proxy:8080\"}\n");
        std::fs::write(
            config.dir.path().join("sdk.yaml"),
            "host: h\nbot: {username: b, privateKey: {path: k}}\nproxy: {host: sdk.proxy, port: 1}\n",
        )
        .unwrap();
        let overrides = Overrides {
            bdk_config: Some(config.dir.path().join("sdk.yaml")),
            ..config.overrides()
        };
        let settings = resolve_with(&overrides, no_default()).unwrap();
        assert_eq!(
            settings.network.proxy.unwrap().to_string(),
            "http://file.proxy:8080"
        );

        for bad in [
            "socks5://u:hunter2@p:1080",
            "http://u:hunter2@p:3128/path",
            "u:hunter2@p:3128",
        ] {
            let error = ConfigDir::with(&format!("proxy: {{url: \"{bad}\"}}\n")).error();
            assert!(error.contains(":1:14: proxy.url: "), "{bad}: {error}");
            assert!(!error.contains("hunter2"), "{bad}: {error}");
        }
    }

    #[test]
    fn metrics_listen_takes_a_host_name() {
        let settings = ConfigDir::with("metrics_listen: localhost:0\n")
            .resolve()
            .unwrap();
        let listen = settings.metrics_listen.expect("metrics_listen is set");
        assert!(listen.ip().is_loopback(), "{listen}");
        assert_eq!(listen.port(), 0);
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
    fn an_unknown_log_level_override_is_refused_listing_the_levels() {
        let overrides = Overrides {
            log_level: Some("verbose".to_string()),
            ..Overrides::default()
        };
        let error = resolve_with(&overrides, no_default()).unwrap_err().chain();
        assert!(
            error.starts_with("--log-level / RUST_LOG: `verbose` is not a log level"),
            "{error}"
        );
        assert!(
            error.contains("error, warn, info, debug, trace, off"),
            "{error}"
        );
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
            (
                "interval: 0s\n",
                ":1:11: interval: `0s` is out of range; expected a duration from 1s to 8760h",
            ),
            (
                "cycle_timeout: 0s\n",
                ":1:16: cycle_timeout: `0s` is out of range; expected a duration from 1s to 8760h",
            ),
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
    fn a_bad_pod_url_override_names_its_flag_and_variable() {
        let overrides = Overrides {
            pod_url: Some("nope".to_string()),
            ..Overrides::default()
        };
        let error = resolve_with(&overrides, no_default()).unwrap_err().chain();
        assert!(
            error.starts_with("--pod-url / GROUPSYNC_POD_URL: `nope` is not a URL"),
            "{error}"
        );
    }

    #[test]
    fn the_cycle_timeout_flag_beats_the_file_and_zero_is_refused() {
        let config = ConfigDir::with("cycle_timeout: 5m\n");
        assert_eq!(
            config.resolve().unwrap().cycle_timeout,
            Duration::from_secs(300)
        );
        let overrides = parse_without_env(&["groupsync", "--cycle-timeout", "1m30s", "plan"]);
        assert_eq!(overrides.cycle_timeout, Some(Duration::from_secs(90)));
        let flagged = Overrides {
            config: Some(config.path()),
            ..overrides
        };
        let settings = resolve_with(&flagged, no_default()).unwrap();
        assert_eq!(settings.cycle_timeout, Duration::from_secs(90));

        let zero = Overrides {
            cycle_timeout: Some(Duration::from_millis(999)),
            ..Overrides::default()
        };
        let error = resolve_with(&zero, no_default()).unwrap_err().chain();
        assert_eq!(
            error,
            "--cycle-timeout / GROUPSYNC_CYCLE_TIMEOUT: `999ms` is out of range; expected a \
             duration from 1s to 8760h"
        );
    }

    /// Each duration's range, as the settings table shows it, is the one
    /// the config file's parser keeps: its ends are taken, a millisecond
    /// beyond either is refused, naming the range.
    #[test]
    fn every_duration_takes_the_range_its_row_shows() {
        let short = crate::error::short_duration;
        let mut checked = 0;
        for spec in SETTINGS.iter().filter(|spec| spec.kind == "duration") {
            let key = spec.key.expect("a duration setting has a key");
            let text = |value: &str| match key.split_once('.') {
                // Both retry intervals, so that neither is longer than the other.
                Some(("retry", _)) => {
                    format!("retry: {{initial_interval: {value}, max_interval: {value}}}\n")
                }
                Some((section, field)) => format!("{section}: {{{field}: {value}}}\n"),
                None => format!("{key}: {value}\n"),
            };
            let range = format!(
                "expected a duration from {} to {}",
                short(spec.min),
                short(MAX_DURATION)
            );
            for fine in [short(spec.min), short(MAX_DURATION)] {
                let config = ConfigDir::with(&text(&fine));
                assert!(config.resolve().is_ok(), "{key}: {fine}");
            }
            let mut beyond = vec![short(MAX_DURATION + Duration::from_millis(1))];
            if !spec.min.is_zero() {
                beyond.push(short(spec.min - Duration::from_millis(1)));
            }
            for bad in beyond {
                let error = ConfigDir::with(&text(&bad)).error();
                assert!(
                    error.contains(&format!("`{bad}` is out of range; {range}")),
                    "{key}: {error}"
                );
            }
            checked += 1;
        }
        assert_eq!(
            checked, 8,
            "interval, debounce, cycle_timeout, the two retry waits and the three of notify_settings"
        );
    }

    #[test]
    fn the_pod_url_scheme_may_be_written_in_any_case() {
        let settings = ConfigDir::with("pod: {url: \"HTTP://pod.example:8080/pod/\"}\n")
            .resolve()
            .unwrap();
        assert_eq!(
            settings.pod_url.as_deref(),
            Some("http://pod.example:8080/pod")
        );
    }

    #[test]
    fn a_file_setting_that_is_a_fifo_or_a_device_is_refused_naming_it() {
        let config = ConfigDir::with("");
        let fifo = config.dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let fifo = fifo.display().to_string();
        for (text, expected) in [
            (
                format!("state_file: {fifo}\n"),
                format!(
                    "the state file {fifo} (state_file / --state / GROUPSYNC_STATE): it is a FIFO \
                     (named pipe), not a regular file"
                ),
            ),
            (
                "pod: {ca_file: /dev/zero}\n".to_string(),
                "the CA file /dev/zero (pod.ca_file / --ca-file / GROUPSYNC_CA_FILE): it is a \
                 character device, not a regular file"
                    .to_string(),
            ),
            (
                format!("auth: {{session_token_file: {fifo}}}\n"),
                format!("the session token file {fifo} (auth.session_token_file): it is a FIFO"),
            ),
            (
                "auth: {bot_username: b, private_key_file: /dev/zero}\n".to_string(),
                "the bot's private key file /dev/zero (auth.private_key_file): it is a character \
                 device"
                    .to_string(),
            ),
        ] {
            std::fs::write(config.path(), &text).unwrap();
            let error = config.error();
            assert!(error.starts_with(&expected), "{text}: {error}");
        }
        // Missing files are left to whoever reads them.
        std::fs::write(config.path(), "pod: {ca_file: missing.pem}\n").unwrap();
        assert!(config.resolve().is_ok());
    }

    #[test]
    fn a_state_file_inside_the_groups_dir_is_refused_naming_both() {
        let config =
            ConfigDir::with("groups_dir: groups.d\nstate_file: groups.d/.state/state.json\n");
        std::fs::create_dir(config.dir.path().join("groups.d")).unwrap();
        let error = config.error();
        let groups = config.dir.path().join("groups.d");
        let state = groups.join(".state/state.json");
        assert!(
            error.starts_with(&format!(
                "the state file {} is inside the groups directory {}: ",
                state.display(),
                groups.display()
            )),
            "{error}"
        );
    }

    #[test]
    fn a_dangling_link_into_the_groups_dir_is_refused_as_a_state_file() {
        let config = ConfigDir::with("groups_dir: groups.d\nstate_file: state.json\n");
        let dir = config.dir.path();
        std::fs::create_dir(dir.join("groups.d")).unwrap();
        // Its target does not exist yet: the first save would create it there.
        std::os::unix::fs::symlink("groups.d/state.json", dir.join("state.json")).unwrap();
        let error = config.error();
        assert!(error.contains("is inside the groups directory"), "{error}");
    }

    #[test]
    fn a_state_file_reaching_into_the_groups_dir_through_a_link_is_refused() {
        let config = ConfigDir::with("groups_dir: groups.d\nstate_file: state/state.json\n");
        let dir = config.dir.path();
        std::fs::create_dir(dir.join("groups.d")).unwrap();
        std::os::unix::fs::symlink("groups.d", dir.join("state")).unwrap();
        assert!(config.error().contains("is inside the groups directory"));

        // Beside it, or in a folder whose name only starts the same, is fine.
        for state_file in [
            "state.json",
            "groups.d.state/state.json",
            "groups.d/../s.json",
        ] {
            let text = format!("groups_dir: groups.d\nstate_file: {state_file}\n");
            let config = ConfigDir::with(&text);
            std::fs::create_dir(config.dir.path().join("groups.d")).unwrap();
            assert!(config.resolve().is_ok(), "{state_file}");
        }
    }

    #[test]
    fn the_journal_follows_the_state_file_unless_set_and_the_flag_wins() {
        let config = ConfigDir::with("state_file: var/acme.json\n");
        let dir = config.dir.path();
        assert_eq!(
            config.resolve().unwrap().journal_file,
            dir.join("var/acme.journal.jsonl")
        );
        std::fs::write(config.path(), "journal_file: audit/j.jsonl\n").unwrap();
        assert_eq!(
            config.resolve().unwrap().journal_file,
            dir.join("audit/j.jsonl")
        );
        let flagged = Overrides {
            journal_file: Some("flag.jsonl".into()),
            ..config.overrides()
        };
        let settings = resolve_with(&flagged, no_default()).unwrap();
        assert_eq!(settings.journal_file, Path::new("flag.jsonl"));
    }

    #[test]
    fn a_journal_that_is_a_link_a_folder_the_state_file_or_in_the_groups_dir_is_refused() {
        let config = ConfigDir::with("");
        let dir = config.dir.path();
        std::fs::create_dir(dir.join("groups.d")).unwrap();
        std::fs::create_dir(dir.join("folder")).unwrap();
        std::fs::write(dir.join("target.jsonl"), "").unwrap();
        std::os::unix::fs::symlink("target.jsonl", dir.join("link.jsonl")).unwrap();
        std::os::unix::fs::symlink("groups.d", dir.join("into")).unwrap();
        let setting = "(journal_file / --journal / GROUPSYNC_JOURNAL)";
        for (journal, expected) in [
            ("link.jsonl", "it is a symbolic link; name the file itself"),
            ("folder", "it is a directory, not a regular file"),
            (
                "state.json",
                "it is the state file; give the journal a file of its own",
            ),
            (
                "groups.d/.journal.jsonl",
                "it is inside the groups directory",
            ),
            ("into/j.jsonl", "it is inside the groups directory"),
        ] {
            let text =
                format!("groups_dir: groups.d\nstate_file: state.json\njournal_file: {journal}\n");
            std::fs::write(config.path(), &text).unwrap();
            let error = config.error();
            let path = dir.join(journal);
            assert!(
                error.starts_with(&format!("the journal {} {setting}: ", path.display())),
                "{journal}: {error}"
            );
            assert!(error.contains(expected), "{journal}: {error}");
        }
    }

    #[test]
    fn the_journal_size_takes_units_and_a_bad_one_is_named_at_its_place() {
        let config = ConfigDir::with("journal: {max_size: 512 KiB}\n");
        assert_eq!(config.resolve().unwrap().journal.max_size, 512 * 1024);
        let config = ConfigDir::with("journal: {max_size: 4096}\n");
        assert_eq!(config.resolve().unwrap().journal.max_size, 4096);
        let error = ConfigDir::with("journal: {max_size: 10}\n").error();
        assert!(
            error.contains(
                ":1:21: journal.max_size: `10` is out of range; expected a size from 1KiB to 64GiB"
            ),
            "{error}"
        );
        let error = ConfigDir::with("journal: {max_size: big}\n").error();
        assert!(error.contains("`big` is not a size"), "{error}");
        let error = ConfigDir::with("journal: {max_sise: 1MiB}\n").error();
        assert!(error.contains("did you mean `max_size`"), "{error}");
    }

    #[test]
    fn the_revision_comes_from_its_flag_or_variable_only_and_is_checked() {
        let overrides = parse_without_env(&["groupsync", "--revision", " 4f2c1e9 ", "plan"]);
        let settings = resolve_with(&overrides, no_default()).unwrap();
        assert_eq!(settings.revision.as_deref(), Some("4f2c1e9"));
        let empty = Overrides {
            revision: Some(String::new()),
            ..Overrides::default()
        };
        assert_eq!(resolve_with(&empty, no_default()).unwrap().revision, None);
        let bad = Overrides {
            revision: Some("a\u{1b}[2J".to_string()),
            ..Overrides::default()
        };
        let error = resolve_with(&bad, no_default()).unwrap_err().chain();
        assert!(
            error.starts_with("--revision / GROUPSYNC_REVISION: a revision is one line"),
            "{error}"
        );
        let error = ConfigDir::with("revision: abc\n").error();
        assert!(error.contains("unknown field `revision`"), "{error}");
    }
}
