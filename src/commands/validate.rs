//! `groupsync validate`: load and check the desired state, and print every
//! error, not just the first.

use std::collections::BTreeSet;

use crate::Error;
use crate::cli::args::OutputFormat;
use crate::commands::outcome::Outcome;
use crate::commands::output::{print_diagnostics, print_stdout};
use crate::config::Settings;
use crate::desired;
use crate::pipeline::render::{self, markdown};
use crate::text::counted;

/// Valid: the count of groups and files; invalid: every diagnostic (text on
/// stderr, JSON on stdout, Markdown both), and [`Outcome::Failed`].
pub fn run(settings: &Settings, format: OutputFormat) -> anyhow::Result<Outcome> {
    let (groups, files, diagnostics) = match desired::load_dir(&settings.groups_dir) {
        Ok(desired) => {
            let files: BTreeSet<_> = desired
                .groups
                .iter()
                .map(|group| &group.source.path)
                .collect();
            (desired.groups.len(), files.len(), Vec::new())
        }
        Err(Error::Invalid(diagnostics)) => (0, 0, diagnostics.0),
        Err(other) => return Err(other.into()),
    };
    match format {
        OutputFormat::Json => {
            print_stdout(&render::render_validation_json(groups, files, &diagnostics))?
        }
        OutputFormat::Text if diagnostics.is_empty() => print_stdout(&format!(
            "{} valid in {}\n",
            counted(groups, "group"),
            counted(files, "file")
        ))?,
        OutputFormat::Text => print_diagnostics(&diagnostics),
        OutputFormat::Markdown if diagnostics.is_empty() => {
            print_stdout(&markdown::render_valid_markdown(groups, files))?
        }
        OutputFormat::Markdown => {
            print_diagnostics(&diagnostics);
            print_stdout(&markdown::render_invalid_markdown(&diagnostics))?
        }
    }
    Ok(if diagnostics.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Failed
    })
}
