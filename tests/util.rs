//! Helpers shared by the integration tests: temporary trees and a command builder.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A temporary directory holding a `groups.d/` tree and a state file path.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

impl Workspace {
    pub fn new() -> Self {
        Workspace {
            dir: tempfile::tempdir().expect("create a temporary directory"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `<tmp>/groups.d`
    pub fn groups_dir(&self) -> PathBuf {
        self.dir.path().join("groups.d")
    }

    /// `<tmp>/state.json`
    pub fn state_file(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }

    /// Writes `contents` to `groups.d/<relative>`, creating parent folders.
    pub fn write_group_file(&self, relative: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.groups_dir().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// A `groupsync` command run inside the workspace, with no inherited
    /// groupsync environment and no colour.
    pub fn groupsync(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_groupsync"));
        command.current_dir(self.path());
        for (key, _) in std::env::vars() {
            if key.starts_with("GROUPSYNC_") {
                command.env_remove(key);
            }
        }
        command.env("NO_COLOR", "1").env_remove("RUST_LOG");
        command
    }
}
