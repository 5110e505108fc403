//! The **load** stage: `groups.d/` -> [`DesiredState`].
//!
//! Three steps, a file or two each (and [`schema`], the JSON Schema of a file, built
//! from the same table of keys as `groups`):
//! - `walk`   — finds the groups files below the directory (sorted, symlinks followed, loops caught)
//!   and reads each one (size limit, UTF-8);
//! - `tree`   — turns one file's YAML events into a small tree of nodes that know their position;
//! - `groups` — reads groups out of that tree (the allowed forms and keys), with
//!   `values`, the readers of each value (ids, fields, usernames) and their messages;
//!
//! then, across the files, `duplicates` finds the ids and names claimed twice.
//!
//! Nothing stops at the first problem: every problem in every file is collected and
//! returned at once as [`Error::Invalid`], each one printed as `PATH:LINE:COLUMN: message`.

mod duplicates;
mod groups;
pub mod schema;
mod tree;
mod values;
mod walk;

use std::path::Path;

use crate::error::{Diagnostic, Diagnostics, Error};
use crate::model::{DesiredGroup, DesiredState};
use crate::threads::{self, cores};

use self::duplicates::report_duplicates;
use self::groups::ParsedGroup;
use self::tree::Pos;
use self::walk::Found;

/// The largest groups file the loader reads, in bytes; a larger one is an
/// error. `import` splits what it writes to stay below it.
pub(crate) const MAX_FILE_BYTES: u64 = walk::MAX_FILE_BYTES;

/// More problems than this in one file are summed up in one line: past that
/// point they are noise, and a hostile 1 MiB file could otherwise yield millions.
const MAX_PROBLEMS_PER_FILE: usize = 100;

/// Walks `groups_dir` and returns every declared group sorted by key (ids
/// first, then groups known by name), or
/// [`Error::Invalid`] with ALL problems found (in walk order, then by line).
pub fn load_dir(groups_dir: &Path) -> crate::Result<DesiredState> {
    load_dir_beside(groups_dir, 0)
}

/// As [`load_dir`], while `busy` other threads work as hard (the state
/// file's reader): the files are parsed on that many cores fewer, at least
/// one. On two cores, three threads taking turns made the state file, the
/// longer of the two, finish 30 ms later than two threads side by side.
pub fn load_dir_beside(groups_dir: &Path, busy: usize) -> crate::Result<DesiredState> {
    let workers = cores().saturating_sub(busy).max(1);
    let groups = load_groups(groups_dir, workers)?;
    if groups.is_empty() {
        let message = format!(
            "no groups found under {}; add a `*.yaml` file that declares at least one group",
            groups_dir.display()
        );
        return Err(invalid(vec![Diagnostic::file(groups_dir, message)]));
    }
    Ok(DesiredState { groups })
}

/// What the tree declares, where zero groups, or no directory at all, is
/// an empty state rather than an error: for `import` into a new repository.
pub fn load_dir_or_empty(groups_dir: &Path) -> crate::Result<DesiredState> {
    if !groups_dir.exists() {
        return Ok(DesiredState::default());
    }
    Ok(DesiredState {
        groups: load_groups(groups_dir, cores())?,
    })
}

/// Every group of the tree sorted by key, or every problem found.
#[expect(
    clippy::vec_box,
    reason = "gathered and sorted by pointer, see DesiredState"
)]
fn load_groups(groups_dir: &Path, workers: usize) -> crate::Result<Vec<Box<DesiredGroup>>> {
    let found = walk::walk(groups_dir).map_err(|problem| invalid(vec![problem]))?;
    let mut files = read_files(found, workers);
    report_duplicates(&mut files);
    let problems: Vec<Diagnostic> = files
        .iter_mut()
        .flat_map(FileReport::take_sorted_problems)
        .collect();
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    Ok(sorted_groups(files))
}

/// Reads and parses every file found, in order, on up to `workers` threads
/// (one per core): the files are independent, and a large tree is mostly
/// parsing.
fn read_files(found: Vec<Found>, workers: usize) -> Vec<FileReport> {
    if workers < 2 || found.len() < 2 * workers {
        return found.into_iter().map(FileReport::from_found).collect();
    }
    let per_worker = found.len().div_ceil(workers);
    let mut runs: Vec<Vec<Found>> = Vec::with_capacity(workers);
    let mut found = found.into_iter();
    loop {
        let run: Vec<Found> = found.by_ref().take(per_worker).collect();
        if run.is_empty() {
            break;
        }
        runs.push(run);
    }
    let parsed = threads::each_on_a_thread("groupsync-load", runs, |run| {
        run.into_iter()
            .map(FileReport::from_found)
            .collect::<Vec<_>>()
    });
    parsed.into_iter().flatten().collect()
}

/// Every group of every file, sorted by key.
#[expect(
    clippy::vec_box,
    reason = "gathered and sorted by pointer, see DesiredState"
)]
fn sorted_groups(files: Vec<FileReport>) -> Vec<Box<DesiredGroup>> {
    let count = files.iter().map(|file| file.groups.len()).sum();
    let mut groups = Vec::with_capacity(count);
    for file in files {
        groups.extend(file.groups.into_iter().map(|parsed| parsed.group));
    }
    // Keys are unique by now, so an unstable sort gives the same order every time.
    groups.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    groups
}

/// Parses one file's text; `path` is how messages name the file. Returns the
/// groups and the problems found (never panics).
pub fn parse_file(path: &Path, text: &str) -> (Vec<DesiredGroup>, Vec<Diagnostic>) {
    let mut files = vec![FileReport::parse(path, text)];
    report_duplicates(&mut files);
    let mut file = files.pop().expect("one file in, one file out");
    let problems = file.take_sorted_problems();
    (
        file.groups
            .into_iter()
            .map(|parsed| *parsed.group)
            .collect(),
        problems,
    )
}

fn invalid(problems: Vec<Diagnostic>) -> Error {
    Error::Invalid(Diagnostics(problems))
}

/// The problems of one file, each tied to a position in it when there is one.
struct Problems<'p> {
    path: &'p Path,
    list: Vec<Diagnostic>,
}

impl<'p> Problems<'p> {
    fn new(path: &'p Path) -> Self {
        Problems {
            path,
            list: Vec::new(),
        }
    }

    fn at(&mut self, pos: Pos, message: impl Into<String>) {
        self.list.push(Diagnostic::at(
            self.path,
            pos.line as usize,
            pos.column as usize,
            message,
        ));
    }

    fn whole_file(&mut self, message: impl Into<String>) {
        self.list.push(Diagnostic::file(self.path, message));
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// What one walk entry came to: the groups of a file, and its problems.
struct FileReport {
    groups: Vec<ParsedGroup>,
    problems: Vec<Diagnostic>,
}

impl FileReport {
    fn from_found(found: Found) -> Self {
        match found {
            Found::Problem(problem) => FileReport {
                groups: Vec::new(),
                problems: vec![problem],
            },
            Found::File {
                path,
                shown,
                metadata,
            } => match walk::read_text(&path, &metadata) {
                Ok(text) => FileReport::parse(&shown, &text),
                Err(problem) => FileReport {
                    groups: Vec::new(),
                    problems: vec![Diagnostic {
                        path: shown,
                        ..problem
                    }],
                },
            },
        }
    }

    fn parse(path: &Path, text: &str) -> Self {
        let mut problems = Problems::new(path);
        let groups = groups::extract(text, &mut problems);
        FileReport {
            groups,
            problems: problems.list,
        }
    }

    /// This file's problems by position (whole-file ones first), capped at
    /// [`MAX_PROBLEMS_PER_FILE`].
    fn take_sorted_problems(&mut self) -> Vec<Diagnostic> {
        let mut problems = std::mem::take(&mut self.problems);
        problems.sort_by_key(|problem| problem.position);
        if problems.len() > MAX_PROBLEMS_PER_FILE {
            let hidden = problems.len() - MAX_PROBLEMS_PER_FILE;
            problems.truncate(MAX_PROBLEMS_PER_FILE);
            let path = problems[0].path.clone();
            problems.push(Diagnostic::file(
                path,
                format!(
                    "{hidden} more {} in this file not shown; fix the ones above first",
                    if hidden == 1 { "problem" } else { "problems" }
                ),
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    /// A temporary `groups.d`; `problems()` shows paths relative to its parent,
    /// as they would be with `--groups-dir groups.d`.
    struct Tree {
        dir: tempfile::TempDir,
    }

    impl Tree {
        fn new() -> Self {
            let tree = Tree {
                dir: tempfile::tempdir().unwrap(),
            };
            fs::create_dir(tree.root()).unwrap();
            tree
        }

        fn root(&self) -> PathBuf {
            self.dir.path().join("groups.d")
        }

        fn write(&self, relative: &str, contents: impl AsRef<[u8]>) -> PathBuf {
            let path = self.root().join(relative);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, contents).unwrap();
            path
        }

        fn link(&self, relative: &str, target: &str) {
            let path = self.root().join(relative);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            symlink(target, path).unwrap();
        }

        fn ids(&self) -> Vec<String> {
            let state = load_dir(&self.root()).unwrap_or_else(|error| panic!("{error}"));
            state
                .groups
                .into_iter()
                .map(|group| group.key.to_string())
                .collect()
        }

        fn problems(&self) -> Vec<String> {
            match load_dir(&self.root()) {
                Ok(state) => panic!("expected problems, loaded {state:?}"),
                Err(Error::Invalid(Diagnostics(problems))) => {
                    let prefix = format!("{}/", self.dir.path().display());
                    problems
                        .iter()
                        .map(|problem| problem.to_string().replace(&prefix, ""))
                        .collect()
                }
                Err(other) => panic!("expected Error::Invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn every_group_of_the_tree_comes_back_sorted_by_id() {
        let tree = Tree::new();
        tree.write("b.yaml", "groups:\n  - id: c3\n  - id: a1\n");
        tree.write("americas/us.yml", "id: b2\nname: US\n");
        let state = load_dir(&tree.root()).unwrap();
        let ids: Vec<&str> = state.groups.iter().filter_map(|group| group.id()).collect();
        assert_eq!(ids, ["a1", "b2", "c3"]);
        assert_eq!(
            *state.groups[1].source.path,
            *Path::new("groups.d/americas/us.yml"),
            "named relative to the groups dir's parent"
        );
        assert_eq!(
            (state.groups[1].source.line, state.groups[1].source.column),
            (1, 1)
        );
    }

    #[test]
    fn files_are_read_in_name_order_and_hidden_or_leftover_ones_skipped() {
        let tree = Tree::new();
        for name in ["b.yaml", "a.yml", "Z.yaml", "team/c.yaml", "team.yaml"] {
            tree.write(name, "oops: 1\n");
        }
        for skipped in [
            ".hidden.yaml",
            ".git/x.yaml",
            "team/.y.yaml",
            "x.yaml~",
            "y.yaml.swp",
            "z.yaml.tmp",
            "old~/q.yaml",
        ] {
            tree.write(skipped, "not: [valid");
        }
        tree.write("README.md", "# the groups\n");
        tree.write("notes.txt", "not: [valid");
        let files: Vec<String> = tree
            .problems()
            .iter()
            .map(|problem| problem.split(':').next().unwrap().to_owned())
            .collect();
        let files: Vec<&str> = files.iter().map(String::as_str).step_by(2).collect();
        assert_eq!(
            files,
            [
                "groups.d/Z.yaml",
                "groups.d/a.yml",
                "groups.d/b.yaml",
                "groups.d/team/c.yaml",
                "groups.d/team.yaml"
            ]
        );
    }

    #[test]
    fn problems_come_in_walk_order_then_by_position() {
        let tree = Tree::new();
        tree.write("a.yaml", "name: [x]\n");
        tree.write("b.yaml", "groups:\n  - id: \"\"\n  - id: x1\n    nme: X\n");
        assert_eq!(
            tree.problems(),
            [
                "groups.d/a.yaml:1:7: `name` must be a string, found a list",
                "groups.d/b.yaml:2:9: `id` must not be empty; it is the pod's groupId",
                "groups.d/b.yaml:4:5: unknown key `nme` (did you mean `name`?); a group's keys are id, name, area, description, active, type, members, assignees, on_drift, previously",
            ]
        );
    }

    #[test]
    fn an_id_declared_twice_names_the_first_place() {
        let tree = Tree::new();
        tree.write("a.yaml", "groups:\n  - id: x1\n  - id: y2\n");
        tree.write("team/b.yaml", "# again\nid: \"x1\"\n");
        tree.write("team/c.yaml", "groups:\n- id: y2\n- id: y2\n");
        assert_eq!(
            tree.problems(),
            [
                "groups.d/team/b.yaml:2:5: id \"x1\" is already declared at groups.d/a.yaml:2:9",
                "groups.d/team/c.yaml:2:7: id \"y2\" is already declared at groups.d/a.yaml:3:9",
                "groups.d/team/c.yaml:3:7: id \"y2\" is already declared at groups.d/a.yaml:3:9",
            ]
        );
    }

    #[test]
    fn duplicates_are_placed_in_their_own_files_across_files_that_declare_nothing() {
        // Groups are numbered across the whole tree; a file with no groups
        // (or only broken ones) must not shift which file an error lands in.
        let tree = Tree::new();
        tree.write("a.yaml", "groups: []\n");
        tree.write("b.yaml", "groups:\n  - id: k1\n    name: Kept\n");
        tree.write("c.yaml", "groups: []\n");
        tree.write("d.yaml", "id: [not, text]\n");
        tree.write("e.yaml", "groups:\n  - name: Kept\n  - id: k1\n");
        tree.write("f.yaml", "groups: []\n");
        assert_eq!(
            tree.problems(),
            [
                "groups.d/d.yaml:1:5: `id` must be a string, found a list",
                "groups.d/e.yaml:2:11: name \"Kept\" is already declared at groups.d/b.yaml:3:11; with group k1 declaring it too, \
                 the group without `id` cannot be known by its name: add its `id:`, or rename one of them",
                "groups.d/e.yaml:3:9: id \"k1\" is already declared at groups.d/b.yaml:2:9",
            ]
        );
    }

    #[test]
    fn a_name_without_id_must_be_unique_in_the_tree() {
        let tree = Tree::new();
        tree.write(
            "a.yaml",
            "groups:\n  - name: Rates\n  - id: g1\n    name: Credit\n",
        );
        tree.write(
            "b.yaml",
            "name: Rates\n---\nname: Credit\n---\nid: g2\nname: Rates\n",
        );
        assert_eq!(
            tree.problems(),
            [
                "groups.d/b.yaml:1:7: name \"Rates\" is already declared at groups.d/a.yaml:2:11, also without `id`; \
                 a group without `id` is known by its name, so the name must be unique: add `id:` to one of them, or rename one",
                "groups.d/b.yaml:3:7: name \"Credit\" is already declared at groups.d/a.yaml:4:11; with group g1 declaring it too, \
                 the group without `id` cannot be known by its name: add its `id:`, or rename one of them",
                "groups.d/b.yaml:6:7: name \"Rates\" is already declared at groups.d/a.yaml:2:11; with group g2 declaring it too, \
                 the group without `id` cannot be known by its name: add its `id:`, or rename one of them",
            ]
        );
    }

    #[test]
    fn groups_with_ids_come_first_then_groups_known_by_name() {
        let tree = Tree::new();
        tree.write(
            "a.yaml",
            "groups:\n  - name: Zulu\n  - id: b2\n  - name: Alpha\n  - id: a1\n    name: Alpha2\n",
        );
        assert_eq!(tree.ids(), ["a1", "b2", "\"Alpha\"", "\"Zulu\""]);
    }

    #[test]
    fn a_configmap_mount_is_read_through_its_links_once() {
        let tree = Tree::new();
        tree.write("..2024_05_01_10_00_00.123/emea.yaml", "id: e1\n");
        tree.link("..data", "..2024_05_01_10_00_00.123");
        tree.link("emea.yaml", "..data/emea.yaml");
        assert_eq!(tree.ids(), ["e1"]);
        let state = load_dir(&tree.root()).unwrap();
        assert_eq!(
            *state.groups[0].source.path,
            *Path::new("groups.d/emea.yaml")
        );
    }

    #[test]
    fn symlinked_folders_inside_the_tree_are_followed() {
        let tree = Tree::new();
        tree.write(".shared/x.yaml", "id: x1\n");
        tree.link("linked", ".shared");
        assert_eq!(tree.ids(), ["x1"]);
    }

    #[test]
    fn links_that_lead_outside_the_tree_are_refused_and_never_read() {
        let tree = Tree::new();
        fs::create_dir(tree.dir.path().join("elsewhere")).unwrap();
        let secret = "s3cr3t-session-token-0123456789";
        fs::write(tree.dir.path().join("elsewhere/x.yaml"), "id: x1\n").unwrap();
        fs::write(tree.dir.path().join("session-token"), secret).unwrap();
        tree.write("a.yaml", "id: a1\n");
        tree.link("linked", "../elsewhere");
        tree.link("innocent.yaml", "../session-token");
        let problems = tree.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("groups.d/innocent.yaml: a symlink to a place outside"));
        assert!(problems[1].starts_with("groups.d/linked: a symlink to a place outside"));
        assert!(!problems.concat().contains("s3cr3t"), "{problems:?}");
    }

    #[test]
    fn a_groups_dir_that_is_itself_a_link_is_read_through_it() {
        let tree = Tree::new();
        tree.write("a.yaml", "id: a1\n");
        let current = tree.dir.path().join("current");
        std::os::unix::fs::symlink(tree.root(), &current).unwrap();
        let state = load_dir(&current).unwrap();
        assert_eq!(state.groups.len(), 1);
    }

    #[test]
    fn symlink_loops_are_reported_not_followed() {
        let tree = Tree::new();
        tree.write("a.yaml", "id: a1\n");
        tree.link("team/up", "..");
        tree.link("team/here", ".");
        tree.link("self.yaml", "self.yaml");
        tree.link("gone.yaml", "nowhere.yaml");
        assert_eq!(
            tree.problems(),
            [
                "groups.d/gone.yaml: cannot follow symlink: No such file or directory (os error 2)",
                "groups.d/self.yaml: cannot follow symlink: Too many levels of symbolic links (os error 40)",
                "groups.d/team/here: symlink loop: this leads back to groups.d/team, which is already being read; remove the link",
                "groups.d/team/up: symlink loop: this leads back to groups.d, which is already being read; remove the link",
            ]
        );
    }

    #[test]
    fn a_fifo_is_reported_and_never_opened() {
        let tree = Tree::new();
        tree.write("a.yaml", "id: a1\n");
        let fifo = tree.root().join("x.yaml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let (sender, receiver) = std::sync::mpsc::channel();
        let root = tree.root();
        // On a thread, so that a regression (opening the FIFO) fails the test instead of hanging it.
        std::thread::spawn(move || {
            sender.send(
                load_dir(&root)
                    .map(|_| ())
                    .map_err(|error| error.to_string()),
            )
        });
        let outcome = receiver
            .recv_timeout(Duration::from_secs(10))
            .expect("load_dir hung on a FIFO");
        let message = outcome.unwrap_err();
        assert!(message.ends_with("groups.d/x.yaml: not a regular file (a FIFO, socket or device); groups files must be plain files"), "{message}");
    }

    #[test]
    fn a_file_over_one_mebibyte_is_refused() {
        let tree = Tree::new();
        let mut exactly_the_limit = String::from("id: a1\n#");
        exactly_the_limit.push_str(&"x".repeat(1024 * 1024 - exactly_the_limit.len()));
        tree.write("a.yaml", exactly_the_limit);
        assert_eq!(tree.ids(), ["a1"]);
        tree.write("b.yaml", vec![b'#'; 1024 * 1024 + 1]);
        assert_eq!(
            tree.problems(),
            ["groups.d/b.yaml: larger than 1 MiB (1048577 bytes); split it into several files"]
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_pointed_at() {
        let tree = Tree::new();
        tree.write("a.yaml", b"id: a1\nname: caf\xe9\n");
        tree.write("b.yaml", b"id: b2\nname: \xc3\xa9t\xc3\n");
        assert_eq!(
            tree.problems(),
            [
                "groups.d/a.yaml:2:10: not valid UTF-8 (byte 0xe9); save the file as UTF-8",
                "groups.d/b.yaml:2:9: not valid UTF-8 (byte 0xc3); save the file as UTF-8",
            ]
        );
    }

    #[test]
    fn an_unreadable_file_names_the_reason() {
        use std::os::unix::fs::PermissionsExt;
        let tree = Tree::new();
        let path = tree.write("a.yaml", "id: a1\n");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
        if fs::read(&path).is_ok() {
            eprintln!("skipped: running as root, permissions do not stop reading");
            return;
        }
        assert_eq!(
            tree.problems(),
            ["groups.d/a.yaml: cannot read: Permission denied (os error 13)"]
        );
    }

    #[test]
    fn a_missing_or_wrong_groups_dir_is_named() {
        let missing = Path::new("no/such/groups.d");
        let message = load_dir(missing).unwrap_err().to_string();
        assert_eq!(
            message,
            "no/such/groups.d: the groups directory does not exist; create it, or point --groups-dir at it"
        );
        let tree = Tree::new();
        let file = tree.write("a.yaml", "id: a1\n");
        let message = load_dir(&file).unwrap_err().to_string();
        assert!(message.ends_with(
            "a.yaml: the groups directory is not a directory; point --groups-dir at a directory"
        ));
    }

    #[test]
    fn a_tree_without_groups_is_an_error() {
        let tree = Tree::new();
        tree.write("README.md", "# nothing yet\n");
        tree.write("none.yaml", "groups: []\n");
        assert_eq!(
            tree.problems(),
            [
                "groups.d: no groups found under groups.d; add a `*.yaml` file that declares at least one group"
            ]
        );
    }

    #[test]
    fn past_a_hundred_problems_a_file_sums_up_the_rest() {
        let tree = Tree::new();
        let text: String = (0..150).map(|index| format!("key{index}: 1\n")).collect();
        tree.write("a.yaml", format!("id: a1\n{text}"));
        let problems = tree.problems();
        assert_eq!(problems.len(), MAX_PROBLEMS_PER_FILE + 1);
        assert_eq!(
            problems[100],
            "groups.d/a.yaml: 50 more problems in this file not shown; fix the ones above first"
        );
    }

    #[test]
    fn kept_text_takes_only_the_room_it_needs() {
        // The YAML parser hands each plain scalar over with room for hundreds
        // of bytes: a short text is kept inline, a long one in just its length.
        let (groups, problems) = parse_file(
            Path::new("x.yaml"),
            "groups:\n- id: a\n  name: Scope 1\n  area: EMEA\n  description: Compliance scope for the rates desk\n",
        );
        assert_eq!(problems, []);
        let fields = &groups[0].fields;
        for text in [fields.name.as_ref(), fields.area.as_ref()] {
            let text = text.unwrap();
            assert!(!text.is_heap_allocated(), "{text:?}");
        }
        let long = fields.description.as_ref().unwrap();
        assert!(long.is_heap_allocated(), "{long:?}");
        assert_eq!(long.capacity(), long.len(), "{long:?}");
    }

    #[test]
    fn parse_file_reports_duplicates_within_the_file() {
        let (groups, problems) = parse_file(Path::new("x.yaml"), "groups:\n- id: a\n- id: a\n");
        assert_eq!(groups.len(), 2);
        assert_eq!(
            problems,
            [Diagnostic::at(
                "x.yaml",
                3,
                7,
                "id \"a\" is already declared at x.yaml:2:7"
            )]
        );
    }
}
