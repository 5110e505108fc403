//! The daemon's notifications: set up from the settings (at start and on
//! every reload, counted in the metrics), told of each cycle once it has
//! planned (its drift, at once) and once it ended, and stopped without
//! waiting: a target that is down never delays a cycle, a stop or a reload.

use std::sync::Arc;

use super::report::PlannedHook;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::notify::Notifications;
use crate::pipeline::cycle::CycleOutcome;
use crate::pod::PodClient;
use crate::service::metrics::Metrics;

/// The notifications `settings` configure, after `previous` (whose memory
/// they share), each outcome counted in `metrics` (and every known series
/// shown at 0).
pub(super) fn start_notifications(
    previous: &Notifications,
    settings: &Settings,
    client: Option<&PodClient>,
    metrics: &Arc<Metrics>,
) -> Result<Notifications> {
    let notifications = previous
        .restarted(settings, client, Some(metrics.notification_observer()))
        .map_err(|error| {
            Error::io(
                error.to_string(),
                std::io::Error::other("notifications cannot be set up"),
            )
        })?;
    metrics.know_notification_targets(&notifications.targets());
    Ok(notifications)
}

/// `hook` (the drift's log and count), then the cycle's drift notified.
pub(super) fn with_notifications(hook: PlannedHook, notifications: Notifications) -> PlannedHook {
    Arc::new(move |outcome: &CycleOutcome| {
        hook(outcome);
        notifications.planned(outcome);
    })
}

/// Stopping: what is still queued is dropped (counted), never waited for.
pub(super) fn stop_notifications(notifications: &Notifications) {
    let dropped = notifications.stop();
    if dropped > 0 {
        tracing::warn!(
            "{} not sent: stopping",
            crate::text::counted(dropped, "notification")
        );
    }
}
