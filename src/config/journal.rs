//! Where the journal goes: `journal_file`, by default beside the state file
//! (`state.json` -> `state.journal.jsonl`; beside its target when the state
//! file is a symlink, as the state file's own lock is), and the checks that
//! keep it a regular file of its own, never a symlink, never the state file,
//! never inside the groups dir. And the revision `--revision` gives, checked.

use std::fs;
use std::path::{Path, PathBuf};

use super::file::ConfigSize;
use super::files::{check_file_setting, real_path};
use super::settings::flag_label;
use super::values::parse_revision;
use super::{DEFAULT_JOURNAL_MAX_SIZE, MAX_JOURNAL_SIZE, MIN_JOURNAL_SIZE};
use crate::error::{ConfigError, JournalPlacement};

/// What the journal's name adds to the state file's name without its extension.
pub const JOURNAL_SUFFIX: &str = ".journal.jsonl";

/// How the journal is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalSettings {
    /// The size at which the journal file is rotated, in bytes.
    pub max_size: u64,
}

impl Default for JournalSettings {
    fn default() -> Self {
        JournalSettings {
            max_size: DEFAULT_JOURNAL_MAX_SIZE,
        }
    }
}

/// The journal's path (the flag's, else the file's relative to `base_dir`,
/// else beside the state file), checked, and the file's `journal.max_size`
/// (checked while parsing) or its default.
pub(super) fn journal_settings(
    overridden: Option<&PathBuf>,
    from_file: Option<PathBuf>,
    max_size: Option<ConfigSize<MIN_JOURNAL_SIZE, MAX_JOURNAL_SIZE>>,
    base_dir: &Path,
    state_file: &Path,
    groups_dir: &Path,
) -> Result<(PathBuf, JournalSettings), ConfigError> {
    let path = match (overridden, from_file) {
        (Some(path), _) => path.clone(),
        (None, Some(path)) => base_dir.join(path),
        (None, None) => journal_beside(state_file),
    };
    check_journal_file(&path, state_file, groups_dir)?;
    let max_size = max_size.map_or(DEFAULT_JOURNAL_MAX_SIZE, |size| size.0);
    Ok((path, JournalSettings { max_size }))
}

/// The revision `--revision` / `GROUPSYNC_REVISION` gives, checked; empty is none.
pub(super) fn revision(overridden: Option<&str>) -> Result<Option<String>, ConfigError> {
    let Some(text) = overridden else {
        return Ok(None);
    };
    parse_revision(text).map_err(|source| ConfigError::Flag {
        flag: flag_label("revision"),
        source,
    })
}

/// The journal's default path: beside the state file, named after it:
/// `state.json` -> `state.journal.jsonl`.
fn journal_beside(state_file: &Path) -> PathBuf {
    beside_state(state_file, JOURNAL_SUFFIX)
}

/// A file named after the state file, beside it (or its target, when it is
/// a symlink): `state.json` + `.held.json` -> `state.held.json`. The
/// journal, a held plan and an approval live there.
pub fn beside_state(state_file: &Path, suffix: &str) -> PathBuf {
    let is_link = fs::symlink_metadata(state_file).is_ok_and(|meta| meta.file_type().is_symlink());
    let state = match is_link {
        true => real_path(state_file),
        false => state_file.to_path_buf(),
    };
    let mut name = state
        .file_stem()
        .map_or_else(|| "state".into(), |stem| stem.to_os_string());
    name.push(suffix);
    state.with_file_name(name)
}

/// Refuses a journal path that is a symlink, the state file, inside the
/// groups dir (links followed, as for the state file), or something other
/// than a regular file (a directory, a FIFO, a device). A missing file is
/// fine: the first write creates it.
fn check_journal_file(
    journal: &Path,
    state_file: &Path,
    groups_dir: &Path,
) -> Result<(), ConfigError> {
    let setting = format!("journal_file / {}", flag_label("journal_file"));
    let refuse = |problem| ConfigError::JournalFile {
        path: journal.to_path_buf(),
        setting: setting.clone(),
        problem,
    };
    if fs::symlink_metadata(journal).is_ok_and(|meta| meta.file_type().is_symlink()) {
        return Err(refuse(JournalPlacement::Symlink));
    }
    let real = real_path(journal);
    if real == real_path(state_file) {
        return Err(refuse(JournalPlacement::StateFile));
    }
    if real.starts_with(real_path(groups_dir)) {
        return Err(refuse(JournalPlacement::InsideGroupsDir {
            groups_dir: groups_dir.to_path_buf(),
        }));
    }
    check_file_setting(journal, u64::MAX, "the journal", &setting)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_journal_is_named_after_the_state_file_beside_it() {
        for (state, journal) in [
            (
                "/var/lib/groupsync/state.json",
                "/var/lib/groupsync/state.journal.jsonl",
            ),
            ("groupsync.state.json", "groupsync.state.journal.jsonl"),
            ("dir/state", "dir/state.journal.jsonl"),
        ] {
            assert_eq!(
                journal_beside(Path::new(state)),
                Path::new(journal),
                "{state}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir(root.join("volume")).unwrap();
        std::os::unix::fs::symlink("volume/acme.json", root.join("state.json")).unwrap();
        assert_eq!(
            journal_beside(&root.join("state.json")),
            root.join("volume/acme.journal.jsonl")
        );
    }
}
