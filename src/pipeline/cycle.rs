//! One cycle of the pipeline: load -> refresh -> plan -> (apply). `plan`,
//! `apply` and the daemon all run exactly this; rendering is the caller's.

use crate::config::{RefreshMode, Settings};
use crate::desired::load_dir;
use crate::error::{Error, Result};
use crate::pipeline::apply::{ApplyReport, apply, check_limits};
use crate::pipeline::plan::{Plan, plan};
use crate::pipeline::refresh::{RefreshReport, refresh};
use crate::pipeline::render::Report;
use crate::pipeline::state::{Snapshot, StateFile};
use crate::pod::auth::AuthSource;
use crate::pod::retry::RetryPolicy;
use crate::pod::{PodClient, Timeouts};
use crate::shutdown::Shutdown;

/// Whether a cycle may write to the pod, and how it reads first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CycleOptions {
    /// Send the planned PUTs (`apply`); otherwise only plan.
    pub write: bool,
    pub refresh: RefreshMode,
    /// Override `limits` for this cycle (`--force`).
    pub force: bool,
}

/// What one cycle saw and did.
#[derive(Debug)]
pub struct CycleOutcome {
    pub desired_groups: usize,
    pub refresh: RefreshReport,
    pub plan: Plan,
    /// `None` when the cycle did not write (a plan, or nothing to do).
    pub apply: Option<ApplyReport>,
}

impl CycleOutcome {
    /// What to render of this cycle.
    pub fn report(&self) -> Report<'_> {
        Report {
            plan: &self.plan,
            drift: &self.refresh.drift,
            warnings: &self.refresh.warnings,
            errors: &[],
            apply: self.apply.as_ref(),
        }
    }
}

/// The pod client the settings describe, or `None` without a pod URL (offline planning).
///
/// `env_token` is `GROUPSYNC_SESSION_TOKEN`, which wins over the config file.
pub fn pod_client(settings: &Settings, env_token: Option<String>) -> Result<Option<PodClient>> {
    let Some(pod_url) = settings.pod_url.as_deref() else {
        return Ok(None);
    };
    let auth = AuthSource::from_settings(&settings.auth, pod_url, env_token)?.ok_or_else(|| {
        Error::NoCredentials {
            pod_url: pod_url.to_string(),
        }
    })?;
    let client = PodClient::new(
        pod_url,
        auth,
        RetryPolicy::from(&settings.retry),
        Timeouts::default(),
    )?;
    Ok(Some(client))
}

/// Runs one cycle against `snapshot` (kept up to date with every pod answer, and saved).
pub async fn run_cycle(
    settings: &Settings,
    state: &StateFile,
    snapshot: &mut Snapshot,
    client: Option<&PodClient>,
    options: CycleOptions,
    shutdown: Shutdown,
) -> Result<CycleOutcome> {
    let desired = load_dir(&settings.groups_dir)?;
    let refresh = match client {
        Some(client) => {
            let report = refresh(&desired, snapshot, client, options.refresh).await?;
            if report.read > 0 {
                state.save(snapshot)?;
            }
            report
        }
        None => RefreshReport::default(),
    };
    let plan = plan(&desired, snapshot, settings.update_mode);
    let mut outcome = CycleOutcome {
        desired_groups: desired.groups.len(),
        refresh,
        plan,
        apply: None,
    };
    if !options.write || outcome.plan.is_empty() {
        return Ok(outcome);
    }
    let client = client.ok_or(Error::NoPod)?;
    check_limits(&outcome.plan, &settings.limits, options.force).map_err(Error::Refused)?;
    let report = apply(
        &outcome.plan,
        client,
        state,
        snapshot,
        settings.concurrency,
        shutdown,
    )
    .await?;
    outcome.apply = Some(report);
    Ok(outcome)
}
