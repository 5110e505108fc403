//! The metric families groupsync exports, in a registry of its own
//! ([`Metrics`]; no global state), and their OpenMetrics text for `/metrics`.
//! Tests read them with [`Metrics::encode`].

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::notify::{Delivery, DeliveryObserver, EventKind};
use crate::pod::{Observer, RequestOutcome};

/// The content type of `/metrics`, as the OpenMetrics spec names it.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How a cycle ended, as the `result` label of `groupsync_cycles_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CycleResult {
    /// Planned (and, unless dry-run, applied) without an error.
    Success,
    /// The pod or the state file failed.
    Failure,
    /// The desired state in `groups.d/` did not load; nothing was written.
    Invalid,
}

impl CycleResult {
    pub const ALL: [CycleResult; 3] = [
        CycleResult::Success,
        CycleResult::Failure,
        CycleResult::Invalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CycleResult::Success => "success",
            CycleResult::Failure => "failure",
            CycleResult::Invalid => "invalid",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// The `kind` label: [`crate::Error::kind`] of the error a cycle ended in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ErrorKindLabel {
    kind: &'static str,
}

/// The methods the pod client sends (`groupsync_pod_requests_total{method}`).
const POD_METHODS: [&str; 3] = ["GET", "PUT", "POST"];

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    code: String,
}

/// A notification's target (`symphony stream_id ...`, `webhook https://...`), event and end.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct NotificationLabels {
    target: String,
    event: &'static str,
    result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RevisionLabel {
    revision: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct GroupStateLabel {
    state: &'static str,
}

/// A gauge of whole numbers (counts, flags).
type CountGauge = Gauge<u64, AtomicU64>;
/// A gauge of floating-point numbers (timestamps).
type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric groupsync exports, in a registry of its own.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    cycles: Family<ResultLabel, Counter>,
    cycle_duration: Histogram,
    cycle_failures: Family<ErrorKindLabel, Counter>,
    pod_requests: Family<RequestLabels, Counter>,
    notifications: Family<NotificationLabels, Counter>,
    groups: Family<GroupStateLabel, CountGauge>,
    drift: Counter,
    last_success: FloatGauge,
    desired_groups: CountGauge,
    config_valid: CountGauge,
    orphans: CountGauge,
    held_drift: CountGauge,
    applied_revision: Family<RevisionLabel, CountGauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let metrics = Metrics {
            registry: Registry::default(),
            cycles: Family::default(),
            cycle_duration: Histogram::new(cycle_duration_buckets()),
            cycle_failures: Family::default(),
            pod_requests: Family::default(),
            notifications: Family::default(),
            groups: Family::default(),
            drift: Counter::default(),
            last_success: FloatGauge::default(),
            desired_groups: CountGauge::default(),
            config_valid: CountGauge::default(),
            orphans: CountGauge::default(),
            held_drift: CountGauge::default(),
            applied_revision: Family::default(),
        };
        metrics.with_known_series().registered()
    }

    /// Creates every series whose label values are known up front, so that
    /// the first scrape shows them at 0 rather than missing: `increase()` and
    /// `rate()` need a start, and a dashboard panel a series. Those are the
    /// cycle results, the kinds of error ([`crate::Error::KINDS`]), the group
    /// states, and each method the pod client uses with the success code
    /// (other codes are not known until the pod answers with them).
    fn with_known_series(self) -> Self {
        for result in CycleResult::ALL {
            let label = ResultLabel {
                result: result.as_str(),
            };
            let _created = self.cycles.get_or_create(&label);
        }
        for kind in crate::Error::KINDS {
            let _created = self.cycle_failures.get_or_create(&ErrorKindLabel { kind });
        }
        for method in POD_METHODS {
            let labels = RequestLabels {
                method,
                code: "200".to_string(),
            };
            let _created = self.pod_requests.get_or_create(&labels);
        }
        self.set_groups(0, 0, 0);
        self
    }

    fn registered(mut self) -> Self {
        let registry = &mut self.registry;
        registry.register(
            "groupsync_cycles",
            "Sync cycles, by how they ended",
            self.cycles.clone(),
        );
        registry.register_with_unit(
            "groupsync_cycle_duration",
            "How long a sync cycle took",
            Unit::Seconds,
            self.cycle_duration.clone(),
        );
        registry.register(
            "groupsync_cycle_failures",
            format!(
                "Cycles that ended in an error, by kind of error ({})",
                crate::Error::KINDS.join(", ")
            ),
            self.cycle_failures.clone(),
        );
        registry.register(
            "groupsync_pod_requests",
            "HTTP requests to the pod, by method and status code (\"error\": no answer)",
            self.pod_requests.clone(),
        );
        registry.register(
            "groupsync_notifications",
            "Notifications, by target, event and how they ended (sent, failed, dropped, deduplicated)",
            self.notifications.clone(),
        );
        registry.register(
            "groupsync_groups",
            "Declared groups after the last cycle: in sync, pending (changes planned) or failed",
            self.groups.clone(),
        );
        registry.register(
            "groupsync_drift",
            "Groups found changed on the pod behind groupsync's back",
            self.drift.clone(),
        );
        registry.register_with_unit(
            "groupsync_last_success_timestamp",
            "When the last successful cycle ended, in seconds since the Unix epoch",
            Unit::Seconds,
            self.last_success.clone(),
        );
        registry.register(
            "groupsync_desired_groups",
            "Groups declared in the groups directory at the last valid load",
            self.desired_groups.clone(),
        );
        registry.register(
            "groupsync_orphans",
            "Groups groupsync manages that no file declares any more, at the last plan",
            self.orphans.clone(),
        );
        registry.register(
            "groupsync_held_drift",
            "Groups whose drift on_drift: hold holds back (shown, not written), at the last plan",
            self.held_drift.clone(),
        );
        registry.register(
            "groupsync_applied_revision_info",
            "1, labelled with the revision of the groups dir (commit, -dirty when the tree \
             differed) the pod was last brought in line with",
            self.applied_revision.clone(),
        );
        registry.register(
            "groupsync_config_valid",
            "1 when the last config load succeeded, 0 after a refused reload (the previous config stays in force)",
            self.config_valid.clone(),
        );
        self
    }

    pub fn observe_cycle(&self, result: CycleResult, duration: Duration) {
        self.cycles
            .get_or_create(&ResultLabel {
                result: result.as_str(),
            })
            .inc();
        self.cycle_duration.observe(duration.as_secs_f64());
    }

    /// Counts a cycle that ended in an error of `kind` ([`crate::Error::kind`]).
    pub fn count_cycle_failure(&self, kind: &'static str) {
        self.cycle_failures
            .get_or_create(&ErrorKindLabel { kind })
            .inc();
    }

    pub fn observe_request(&self, outcome: &RequestOutcome) {
        self.pod_requests
            .get_or_create(&RequestLabels {
                method: outcome.method,
                code: outcome.code(),
            })
            .inc();
    }

    /// An observer for [`crate::pod::PodClient::set_observer`] that counts every request.
    pub fn request_observer(self: &Arc<Self>) -> Observer {
        let metrics = Arc::clone(self);
        Arc::new(move |outcome: &RequestOutcome| metrics.observe_request(outcome))
    }

    /// Counts one notification to `target` about `event` that ended as `result`.
    pub fn count_notification(&self, target: &str, event: EventKind, result: Delivery) {
        self.notifications
            .get_or_create(&NotificationLabels {
                target: target.to_string(),
                event: event.as_str(),
                result: result.as_str(),
            })
            .inc();
    }

    /// Shows every series of `targets` (label, events) at 0: each result of each event each wants.
    pub fn know_notification_targets(&self, targets: &[(String, Vec<EventKind>)]) {
        for (target, events) in targets {
            for event in events {
                for result in Delivery::ALL {
                    let _created = self.notifications.get_or_create(&NotificationLabels {
                        target: target.clone(),
                        event: event.as_str(),
                        result: result.as_str(),
                    });
                }
            }
        }
    }

    /// An observer for [`crate::notify::Notifications::start`] that counts every notification.
    pub fn notification_observer(self: &Arc<Self>) -> DeliveryObserver {
        let metrics = Arc::clone(self);
        Arc::new(move |target: &str, event: EventKind, result: Delivery| {
            metrics.count_notification(target, event, result);
        })
    }

    /// The pod is in line with `revision` now: the one series of
    /// `groupsync_applied_revision_info`.
    pub fn set_applied_revision(&self, revision: &str) {
        let label = RevisionLabel {
            revision: crate::text::escaped(revision).into_owned(),
        };
        if self.applied_revision.get(&label).is_some() {
            return;
        }
        self.applied_revision.clear();
        self.applied_revision.get_or_create(&label).set(1);
    }

    pub fn set_groups(&self, in_sync: u64, pending: u64, failed: u64) {
        for (state, count) in [
            ("in_sync", in_sync),
            ("pending", pending),
            ("failed", failed),
        ] {
            self.groups
                .get_or_create(&GroupStateLabel { state })
                .set(count);
        }
    }

    pub fn add_drift(&self, groups: u64) {
        self.drift.inc_by(groups);
    }

    pub fn set_last_success(&self, when: SystemTime) {
        let seconds = when
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |since| since.as_secs_f64());
        self.last_success.set(seconds);
    }

    pub fn set_desired_groups(&self, count: u64) {
        self.desired_groups.set(count);
    }

    /// The orphans and the groups with held drift of the last plan.
    pub fn set_plan_findings(&self, orphans: u64, held_drift: u64) {
        self.orphans.set(orphans);
        self.held_drift.set(held_drift);
    }

    pub fn set_config_valid(&self, valid: bool) {
        self.config_valid.set(u64::from(valid));
    }

    /// The OpenMetrics text exposition, ending with `# EOF`.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// 10 ms doubling up to about 10 min (17 buckets): a cycle is anything from
/// a no-op against a warm pod to thousands of PUTs under rate limiting.
fn cycle_duration_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.01, 2.0, 17)
}

/// `/metrics`: the OpenMetrics text of every family.
pub async fn metrics_endpoint(State(metrics): State<Arc<Metrics>>) -> Response {
    let headers = [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)];
    (headers, metrics.encode()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::metrics::testing::{outcome, parse, value};

    /// A few cycles and requests, as after a short run of the daemon.
    fn busy_metrics() -> Metrics {
        let metrics = Metrics::new();
        metrics.observe_cycle(CycleResult::Success, Duration::from_millis(250));
        metrics.observe_cycle(CycleResult::Success, Duration::from_secs(3));
        metrics.observe_cycle(CycleResult::Invalid, Duration::from_millis(5));
        metrics.count_cycle_failure("invalid_input");
        metrics.observe_request(&outcome("PUT", Some(200)));
        metrics.observe_request(&outcome("PUT", Some(200)));
        metrics.observe_request(&outcome("GET", Some(429)));
        metrics.observe_request(&outcome("PUT", None));
        metrics.set_groups(117, 2, 1);
        metrics.add_drift(3);
        metrics.add_drift(1);
        metrics.set_last_success(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_500));
        metrics.set_desired_groups(120);
        metrics.set_config_valid(true);
        metrics
    }

    #[test]
    fn cycles_are_counted_by_result_and_timed() {
        let samples = parse(&busy_metrics().encode());
        let cycles = |result| value(&samples, "groupsync_cycles_total", &[("result", result)]);
        assert_eq!(cycles("success"), Some(2.0));
        assert_eq!(cycles("failure"), Some(0.0));
        assert_eq!(cycles("invalid"), Some(1.0));

        let duration = "groupsync_cycle_duration_seconds";
        assert_eq!(
            value(&samples, &format!("{duration}_count"), &[]),
            Some(3.0)
        );
        assert_eq!(
            value(&samples, &format!("{duration}_sum"), &[]),
            Some(3.255)
        );
        let bucket = |le| value(&samples, &format!("{duration}_bucket"), &[("le", le)]);
        assert_eq!(bucket("0.01"), Some(1.0));
        assert_eq!(bucket("0.32"), Some(2.0));
        assert_eq!(bucket("+Inf"), Some(3.0));
    }

    #[test]
    fn cycle_failures_are_counted_by_kind_of_error() {
        let metrics = busy_metrics();
        metrics.count_cycle_failure("pod");
        metrics.count_cycle_failure("pod");
        let refused = crate::Error::Refused {
            digest: None,
            refusal: crate::error::Refusal {
                limit: "limits.max_changes",
                count: 2,
                max: 1,
                message: "too many changes".into(),
            },
            groups: Default::default(),
        };
        metrics.count_cycle_failure(refused.kind());
        let text = metrics.encode();
        assert!(text.contains("# TYPE groupsync_cycle_failures counter"));
        assert!(text.contains("# HELP groupsync_cycle_failures Cycles that ended in an error"));
        let samples = parse(&text);
        let failures = |kind| {
            value(
                &samples,
                "groupsync_cycle_failures_total",
                &[("kind", kind)],
            )
        };
        assert_eq!(failures("pod"), Some(2.0));
        assert_eq!(failures("refused"), Some(1.0));
        assert_eq!(failures("invalid_input"), Some(1.0));
        assert_eq!(failures("io"), Some(0.0));
    }

    #[test]
    fn every_kind_an_error_names_is_a_known_series() {
        use crate::error::PodError;
        let errors = [
            crate::Error::Invalid(crate::Diagnostics(Vec::new())),
            crate::Error::NoPod,
            crate::Error::NoCredentials {
                pod_url: "https://pod".into(),
            },
            crate::Error::Pod(PodError::Setup("no TLS".into())),
            crate::Error::StateLocked {
                path: "state.json".into(),
                holder: String::new(),
                waited: None,
            },
            crate::Error::CycleTimeout(Duration::from_secs(1)),
            crate::Error::io("cannot read", std::io::Error::other("gone")),
        ];
        let samples = parse(&Metrics::new().encode());
        for error in errors {
            let kind = error.kind();
            assert!(crate::Error::KINDS.contains(&kind), "{kind}");
            assert_eq!(
                value(
                    &samples,
                    "groupsync_cycle_failures_total",
                    &[("kind", kind)]
                ),
                Some(0.0),
                "{kind}"
            );
        }
    }

    #[test]
    fn duration_buckets_span_ten_milliseconds_to_ten_minutes() {
        let buckets: Vec<f64> = cycle_duration_buckets().collect();
        assert_eq!(buckets.first(), Some(&0.01));
        assert!(buckets[buckets.len() - 2] < 600.0 && buckets[buckets.len() - 1] >= 600.0);
    }

    #[test]
    fn pod_requests_are_counted_by_method_and_code() {
        let text = busy_metrics().encode();
        assert!(text.contains("# TYPE groupsync_pod_requests counter"));
        let samples = parse(&text);
        let requests = |method, code| {
            value(
                &samples,
                "groupsync_pod_requests_total",
                &[("method", method), ("code", code)],
            )
        };
        assert_eq!(requests("PUT", "200"), Some(2.0));
        assert_eq!(requests("GET", "429"), Some(1.0));
        assert_eq!(requests("PUT", "error"), Some(1.0));
        assert_eq!(requests("POST", "200"), Some(0.0), "known from the start");
        assert_eq!(requests("GET", "500"), None, "a code is known once seen");
    }

    #[test]
    fn request_observer_counts_into_the_same_metrics() {
        let metrics = Arc::new(Metrics::new());
        let observer = metrics.request_observer();
        observer(&outcome("PUT", Some(200)));
        let samples = parse(&metrics.encode());
        let labels = [("method", "PUT"), ("code", "200")];
        assert_eq!(
            value(&samples, "groupsync_pod_requests_total", &labels),
            Some(1.0)
        );
    }

    #[test]
    fn gauges_and_drift_hold_the_last_values() {
        let samples = parse(&busy_metrics().encode());
        let groups = |state| value(&samples, "groupsync_groups", &[("state", state)]);
        assert_eq!(groups("in_sync"), Some(117.0));
        assert_eq!(groups("pending"), Some(2.0));
        assert_eq!(groups("failed"), Some(1.0));
        assert_eq!(value(&samples, "groupsync_drift_total", &[]), Some(4.0));
        assert_eq!(
            value(&samples, "groupsync_last_success_timestamp_seconds", &[]),
            Some(1_700_000_000.5)
        );
        assert_eq!(
            value(&samples, "groupsync_desired_groups", &[]),
            Some(120.0)
        );
        assert_eq!(value(&samples, "groupsync_config_valid", &[]), Some(1.0));
    }

    #[test]
    fn a_fresh_registry_shows_every_family_at_zero() {
        let text = Metrics::new().encode();
        for family in [
            "# TYPE groupsync_cycles counter",
            "# TYPE groupsync_cycle_duration_seconds histogram",
            "# UNIT groupsync_cycle_duration_seconds seconds",
            "# TYPE groupsync_groups gauge",
            "# TYPE groupsync_drift counter",
            "# TYPE groupsync_last_success_timestamp_seconds gauge",
            "# TYPE groupsync_desired_groups gauge",
            "# TYPE groupsync_config_valid gauge",
        ] {
            assert!(text.contains(family), "missing {family:?} in:\n{text}");
        }
        let samples = parse(&text);
        assert_eq!(
            value(&samples, "groupsync_cycles_total", &[("result", "failure")]),
            Some(0.0)
        );
        assert_eq!(
            value(&samples, "groupsync_groups", &[("state", "pending")]),
            Some(0.0)
        );
        assert_eq!(value(&samples, "groupsync_config_valid", &[]), Some(0.0));
        for kind in crate::Error::KINDS {
            let labels = [("kind", kind)];
            let failures = value(&samples, "groupsync_cycle_failures_total", &labels);
            assert_eq!(failures, Some(0.0), "{kind}");
        }
        for method in POD_METHODS {
            let labels = [("method", method), ("code", "200")];
            let requests = value(&samples, "groupsync_pod_requests_total", &labels);
            assert_eq!(requests, Some(0.0), "{method}");
        }
    }

    #[test]
    fn notifications_are_counted_and_known_series_start_at_zero() {
        let metrics = Metrics::new();
        let target = "webhook https://hooks.acme.test/groupsync".to_string();
        metrics.know_notification_targets(&[(target.clone(), vec![EventKind::Applied])]);
        metrics.count_notification(&target, EventKind::Applied, Delivery::Sent);
        let text = metrics.encode();
        assert!(
            text.contains("# TYPE groupsync_notifications counter"),
            "{text}"
        );
        let samples = parse(&text);
        let count = |result| {
            let labels = [
                ("target", target.as_str()),
                ("event", "applied"),
                ("result", result),
            ];
            value(&samples, "groupsync_notifications_total", &labels)
        };
        assert_eq!(count("sent"), Some(1.0));
        assert_eq!(count("failed"), Some(0.0));
        assert_eq!(count("dropped"), Some(0.0));
        assert_eq!(count("deduplicated"), Some(0.0));
    }

    #[test]
    fn config_valid_goes_back_to_zero() {
        let metrics = busy_metrics();
        metrics.set_config_valid(false);
        let samples = parse(&metrics.encode());
        assert_eq!(value(&samples, "groupsync_config_valid", &[]), Some(0.0));
    }
}
