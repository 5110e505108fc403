//! The files the settings name, read safely: the config file, the SDK
//! config, the session token, the bot's private key, the CA bundle, the
//! state file, and the groups files.
//!
//! Each is read only if it is a **regular file** (links followed): a FIFO
//! put in its place would block the read in the kernel, where neither a
//! timeout nor SIGTERM can reach it, and a device (`/dev/zero`) would never
//! end. The type is checked before the file is opened, and again on the open
//! file, which is opened with `O_NONBLOCK` so that even a FIFO swapped in
//! between cannot block; and no more than a cap is read, so a file growing
//! while read cannot exhaust memory. `check_file_setting` does the same
//! check without reading, so that `validate` and start-up refuse such a file
//! at once.
//!
//! And [`real_path`]: where a path leads, every link on it followed, even
//! one whose target does not exist yet.

use std::fs::{self, File, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use crate::error::{ConfigError, FileError};

/// The most read of a small file: a session token, a private key, a CA
/// bundle, an SDK `config.yaml` or groupsync's own config file. 1 MiB is far
/// more than any of them holds (a bundle of every public CA is about 250 KiB).
pub const SMALL_FILE_CAP: u64 = 1024 * 1024;

/// The most read of the state file: 512 MiB, beyond any snapshot (100,000
/// groups with their lists take some tens of MiB).
pub const STATE_FILE_CAP: u64 = 512 * 1024 * 1024;

/// Reads the regular file at `path` (links followed), at most `cap` bytes;
/// refuses a FIFO, a device, a socket or a directory without blocking on it,
/// and a file larger than `cap`.
pub fn read_regular_file(path: &Path, cap: u64) -> Result<Vec<u8>, FileError> {
    let (file, size) = open_regular_file(path, cap)?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or_default());
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(FileError::Io)?;
    if bytes.len() as u64 > cap {
        // It grew while being read.
        return Err(FileError::TooLarge {
            limit: cap,
            size: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

/// The regular file at `path`, opened for reading without blocking on a
/// FIFO, and its size (no more than `cap`); read it no further than `cap`.
pub fn open_regular_file(path: &Path, cap: u64) -> Result<(File, u64), FileError> {
    // Checked before opening: opening some devices does something already.
    check_regular(&fs::metadata(path).map_err(FileError::Io)?, cap)?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(FileError::Io)?;
    // What was opened may not be what was looked at a moment ago.
    let size = check_regular(&file.metadata().map_err(FileError::Io)?, cap)?;
    Ok((file, size))
}

/// [`read_regular_file`] as UTF-8 text; text that is not UTF-8 is an
/// [`std::io::ErrorKind::InvalidData`] error, as `fs::read_to_string` gives.
pub fn read_regular_text(path: &Path, cap: u64) -> Result<String, FileError> {
    let bytes = read_regular_file(path, cap)?;
    String::from_utf8(bytes).map_err(|_| {
        FileError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })
}

/// The size of the file `metadata` describes, if it is a regular file no larger than `cap`.
fn check_regular(metadata: &Metadata, cap: u64) -> Result<u64, FileError> {
    if !metadata.is_file() {
        return Err(FileError::NotRegular {
            kind: kind_of(metadata),
        });
    }
    if metadata.len() > cap {
        return Err(FileError::TooLarge {
            limit: cap,
            size: metadata.len(),
        });
    }
    Ok(metadata.len())
}

/// What a file that is not a regular file is, for messages.
fn kind_of(metadata: &Metadata) -> &'static str {
    let file_type = metadata.file_type();
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "something else"
    }
}

/// Refuses the file a setting names when something is there (links
/// followed) that is not a regular file, or is larger than `cap`; a file
/// that is missing or cannot be looked at is left to whoever reads it,
/// which says so. `what` names the file in the message (`the CA file`),
/// `setting` where it is set.
pub(super) fn check_file_setting(
    path: &Path,
    cap: u64,
    what: &'static str,
    setting: &str,
) -> Result<(), ConfigError> {
    let Ok(metadata) = fs::metadata(path) else {
        return Ok(());
    };
    check_regular(&metadata, cap)
        .map(|_| ())
        .map_err(|source| ConfigError::FileSetting {
            what,
            setting: setting.to_string(),
            path: path.to_path_buf(),
            source,
        })
}

/// The most links followed on one path, as the kernel allows before `ELOOP`.
const MAX_LINK_HOPS: usize = 40;

/// `path` made absolute with every link on it followed, as the kernel
/// would follow them to create the file: a link whose target does not exist
/// (yet) resolves to where its target would be, so a dangling link to
/// `groups.d/state.json` leads into `groups.d`. A loop stops after
/// `MAX_LINK_HOPS` links.
pub fn real_path(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut pending: Vec<PathBuf> = components_reversed(&absolute);
    let mut real = PathBuf::new();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part.components().next() {
            Some(Component::Prefix(_) | Component::RootDir) => real.push(&part),
            Some(Component::ParentDir) => {
                // `real` holds no link, so `..` is simply its parent.
                real.pop();
            }
            Some(Component::Normal(name)) => {
                let next = real.join(name);
                match fs::read_link(&next) {
                    Ok(target) if hops < MAX_LINK_HOPS => {
                        hops += 1;
                        if target.is_absolute() {
                            real = PathBuf::new();
                        }
                        pending.extend(components_reversed(&target));
                    }
                    _ => real = next,
                }
            }
            Some(Component::CurDir) | None => {}
        }
    }
    real
}

/// The components of `path`, each as a path of its own, last first (a stack to pop).
fn components_reversed(path: &Path) -> Vec<PathBuf> {
    let mut parts: Vec<PathBuf> = path
        .components()
        .map(|component| PathBuf::from(component.as_os_str()))
        .collect();
    parts.reverse();
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fifo(path: &Path) {
        let made = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .expect("run mkfifo");
        assert!(made.success());
    }

    #[test]
    fn a_fifo_a_device_and_a_directory_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let pipe = dir.path().join("pipe");
        fifo(&pipe);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&pipe, &link).unwrap();
        for (path, kind) in [
            (pipe.as_path(), "a FIFO (named pipe)"),
            (link.as_path(), "a FIFO (named pipe)"),
            (Path::new("/dev/zero"), "a character device"),
            (dir.path(), "a directory"),
        ] {
            let error = read_regular_file(path, SMALL_FILE_CAP).unwrap_err();
            assert!(
                matches!(error, FileError::NotRegular { kind: found } if found == kind),
                "{}: {error}",
                path.display()
            );
            assert!(error.to_string().contains("not a regular file"), "{error}");
        }
    }

    #[test]
    fn a_file_over_its_cap_is_refused_and_one_at_it_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, vec![b'x'; 10]).unwrap();
        assert_eq!(read_regular_file(&path, 10).unwrap().len(), 10);
        let error = read_regular_file(&path, 9).unwrap_err();
        assert!(
            matches!(error, FileError::TooLarge { limit: 9, size: 10 }),
            "{error}"
        );
        let sparse = dir.path().join("sparse");
        let file = std::fs::File::create(&sparse).unwrap();
        file.set_len(SMALL_FILE_CAP + 1).unwrap();
        let message = read_regular_file(&sparse, SMALL_FILE_CAP)
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("it is larger than 1 MiB (1048577 bytes)"),
            "{message}"
        );
    }

    #[test]
    fn a_missing_file_is_not_found_and_text_must_be_utf8() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            read_regular_file(&dir.path().join("none"), 1)
                .unwrap_err()
                .is_not_found()
        );
        let path = dir.path().join("latin1");
        std::fs::write(&path, b"caf\xe9").unwrap();
        let error = read_regular_text(&path, SMALL_FILE_CAP).unwrap_err();
        assert!(
            matches!(&error, FileError::Io(io) if io.kind() == std::io::ErrorKind::InvalidData),
            "{error}"
        );
    }

    #[test]
    fn real_paths_follow_links_even_to_targets_not_there_yet() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(root.join("groups.d")).unwrap();
        std::os::unix::fs::symlink("groups.d/state.json", root.join("dangling")).unwrap();
        assert_eq!(
            real_path(&root.join("dangling")),
            root.join("groups.d/state.json")
        );
        // A link to a link to a folder, then a path below it that does not exist.
        std::os::unix::fs::symlink(root.join("groups.d"), root.join("one")).unwrap();
        std::os::unix::fs::symlink("one", root.join("two")).unwrap();
        assert_eq!(
            real_path(&root.join("two/.state/x.json")),
            root.join("groups.d/.state/x.json")
        );
        assert_eq!(
            real_path(&root.join("groups.d/../s.json")),
            root.join("s.json")
        );
        // A loop ends.
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert_eq!(real_path(&root.join("loop")), root.join("loop"));
    }
}
