//! Operating groupsync on a live host, through the real binary against the
//! emulator over 127.0.0.1: stops that stop (SIGINT/SIGTERM end every wait,
//! a second signal exits at once), a pod URL that does not resolve failing at
//! once with a hint, every retry a WARN line, a pod URL missing `/pod`
//! named once; plans beside the daemon, the state file tied to its pod and
//! locked only while a cycle writes, and a daemon that looks at the pod.

use std::process::Command;
use std::time::Duration;

use groupsync::model::UserGroupResponse;
use groupsync::store::snapshot::Snapshot;
use groupsync::store::state_file::StateFile;
use serde_json::json;

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

    let mut running = Running::spawn(command(
        &ws,
        &pod.emulator.pod_url(),
        &["apply", "--refresh=false"],
    ));
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

// ---------------------------------------------------------------------------
// Plans beside the daemon; the lock only while a cycle writes
// ---------------------------------------------------------------------------

/// Two declared groups; the pod has a1's area as `OLD`, b2 in line.
fn two_groups(ws: &Workspace) -> PodFixture {
    ws.write_group_file("a1.yaml", "id: a1\narea: NEW\n");
    ws.write_group_file("b2.yaml", "id: b2\narea: B\n");
    token_pod(vec![
        PodGroup::new("a1").name("Alpha").area("OLD").build(),
        PodGroup::new("b2").name("Beta").area("B").build(),
    ])
}

/// Changes group `id`'s area on the pod, as an admin in the portal would.
fn change_area_behind_our_back(pod: &PodFixture, id: &str, area: &str) {
    let mut group = pod.emulator.group(id).expect("the pod holds the group");
    group.area = Some(area.into());
    pod.emulator.set_group(group);
}

fn area_on_the_pod(pod: &PodFixture, id: &str) -> Option<String> {
    pod.emulator
        .group(id)
        .and_then(|group| group.area.map(String::from))
}

fn state_bytes(ws: &Workspace) -> Vec<u8> {
    std::fs::read(ws.state_file()).expect("the state file exists")
}

#[test]
fn plans_run_beside_the_daemon_and_never_change_the_state_file() {
    let ws = Workspace::new();
    let pod = two_groups(&ws);
    let metrics = write_daemon_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_in_sync(2);
    let converged = state_bytes(&ws);
    let puts = pod.put_count();
    change_area_behind_our_back(&pod, "b2", "B-portal");

    // Each used to fail: "locked by another groupsync".
    for args in [
        &["plan"][..],
        &["plan", "--refresh"],
        &["run", "--dry-run", "--once", "--refresh"],
        &["plan", "--refresh", "--format", "json"],
    ] {
        let output = command(&ws, &pod.emulator.pod_url(), args)
            .output()
            .expect("run groupsync");
        let code = output.status.code();
        assert!(code == Some(0) || code == Some(2), "{args:?}: {output:?}");
        assert_eq!(
            state_bytes(&ws),
            converged,
            "{args:?} changed the state file"
        );
    }
    // The drift a refresh finds is shown on every plan until it is reverted.
    for _ in 0..2 {
        let output = command(&ws, &pod.emulator.pod_url(), &["plan", "--refresh"])
            .output()
            .expect("run groupsync");
        assert_exit(&output, 2);
        assert!(
            stdout(&output).contains("Drift: b2 changed outside groupsync"),
            "{}",
            stdout(&output)
        );
    }
    assert_eq!(pod.put_count(), puts, "a plan wrote to the pod");

    let apply = command(&ws, &pod.emulator.pod_url(), &["apply", "--refresh"])
        .output()
        .expect("run groupsync");
    assert_exit(&apply, 0);
    assert_eq!(area_on_the_pod(&pod, "b2").as_deref(), Some("B"));
    daemon.assert_running();
    daemon.stop();
}

#[test]
fn apply_waits_for_the_lock_up_to_lock_timeout_then_names_the_holder() {
    let ws = Workspace::new();
    let pod = one_group_to_change(&ws);
    let held = StateFile::open(&ws.state_file()).expect("lock the state file");

    let output = command(
        &ws,
        &pod.emulator.pod_url(),
        &["apply", "--lock-timeout", "300ms"],
    )
    .output()
    .expect("run groupsync");
    assert_exit(&output, 1);
    let text = stderr(&output);
    assert!(
        text.contains(&format!("(pid {})", std::process::id())) && text.contains("--lock-timeout"),
        "{text}"
    );
    assert_eq!(
        pod.emulator.requests().len(),
        0,
        "it went on without the lock"
    );

    // Released during the wait: the apply goes on.
    let mut waiting = Running::spawn(command(
        &ws,
        &pod.emulator.pod_url(),
        &["apply", "--lock-timeout", "10m", "--log-level", "debug"],
    ));
    waiting.wait_for_stderr("; waiting");
    drop(held);
    let done = waiting.finish_within(PATIENCE);
    assert_eq!(done.code, Some(0), "{}", done.everything());
    assert_eq!(pod.put_log(), [("a1".to_string(), json!({"area": "NEW"}))]);
}

// ---------------------------------------------------------------------------
// The state file tied to its pod
// ---------------------------------------------------------------------------

#[test]
fn a_cycle_against_another_pod_fails_naming_both_urls_and_writes_nothing() {
    let ws = Workspace::new();
    let first = two_groups(&ws);
    let output = command(&ws, &first.emulator.pod_url(), &["apply"])
        .output()
        .expect("run groupsync");
    assert_exit(&output, 0);
    let written = state_bytes(&ws);
    let second = token_pod(first.emulator.groups());

    for args in [&["apply"][..], &["plan", "--refresh"]] {
        let output = command(&ws, &second.emulator.pod_url(), args)
            .output()
            .expect("run groupsync");
        assert_exit(&output, 1);
        let text = stderr(&output);
        assert!(
            text.contains(&first.emulator.pod_url())
                && text.contains(&second.emulator.pod_url())
                && text.contains("move state.json aside"),
            "{args:?}: {text}"
        );
    }
    // The daemon refuses it at start-up.
    write_daemon_config(&ws, false, "");
    let mut daemon = Daemon::start(&ws, &second, None, &[]);
    assert_eq!(daemon.wait_exit().code(), Some(1), "{}", daemon.output());
    assert!(
        daemon.stderr().contains(&second.emulator.pod_url()),
        "{}",
        daemon.output()
    );
    assert_eq!(state_bytes(&ws), written, "the state file was written");
    assert!(
        second.emulator.requests().is_empty(),
        "the second pod was called"
    );
}

#[test]
fn a_state_file_written_before_pod_urls_is_adopted_on_first_use() {
    let ws = Workspace::new();
    let pod = two_groups(&ws);
    let mut in_line: Vec<UserGroupResponse> = pod.emulator.groups();
    in_line[0].area = Some("NEW".into());
    pod.emulator.set_group(in_line[0].clone());
    ws.write_state(&in_line);
    assert_eq!(ws.load_state().pod_url(), None, "an old state file");

    // In sync: nothing to read or write but the pod's URL.
    let output = command(&ws, &pod.emulator.pod_url(), &["apply"])
        .output()
        .expect("run groupsync");
    assert_exit(&output, 0);
    assert_eq!(
        ws.load_state().pod_url(),
        Some(pod.emulator.pod_url().as_str())
    );
    assert_eq!(pod.put_count(), 0);
}

// ---------------------------------------------------------------------------
// run --force, run --refresh, and a daemon that looks at the pod
// ---------------------------------------------------------------------------

#[test]
fn run_force_is_a_usage_error_and_plan_has_no_force() {
    let ws = Workspace::new();
    let pod = one_group_to_change(&ws);

    // It used to start the daemon: the guard fails the test rather than hang.
    let refused = Running::spawn(command(&ws, &pod.emulator.pod_url(), &["run", "--force"]))
        .finish_within(PATIENCE);
    assert_eq!(refused.code, Some(1), "{}", refused.everything());
    assert!(
        refused
            .stderr
            .contains("a daemon never overrides its own safety limits")
            && refused.stderr.contains("`groupsync apply --force`"),
        "{}",
        refused.everything()
    );
    assert_eq!(pod.put_count(), 0);

    let help = ws.groupsync().args(["plan", "--help"]).output().unwrap();
    assert_exit(&help, 0);
    assert!(!stdout(&help).contains("--force"), "{}", stdout(&help));
}

#[test]
fn run_refresh_reads_the_pod_on_a_file_change_and_reverts_a_portal_change() {
    let ws = Workspace::new();
    let pod = two_groups(&ws);
    let metrics = write_daemon_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &["--refresh"]);
    daemon.wait_in_sync(2);
    change_area_behind_our_back(&pod, "b2", "B-portal");

    // A file change alone would plan from the snapshot; --refresh reads the pod.
    replace_file(&ws.groups_dir().join("a1.yaml"), "id: a1\narea: NEW\n");
    wait_until("b2's area is reverted", || {
        daemon.assert_running();
        area_on_the_pod(&pod, "b2").as_deref() == Some("B")
    });
    assert_eq!(
        pod.put_log().last(),
        Some(&("b2".to_string(), json!({"area": "B"})))
    );
    daemon.stop();
}

#[test]
fn by_default_the_scheduled_cycle_finds_and_reverts_a_portal_change() {
    let ws = Workspace::new();
    let pod = two_groups(&ws);
    let metrics = write_scheduled_daemon_config(&ws, true, "1s", "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_in_sync(2);
    change_area_behind_our_back(&pod, "b2", "B-portal");

    wait_until("b2's area is reverted", || {
        daemon.assert_running();
        area_on_the_pod(&pod, "b2").as_deref() == Some("B")
    });
    assert_eq!(
        pod.put_log().last(),
        Some(&("b2".to_string(), json!({"area": "B"})))
    );
    daemon.stop();
    assert!(
        daemon.stderr().contains("drift=1"),
        "the drift is logged:\n{}",
        daemon.output()
    );
}

#[test]
fn by_default_a_file_change_plans_from_the_snapshot() {
    let ws = Workspace::new();
    let pod = two_groups(&ws);
    let metrics = write_daemon_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_in_sync(2);
    let reads_at_start = group_reads(&pod);

    replace_file(&ws.groups_dir().join("a1.yaml"), "id: a1\narea: NEWER\n");
    wait_until("a1's new area is applied", || {
        daemon.assert_running();
        area_on_the_pod(&pod, "a1").as_deref() == Some("NEWER")
    });
    assert_eq!(
        group_reads(&pod),
        reads_at_start,
        "the file change read the pod"
    );
    daemon.stop();
}

/// How many reads of groups the pod has answered (GETs of one group or of the list).
fn group_reads(pod: &PodFixture) -> usize {
    pod.emulator
        .requests()
        .iter()
        .filter(|request| request.method == "GET")
        .count()
}

// ---------------------------------------------------------------------------
// A log level it does not know
// ---------------------------------------------------------------------------

#[test]
fn an_unknown_log_level_is_an_error_listing_the_levels_wherever_it_is_given() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\nname: Alpha\n");
    let levels = "error, warn, info, debug, trace, off";
    let by_flag = ws
        .groupsync()
        .args(["validate", "--log-level", "verbose"])
        .output()
        .unwrap();
    let by_env = ws
        .groupsync()
        .arg("plan")
        .env("RUST_LOG", "warning")
        .output()
        .unwrap();
    ws.write_file("groupsync.yaml", "log: {level: verbose}\n");
    let by_file = ws
        .groupsync()
        .args(["validate", "--config", "groupsync.yaml"])
        .output()
        .unwrap();
    for (given, output, word) in [
        ("--log-level", &by_flag, "`verbose`"),
        ("RUST_LOG", &by_env, "`warning`"),
        ("log.level", &by_file, "`verbose`"),
    ] {
        assert_exit(output, 1);
        let message = stderr(output);
        assert!(message.contains(word), "{given}: {message}");
        assert!(message.contains(levels), "{given}: {message}");
    }
    // The file's error has its place.
    assert!(
        stderr(&by_file).contains("groupsync.yaml:1:14: log.level:"),
        "{}",
        stderr(&by_file)
    );
}
