//! The state file: where the [`Snapshot`] is kept, locked and written atomically.
//!
//! Reading needs no lock ([`read_unlocked`]): every save renames a complete
//! new file over the old one, so a reader sees one or the other, never half.
//! Only a cycle that writes takes the exclusive lock ([`StateFile::lock_within`]),
//! and only while it runs, on a sidecar `<file>.lock`: the lock cannot sit on
//! the state file itself, because every save replaces its inode. A state file
//! that cannot be read is never replaced.
//!
//! The file records the (normalized) URL of the pod it describes, so that a
//! snapshot of pod A is never taken for pod B ([`Snapshot::claim_for_pod`]).
//!
//! It is read only if it is a regular file, without blocking and never past
//! [`STATE_FILE_CAP`] ([`crate::config::files`]): a FIFO or a device in its
//! place fails the cycle at once, naming it, instead of hanging it.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::config::files::{STATE_FILE_CAP, open_regular_file, read_regular_file};
use crate::error::{Error, FileError, StateProblem};
use crate::shutdown::Shutdown;
use crate::store::snapshot::Snapshot;

const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;

/// Reads the snapshot at `path` without locking or creating anything (for
/// `plan`, `validate` and dry runs); a missing file is an empty snapshot.
pub fn read_unlocked(path: &Path) -> crate::Result<Snapshot> {
    read_snapshot_file(&resolved_state_path(path))
}

/// The state file's real path: a state file that is a symlink is written
/// through it, beside its target (with its lock and temporary files there
/// too), so the target stays current and two links to one file lock alike.
/// A link to a file not there yet resolves to where the file will be.
pub fn resolved_state_path(path: &Path) -> PathBuf {
    let mut current = path.to_path_buf();
    // As many hops as the kernel allows before ELOOP.
    for _ in 0..40 {
        let is_link =
            fs::symlink_metadata(&current).is_ok_and(|metadata| metadata.file_type().is_symlink());
        if !is_link {
            return current;
        }
        match fs::read_link(&current) {
            Ok(target) => current = parent_dir(&current).join(target),
            Err(_) => return current,
        }
    }
    current
}

fn read_snapshot_file(path: &Path) -> crate::Result<Snapshot> {
    let error = |problem: StateProblem| Error::State {
        path: path.to_path_buf(),
        problem,
    };
    let file = match open_regular_file(path, STATE_FILE_CAP) {
        Ok((file, _)) => file,
        Err(failure) if failure.is_not_found() => return Ok(Snapshot::default()),
        Err(failure) => return Err(error(not_opened(failure))),
    };
    // Streamed: a large snapshot never sits in memory twice, as text and as
    // values. Unbuffered: the streamed reader reads a window at a time itself.
    match Snapshot::from_reader(file.take(STATE_FILE_CAP)) {
        Ok(snapshot) => Ok(snapshot),
        // Read again, whole, only to say exactly what is wrong with it.
        Err(_) => Err(error(explain_unreadable(path))),
    }
}

/// Why the state file could not be opened (it is there: a missing file is
/// an empty snapshot).
fn not_opened(failure: FileError) -> StateProblem {
    match failure {
        FileError::NotRegular {
            kind: "a directory",
        } => StateProblem::IsADirectory,
        FileError::Io(failure) => StateProblem::Unreadable(failure),
        refused => StateProblem::NotRead(refused),
    }
}

/// What is wrong with a state file that did not parse: not UTF-8, another
/// format version, or the JSON error itself.
fn explain_unreadable(path: &Path) -> StateProblem {
    let bytes = match read_regular_file(path, STATE_FILE_CAP) {
        Ok(bytes) => bytes,
        Err(failure) => return not_opened(failure),
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return StateProblem::NotUtf8;
    };
    match Snapshot::from_json(text) {
        Err(problem) => StateProblem::Format(problem),
        // It parses now: it changed between the two reads.
        Ok(_) => StateProblem::Format(crate::error::FormatError::Changed),
    }
}

/// How often a writer waiting for the lock tries again.
const LOCK_POLL: Duration = Duration::from_millis(100);

/// A state file opened for writing: holds the exclusive lock until dropped.
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
        let path = &resolved_state_path(path);
        let state_error = |problem: StateProblem| Error::State {
            path: path.to_path_buf(),
            problem,
        };
        create_parent_dir(path)
            .map_err(|error| state_error(StateProblem::CannotCreateDir(error)))?;
        let lock_path = sibling_path(path, ".lock");
        let mut lock = open_lock_file(&lock_path).map_err(|source| {
            state_error(StateProblem::CannotOpenLock {
                lock: lock_path.clone(),
                source,
            })
        })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(Error::StateLocked {
                    path: path.to_path_buf(),
                    holder: lock_holder(&mut lock),
                    waited: None,
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(state_error(StateProblem::CannotLock {
                    lock: lock_path,
                    source,
                }));
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

    /// [`StateFile::open`], waiting up to `timeout` for another process's
    /// writing cycle to release the lock; a stop request ends the wait.
    /// Fails naming the holder's pid when the lock stays taken.
    pub async fn lock_within(
        path: &Path,
        timeout: Duration,
        stop: &Shutdown,
    ) -> crate::Result<StateFile> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match StateFile::open(path) {
                Err(Error::StateLocked { path, holder, .. })
                    if tokio::time::Instant::now() < deadline && !stop.is_requested() =>
                {
                    tracing::debug!(path = %path.display(), "state file locked{holder}; waiting");
                    tokio::time::sleep(LOCK_POLL).await;
                }
                Err(Error::StateLocked { path, holder, .. }) => {
                    return Err(Error::StateLocked {
                        path,
                        holder,
                        waited: Some(timeout),
                    });
                }
                other => return other,
            }
        }
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
        read_snapshot_file(&self.path)
    }

    /// Replaces the state file atomically: a temporary file in the same
    /// directory, written and fsynced, renamed over it, then the directory fsynced.
    pub fn save(&self, snapshot: &Snapshot) -> crate::Result<()> {
        if self.load_failed.load(Ordering::SeqCst) {
            return Err(self.error(StateProblem::NotReadEarlier));
        }
        self.replace_with(&snapshot.to_json())
            .map_err(|error| self.error(StateProblem::CannotSave(error)))?;
        sync_dir(parent_dir(&self.path))
            .map_err(|error| self.error(StateProblem::DirectoryNotSynced(error)))
    }

    /// Writes `bytes` to a temporary file and renames it over the state file.
    fn replace_with(&self, bytes: &[u8]) -> io::Result<()> {
        write_atomically(&self.path, bytes, FILE_MODE)
    }

    fn error(&self, problem: StateProblem) -> Error {
        Error::State {
            path: self.path.clone(),
            problem,
        }
    }
}

/// (after the rename), so that no error leaves one behind.
struct TempFile {
    path: PathBuf,
    file: File,
    armed: bool,
}

/// Writes `bytes` to `path` whole or not at all, with file mode `mode`: a
/// new hidden file beside it (never one already there, never through a
/// link), synced, then renamed over it. Every file groupsync writes beside
/// the state file goes through here.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    replace_file(path, bytes, mode, true)
}

/// [`write_atomically`] without the fsync: for a file whose last write a
/// crash may lose (the notifications' memory), never worth waiting on a disk for.
pub fn write_atomically_unsynced(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    replace_file(path, bytes, mode, false)
}

fn replace_file(path: &Path, bytes: &[u8], mode: u32, synced: bool) -> io::Result<()> {
    let temp = TempFile::create(path, mode)?;
    // Explicitly, since the umask may have narrowed the mode given at creation.
    temp.file
        .set_permissions(fs::Permissions::from_mode(mode))?;
    (&temp.file).write_all(bytes)?;
    if synced {
        temp.file.sync_all()?;
    }
    fs::rename(&temp.path, path)?;
    temp.disarm();
    Ok(())
}

impl TempFile {
    fn create(state_path: &Path, mode: u32) -> io::Result<TempFile> {
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
                .mode(mode)
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

/// Opens (or creates) the lock file, never through a symlink: a link placed
/// at `state.json.lock` must not get its target locked and overwritten.
fn open_lock_file(lock_path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false) // another process may hold it; its pid must stay readable
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
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
    use crate::model::UserGroupResponse;
    fn group(name: &str) -> UserGroupResponse {
        UserGroupResponse {
            id: Some("g1".into()),
            name: Some(name.into()),
            area: Some("EMEA".into()),
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
    fn a_state_file_that_is_a_symlink_is_written_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("volume/state.json");
        fs::create_dir_all(real.parent().unwrap()).unwrap();
        let link = state_path(&dir);
        std::os::unix::fs::symlink("volume/state.json", &link).unwrap();
        let mut snapshot = Snapshot::default();
        snapshot.record_read("g1", group("G"), 1);
        {
            let state = StateFile::open(&link).unwrap();
            state.save(&snapshot).unwrap();
            // Locked beside the real file: a second path to it is locked too.
            assert!(matches!(
                StateFile::open(&real),
                Err(Error::StateLocked { .. })
            ));
        }
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(read_unlocked(&real).unwrap(), snapshot);
        assert_eq!(read_unlocked(&link).unwrap(), snapshot);
        assert!(real.with_file_name("state.json.lock").exists());
    }

    #[test]
    fn a_symlink_at_the_lock_path_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let precious = dir.path().join("precious.txt");
        fs::write(&precious, "keep me").unwrap();
        std::os::unix::fs::symlink(&precious, dir.path().join("state.json.lock")).unwrap();
        let error = StateFile::open(&state_path(&dir)).unwrap_err();
        assert!(
            error.to_string().contains("cannot open the lock file"),
            "{error}"
        );
        assert_eq!(fs::read_to_string(&precious).unwrap(), "keep me");
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
        let ids: Vec<&str> = loaded.iter().map(|(id, _)| id).collect();
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
            (
                r#"{"version": "1", "groups": {}}"#,
                "\"version\" must be the whole number 1, not a string",
            ),
            (
                r#"{"version": 1.5, "groups": {}}"#,
                "not a negative or fractional",
            ),
            (
                r#"{"version": 0, "groups": {}}"#,
                "format version 0, but groupsync writes",
            ),
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
            assert!(error.to_string().contains(expected), "for {text}: {error}");
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
    fn the_pod_url_round_trips_and_old_files_have_none() {
        let mut snapshot = Snapshot::default();
        snapshot.claim_for_pod("https://acme.example/pod").unwrap();
        let text = String::from_utf8(snapshot.to_json()).unwrap();
        assert!(
            text.contains("\"pod_url\": \"https://acme.example/pod\""),
            "{text}"
        );
        assert_eq!(Snapshot::from_json(&text).unwrap(), snapshot);
        let old = Snapshot::from_json(r#"{"version": 1, "groups": {}}"#).unwrap();
        assert_eq!(old.pod_url(), None);
    }

    #[test]
    fn reading_unlocked_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("var/state.json");
        assert!(read_unlocked(&path).unwrap().is_empty());
        assert!(dir_entries(dir.path()).is_empty());
        let path = state_path(&dir);
        let mut snapshot = Snapshot::default();
        snapshot.record_read("g1", group("G"), 1);
        StateFile::open(&path).unwrap().save(&snapshot).unwrap();
        // Readable while another process holds the lock.
        let _held = StateFile::open(&path).unwrap();
        assert_eq!(read_unlocked(&path).unwrap(), snapshot);
    }

    #[test]
    fn a_fifo_or_a_device_as_state_file_fails_at_once_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = state_path(&dir);
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        for path in [fifo.as_path(), Path::new("/dev/zero")] {
            let message = read_unlocked(path).unwrap_err().to_string();
            assert!(
                message.starts_with(&format!("state file {}: it is a ", path.display()))
                    && message.contains(", not a regular file"),
                "{message}"
            );
        }
        let state = StateFile::open(&fifo).unwrap();
        assert!(state.load().is_err());
    }

    #[test]
    fn a_directory_as_state_file_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let message = read_unlocked(dir.path()).unwrap_err().to_string();
        assert!(message.contains("is a directory"), "{message}");
        assert!(!message.contains("permissions"), "{message}");
    }

    #[tokio::test]
    async fn a_writer_waits_for_the_lock_then_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(&dir);
        let held = StateFile::open(&path).unwrap();
        let error = StateFile::lock_within(&path, Duration::from_millis(300), &Shutdown::never())
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains(&format!("(pid {})", std::process::id())),
            "{message}"
        );
        assert!(message.contains("still after waiting"), "{message}");
        drop(held);
        StateFile::lock_within(&path, Duration::from_millis(300), &Shutdown::never())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_writer_gets_the_lock_once_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(&dir);
        let held = StateFile::open(&path).unwrap();
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            drop(held);
        });
        // A hang guard, not a speed check: the lock frees long before 60 s.
        StateFile::lock_within(&path, Duration::from_secs(60), &Shutdown::never())
            .await
            .unwrap();
        release.await.unwrap();
    }

    #[tokio::test]
    async fn a_stop_ends_the_wait_for_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(&dir);
        let _held = StateFile::open(&path).unwrap();
        let (trigger, stop) = crate::shutdown::channel();
        trigger.trigger();
        let error = StateFile::lock_within(&path, Duration::from_secs(3600), &stop)
            .await
            .unwrap_err();
        assert!(matches!(error, Error::StateLocked { .. }), "{error}");
    }
}
