//! Operating groupsync on a live host, through the real binary against the
//! emulator over 127.0.0.1: stops that stop (SIGINT/SIGTERM end every wait,
//! a second signal exits at once), a pod URL that does not resolve failing at
//! once with a hint, every retry a WARN line, and a pod URL missing `/pod`
//! named once.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use groupsync::emulator::{EmulatorConfig, Entitlements};
use groupsync::model::UserGroupResponse;
use groupsync::pipeline::state::Snapshot;

use crate::util::*;

const TOKEN: &str = "operating-test-token";
/// Retries fast enough for tests.
const FAST_RETRY: &str =
    "retry: {max_attempts: 4, initial_interval: 10ms, multiplier: 2, max_interval: 100ms}\n";
/// How long a test waits for what should take milliseconds (a guard against hanging, not a speed check).
const PATIENCE: Duration = Duration::from_secs(60);
/// How long a stopped process may take to exit before the test calls it hung:
/// far below the 300 s `Retry-After` wait it must cut short.
const HANG_GUARD: Duration = Duration::from_secs(30);
/// A host that never resolves (RFC 6761): only the local resolver is asked.
const UNRESOLVABLE_POD: &str = "http://groupsync-test.invalid/pod";

/// An emulator holding `groups` that accepts [`TOKEN`].
fn token_pod(groups: Vec<UserGroupResponse>) -> PodFixture {
    PodFixture::start(EmulatorConfig {
        groups,
        session_tokens: vec![(TOKEN.into(), Entitlements::ALL)],
        ..Default::default()
    })
}

/// `groupsync ARGS` in `ws` against `pod_url` with [`TOKEN`], and the
/// workspace's `groupsync.yaml` when it has one.
fn command(ws: &Workspace, pod_url: &str, args: &[&str]) -> Command {
    let mut command = ws.groupsync_std();
    command
        .args(args)
        .args(["--groups-dir", "groups.d", "--state", "state.json"])
        .env("GROUPSYNC_POD_URL", pod_url)
        .env("GROUPSYNC_SESSION_TOKEN", TOKEN);
    if ws.path().join("groupsync.yaml").exists() {
        command.args(["--config", "groupsync.yaml"]);
    }
    command
}

/// One declared group, `a1`, whose area the pod has as `OLD`.
fn one_group_to_change(ws: &Workspace) -> PodFixture {
    ws.write_group_file("a1.yaml", "id: a1\narea: NEW\n");
    token_pod(vec![pod_group("a1", "Alpha", "OLD", "", true)])
}

/// A groupsync process the test signals, its output read on threads so that
/// neither a full pipe nor a silent process can hang the test.
struct Running {
    child: Child,
    stderr_lines: mpsc::Receiver<String>,
    stderr_seen: Vec<String>,
    stdout: JoinHandle<String>,
}

/// How a [`Running`] process ended.
struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Finished {
    fn everything(&self) -> String {
        format!("--- stdout\n{}--- stderr\n{}", self.stdout, self.stderr)
    }
}

impl Running {
    fn spawn(mut command: Command) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start groupsync");
        let (lines, stderr_lines) = mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stdout = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        Running {
            child,
            stderr_lines,
            stderr_seen: Vec::new(),
            stdout,
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits until a stderr line holds `fragment`.
    fn wait_for_stderr(&mut self, fragment: &str) {
        while !self.stderr_seen.iter().any(|line| line.contains(fragment)) {
            let line = self
                .stderr_lines
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| {
                    panic!("no stderr line with {fragment:?}: {:#?}", self.stderr_seen)
                });
            self.stderr_seen.push(line);
        }
    }

    /// Waits for the exit; kills the process and fails if it takes longer than `guard`.
    fn finish_within(mut self, guard: Duration) -> Finished {
        let deadline = Instant::now() + guard;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "still running {guard:?} after the stop; stderr so far:\n{}",
                    self.stderr_seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader thread ends at EOF, so this drains every line.
        self.stderr_seen.extend(self.stderr_lines.iter());
        Finished {
            code: status.code(),
            stdout: self.stdout.join().unwrap(),
            stderr: self.stderr_seen.join("\n") + "\n",
        }
    }
}

/// Polls `condition` until it holds; panics after [`PATIENCE`].
#[track_caller]
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "gave up waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[track_caller]
fn assert_state_file_is_valid(ws: &Workspace) -> Snapshot {
    let text = std::fs::read_to_string(ws.state_file()).expect("the state file exists");
    Snapshot::from_json(&text)
        .unwrap_or_else(|err| panic!("the state file is invalid: {err}\n{text}"))
}

// ---------------------------------------------------------------------------
// Stops that stop
// ---------------------------------------------------------------------------

#[test]
fn sigint_during_a_long_retry_after_wait_exits_1_at_once_with_a_valid_state_file() {
    let ws = Workspace::new();
    let pod = one_group_to_change(&ws);
    ws.write_state(&pod.emulator.groups());
    // 600 s, capped to 300 s by the client: far beyond the hang guard.
    pod.emulator.fail_next(1, 429, Some("600"));

    let mut running = Running::spawn(command(&ws, &pod.emulator.pod_url(), &["apply"]));
    wait_until("the PUT was throttled", || {
        pod.puts().iter().any(|put| put.status == 429)
    });
    running.wait_for_stderr("retrying in 300s (attempt 2 of 6)");
    running.signal("INT");
    let done = running.finish_within(HANG_GUARD);

    assert_eq!(done.code, Some(1), "{}", done.everything());
    assert!(
        done.stdout.contains("stopped before the request was sent"),
        "{}",
        done.everything()
    );
    assert_eq!(pod.put_count(), 1, "a PUT was sent after the stop");
    let snapshot = assert_state_file_is_valid(&ws);
    let a1 = snapshot.get("a1").expect("a1 is still recorded");
    assert_eq!(a1.area.as_deref(), Some("OLD"));
}

/// A plan whose one read the pod never answers; returns once the read arrived.
fn plan_with_a_read_that_hangs(ws: &Workspace) -> (PodFixture, Running) {
    ws.write_group_file("a1.yaml", "id: a1\narea: NEW\n");
    let pod = token_pod(vec![pod_group("a1", "Alpha", "OLD", "", true)]);
    pod.emulator.set_latency(Duration::from_secs(600));
    let running = Running::spawn(command(ws, &pod.emulator.pod_url(), &["plan"]));
    wait_until("the read arrived", || !pod.emulator.requests().is_empty());
    (pod, running)
}

#[test]
fn sigterm_gives_a_read_in_flight_its_grace_then_exits_1() {
    let ws = Workspace::new();
    let (_pod, running) = plan_with_a_read_that_hangs(&ws);

    running.signal("TERM");
    // The grace is 10 s; the client's own request timeout (30 s) is beyond the guard.
    let done = running.finish_within(Duration::from_secs(25));

    assert_eq!(done.code, Some(1), "{}", done.everything());
    assert!(
        done.stderr
            .contains("no answer within 10s of the stop request"),
        "{}",
        done.everything()
    );
}

#[test]
fn a_second_sigint_exits_at_once_with_130() {
    let ws = Workspace::new();
    let (_pod, mut running) = plan_with_a_read_that_hangs(&ws);

    running.signal("INT");
    running.wait_for_stderr("SIGINT received");
    running.signal("INT");
    let done = running.finish_within(HANG_GUARD);

    // After one signal alone it would exit 1, once the read's grace ran out.
    assert_eq!(done.code, Some(130), "{}", done.everything());
    assert!(
        done.stderr.contains("SIGINT received again"),
        "{}",
        done.everything()
    );
}

// ---------------------------------------------------------------------------
// Honest messages about the pod
// ---------------------------------------------------------------------------

#[test]
fn a_pod_url_that_does_not_resolve_fails_after_one_attempt_with_the_hint() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\narea: NEW\n");

    let output = command(&ws, UNRESOLVABLE_POD, &["plan"])
        .output()
        .expect("run groupsync");

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("groupsync-test.invalid")
            && stderr.contains("does not resolve")
            && stderr.contains("check pod.url / GROUPSYNC_POD_URL"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("retrying") && !stderr.contains("gave up after"),
        "a name that does not resolve was retried:\n{stderr}"
    );
}

#[test]
fn every_retry_is_a_warn_line_with_reason_attempt_and_wait() {
    let ws = Workspace::new();
    let pod = one_group_to_change(&ws);
    ws.write_state(&pod.emulator.groups());
    ws.write_file("groupsync.yaml", FAST_RETRY);
    pod.emulator.fail_next(2, 503, None);

    let output = command(&ws, &pod.emulator.pod_url(), &["apply"])
        .output()
        .expect("run groupsync");

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let retries: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("retrying in"))
        .collect();
    assert_eq!(retries.len(), 2, "{stderr}");
    for (line, attempt) in retries.iter().zip(["attempt 2 of 4", "attempt 3 of 4"]) {
        assert!(
            line.contains("WARN") && line.contains("answered 503") && line.contains(attempt),
            "{line}"
        );
    }
}

#[test]
fn a_pod_url_without_slash_pod_is_named_once_not_blamed_on_each_group() {
    let ws = Workspace::new();
    for id in ["a1", "b2", "c3"] {
        ws.write_group_file(&format!("{id}.yaml"), format!("id: {id}\narea: NEW\n"));
    }
    let pod = token_pod(Vec::new());
    let origin = pod.emulator.base_url();

    let output = command(&ws, &origin, &["plan"])
        .output()
        .expect("run groupsync");

    let stderr = String::from_utf8_lossy(&output.stderr);
    // The plan goes on from the snapshot: every declared field is pending.
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.matches("is probably wrong").count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("the pod URL {origin} is probably wrong")),
        "{stderr}"
    );
    assert!(!stderr.contains("is declared but"), "{stderr}");
}
