use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use super::record::tests::entry;
use super::*;

const BIG: u64 = 64 * 1024 * 1024;

fn journal_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("journal.jsonl")
}

/// A journal at `path` holding the writes of `groups`, synced and closed.
fn write(path: &Path, max_size: u64, groups: &[&str]) {
    let mut journal = Journal::open(path, max_size).unwrap();
    for group in groups {
        journal.append(&entry(group)).unwrap();
    }
    journal.sync().unwrap();
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn rewrite(path: &Path, lines: &[String]) {
    fs::write(
        path,
        lines
            .iter()
            .map(|line| format!("{line}\n"))
            .collect::<String>(),
    )
    .unwrap();
}

fn problem(path: &Path) -> (PathBuf, u64, FindingKind) {
    let report = verify(path).unwrap();
    let problem = report.problem.expect("the chain is broken");
    (problem.file, problem.line, problem.kind)
}

#[test]
fn appended_records_chain_and_verify_and_the_file_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    let mut journal = Journal::open(&path, BIG).unwrap();
    assert_eq!(journal.head().seq, 0);
    let first = journal.append(&entry("g1")).unwrap();
    let second = journal.append(&entry("g2")).unwrap();
    journal.sync().unwrap();
    assert_eq!((first.seq, first.prev.as_str()), (1, GENESIS));
    let written = lines(&path);
    assert_eq!(second.prev, sha256_hex(written[0].as_bytes()));
    assert_eq!(journal.head().hash, sha256_hex(written[1].as_bytes()));
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    drop(journal);
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.records, report.files), (2, vec![path.clone()]));

    // Opened again, the chain goes on.
    write(&path, BIG, &["g3"]);
    let report = verify(&path).unwrap();
    assert!(report.is_intact() && report.records == 3, "{report:?}");
}

#[test]
fn a_second_writer_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    let held = Journal::open(&path, BIG).unwrap();
    let error = Journal::open(&path, BIG).unwrap_err();
    assert!(
        error.to_string().contains(&format!(
            "locked by another groupsync (pid {})",
            std::process::id()
        )),
        "{error}"
    );
    drop(held);
    Journal::open(&path, BIG).unwrap();
}

#[test]
fn a_symlink_a_directory_or_a_fifo_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.jsonl");
    fs::write(&target, "").unwrap();
    let link = dir.path().join("link.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let error = Journal::open(&link, BIG).unwrap_err();
    assert!(matches!(error, JournalError::Symlink { .. }), "{error}");
    assert!(matches!(verify(&link), Err(JournalError::Symlink { .. })));

    let folder = dir.path().join("folder.jsonl");
    fs::create_dir(&folder).unwrap();
    let error = Journal::open(&folder, BIG).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("it is a directory, not a regular file"),
        "{error}"
    );

    let fifo = dir.path().join("fifo.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let error = Journal::open(&fifo, BIG).unwrap_err();
    assert!(error.to_string().contains("FIFO"), "{error}");
    assert!(verify(&fifo).unwrap_err().to_string().contains("FIFO"));
}

#[test]
fn a_partial_last_line_is_set_aside_and_the_chain_continues_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    write(&path, BIG, &["g1", "g2"]);
    let before = fs::read(&path).unwrap();
    let partial = b"{\"seq\":3,\"time\":\"2025-";
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(partial).unwrap();
    drop(file);

    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 2);
    assert_eq!(report.warnings.len(), 1);
    let warning = &report.warnings[0];
    assert_eq!(
        (warning.line, &warning.kind),
        (
            3,
            &FindingKind::PartialLastLine {
                bytes: partial.len()
            }
        )
    );

    let mut journal = Journal::open(&path, BIG).unwrap();
    let aside = journal.set_aside().cloned().expect("set aside");
    assert_eq!(aside.bytes, partial.len());
    assert_eq!(
        fs::read(&aside.sidecar).unwrap(),
        b"{\"seq\":3,\"time\":\"2025-\n"
    );
    assert_eq!(fs::read(&path).unwrap(), before);
    let record = journal.append(&entry("g3")).unwrap();
    assert_eq!(record.seq, 3);
    drop(journal);
    let report = verify(&path).unwrap();
    assert!(
        report.is_intact() && report.warnings.is_empty(),
        "{report:?}"
    );
    assert_eq!(report.records, 3);
}

#[test]
fn a_last_record_without_its_line_end_is_completed() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    write(&path, BIG, &["g1", "g2"]);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    let report = verify(&path).unwrap();
    assert_eq!(report.records, 2);
    assert_eq!(report.warnings[0].kind, FindingKind::NoLineEnd);
    let journal = Journal::open(&path, BIG).unwrap();
    assert_eq!((journal.head().seq, journal.set_aside()), (2, None));
    drop(journal);
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

#[test]
fn the_file_rotates_at_its_size_and_the_chain_spans_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    let line_len = seal(1, &entry("g0"), GENESIS).0.len() as u64 + 1;
    // Three records a file.
    let max_size = 3 * line_len + line_len / 2;
    let groups: Vec<String> = (0..8).map(|n| format!("g{n}")).collect();
    let names: Vec<&str> = groups.iter().map(String::as_str).collect();
    write(&path, max_size, &names[..5]);
    write(&path, max_size, &names[5..]);
    let rotated = |n: u64| sibling(&path, &format!(".{n}"));
    assert_eq!(lines(&rotated(1)).len(), 3);
    assert_eq!(lines(&rotated(2)).len(), 3);
    assert_eq!(lines(&path).len(), 2);
    assert_eq!(
        fs::metadata(rotated(1)).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let first_of_second = &lines(&rotated(2))[0];
    let last_of_first = lines(&rotated(1))[2].clone();
    assert!(first_of_second.contains(&format!(
        "\"prev\":\"{}\"",
        sha256_hex(last_of_first.as_bytes())
    )));
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 8);
    assert_eq!(report.files, [rotated(1), rotated(2), path.clone()]);

    // An edit in a rotated file is named there.
    let mut edited = lines(&rotated(1));
    edited[1] = edited[1].replace("\"status\":200", "\"status\":201");
    rewrite(&rotated(1), &edited);
    assert_eq!(problem(&path), (rotated(1), 2, FindingKind::Changed));
}

#[test]
fn a_crash_between_renaming_and_starting_the_new_file_loses_no_link() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    write(&path, BIG, &["g1", "g2"]);
    fs::rename(&path, sibling(&path, ".1")).unwrap();
    let journal = Journal::open(&path, BIG).unwrap();
    assert_eq!(journal.head().seq, 2);
    drop(journal);
    write(&path, BIG, &["g3"]);
    let report = verify(&path).unwrap();
    assert!(report.is_intact() && report.records == 3, "{report:?}");
}

#[test]
fn an_edited_line_is_named_itself_even_when_its_hash_was_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    write(&path, BIG, &["g1", "g2", "g3", "g4"]);
    let good = lines(&path);

    let mut edited = good.clone();
    edited[1] = edited[1].replace("\"EMEA\"", "\"APAC\"");
    rewrite(&path, &edited);
    let (_, line, kind) = problem(&path);
    assert_eq!((line, kind), (2, FindingKind::Changed));

    // Resealed: the edit is recomputed into its own hash; the next line still names it.
    let record = match unseal(good[1].as_bytes()) {
        Unsealed::Intact(record) => record,
        other => panic!("{other:?}"),
    };
    let mut changed = record.entry.clone();
    changed.status = 500;
    let (resealed, _) = seal(record.seq, &changed, &record.prev);
    let mut edited = good.clone();
    edited[1] = String::from_utf8(resealed).unwrap();
    rewrite(&path, &edited);
    let report = verify(&path).unwrap();
    let found = report.problem.unwrap();
    assert_eq!(
        (found.line, found.kind),
        (2, FindingKind::ChangedAndResealed)
    );
    assert_eq!(report.records, 1);
    assert_eq!(
        found.message,
        "this line was changed after it was written (its hash was recomputed, but the next line \
         still chains to the old one)"
    );

    // The first line changed by hand past parsing.
    let mut edited = good.clone();
    edited[0] = "{\"seq\": 1, \"note\": \"hello\"}".to_string();
    rewrite(&path, &edited);
    let (_, line, kind) = problem(&path);
    assert!(matches!((line, kind), (1, FindingKind::NotARecord { .. })));
}

#[test]
fn removed_moved_and_missing_first_lines_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    write(&path, BIG, &["g1", "g2", "g3", "g4", "g5"]);
    let good = lines(&path);

    let mut removed = good.clone();
    removed.remove(2);
    removed.remove(2);
    rewrite(&path, &removed);
    let report = verify(&path).unwrap();
    let found = report.problem.unwrap();
    assert_eq!(
        (found.line, &found.kind),
        (3, &FindingKind::Removed { after: 2, seq: 5 })
    );
    assert_eq!(
        found.to_string(),
        format!(
            "{}:3: 2 records before this line were removed (record 2, then record 5)",
            path.display()
        )
    );

    let mut moved = good.clone();
    moved.swap(1, 3);
    rewrite(&path, &moved);
    let (_, line, kind) = problem(&path);
    assert_eq!((line, kind), (2, FindingKind::Removed { after: 1, seq: 4 }));

    let mut copied = good.clone();
    copied.insert(3, good[1].clone());
    rewrite(&path, &copied);
    let (_, line, kind) = problem(&path);
    assert_eq!(
        (line, kind),
        (4, FindingKind::OutOfOrder { after: 3, seq: 2 })
    );

    rewrite(&path, &good[2..]);
    let (_, line, kind) = problem(&path);
    assert_eq!((line, kind), (1, FindingKind::StartsLate { seq: 3 }));

    let mut blank = good.clone();
    blank.insert(2, String::new());
    rewrite(&path, &blank);
    let (_, line, kind) = problem(&path);
    assert_eq!(
        (line, kind),
        (
            3,
            FindingKind::NotARecord {
                reason: "it is empty".to_string()
            }
        )
    );
}

#[test]
fn a_missing_journal_is_named_and_a_bad_last_line_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    assert!(matches!(verify(&path), Err(JournalError::NotFound { .. })));
    assert_eq!(history(&path, None, None).unwrap(), History::default());
    fs::write(&path, "not a record\n").unwrap();
    let error = Journal::open(&path, BIG).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("its last line is not a journal record"),
        "{error}"
    );
}

#[test]
fn history_filters_by_group_and_age() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_path(&dir);
    let mut journal = Journal::open(&path, BIG).unwrap();
    let recent = JournalEntry {
        time: now(),
        ..entry("g2")
    };
    journal.append(&entry("g1")).unwrap();
    journal.append(&entry("g2")).unwrap();
    journal.append(&recent).unwrap();
    drop(journal);
    let all = history(&path, None, None).unwrap();
    assert_eq!(all.records.len(), 3);
    let of_g2 = history(&path, Some("g2"), None).unwrap();
    assert_eq!(
        of_g2.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [2, 3]
    );
    let last_hour = history(&path, None, Some(Duration::from_secs(3600))).unwrap();
    assert_eq!(
        last_hour.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [3]
    );
    let forever = history(&path, Some("g1"), Some(Duration::MAX)).unwrap();
    assert_eq!(forever.records.len(), 1);
}
