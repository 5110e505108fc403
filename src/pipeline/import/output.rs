//! Where an import writes: stdout, or new files, each written atomically
//! and never over an existing one. An import too large for one file is
//! split into numbered files beside the one named (`imported-001.yaml`,
//! `imported-002.yaml`, ...); stdout takes only what fits in one.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::desired::MAX_FILE_BYTES;
use crate::error::{Error, Result};

use super::render::{File, shown_size};

/// The file name `--out DIR/` writes in DIR.
pub const DEFAULT_FILE_NAME: &str = "imported.yaml";

/// Where an import writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// The YAML on stdout: one file's worth at most.
    Stdout,
    /// A new file; when the import needs several, `STEM-001.EXT`, ... beside it instead.
    File(PathBuf),
}

impl Destination {
    /// `--out`: none is stdout; a path ending in `/`, or naming a
    /// directory, means `imported.yaml` in it.
    pub fn from_out(out: Option<&Path>) -> Destination {
        let Some(out) = out else {
            return Destination::Stdout;
        };
        let names_dir = out.as_os_str().as_encoded_bytes().ends_with(b"/") || out.is_dir();
        if names_dir {
            Destination::File(out.join(DEFAULT_FILE_NAME))
        } else {
            Destination::File(out.to_path_buf())
        }
    }

    /// Fails, naming the path, unless the import could write there: the
    /// directory exists, and neither the file nor a numbered file beside it does.
    pub fn check(&self) -> Result<()> {
        let Destination::File(path) = self else {
            return Ok(());
        };
        let dir = parent(path);
        match fs::metadata(dir) {
            Ok(metadata) if metadata.is_dir() => {}
            Ok(_) => {
                return Err(cannot_write(
                    path,
                    format!("{} is not a directory", dir.display()),
                ));
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                let message = format!(
                    "the directory {} does not exist; create it first, or choose another --out",
                    dir.display()
                );
                return Err(cannot_write(path, message));
            }
            Err(error) => return Err(Error::io(format!("cannot check {}", dir.display()), error)),
        }
        check_new_file(path)?;
        if let Some(taken) = numbered_sibling(path)? {
            return Err(exists_error(&taken));
        }
        Ok(())
    }

    /// Where each of `count` files goes (`None`: stdout).
    pub(super) fn paths(&self, count: usize) -> Result<Vec<Option<PathBuf>>> {
        match self {
            _ if count <= 1 => Ok(vec![self.path().map(Path::to_path_buf)]),
            Destination::Stdout => Err(Error::io(
                format!(
                    "the import needs {count} files, as a groups file may hold at most {}, and stdout is one file",
                    shown_size(MAX_FILE_BYTES as usize)
                ),
                io::Error::other(
                    "write it with --out DIR/ (or --out FILE), which splits it into imported-001.yaml, \
                     imported-002.yaml, ...; nothing was written",
                ),
            )),
            Destination::File(path) => {
                Ok((1..=count).map(|part| Some(numbered(path, part))).collect())
            }
        }
    }

    fn path(&self) -> Option<&Path> {
        match self {
            Destination::Stdout => None,
            Destination::File(path) => Some(path),
        }
    }
}

/// Writes each file that has a path in `paths` and records where; on a
/// failure, removes the files written so far, and fails.
pub(super) fn write_all(mut files: Vec<File>, paths: Vec<Option<PathBuf>>) -> Result<Vec<File>> {
    let mut written: Vec<PathBuf> = Vec::new();
    for (file, path) in files.iter_mut().zip(paths) {
        if let Some(path) = &path {
            if let Err(error) = write_new_file(path, &file.yaml) {
                for done in &written {
                    let _ = fs::remove_file(done);
                }
                return Err(error);
            }
            written.push(path.clone());
        }
        file.path = path;
    }
    Ok(files)
}

/// The directory `path` is in (`.` for a bare name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// `dir/imported-007.yaml` for part 7 of `dir/imported.yaml`.
fn numbered(path: &Path, part: usize) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(extension) => format!("{stem}-{part:03}.{}", extension.to_string_lossy()),
        None => format!("{stem}-{part:03}"),
    };
    path.with_file_name(name)
}

/// A numbered file beside `path` (`imported-001.yaml` beside `imported.yaml`), if there is one.
fn numbered_sibling(path: &Path) -> Result<Option<PathBuf>> {
    let dir = parent(path);
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let suffix = path
        .extension()
        .map(|extension| format!(".{}", extension.to_string_lossy()))
        .unwrap_or_default();
    let prefix = format!("{stem}-");
    let entries = fs::read_dir(dir)
        .map_err(|error| Error::io(format!("cannot read {}", dir.display()), error))?;
    for entry in entries {
        let entry =
            entry.map_err(|error| Error::io(format!("cannot read {}", dir.display()), error))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let number = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(&suffix));
        if number
            .is_some_and(|number| number.len() >= 3 && number.bytes().all(|b| b.is_ascii_digit()))
        {
            return Ok(Some(path.with_file_name(&*name)));
        }
    }
    Ok(None)
}

/// Fails, naming the file, when `path` exists: import never overwrites.
pub(super) fn check_new_file(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(_) => Err(exists_error(path)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(Error::io(format!("cannot check {}", path.display()), error)),
    }
}

/// Writes `text` to the new file `path` atomically: a temporary file in the
/// same directory, fsynced, then hard-linked to `path`, which fails rather
/// than replace a file that appeared meanwhile.
pub(super) fn write_new_file(path: &Path, text: &str) -> Result<()> {
    check_new_file(path)?;
    let temp = temporary_sibling(path);
    let written = write_synced(&temp, text).and_then(|()| fs::hard_link(&temp, path));
    let _ = fs::remove_file(&temp);
    match written {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Err(exists_error(path)),
        Err(error) => Err(Error::io(format!("cannot write {}", path.display()), error)),
    }
}

fn write_synced(path: &Path, text: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// `.<name>.tmp.<pid>` beside `path`: a dot file, which the groups loader skips.
fn temporary_sibling(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.tmp.{}", std::process::id()))
}

fn cannot_write(path: &Path, why: String) -> Error {
    Error::io(
        format!("cannot write {}", path.display()),
        io::Error::other(why),
    )
}

fn exists_error(path: &Path) -> Error {
    Error::io(
        format!(
            "{} already exists; import writes only new files: choose another --out, or move the file aside",
            path.display()
        ),
        io::Error::from(io::ErrorKind::AlreadyExists),
    )
}
