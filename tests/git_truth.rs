//! Git as the whole truth, through the real binary and the emulator: a
//! deleted file leaves an orphan (listed; pruned on request, within a
//! guard), `forget`, drift held or reverted (`on_drift`), renames of groups
//! without `id` (`previously:`), and plans that read the pod by default.

use serde_json::{Value, json};

use groupsync::model::Roster;

use crate::util::*;

fn json_plan(ws: &Workspace, pod: &PodFixture, extra: &[&str]) -> Value {
    let mut args = vec!["plan", "--format", "json"];
    args.extend_from_slice(extra);
    let output = pod.run(ws, &args);
    serde_json::from_slice(&output.stdout).expect("one JSON document")
}

#[test]
fn a_deleted_file_leaves_an_orphan_listed_and_pruned_only_on_request() {
    let (ws, pod) = two_groups_applied();
    std::fs::remove_file(ws.groups_dir().join("b2.yaml")).unwrap();
    pod.emulator.clear_requests();

    let plan = pod.run(&ws, &["plan"]);
    assert_exit(&plan, 0);
    let text = stdout(&plan);
    assert!(
        text.contains("Orphans")
            && text.contains("b2 \"Beta\" (last declared in groups.d/b2.yaml)"),
        "{text}"
    );
    assert_eq!(
        json_plan(&ws, &pod, &[])["orphans"],
        json!([{"group_id": "b2", "name": "Beta", "last_file": "groups.d/b2.yaml"}])
    );
    assert_exit(&pod.run(&ws, &["apply"]), 0);
    assert_eq!(
        pod.put_count(),
        0,
        "nothing is written for an orphan by default"
    );

    let plan = pod.run(&ws, &["plan", "--prune"]);
    assert_exit(&plan, 2);
    assert!(
        stdout(&plan).contains("PUT /v2/admin/usergroups/b2 {\"active\":false}"),
        "{}",
        stdout(&plan)
    );
    let apply = pod.run(&ws, &["apply", "--prune"]);
    assert_exit(&apply, 0);
    assert_eq!(
        pod.put_log(),
        [("b2".to_string(), json!({"active": false}))]
    );
    assert_eq!(pod.emulator.group("b2").unwrap().active, Some(false));

    pod.emulator.clear_requests();
    let again = pod.run(&ws, &["apply", "--prune"]);
    assert_exit(&again, 0);
    assert_eq!(pod.put_count(), 0, "then nothing: {}", stdout(&again));
    assert!(
        stdout(&again).contains("inactive already"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn pruning_most_managed_groups_at_once_needs_force() {
    let ws = Workspace::new();
    let ids = ["g1", "g2", "g3", "g4"];
    for id in ids {
        ws.write_group_file(&format!("{id}.yaml"), format!("id: {id}\narea: X\n"));
    }
    let pod = token_pod(
        ids.iter()
            .map(|id| PodGroup::new(id).area("X").build())
            .collect(),
    );
    assert_exit(&pod.run(&ws, &["apply"]), 0);
    // A checkout half-way: three of four files gone.
    for id in &ids[1..] {
        std::fs::remove_file(ws.groups_dir().join(format!("{id}.yaml"))).unwrap();
    }

    let refused = pod.run(&ws, &["apply", "--prune"]);
    assert_exit(&refused, 1);
    assert!(
        stderr(&refused).contains("prunes 3 of the 4 groups groupsync manages")
            && stderr(&refused).contains("limits.max_prune_fraction"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(pod.put_count(), 0);

    assert_exit(&pod.run(&ws, &["apply", "--prune", "--force"]), 0);
    assert_eq!(pod.put_count(), 3);
}

#[test]
fn forget_stops_managing_without_a_write_and_refuses_an_unknown_id() {
    let (ws, pod) = two_groups_applied();
    std::fs::remove_file(ws.groups_dir().join("b2.yaml")).unwrap();

    let unknown = pod.run(&ws, &["forget", "b2", "zz9"]);
    assert_exit(&unknown, 1);
    assert!(stderr(&unknown).contains("\"zz9\""), "{}", stderr(&unknown));
    assert!(ws.load_state().managed("b2").is_some(), "nothing forgotten");

    pod.emulator.clear_requests();
    let forget = pod.run(&ws, &["forget", "b2"]);
    assert_exit(&forget, 0);
    assert!(
        stdout(&forget).contains("forgot b2 (\"Beta\")"),
        "{}",
        stdout(&forget)
    );
    assert_eq!(pod.emulator.requests(), [], "the pod is untouched");
    let plan = pod.run(&ws, &["plan", "--prune"]);
    assert_exit(&plan, 0);
    assert!(!stdout(&plan).contains("Orphans"), "{}", stdout(&plan));
}

#[test]
fn a_plan_reads_the_pod_and_a_plain_apply_reverts_the_drift_it_shows() {
    let (ws, pod) = two_groups_applied();
    let mut changed = pod.emulator.group("a1").unwrap();
    changed.area = Some("GLOBAL".into());
    pod.emulator.set_group(changed);

    let plan = pod.run(&ws, &["plan"]);
    assert_exit(&plan, 2);
    assert!(
        stdout(&plan).contains("Drift: a1 changed outside groupsync: area \"EMEA\" -> \"GLOBAL\""),
        "{}",
        stdout(&plan)
    );
    assert_exit(&pod.run(&ws, &["apply"]), 0);
    assert_eq!(
        pod.emulator.group("a1").unwrap().area.as_deref(),
        Some("EMEA")
    );
}

/// a1 declared with `on_drift: hold`, its members managed; applied once.
fn held_group() -> (Workspace, PodFixture) {
    let ws = Workspace::new();
    ws.write_group_file(
        "a1.yaml",
        "id: a1\narea: EMEA\nmembers: [alice, bob]\non_drift: hold\n",
    );
    let pod = PodSeed::new()
        .group(PodGroup::new("a1").area("EMEA").members(["alice", "bob"]))
        .users(["dave"])
        .start();
    assert_exit(&pod.run(&ws, &["apply"]), 0);
    (ws, pod)
}

/// The portal changes a1's area and swaps bob for dave.
fn change_in_the_portal(pod: &PodFixture) {
    let mut changed = pod.emulator.group("a1").unwrap();
    changed.area = Some("GLOBAL".into());
    pod.emulator.set_group(changed);
    pod.emulator
        .set_roster("a1", Roster::Members, ["alice", "dave"])
        .unwrap();
}

#[test]
fn held_drift_is_shown_not_written_until_revert_drift() {
    let (ws, pod) = held_group();
    change_in_the_portal(&pod);
    pod.emulator.clear_requests();

    let plan = pod.run(&ws, &["plan"]);
    assert_exit(&plan, 0);
    let text = stdout(&plan);
    assert!(
        text.contains("Held drift")
            && text.contains("area \"GLOBAL\" on the pod, \"EMEA\" in git")
            && text.contains("members \"bob\" removed on the pod, \"dave\" added on the pod"),
        "{text}"
    );
    let held = json_plan(&ws, &pod, &[]);
    assert_eq!(held["held_drift"][0]["group_id"], "a1", "{held}");
    assert_exit(&pod.run(&ws, &["apply"]), 0);
    assert_eq!(
        pod.put_count() + pod.member_puts().len(),
        0,
        "held, not written"
    );

    assert_exit(&pod.run(&ws, &["apply", "--revert-drift"]), 0);
    assert_eq!(
        pod.emulator.group("a1").unwrap().area.as_deref(),
        Some("EMEA")
    );
    assert_eq!(pod.emulator.members("a1"), ["alice", "bob"]);
}

#[test]
fn a_commit_adopting_the_held_value_makes_it_git_and_a_commit_changing_it_writes() {
    let (ws, pod) = held_group();
    change_in_the_portal(&pod);
    // Adopt the portal's area and members into git: nothing to write.
    ws.write_group_file(
        "a1.yaml",
        "id: a1\narea: GLOBAL\nmembers: [alice, dave]\non_drift: hold\n",
    );
    pod.emulator.clear_requests();
    let adopt = pod.run(&ws, &["apply"]);
    assert_exit(&adopt, 0);
    assert!(stdout(&adopt).contains("No changes."), "{}", stdout(&adopt));
    assert_eq!(pod.put_count() + pod.member_puts().len(), 0);

    // A commit declaring something else is an ordinary change.
    ws.write_group_file(
        "a1.yaml",
        "id: a1\narea: APAC\nmembers: [alice, dave]\non_drift: hold\n",
    );
    assert_exit(&pod.run(&ws, &["apply"]), 0);
    assert_eq!(pod.put_log(), [("a1".to_string(), json!({"area": "APAC"}))]);
}

#[test]
fn a_daemon_holds_drift_under_hold_and_reverts_it_under_revert() {
    for (policy, reverted) in [("hold", false), ("revert", true)] {
        let ws = Workspace::new();
        ws.write_group_file("a1.yaml", "id: a1\narea: EMEA\nmembers: [alice, bob]\n");
        let pod = PodSeed::new()
            .group(PodGroup::new("a1").area("EMEA").members(["alice", "bob"]))
            .users(["dave"])
            .start();
        let metrics = write_daemon_config(&ws, true, &format!("on_drift: {policy}\n"));
        let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
        daemon.wait_in_sync(1);
        change_in_the_portal(&pod);
        // A reload reads every group and list: the drift is seen.
        let cycles = daemon.cycles("success");
        daemon.signal("HUP");
        daemon.wait_cycles("success", cycles + 1.0);
        let area = pod.emulator.group("a1").unwrap().area;
        if reverted {
            assert_eq!(area.as_deref(), Some("EMEA"), "{policy}");
            assert_eq!(pod.emulator.members("a1"), ["alice", "bob"], "{policy}");
        } else {
            assert_eq!(area.as_deref(), Some("GLOBAL"), "{policy}");
            assert_eq!(pod.emulator.members("a1"), ["alice", "dave"], "{policy}");
            assert_eq!(daemon.metric("groupsync_held_drift", &[]), Some(1.0));
        }
        daemon.stop();
    }
}

#[test]
fn a_group_without_id_renamed_with_previously_is_renamed_not_created() {
    let ws = Workspace::new();
    ws.write_group_file("rates.yaml", "name: EMEA rates\narea: EMEA\n");
    let pod = token_pod(Vec::new());
    assert_exit(&pod.run(&ws, &["apply"]), 0);
    assert_eq!(pod.emulator.groups().len(), 1);

    ws.write_group_file(
        "rates.yaml",
        "name: EMEA rates and credit\narea: EMEA\npreviously: [\"EMEA rates\"]\n",
    );
    let plan = pod.run(&ws, &["plan"]);
    assert_exit(&plan, 2);
    assert!(
        stdout(&plan).contains("{\"name\":\"EMEA rates and credit\"}"),
        "a rename PUT: {}",
        stdout(&plan)
    );
    assert_exit(&pod.run(&ws, &["apply"]), 0);
    let groups = pod.emulator.groups();
    assert_eq!(groups.len(), 1, "exactly one group: {groups:?}");
    assert_eq!(groups[0].name.as_deref(), Some("EMEA rates and credit"));

    // Once the state no longer knows the old name, the pod's name filter finds it.
    ws.write_group_file(
        "rates.yaml",
        "name: Rates\narea: EMEA\npreviously: [\"EMEA rates and credit\"]\n",
    );
    std::fs::remove_file(ws.state_file()).unwrap();
    assert_exit(&pod.run(&ws, &["apply"]), 0);
    assert_eq!(pod.emulator.groups().len(), 1);
}

#[test]
fn a_rename_without_previously_warns_naming_both_groups() {
    let ws = Workspace::new();
    ws.write_group_file("rates.yaml", "name: EMEA rates\narea: EMEA\n");
    let pod = token_pod(Vec::new());
    assert_exit(&pod.run(&ws, &["apply"]), 0);
    let old_id = pod.emulator.groups()[0].id.clone().unwrap();

    ws.write_group_file("rates.yaml", "name: EMEA rates and credit\narea: EMEA\n");
    let plan = pod.run(&ws, &["plan"]);
    assert_exit(&plan, 2);
    let text = stdout(&plan);
    assert!(
        text.contains(&format!("while group {old_id} (\"EMEA rates\")"))
            && text.contains("add `previously: [\"EMEA rates\"]`"),
        "{text}"
    );
}

#[test]
fn bad_prune_on_drift_and_previously_values_are_errors_at_their_place() {
    let ws = Workspace::new();
    ws.write_group_file("a.yaml", "name: A\non_drift: maybe\nprevious: x\n");
    ws.write_group_file("b.yaml", "name: B\npreviously: 7\n");
    let output = ws
        .groupsync()
        .args(["validate", "--groups-dir", "groups.d"])
        .output()
        .unwrap();
    assert_exit(&output, 1);
    let text = stderr(&output);
    assert!(
        text.contains("groups.d/a.yaml:2:11: `on_drift` must be one of `revert` or `hold`"),
        "{text}"
    );
    assert!(
        text.contains("groups.d/b.yaml:2:13: `previously` must be a list of the names"),
        "{text}"
    );

    ws.write_file("groupsync.yaml", "prune: delete\n");
    let output = ws
        .groupsync()
        .args([
            "validate",
            "--config",
            "groupsync.yaml",
            "--groups-dir",
            "groups.d",
        ])
        .output()
        .unwrap();
    assert_exit(&output, 1);
    let text = stderr(&output);
    assert!(
        text.contains("groupsync.yaml:1:8")
            && text.contains("`off`")
            && text.contains("`deactivate`"),
        "{text}"
    );
}

#[test]
fn a_state_file_from_before_ownership_is_adopted_on_its_first_apply() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\narea: EMEA\n");
    let pod = token_pod(vec![PodGroup::new("a1").name("Alpha").area("EMEA").build()]);
    // An older state file: the group recorded, nothing managed.
    ws.write_state(&pod.emulator.groups());
    assert!(ws.load_state().managed("a1").is_none());
    assert_exit(&pod.run(&ws, &["apply"]), 0);
    let state = ws.load_state();
    let managed = state.managed("a1").expect("managed from now on");
    assert_eq!(&*managed.file, "groups.d/a1.yaml");
    assert_eq!(managed.applied.fields.area.as_deref(), Some("EMEA"));
}
