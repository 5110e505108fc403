//! The pod emulator served from the test process, the groups it is seeded
//! with, and what it saw.

use std::collections::BTreeMap;

use groupsync::emulator::{Emulator, EmulatorConfig, Entitlements, LOGIN_PATH, RecordedRequest};
use groupsync::model::UserGroupResponse;
use serde_json::Value;

use super::{TOKEN, Workspace, wait_until};

/// The path prefix of one group on the emulator: `/pod/v2/admin/usergroups/`.
pub const GROUP_PREFIX: &str = "/pod/v2/admin/usergroups/";

/// A pod emulator on 127.0.0.1 served by a tokio runtime of its own, so that
/// it keeps answering while the test thread blocks on the `groupsync` binary.
pub struct PodFixture {
    pub emulator: Emulator,
    /// Serves the emulator; dropped (stopping it) with the fixture.
    _runtime: tokio::runtime::Runtime,
}

/// An emulator holding `groups` that accepts [`TOKEN`] with every entitlement.
pub fn token_pod(groups: Vec<UserGroupResponse>) -> PodFixture {
    PodFixture::start(EmulatorConfig {
        groups,
        session_tokens: vec![(TOKEN.into(), Entitlements::ALL)],
        ..Default::default()
    })
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

    /// Waits until at least `count` PUTs have arrived.
    #[track_caller]
    pub fn wait_puts(&self, count: usize) {
        wait_until(&format!("{count} PUTs arrived"), || {
            self.put_count() >= count
        });
    }

    /// Every PUT's group id and body, in arrival order.
    pub fn put_log(&self) -> Vec<(String, Value)> {
        self.puts()
            .iter()
            .map(|put| (put_id(put), put.body.clone().expect("a JSON body")))
            .collect()
    }

    /// Every PUT body by group id (the last one, when a group got several).
    pub fn put_bodies(&self) -> BTreeMap<String, Value> {
        self.put_log().into_iter().collect()
    }

    /// How many RSA bot logins the emulator received.
    pub fn login_count(&self) -> usize {
        self.emulator.count("POST", LOGIN_PATH)
    }
}

/// Writes a state file recording every group the pod holds now, so that the
/// next cycle reads nothing and its first pod calls are PUTs.
pub fn seed_state(ws: &Workspace, pod: &PodFixture) {
    ws.write_state(&pod.emulator.groups());
}

/// The group id a recorded PUT went to.
pub fn put_id(request: &RecordedRequest) -> String {
    request.path.strip_prefix(GROUP_PREFIX).unwrap().to_string()
}

/// A pod group with every field set, as the emulator or a snapshot would hold
/// it: `PodGroup::new("a1").name("EMEA trading").area("EMEA").build()`.
/// Unless set: name `Group <id>`, area and description empty, active.
pub struct PodGroup {
    group: UserGroupResponse,
}

impl PodGroup {
    pub fn new(id: &str) -> PodGroup {
        PodGroup {
            group: UserGroupResponse {
                id: Some(id.into()),
                name: Some(format!("Group {id}")),
                area: Some(String::new()),
                description: Some(String::new()),
                group_type: Some("ROLE_SCOPE".into()),
                active: Some(true),
                created_date: Some(1_700_000_000_000),
                modified_date: Some(1_700_000_000_000),
                member_count: Some(3),
                assignee_count: Some(1),
            },
        }
    }

    pub fn name(mut self, name: impl Into<String>) -> PodGroup {
        self.group.name = Some(name.into());
        self
    }

    pub fn area(mut self, area: impl Into<String>) -> PodGroup {
        self.group.area = Some(area.into());
        self
    }

    pub fn description(mut self, description: impl Into<String>) -> PodGroup {
        self.group.description = Some(description.into());
        self
    }

    pub fn active(mut self, active: bool) -> PodGroup {
        self.group.active = Some(active);
        self
    }

    pub fn build(self) -> UserGroupResponse {
        self.group
    }
}
