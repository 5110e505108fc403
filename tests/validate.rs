//! `groupsync validate`: every problem in `groups.d/`, each as `PATH:LINE:COLUMN: message`,
//! all in one run, through the real binary; and hostile trees that must fail fast.

use std::path::Path;

use crate::util::*;

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `groupsync validate --groups-dir DIR` in the workspace.
fn validate_dir(ws: &Workspace, groups_dir: &Path) -> Outcome {
    let output = ws
        .groupsync()
        .arg("validate")
        .arg("--groups-dir")
        .arg(groups_dir)
        // A hang (a FIFO opened, a bomb expanded) ends here instead of never.
        .timeout(PATIENCE)
        .output()
        .unwrap();
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `groupsync validate --groups-dir groups.d`, so that messages name `groups.d/...`.
fn validate(ws: &Workspace) -> Outcome {
    validate_dir(ws, Path::new("groups.d"))
}

/// Asserts exit 1 and that stderr has a line starting with each of `expected`, in that order.
fn assert_reports(ws: &Workspace, expected: &[&str]) {
    let outcome = validate(ws);
    assert_eq!(outcome.code, Some(1), "stderr:\n{}", outcome.stderr);
    let lines: Vec<&str> = outcome.stderr.lines().collect();
    let mut after = 0;
    for start in expected {
        let Some(found) = lines[after..]
            .iter()
            .position(|line| line.starts_with(start))
        else {
            panic!(
                "no line starting with {start:?} (in order) in stderr:\n{}",
                outcome.stderr
            );
        };
        after += found + 1;
    }
}

/// One file `groups.d/bad.yaml` holding `contents` must give `expected`.
fn assert_bad_file(contents: impl AsRef<[u8]>, expected: &str) {
    let ws = Workspace::new();
    ws.write_group_file("bad.yaml", contents);
    assert_reports(&ws, &[expected]);
}

#[test]
fn the_example_tree_is_valid() {
    let ws = Workspace::new();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("groups.d");
    let outcome = validate_dir(&ws, &example);
    assert_eq!(outcome.code, Some(0), "stderr:\n{}", outcome.stderr);
    assert_eq!(outcome.stdout, "12 groups valid in 5 files\n");
}

#[test]
fn a_valid_tree_is_counted() {
    let ws = Workspace::new();
    ws.write_group_file(
        "emea.yaml",
        "id: \"6543a1f0c2\"\nname: EMEA trading scope\n",
    );
    ws.write_group_file(
        "team/apac.yml",
        "groups:\n  - id: \"77aa01\"\n  - id: \"77aa02\"\n",
    );
    ws.write_group_file("README.md", "not yaml: [\n");
    let outcome = validate(&ws);
    assert_eq!(outcome.code, Some(0), "stderr:\n{}", outcome.stderr);
    assert_eq!(outcome.stdout, "3 groups valid in 2 files\n");
}

#[test]
fn an_unknown_key_suggests_the_closest() {
    assert_bad_file(
        "id: a1\ndescripton: x\n",
        "groups.d/bad.yaml:2:1: unknown key `descripton` (did you mean `description`?); \
         a group's keys are id, name, area, description, active, type, members, assignees, on_drift, previously",
    );
}

#[test]
fn a_group_without_id_or_name_points_at_the_group() {
    assert_bad_file(
        "groups:\n  - id: a1\n  - area: X\n",
        "groups.d/bad.yaml:3:5: this group has neither `id` nor `name`",
    );
}

#[test]
fn a_name_without_id_declared_twice_names_both_places() {
    assert_bad_file(
        "groups:\n  - name: Rates\n  - name: Rates\n    area: X\n",
        "groups.d/bad.yaml:3:11: name \"Rates\" is already declared at groups.d/bad.yaml:2:11, also without `id`",
    );
}

#[test]
fn an_empty_id_or_name_points_at_the_value() {
    assert_bad_file(
        "id: \"\"\n",
        "groups.d/bad.yaml:1:5: `id` must not be empty",
    );
    assert_bad_file(
        "id: a1\nname: ''\n",
        "groups.d/bad.yaml:2:7: `name` must not be empty",
    );
}

#[test]
fn a_value_of_the_wrong_type_says_what_was_found() {
    assert_bad_file(
        "id: a1\nactive: \"yes\"\n",
        "groups.d/bad.yaml:2:9: `active` must be `true` or `false`, found the string \"yes\"",
    );
    assert_bad_file(
        "id: a1\nname: ~\n",
        "groups.d/bad.yaml:2:7: `name` must be a string, found null (`~`)",
    );
    assert_bad_file(
        "id: a1\narea: false\n",
        "groups.d/bad.yaml:2:7: `area` must be a string, found the boolean `false`",
    );
    assert_bad_file(
        "id: a1\ndescription: [x]\n",
        "groups.d/bad.yaml:2:14: `description` must be a string, found a list",
    );
}

#[test]
fn a_duplicate_key_is_an_error() {
    assert_bad_file(
        "id: a1\nname: A\nname: B\n",
        "groups.d/bad.yaml:3:1: duplicate key `name` (first at line 2, column 1)",
    );
}

#[test]
fn an_id_declared_twice_names_the_first_place() {
    let ws = Workspace::new();
    ws.write_group_file("a.yaml", "groups:\n- id: x1\n");
    ws.write_group_file("team/b.yaml", "id: x1\n");
    assert_reports(
        &ws,
        &["groups.d/team/b.yaml:1:5: id \"x1\" is already declared at groups.d/a.yaml:2:7"],
    );
}

#[test]
fn only_the_documented_file_forms_are_accepted() {
    assert_bad_file(
        "- id: a1\n",
        "groups.d/bad.yaml:1:1: a list cannot stand at the top of a file; a file holds one group",
    );
    assert_bad_file(
        "just text\n",
        "groups.d/bad.yaml:1:1: the file is a single text value, not a group; a file holds one group",
    );
    assert_bad_file(
        "groups: []\nid: a1\n",
        "groups.d/bad.yaml:2:1: `id` cannot stand beside `groups:` in one mapping",
    );
    assert_bad_file(
        "groups: a1\n",
        "groups.d/bad.yaml:1:9: `groups:` must be a list of groups (`- id: ...`), found `a1`",
    );
    assert_bad_file(
        "groups:\n  - a1\n",
        "groups.d/bad.yaml:2:5: each item of `groups:` must be a group mapping",
    );
    assert_bad_file(
        "id: a1\n? {x: 1}\n: 2\n",
        "groups.d/bad.yaml:2:3: a key must be a word such as `name`, found a mapping",
    );
}

#[test]
fn a_file_without_groups_is_an_error() {
    for empty in ["", "# nothing yet\n", "---\n---\n"] {
        assert_bad_file(empty, "groups.d/bad.yaml: holds no groups;");
    }
}

#[test]
fn a_tree_without_groups_is_an_error() {
    let ws = Workspace::new();
    ws.write_group_file("none.yaml", "groups: []\n");
    assert_reports(&ws, &["groups.d: no groups found under groups.d"]);
}

#[test]
fn a_missing_groups_dir_is_named() {
    let ws = Workspace::new();
    assert_reports(&ws, &["groups.d: the groups directory does not exist"]);
}

#[test]
fn tags_and_aliases_are_rejected() {
    assert_bad_file(
        "id: !!str 123\n",
        "groups.d/bad.yaml:1:5: tags such as `!!str` are not supported; write the value in quotes",
    );
    assert_bad_file(
        "id: &id a1\nname: *id\n",
        "groups.d/bad.yaml:2:7: aliases (`*name`) are not supported",
    );
}

#[test]
fn a_syntax_error_gives_its_position() {
    assert_bad_file(
        "id: a1\nname: a: b\n",
        "groups.d/bad.yaml:2:8: YAML syntax error: mapping values are not allowed in this context",
    );
}

#[test]
fn every_problem_in_every_file_is_reported_in_one_run() {
    let ws = Workspace::new();
    ws.write_group_file("a.yaml", "groups:\n  - id: a1\n    nme: A\n  - area: B\n");
    ws.write_group_file("b.yaml", "id: b1\nactive: maybe\n---\nid: a1\n");
    ws.write_group_file("c/d.yaml", "[unclosed\n");
    ws.write_group_file("ok.yaml", "id: ok1\n");
    assert_reports(
        &ws,
        &[
            "groups.d/a.yaml:3:5: unknown key `nme` (did you mean `name`?)",
            "groups.d/a.yaml:4:5: this group has neither `id` nor `name`",
            "groups.d/b.yaml:2:9: `active` must be `true` or `false`, found `maybe`",
            "groups.d/b.yaml:4:5: id \"a1\" is already declared at groups.d/a.yaml:2:9",
            "groups.d/c/d.yaml:2:1: YAML syntax error: ",
        ],
    );
}

#[test]
fn a_symlink_loop_is_reported() {
    let ws = Workspace::new();
    ws.write_group_file("a.yaml", "id: a1\n");
    std::fs::create_dir(ws.groups_dir().join("team")).unwrap();
    std::os::unix::fs::symlink("..", ws.groups_dir().join("team/back")).unwrap();
    std::os::unix::fs::symlink("self.yaml", ws.groups_dir().join("self.yaml")).unwrap();
    assert_reports(
        &ws,
        &[
            "groups.d/self.yaml: cannot follow symlink: ",
            "groups.d/team/back: symlink loop: this leads back to groups.d, which is already being read",
        ],
    );
}

#[test]
fn a_fifo_is_not_a_groups_file() {
    let ws = Workspace::new();
    ws.write_group_file("a.yaml", "id: a1\n");
    let made = std::process::Command::new("mkfifo")
        .arg(ws.groups_dir().join("x.yaml"))
        .status()
        .unwrap();
    assert!(made.success());
    assert_reports(
        &ws,
        &["groups.d/x.yaml: not a regular file (a FIFO, socket or device)"],
    );
}

#[test]
fn a_file_over_one_mebibyte_is_refused() {
    let mut big = b"id: a1\n".to_vec();
    big.resize(1024 * 1024 + 1, b'#');
    assert_bad_file(
        big,
        "groups.d/bad.yaml: larger than 1 MiB (1048577 bytes); split it into several files",
    );
}

#[test]
fn a_file_that_is_not_utf8_is_pointed_at() {
    assert_bad_file(
        b"id: a1\nname: Z\xfcrich desk\n",
        "groups.d/bad.yaml:2:8: not valid UTF-8 (byte 0xfc); save the file as UTF-8",
    );
}

#[test]
fn an_alias_bomb_fails_fast() {
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (level, previous) in "bcdefghi".chars().zip("abcdefgh".chars()) {
        let aliases = vec![format!("*{previous}"); 9].join(",");
        bomb.push_str(&format!("{level}: &{level} [{aliases}]\n"));
    }
    let ws = Workspace::new();
    ws.write_group_file("bad.yaml", bomb);
    // A bomb that expanded would never finish: the harness's process timeout
    // is the guard (no speed is asserted here; benches measure speed).
    assert_reports(
        &ws,
        &[
            "groups.d/bad.yaml:1:1: unknown key `a`",
            "groups.d/bad.yaml:2:8: aliases (`*name`) are not supported",
        ],
    );
}

#[test]
fn a_nesting_bomb_fails_fast() {
    // As above: the process timeout is the hang guard.
    assert_bad_file("[".repeat(1024 * 1024), "groups.d/bad.yaml:1:");
    assert_bad_file(
        "- ".repeat(512 * 1024),
        "groups.d/bad.yaml:1:65: nested deeper than 32 levels",
    );
}

#[test]
fn an_unreadable_file_names_the_reason() {
    use std::os::unix::fs::PermissionsExt;
    let ws = Workspace::new();
    let path = ws.write_group_file("bad.yaml", "id: a1\n");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&path).is_ok() {
        eprintln!("skipped: running as root, file permissions do not stop reading");
        return;
    }
    assert_reports(&ws, &["groups.d/bad.yaml: cannot read: Permission denied"]);
}

#[test]
fn json_output_counts_groups_and_lists_every_error() {
    let ws = Workspace::new();
    ws.write_group_file("a.yaml", "id: a1\nname: A\n");
    let valid = ws
        .groupsync()
        .args(["validate", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(valid.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&valid.stdout).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"groups": 1, "files": 1, "errors": []})
    );

    ws.write_group_file("b.yaml", "id: b1\nname: \"\"\ncolour: red\n");
    let invalid = ws
        .groupsync()
        .args(["validate", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(invalid.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&invalid.stdout).unwrap();
    let positions: Vec<(String, u64, u64)> = json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| {
            (
                error["path"].as_str().unwrap().to_string(),
                error["line"].as_u64().unwrap(),
                error["column"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        positions,
        [
            ("groups.d/b.yaml".to_string(), 2, 7),
            ("groups.d/b.yaml".to_string(), 3, 1)
        ]
    );
}

#[test]
fn paths_are_relative_to_the_groups_dirs_parent_however_it_is_given() {
    let ws = Workspace::new();
    ws.write_group_file("team/bad.yaml", "id: a1\nname: \"\"\n");
    let absolute = ws.groups_dir();
    for given in [absolute.display().to_string(), "./groups.d/".to_string()] {
        let output = ws
            .groupsync()
            .args(["validate", "--groups-dir", &given])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.starts_with("groups.d/team/bad.yaml:2:7: "),
            "given {given}: {stderr}"
        );
    }
}

/// A symlink from the groups dir to a secret elsewhere is
/// refused, and not one character of the secret reaches any output, in
/// `validate`, `plan` (text and JSON) and the daemon's logs.
#[test]
fn a_symlinked_secret_never_appears_in_any_output() {
    let ws = Workspace::new();
    let secret = "s3cr3t-session-token-0123456789abcdef";
    ws.write_file("creds/session-token", secret);
    ws.write_file(
        "creds/bot-key.pem",
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n",
    );
    ws.write_group_file("ok.yaml", "id: a1\nname: A\n");
    std::fs::create_dir_all(ws.groups_dir()).unwrap();
    std::os::unix::fs::symlink(
        "../creds/session-token",
        ws.groups_dir().join("innocent.yaml"),
    )
    .unwrap();
    std::os::unix::fs::symlink("../creds/bot-key.pem", ws.groups_dir().join("key.yaml")).unwrap();
    std::os::unix::fs::symlink("../creds", ws.groups_dir().join("more")).unwrap();

    let runs = [
        vec!["validate"],
        vec!["validate", "--format", "json"],
        vec!["plan"],
        vec!["plan", "--format", "json"],
        vec!["run", "--once", "--dry-run", "--log-level", "trace"],
    ];
    for args in runs {
        let output = ws
            .groupsync()
            .args(&args)
            .args(["--groups-dir", "groups.d", "--state", "state.json"])
            .timeout(PATIENCE)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}: {output:?}");
        let all = format!("{}{}", stdout(&output), stderr(&output));
        for leaked in ["s3cr3t", "BEGIN PRIVATE", "MIIEvQ"] {
            assert!(!all.contains(leaked), "{args:?} leaked {leaked}:\n{all}");
        }
        assert!(
            all.contains("groups.d/innocent.yaml")
                && all.contains("a symlink to a place outside the groups directory"),
            "{args:?}:\n{all}"
        );
    }
}
