//! Watching the groups dir: any file-system event below it becomes a
//! "something changed" signal for the daemon, which debounces it and rescans
//! the whole tree. No event is filtered by name: editors save by rename, and
//! a Kubernetes ConfigMap mount swaps a `..data` symlink without touching any
//! `*.yaml` path.
//!
//! The watch follows the groups dir by its path, not by the directory it led
//! to at start: every directory on the path is watched too (not
//! recursively), and whenever something changes there the path is resolved
//! again, component by component and link by link. When it leads elsewhere
//! than before (the dir was removed and made again, a new tree was moved into
//! place, a git-sync style `current -> rev-abc` link anywhere on the path was
//! swapped), the watch moves to the new directory, and that counts as a
//! change. A groups dir that does not exist (yet) is waited for the same way.
//!
//! A thread of its own owns the watcher, so that it can be rebuilt on the
//! new directory outside the watcher's own callback.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Config, EventKind, PollWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc::UnboundedSender;

/// How often the polling fallback looks at the tree.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Symbolic links followed while resolving the path, as Linux allows.
const MAX_LINKS: usize = 40;

/// How often arming is retried when the path changes while it is being armed.
const ARM_ATTEMPTS: usize = 5;

/// Why the groups dir cannot be watched (nor polled). The daemon then runs
/// cycles on its schedule only.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The path cannot be made absolute, or the watching thread cannot start.
    #[error("cannot watch {}", .dir.display())]
    Setup {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Neither the kernel's watcher nor the polling one could be set up.
    #[error("cannot watch or poll {}", .dir.display())]
    Arm {
        dir: PathBuf,
        #[source]
        source: notify::Error,
    },
}

impl WatchError {
    /// The message and its cause, for the log line.
    pub fn chain(&self) -> String {
        crate::error::with_causes(self.to_string(), std::error::Error::source(self))
    }
}

/// A live watch; dropping it stops watching.
pub struct DirWatch {
    /// True when inotify could not be used and the tree is polled instead.
    pub polling: bool,
    /// Tells the watching thread to stop.
    signals: Sender<Signal>,
}

impl Drop for DirWatch {
    fn drop(&mut self) {
        let _ = self.signals.send(Signal::Stop);
    }
}

/// What the watching thread hears: an event from the watcher, or the end.
enum Signal {
    Event(notify::Result<notify::Event>),
    Stop,
}

/// Watches the groups dir `dir` (recursively) and every directory on its
/// path, sending `()` on `changes` for every change below it and whenever the
/// path comes to lead to another directory.
///
/// Falls back to polling when the kernel's watcher cannot be set up (for
/// example when `fs.inotify.max_user_watches` is exhausted).
pub fn watch_dir(dir: &Path, changes: UnboundedSender<()>) -> Result<DirWatch, WatchError> {
    let setup = |source| WatchError::Setup {
        dir: dir.to_path_buf(),
        source,
    };
    let path = std::path::absolute(dir).map_err(setup)?;
    let (signals, received) = channel();
    let (place, watcher, polling) = first_watch(dir, &path, &signals)?;
    if place.real.is_none() {
        tracing::warn!(
            "the groups directory {} does not exist (yet); watching for it to appear",
            dir.display()
        );
    }
    let follower = Follower {
        shown: dir.to_path_buf(),
        path,
        place,
        watcher,
        polling,
        signals: signals.clone(),
        changes,
    };
    std::thread::Builder::new()
        .name("groups-dir-watch".to_string())
        .spawn(move || follower.run(&received))
        .map_err(setup)?;
    Ok(DirWatch { polling, signals })
}

/// The kernel's watcher on the path, else the polling one (saying why).
fn first_watch(
    shown: &Path,
    path: &Path,
    signals: &Sender<Signal>,
) -> Result<(Place, Box<dyn Watcher + Send>, bool), WatchError> {
    match arm_settled(path, false, signals) {
        Ok((place, watcher)) => Ok((place, watcher, false)),
        Err(error) => {
            tracing::warn!(
                "cannot watch {} for changes ({error}); polling it every {}s instead. \
                 Raise fs.inotify.max_user_watches / max_user_instances to get events",
                shown.display(),
                POLL_INTERVAL.as_secs()
            );
            let (place, watcher) =
                arm_settled(path, true, signals).map_err(|source| WatchError::Arm {
                    dir: shown.to_path_buf(),
                    source,
                })?;
            Ok((place, watcher, true))
        }
    }
}

/// Where the groups dir path leads now.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    /// The real directories the path (and every link on it) passes through,
    /// each watched non-recursively: a change to any of them may move the groups dir.
    dirs: Vec<PathBuf>,
    /// The directory the path leads to; `None` while it does not exist.
    real: Option<RealDir>,
}

/// A directory by its real path and its identity: removed and made again
/// under the same name, it is another one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RealDir {
    path: PathBuf,
    device: u64,
    inode: u64,
}

/// Resolves the absolute `path` as the kernel does, one component and one
/// link at a time, noting each real directory it passes through.
fn resolve(path: &Path) -> Place {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut current = PathBuf::from("/");
    let mut pending: Vec<OsString> = Vec::new();
    push_components(&mut pending, path);
    let mut links = 0;
    let missing = |dirs: Vec<PathBuf>| Place { dirs, real: None };
    while let Some(name) = pending.pop() {
        match name.to_str() {
            Some(".") => continue,
            Some("..") => {
                current.pop();
                continue;
            }
            _ => {}
        }
        if !dirs.contains(&current) {
            dirs.push(current.clone());
        }
        let next = current.join(&name);
        let Ok(metadata) = std::fs::symlink_metadata(&next) else {
            return missing(dirs);
        };
        if metadata.file_type().is_symlink() {
            links += 1;
            let Ok(target) = std::fs::read_link(&next) else {
                return missing(dirs);
            };
            if links > MAX_LINKS {
                return missing(dirs);
            }
            if target.is_absolute() {
                current = PathBuf::from("/");
            }
            push_components(&mut pending, &target);
        } else if metadata.is_dir() {
            current = next;
        } else {
            return missing(dirs);
        }
    }
    let real = std::fs::metadata(&current).ok().map(|metadata| RealDir {
        path: current,
        device: metadata.dev(),
        inode: metadata.ino(),
    });
    Place { dirs, real }
}

/// Puts the components of `path` on the stack `pending`, so that its first
/// component is popped first (before what was there already).
fn push_components(pending: &mut Vec<OsString>, path: &Path) {
    let names = path.components().filter_map(|component| match component {
        Component::Normal(name) => Some(name.to_os_string()),
        Component::CurDir => Some(".".into()),
        Component::ParentDir => Some("..".into()),
        Component::RootDir | Component::Prefix(_) => None,
    });
    let names: Vec<OsString> = names.collect();
    pending.extend(names.into_iter().rev());
}

/// Resolves `path` and watches what it leads to, until the path stays put
/// while being armed.
fn arm_settled(
    path: &Path,
    polling: bool,
    signals: &Sender<Signal>,
) -> notify::Result<(Place, Box<dyn Watcher + Send>)> {
    let mut place = resolve(path);
    let mut watcher = arm(&place, polling, signals)?;
    for _ in 1..ARM_ATTEMPTS {
        let now = resolve(path);
        if now == place {
            break;
        }
        place = now;
        watcher = arm(&place, polling, signals)?;
    }
    Ok((place, watcher))
}

/// A new watcher on `place`: its directories on the way, the groups dir recursively.
fn arm(
    place: &Place,
    polling: bool,
    signals: &Sender<Signal>,
) -> notify::Result<Box<dyn Watcher + Send>> {
    let signals = signals.clone();
    let handler = move |event| {
        let _ = signals.send(Signal::Event(event));
    };
    let mut watcher: Box<dyn Watcher + Send> = if polling {
        let config = Config::default()
            .with_poll_interval(POLL_INTERVAL)
            .with_follow_symlinks(true);
        Box::new(PollWatcher::new(handler, config)?)
    } else {
        Box::new(notify::recommended_watcher(handler)?)
    };
    let tree = place
        .real
        .as_ref()
        .map(|real| (real.path.as_path(), RecursiveMode::Recursive));
    let on_the_way = place
        .dirs
        .iter()
        .map(|dir| (dir.as_path(), RecursiveMode::NonRecursive));
    for (dir, mode) in on_the_way.chain(tree) {
        match watcher.watch(dir, mode) {
            // Gone since it was resolved: the watch on its parent reports that.
            Err(error) if io_kind(&error) == Some(std::io::ErrorKind::NotFound) => {}
            // A folder on the way we may pass through but not list (mode 0711):
            // a swap there goes unseen, the rest is watched.
            Err(error)
                if mode == RecursiveMode::NonRecursive
                    && io_kind(&error) == Some(std::io::ErrorKind::PermissionDenied) =>
            {
                tracing::debug!("cannot watch {} for a swap: {error}", dir.display());
            }
            other => other?,
        }
    }
    Ok(watcher)
}

fn io_kind(error: &notify::Error) -> Option<std::io::ErrorKind> {
    match &error.kind {
        notify::ErrorKind::PathNotFound => Some(std::io::ErrorKind::NotFound),
        notify::ErrorKind::Io(io) => Some(io.kind()),
        _ => None,
    }
}

/// The watching thread: passes changes on, and moves the watch when the path
/// leads elsewhere.
struct Follower {
    /// The groups dir as configured, for messages.
    shown: PathBuf,
    /// The same, absolute.
    path: PathBuf,
    place: Place,
    watcher: Box<dyn Watcher + Send>,
    polling: bool,
    /// For the watchers it builds.
    signals: Sender<Signal>,
    changes: UnboundedSender<()>,
}

impl Follower {
    fn run(mut self, received: &Receiver<Signal>) {
        while let Ok(Signal::Event(event)) = received.recv() {
            if is_read(&event) {
                continue;
            }
            let moved = self.follow_the_path();
            if (moved || self.is_in_the_tree(&event)) && self.changes.send(()).is_err() {
                return;
            }
        }
    }

    /// Resolves the path again and, if it leads elsewhere, watches the new
    /// place. True when the groups dir is another one (or gone, or back).
    fn follow_the_path(&mut self) -> bool {
        if resolve(&self.path) == self.place {
            return false;
        }
        let (place, watcher) = match arm_settled(&self.path, self.polling, &self.signals) {
            Ok(armed) => armed,
            Err(error) => {
                tracing::error!(
                    "cannot watch {} again after it changed ({error}); cycles run on the schedule only",
                    self.shown.display()
                );
                return false;
            }
        };
        let moved = place.real != self.place.real;
        self.watcher = watcher;
        self.place = place;
        if moved {
            self.say_where_it_is();
        }
        moved
    }

    fn say_where_it_is(&self) {
        match &self.place.real {
            Some(real) => tracing::info!(
                "the groups directory {} is now {}: watching it",
                self.shown.display(),
                real.path.display()
            ),
            None => tracing::warn!(
                "the groups directory {} is gone; watching for it to come back",
                self.shown.display()
            ),
        }
    }

    /// Whether `event` is below the groups dir (an error, such as an
    /// overflowed event queue, may be anywhere: it counts).
    fn is_in_the_tree(&self, event: &notify::Result<notify::Event>) -> bool {
        let Ok(event) = event else {
            return true;
        };
        let Some(real) = &self.place.real else {
            return false;
        };
        event.paths.iter().any(|path| path.starts_with(&real.path))
    }
}

/// Our own loading opens and reads every file: passing reads on would loop
/// for ever. (A close after writing is a change.)
fn is_read(event: &notify::Result<notify::Event>) -> bool {
    matches!(
        event,
        Ok(event) if matches!(event.kind, EventKind::Access(kind) if kind != AccessKind::Close(AccessMode::Write))
    )
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    /// A temporary folder, by its real path (the system's may pass through a link).
    fn temp() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        (dir, real)
    }

    #[test]
    fn a_plain_path_leads_to_its_directory_through_each_parent() {
        let (_dir, root) = temp();
        std::fs::create_dir_all(root.join("a/groups.d")).unwrap();
        let place = resolve(&root.join("a/./groups.d"));
        let real = place.real.expect("the directory exists");
        assert_eq!(real.path, root.join("a/groups.d"));
        assert_eq!(place.dirs.last(), Some(&root.join("a")));
        assert!(place.dirs.contains(&root));
        assert_eq!(place.dirs.first(), Some(&PathBuf::from("/")));
    }

    #[test]
    fn a_link_on_the_way_is_followed_and_its_target_watched() {
        let (_dir, root) = temp();
        std::fs::create_dir_all(root.join("rev-abc/groups.d")).unwrap();
        symlink("rev-abc", root.join("current")).unwrap();
        let place = resolve(&root.join("current/groups.d"));
        assert_eq!(
            place.real.map(|real| real.path),
            Some(root.join("rev-abc/groups.d"))
        );
        // `current` lives in `root`, `groups.d` in `rev-abc`: both are watched.
        assert!(place.dirs.contains(&root));
        assert!(place.dirs.contains(&root.join("rev-abc")));
    }

    #[test]
    fn dot_dot_after_a_link_leaves_its_target_as_the_kernel_does() {
        let (_dir, root) = temp();
        std::fs::create_dir_all(root.join("deep/inner")).unwrap();
        std::fs::create_dir_all(root.join("deep/groups.d")).unwrap();
        symlink("deep/inner", root.join("link")).unwrap();
        let place = resolve(&root.join("link/../groups.d"));
        assert_eq!(
            place.real.map(|real| real.path),
            Some(root.join("deep/groups.d"))
        );
    }

    #[test]
    fn a_missing_directory_is_watched_from_its_deepest_existing_parent() {
        let (_dir, root) = temp();
        let place = resolve(&root.join("not-yet/groups.d"));
        assert_eq!(place.real, None);
        assert_eq!(place.dirs.last(), Some(&root));
    }

    #[test]
    fn a_link_loop_leads_nowhere() {
        let (_dir, root) = temp();
        symlink("b", root.join("a")).unwrap();
        symlink("a", root.join("b")).unwrap();
        assert_eq!(resolve(&root.join("a/groups.d")).real, None);
    }

    #[test]
    fn a_directory_made_again_under_the_same_name_is_another_one() {
        let (_dir, root) = temp();
        let groups = root.join("groups.d");
        std::fs::create_dir(&groups).unwrap();
        // Keep the first one alive elsewhere, so that its inode cannot be reused.
        let before = resolve(&groups);
        std::fs::rename(&groups, root.join("old")).unwrap();
        std::fs::create_dir(&groups).unwrap();
        let after = resolve(&groups);
        assert_eq!(
            before.real.as_ref().map(|real| &real.path),
            after.real.as_ref().map(|real| &real.path)
        );
        assert_ne!(before, after);
    }
}
