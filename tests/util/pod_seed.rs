//! What a test or bench pod starts with: the session token it accepts, the
//! groups it holds ([`PodGroup`]), and the start on 127.0.0.1. One file for
//! the tests (`util`) and the benches (`benches/support/`, and through it
//! `examples/generate.rs`, by `#[path]`), so it holds only what both use;
//! the tests' harness around the pod (its runtime, the PUTs it saw) is `pod.rs`.

use std::net::{Ipv4Addr, SocketAddr};

use groupsync::emulator::{Emulator, EmulatorConfig, Entitlements};
use groupsync::model::UserGroupResponse;

/// The session token a pod from [`with_token`] accepts, with every entitlement.
pub const TOKEN: &str = "test-session-token";

/// `config`, plus [`TOKEN`] with every entitlement.
pub fn with_token(mut config: EmulatorConfig) -> EmulatorConfig {
    config
        .session_tokens
        .push((TOKEN.to_string(), Entitlements::ALL));
    config
}

/// An emulator on a free port of 127.0.0.1, started from `config`.
pub async fn start_local(config: EmulatorConfig) -> Emulator {
    Emulator::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config)
        .await
        .expect("start the emulator")
}

/// A pod group with every field set, as the emulator or a snapshot would hold
/// it: `PodGroup::new("a1").name("EMEA trading").area("EMEA").build()`.
/// Unless set: name `Group <id>`, area and description empty, active.
/// `members` and `assignees` seed its lists through [`PodSeed`] (and set
/// the counts `build` reports).
pub struct PodGroup {
    pub(super) group: UserGroupResponse,
    pub(super) members: Option<Vec<String>>,
    pub(super) assignees: Option<Vec<String>>,
}

impl PodGroup {
    pub fn new(id: &str) -> PodGroup {
        PodGroup {
            group: UserGroupResponse {
                id: Some(id.into()),
                name: Some(format!("Group {id}").into()),
                area: Some(Default::default()),
                description: Some(Default::default()),
                group_type: Some("ROLE_SCOPE".into()),
                active: Some(true),
                created_date: Some(1_700_000_000_000),
                modified_date: Some(1_700_000_000_000),
                member_count: Some(3),
                assignee_count: Some(1),
            },
            members: None,
            assignees: None,
        }
    }

    /// The group's active members, by username (for [`PodSeed`]).
    pub fn members<'a>(mut self, usernames: impl IntoIterator<Item = &'a str>) -> PodGroup {
        let names: Vec<String> = usernames.into_iter().map(str::to_string).collect();
        self.group.member_count = Some(names.len() as i64);
        self.members = Some(names);
        self
    }

    /// The group's active assignees, by username (for [`PodSeed`]).
    pub fn assignees<'a>(mut self, usernames: impl IntoIterator<Item = &'a str>) -> PodGroup {
        let names: Vec<String> = usernames.into_iter().map(str::to_string).collect();
        self.group.assignee_count = Some(names.len() as i64);
        self.assignees = Some(names);
        self
    }

    pub fn name(mut self, name: impl Into<groupsync::model::Text>) -> PodGroup {
        self.group.name = Some(name.into());
        self
    }

    pub fn area(mut self, area: impl Into<groupsync::model::Text>) -> PodGroup {
        self.group.area = Some(area.into());
        self
    }

    pub fn description(mut self, description: impl Into<groupsync::model::Text>) -> PodGroup {
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
