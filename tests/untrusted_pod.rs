//! A pod (or a proxy) whose answers cannot be taken at their word, through
//! the real binary against a scripted raw server on 127.0.0.1: a name
//! lookup that matches loosely after a failed create, error answers that
//! echo credentials, users lookups of the wrong shape or with impossible
//! ids, and a bot login refused with 403.

use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::util::*;

// ---------------------------------------------------------------------------
// A create whose POST failed adopts only its exact namesake
// ---------------------------------------------------------------------------

/// Another desk's group, which a case-insensitive name filter returns for "New rates".
fn near_namesake() -> Value {
    json!({"id": "x9", "name": "new rates", "area": "Other desk", "type": "ROLE_SCOPE", "active": true})
}

/// A pod whose name filter ignores case (answering [`near_namesake`] for
/// "New rates"), and which answers the first `failing_posts` POSTs 502,
/// then creates `n1`.
fn loosely_filtering_pod(failing_posts: usize) -> RawServer {
    let posts = Arc::new(AtomicUsize::new(0));
    scripted_pod(move |method, target| {
        let created = json!({"id": "n1", "name": "New rates", "area": "EMEA", "type": "ROLE_SCOPE", "active": true});
        match (method, target) {
            ("POST", "/pod/v2/admin/usergroups") => {
                if posts.fetch_add(1, Ordering::SeqCst) < failing_posts {
                    let body = json!({"code": 502, "message": "upstream timed out"});
                    ("502 Bad Gateway", body.to_string())
                } else {
                    ("201 Created", created.to_string())
                }
            }
            ("GET", target) if target.starts_with("/pod/v2/admin/usergroups?") => {
                ("200 OK", page(&[near_namesake()]))
            }
            ("GET", "/pod/v2/admin/usergroups/x9") | ("PUT", "/pod/v2/admin/usergroups/x9") => {
                ("200 OK", near_namesake().to_string())
            }
            ("GET", "/pod/v2/admin/usergroups/n1") => ("200 OK", created.to_string()),
            _ => not_found(),
        }
    })
}

#[test]
fn a_failed_create_never_adopts_a_group_whose_name_only_looks_alike() {
    let ws = Workspace::new();
    ws.write_group_file("rates.yaml", "name: New rates\narea: EMEA\n");
    let pod = loosely_filtering_pod(usize::MAX);
    write_config(&ws, &format!("{}/pod", pod.origin()), "");

    let output = run_configured(&ws, &["apply"]);

    assert_exit(&output, 1);
    assert_eq!(
        requests_starting(&pod, "PUT "),
        Vec::<String>::new(),
        "{}",
        everything(&output)
    );
    let text = everything(&output);
    assert!(
        text.contains("\"new rates\"") && text.contains("x9"),
        "the failure does not name the group the lookup found: {text}"
    );
    assert!(
        !text.contains("created x9") && stdout(&output).contains("0 created"),
        "{text}"
    );
    assert!(
        ws.load_state().get("x9").is_none(),
        "the other desk's group was recorded as this one"
    );
}

#[test]
fn a_failed_create_whose_next_post_succeeds_creates_the_group_and_leaves_the_namesake_alone() {
    let ws = Workspace::new();
    ws.write_group_file("rates.yaml", "name: New rates\narea: EMEA\n");
    let pod = loosely_filtering_pod(1);
    write_config(&ws, &format!("{}/pod", pod.origin()), "");

    let output = run_configured(&ws, &["apply"]);

    assert_exit(&output, 0);
    assert_eq!(
        requests_starting(&pod, "POST ").len(),
        2,
        "{}",
        everything(&output)
    );
    assert_eq!(requests_starting(&pod, "PUT "), Vec::<String>::new());
    let state = ws.load_state();
    assert!(state.get("n1").is_some() && state.get("x9").is_none());
}

// ---------------------------------------------------------------------------
// Credentials echoed by the pod or a proxy are never shown
// ---------------------------------------------------------------------------

/// A session token the tests below give groupsync, long enough to be unmistakable.
const ECHOED_TOKEN: &str = "echoed-session-token-0123456789abcdef";

/// Asserts that none of `secrets` appears in what groupsync printed.
#[track_caller]
fn assert_never_shown(output: &Output, secrets: &[&str]) {
    let text = everything(output);
    for secret in secrets {
        assert!(!text.contains(secret), "{secret:?} was shown:\n{text}");
    }
}

/// A pod answering every request with an error that quotes the request's
/// `sessionToken` header: a 500 with it in the JSON message, or a 400 with a
/// plain-text body listing every header it got.
fn echoing_pod(status: &'static str) -> RawServer {
    RawServer::start(move |request, stream| {
        drain_request_body(request, stream);
        let token = request.header("sessiontoken").unwrap_or("none");
        if status.starts_with("500") {
            let body =
                json!({"code": 500, "message": format!("session {token} is not valid upstream")});
            write_answer(
                stream,
                status,
                &[("Content-Type", "application/json")],
                &body.to_string(),
            );
        } else {
            let echoed: Vec<String> = request
                .headers
                .iter()
                .map(|(name, value)| format!("{name}: {value}"))
                .collect();
            let body = format!("Bad request. You sent:\n{}\n", echoed.join("\n"));
            write_answer(stream, status, &[("Content-Type", "text/plain")], &body);
        }
    })
}

#[test]
fn a_session_token_echoed_in_an_error_answer_is_never_shown() {
    for status in ["500 Internal Server Error", "400 Bad Request"] {
        let ws = Workspace::new();
        ws.write_group_file("a1.yaml", "id: a1\narea: EMEA\n");
        let pod = echoing_pod(status);
        write_config(&ws, &format!("{}/pod", pod.origin()), "");
        for args in [
            &["plan", "--log-level", "trace"][..],
            &["plan", "--format", "json", "--log-level", "trace"][..],
        ] {
            let output = configured_groupsync(&ws, args)
                .env("GROUPSYNC_SESSION_TOKEN", ECHOED_TOKEN)
                .output()
                .unwrap();

            assert_exit(&output, 1);
            assert_never_shown(&output, &[ECHOED_TOKEN]);
            assert!(
                everything(&output).contains("<redacted>"),
                "{status} {args:?}: {}",
                everything(&output)
            );
        }
        assert!(
            pod.requests()
                .iter()
                .all(|seen| seen.header("sessiontoken") == Some(ECHOED_TOKEN)),
            "the pod did not get the token it echoes"
        );
    }
}

#[test]
fn a_session_token_issued_by_the_bot_login_and_echoed_is_never_shown() {
    const ISSUED: &str = "issued-by-login-fedcba9876543210";
    let pod = RawServer::start(|request, stream| {
        drain_request_body(request, stream);
        let json = [("Content-Type", "application/json")];
        if request.line.starts_with("POST /login/pubkey/authenticate ") {
            let body = json!({"name": "sessionToken", "token": ISSUED});
            write_answer(stream, "200 OK", &json, &body.to_string());
        } else {
            let token = request.header("sessiontoken").unwrap_or("none");
            let body = json!({"code": 500, "message": format!("token {token} refused upstream")});
            write_answer(
                stream,
                "500 Internal Server Error",
                &json,
                &body.to_string(),
            );
        }
    });
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\narea: EMEA\n");
    let key = ws.fixture("bot-key.pem", 0o600);
    write_config(
        &ws,
        &format!("{}/pod", pod.origin()),
        &bot_auth(&key, &pod.origin()),
    );

    for args in [&["plan"][..], &["plan", "--format", "json"][..]] {
        let output = configured_groupsync(&ws, args)
            .env_remove("GROUPSYNC_SESSION_TOKEN")
            .output()
            .unwrap();

        assert_exit(&output, 1);
        assert_never_shown(&output, &[ISSUED]);
    }
    assert!(
        requests_starting(&pod, "POST /login/").len() >= 2,
        "the bot did not log in"
    );
}

/// A proxy refusing every request with a page that quotes every header it
/// got (`Proxy-Authorization` and `sessionToken` included) and the
/// password it was given, as some proxies' error pages do.
fn echoing_proxy(password: &'static str) -> RawServer {
    RawServer::start(move |request, stream| {
        drain_request_body(request, stream);
        let echoed: Vec<String> = request
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}"))
            .collect();
        let body = format!(
            "<html><body>Access denied for password {password}. Request: {} {}</body></html>",
            request.line,
            echoed.join("; ")
        );
        write_answer(
            stream,
            "502 Bad Gateway",
            &[("Content-Type", "text/html")],
            &body,
        );
    })
}

/// A host that never resolves (RFC 6761): reached only through a proxy.
const UNRESOLVABLE: &str = "pod.groupsync-test.invalid";

#[test]
fn a_proxy_password_echoed_in_an_error_answer_is_never_shown() {
    const PASSWORD: &str = "pr0xy-pa55word";
    // base64("gs:pr0xy-pa55word"), as `Proxy-Authorization: Basic` carries it.
    const BASIC: &str = "Z3M6cHIweHktcGE1NXdvcmQ=";
    let pod_url = format!("http://{UNRESOLVABLE}/pod");

    let from_config = echoing_proxy(PASSWORD);
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\narea: EMEA\n");
    let proxy_url = format!("http://gs:{PASSWORD}@{}", from_config.address);
    write_config(&ws, &pod_url, &format!("proxy: {{url: \"{proxy_url}\"}}\n"));
    let output = configured_groupsync(&ws, &["plan", "--format", "json"])
        .env("GROUPSYNC_SESSION_TOKEN", ECHOED_TOKEN)
        .output()
        .unwrap();
    assert_exit(&output, 1);
    assert_never_shown(&output, &[PASSWORD, BASIC, ECHOED_TOKEN]);
    let seen = from_config.requests();
    assert!(
        seen.iter()
            .any(|request| request.header("proxy-authorization") == Some(&format!("Basic {BASIC}"))),
        "the proxy never got the password it echoes: {seen:?}"
    );

    let from_env = echoing_proxy(PASSWORD);
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\narea: EMEA\n");
    write_config(&ws, &pod_url, "");
    let output = configured_groupsync(&ws, &["plan"])
        .env("GROUPSYNC_SESSION_TOKEN", ECHOED_TOKEN)
        .env(
            "HTTP_PROXY",
            format!("http://gs:{PASSWORD}@{}", from_env.address),
        )
        .output()
        .unwrap();
    assert_exit(&output, 1);
    assert_never_shown(&output, &[PASSWORD, BASIC, ECHOED_TOKEN]);
    assert!(!from_env.requests().is_empty(), "HTTP_PROXY was not used");
}

#[test]
fn the_daemons_plan_page_never_shows_an_echoed_session_token() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\narea: EMEA\n");
    let pod = echoing_pod("500 Internal Server Error");
    // The daemon's harness wants an emulator; the raw pod replaces it.
    let unused = token_pod(vec![]);
    let metrics = write_daemon_config(&ws, true, "dry_run: true\n");
    let mut daemon = Daemon::start_with(&ws, &unused, metrics, &[], |command| {
        command
            .env("GROUPSYNC_POD_URL", format!("{}/pod", pod.origin()))
            .env("GROUPSYNC_SESSION_TOKEN", ECHOED_TOKEN);
    });
    daemon.wait_cycles("failure", 1.0);

    for path in ["/plan", "/plan.json"] {
        let (status, body) = daemon.http_get(path).expect("the plan page answers");
        assert_eq!(status, 503, "{path}: {body}");
        assert!(!body.contains(ECHOED_TOKEN), "{path}: {body}");
    }
    daemon.stop();
    assert!(
        !daemon.output().contains(ECHOED_TOKEN),
        "{}",
        daemon.output()
    );
}

// ---------------------------------------------------------------------------
// Users lookups the pod got wrong are the pod's fault, not the YAML's
// ---------------------------------------------------------------------------

/// A pod holding group a1 with no members, answering the users lookup with `users`.
fn pod_answering_users_with(users: Value) -> RawServer {
    scripted_pod(move |method, target| {
        let group =
            json!({"id": "a1", "name": "A", "area": "EMEA", "type": "ROLE_SCOPE", "active": true});
        match (method, target) {
            ("GET", "/pod/v2/admin/usergroups/a1") => ("200 OK", group.to_string()),
            ("GET", target) if target.starts_with("/pod/v2/admin/usergroups/a1/memberships?") => {
                ("200 OK", page(&[]))
            }
            ("GET", target) if target.starts_with("/pod/v3/users?") => {
                ("200 OK", users.to_string())
            }
            _ => not_found(),
        }
    })
}

#[test]
fn a_users_answer_of_the_wrong_shape_blames_the_pod_not_the_yaml() {
    for answer in [
        json!([]),
        json!({"nope": 1}),
        json!({"users": {"alice": 1}}),
    ] {
        let ws = Workspace::new();
        ws.write_group_file("a1.yaml", "id: a1\nmembers: [alice, bob]\n");
        let pod = pod_answering_users_with(answer.clone());
        write_config(&ws, &format!("{}/pod", pod.origin()), "");

        let output = run_configured(&ws, &["apply"]);

        assert_exit(&output, 1);
        let text = everything(&output);
        assert!(!text.contains("has no user"), "{answer}: {text}");
        assert!(
            text.contains("/v3/users") && text.contains("unexpected answer from the pod"),
            "{answer}: {text}"
        );
        assert_eq!(requests_starting(&pod, "PUT "), Vec::<String>::new());
    }
}

#[test]
fn user_ids_no_pod_can_mean_are_never_put() {
    let impossible = [json!(-5), json!(0), json!(i64::MAX), json!("7")];
    for id in impossible {
        let ws = Workspace::new();
        ws.write_group_file("a1.yaml", "id: a1\nmembers: [alice]\n");
        let users = json!({"users": [{"id": id, "username": "alice"}], "errors": []});
        let pod = pod_answering_users_with(users);
        write_config(&ws, &format!("{}/pod", pod.origin()), "");

        let output = run_configured(&ws, &["apply"]);

        assert_exit(&output, 1);
        assert_eq!(
            requests_starting(&pod, "PUT "),
            Vec::<String>::new(),
            "{id}: {}",
            everything(&output)
        );
        let text = everything(&output);
        assert!(
            text.contains("/v3/users") && !text.contains("has no user"),
            "{id}: {text}"
        );
    }
}

#[test]
fn a_username_answered_with_two_ids_is_the_pods_fault() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\nmembers: [alice]\n");
    let users = json!({"users": [
        {"id": 1001, "username": "alice"},
        {"id": 1002, "username": "alice"},
    ], "errors": []});
    let pod = pod_answering_users_with(users);
    write_config(&ws, &format!("{}/pod", pod.origin()), "");

    let output = run_configured(&ws, &["apply"]);

    assert_exit(&output, 1);
    assert_eq!(requests_starting(&pod, "PUT "), Vec::<String>::new());
    let text = everything(&output);
    assert!(
        text.contains("/v3/users") && text.contains("\"alice\"") && text.contains("1001"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------
// A refused bot login is the login's failure, not a missing read right
// ---------------------------------------------------------------------------

/// The `auth` section of a bot logging in at `{origin}/login` with the key at `key`.
fn bot_auth(key: &std::path::Path, origin: &str) -> String {
    format!(
        "auth:\n  bot_username: groupsync-bot\n  private_key_file: \"{}\"\n  login_url: \"{origin}/login\"\n",
        key.display()
    )
}

#[test]
fn a_bot_login_refused_with_403_fails_the_cycle_with_the_logins_own_words() {
    let pod = scripted_pod(|method, target| match (method, target) {
        ("POST", "/login/pubkey/authenticate") => {
            let body = json!({"code": 403, "message": "the bot account is disabled"});
            ("403 Forbidden", body.to_string())
        }
        _ => ("200 OK", page(&[])),
    });
    for group in ["id: a1\narea: EMEA\n", "name: New rates\narea: EMEA\n"] {
        let ws = Workspace::new();
        ws.write_group_file("a.yaml", group);
        let key = ws.fixture("bot-key.pem", 0o600);
        write_config(
            &ws,
            &format!("{}/pod", pod.origin()),
            &bot_auth(&key, &pod.origin()),
        );

        let output = configured_groupsync(&ws, &["plan"])
            .env_remove("GROUPSYNC_SESSION_TOKEN")
            .output()
            .unwrap();

        assert_exit(&output, 1);
        let text = everything(&output);
        assert!(
            text.contains("the bot account is disabled") && text.contains("bot login"),
            "{group}: {text}"
        );
        assert!(!text.contains("VIEW_ROLE_SCOPES"), "{group}: {text}");
        assert!(!text.contains("cannot read groups"), "{group}: {text}");
    }
    assert!(
        requests_starting(&pod, "GET ").is_empty(),
        "a group was read without a session"
    );
}

/// A PUT the pod takes (a 2xx) is journaled even when its answer cannot be
/// used: about another group, not JSON at all, or a list write answered
/// with an empty body. The group's own write fails; nothing is recorded in
/// the snapshot from an answer groupsync cannot believe.
#[test]
fn a_write_the_pod_took_is_journaled_whatever_its_answer_says() {
    let group = |id: &str| json!({"id": id, "name": id, "area": "OLD", "type": "ROLE_SCOPE"});
    let pod = scripted_pod(move |method, target| {
        match (method, target.split('?').next().unwrap_or_default()) {
            ("GET", "/pod/v2/admin/usergroups/a1") => ("200 OK", group("a1").to_string()),
            ("GET", "/pod/v2/admin/usergroups/b2") => ("200 OK", group("b2").to_string()),
            ("GET", "/pod/v2/admin/usergroups/c3") => ("200 OK", group("c3").to_string()),
            ("GET", "/pod/v2/admin/usergroups/c3/memberships") => ("200 OK", page(&[])),
            ("GET", "/pod/v3/users") => (
                "200 OK",
                json!({"users": [{"id": 7, "username": "alice"}]}).to_string(),
            ),
            // No group of the new one's name yet.
            ("GET", "/pod/v2/admin/usergroups") => ("200 OK", page(&[])),
            // Another group's answer, then an HTML page, then an empty body;
            // the POST's answer is an HTML page too.
            ("PUT", "/pod/v2/admin/usergroups/a1") => ("200 OK", group("zz").to_string()),
            ("PUT", "/pod/v2/admin/usergroups/b2") => ("200 OK", "<html>ok</html>".to_string()),
            ("PUT", "/pod/v2/admin/usergroups/c3/memberships/7") => ("200 OK", String::new()),
            ("POST", "/pod/v2/admin/usergroups") => {
                ("201 Created", "<html>made</html>".to_string())
            }
            _ => not_found(),
        }
    });
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\narea: NEW\n");
    ws.write_group_file("b2.yaml", "id: b2\narea: NEW\n");
    ws.write_group_file("c3.yaml", "id: c3\narea: OLD\nmembers: [alice]\n");
    ws.write_group_file("new.yaml", "name: New desk\n");
    write_config(&ws, &format!("{}/pod", pod.origin()), "");

    let output = configured_groupsync(&ws, &["apply"]).output().unwrap();
    assert_exit(&output, 1);
    let journal = std::fs::read_to_string(ws.path().join("state.journal.jsonl")).unwrap();
    let records: Vec<Value> = journal
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let record = |group: &str| {
        records
            .iter()
            .find(|record| record["group_id"] == group)
            .unwrap_or_else(|| panic!("no record of {group}: {journal}"))
    };
    for group in ["a1", "b2"] {
        assert_eq!(record(group)["status"], 200, "{journal}");
        assert!(
            record(group)["after"]["unusable_answer"].is_string(),
            "{journal}"
        );
    }
    assert_eq!(record("c3")["kind"], "membership");
    assert_eq!(record("c3")["after"]["active"], true);
    let posts: Vec<&Value> = records
        .iter()
        .filter(|record| record["request"]["method"] == "POST")
        .collect();
    let [post] = posts[..] else {
        panic!("one POST, sent once: {journal}")
    };
    assert_eq!(post["status"], 201, "{journal}");
    assert!(post["after"]["unusable_answer"].is_string(), "{journal}");
    assert_eq!(records.len(), 4, "{journal}");
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.state_file()).unwrap()).unwrap();
    for group in ["a1", "b2"] {
        assert_ne!(
            state["groups"][group]["pod"]["area"], "NEW",
            "an answer not believed is not recorded: {state}"
        );
    }
}
