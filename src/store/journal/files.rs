//! The files of a journal and how they are read: the rotated files
//! (`<journal>.1`, `.2`, ..., oldest first) then the live one; each opened
//! only if it is a regular file (never through a symlink, never blocking on
//! a FIFO), and read a line at a time, no line past [`MAX_LINE`].

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::JournalError;
use super::record::MAX_LINE;

/// The directory holding `path` (`.` for a bare file name).
pub(super) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// `<path><suffix>`, e.g. `journal.jsonl.lock`.
pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(OsString::from).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// The rotated files of the journal at `path`, oldest first, with their numbers.
pub(super) fn rotated_files(path: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
        return Ok(Vec::new());
    };
    let prefix = format!("{name}.");
    let entries = match fs::read_dir(parent_dir(path)) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(JournalError::io(path, "list the rotated files of", source)),
    };
    let mut rotated = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(number) = file_name
            .to_str()
            .and_then(|file_name| file_name.strip_prefix(&prefix))
            .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<u64>().ok())
        else {
            continue;
        };
        rotated.push((number, path.with_file_name(file_name)));
    }
    rotated.sort();
    Ok(rotated)
}

/// Every file of the chain, oldest first: the rotated ones, then the live
/// one if it exists.
pub(super) fn chain_files(path: &Path) -> Result<Vec<PathBuf>, JournalError> {
    let mut files: Vec<PathBuf> = rotated_files(path)?
        .into_iter()
        .map(|(_, file)| file)
        .collect();
    match fs::symlink_metadata(path) {
        Ok(_) => files.push(path.to_path_buf()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(JournalError::io(path, "look at", source)),
    }
    Ok(files)
}

/// Opens `path` for reading: a regular file only, never through a symlink,
/// without blocking on a FIFO.
pub(super) fn open_for_reading(path: &Path) -> Result<File, JournalError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|source| refused_or(path, "open", source))?;
    check_regular(path, &file)?;
    Ok(file)
}

/// The error of opening `path`: a symlink or a directory named as such, else the system's.
pub(super) fn refused_or(path: &Path, action: &'static str, source: io::Error) -> JournalError {
    match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_symlink() => JournalError::Symlink {
            path: path.to_path_buf(),
        },
        Ok(metadata) if !metadata.is_file() => JournalError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(&metadata.file_type()),
        },
        _ => JournalError::io(path, action, source),
    }
}

/// Refuses an open file that is not a regular file.
pub(super) fn check_regular(path: &Path, file: &File) -> Result<(), JournalError> {
    let metadata = file
        .metadata()
        .map_err(|source| JournalError::io(path, "look at", source))?;
    match metadata.is_file() {
        true => Ok(()),
        false => Err(JournalError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(&metadata.file_type()),
        }),
    }
}

fn kind_of(file_type: &fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// One line as read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line {
    /// A whole line, its line end left out.
    Whole(Vec<u8>),
    /// The file's last bytes, with no line end after them (cut short).
    Unterminated(Vec<u8>),
    /// A line longer than [`MAX_LINE`]; skipped to its end.
    TooLong,
}

/// Reads a file a line at a time, never holding more than [`MAX_LINE`] of one.
pub(super) struct Lines<R> {
    reader: BufReader<R>,
}

impl<R: Read> Lines<R> {
    pub(super) fn new(inner: R) -> Self {
        Lines {
            reader: BufReader::with_capacity(64 * 1024, inner),
        }
    }

    /// The next line, or `None` at the end of the file.
    pub(super) fn next_line(&mut self) -> io::Result<Option<Line>> {
        let mut line = Vec::new();
        let mut too_long = false;
        loop {
            let available = self.reader.fill_buf()?;
            if available.is_empty() {
                return Ok(match (line.is_empty(), too_long) {
                    (_, true) => Some(Line::TooLong),
                    (true, false) => None,
                    (false, false) => Some(Line::Unterminated(line)),
                });
            }
            let (chunk, ended) = match available.iter().position(|b| *b == b'\n') {
                Some(at) => (&available[..at], true),
                None => (available, false),
            };
            if !too_long && line.len() + chunk.len() <= MAX_LINE {
                line.extend_from_slice(chunk);
            } else {
                too_long = true;
                line = Vec::new();
            }
            let used = chunk.len() + usize::from(ended);
            self.reader.consume(used);
            if ended {
                return Ok(Some(match too_long {
                    true => Line::TooLong,
                    false => Line::Whole(line),
                }));
            }
        }
    }
}

/// The end of `file`: its last whole line (if there is one, and it is no
/// longer than [`MAX_LINE`]), where that line starts, and the bytes after
/// its line end (a partial line, or nothing). Reads at most about twice
/// [`MAX_LINE`] from the end.
pub(super) struct Tail {
    pub(super) last_line: Option<Vec<u8>>,
    /// Where the bytes after the last line end start: the length to keep.
    pub(super) complete_len: u64,
    pub(super) partial: Vec<u8>,
}

pub(super) fn read_tail(file: &mut File) -> io::Result<Tail> {
    let len = file.seek(SeekFrom::End(0))?;
    let window = (2 * MAX_LINE as u64 + 2).min(len);
    let start = len - window;
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::with_capacity(window as usize);
    file.by_ref().take(window).read_to_end(&mut bytes)?;
    let (complete, partial) = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(at) => (&bytes[..=at], bytes[at + 1..].to_vec()),
        None if start == 0 => (&bytes[..0], bytes.clone()),
        // No line end in the window: a "partial line" longer than any record.
        None => (&bytes[..0], Vec::new()),
    };
    let complete_len = start + complete.len() as u64;
    let body = complete.strip_suffix(b"\n").unwrap_or(complete);
    let last_line = match body.iter().rposition(|b| *b == b'\n') {
        Some(at) => Some(body[at + 1..].to_vec()),
        None if start == 0 && !complete.is_empty() => Some(body.to_vec()),
        None => None,
    };
    Ok(Tail {
        last_line: last_line.filter(|line| line.len() <= MAX_LINE),
        complete_len,
        partial,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(bytes: &[u8]) -> Vec<Line> {
        let mut lines = Lines::new(bytes);
        let mut all = Vec::new();
        while let Some(line) = lines.next_line().unwrap() {
            all.push(line);
        }
        all
    }

    #[test]
    fn lines_are_whole_cut_short_or_too_long() {
        let long = vec![b'x'; MAX_LINE + 1];
        let mut bytes = b"one\n\ntwo\n".to_vec();
        bytes.extend_from_slice(&long);
        bytes.extend_from_slice(b"\nthree");
        assert_eq!(
            lines_of(&bytes),
            [
                Line::Whole(b"one".to_vec()),
                Line::Whole(Vec::new()),
                Line::Whole(b"two".to_vec()),
                Line::TooLong,
                Line::Unterminated(b"three".to_vec()),
            ]
        );
        assert_eq!(lines_of(b""), []);
    }

    #[test]
    fn the_tail_is_the_last_line_and_what_follows_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        for (bytes, last, keep, partial) in [
            (&b"a\nbb\n"[..], Some(&b"bb"[..]), 5, &b""[..]),
            (b"a\nbb\ncc", Some(b"bb"), 5, b"cc"),
            (b"only", None, 0, b"only"),
            (b"", None, 0, b""),
            (b"one\n", Some(b"one"), 4, b""),
        ] {
            std::fs::write(&path, bytes).unwrap();
            let tail = read_tail(&mut File::open(&path).unwrap()).unwrap();
            assert_eq!(tail.last_line.as_deref(), last, "{bytes:?}");
            assert_eq!(tail.complete_len, keep, "{bytes:?}");
            assert_eq!(tail.partial, partial, "{bytes:?}");
        }
    }

    #[test]
    fn rotated_files_are_numbered_siblings_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        for name in [
            "j.jsonl.10",
            "j.jsonl.2",
            "j.jsonl.partial",
            "j.jsonl.lock",
            "j.jsonl.x1",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let numbers: Vec<u64> = rotated_files(&path)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(numbers, [2, 10]);
        std::fs::write(&path, "").unwrap();
        let files = chain_files(&path).unwrap();
        assert_eq!(files.last().unwrap(), &path);
        assert_eq!(files.len(), 3);
    }
}
