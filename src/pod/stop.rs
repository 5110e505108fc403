//! How a stop cuts the pod client short: a wait between attempts ends at
//! once, and a request in flight gets [`STOP_GRACE_IN_FLIGHT`] more before
//! it is dropped.

use std::time::Duration;

use crate::shutdown::Shutdown;

/// Once a stop is requested, how much longer a request in flight may take
/// before it is dropped (and fails with [`crate::error::PodError::Stopped`]).
pub const STOP_GRACE_IN_FLIGHT: Duration = Duration::from_secs(10);

/// True once a stop is requested (never without a `shutdown`).
pub(super) fn stopping(shutdown: Option<&Shutdown>) -> bool {
    shutdown.is_some_and(Shutdown::is_requested)
}

/// Sleeps for `wait`, or until a stop is requested.
pub(super) async fn pause(shutdown: Option<&Shutdown>, wait: Duration) {
    match shutdown {
        Some(shutdown) => {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = stop_requested(shutdown) => {}
            }
        }
        None => tokio::time::sleep(wait).await,
    }
}

/// Completes once a stop is requested; never when the trigger is gone
/// without firing (nobody can stop us then).
async fn stop_requested(shutdown: &Shutdown) {
    let mut shutdown = shutdown.clone();
    shutdown.requested().await;
    if !shutdown.is_requested() {
        std::future::pending::<()>().await;
    }
}

/// `work`'s output, or `None` when a stop was requested and `work` did not
/// finish within `grace` of it (it is then dropped).
pub(super) async fn within_stop_grace<T>(
    work: impl Future<Output = T>,
    shutdown: Option<&Shutdown>,
    grace: Duration,
) -> Option<T> {
    let Some(shutdown) = shutdown else {
        return Some(work.await);
    };
    let cut_off = async {
        stop_requested(shutdown).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        biased;
        output = work => Some(output),
        () = cut_off => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shutdown;

    /// How long a test waits for what should take milliseconds (a guard against hanging).
    const PATIENCE: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn work_in_flight_gets_the_grace_after_a_stop_then_is_dropped() {
        let (trigger, stop) = shutdown::channel();
        trigger.trigger();

        let never_done = std::future::pending::<()>();
        let outcome = tokio::time::timeout(
            PATIENCE,
            within_stop_grace(never_done, Some(&stop), Duration::from_millis(20)),
        )
        .await
        .expect("the work was not cut off after the grace");
        assert_eq!(outcome, None);

        // Work that finishes within the grace keeps its output.
        let quick = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            7
        };
        let outcome = within_stop_grace(quick, Some(&stop), PATIENCE).await;
        assert_eq!(outcome, Some(7));
    }

    #[tokio::test]
    async fn without_a_stop_work_in_flight_is_never_cut_off() {
        let (trigger, stop) = shutdown::channel();
        let never_stopped = Shutdown::never();
        let cut_off = |shutdown| {
            tokio::time::timeout(
                Duration::from_millis(100),
                within_stop_grace(std::future::pending::<()>(), shutdown, Duration::ZERO),
            )
        };
        assert!(cut_off(Some(&never_stopped)).await.is_err());
        assert!(cut_off(None).await.is_err());
        // A trigger dropped without firing is no stop either.
        drop(trigger);
        assert!(cut_off(Some(&stop)).await.is_err());
    }
}
