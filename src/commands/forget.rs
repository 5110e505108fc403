//! `groupsync forget ID...`: stop managing groups without touching the pod
//! (as `terraform state rm` does). Takes the state file's lock, checks every
//! id first (an id groupsync does not manage is an error, and nothing is
//! forgotten), then forgets them all and says what it forgot.

use std::time::Duration;

use anyhow::bail;

use crate::commands::outcome::Outcome;
use crate::config::Settings;
use crate::shutdown::Shutdown;
use crate::store::state_file::StateFile;
use crate::text::escaped;

/// Forgets `ids`, all or none.
pub async fn run(
    settings: &Settings,
    ids: &[String],
    lock_timeout: Duration,
) -> anyhow::Result<Outcome> {
    let state =
        StateFile::lock_within(&settings.state_file, lock_timeout, &Shutdown::never()).await?;
    let mut snapshot = state.load()?;
    let unknown: Vec<String> = ids
        .iter()
        .filter(|id| snapshot.managed(id).is_none())
        .map(|id| format!("{id:?}"))
        .collect();
    if !unknown.is_empty() {
        bail!(
            "groupsync does not manage {} (state file {}); nothing was forgotten",
            unknown.join(", "),
            settings.state_file.display()
        );
    }
    let mut forgotten = Vec::new();
    for id in ids {
        let name = snapshot.get(id).and_then(|pod| pod.name.clone());
        if snapshot.forget_managed(id) {
            forgotten.push((id, name));
        }
    }
    state.save(&snapshot)?;
    let declared = crate::desired::load_dir_or_empty(&settings.groups_dir).unwrap_or_default();
    for id in ids {
        if let Some(group) = declared.groups.iter().find(|group| group.id() == Some(id)) {
            eprintln!(
                "{}",
                escaped(&format!(
                    "warning: {} still declares {id}: the next apply manages it again",
                    group.source
                ))
            );
        }
    }
    for (id, name) in forgotten {
        let named = name.map(|name| format!(" ({name:?})")).unwrap_or_default();
        println!(
            "{}",
            escaped(&format!(
                "forgot {id}{named}: no longer managed; the pod is untouched"
            ))
        );
    }
    Ok(Outcome::Clean)
}
