//! `groupsync run`, the daemon, through the real binary: real files under a
//! temporary `groups.d/`, real signals (`kill`), the pod emulator over
//! 127.0.0.1, `/metrics` and the health endpoints over real HTTP, and a fake
//! systemd notify socket (the harness in `util/daemon.rs`).
//!
//! Tests wait for conditions with a deadline (never assert how long
//! something took), and a [`Daemon`] guard kills its process when a test fails.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use groupsync::model::UserGroupResponse;
use serde_json::{Value, json};

use crate::util::*;

// ---------------------------------------------------------------------------
// The pod and the tree
// ---------------------------------------------------------------------------

/// The pod before: [`EMEA`] changes a1's area, [`OTHERS`] changes b2's description; c3 is in sync.
fn seed() -> Vec<UserGroupResponse> {
    vec![
        PodGroup::new("a1")
            .name("EMEA trading")
            .area("EMEA-old")
            .description("Traders in London")
            .build(),
        PodGroup::new("b2")
            .name("APAC wealth")
            .area("APAC")
            .description("Singapore desk")
            .build(),
        PodGroup::new("c3")
            .name("US research")
            .area("AMER")
            .description("Equity research")
            .build(),
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

// ---------------------------------------------------------------------------
// 1, 2. File changes
// ---------------------------------------------------------------------------

#[test]
fn a_file_replaced_by_rename_is_applied() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = token_pod(seed());
    let metrics = write_daemon_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);

    // The start cycle converges the tree.
    wait_until("the start cycle's 2 PUTs are answered", || {
        pod.puts().iter().filter(|put| put.status == 200).count() >= 2
    });
    daemon.wait_in_sync(DECLARED);
    let at_start = pod.put_log();
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
    pod.wait_puts(at_start.len() + 1);
    daemon.wait_cycles("success", cycles_before + 1.0);
    daemon.wait_in_sync(DECLARED);

    let puts = pod.put_log();
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
    let metrics = write_daemon_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);

    pod.wait_puts(1);
    daemon.wait_in_sync(1);
    assert_eq!(
        pod.put_log(),
        [("a1".to_string(), json!({"area": "EMEA"}))],
        "{}",
        daemon.output()
    );

    // An update as the kubelet does it: a new link to the new folder, renamed over `..data`.
    symlink("..2026_b", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    pod.wait_puts(2);
    daemon.wait_in_sync(1);
    // Then it removes the old folder: nothing more to do.
    let cycles = daemon.cycles("success");
    std::fs::remove_dir_all(dir.join("..2026_a")).unwrap();
    daemon.wait_cycles("success", cycles + 1.0);
    daemon.wait_in_sync(1);
    assert_eq!(
        pod.put_log()[1..],
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
    let metrics = write_daemon_config(&ws, true, "");
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
    pod.wait_puts(puts_before + 1);
    daemon.wait_in_sync(DECLARED);
    assert_eq!(
        pod.put_log()[puts_before..],
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
    let metrics = write_daemon_config(&ws, true, "update_mode: minimal\n");
    let config = ws.path().join("groupsync.yaml");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_in_sync(DECLARED);
    assert_eq!(
        pod.put_log().into_iter().collect::<BTreeMap<_, _>>()["a1"],
        json!({"area": "EMEA"}),
        "minimal at first"
    );
    assert_eq!(daemon.metric("groupsync_config_valid", &[]), Some(1.0));

    // update_mode: full, then SIGHUP; once reloaded, a change is sent with every declared field.
    replace_file(&config, &daemon_config(&ws, metrics, "update_mode: full\n"));
    let cycles = daemon.cycles("success");
    daemon.signal("HUP");
    daemon.wait_stderr("configuration reloaded");
    daemon.wait_cycles("success", cycles + 1.0);
    let puts = pod.put_count();
    replace_file(&ws.groups_dir().join("emea.yaml"), EMEA_PARIS);
    pod.wait_puts(puts + 1);
    daemon.wait_in_sync(DECLARED);
    let full = json!({"name": "EMEA trading", "area": "EMEA", "description": "Traders in London and Paris", "active": true});
    assert_eq!(
        pod.put_log()[puts..],
        [("a1".to_string(), full)],
        "{}",
        daemon.output()
    );

    // A broken config (an unknown key) is refused; the old one (full) stays in force.
    replace_file(
        &config,
        &daemon_config(&ws, metrics, "update_mode: minimal\nbogus_key: 1\n"),
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
    pod.wait_puts(puts + 1);
    daemon.wait_in_sync(DECLARED);
    let full = json!({"name": "EMEA trading", "area": "EMEA", "description": "Traders in Paris", "active": true});
    assert_eq!(
        pod.put_log()[puts..],
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
        .map(|n| {
            PodGroup::new(&format!("g{n:02}"))
                .name(format!("Group {n}"))
                .area("OLD")
                .build()
        })
        .collect();
    let tree: String = (0..GROUPS)
        .map(|n| format!("  - {{id: g{n:02}, area: NEW}}\n"))
        .collect();
    ws.write_group_file("many.yaml", format!("groups:\n{tree}"));
    let pod = token_pod(groups);
    seed_state(&ws, &pod);
    write_daemon_config(&ws, false, &format!("concurrency: {CONCURRENCY}\n"));
    pod.emulator.set_latency(Duration::from_millis(400));
    let mut daemon = Daemon::start(&ws, &pod, None, &[]);

    pod.wait_puts(2);
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
    let snapshot = ws.load_state();
    let answered: BTreeSet<String> = at_exit
        .iter()
        .filter(|put| put.status == 200)
        .map(put_id)
        .collect();
    assert_eq!(written_ids(&snapshot), answered, "{}", daemon.output());
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

#[test]
fn a_notify_socket_hears_ready_status_watchdog_reloading_and_stopping() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = token_pod(seed());
    write_daemon_config(&ws, false, "");
    let systemd = FakeSystemd::bind(&ws);
    let mut daemon = Daemon::start_with(&ws, &pod, None, &[], |command| {
        // No WATCHDOG_PID: the test cannot know the child's pid before it exists.
        command
            .env("NOTIFY_SOCKET", systemd.path())
            .env("WATCHDOG_USEC", "200000");
    });

    let ready = systemd.wait_for("READY=1", 0, |message| message == "READY=1\n");
    systemd.wait_for("STATUS=in sync: ...", 0, |message| {
        message.starts_with("STATUS=in sync: 3 groups; last change ")
    });
    wait_until("WATCHDOG=1 arrives repeatedly", || {
        systemd
            .messages()
            .iter()
            .filter(|message| *message == "WATCHDOG=1\n")
            .count()
            >= 5
    });
    assert_eq!(pod.put_count(), 2, "the first cycle's 2 PUTs, once");

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
    let metrics = write_daemon_config(&ws, true, "");
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
    // (Each method's `code="200"` series is there from the start, at 0 until it counts.)
    let counted: BTreeMap<(String, String), f64> = samples
        .iter()
        .filter(|sample| sample.name == "groupsync_pod_requests_total" && sample.value > 0.0)
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
    let metrics = write_daemon_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &["--dry-run"]);
    let plans = |daemon: &Daemon| daemon.stdout().matches("\nPlan: ").count();

    wait_until("the first plan is printed", || plans(&daemon) == 1);
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
    wait_until("the new plan is printed", || plans(&daemon) == 2);
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

/// The daemon holds the state file's lock only while a cycle writes, so a
/// second one on the same file takes turns with the first (it used to be
/// refused at start): it reads the file the first wrote and has nothing to do.
#[test]
fn a_second_run_on_the_same_state_file_takes_turns_with_the_first() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = token_pod(seed());
    // No metrics listener: both daemons read the same config file.
    write_daemon_config(&ws, false, "");
    let mut daemon = Daemon::start(&ws, &pod, None, &[]);
    daemon.wait_stderr("cycle done");
    let puts = pod.put_count();
    assert_eq!(puts, 2, "{}", daemon.output());

    let mut second = Daemon::start_second(&ws, &pod, &[]);
    second.wait_stderr("cycle done");
    second.assert_running();
    daemon.assert_running();
    assert_eq!(pod.put_count(), puts, "{}", second.output());
    second.stop();
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
    let metrics = write_daemon_config(&ws, true, "");
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
