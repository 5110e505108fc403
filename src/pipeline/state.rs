//! The state file: the stored snapshot of the pod, locked and written atomically.
//!
//! The file is JSON (`{"version": 1, "groups": {"<id>": {"pod": ..., "read_at_ms": ...,
//! "written_at_ms": ...}}}`), sorted by group id. A process holds an exclusive
//! lock on a sidecar `<file>.lock` for as long as it uses the state file: the
//! lock cannot sit on the state file itself, because every save renames a new
//! file (a new inode) over it. A state file that cannot be read is never
//! replaced.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::model::UserGroupResponse;

/// The only format version this groupsync reads and writes.
const FORMAT_VERSION: u64 = 1;
const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;
/// Appended to every "cannot read it" message.
const REPAIR_HINT: &str =
    "it is left untouched: repair it, or move it aside to start from an empty snapshot";

/// What groupsync last knew of each group on the pod, by group id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    groups: BTreeMap<String, SnapshotEntry>,
}

/// The pod's last known `UserGroupResponse` for one group, and when it was read or written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotEntry {
    pub pod: UserGroupResponse,
    /// Milliseconds since the Unix epoch.
    #[serde(default)]
    pub read_at_ms: Option<i64>,
    /// Milliseconds since the Unix epoch.
    #[serde(default)]
    pub written_at_ms: Option<i64>,
}

/// The whole file as written.
#[derive(Serialize)]
struct DocumentOut<'a> {
    version: u64,
    groups: &'a BTreeMap<String, SnapshotEntry>,
}

/// The whole file as read, once its version is known to be ours.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentIn {
    /// Checked beforehand by `VersionOnly`.
    #[serde(rename = "version")]
    _version: serde::de::IgnoredAny,
    groups: BTreeMap<String, SnapshotEntry>,
}

/// Just the version, read first so that a newer format is reported as such
/// rather than as whatever its first unfamiliar field happens to be.
#[derive(Deserialize)]
struct VersionOnly {
    version: Option<serde_json::Value>,
}

impl Snapshot {
    /// The pod's last known state of group `id`.
    pub fn get(&self, id: &str) -> Option<&UserGroupResponse> {
        self.groups.get(id).map(|entry| &entry.pod)
    }

    pub fn entry(&self, id: &str) -> Option<&SnapshotEntry> {
        self.groups.get(id)
    }

    /// Records what the pod answered to a read of group `id` at `at_ms`.
    pub fn record_read(&mut self, id: &str, pod: UserGroupResponse, at_ms: i64) {
        let entry = self.entry_mut(id, pod);
        entry.read_at_ms = Some(at_ms);
    }

    /// Records what the pod holds after a successful write of group `id` at `at_ms`.
    pub fn record_write(&mut self, id: &str, pod: UserGroupResponse, at_ms: i64) {
        let entry = self.entry_mut(id, pod);
        entry.written_at_ms = Some(at_ms);
    }

    /// The entry of `id` holding `pod`, keeping its timestamps if it existed.
    fn entry_mut(&mut self, id: &str, pod: UserGroupResponse) -> &mut SnapshotEntry {
        let entry = self
            .groups
            .entry(id.to_string())
            .or_insert_with(|| SnapshotEntry {
                pod: UserGroupResponse::default(),
                read_at_ms: None,
                written_at_ms: None,
            });
        entry.pod = pod;
        entry
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Every entry, sorted by group id.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &SnapshotEntry)> {
        self.groups.iter()
    }

    /// Parses the state file's text; the error says what is wrong, not where the file is.
    pub fn from_json(text: &str) -> Result<Snapshot, String> {
        check_version(text)?;
        let document: DocumentIn = serde_json::from_str(text).map_err(invalid_json)?;
        Ok(Snapshot {
            groups: document.groups,
        })
    }

    /// The state file's contents: pretty JSON with a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let document = DocumentOut {
            version: FORMAT_VERSION,
            groups: &self.groups,
        };
        // Capacity guess: a pretty-printed entry is a few hundred bytes.
        let mut bytes = Vec::with_capacity(64 + self.groups.len() * 320);
        serde_json::to_writer_pretty(&mut bytes, &document).expect("a snapshot always serializes");
        bytes.push(b'\n');
        bytes
    }
}

/// Fails unless the document's `version` is the one this groupsync reads.
fn check_version(text: &str) -> Result<(), String> {
    let header: VersionOnly = serde_json::from_str(text).map_err(invalid_json)?;
    match header.version {
        Some(serde_json::Value::Number(number)) if number.as_u64() == Some(FORMAT_VERSION) => {
            Ok(())
        }
        Some(other) => Err(format!(
            "format version {other}, but this groupsync reads only version {FORMAT_VERSION} (written by a newer groupsync?)"
        )),
        None => Err("no \"version\" field; this is not a groupsync state file".to_string()),
    }
}

fn invalid_json(error: serde_json::Error) -> String {
    format!("not valid state JSON ({error})")
}

/// An open state file: holds the exclusive lock for its whole life.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    /// Kept open only to hold the lock; closing it releases the lock.
    _lock: File,
    /// Set when `load` failed, so that `save` never replaces a file it could not read.
    load_failed: AtomicBool,
}

impl StateFile {
    /// Locks the state file at `path` (through `<path>.lock`), creating its
    /// directory if needed. Fails with `Error::StateLocked` if another process holds it.
    pub fn open(path: &Path) -> crate::Result<StateFile> {
        let state_error = |reason: String| Error::State {
            path: path.to_path_buf(),
            reason,
        };
        create_parent_dir(path)
            .map_err(|error| state_error(format!("cannot create its directory: {error}")))?;
        let lock_path = sibling_path(path, ".lock");
        let mut lock = open_lock_file(&lock_path).map_err(|error| {
            state_error(format!(
                "cannot open the lock file {}: {error}",
                lock_path.display()
            ))
        })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(Error::StateLocked {
                    path: path.to_path_buf(),
                    holder: lock_holder(&mut lock),
                });
            }
            Err(TryLockError::Error(error)) => {
                return Err(state_error(format!(
                    "cannot lock {}: {error}",
                    lock_path.display()
                )));
            }
        }
        // Only for the message another process shows; failing to write it is harmless.
        let _ = write_pid(&mut lock);
        remove_stale_temp_files(path);
        Ok(StateFile {
            path: path.to_path_buf(),
            _lock: lock,
            load_failed: AtomicBool::new(false),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the snapshot; a missing file is an empty snapshot. Never touches the file.
    pub fn load(&self) -> crate::Result<Snapshot> {
        let result = self.read_snapshot();
        if result.is_err() {
            self.load_failed.store(true, Ordering::SeqCst);
        }
        result
    }

    fn read_snapshot(&self) -> crate::Result<Snapshot> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Snapshot::default()),
            Err(error) => {
                return Err(self.error(format!("cannot read it ({error}); check its permissions")));
            }
        };
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| self.error(format!("not UTF-8 text; {}", REPAIR_HINT)))?;
        Snapshot::from_json(text).map_err(|reason| self.error(format!("{reason}; {}", REPAIR_HINT)))
    }

    /// Replaces the state file atomically: a temporary file in the same
    /// directory, written and fsynced, renamed over it, then the directory fsynced.
    pub fn save(&self, snapshot: &Snapshot) -> crate::Result<()> {
        if self.load_failed.load(Ordering::SeqCst) {
            return Err(self.error(
                "not saved: it could not be read earlier, and groupsync never replaces a state file it cannot read"
                    .to_string(),
            ));
        }
        self.replace_with(&snapshot.to_json()).map_err(|error| {
            self.error(format!(
                "cannot save it ({error}); the previous file is left as it was"
            ))
        })?;
        sync_dir(parent_dir(&self.path)).map_err(|error| {
            self.error(format!(
                "saved, but syncing its directory failed ({error}); a crash now could bring back the previous file"
            ))
        })
    }

    /// Writes `bytes` to a temporary file and renames it over the state file.
    fn replace_with(&self, bytes: &[u8]) -> io::Result<()> {
        let temp = TempFile::create(&self.path)?;
        // Explicitly, since the umask may have narrowed the mode given at creation.
        temp.file
            .set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
        (&temp.file).write_all(bytes)?;
        temp.file.sync_all()?;
        fs::rename(&temp.path, &self.path)?;
        temp.disarm();
        Ok(())
    }

    fn error(&self, reason: String) -> Error {
        Error::State {
            path: self.path.clone(),
            reason,
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// A temporary file next to the state file, removed on drop unless disarmed
/// (after the rename), so that no error leaves one behind.
struct TempFile {
    path: PathBuf,
    file: File,
    armed: bool,
}

impl TempFile {
    fn create(state_path: &Path) -> io::Result<TempFile> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        loop {
            let suffix = format!(
                ".tmp.{}.{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            let path = hidden_sibling_path(state_path, &suffix);
            let opened = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .open(&path);
            match opened {
                Ok(file) => {
                    return Ok(TempFile {
                        path,
                        file,
                        armed: true,
                    });
                }
                // A leftover from a crashed process with our pid: try the next name.
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(error) => return Err(error),
            }
        }
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

fn create_parent_dir(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(parent_dir(path))
}

/// `<path><suffix>`, e.g. `state.json.lock`.
fn sibling_path(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(OsString::from).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// `.<name><suffix>` in the same directory as `path`, e.g. `.state.json.tmp.42.0`.
fn hidden_sibling_path(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(suffix);
    parent_dir(path).join(name)
}

fn open_lock_file(lock_path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false) // another process may hold it; its pid must stay readable
        .mode(FILE_MODE)
        .open(lock_path)
}

fn write_pid(lock: &mut File) -> io::Result<()> {
    lock.set_len(0)?;
    lock.seek(SeekFrom::Start(0))?;
    writeln!(lock, "{}", std::process::id())
}

/// ` (pid N)` as the holder wrote it into the lock file, or nothing if unknown.
fn lock_holder(lock: &mut File) -> String {
    let mut text = String::new();
    let _ = lock.read_to_string(&mut text);
    match text.trim().parse::<u32>() {
        Ok(pid) => format!(" (pid {pid})"),
        Err(_) => String::new(),
    }
}

/// Removes temporary files a crashed save left behind. Called under the lock,
/// so none of them can belong to a save in progress.
fn remove_stale_temp_files(path: &Path) {
    let prefix = hidden_sibling_path(path, ".tmp.");
    let Some(prefix) = prefix.file_name().and_then(|name| name.to_str()) else {
        return;
    };
    let Ok(entries) = fs::read_dir(parent_dir(path)) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(prefix))
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str) -> UserGroupResponse {
        UserGroupResponse {
            id: Some("g1".to_string()),
            name: Some(name.to_string()),
            area: Some("EMEA".to_string()),
            active: Some(true),
            member_count: Some(3),
            ..UserGroupResponse::default()
        }
    }

    fn state_path(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("state.json")
    }

    fn dir_entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn record_read_and_write_keep_each_others_timestamps() {
        let mut snapshot = Snapshot::default();
        snapshot.record_read("g1", group("old"), 10);
        snapshot.record_write("g1", group("new"), 20);
        let entry = snapshot.entry("g1").unwrap();
        assert_eq!(entry.pod.name.as_deref(), Some("new"));
        assert_eq!(
            (entry.read_at_ms, entry.written_at_ms),
            (Some(10), Some(20))
        );
        assert_eq!(snapshot.get("g1"), Some(&group("new")));
        assert_eq!(snapshot.get("g2"), None);
        assert_eq!(snapshot.len(), 1);
    }

    #[test]
    fn round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateFile::open(&state_path(&dir)).unwrap();
        let mut snapshot = Snapshot::default();
        snapshot.record_read("b", group("B"), 1);
        snapshot.record_write("a", group("A"), 2);
        state.save(&snapshot).unwrap();
        assert_eq!(state.load().unwrap(), snapshot);
        let loaded = state.load().unwrap();
        let ids: Vec<&String> = loaded.iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn file_format_is_versioned_pretty_camel_case_json() {
        let mut snapshot = Snapshot::default();
        snapshot.record_read("g1", group("G"), 5);
        let text = String::from_utf8(snapshot.to_json()).unwrap();
        let expected = r#"{
  "version": 1,
  "groups": {
    "g1": {
      "pod": {
        "id": "g1",
        "name": "G",
        "area": "EMEA",
        "active": true,
        "memberCount": 3
      },
      "read_at_ms": 5,
      "written_at_ms": null
    }
  }
}
"#;
        assert_eq!(text, expected);
    }

    #[test]
    fn a_missing_file_is_an_empty_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateFile::open(&state_path(&dir)).unwrap();
        assert!(state.load().unwrap().is_empty());
        assert!(!state_path(&dir).exists());
    }

    #[test]
    fn open_creates_the_directory_and_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("var/lib/state.json");
        let _state = StateFile::open(&path).unwrap();
        let lock = dir.path().join("var/lib/state.json.lock");
        let mode = fs::metadata(&lock).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            fs::read_to_string(&lock).unwrap(),
            format!("{}\n", std::process::id())
        );
        let dir_mode = fs::metadata(dir.path().join("var/lib"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode & 0o077, 0, "{dir_mode:o}");
    }

    #[test]
    fn corrupt_json_is_an_error_naming_the_file_and_left_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(&dir);
        let corrupt: &[&[u8]] = &[
            b"{\"version\": 1, \"groups\": {",
            b"\xff\x00\xfe garbage",
            b"[]",
        ];
        for bytes in corrupt {
            fs::write(&path, bytes).unwrap();
            let state = StateFile::open(&path).unwrap();
            let error = state.load().unwrap_err();
            assert!(matches!(error, Error::State { .. }));
            let message = error.to_string();
            assert!(
                message.starts_with(&format!("state file {}: ", path.display())),
                "{message}"
            );
            assert!(message.contains("move it aside"), "{message}");
            assert_eq!(fs::read(&path).unwrap(), *bytes);
        }
    }

    #[test]
    fn other_versions_and_unknown_keys_are_errors() {
        let cases = [
            (
                r#"{"version": 2, "groups": {}}"#,
                "written by a newer groupsync?",
            ),
            (r#"{"version": "1", "groups": {}}"#, "format version \"1\""),
            (r#"{"groups": {}}"#, "no \"version\" field"),
            (
                r#"{"version": 1, "groups": {}, "extra": 1}"#,
                "unknown field `extra`",
            ),
            (r#"{"version": 1}"#, "missing field `groups`"),
            (
                r#"{"version": 1, "groups": {"g": {"pod": {}, "x": 1}}}"#,
                "unknown field `x`",
            ),
        ];
        for (text, expected) in cases {
            let error = Snapshot::from_json(text).unwrap_err();
            assert!(error.contains(expected), "for {text}: {error}");
        }
    }

    #[test]
    fn a_second_open_fails_while_the_first_is_alive() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(&dir);
        let first = StateFile::open(&path).unwrap();
        let error = StateFile::open(&path).unwrap_err();
        assert!(matches!(&error, Error::StateLocked { path: locked, .. } if *locked == path));
        let message = error.to_string();
        assert!(message.contains("locked by another groupsync"), "{message}");
        assert!(
            message.contains(&format!("(pid {})", std::process::id())),
            "{message}"
        );
        drop(first);
        StateFile::open(&path).unwrap();
    }

    #[test]
    fn the_saved_file_is_private_and_no_temp_file_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(&dir);
        fs::write(&path, "{\"version\": 1, \"groups\": {}}").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let state = StateFile::open(&path).unwrap();
        state.load().unwrap();
        state.save(&Snapshot::default()).unwrap();
        state.save(&Snapshot::default()).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(dir_entries(dir.path()), ["state.json", "state.json.lock"]);
    }

    #[test]
    fn a_failed_save_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(&dir);
        fs::create_dir(&path).unwrap(); // rename over a directory fails
        let state = StateFile::open(&path).unwrap();
        let error = state.save(&Snapshot::default()).unwrap_err();
        assert!(error.to_string().contains("cannot save it"), "{error}");
        assert_eq!(dir_entries(dir.path()), ["state.json", "state.json.lock"]);
    }

    #[test]
    fn open_removes_temp_files_left_by_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(&dir);
        fs::write(dir.path().join(".state.json.tmp.1.0"), "partial").unwrap();
        fs::write(dir.path().join("other.json"), "kept").unwrap();
        let _state = StateFile::open(&path).unwrap();
        assert_eq!(dir_entries(dir.path()), ["other.json", "state.json.lock"]);
    }

    #[test]
    fn save_after_a_failed_load_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(&dir);
        fs::write(&path, "not json").unwrap();
        let state = StateFile::open(&path).unwrap();
        state.load().unwrap_err();
        let error = state.save(&Snapshot::default()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("never replaces a state file it cannot read"),
            "{error}"
        );
        assert_eq!(fs::read(&path).unwrap(), b"not json");
    }

    #[test]
    fn a_large_snapshot_round_trips() {
        let mut snapshot = Snapshot::default();
        for index in 0..100_000 {
            snapshot.record_read(&format!("group-{index:06}"), group("G"), index);
        }
        let dir = tempfile::tempdir().unwrap();
        let state = StateFile::open(&state_path(&dir)).unwrap();
        state.save(&snapshot).unwrap();
        assert_eq!(state.load().unwrap().len(), 100_000);
    }

    #[test]
    fn now_is_after_2020() {
        assert!(now_ms() > 1_577_836_800_000);
    }
}
