//! `groupsync import`: the pod's groups that `groups.d/` does not declare
//! yet, written as groups.d YAML, so that a pod with years of groups can be
//! brought under git in one pull request.
//!
//! An import runs like a cycle, and is bounded like one (`cycle_timeout`):
//! - check where it writes ([`output`]) and the state file, before any request;
//! - read every `ROLE_SCOPE` group with one walk of the paged list, without
//!   the state file's lock, so that the daemon's cycles go on meanwhile;
//! - leave out the groups `groups.d/` declares already (by id, or by the name
//!   of a group declared without one), and, with the reason, every group
//!   the loader would refuse ([`screen`]);
//! - read the members and assignees of the rest, unless `--no-members`
//!   ([`lists`]), each written as sorted usernames;
//! - render the rest as YAML files the loader reads ([`render`]): one
//!   `groups:` list sorted by area then name, split into several files when
//!   one would be too large, each file checked with the loader itself;
//! - lock the state file only to record what it read (the lists too, with
//!   their users' ids), then write the files.

mod lists;
mod output;
mod render;
mod screen;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use crate::desired::load_dir_or_empty;
use crate::error::{Error, Result};
use crate::model::{DesiredState, GroupKey, ROLE_SCOPE, Roster, UserGroupResponse, UserId};
use crate::pipeline::cycle::{DEFAULT_LOCK_TIMEOUT, tie_to_pod};
use crate::pod::{ListFilter, PodClient};
use crate::shutdown::Shutdown;
use crate::store::snapshot::{LastApplied, ManagedHow, Snapshot, now_ms};
use crate::store::state_file::{StateFile, read_unlocked};
use crate::text::{counted, escaped};

use self::lists::{GroupLists, ImportedList};

pub use self::output::Destination;
pub use self::render::File;
pub use self::screen::LeftOut;

/// What to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// Only groups of this area (`--area`).
    pub area: Option<String>,
    /// Only active groups (`--active-only`).
    pub active_only: bool,
    /// Each group's members and assignees too (`--no-members`: false).
    pub members: bool,
}

/// Every group, with its members and assignees.
impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            area: None,
            active_only: false,
            members: true,
        }
    }
}

/// Where and how an import runs, besides the pod it reads.
#[derive(Debug, Clone)]
pub struct ImportRun<'a> {
    pub groups_dir: &'a Path,
    pub state_path: &'a Path,
    pub destination: &'a Destination,
    pub options: &'a ImportOptions,
    /// Shown in each file's header (RFC 3339).
    pub read_at: &'a str,
    /// The whole import, reading and locking included, fails past this (`cycle_timeout`).
    pub timeout: Duration,
    /// Lists read at once (`concurrency`).
    pub concurrency: usize,
    /// Ends the wait for the state file's lock.
    pub stop: Shutdown,
}

/// What an import read and wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The files, in order: written already when they have a path; the one
    /// without a path is for stdout.
    pub files: Vec<File>,
    /// Groups written.
    pub imported: usize,
    /// Groups read but left out because `groups.d/` already declares them.
    pub already_declared: usize,
    /// Groups read but left out because the loader would refuse them.
    pub left_out: Vec<LeftOut>,
    /// Lists left out, and users on lists that could not be written.
    pub lists: ListsReport,
}

impl Imported {
    /// `imported 12 groups; skipped 3 groups already declared`, and what was left out.
    pub fn summary(&self) -> String {
        let files = match self.files.len() {
            0 | 1 => String::new(),
            count => format!(" in {count} files"),
        };
        let mut summary = format!(
            "imported {}{files}; skipped {} already declared",
            counted(self.imported, "group"),
            counted(self.already_declared, "group")
        );
        if !self.left_out.is_empty() {
            summary.push_str(&format!(
                "; left out {} that groupsync could not load (listed above)",
                counted(self.left_out.len(), "group")
            ));
        }
        summary
    }
}

/// The most lists left out that stderr names one by one.
const MAX_WARNED: usize = 20;

/// A list an import left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListLeftOut {
    pub group_id: String,
    pub name: Option<String>,
    pub roster: Roster,
    /// Why.
    pub reason: String,
}

/// What an import's lists came to, for stderr.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListsReport {
    /// Each list left out (its key left out of its group's entry).
    pub left_out: Vec<ListLeftOut>,
    /// Users on lists written who are not written (a comment each).
    pub unwritten: usize,
}

impl ListsReport {
    /// The warnings to print before the summary, one a line.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        for list in self.left_out.iter().take(MAX_WARNED) {
            let name = list
                .name
                .as_deref()
                .map(|name| format!(" (name {})", render::shown(name)))
                .unwrap_or_default();
            warnings.push(format!(
                "warning: the {roster} of id {}{name} are left out: {}; groupsync leaves that list alone \
                 (declare it by hand to manage it)",
                render::shown(&list.group_id),
                escaped(&list.reason),
                roster = list.roster,
            ));
        }
        if self.left_out.len() > MAX_WARNED {
            warnings.push(format!(
                "warning: and {} more left out, each a comment in the file",
                counted(self.left_out.len() - MAX_WARNED, "list")
            ));
        }
        if self.unwritten > 0 {
            warnings.push(format!(
                "warning: {} on the lists imported cannot be written as a username (no username: a deleted \
                 account?; or one groupsync cannot load): each is a comment beside its list, and the next \
                 plan shows its removal from the list",
                counted(self.unwritten, "user")
            ));
        }
        warnings
    }
}

/// Reads the pod's groups and writes those `run.groups_dir` does not
/// declare to `run.destination`, recording what it read in the state file.
/// Fails before any request when the destination or the state file is
/// unusable, and writes nothing when it fails.
pub async fn import(run: &ImportRun<'_>, client: &PodClient) -> Result<Imported> {
    run.destination.check()?;
    let desired = load_dir_or_empty(run.groups_dir)?;
    // Fails early on a state file that cannot be read or describes another pod.
    let mut recorded = read_unlocked(run.state_path)?;
    tie_to_pod(&mut recorded, run.state_path, Some(client.pod_url()))?;
    let known = recorded.usernames_by_id();
    tokio::time::timeout(run.timeout, read_and_write(run, client, &desired, known))
        .await
        .unwrap_or(Err(Error::CycleTimeout(run.timeout)))
}

/// The bounded part of an import: read, render, record, write.
async fn read_and_write(
    run: &ImportRun<'_>,
    client: &PodClient,
    desired: &DesiredState,
    known: HashMap<UserId, String>,
) -> Result<Imported> {
    let filter = ListFilter {
        area: run.options.area.clone(),
        active: run.options.active_only.then_some(true),
        ..ListFilter::default()
    };
    let read = client.list_matching(ROLE_SCOPE, &filter).await?;
    let sorted = Sorted::of(read, &Declared::of(desired));
    let mut screened = screen::screen(sorted.new);
    let mut lists = Vec::new();
    if run.options.members {
        let groups: Vec<&UserGroupResponse> =
            screened.kept.iter().map(|(group, _)| group).collect();
        lists = lists::read(client, &groups, run.concurrency, known).await?;
        for ((_, entry), lists) in screened.kept.iter_mut().zip(&mut lists) {
            *entry = render::with_lists(entry, lists);
        }
    }
    let report = lists_report(&screened.kept, &lists);
    let header = render::Header {
        pod_url: client.pod_url(),
        read_at: run.read_at,
    };
    let listed: Vec<String> = screened.left_out.iter().map(ToString::to_string).collect();
    let rendered = render::render(&header, screened.kept, &listed)?;
    let paths = run.destination.paths(rendered.files.len())?;

    // Locked only now, to record what was read: a cycle in progress is
    // waited for, as `apply` does.
    let state = StateFile::lock_within(run.state_path, DEFAULT_LOCK_TIMEOUT, &run.stop).await?;
    let mut snapshot = state.load()?;
    tie_to_pod(&mut snapshot, run.state_path, Some(client.pod_url()))?;
    let at = now_ms();
    for group in rendered.groups.iter().chain(&sorted.declared) {
        if let Some(id) = group.id.as_deref() {
            snapshot.record_read(id, group.clone(), at);
        }
    }
    for (group, lists) in rendered.groups.iter().zip(&lists) {
        record_lists(&mut snapshot, group, lists, at);
    }
    mark_imported(&mut snapshot, &rendered, &lists, &paths, at);
    state.save(&snapshot)?;
    drop(state);

    let files = output::write_all(rendered.files, paths)?;
    Ok(Imported {
        files,
        imported: rendered.groups.len(),
        already_declared: sorted.declared.len(),
        left_out: screened.left_out,
        lists: report,
    })
}

/// Marks each group written into a file as managed (`imported`), with the
/// values its file declares as last applied: from now on, a group the file
/// no longer declares is an orphan. YAML on stdout is not in git yet, so
/// nothing is marked for it.
fn mark_imported(
    snapshot: &mut Snapshot,
    rendered: &render::Rendered,
    lists: &[GroupLists],
    paths: &[Option<std::path::PathBuf>],
    at: i64,
) {
    let mut groups = rendered.groups.iter().enumerate();
    for (file, path) in rendered.files.iter().zip(paths) {
        let in_file: Vec<(usize, &UserGroupResponse)> = groups.by_ref().take(file.groups).collect();
        let Some(path) = path else {
            continue;
        };
        let shown = path.display().to_string();
        for (index, group) in in_file {
            let Some(id) = group.id.as_deref() else {
                continue;
            };
            let fields = crate::model::UserGroupUpdate {
                name: group.name.clone(),
                area: group.area.clone(),
                description: group.description.clone(),
                active: group.active,
            };
            let lists = lists
                .get(index)
                .into_iter()
                .flatten()
                .filter_map(|(roster, list)| match list {
                    ImportedList::Read(read) => Some((*roster, read.written.clone())),
                    ImportedList::LeftOut(_) => None,
                })
                .collect();
            let applied = LastApplied { fields, lists };
            snapshot.mark_managed(id, ManagedHow::Imported, &shown, applied, at);
        }
    }
}

/// Records each list of `group` that was read, with its users by id (`#<id>`
/// for a user without a username, as a refresh records it).
fn record_lists(snapshot: &mut Snapshot, group: &UserGroupResponse, lists: &GroupLists, at: i64) {
    let Some(id) = group.id.as_deref() else {
        return;
    };
    for (roster, list) in lists {
        if let ImportedList::Read(read) = list {
            let users = read
                .users
                .iter()
                .map(|(user_id, username)| {
                    let username = username.clone().unwrap_or_else(|| format!("#{user_id}"));
                    (*user_id, username)
                })
                .collect();
            snapshot.record_roster(id, *roster, users, Some(at));
        }
    }
}

/// What stderr says of the lists of the groups `kept`.
fn lists_report(kept: &[(UserGroupResponse, String)], lists: &[GroupLists]) -> ListsReport {
    let mut report = ListsReport::default();
    for ((group, _), lists) in kept.iter().zip(lists) {
        for (roster, list) in lists {
            match list {
                ImportedList::Read(read) => report.unwritten += read.unwritten.len(),
                ImportedList::LeftOut(reason) => report.left_out.push(ListLeftOut {
                    group_id: group.id.as_deref().unwrap_or_default().to_owned(),
                    name: group.name.as_deref().map(str::to_owned),
                    roster: *roster,
                    reason: reason.clone(),
                }),
            }
        }
    }
    report
}

/// The groups read, sorted out: declared already, or new (with the reason
/// for each new one that cannot be written whatever it holds).
struct Sorted {
    declared: Vec<UserGroupResponse>,
    new: Vec<Result<UserGroupResponse, LeftOut>>,
}

impl Sorted {
    /// In the order read: a group listed twice is kept the first time.
    fn of(read: Vec<UserGroupResponse>, declared: &Declared) -> Sorted {
        let mut seen: HashSet<String> = HashSet::new();
        let mut sorted = Sorted {
            declared: Vec::new(),
            new: Vec::new(),
        };
        for group in read {
            let Some(id) = group.id.clone() else {
                sorted
                    .new
                    .push(Err(LeftOut::new(&group, "the pod listed it without an id")));
                continue;
            };
            if !seen.insert(id.to_string()) {
                let reason = format!(
                    "the pod listed id {} more than once; the first was kept, as an id may be declared only once",
                    render::shown(&id)
                );
                sorted.new.push(Err(LeftOut::new(&group, reason)));
            } else if declared.names(&group) {
                sorted.declared.push(group);
            } else if let Some(reason) = declared.name_clash(&group) {
                sorted.new.push(Err(LeftOut::new(&group, reason)));
            } else {
                sorted.new.push(Ok(group));
            }
        }
        sorted
    }
}

/// The ids and the (type, name) keys `groups.d/` declares.
struct Declared<'d> {
    ids: HashSet<&'d str>,
    names: HashSet<(&'d str, &'d str)>,
    /// The type of each name declared without `id` (any type).
    types_of_names: HashMap<&'d str, &'d str>,
}

impl<'d> Declared<'d> {
    fn of(state: &'d DesiredState) -> Declared<'d> {
        let mut declared = Declared {
            ids: HashSet::new(),
            names: HashSet::new(),
            types_of_names: HashMap::new(),
        };
        for group in &state.groups {
            match &group.key {
                GroupKey::Id(id) => {
                    declared.ids.insert(id.as_str());
                }
                GroupKey::Name { group_type, name } => {
                    declared.names.insert((group_type.as_str(), name.as_str()));
                    declared
                        .types_of_names
                        .insert(name.as_str(), group_type.as_str());
                }
            }
        }
        declared
    }

    /// True when `group` is declared: by its id, or by its name for a group declared without one.
    fn names(&self, group: &UserGroupResponse) -> bool {
        let by_id = group.id.as_deref().is_some_and(|id| self.ids.contains(id));
        let by_name = group.name.as_deref().is_some_and(|name| {
            let group_type = group.group_type.as_deref().unwrap_or(ROLE_SCOPE);
            self.names.contains(&(group_type, name))
        });
        by_id || by_name
    }

    /// Why the loader would refuse `group` beside the tree: its name is that
    /// of a group declared without `id` of another type, and such a name
    /// must be the only one of its name in the tree.
    fn name_clash(&self, group: &UserGroupResponse) -> Option<String> {
        let name = group.name.as_deref()?;
        let group_type = self.types_of_names.get(name)?;
        Some(format!(
            "groups.d declares a group of type {} named {} without `id`, and a group without `id` \
             must be the only one of its name: add its `id:` there, then import again",
            render::shown(group_type),
            render::shown(name)
        ))
    }
}

#[cfg(test)]
mod tests;
