//! Which new groups an import can write: those the loader reads back. Each
//! group's YAML entry is loaded with the loader itself (its checks of ids,
//! names and hidden characters, never a second copy of them), and measured
//! against the largest file it reads. The rest are left out, each with the
//! reason and what to do about it.

use std::fmt;
use std::path::Path;

use crate::desired::parse_file;
use crate::model::UserGroupResponse;

use super::render::{MAX_ENTRY_BYTES, entry, shown, shown_size};

/// A group read from the pod and left out of the import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    pub id: Option<String>,
    pub name: Option<String>,
    /// Why, and what to do.
    pub reason: String,
}

impl LeftOut {
    pub(super) fn new(group: &UserGroupResponse, reason: impl Into<String>) -> LeftOut {
        LeftOut {
            id: group.id.as_deref().map(str::to_owned),
            name: group.name.as_deref().map(str::to_owned),
            reason: reason.into(),
        }
    }
}

/// `id "a/b" (name "EMEA"): the reason`, escaped and cut short, on one line.
impl fmt::Display for LeftOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "id {}", shown(id))?,
            None => write!(f, "a group without id")?,
        }
        if let Some(name) = &self.name {
            write!(f, " (name {})", shown(name))?;
        }
        write!(f, ": {}", crate::text::escaped(&self.reason))
    }
}

/// The groups an import writes, sorted by area then name, each with its
/// YAML entry; and those it leaves out.
#[derive(Debug, Default)]
pub(super) struct Screened {
    pub kept: Vec<(UserGroupResponse, String)>,
    pub left_out: Vec<LeftOut>,
}

/// The loader reads a batch of entries this large at once, and each entry
/// of a batch it refuses on its own, to say which of them it refuses.
const BATCH_BYTES: usize = 256 * 1024;

/// Sorts `new` and checks each group that is not left out already.
pub(super) fn screen(new: Vec<Result<UserGroupResponse, LeftOut>>) -> Screened {
    let mut screened = Screened::default();
    let mut candidates = Vec::with_capacity(new.len());
    for group in new {
        match group {
            Ok(group) => candidates.push(group),
            Err(left_out) => screened.left_out.push(left_out),
        }
    }
    sort_for_import(&mut candidates);
    let mut batch: Vec<(UserGroupResponse, String)> = Vec::new();
    let mut batch_bytes = 0;
    for group in candidates {
        let yaml = entry(&group);
        if yaml.len() > MAX_ENTRY_BYTES {
            screened
                .left_out
                .push(LeftOut::new(&group, too_large(&group, yaml.len())));
            continue;
        }
        if batch_bytes + yaml.len() > BATCH_BYTES {
            check_batch(std::mem::take(&mut batch), &mut screened);
            batch_bytes = 0;
        }
        batch_bytes += yaml.len();
        batch.push((group, yaml));
    }
    check_batch(batch, &mut screened);
    screened
}

/// Keeps the groups of `batch` the loader reads: all of them when it reads
/// the batch without a problem, else those it reads on their own.
fn check_batch(batch: Vec<(UserGroupResponse, String)>, screened: &mut Screened) {
    let mut text = String::from("groups:\n");
    batch.iter().for_each(|(_, yaml)| text.push_str(yaml));
    if loader_problems(&text).is_none() {
        screened.kept.extend(batch);
        return;
    }
    for (group, yaml) in batch {
        match loader_problems(&format!("groups:\n{yaml}")) {
            None => screened.kept.push((group, yaml)),
            Some(problems) => screened.left_out.push(LeftOut::new(
                &group,
                format!("{problems}; fix it on the pod, then import again"),
            )),
        }
    }
}

/// What the loader says about `text`, its messages joined; `None` when it
/// reads it without a problem.
fn loader_problems(text: &str) -> Option<String> {
    let (_, problems) = parse_file(Path::new("imported.yaml"), text);
    if problems.is_empty() {
        return None;
    }
    let messages: Vec<&str> = problems
        .iter()
        .map(|problem| problem.message.as_str())
        .collect();
    Some(messages.join("; "))
}

/// Why `group`, whose entry is `bytes` long, fits in no file.
fn too_large(group: &UserGroupResponse, bytes: usize) -> String {
    let description = group.description.as_deref().map_or(0, str::len);
    let limit = shown_size(crate::desired::MAX_FILE_BYTES as usize);
    let mut reason =
        format!("its YAML is {bytes} bytes, more than a groups file may hold ({limit})");
    if description * 2 > bytes {
        reason.push_str(&format!(
            ", {description} of them its description: shorten the description on the pod, then import \
             again; or declare the group by hand without `description:`, which groupsync then leaves alone"
        ));
    } else {
        reason.push_str(": shorten its fields on the pod, then import again");
    }
    reason
}

/// By area, then name, then id (groups without an area first).
pub(super) fn sort_for_import(groups: &mut [UserGroupResponse]) {
    groups.sort_by(|a, b| {
        (a.area.as_deref(), a.name.as_deref(), a.id.as_deref()).cmp(&(
            b.area.as_deref(),
            b.name.as_deref(),
            b.id.as_deref(),
        ))
    });
}
