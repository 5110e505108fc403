//! `groupsync plan`: the diff, the JSON form and the exit codes, through the real binary.

use crate::util::*;

const TWO_GROUPS: &str = "\
groups:
  - id: \"6543a1f0c2\"
    name: EMEA trading scope
    area: EMEA
    description: Traders in London and Paris
    active: true
  - id: \"77aa01\"
    name: APAC wealth
    area: APAC
";

fn plan_command(ws: &Workspace) -> assert_cmd::Command {
    let mut command = ws.groupsync();
    command.args(["plan", "--groups-dir", "groups.d", "--state", "state.json"]);
    command
}

#[test]
fn one_changed_field_prints_the_diff_and_exits_2() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", TWO_GROUPS);
    ws.write_state(&[
        PodGroup::new("6543a1f0c2")
            .name("EMEA trading scope")
            .area("EMEA-old")
            .description("Traders in London and Paris")
            .build(),
        PodGroup::new("77aa01")
            .name("APAC wealth")
            .area("APAC")
            .description("Singapore desk")
            .build(),
    ]);
    let output = plan_command(&ws).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(
        stdout(&output),
        "\
--- pod 6543a1f0c2 (EMEA trading scope)
+++ groups.d/emea.yaml
@@ -1,4 +1,4 @@
 name: EMEA trading scope
-area: EMEA-old
+area: EMEA
 description: Traders in London and Paris
 active: true
PUT /v2/admin/usergroups/6543a1f0c2 {\"area\":\"EMEA\"}

Digest: 5cd600fee6cd802018823ab6848442fa9dd719eb29dee89e1ebaaab608d407b1
Plan: 1 to update, 1 unchanged.
"
    );
}

#[test]
fn matching_snapshot_prints_no_changes_and_exits_0() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", TWO_GROUPS);
    ws.write_state(&[
        PodGroup::new("6543a1f0c2")
            .name("EMEA trading scope")
            .area("EMEA")
            .description("Traders in London and Paris")
            .build(),
        PodGroup::new("77aa01")
            .name("APAC wealth")
            .area("APAC")
            .description("anything: not managed")
            .active(false)
            .build(),
    ]);
    let output = plan_command(&ws).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(stdout(&output), "No changes. 2 groups in sync.\n");
}

#[test]
fn without_a_state_file_every_group_is_planned_from_null() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", TWO_GROUPS);
    let output = plan_command(&ws)
        .arg("--format")
        .arg("json")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["unchanged"], 0);
    assert_eq!(json["errors"], serde_json::json!([]));
    let changes = json["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[1]["group_id"], "77aa01");
    assert_eq!(changes[1]["source"], "groups.d/emea.yaml");
    assert_eq!(
        changes[1]["fields"],
        serde_json::json!({"name": {"from": null, "to": "APAC wealth"}, "area": {"from": null, "to": "APAC"}})
    );
    assert_eq!(
        changes[1]["request"],
        serde_json::json!({"method": "PUT", "path": "/v2/admin/usergroups/77aa01", "body": {"name": "APAC wealth", "area": "APAC"}})
    );
}

#[test]
fn unknown_group_diff_adds_every_declared_line() {
    let ws = Workspace::new();
    ws.write_group_file("one.yaml", "id: abc\nname: Solo\nactive: false\n");
    let output = plan_command(&ws).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stdout(&output),
        "\
--- pod abc (not in the snapshot)
+++ groups.d/one.yaml
@@ -0,0 +1,2 @@
+name: Solo
+active: false
PUT /v2/admin/usergroups/abc {\"name\":\"Solo\",\"active\":false}

Digest: 14d79408d4ca30ce82425e97ad68c454c114f6517989988596a31153b0dae9b4
Plan: 1 to update, 0 unchanged.
"
    );
}

#[test]
fn full_update_mode_from_the_config_file_sends_every_declared_field() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", TWO_GROUPS);
    ws.write_state(&[
        PodGroup::new("6543a1f0c2")
            .name("EMEA trading scope")
            .area("EMEA-old")
            .description("Traders in London and Paris")
            .build(),
        PodGroup::new("77aa01")
            .name("APAC wealth")
            .area("APAC")
            .build(),
    ]);
    std::fs::write(ws.path().join("groupsync.yaml"), "update_mode: full\n").unwrap();
    let output = plan_command(&ws)
        .args(["--config", "groupsync.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stdout(&output).contains(
            "PUT /v2/admin/usergroups/6543a1f0c2 {\"name\":\"EMEA trading scope\",\"area\":\"EMEA\",\"description\":\"Traders in London and Paris\",\"active\":true}"
        ),
        "{}",
        stdout(&output)
    );
}

#[test]
fn invalid_desired_state_exits_1_and_touches_no_state() {
    let ws = Workspace::new();
    ws.write_group_file("bad.yaml", "groups:\n  - id: \"\"\n    name: X\n");
    let output = plan_command(&ws).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("groups.d/bad.yaml:2:"), "{stderr}");
    assert!(!ws.state_file().exists());
    assert!(output.stdout.is_empty());
}

#[test]
fn invalid_desired_state_in_json_lists_errors_on_stdout() {
    let ws = Workspace::new();
    ws.write_group_file("bad.yaml", "id: x\nname: y\ncolour: red\n");
    let output = plan_command(&ws)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let error = &json["errors"][0];
    assert_eq!(error["path"], "groups.d/bad.yaml");
    assert_eq!(error["line"], 3);
    assert_eq!(error["column"], 1);
    assert!(
        error["message"].as_str().unwrap().contains("colour"),
        "{error}"
    );
}

#[test]
fn usage_errors_exit_1_not_2() {
    let ws = Workspace::new();
    let output = ws
        .groupsync()
        .args(["plan", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn no_colour_when_stdout_is_not_a_terminal() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", TWO_GROUPS);
    let output = plan_command(&ws).env_remove("NO_COLOR").output().unwrap();
    assert!(
        !output.stdout.contains(&0x1b),
        "escape codes in piped output"
    );
}

#[test]
fn environment_variables_stand_in_for_flags_and_flags_win() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", TWO_GROUPS);
    std::fs::create_dir_all(ws.path().join("other")).unwrap();
    let output = ws
        .groupsync()
        .arg("plan")
        .env("GROUPSYNC_GROUPS_DIR", "groups.d")
        .env("GROUPSYNC_STATE", "state.json")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let flag_wins = ws
        .groupsync()
        .args(["plan", "--groups-dir", "other"])
        .env("GROUPSYNC_GROUPS_DIR", "groups.d")
        .env("GROUPSYNC_STATE", "state.json")
        .output()
        .unwrap();
    assert_eq!(
        flag_wins.status.code(),
        Some(1),
        "an empty dir has zero groups"
    );
    assert!(String::from_utf8_lossy(&flag_wins.stderr).contains("other"));
}

#[test]
fn the_diff_names_files_relative_to_the_groups_dirs_parent() {
    let ws = Workspace::new();
    ws.write_group_file("one.yaml", "id: abc\nname: Solo\n");
    let output = ws
        .groupsync()
        .args(["plan", "--state", "state.json", "--groups-dir"])
        .arg(ws.groups_dir())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stdout(&output).contains("\n+++ groups.d/one.yaml\n"),
        "{}",
        stdout(&output)
    );
}

/// A pod group name holding terminal escape sequences (a
/// screen clear, a window-title OSC) and a bidi override is shown escaped in
/// the text plan, never sent to the terminal raw.
#[test]
fn pod_strings_never_reach_the_terminal_raw() {
    let ws = Workspace::new();
    ws.write_group_file("evil.yaml", "id: e1\narea: EMEA\n");
    let name = "\u{1b}[2J\u{1b}]0;pwned\u{7}Evil\u{202e}txt.exe";
    ws.write_state(&[PodGroup::new("e1")
        .name(name)
        .area("EMEA-old")
        .description("line one\nINFO forged line")
        .build()]);
    let output = plan_command(&ws).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let text = stdout(&output);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\u{202e}'),
        "{text:?}"
    );
    assert!(
        text.contains("--- pod e1 (\\u{1b}[2J\\u{1b}]0;pwned\\u{7}Evil\\u{202e}txt.exe)"),
        "{text}"
    );
    assert!(!text.lines().any(|line| line.starts_with("INFO")), "{text}");
}
