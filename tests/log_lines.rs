//! Text logs as the journal and a terminal read them: a multi-line error
//! goes on indented continuation lines (which no reader takes for a record
//! of its own), and a log line that cannot be written is dropped, never a
//! panic.

use crate::util::*;

#[test]
fn a_multi_line_error_continues_on_indented_lines_in_text_logs() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\nname: Alpha\n");
    let pod = token_pod(vec![PodGroup::new("a1").name("Alpha").build()]);
    let metrics = write_daemon_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_in_sync(1);

    replace_file(
        &ws.groups_dir().join("bad.yaml"),
        "id: b1\ncolour: red\n---\nid: b2\nnmae: x\n",
    );
    daemon.wait_stderr("unknown key `nmae` (did you mean `name`?)");
    let log = daemon.stderr();
    let lines: Vec<&str> = log.lines().collect();
    let invalid = lines
        .iter()
        .position(|line| line.contains("the desired state is invalid"))
        .expect("the invalid state is logged");
    assert!(
        lines[invalid].ends_with("fix the files and save (2 errors):"),
        "{log}"
    );
    assert!(
        lines[invalid + 1].starts_with("  groups.d/bad.yaml:2:1: unknown key `colour`"),
        "{log}"
    );
    assert!(
        lines[invalid + 2]
            .starts_with("  groups.d/bad.yaml:5:1: unknown key `nmae` (did you mean `name`?)"),
        "{log}"
    );
    assert!(!log.contains("\\u{a}"), "{log}");
    daemon.stop();
}

#[test]
fn debug_logs_to_a_stderr_nobody_reads_are_dropped_not_a_panic() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\nname: Alpha\n");
    let pod = token_pod(vec![PodGroup::new("a1").name("Alpha").build()]);
    let (reader, writer) = std::io::pipe().expect("a pipe");
    // Nobody reads: each write to stderr fails (EPIPE).
    drop(reader);
    let mut command = ws.groupsync_std();
    command
        .args(["plan", "--groups-dir", "groups.d", "--state", "state.json"])
        .args(["--log-level", "debug"])
        .env("GROUPSYNC_POD_URL", pod.emulator.pod_url())
        .env("GROUPSYNC_SESSION_TOKEN", TOKEN)
        .stderr(writer);
    let output = command.output().expect("run groupsync");
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{}",
        stdout(&output)
    );
    assert!(
        stdout(&output).contains("No changes"),
        "{}",
        stdout(&output)
    );
}
