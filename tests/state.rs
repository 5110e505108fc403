//! The state file through the real binary: the lock, and corrupt files left untouched.

use crate::util::*;

use groupsync::pipeline::state::StateFile;

/// A workspace with one valid group, so that `plan` against an empty state has a change.
fn workspace_with_a_group() -> Workspace {
    let ws = Workspace::new();
    ws.write_group_file(
        "emea.yaml",
        "id: \"6543a1f0c2\"\nname: EMEA trading scope\narea: EMEA\n",
    );
    ws
}

fn plan(ws: &Workspace) -> assert_cmd::assert::Assert {
    ws.groupsync()
        .args(["plan", "--groups-dir", "groups.d", "--state", "state.json"])
        .assert()
}

#[test]
fn plan_refuses_a_state_file_locked_by_another_process() {
    let ws = workspace_with_a_group();
    let held = StateFile::open(&ws.state_file()).unwrap();

    let locked = plan(&ws).code(1);
    let stderr = stderr(locked.get_output());
    assert!(stderr.contains("locked by another groupsync"), "{stderr}");
    assert!(stderr.contains("state.json"), "{stderr}");

    drop(held);
    plan(&ws).code(2);
}

#[test]
fn plan_names_a_corrupt_state_file_and_leaves_it_unchanged() {
    let corrupt: [&[u8]; 2] = [
        b"{\"version\": 1, \"groups\": {",
        b"\x7fELF\x00\x01\xff\xfe binary garbage\x00",
    ];
    for bytes in corrupt {
        let ws = workspace_with_a_group();
        std::fs::write(ws.state_file(), bytes).unwrap();

        let failed = plan(&ws).code(1);
        let stderr = stderr(failed.get_output());
        assert!(stderr.contains("state file state.json: "), "{stderr}");
        assert!(stderr.contains("left untouched"), "{stderr}");

        assert_eq!(std::fs::read(ws.state_file()).unwrap(), bytes);
    }
}
