//! The pod emulator served from the test process, the groups (and users,
//! members, assignees) it is seeded with, and what it saw.

use std::collections::BTreeMap;

use groupsync::emulator::{
    COMPLIANCE_OFFICER, Emulator, EmulatorConfig, LOGIN_PATH, RecordedRequest, SeedUser,
};
use groupsync::model::{Roster, UserGroupResponse, UserId};
use serde_json::Value;

use super::pod_seed::{PodGroup, TOKEN, start_local, with_token};
use super::{Workspace, wait_until};

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
    PodFixture::start(with_token(EmulatorConfig {
        groups,
        ..Default::default()
    }))
}

/// Two groups on the pod, `a1` (Alpha, EMEA) and `b2` (Beta, APAC), each
/// declared in a file of its own and applied once.
pub fn two_groups_applied() -> (Workspace, PodFixture) {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\narea: EMEA\n");
    ws.write_group_file("b2.yaml", "id: b2\narea: APAC\n");
    let pod = token_pod(vec![
        PodGroup::new("a1").name("Alpha").area("EMEA").build(),
        PodGroup::new("b2").name("Beta").area("APAC").build(),
    ]);
    super::assert_exit(&pod.run(&ws, &["apply"]), 0);
    (ws, pod)
}

impl PodFixture {
    pub fn start(config: EmulatorConfig) -> PodFixture {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("build the emulator's runtime");
        let emulator = runtime.block_on(start_local(config));
        PodFixture {
            emulator,
            _runtime: runtime,
        }
    }

    /// `groupsync ARGS --groups-dir groups.d --state state.json` in `ws`
    /// against this pod, with [`TOKEN`].
    pub fn run(&self, ws: &Workspace, args: &[&str]) -> std::process::Output {
        ws.groupsync_std()
            .args(args)
            .args(["--groups-dir", "groups.d", "--state", "state.json"])
            .env("GROUPSYNC_POD_URL", self.emulator.pod_url())
            .env("GROUPSYNC_SESSION_TOKEN", TOKEN)
            .output()
            .expect("run groupsync")
    }

    /// Every PUT to a group itself (`/pod/v2/admin/usergroups/{id}`, not its
    /// lists), in arrival order.
    pub fn puts(&self) -> Vec<RecordedRequest> {
        self.puts_where(|rest| !rest.contains('/'))
    }

    pub fn put_count(&self) -> usize {
        self.puts().len()
    }

    /// The PUTs whose path after [`GROUP_PREFIX`] satisfies `wanted`, in arrival order.
    fn puts_where(&self, wanted: impl Fn(&str) -> bool) -> Vec<RecordedRequest> {
        self.emulator
            .requests()
            .into_iter()
            .filter(|request| request.method == "PUT")
            .filter(|request| request.path.strip_prefix(GROUP_PREFIX).is_some_and(&wanted))
            .collect()
    }

    /// Every per-user PUT to a group's list (`.../memberships/{userId}` or
    /// `.../assignments/{userId}`): group id, user id and body, in arrival order.
    pub fn roster_puts(&self, roster: Roster) -> Vec<(String, UserId, Value)> {
        self.puts_where(|rest| roster_user_put(rest, roster).is_some())
            .iter()
            .map(|put| {
                let rest = put.path.strip_prefix(GROUP_PREFIX).unwrap();
                let (group, user) = roster_user_put(rest, roster).unwrap();
                (group, user, put.body.clone().unwrap_or(Value::Null))
            })
            .collect()
    }

    /// [`PodFixture::roster_puts`] of the members.
    pub fn member_puts(&self) -> Vec<(String, UserId, Value)> {
        self.roster_puts(Roster::Members)
    }

    /// [`PodFixture::roster_puts`] of the assignees.
    pub fn assignee_puts(&self) -> Vec<(String, UserId, Value)> {
        self.roster_puts(Roster::Assignees)
    }

    /// The per-user PUTs to a group's list as (group id, username, active),
    /// in arrival order: `[("a1", "carol", true), ("a1", "bob", false)]`.
    pub fn roster_changes(&self, roster: Roster) -> Vec<(String, String, bool)> {
        let usernames: BTreeMap<UserId, String> = self
            .emulator
            .users()
            .into_iter()
            .map(|user| (user.id, user.username))
            .collect();
        self.roster_puts(roster)
            .into_iter()
            .map(|(group, user, body)| {
                let username = usernames
                    .get(&user)
                    .cloned()
                    .unwrap_or_else(|| user.to_string());
                (group, username, body["active"] == Value::Bool(true))
            })
            .collect()
    }

    /// How many bulk membership PUTs (`.../memberships` with a username
    /// list) arrived: groupsync must never send one.
    pub fn bulk_member_put_count(&self) -> usize {
        self.puts_where(|rest| rest.ends_with("/memberships")).len()
    }

    /// The id of the pod user with this username; panics if there is none.
    #[track_caller]
    pub fn user_id(&self, username: &str) -> UserId {
        self.emulator
            .user(username)
            .unwrap_or_else(|| panic!("the pod has no user {username:?}"))
            .id
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

/// `{id}/memberships/{userId}` (for `roster`) as group id and user id.
fn roster_user_put(rest: &str, roster: Roster) -> Option<(String, UserId)> {
    let (group, tail) = rest.split_once('/')?;
    let user = tail.strip_prefix(roster.segment())?.strip_prefix('/')?;
    Some((group.to_string(), user.parse().ok()?))
}

/// A pod with users, members and assignees, accepting [`TOKEN`] with every
/// entitlement:
///
/// ```ignore
/// let pod = PodSeed::new()
///     .group(PodGroup::new("a1").members(["alice", "bob"]).assignees(["olga"]))
///     .users(["carol"])
///     .start();
/// ```
///
/// Every username a group lists becomes a pod user (an assignee a
/// Compliance Officer); `users` and `officers` add users no group lists yet.
/// Users get ids from 1001 in the order they are first named;
/// [`PodFixture::user_id`] tells them.
#[derive(Default)]
pub struct PodSeed {
    groups: Vec<PodGroup>,
    users: Vec<SeedUser>,
}

impl PodSeed {
    pub fn new() -> PodSeed {
        PodSeed::default()
    }

    pub fn group(mut self, group: PodGroup) -> PodSeed {
        for name in group.members.iter().flatten() {
            self.ensure_user(name, false);
        }
        for name in group.assignees.iter().flatten() {
            self.ensure_user(name, true);
        }
        self.groups.push(group);
        self
    }

    pub fn groups(self, groups: impl IntoIterator<Item = PodGroup>) -> PodSeed {
        groups.into_iter().fold(self, PodSeed::group)
    }

    /// Plain users (members, never assignees).
    pub fn users<'a>(mut self, usernames: impl IntoIterator<Item = &'a str>) -> PodSeed {
        for name in usernames {
            self.ensure_user(name, false);
        }
        self
    }

    /// Compliance Officers (may be assigned).
    pub fn officers<'a>(mut self, usernames: impl IntoIterator<Item = &'a str>) -> PodSeed {
        for name in usernames {
            self.ensure_user(name, true);
        }
        self
    }

    /// A user exactly as given (its own id, names, roles).
    pub fn user(mut self, user: SeedUser) -> PodSeed {
        self.users.retain(|known| known.username != user.username);
        self.users.push(user);
        self
    }

    /// The emulator's configuration: groups, users, lists, [`TOKEN`].
    pub fn config(self) -> EmulatorConfig {
        let mut config = with_token(EmulatorConfig {
            users: self.users,
            ..Default::default()
        });
        for group in self.groups {
            let id = group.group.id.clone().expect("a PodGroup has an id");
            let pairs = |names: Option<Vec<String>>| {
                names
                    .into_iter()
                    .flatten()
                    .map(|name| (id.to_string(), name))
                    .collect::<Vec<_>>()
            };
            config.memberships.extend(pairs(group.members));
            config.assignments.extend(pairs(group.assignees));
            config.groups.push(group.group);
        }
        config
    }

    pub fn start(self) -> PodFixture {
        PodFixture::start(self.config())
    }

    fn ensure_user(&mut self, username: &str, officer: bool) {
        if let Some(user) = self.users.iter_mut().find(|user| user.username == username) {
            if officer && !user.is_officer() {
                user.roles.push(COMPLIANCE_OFFICER.into());
            }
            return;
        }
        let id = 1001 + self.users.len() as UserId;
        let id = (id..)
            .find(|id| self.users.iter().all(|user| user.id != *id))
            .unwrap();
        let user = SeedUser::new(id, username);
        self.users.push(if officer {
            user.roles([COMPLIANCE_OFFICER])
        } else {
            user
        });
    }
}
