//! The pod emulator over real TCP: every status and body of the contract in
//! `docs/pod-api.md`, and the knobs tests use to provoke the rest.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use groupsync::emulator::{Emulator, EmulatorConfig, Entitlements};
use groupsync::model::{
    ApiError, LoginResponse, ROLE_SCOPE, SESSION_TOKEN_HEADER, USERGROUPS_PATH, UserGroupResponse,
    UserGroupResponseList, group_path,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

use crate::util::{TOKEN, fixture_text};

/// Members, assignees and the users lookup.
mod lists;

/// A group as a seed holds it: id, name, active, nothing else.
fn group(id: &str) -> UserGroupResponse {
    UserGroupResponse {
        id: Some(id.into()),
        name: Some(format!("Group {id}").into()),
        active: Some(true),
        ..Default::default()
    }
}

/// An emulator seeded with `groups` that accepts `TOKEN` with every entitlement.
async fn start(groups: Vec<UserGroupResponse>) -> Emulator {
    start_with(EmulatorConfig {
        groups,
        ..Default::default()
    })
    .await
}

async fn start_with(mut config: EmulatorConfig) -> Emulator {
    config
        .session_tokens
        .push((TOKEN.into(), Entitlements::ALL));
    Emulator::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("start the emulator")
}

/// An answer: status, `Retry-After` header, body as JSON (`Null` if not JSON).
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

impl Answer {
    fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.body.clone())
            .unwrap_or_else(|err| panic!("{err}: {}", self.body))
    }

    /// Asserts an error answer: this status, and a `{code, message}` body whose message contains `needle`.
    fn assert_error(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        let error: ApiError = self.json();
        assert_eq!(error.code, Some(i32::from(status)), "{}", self.body);
        let message = error.message.unwrap_or_default();
        assert!(
            message.contains(needle),
            "{message:?} should contain {needle:?}"
        );
    }
}

/// One HTTP call; `token` goes in the `sessionToken` header, `body` is sent as is.
async fn call(method: Method, url: &str, token: Option<&str>, body: Option<&str>) -> Answer {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(token) = token {
        request = request.header(SESSION_TOKEN_HEADER, token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.expect("the emulator answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    Answer {
        status,
        retry_after,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

fn group_url(pod: &Emulator, id: &str) -> String {
    format!("{}{}", pod.pod_url(), group_path(id))
}

fn list_url(pod: &Emulator, query: &str) -> String {
    format!("{}{USERGROUPS_PATH}?{query}", pod.pod_url())
}

async fn put(pod: &Emulator, id: &str, body: &str) -> Answer {
    call(Method::PUT, &group_url(pod, id), Some(TOKEN), Some(body)).await
}

async fn get(pod: &Emulator, id: &str) -> Answer {
    call(Method::GET, &group_url(pod, id), Some(TOKEN), None).await
}

// ---------------------------------------------------------------- PUT and GET

#[tokio::test]
async fn put_applies_only_the_sent_fields_and_answers_the_whole_group() {
    let pod = start(vec![UserGroupResponse {
        area: Some("EMEA".into()),
        ..group("g1")
    }])
    .await;
    let before = pod.group("g1").unwrap();

    let answer = put(&pod, "g1", r#"{"name": "Renamed", "active": false}"#).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    let updated: UserGroupResponse = answer.json();
    assert_eq!(updated.name.as_deref(), Some("Renamed"));
    assert_eq!(updated.active, Some(false));
    assert_eq!(updated.area.as_deref(), Some("EMEA"));
    assert_eq!(updated.created_date, before.created_date);
    assert!(updated.modified_date > before.modified_date);
    assert_eq!(pod.group("g1"), Some(updated));
}

#[tokio::test]
async fn put_moves_modified_date_only_on_a_real_change() {
    let pod = start(vec![group("g1")]).await;
    let seeded = pod.group("g1").unwrap();

    let unchanged: UserGroupResponse = put(&pod, "g1", r#"{"name": "Group g1", "active": true}"#)
        .await
        .json();
    let empty: UserGroupResponse = put(&pod, "g1", "{}").await.json();
    let changed: UserGroupResponse = put(&pod, "g1", r#"{"description": "new"}"#).await.json();
    let again: UserGroupResponse = put(&pod, "g1", r#"{"description": "new"}"#).await.json();

    assert_eq!(unchanged, seeded);
    assert_eq!(empty, seeded);
    assert!(changed.modified_date > seeded.modified_date);
    assert_eq!(again.modified_date, changed.modified_date);
}

#[tokio::test]
async fn put_refuses_bad_bodies_unknown_groups_and_empty_names() {
    let pod = start(vec![group("g1")]).await;

    put(&pod, "g1", r#"{"name": "#).await.assert_error(400, "");
    put(&pod, "g1", r#"{"active": "yes"}"#)
        .await
        .assert_error(400, "");
    put(&pod, "g1", r#"{"colour": "red"}"#)
        .await
        .assert_error(400, "colour");
    call(Method::PUT, &group_url(&pod, "g1"), Some(TOKEN), None)
        .await
        .assert_error(400, "body");
    put(&pod, "nope", r#"{"name": "x"}"#)
        .await
        .assert_error(404, "nope");
    put(&pod, "g1", r#"{"name": ""}"#)
        .await
        .assert_error(422, "Error on updating user group.");

    assert_eq!(pod.group("g1").unwrap().name.as_deref(), Some("Group g1"));
}

#[tokio::test]
async fn group_ids_are_percent_decoded() {
    let id = "team/a b+ü";
    let pod = start(vec![group(id)]).await;

    let answer = put(&pod, id, r#"{"area": "APAC"}"#).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(pod.group(id).unwrap().area.as_deref(), Some("APAC"));
    let recorded = &pod.requests()[0];
    assert_eq!(recorded.path, format!("/pod{}", group_path(id)));
}

#[tokio::test]
async fn get_answers_one_group_or_404() {
    let pod = start(vec![group("g1")]).await;

    let answer = get(&pod, "g1").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json::<UserGroupResponse>(), pod.group("g1").unwrap());
    get(&pod, "g2").await.assert_error(404, "g2");
}

#[tokio::test]
async fn seeded_groups_get_dates_counts_and_type() {
    let pod = start(vec![group("g1")]).await;

    let seeded: UserGroupResponse = get(&pod, "g1").await.json();

    assert_eq!(seeded.group_type.as_deref(), Some(ROLE_SCOPE));
    assert_eq!(
        (seeded.member_count, seeded.assignee_count),
        (Some(0), Some(0))
    );
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let created = seeded.created_date.unwrap();
    assert!(
        (now_ms - 60_000..=now_ms + 1000).contains(&created),
        "{created} vs {now_ms}"
    );
    assert_eq!(seeded.modified_date, Some(created));
}

// ---------------------------------------------------------------- sessions and entitlements

#[tokio::test]
async fn a_missing_or_unknown_session_token_is_401() {
    let pod = start(vec![group("g1")]).await;

    call(Method::GET, &group_url(&pod, "g1"), None, None)
        .await
        .assert_error(401, "");
    call(Method::GET, &group_url(&pod, "g1"), Some("made-up"), None)
        .await
        .assert_error(401, "");
    call(Method::PUT, &group_url(&pod, "g1"), None, Some("{}"))
        .await
        .assert_error(401, "");
}

#[tokio::test]
async fn reading_needs_view_and_writing_needs_manage() {
    let pod = start(vec![group("g1")]).await;
    let viewer = pod.add_session(Entitlements::VIEW_ONLY);
    let manager = pod.add_session(Entitlements::MANAGE_ONLY);
    let url = group_url(&pod, "g1");
    let create = r#"{"name": "New", "type": "ROLE_SCOPE"}"#;
    let collection = format!("{}{USERGROUPS_PATH}", pod.pod_url());

    assert_eq!(
        call(Method::GET, &url, Some(&viewer), None).await.status,
        200
    );
    call(Method::PUT, &url, Some(&viewer), Some("{}"))
        .await
        .assert_error(403, "MANAGE_ROLE_SCOPES");
    call(Method::POST, &collection, Some(&viewer), Some(create))
        .await
        .assert_error(403, "MANAGE_ROLE_SCOPES");

    // A bot may manage without viewing: the 403 on GET must not stop its PUT.
    call(Method::GET, &url, Some(&manager), None)
        .await
        .assert_error(403, "VIEW_ROLE_SCOPES");
    call(
        Method::GET,
        &list_url(&pod, "type=ROLE_SCOPE"),
        Some(&manager),
        None,
    )
    .await
    .assert_error(403, "VIEW_ROLE_SCOPES");
    assert_eq!(
        call(Method::PUT, &url, Some(&manager), Some(r#"{"area": "X"}"#))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn expired_sessions_answer_401_and_new_ones_work() {
    let pod = start(vec![group("g1")]).await;
    let added = pod.add_session(Entitlements::ALL);

    pod.expire_sessions();

    get(&pod, "g1").await.assert_error(401, "");
    call(Method::GET, &group_url(&pod, "g1"), Some(&added), None)
        .await
        .assert_error(401, "");
    let fresh = pod.add_session(Entitlements::ALL);
    assert_eq!(
        call(Method::GET, &group_url(&pod, "g1"), Some(&fresh), None)
            .await
            .status,
        200
    );
}

// ---------------------------------------------------------------- list

/// Walks every page from the first, returning each page's ids and whether it carried `next`.
async fn walk_pages(pod: &Emulator, filters: &str) -> Vec<(Vec<String>, bool)> {
    let mut pages = Vec::new();
    let mut after = String::new();
    loop {
        let answer = call(
            Method::GET,
            &list_url(pod, &format!("type=ROLE_SCOPE{filters}{after}")),
            Some(TOKEN),
            None,
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let page: UserGroupResponseList = answer.json();
        let pagination = page.pagination.expect("every page has pagination");
        let ids = page
            .data
            .iter()
            .map(|group| group.id.clone().unwrap().into_string())
            .collect();
        pages.push((ids, pagination.next.is_some()));
        if pagination.next.is_none() {
            return pages;
        }
        assert!(!pagination.next.unwrap().is_empty());
        after = format!(
            "&after={}",
            pagination
                .cursors
                .after
                .expect("a page with next has an after cursor")
        );
        assert!(pages.len() < 20, "paging does not end");
    }
}

fn page(ids: &[&str], next: bool) -> (Vec<String>, bool) {
    (ids.iter().map(|id| id.to_string()).collect(), next)
}

#[tokio::test]
async fn list_pages_in_id_order_until_next_disappears() {
    let groups = ["e", "a", "d", "b", "c"].map(group).to_vec();
    let pod = start_with(EmulatorConfig {
        groups,
        page_size: 2,
        ..Default::default()
    })
    .await;

    let pages = walk_pages(&pod, "").await;

    assert_eq!(
        pages,
        [
            page(&["a", "b"], true),
            page(&["c", "d"], true),
            page(&["e"], false)
        ]
    );
}

#[tokio::test]
async fn filters_apply_after_paging_so_an_empty_page_still_carries_next() {
    let mut groups = ["a", "b", "c", "d", "e"].map(group).to_vec();
    groups[0].area = Some("EMEA".into());
    groups[4].area = Some("EMEA".into());
    groups[4].active = Some(false);
    let pod = start_with(EmulatorConfig {
        groups,
        page_size: 2,
        ..Default::default()
    })
    .await;

    let emea = walk_pages(&pod, "&area=EMEA").await;
    let inactive_emea = walk_pages(&pod, "&area=EMEA&active=false").await;
    let by_name = walk_pages(&pod, "&name=Group%20c").await;

    assert_eq!(
        emea,
        [page(&["a"], true), page(&[], true), page(&["e"], false)]
    );
    assert_eq!(
        inactive_emea,
        [page(&[], true), page(&[], true), page(&["e"], false)]
    );
    assert_eq!(
        by_name,
        [page(&[], true), page(&["c"], true), page(&[], false)]
    );
}

#[tokio::test]
async fn list_limit_is_capped_at_the_page_size() {
    let groups = ["a", "b", "c", "d"].map(group).to_vec();
    let pod = start_with(EmulatorConfig {
        groups,
        page_size: 3,
        ..Default::default()
    })
    .await;

    let small: UserGroupResponseList = call(
        Method::GET,
        &list_url(&pod, "type=ROLE_SCOPE&limit=1"),
        Some(TOKEN),
        None,
    )
    .await
    .json();
    let large: UserGroupResponseList = call(
        Method::GET,
        &list_url(&pod, "type=ROLE_SCOPE&limit=50&sort=name"),
        Some(TOKEN),
        None,
    )
    .await
    .json();

    assert_eq!(small.data.len(), 1);
    assert_eq!(large.data.len(), 3);
}

#[tokio::test]
async fn list_needs_a_type_a_valid_cursor_and_valid_filters() {
    let pod = start(vec![group("a")]).await;
    let list = |query: &'static str| {
        let url = list_url(&pod, query);
        async move { call(Method::GET, &url, Some(TOKEN), None).await }
    };

    list("").await.assert_error(400, "type");
    list("type=ROLE_SCOPE&after=not-a-cursor")
        .await
        .assert_error(400, "cursor");
    list("type=ROLE_SCOPE&active=maybe")
        .await
        .assert_error(400, "active");
    list("type=ROLE_SCOPE&limit=-1")
        .await
        .assert_error(400, "limit");

    let unknown = list("type=OTHER").await;
    assert_eq!(unknown.status, 200);
    let unknown: UserGroupResponseList = unknown.json();
    assert!(unknown.data.is_empty());
    assert!(unknown.pagination.unwrap().next.is_none());
}

// ---------------------------------------------------------------- POST

#[tokio::test]
async fn post_creates_an_active_group_with_a_fresh_id() {
    let pod = start(vec![]).await;
    let url = format!("{}{USERGROUPS_PATH}", pod.pod_url());

    let answer = call(
        Method::POST,
        &url,
        Some(TOKEN),
        Some(r#"{"name": "New", "type": "ROLE_SCOPE", "area": "US"}"#),
    )
    .await;

    assert_eq!(answer.status, 201, "{}", answer.body);
    let created: UserGroupResponse = answer.json();
    let id = created.id.clone().unwrap();
    assert_eq!(id.len(), 24);
    assert!(
        id.bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)),
        "{id}"
    );
    assert_eq!(
        (created.name.as_deref(), created.area.as_deref()),
        (Some("New"), Some("US"))
    );
    assert_eq!(
        (created.active, created.member_count, created.assignee_count),
        (Some(true), Some(0), Some(0))
    );
    assert_eq!(created.group_type.as_deref(), Some(ROLE_SCOPE));
    assert!(created.created_date.is_some() && created.created_date == created.modified_date);
    assert_eq!(get(&pod, &id).await.json::<UserGroupResponse>(), created);
}

#[tokio::test]
async fn post_needs_a_name_and_a_type() {
    let pod = start(vec![]).await;
    let url = format!("{}{USERGROUPS_PATH}", pod.pod_url());

    for body in [
        r#"{"type": "ROLE_SCOPE"}"#,
        r#"{"name": "", "type": "ROLE_SCOPE"}"#,
        r#"{"name": "New"}"#,
        "[]",
        "nope",
    ] {
        call(Method::POST, &url, Some(TOKEN), Some(body))
            .await
            .assert_error(400, "");
    }
    // The message names what is missing.
    call(
        Method::POST,
        &url,
        Some(TOKEN),
        Some(r#"{"type": "ROLE_SCOPE"}"#),
    )
    .await
    .assert_error(400, "name");
    call(Method::POST, &url, Some(TOKEN), Some(r#"{"name": "New"}"#))
        .await
        .assert_error(400, "type");
    assert!(pod.groups().is_empty());
}

// ---------------------------------------------------------------- routes

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_with_json_bodies() {
    let pod = start(vec![group("g1")]).await;

    call(
        Method::GET,
        &format!("{}/v1/admin/nothing", pod.pod_url()),
        Some(TOKEN),
        None,
    )
    .await
    .assert_error(404, "");
    call(
        Method::GET,
        &format!("{}/elsewhere", pod.base_url()),
        None,
        None,
    )
    .await
    .assert_error(404, "");
    call(Method::DELETE, &group_url(&pod, "g1"), Some(TOKEN), None)
        .await
        .assert_error(405, "");
    call(
        Method::PATCH,
        &format!("{}{USERGROUPS_PATH}", pod.pod_url()),
        Some(TOKEN),
        Some("{}"),
    )
    .await
    .assert_error(405, "");
    call(
        Method::GET,
        &format!("{}/pubkey/authenticate", pod.login_url()),
        None,
        None,
    )
    .await
    .assert_error(405, "");
    assert!(pod.group("g1").is_some());
}

// ---------------------------------------------------------------- fault injection and latency

#[tokio::test]
async fn fail_next_answers_the_status_with_retry_after_then_recovers() {
    let pod = start(vec![group("g1")]).await;

    pod.fail_next(2, 429, Some("3"));
    pod.fail_next(1, 503, None);

    let first = get(&pod, "g1").await;
    first.assert_error(429, "");
    assert_eq!(first.retry_after.as_deref(), Some("3"));
    let second = put(&pod, "g1", r#"{"name": "x"}"#).await;
    second.assert_error(429, "");
    let third = get(&pod, "g1").await;
    third.assert_error(503, "");
    assert_eq!(third.retry_after, None);
    assert_eq!(get(&pod, "g1").await.status, 200);
    assert_eq!(
        pod.group("g1").unwrap().name.as_deref(),
        Some("Group g1"),
        "a failed PUT changes nothing"
    );
}

#[tokio::test]
async fn a_dropped_answer_is_acted_on_but_never_sent() {
    let pod = start(vec![group("g1")]).await;
    let url = format!("{}{USERGROUPS_PATH}", pod.pod_url());
    pod.drop_next_answers("POST", 1);
    // A call with another method passes the fault by.
    assert_eq!(get(&pod, "g1").await.status, 200);
    pod.clear_requests();

    let sent = reqwest::Client::new()
        .post(&url)
        .header(SESSION_TOKEN_HEADER, TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"name": "Lost answer", "type": "ROLE_SCOPE"}"#)
        .send()
        .await;

    let error = sent.expect_err("the connection closes without an answer");
    assert!(!error.is_status(), "{error}");
    let groups: Vec<UserGroupResponse> = pod
        .groups()
        .into_iter()
        .filter(|group| group.id.as_deref() != Some("g1"))
        .collect();
    assert_eq!(groups.len(), 1, "the pod created the group all the same");
    assert_eq!(groups[0].name.as_deref(), Some("Lost answer"));
    assert_eq!(
        pod.count("POST", USERGROUPS_PATH),
        0,
        "paths are recorded under /pod"
    );
    assert_eq!(pod.count("POST", "/pod/v2/admin/usergroups"), 1);
    assert_eq!(pod.requests()[0].status, 0, "no status was answered");
    // Only the next call loses its answer.
    let listed = call(
        Method::GET,
        &list_url(&pod, "type=ROLE_SCOPE&name=Lost%20answer"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.json::<UserGroupResponseList>().data, groups);
}

#[tokio::test]
async fn fail_next_spares_the_login_service() {
    let pod = start_with(bot_config()).await;

    pod.fail_next(1, 500, None);

    let login = call(
        Method::POST,
        &login_endpoint(&pod),
        None,
        Some(&login_body("bot-key.pem", 240)),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.body);
    get(&pod, "g1").await.assert_error(500, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_delays_requests_concurrently() {
    let pod = start(vec![group("g1")]).await;
    pod.set_latency(Duration::from_millis(200));
    let started = Instant::now();

    let calls = (0..10).map(|_| {
        let url = group_url(&pod, "g1");
        tokio::spawn(async move {
            let answer = call(Method::GET, &url, Some(TOKEN), None).await;
            (answer.status, Instant::now())
        })
    });
    let mut finished = Vec::new();
    for handle in calls.collect::<Vec<_>>() {
        finished.push(handle.await.unwrap());
    }

    let elapsed = started.elapsed();
    assert!(finished.iter().all(|(status, _)| *status == 200));
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    // Every request arrived before the first one was answered: they waited
    // side by side. (Structural, so a busy machine cannot fail it.)
    let requests = pod.requests();
    assert_eq!(requests.len(), 10);
    let last_arrival = requests
        .iter()
        .map(|request| request.started)
        .max()
        .unwrap();
    let first_answer = finished.iter().map(|(_, at)| *at).min().unwrap();
    assert!(last_arrival < first_answer);
}

// ---------------------------------------------------------------- admin changes and recording

#[tokio::test]
async fn set_group_is_an_admin_change_behind_our_back() {
    // The count follows the group's active members, whatever a seed or an admin says.
    let pod = start_with(EmulatorConfig {
        groups: vec![group("g1")],
        users: vec![groupsync::emulator::SeedUser::new(1, "alice")],
        memberships: vec![("g1".into(), "alice".into())],
        ..Default::default()
    })
    .await;
    let before = pod.group("g1").unwrap();

    let changed = pod.set_group(UserGroupResponse {
        name: Some("By hand".into()),
        member_count: Some(4),
        ..group("g1")
    });
    pod.set_group(group("g2"));

    let seen: UserGroupResponse = get(&pod, "g1").await.json();
    assert_eq!(seen, changed);
    assert_eq!(seen.name.as_deref(), Some("By hand"));
    assert_eq!(seen.member_count, Some(1));
    assert!(seen.modified_date > before.modified_date);
    assert_eq!(get(&pod, "g2").await.status, 200);
    assert_eq!(
        pod.groups()
            .iter()
            .map(|group| group.id.clone().unwrap())
            .collect::<Vec<_>>(),
        ["g1", "g2"]
    );
}

#[tokio::test]
async fn every_request_is_recorded_in_arrival_order() {
    let pod = start(vec![group("g1")]).await;

    put(&pod, "g1", r#"{"name": "x"}"#).await;
    call(Method::GET, &list_url(&pod, "type=ROLE_SCOPE"), None, None).await;

    let requests = pod.requests();
    assert_eq!(requests.len(), 2);
    let (put_request, list_request) = (&requests[0], &requests[1]);
    assert_eq!(
        (put_request.method.as_str(), put_request.path.as_str()),
        ("PUT", "/pod/v2/admin/usergroups/g1")
    );
    assert_eq!(put_request.body, Some(json!({"name": "x"})));
    assert_eq!(put_request.raw_body, r#"{"name": "x"}"#);
    assert_eq!(
        (put_request.status, put_request.had_session_token),
        (200, true)
    );
    assert_eq!(list_request.query.as_deref(), Some("type=ROLE_SCOPE"));
    assert_eq!(
        (
            list_request.status,
            list_request.had_session_token,
            list_request.body.as_ref()
        ),
        (401, false, None)
    );
    assert!(put_request.started <= list_request.started);
    assert_eq!(pod.count("put", "/pod/v2/admin/usergroups/"), 1);
    assert_eq!(pod.count("GET", "/pod"), 1);

    pod.clear_requests();
    assert!(pod.requests().is_empty());
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let pod = start(vec![]).await;
    let url = group_url(&pod, "g1");

    pod.shutdown().await;

    assert!(reqwest::Client::new().get(&url).send().await.is_err());
}

// ---------------------------------------------------------------- RSA bot login

fn bot_config() -> EmulatorConfig {
    EmulatorConfig {
        groups: vec![group("g1")],
        bots: vec![("groupsync-bot".into(), fixture_text("bot-key.pub.pem"))],
        ..Default::default()
    }
}

fn login_endpoint(pod: &Emulator) -> String {
    format!("{}/pubkey/authenticate", pod.login_url())
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn jwt(key_file: &str, claims: Value) -> String {
    let key = EncodingKey::from_rsa_pem(fixture_text(key_file).as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::RS512), &claims, &key).unwrap()
}

/// A login body for `groupsync-bot`, signed with `key_file`, expiring `lifetime` seconds from now.
fn login_body(key_file: &str, lifetime: i64) -> String {
    json!({"token": jwt(key_file, json!({"sub": "groupsync-bot", "exp": now_secs() + lifetime}))})
        .to_string()
}

async fn login(pod: &Emulator, body: &str) -> Answer {
    call(Method::POST, &login_endpoint(pod), None, Some(body)).await
}

#[tokio::test]
async fn login_trades_a_jwt_signed_with_either_key_format_for_a_working_session() {
    let pod = start_with(bot_config()).await;

    for key_file in ["bot-key.pem", "bot-key.pkcs8.pem"] {
        let answer = login(&pod, &login_body(key_file, 240)).await;

        assert_eq!(answer.status, 200, "{}", answer.body);
        let session: LoginResponse = answer.json();
        assert_eq!(session.name, "sessionToken");
        let url = group_url(&pod, "g1");
        assert_eq!(
            call(Method::GET, &url, Some(&session.token), None)
                .await
                .status,
            200
        );
        assert_eq!(
            call(Method::PUT, &url, Some(&session.token), Some("{}"))
                .await
                .status,
            200
        );
    }
}

#[tokio::test]
async fn login_refuses_wrong_keys_unknown_bots_and_bad_expiries() {
    let pod = start_with(bot_config()).await;
    let exp = now_secs() + 240;
    let body = |token: String| json!({ "token": token }).to_string();

    login(&pod, &login_body("wrong-key.pem", 240))
        .await
        .assert_error(401, "signature");
    login(
        &pod,
        &body(jwt(
            "bot-key.pem",
            json!({"sub": "someone-else", "exp": exp}),
        )),
    )
    .await
    .assert_error(401, "someone-else");
    login(&pod, &login_body("bot-key.pem", -30))
        .await
        .assert_error(401, "expired");
    login(&pod, &login_body("bot-key.pem", 301 + 60))
        .await
        .assert_error(401, "300");
    login(
        &pod,
        &body(jwt("bot-key.pem", json!({"sub": "groupsync-bot"}))),
    )
    .await
    .assert_error(401, "exp");
    login(&pod, &body("not-a-jwt".into()))
        .await
        .assert_error(401, "malformed");
    login(&pod, "not json").await.assert_error(400, "");
}

#[tokio::test]
async fn a_bot_session_has_the_configured_entitlements() {
    let pod = start_with(EmulatorConfig {
        bot_entitlements: Entitlements::VIEW_ONLY,
        ..bot_config()
    })
    .await;

    let session: LoginResponse = login(&pod, &login_body("bot-key.pem", 240)).await.json();

    let url = group_url(&pod, "g1");
    assert_eq!(
        call(Method::GET, &url, Some(&session.token), None)
            .await
            .status,
        200
    );
    call(Method::PUT, &url, Some(&session.token), Some("{}"))
        .await
        .assert_error(403, "MANAGE_ROLE_SCOPES");
}

#[tokio::test]
async fn tokens_and_jwts_are_never_recorded() {
    let pod = start_with(bot_config()).await;
    let body = login_body("bot-key.pem", 240);
    let jwt = serde_json::from_str::<Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let session: LoginResponse = login(&pod, &body).await.json();
    get(&pod, "g1").await;

    let recorded = format!("{:?}", pod.requests());
    assert!(!recorded.contains(&jwt));
    assert!(!recorded.contains(&session.token));
    assert!(!recorded.contains(TOKEN));
    assert_eq!(pod.requests()[0].body, Some(json!({"token": "<redacted>"})));
    assert!(!format!("{pod:?}").contains(TOKEN));
}

/// `POST /agent/v4/stream/{sid}/message/create` with both tokens and a one-field multipart body.
async fn post_message(pod: &Emulator, stream_id: &str) -> Answer {
    let key_manager_token = pod.add_key_manager_token();
    let body = "--b\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\n\
                <messageML>hello</messageML>\r\n--b--\r\n";
    let response = reqwest::Client::new()
        .post(format!(
            "{}/v4/stream/{stream_id}/message/create",
            pod.agent_url()
        ))
        .header(SESSION_TOKEN_HEADER, TOKEN)
        .header("keyManagerToken", key_manager_token)
        .header("content-type", "multipart/form-data; boundary=b")
        .body(body)
        .send()
        .await
        .expect("the emulator answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    Answer {
        status,
        retry_after: None,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

#[tokio::test]
async fn a_message_to_a_stream_that_does_not_exist_is_a_bad_stream_and_to_a_room_left_forbidden() {
    let pod = start(Vec::new()).await;
    let room = pod.add_room("Compliance");
    let sid = room
        .stream_id
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_");
    assert_eq!(post_message(&pod, &sid).await.status, 200);
    post_message(&pod, "bm9zdWNoc3RyZWFt")
        .await
        .assert_error(400, "no such stream");
    let mut left = groupsync::emulator::SeedRoom::named("Left");
    left.active = false;
    let left_sid = left
        .stream_id
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_");
    let pod = start_with(EmulatorConfig {
        rooms: vec![left],
        ..Default::default()
    })
    .await;
    post_message(&pod, &left_sid)
        .await
        .assert_error(403, "not a member");
}
