//! Why `groupsync approve` could not record an approval.

use std::path::PathBuf;

/// An approval that was not recorded: nothing is held, another plan is, or a file failed.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error(
        "no plan is held for approval (no {}): only a plan a writing cycle refused over \
         its limits can be approved. See what the daemon would do at /plan",
        .held.display()
    )]
    NothingHeld { held: PathBuf },
    #[error(
        "no held plan has the digest {given}: the plan held now is {held}. Review it \
         (the daemon's /plan shows it with its digest) and approve that digest"
    )]
    UnknownDigest { given: String, held: String },
    #[error(
        "the digest {given} is too short: give at least {min} of its hex digits, as \
         plans show them"
    )]
    TooShort { given: String, min: usize },
    #[error("{}: {reason}", .path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("cannot write {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
