//! The configuration's errors, kept on the ground floor so that the crate's
//! [`Error`](super::Error) can carry them without importing the config
//! module; `config` re-exports them where callers expect them.
//!
//! Three levels, each the `source()` of the one above where it is a cause:
//! - [`ConfigError`]: why the settings as a whole are refused, naming the
//!   file, flag or rule at fault;
//! - [`ValueError`]: why one value's text is not what its setting takes
//!   (a duration, a URL, a cron schedule...), from the value parsers;
//! - [`BdkError`] and [`BdkProblem`]: why an official SDK `config.yaml`
//!   cannot be used;
//! - [`FileError`]: why a file a setting names was not read (not a regular
//!   file, too large, or the system's error).
//!
//! Each message says what is wrong and what to write instead. A cause that a
//! message puts in the middle of its sentence (`cannot resolve the host name
//! (...); write ...`) is part of that message, not a `source()`: printing it
//! at the end would change the text users and tests know.

use std::path::{Path, PathBuf};

use super::Diagnostic;

/// What `parse_duration` suggests after every complaint.
const DURATION_EXAMPLES: &str = "write e.g. `500ms`, `30s`, `5m`, `1h` or `1m30s`";
/// What `parse_size` suggests after every complaint.
const SIZE_EXAMPLES: &str = "write e.g. `64MiB`, `512KiB`, `1GiB` or a number of bytes";
/// What the proxy URL checks suggest.
const PROXY_EXAMPLE: &str = "write e.g. http://proxy.example.com:3128";
/// What the listen address checks suggest.
const LISTEN_EXAMPLE: &str = "write HOST:PORT or IP:PORT, e.g. 127.0.0.1:9464 or localhost:9464";

/// Why the settings (config file, flags, environment) are refused.
/// `{err:#}` (or [`Error::chain`](super::Error::chain)) prints the cause too.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--config` / `GROUPSYNC_CONFIG` names something other than a regular file.
    #[error("{}: not a regular file (named by --config or GROUPSYNC_CONFIG)", .path.display())]
    NotAFile { path: PathBuf },

    /// `--config` / `GROUPSYNC_CONFIG` names a file that does not exist.
    #[error("{}: no such file (named by --config or GROUPSYNC_CONFIG)", .path.display())]
    NoSuchFile { path: PathBuf },

    /// The config file cannot be read.
    #[error("{}: cannot read", .path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: FileError,
    },

    /// The config file is not UTF-8 text.
    #[error("{}: cannot read: not UTF-8 text", .path.display())]
    NotUtf8 { path: PathBuf },

    /// The config file's YAML, one of its keys or one of its values is wrong,
    /// at a position: `PATH:LINE:COLUMN: message`.
    #[error("{0}")]
    Syntax(Diagnostic),

    /// The SDK `config.yaml` named by `--bdk-config` or `auth.bdk_config` cannot be used.
    #[error("{}: SDK config file", .path.display())]
    Sdk {
        path: PathBuf,
        #[source]
        source: BdkError,
    },

    /// A flag's value (or its environment variable's) is not what it takes;
    /// `flag` names both, e.g. `--pod-url / GROUPSYNC_POD_URL`.
    #[error("{flag}")]
    Flag {
        flag: String,
        #[source]
        source: ValueError,
    },

    /// Values that parse one by one but break a rule together; `file` is
    /// the config file they came from.
    #[error("{}{rule}", in_file(.file.as_deref()))]
    Rule {
        file: Option<PathBuf>,
        rule: RuleError,
    },

    /// The state file lies inside the groups dir, where each save would start another cycle.
    #[error(
        "the state file {} is inside the groups directory {}: each save would count as a change \
         to the groups and start another cycle. Keep the state file outside the groups directory \
         (state_file, --state or GROUPSYNC_STATE)",
        .state_file.display(),
        .groups_dir.display()
    )]
    StateFileInsideGroupsDir {
        state_file: PathBuf,
        groups_dir: PathBuf,
    },

    /// The journal file cannot be where the settings put it: a symlink, the
    /// state file itself, or inside the groups dir.
    #[error("the journal {} ({setting}): {problem}", .path.display())]
    JournalFile {
        path: PathBuf,
        setting: String,
        problem: JournalPlacement,
    },

    /// A file a setting names is there but cannot be what the setting takes:
    /// a FIFO, a device, a directory, or far too large. Checked without
    /// opening it, so that `validate` and start-up fail at once instead of
    /// blocking on a FIFO or reading a device for ever. `what` names the
    /// file (`the CA file`), `setting` where it is set.
    #[error("{what} {} ({setting})", .path.display())]
    FileSetting {
        what: &'static str,
        setting: String,
        path: PathBuf,
        #[source]
        source: FileError,
    },
}

impl ConfigError {
    /// A short, stable name for the kind of config error, for logs and
    /// metric labels. (`groupsync_cycle_failures_total` labels them all
    /// `config`: see [`Error::kind`](super::Error::kind).)
    pub fn kind(&self) -> &'static str {
        match self {
            ConfigError::NotAFile { .. }
            | ConfigError::NoSuchFile { .. }
            | ConfigError::Unreadable { .. }
            | ConfigError::NotUtf8 { .. } => "config_file",
            ConfigError::Syntax(_) => "config_syntax",
            ConfigError::Sdk { .. } => "sdk_config",
            ConfigError::Flag { .. } => "flag",
            ConfigError::Rule { .. } => "config_rule",
            ConfigError::StateFileInsideGroupsDir { .. } => "state_file_placement",
            ConfigError::FileSetting { .. } => "file_setting",
            ConfigError::JournalFile { .. } => "journal_placement",
        }
    }
}

/// Why the journal file cannot be where the settings put it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalPlacement {
    #[error(
        "it is a symbolic link; name the file itself: a link could send the record of every \
         write elsewhere"
    )]
    Symlink,
    #[error("it is the state file; give the journal a file of its own")]
    StateFile,
    #[error(
        "it is inside the groups directory {}: each record would count as a change to the \
         groups and start another cycle. Keep the journal outside the groups directory",
        .groups_dir.display()
    )]
    InsideGroupsDir { groups_dir: PathBuf },
}

/// `PATH: ` when the values came from a config file, else nothing.
fn in_file(file: Option<&Path>) -> String {
    file.map(|path| format!("{}: ", path.display()))
        .unwrap_or_default()
}

/// A rule that values break together: what only the merged settings can show.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    #[error("auth.login_url is only used with auth.bot_username and auth.private_key_file")]
    LoginUrlWithoutBot,
    #[error("auth.bot_username and auth.private_key_file go together; set both or neither")]
    HalfABot,
    #[error("auth: set session_token_file or bot_username + private_key_file, not both")]
    TwoWaysToLogIn,
    #[error("`schedule` and `interval` are both set; keep one of them")]
    ScheduleAndInterval,
    #[error("retry.multiplier must be a number of at least 1, not {0}")]
    RetryMultiplier(f64),
    #[error("retry.initial_interval must not be longer than retry.max_interval")]
    RetryIntervals,
}

/// Why one value's text is not what its setting takes. The config file's
/// readers put it after the key and position (`PATH:LINE:COLUMN: key: ...`),
/// the flag checks after the flag ([`ConfigError::Flag`]).
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    #[error("empty duration; {DURATION_EXAMPLES}")]
    EmptyDuration,
    #[error("`{text}`: a duration cannot be negative")]
    NegativeDuration { text: String },
    #[error("`{text}` is not a duration; {DURATION_EXAMPLES}")]
    NotADuration { text: String },
    #[error("`{text}`: a number needs a unit (ms, s, m or h); {DURATION_EXAMPLES}")]
    MissingUnit { text: String },
    #[error("`{text}`: unknown unit `{unit}` (use ms, s, m or h); {DURATION_EXAMPLES}")]
    UnknownUnit { text: String, unit: String },
    #[error("`{text}`: write each unit once, largest first; {DURATION_EXAMPLES}")]
    UnitOrder { text: String },
    /// A duration outside what its setting allows: `min` and `max` as a
    /// duration is written (`1s`, `8760h`).
    #[error("`{text}` is out of range; expected a duration from {min} to {max}")]
    DurationOutOfRange {
        text: String,
        min: String,
        max: String,
    },

    #[error(
        "`{text}` has {fields} fields; a schedule takes 5 (minute hour day-of-month month day-of-week), without seconds or years"
    )]
    CronFields { text: String, fields: usize },
    #[error("`{text}` is not a valid cron schedule")]
    Cron {
        text: String,
        #[source]
        source: croner::errors::CronError,
    },
    #[error(
        "`{text}` never fires (not once in the next 5 years): check the day of the month against the month"
    )]
    NeverFires { text: String },

    #[error("`{text}` is not a URL starting with http:// or https://")]
    NotHttpUrl { text: String },
    #[error("`{text}` must not contain spaces, a query (?) or a fragment (#)")]
    UrlExtras { text: String },
    #[error("the URL must not contain credentials (user@); use the auth settings")]
    UrlCredentials,
    #[error("`{text}` has no valid host (and optional :port)")]
    UrlHost { text: String },

    /// Never quotes the text: a proxy URL may hold a password. `reason` is the URL parser's.
    #[error("not a URL ({reason}); {PROXY_EXAMPLE}")]
    ProxyNotUrl { reason: String },
    #[error("a proxy URL starts with http:// or https://; {PROXY_EXAMPLE}")]
    ProxyScheme,
    #[error("the proxy URL has no host; {PROXY_EXAMPLE}")]
    ProxyNoHost,
    #[error("a proxy URL has no path, query or fragment; {PROXY_EXAMPLE}")]
    ProxyExtras,
    /// The SDK file's `proxy.host`.
    #[error("`proxy.host` must be a host name such as proxy.acme.com")]
    ProxyHost,

    #[error("`{text}` is not an address with a port; {LISTEN_EXAMPLE}")]
    NoPort { text: String },
    #[error("`{text}`: the host name has no address")]
    NoAddress { text: String },
    /// `cause` is the resolver's error, shown inside the sentence.
    #[error("`{text}`: cannot resolve the host name ({cause}); {LISTEN_EXAMPLE}")]
    Unresolvable { text: String, cause: std::io::Error },

    /// An integer outside the range its setting allows.
    #[error("{value} is out of range; expected an integer from {min} to {max}")]
    OutOfRange { value: String, min: u64, max: u64 },

    #[error("`{text}` is not a size; {SIZE_EXAMPLES}")]
    NotASize { text: String },
    /// A size outside what its setting allows, `min..=max` bytes.
    #[error(
        "`{text}` is out of range; expected a size from {} to {}",
        format_size(*.min),
        format_size(*.max)
    )]
    SizeOutOfRange { text: String, min: u64, max: u64 },

    /// A revision given by hand that is too long or not one line of visible text.
    #[error(
        "a revision is one line of at most {} characters without control or invisible \
         characters, e.g. a commit hash or a build id",
        crate::revision::MAX_GIVEN
    )]
    NotARevision,

    /// A word where a log level belongs; `levels` lists the levels, comma-separated.
    #[error(
        "`{level}` is not a log level; use one of {levels}, or target=level directives such as groupsync=debug,reqwest=warn"
    )]
    NotALogLevel { level: String, levels: String },
}

/// Why an official SDK `config.yaml` cannot be used; the file is named.
#[derive(Debug, thiserror::Error)]
pub enum BdkError {
    #[error("cannot read the SDK config file {}", .path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: FileError,
    },
    /// `PATH`, then (as its cause) what is wrong inside.
    #[error("{}", .path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: BdkProblem,
    },
}

/// What is wrong inside an SDK `config.yaml`: the key at fault and what to set.
#[derive(Debug, thiserror::Error)]
pub enum BdkProblem {
    /// Not YAML, or a key of the wrong type (serde's message, with its line and column).
    #[error(transparent)]
    Yaml(#[from] serde_yaml::Error),
    #[error("no pod host: set `host` (or `pod.host`)")]
    NoHost,
    #[error(
        "`host` must be a host name such as acme.symphony.com, not {host:?}; put the scheme in `scheme` and the path in `context`"
    )]
    HostNotAName { host: String },
    #[error("`scheme` must be https or http, not {scheme:?}")]
    Scheme { scheme: String },
    #[error("no bot username: set `bot.username`")]
    NoBotUsername,
    #[error(
        "no private key file: set `bot.privateKey.path` (groupsync reads the RSA key from a file; inline `content` and certificates are not supported)"
    )]
    NoPrivateKey,
    #[error("`retry.maxAttempts` must be at least 1")]
    RetryMaxAttempts,
    #[error("`retry.multiplier` must be a number of at least 1, not {0}")]
    RetryMultiplier(f64),
    #[error("`retry.initialIntervalMillis` must not be larger than `retry.maxIntervalMillis`")]
    RetryIntervals,
    /// `key` is `retry.initialIntervalMillis` or `retry.maxIntervalMillis`; `max` in milliseconds.
    #[error("`{key}` must be at most {max} (365 days)")]
    RetryIntervalTooLong { key: &'static str, max: u64 },
    #[error("`proxy` needs both `host` and `port`")]
    ProxyHostAndPort,
    /// The proxy section's host cannot make a URL.
    #[error(transparent)]
    Proxy(ValueError),
}

/// Why a file a setting names was not read. Such files are read only when
/// they are regular files (links followed), opened without waiting (a FIFO
/// put in their place cannot block groupsync), and never past a size cap.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// A FIFO, a device, a socket or a directory: reading it could block
    /// for ever, never end, or make no sense.
    #[error(
        "it is {kind}, not a regular file; name a regular file (a FIFO or a device would block or never end)"
    )]
    NotRegular { kind: &'static str },
    /// Larger than any file of its kind should be (`limit` bytes).
    #[error(
        "it is larger than {} ({size} bytes), more than such a file ever holds; check that the setting names the right file",
        mebibytes(*.limit)
    )]
    TooLarge { limit: u64, size: u64 },
    /// The system's error (no such file, permission denied...).
    #[error("{0}")]
    Io(std::io::Error),
}

impl FileError {
    /// True when there is no file at all (a state file not written yet).
    pub fn is_not_found(&self) -> bool {
        matches!(self, FileError::Io(error) if error.kind() == std::io::ErrorKind::NotFound)
    }
}

/// A size as the settings write it: in the largest binary unit that
/// divides it (`64MiB`, `1KiB`), else in bytes (`1500B`).
pub fn format_size(bytes: u64) -> String {
    let units = [
        ("TiB", 1u64 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    match units
        .iter()
        .find(|(_, factor)| bytes > 0 && bytes.is_multiple_of(*factor))
    {
        Some((unit, factor)) => format!("{}{unit}", bytes / factor),
        None => format!("{bytes}B"),
    }
}

/// `1 MiB`, `512 MiB`: a size cap as the messages show it.
fn mebibytes(bytes: u64) -> String {
    format!("{} MiB", bytes.div_ceil(1024 * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, with_causes};

    fn chain(error: &(dyn std::error::Error + 'static)) -> String {
        with_causes(error.to_string(), error.source())
    }

    #[test]
    fn a_cause_is_the_source_and_the_chain_reads_as_one_sentence() {
        let error = Error::from(ConfigError::Unreadable {
            path: "/etc/groupsync/groupsync.yaml".into(),
            source: FileError::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "Permission denied",
            )),
        });
        assert_eq!(
            error.to_string(),
            "/etc/groupsync/groupsync.yaml: cannot read"
        );
        assert_eq!(
            error.chain(),
            "/etc/groupsync/groupsync.yaml: cannot read: Permission denied"
        );
        assert_eq!(error.kind(), "config", "the metric's label stays `config`");
    }

    #[test]
    fn an_sdk_problem_names_both_files_as_before() {
        let error = ConfigError::Sdk {
            path: "sdk.yaml".into(),
            source: BdkError::Invalid {
                path: "sdk.yaml".into(),
                source: BdkProblem::NoHost,
            },
        };
        assert_eq!(
            chain(&error),
            "sdk.yaml: SDK config file: sdk.yaml: no pod host: set `host` (or `pod.host`)"
        );
        assert_eq!(error.kind(), "sdk_config");
    }

    #[test]
    fn a_rule_names_the_file_when_there_is_one() {
        let rule = |file: Option<&str>| ConfigError::Rule {
            file: file.map(PathBuf::from),
            rule: RuleError::ScheduleAndInterval,
        };
        assert_eq!(
            rule(Some("g.yaml")).to_string(),
            "g.yaml: `schedule` and `interval` are both set; keep one of them"
        );
        assert_eq!(
            rule(None).to_string(),
            "`schedule` and `interval` are both set; keep one of them"
        );
    }
}
