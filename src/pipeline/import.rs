//! `groupsync import`: the pod's groups that `groups.d/` does not declare
//! yet, written as groups.d YAML, so that a pod with years of groups can be
//! brought under git in one pull request.
//!
//! Every `ROLE_SCOPE` group is read with one walk of the paged list, and
//! everything read goes into the state file (under the writer's lock), so
//! that `plan` right after committing the file finds nothing to do. Groups
//! already declared (by id, or by the name of a group declared without one)
//! are left out. The YAML is one `groups:` list sorted by area then name,
//! each group with its id quoted and every field the pod reported; strings
//! that YAML could misread are double-quoted with escapes.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::desired::load_dir_or_empty;
use crate::error::{Error, Result};
use crate::model::{DesiredState, GroupKey, ROLE_SCOPE, UserGroupResponse};
use crate::pipeline::cycle::{DEFAULT_LOCK_TIMEOUT, tie_to_pod};
use crate::pod::{ListFilter, PodClient};
use crate::shutdown::Shutdown;
use crate::store::snapshot::now_ms;
use crate::store::state_file::StateFile;
use crate::text::is_invisible;
use crate::text::{counted, yaml_quoted, yaml_scalar};

/// What to import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Only groups of this area (`--area`).
    pub area: Option<String>,
    /// Only active groups (`--active-only`).
    pub active_only: bool,
}

/// What an import read and wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The groups.d YAML of the groups not declared yet.
    pub yaml: String,
    /// Groups in `yaml`.
    pub imported: usize,
    /// Groups read but left out because `groups.d/` already declares them.
    pub already_declared: usize,
}

impl Imported {
    /// `imported 12 groups; skipped 3 groups already declared`
    pub fn summary(&self) -> String {
        format!(
            "imported {}; skipped {} already declared",
            counted(self.imported, "group"),
            counted(self.already_declared, "group")
        )
    }
}

/// Reads the pod's groups, records them in the state file at `state_path`,
/// and renders as YAML those `groups_dir` does not declare. `read_at` is
/// shown in the YAML's header (RFC 3339).
pub async fn import(
    groups_dir: &Path,
    state_path: &Path,
    client: &PodClient,
    options: &ImportOptions,
    read_at: &str,
) -> Result<Imported> {
    let desired = load_dir_or_empty(groups_dir)?;
    let declared = Declared::of(&desired);
    // Locked before reading, so that no cycle writes in between; a cycle in
    // progress is waited for, as `apply` does.
    let state =
        StateFile::lock_within(state_path, DEFAULT_LOCK_TIMEOUT, &Shutdown::never()).await?;
    let mut snapshot = state.load()?;
    tie_to_pod(&mut snapshot, state_path, Some(client.pod_url()))?;
    let filter = ListFilter {
        area: options.area.clone(),
        active: options.active_only.then_some(true),
        ..ListFilter::default()
    };
    let read = client.list_matching(ROLE_SCOPE, &filter).await?;
    let at = now_ms();
    for group in &read {
        if let Some(id) = group.id.as_deref() {
            snapshot.record_read(id, group.clone(), at);
        }
    }
    state.save(&snapshot)?;
    let (mut new, already_declared): (Vec<UserGroupResponse>, Vec<UserGroupResponse>) = read
        .into_iter()
        .filter(|group| group.id.is_some())
        .partition(|group| !declared.names(group));
    sort_for_import(&mut new);
    Ok(Imported {
        yaml: render_yaml(&new, client.pod_url(), read_at),
        imported: new.len(),
        already_declared: already_declared.len(),
    })
}

/// The ids and the (type, name) keys `groups.d/` declares.
struct Declared<'d> {
    ids: HashSet<&'d str>,
    names: HashSet<(&'d str, &'d str)>,
}

impl<'d> Declared<'d> {
    fn of(state: &'d DesiredState) -> Declared<'d> {
        let mut declared = Declared {
            ids: HashSet::new(),
            names: HashSet::new(),
        };
        for group in &state.groups {
            match &group.key {
                GroupKey::Id(id) => declared.ids.insert(id.as_str()),
                GroupKey::Name { group_type, name } => {
                    declared.names.insert((group_type.as_str(), name.as_str()))
                }
            };
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
}

/// By area, then name, then id (groups without an area first).
fn sort_for_import(groups: &mut [UserGroupResponse]) {
    groups.sort_by(|a, b| {
        (a.area.as_deref(), a.name.as_deref(), a.id.as_deref()).cmp(&(
            b.area.as_deref(),
            b.name.as_deref(),
            b.id.as_deref(),
        ))
    });
}

/// The groups as one groups.d file: a comment header, then a `groups:` list.
pub fn render_yaml(groups: &[UserGroupResponse], pod_url: &str, read_at: &str) -> String {
    let mut yaml = String::with_capacity(64 + groups.len() * 160);
    let _ = writeln!(
        yaml,
        "# Imported by `groupsync import` from {} at {read_at}.\n\
         # Review it, commit it, and `groupsync plan` says \"No changes.\"",
        one_line(pod_url)
    );
    if groups.is_empty() {
        yaml.push_str("groups: []\n");
        return yaml;
    }
    yaml.push_str("groups:\n");
    for group in groups {
        let id = group.id.as_deref().unwrap_or_default();
        let _ = writeln!(yaml, "  - id: {}", yaml_quoted(id));
        for (key, value) in [
            ("name", &group.name),
            ("area", &group.area),
            ("description", &group.description),
        ] {
            if let Some(value) = value {
                let _ = writeln!(yaml, "    {key}: {}", yaml_scalar(value));
            }
        }
        if let Some(active) = group.active {
            let _ = writeln!(yaml, "    active: {active}");
        }
    }
    yaml
}

/// `text` with line breaks and other controls replaced, for a comment line.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || is_invisible(c) {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// Fails, naming the file, when `path` exists: import never overwrites.
pub fn check_new_file(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(_) => Err(exists_error(path)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(Error::io(format!("cannot check {}", path.display()), error)),
    }
}

/// Writes `text` to the new file `path` atomically: a temporary file in the
/// same directory, fsynced, then hard-linked to `path`, which fails rather
/// than replace a file that appeared meanwhile.
pub fn write_new_file(path: &Path, text: &str) -> Result<()> {
    check_new_file(path)?;
    let temp = temporary_sibling(path);
    let written = write_synced(&temp, text).and_then(|()| fs::hard_link(&temp, path));
    let _ = fs::remove_file(&temp);
    match written {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Err(exists_error(path)),
        Err(error) => Err(Error::io(format!("cannot write {}", path.display()), error)),
    }
}

fn write_synced(path: &Path, text: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// `.<name>.tmp.<pid>` beside `path`: a dot file, which the groups loader skips.
fn temporary_sibling(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.tmp.{}", std::process::id()))
}

fn exists_error(path: &Path) -> Error {
    Error::io(
        format!(
            "{} already exists; import writes only a new file: choose another --out, or move the file aside",
            path.display()
        ),
        io::Error::from(io::ErrorKind::AlreadyExists),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::parse_file;

    fn group(id: &str, name: &str, area: Option<&str>) -> UserGroupResponse {
        UserGroupResponse {
            id: Some(id.into()),
            name: Some(name.into()),
            area: area.map(Into::into),
            description: Some(format!("about {name}")),
            group_type: Some(ROLE_SCOPE.into()),
            active: Some(true),
            ..Default::default()
        }
    }

    #[test]
    fn groups_sort_by_area_then_name() {
        let mut groups = vec![
            group("3", "Beta", Some("EMEA")),
            group("1", "Alpha", Some("EMEA")),
            group("2", "Zulu", Some("APAC")),
            group("4", "Solo", None),
        ];
        sort_for_import(&mut groups);
        let ids: Vec<&str> = groups.iter().filter_map(|g| g.id.as_deref()).collect();
        assert_eq!(ids, ["4", "2", "1", "3"]);
    }

    #[test]
    fn the_yaml_reads_back_as_the_same_groups() {
        let nasty = [
            "EMEA rates",
            "",
            "true",
            "123",
            "- dash",
            "a: b",
            "x #not a comment",
            " lead and trail ",
            "quote\"back\\slash",
            "ünïcødé 東京",
            "'single'",
            "@at",
            "null",
        ];
        let groups: Vec<UserGroupResponse> = nasty
            .iter()
            .enumerate()
            .map(|(index, text)| UserGroupResponse {
                id: Some(format!("0{index}")),
                name: Some(format!("{text}!")),
                area: Some((*text).to_string()),
                description: Some((*text).to_string()),
                active: Some(index % 2 == 0),
                ..Default::default()
            })
            .collect();

        let yaml = render_yaml(
            &groups,
            "https://acme.example/pod\nbad",
            "2024-05-01T10:00:00Z",
        );

        let (parsed, problems) = parse_file(Path::new("imported.yaml"), &yaml);
        assert_eq!(problems, [], "{yaml}");
        assert_eq!(parsed.len(), groups.len());
        for (read, written) in parsed.iter().zip(&groups) {
            assert_eq!(read.id(), written.id.as_deref(), "{yaml}");
            assert_eq!(read.fields.name, written.name, "{yaml}");
            assert_eq!(read.fields.area, written.area, "{yaml}");
            assert_eq!(read.fields.description, written.description, "{yaml}");
            assert_eq!(read.fields.active, written.active, "{yaml}");
        }
        assert!(
            yaml.chars()
                .all(|c| c == '\n' || !(c.is_control() || is_invisible(c))),
            "{yaml}"
        );
        assert!(yaml.starts_with("# Imported by `groupsync import` from https://acme.example/pod?bad at 2024-05-01T10:00:00Z.\n"));
    }

    /// A pod name with control or bidi characters is written escaped (the
    /// file stays one clean line each) and then refused by the loader, which
    /// names the character, so that a person decides what the name should be.
    #[test]
    fn hidden_characters_are_escaped_and_then_refused_by_the_loader() {
        let hidden = [
            "two\nlines\ttab",
            "bidi\u{202E}override",
            "zero\u{200B}width",
            "del\u{7f}c1\u{85}",
        ];
        let groups: Vec<UserGroupResponse> = hidden
            .iter()
            .enumerate()
            .map(|(index, text)| UserGroupResponse {
                id: Some(format!("0{index}")),
                name: Some((*text).to_string()),
                ..Default::default()
            })
            .collect();
        let yaml = render_yaml(&groups, "u", "t");
        assert!(
            yaml.chars()
                .all(|c| c == '\n' || !(c.is_control() || is_invisible(c))),
            "{yaml}"
        );
        let (_, problems) = parse_file(Path::new("imported.yaml"), &yaml);
        assert_eq!(problems.len(), hidden.len(), "{problems:?}");
        assert!(
            problems.iter().all(|problem| problem
                .message
                .contains("`name` holds the invisible character")),
            "{problems:?}"
        );
    }

    #[test]
    fn plain_strings_stay_plain_and_ids_are_quoted() {
        let yaml = render_yaml(&[group("65f0", "EMEA rates", Some("EMEA"))], "u", "t");
        assert!(
            yaml.ends_with(
                "groups:\n  - id: \"65f0\"\n    name: EMEA rates\n    area: EMEA\n    description: about EMEA rates\n    active: true\n"
            ),
            "{yaml}"
        );
        assert!(render_yaml(&[], "u", "t").ends_with("groups: []\n"));
    }

    #[test]
    fn a_new_file_is_written_once_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("imported.yaml");
        write_new_file(&path, "first\n").unwrap();
        let refused = write_new_file(&path, "second\n").unwrap_err().to_string();
        assert!(refused.contains("already exists"), "{refused}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "first\n");
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
    }
}
