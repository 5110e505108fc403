//! The man pages as they are installed: every instruction that installs
//! them (the README, the deployment guide, the packages' build script)
//! installs every page `groupsync manpage --out-dir` writes, and the
//! reference's exit codes are the ones groupsync(1) states.

use std::path::Path;

use groupsync::commands::outcome::exit_status_markdown;

use crate::util::*;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{relative}: {err}"))
}

/// The files that tell how to install the man pages.
const INSTRUCTIONS: [&str; 3] = [
    "README.md",
    "docs/deployment.md",
    "packaging/build-assets.sh",
];

/// The folder a line writes every page into (`manpage --out-dir DIR`).
fn out_dir(line: &str) -> Option<&str> {
    let rest = line.split_once("manpage --out-dir ")?.1;
    Some(rest.split_whitespace().next()?.trim_matches('"'))
}

/// Each file writes the pages with `--out-dir` only (never one command's page
/// at a time, which leaves pages out), then installs (or packs) `DIR/*.1`:
/// whatever the binary wrote, as many pages as it has.
#[test]
fn every_install_instruction_installs_every_page() {
    for file in INSTRUCTIONS {
        let text = read(file);
        let lines: Vec<&str> = text.lines().collect();
        let writers: Vec<(usize, &str)> = lines
            .iter()
            .enumerate()
            .filter(|(_, line)| line.contains("manpage"))
            .filter(|(_, line)| {
                line.contains('|') || line.contains('>') || line.contains("--out-dir")
            })
            .map(|(at, line)| (at, *line))
            .collect();
        assert!(!writers.is_empty(), "{file} does not write the man pages");
        for (at, line) in writers {
            let dir = out_dir(line).unwrap_or_else(|| {
                panic!(
                    "{file}:{}: write every page with `manpage --out-dir DIR`: {line}",
                    at + 1
                )
            });
            let glob = format!("{dir}/*.1");
            let installed = lines[at..].iter().any(|later| {
                let later = later.replace('"', "");
                later.contains(&glob) && (later.contains("install") || later.contains("gzip"))
            });
            assert!(
                installed,
                "{file}:{}: the pages written into {dir} are not installed as `{glob}`",
                at + 1
            );
        }
    }
}

/// The packages take every page the build script packed.
#[test]
fn both_packages_take_every_packed_page() {
    let manifest = read("Cargo.toml");
    assert_eq!(
        manifest.matches("\"target/assets/man/*.1.gz\"").count(),
        2,
        "the .deb's and the .rpm's assets install target/assets/man/*.1.gz"
    );
}

/// `--out-dir` writes groupsync(1) and the page of every command the main
/// page names: the number a glob over the folder installs.
#[test]
fn out_dir_writes_every_page_the_main_page_names() {
    let ws = Workspace::new();
    let output = ws
        .groupsync()
        .args(["manpage", "--out-dir", "man"])
        .output()
        .unwrap();
    assert_exit(&output, 0);
    let mut written: Vec<String> = std::fs::read_dir(ws.path().join("man"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    let main = ws.groupsync().arg("manpage").output().unwrap();
    let mut named: Vec<String> = stdout(&main)
        .lines()
        .filter_map(|line| line.strip_prefix("groupsync\\-")?.strip_suffix("(1)"))
        .map(|command| format!("groupsync-{command}.1"))
        .chain(["groupsync.1".to_string()])
        .collect();
    named.sort();
    assert_eq!(written, named);
    assert!(written.len() > 10, "{written:?}");
    for page in &written {
        let text = std::fs::read_to_string(ws.path().join("man").join(page)).unwrap();
        assert!(text.contains(".TH "), "{page} is a man page");
    }
    assert!(
        stderr(&output).contains(&format!("{} man pages in man", written.len())),
        "{}",
        stderr(&output)
    );
}

#[test]
fn out_dir_and_a_command_are_one_or_the_other() {
    let ws = Workspace::new();
    let output = ws
        .groupsync()
        .args(["manpage", "plan", "--out-dir", "man"])
        .output()
        .unwrap();
    assert_exit(&output, 1);
    assert!(!ws.path().join("man").exists());
}

/// The table of "Exit codes" in the reference is the one groupsync(1)'s EXIT
/// STATUS is written from (`EXIT_STATUS` in `src/commands/outcome.rs`).
#[test]
fn the_reference_states_the_exit_codes_of_the_code() {
    let text = read("docs/interface.md");
    let (_, rest) = text
        .split_once("## Exit codes\n\n")
        .expect("docs/interface.md has an Exit codes section");
    let table: String = rest
        .lines()
        .take_while(|line| line.starts_with('|'))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(
        table,
        exit_status_markdown(),
        "docs/interface.md's exit codes table differs from EXIT_STATUS in src/commands/outcome.rs"
    );
}
