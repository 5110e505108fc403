//! Previewing and trusting what groupsync says, through the real binary
//! against the emulator over 127.0.0.1: `dry_run: true`, the daemon's
//! `/plan` and `/plan.json`, `--format json` on failures, help that names
//! the credentials, flags refused where they mean nothing, plurals, and the
//! daemon's drift and start-up lines.

use serde_json::Value;

use crate::util::*;

/// The pod before: a1's area differs from [`A1`], b2 is in sync with [`B2`].
fn pod_with_one_change() -> PodFixture {
    token_pod(vec![
        PodGroup::new("a1").name("Alpha").area("OLD").build(),
        PodGroup::new("b2").name("Beta").area("EMEA").build(),
    ])
}

const A1: &str = "id: a1\nname: Alpha\narea: NEW\n";
const B2: &str = "id: b2\nname: Beta\narea: EMEA\n";

fn write_tree(ws: &Workspace) {
    ws.write_group_file("a1.yaml", A1);
    ws.write_group_file("b2.yaml", B2);
}

/// `groupsync ARGS --config groupsync.yaml` in `ws`, against `pod` with [`TOKEN`].
fn groupsync_on(ws: &Workspace, pod: &PodFixture, args: &[&str]) -> std::process::Output {
    ws.groupsync()
        .args(args)
        .args(["--config", "groupsync.yaml"])
        .env("GROUPSYNC_POD_URL", pod.emulator.pod_url())
        .env("GROUPSYNC_SESSION_TOKEN", TOKEN)
        .output()
        .unwrap()
}

/// The whole of stdout as one JSON object: trailing text of any kind fails.
#[track_caller]
fn one_json_object(output: &std::process::Output) -> Value {
    let text = stdout(output);
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|err| {
        panic!(
            "stdout is not one JSON object ({err})\n--- stdout\n{text}--- stderr\n{}",
            stderr(output)
        )
    });
    assert!(value.is_object(), "{text}");
    value
}

/// The `errors` of a JSON document; asserts there is at least one, each with a message.
#[track_caller]
fn errors_of(document: &Value) -> Vec<Value> {
    let errors = document["errors"].as_array().expect("an `errors` list");
    assert!(!errors.is_empty(), "no errors in {document}");
    for error in errors {
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "an error without a message: {error}"
        );
    }
    errors.clone()
}

// ---------------------------------------------------------------------------
// Preview before enabling: dry_run: true and /plan
// ---------------------------------------------------------------------------

#[test]
fn a_dry_run_daemon_serves_the_plan_that_plan_prints_and_never_writes() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = pod_with_one_change();
    seed_state(&ws, &pod);
    let metrics = write_daemon_config(&ws, true, "dry_run: true\n");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);

    daemon.wait_cycles("success", 1.0);
    let (status, served_text) = daemon.http_get("/plan").expect("/plan answers");
    assert_eq!(status, 200, "{served_text}");
    let (status, served_json) = daemon.http_get("/plan.json").expect("/plan.json answers");
    assert_eq!(status, 200, "{served_json}");
    assert!(
        served_text.contains("PUT /v2/admin/usergroups/a1 {\"area\":\"NEW\"}"),
        "{served_text}"
    );
    // The journal shows the same diff.
    assert!(
        daemon.stdout().contains(&served_text),
        "{}",
        daemon.output()
    );
    assert_eq!(pod.put_count(), 0, "dry_run: true wrote to the pod");
    daemon.stop();
    assert_eq!(pod.put_count(), 0, "dry_run: true wrote to the pod");

    // Same groups.d, same state file, same pod: `plan` prints what /plan served.
    let plan = groupsync_on(&ws, &pod, &["plan"]);
    assert_exit(&plan, 2);
    assert_eq!(stdout(&plan), served_text);
    let plan_json = groupsync_on(&ws, &pod, &["plan", "--format", "json"]);
    assert_exit(&plan_json, 2);
    let served: Value = serde_json::from_str(&served_json).expect("/plan.json is JSON");
    let printed = one_json_object(&plan_json);
    assert_eq!(served["changes"], printed["changes"]);
    assert_eq!(served["unchanged"], printed["unchanged"]);
    assert_eq!(served["changes"][0]["group_id"], "a1");
}

#[test]
fn turning_dry_run_off_and_reloading_starts_writing() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = pod_with_one_change();
    seed_state(&ws, &pod);
    let metrics = write_daemon_config(&ws, true, "dry_run: true\n");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_cycles("success", 1.0);
    assert_eq!(pod.put_count(), 0, "dry_run: true wrote to the pod");

    write_daemon_config_at(&ws, metrics, "dry_run: false\n");
    daemon.signal("HUP");
    daemon.wait_in_sync(2);
    assert_eq!(
        pod.put_log(),
        [("a1".to_string(), serde_json::json!({"area": "NEW"}))]
    );
    // What is left to do after the write: nothing.
    let (status, text) = daemon.http_get("/plan").expect("/plan answers");
    assert_eq!(
        (status, text.as_str()),
        (200, "No changes. 2 groups in sync.\n")
    );
    daemon.stop();
}

/// Rewrites `<workspace>/groupsync.yaml` keeping the listener at `metrics`.
fn write_daemon_config_at(ws: &Workspace, metrics: Option<std::net::SocketAddr>, extra: &str) {
    replace_file(
        &ws.path().join("groupsync.yaml"),
        &daemon_config(ws, metrics, extra),
    );
}

#[test]
fn plan_says_why_there_is_no_plan_while_the_desired_state_is_invalid() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\ncolour: red\n");
    let pod = pod_with_one_change();
    let metrics = write_daemon_config(&ws, true, "dry_run: true\n");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_cycles("invalid", 1.0);

    let (status, text) = daemon.http_get("/plan").expect("/plan answers");
    assert_eq!(status, 503, "{text}");
    assert!(
        text.contains("the desired state is invalid (1 error)") && text.contains("colour"),
        "{text}"
    );
    assert_eq!(
        daemon.http_get("/plan.json").map(|(status, _)| status),
        Some(503)
    );
    daemon.stop();
}

// ---------------------------------------------------------------------------
// --format json: one object on stdout, failures included
// ---------------------------------------------------------------------------

#[test]
fn format_json_with_the_pod_down_prints_one_object_listing_the_error() {
    let ws = Workspace::new();
    write_tree(&ws);
    ws.write_file("groupsync.yaml", FAST_RETRY);
    let closed_port = free_port();
    for command in ["plan", "apply"] {
        let output = ws
            .groupsync()
            .args([command, "--format", "json", "--config", "groupsync.yaml"])
            .env(
                "GROUPSYNC_POD_URL",
                format!("http://127.0.0.1:{closed_port}/pod"),
            )
            .env("GROUPSYNC_SESSION_TOKEN", TOKEN)
            .output()
            .unwrap();
        assert_exit(&output, 1);
        let document = one_json_object(&output);
        let errors = errors_of(&document);
        assert!(
            errors[0]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("127.0.0.1:{closed_port}")),
            "{command}: {document}"
        );
        assert_eq!(document["changes"], serde_json::json!([]), "{command}");
        // People still read the error on stderr.
        assert!(stderr(&output).contains("error: "), "{command}");
    }
}

#[test]
fn format_json_with_a_config_error_prints_one_object_listing_it() {
    let ws = Workspace::new();
    write_tree(&ws);
    ws.write_file("groupsync.yaml", "concurrency: 0\n");
    for command in ["validate", "plan"] {
        let output = ws
            .groupsync()
            .args([command, "--format", "json", "--config", "groupsync.yaml"])
            .output()
            .unwrap();
        assert_exit(&output, 1);
        let document = one_json_object(&output);
        let errors = errors_of(&document);
        assert!(
            errors[0]["message"]
                .as_str()
                .unwrap()
                .contains("concurrency"),
            "{command}: {document}"
        );
    }
}

#[test]
fn format_json_names_each_group_an_apply_could_not_update() {
    let ws = Workspace::new();
    write_tree(&ws);
    ws.write_file("groupsync.yaml", daemon_config(&ws, None, ""));
    let pod = pod_with_one_change();
    seed_state(&ws, &pod);
    pod.emulator.fail_next(1, 422, None);

    let output = groupsync_on(&ws, &pod, &["apply", "--refresh=false", "--format", "json"]);

    assert_exit(&output, 1);
    let document = one_json_object(&output);
    let errors = errors_of(&document);
    assert_eq!(errors[0]["group_id"], "a1", "{document}");
    assert_eq!(errors[0]["file"], "groups.d/a1.yaml", "{document}");
}

#[test]
fn format_json_with_a_safety_limit_refusing_the_plan_prints_one_object_listing_it() {
    let ws = Workspace::new();
    write_tree(&ws);
    ws.write_file(
        "groupsync.yaml",
        daemon_config(&ws, None, "limits: {max_changes: 0}\n"),
    );
    let pod = pod_with_one_change();
    seed_state(&ws, &pod);

    let output = groupsync_on(&ws, &pod, &["apply", "--format", "json"]);

    assert_exit(&output, 1);
    let document = one_json_object(&output);
    let message = errors_of(&document)[0]["message"].to_string();
    assert!(
        message.contains("the plan updates 1 group, more than limits.max_changes = 0"),
        "{document}"
    );
    assert_eq!(pod.put_count(), 0);
}

// ---------------------------------------------------------------------------
// Help that helps
// ---------------------------------------------------------------------------

#[test]
fn help_of_the_commands_that_talk_to_the_pod_names_every_credential_source() {
    let ws = Workspace::new();
    for command in ["plan", "apply", "run"] {
        let output = ws.groupsync().args([command, "--help"]).output().unwrap();
        assert_exit(&output, 0);
        let help = stdout(&output);
        for source in [
            "GROUPSYNC_SESSION_TOKEN",
            "auth.session_token_file",
            "auth.bot_username + auth.private_key_file",
            "--bdk-config",
            "$CREDENTIALS_DIRECTORY/session-token",
        ] {
            assert!(
                help.contains(source),
                "{command} --help lacks {source}:\n{help}"
            );
        }
    }
}

#[test]
fn help_help_works_and_help_command_is_command_help() {
    let ws = Workspace::new();
    let help_help = ws.groupsync().args(["help", "--help"]).output().unwrap();
    assert_exit(&help_help, 0);
    assert!(stdout(&help_help).contains("Usage: groupsync help"));

    let help_plan = ws.groupsync().args(["help", "plan"]).output().unwrap();
    assert_exit(&help_plan, 0);
    let plan_help = ws.groupsync().args(["plan", "--help"]).output().unwrap();
    assert_eq!(stdout(&help_plan), stdout(&plan_help));

    let unknown = ws.groupsync().args(["help", "nosuch"]).output().unwrap();
    assert_exit(&unknown, 1);
}

#[test]
fn settings_flags_are_refused_where_they_mean_nothing() {
    let ws = Workspace::new();
    for args in [
        &["emulate", "--groups-dir", "x"][..],
        &["demo", "--state", "y"],
        &["--pod-url", "http://127.0.0.1:1/pod", "demo"],
        &["emulate", "--format", "json"],
        &["demo", "--log-level", "debug"],
        &["help", "--config", "c.yaml"],
    ] {
        let mut command = ws.groupsync_std();
        command.args(args);
        // Accepted, `emulate` would serve until stopped: the guard ends it.
        let done = Running::spawn(command).finish_within(PATIENCE);
        assert_eq!(done.code, Some(1), "{args:?}\n{}", done.everything());
        let flag = args.iter().find(|arg| arg.starts_with("--")).unwrap();
        assert!(
            done.stderr
                .contains(&format!("{flag} means nothing to `groupsync ")),
            "{args:?}: {}",
            done.everything()
        );
    }
    // The environment is not refused: it is there for the other commands.
    let output = ws
        .groupsync()
        .arg("help")
        .env("GROUPSYNC_STATE", "y")
        .output()
        .unwrap();
    assert_exit(&output, 0);
}

// ---------------------------------------------------------------------------
// Smaller truths
// ---------------------------------------------------------------------------

#[test]
fn counts_of_one_are_singular() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", A1);
    let valid = ws.groupsync().arg("validate").output().unwrap();
    assert_exit(&valid, 0);
    assert_eq!(stdout(&valid), "1 group valid in 1 file\n");

    ws.write_group_file("a1.yaml", "id: a1\ncolour: red\n");
    let invalid = ws.groupsync().arg("validate").output().unwrap();
    assert_exit(&invalid, 1);
    assert!(
        stderr(&invalid).ends_with("\n1 error; nothing was planned or written\n"),
        "{}",
        stderr(&invalid)
    );
}

#[test]
fn the_daemon_names_the_group_file_and_fields_that_drifted_and_reverts_them() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = pod_with_one_change();
    let metrics = write_daemon_config(&ws, true, "refresh: always\n");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_in_sync(2);

    // An admin changes a1 in the portal; a reload runs a cycle, which refreshes.
    pod.emulator
        .set_group(PodGroup::new("a1").name("Alpha").area("HACKED").build());
    let puts = pod.put_count();
    daemon.signal("HUP");
    pod.wait_puts(puts + 1);
    daemon.wait_stderr("drift: group a1");

    let stderr = daemon.stderr();
    let drift: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("drift: "))
        .collect();
    assert_eq!(drift.len(), 1, "{stderr}");
    assert!(
        drift[0].contains(
            "WARN drift: group a1 (groups.d/a1.yaml) changed outside groupsync: area \"NEW\" -> \"HACKED\""
        ),
        "{stderr}"
    );
    daemon.stop();
}

#[test]
fn the_daemon_announces_its_listener_once() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = pod_with_one_change();
    let metrics = write_daemon_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_ready();
    daemon.stop();

    let address = metrics.unwrap().to_string();
    let stderr = daemon.stderr();
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains(&address))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("/plan"), "{}", lines[0]);
}
