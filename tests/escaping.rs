//! Text from the pod never forges a line of a plan: a group name holding a
//! line break, terminal controls or bidi overrides is shown escaped, in the
//! diff header, the YAML block and the drift line, in every format.

use crate::util::*;

/// A pod group name that tries to end its header line and start plan lines of its own.
const FORGING: &str =
    "x)\n+++ groups.d/forged.yaml\nPUT /v2/admin/usergroups/ALL {\"active\":false}";

/// Characters that drive a terminal or reorder text: ESC (with an OSC), BEL, CR, CSI (C1), RLO.
const CONTROLS: &str = "a\u{1b}]0;owned\u{7}b\rc\u{9b}2Jd\u{202e}e";

fn plan(ws: &Workspace, format: &str) -> String {
    let output = ws
        .groupsync()
        .args(["plan", "--groups-dir", "groups.d", "--state", "state.json"])
        .args(["--format", format])
        .output()
        .unwrap();
    assert_exit(&output, 2);
    stdout(&output)
}

/// Group g1 as the snapshot recorded it, named `name` and described
/// `description`; YAML changes its area so that it is planned.
fn workspace(name: &str, description: &str) -> Workspace {
    let ws = Workspace::new();
    ws.write_group_file("g1.yaml", "id: g1\narea: NEW\n");
    ws.write_state(&[PodGroup::new("g1")
        .name(name)
        .area("OLD")
        .description(description)
        .build()]);
    ws
}

#[test]
fn a_line_break_in_a_pod_name_cannot_forge_plan_lines() {
    let ws = workspace(FORGING, "d");
    for format in ["text", "markdown"] {
        let shown = plan(&ws, format);
        for line in shown.lines() {
            assert!(
                !line.starts_with("+++ groups.d/forged.yaml")
                    && !line.starts_with("PUT /v2/admin/usergroups/ALL"),
                "a forged line in the {format} plan:\n{shown}"
            );
        }
        assert!(
            shown.contains("x)\\u{a}+++ groups.d/forged.yaml"),
            "the name is shown escaped in the {format} plan:\n{shown}"
        );
    }
}

#[test]
fn controls_and_bidi_overrides_from_the_pod_are_escaped_in_every_format() {
    let ws = workspace(CONTROLS, CONTROLS);
    for format in ["text", "markdown"] {
        let shown = plan(&ws, format);
        for raw in ['\u{1b}', '\u{7}', '\r', '\u{9b}', '\u{202e}'] {
            assert!(
                !shown.contains(raw),
                "{raw:?} reaches the {format} plan raw:\n{shown:?}"
            );
        }
    }
}

#[test]
fn drift_from_the_pod_is_one_escaped_line_in_every_format() {
    let ws = Workspace::new();
    ws.write_group_file("g1.yaml", "id: g1\narea: NEW\n");
    ws.write_state(&[PodGroup::new("g1").name("A").area("OLD").build()]);
    let pod = token_pod(vec![
        PodGroup::new("g1").name(FORGING).area(CONTROLS).build(),
    ]);
    for format in ["text", "markdown"] {
        let output = pod.run(&ws, &["plan", "--refresh", "--format", format]);
        assert_exit(&output, 2);
        let shown = stdout(&output);
        assert!(shown.contains("changed outside groupsync"), "{shown}");
        for raw in ['\u{1b}', '\u{7}', '\r', '\u{9b}', '\u{202e}'] {
            assert!(!shown.contains(raw), "{raw:?} raw in {format}:\n{shown:?}");
        }
        assert!(
            !shown
                .lines()
                .any(|line| line.starts_with("PUT /v2/admin/usergroups/ALL")),
            "a forged line in the {format} plan:\n{shown}"
        );
    }
}

#[test]
fn the_daemons_plan_page_shows_a_forging_pod_name_escaped() {
    let ws = Workspace::new();
    ws.write_group_file("g1.yaml", "id: g1\narea: NEW\n");
    let pod = token_pod(vec![
        PodGroup::new("g1").name(FORGING).area(CONTROLS).build(),
    ]);
    let metrics = write_daemon_config(&ws, true, "dry_run: true\n");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    wait_until("/plan shows the plan", || {
        daemon
            .http_get("/plan")
            .is_some_and(|(status, body)| status == 200 && body.contains("Plan: 1 to update"))
    });
    let (_, shown) = daemon.http_get("/plan").unwrap();
    for line in shown.lines() {
        assert!(
            !line.starts_with("+++ groups.d/forged.yaml")
                && !line.starts_with("PUT /v2/admin/usergroups/ALL"),
            "a forged line at /plan:\n{shown}"
        );
    }
    assert!(
        shown.contains("x)\\u{a}+++ groups.d/forged.yaml"),
        "{shown}"
    );
    for raw in ['\u{1b}', '\u{7}', '\r', '\u{9b}', '\u{202e}'] {
        assert!(
            !shown.contains(raw),
            "{raw:?} reaches /plan raw:\n{shown:?}"
        );
    }
    let (_, json) = daemon.http_get("/plan.json").unwrap();
    let json: serde_json::Value = serde_json::from_str(&json).expect("/plan.json stays JSON");
    assert_eq!(json["changes"].as_array().unwrap().len(), 1);
    daemon.stop();
}
