//! `groupsync run` (without `--once`): the daemon, stopped by SIGINT/SIGTERM
//! and reloaded by SIGHUP. The loop itself is [`crate::service::daemon`].

use anyhow::Context;

use crate::cli::args::RunArgs;
use crate::commands::outcome::Outcome;
use crate::config::{Overrides, Settings};
use crate::service::daemon::{self, DaemonOptions};
use crate::shutdown::{self, SecondSignalSender};

/// Runs the daemon until a stop; `overrides` are kept for the reloads.
pub async fn run(
    overrides: Overrides,
    settings: Settings,
    args: RunArgs,
    second_signal: SecondSignalSender,
) -> anyhow::Result<Outcome> {
    let options = DaemonOptions {
        dry_run: args.dry_run,
        refresh_every_cycle: args.refresh,
        lock_timeout: args.lock.lock_timeout,
        prune: args.prune,
    };
    let (stop_trigger, stop) = shutdown::channel();
    shutdown::trigger_on_signals(stop_trigger, second_signal)
        .context("cannot handle SIGINT and SIGTERM")?;
    let (reload_trigger, reloads) = shutdown::reload_channel();
    shutdown::reload_on_hangup(reload_trigger).context("cannot handle SIGHUP")?;
    daemon::run(overrides, settings, options, stop, reloads).await?;
    Ok(Outcome::Clean)
}
