//! The journal: an append-only JSON Lines file with one record per write to
//! the pod, each line chained to the one before it by its SHA-256, so that
//! a line edited, removed or moved afterwards is found ([`verify`]).
//!
//! - [`record`]  — a line: [`JournalEntry`] (the write) sealed into a [`JournalRecord`].
//! - `files`     — the chain's files (rotated ones, then the live one) and bounded reading.
//! - [`verify()`] — walks the whole chain and names the first altered line (`verify.rs`).
//! - [`history()`] — the records, filtered by group and age (`history.rs`).
//!
//! Writing ([`Journal`]): [`Journal::open`] locks the journal (a sidecar
//! `<journal>.lock`, as the state file does), refuses a symlink, a directory
//! or any other non-regular file, creates the file with mode 0600, and reads
//! its last line to continue the chain. A **partial last line** (no line
//! end: a write cut short by a crash) is set aside into
//! `<journal>.partial` with a warning, its bytes kept, and the chain goes
//! on past it; a last record whose only loss is its line end is completed.
//! [`Journal::append`] writes one line (no fsync); [`Journal::sync`] fsyncs,
//! once per cycle. When a line would take the file past its `max_size`,
//! the file is renamed `<journal>.N` (the next free number: `.1` is the
//! oldest) and a new one starts, its first record chained to the last line
//! of the old one. Rotated files are never removed.
//!
//! Open the journal before the first write of a cycle: a journal that
//! cannot be opened fails the cycle before any write is sent.

mod files;
mod history;
pub mod record;
mod verify;

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use self::history::{HISTORY_CAP, History, history};
pub use self::record::{
    GENESIS, JournalEntry, JournalRecord, JournalRequest, MAX_LINE, WriteKind, host_name, now,
};
pub use self::verify::{Finding, FindingKind, VerifyReport, verify};
pub use crate::error::JournalError;

use self::files::{check_regular, parent_dir, read_tail, refused_or, rotated_files, sibling};
use self::record::{Unsealed, seal, sha256_hex, unseal};

const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;

/// The end of the chain: the last record's `seq` and the SHA-256 of its
/// line (the next record's `prev`). Worth keeping elsewhere (a log line,
/// the state file): a chain rewritten from some line to its end verifies,
/// but no longer reaches a head recorded before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

/// A partial last line that [`Journal::open`] set aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    /// How many bytes it held.
    pub bytes: usize,
    /// Where they were appended (`<journal>.partial`), followed by a line end.
    pub sidecar: PathBuf,
}

/// The journal, open for appending; holds its lock until dropped.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Kept open only to hold the lock.
    _lock: File,
    max_size: u64,
    /// The live file's length.
    size: u64,
    head: Head,
    set_aside: Option<SetAside>,
    /// Lines written since the last fsync.
    unsynced: bool,
    /// A write failed part-way: the file may end in part of a line.
    broken: bool,
}

impl Journal {
    /// Opens (creating it, mode 0600) the journal at `path` for appending,
    /// locked, its chain continued from its last line (or the last line of
    /// the newest rotated file, or [`GENESIS`]). Fails fast: locked by
    /// another process, a symlink, not a regular file, not writable, or a
    /// last line that is no record.
    pub fn open(path: &Path, max_size: u64) -> Result<Journal, JournalError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(parent_dir(path))
            .map_err(|source| JournalError::io(path, "create the folder of", source))?;
        let lock = lock(path)?;
        let existed = fs::symlink_metadata(path).is_ok();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(FILE_MODE)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map_err(|source| refused_or(path, "open", source))?;
        check_regular(path, &file)?;
        // Explicitly: the umask may have narrowed it, and an old file may be wider.
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))
            .map_err(|source| JournalError::io(path, "set the mode of", source))?;
        if !existed {
            sync_dir(parent_dir(path)).map_err(|source| JournalError::io(path, "sync", source))?;
        }
        let (head, set_aside) = continue_chain(path, &mut file)?;
        let size = file
            .seek(SeekFrom::End(0))
            .map_err(|source| JournalError::io(path, "read", source))?;
        Ok(Journal {
            path: path.to_path_buf(),
            file,
            _lock: lock,
            max_size,
            size,
            head,
            set_aside,
            unsynced: false,
            broken: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last record of the chain (`seq` 0 and [`GENESIS`] for an empty one).
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The partial last line `open` set aside, if it found one.
    pub fn set_aside(&self) -> Option<&SetAside> {
        self.set_aside.as_ref()
    }

    /// Appends the record of `entry`, chained to the last one; rotates the
    /// file first when the line would take it past `max_size`. No fsync:
    /// [`Journal::sync`] at the end of the cycle. Returns the record written.
    pub fn append(&mut self, entry: &JournalEntry) -> Result<JournalRecord, JournalError> {
        if self.broken {
            return Err(JournalError::Broken {
                path: self.path.clone(),
            });
        }
        let (mut line, record) = seal(self.head.seq + 1, entry, &self.head.hash);
        if line.len() > MAX_LINE {
            return Err(JournalError::RecordTooLarge {
                path: self.path.clone(),
                size: line.len(),
            });
        }
        let line_hash = sha256_hex(&line);
        line.push(b'\n');
        if self.size > 0 && self.size + line.len() as u64 > self.max_size {
            self.rotate()?;
        }
        if let Err(source) = self.file.write_all(&line) {
            self.broken = true;
            return Err(JournalError::io(&self.path, "append to", source));
        }
        self.size += line.len() as u64;
        self.unsynced = true;
        self.head = Head {
            seq: record.seq,
            hash: line_hash,
        };
        Ok(record)
    }

    /// Makes every line appended so far durable (fsync).
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.file
            .sync_data()
            .map_err(|source| JournalError::io(&self.path, "sync", source))?;
        self.unsynced = false;
        Ok(())
    }

    /// Renames the live file `<journal>.N` and starts a new one.
    fn rotate(&mut self) -> Result<(), JournalError> {
        let path = self.path.clone();
        let io = |action: &'static str| {
            let path = path.clone();
            move |source| JournalError::io(&path, action, source)
        };
        self.file.sync_all().map_err(io("sync"))?;
        let number = rotated_files(&self.path)?
            .last()
            .map_or(1, |(number, _)| number + 1);
        let rotated = sibling(&self.path, &format!(".{number}"));
        if fs::symlink_metadata(&rotated).is_ok() {
            return Err(JournalError::io(
                &self.path,
                "rotate",
                io::Error::new(io::ErrorKind::AlreadyExists, "the next rotated file exists"),
            ));
        }
        fs::rename(&self.path, &rotated).map_err(io("rotate"))?;
        // From here the old file is no longer the journal: appending to it would be wrong.
        self.broken = true;
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .mode(FILE_MODE)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.path)
            .map_err(io("start a new file after rotating"))?;
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))
            .map_err(io("set the mode of"))?;
        sync_dir(parent_dir(&self.path)).map_err(io("sync"))?;
        tracing::info!(
            journal = %self.path.display(),
            rotated = %rotated.display(),
            "journal rotated at {} bytes; the chain continues in a new file",
            self.size
        );
        self.file = file;
        self.size = 0;
        self.unsynced = false;
        self.broken = false;
        Ok(())
    }
}

impl Drop for Journal {
    /// A journal dropped without its last `sync` (an error path) is still made durable.
    fn drop(&mut self) {
        if self.unsynced {
            let _ = self.file.sync_data();
        }
    }
}

/// Takes the journal's lock (`<journal>.lock`, never through a symlink),
/// writing this process's id into it for the message another one shows.
fn lock(path: &Path) -> Result<File, JournalError> {
    let lock_path = sibling(path, ".lock");
    let mut lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&lock_path)
        .map_err(|source| JournalError::io(&lock_path, "open the lock file", source))?;
    match try_lock_briefly(&lock) {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = (&lock).take(32).read_to_string(&mut text);
            let holder = match text.trim().parse::<u32>() {
                Ok(pid) => format!(" (pid {pid})"),
                Err(_) => String::new(),
            };
            return Err(JournalError::Locked {
                path: path.to_path_buf(),
                holder,
            });
        }
        Err(TryLockError::Error(source)) => {
            return Err(JournalError::io(&lock_path, "lock", source));
        }
    }
    let _ = lock
        .set_len(0)
        .and_then(|()| lock.seek(SeekFrom::Start(0)))
        .and_then(|_| writeln!(lock, "{}", std::process::id()));
    Ok(lock)
}

/// How long [`lock`] retries a lock held elsewhere before saying so: a lock
/// can outlive its holder by the moment a child process another thread
/// forks shares the file, and a cycle ending just now lets go within it.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_millis(500);

/// `file.try_lock()`, again every 10 ms for up to [`LOCK_PATIENCE`].
fn try_lock_briefly(file: &File) -> Result<(), TryLockError> {
    let deadline = std::time::Instant::now() + LOCK_PATIENCE;
    loop {
        match file.try_lock() {
            Err(TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// The head of the chain the live `file` continues, after setting aside
/// (or completing) a partial last line.
fn continue_chain(path: &Path, file: &mut File) -> Result<(Head, Option<SetAside>), JournalError> {
    let read_error = |source| JournalError::io(path, "read", source);
    let tail = read_tail(file).map_err(read_error)?;
    let len = tail.complete_len + tail.partial.len() as u64;
    let before = match &tail.last_line {
        Some(line) => Some(head_of(path, line)?),
        None if tail.complete_len > 0 || (len > 0 && tail.partial.is_empty()) => {
            return Err(JournalError::BadTail {
                path: path.to_path_buf(),
                reason: format!("its last line is longer than {MAX_LINE} bytes"),
            });
        }
        None => None,
    };
    let before = match before {
        Some(head) => head,
        None => newest_rotated_head(path)?,
    };
    if tail.partial.is_empty() {
        return Ok((before, None));
    }
    // A whole record that lost only its line end: completed, not set aside.
    if let Unsealed::Intact(record) = unseal(&tail.partial)
        && record.seq == before.seq + 1
        && record.prev == before.hash
    {
        file.write_all(b"\n")
            .map_err(|source| JournalError::io(path, "complete", source))?;
        tracing::warn!(
            journal = %path.display(),
            "the journal's last record had no line end (a crash right after writing it); completed"
        );
        let head = Head {
            seq: record.seq,
            hash: sha256_hex(&tail.partial),
        };
        return Ok((head, None));
    }
    let set_aside = set_aside_partial(path, file, &tail.partial, tail.complete_len)?;
    tracing::warn!(
        journal = %path.display(),
        sidecar = %set_aside.sidecar.display(),
        "the journal ended in a partial line of {} bytes (a write cut short by a crash); set it \
         aside and continued the chain past it",
        set_aside.bytes
    );
    Ok((before, Some(set_aside)))
}

/// Appends `partial` (and a line end) to `<journal>.partial`, durably, then
/// cuts it off the journal at `keep` bytes.
fn set_aside_partial(
    path: &Path,
    file: &mut File,
    partial: &[u8],
    keep: u64,
) -> Result<SetAside, JournalError> {
    let sidecar = sibling(path, ".partial");
    let io = |action: &'static str| move |source| JournalError::io(path, action, source);
    let mut aside = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&sidecar)
        .map_err(io("set aside the partial last line of"))?;
    aside
        .write_all(partial)
        .and_then(|()| aside.write_all(b"\n"))
        .and_then(|()| aside.sync_all())
        .map_err(io("set aside the partial last line of"))?;
    file.set_len(keep)
        .map_err(io("cut the partial last line off"))?;
    file.sync_all().map_err(io("sync"))?;
    Ok(SetAside {
        bytes: partial.len(),
        sidecar,
    })
}

/// The head a complete last line gives.
fn head_of(path: &Path, line: &[u8]) -> Result<Head, JournalError> {
    match unseal(line) {
        Unsealed::Intact(record) | Unsealed::Changed(record) => Ok(Head {
            seq: record.seq,
            hash: sha256_hex(line),
        }),
        Unsealed::NotARecord(reason) => Err(JournalError::BadTail {
            path: path.to_path_buf(),
            reason,
        }),
    }
}

/// The head of the newest rotated file, for a live file with no line yet;
/// the start of a chain when there is none.
fn newest_rotated_head(path: &Path) -> Result<Head, JournalError> {
    let Some((_, rotated)) = rotated_files(path)?.pop() else {
        return Ok(Head {
            seq: 0,
            hash: GENESIS.to_string(),
        });
    };
    let mut file = files::open_for_reading(&rotated)?;
    let tail = read_tail(&mut file).map_err(|source| JournalError::io(&rotated, "read", source))?;
    match tail.last_line {
        Some(line) => head_of(&rotated, &line),
        None => Err(JournalError::BadTail {
            path: rotated,
            reason: "it holds no whole line".to_string(),
        }),
    }
}

/// Makes a rename or a creation in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;
