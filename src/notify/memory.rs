//! What notifications remember between cycles and runs, in a small JSON
//! file beside the state file (`<state file>.notify`, mode 0600, replaced
//! by a rename): which fingerprint went to which target when (for
//! `notify_settings.dedupe`), the stream id each `room_name` resolved to, and
//! since when cycles fail (for `cycle_failing`, `recovered` and
//! `notify_settings.repeat`). So a one-shot `apply` in CI dedupes and says
//! "failing" once, as the daemon does.
//!
//! The file is a convenience, never a reason to fail: one that cannot be
//! read is set aside with a warning, one that cannot be written is said
//! once. Two processes writing it at once lose, at worst, one of the
//! records of a sent message, which is then sent again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::files::{SMALL_FILE_CAP, read_regular_file};
use crate::store::state_file::write_atomically_unsynced;

/// The memory file of the state file at `state_file`: `<state file>.notify`.
pub fn memory_path(state_file: &Path) -> PathBuf {
    let mut name = state_file
        .file_name()
        .map(|name| name.to_os_string())
        .unwrap_or_default();
    name.push(".notify");
    state_file.with_file_name(name)
}

/// How long a record of a sent message is kept at most, whatever `dedupe` says.
const KEEP_SENT: Duration = Duration::from_secs(8 * 24 * 60 * 60);

/// The file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct Stored {
    version: u32,
    /// Stream id (URL-safe) by room name.
    rooms: BTreeMap<String, String>,
    /// When (epoch ms) each fingerprint last went to each target.
    sent: BTreeMap<String, BTreeMap<String, i64>>,
    /// Since when cycles fail, and when that was last said; `None` while they succeed.
    failing: Option<Failing>,
}

/// Cycles failing: since when, and when `cycle_failing` was last sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failing {
    pub since_ms: i64,
    /// `None` until `cycle_failing` was said.
    pub said_ms: Option<i64>,
}

/// The memory, and where it is kept (`None`: in memory only, e.g. the demo's).
#[derive(Debug, Default)]
pub struct Memory {
    path: Option<PathBuf>,
    stored: Stored,
    /// A failed write was said already.
    write_failed: bool,
}

impl Memory {
    /// The memory kept at `path` (nothing yet if it is missing or unreadable).
    pub fn open(path: Option<PathBuf>) -> Memory {
        let stored = path.as_deref().map_or_else(Stored::default, read);
        Memory {
            path,
            stored,
            write_failed: false,
        }
    }

    /// Where the memory is kept.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// True when `fingerprint` went to `target` less than `window` ago.
    pub fn recently_sent(
        &self,
        target: &str,
        fingerprint: &str,
        window: Duration,
        now: i64,
    ) -> bool {
        (self.stored.sent.get(target))
            .and_then(|sent| sent.get(fingerprint))
            .is_some_and(|at| now.saturating_sub(*at) < millis(window))
    }

    /// Records that `fingerprint` went to `target` at `now`, forgetting
    /// records older than `window` (and than a week), and saves.
    pub fn record_sent(&mut self, target: &str, fingerprint: &str, window: Duration, now: i64) {
        let keep = millis(window.min(KEEP_SENT));
        for sent in self.stored.sent.values_mut() {
            sent.retain(|_, at| now.saturating_sub(*at) < keep);
        }
        self.stored.sent.retain(|_, sent| !sent.is_empty());
        (self.stored.sent.entry(target.to_string()).or_default())
            .insert(fingerprint.to_string(), now);
        self.save();
    }

    /// The stream id `room` resolved to before.
    pub fn room(&self, room: &str) -> Option<String> {
        self.stored.rooms.get(room).cloned()
    }

    /// Forgets what `room` resolved to (it may be gone or renamed).
    pub fn forget_room(&mut self, room: &str) {
        if self.stored.rooms.remove(room).is_some() {
            self.save();
        }
    }

    pub fn set_room(&mut self, room: &str, stream_id: &str) {
        self.stored
            .rooms
            .insert(room.to_string(), stream_id.to_string());
        self.save();
    }

    pub fn failing(&self) -> Option<Failing> {
        self.stored.failing
    }

    pub fn set_failing(&mut self, failing: Option<Failing>) {
        if self.stored.failing != failing {
            self.stored.failing = failing;
            self.save();
        }
    }

    /// Writes the file: a temporary file beside it (0600), renamed over it. Not
    /// synced: a crash may lose the last records, which costs a message sent
    /// again, and a write here must never wait on a slow disk.
    fn save(&mut self) {
        let Some(path) = &self.path else {
            return;
        };
        self.stored.version = 1;
        let text = serde_json::to_vec_pretty(&self.stored).expect("the memory serializes");
        match write_atomically_unsynced(path, &text, 0o600) {
            Ok(()) => self.write_failed = false,
            Err(error) if !self.write_failed => {
                self.write_failed = true;
                tracing::warn!(
                    "cannot write {} (what notifications remember: dedupe, rooms): {error}; messages may be sent again",
                    path.display()
                );
            }
            Err(_) => {}
        }
    }
}

/// `duration` in whole milliseconds (the largest `i64` past it).
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The stored memory at `path`; a missing file is an empty memory, an
/// unreadable one too (said once).
fn read(path: &Path) -> Stored {
    let bytes = match read_regular_file(path, SMALL_FILE_CAP) {
        Ok(bytes) => bytes,
        Err(crate::error::FileError::Io(error)) if error.kind() == std::io::ErrorKind::NotFound => {
            return Stored::default();
        }
        Err(error) => {
            tracing::warn!("cannot read {}: {error}; starting afresh", path.display());
            return Stored::default();
        }
    };
    serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        tracing::warn!(
            "{} is not what groupsync writes there; starting afresh",
            path.display()
        );
        Stored::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_fingerprints_are_remembered_for_the_window_and_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = memory_path(&dir.path().join("state.json"));
        assert!(path.ends_with("state.json.notify"));
        let hour = Duration::from_secs(3600);
        let mut memory = Memory::open(Some(path.clone()));
        assert!(!memory.recently_sent("t", "f1", hour, 1_000));
        memory.record_sent("t", "f1", hour, 1_000);
        memory.set_room("Compliance", "abc");
        let again = Memory::open(Some(path.clone()));
        assert!(again.recently_sent("t", "f1", hour, 1_000 + 3_599_999));
        assert!(!again.recently_sent("t", "f1", hour, 1_000 + 3_600_000));
        assert!(!again.recently_sent("other", "f1", hour, 1_000));
        assert_eq!(again.room("Compliance").as_deref(), Some("abc"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn an_unreadable_memory_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json.notify");
        std::fs::write(&path, "not json").unwrap();
        let memory = Memory::open(Some(path));
        assert_eq!(memory.failing(), None);
    }
}
