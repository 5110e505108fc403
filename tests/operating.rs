//! Operating groupsync on a live host, through the real binary against the
//! emulator over 127.0.0.1: stops that stop (SIGINT/SIGTERM end every wait,
//! a second signal exits at once), a pod URL that does not resolve failing at
//! once with a hint, every retry a WARN line, and a pod URL missing `/pod`
//! named once.

use std::process::Command;
use std::time::Duration;

use groupsync::pipeline::state::Snapshot;

use crate::util::*;

/// How long a stopped process may take to exit before the test calls it hung:
/// far below the 300 s `Retry-After` wait it must cut short.
const HANG_GUARD: Duration = Duration::from_secs(30);
/// A host that never resolves (RFC 6761): only the local resolver is asked.
const UNRESOLVABLE_POD: &str = "http://groupsync-test.invalid/pod";

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
    token_pod(vec![PodGroup::new("a1").name("Alpha").area("OLD").build()])
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
    let pod = token_pod(vec![PodGroup::new("a1").name("Alpha").area("OLD").build()]);
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
