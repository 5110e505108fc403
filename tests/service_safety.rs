//! The daemon under hostile conditions, through the real binary: a pod that
//! never answers, a FIFO where the state file was, a groups dir replaced
//! under the daemon's feet, half-open connections to `/metrics`, a state file
//! inside the groups dir, a plan refused by the limits.
//!
//! Tests wait for conditions with a deadline (never assert how long
//! something took), and a [`Daemon`] guard kills its process when a test fails.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::util::*;

/// One group, in sync with [`pod_in_sync`].
fn emea(description: &str) -> String {
    format!("id: a1\nname: EMEA trading\narea: EMEA\ndescription: {description}\n")
}

const LONDON: &str = "Traders in London";
const PARIS: &str = "Traders in London and Paris";

/// A pod holding a1 as [`emea`]`(LONDON)` declares it.
fn pod_in_sync() -> PodFixture {
    token_pod(vec![
        PodGroup::new("a1")
            .name("EMEA trading")
            .area("EMEA")
            .description(LONDON)
            .build(),
    ])
}

/// Waits for the `count`th PUT and checks that it set a1's description to `description`.
#[track_caller]
fn assert_nth_put_sets_description(
    pod: &PodFixture,
    daemon: &Daemon,
    count: usize,
    description: &str,
) {
    pod.wait_puts(count);
    assert_eq!(
        pod.put_log()[count - 1],
        ("a1".to_string(), json!({ "description": description })),
        "{}",
        daemon.output()
    );
}

/// The daemon config of [`daemon_config`], but with `groups_dir` pointing at `groups_dir`.
fn write_config_with_groups_dir(ws: &Workspace, groups_dir: &Path) -> Option<SocketAddr> {
    let metrics = write_daemon_config(ws, true, "");
    let path = ws.path().join("groupsync.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        &format!("groups_dir: \"{}\"", ws.groups_dir().display()),
        &format!("groups_dir: \"{}\"", groups_dir.display()),
    );
    replace_file(&path, &text);
    metrics
}

// ---------------------------------------------------------------------------
// A cycle that runs past cycle_timeout
// ---------------------------------------------------------------------------

#[test]
fn plan_abandons_a_cycle_that_outlasts_cycle_timeout() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", emea(LONDON));
    let pod = pod_in_sync();
    pod.emulator.set_latency(Duration::from_secs(3_600));
    let output = ws
        .groupsync()
        .args(["plan", "--cycle-timeout", "1s"])
        .env("GROUPSYNC_POD_URL", pod.emulator.pod_url())
        .env("GROUPSYNC_SESSION_TOKEN", TOKEN)
        .timeout(PATIENCE)
        .output()
        .unwrap();
    assert_exit(&output, 1);
    assert!(
        stderr(&output)
            .contains("the cycle was abandoned after running for longer than cycle_timeout (1s)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_daemon_cycle_past_cycle_timeout_fails_and_a_later_one_succeeds() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", emea(PARIS));
    let pod = pod_in_sync();
    pod.emulator.set_latency(Duration::from_secs(3_600));
    let metrics = write_daemon_config(&ws, true, "cycle_timeout: 1s\n");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);

    wait_until("a cycle fails on cycle_timeout", || {
        daemon.assert_running();
        daemon
            .metric("groupsync_cycle_failures_total", &[("kind", "timeout")])
            .is_some_and(|count| count >= 1.0)
    });
    daemon.wait_stderr("the cycle was abandoned after running for longer than cycle_timeout (1s)");
    assert_eq!(
        daemon.http_get("/healthz"),
        Some((200, "ok".to_string())),
        "an abandoned cycle leaves the daemon alive\n{}",
        daemon.output()
    );

    // The pod recovers: the retry (after the back-off) puts the change.
    pod.emulator.set_latency(Duration::ZERO);
    assert_nth_put_sets_description(&pod, &daemon, 1, PARIS);
    daemon.wait_in_sync(1);
    daemon.stop();
}

/// A FIFO put where the state file was once blocked the cycle's read in
/// the kernel, beyond any timeout; it is now refused without being opened
/// for a blocking read: the cycle fails at once, naming it, and the daemon
/// stays alive, healthy and fed to the watchdog. (A cycle that cannot be
/// abandoned, which nothing on a local disk can cause any more, is the daemon
/// loop's unit tests' business: `a_cycle_running_past_cycle_timeout_is_stuck_until_it_ends`.)
#[test]
fn a_fifo_as_the_state_file_fails_its_cycle_at_once_and_never_starves_the_watchdog() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", emea(LONDON));
    let pod = pod_in_sync();
    let metrics = write_daemon_config(&ws, true, "cycle_timeout: 2s\n");
    let systemd = FakeSystemd::bind(&ws);
    let mut daemon = Daemon::start_with(&ws, &pod, metrics, &[], |command| {
        command
            .env("NOTIFY_SOCKET", systemd.path())
            .env("WATCHDOG_USEC", "200000");
    });
    daemon.wait_in_sync(1);
    let saved = std::fs::read(ws.state_file()).expect("the first cycle saved the state file");

    let fifo = ws.path().join("state.fifo");
    make_fifo(&fifo);
    std::fs::rename(&fifo, ws.state_file()).unwrap();
    let from = systemd.messages().len();
    replace_file(&ws.groups_dir().join("emea.yaml"), &emea(LONDON));

    daemon.wait_stderr("it is a FIFO (named pipe), not a regular file");
    daemon.wait_cycles("failure", 1.0);
    let fed = systemd.wait_for("WATCHDOG=1 after the failed cycle", from, |message| {
        message == "WATCHDOG=1\n"
    });
    systemd.wait_for("WATCHDOG=1 again", fed + 1, |message| {
        message == "WATCHDOG=1\n"
    });
    assert!(
        !systemd.messages()[from..]
            .iter()
            .any(|message| message.starts_with("STATUS=stuck")),
        "{:#?}",
        systemd.messages()
    );
    assert_eq!(daemon.http_get("/healthz"), Some((200, "ok".to_string())));

    replace_file(&ws.state_file(), std::str::from_utf8(&saved).unwrap());
    replace_file(&ws.groups_dir().join("emea.yaml"), &emea(LONDON));
    daemon.wait_cycles("success", 2.0);
    daemon.stop();
}

/// The first SIGTERM waits for the write in flight (its grace, 10 s, since
/// the pod never answers); the second one ends the process at once, with 143.
#[test]
fn a_second_sigterm_exits_143_at_once_while_a_write_waits_for_the_pod() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", emea(LONDON));
    let pod = pod_in_sync();
    let metrics = write_daemon_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_in_sync(1);

    pod.emulator.set_latency(Duration::from_secs(3_600));
    replace_file(&ws.groups_dir().join("emea.yaml"), &emea(PARIS));
    pod.wait_puts(1);

    daemon.signal("TERM");
    daemon.wait_stderr("SIGTERM received");
    daemon.signal("TERM");
    let status = daemon.wait_exit();

    assert_eq!(status.code(), Some(143), "{}", daemon.output());
    assert!(
        daemon
            .stderr()
            .contains("SIGTERM received again: exiting at once (exit 143)"),
        "{}",
        daemon.output()
    );
}

// ---------------------------------------------------------------------------
// READY=1 while the pod never answers
// ---------------------------------------------------------------------------

#[test]
fn ready_comes_once_serving_while_the_pod_never_answers() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", emea(LONDON));
    let pod = pod_in_sync();
    pod.emulator.set_latency(Duration::from_secs(3_600));
    let metrics = write_daemon_config(&ws, true, "");
    let systemd = FakeSystemd::bind(&ws);
    let mut daemon = Daemon::start_with(&ws, &pod, metrics, &[], |command| {
        command
            .env("NOTIFY_SOCKET", systemd.path())
            .env("WATCHDOG_USEC", "200000");
    });

    let ready = systemd.wait_for("READY=1", 0, |message| message == "READY=1\n");
    systemd.wait_for("STATUS=started", 0, |message| {
        message == "STATUS=started, first cycle running\n"
    });
    systemd.wait_for("WATCHDOG=1 after READY=1", ready, |message| {
        message == "WATCHDOG=1\n"
    });
    let (status, body) = daemon.http_get("/readyz").expect("/readyz answers");
    assert_eq!((status, body.as_str()), (503, "no successful cycle yet"));
    let cycles: f64 = ["success", "failure", "invalid"]
        .iter()
        .map(|result| daemon.cycles(result))
        .sum();
    assert_eq!(cycles, 0.0, "the first cycle is still waiting for the pod");
    daemon.assert_running();
}

// ---------------------------------------------------------------------------
// The groups dir replaced under the daemon
// ---------------------------------------------------------------------------

#[test]
fn a_groups_dir_removed_and_made_again_is_watched_again() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", emea(LONDON));
    let pod = pod_in_sync();
    let metrics = write_daemon_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_in_sync(1);

    std::fs::remove_dir_all(ws.groups_dir()).unwrap();
    daemon.wait_cycles("invalid", 1.0);
    ws.write_group_file("emea.yaml", emea(PARIS));
    assert_nth_put_sets_description(&pod, &daemon, 1, PARIS);
    daemon.wait_in_sync(1);
    daemon.stop();
}

#[test]
fn a_new_tree_moved_into_place_is_watched() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", emea(LONDON));
    let pod = pod_in_sync();
    let metrics = write_daemon_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_in_sync(1);
    let cycles = daemon.cycles("success");

    let new_tree = ws.path().join("groups.d.new");
    std::fs::create_dir(&new_tree).unwrap();
    std::fs::write(new_tree.join("emea.yaml"), emea(LONDON)).unwrap();
    std::fs::rename(ws.groups_dir(), ws.path().join("groups.d.old")).unwrap();
    std::fs::rename(&new_tree, ws.groups_dir()).unwrap();
    daemon.wait_cycles("success", cycles + 1.0);

    // An edit in the new tree is seen.
    replace_file(&ws.groups_dir().join("emea.yaml"), &emea(PARIS));
    assert_nth_put_sets_description(&pod, &daemon, 1, PARIS);
    daemon.stop();
}

#[test]
fn a_git_sync_style_link_swapped_on_the_path_is_followed() {
    use std::os::unix::fs::symlink;
    let ws = Workspace::new();
    ws.write_file("rev-a/groups.d/emea.yaml", emea(LONDON));
    ws.write_file("rev-b/groups.d/emea.yaml", emea(PARIS));
    symlink("rev-a", ws.path().join("current")).unwrap();
    let pod = pod_in_sync();
    let metrics = write_config_with_groups_dir(&ws, &ws.path().join("current/groups.d"));
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_in_sync(1);
    assert_eq!(pod.put_count(), 0, "{}", daemon.output());

    // As git-sync publishes a revision: a new link renamed over the old (`mv -T`).
    symlink("rev-b", ws.path().join("current.tmp")).unwrap();
    std::fs::rename(ws.path().join("current.tmp"), ws.path().join("current")).unwrap();
    assert_nth_put_sets_description(&pod, &daemon, 1, PARIS);

    // And the new revision's tree is the one watched now.
    replace_file(
        &ws.path().join("rev-b/groups.d/emea.yaml"),
        &emea("Paris only"),
    );
    assert_nth_put_sets_description(&pod, &daemon, 2, "Paris only");
    daemon.stop();
}

#[test]
fn a_groups_dir_made_after_the_start_is_picked_up() {
    let ws = Workspace::new();
    let pod = pod_in_sync();
    let metrics = write_daemon_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_stderr("does not exist (yet); watching for it to appear");
    assert!(
        !daemon.stderr().contains("inotify"),
        "no advice about inotify limits: {}",
        daemon.stderr()
    );

    ws.write_group_file("emea.yaml", emea(PARIS));
    assert_nth_put_sets_description(&pod, &daemon, 1, PARIS);
    daemon.wait_in_sync(1);
    daemon.stop();
}

// ---------------------------------------------------------------------------
// Half-open connections to /metrics
// ---------------------------------------------------------------------------

#[test]
fn half_open_connections_are_closed_by_the_server_and_metrics_still_answers() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", emea(LONDON));
    let pod = pod_in_sync();
    let metrics = write_daemon_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_in_sync(1);
    let address = metrics.unwrap();

    // Each sends the start of a request, never the blank line that ends its headers.
    let mut half_open: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut stream = TcpStream::connect(address).expect("connect to /metrics");
            stream
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: groupsync\r\n")
                .unwrap();
            stream
        })
        .collect();
    for (index, stream) in half_open.iter_mut().enumerate() {
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut answer = Vec::new();
        match stream.read_to_end(&mut answer) {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(error) => panic!("connection {index} was not closed by the server: {error}"),
        }
    }
    let (status, body) = daemon.http_get("/metrics").expect("/metrics answers");
    assert_eq!(status, 200);
    assert!(body.ends_with("# EOF\n"), "{body}");
    daemon.assert_running();
    daemon.stop();
}

// ---------------------------------------------------------------------------
// A state file inside the groups dir
// ---------------------------------------------------------------------------

#[test]
fn a_state_file_inside_the_groups_dir_is_refused_by_validate_and_run() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", emea(LONDON));
    let state = "groups.d/.state/state.json";
    let expected = format!(
        "the state file {state} is inside the groups directory groups.d: each save would count as a change"
    );
    for command in [vec!["validate"], vec!["run"]] {
        let output = ws
            .groupsync()
            .args(&command)
            .args(["--groups-dir", "groups.d", "--state", state])
            .timeout(PATIENCE)
            .output()
            .unwrap();
        assert_exit(&output, 1);
        assert!(
            stderr(&output).contains(&expected),
            "{command:?}: {}",
            stderr(&output)
        );
    }
    assert!(
        !ws.path().join("groups.d/.state").exists(),
        "nothing was written"
    );
}

// ---------------------------------------------------------------------------
// A plan refused by the limits
// ---------------------------------------------------------------------------

#[test]
fn a_plan_refused_by_the_limits_shows_as_pending_and_unready() {
    let tree = |b2: &str, c3: &str| {
        format!(
            "groups:\n  - id: a1\n    description: A\n  - id: b2\n    description: {b2}\n  - id: c3\n    description: {c3}\n"
        )
    };
    let ws = Workspace::new();
    ws.write_group_file("all.yaml", tree("B", "C"));
    let pod = token_pod(
        [("a1", "A"), ("b2", "B"), ("c3", "C")]
            .map(|(id, description)| PodGroup::new(id).description(description).build())
            .to_vec(),
    );
    let metrics = write_daemon_config(&ws, true, "limits: {max_changes: 1}\n");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_in_sync(3);
    daemon.wait_ready();

    // One save changes two groups: over the limit.
    replace_file(&ws.groups_dir().join("all.yaml"), &tree("B2", "C2"));
    wait_until("the refused changes show as pending", || {
        daemon.assert_running();
        let groups = |state| daemon.metric("groupsync_groups", &[("state", state)]);
        groups("pending") == Some(2.0) && groups("in_sync") == Some(1.0)
    });
    let (status, body) = daemon.http_get("/readyz").expect("/readyz answers");
    assert_eq!(
        (status, body.as_str()),
        (
            503,
            "a safety limit refused the last plan; its changes are pending"
        ),
        "{}",
        daemon.output()
    );
    assert_eq!(pod.put_count(), 0);
    daemon.stop();
}
