//! The docs: the tables of `docs/interface.md` that the code writes (the
//! settings and the safety limits) are the ones it writes now, and every
//! link between README.md and the files under `docs/` leads to a file and a
//! heading that exist.
//!
//! When a table differs, `UPDATE_DOCS=1 cargo test --test tests docs`
//! rewrites it in place, between its `<!-- NAME:begin -->` and
//! `<!-- NAME:end -->` markers.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use groupsync::config::docs::{limits_markdown, settings_markdown};

/// The command that rewrites the generated tables.
const REGENERATE: &str = "UPDATE_DOCS=1 cargo test --test tests docs";

/// The reference, which holds the generated tables.
const INTERFACE: &str = "docs/interface.md";

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo_path(relative))
        .unwrap_or_else(|err| panic!("cannot read {relative}: {err}"))
}

/// The text between `<!-- name:begin -->\n` and `<!-- name:end -->`, and
/// where it starts and ends in `text`.
fn block(text: &str, name: &str) -> (usize, usize) {
    let begin = format!("<!-- {name}:begin -->\n");
    let end = format!("<!-- {name}:end -->");
    let start = text
        .find(&begin)
        .unwrap_or_else(|| panic!("{INTERFACE} has no `{}` marker", begin.trim()))
        + begin.len();
    let stop = text[start..]
        .find(&end)
        .unwrap_or_else(|| panic!("{INTERFACE} has no `{end}` marker after its begin marker"))
        + start;
    (start, stop)
}

/// The first line where `found` and `wanted` part, for the failure message.
fn first_difference(found: &str, wanted: &str) -> String {
    let mut found_lines = found.lines();
    let mut wanted_lines = wanted.lines();
    for number in 1.. {
        match (found_lines.next(), wanted_lines.next()) {
            (None, None) => break,
            (found, wanted) if found == wanted => continue,
            (found, wanted) => {
                return format!(
                    "line {number} of the table:\n  in the file: {}\n  from the code: {}",
                    found.unwrap_or("(nothing)"),
                    wanted.unwrap_or("(nothing)")
                );
            }
        }
    }
    "the tables differ only in their line ends".to_string()
}

#[test]
fn the_generated_tables_in_interface_md_are_up_to_date() {
    let mut text = read(INTERFACE);
    let update = std::env::var_os("UPDATE_DOCS").is_some_and(|value| value == "1");
    let mut stale = Vec::new();
    for (name, wanted) in [
        ("settings", settings_markdown()),
        ("limits", limits_markdown()),
    ] {
        let (start, stop) = block(&text, name);
        if text[start..stop] == wanted {
            continue;
        }
        stale.push(format!(
            "the {name} table: {}",
            first_difference(&text[start..stop], &wanted)
        ));
        text.replace_range(start..stop, &wanted);
    }
    if stale.is_empty() {
        return;
    }
    if update {
        std::fs::write(repo_path(INTERFACE), &text).expect("rewrite docs/interface.md");
        return;
    }
    panic!(
        "{INTERFACE} is not what the code says; regenerate it with\n\n    {REGENERATE}\n\n{}",
        stale.join("\n")
    );
}

#[test]
fn the_force_flag_is_documented_to_override_every_limit() {
    let text = read(INTERFACE);
    let row = text
        .lines()
        .find(|line| line.starts_with("| `--force` |"))
        .expect("the commands' flags table has a `--force` row");
    for spec in &groupsync::config::LIMITS {
        assert!(
            row.contains(spec.key),
            "`--force` row lacks {}: {row}",
            spec.key
        );
    }
}

/// The docs that link to each other: README.md and every Markdown file under `docs/`.
fn doc_files() -> Vec<String> {
    let mut files = vec!["README.md".to_string()];
    for entry in std::fs::read_dir(repo_path("docs")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            files.push(format!("docs/{name}"));
        }
    }
    files.sort();
    files
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces as
/// `-`; a repeated anchor gets `-1`, `-2`...
fn anchors(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
        }
        let Some(heading) = line.strip_prefix('#').filter(|_| !in_fence) else {
            continue;
        };
        let title = heading.trim_start_matches('#').trim();
        let anchor: String = title
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut unique = anchor.clone();
        for count in 1.. {
            if !found.contains(&unique) {
                break;
            }
            unique = format!("{anchor}-{count}");
        }
        found.insert(unique);
    }
    found
}

/// Every `](target)` of a Markdown file that is not a web address.
fn local_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("](") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find(')') else {
            break;
        };
        let target = &rest[..end];
        if !target.contains("://") && !target.starts_with("mailto:") {
            links.push(target.to_string());
        }
        rest = &rest[end..];
    }
    links
}

#[test]
fn every_link_between_the_docs_leads_to_a_file_and_heading_that_exist() {
    let mut broken = Vec::new();
    for file in doc_files() {
        let text = read(&file);
        let folder = Path::new(&file).parent().unwrap_or(Path::new(""));
        for link in local_links(&text) {
            let (path, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = match path {
                "" => file.clone(),
                path => folder.join(path).to_string_lossy().into_owned(),
            };
            let target_path = repo_path(&target);
            if !target_path.exists() {
                broken.push(format!("{file}: {link}: no file {target}"));
                continue;
            }
            if !anchor.is_empty()
                && target.ends_with(".md")
                && !anchors(&read(&target)).contains(anchor)
            {
                broken.push(format!("{file}: {link}: no heading #{anchor} in {target}"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_is_the_guide_that_shows_the_test_command() {
    let readme = read("README.md");
    assert!(readme.contains("\ncargo test"), "README shows `cargo test`");
    assert!(
        readme.contains("docs/interface.md"),
        "README links to the reference"
    );
    let lines = readme.lines().count();
    assert!(
        lines <= 400,
        "README.md has {lines} lines: it is the guide; reference belongs in docs/"
    );
}

#[test]
fn the_docs_name_behaviour_not_the_tickets_that_asked_for_it() {
    let words = ["issue", "point"];
    let mut found = Vec::new();
    for file in doc_files() {
        for (number, line) in read(&file).lines().enumerate() {
            let lower = line.to_lowercase();
            for word in words {
                let pattern = format!("{word} ");
                let cites = lower.match_indices(&pattern).any(|(at, _)| {
                    lower[at + pattern.len()..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_digit())
                });
                if cites {
                    found.push(format!("{file}:{}: {line}", number + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
