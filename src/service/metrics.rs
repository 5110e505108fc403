//! Prometheus metrics, the health endpoints and the current plan: `/metrics`
//! (OpenMetrics text), `/healthz` (the loop is alive and no cycle is stuck),
//! `/readyz` (a cycle succeeded, the desired state is valid and no plan was
//! refused by the limits), `/plan` and `/plan.json` (what the daemon would do
//! now), served by [`serve`] when `metrics_listen` is set.
//!
//! [`Metrics`] owns its own `Registry` (no global state), so tests read it
//! with [`Metrics::encode`]; [`Health`] is a handful of atomics and
//! [`CurrentPlan`] a slot, both updated by the daemon loop and read by the endpoints.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::pod::{Observer, RequestOutcome};
use crate::shutdown::Shutdown;

/// The content type of `/metrics`, as the OpenMetrics spec names it.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The content type of `/plan`: the text plan, as `groupsync plan` prints it.
pub const PLAN_TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// `/healthz` fails once the loop has not sent a heartbeat for this long.
pub const LIVENESS_WINDOW: Duration = Duration::from_secs(60);

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

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    code: String,
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
    groups: Family<GroupStateLabel, CountGauge>,
    drift: Counter,
    last_success: FloatGauge,
    desired_groups: CountGauge,
    config_valid: CountGauge,
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
            groups: Family::default(),
            drift: Counter::default(),
            last_success: FloatGauge::default(),
            desired_groups: CountGauge::default(),
            config_valid: CountGauge::default(),
        };
        metrics.with_known_series().registered()
    }

    /// Creates the series whose label values are known up front, so that a
    /// scrape shows them at 0 rather than missing (`rate()` needs a start).
    fn with_known_series(self) -> Self {
        for result in CycleResult::ALL {
            let label = ResultLabel {
                result: result.as_str(),
            };
            let _created = self.cycles.get_or_create(&label);
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
            "Cycles that ended in an error, by kind of error (invalid_input, config, auth, pod, state, state_locked, refused, timeout, io)",
            self.cycle_failures.clone(),
        );
        registry.register(
            "groupsync_pod_requests",
            "HTTP requests to the pod, by method and status code (\"error\": no answer)",
            self.pod_requests.clone(),
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

/// What `/healthz` and `/readyz` answer, updated by the daemon loop.
///
/// Time is tokio's clock, so that the daemon's tests on paused time see it move.
#[derive(Debug)]
pub struct Health {
    /// The zero of the `_ms` fields (atomics cannot hold an `Instant`).
    origin: Instant,
    last_heartbeat_ms: AtomicU64,
    /// When the cycle running now counts as stuck; [`NO_CYCLE`] while none runs.
    stuck_at_ms: AtomicU64,
    ready: AtomicBool,
    desired_valid: AtomicBool,
    /// The last cycle's plan was refused by a safety limit.
    refused: AtomicBool,
}

/// `stuck_at_ms` while no cycle runs.
const NO_CYCLE: u64 = u64::MAX;

impl Default for Health {
    fn default() -> Self {
        Health::new()
    }
}

impl Health {
    /// Alive (as if a heartbeat came now), no cycle running, not ready, desired state valid.
    pub fn new() -> Health {
        Health::with_origin(Instant::now())
    }

    fn with_origin(origin: Instant) -> Health {
        Health {
            origin,
            last_heartbeat_ms: AtomicU64::new(0),
            stuck_at_ms: AtomicU64::new(NO_CYCLE),
            ready: AtomicBool::new(false),
            desired_valid: AtomicBool::new(true),
            refused: AtomicBool::new(false),
        }
    }

    /// Records that the loop is alive; call at least every few seconds.
    pub fn heartbeat(&self) {
        self.last_heartbeat_ms
            .store(millis(self.origin.elapsed()), Ordering::Relaxed);
    }

    /// A cycle starts now; if it still runs `stuck_after` from now, the daemon is stuck.
    pub fn cycle_started(&self, stuck_after: Duration) {
        let stuck_at = millis(self.origin.elapsed().saturating_add(stuck_after));
        self.stuck_at_ms
            .store(stuck_at.min(NO_CYCLE - 1), Ordering::Relaxed);
    }

    /// The cycle has ended (however).
    pub fn cycle_ended(&self) {
        self.stuck_at_ms.store(NO_CYCLE, Ordering::Relaxed);
    }

    /// Whether a cycle runs past the time it was given.
    pub fn is_cycle_stuck(&self) -> bool {
        millis(self.origin.elapsed()) >= self.stuck_at_ms.load(Ordering::Relaxed)
    }

    /// Whether the last heartbeat is at most `max_age` old and no cycle is stuck.
    pub fn is_alive(&self, max_age: Duration) -> bool {
        self.not_alive_reason(max_age).is_none()
    }

    /// Why `/healthz` fails (the loop is silent, or a cycle is stuck), or `None` when alive.
    pub fn not_alive_reason(&self, max_age: Duration) -> Option<String> {
        let last = Duration::from_millis(self.last_heartbeat_ms.load(Ordering::Relaxed));
        if self.is_cycle_stuck() {
            Some(
                "a cycle has run for longer than cycle_timeout and could not be abandoned"
                    .to_string(),
            )
        } else if self.origin.elapsed().saturating_sub(last) > max_age {
            Some(format!(
                "the sync loop has not reported for {} s",
                max_age.as_secs()
            ))
        } else {
            None
        }
    }

    /// True once the first cycle has succeeded.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// False while `groups.d/` does not load.
    pub fn set_desired_valid(&self, valid: bool) {
        self.desired_valid.store(valid, Ordering::Relaxed);
    }

    /// True after a cycle whose plan a safety limit refused, until a cycle plans within the limits.
    pub fn set_refused(&self, refused: bool) {
        self.refused.store(refused, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.not_ready_reason().is_none()
    }

    /// Why `/readyz` fails, or `None` when ready. An invalid desired state
    /// wins, then a refused plan: both are for an operator to fix.
    pub fn not_ready_reason(&self) -> Option<&'static str> {
        if !self.desired_valid.load(Ordering::Relaxed) {
            Some("desired state is invalid")
        } else if self.refused.load(Ordering::Relaxed) {
            Some("a safety limit refused the last plan; its changes are pending")
        } else if !self.ready.load(Ordering::Relaxed) {
            Some("no successful cycle yet")
        } else {
            None
        }
    }
}

/// The daemon's current plan, as `/plan` (text) and `/plan.json` serve it:
/// published after every cycle that planned, withdrawn (with the reason)
/// after one that could not.
#[derive(Debug)]
pub struct CurrentPlan {
    slot: RwLock<Result<PlanDocuments, String>>,
}

/// One plan, rendered once for both endpoints.
#[derive(Debug, Clone)]
struct PlanDocuments {
    text: String,
    json: String,
}

impl Default for CurrentPlan {
    fn default() -> Self {
        CurrentPlan::new()
    }
}

impl CurrentPlan {
    /// No plan yet: the first cycle has not planned.
    pub fn new() -> CurrentPlan {
        CurrentPlan {
            slot: RwLock::new(Err(
                "no plan yet: the first cycle has not finished".to_string()
            )),
        }
    }

    /// `text` as `groupsync plan` prints it (no colour), `json` as with `--format json`.
    pub fn publish(&self, text: String, json: String) {
        *self
            .slot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Ok(PlanDocuments { text, json });
    }

    /// The last cycle could not plan: the endpoints say why instead of showing a stale plan.
    pub fn withdraw(&self, reason: String) {
        *self
            .slot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Err(reason);
    }

    fn documents(&self) -> Result<PlanDocuments, String> {
        self.slot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The text plan, or why there is none.
    pub fn text(&self) -> Result<String, String> {
        self.documents().map(|documents| documents.text)
    }

    /// The JSON plan, or why there is none.
    pub fn json(&self) -> Result<String, String> {
        self.documents().map(|documents| documents.json)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// What the endpoints read: the daemon's metrics, health and current plan.
#[derive(Clone, Default)]
pub struct Endpoints {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    pub plan: Arc<CurrentPlan>,
}

/// How long a client may take to send a request's headers. hyper's timer
/// also runs while a kept-alive connection waits for its next request, so it
/// is the idle timeout too.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// No connection is served for longer, however busy: a client that reads
/// the answer (or sends a body) a byte at a time cannot hold one for ever.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

/// Connections served at once. More wait in the kernel's accept queue,
/// holding none of the daemon's file descriptors.
pub const MAX_CONNECTIONS: usize = 64;

/// Binds `listen` and serves `/metrics`, `/healthz`, `/readyz`, `/plan` and
/// `/plan.json` until `shutdown` fires. Returns the bound address (port 0
/// picks one) and the server task, which ends once open connections have finished.
///
/// Slow or half-open clients cannot starve it: see [`HEADER_READ_TIMEOUT`],
/// [`CONNECTION_LIFETIME`] and [`MAX_CONNECTIONS`].
pub async fn serve(
    listen: SocketAddr,
    endpoints: Endpoints,
    shutdown: Shutdown,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(accept_connections(listener, router(endpoints), shutdown));
    tracing::info!("serving /metrics, /healthz, /readyz, /plan and /plan.json on http://{bound}");
    Ok((bound, task))
}

/// Serves each connection on a task of its own, at most [`MAX_CONNECTIONS`]
/// at once, until `shutdown`; then waits for those still open to finish.
async fn accept_connections(listener: TcpListener, app: Router, mut shutdown: Shutdown) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, slot) = tokio::select! {
            () = shutdown.requested() => break,
            accepted = accept_in_a_free_slot(&listener, &slots) => accepted,
        };
        tokio::spawn(serve_connection(
            stream,
            app.clone(),
            shutdown.clone(),
            slot,
        ));
    }
    drop(listener);
    // Each connection gives its slot back as it ends.
    let _all = slots.acquire_many(MAX_CONNECTIONS as u32).await;
}

/// Waits for a free slot, then for a connection.
async fn accept_in_a_free_slot(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> (TcpStream, OwnedSemaphorePermit) {
    let slot = Arc::clone(slots)
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return (stream, slot),
            // The client gave up before it was accepted: nothing to say.
            Err(error) if is_connection_error(&error) => {}
            // Out of file descriptors, say: wait rather than spin.
            Err(error) => {
                tracing::warn!("metrics endpoint: cannot accept a connection: {error}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

/// Serves one connection (HTTP/1.1) until the client closes it, a timeout
/// ends it, or a stop has let its request in flight finish. Holds `_slot`
/// meanwhile.
async fn serve_connection(
    stream: TcpStream,
    app: Router,
    mut shutdown: Shutdown,
    _slot: OwnedSemaphorePermit,
) {
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    tokio::pin!(connection);
    let lifetime = tokio::time::sleep(CONNECTION_LIFETIME);
    tokio::pin!(lifetime);
    let mut stopping = false;
    loop {
        tokio::select! {
            // An error (a header timeout, a reset) only ends this connection.
            _ = connection.as_mut() => return,
            () = &mut lifetime => return,
            () = shutdown.requested(), if !stopping => {
                connection.as_mut().graceful_shutdown();
                stopping = true;
            }
        }
    }
}

fn router(endpoints: Endpoints) -> Router {
    Router::new()
        .route("/metrics", get(metrics_endpoint))
        .route("/healthz", get(healthz_endpoint))
        .route("/readyz", get(readyz_endpoint))
        .route("/plan", get(plan_text_endpoint))
        .route("/plan.json", get(plan_json_endpoint))
        .with_state(endpoints)
}

async fn plan_text_endpoint(State(endpoints): State<Endpoints>) -> Response {
    plan_response(endpoints.plan.text(), PLAN_TEXT_CONTENT_TYPE)
}

async fn plan_json_endpoint(State(endpoints): State<Endpoints>) -> Response {
    plan_response(endpoints.plan.json(), "application/json")
}

/// 200 with the plan, or 503 with why there is none (as text).
fn plan_response(plan: Result<String, String>, content_type: &'static str) -> Response {
    match plan {
        Ok(body) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(reason) => {
            let headers = [(header::CONTENT_TYPE, PLAN_TEXT_CONTENT_TYPE)];
            (
                StatusCode::SERVICE_UNAVAILABLE,
                headers,
                format!("{reason}\n"),
            )
                .into_response()
        }
    }
}

async fn metrics_endpoint(State(endpoints): State<Endpoints>) -> Response {
    let headers = [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)];
    (headers, endpoints.metrics.encode()).into_response()
}

async fn healthz_endpoint(State(endpoints): State<Endpoints>) -> Response {
    match endpoints.health.not_alive_reason(LIVENESS_WINDOW) {
        None => (StatusCode::OK, "ok").into_response(),
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason).into_response(),
    }
}

async fn readyz_endpoint(State(endpoints): State<Endpoints>) -> Response {
    match endpoints.health.not_ready_reason() {
        None => (StatusCode::OK, "ready").into_response(),
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::GROUP_PATH_TEMPLATE;
    use crate::shutdown;

    /// One sample line of the OpenMetrics text: `name{labels} value`.
    #[derive(Debug, PartialEq)]
    struct Sample {
        name: String,
        labels: Vec<(String, String)>,
        value: f64,
    }

    /// Enough of an OpenMetrics parser for these tests: samples only, no
    /// timestamps or exemplars; insists on the closing `# EOF`.
    fn parse(text: &str) -> Vec<Sample> {
        assert!(text.ends_with("# EOF\n"), "no `# EOF` at the end:\n{text}");
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .map(|line| parse_sample(line).unwrap_or_else(|| panic!("bad sample line: {line}")))
            .collect()
    }

    fn parse_sample(line: &str) -> Option<Sample> {
        let (series, value) = line.rsplit_once(' ')?;
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}')?)?),
            None => (series, Vec::new()),
        };
        let value = match value {
            "+Inf" => f64::INFINITY,
            value => value.parse().ok()?,
        };
        Some(Sample {
            name: name.to_string(),
            labels,
            value,
        })
    }

    /// `a="x",b="y"`; values hold no quotes or backslashes here.
    fn parse_labels(text: &str) -> Option<Vec<(String, String)>> {
        let mut labels = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let (key, after_key) = rest.split_once("=\"")?;
            let (value, after_value) = after_key.split_once('"')?;
            labels.push((key.to_string(), value.to_string()));
            rest = after_value.strip_prefix(',').unwrap_or(after_value);
        }
        Some(labels)
    }

    /// The value of the one series named `name` with exactly `labels`.
    fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: Vec<(String, String)> = labels
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        samples
            .iter()
            .find(|sample| sample.name == name && sample.labels == wanted)
            .map(|sample| sample.value)
    }

    fn outcome(method: &'static str, status: Option<u16>) -> RequestOutcome {
        RequestOutcome {
            method,
            path: GROUP_PATH_TEMPLATE,
            status,
            duration: Duration::from_millis(20),
        }
    }

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
            reason: "too many changes".into(),
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
        assert_eq!(failures("io"), None);
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
        assert_eq!(requests("GET", "200"), None);
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
        // Except groupsync_pod_requests and groupsync_cycle_failures: their
        // labels come from the requests made and the errors met.
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
    }

    #[test]
    fn config_valid_goes_back_to_zero() {
        let metrics = busy_metrics();
        metrics.set_config_valid(false);
        let samples = parse(&metrics.encode());
        assert_eq!(value(&samples, "groupsync_config_valid", &[]), Some(0.0));
    }

    #[test]
    fn health_is_alive_until_the_heartbeat_is_too_old() {
        let health = Health::new();
        assert!(health.is_alive(LIVENESS_WINDOW));

        let Some(two_minutes_ago) = Instant::now().checked_sub(Duration::from_secs(120)) else {
            return; // The machine booted less than two minutes ago: nothing to compare.
        };
        let stale = Health::with_origin(two_minutes_ago);
        assert!(!stale.is_alive(LIVENESS_WINDOW));
        assert!(stale.is_alive(Duration::from_secs(180)));
        stale.heartbeat();
        assert!(stale.is_alive(LIVENESS_WINDOW));
    }

    #[tokio::test]
    async fn healthz_fails_once_the_loop_stops_reporting() {
        let Some(two_minutes_ago) = Instant::now().checked_sub(Duration::from_secs(120)) else {
            return;
        };
        let endpoints = |health| Endpoints {
            health: Arc::new(health),
            ..Endpoints::default()
        };
        let alive = healthz_endpoint(State(endpoints(Health::new()))).await;
        assert_eq!(alive.status(), StatusCode::OK);
        let stale = healthz_endpoint(State(endpoints(Health::with_origin(two_minutes_ago)))).await;
        assert_eq!(stale.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn plan_endpoints_serve_the_published_plan_or_say_why_there_is_none() {
        let endpoints = Endpoints::default();
        let answer = |response: Response| async move {
            let status = response.status().as_u16();
            let content_type = response.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .to_string();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            (
                status,
                content_type,
                String::from_utf8(body.to_vec()).unwrap(),
            )
        };
        let (status, _, body) = answer(plan_json_endpoint(State(endpoints.clone())).await).await;
        assert_eq!(
            (status, body.as_str()),
            (503, "no plan yet: the first cycle has not finished\n")
        );

        let text = "No changes. 1 group in sync.\n";
        let json = "{\"changes\": []}\n";
        endpoints.plan.publish(text.to_string(), json.to_string());
        assert_eq!(
            answer(plan_text_endpoint(State(endpoints.clone())).await).await,
            (200, PLAN_TEXT_CONTENT_TYPE.to_string(), text.to_string())
        );
        assert_eq!(
            answer(plan_json_endpoint(State(endpoints.clone())).await).await,
            (200, "application/json".to_string(), json.to_string())
        );

        endpoints
            .plan
            .withdraw("the desired state is invalid".to_string());
        let (status, _, body) = answer(plan_text_endpoint(State(endpoints)).await).await;
        assert_eq!(
            (status, body.as_str()),
            (503, "the desired state is invalid\n")
        );
    }

    #[test]
    fn health_is_ready_after_a_success_while_the_desired_state_is_valid() {
        let health = Health::new();
        assert_eq!(health.not_ready_reason(), Some("no successful cycle yet"));
        health.set_ready(true);
        assert!(health.is_ready());
        health.set_desired_valid(false);
        assert_eq!(health.not_ready_reason(), Some("desired state is invalid"));
        assert!(!health.is_ready());
        health.set_desired_valid(true);
        assert!(health.is_ready());
    }

    async fn get(client: &reqwest::Client, url: String) -> (u16, Option<String>, String) {
        let response = client.get(url).send().await.expect("endpoint answers");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        (status, content_type, response.text().await.expect("a body"))
    }

    #[tokio::test]
    async fn endpoints_serve_metrics_liveness_and_readiness_then_stop() {
        let metrics = Arc::new(busy_metrics());
        let health = Arc::new(Health::new());
        let (trigger, shutdown) = shutdown::channel();
        let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let endpoints = Endpoints {
            metrics: metrics.clone(),
            health: health.clone(),
            plan: Arc::default(),
        };
        let (bound, server) = serve(listen, endpoints, shutdown)
            .await
            .expect("binds a free port");
        let client = reqwest::Client::new();
        let url = |path: &str| format!("http://{bound}{path}");

        let (status, content_type, body) = get(&client, url("/metrics")).await;
        assert_eq!(status, 200);
        assert_eq!(content_type.as_deref(), Some(OPENMETRICS_CONTENT_TYPE));
        let samples = parse(&body);
        let labels = [("method", "PUT"), ("code", "200")];
        assert_eq!(
            value(&samples, "groupsync_pod_requests_total", &labels),
            Some(2.0)
        );
        metrics.observe_request(&outcome("PUT", Some(200)));
        let samples = parse(&get(&client, url("/metrics")).await.2);
        assert_eq!(
            value(&samples, "groupsync_pod_requests_total", &labels),
            Some(3.0)
        );

        assert_eq!(get(&client, url("/healthz")).await.0, 200);
        let (status, _, body) = get(&client, url("/readyz")).await;
        assert_eq!((status, body.as_str()), (503, "no successful cycle yet"));
        health.set_ready(true);
        let (status, _, body) = get(&client, url("/readyz")).await;
        assert_eq!((status, body.as_str()), (200, "ready"));
        health.set_desired_valid(false);
        let (status, _, body) = get(&client, url("/readyz")).await;
        assert_eq!((status, body.as_str()), (503, "desired state is invalid"));

        let (status, content_type, body) = get(&client, url("/plan")).await;
        assert_eq!(status, 503);
        assert_eq!(content_type.as_deref(), Some(PLAN_TEXT_CONTENT_TYPE));
        assert_eq!(body, "no plan yet: the first cycle has not finished\n");

        drop(client); // Close the keep-alive connection so the stop is immediate.
        trigger.trigger();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the server stops on shutdown")
            .expect("the server task does not panic");
    }

    /// Shorter than [`CONNECTION_LIFETIME`]: what closes the connection is
    /// the header timer, which runs while a kept-alive connection is idle.
    #[tokio::test]
    async fn an_idle_kept_alive_connection_is_closed_by_the_server() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (trigger, shutdown) = shutdown::channel();
        let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let (bound, _server) = serve(listen, Endpoints::default(), shutdown).await.unwrap();
        let mut stream = tokio::net::TcpStream::connect(bound).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: groupsync\r\n\r\n")
            .await
            .unwrap();
        let mut received = Vec::new();
        let guard = CONNECTION_LIFETIME / 2;
        tokio::time::timeout(guard, stream.read_to_end(&mut received))
            .await
            .expect("the server closes the idle connection")
            .expect("a clean close");
        let text = String::from_utf8_lossy(&received);
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("\r\n\r\nok"),
            "{text}"
        );
        trigger.trigger();
    }
}
