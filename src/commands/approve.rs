//! `groupsync approve DIGEST`: approves the plan a writing cycle held over
//! its limits, for the daemon's next cycle (see [`crate::pipeline::approval`]).

use crate::commands::outcome::Outcome;
use crate::config::Settings;
use crate::pipeline::approval::{approval_path, approve};
use crate::pipeline::saved::digest::short;

pub fn run(settings: &Settings, digest: &str) -> anyhow::Result<Outcome> {
    let approval = approve(settings, digest)?;
    println!(
        "Approved plan {} as {} (uid {}), recorded in {} and the journal: the next cycle \
         applies it if its plan still has this digest.",
        short(&approval.digest),
        approval.user,
        approval.uid,
        crate::text::escaped(&approval_path(settings).display().to_string()),
    );
    Ok(Outcome::Clean)
}
