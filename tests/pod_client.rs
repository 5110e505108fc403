//! The pod client over real TCP, against a tiny scripted pod written here
//! (each test says how it answers): contract conformance, pagination,
//! retries, re-login on 401, and RSA bot login with real keys.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use groupsync::config::NetworkSettings;
use groupsync::model::{ROLE_SCOPE, Roster, UserGroupCreate, UserGroupUpdate};
use groupsync::pod::auth::{AuthError, AuthSource, SessionToken, read_private_key};
use groupsync::pod::retry::RetryPolicy;
use groupsync::pod::{
    MAX_LIST_PAGES, PodClient, PodError, RequestOutcome, Timeouts, TransportKind,
};
use serde_json::{Value, json};

use crate::util::{
    FAST_RETRY, PATIENCE, PodGroup, RawServer, TOKEN, Workspace, assert_exit, fixture_path,
    fixture_text, stderr, token_pod, write_answer, write_endless_body,
};

const BOT: &str = "groupsync-bot";
/// Key files in `tests/fixtures/`.
const PKCS1_KEY: &str = "bot-key.pem";
const PKCS8_KEY: &str = "bot-key.pkcs8.pem";
const PUBLIC_KEY: &str = "bot-key.pub.pem";

// ---------------------------------------------------------------------------
// The scripted pod
// ---------------------------------------------------------------------------

/// One request as the test pod saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// The raw path, percent-encoding kept.
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// How the pod answers its `index`-th request (0-based, pod and login counted apart).
type Answer = Arc<dyn Fn(usize, &Seen) -> Response + Send + Sync>;

struct Script {
    pod: Answer,
    login: Answer,
    pod_seen: Mutex<Vec<Seen>>,
    login_seen: Mutex<Vec<Seen>>,
}

/// A pod on 127.0.0.1: `{url}/pod/...` for the API, `{url}/login/...` for bot login.
struct TestPod {
    script: Arc<Script>,
    origin: String,
}

impl TestPod {
    /// A pod answering API calls with `pod` and logins with a real JWT check.
    async fn start(pod: impl Fn(usize, &Seen) -> Response + Send + Sync + 'static) -> TestPod {
        TestPod::start_with_login(pod, login_ok).await
    }

    async fn start_with_login(
        pod: impl Fn(usize, &Seen) -> Response + Send + Sync + 'static,
        login: impl Fn(usize, &Seen) -> Response + Send + Sync + 'static,
    ) -> TestPod {
        let script = Arc::new(Script {
            pod: Arc::new(pod),
            login: Arc::new(login),
            pod_seen: Mutex::new(Vec::new()),
            login_seen: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let router = Router::new().fallback(handle).with_state(script.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        TestPod { script, origin }
    }

    fn pod_url(&self) -> String {
        format!("{}/pod", self.origin)
    }

    fn login_url(&self) -> String {
        format!("{}/login", self.origin)
    }

    fn requests(&self) -> Vec<Seen> {
        self.script.pod_seen.lock().unwrap().clone()
    }

    fn logins(&self) -> Vec<Seen> {
        self.script.login_seen.lock().unwrap().clone()
    }

    /// A client with a static session token `token-1`.
    fn client(&self) -> PodClient {
        self.client_with(AuthSource::Token(SessionToken::new("token-1")))
    }

    fn client_with(&self, auth: AuthSource) -> PodClient {
        PodClient::new(&self.pod_url(), auth, fast_retries(), Timeouts::default()).unwrap()
    }

    /// An RSA bot logging in at this pod with the PKCS#1 fixture key.
    fn bot(&self, keys: &Workspace) -> AuthSource {
        AuthSource::Bot {
            username: BOT.to_string(),
            key: read_private_key(&keys.fixture(PKCS1_KEY, 0o600)).unwrap(),
            login_url: self.login_url(),
        }
    }
}

async fn handle(State(script): State<Arc<Script>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers,
        body: axum::body::to_bytes(body, 1 << 20).await.unwrap(),
        at: Instant::now(),
    };
    let is_login = seen.path == "/login/pubkey/authenticate";
    let (log, answer) = if is_login {
        (&script.login_seen, &script.login)
    } else {
        (&script.pod_seen, &script.pod)
    };
    let index = {
        let mut log = log.lock().unwrap();
        log.push(seen.clone());
        log.len() - 1
    };
    answer(index, &seen)
}

/// Retries fast enough for tests.
fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        initial_interval: Duration::from_millis(10),
        multiplier: 2.0,
        max_interval: Duration::from_millis(50),
    }
}

fn group(id: &str) -> Value {
    json!({
        "id": id, "name": format!("group {id}"), "area": "EMEA", "description": "d",
        "type": "ROLE_SCOPE", "active": true, "createdDate": 1700000000000_i64,
        "modifiedDate": 1700000000000_i64, "memberCount": 3, "assigneeCount": 1
    })
}

fn answer(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn ok_group(id: &str) -> Response {
    answer(200, group(id))
}

fn pod_error(status: u16, message: &str) -> Response {
    answer(status, json!({"code": status, "message": message}))
}

/// Accepts only `token-2` (the token of the second login).
fn only_second_token(_: usize, seen: &Seen) -> Response {
    match seen.header("sessionToken") {
        Some("token-2") => ok_group("g1"),
        _ => pod_error(401, "Invalid session"),
    }
}

/// The login endpoint: checks the JWT against the fixture's public key and
/// answers `token-{n}` for the n-th login.
fn login_ok(index: usize, seen: &Seen) -> Response {
    match check_login_jwt(seen) {
        Ok(()) => answer(
            200,
            json!({"name": "sessionToken", "token": format!("token-{}", index + 1)}),
        ),
        Err(reason) => pod_error(400, &reason),
    }
}

fn check_login_jwt(seen: &Seen) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    struct Claims {
        sub: String,
        exp: u64,
    }
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let public = DecodingKey::from_rsa_pem(fixture_text(PUBLIC_KEY).as_bytes()).unwrap();
    let body = seen.json();
    let jwt = body["token"].as_str().ok_or("no token in the login body")?;
    let data = jsonwebtoken::decode::<Claims>(jwt, &public, &Validation::new(Algorithm::RS512))
        .map_err(|error| format!("bad JWT: {error}"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if data.claims.sub != BOT {
        return Err(format!("sub is {}", data.claims.sub));
    }
    if !(now + 230..=now + 241).contains(&data.claims.exp) {
        return Err(format!(
            "exp is {} s from now",
            data.claims.exp as i64 - now as i64
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The contract, field for field
// ---------------------------------------------------------------------------

#[tokio::test]
async fn put_sends_only_the_declared_fields_with_every_header() {
    let pod = TestPod::start(|_, _| ok_group("a b/ç")).await;
    let body = UserGroupUpdate {
        area: Some("EMEA".into()),
        active: Some(false),
        ..UserGroupUpdate::default()
    };

    let answer = pod.client().update("a b/ç", &body).await.unwrap();

    let group = answer.body.unwrap();
    assert_eq!(group.id.as_deref(), Some("a b/ç"));
    assert_eq!(group.member_count, Some(3));
    let [put] = pod.requests().try_into().unwrap();
    assert_eq!(put.method, "PUT");
    assert_eq!(put.path, "/pod/v2/admin/usergroups/a%20b%2F%C3%A7");
    assert_eq!(put.query, None);
    assert_eq!(put.header("sessionToken"), Some("token-1"));
    assert_eq!(put.header("content-type"), Some("application/json"));
    assert_eq!(put.header("accept"), Some("application/json"));
    assert!(put.header("user-agent").unwrap().starts_with("groupsync/"));
    // Absent fields are left out, never sent as null.
    assert_eq!(
        std::str::from_utf8(&put.body).unwrap(),
        r#"{"area":"EMEA","active":false}"#
    );
}

#[tokio::test]
async fn get_reads_one_group_without_a_body() {
    let pod = TestPod::start(|_, _| ok_group("g1")).await;

    let group = pod.client().get("g1").await.unwrap();

    assert_eq!(group.name.as_deref(), Some("group g1"));
    let [get] = pod.requests().try_into().unwrap();
    assert_eq!(
        (get.method.as_str(), get.path.as_str()),
        ("GET", "/pod/v2/admin/usergroups/g1")
    );
    assert_eq!(get.header("sessionToken"), Some("token-1"));
    assert!(get.body.is_empty());
}

#[tokio::test]
async fn create_posts_name_and_type_and_leaves_out_the_rest() {
    let pod = TestPod::start(|_, _| answer(201, group("new"))).await;
    let body = UserGroupCreate {
        name: "APAC scope".into(),
        group_type: ROLE_SCOPE.into(),
        area: None,
        description: Some("Traders in Tokyo".into()),
    };

    let created = pod.client().create(&body).await.unwrap();

    let group = created.body.expect("a group in the answer");
    assert_eq!(group.id.as_deref(), Some("new"));
    let [post] = pod.requests().try_into().unwrap();
    assert_eq!(
        (post.method.as_str(), post.path.as_str()),
        ("POST", "/pod/v2/admin/usergroups")
    );
    assert_eq!(post.header("content-type"), Some("application/json"));
    assert_eq!(
        post.json(),
        json!({"name": "APAC scope", "type": "ROLE_SCOPE", "description": "Traders in Tokyo"})
    );
}

#[tokio::test]
async fn a_body_that_is_not_the_contract_is_a_decode_error() {
    let pod = TestPod::start(|_, _| answer(200, json!({"id": 42}))).await;
    let error = pod.client().get("g1").await.unwrap_err();
    assert!(matches!(error, PodError::Decode { .. }), "{error:?}");
}

// ---------------------------------------------------------------------------
// Pagination
// ---------------------------------------------------------------------------

#[tokio::test]
async fn list_follows_next_through_an_empty_page() {
    let pod = TestPod::start(|index, _| {
        let pages = [
            json!({"data": [group("g1")], "pagination": {"cursors": {"before": "b0", "after": "c1"}, "next": "n1"}}),
            json!({"data": [], "pagination": {"cursors": {"before": "b1", "after": "c2"}, "next": "n2"}}),
            json!({"data": [group("g2")], "pagination": {"cursors": {"before": "b2", "after": "c3"}}}),
        ];
        answer(200, pages[index].clone())
    })
    .await;

    let groups = pod.client().list(ROLE_SCOPE).await.unwrap();

    let ids: Vec<_> = groups
        .iter()
        .map(|group| group.id.as_deref().unwrap())
        .collect();
    assert_eq!(ids, ["g1", "g2"]);
    let queries: Vec<_> = pod
        .requests()
        .into_iter()
        .map(|seen| seen.query.unwrap())
        .collect();
    assert_eq!(
        queries,
        [
            "type=ROLE_SCOPE&limit=100",
            "type=ROLE_SCOPE&limit=100&after=c1",
            "type=ROLE_SCOPE&limit=100&after=c2"
        ]
    );
    assert!(
        pod.requests()
            .iter()
            .all(|seen| seen.path == "/pod/v2/admin/usergroups")
    );
}

#[tokio::test]
async fn list_stops_on_a_cursor_that_does_not_advance() {
    let pod = TestPod::start(|_, _| {
        answer(200, json!({"data": [], "pagination": {"cursors": {"before": "b", "after": "same"}, "next": "n"}}))
    })
    .await;

    let error = pod.client().list(ROLE_SCOPE).await.unwrap_err();

    assert!(matches!(error, PodError::Decode { .. }), "{error:?}");
    assert!(error.to_string().contains("same"), "{error}");
    assert_eq!(pod.requests().len(), 2);
}

// ---------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_429_waits_for_retry_after() {
    let pod = TestPod::start(|index, _| match index {
        0 => (
            StatusCode::TOO_MANY_REQUESTS,
            [("Retry-After", "1")],
            axum::Json(json!({"code": 429, "message": "slow down"})),
        )
            .into_response(),
        _ => ok_group("g1"),
    })
    .await;

    pod.client().get("g1").await.unwrap();

    let [first, second] = pod.requests().try_into().unwrap();
    // A lower bound only: the retry must not come before the pod allowed it.
    let gap = second.at - first.at;
    assert!(gap >= Duration::from_millis(990), "retried after {gap:?}");
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let pod = TestPod::start(|index, _| match index {
        0 | 1 => pod_error(500, "boom"),
        _ => ok_group("g1"),
    })
    .await;

    pod.client()
        .update("g1", &UserGroupUpdate::default())
        .await
        .unwrap();

    assert_eq!(pod.requests().len(), 3);
}

#[tokio::test]
async fn client_errors_are_never_retried() {
    for status in [400, 403, 404, 422] {
        let pod = TestPod::start(move |_, _| pod_error(status, "the pod says no")).await;

        let error = pod
            .client()
            .update("g1", &UserGroupUpdate::default())
            .await
            .unwrap_err();

        assert_eq!(error.status(), Some(status));
        assert!(!error.is_retryable());
        assert!(error.to_string().contains("the pod says no"), "{error}");
        assert_eq!(pod.requests().len(), 1, "{status} was retried");
    }
}

#[tokio::test]
async fn a_403_says_which_role_is_missing() {
    let pod = TestPod::start(|_, _| pod_error(403, "Forbidden")).await;
    let message = pod.client().get("g1").await.unwrap_err().to_string();
    assert!(message.contains("Scope Management"), "{message}");
    assert!(message.contains("MANAGE_ROLE_SCOPES"), "{message}");
}

#[tokio::test]
async fn retries_end_after_max_attempts_with_the_last_error() {
    let pod = TestPod::start(|_, _| pod_error(503, "maintenance")).await;

    let error = pod.client().get("g1").await.unwrap_err();

    let PodError::RetriesExhausted { attempts, last } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(*attempts, 4);
    assert_eq!(last.status(), Some(503));
    assert_eq!(error.status(), Some(503));
    assert_eq!(pod.requests().len(), 4);
}

#[tokio::test]
async fn a_create_is_not_sent_again_after_a_500() {
    // The pod may have created the group before failing; there is no DELETE.
    let pod = TestPod::start(|_, _| pod_error(500, "boom")).await;
    let body = UserGroupCreate {
        name: "n".into(),
        group_type: ROLE_SCOPE.into(),
        area: None,
        description: None,
    };

    let error = pod.client().create(&body).await.unwrap_err();

    assert_eq!(error.status(), Some(500));
    assert_eq!(pod.requests().len(), 1);
}

#[tokio::test]
async fn a_create_is_sent_again_when_only_the_login_failed() {
    let pod = TestPod::start_with_login(
        |_, _| answer(201, group("new")),
        |index, seen| match index {
            0 => pod_error(500, "login service restarting"),
            _ => login_ok(index - 1, seen),
        },
    )
    .await;
    let keys = Workspace::new();
    let body = UserGroupCreate {
        name: "n".into(),
        group_type: ROLE_SCOPE.into(),
        area: None,
        description: None,
    };

    pod.client_with(pod.bot(&keys)).create(&body).await.unwrap();

    assert_eq!(pod.logins().len(), 2);
    assert_eq!(pod.requests().len(), 1);
}

#[tokio::test]
async fn no_connection_is_a_retried_transport_error() {
    // A port nobody listens on any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/pod", listener.local_addr().unwrap());
    drop(listener);
    let client = PodClient::new(
        &url,
        AuthSource::Token(SessionToken::new("token-secret")),
        fast_retries(),
        Timeouts::default(),
    )
    .unwrap();

    let error = client.list(ROLE_SCOPE).await.unwrap_err();

    let PodError::RetriesExhausted { attempts: 4, last } = &error else {
        panic!("{error:?}");
    };
    assert!(
        matches!(
            **last,
            PodError::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{last:?}"
    );
    let shown = format!("{error} {error:?}");
    assert!(
        !shown.contains("type=ROLE_SCOPE"),
        "the query leaked: {shown}"
    );
    assert!(!shown.contains("token-secret"), "{shown}");
}

#[tokio::test]
async fn a_slow_pod_is_a_timeout() {
    // Accept connections but never answer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/pod", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let timeouts = Timeouts {
        connect: Duration::from_secs(1),
        request: Duration::from_millis(200),
    };
    let client = PodClient::new(
        &url,
        AuthSource::Token(SessionToken::new("t")),
        RetryPolicy::no_retries(),
        timeouts,
    )
    .unwrap();

    let error = client.get("g1").await.unwrap_err();

    assert!(
        matches!(
            error,
            PodError::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_observer_sees_every_attempt() {
    let pod = TestPod::start(|index, _| match index {
        0 => pod_error(500, "boom"),
        _ => ok_group("g1"),
    })
    .await;
    let outcomes = Arc::new(Mutex::new(Vec::<RequestOutcome>::new()));
    let mut client = pod.client();
    let sink = outcomes.clone();
    client.set_observer(Arc::new(move |outcome: &RequestOutcome| {
        sink.lock().unwrap().push(outcome.clone())
    }));

    client
        .update("g1", &UserGroupUpdate::default())
        .await
        .unwrap();

    let outcomes = outcomes.lock().unwrap();
    let seen: Vec<_> = outcomes
        .iter()
        .map(|o| (o.method, o.path, o.code()))
        .collect();
    assert_eq!(
        seen,
        [
            ("PUT", "/v2/admin/usergroups/{groupId}", "500".to_string()),
            ("PUT", "/v2/admin/usergroups/{groupId}", "200".to_string()),
        ]
    );
}

// ---------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_static_token_refused_is_final_and_says_so() {
    let pod = TestPod::start(|_, _| pod_error(401, "Invalid session")).await;

    let error = pod.client().get("g1").await.unwrap_err();

    assert!(
        matches!(
            error,
            PodError::SessionRejected {
                after_login: false,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("invalid or expired"), "{error}");
    assert!(!format!("{error} {error:?}").contains("token-1"));
    assert_eq!(pod.requests().len(), 1);
    assert!(pod.logins().is_empty());
}

#[tokio::test]
async fn a_bot_logs_in_on_first_use_and_again_once_on_401() {
    let pod = TestPod::start(only_second_token).await;
    let keys = Workspace::new();
    let client = pod.client_with(pod.bot(&keys));
    assert!(pod.logins().is_empty(), "logged in before the first call");

    client.get("g1").await.unwrap();

    let logins = pod.logins();
    assert_eq!(logins.len(), 2);
    for login in &logins {
        assert_eq!(login.method, "POST");
        assert_eq!(login.header("content-type"), Some("application/json"));
        assert_eq!(login.header("sessionToken"), None);
        assert_eq!(login.json().as_object().unwrap().len(), 1, "only {{token}}");
    }
    let tokens: Vec<_> = pod
        .requests()
        .iter()
        .map(|seen| seen.header("sessionToken").unwrap().to_string())
        .collect();
    assert_eq!(tokens, ["token-1", "token-2"]);

    // The new session is kept: the next call needs no login.
    client.get("g1").await.unwrap();
    assert_eq!(pod.logins().len(), 2);
}

#[tokio::test]
async fn a_second_401_after_login_is_final() {
    let pod = TestPod::start(|_, _| pod_error(401, "Invalid session")).await;
    let keys = Workspace::new();

    let error = pod.client_with(pod.bot(&keys)).get("g1").await.unwrap_err();

    assert!(
        matches!(
            error,
            PodError::SessionRejected {
                after_login: true,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(pod.logins().len(), 2);
    assert_eq!(pod.requests().len(), 2);
}

#[tokio::test]
async fn concurrent_401s_cause_one_login() {
    let pod = TestPod::start(only_second_token).await;
    let keys = Workspace::new();
    let client = pod.client_with(pod.bot(&keys));

    let calls: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("g1").await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }

    // One lazy login, then one re-login for all eight 401s.
    assert_eq!(pod.logins().len(), 2);
}

#[tokio::test]
async fn a_refused_login_is_final_after_one_attempt() {
    let pod =
        TestPod::start_with_login(|_, _| ok_group("g1"), |_, _| pod_error(401, "Invalid JWT"))
            .await;
    let keys = Workspace::new();

    let error = pod.client_with(pod.bot(&keys)).get("g1").await.unwrap_err();

    assert!(matches!(error, PodError::LoginRejected { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(BOT), "{message}");
    assert!(
        message.contains("the public key is not imported"),
        "{message}"
    );
    assert_eq!(pod.logins().len(), 1);
    assert!(pod.requests().is_empty());
}

#[tokio::test]
async fn a_failing_login_is_retried() {
    let pod = TestPod::start_with_login(
        |_, _| ok_group("g1"),
        |index, seen| match index {
            0 => pod_error(503, "starting"),
            _ => login_ok(index - 1, seen),
        },
    )
    .await;
    let keys = Workspace::new();

    pod.client_with(pod.bot(&keys)).get("g1").await.unwrap();

    assert_eq!(pod.logins().len(), 2);
    assert_eq!(pod.requests().len(), 1);
}

#[tokio::test]
async fn pkcs1_and_pkcs8_keys_both_log_in() {
    for fixture in [PKCS1_KEY, PKCS8_KEY] {
        let pod = TestPod::start(|_, _| ok_group("g1")).await;
        let keys = Workspace::new();
        let auth = AuthSource::Bot {
            username: BOT.to_string(),
            key: read_private_key(&keys.fixture(fixture, 0o600)).unwrap(),
            login_url: pod.login_url(),
        };

        pod.client_with(auth).get("g1").await.unwrap();

        assert_eq!(pod.logins().len(), 1, "{fixture}");
        assert_eq!(pod.requests()[0].header("sessionToken"), Some("token-1"));
    }
}

#[tokio::test]
async fn a_key_file_others_can_read_is_refused() {
    let keys = Workspace::new();
    let path = keys.fixture(PKCS1_KEY, 0o644);

    let error = read_private_key(&path).unwrap_err();

    assert!(
        matches!(error, AuthError::KeyFileTooOpen { mode: 0o644, .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains(&format!("chmod 600 {}", path.display())),
        "{error}"
    );
}

#[tokio::test]
async fn trace_logs_show_bodies_but_no_token_or_jwt() {
    let pod = TestPod::start(only_second_token).await;
    let keys = Workspace::new();
    // tracing caches each callsite's interest for the whole process, asked of
    // the first thread to reach it; another test's thread, with no subscriber,
    // would cache "never" and this test would miss that event. A global
    // subscriber that keeps nothing makes every interest "always" instead.
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let body = UserGroupUpdate {
        description: Some("logged body".into()),
        ..UserGroupUpdate::default()
    };
    pod.client_with(pod.bot(&keys))
        .update("g1", &body)
        .await
        .unwrap();

    let logs = logs.text();
    assert!(logs.contains("pod request"), "nothing was logged: {logs}");
    assert!(
        logs.contains("logged body"),
        "the request body is not traced: {logs}"
    );
    let mut secrets = vec!["token-1".to_string(), "token-2".to_string()];
    secrets.extend(
        pod.logins()
            .iter()
            .map(|login| login.json()["token"].as_str().unwrap().to_string()),
    );
    for secret in secrets {
        assert!(
            !logs.contains(&secret),
            "{secret} leaked into the logs: {logs}"
        );
    }
}

/// Collects log output in memory.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> LogBuffer {
        self.clone()
    }
}

#[tokio::test]
async fn debug_output_shows_no_secret() {
    let pod = TestPod::start(|_, _| ok_group("g1")).await;
    let keys = Workspace::new();
    let bot = pod.bot(&keys);
    let client = pod.client_with(pod.bot(&keys));
    client.get("g1").await.unwrap();

    let shown = format!("{bot:?} {client:?}");
    assert!(shown.contains(BOT), "{shown}");
    assert!(!shown.contains("token-1"), "{shown}");
    assert!(!shown.contains("BEGIN"), "{shown}");
}

// ---------------------------------------------------------------------------
// Hostile answers: bounded, and never quoted when they may hold a secret
// ---------------------------------------------------------------------------

/// A client of the pod at `origin` with a static token and fast retries.
fn client_of(origin: &str) -> PodClient {
    PodClient::new(
        &format!("{origin}/pod"),
        AuthSource::Token(SessionToken::new("token-1")),
        fast_retries(),
        Timeouts::default(),
    )
    .unwrap()
}

/// `call`, or a panic if it has not ended within [`PATIENCE`] (the guard
/// against a client that never stops; not a speed check).
async fn ends<T>(call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, call)
        .await
        .expect("the call did not end")
}

#[tokio::test]
async fn an_endless_body_fails_its_request_once_past_the_cap() {
    let pod = RawServer::start(|_, stream| {
        write_endless_body(stream, "200 OK");
    });

    let error = ends(client_of(&pod.origin()).get("g1")).await.unwrap_err();

    assert!(matches!(error, PodError::OverLimit { .. }), "{error:?}");
    assert!(!error.is_retryable());
    let message = error.to_string();
    assert!(
        message.contains("larger than 4 MiB, the most groupsync reads of one answer"),
        "{message}"
    );
    assert!(!message.contains("xxxx"), "{message}");
    assert_eq!(pod.requests().len(), 1, "a body over the cap was retried");
}

#[tokio::test]
async fn an_endless_error_body_is_cut_and_the_status_still_decides() {
    let pod = RawServer::start(|_, stream| {
        write_endless_body(stream, "503 Service Unavailable");
    });

    let error = ends(client_of(&pod.origin()).get("g1")).await.unwrap_err();

    assert!(
        matches!(error, PodError::RetriesExhausted { attempts: 4, .. }),
        "{error:?}"
    );
    assert_eq!(error.status(), Some(503));
    assert!(error.to_string().chars().count() < 1000, "{error}");
    assert_eq!(pod.requests().len(), 4);
}

#[tokio::test]
async fn a_login_answering_an_endless_body_fails_without_retrying() {
    let pod = RawServer::start(|request, stream| {
        if request.line.contains("/login/") {
            write_endless_body(stream, "200 OK");
        } else {
            write_answer(stream, "200 OK", &[], &group("g1").to_string());
        }
    });
    let keys = Workspace::new();
    let auth = AuthSource::Bot {
        username: BOT.to_string(),
        key: read_private_key(&keys.fixture(PKCS1_KEY, 0o600)).unwrap(),
        login_url: format!("{}/login", pod.origin()),
    };
    let client = PodClient::new(
        &format!("{}/pod", pod.origin()),
        auth,
        fast_retries(),
        Timeouts::default(),
    )
    .unwrap();

    let error = ends(client.get("g1")).await.unwrap_err();

    assert!(matches!(error, PodError::OverLimit { .. }), "{error:?}");
    assert!(
        error.to_string().contains("check auth.login_url"),
        "{error}"
    );
    assert_eq!(pod.requests().len(), 1);
}

/// A page with `next` and the cursor `after`.
fn page_with_next(data: Value, after: &str) -> Response {
    answer(
        200,
        json!({"data": data, "pagination": {"cursors": {"before": "b", "after": after}, "next": "n"}}),
    )
}

#[tokio::test]
async fn an_endless_page_walk_stops_at_the_page_cap() {
    // Every page says `next`, each with a cursor never seen before.
    let pod = TestPod::start(|index, _| page_with_next(json!([]), &format!("c{index}"))).await;

    let error = ends(pod.client().list(ROLE_SCOPE)).await.unwrap_err();

    assert!(matches!(error, PodError::OverLimit { .. }), "{error:?}");
    assert!(!error.is_retryable());
    assert!(
        error
            .to_string()
            .contains("the list still says `next` after 10000 pages"),
        "{error}"
    );
    assert_eq!(pod.requests().len(), MAX_LIST_PAGES);
}

#[tokio::test]
async fn a_page_walk_holding_too_much_stops() {
    // Small pages of empty records: cheap to send, dear to hold.
    let records = json!(vec![json!({}); 20_000]);
    let pod =
        TestPod::start(move |index, _| page_with_next(records.clone(), &format!("c{index}"))).await;

    let error = ends(pod.client().list(ROLE_SCOPE)).await.unwrap_err();

    assert!(matches!(error, PodError::OverLimit { .. }), "{error:?}");
    assert!(
        error.to_string().contains("add up to more than 64 MiB"),
        "{error}"
    );
    assert!(pod.requests().len() < MAX_LIST_PAGES);
}

#[tokio::test]
async fn member_and_assignee_walks_keep_the_same_bounds() {
    let records = json!(vec![json!({}); 20_000]);
    let pod =
        TestPod::start(move |index, _| page_with_next(records.clone(), &format!("c{index}"))).await;

    for roster in [Roster::Members, Roster::Assignees] {
        let error = ends(pod.client().roster("g1", roster)).await.unwrap_err();
        assert!(matches!(error, PodError::OverLimit { .. }), "{error:?}");
        assert!(
            error.to_string().contains("add up to more than 64 MiB"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_cursor_coming_round_again_stops_the_walk() {
    // c0 -> c1 -> c0: no cursor repeats on consecutive pages.
    let pod =
        TestPod::start(|index, _| page_with_next(json!([]), &format!("c{}", index % 2))).await;

    let error = ends(pod.client().list(ROLE_SCOPE)).await.unwrap_err();

    assert!(matches!(error, PodError::Decode { .. }), "{error:?}");
    assert!(error.to_string().contains("a second time"), "{error}");
    assert_eq!(pod.requests().len(), 3);
}

#[tokio::test]
async fn a_login_answering_a_bare_string_never_shows_it() {
    const SECRET: &str = "s3cr3t-session-token-0123456789";
    let pod =
        TestPod::start_with_login(|_, _| ok_group("g1"), |_, _| answer(200, json!(SECRET))).await;
    let keys = Workspace::new();

    let error = pod.client_with(pod.bot(&keys)).get("g1").await.unwrap_err();

    assert!(matches!(error, PodError::Decode { .. }), "{error:?}");
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(shown.contains("the login answer is a string"), "{shown}");
}

#[tokio::test]
async fn a_login_error_echoing_the_jwt_does_not_show_it() {
    let pod = TestPod::start_with_login(
        |_, _| ok_group("g1"),
        |_, seen| {
            let jwt = seen.json()["token"].as_str().unwrap().to_string();
            pod_error(400, &format!("cannot parse token {jwt}"))
        },
    )
    .await;
    let keys = Workspace::new();

    let error = pod.client_with(pod.bot(&keys)).get("g1").await.unwrap_err();

    let jwt = pod.logins()[0].json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let signature = jwt.rsplit('.').next().unwrap();
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("cannot parse token <redacted>"), "{shown}");
    assert!(!shown.contains(signature), "{shown}");
}

#[tokio::test]
async fn an_html_page_instead_of_json_says_so() {
    let pod = TestPod::start(|_, _| {
        (
            StatusCode::OK,
            [("content-type", "text/html; charset=utf-8")],
            "<!DOCTYPE html><html><body>Sign in to ACME SSO</body></html>",
        )
            .into_response()
    })
    .await;

    let error = pod.client().get("g1").await.unwrap_err();

    let message = error.to_string();
    assert!(
        message.contains("the pod answered with an HTML page, not JSON: is the pod URL right?"),
        "{message}"
    );
    assert!(!message.contains("Sign in"), "{message}");
    assert_eq!(pod.requests().len(), 1);
}

#[tokio::test]
async fn a_redirect_says_where_it_points_without_credentials() {
    let pod = TestPod::start(|_, _| {
        (
            StatusCode::FOUND,
            [(
                "location",
                "https://opsuser:hunter2@sso.acme.example/auth/start?session=abc123#top",
            )],
        )
            .into_response()
    })
    .await;

    let error = pod.client().get("g1").await.unwrap_err();

    assert_eq!(error.status(), Some(302));
    let shown = format!("{error} {error:?}");
    assert!(
        shown.contains("it redirects to https://sso.acme.example/auth/start;"),
        "{shown}"
    );
    for secret in ["opsuser", "hunter2", "session", "abc123", "#top"] {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
    }
    assert!(
        shown.contains("configure the address it redirects to"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_relative_redirect_is_shown_resolved() {
    let pod = TestPod::start(|_, _| {
        (
            StatusCode::MOVED_PERMANENTLY,
            [("location", "/pod-v2/x?token=t")],
        )
            .into_response()
    })
    .await;

    let error = pod.client().get("g1").await.unwrap_err();

    let expected = format!("it redirects to {}/pod-v2/x;", pod.origin);
    assert!(error.to_string().contains(&expected), "{error}");
}

// ---------------------------------------------------------------------------
// Enterprise networks: a private CA, proxies, plain http
// ---------------------------------------------------------------------------

/// A pod over TLS on 127.0.0.1 answering every request with group `g1`. Its
/// certificate (`tests/fixtures/tls-localhost.pem`, for `localhost` and
/// 127.0.0.1) is issued by `tests/fixtures/tls-ca.pem`, a CA no system
/// trusts. Both were made once with `openssl req -x509` / `openssl x509 -req`
/// (EC P-256, valid for 100 years); the CA's key was thrown away.
async fn tls_pod() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let chain = CertificateDer::pem_file_iter(fixture_path("tls-localhost.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture_path("tls-localhost-key.pem")).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client refusing the certificate ends the handshake here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && tls.read(&mut byte).await.unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let body = group("g1").to_string();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://localhost:{port}/pod")
}

fn client_with_network(pod_url: &str, network: &NetworkSettings) -> Result<PodClient, PodError> {
    PodClient::with_network(
        pod_url,
        AuthSource::Token(SessionToken::new("token-1")),
        fast_retries(),
        Timeouts::default(),
        network,
    )
}

#[tokio::test]
async fn a_pod_with_a_private_ca_is_trusted_through_ca_file() {
    let pod_url = tls_pod().await;

    let error = client_with_network(&pod_url, &NetworkSettings::default())
        .unwrap()
        .get("g1")
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            PodError::Transport {
                kind: TransportKind::Tls,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("pod.ca_file"), "{error}");

    let network = NetworkSettings {
        ca_file: Some(fixture_path("tls-ca.pem")),
        ..NetworkSettings::default()
    };
    let group = client_with_network(&pod_url, &network)
        .unwrap()
        .get("g1")
        .await
        .unwrap();
    assert_eq!(group.id.as_deref(), Some("g1"));
}

#[test]
fn a_bad_ca_file_is_an_error_naming_it_and_quoting_nothing() {
    let ws = Workspace::new();
    let cases = [
        (
            "not-base64.pem",
            "-----BEGIN CERTIFICATE-----\nc2VjcmV0!!!\n-----END CERTIFICATE-----\n",
            "is not a valid PEM bundle",
        ),
        ("no-pem.pem", "c2VjcmV0 just text\n", "holds no certificate"),
        (
            "not-der.pem",
            "-----BEGIN CERTIFICATE-----\nc2VjcmV0\n-----END CERTIFICATE-----\n",
            "cannot build the HTTP client with the CA file",
        ),
    ];
    for (name, contents, expected) in cases {
        let path = ws.write_file(name, contents);
        let network = NetworkSettings {
            ca_file: Some(path.clone()),
            ..NetworkSettings::default()
        };
        let error = client_with_network("https://localhost/pod", &network).unwrap_err();
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(expected), "{message}");
        assert!(!message.contains("c2VjcmV0"), "{message}");
    }
    let missing = ws.path().join("missing.pem");
    let network = NetworkSettings {
        ca_file: Some(missing.clone()),
        ..NetworkSettings::default()
    };
    let error = client_with_network("https://localhost/pod", &network).unwrap_err();
    assert!(
        error
            .to_string()
            .contains(&format!("{} (pod.ca_file", missing.display())),
        "{error}"
    );
}

#[test]
fn pod_ca_file_in_the_config_is_read_at_start_up() {
    let ws = Workspace::new();
    ws.write_group_file("a.yaml", "id: a1\nname: A\n");
    ws.write_file("ca.pem", "no certificate here\n");
    ws.write_file(
        "groupsync.yaml",
        "pod: {url: \"https://localhost:1/pod\", ca_file: ca.pem}\n",
    );

    let output = plan_in(&ws).output().unwrap();

    assert_exit(&output, 1);
    // Relative to the config file (here given as a relative path too).
    let expected = "the CA file ca.pem (pod.ca_file";
    assert!(stderr(&output).contains(expected), "{output:?}");
}

/// `groupsync --config groupsync.yaml plan` in `ws`, with a session token.
fn plan_in(ws: &Workspace) -> assert_cmd::Command {
    plan_with_config(ws, "groupsync.yaml")
}

/// `groupsync --config <config> plan` in `ws`, with a session token.
fn plan_with_config(ws: &Workspace, config: &str) -> assert_cmd::Command {
    let mut command = ws.groupsync();
    command
        .args(["--config", config, "plan"])
        .args(["--groups-dir", "groups.d", "--state", "state.json"])
        .env("GROUPSYNC_SESSION_TOKEN", TOKEN);
    command
}

/// A host that never resolves (RFC 6761): reached only through a proxy.
const UNRESOLVABLE: &str = "pod.groupsync-test.invalid";

#[test]
fn proxy_url_carries_the_requests_of_a_plain_http_pod() {
    let proxy = RawServer::start(|_, stream| {
        write_answer(
            stream,
            "200 OK",
            &[("Content-Type", "application/json")],
            &group("a1").to_string(),
        );
    });
    let ws = Workspace::new();
    ws.write_group_file("a.yaml", "id: a1\nname: A\n");
    ws.write_file(
        "groupsync.yaml",
        format!(
            "pod: {{url: \"http://{UNRESOLVABLE}/pod\"}}\nproxy: {{url: \"{}\"}}\n{FAST_RETRY}",
            proxy.origin()
        ),
    );

    let output = plan_in(&ws).output().unwrap();

    let requests = proxy.requests();
    assert!(!requests.is_empty(), "the proxy saw nothing: {output:?}");
    // The absolute form: the proxy is asked for the pod's URL.
    assert_eq!(
        requests[0].line,
        format!("GET http://{UNRESOLVABLE}/pod/v2/admin/usergroups/a1 HTTP/1.1")
    );
    assert_eq!(requests[0].header("sessiontoken"), Some(TOKEN));
    assert_ne!(output.status.code(), Some(1), "{output:?}");
}

/// A proxy refusing every tunnel, which records the `CONNECT`s it saw.
fn refusing_proxy() -> RawServer {
    RawServer::start(|_, stream| write_answer(stream, "403 Forbidden", &[], ""))
}

/// A workspace whose config points at `https://{UNRESOLVABLE}/pod`.
fn https_pod_workspace() -> Workspace {
    let ws = Workspace::new();
    ws.write_group_file("a.yaml", "id: a1\nname: A\n");
    ws.write_file(
        "groupsync.yaml",
        format!("pod: {{url: \"https://{UNRESOLVABLE}/pod\"}}\n{FAST_RETRY}"),
    );
    ws
}

#[test]
fn https_proxy_from_the_environment_tunnels_to_the_pod() {
    let proxy = refusing_proxy();
    let ws = https_pod_workspace();

    let output = plan_in(&ws)
        .env("HTTPS_PROXY", proxy.origin())
        .output()
        .unwrap();

    assert_exit(&output, 1);
    let lines: Vec<_> = proxy.requests().into_iter().map(|seen| seen.line).collect();
    assert!(
        lines.contains(&format!("CONNECT {UNRESOLVABLE}:443 HTTP/1.1")),
        "{lines:?}\n{output:?}"
    );
}

#[test]
fn no_proxy_bypasses_both_the_environment_and_proxy_url() {
    let proxy = refusing_proxy();
    let ws = https_pod_workspace();
    let with_key = format!(
        "pod: {{url: \"https://{UNRESOLVABLE}/pod\"}}\nproxy: {{url: \"{}\"}}\n{FAST_RETRY}",
        proxy.origin()
    );
    ws.write_file("with-key.yaml", with_key);

    let from_env = plan_in(&ws)
        .env("HTTPS_PROXY", proxy.origin())
        .env("NO_PROXY", UNRESOLVABLE)
        .output()
        .unwrap();
    let from_key = plan_with_config(&ws, "with-key.yaml")
        .env("NO_PROXY", format!("example.com,{UNRESOLVABLE}"))
        .output()
        .unwrap();

    for output in [from_env, from_key] {
        assert_exit(&output, 1);
        assert!(stderr(&output).contains("does not resolve"), "{output:?}");
    }
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
}

#[test]
fn a_session_token_over_plain_http_to_another_host_is_warned_about_once() {
    const WARNING: &str = "plain http:// to a host that is not loopback";
    let ws = Workspace::new();
    ws.write_group_file("a.yaml", "id: a1\nname: A\n");
    ws.write_file(
        "groupsync.yaml",
        format!("pod: {{url: \"http://{UNRESOLVABLE}/pod\"}}\n"),
    );

    let output = plan_in(&ws).output().unwrap();

    let stderr = stderr(&output);
    assert_eq!(stderr.matches(WARNING).count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("http://{UNRESOLVABLE}/pod is plain http://")),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN), "{stderr}");

    // The same over loopback draws no warning.
    let pod = token_pod(vec![PodGroup::new("a1").name("A").build()]);
    ws.write_file(
        "groupsync.yaml",
        format!("pod: {{url: \"{}\"}}\n", pod.emulator.pod_url()),
    );
    let output = plan_in(&ws).output().unwrap();
    assert_exit(&output, 0);
    assert!(
        !crate::util::stderr(&output).contains(WARNING),
        "{output:?}"
    );
}
