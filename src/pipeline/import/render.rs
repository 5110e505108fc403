//! The YAML an import writes: one entry per group, packed into files of at
//! most [`PART_BYTES`] of groups (one `groups:` list sorted by area then
//! name, continued from file to file), each under a comment header; every
//! file is loaded with the loader itself before anything is written.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::desired::{MAX_FILE_BYTES, parse_file};
use crate::error::{Error, Result};
use crate::model::{Roster, UserGroupResponse};
use crate::text::{counted, escaped, yaml_quoted, yaml_scalar};

use super::lists::{GroupLists, ImportedList, ReadList, Unwritten, list_yaml};

/// The groups of one file take at most this many bytes: half of what the
/// loader reads, so that a file has room to grow by hand (members lists).
pub(super) const PART_BYTES: usize = MAX_FILE_BYTES as usize / 2;

/// Room kept in every file for its header: the left-out list of the first
/// file included, which [`MAX_LISTED`] and [`MAX_LINE`] bound.
pub(super) const HEADER_BYTES: usize = 64 * 1024;

/// The most left-out groups listed in a file's header (stderr lists them all).
const MAX_LISTED: usize = 100;

/// The longest left-out line in a file's header, in characters.
const MAX_LINE: usize = 400;

/// The longest id or name shown in a message, in characters.
const MAX_SHOWN: usize = 80;

/// The largest single group an import can write: with a header and the
/// `groups:` line, it must fit in a file the loader reads.
pub(super) const MAX_ENTRY_BYTES: usize = MAX_FILE_BYTES as usize - HEADER_BYTES;

/// What a file's header says besides its part number.
#[derive(Debug, Clone, Copy)]
pub(super) struct Header<'a> {
    pub pod_url: &'a str,
    pub read_at: &'a str,
}

/// One file of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Where it was written; `None` for stdout.
    pub path: Option<PathBuf>,
    pub yaml: String,
    /// Groups in it.
    pub groups: usize,
}

/// The files of an import, not yet written, and what they hold.
#[derive(Debug)]
pub(super) struct Rendered {
    pub files: Vec<File>,
    /// Every group written, in order.
    pub groups: Vec<UserGroupResponse>,
}

/// `groups` (sorted, each with its YAML entry) as files; the first file's
/// header lists the groups `left_out` (one line each). Fails if the loader
/// refuses any file: a mistake of groupsync's, and nothing is written.
pub(super) fn render(
    header: &Header,
    groups: Vec<(UserGroupResponse, String)>,
    left_out: &[String],
) -> Result<Rendered> {
    let mut parts: Vec<Vec<String>> = vec![Vec::new()];
    let mut part_bytes = 0;
    let mut written = Vec::with_capacity(groups.len());
    for (group, entry) in groups {
        let last = parts.last_mut().expect("one part at least");
        if !last.is_empty() && part_bytes + entry.len() > PART_BYTES {
            parts.push(Vec::new());
            part_bytes = 0;
        }
        part_bytes += entry.len();
        parts.last_mut().expect("one part at least").push(entry);
        written.push(group);
    }
    let count = parts.len();
    let files = parts
        .into_iter()
        .enumerate()
        .map(|(index, entries)| {
            let listed = if index == 0 { left_out } else { &[] };
            let mut yaml = file_header(header, (index + 1, count), listed);
            if entries.is_empty() {
                yaml.push_str("groups: []\n");
            } else {
                yaml.push_str("groups:\n");
                entries.iter().for_each(|entry| yaml.push_str(entry));
            }
            check_loads(&yaml, index + 1)?;
            Ok(File {
                path: None,
                yaml,
                groups: entries.len(),
            })
        })
        .collect::<Result<Vec<File>>>()?;
    Ok(Rendered {
        files,
        groups: written,
    })
}

/// One group as an item of a `groups:` list: its id quoted, then every
/// field the pod reported. A description's `\r\n` line breaks are kept.
pub(super) fn entry(group: &UserGroupResponse) -> String {
    let id = group.id.as_deref().unwrap_or_default();
    let mut yaml = format!("  - id: {}\n", yaml_quoted(id));
    for (key, value) in [("name", &group.name), ("area", &group.area)] {
        if let Some(value) = value {
            let _ = writeln!(yaml, "    {key}: {}", yaml_scalar(value));
        }
    }
    if let Some(description) = &group.description {
        let _ = writeln!(yaml, "    description: {}", description_scalar(description));
    }
    if let Some(active) = group.active {
        let _ = writeln!(yaml, "    active: {active}");
    }
    yaml
}

/// `entry` (a group's fields, from [`entry`]) followed by its lists: each
/// list read as its sorted usernames, with a comment above it for each
/// user that cannot be written; each list left out as a comment. A list
/// that makes the entry larger than a file may hold is left out instead
/// (the longest first), and `lists` says so.
pub(super) fn with_lists(entry: &str, lists: &mut GroupLists) -> String {
    loop {
        let mut yaml = entry.to_string();
        for (roster, list) in lists.iter() {
            push_list(&mut yaml, *roster, list);
        }
        if yaml.len() <= MAX_ENTRY_BYTES {
            return yaml;
        }
        let longest = lists
            .iter()
            .filter_map(|(roster, list)| match list {
                ImportedList::Read(read) => Some((*roster, read.users.len())),
                ImportedList::LeftOut(_) => None,
            })
            .max_by_key(|(_, users)| *users);
        let Some((roster, users)) = longest else {
            return yaml;
        };
        let reason = format!(
            "its {} make the group's YAML larger than a groups file may hold ({})",
            counted(users, "user"),
            shown_size(MAX_FILE_BYTES as usize)
        );
        lists.insert(roster, ImportedList::LeftOut(reason));
    }
}

/// One list of a group's entry, as [`with_lists`] writes it.
fn push_list(yaml: &mut String, roster: Roster, list: &ImportedList) {
    let key = roster.key();
    match list {
        ImportedList::LeftOut(reason) => {
            let _ = writeln!(
                yaml,
                "    # {key}: not imported, so groupsync leaves them alone: {}",
                cut(&escaped(reason), MAX_LINE)
            );
        }
        ImportedList::Read(ReadList {
            written, unwritten, ..
        }) => {
            for user in unwritten {
                let _ = writeln!(yaml, "    # {key}: {}", unwritten_comment(user));
            }
            yaml.push_str(&list_yaml(roster, written));
        }
    }
}

/// Why a user on a list is not written, and what follows.
fn unwritten_comment(user: &Unwritten) -> String {
    let follows = "`apply` removes it from the pod's list";
    match &user.username {
        Some(username) => format!(
            "user {} ({}) cannot be listed here, as groupsync cannot load its name ({}); {follows}",
            user.user_id,
            shown(username),
            cut(
                &escaped(user.problem.as_deref().unwrap_or_default()),
                MAX_LINE
            )
        ),
        None => format!(
            "user {} has no username (a deleted account?), so it cannot be listed here; {follows}",
            user.user_id
        ),
    }
}

/// As [`yaml_scalar`], with each `\r\n` written `\r\n` rather than `\u000d\n`.
fn description_scalar(text: &str) -> String {
    if !text.contains("\r\n") {
        return yaml_scalar(text).into_owned();
    }
    let lines: Vec<String> = text
        .split("\r\n")
        .map(|line| {
            let quoted = yaml_quoted(line);
            quoted[1..quoted.len() - 1].to_string()
        })
        .collect();
    format!("\"{}\"", lines.join("\\r\\n"))
}

/// The comment lines a file opens with.
fn file_header(header: &Header, (part, parts): (usize, usize), left_out: &[String]) -> String {
    let mut text = format!(
        "# Imported by `groupsync import` from {} at {}.\n\
         # Review it, commit it, and `groupsync plan` says \"No changes.\"\n",
        escaped(header.pod_url),
        escaped(header.read_at)
    );
    if parts > 1 {
        let _ = writeln!(
            text,
            "# Part {part} of {parts}: the groups are split into files the loader reads (at most {} each).",
            shown_size(MAX_FILE_BYTES as usize)
        );
    }
    if !left_out.is_empty() {
        let _ = writeln!(
            text,
            "# Left out: {} that groupsync could not load from a file, each with the reason.\n\
             # Fix each on the pod and import again, or declare it here by hand:",
            counted(left_out.len(), "group")
        );
        for left in left_out.iter().take(MAX_LISTED) {
            let _ = writeln!(text, "#   {}", cut(left, MAX_LINE));
        }
        if left_out.len() > MAX_LISTED {
            let _ = writeln!(
                text,
                "#   and {} more, listed on stderr",
                left_out.len() - MAX_LISTED
            );
        }
    }
    text
}

/// Fails, naming the part, unless the loader reads `yaml` without a problem.
fn check_loads(yaml: &str, part: usize) -> Result<()> {
    let name = format!("part {part} of the import");
    let too_large = yaml.len() > MAX_FILE_BYTES as usize;
    let (_, problems) = parse_file(Path::new(&name), yaml);
    if !too_large && problems.is_empty() {
        return Ok(());
    }
    let first = problems.first().map_or_else(
        || "larger than a groups file may be".to_string(),
        ToString::to_string,
    );
    Err(Error::io(
        format!(
            "import would write a file that groupsync cannot load ({first}); nothing was written"
        ),
        std::io::Error::other("a bug in groupsync: please report it"),
    ))
}

/// `text` as a message shows it: escaped, quoted, cut short.
pub(super) fn shown(text: &str) -> String {
    format!("\"{}\"", cut(&escaped(text), MAX_SHOWN))
}

/// `text` cut to `max` characters, with `...` when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

/// `1 MiB`, `512 KiB`, `300 bytes`.
pub(super) fn shown_size(bytes: usize) -> String {
    const KIB: usize = 1024;
    if bytes >= KIB * KIB && bytes.is_multiple_of(KIB * KIB) {
        format!("{} MiB", bytes / KIB / KIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}
