//! `groupsync import`: the pod's groups not yet declared, as groups.d YAML
//! to stdout or a new file; the summary on stderr.

use std::path::PathBuf;

use anyhow::Context;

use crate::commands::outcome::Outcome;
use crate::commands::output::print_stdout;
use crate::config::Settings;
use crate::pipeline::cycle::pod_client;
use crate::pipeline::import::{self, ImportOptions};
use crate::pod::auth::SESSION_TOKEN_ENV;
use crate::shutdown::{self, SecondSignalSender};

/// Reads the pod and writes the YAML (to `out`, a new file, when given).
pub async fn run(
    settings: Settings,
    options: ImportOptions,
    out: Option<PathBuf>,
    second_signal: SecondSignalSender,
) -> anyhow::Result<Outcome> {
    let mut client = pod_client(&settings, std::env::var(SESSION_TOKEN_ENV).ok())?.context(
        "import reads the pod: set --pod-url / GROUPSYNC_POD_URL / pod.url, and credentials",
    )?;
    if let Some(out) = &out {
        import::check_new_file(out)?;
    }
    let (trigger, stop) = shutdown::channel();
    shutdown::trigger_on_signals(trigger, second_signal)?;
    client.set_shutdown(stop);
    let read_at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let imported = import::import(
        &settings.groups_dir,
        &settings.state_file,
        &client,
        &options,
        &read_at,
    )
    .await?;
    match &out {
        Some(out) => {
            import::write_new_file(out, &imported.yaml)?;
            eprintln!("{}: {}", out.display(), imported.summary());
        }
        None => {
            print_stdout(&imported.yaml)?;
            eprintln!("{}", imported.summary());
        }
    }
    Ok(Outcome::Clean)
}
