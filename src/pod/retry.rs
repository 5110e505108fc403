//! When and how long to wait before calling the pod again.
//!
//! Exponential back-off with jitter between attempts, except that a
//! `Retry-After` header (429 or 503) is honoured to the second, up to
//! [`RETRY_AFTER_CAP`]. The pod client decides *what* is retryable; this
//! module only computes the waits (and says how long they are).

use std::time::{Duration, SystemTime};

use backon::ExponentialBuilder;

use crate::config::RetrySettings;

/// The longest `Retry-After` honoured: a pod asking for more is treated as
/// asking for this, so a typo on its side cannot park the daemon for a day.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(5 * 60);

/// Exponential back-off between attempts of one pod call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included (at least 1 is always made).
    pub max_attempts: u32,
    /// The wait before the second attempt (before jitter).
    pub initial_interval: Duration,
    /// Factor between successive waits.
    pub multiplier: f64,
    /// The longest wait computed by back-off (`Retry-After` may ask for more).
    pub max_interval: Duration,
}

impl From<&RetrySettings> for RetryPolicy {
    fn from(settings: &RetrySettings) -> Self {
        RetryPolicy {
            max_attempts: settings.max_attempts,
            initial_interval: settings.initial_interval,
            multiplier: settings.multiplier,
            max_interval: settings.max_interval,
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::from(&RetrySettings::default())
    }
}

impl RetryPolicy {
    /// A policy that makes exactly one attempt.
    pub fn no_retries() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The back-off schedule: `max_attempts - 1` waits, growing by
    /// `multiplier` from `initial_interval`, each stretched by a random
    /// jitter of up to 100 % (so that many clients do not retry in step).
    /// [`RetryPolicy::wait`] then caps each wait at `max_interval`.
    pub fn backoff(&self) -> ExponentialBuilder {
        let retries = self.max_attempts.max(1) - 1;
        ExponentialBuilder::new()
            .with_jitter()
            .with_factor(self.multiplier as f32)
            .with_min_delay(self.initial_interval)
            .with_max_delay(self.max_interval)
            .with_max_times(retries as usize)
    }

    /// The wait actually used before the next attempt: what the pod asked
    /// for in `Retry-After` if it did (capped at [`RETRY_AFTER_CAP`], even
    /// beyond `max_interval`), else the back-off's wait capped at `max_interval`.
    pub fn wait(&self, backoff: Duration, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(asked) => asked.min(RETRY_AFTER_CAP),
            None => backoff.min(self.max_interval),
        }
    }
}

/// Parses a `Retry-After` value: delta-seconds (`"120"`) or an HTTP date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`), relative to `now`. A date in the past
/// means "now" (zero). Anything else is `None`: the caller falls back to
/// back-off. The result is capped at [`RETRY_AFTER_CAP`].
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let date = httpdate::parse_http_date(value).ok()?;
        date.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(RETRY_AFTER_CAP))
}

/// A wait as people read it: `250ms`, `1.5s`, `300s`.
pub(super) fn shown_wait(wait: Duration) -> String {
    if wait < Duration::from_secs(1) {
        format!("{}ms", wait.as_millis())
    } else if wait < Duration::from_secs(10) {
        format!("{:.1}s", wait.as_secs_f64())
    } else {
        format!("{}s", wait.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            initial_interval: Duration::from_millis(500),
            multiplier: 2.0,
            max_interval: Duration::from_secs(4),
        }
    }

    #[test]
    fn retry_after_in_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_as_http_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        // A date in the past means "go ahead now".
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_garbage_is_ignored() {
        let now = SystemTime::now();
        for garbage in ["", "soon", "-5", "1.5", "Wed, 99 Foo 2015"] {
            assert_eq!(parse_retry_after(garbage, now), None, "{garbage:?}");
        }
    }

    #[test]
    fn retry_after_is_capped() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("86400", now), Some(RETRY_AFTER_CAP));
        assert_eq!(
            parse_retry_after("18446744073709551615", now),
            Some(RETRY_AFTER_CAP)
        );
    }

    #[test]
    fn retry_after_wins_over_backoff_even_beyond_max_interval() {
        let policy = policy(6);
        let asked = Duration::from_secs(60);
        assert_eq!(policy.wait(Duration::from_millis(500), Some(asked)), asked);
        assert_eq!(
            policy.wait(Duration::ZERO, Some(Duration::from_secs(3600))),
            RETRY_AFTER_CAP
        );
    }

    #[test]
    fn backoff_makes_max_attempts_minus_one_waits() {
        assert_eq!(policy(6).backoff().build().count(), 5);
        assert_eq!(policy(1).backoff().build().count(), 0);
        // 0 is treated as 1: the first attempt is always made.
        assert_eq!(policy(0).backoff().build().count(), 0);
    }

    #[test]
    fn backoff_waits_grow_within_jitter_bounds_and_never_exceed_max_interval() {
        let policy = policy(8);
        for _ in 0..50 {
            let mut base = policy.initial_interval;
            for suggested in policy.backoff().build() {
                let wait = policy.wait(suggested, None);
                // Jitter only ever lengthens a wait, by less than 100 % (1 ms for rounding).
                let slack = Duration::from_millis(1);
                assert!(
                    wait + slack >= base.min(policy.max_interval),
                    "{wait:?} < {base:?}"
                );
                assert!(
                    wait <= (base * 2).min(policy.max_interval) + slack,
                    "{wait:?} > 2 x {base:?}"
                );
                base = base.mul_f64(policy.multiplier).min(policy.max_interval);
            }
        }
    }

    #[test]
    fn from_settings() {
        let settings = RetrySettings {
            max_attempts: 3,
            initial_interval: Duration::from_millis(100),
            multiplier: 1.5,
            max_interval: Duration::from_secs(2),
        };
        let policy = RetryPolicy::from(&settings);
        assert_eq!(policy.max_attempts, 3);
        assert_eq!(policy.initial_interval, Duration::from_millis(100));
        assert_eq!(policy.multiplier, 1.5);
        assert_eq!(policy.max_interval, Duration::from_secs(2));
    }

    #[test]
    fn waits_read_as_people_write_them() {
        assert_eq!(shown_wait(Duration::from_millis(250)), "250ms");
        assert_eq!(shown_wait(Duration::from_millis(1500)), "1.5s");
        assert_eq!(shown_wait(Duration::from_secs(300)), "300s");
    }
}
