//! Golden tests: the text, JSON and Markdown plan of the example tree
//! `groups.d/` against the shipped snapshot `examples/pod-snapshot.json`.

use crate::util::*;

/// Runs `groupsync plan` from the repository root on `groups.d/` and a
/// temporary copy of `examples/<snapshot>` (so that nothing a run does can
/// touch the shipped file).
fn plan_example(snapshot: &str, extra: &[&str]) -> std::process::Output {
    let ws = Workspace::new();
    let root = env!("CARGO_MANIFEST_DIR");
    std::fs::copy(format!("{root}/examples/{snapshot}"), ws.state_file()).unwrap();
    let mut command = ws.groupsync();
    // The same revision wherever the tests run (a clone of any commit, dirty or not).
    command.env("GROUPSYNC_REVISION", "golden-rev");
    command
        .current_dir(root)
        .args(["plan", "--groups-dir", "groups.d", "--state"])
        .arg(ws.state_file());
    command.args(extra).output().unwrap()
}

#[test]
fn text_plan_of_the_example_tree() {
    let output = plan_example("pod-snapshot.json", &[]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    insta::assert_snapshot!(String::from_utf8(output.stdout).unwrap());
}

#[test]
fn json_plan_of_the_example_tree() {
    let output = plan_example("pod-snapshot.json", &["--format", "json"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    insta::assert_snapshot!(String::from_utf8(output.stdout).unwrap());
}

#[test]
fn markdown_plan_of_the_example_tree() {
    let output = plan_example("pod-snapshot.json", &["--format", "markdown"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    insta::assert_snapshot!(String::from_utf8(output.stdout).unwrap());
}

#[test]
fn example_tree_against_an_in_sync_snapshot_has_no_changes() {
    let output = plan_example("in-sync-snapshot.json", &[]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "No changes. 12 groups in sync.\n"
    );
}

/// A tree with two groups declared without `id` and one with, planned
/// offline: the id-less ones are creates (one of them inactive, so a PUT
/// follows its POST), the other an ordinary update.
fn plan_creates(extra: &[&str]) -> std::process::Output {
    let ws = Workspace::new();
    ws.write_group_file(
        "emea.yaml",
        "groups:\n\
         \x20 - name: EMEA rates\n\
         \x20   area: EMEA\n\
         \x20   description: Rates desks in London\n\
         \x20 - name: EMEA rates (retired)\n\
         \x20   area: EMEA\n\
         \x20   active: false\n\
         \x20 - id: \"6543a1f0c2\"\n\
         \x20   area: EMEA\n",
    );
    ws.write_state(&[groupsync::model::UserGroupResponse {
        id: Some("6543a1f0c2".into()),
        name: Some("EMEA trading scope".into()),
        area: Some("EMEA-old".into()),
        group_type: Some("ROLE_SCOPE".into()),
        active: Some(true),
        ..Default::default()
    }]);
    let mut command = ws.groupsync();
    // The same revision wherever the tests run (a clone of any commit, dirty or not).
    command.env("GROUPSYNC_REVISION", "golden-rev");
    command
        .args(["plan", "--groups-dir", "groups.d", "--state"])
        .arg(ws.state_file());
    command.args(extra).output().unwrap()
}

#[test]
fn text_plan_of_creates() {
    let output = plan_creates(&[]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    insta::assert_snapshot!(String::from_utf8(output.stdout).unwrap());
}

#[test]
fn json_plan_of_creates() {
    let output = plan_creates(&["--format", "json"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    insta::assert_snapshot!(String::from_utf8(output.stdout).unwrap());
}

#[test]
fn markdown_plan_of_creates() {
    let output = plan_creates(&["--format", "markdown"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    insta::assert_snapshot!(String::from_utf8(output.stdout).unwrap());
}
