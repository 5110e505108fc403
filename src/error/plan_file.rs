//! Why a saved plan (`plan --out FILE`) cannot be shown or applied. Each
//! names the file and ends in what to do; none is ever a partial apply.

use std::path::PathBuf;

/// A saved plan refused: unreadable, not a plan, altered, for another pod, or stale.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("plan file {}: cannot read it: {reason}", .path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error(
        "plan file {}:{line}:{column}: not JSON ({reason}); a saved plan is what \
         `groupsync plan --out FILE` writes",
        .path.display()
    )]
    NotJson {
        path: PathBuf,
        line: usize,
        column: usize,
        reason: String,
    },
    #[error(
        "plan file {}: it ends early, at line {line}: the file is truncated (an interrupted \
         copy or upload?); make the plan again with `groupsync plan --out`",
        .path.display()
    )]
    Truncated { path: PathBuf, line: usize },
    #[error(
        "plan file {}: it is not a groupsync plan (no \"format\": \"groupsync-plan\"); a saved \
         plan is what `groupsync plan --out FILE` writes",
        .path.display()
    )]
    NotAPlan { path: PathBuf },
    #[error(
        "plan file {}: format version {found} is not one this groupsync reads (it reads version \
         {supported}); make the plan with the groupsync that applies it",
        .path.display()
    )]
    UnknownVersion {
        path: PathBuf,
        found: u64,
        supported: u32,
    },
    #[error(
        "plan file {}: {what}: the file was changed after `groupsync plan --out` wrote it; \
         nothing was written. Apply only a plan as it was reviewed: make it again",
        .path.display()
    )]
    Altered { path: PathBuf, what: String },
    #[error(
        "plan file {}: it was made for the pod {planned}, but this run talks to {configured}; \
         nothing was written. Apply it with the pod URL it was made for",
        .path.display()
    )]
    AnotherPod {
        path: PathBuf,
        planned: String,
        configured: String,
    },
    #[error(
        "plan file {}: the plan is stale: {resource} changed on the pod since the plan was made \
         ({what}); nothing was written. Make a new plan with `groupsync plan --out`, review it, \
         and apply that",
        .path.display()
    )]
    Stale {
        path: PathBuf,
        resource: String,
        what: String,
    },
}
