//! The refresh step of a cycle: before planning, read from the pod what the
//! refresh mode selects of every resource kind into the snapshot, and report
//! what changed outside groupsync. Each kind reads its own resources
//! ([`crate::kinds::seam::read_all`]), in kind order: a group's id is known
//! before its lists are read.

use crate::config::RefreshMode;
use crate::kinds::core::ReadContext;
use crate::kinds::seam::{Refreshed, read_all};
use crate::model::DesiredState;
use crate::pod::{PodClient, PodError};
use crate::store::snapshot::{Snapshot, now_ms};

/// What a refresh read and found: drift, warnings, and the lookups the plan needs.
pub type RefreshReport = Refreshed;

/// Reads the pod's state of the declared groups and their managed lists
/// that `mode` selects into `snapshot`, `concurrency` reads at a time.
pub async fn refresh(
    desired: &DesiredState,
    snapshot: &mut Snapshot,
    client: &PodClient,
    mode: RefreshMode,
    concurrency: usize,
) -> Result<RefreshReport, PodError> {
    let ctx = ReadContext {
        desired,
        client,
        mode,
        concurrency,
        started_ms: now_ms(),
    };
    read_all(&ctx, snapshot).await
}
