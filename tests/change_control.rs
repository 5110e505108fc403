//! Change control through the real binary and the emulator: a plan saved
//! with `plan --out` and applied exactly (`apply FILE`), refused when stale
//! or altered; every write journaled with the plan's digest; a kill during
//! an apply leaves a chain that verifies and goes on; an approval in a
//! running daemon applies only the plan it names; the git revision in plans
//! and metrics.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::util::*;

/// Two groups on the pod, declared and applied once; then `a1`'s area
/// changes and a new group `New desk` is declared: a plan of one update
/// and one create.
fn pending_plan() -> (Workspace, PodFixture) {
    let (ws, pod) = two_groups_applied();
    ws.write_group_file("a1.yaml", "id: a1\narea: LATAM\n");
    ws.write_group_file("new.yaml", "name: New desk\narea: NA\n");
    pod.emulator.clear_requests();
    (ws, pod)
}

fn journal(ws: &Workspace) -> PathBuf {
    ws.path().join("state.journal.jsonl")
}

fn journal_records(ws: &Workspace) -> Vec<Value> {
    let text = std::fs::read_to_string(journal(ws)).unwrap_or_default();
    text.lines()
        .map(|line| serde_json::from_str(line).expect("a journal line is JSON"))
        .collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every request the pod took that writes (not GET), as `METHOD path body`.
fn writes(pod: &PodFixture) -> Vec<String> {
    pod.emulator
        .requests()
        .into_iter()
        .filter(|request| request.method != "GET")
        .map(|request| format!("{} {}", request.method, request.path))
        .collect()
}

fn save_plan(ws: &Workspace, pod: &PodFixture) -> (PathBuf, Value) {
    let output = pod.run(ws, &["plan", "--out", "plan.json"]);
    assert_exit(&output, 2);
    let path = ws.path().join("plan.json");
    let saved = read_json(&path);
    assert!(
        stderr(&output).contains("Saved the plan to plan.json"),
        "{}",
        stderr(&output)
    );
    (path, saved)
}

#[test]
fn a_saved_plan_applies_exactly_its_requests_without_reading_the_groups_dir_and_journals_each() {
    let (ws, pod) = pending_plan();
    let (_, saved) = save_plan(&ws, &pod);
    assert_eq!(saved["format"], "groupsync-plan");
    assert_eq!(saved["version"], 1);
    let digest = saved["digest"].as_str().unwrap().to_string();
    assert_eq!(digest.len(), 64);
    let planned: Vec<Value> = saved["requests"].as_array().unwrap().clone();
    assert_eq!(planned.len(), 2, "one PUT, one POST: {planned:?}");
    assert_eq!(saved["fingerprints"].as_array().unwrap().len(), 2);
    assert_eq!(pod.put_count(), 0, "plan --out writes nothing");

    // The JSON plan names the same plan by the same digest, cycle after cycle.
    for _ in 0..2 {
        let json: Value =
            serde_json::from_slice(&pod.run(&ws, &["plan", "--format", "json"]).stdout).unwrap();
        assert_eq!(json["digest"], digest.as_str());
    }

    // apply FILE never reads groups.d: a broken tree does not matter to it.
    ws.write_group_file("zz-broken.yaml", "id: [unterminated\n");
    ws.write_group_file("b2.yaml", "id: b2\narea: CHANGED-AFTER-REVIEW\n");
    let output = pod.run(&ws, &["apply", "plan.json"]);
    assert_exit(&output, 0);
    let mut sent = writes(&pod);
    sent.sort();
    assert_eq!(
        sent,
        [
            "POST /pod/v2/admin/usergroups",
            "PUT /pod/v2/admin/usergroups/a1"
        ]
    );
    assert_eq!(pod.put_bodies()["a1"], json!({"area": "LATAM"}));
    assert_eq!(
        pod.emulator.group("b2").unwrap().area.as_deref(),
        Some("APAC")
    );

    let records = journal_records(&ws);
    assert_eq!(records.len(), 2, "one record per write: {records:#?}");
    for record in &records {
        assert_eq!(record["plan_digest"], digest.as_str());
        assert_eq!(record["actor"], "session token");
        assert_eq!(record["kind"], "group");
        assert!(record["status"].as_u64().unwrap() < 300, "{record}");
    }
    let update = records
        .iter()
        .find(|record| record["request"]["method"] == "PUT")
        .unwrap();
    assert_eq!(update["group_id"], "a1");
    assert_eq!(update["before"], json!({"area": "EMEA"}));
    assert_eq!(update["after"], json!({"area": "LATAM"}));
    let verify = pod.run(&ws, &["journal", "verify"]);
    assert_exit(&verify, 0);

    // The state file records what was applied, by digest.
    let state = read_json(&ws.state_file());
    assert_eq!(state["last_applied"]["digest"], digest.as_str());
}

#[test]
fn a_portal_change_after_the_plan_makes_it_stale_and_nothing_is_written() {
    let (ws, pod) = pending_plan();
    let (path, _) = save_plan(&ws, &pod);
    let mut changed = pod.emulator.group("a1").unwrap();
    changed.description = Some("edited in the portal".into());
    pod.emulator.set_group(changed);

    let output = pod.run(&ws, &["apply", path.to_str().unwrap()]);
    assert_exit(&output, 1);
    let error = stderr(&output);
    assert!(
        error.contains("stale") && error.contains("a1") && error.contains("description"),
        "{error}"
    );
    assert!(writes(&pod).is_empty(), "{:?}", writes(&pod));
    assert!(journal_records(&ws).is_empty());
}

#[test]
fn a_group_made_in_the_portal_with_the_planned_name_makes_a_create_stale() {
    let (ws, pod) = pending_plan();
    let (path, _) = save_plan(&ws, &pod);
    pod.emulator.set_group(
        PodGroup::new("made-by-hand")
            .name("New desk")
            .area("NA")
            .build(),
    );
    let output = pod.run(&ws, &["apply", path.to_str().unwrap()]);
    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains("made-by-hand"),
        "{}",
        stderr(&output)
    );
    assert!(writes(&pod).is_empty());
}

#[test]
fn of_two_stale_resources_read_at_once_the_first_in_the_plan_is_named_and_both_reads_recorded() {
    let (ws, pod) = pending_plan();
    let (path, saved) = save_plan(&ws, &pod);
    // The plan's order: the update of a1, then the create of `New desk`.
    let fingerprints = saved["fingerprints"].as_array().unwrap();
    assert_eq!(fingerprints[0]["group"], json!({"id": "a1"}));
    assert!(
        fingerprints[1]["group"]["absent"].is_object(),
        "{fingerprints:?}"
    );
    let mut changed = pod.emulator.group("a1").unwrap();
    changed.description = Some("edited in the portal".into());
    pod.emulator.set_group(changed);
    pod.emulator.set_group(
        PodGroup::new("made-by-hand")
            .name("New desk")
            .area("NA")
            .build(),
    );
    pod.emulator.clear_requests();

    let output = pod.run(&ws, &["apply", path.to_str().unwrap()]);
    assert_exit(&output, 1);
    let error = stderr(&output);
    assert!(
        error.contains("a1") && error.contains("edited in the portal"),
        "{error}"
    );
    assert!(!error.contains("made-by-hand"), "{error}");
    assert!(writes(&pod).is_empty(), "{:?}", writes(&pod));
    // Each resource was read again (the create's as a lookup by name).
    let reads: Vec<String> = pod
        .emulator
        .requests()
        .into_iter()
        .filter(|request| request.method == "GET")
        .map(|request| request.path)
        .collect();
    assert!(
        reads.iter().any(|path| path.ends_with("/usergroups/a1")),
        "{reads:?}"
    );
    assert!(
        reads.iter().any(|path| path.ends_with("/usergroups")),
        "{reads:?}"
    );
    // What was read of the stale group is in the state file.
    let state = read_json(&ws.state_file());
    assert_eq!(
        state["groups"]["a1"]["pod"]["description"],
        "edited in the portal"
    );
}

#[test]
fn an_altered_truncated_foreign_unknown_or_non_json_plan_file_is_refused_and_nothing_written() {
    let (ws, pod) = pending_plan();
    let (path, _) = save_plan(&ws, &pod);
    let text = std::fs::read_to_string(&path).unwrap();
    let other = token_pod(vec![]);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "a changed byte",
            text.replace("LATAM", "LATAN"),
            "changed after",
        ),
        (
            "a changed request",
            text.replacen("\"area\": \"LATAM\"", "\"area\": \"EVIL\"", 1),
            "changed after",
        ),
        ("truncated", text[..text.len() / 2].to_string(), "truncated"),
        (
            "an unknown version",
            text.replacen("\"version\": 1", "\"version\": 7", 1),
            "version 7",
        ),
        ("not JSON", "this is no plan\n".to_string(), "not JSON"),
        (
            "not a plan",
            "{\"changes\": []}\n".to_string(),
            "not a groupsync plan",
        ),
    ];
    for (what, contents, says) in cases {
        std::fs::write(ws.path().join("bad.json"), &contents).unwrap();
        for command in [&["apply", "bad.json"][..], &["show", "bad.json"][..]] {
            let output = pod.run(&ws, command);
            assert_exit(&output, 1);
            assert!(
                stderr(&output).contains(says),
                "{what}, {command:?}: {}",
                stderr(&output)
            );
        }
        assert!(writes(&pod).is_empty(), "{what}");
    }
    // The good file, against another pod.
    let output = ws
        .groupsync_std()
        .args([
            "apply",
            "plan.json",
            "--groups-dir",
            "groups.d",
            "--state",
            "other.json",
        ])
        .env("GROUPSYNC_POD_URL", other.emulator.pod_url())
        .env("GROUPSYNC_SESSION_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains("it was made for the pod"),
        "{}",
        stderr(&output)
    );
    assert!(writes(&other).is_empty() && writes(&pod).is_empty());
    assert!(journal_records(&ws).is_empty());
}

#[test]
fn show_prints_a_saved_plan_in_every_format() {
    let (ws, pod) = pending_plan();
    let (_, saved) = save_plan(&ws, &pod);
    let digest = saved["digest"].as_str().unwrap();
    let text = pod.run(&ws, &["show", "plan.json"]);
    assert_exit(&text, 0);
    assert!(
        stdout(&text).contains("+area: LATAM")
            && stdout(&text).contains(&format!("Digest: {digest}"))
            && stdout(&text).contains("Plan: 1 to create, 1 to update"),
        "{}",
        stdout(&text)
    );
    let json: Value = serde_json::from_slice(
        &pod.run(&ws, &["show", "plan.json", "--format", "json"])
            .stdout,
    )
    .unwrap();
    assert_eq!(json["digest"], digest);
    assert_eq!(json["changes"].as_array().unwrap().len(), 2);
    let markdown = pod.run(&ws, &["show", "plan.json", "--format", "markdown"]);
    assert!(stdout(&markdown).starts_with("**Plan: 1 to create, 1 to update"));
    assert!(writes(&pod).is_empty());
}

#[test]
fn a_plan_with_nothing_to_do_applies_as_a_no_op() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\narea: EMEA\n");
    let pod = token_pod(vec![PodGroup::new("a1").name("Alpha").area("EMEA").build()]);
    let output = pod.run(&ws, &["plan", "--out", "plan.json"]);
    assert_exit(&output, 0);
    let output = pod.run(&ws, &["apply", "plan.json"]);
    assert_exit(&output, 0);
    assert!(writes(&pod).is_empty());
    assert!(journal_records(&ws).is_empty());
}

#[test]
fn an_apply_killed_mid_way_leaves_a_chain_that_verifies_and_the_next_apply_continues_it() {
    let ws = Workspace::new();
    let count = 40;
    let mut groups = Vec::new();
    for index in 0..count {
        let id = format!("g{index:02}");
        ws.write_group_file(&format!("{id}.yaml"), format!("id: {id}\narea: NEW\n"));
        groups.push(
            PodGroup::new(&id)
                .name(format!("G{index}"))
                .area("OLD")
                .build(),
        );
    }
    let pod = token_pod(groups);
    seed_state(&ws, &pod);
    pod.emulator
        .set_latency(std::time::Duration::from_millis(300));
    let mut apply = ws.groupsync_std();
    apply
        .args([
            "apply",
            "--refresh=false",
            "--groups-dir",
            "groups.d",
            "--state",
            "state.json",
        ])
        .env("GROUPSYNC_POD_URL", pod.emulator.pod_url())
        .env("GROUPSYNC_SESSION_TOKEN", TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = apply.spawn().unwrap();
    wait_until("the apply journals some writes", || {
        journal_records(&ws).len() >= 3
    });
    signal(&child, "KILL");
    child.wait().unwrap();
    let before = journal_records(&ws).len();
    assert!(before < count, "killed before the end: {before}");

    let verify = pod.run(&ws, &["journal", "verify"]);
    assert_exit(&verify, 0);
    pod.emulator.set_latency(std::time::Duration::ZERO);
    assert_exit(&pod.run(&ws, &["apply"]), 0);
    assert_exit(&pod.run(&ws, &["journal", "verify"]), 0);
    let records = journal_records(&ws);
    let seqs: Vec<u64> = records.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=records.len() as u64).collect::<Vec<_>>());
    let mut journaled: Vec<&str> = records
        .iter()
        .map(|record| record["group_id"].as_str().unwrap())
        .collect();
    journaled.sort();
    journaled.dedup();
    assert_eq!(
        journaled.len(),
        count,
        "every group's write is journaled once it was made"
    );
    for group in pod.emulator.groups() {
        assert_eq!(group.area.as_deref(), Some("NEW"));
    }
}

#[test]
fn a_journal_that_cannot_be_written_fails_the_apply_before_any_write() {
    let (ws, pod) = pending_plan();
    std::fs::create_dir(journal(&ws)).unwrap();
    let output = pod.run(&ws, &["apply"]);
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("journal"), "{}", stderr(&output));
    assert!(writes(&pod).is_empty(), "{:?}", writes(&pod));
}

fn approve(ws: &Workspace, digest: &str) -> std::process::Output {
    ws.groupsync_std()
        .args(["approve", digest, "--config", "groupsync.yaml"])
        .output()
        .unwrap()
}

/// The 64-digit digest after `approve ` in `/plan`.
fn held_digest(daemon: &Daemon) -> Option<String> {
    let (_, body) = daemon.http_get("/plan")?;
    let (_, after) = body.split_once("groupsync approve ")?;
    Some(after.chars().take(64).collect())
}

#[test]
fn an_approval_in_a_running_daemon_applies_only_the_plan_it_names() {
    let ws = Workspace::new();
    let pod = token_pod(vec![
        PodGroup::new("a1").name("A").area("OLD").build(),
        PodGroup::new("b2").name("B").area("OLD").build(),
    ]);
    ws.write_group_file("a1.yaml", "id: a1\narea: NEW\n");
    ws.write_group_file("b2.yaml", "id: b2\narea: NEW\n");
    let metrics = write_daemon_config(&ws, true, "limits: {max_changes: 1}\n");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    wait_until("the plan is held at /plan", || {
        held_digest(&daemon).is_some()
    });
    let first = held_digest(&daemon).unwrap();
    assert_eq!(pod.put_count(), 0);
    let (_, json) = daemon.http_get("/plan.json").unwrap();
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["digest"], first.as_str());

    let unknown = approve(&ws, &"0".repeat(64));
    assert_exit(&unknown, 1);
    assert!(
        stderr(&unknown).contains("no held plan has the digest"),
        "{}",
        stderr(&unknown)
    );

    assert_exit(&approve(&ws, &first), 0);
    // Before the next cycle, the plan changes: the approval is not for it.
    ws.write_group_file("b2.yaml", "id: b2\narea: OTHER\n");
    wait_until("the changed plan is held", || {
        held_digest(&daemon).is_some_and(|digest| digest != first)
    });
    assert_eq!(
        pod.put_count(),
        0,
        "a different plan needs an approval of its own"
    );

    // Back to the approved plan: the daemon applies it, once.
    ws.write_group_file("b2.yaml", "id: b2\narea: NEW\n");
    pod.wait_puts(2);
    daemon.wait_in_sync(2);
    assert_eq!(pod.put_count(), 2);
    let records = journal_records(&ws);
    assert_eq!(records[0]["kind"], "approval");
    assert_eq!(records[0]["plan_digest"], first.as_str());
    assert!(records[0]["actor"].as_str().unwrap().starts_with("user "));
    assert_eq!(records.len(), 3, "{records:#?}");
    assert!(
        records[1..]
            .iter()
            .all(|record| record["plan_digest"] == first.as_str())
    );
    assert!(
        !ws.path().join("state.approval.json").exists(),
        "the approval is used up"
    );
    daemon.stop();
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=Jane Doe",
            "-c",
            "user.email=jane@acme.test",
        ])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[test]
fn the_revision_of_a_git_repository_is_in_the_plan_the_journal_and_the_metrics() {
    let ws = Workspace::new();
    let pod = token_pod(vec![PodGroup::new("a1").name("A").area("OLD").build()]);
    ws.write_group_file("a1.yaml", "id: a1\narea: NEW\n");
    git(ws.path(), &["init", "-q"]);
    git(ws.path(), &["add", "groups.d"]);
    git(ws.path(), &["commit", "-q", "-m", "Move a1 to NEW"]);
    let head = git(ws.path(), &["rev-parse", "HEAD"]);

    let text = pod.run(&ws, &["plan"]);
    assert!(
        stdout(&text).contains(&format!(
            "Revision: {} \"Move a1 to NEW\" by Jane Doe",
            &head[..7]
        )),
        "{}",
        stdout(&text)
    );
    let json: Value =
        serde_json::from_slice(&pod.run(&ws, &["plan", "--format", "json"]).stdout).unwrap();
    assert_eq!(json["revision"]["commit"], head.as_str());
    assert_eq!(json["revision"]["dirty"], false);
    assert_eq!(json["revision"]["author"], "Jane Doe <jane@acme.test>");

    let metrics = write_daemon_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_in_sync(1);
    wait_until("the applied revision is exported", || {
        daemon.metric(
            "groupsync_applied_revision_info",
            &[("revision", head.as_str())],
        ) == Some(1.0)
    });
    daemon.stop();
    let records = journal_records(&ws);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["revision"], head.as_str());
    assert_eq!(records[0]["author"], "Jane Doe <jane@acme.test>");
    assert!(
        daemon.stderr().contains(&format!("revision={head}")),
        "{}",
        daemon.stderr()
    );
    let state = read_json(&ws.state_file());
    assert_eq!(state["last_applied"]["revision"], head.as_str());

    // A file changed and not committed: the tree is dirty.
    ws.write_group_file("a1.yaml", "id: a1\narea: DIRTY\n");
    let json: Value =
        serde_json::from_slice(&pod.run(&ws, &["plan", "--format", "json"]).stdout).unwrap();
    assert_eq!(json["revision"]["dirty"], true);
}

#[test]
fn a_plan_file_needs_a_pod_to_be_made_and_takes_no_refresh_to_be_applied() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\narea: EMEA\n");
    let offline = ws
        .groupsync()
        .args(["plan", "--out", "plan.json", "--groups-dir", "groups.d"])
        .args(["--state", "state.json"])
        .output()
        .unwrap();
    assert_exit(&offline, 1);
    assert!(
        stderr(&offline).contains("plan --out needs the pod"),
        "{}",
        stderr(&offline)
    );
    assert!(!ws.path().join("plan.json").exists());

    let refresh = ws
        .groupsync()
        .args(["apply", "plan.json", "--refresh"])
        .output()
        .unwrap();
    assert_exit(&refresh, 1);
    assert!(
        stderr(&refresh).contains("--refresh means nothing to `apply FILE`"),
        "{}",
        stderr(&refresh)
    );
}

#[test]
fn a_plan_that_could_not_plan_every_group_is_not_saved() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\narea: NEW\nmembers: [zoe.unknown]\n");
    ws.write_group_file("b2.yaml", "id: b2\narea: NEW\n");
    let pod = token_pod(vec![
        PodGroup::new("a1").name("A").area("OLD").build(),
        PodGroup::new("b2").name("B").area("OLD").build(),
    ]);
    let output = pod.run(&ws, &["plan", "--out", "plan.json"]);
    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains("No plan file written: 1 group could not be planned"),
        "{}",
        stderr(&output)
    );
    assert!(
        !ws.path().join("plan.json").exists(),
        "half a change is never saved"
    );
}

#[test]
fn applying_a_saved_plan_is_bounded_by_the_cycle_timeout_and_writes_nothing_late() {
    let (ws, pod) = pending_plan();
    save_plan(&ws, &pod);
    ws.write_file("groupsync.yaml", "cycle_timeout: 1s\n");
    pod.emulator.set_latency(std::time::Duration::from_secs(3));
    let output = ws
        .groupsync_std()
        .args(["apply", "plan.json", "--config", "groupsync.yaml"])
        .args(["--groups-dir", "groups.d", "--state", "state.json"])
        .env("GROUPSYNC_POD_URL", pod.emulator.pod_url())
        .env("GROUPSYNC_SESSION_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains("longer than cycle_timeout (1s)"),
        "{}",
        stderr(&output)
    );
    assert!(writes(&pod).is_empty(), "{:?}", writes(&pod));
}
