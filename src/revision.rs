//! The revision of the groups dir: the git commit it is at, whether its
//! files differ from that commit (dirty), the commit's author and subject;
//! or, where there is no git, the text `--revision` / `GROUPSYNC_REVISION`
//! gives (as CI does), which replaces detection.
//!
//! Detection runs `git` (no git library): `git log -1` for the commit, its
//! author and subject, and `git status --porcelain -- .` for the dirty flag,
//! counting only changes under the groups dir itself. Each run is bounded:
//! one deadline for both ([`GIT_TIMEOUT`]), at most [`OUTPUT_CAP`] bytes
//! read of its output, no pager, no prompt, no optional locks, no
//! file-system monitor hook, and none of the caller's `GIT_*` variables
//! (`GIT_DIR` or `GIT_WORK_TREE` could point it at another repository).
//! What git prints comes from whoever wrote the commit: the author and the
//! subject are cut to [`TEXT_CAP`] characters and their control and
//! invisible characters escaped here, at the source.
//!
//! Detection blocks (it waits for `git`): from async code, call it through
//! `tokio::task::spawn_blocking`.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::text::escaped;

/// The longest detection may take, both `git` runs together.
pub const GIT_TIMEOUT: Duration = Duration::from_secs(5);
/// The most read of what one `git` run prints.
pub const OUTPUT_CAP: u64 = 64 * 1024;
/// The most kept of an author or a subject, in characters.
pub const TEXT_CAP: usize = 200;
/// The longest revision `--revision` / `GROUPSYNC_REVISION` may give, in characters.
pub const MAX_GIVEN: usize = 200;

/// What the groups dir was at: a commit of a git work tree, or the text given instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// The full commit hash; or, given by hand, the text as given.
    pub commit: String,
    /// The groups dir's files differ from the commit (changed, added or
    /// removed, not yet committed). Always false when given by hand.
    pub dirty: bool,
    /// `Name <email>` of the commit's author; `None` when given by hand.
    pub author: Option<String>,
    /// The first line of the commit message; `None` when given by hand.
    pub subject: Option<String>,
}

impl Revision {
    /// The revision `given` (by `--revision` / `GROUPSYNC_REVISION`) if
    /// there is one, else the one `git` reports for `dir`; `None` when `dir`
    /// is in no git work tree, or git is missing or fails.
    pub fn resolve(dir: &Path, given: Option<&str>) -> Option<Revision> {
        match given {
            Some(text) => Some(Revision::given(text)),
            None => Revision::detect(dir),
        }
    }

    /// A revision given by hand: its text is the commit; author and subject
    /// unknown. (The settings refuse control characters and overlong text;
    /// any left are escaped here.)
    pub fn given(text: &str) -> Revision {
        Revision {
            commit: capped(text.trim(), MAX_GIVEN),
            dirty: false,
            author: None,
            subject: None,
        }
    }

    /// The revision of the git work tree holding `dir`, as `git` reports it.
    pub fn detect(dir: &Path) -> Option<Revision> {
        let deadline = Instant::now() + GIT_TIMEOUT;
        let format = "--format=%H%x00%an%x00%ae%x00%s";
        let log = ["log", "-1", "--no-show-signature", "--no-color", format];
        let out = match git(dir, &log, deadline) {
            Ok(out) if out.success => out,
            Ok(out) => {
                note_failure(dir, "git log", &out.stderr);
                return None;
            }
            Err(failure) => {
                failure.log(dir);
                return None;
            }
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let mut fields = text.trim_end_matches('\n').split('\0');
        let commit = fields.next().filter(|commit| is_commit_hash(commit))?;
        let (name, email, subject) = (fields.next()?, fields.next()?, fields.next()?);
        Some(Revision {
            commit: commit.to_string(),
            dirty: is_dirty(dir, deadline),
            author: Some(capped(&format!("{name} <{email}>"), TEXT_CAP)),
            subject: Some(capped(subject, TEXT_CAP)),
        })
    }

    /// This revision as groupsync's own detection makes one: each field
    /// escaped and cut (for a revision read from a plan file, which can
    /// hold anything).
    pub fn capped(self) -> Revision {
        Revision {
            commit: capped(&self.commit, MAX_GIVEN),
            dirty: self.dirty,
            author: self.author.map(|author| capped(&author, TEXT_CAP)),
            subject: self.subject.map(|subject| capped(&subject, TEXT_CAP)),
        }
    }

    /// The commit as people quote it: a git hash's first 7 characters; text
    /// given by hand, whole.
    pub fn short(&self) -> &str {
        match is_commit_hash(&self.commit) {
            true => &self.commit[..7],
            false => &self.commit,
        }
    }

    /// The commit, with `-dirty` after it when the tree differs from it (as
    /// `git describe --dirty` writes it): what the journal records.
    pub fn id(&self) -> String {
        match self.dirty {
            true => format!("{}-dirty", self.commit),
            false => self.commit.clone(),
        }
    }

    /// The author's name, without the e-mail address.
    pub fn author_name(&self) -> Option<&str> {
        let author = self.author.as_deref()?;
        Some(author.rsplit_once(" <").map_or(author, |(name, _)| name))
    }
}

/// `abc1234 (dirty) "Add the EMEA desk" by Jane Doe`; given by hand, the text alone.
impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short())?;
        if self.dirty {
            f.write_str(" (dirty)")?;
        }
        if let Some(subject) = &self.subject {
            write!(f, " \"{}\"", subject.replace('"', "\\\""))?;
        }
        if let Some(name) = self.author_name() {
            write!(f, " by {name}")?;
        }
        Ok(())
    }
}

/// 40 (SHA-1) or 64 (SHA-256) lower-case hex digits.
fn is_commit_hash(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `text` with control and invisible characters escaped, cut to `cap` characters.
pub fn capped(text: &str, cap: usize) -> String {
    let shown = escaped(text);
    match shown.char_indices().nth(cap) {
        Some((end, _)) => format!("{}...", &shown[..end]),
        None => shown.into_owned(),
    }
}

/// Whether the files under `dir` differ from the commit: any line from
/// `git status --porcelain -- .` (untracked files count). When git cannot
/// tell, the tree counts as dirty: a clean flag must be earned.
fn is_dirty(dir: &Path, deadline: Instant) -> bool {
    let status = [
        "status",
        "--porcelain",
        "--untracked-files=normal",
        "--",
        ".",
    ];
    match git(dir, &status, deadline) {
        Ok(out) if !out.stdout.is_empty() => true,
        Ok(out) if out.success => false,
        Ok(out) => {
            note_failure(dir, "git status", &out.stderr);
            true
        }
        Err(failure) => {
            failure.log(dir);
            true
        }
    }
}

/// Logs why git said no: not a repository (or no commit yet) quietly,
/// anything else (an unsafe owner, a broken repository) as a warning.
fn note_failure(dir: &Path, what: &str, stderr: &[u8]) {
    let message = String::from_utf8_lossy(stderr);
    let first = message.lines().find(|line| !line.trim().is_empty());
    let first = capped(first.unwrap_or("no message").trim(), TEXT_CAP);
    let quiet = ["not a git repository", "does not have any commits"];
    if quiet.iter().any(|known| message.contains(known)) {
        tracing::debug!(dir = %dir.display(), "no git revision: {what}: {first}");
    } else {
        tracing::warn!(dir = %dir.display(), "no git revision: {what} failed: {first}");
    }
}

/// What one `git` run printed (at most [`OUTPUT_CAP`] of each stream).
struct GitOutput {
    success: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Why `git` gave no answer.
enum GitFailure {
    /// Not installed, or not runnable.
    Spawn(std::io::Error),
    /// Still running at the deadline: killed.
    Timeout,
}

impl GitFailure {
    fn log(&self, dir: &Path) {
        match self {
            GitFailure::Spawn(error) => {
                tracing::debug!(dir = %dir.display(), "no git revision: cannot run git: {error}");
            }
            GitFailure::Timeout => tracing::warn!(
                dir = %dir.display(),
                "no git revision: git did not answer within {GIT_TIMEOUT:?}"
            ),
        }
    }
}

/// Runs `git -C dir ARGS` with its environment tamed, until `deadline`.
fn git(dir: &Path, args: &[&str], deadline: Instant) -> Result<GitOutput, GitFailure> {
    let mut command = git_command(dir, args, std::env::vars_os().map(|(key, _)| key));
    let mut child = command.spawn().map_err(GitFailure::Spawn)?;
    let stdout = read_capped(child.stdout.take());
    let stderr = read_capped(child.stderr.take());
    let remaining = || deadline.saturating_duration_since(Instant::now());
    // A reader still waiting at the deadline (a grandchild holding the
    // pipe) is left behind: it ends when the pipe closes.
    let stdout = stdout.recv_timeout(remaining());
    let stderr = stderr.recv_timeout(remaining());
    let status = wait_until(&mut child, deadline);
    match (stdout, stderr, status) {
        (Ok(stdout), Ok(stderr), Some(success)) => Ok(GitOutput {
            // Output cut at the cap ended the run early: what was read stands.
            success: success || stdout.len() as u64 > OUTPUT_CAP,
            stdout,
            stderr,
        }),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            Err(GitFailure::Timeout)
        }
    }
}

/// `git -C dir ARGS`, without the `GIT_*` variables among `inherited`
/// (the names of the caller's environment), and with those that keep it
/// from paging, prompting or taking optional locks.
fn git_command(
    dir: &Path,
    args: &[&str],
    inherited: impl Iterator<Item = std::ffi::OsString>,
) -> Command {
    let mut command = Command::new("git");
    for key in inherited {
        if key.to_string_lossy().starts_with("GIT_") {
            command.env_remove(key);
        }
    }
    command
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_PAGER", "cat")
        .env("PAGER", "cat")
        .env("LC_ALL", "C")
        .args([
            "--no-pager",
            "-c",
            "core.fsmonitor=false",
            "-c",
            "color.ui=false",
        ])
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Reads `pipe` on a thread of its own, at most one byte past [`OUTPUT_CAP`];
/// the bytes arrive on the returned channel.
fn read_capped(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(pipe) = pipe {
            let _ = pipe.take(OUTPUT_CAP + 1).read_to_end(&mut bytes);
        }
        let _ = sender.send(bytes);
    });
    receiver
}

/// Whether `child` exited successfully, waiting for it until `deadline`;
/// `None` if it is still running then.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<bool> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status.success()),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(None) | Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs git in `dir` with a fixed identity, as a test's set-up.
    fn run_git(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .args([
                "-c",
                "user.name=Jane Doe",
                "-c",
                "user.email=jane@acme.test",
            ])
            .args([
                "-c",
                "commit.gpgsign=false",
                "-c",
                "init.defaultBranch=main",
            ])
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir)
            .stdout(Stdio::null())
            .status()
            .expect("run git");
        assert!(status.success(), "git {args:?}");
    }

    /// A repository with `groups.d/a.yaml` committed; the groups dir's path.
    fn repository(root: &Path, subject: &str) -> std::path::PathBuf {
        run_git(root, &["init", "-q"]);
        let groups = root.join("groups.d");
        std::fs::create_dir(&groups).unwrap();
        std::fs::write(groups.join("a.yaml"), "id: a1\n").unwrap();
        run_git(root, &["add", "."]);
        run_git(root, &["commit", "-q", "-m", subject]);
        groups
    }

    #[test]
    fn a_clean_tree_gives_its_commit_author_and_subject() {
        let dir = tempfile::tempdir().unwrap();
        let groups = repository(dir.path(), "Add the EMEA desk");
        let revision = Revision::detect(&groups).expect("a git work tree");
        assert!(is_commit_hash(&revision.commit), "{revision:?}");
        assert!(!revision.dirty);
        assert_eq!(
            revision.author.as_deref(),
            Some("Jane Doe <jane@acme.test>")
        );
        assert_eq!(revision.subject.as_deref(), Some("Add the EMEA desk"));
        assert_eq!(
            revision.to_string(),
            format!(
                "{} \"Add the EMEA desk\" by Jane Doe",
                &revision.commit[..7]
            )
        );
        assert_eq!(revision.id(), revision.commit);
    }

    #[test]
    fn a_change_under_the_groups_dir_makes_it_dirty_and_one_beside_it_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let groups = repository(dir.path(), "first");
        std::fs::write(dir.path().join("README.md"), "elsewhere\n").unwrap();
        assert!(!Revision::detect(&groups).unwrap().dirty);
        std::fs::write(groups.join("a.yaml"), "id: a2\n").unwrap();
        let revision = Revision::detect(&groups).unwrap();
        assert!(revision.dirty);
        assert!(
            revision.to_string().contains(" (dirty) \"first\""),
            "{revision}"
        );
        assert_eq!(revision.id(), format!("{}-dirty", revision.commit));
        // An untracked file counts too.
        run_git(dir.path(), &["checkout", "-q", "--", "."]);
        std::fs::write(groups.join("new.yaml"), "id: n1\n").unwrap();
        assert!(Revision::detect(&groups).unwrap().dirty);
    }

    #[test]
    fn no_git_tree_or_no_commit_is_no_revision() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Revision::detect(dir.path()), None);
        assert_eq!(Revision::detect(&dir.path().join("missing")), None);
        run_git(dir.path(), &["init", "-q"]);
        assert_eq!(Revision::detect(dir.path()), None, "no commit yet");
    }

    #[test]
    fn the_given_revision_replaces_detection() {
        let dir = tempfile::tempdir().unwrap();
        let groups = repository(dir.path(), "first");
        let given = Revision::resolve(&groups, Some(" build-77 ")).unwrap();
        assert_eq!(
            given,
            Revision {
                commit: "build-77".to_string(),
                dirty: false,
                author: None,
                subject: None
            }
        );
        assert_eq!(given.to_string(), "build-77");
        assert_eq!(given.short(), "build-77");
        let outside = tempfile::tempdir().unwrap();
        assert!(Revision::resolve(outside.path(), Some("v1")).is_some());
        assert!(Revision::resolve(outside.path(), None).is_none());
    }

    #[test]
    fn what_the_commit_carries_is_escaped_and_cut_at_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let subject = format!("evil\u{1b}[2J \"quoted\" \u{202e}{}", "x".repeat(400));
        let groups = repository(dir.path(), &subject);
        let revision = Revision::detect(&groups).unwrap();
        let shown = revision.subject.clone().unwrap();
        assert!(
            shown.starts_with("evil\\u{1b}[2J \"quoted\" \\u{202e}x"),
            "{shown}"
        );
        assert!(shown.chars().count() <= TEXT_CAP + 3, "{shown}");
        assert!(!revision.to_string().contains('\u{1b}'));
        assert!(
            revision.to_string().contains("\\\"quoted\\\""),
            "{revision}"
        );
    }

    #[test]
    fn the_callers_git_variables_are_dropped_and_locks_prompts_and_pagers_turned_off() {
        let inherited = ["GIT_DIR", "GIT_WORK_TREE", "GIT_CONFIG_PARAMETERS", "HOME"];
        let command = git_command(Path::new("d"), &["log"], inherited.iter().map(Into::into));
        let envs: Vec<(String, Option<String>)> = command
            .get_envs()
            .map(|(key, value)| {
                let text = |text: &std::ffi::OsStr| text.to_string_lossy().into_owned();
                (text(key), value.map(text))
            })
            .collect();
        for removed in ["GIT_DIR", "GIT_WORK_TREE", "GIT_CONFIG_PARAMETERS"] {
            assert!(envs.contains(&(removed.to_string(), None)), "{envs:?}");
        }
        assert!(!envs.iter().any(|(key, _)| key == "HOME"), "{envs:?}");
        for (key, value) in [("GIT_OPTIONAL_LOCKS", "0"), ("GIT_TERMINAL_PROMPT", "0")] {
            assert!(envs.contains(&(key.to_string(), Some(value.to_string()))));
        }
        let args: Vec<String> = command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "--no-pager",
                "-c",
                "core.fsmonitor=false",
                "-c",
                "color.ui=false",
                "-C",
                "d",
                "log"
            ]
        );
    }

    #[test]
    fn it_serializes_with_its_fields_in_order() {
        let revision = Revision {
            commit: "a".repeat(40),
            dirty: true,
            author: Some("Jane <j@x>".to_string()),
            subject: Some("s".to_string()),
        };
        assert_eq!(
            serde_json::to_string(&revision).unwrap(),
            format!(
                r#"{{"commit":"{}","dirty":true,"author":"Jane <j@x>","subject":"s"}}"#,
                "a".repeat(40)
            )
        );
    }
}
