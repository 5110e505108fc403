//! The HTTP side of a pod client (`Transport`): the reqwest client (system
//! roots plus `ca_file`, proxy, timeouts, no redirects), and one exchange at a
//! time: send, read the answer bounded, log it, tell the observer, and let a
//! stop cut it short.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use tracing::{debug, trace, warn};

use super::answer::{MAX_ANSWER_BYTES, ReadFailure, Reply, read_reply, shown_size};
use super::auth::SessionToken;
use super::failure::{error_chain, public_url, transport_error};
use super::request::{Call, Verb};
use super::secrets::Secrets;
use super::stop::{STOP_GRACE_IN_FLIGHT, pause, stopping, within_stop_grace};
use crate::config::NetworkSettings;
use crate::config::files::{SMALL_FILE_CAP, read_regular_file};
use crate::error::PodError;
use crate::model::SESSION_TOKEN_HEADER;
use crate::shutdown::Shutdown;

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("groupsync/", env!("CARGO_PKG_VERSION"));

const JSON: &str = "application/json";

/// How long to wait for the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To establish a connection (TCP and TLS).
    pub connect: Duration,
    /// For a whole request: connect, send, and read the full answer.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(30),
        }
    }
}

/// One HTTP attempt, as reported to the observer (see [`crate::pod::PodClient::set_observer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOutcome {
    pub method: &'static str,
    /// The path template, e.g. `/v2/admin/usergroups/{groupId}`, never a concrete id.
    pub path: &'static str,
    /// The HTTP status, or `None` when no answer came (connection error, timeout).
    pub status: Option<u16>,
    pub duration: Duration,
}

impl RequestOutcome {
    /// The status as a metric label: `"200"`, `"429"`, or `"error"` when no answer came.
    pub fn code(&self) -> String {
        self.status
            .map_or_else(|| "error".to_string(), |status| status.to_string())
    }
}

/// Called once per HTTP attempt.
pub type Observer = Arc<dyn Fn(&RequestOutcome) + Send + Sync>;

/// How a client reaches its pod. Cheap to clone; clones share the HTTP
/// connections, and each keeps the observer and stop it was cloned with.
#[derive(Clone)]
pub(super) struct Transport {
    http: reqwest::Client,
    /// The pod URL without a trailing `/`, e.g. `https://acme.symphony.com/pod`.
    base_url: Arc<str>,
    observer: Option<Observer>,
    shutdown: Option<Shutdown>,
    /// What no error or log may quote from an answer, shared by every clone.
    secrets: Arc<Secrets>,
}

impl Transport {
    /// The transport to the pod at `pod_url` (checked), with `network`'s CA
    /// file (read now) and proxy.
    pub(super) fn new(
        pod_url: &str,
        timeouts: Timeouts,
        network: &NetworkSettings,
    ) -> Result<Transport, PodError> {
        let base_url = checked_base_url(pod_url)?;
        let http = http_client(timeouts, network)?;
        Ok(Transport {
            http,
            base_url: base_url.into(),
            observer: None,
            shutdown: None,
            secrets: Arc::new(Secrets::for_network(network)),
        })
    }

    /// The client's secrets: the session adds its tokens and JWTs.
    pub(super) fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// The pod URL requests go under, without a trailing `/`.
    pub(super) fn base_url(&self) -> &str {
        &self.base_url
    }

    pub(super) fn set_observer(&mut self, observer: Observer) {
        self.observer = Some(observer);
    }

    pub(super) fn set_shutdown(&mut self, shutdown: Shutdown) {
        self.shutdown = Some(shutdown);
    }

    /// True once a stop is requested.
    pub(super) fn stopping(&self) -> bool {
        stopping(self.shutdown.as_ref())
    }

    /// Sleeps for `wait`, or until a stop is requested.
    pub(super) async fn pause(&self, wait: Duration) {
        pause(self.shutdown.as_ref(), wait).await;
    }

    /// Sends one pod request with `token` and reads the answer.
    pub(super) async fn send(&self, call: &Call, token: &SessionToken) -> Result<Reply, PodError> {
        let url = self.url_for(call)?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(JSON));
        headers.insert(SESSION_TOKEN_HEADER, session_header(token)?);
        let mut request = self.http.request(call.verb.method(), url.clone());
        if let Some(body) = &call.body {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
            trace!(method = call.verb.as_str(), path = %call.path, body = %String::from_utf8_lossy(body), "pod request body");
            request = request.body(body.clone());
        }
        let reply = self
            .exchange(
                request.headers(headers),
                call.verb,
                &call.path,
                call.template,
                &url,
            )
            .await?;
        trace!(method = call.verb.as_str(), path = %call.path, body = %reply.quoted(&String::from_utf8_lossy(&reply.body)), "pod answer body");
        Ok(reply)
    }

    /// `POST url` with the JSON `body`, to a URL outside the pod's (the
    /// login), shown in logs and errors as `shown_url`. Neither the request
    /// nor the answer is ever traced: they hold a JWT and a token.
    pub(super) async fn post_json(
        &self,
        url: &Url,
        shown_url: &str,
        template: &'static str,
        body: Vec<u8>,
    ) -> Result<Reply, PodError> {
        let request = self
            .http
            .post(url.clone())
            .header(ACCEPT, JSON)
            .header(CONTENT_TYPE, JSON)
            .body(body);
        self.exchange(request, Verb::Post, shown_url, template, url)
            .await
    }

    /// `POST url` with `body` and `headers` (marked sensitive where they hold
    /// a token), to a URL outside the pod's (the agent, the key manager),
    /// shown in logs and errors as `shown_url`. Never traced: the request
    /// carries tokens, and the answer may.
    pub(super) async fn post_to(
        &self,
        url: &Url,
        shown_url: &str,
        template: &'static str,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Reply, PodError> {
        let request = self.http.post(url.clone()).headers(headers).body(body);
        self.exchange(request, Verb::Post, shown_url, template, url)
            .await
    }

    /// Sends `request`, reads the whole answer, logs it and tells the observer.
    /// Sends nothing once a stop is requested; a stop during the exchange
    /// leaves it [`STOP_GRACE_IN_FLIGHT`] to finish.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        verb: Verb,
        shown_path: &str,
        template: &'static str,
        url: &Url,
    ) -> Result<Reply, PodError> {
        let stopped = |cut_off_after| PodError::Stopped {
            method: verb.as_str(),
            path: shown_path.to_string(),
            cut_off_after,
        };
        if self.stopping() {
            return Err(stopped(None));
        }
        let started = Instant::now();
        let result = within_stop_grace(
            read_reply(request, self.secrets.clone()),
            self.shutdown.as_ref(),
            STOP_GRACE_IN_FLIGHT,
        )
        .await;
        let duration = started.elapsed();
        let status = match &result {
            Some(Ok(Reply { status, .. }) | Err(ReadFailure::TooLarge { status })) => {
                Some(status.as_u16())
            }
            _ => None,
        };
        debug!(
            method = verb.as_str(),
            path = %shown_path,
            status = status.map_or_else(|| "error".to_string(), |status| status.to_string()),
            duration_ms = duration.as_millis() as u64,
            "pod request"
        );
        if let Some(observer) = &self.observer {
            observer(&RequestOutcome {
                method: verb.as_str(),
                path: template,
                status,
                duration,
            });
        }
        match result {
            Some(Ok(reply)) => Ok(reply),
            Some(Err(ReadFailure::Http(error))) => {
                Err(transport_error(verb, url, &error, &self.secrets))
            }
            Some(Err(ReadFailure::TooLarge { status })) => Err(PodError::OverLimit {
                method: verb.as_str(),
                path: shown_path.to_string(),
                what: format!(
                    "the answer ({status}) is larger than {}, the most groupsync reads of one answer",
                    shown_size(MAX_ANSWER_BYTES)
                ),
            }),
            None => Err(stopped(Some(STOP_GRACE_IN_FLIGHT))),
        }
    }

    fn url_for(&self, call: &Call) -> Result<Url, PodError> {
        let mut url = Url::parse(&format!("{}{}", self.base_url, call.path)).map_err(|error| {
            PodError::Setup(format!("cannot build a URL for {}: {error}", call.path))
        })?;
        if !call.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(call.query.iter().map(|(key, value)| (*key, value.as_str())));
        }
        Ok(url)
    }
}

/// The HTTP client: no redirects followed, `network`'s CA file added to the
/// system's roots, `network`'s proxy (else the environment's).
fn http_client(timeouts: Timeouts, network: &NetworkSettings) -> Result<reqwest::Client, PodError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.request)
        // A redirect would carry the sessionToken header wherever it points.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &network.ca_file {
        builder = builder.tls_certs_merge(read_ca_file(path)?);
    }
    if let Some(proxy) = &network.proxy {
        // reqwest's error could show the URL, password included: not passed on.
        let proxy = reqwest::Proxy::all(proxy.expose())
            .map_err(|_| PodError::Setup(format!("proxy.url: cannot use the proxy {proxy}")))?
            .no_proxy(reqwest::NoProxy::from_env());
        builder = builder.proxy(proxy);
    }
    builder.build().map_err(|error| {
        let what = match &network.ca_file {
            Some(path) => format!(
                "cannot build the HTTP client with the CA file {} ({CA_FILE_SETTING})",
                path.display()
            ),
            None => "cannot build the HTTP client".to_string(),
        };
        PodError::Setup(format!("{what}: {}", error_chain(&error)))
    })
}

/// Where a CA file can be set, for messages.
const CA_FILE_SETTING: &str = "pod.ca_file / --ca-file / GROUPSYNC_CA_FILE";

/// The certificates of the PEM bundle at `path` (a regular file of at most
/// [`SMALL_FILE_CAP`], read without blocking); an error names the file and
/// never quotes it.
fn read_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, PodError> {
    let failed = |reason: String| {
        PodError::Setup(format!(
            "the CA file {} ({CA_FILE_SETTING}) {reason}",
            path.display()
        ))
    };
    let pem = read_regular_file(path, SMALL_FILE_CAP)
        .map_err(|error| failed(format!("cannot be read: {error}")))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|_| failed("is not a valid PEM bundle".to_string()))?;
    if certificates.is_empty() {
        return Err(failed(
            "holds no certificate: expected PEM blocks `-----BEGIN CERTIFICATE-----`".to_string(),
        ));
    }
    Ok(certificates)
}

/// The pod URL, checked, without a trailing `/`.
fn checked_base_url(pod_url: &str) -> Result<String, PodError> {
    let invalid =
        |reason: &str| PodError::Setup(format!("the pod URL {pod_url:?} is not usable: {reason}"));
    let url = Url::parse(pod_url).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("it must start with https:// (or http://)"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not have a query or a fragment"));
    }
    Ok(pod_url.trim_end_matches('/').to_string())
}

/// Warns, once per client, when a session token (or the login that buys one)
/// would cross the network unencrypted: plain `http://` to a host that is not
/// loopback.
pub(super) fn warn_if_unencrypted(base_url: &str, login_url: Option<&Url>) {
    let pod = Url::parse(base_url).ok();
    let plain: Vec<String> = pod
        .iter()
        .chain(login_url)
        .filter(|url| url.scheme() == "http" && !is_loopback(url))
        .map(public_url)
        .collect();
    if !plain.is_empty() {
        warn!(
            "{} plain http:// to a host that is not loopback: session tokens would cross the network unencrypted; use https://",
            plain.join(" and ") + if plain.len() == 1 { " is" } else { " are" }
        );
    }
}

/// True for a URL whose host is this machine: `localhost` or a loopback address.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(address) => address.is_loopback(),
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

/// The `sessionToken` header, marked sensitive so that no debug output of the headers shows it.
fn session_header(token: &SessionToken) -> Result<HeaderValue, PodError> {
    let mut value = HeaderValue::from_str(token.expose()).map_err(|_| {
        PodError::Setup(
            "the session token holds characters not allowed in an HTTP header".to_string(),
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_error_shows_a_session_token() {
        // Transport errors are built from reqwest errors whose URL is stripped;
        // the token is never part of a URL, a path or a message.
        let token = SessionToken::new("TOPSECRET-token");
        let header = session_header(&token).unwrap();
        assert!(!format!("{header:?}").contains("TOPSECRET"));
        let errors = [
            PodError::Status {
                method: "PUT",
                path: "/x".to_string(),
                status: 500,
                code: Some(500),
                message: "pod says no".to_string(),
                retry_after: None,
            },
            PodError::LoginRejected {
                username: "bot".into(),
                login_url: "https://p/login/pubkey/authenticate".into(),
            },
        ];
        for error in errors {
            assert!(!format!("{error} {error:?}").contains("TOPSECRET"));
        }
    }

    #[test]
    fn loopback_hosts_are_this_machine() {
        for url in [
            "http://127.0.0.1:8080/pod",
            "http://127.8.9.10/pod",
            "http://[::1]:80/pod",
            "http://localhost/pod",
            "http://LOCALHOST./pod",
            "http://pod.localhost/pod",
        ] {
            assert!(is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
        for url in [
            "http://10.0.0.1/pod",
            "http://acme.symphony.com/pod",
            "http://localhost.acme.com/pod",
        ] {
            assert!(!is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
    }

    #[test]
    fn base_url_is_checked() {
        assert_eq!(
            checked_base_url("https://acme.symphony.com/pod/").unwrap(),
            "https://acme.symphony.com/pod"
        );
        assert!(checked_base_url("acme.symphony.com/pod").is_err());
        assert!(checked_base_url("ftp://acme/pod").is_err());
        assert!(checked_base_url("https://acme/pod?x=1").is_err());
    }
}
