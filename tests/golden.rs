//! Golden tests: the text and JSON plan of the example tree `groups.d/`
//! against the shipped snapshot `examples/pod-snapshot.json`.

use crate::util::*;

/// Runs `groupsync plan` from the repository root on `groups.d/` and a
/// temporary copy of `examples/<snapshot>` (so that nothing a run does can
/// touch the shipped file).
fn plan_example(snapshot: &str, extra: &[&str]) -> std::process::Output {
    let ws = Workspace::new();
    let root = env!("CARGO_MANIFEST_DIR");
    std::fs::copy(format!("{root}/examples/{snapshot}"), ws.state_file()).unwrap();
    let mut command = ws.groupsync();
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
fn example_tree_against_an_in_sync_snapshot_has_no_changes() {
    let output = plan_example("in-sync-snapshot.json", &[]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "No changes. 12 groups in sync.\n"
    );
}
