//! `groupsync run`, the daemon, through the real binary: real files under a
//! temporary `groups.d/`, real signals (`kill`), the pod emulator over
//! 127.0.0.1, `/metrics` and the health endpoints over real HTTP, and a fake
//! systemd notify socket.
//!
//! Every daemon runs with `debounce: 100ms` and `interval: 1h`, so that only
//! its start, file changes and SIGHUP trigger cycles. Tests wait for
//! conditions with a deadline (never assert how long something took), and a
//! [`Daemon`] guard kills its process when a test fails.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use groupsync::emulator::{EmulatorConfig, Entitlements, RecordedRequest};
use groupsync::model::UserGroupResponse;
use groupsync::pipeline::state::StateFile;
use serde_json::{Value, json};

use crate::util::*;

/// The session token the emulator accepts.
const TOKEN: &str = "daemon-test-token";
/// How long a test waits for something that should take milliseconds (a guard against hanging, not a speed check).
const PATIENCE: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------
// The pod and the tree
// ---------------------------------------------------------------------------

fn group(id: &str, name: &str, area: &str, description: &str) -> UserGroupResponse {
    pod_group(id, name, area, description, true)
}

/// The pod before: [`EMEA`] changes a1's area, [`OTHERS`] changes b2's description; c3 is in sync.
fn seed() -> Vec<UserGroupResponse> {
    vec![
        group("a1", "EMEA trading", "EMEA-old", "Traders in London"),
        group("b2", "APAC wealth", "APAC", "Singapore desk"),
        group("c3", "US research", "AMER", "Equity research"),
    ]
}

const EMEA: &str =
    "id: a1\nname: EMEA trading\narea: EMEA\ndescription: Traders in London\nactive: true\n";
const OTHERS: &str = "groups:\n  - id: b2\n    description: Singapore and Hong Kong desk\n  - id: c3\n    name: US research\n    area: AMER\n";
/// How many groups [`EMEA`] and [`OTHERS`] declare.
const DECLARED: usize = 3;

/// [`EMEA`] with a different description.
const EMEA_PARIS: &str = "id: a1\nname: EMEA trading\narea: EMEA\ndescription: Traders in London and Paris\nactive: true\n";

fn write_tree(ws: &Workspace) {
    ws.write_group_file("emea.yaml", EMEA);
    ws.write_group_file("more/others.yaml", OTHERS);
}

/// An emulator holding `groups` that accepts [`TOKEN`] with every entitlement.
fn token_pod(groups: Vec<UserGroupResponse>) -> PodFixture {
    PodFixture::start(EmulatorConfig {
        groups,
        session_tokens: vec![(TOKEN.into(), Entitlements::ALL)],
        ..Default::default()
    })
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}

/// The daemon's config file text: the workspace's tree and state file, quick
/// debounce and retries, no schedule to speak of, `/metrics` on `metrics`
/// (if any), then `extra`.
fn config_text(ws: &Workspace, metrics: Option<SocketAddr>, extra: &str) -> String {
    let mut text = format!(
        "groups_dir: \"{}\"\nstate_file: \"{}\"\ndebounce: 100ms\ninterval: 1h\n\
         retry: {{max_attempts: 4, initial_interval: 10ms, multiplier: 2, max_interval: 100ms}}\n",
        ws.groups_dir().display(),
        ws.state_file().display()
    );
    if let Some(address) = metrics {
        text.push_str(&format!("metrics_listen: \"{address}\"\n"));
    }
    text.push_str(extra);
    text
}

/// Writes `<workspace>/groupsync.yaml` (see [`config_text`]); returns the `/metrics` address.
fn write_config(ws: &Workspace, with_metrics: bool, extra: &str) -> Option<SocketAddr> {
    let metrics = with_metrics.then(|| SocketAddr::from(([127, 0, 0, 1], free_port())));
    replace_file(
        &ws.path().join("groupsync.yaml"),
        &config_text(ws, metrics, extra),
    );
    metrics
}

/// Replaces `path` as editors do: the new text goes to a temporary file
/// beside it (a dot file, which groupsync skips), then renamed over it.
fn replace_file(path: &Path, contents: &str) {
    let name = path.file_name().unwrap().to_string_lossy();
    let temp = path.with_file_name(format!(".{name}.new"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&temp, contents).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

/// Writes a state file recording every group the pod holds now, so that the
/// daemon reads nothing and its first pod calls are PUTs.
fn seed_state(ws: &Workspace, pod: &PodFixture) {
    ws.write_state(&pod.emulator.groups());
}

/// The group id a recorded PUT went to.
fn put_id(request: &RecordedRequest) -> String {
    request.path.strip_prefix(GROUP_PREFIX).unwrap().to_string()
}

/// Every PUT's group id and body, in arrival order.
fn put_log(pod: &PodFixture) -> Vec<(String, Value)> {
    pod.puts()
        .iter()
        .map(|put| (put_id(put), put.body.clone().expect("a JSON body")))
        .collect()
}

/// Polls `condition` every 25 ms until it holds; panics after `timeout`
/// (a guard against hanging, not a speed check).
#[track_caller]
fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "gave up after {timeout:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

// ---------------------------------------------------------------------------
// The daemon process
// ---------------------------------------------------------------------------

/// A spawned `groupsync run`; dropping it kills the process (SIGKILL) and reaps it.
struct Daemon {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    metrics: Option<SocketAddr>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// How to start a daemon: `groupsync run --config groupsync.yaml ARGS` in the
/// workspace, the pod and [`TOKEN`] in the environment, output to files.
fn daemon_command(
    ws: &Workspace,
    pod: &PodFixture,
    name: &str,
    args: &[&str],
) -> (Command, PathBuf, PathBuf) {
    let stdout = ws.path().join(format!("{name}.stdout"));
    let stderr = ws.path().join(format!("{name}.stderr"));
    let mut command = ws.groupsync_std();
    command
        .args(["run", "--config", "groupsync.yaml"])
        .args(args)
        .env("GROUPSYNC_POD_URL", pod.emulator.pod_url())
        .env("GROUPSYNC_SESSION_TOKEN", TOKEN)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap());
    (command, stdout, stderr)
}

impl Daemon {
    /// Starts `groupsync run ARGS` (see [`daemon_command`]), serving `/metrics` on `metrics`.
    fn start(
        ws: &Workspace,
        pod: &PodFixture,
        metrics: Option<SocketAddr>,
        args: &[&str],
    ) -> Daemon {
        Daemon::start_with(ws, pod, metrics, args, |_| {})
    }

    /// [`Daemon::start`], with `adjust` changing the command first (e.g. its environment).
    fn start_with(
        ws: &Workspace,
        pod: &PodFixture,
        metrics: Option<SocketAddr>,
        args: &[&str],
        adjust: impl FnOnce(&mut Command),
    ) -> Daemon {
        let (mut command, stdout, stderr) = daemon_command(ws, pod, "daemon", args);
        adjust(&mut command);
        let child = command.spawn().expect("spawn groupsync run");
        Daemon {
            child,
            stdout,
            stderr,
            metrics,
        }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap()
    }

    /// What the test failed on: the daemon's output.
    fn output(&self) -> String {
        format!("--- stdout\n{}--- stderr\n{}", self.stdout(), self.stderr())
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    #[track_caller]
    fn assert_running(&mut self) {
        assert!(self.is_running(), "the daemon exited\n{}", self.output());
    }

    /// `kill -NAME <pid>`.
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit (it is killed by the guard if it never does).
    #[track_caller]
    fn wait_exit(&mut self) -> ExitStatus {
        let mut status = None;
        wait_until("the daemon exits", PATIENCE, || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        status.unwrap()
    }

    /// SIGTERM, then the exit code must be 0.
    #[track_caller]
    fn stop(&mut self) {
        self.signal("TERM");
        let status = self.wait_exit();
        assert_eq!(
            status.code(),
            Some(0),
            "run exits 0 on SIGTERM\n{}",
            self.output()
        );
    }

    /// `GET path` on the metrics listener: status and body; `None` while nothing answers.
    /// Waits until `/readyz` answers 200.
    fn wait_ready(&self) {
        wait_until("/readyz answers 200", PATIENCE, || {
            self.http_get("/readyz")
                .is_some_and(|(status, _)| status == 200)
        });
    }

    fn http_get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.metrics.expect("this daemon serves /metrics"), path)
    }

    /// The parsed `/metrics`, or `None` while nothing answers.
    fn scrape(&self) -> Option<Vec<Sample>> {
        let (status, body) = self.http_get("/metrics")?;
        assert_eq!(status, 200, "/metrics answered {status}: {body}");
        Some(parse_openmetrics(&body))
    }

    /// The value of one series of `/metrics`, or `None` while nothing answers or the series is missing.
    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        value(&self.scrape()?, name, labels)
    }

    /// `groupsync_cycles_total{result}` (0 until `/metrics` answers).
    fn cycles(&self, result: &str) -> f64 {
        self.metric("groupsync_cycles_total", &[("result", result)])
            .unwrap_or(0.0)
    }

    /// Waits until `groupsync_cycles_total{result}` is at least `count`.
    #[track_caller]
    fn wait_cycles(&mut self, result: &str, count: f64) {
        let what = format!("groupsync_cycles_total{{result=\"{result}\"}} >= {count}");
        wait_until(&what, PATIENCE, || {
            assert!(self.is_running(), "the daemon exited\n{}", self.output());
            self.cycles(result) >= count
        });
    }

    /// Waits until a cycle has left every one of `declared` groups in sync.
    #[track_caller]
    fn wait_in_sync(&mut self, declared: usize) {
        wait_until("every declared group is in sync", PATIENCE, || {
            assert!(self.is_running(), "the daemon exited\n{}", self.output());
            let Some(samples) = self.scrape() else {
                return false;
            };
            let groups = |state| value(&samples, "groupsync_groups", &[("state", state)]);
            groups("in_sync") == Some(declared as f64)
                && groups("pending") == Some(0.0)
                && groups("failed") == Some(0.0)
        });
    }

    /// Waits until stderr contains `text`.
    #[track_caller]
    fn wait_stderr(&mut self, text: &str) {
        wait_until(&format!("stderr says {text:?}"), PATIENCE, || {
            self.stderr().contains(text)
        });
    }
}

/// A plain HTTP/1.1 GET over a fresh connection: status and body, or `None`
/// when the connection is refused (the daemon is not listening yet).
fn http_get(address: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("read the HTTP response");
    let response = String::from_utf8(response).expect("a UTF-8 response");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let chunked = head.lines().any(|line| {
        let line = line.to_ascii_lowercase();
        line.starts_with("transfer-encoding:") && line.contains("chunked")
    });
    let body = if chunked {
        unchunk(body)
    } else {
        body.to_string()
    };
    Some((status, body))
}

/// Decodes a chunked HTTP body.
fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16)
            .expect("a hex chunk size");
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

// ---------------------------------------------------------------------------
// OpenMetrics
// ---------------------------------------------------------------------------

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the OpenMetrics text exposition, panicking on anything malformed:
/// it ends with `# EOF`, every other line is a `# HELP|TYPE|UNIT` comment or
/// a sample `name{label="value",...} number`.
fn parse_openmetrics(text: &str) -> Vec<Sample> {
    assert!(
        text.ends_with("# EOF\n") || text.ends_with("# EOF"),
        "no `# EOF` at the end:\n{text}"
    );
    let mut samples = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        if *line == "# EOF" {
            assert_eq!(index, lines.len() - 1, "`# EOF` before the end:\n{text}");
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let kind = comment.split(' ').next().unwrap_or_default();
            assert!(
                ["HELP", "TYPE", "UNIT"].contains(&kind),
                "unexpected comment {line:?}"
            );
            continue;
        }
        samples.push(
            parse_sample(line)
                .unwrap_or_else(|| panic!("not an OpenMetrics sample: {line:?}\n{text}")),
        );
    }
    samples
}

fn parse_sample(line: &str) -> Option<Sample> {
    let is_name = |name: &str| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !name.starts_with(|c: char| c.is_ascii_digit())
    };
    let (series, value) = line.rsplit_once(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        number => number.parse().ok()?,
    };
    let (name, labels) = match series.split_once('{') {
        None => (series, BTreeMap::new()),
        Some((name, rest)) => {
            let mut rest = rest.strip_suffix('}')?;
            let mut labels = BTreeMap::new();
            while !rest.is_empty() {
                let (key, after_key) = rest.split_once("=\"")?;
                let (label, after_value) = after_key.split_once('"')?;
                if !is_name(key) || labels.insert(key.to_string(), label.to_string()).is_some() {
                    return None;
                }
                rest = match after_value.strip_prefix(',') {
                    Some(more) => more,
                    None if after_value.is_empty() => after_value,
                    None => return None,
                };
            }
            (name, labels)
        }
    };
    is_name(name).then(|| Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// The value of the series `name` with exactly `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    samples
        .iter()
        .find(|sample| sample.name == name && sample.labels == wanted)
        .map(|sample| sample.value)
}

// ---------------------------------------------------------------------------
// 1, 2. File changes
// ---------------------------------------------------------------------------

#[test]
fn a_file_replaced_by_rename_is_applied() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = token_pod(seed());
    let metrics = write_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);

    // The start cycle converges the tree.
    wait_until("the start cycle's 2 PUTs are answered", PATIENCE, || {
        pod.puts().iter().filter(|put| put.status == 200).count() >= 2
    });
    daemon.wait_in_sync(DECLARED);
    let at_start = put_log(&pod);
    assert_eq!(
        at_start.iter().cloned().collect::<BTreeMap<_, _>>(),
        BTreeMap::from([
            ("a1".to_string(), json!({"area": "EMEA"})),
            (
                "b2".to_string(),
                json!({"description": "Singapore and Hong Kong desk"})
            ),
        ]),
        "{}",
        daemon.output()
    );
    assert_eq!(at_start.len(), 2, "{at_start:?}");
    let cycles_before = daemon.cycles("success");

    // An editor saves emea.yaml with a new description: write a temporary file, rename it over.
    replace_file(&ws.groups_dir().join("emea.yaml"), EMEA_PARIS);
    wait_until("the PUT of the change arrives", PATIENCE, || {
        pod.put_count() > at_start.len()
    });
    daemon.wait_cycles("success", cycles_before + 1.0);
    daemon.wait_in_sync(DECLARED);

    let puts = put_log(&pod);
    assert_eq!(
        puts[at_start.len()..],
        [(
            "a1".to_string(),
            json!({"description": "Traders in London and Paris"})
        )],
        "exactly that PUT with exactly that body\n{}",
        daemon.output()
    );
    assert!(pod.puts().iter().all(|put| put.status == 200));
    assert_eq!(
        pod.emulator.group("a1").unwrap().description.as_deref(),
        Some("Traders in London and Paris")
    );
    daemon.assert_running();
    daemon.stop();
}

#[test]
fn a_configmap_style_symlink_swap_is_applied() {
    use std::os::unix::fs::symlink;
    let ws = Workspace::new();
    let dir = ws.groups_dir();
    // What the kubelet mounts: a timestamped folder, `..data` pointing at it, and a link per key.
    ws.write_group_file("..2026_a/emea.yaml", EMEA);
    symlink("..2026_a", dir.join("..data")).unwrap();
    symlink("..data/emea.yaml", dir.join("emea.yaml")).unwrap();
    // The next version's folder is there from the start, so that the swap alone (which
    // touches no `*.yaml` path) is what the daemon must notice.
    ws.write_group_file("..2026_b/emea.yaml", EMEA_PARIS);
    let pod = token_pod(seed());
    let metrics = write_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);

    wait_until("the start cycle's PUT arrives", PATIENCE, || {
        pod.put_count() >= 1
    });
    daemon.wait_in_sync(1);
    assert_eq!(
        put_log(&pod),
        [("a1".to_string(), json!({"area": "EMEA"}))],
        "{}",
        daemon.output()
    );

    // An update as the kubelet does it: a new link to the new folder, renamed over `..data`.
    symlink("..2026_b", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    wait_until("the PUT of the change arrives", PATIENCE, || {
        pod.put_count() >= 2
    });
    daemon.wait_in_sync(1);
    // Then it removes the old folder: nothing more to do.
    let cycles = daemon.cycles("success");
    std::fs::remove_dir_all(dir.join("..2026_a")).unwrap();
    daemon.wait_cycles("success", cycles + 1.0);
    daemon.wait_in_sync(1);
    assert_eq!(
        put_log(&pod)[1..],
        [(
            "a1".to_string(),
            json!({"description": "Traders in London and Paris"})
        )],
        "{}",
        daemon.output()
    );
    daemon.assert_running();
    daemon.stop();
}

// ---------------------------------------------------------------------------
// 3. An invalid file
// ---------------------------------------------------------------------------

#[test]
fn an_invalid_file_writes_nothing_and_unreadies_until_fixed() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = token_pod(seed());
    let metrics = write_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_in_sync(DECLARED);
    daemon.wait_ready();
    let puts_before = pod.put_count();
    assert_eq!(daemon.cycles("invalid"), 0.0);

    // A change that would need a PUT, with an unknown key: the whole tree is invalid.
    replace_file(
        &ws.groups_dir().join("emea.yaml"),
        &format!("{EMEA_PARIS}colour: red\n"),
    );
    daemon.wait_cycles("invalid", 1.0);
    assert_eq!(
        pod.put_count(),
        puts_before,
        "an invalid tree wrote to the pod\n{}",
        daemon.output()
    );
    let (status, body) = daemon.http_get("/readyz").expect("/readyz answers");
    assert_eq!(
        status, 503,
        "/readyz while the desired state is invalid: {body}"
    );
    daemon.assert_running();
    let (status, body) = daemon.http_get("/healthz").expect("/healthz answers");
    assert_eq!(
        status, 200,
        "/healthz while the desired state is invalid: {body}"
    );
    let stderr = daemon.stderr();
    assert!(
        stderr.contains("colour"),
        "the log names the problem:\n{stderr}"
    );

    // Fixed: it converges and is ready again.
    replace_file(&ws.groups_dir().join("emea.yaml"), EMEA_PARIS);
    wait_until("the PUT of the fix arrives", PATIENCE, || {
        pod.put_count() > puts_before
    });
    daemon.wait_in_sync(DECLARED);
    assert_eq!(
        put_log(&pod)[puts_before..],
        [(
            "a1".to_string(),
            json!({"description": "Traders in London and Paris"})
        )]
    );
    daemon.wait_ready();
    daemon.stop();
}

// ---------------------------------------------------------------------------
// 4. SIGHUP
// ---------------------------------------------------------------------------

#[test]
fn sighup_reloads_the_config_and_a_broken_one_is_refused() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = token_pod(seed());
    let metrics = write_config(&ws, true, "update_mode: minimal\n");
    let config = ws.path().join("groupsync.yaml");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_in_sync(DECLARED);
    assert_eq!(
        put_log(&pod).into_iter().collect::<BTreeMap<_, _>>()["a1"],
        json!({"area": "EMEA"}),
        "minimal at first"
    );
    assert_eq!(daemon.metric("groupsync_config_valid", &[]), Some(1.0));

    // update_mode: full, then SIGHUP; once reloaded, a change is sent with every declared field.
    replace_file(&config, &config_text(&ws, metrics, "update_mode: full\n"));
    let cycles = daemon.cycles("success");
    daemon.signal("HUP");
    daemon.wait_stderr("configuration reloaded");
    daemon.wait_cycles("success", cycles + 1.0);
    let puts = pod.put_count();
    replace_file(&ws.groups_dir().join("emea.yaml"), EMEA_PARIS);
    wait_until("the PUT of the change arrives", PATIENCE, || {
        pod.put_count() > puts
    });
    daemon.wait_in_sync(DECLARED);
    let full = json!({"name": "EMEA trading", "area": "EMEA", "description": "Traders in London and Paris", "active": true});
    assert_eq!(
        put_log(&pod)[puts..],
        [("a1".to_string(), full)],
        "{}",
        daemon.output()
    );

    // A broken config (an unknown key) is refused; the old one (full) stays in force.
    replace_file(
        &config,
        &config_text(&ws, metrics, "update_mode: minimal\nbogus_key: 1\n"),
    );
    let cycles = daemon.cycles("success");
    daemon.signal("HUP");
    daemon.wait_stderr("configuration reload refused");
    daemon.wait_cycles("success", cycles + 1.0);
    daemon.assert_running();
    let stderr = daemon.stderr();
    assert!(
        stderr.contains("bogus_key"),
        "the refusal names the problem:\n{stderr}"
    );
    assert_eq!(
        daemon.metric("groupsync_config_valid", &[]),
        Some(0.0),
        "{}",
        daemon.output()
    );

    let puts = pod.put_count();
    replace_file(
        &ws.groups_dir().join("emea.yaml"),
        "id: a1\nname: EMEA trading\narea: EMEA\ndescription: Traders in Paris\nactive: true\n",
    );
    wait_until("the PUT of the next change arrives", PATIENCE, || {
        pod.put_count() > puts
    });
    daemon.wait_in_sync(DECLARED);
    let full = json!({"name": "EMEA trading", "area": "EMEA", "description": "Traders in Paris", "active": true});
    assert_eq!(
        put_log(&pod)[puts..],
        [("a1".to_string(), full)],
        "the old settings (update_mode: full) still apply\n{}",
        daemon.output()
    );
    daemon.stop();
}

// ---------------------------------------------------------------------------
// 5. SIGTERM during a slow apply
// ---------------------------------------------------------------------------

#[test]
fn sigterm_during_a_slow_apply_finishes_in_flight_puts_and_exits_0() {
    const GROUPS: usize = 12;
    const CONCURRENCY: usize = 2;
    let ws = Workspace::new();
    let groups: Vec<UserGroupResponse> = (0..GROUPS)
        .map(|n| group(&format!("g{n:02}"), &format!("Group {n}"), "OLD", ""))
        .collect();
    let tree: String = (0..GROUPS)
        .map(|n| format!("  - {{id: g{n:02}, area: NEW}}\n"))
        .collect();
    ws.write_group_file("many.yaml", format!("groups:\n{tree}"));
    let pod = token_pod(groups);
    seed_state(&ws, &pod);
    write_config(&ws, false, &format!("concurrency: {CONCURRENCY}\n"));
    pod.emulator.set_latency(Duration::from_millis(400));
    let mut daemon = Daemon::start(&ws, &pod, None, &[]);

    wait_until("2 PUTs arrived", PATIENCE, || pod.put_count() >= 2);
    let at_signal = pod.put_count();
    daemon.signal("TERM");
    let status = daemon.wait_exit();
    assert_eq!(
        status.code(),
        Some(0),
        "SIGTERM ends run with exit 0\n{}",
        daemon.output()
    );

    let at_exit = pod.puts();
    std::thread::sleep(Duration::from_millis(800)); // twice the latency: a straggler would have arrived
    assert_eq!(
        pod.put_count(),
        at_exit.len(),
        "a PUT arrived after groupsync exited"
    );
    assert!(
        at_exit.len() < GROUPS,
        "the stop did not stop: {} PUTs",
        at_exit.len()
    );
    assert!(
        at_exit.len() <= at_signal + CONCURRENCY,
        "{at_signal} PUTs had arrived at the signal and {} at the exit: new PUTs started after it",
        at_exit.len()
    );
    assert!(
        at_exit.iter().all(|put| put.status == 200),
        "the PUTs in flight were finished, not dropped: {at_exit:#?}"
    );

    // The state file is whole and records every group whose PUT got a 200.
    let snapshot = StateFile::open(&ws.state_file())
        .expect("the lock was released")
        .load()
        .unwrap_or_else(|err| panic!("the state file is invalid: {err}"));
    let answered: BTreeSet<String> = at_exit
        .iter()
        .filter(|put| put.status == 200)
        .map(put_id)
        .collect();
    let written: BTreeSet<String> = snapshot
        .iter()
        .filter(|(_, entry)| entry.written_at_ms.is_some())
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(written, answered, "{}", daemon.output());
    for id in &answered {
        assert_eq!(
            snapshot.get(id).and_then(|pod| pod.area.as_deref()),
            Some("NEW"),
            "state of {id}"
        );
    }
    let stderr = daemon.stderr();
    assert!(stderr.contains("SIGTERM received"), "{stderr}");
}

// ---------------------------------------------------------------------------
// 6. systemd notifications
// ---------------------------------------------------------------------------

/// A fake service manager: a datagram socket in the workspace, read by a thread into a list.
struct FakeSystemd {
    path: PathBuf,
    received: Arc<Mutex<Vec<String>>>,
    done: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl FakeSystemd {
    fn bind(ws: &Workspace) -> FakeSystemd {
        let path = ws.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (received, done) = (received.clone(), done.clone());
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while !done.load(Ordering::Relaxed) {
                    if let Ok(length) = socket.recv(&mut buffer) {
                        let message = String::from_utf8_lossy(&buffer[..length]).into_owned();
                        received.lock().unwrap().push(message);
                    }
                }
            })
        };
        FakeSystemd {
            path,
            received,
            done,
            reader: Some(reader),
        }
    }

    fn messages(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }

    /// The index of the first message at or after `from` that satisfies `matches`.
    fn position(&self, from: usize, matches: impl Fn(&str) -> bool) -> Option<usize> {
        self.messages()
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, message)| matches(message))
            .map(|(index, _)| index)
    }

    /// Waits for a message at or after `from` that satisfies `matches`; returns its index.
    #[track_caller]
    fn wait_for(&self, what: &str, from: usize, matches: impl Fn(&str) -> bool) -> usize {
        let mut found = None;
        wait_until(what, PATIENCE, || {
            found = self.position(from, &matches);
            found.is_some()
        });
        found.unwrap()
    }
}

impl Drop for FakeSystemd {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

#[test]
fn a_notify_socket_hears_ready_status_watchdog_reloading_and_stopping() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = token_pod(seed());
    write_config(&ws, false, "");
    let systemd = FakeSystemd::bind(&ws);
    let mut daemon = Daemon::start_with(&ws, &pod, None, &[], |command| {
        // No WATCHDOG_PID: the test cannot know the child's pid before it exists.
        command
            .env("NOTIFY_SOCKET", &systemd.path)
            .env("WATCHDOG_USEC", "200000");
    });

    let ready = systemd.wait_for("READY=1", 0, |message| message == "READY=1\n");
    systemd.wait_for("STATUS=in sync: ...", 0, |message| {
        message.starts_with("STATUS=in sync: 3 groups; last change ")
    });
    wait_until("WATCHDOG=1 arrives repeatedly", PATIENCE, || {
        systemd
            .messages()
            .iter()
            .filter(|message| *message == "WATCHDOG=1\n")
            .count()
            >= 5
    });
    assert_eq!(pod.put_count(), 2, "READY=1 comes after the first cycle");

    daemon.signal("HUP");
    let reloading = systemd.wait_for("RELOADING=1 with MONOTONIC_USEC", ready + 1, |message| {
        message
            .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
            .and_then(|rest| rest.strip_suffix('\n'))
            .is_some_and(|usec| usec.parse::<u64>().is_ok_and(|usec| usec > 0))
    });
    systemd.wait_for("READY=1 after the reload", reloading + 1, |message| {
        message == "READY=1\n"
    });

    daemon.signal("TERM");
    systemd.wait_for("STOPPING=1", reloading + 1, |message| {
        message == "STOPPING=1\n"
    });
    let status = daemon.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", daemon.output());
    let messages = systemd.messages();
    assert!(
        messages.iter().all(
            |message| message.ends_with('\n') && message.lines().all(|line| line.contains('='))
        ),
        "every datagram is KEY=VALUE lines: {messages:#?}"
    );
}

// ---------------------------------------------------------------------------
// 7. /metrics
// ---------------------------------------------------------------------------

#[test]
fn metrics_parse_as_openmetrics_and_match_what_the_pod_saw() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = token_pod(seed());
    let metrics = write_config(&ws, true, "");
    // No state file: the start cycle reads the 3 groups first; one of the reads is refused once.
    pod.emulator.fail_next(1, 503, None);
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_in_sync(DECLARED);

    let (status, text) = daemon.http_get("/metrics").unwrap();
    assert_eq!(status, 200);
    let samples = parse_openmetrics(&text);
    for name in [
        "groupsync_cycles",
        "groupsync_pod_requests",
        "groupsync_groups",
        "groupsync_config_valid",
    ] {
        assert!(
            text.lines()
                .any(|line| line.starts_with(&format!("# TYPE {name} "))),
            "no TYPE of {name}:\n{text}"
        );
    }

    // Every request the pod answered is counted once, by method and code.
    let mut seen: BTreeMap<(String, String), f64> = BTreeMap::new();
    for request in pod.emulator.requests() {
        *seen
            .entry((request.method.clone(), request.status.to_string()))
            .or_default() += 1.0;
    }
    let counted: BTreeMap<(String, String), f64> = samples
        .iter()
        .filter(|sample| sample.name == "groupsync_pod_requests_total")
        .map(|sample| {
            (
                (
                    sample.labels["method"].clone(),
                    sample.labels["code"].clone(),
                ),
                sample.value,
            )
        })
        .collect();
    assert_eq!(
        counted, seen,
        "groupsync_pod_requests_total against the emulator's record\n{text}"
    );
    let answered_puts = pod.puts().iter().filter(|put| put.status == 200).count();
    assert_eq!(answered_puts, 2);
    assert_eq!(
        value(
            &samples,
            "groupsync_pod_requests_total",
            &[("method", "PUT"), ("code", "200")]
        ),
        Some(answered_puts as f64)
    );
    assert_eq!(
        value(
            &samples,
            "groupsync_pod_requests_total",
            &[("method", "GET"), ("code", "503")]
        ),
        Some(1.0)
    );

    assert!(
        value(&samples, "groupsync_cycles_total", &[("result", "success")]).unwrap() >= 1.0,
        "{text}"
    );
    assert_eq!(
        value(&samples, "groupsync_cycles_total", &[("result", "failure")]),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        value(&samples, "groupsync_desired_groups", &[]),
        Some(DECLARED as f64),
        "{text}"
    );
    assert_eq!(
        value(&samples, "groupsync_groups", &[("state", "in_sync")]),
        Some(DECLARED as f64),
        "{text}"
    );
    assert!(
        value(&samples, "groupsync_last_success_timestamp_seconds", &[]).unwrap() > 0.0,
        "{text}"
    );
    assert_eq!(
        value(&samples, "groupsync_config_valid", &[]),
        Some(1.0),
        "{text}"
    );
    let cycles = value(&samples, "groupsync_cycle_duration_seconds_count", &[]).unwrap();
    assert_eq!(
        value(
            &samples,
            "groupsync_cycle_duration_seconds_bucket",
            &[("le", "+Inf")]
        ),
        Some(cycles),
        "{text}"
    );
    daemon.stop();
}

// ---------------------------------------------------------------------------
// 8. run --dry-run
// ---------------------------------------------------------------------------

#[test]
fn dry_run_never_writes_and_prints_the_diff_only_when_the_plan_changes() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = token_pod(seed());
    let metrics = write_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &["--dry-run"]);
    let plans = |daemon: &Daemon| daemon.stdout().matches("\nPlan: ").count();

    wait_until("the first plan is printed", PATIENCE, || {
        plans(&daemon) == 1
    });
    daemon.wait_cycles("success", 1.0);
    let first = daemon.stdout();
    assert!(
        first.contains("PUT /v2/admin/usergroups/a1 {\"area\":\"EMEA\"}"),
        "{first}"
    );
    assert!(first.contains("Plan: 2 to update, 1 unchanged."), "{first}");

    // A comment changes nothing the plan shows: no new print.
    let cycles = daemon.cycles("success");
    replace_file(
        &ws.groups_dir().join("emea.yaml"),
        &format!("# Owner: the EMEA desk.\n{EMEA}"),
    );
    daemon.wait_cycles("success", cycles + 1.0);
    assert_eq!(
        daemon.stdout(),
        first,
        "an unchanged plan was printed again"
    );

    // A change to the plan is printed.
    replace_file(&ws.groups_dir().join("emea.yaml"), EMEA_PARIS);
    wait_until("the new plan is printed", PATIENCE, || plans(&daemon) == 2);
    let text = daemon.stdout();
    let second = &text[first.len()..];
    assert!(
        second.contains(
            "PUT /v2/admin/usergroups/a1 {\"area\":\"EMEA\",\"description\":\"Traders in London and Paris\"}"
        ),
        "{second}"
    );
    daemon.assert_running();
    assert_eq!(pod.put_count(), 0, "--dry-run wrote to the pod");
    daemon.stop();
    assert_eq!(pod.put_count(), 0, "--dry-run wrote to the pod");
}

// ---------------------------------------------------------------------------
// 9. A second instance
// ---------------------------------------------------------------------------

#[test]
fn a_second_run_on_the_same_state_file_exits_1() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = token_pod(seed());
    let metrics = write_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_in_sync(DECLARED);

    let (mut command, stdout, stderr) = daemon_command(&ws, &pod, "second", &[]);
    let mut second = Daemon {
        child: command.spawn().unwrap(),
        stdout,
        stderr,
        metrics: None,
    };
    let status = second.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", second.output());
    let text = second.stderr();
    assert!(text.contains("locked by another groupsync"), "{text}");
    daemon.assert_running();
    daemon.stop();
}

// ---------------------------------------------------------------------------
// 10. Logs
// ---------------------------------------------------------------------------

#[test]
fn json_logs_are_one_object_per_line() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = token_pod(seed());
    let metrics = write_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &["--log-format", "json"]);
    daemon.wait_in_sync(DECLARED);
    // An error whose message spans lines (the diagnostics) must stay one JSON line.
    replace_file(
        &ws.groups_dir().join("emea.yaml"),
        &format!("{EMEA}colour: red\nshade: dark\n"),
    );
    daemon.wait_cycles("invalid", 1.0);
    daemon.stop();

    let text = daemon.stderr();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("not JSON ({err}): {line:?}\n{text}"))
        })
        .collect();
    assert!(
        lines.iter().all(|line| line.get("level").is_some()),
        "a line without a level:\n{text}"
    );
    let cycle_done = lines
        .iter()
        .find(|line| line["message"] == "cycle done")
        .unwrap_or_else(|| panic!("no `cycle done` line:\n{text}"));
    assert_eq!(cycle_done["level"], "INFO");
    assert_eq!(cycle_done["applied"], 2, "{cycle_done}");
    assert_eq!(cycle_done["desired"], DECLARED, "{cycle_done}");
    assert!(
        lines.iter().any(|line| line["level"] == "ERROR"
            && line["message"]
                .as_str()
                .is_some_and(|message| message.contains("colour") && message.contains("shade"))),
        "the invalid tree is one ERROR line naming both problems:\n{text}"
    );
}
