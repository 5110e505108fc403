//! The journal through the real binary: `groupsync journal verify` on a
//! good chain, an edited, a removed and a partial line, across rotated
//! files; `groupsync history` by group and age; the journal path's checks;
//! and a writer killed with SIGKILL mid-append, whose chain verifies and
//! goes on. The journals are written through the library's own API.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use groupsync::store::journal::{Journal, JournalEntry, JournalRequest, WriteKind};
use serde_json::{Value, json};

use crate::util::*;

const BIG: u64 = 64 * 1024 * 1024;

/// A write to group `group`, answered 200, at `time`.
fn write_of(group: &str, time: &str) -> JournalEntry {
    JournalEntry {
        time: time.to_string(),
        pod_url: "https://acme.symphony.com/pod".to_string(),
        group_id: group.to_string(),
        kind: WriteKind::Group,
        request: JournalRequest {
            method: "PUT".to_string(),
            path: format!("/v2/admin/usergroups/{group}"),
            body: json!({"area": "EMEA"}),
        },
        status: 200,
        before: json!({"id": group, "area": "APAC"}),
        after: json!({"id": group, "area": "EMEA"}),
        revision: Some(format!("4f2c1e9{}-dirty", "0".repeat(33))),
        author: Some("Jane Doe <jane@acme.test>".to_string()),
        plan_digest: None,
        actor: "bot groupsync-bot".to_string(),
        host: "build-01".to_string(),
    }
}

const OLD: &str = "2020-01-01T00:00:00.000Z";

/// Appends the writes of `groups` to the journal at `path`, then syncs.
fn journal_writes(path: &Path, max_size: u64, groups: &[&str]) {
    let mut journal = Journal::open(path, max_size).expect("open the journal");
    for group in groups {
        journal.append(&write_of(group, OLD)).expect("append");
    }
    journal.sync().expect("sync");
}

fn journal_path(ws: &Workspace) -> PathBuf {
    ws.path().join("journal.jsonl")
}

/// `groupsync --journal journal.jsonl ARGS` in the workspace.
fn run(ws: &Workspace, args: &[&str]) -> std::process::Output {
    ws.groupsync()
        .args(["--journal", "journal.jsonl"])
        .args(args)
        .output()
        .unwrap()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn rewrite(path: &Path, lines: &[String]) {
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(path, text).unwrap();
}

fn groups(count: usize) -> Vec<String> {
    (1..=count).map(|n| format!("g{n}")).collect()
}

fn as_strs(names: &[String]) -> Vec<&str> {
    names.iter().map(String::as_str).collect()
}

#[test]
fn a_good_journal_verifies_in_text_and_json_and_is_private() {
    let ws = Workspace::new();
    journal_writes(&journal_path(&ws), BIG, &["g1", "g2", "g3"]);
    let mode = std::fs::metadata(journal_path(&ws))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let output = run(&ws, &["journal", "verify"]);
    assert_exit(&output, 0);
    assert_eq!(
        stdout(&output),
        "journal.jsonl: 3 records in 1 file; the chain is intact\n"
    );
    assert_eq!(stderr(&output), "");

    let output = run(&ws, &["--format", "json", "journal", "verify"]);
    assert_exit(&output, 0);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["intact"], true);
    assert_eq!(report["records"], 3);
    assert_eq!(report["problem"], Value::Null);
    assert_eq!(report["files"], json!(["journal.jsonl"]));
}

#[test]
fn an_edited_line_is_named_itself_exit_1() {
    let ws = Workspace::new();
    let path = journal_path(&ws);
    let names = groups(20);
    journal_writes(&path, BIG, &as_strs(&names));
    let mut edited = lines(&path);
    edited[16] = edited[16].replace("\"status\":200", "\"status\":204");
    rewrite(&path, &edited);
    let output = run(&ws, &["journal", "verify"]);
    assert_exit(&output, 1);
    assert_eq!(
        stderr(&output),
        "journal.jsonl:17: this line was changed after it was written (it no longer matches its \
         hash)\n"
    );
    assert_eq!(stdout(&output), "");

    let output = run(&ws, &["--format", "json", "journal", "verify"]);
    assert_exit(&output, 1);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["intact"], false);
    assert_eq!(report["records"], 16);
    assert_eq!(report["problem"]["line"], 17);
    assert_eq!(report["problem"]["kind"], "changed");
    assert_eq!(report["problem"]["file"], "journal.jsonl");
}

#[test]
fn a_deleted_line_is_named_at_the_gap_exit_1() {
    let ws = Workspace::new();
    let path = journal_path(&ws);
    journal_writes(&path, BIG, &["g1", "g2", "g3", "g4"]);
    let mut removed = lines(&path);
    removed.remove(1);
    rewrite(&path, &removed);
    let output = run(&ws, &["journal", "verify"]);
    assert_exit(&output, 1);
    assert_eq!(
        stderr(&output),
        "journal.jsonl:2: 1 record before this line was removed (record 1, then record 3)\n"
    );
}

#[test]
fn a_partial_last_line_is_a_warning_exit_0_and_the_next_writer_sets_it_aside() {
    let ws = Workspace::new();
    let path = journal_path(&ws);
    journal_writes(&path, BIG, &["g1", "g2", "g3"]);
    let whole = std::fs::read(&path).unwrap();
    let mut cut = whole.clone();
    cut.extend_from_slice(&lines(&path)[2].as_bytes()[..40]);
    std::fs::write(&path, &cut).unwrap();
    let output = run(&ws, &["journal", "verify"]);
    assert_exit(&output, 0);
    assert_eq!(
        stdout(&output),
        "journal.jsonl: 3 records in 1 file; the chain is intact\n"
    );
    assert!(
        stderr(&output).starts_with(
            "warning: journal.jsonl:4: a partial last line (40 bytes, no line end): a write cut \
             short by a crash"
        ),
        "{}",
        stderr(&output)
    );

    journal_writes(&path, BIG, &["g4"]);
    let aside = ws.path().join("journal.jsonl.partial");
    assert_eq!(std::fs::read(&aside).unwrap().len(), 41);
    let output = run(&ws, &["journal", "verify"]);
    assert_exit(&output, 0);
    assert_eq!(
        stdout(&output),
        "journal.jsonl: 4 records in 1 file; the chain is intact\n"
    );
    assert_eq!(stderr(&output), "");
}

#[test]
fn a_rotated_journal_verifies_across_its_files_and_an_edit_is_named_in_its_file() {
    let ws = Workspace::new();
    let path = journal_path(&ws);
    let names = groups(30);
    journal_writes(&path, 4096, &as_strs(&names));
    let first = ws.path().join("journal.jsonl.1");
    assert!(first.exists());
    let mode = std::fs::metadata(&first).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let files = std::fs::read_dir(ws.path())
        .unwrap()
        .filter(|entry| {
            let name = entry.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.starts_with("journal.jsonl") && !name.ends_with(".lock")
        })
        .count();
    assert!(files >= 3, "{files} files");
    let output = run(&ws, &["journal", "verify"]);
    assert_exit(&output, 0);
    assert_eq!(
        stdout(&output),
        format!("journal.jsonl: 30 records in {files} files; the chain is intact\n")
    );

    let mut edited = lines(&first);
    edited[1] = edited[1].replace("EMEA", "APAC");
    rewrite(&first, &edited);
    let output = run(&ws, &["journal", "verify"]);
    assert_exit(&output, 1);
    assert!(
        stderr(&output)
            .starts_with("journal.jsonl.1:2: this line was changed after it was written"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_journal_defaults_to_beside_the_state_file() {
    let ws = Workspace::new();
    let path = ws.path().join("var/state.journal.jsonl");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    journal_writes(&path, BIG, &["g1"]);
    let output = ws
        .groupsync()
        .args(["--state", "var/state.json", "journal", "verify"])
        .output()
        .unwrap();
    assert_exit(&output, 0);
    assert!(
        stdout(&output).starts_with("var/state.journal.jsonl: 1 record in 1 file"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_journal_path_that_is_a_symlink_or_a_directory_is_refused_by_every_command() {
    let ws = Workspace::new();
    journal_writes(&ws.path().join("real.jsonl"), BIG, &["g1"]);
    std::os::unix::fs::symlink("real.jsonl", journal_path(&ws)).unwrap();
    std::fs::create_dir(ws.path().join("folder")).unwrap();
    for (journal, refusal) in [
        (
            "journal.jsonl",
            "it is a symbolic link; name the file itself",
        ),
        ("folder", "it is a directory, not a regular file"),
    ] {
        for args in [&["journal", "verify"][..], &["history"], &["validate"]] {
            let output = ws
                .groupsync()
                .args(["--journal", journal])
                .args(args)
                .output()
                .unwrap();
            assert_exit(&output, 1);
            let message = stderr(&output);
            assert!(
                message.starts_with(&format!(
                    "error: the journal {journal} (journal_file / --journal / GROUPSYNC_JOURNAL)"
                )),
                "{args:?}: {message}"
            );
            assert!(message.contains(refusal), "{args:?}: {message}");
        }
    }
    ws.write_group_file("a.yaml", "id: a1\nname: A\n");
    let output = ws
        .groupsync()
        .args(["--journal", "groups.d/journal.jsonl", "validate"])
        .output()
        .unwrap();
    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains("is inside the groups directory"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn history_prints_each_record_filtered_by_group_and_age() {
    let ws = Workspace::new();
    let path = journal_path(&ws);
    let mut journal = Journal::open(&path, BIG).unwrap();
    journal.append(&write_of("g1", OLD)).unwrap();
    journal.append(&write_of("g2", OLD)).unwrap();
    let now = groupsync::store::journal::now();
    journal.append(&write_of("g1", &now)).unwrap();
    journal.sync().unwrap();
    drop(journal);

    let output = run(&ws, &["history"]);
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert_eq!(
        text.lines().next().unwrap(),
        "2020-01-01T00:00:00.000Z  group  g1  PUT /v2/admin/usergroups/g1 {\"area\":\"EMEA\"} -> 200  \
         rev 4f2c1e9-dirty by Jane Doe <jane@acme.test>  bot groupsync-bot on build-01"
    );

    let output = run(&ws, &["history", "g1"]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output).lines().count(), 2);
    assert!(stdout(&output).lines().all(|line| line.contains("  g1  ")));

    let output = run(&ws, &["history", "g1", "--since", "1h"]);
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with(&now), "{text}");

    let output = run(&ws, &["--format", "json", "history", "--since", "1h"]);
    assert_exit(&output, 0);
    let records: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(records.as_array().unwrap().len(), 1);
    assert_eq!(records[0]["seq"], 3);
    assert_eq!(records[0]["group_id"], "g1");
    assert_eq!(records[0]["request"]["method"], "PUT");

    let output = run(&ws, &["history", "g9"]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "");
    assert_eq!(
        stderr(&output),
        "no journal records of group g9 in journal.jsonl\n"
    );

    let output = run(&ws, &["--format", "markdown", "history"]);
    assert_exit(&output, 1);
}

/// Not a test of its own: the writer that
/// [`a_writer_killed_mid_append_leaves_a_chain_that_verifies_and_goes_on`]
/// runs in a process of its own and kills. It appends (rotating at 64 KiB,
/// syncing now and then) until it is killed.
#[test]
#[ignore = "a helper process of the kill -9 test"]
fn journal_writer_until_killed() {
    let Some(path) = std::env::var_os("GROUPSYNC_TEST_JOURNAL_WRITER") else {
        return;
    };
    let mut journal = Journal::open(Path::new(&path), 64 * 1024).unwrap();
    for n in 0..200_000 {
        journal.append(&write_of(&format!("g{n}"), OLD)).unwrap();
        if n % 25 == 0 {
            journal.sync().unwrap();
        }
    }
}

#[test]
fn a_writer_killed_mid_append_leaves_a_chain_that_verifies_and_goes_on() {
    let ws = Workspace::new();
    let path = journal_path(&ws);
    let mut writer = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "journal::journal_writer_until_killed",
            "--ignored",
        ])
        .env("GROUPSYNC_TEST_JOURNAL_WRITER", &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Past a rotation or two.
    wait_until("the writer has rotated the journal twice", || {
        ws.path().join("journal.jsonl.2").exists()
    });
    writer.kill().unwrap(); // SIGKILL
    writer.wait().unwrap();

    let output = run(&ws, &["--format", "json", "journal", "verify"]);
    assert_exit(&output, 0);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["intact"], true, "{report}");
    let records = report["records"].as_u64().unwrap();
    assert!(records > 100, "{report}");

    // The next writer continues the chain: one more record, still intact.
    let mut journal = Journal::open(&path, 64 * 1024).unwrap();
    assert_eq!(journal.head().seq, records);
    let record = journal.append(&write_of("after", OLD)).unwrap();
    assert_eq!(record.seq, records + 1);
    journal.sync().unwrap();
    drop(journal);
    let output = run(&ws, &["--format", "json", "journal", "verify"]);
    assert_exit(&output, 0);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["records"], records + 1, "{report}");
    assert_eq!(report["warnings"], json!([]), "{report}");
}

#[test]
fn a_line_cut_short_by_a_kill_is_set_aside_and_chained_past() {
    let ws = Workspace::new();
    let path = journal_path(&ws);
    journal_writes(&path, BIG, &["g1", "g2"]);
    // What a kill between the first and the last byte of a write leaves.
    let mut journal_bytes = std::fs::read(&path).unwrap();
    let third = {
        let mut line = lines(&path)[1].clone();
        line.truncate(line.len() / 2);
        line
    };
    journal_bytes.extend_from_slice(third.as_bytes());
    std::fs::write(&path, &journal_bytes).unwrap();
    journal_writes(&path, BIG, &["g3"]);
    let output = run(&ws, &["journal", "verify"]);
    assert_exit(&output, 0);
    assert_eq!(
        stdout(&output),
        "journal.jsonl: 3 records in 1 file; the chain is intact\n"
    );
    let aside = std::fs::read_to_string(ws.path().join("journal.jsonl.partial")).unwrap();
    assert_eq!(aside, format!("{third}\n"));
}
