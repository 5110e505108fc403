//! What can be wrong with the state file, each with its own variant, so that
//! the message names the problem and says what to do.

use std::io;
use std::path::PathBuf;

/// The only state file format version this groupsync reads and writes.
pub const STATE_FORMAT_VERSION: u64 = 1;

/// Appended to every "cannot read it" message.
const REPAIR_HINT: &str =
    "it is left untouched: repair it, or move it aside to start from an empty snapshot";

/// Why the state file cannot be read, locked or written. It is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum StateProblem {
    #[error(
        "is a directory; --state / state_file names the file to keep the snapshot in (e.g. DIR/state.json)"
    )]
    IsADirectory,
    #[error("cannot read it ({0}); check its permissions")]
    Unreadable(io::Error),
    /// A FIFO or a device where the state file should be, or a file larger
    /// than any snapshot: not read.
    #[error("{0}")]
    NotRead(super::config::FileError),
    #[error("not UTF-8 text; {REPAIR_HINT}")]
    NotUtf8,
    #[error("{0}; {REPAIR_HINT}")]
    Format(FormatError),
    #[error("cannot create its directory: {0}")]
    CannotCreateDir(io::Error),
    #[error("cannot open the lock file {}: {source}", lock.display())]
    CannotOpenLock { lock: PathBuf, source: io::Error },
    #[error("cannot lock {}: {source}", lock.display())]
    CannotLock { lock: PathBuf, source: io::Error },
    #[error(
        "not saved: it could not be read earlier, and groupsync never replaces a state file it cannot read"
    )]
    NotReadEarlier,
    #[error("cannot save it ({0}); the previous file is left as it was")]
    CannotSave(io::Error),
    #[error(
        "saved, but syncing its directory failed ({0}); a crash now could bring back the previous file"
    )]
    DirectoryNotSynced(io::Error),
}

/// Why a state file's text is not a snapshot this groupsync reads.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("not valid state JSON ({0})")]
    Json(serde_json::Error),
    #[error("no \"version\" field; this is not a groupsync state file")]
    NoVersion,
    #[error(
        "format version {0}, but this groupsync reads only version {STATE_FORMAT_VERSION} (written by a newer groupsync?)"
    )]
    Newer(u64),
    #[error(
        "format version {0}, but groupsync writes only version {STATE_FORMAT_VERSION}; this is not a groupsync state file"
    )]
    Older(u64),
    /// A string, a fraction, a negative number: not a version any groupsync writes.
    #[error(
        "\"version\" must be the whole number {STATE_FORMAT_VERSION}, not {0}; this is not a groupsync state file"
    )]
    VersionNotANumber(&'static str),
    /// It did not parse as it was read, and did once read again whole.
    #[error("it changed while it was being read; run again")]
    Changed,
}
