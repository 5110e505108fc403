//! Finds the groups files below the groups dir and reads them.
//!
//! The walk is sorted by name (bytes), follows symlinks (a Kubernetes ConfigMap
//! mounts files as links into a hidden `..data` dir), and reports instead of
//! following a link that leads back to a directory it is already inside.
//!
//! A link whose real path lies outside the groups dir (resolved once per
//! walk) is refused and never opened: whoever can merge a symlink into the
//! repository must not get the service to print pieces of any file it can
//! read (a session token, a private key).

use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::path::{Path, PathBuf};

use crate::config::files::read_regular_file;
use crate::error::{Diagnostic, FileError};

/// The largest groups file read; a larger one is an error (and never read whole).
pub(super) const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// What a groups file that is a FIFO, a socket or a device is told.
const NOT_REGULAR: &str =
    "not a regular file (a FIFO, socket or device); groups files must be plain files";

/// Deeper folder trees than this are surely a mistake, e.g. a link loop on a
/// file system whose inode numbers the loop check cannot rely on.
const MAX_DIR_DEPTH: usize = 64;

/// One thing the walk came across, in walk order.
pub(super) enum Found {
    /// A regular `*.yaml`/`*.yml` file: `path` to read it by (the groups dir
    /// as given joined with the path inside it), `shown` to name it in messages.
    File {
        path: PathBuf,
        shown: PathBuf,
        metadata: Metadata,
    },
    /// Something that stops part of the tree from being read.
    Problem(Diagnostic),
}

/// Every groups file and walk problem below `groups_dir`, or the one problem
/// that the directory itself cannot be walked.
pub(super) fn walk(groups_dir: &Path) -> Result<Vec<Found>, Diagnostic> {
    let metadata = fs::metadata(groups_dir).map_err(|error| {
        let message = match error.kind() {
            std::io::ErrorKind::NotFound => {
                "the groups directory does not exist; create it, or point --groups-dir at it".into()
            }
            _ => format!("cannot read the groups directory: {error}"),
        };
        Diagnostic::file(groups_dir, message)
    })?;
    if !metadata.is_dir() {
        return Err(Diagnostic::file(
            groups_dir,
            "the groups directory is not a directory; point --groups-dir at a directory",
        ));
    }
    let real_root = fs::canonicalize(groups_dir).map_err(|error| {
        Diagnostic::file(
            groups_dir,
            format!("cannot resolve the groups directory: {error}"),
        )
    })?;
    let mut walker = Walker {
        root: groups_dir.to_path_buf(),
        real_root,
        shown_root: shown_root(groups_dir),
        found: Vec::new(),
        ancestors: Vec::new(),
    };
    walker.ancestors.push((
        dir_identity(groups_dir, &metadata),
        groups_dir.to_path_buf(),
    ));
    walker.directory(groups_dir);
    Ok(walker.found)
}

/// How messages name the groups dir: by its own name (`groups.d`), so that
/// paths are relative to its parent and read the same wherever the tree is
/// checked out (a CI runner, `/etc/groupsync`).
pub(super) fn shown_root(groups_dir: &Path) -> PathBuf {
    let named = |dir: &Path| dir.file_name().map(PathBuf::from);
    named(groups_dir)
        .or_else(|| named(&fs::canonicalize(groups_dir).ok()?))
        .unwrap_or_else(|| groups_dir.to_path_buf())
}

struct Walker {
    root: PathBuf,
    /// The groups dir with every link resolved: nothing outside it is read.
    real_root: PathBuf,
    shown_root: PathBuf,
    found: Vec<Found>,
    /// The directories being walked, outermost first: a link back to one of them is a loop.
    ancestors: Vec<(DirIdentity, PathBuf)>,
}

impl Walker {
    fn directory(&mut self, dir: &Path) {
        let names = match sorted_names(dir) {
            Ok(names) => names,
            Err(error) => return self.problem(dir, format!("cannot read directory: {error}")),
        };
        for name in names.iter().filter(|name| !is_skipped(name)) {
            self.entry(&dir.join(name), name);
        }
    }

    fn entry(&mut self, path: &Path, name: &OsStr) {
        if self.leads_outside(path) {
            return self.problem(
                path,
                "a symlink to a place outside the groups directory; refused and not read. \
                 Put the file itself in the groups directory, or link only within it",
            );
        }
        // `fs::metadata` follows symlinks, which is the point.
        let metadata = match fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(error) => return self.problem(path, unreachable_message(path, &error)),
        };
        if metadata.is_dir() {
            self.subdirectory(path, &metadata);
        } else if !is_groups_file_name(name) {
            // README.md and the like.
        } else if metadata.is_file() {
            self.found.push(Found::File {
                path: path.to_path_buf(),
                shown: self.shown(path),
                metadata,
            });
        } else {
            // Never opened: opening a FIFO would wait for a writer forever.
            self.problem(path, NOT_REGULAR);
        }
    }

    fn subdirectory(&mut self, path: &Path, metadata: &Metadata) {
        let identity = dir_identity(path, metadata);
        if let Some((_, ancestor)) = self.ancestors.iter().find(|(known, _)| *known == identity) {
            let message = format!(
                "symlink loop: this leads back to {}, which is already being read; remove the link",
                self.shown(ancestor).display()
            );
            return self.problem(path, message);
        }
        if self.ancestors.len() > MAX_DIR_DEPTH {
            return self.problem(
                path,
                format!("folders nested deeper than {MAX_DIR_DEPTH} levels; not read"),
            );
        }
        self.ancestors.push((identity, path.to_path_buf()));
        self.directory(path);
        self.ancestors.pop();
    }

    /// True when `path` is a link whose target lies outside the real groups
    /// dir. A dangling link is left to the read, which reports it.
    fn leads_outside(&self, path: &Path) -> bool {
        let is_link =
            fs::symlink_metadata(path).is_ok_and(|metadata| metadata.file_type().is_symlink());
        is_link && fs::canonicalize(path).is_ok_and(|real| !real.starts_with(&self.real_root))
    }

    fn problem(&mut self, path: &Path, message: impl Into<String>) {
        let shown = self.shown(path);
        self.found
            .push(Found::Problem(Diagnostic::file(shown, message)));
    }

    /// `path` (below the root) as messages name it.
    fn shown(&self, path: &Path) -> PathBuf {
        match path.strip_prefix(&self.root) {
            Ok(inside) if inside.as_os_str().is_empty() => self.shown_root.clone(),
            Ok(inside) => self.shown_root.join(inside),
            Err(_) => path.to_path_buf(),
        }
    }
}

fn sorted_names(dir: &Path) -> std::io::Result<Vec<std::ffi::OsString>> {
    let mut names = fs::read_dir(dir)?
        .map(|entry| entry.map(|entry| entry.file_name()))
        .collect::<std::io::Result<Vec<_>>>()?;
    names.sort_unstable_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    Ok(names)
}

/// Hidden files and folders (this includes a ConfigMap's `..data`) and editor leftovers.
fn is_skipped(name: &OsStr) -> bool {
    let name = name.as_encoded_bytes();
    name.starts_with(b".")
        || name.ends_with(b"~")
        || name.ends_with(b".swp")
        || name.ends_with(b".tmp")
}

fn is_groups_file_name(name: &OsStr) -> bool {
    let name = name.as_encoded_bytes();
    name.ends_with(b".yaml") || name.ends_with(b".yml")
}

/// Why `path` cannot be reached: a symlink that leads nowhere (or to itself) says so.
fn unreachable_message(path: &Path, error: &std::io::Error) -> String {
    let is_link =
        fs::symlink_metadata(path).is_ok_and(|metadata| metadata.file_type().is_symlink());
    if is_link {
        format!("cannot follow symlink: {error}")
    } else {
        format!("cannot read: {error}")
    }
}

#[cfg(unix)]
type DirIdentity = (u64, u64);

/// What makes two paths the same directory, whatever links lead there.
#[cfg(unix)]
fn dir_identity(_path: &Path, metadata: &Metadata) -> DirIdentity {
    use std::os::unix::fs::MetadataExt;
    (metadata.dev(), metadata.ino())
}

#[cfg(not(unix))]
type DirIdentity = PathBuf;

#[cfg(not(unix))]
fn dir_identity(path: &Path, _metadata: &Metadata) -> DirIdentity {
    fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The text of the groups file at `path`, or the problem that stops it being
/// read. Read as every file a setting names is ([`read_regular_file`]): a
/// FIFO swapped in since the walk looked cannot block it, nor a file growing
/// while read exhaust memory.
pub(super) fn read_text(path: &Path, metadata: &Metadata) -> Result<String, Diagnostic> {
    if metadata.len() > MAX_FILE_BYTES {
        return Err(too_large(path, metadata.len()));
    }
    let bytes = read_regular_file(path, MAX_FILE_BYTES).map_err(|error| match error {
        FileError::TooLarge { size, .. } => too_large(path, size),
        FileError::NotRegular { .. } => Diagnostic::file(path, NOT_REGULAR),
        FileError::Io(error) => Diagnostic::file(path, format!("cannot read: {error}")),
    })?;
    String::from_utf8(bytes)
        .map_err(|error| not_utf8(path, error.as_bytes(), error.utf8_error().valid_up_to()))
}

fn too_large(path: &Path, size: u64) -> Diagnostic {
    Diagnostic::file(
        path,
        format!("larger than 1 MiB ({size} bytes); split it into several files"),
    )
}

/// Points at the first byte that is not UTF-8, counting columns in characters like the YAML parser.
fn not_utf8(path: &Path, bytes: &[u8], valid_up_to: usize) -> Diagnostic {
    let valid = &bytes[..valid_up_to];
    let line_start = valid
        .iter()
        .rposition(|byte| *byte == b'\n')
        .map_or(0, |newline| newline + 1);
    let line = 1 + valid.iter().filter(|byte| **byte == b'\n').count();
    // `valid` is UTF-8 by definition, so the lossy conversion is exact.
    let column = 1 + String::from_utf8_lossy(&valid[line_start..])
        .chars()
        .count();
    Diagnostic::at(
        path,
        line,
        column,
        format!(
            "not valid UTF-8 (byte 0x{:02x}); save the file as UTF-8",
            bytes[valid_up_to]
        ),
    )
}
