//! Watching the groups dir: any file-system event below it becomes a
//! "something changed" signal for the daemon, which debounces it and rescans
//! the whole tree. No event is filtered by name: editors save by rename, and
//! a Kubernetes ConfigMap mount swaps a `..data` symlink without touching any
//! `*.yaml` path.

use std::path::Path;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Config, EventKind, PollWatcher, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc::UnboundedSender;

/// How often the polling fallback looks at the tree.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// A live watch; dropping it stops watching.
pub struct DirWatch {
    _watcher: Box<dyn Watcher + Send>,
    /// True when inotify could not be used and the tree is polled instead.
    pub polling: bool,
}

/// Watches `dir` recursively, sending `()` on `changes` for every event.
///
/// Falls back to polling when the kernel's watcher cannot be set up (for
/// example when `fs.inotify.max_user_watches` is exhausted).
pub fn watch_dir(dir: &Path, changes: UnboundedSender<()>) -> Result<DirWatch, String> {
    match watch_with_events(dir, changes.clone()) {
        Ok(watcher) => Ok(DirWatch {
            _watcher: Box::new(watcher),
            polling: false,
        }),
        Err(error) => {
            tracing::warn!(
                "cannot watch {} for changes ({error}); polling it every {}s instead. \
                 Raise fs.inotify.max_user_watches / max_user_instances to get events",
                dir.display(),
                POLL_INTERVAL.as_secs()
            );
            let watcher = watch_by_polling(dir, changes)
                .map_err(|error| format!("cannot watch or poll {}: {error}", dir.display()))?;
            Ok(DirWatch {
                _watcher: Box::new(watcher),
                polling: true,
            })
        }
    }
}

fn watch_with_events(
    dir: &Path,
    changes: UnboundedSender<()>,
) -> notify::Result<RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        forward(event, &changes)
    })?;
    watcher.watch(dir, RecursiveMode::Recursive)?;
    Ok(watcher)
}

fn watch_by_polling(dir: &Path, changes: UnboundedSender<()>) -> notify::Result<PollWatcher> {
    let config = Config::default()
        .with_poll_interval(POLL_INTERVAL)
        .with_follow_symlinks(true);
    let mut watcher = PollWatcher::new(
        move |event: notify::Result<notify::Event>| forward(event, &changes),
        config,
    )?;
    watcher.watch(dir, RecursiveMode::Recursive)?;
    Ok(watcher)
}

/// Passes on every event but reads (our own loading opens and reads every
/// file: passing those on would loop forever); an error, such as an
/// overflowed event queue, counts as a change.
fn forward(event: notify::Result<notify::Event>, changes: &UnboundedSender<()>) {
    let is_read = matches!(
        &event,
        Ok(event) if matches!(event.kind, EventKind::Access(kind) if kind != AccessKind::Close(AccessMode::Write))
    );
    if !is_read {
        let _ = changes.send(());
    }
}
