//! The journal's errors (the journal itself is `store::journal`): here, so
//! that [`super::Error`] can carry them.

use std::io;
use std::path::{Path, PathBuf};

/// The most bytes a journal line may hold (its line end left out). A write's
/// record is far smaller: a group's fields before and after, and one request body.
pub const JOURNAL_MAX_LINE: usize = 1024 * 1024;

/// Why the journal cannot be opened, written or read. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "journal {}: it is a symbolic link; name the file itself (journal_file, --journal or \
         GROUPSYNC_JOURNAL): a link could send the record of every write elsewhere",
        .path.display()
    )]
    Symlink { path: PathBuf },
    #[error(
        "journal {}: it is {kind}, not a regular file; journal_file names the file to append to \
         (e.g. DIR/journal.jsonl)",
        .path.display()
    )]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error(
        "journal {} is locked by another groupsync{holder}; stop that process or point \
         --journal at another file",
        .path.display()
    )]
    Locked { path: PathBuf, holder: String },
    #[error("journal {}: cannot {action} it: {source}", .path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(
        "journal {}: its last line is not a journal record ({reason}), so no record can be \
         chained to it; run `groupsync journal verify`, then keep the file for the audit and \
         move it aside: a new chain starts in a new file",
        .path.display()
    )]
    BadTail { path: PathBuf, reason: String },
    #[error(
        "journal {}: a record of {size} bytes is larger than a line may be ({JOURNAL_MAX_LINE} bytes)",
        .path.display()
    )]
    RecordTooLarge { path: PathBuf, size: usize },
    #[error(
        "journal {}: an earlier write to it failed; nothing more is appended until it is \
         opened again (which sets aside what that write left)",
        .path.display()
    )]
    Broken { path: PathBuf },
    #[error("no journal at {}: nothing has been written yet, or it was removed", .path.display())]
    NotFound { path: PathBuf },
}

impl JournalError {
    pub fn io(path: &Path, action: &'static str, source: io::Error) -> JournalError {
        JournalError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    }
}
