//! A temporary tree (`groups.d/`, the state file, config files) and the
//! `groupsync` command that runs in it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use groupsync::model::UserGroupResponse;
use groupsync::store::snapshot::Snapshot;
use groupsync::store::state_file::StateFile;

use super::fixture_path;

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

    /// Writes a state file recording `groups` as read from the pod.
    pub fn write_state(&self, groups: &[UserGroupResponse]) {
        let mut snapshot = Snapshot::default();
        for group in groups {
            let id = group.id.as_deref().expect("a pod group has an id");
            snapshot.record_read(id, group.clone(), 1_700_000_000_000);
        }
        let state = lock_released(&self.state_file()).expect("lock the state file");
        state.save(&snapshot).expect("save the state file");
    }

    /// Reads the state file back, as the next groupsync would: the file must
    /// exist, be valid, and its lock must have been released.
    #[track_caller]
    pub fn load_state(&self) -> Snapshot {
        assert!(self.state_file().exists(), "the state file exists");
        lock_released(&self.state_file())
            .expect("the lock was released")
            .load()
            .unwrap_or_else(|err| panic!("the state file is invalid: {err}"))
    }

    /// Writes `contents` to `groups.d/<relative>`, creating parent folders.
    pub fn write_group_file(&self, relative: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.groups_dir().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Writes `contents` to `<tmp>/<relative>` (e.g. a config file), creating parent folders.
    pub fn write_file(&self, relative: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Copies `tests/fixtures/<name>` into the workspace with file mode `mode`
    /// (git keeps no modes, and groupsync refuses a private key readable by others).
    pub fn fixture(&self, name: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path().join(name);
        std::fs::copy(fixture_path(name), &path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    /// A `groupsync` command run inside the workspace, with no inherited
    /// groupsync or proxy environment and no colour.
    pub fn groupsync(&self) -> Command {
        Command::from_std(self.groupsync_std())
    }

    /// [`Workspace::groupsync`] as a plain `std::process::Command`, for a
    /// process the test spawns and signals itself.
    pub fn groupsync_std(&self) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_groupsync"));
        command.current_dir(self.path());
        for (key, _) in std::env::vars() {
            if key.starts_with("GROUPSYNC_") {
                command.env_remove(key);
            }
        }
        for proxy in PROXY_VARIABLES {
            command
                .env_remove(proxy)
                .env_remove(proxy.to_ascii_lowercase());
        }
        command.env("NO_COLOR", "1").env_remove("RUST_LOG");
        command
    }
}

/// The proxy variables groupsync honours (in upper and lower case): a test
/// sets them itself, and none leaks in from the machine running the tests.
pub const PROXY_VARIABLES: [&str; 4] = ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"];

/// The ids whose state entry records a write.
pub fn written_ids(snapshot: &Snapshot) -> BTreeSet<String> {
    snapshot
        .iter()
        .filter(|(_, entry)| entry.written_at_ms.is_some())
        .map(|(id, _)| id.to_string())
        .collect()
}

/// The state file at `path`, locked: waiting a little while the lock is
/// held, since a child process another test spawns keeps a copy of every
/// open descriptor, this test's lock among them, from its fork to its exec.
pub fn lock_released(path: &std::path::Path) -> groupsync::Result<StateFile> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match StateFile::open(path) {
            Err(groupsync::Error::StateLocked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}
