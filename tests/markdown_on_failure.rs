//! `--format markdown` when the run fails before it has a result: stdout
//! still holds one Markdown document, whose summary says the run failed and
//! whose `### Errors` section holds the message, so that a CI job posting
//! stdout as a pull-request comment never replaces the last plan with an
//! empty comment.

use crate::util::*;

const A1: &str = "id: a1\nname: Alpha\narea: NEW\n";

/// `groupsync ARGS --format markdown --config groupsync.yaml` in `ws`, with `env`.
fn markdown(ws: &Workspace, args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let mut command = ws.groupsync();
    command
        .args(args)
        .args(["--format", "markdown", "--config", "groupsync.yaml"]);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

/// The document a failed run prints: the summary, then the message escaped
/// in a `text` fence under `### Errors`, and nothing else. Returns the
/// message's line.
#[track_caller]
fn failure_document(output: &std::process::Output) -> String {
    assert_exit(output, 1);
    let document = stdout(output);
    let rest = document
        .strip_prefix(
            "**The run failed before it had a result.** Errors: 1.\n\n### Errors\n\n```text\n",
        )
        .unwrap_or_else(|| panic!("not a failure document:\n{document}"));
    let message = rest
        .strip_suffix("\n```\n")
        .unwrap_or_else(|| panic!("the errors fence is not the end:\n{document}"));
    assert!(!message.contains('\n'), "one line:\n{document}");
    // People still read the error on stderr, as with text.
    assert!(stderr(output).contains("error: "), "{}", stderr(output));
    message.to_string()
}

#[test]
fn the_pod_down_prints_a_document_naming_the_error() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", A1);
    ws.write_file("groupsync.yaml", FAST_RETRY);
    let closed = format!("127.0.0.1:{}", free_port());
    let env = [
        ("GROUPSYNC_POD_URL", format!("http://{closed}/pod")),
        ("GROUPSYNC_SESSION_TOKEN", TOKEN.to_string()),
    ];
    for args in [&["plan"][..], &["apply"], &["run", "--once"]] {
        let output = markdown(&ws, args, &env);
        let message = failure_document(&output);
        assert!(message.contains(&closed), "{args:?}: {message}");
    }
}

#[test]
fn a_config_error_prints_a_document_naming_it() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", A1);
    ws.write_file("groupsync.yaml", "concurrency: 0\n");
    for command in ["validate", "plan", "apply"] {
        let output = markdown(&ws, &[command], &[]);
        let message = failure_document(&output);
        assert!(message.contains("concurrency"), "{command}: {message}");
    }
}

#[test]
fn a_broken_state_file_prints_a_document_naming_it() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", A1);
    ws.write_file("groupsync.yaml", "");
    ws.write_file("state.json", "{ not json");
    let output = markdown(&ws, &["plan", "--state", "state.json"], &[]);
    let message = failure_document(&output);
    assert!(message.contains("state.json"), "{message}");
}

#[test]
fn a_plan_refused_by_a_safety_limit_prints_a_document_naming_the_limit() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", A1);
    ws.write_file(
        "groupsync.yaml",
        daemon_config(&ws, None, "limits: {max_changes: 0}\n"),
    );
    let pod = token_pod(vec![PodGroup::new("a1").name("Alpha").area("OLD").build()]);
    seed_state(&ws, &pod);
    let env = [
        ("GROUPSYNC_POD_URL", pod.emulator.pod_url()),
        ("GROUPSYNC_SESSION_TOKEN", TOKEN.to_string()),
    ];
    let output = markdown(&ws, &["apply"], &env);
    let message = failure_document(&output);
    assert!(message.contains("limits.max_changes = 0"), "{message}");
    assert_eq!(pod.put_count(), 0);
}

#[test]
fn a_message_cannot_break_out_of_its_fence() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", A1);
    let hostile = "ci ``` </details>\n**x**";
    let output = ws
        .groupsync()
        .args(["plan", "--format", "markdown", "--config", hostile])
        .output()
        .unwrap();
    assert_exit(&output, 1);
    let document = stdout(&output);
    let fence = "````";
    assert!(
        document.contains(&format!("### Errors\n\n{fence}text\n"))
            && document.ends_with(&format!("\n{fence}\n")),
        "the fence outgrows the message's backticks:\n{document}"
    );
    assert!(
        document.contains("\\u{a}**x**"),
        "the line break is escaped:\n{document}"
    );
}

#[test]
fn a_usage_error_prints_no_document() {
    let ws = Workspace::new();
    let output = ws
        .groupsync()
        .args(["plan", "--format", "markdown", "--no-such-flag"])
        .output()
        .unwrap();
    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "", "the format is not known yet");
}
