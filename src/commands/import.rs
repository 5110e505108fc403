//! `groupsync import`: the pod's groups not yet declared, as groups.d YAML
//! to stdout or new files; what was left out, and the summary, on stderr.

use std::path::PathBuf;

use anyhow::Context;

use crate::commands::outcome::Outcome;
use crate::commands::output::print_stdout;
use crate::config::Settings;
use crate::error::{Error, short_duration};
use crate::pipeline::cycle::pod_client;
use crate::pipeline::import::{self, Destination, ImportOptions, ImportRun, Imported};
use crate::pod::auth::SESSION_TOKEN_ENV;
use crate::shutdown::{self, SecondSignalSender};

/// Reads the pod and writes the YAML (to `out`, new files, when given).
pub async fn run(
    settings: Settings,
    options: ImportOptions,
    out: Option<PathBuf>,
    second_signal: SecondSignalSender,
) -> anyhow::Result<Outcome> {
    let mut client = pod_client(&settings, std::env::var(SESSION_TOKEN_ENV).ok())?.context(
        "import reads the pod: set --pod-url / GROUPSYNC_POD_URL / pod.url, and credentials",
    )?;
    let destination = Destination::from_out(out.as_deref());
    let (trigger, stop) = shutdown::channel();
    shutdown::trigger_on_signals(trigger, second_signal)?;
    client.set_shutdown(stop.clone());
    let read_at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let run = ImportRun {
        groups_dir: &settings.groups_dir,
        state_path: &settings.state_file,
        destination: &destination,
        options: &options,
        read_at: &read_at,
        timeout: settings.cycle_timeout,
        concurrency: settings.concurrency,
        stop,
    };
    let imported = import::import(&run, &client).await.map_err(|error| match error {
        Error::CycleTimeout(limit) => anyhow::anyhow!(
            "the import was abandoned after running for longer than cycle_timeout ({}); nothing was \
             written. Find out why the pod is this slow, or raise --cycle-timeout",
            short_duration(limit)
        ),
        other => other.into(),
    })?;
    report(&imported)?;
    Ok(Outcome::Clean)
}

/// The YAML meant for stdout, then on stderr each group left out, each list
/// left out or user not written, and the summary.
fn report(imported: &Imported) -> anyhow::Result<()> {
    for file in imported.files.iter().filter(|file| file.path.is_none()) {
        print_stdout(&file.yaml)?;
    }
    let mut text = String::new();
    for left_out in &imported.left_out {
        text.push_str(&format!("left out {left_out}\n"));
    }
    for warning in imported.lists.warnings() {
        text.push_str(&format!("{warning}\n"));
    }
    let written: Vec<String> = imported
        .files
        .iter()
        .filter_map(|file| Some(file.path.as_ref()?.display().to_string()))
        .collect();
    let files = match written.as_slice() {
        [] => String::new(),
        [one] => format!("{one}: "),
        [first, .., last] => format!("{first} to {last}: "),
    };
    text.push_str(&format!("{files}{}\n", imported.summary()));
    eprint!("{text}");
    Ok(())
}
