//! The config file's format: [`ConfigFile`] and its sections, as written.
//!
//! Every section denies unknown keys (and suggests the key meant, if one is
//! close). Values that need parsing are checked while deserializing, inside
//! serde visitors, so that each error names the file, line and column of the
//! value (`PATH:LINE:COLUMN: key: message`); a duration's range too, by its
//! type ([`ConfigDuration`]). Precedence and defaults are `mod.rs`'s
//! business, not this file's.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::files::{SMALL_FILE_CAP, read_regular_text};
use super::notify::{MIN_REPEAT, TargetEntry, reading_from};
use super::values::{
    CronSchedule, ProxyUrl, out_of_range, parse_duration_from, parse_http_url,
    parse_listen_address, parse_log_filter, parse_size_within,
};
use super::{
    LogFormat, MAX_JOURNAL_SIZE, MIN_CYCLE_TIMEOUT, MIN_DEBOUNCE, MIN_INTERVAL, MIN_JOURNAL_SIZE,
    PruneMode, RefreshMode,
};
use crate::error::{ConfigError, Diagnostic, FileError, ValueError, with_causes};
use crate::model::{DriftPolicy, UpdateMode};

/// The largest `concurrency` the file may set.
const MAX_CONCURRENCY: u64 = 256;

/// Reads and parses the config file at `path`.
pub(super) fn read_config_file(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text =
        read_regular_text(path, SMALL_FILE_CAP).map_err(|error| read_failure(path, error))?;
    parse_config_file(path, &text)
}

fn read_failure(path: &Path, source: FileError) -> ConfigError {
    let path = path.to_path_buf();
    match source {
        FileError::Io(error) if error.kind() == std::io::ErrorKind::InvalidData => {
            ConfigError::NotUtf8 { path }
        }
        source => ConfigError::Unreadable { path, source },
    }
}

/// Parses the YAML text of the config file at `path`; an empty file means all defaults.
/// Relative secret files are looked at from the file's folder.
fn parse_config_file(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
    let folder = path.parent().unwrap_or(Path::new(""));
    let parsed = reading_from(folder, || serde_yaml::from_str::<Option<ConfigFile>>(text));
    match parsed {
        Ok(file) => Ok(file.unwrap_or_default()),
        Err(error) => Err(ConfigError::Syntax(yaml_diagnostic(path, &error))),
    }
}

/// `PATH:LINE:COLUMN: message`, without serde_yaml's own " at line N column M".
fn yaml_diagnostic(path: &Path, error: &serde_yaml::Error) -> Diagnostic {
    let message = with_suggestion(error.to_string());
    match error.location() {
        Some(location) => {
            let (line, column) = (location.line(), location.column());
            let suffix = format!(" at line {line} column {column}");
            Diagnostic::at(path, line, column, message.replacen(&suffix, "", 1))
        }
        None => Diagnostic::file(path, message),
    }
}

/// serde's "unknown field `intervl`, expected one of `pod`, ..." with the
/// key most likely meant after the unknown one: "unknown field `intervl`
/// (did you mean `interval`?), expected one of ...". The keys it offers are
/// those serde lists, the ones of the section the key stands in.
fn with_suggestion(message: String) -> String {
    const UNKNOWN: &str = "unknown field `";
    let Some(start) = message.find(UNKNOWN).map(|at| at + UNKNOWN.len()) else {
        return message;
    };
    let Some(length) = message[start..].find('`') else {
        return message;
    };
    let (unknown, listed) = message[start..].split_at(length);
    let Some(expected) = listed.find("expected ").map(|at| &listed[at..]) else {
        return message;
    };
    let known = expected.split('`').skip(1).step_by(2);
    match crate::text::closest(unknown, known) {
        Some(meant) => format!(
            "{}{unknown}` (did you mean `{meant}`?){}",
            &message[..start],
            &listed[1..]
        ),
        None => message,
    }
}

/// The whole file, every key optional (`None` = not written). `merge` in
/// `mod.rs` turns it into `Settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConfigFile {
    pub(super) pod: Option<PodSection>,
    pub(super) auth: Option<AuthSection>,
    pub(super) groups_dir: Option<PathBuf>,
    pub(super) state_file: Option<PathBuf>,
    pub(super) journal_file: Option<PathBuf>,
    pub(super) journal: Option<JournalSection>,
    pub(super) schedule: Option<CronSchedule>,
    pub(super) interval: Option<ConfigDuration<{ millis(MIN_INTERVAL) }>>,
    pub(super) debounce: Option<ConfigDuration<{ millis(MIN_DEBOUNCE) }>>,
    pub(super) cycle_timeout: Option<ConfigDuration<{ millis(MIN_CYCLE_TIMEOUT) }>>,
    pub(super) concurrency: Option<Bounded<1, MAX_CONCURRENCY>>,
    pub(super) update_mode: Option<UpdateMode>,
    pub(super) refresh: Option<RefreshMode>,
    pub(super) prune: Option<PruneMode>,
    pub(super) on_drift: Option<DriftPolicy>,
    pub(super) limits: Option<LimitsSection>,
    pub(super) retry: Option<RetrySection>,
    pub(super) metrics_listen: Option<ListenAddress>,
    pub(super) plan_token_file: Option<PathBuf>,
    pub(super) log: Option<LogSection>,
    pub(super) dry_run: Option<bool>,
    pub(super) proxy: Option<ProxySection>,
    pub(super) notify: Option<Vec<TargetEntry>>,
    pub(super) notify_settings: Option<NotifySettingsSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PodSection {
    pub(super) url: Option<HttpUrl>,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) agent_url: Option<HttpUrl>,
    pub(super) key_manager_url: Option<HttpUrl>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProxySection {
    pub(super) url: Option<ProxyUrl>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuthSection {
    pub(super) session_token_file: Option<PathBuf>,
    pub(super) bot_username: Option<String>,
    pub(super) private_key_file: Option<PathBuf>,
    pub(super) login_url: Option<HttpUrl>,
    pub(super) bdk_config: Option<PathBuf>,
    pub(super) key_manager_token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsSection {
    pub(super) max_changes: Option<usize>,
    pub(super) max_deactivations: Option<usize>,
    pub(super) max_member_removals: Option<usize>,
    pub(super) max_prune_fraction: Option<Fraction>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JournalSection {
    pub(super) max_size: Option<ConfigSize<MIN_JOURNAL_SIZE, MAX_JOURNAL_SIZE>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RetrySection {
    pub(super) max_attempts: Option<Bounded<1, { u32::MAX as u64 }>>,
    pub(super) initial_interval: Option<ConfigDuration>,
    pub(super) multiplier: Option<f64>,
    pub(super) max_interval: Option<ConfigDuration>,
}

/// `notify_settings:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NotifySettingsSection {
    pub(super) dedupe: Option<ConfigDuration>,
    pub(super) repeat: Option<ConfigDuration<{ millis(MIN_REPEAT) }>>,
    pub(super) flush_timeout: Option<ConfigDuration>,
    pub(super) plan_url: Option<HttpUrl>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LogSection {
    pub(super) format: Option<LogFormat>,
    pub(super) level: Option<LogFilter>,
}

/// A checked log level or filter (see [`parse_log_filter`]).
#[derive(Debug)]
pub(super) struct LogFilter(pub(super) String);

impl<'de> Deserialize<'de> for LogFilter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(deserializer, "a log level such as `info`", parse_log_filter)
            .map(LogFilter)
    }
}

/// A duration from `MIN_MS` milliseconds to [`MAX_DURATION`](super::values::MAX_DURATION)
/// (see [`parse_duration_from`]); a value out of range is an error at its position.
#[derive(Debug)]
pub(super) struct ConfigDuration<const MIN_MS: u64 = 0>(pub(super) Duration);

/// The milliseconds of `duration`, as a [`ConfigDuration`]'s minimum.
const fn millis(duration: Duration) -> u64 {
    duration.as_millis() as u64
}

#[derive(Debug)]
pub(super) struct HttpUrl(pub(super) String);

/// `IP:PORT` or `HOST:PORT`, resolved (see [`parse_listen_address`]).
#[derive(Debug)]
pub(super) struct ListenAddress(pub(super) SocketAddr);

/// An integer in `MIN..=MAX`.
#[derive(Debug)]
pub(super) struct Bounded<const MIN: u64, const MAX: u64>(pub(super) u64);

/// A number from 0 to 1 (`0.5`, `1`).
#[derive(Debug)]
pub(super) struct Fraction(pub(super) f64);

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FractionVisitor;
        impl Visitor<'_> for FractionVisitor {
            type Value = f64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number from 0 to 1, e.g. 0.5")
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<f64, E> {
                match (0.0..=1.0).contains(&value) {
                    true => Ok(value),
                    false => Err(E::custom(format!(
                        "{value} is out of range; expected a number from 0 to 1, e.g. 0.5"
                    ))),
                }
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<f64, E> {
                self.visit_f64(value as f64)
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<f64, E> {
                self.visit_f64(value as f64)
            }
        }
        deserializer.deserialize_any(FractionVisitor).map(Fraction)
    }
}

/// A size in bytes from `MIN` to `MAX`: a number of bytes, or text with a
/// unit (see [`parse_size_within`]).
#[derive(Debug)]
pub(super) struct ConfigSize<const MIN: u64, const MAX: u64>(pub(super) u64);

/// Deserializes a string scalar through `parse`. The error is raised inside
/// the visitor, where serde_yaml still knows the scalar's position; serde
/// keeps only its text, so the text carries its causes too.
fn deserialize_parsed<'de, D, T>(
    deserializer: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, ValueError>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct ParsedVisitor<T> {
        expecting: &'static str,
        parse: fn(&str) -> Result<T, ValueError>,
    }
    impl<T> Visitor<'_> for ParsedVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
            (self.parse)(value).map_err(|error| {
                E::custom(with_causes(
                    error.to_string(),
                    std::error::Error::source(&error),
                ))
            })
        }
    }
    deserializer.deserialize_str(ParsedVisitor { expecting, parse })
}

impl<'de, const MIN_MS: u64> Deserialize<'de> for ConfigDuration<MIN_MS> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        fn parse<const MIN_MS: u64>(text: &str) -> Result<Duration, ValueError> {
            parse_duration_from(text, Duration::from_millis(MIN_MS))
        }
        deserialize_parsed(deserializer, "a duration such as `30s`", parse::<MIN_MS>)
            .map(ConfigDuration)
    }
}

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(deserializer, "an http(s) URL", parse_http_url).map(HttpUrl)
    }
}

impl<'de> Deserialize<'de> for ProxyUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(
            deserializer,
            "a proxy URL such as `http://proxy.example.com:3128`",
            ProxyUrl::parse,
        )
    }
}

impl<'de> Deserialize<'de> for ListenAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(
            deserializer,
            "an address such as `127.0.0.1:9464`",
            parse_listen_address,
        )
        .map(ListenAddress)
    }
}

impl<'de> Deserialize<'de> for CronSchedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(deserializer, "a 5-field cron schedule", CronSchedule::parse)
    }
}

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for ConfigSize<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor<const MIN: u64, const MAX: u64>;
        impl<const MIN: u64, const MAX: u64> Visitor<'_> for SizeVisitor<MIN, MAX> {
            type Value = u64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as `64MiB`")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<u64, E> {
                parse_size_within(text, MIN, MAX).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
                self.visit_str(&value.to_string())
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<u64, E> {
                self.visit_str(&value.to_string())
            }
        }
        deserializer
            .deserialize_any(SizeVisitor::<MIN, MAX>)
            .map(ConfigSize)
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
                    false => Err(E::custom(out_of_range(value, MIN, MAX))),
                }
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<u64, E> {
                match u64::try_from(value) {
                    Ok(value) => self.visit_u64(value),
                    Err(_) => Err(E::custom(out_of_range(value, MIN, MAX))),
                }
            }
        }
        // `any`, not `u64`: serde_yaml's `deserialize_u64` rejects `-1` as a wrong type.
        deserializer
            .deserialize_any(BoundedVisitor::<MIN, MAX>)
            .map(Bounded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the parsed text claims to come from; every diagnostic starts with it.
    const PATH: &str = "/etc/groupsync/groupsync.yaml";

    fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
        parse_config_file(Path::new(PATH), text)
    }

    fn error(text: &str) -> String {
        parse(text)
            .expect_err("the config should be rejected")
            .to_string()
    }

    #[test]
    fn empty_file_means_all_defaults() {
        let default = format!("{:?}", ConfigFile::default());
        for text in ["", "\n", "# only a comment\n"] {
            let file = parse(text).unwrap();
            assert_eq!(format!("{file:?}"), default, "for {text:?}");
        }
    }

    #[test]
    fn unknown_top_level_key_names_file_line_and_column() {
        let prefix = format!("{PATH}:2:1: unknown field `foo`, expected one of");
        let error = error("concurrency: 2\nfoo: 1\n");
        assert!(error.starts_with(&prefix), "{error}");
        assert!(!error.contains(" at line "), "{error}");
    }

    #[test]
    fn an_unknown_key_suggests_the_one_meant_in_its_section() {
        let prefix = format!(
            "{PATH}:2:1: unknown field `intervl` (did you mean `interval`?), expected one of `pod`"
        );
        let typo = error("concurrency: 2\nintervl: 5m\n");
        assert!(typo.starts_with(&prefix), "{typo}");
        let nested = error("retry:\n  max_atempts: 3\n");
        assert!(
            nested.starts_with(&format!(
                "{PATH}:2:3: retry: unknown field `max_atempts` (did you mean `max_attempts`?), expected one of"
            )),
            "{nested}"
        );
        let far = error("colour: red\n");
        assert!(
            far.starts_with(&format!("{PATH}:1:1: unknown field `colour`, expected")),
            "{far}"
        );
    }

    #[test]
    fn unknown_nested_key_names_file_line_and_column() {
        let prefix = format!(
            "{PATH}:3:3: retry: unknown field `maxattempts` (did you mean `max_attempts`?), expected one of"
        );
        let error = error("retry:\n  max_attempts: 2\n  maxattempts: 3\n");
        assert!(error.starts_with(&prefix), "{error}");
    }

    #[test]
    fn wrong_type_names_file_line_and_column() {
        let prefix = format!("{PATH}:2:16: limits.max_changes: invalid type: string \"lots\"");
        let error = error("limits:\n  max_changes: lots\n");
        assert!(error.starts_with(&prefix), "{error}");
    }

    #[test]
    fn invalid_yaml_names_file_line_and_column() {
        let error = error("pod:\n\turl: x\n");
        let expected = format!("{PATH}:2:1: found character that cannot start any token");
        assert!(error.starts_with(&expected), "{error}");
    }

    #[test]
    fn bad_values_are_reported_at_their_position() {
        let cases = [
            (
                "log: {level: verbose}\n",
                "1:14: log.level: `verbose` is not a log level; use one of error, warn, info",
            ),
            (
                "debounce: 5\n",
                "1:11: debounce: `5`: a number needs a unit",
            ),
            (
                "interval: 18446744073709551615s\n",
                "1:11: interval: `18446744073709551615s` is out of range; expected a duration from 1s to 8760h",
            ),
            (
                "interval: 1ms\n",
                "1:11: interval: `1ms` is out of range; expected a duration from 1s to 8760h",
            ),
            (
                "debounce: 99ms\n",
                "1:11: debounce: `99ms` is out of range; expected a duration from 100ms to 8760h",
            ),
            (
                "cycle_timeout: 0s\n",
                "1:16: cycle_timeout: `0s` is out of range; expected a duration from 1s to 8760h",
            ),
            (
                "retry: {max_interval: 8761h}\n",
                "1:23: retry.max_interval: `8761h` is out of range; expected a duration from 0s to 8760h",
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
                "1:17: metrics_listen: `localhost` is not an address with a port",
            ),
            (
                "dry_run: yes\n",
                "1:10: dry_run: invalid type: string \"yes\"",
            ),
        ];
        for (text, expected) in cases {
            let expected = format!("{PATH}:{expected}");
            let error = error(text);
            assert!(error.starts_with(&expected), "for {text:?}: {error}");
        }
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
            ("schedule: \"* * 31 2 *\"\n", "never fires"),
        ];
        for (text, expected) in cases {
            let result = parse(text);
            if expected.is_empty() {
                assert!(result.is_ok(), "for {text:?}: {:?}", result.err());
                continue;
            }
            let error = result.unwrap_err().to_string();
            assert!(error.contains(":1:11: schedule: "), "for {text:?}: {error}");
            assert!(error.contains(expected), "for {text:?}: {error}");
        }
    }
}
