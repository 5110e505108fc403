//! The daemon's HTTP endpoints through the real binary and real TCP on
//! 127.0.0.1: many slow readers of a large plan, a slowloris of half-open
//! connections, who may read the plan (a bearer token, or a loopback
//! listener), and the series a healthy daemon's first scrape shows.
//!
//! Nothing here asserts how long something took. Where a probe must answer
//! "while" a load holds the listener, its patience is generous but shorter
//! than the time the server itself would take to free a connection (its
//! header timeout, 5 s a batch, or a connection's lifetime, 60 s): a server
//! that only answers once those have run out fails.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use serde::Deserialize;

use crate::util::*;

/// How long a probe may wait while a load holds the listener: ample for an
/// answer that takes milliseconds, short of a connection's 60 s lifetime.
const PROBE_PATIENCE: Duration = Duration::from_secs(20);

/// `GET path` on `address`, waiting up to [`PROBE_PATIENCE`].
fn probe(address: SocketAddr, path: &str) -> Option<HttpAnswer> {
    http_get_with(address, path, &[], PROBE_PATIENCE)
}

// ---------------------------------------------------------------------------
// Many slow readers of a large plan
// ---------------------------------------------------------------------------

/// Groups, each with a description of [`DESCRIPTION_BYTES`] that the pod
/// does not have yet: a plan of several megabytes, larger than what the
/// kernel buffers of a connection hold.
const LARGE_GROUPS: usize = 16;
const DESCRIPTION_BYTES: usize = 256 * 1024;

/// Slow readers at once: as many as the connections the server used to
/// serve in all.
const READERS: usize = 64;

/// A dry-run daemon whose plan is several megabytes, its first cycle done.
fn daemon_with_a_large_plan(ws: &Workspace) -> (PodFixture, Daemon) {
    let words = "compliance scope ".repeat(DESCRIPTION_BYTES / 17);
    let mut pod_groups = Vec::new();
    for index in 0..LARGE_GROUPS {
        let id = format!("g{index:02}");
        ws.write_group_file(
            &format!("{id}.yaml"),
            format!("id: {id}\nname: Group {index}\ndescription: {id} {words}\n"),
        );
        pod_groups.push(
            PodGroup::new(&id)
                .name(format!("Group {index}"))
                .description("old")
                .build(),
        );
    }
    let pod = token_pod(pod_groups);
    seed_state(ws, &pod);
    let metrics = write_daemon_config(ws, true, "dry_run: true\n");
    let mut daemon = Daemon::start(ws, &pod, metrics, &[]);
    daemon.wait_cycles("success", 1.0);
    (pod, daemon)
}

/// Reads one answer's head and the start of its body, then waits at `paused`
/// (a reader that has stopped reading, its connection held), then at
/// `resume`, then reads the rest a slice at a time. Returns the answer.
fn slow_reader(address: SocketAddr, path: &str, paused: &Barrier, resume: &Barrier) -> HttpAnswer {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: groupsync\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut received = Vec::new();
    let mut slice = [0u8; 4096];
    while !received.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut slice).expect("the head of the answer");
        assert!(read > 0, "closed before the head");
        received.extend_from_slice(&slice[..read]);
    }
    paused.wait();
    resume.wait();
    loop {
        let read = stream.read(&mut slice).expect("the rest of the answer");
        if read == 0 {
            break;
        }
        received.extend_from_slice(&slice[..read]);
    }
    parse_answer(&received)
}

#[test]
fn many_slow_readers_get_the_same_whole_plan_while_healthz_answers() {
    let ws = Workspace::new();
    let (_pod, mut daemon) = daemon_with_a_large_plan(&ws);
    let address = daemon.metrics_address();
    let paused = Arc::new(Barrier::new(READERS + 1));
    let resume = Arc::new(Barrier::new(READERS + 1));
    let readers: Vec<_> = (0..READERS)
        .map(|index| {
            let (paused, resume) = (paused.clone(), resume.clone());
            let path = if index % 2 == 0 {
                "/plan"
            } else {
                "/plan.json"
            };
            std::thread::spawn(move || slow_reader(address, path, &paused, &resume))
        })
        .collect();

    // Every reader has its answer started and holds its connection.
    paused.wait();
    let healthz = probe(address, "/healthz");
    let readyz = probe(address, "/readyz");
    resume.wait();
    let answers: Vec<HttpAnswer> = readers
        .into_iter()
        .map(|reader| reader.join().expect("a reader"))
        .collect();

    let healthz = healthz.expect("/healthz answers while the readers hold their connections");
    assert_eq!((healthz.status, healthz.body.as_str()), (200, "ok"));
    let readyz = readyz.expect("/readyz answers too");
    assert_eq!(readyz.status, 200, "{}", readyz.body);
    let text = daemon.get_with("/plan", &[]).expect("/plan answers");
    let json = daemon
        .get_with("/plan.json", &[])
        .expect("/plan.json answers");
    assert!(
        text.body.len() > LARGE_GROUPS * DESCRIPTION_BYTES,
        "a plan of {} bytes",
        text.body.len()
    );
    for (index, answer) in answers.iter().enumerate() {
        let expected = if index % 2 == 0 { &text } else { &json };
        assert_eq!(answer.status, 200, "reader {index}: {}", answer.body);
        assert!(
            answer.body == expected.body,
            "reader {index} got {} bytes of {}",
            answer.body.len(),
            expected.body.len()
        );
    }
    daemon.assert_running();
    daemon.stop();
}

// ---------------------------------------------------------------------------
// A slowloris: half-open connections from one client
// ---------------------------------------------------------------------------

/// Half-open connections: fewer than the server holds at once (128), more
/// than it used to serve in all (64).
const HALF_OPEN_WITHIN_THE_CAP: usize = 120;
/// Far more than the server holds at once.
const HALF_OPEN_PAST_THE_CAP: usize = 600;

/// `count` connections, each having sent the start of a request line.
fn half_open(address: SocketAddr, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|_| {
            let mut stream = TcpStream::connect(address).expect("connect");
            stream.write_all(b"GET /metrics HT").unwrap();
            stream
        })
        .collect()
}

/// Whether the server has not closed `stream` (it sends nothing on a half-open one).
fn still_open(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let open = matches!(
        stream.peek(&mut [0u8; 1]),
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock
    );
    stream.set_nonblocking(false).unwrap();
    open
}

#[test]
fn healthz_and_readyz_answer_while_half_open_connections_hold_the_listener() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\narea: EMEA\n");
    let pod = token_pod(vec![PodGroup::new("a1").area("EMEA").build()]);
    let metrics = write_daemon_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_ready();
    let address = daemon.metrics_address();

    // The probes are answered while every half-open connection is still
    // held: not once the server's header timeout has closed some of them.
    let held = half_open(address, HALF_OPEN_WITHIN_THE_CAP);
    let healthz = probe(address, "/healthz").expect("/healthz answers");
    let readyz = probe(address, "/readyz").expect("/readyz answers");
    let closed = held.iter().filter(|stream| !still_open(stream)).count();
    assert_eq!((healthz.status, healthz.body.as_str()), (200, "ok"));
    assert_eq!((readyz.status, readyz.body.as_str()), (200, "ready"));
    assert_eq!(
        closed, 0,
        "the probes were answered only once the server had closed {closed} half-open connections"
    );
    drop(held);

    // Past the cap, the oldest half-open connections make room for the probes.
    let held = half_open(address, HALF_OPEN_PAST_THE_CAP);
    let healthz = probe(address, "/healthz");
    let readyz = probe(address, "/readyz");
    drop(held);
    let healthz = healthz.expect("/healthz answers past the cap");
    assert_eq!((healthz.status, healthz.body.as_str()), (200, "ok"));
    let readyz = readyz.expect("/readyz answers past the cap");
    assert_eq!((readyz.status, readyz.body.as_str()), (200, "ready"));
    daemon.assert_running();
    daemon.stop();
}

// ---------------------------------------------------------------------------
// Who may read the plan
// ---------------------------------------------------------------------------

const PLAN_TOKEN: &str = "s3cret-plan-token";

fn daemon_with_a_plan(ws: &Workspace, extra: &str) -> (PodFixture, Daemon) {
    ws.write_group_file("a1.yaml", "id: a1\narea: EMEA\n");
    let pod = token_pod(vec![PodGroup::new("a1").area("OLD").build()]);
    seed_state(ws, &pod);
    let metrics = write_daemon_config(ws, true, &format!("dry_run: true\n{extra}"));
    let mut daemon = Daemon::start(ws, &pod, metrics, &[]);
    daemon.wait_cycles("success", 1.0);
    (pod, daemon)
}

#[test]
fn on_a_loopback_listener_without_a_token_the_plan_is_open() {
    let ws = Workspace::new();
    let (_pod, mut daemon) = daemon_with_a_plan(&ws, "");
    for path in ["/plan", "/plan.json"] {
        let answer = daemon.get_with(path, &[]).expect("the plan answers");
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        assert!(answer.body.contains("a1"), "{path}: {}", answer.body);
    }
    daemon.stop();
}

#[test]
fn with_plan_token_file_the_plan_needs_the_bearer_token_and_the_rest_stays_open() {
    let ws = Workspace::new();
    ws.write_file("plan-token", format!("{PLAN_TOKEN}\n"));
    let (_pod, mut daemon) = daemon_with_a_plan(&ws, "plan_token_file: plan-token\n");

    for path in ["/metrics", "/healthz", "/readyz"] {
        let answer = daemon.get_with(path, &[]).expect("answers");
        assert_eq!(answer.status, 200, "{path} needs no token: {}", answer.body);
    }
    let right = format!("Bearer {PLAN_TOKEN}");
    let wrong = format!("Bearer {PLAN_TOKEN}x");
    for path in ["/plan", "/plan.json"] {
        for headers in [vec![], vec![("Authorization", wrong.as_str())]] {
            let answer = daemon.get_with(path, &headers).expect("answers");
            assert_eq!(answer.status, 401, "{path} {headers:?}: {}", answer.body);
            assert!(
                (answer.header("www-authenticate"))
                    .is_some_and(|value| value.starts_with("Bearer")),
                "{path}: {:?}",
                answer.headers
            );
            assert!(!answer.body.contains(PLAN_TOKEN), "{}", answer.body);
        }
        let answer =
            (daemon.get_with(path, &[("Authorization", right.as_str())])).expect("answers");
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        assert!(answer.body.contains("a1"), "{path}: {}", answer.body);
    }
    daemon.stop();
    assert!(
        !daemon.output().contains(PLAN_TOKEN),
        "the token is never logged\n{}",
        daemon.output()
    );
}

#[test]
fn a_plan_token_file_that_cannot_be_read_stops_the_start_naming_the_file() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\narea: EMEA\n");
    let pod = token_pod(vec![PodGroup::new("a1").area("EMEA").build()]);
    ws.write_file("empty-token", "\n");
    for (file, problem) in [
        ("missing-token", "cannot read it"),
        ("empty-token", "empty"),
    ] {
        let metrics = write_daemon_config(&ws, true, &format!("plan_token_file: {file}\n"));
        let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
        let status = daemon.wait_exit();
        assert_eq!(status.code(), Some(1), "{}", daemon.output());
        // The path as the config file gives it, relative to the config file's folder.
        let expected = format!("plan_token_file {file}: {problem}");
        let stderr = daemon.stderr();
        assert!(stderr.contains(&expected), "{stderr}");
    }
}

/// The Kubernetes example listens on every address, so it sets
/// `plan_token_file` to a key of the credentials Secret, mounted as a file.
#[test]
fn the_kubernetes_example_serves_the_plan_behind_a_token_from_its_secret() {
    let document = |name: &str| -> serde_json::Value {
        serde_yaml::from_str(&repo_text(&format!("examples/kubernetes/{name}"))).unwrap()
    };
    let configmap = document("configmap.yaml");
    let config: serde_json::Value =
        serde_yaml::from_str(configmap["data"]["groupsync.yaml"].as_str().unwrap()).unwrap();
    assert!(
        config["metrics_listen"]
            .as_str()
            .unwrap()
            .starts_with("0.0.0.0:")
    );
    let token_file = Path::new(config["plan_token_file"].as_str().expect("plan_token_file"));
    let deployment = document("deployment.yaml");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let mounted = (container["volumeMounts"].as_array().unwrap().iter())
        .find(|mount| mount["name"] == "credentials")
        .and_then(|mount| mount["mountPath"].as_str())
        .expect("the credentials are mounted");
    assert_eq!(token_file.parent(), Some(Path::new(mounted)));
    let key = token_file.file_name().unwrap().to_str().unwrap();
    let secret = document("secret.example.yaml");
    assert!(
        secret["stringData"][key].is_string(),
        "the Secret has no {key}"
    );
    for (name, text) in [
        (
            "kustomization.yaml",
            repo_text("examples/kubernetes/kustomization.yaml"),
        ),
        ("deployment.md", repo_text("docs/deployment.md")),
    ] {
        assert!(
            text.contains(&format!("--from-file={key}=")),
            "{name} does not create the Secret's {key}"
        );
    }
    let alerts = repo_text("examples/monitoring/alerts.yaml");
    assert!(
        alerts.contains("Authorization: Bearer"),
        "the alert's curl sends the token"
    );
}

// ---------------------------------------------------------------------------
// The first scrape
// ---------------------------------------------------------------------------

/// What a PromQL expression asks of one metric: its name, the labels a
/// selector pins (`state="pending"`), and those an aggregation groups by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Wanted {
    name: String,
    pinned: BTreeMap<String, String>,
    grouped_by: BTreeSet<String>,
}

/// The `groupsync_*` metrics an expression uses, with what it asks of each.
/// Regex and negative matchers (`instance=~"$instance"`) pin nothing.
fn wanted_in(expression: &str) -> Vec<Wanted> {
    let grouped_by: BTreeSet<String> = expression
        .match_indices("by (")
        .flat_map(|(at, _)| {
            let rest = &expression[at + 4..];
            rest[..rest.find(')').expect("by (...)")]
                .split(',')
                .map(|label| label.trim().to_string())
                .collect::<Vec<_>>()
        })
        .filter(|label| label != "le")
        .collect();
    let mut wanted = Vec::new();
    let mut rest = expression;
    while let Some(start) = rest.find("groupsync_") {
        let name: String = rest[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[start + name.len()..];
        let mut pinned = BTreeMap::new();
        if let Some(selector) = rest.strip_prefix('{') {
            let selector = &selector[..selector.find('}').expect("a closed selector")];
            for matcher in selector.split(',') {
                if let Some((label, value)) = matcher.split_once("=\"")
                    && !label.ends_with(['!', '=', '~'])
                {
                    pinned.insert(
                        label.trim().to_string(),
                        value.trim_end_matches('"').to_string(),
                    );
                }
            }
        }
        wanted.push(Wanted {
            name,
            pinned,
            grouped_by: grouped_by.clone(),
        });
    }
    wanted
}

fn repo_text(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Every PromQL expression of the shipped alert rules and dashboard.
fn shipped_expressions() -> Vec<(String, String)> {
    #[derive(Deserialize)]
    struct Rules {
        groups: Vec<RuleGroup>,
    }
    #[derive(Deserialize)]
    struct RuleGroup {
        rules: Vec<Rule>,
    }
    #[derive(Deserialize)]
    struct Rule {
        alert: String,
        expr: String,
    }
    fn queries(value: &serde_json::Value, found: &mut Vec<(String, String)>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("expr", serde_json::Value::String(query)) => {
                            found.push(("the dashboard".to_string(), query.clone()))
                        }
                        _ => queries(value, found),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|item| queries(item, found)),
            _ => {}
        }
    }
    let rules: Rules = serde_yaml::from_str(&repo_text("examples/monitoring/alerts.yaml")).unwrap();
    let mut found: Vec<(String, String)> = (rules.groups.into_iter())
        .flat_map(|group| group.rules)
        .map(|rule| (format!("alert {}", rule.alert), rule.expr))
        .collect();
    let dashboard: serde_json::Value =
        serde_json::from_str(&repo_text("examples/monitoring/grafana-dashboard.json")).unwrap();
    queries(&dashboard, &mut found);
    found
}

#[test]
fn the_wanted_series_are_read_from_promql() {
    let wanted = wanted_in(
        "sum by (method, code) (rate(groupsync_pod_requests_total{instance=~\"$i\",state=\"failed\"}[5m])) / groupsync_x",
    );
    assert_eq!(wanted.len(), 2);
    assert_eq!(wanted[0].name, "groupsync_pod_requests_total");
    assert_eq!(
        wanted[0].pinned,
        BTreeMap::from([("state".to_string(), "failed".to_string())])
    );
    assert_eq!(
        wanted[0].grouped_by,
        BTreeSet::from(["method".to_string(), "code".to_string()])
    );
}

#[test]
fn a_healthy_daemons_first_scrape_has_every_series_the_alerts_and_dashboard_use() {
    let expressions = shipped_expressions();
    assert!(expressions.len() >= 15, "{expressions:#?}");
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\narea: EMEA\n");
    let pod = token_pod(vec![PodGroup::new("a1").area("EMEA").build()]);
    let metrics = write_daemon_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    let samples = daemon.first_scrape();

    for (place, expression) in &expressions {
        let wanted = wanted_in(expression);
        assert!(
            !wanted.is_empty(),
            "{place} uses no groupsync metric: {expression}"
        );
        for want in wanted {
            let found = samples.iter().any(|sample| {
                sample.name == want.name
                    && (want.pinned.iter())
                        .all(|(label, value)| sample.labels.get(label) == Some(value))
                    && (want.grouped_by.iter()).all(|label| sample.labels.contains_key(label))
            });
            assert!(
                found,
                "{place} asks for {want:?}, which the first scrape lacks: {expression}\n{samples:#?}"
            );
        }
    }
    daemon.stop();
}
