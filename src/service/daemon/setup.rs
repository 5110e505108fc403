//! What the daemon sets up at start and again on every reload: the check
//! that the state file is readable and of this pod, and the pod client,
//! counted in the metrics.

use std::sync::Arc;

use crate::config::Settings;
use crate::error::Result;
use crate::pipeline::cycle::{pod_client, tie_to_pod};
use crate::pod::PodClient;
use crate::pod::auth::SESSION_TOKEN_ENV;
use crate::service::metrics::Metrics;
use crate::store::state_file::read_unlocked;

/// Fails unless the state file of `settings` can be read and describes the
/// configured pod (or none yet): a daemon started on a wrong one stops at
/// once rather than failing every cycle. Reads without a lock; writes nothing.
pub(super) fn check_state_file(settings: &Settings) -> Result<()> {
    let mut snapshot = read_unlocked(&settings.state_file)?;
    tie_to_pod(
        &mut snapshot,
        &settings.state_file,
        settings.pod_url.as_deref(),
    )?;
    Ok(())
}

/// The pod client of `settings`, counting its requests in `metrics`.
pub(super) fn observed_client(
    settings: &Settings,
    metrics: &Arc<Metrics>,
) -> Result<Option<PodClient>> {
    let Some(mut client) = pod_client(settings, std::env::var(SESSION_TOKEN_ENV).ok())? else {
        return Ok(None);
    };
    client.set_observer(metrics.request_observer());
    Ok(Some(client))
}
