//! The places groupsync lives besides a terminal: shell completions and the
//! man page (through the real binary), the Prometheus rules and Grafana
//! dashboard (against the real daemon's `/metrics`), the Kubernetes
//! manifests and the CI examples (parsed, their key settings checked).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::util::*;

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn repo_text(relative: &str) -> String {
    let path = repo_path(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn groupsync_prints(args: &[&str]) -> String {
    let output = Workspace::new().groupsync().args(args).output().unwrap();
    assert_exit(&output, 0);
    stdout(&output)
}

#[test]
fn every_shell_gets_a_completion_script_of_the_commands_and_flags() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = groupsync_prints(&["completions", shell]);
        for word in ["plan", "--refresh", "--lock-timeout", "markdown"] {
            assert!(script.contains(word), "{shell} lacks {word}:\n{script}");
        }
    }
    let bash = groupsync_prints(&["completions", "bash"]);
    assert!(bash.contains("complete -F _groupsync"), "{bash}");
    let output = Workspace::new()
        .groupsync()
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_exit(&output, 1);
}

#[test]
fn the_man_page_is_roff_of_every_command() {
    let page = groupsync_prints(&["manpage"]);
    assert!(
        page.lines().any(|line| line.starts_with(".TH groupsync 1")),
        "{page}"
    );
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH SUBCOMMANDS"] {
        assert!(page.contains(section), "no {section}:\n{page}");
    }
    for command in ["validate", "plan", "apply", "run", "import", "schema"] {
        assert!(
            page.contains(&format!("groupsync\\-{command}(1)")),
            "{command}:\n{page}"
        );
    }
}

#[test]
fn each_command_the_man_page_names_has_a_page_of_its_own() {
    let plan = groupsync_prints(&["manpage", "plan"]);
    assert!(
        plan.lines()
            .any(|line| line.starts_with(".TH groupsync-plan 1")),
        "{plan}"
    );
    assert!(plan.contains("\\-\\-refresh"), "{plan}");
    let output = Workspace::new()
        .groupsync()
        .args(["manpage", "plna"])
        .output()
        .unwrap();
    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains("no command `plna`"),
        "{}",
        stderr(&output)
    );
}
