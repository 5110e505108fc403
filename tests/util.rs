//! Helpers shared by the integration tests: temporary trees and a command builder.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use groupsync::emulator::{Emulator, EmulatorConfig, LOGIN_PATH, RecordedRequest};

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
    pub fn write_state(&self, groups: &[groupsync::model::UserGroupResponse]) {
        let mut snapshot = groupsync::pipeline::state::Snapshot::default();
        for group in groups {
            let id = group.id.as_deref().expect("a pod group has an id");
            snapshot.record_read(id, group.clone(), 1_700_000_000_000);
        }
        let state = groupsync::pipeline::state::StateFile::open(&self.state_file())
            .expect("lock the state file");
        state.save(&snapshot).expect("save the state file");
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
        command.env("NO_COLOR", "1").env_remove("RUST_LOG");
        command
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
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        let path = self.path().join(name);
        std::fs::copy(&source, &path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }
}

/// The text of `tests/fixtures/<name>`.
pub fn fixture_text(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// A pod emulator on 127.0.0.1 served by a tokio runtime of its own, so that
/// it keeps answering while the test thread blocks on the `groupsync` binary.
pub struct PodFixture {
    pub emulator: Emulator,
    /// Serves the emulator; dropped (stopping it) with the fixture.
    _runtime: tokio::runtime::Runtime,
}

impl PodFixture {
    pub fn start(config: EmulatorConfig) -> PodFixture {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("build the emulator's runtime");
        let emulator = runtime
            .block_on(Emulator::start("127.0.0.1:0".parse().unwrap(), config))
            .expect("start the emulator");
        PodFixture {
            emulator,
            _runtime: runtime,
        }
    }

    /// Every PUT to a group, in arrival order.
    pub fn puts(&self) -> Vec<RecordedRequest> {
        self.emulator
            .requests()
            .into_iter()
            .filter(|request| request.method == "PUT" && request.path.starts_with(GROUP_PREFIX))
            .collect()
    }

    pub fn put_count(&self) -> usize {
        self.emulator.count("PUT", GROUP_PREFIX)
    }

    /// How many RSA bot logins the emulator received.
    pub fn login_count(&self) -> usize {
        self.emulator.count("POST", LOGIN_PATH)
    }
}

/// The path prefix of one group on the emulator: `/pod/v2/admin/usergroups/`.
pub const GROUP_PREFIX: &str = "/pod/v2/admin/usergroups/";

/// A pod group with every field set, as the emulator or a snapshot would hold it.
pub fn pod_group(
    id: &str,
    name: &str,
    area: &str,
    description: &str,
    active: bool,
) -> groupsync::model::UserGroupResponse {
    groupsync::model::UserGroupResponse {
        id: Some(id.into()),
        name: Some(name.into()),
        area: Some(area.into()),
        description: Some(description.into()),
        group_type: Some("ROLE_SCOPE".into()),
        active: Some(active),
        created_date: Some(1_700_000_000_000),
        modified_date: Some(1_700_000_000_000),
        member_count: Some(3),
        assignee_count: Some(1),
    }
}
