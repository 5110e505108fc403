//! The generic value parsers behind the settings: durations, http(s) URLs,
//! listen addresses, cron schedules and integer ranges. Each takes text and returns the value
//! or a [`ValueError`] that says what is wrong; the config file's visitors
//! (`file.rs`) and the flag checks (`mod.rs`) add where it was written.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::error::{ValueError, short_duration};

/// The longest duration any setting takes: 365 days, written `8760h`. A
/// longer wait is a mistake, and a far longer one (`18446744073709551615s`)
/// overflows the clock.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Parses `500ms`, `30s`, `5m`, `1h` and combinations in descending order
/// such as `1m30s`, up to [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, ValueError> {
    parse_duration_from(text, Duration::ZERO)
}

/// [`parse_duration`] for a setting that takes at least `min`: the error
/// of a value out of range names the range.
pub fn parse_duration_from(text: &str, min: Duration) -> Result<Duration, ValueError> {
    let duration = parse_any_duration(text)
        .map(|duration| duration.filter(|duration| *duration <= MAX_DURATION));
    match duration {
        Ok(Some(duration)) if duration >= min => Ok(duration),
        Ok(_) => Err(duration_out_of_range(text, min)),
        Err(error) => Err(error),
    }
}

/// The error for a duration outside `min..=MAX_DURATION`, `text` as written.
pub(super) fn duration_out_of_range(text: &str, min: Duration) -> ValueError {
    ValueError::DurationOutOfRange {
        text: text.to_string(),
        min: short_duration(min),
        max: short_duration(MAX_DURATION),
    }
}

/// The duration `text` writes; `None` when it is too long to count.
fn parse_any_duration(text: &str) -> Result<Option<Duration>, ValueError> {
    let text_owned = || text.to_string();
    if text.is_empty() {
        return Err(ValueError::EmptyDuration);
    }
    if text.starts_with('-') {
        return Err(ValueError::NegativeDuration { text: text_owned() });
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    let mut previous: Option<TimeUnit> = None;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(ValueError::NotADuration { text: text_owned() });
        }
        let letters = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .map_or(rest.len(), |index| digits + index);
        let unit = TimeUnit::parse(text, &rest[digits..letters])?;
        if previous.is_some_and(|previous| previous <= unit) {
            return Err(ValueError::UnitOrder { text: text_owned() });
        }
        let part = rest[..digits]
            .parse()
            .ok()
            .and_then(|count| unit.times(count));
        let Some(sum) = part.and_then(|part| total.checked_add(part)) else {
            return Ok(None);
        };
        total = sum;
        previous = Some(unit);
        rest = &rest[letters..];
    }
    Ok(Some(total))
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
    /// The unit written `unit` in the duration `text`.
    fn parse(text: &str, unit: &str) -> Result<TimeUnit, ValueError> {
        match unit {
            "ms" => Ok(TimeUnit::Millis),
            "s" => Ok(TimeUnit::Seconds),
            "m" => Ok(TimeUnit::Minutes),
            "h" => Ok(TimeUnit::Hours),
            "" => Err(ValueError::MissingUnit {
                text: text.to_string(),
            }),
            other => Err(ValueError::UnknownUnit {
                text: text.to_string(),
                unit: other.to_string(),
            }),
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

/// A validated 5-field POSIX cron expression and the text it was written as.
#[derive(Clone)]
pub struct CronSchedule {
    text: String,
    /// Boxed: a parsed pattern is over 300 bytes, the rest of `Trigger` 16.
    cron: Box<croner::Cron>,
}

impl CronSchedule {
    /// Parses a 5-field POSIX cron expression (minute hour day-of-month month
    /// day-of-week; 0 and 7 are Sunday) or a nickname such as `@hourly`.
    pub fn parse(text: &str) -> Result<CronSchedule, ValueError> {
        let fields = text.split_whitespace().count();
        if !text.trim_start().starts_with('@') && fields != 5 {
            return Err(ValueError::CronFields {
                text: text.to_string(),
                fields,
            });
        }
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .year(croner::parser::Year::Disallowed)
            .build();
        let cron = parser.parse(text).map_err(|source| ValueError::Cron {
            text: text.to_string(),
            source,
        })?;
        check_fires(text, &cron)?;
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

/// How far ahead a schedule must fire at least once: a leap day (`0 0 29 2 *`)
/// comes within 4 years, a day that does not exist (`* * 31 2 *`) never.
const SCHEDULE_HORIZON_DAYS: i64 = 5 * 366;

/// Refuses a schedule that would never start a cycle: the daemon would
/// silently wait for file changes only.
fn check_fires(text: &str, cron: &croner::Cron) -> Result<(), ValueError> {
    let now = chrono::Local::now();
    let horizon = now + chrono::TimeDelta::days(SCHEDULE_HORIZON_DAYS);
    match cron.find_next_occurrence(&now, false) {
        Ok(next) if next <= horizon => Ok(()),
        _ => Err(ValueError::NeverFires {
            text: text.to_string(),
        }),
    }
}

// The parsed pattern's Debug output is a wall of bit fields; the text says it all.
impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CronSchedule").field(&self.text).finish()
    }
}

/// Checks that `text` is an `http(s)://host...` URL without credentials, query or
/// fragment, and returns it with its scheme in lower case (`HTTPS://` is
/// `https://`) and without trailing `/`.
pub(super) fn parse_http_url(text: &str) -> Result<String, ValueError> {
    let text_owned = || text.to_string();
    let (scheme, rest) = text
        .split_once("://")
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http")
        })
        .ok_or_else(|| ValueError::NotHttpUrl { text: text_owned() })?;
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
        Err(ValueError::UrlExtras { text: text_owned() })
    } else if authority.contains('@') {
        Err(ValueError::UrlCredentials)
    } else if host.is_empty() || host.contains(':') && !host.starts_with('[') {
        Err(ValueError::UrlHost { text: text_owned() })
    } else {
        let scheme = scheme.to_ascii_lowercase();
        Ok(format!("{scheme}://{}", rest.trim_end_matches('/')))
    }
}

/// A proxy's URL, `http://[user:password@]host[:port]` (or `https://`).
/// `Debug` and `Display` hide the password; [`ProxyUrl::expose`] is the only
/// way to it.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl(reqwest::Url);

impl ProxyUrl {
    /// Parses `proxy.url`. Errors never quote the text: it may hold a password.
    pub fn parse(text: &str) -> Result<ProxyUrl, ValueError> {
        let url = reqwest::Url::parse(text.trim()).map_err(|error| ValueError::ProxyNotUrl {
            reason: error.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ValueError::ProxyScheme);
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ValueError::ProxyNoHost);
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(ValueError::ProxyExtras);
        }
        Ok(ProxyUrl(url))
    }

    /// `http://host:port`, with `username` and `password` (percent-encoded)
    /// when given: the SDK config's `proxy` section.
    pub fn from_parts(
        host: &str,
        port: u16,
        username: Option<&str>,
        password: Option<&str>,
    ) -> Result<ProxyUrl, ValueError> {
        let invalid = || ValueError::ProxyHost;
        if host.trim().is_empty() || host.contains(['/', '@', ' ']) {
            return Err(invalid());
        }
        let mut url = reqwest::Url::parse(&format!("http://{}:{port}", host.trim()))
            .map_err(|_| invalid())?;
        if let Some(username) = username.filter(|username| !username.is_empty()) {
            url.set_username(username).map_err(|_| invalid())?;
            url.set_password(password).map_err(|_| invalid())?;
        }
        Ok(ProxyUrl(url))
    }

    /// The URL with its password, for the HTTP client and nothing else.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.clone();
        let _ = shown.set_password(None);
        let shown = shown.as_str().trim_end_matches('/');
        // The username is percent-encoded: its `@` is the one before the host.
        match (self.0.password(), shown.split_once('@')) {
            (Some(_), Some((user, host))) => write!(f, "{user}:<redacted>@{host}"),
            _ => f.write_str(shown),
        }
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ProxyUrl").field(&self.to_string()).finish()
    }
}

/// Reads `IP:PORT` or `HOST:PORT` (e.g. `localhost:9464`) as the address to
/// listen on; a host name is resolved now, and its first address taken.
pub fn parse_listen_address(text: &str) -> Result<SocketAddr, ValueError> {
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    let text_owned = || text.to_string();
    let has_port = text
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !has_port {
        return Err(ValueError::NoPort { text: text_owned() });
    }
    match text.to_socket_addrs() {
        Ok(mut addresses) => addresses
            .next()
            .ok_or_else(|| ValueError::NoAddress { text: text_owned() }),
        Err(cause) => Err(ValueError::Unresolvable {
            text: text_owned(),
            cause,
        }),
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

/// The units a size may be written in, and how many bytes each is.
const SIZE_UNITS: [(&str, u64); 9] = [
    ("b", 1),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
];

/// Parses a size in bytes: a whole number, then optionally a unit (`B`,
/// `KiB`, `MiB`, `GiB`, `TiB`, or the decimal `KB`, `MB`, `GB`, `TB`; in
/// any case, a space before it allowed), within `min..=max`.
pub fn parse_size_within(text: &str, min: u64, max: u64) -> Result<u64, ValueError> {
    let not_a_size = || ValueError::NotASize {
        text: text.to_string(),
    };
    let trimmed = text.trim();
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = trimmed.split_at(digits);
    let number: u64 = number.parse().map_err(|_| not_a_size())?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let factor = match unit.as_str() {
        "" => 1,
        unit => SIZE_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, factor)| *factor)
            .ok_or_else(not_a_size)?,
    };
    match number.checked_mul(factor) {
        Some(size) if (min..=max).contains(&size) => Ok(size),
        _ => Err(ValueError::SizeOutOfRange {
            text: text.to_string(),
            min,
            max,
        }),
    }
}

/// A revision given by hand (`--revision` / `GROUPSYNC_REVISION`): one
/// line of visible text, at most [`MAX_GIVEN`](crate::revision::MAX_GIVEN)
/// characters; empty counts as not given.
pub fn parse_revision(text: &str) -> Result<Option<String>, ValueError> {
    let max = crate::revision::MAX_GIVEN;
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().count() > max || text.chars().any(crate::text::needs_escape) {
        return Err(ValueError::NotARevision);
    }
    Ok(Some(text.to_string()))
}

/// The error for an integer outside `min..=max`.
pub(super) fn out_of_range(value: impl fmt::Display, min: u64, max: u64) -> ValueError {
    ValueError::OutOfRange {
        value: value.to_string(),
        min,
        max,
    }
}

/// The log levels `log.level`, `--log-level` and `RUST_LOG` accept, alone or per target.
pub const LOG_LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];

/// Checks a log level or tracing filter: a level (`info`), or comma-separated
/// `target=level` directives (`groupsync=debug,reqwest=warn`). A bare word
/// that is not a level is refused: tracing would read `verbose` as a target
/// name and print nothing at all, warnings and errors included.
pub fn parse_log_filter(text: &str) -> Result<String, ValueError> {
    let is_level = |word: &str| {
        LOG_LEVELS
            .iter()
            .any(|level| level.eq_ignore_ascii_case(word))
    };
    for directive in text.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = directive
            .rsplit_once('=')
            .map_or(directive, |(_, level)| level);
        if !is_level(level.trim()) {
            return Err(ValueError::NotALogLevel {
                level: level.trim().to_string(),
                levels: LOG_LEVELS.join(", "),
            });
        }
    }
    Ok(text.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::format_size;

    #[test]
    fn log_levels_and_filters_are_checked() {
        for good in [
            "info",
            "WARN",
            "off",
            "groupsync=debug,reqwest=warn",
            "info,groupsync=trace",
            " debug ",
        ] {
            assert!(parse_log_filter(good).is_ok(), "{good}");
        }
        for (bad, word) in [
            ("verbose", "`verbose`"),
            ("warning", "`warning`"),
            ("groupsync=loud", "`loud`"),
            ("info,chatty", "`chatty`"),
        ] {
            let error = parse_log_filter(bad).unwrap_err().to_string();
            assert!(error.contains(word), "{bad}: {error}");
            assert!(
                error.contains("error, warn, info, debug, trace, off"),
                "{error}"
            );
        }
    }

    #[test]
    fn a_proxy_url_shows_everything_but_its_password() {
        let cases = [
            ("http://proxy.acme.com:3128", "http://proxy.acme.com:3128"),
            ("https://proxy.acme.com/", "https://proxy.acme.com"),
            ("http://ops@proxy:8080", "http://ops@proxy:8080"),
            (
                "http://ops:s3cr3t@proxy:8080",
                "http://ops:<redacted>@proxy:8080",
            ),
        ];
        for (text, shown) in cases {
            let proxy = ProxyUrl::parse(text).unwrap();
            assert_eq!(proxy.to_string(), shown, "{text}");
            assert!(!format!("{proxy:?}").contains("s3cr3t"), "{text}");
        }
        for bad in [
            "proxy:3128",
            "ftp://p",
            "http://p/x",
            "http://p?x=s3cr3t",
            "http://",
        ] {
            let error = ProxyUrl::parse(bad).expect_err(bad).to_string();
            assert!(!error.contains("s3cr3t"), "{bad}: {error}");
        }
    }

    #[test]
    fn listen_addresses_take_an_ip_or_a_host_name_with_a_port() {
        assert_eq!(
            parse_listen_address("127.0.0.1:9464").unwrap(),
            SocketAddr::from(([127, 0, 0, 1], 9464))
        );
        assert_eq!(
            parse_listen_address("[::1]:0").unwrap(),
            "[::1]:0".parse::<SocketAddr>().unwrap()
        );
        let localhost = parse_listen_address("localhost:0").expect("localhost resolves");
        assert!(localhost.ip().is_loopback(), "{localhost}");
        assert_eq!(localhost.port(), 0);
        for (bad, expected) in [
            ("localhost", "is not an address with a port"),
            ("9464", "is not an address with a port"),
            (":9464", "is not an address with a port"),
            ("localhost:http", "is not an address with a port"),
            (
                "groupsync-test.invalid:9464",
                "cannot resolve the host name",
            ),
        ] {
            let error = parse_listen_address(bad).expect_err(bad).to_string();
            assert!(error.contains(expected), "{bad}: {error}");
        }
    }

    #[test]
    fn a_schedule_that_never_fires_is_refused() {
        for never in ["* * 31 2 *", "0 0 30 2 *", "0 12 31 4,6,9,11 *"] {
            let error = CronSchedule::parse(never).expect_err(never).to_string();
            assert!(error.contains("never fires"), "{never}: {error}");
        }
        for rare in ["0 0 29 2 *", "0 0 31 12 *", "@yearly"] {
            assert!(CronSchedule::parse(rare).is_ok(), "{rare}");
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
            assert_eq!(parse_duration(text).unwrap(), expected, "for {text:?}");
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
            ("99999999999999999999s", "out of range"),
            ("5124095576030432h", "out of range"),
            ("18446744073709551615s1000ms", "out of range"),
            ("18446744073709551615s", "out of range"),
            ("8760h1ms", "out of range"),
        ];
        for (text, expected) in cases {
            let error = parse_duration(text).expect_err(text).to_string();
            assert!(error.contains(expected), "for {text:?}: {error}");
        }
    }

    #[test]
    fn every_duration_is_at_most_a_year_and_some_at_least_their_minimum() {
        assert_eq!(parse_duration("8760h").unwrap(), MAX_DURATION);
        assert_eq!(
            parse_duration("18446744073709551615s")
                .unwrap_err()
                .to_string(),
            "`18446744073709551615s` is out of range; expected a duration from 0s to 8760h"
        );
        let second = Duration::from_secs(1);
        assert_eq!(parse_duration_from("1s", second).unwrap(), second);
        assert_eq!(
            parse_duration_from("999ms", second)
                .unwrap_err()
                .to_string(),
            "`999ms` is out of range; expected a duration from 1s to 8760h"
        );
        assert!(
            parse_duration_from("1x", second)
                .unwrap_err()
                .to_string()
                .contains("unknown unit")
        );
    }

    #[test]
    fn pod_urls_are_validated_and_trimmed() {
        assert_eq!(
            parse_http_url("https://acme.example/pod/").unwrap(),
            "https://acme.example/pod"
        );
        assert_eq!(
            parse_http_url("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        // The scheme in any case, as URLs allow; written back in lower case.
        for (given, expected) in [
            ("HTTP://acme.example/Pod", "http://acme.example/Pod"),
            ("Https://Acme.example/", "https://Acme.example"),
        ] {
            assert_eq!(parse_http_url(given).unwrap(), expected, "{given}");
        }
        for bad in [
            "ftp://acme.example",
            "httpx://acme.example",
            "acme.example",
            "https://",
            "https:///pod",
            "https://u:p@acme.example",
            "https://a.example/?x=1",
            "https://a:b:c",
        ] {
            assert!(parse_http_url(bad).is_err(), "{bad}");
        }
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

    #[test]
    fn sizes_take_binary_and_decimal_units_within_their_range() {
        let size = |text| parse_size_within(text, 1024, 1 << 32);
        for (text, bytes) in [
            ("64MiB", 64 << 20),
            ("64 mib", 64 << 20),
            ("1KiB", 1024),
            ("4GiB", 1 << 32),
            ("10MB", 10_000_000),
            ("2048", 2048),
            ("2048B", 2048),
        ] {
            assert_eq!(size(text).unwrap(), bytes, "{text}");
        }
        for bad in ["", "MiB", "1.5MiB", "-1KiB", "64 megabytes", "1 KiB extra"] {
            let error = size(bad).unwrap_err().to_string();
            assert!(
                error.ends_with(
                    "is not a size; write e.g. `64MiB`, `512KiB`, `1GiB` or a number of bytes"
                ),
                "{bad}: {error}"
            );
        }
        for out in [
            "1023",
            "5GiB",
            "99999999999999999999TiB",
            "18446744073709551615TiB",
        ] {
            let error = size(out).unwrap_err().to_string();
            assert!(
                error.ends_with("is out of range; expected a size from 1KiB to 4GiB")
                    || error.contains("is not a size"),
                "{out}: {error}"
            );
        }
        assert_eq!(format_size(64 << 20), "64MiB");
        assert_eq!(format_size(1500), "1500B");
        assert_eq!(format_size(0), "0B");
    }

    #[test]
    fn a_given_revision_is_one_visible_line() {
        assert_eq!(
            parse_revision(" 4f2c1e9 ").unwrap().as_deref(),
            Some("4f2c1e9")
        );
        assert_eq!(parse_revision("  ").unwrap(), None);
        for bad in ["a\nb", "x\u{1b}[2J", "\u{202e}abc", &"x".repeat(201)] {
            let error = parse_revision(bad).unwrap_err().to_string();
            assert!(
                error.starts_with("a revision is one line of at most 200"),
                "{error}"
            );
        }
    }
}
