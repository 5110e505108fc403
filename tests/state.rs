//! The state file through the real binary: plans beside the lock, and corrupt files left untouched.

use crate::util::*;

use groupsync::store::state_file::StateFile;

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

/// `plan` takes no lock (it used to be refused here): it runs while another
/// process holds the lock, and creates no state file.
#[test]
fn plan_runs_while_another_process_holds_the_lock_and_writes_nothing() {
    let ws = workspace_with_a_group();
    let _held = StateFile::open(&ws.state_file()).unwrap();

    plan(&ws).code(2);
    assert!(!ws.state_file().exists(), "plan wrote the state file");
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
        assert_eq!(
            stderr.matches("left untouched").count(),
            1,
            "said once:\n{stderr}"
        );

        assert_eq!(std::fs::read(ws.state_file()).unwrap(), bytes);
    }
}
