//! Members and assignees through the real binary, against the emulator on
//! 127.0.0.1: one PUT per user added or removed, never the bulk replace;
//! unknown users, the removal limit, drift, and groups that do not manage
//! their lists.

use std::process::Output;

use groupsync::emulator::{EmulatorConfig, Entitlements, SeedUser};
use groupsync::model::{Roster, UserGroupResponse};
use serde_json::{Value, json};

use crate::util::*;

/// The pod's users: two plain users and three compliance officers.
fn people() -> Vec<SeedUser> {
    vec![
        SeedUser::new(1001, "alice"),
        SeedUser::new(1002, "bob"),
        SeedUser::officer(1003, "carol"),
        SeedUser::officer(1004, "dave"),
        SeedUser::officer(1005, "erin"),
    ]
}

fn groups() -> Vec<UserGroupResponse> {
    vec![
        PodGroup::new("a1")
            .name("EMEA trading")
            .area("EMEA")
            .build(),
        PodGroup::new("b2").name("APAC wealth").area("APAC").build(),
    ]
}

/// A pod where a1 has members alice and bob and assignees carol and dave, and
/// b2 has member alice and assignee carol.
fn pod() -> PodFixture {
    let pairs = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(group, user)| (group.to_string(), user.to_string()))
            .collect()
    };
    PodFixture::start(EmulatorConfig {
        groups: groups(),
        users: people(),
        memberships: pairs(&[("a1", "alice"), ("a1", "bob"), ("b2", "alice")]),
        assignments: pairs(&[("a1", "carol"), ("a1", "dave"), ("b2", "carol")]),
        session_tokens: vec![(TOKEN.into(), Entitlements::ALL)],
        ..Default::default()
    })
}

/// `groupsync ARGS` in `ws` against `pod` (see [`PodFixture::run`]).
fn run(ws: &Workspace, pod: &PodFixture, args: &[&str]) -> Output {
    pod.run(ws, args)
}

/// Every per-user write (`PUT .../memberships/{userId}` or
/// `.../assignments/{userId}`), as `(path under the group, body)`, in order.
fn user_writes(pod: &PodFixture) -> Vec<(String, Value)> {
    pod.emulator
        .requests()
        .into_iter()
        .filter(|request| request.method == "PUT")
        .filter_map(|request| {
            let under = request.path.strip_prefix(GROUP_PREFIX)?.to_string();
            let (_, rest) = under.split_once('/')?;
            let is_user_write =
                rest.starts_with("memberships/") || rest.starts_with("assignments/");
            is_user_write.then(|| (under.clone(), request.body.clone().unwrap_or(Value::Null)))
        })
        .collect()
}

/// `writes` in path order, for lists whose writes go out all at once.
fn sorted(mut writes: Vec<(String, Value)>) -> Vec<(String, Value)> {
    writes.sort_by(|a, b| a.0.cmp(&b.0));
    writes
}

/// Requests to the bulk membership PUT, which groupsync must never send.
fn bulk_puts(pod: &PodFixture) -> usize {
    pod.emulator
        .requests()
        .iter()
        .filter(|request| request.method == "PUT" && request.path.ends_with("/memberships"))
        .count()
}

/// Any request at all to a group's memberships or assignments.
fn list_requests(pod: &PodFixture, group_id: &str) -> Vec<String> {
    let prefix = format!("{GROUP_PREFIX}{group_id}/");
    pod.emulator
        .requests()
        .into_iter()
        .filter(|request| request.path.starts_with(&prefix))
        .map(|request| format!("{} {}", request.method, request.path))
        .collect()
}

#[test]
fn members_change_with_one_put_per_user_and_then_nothing() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\nmembers: [alice, carol]\n");
    let pod = pod();

    let plan = run(&ws, &pod, &["plan"]);
    assert_exit(&plan, 2);
    let text = stdout(&plan);
    assert!(
        text.contains("members:\n   - alice\n-  - bob\n+  - carol\n"),
        "the lists show sorted, a user a line:\n{text}"
    );
    assert!(
        text.contains("PUT /v2/admin/usergroups/a1/memberships/1003 {\"active\":true}  # carol")
            && text
                .contains("PUT /v2/admin/usergroups/a1/memberships/1002 {\"active\":false}  # bob")
            && text.contains("Plan: 1 to update, 0 unchanged."),
        "{text}"
    );
    assert!(user_writes(&pod).is_empty(), "plan wrote");

    let apply = run(&ws, &pod, &["apply"]);
    assert_exit(&apply, 0);
    // Members are written all at once: in any order.
    assert_eq!(
        sorted(user_writes(&pod)),
        [
            ("a1/memberships/1002".to_string(), json!({"active": false})),
            ("a1/memberships/1003".to_string(), json!({"active": true})),
        ]
    );
    assert_eq!(bulk_puts(&pod), 0);
    assert_eq!(pod.put_count(), 0, "the group itself did not change");
    assert_eq!(pod.emulator.members("a1"), ["alice", "carol"]);
    assert!(
        stdout(&apply)
            .contains("updated a1 (groups.d/a1.yaml): members added \"carol\", removed \"bob\""),
        "{}",
        stdout(&apply)
    );

    pod.emulator.clear_requests();
    let again = run(&ws, &pod, &["apply"]);
    assert_exit(&again, 0);
    assert!(user_writes(&pod).is_empty(), "{:?}", user_writes(&pod));
    assert!(
        stdout(&again).contains("No changes. 1 group in sync."),
        "{}",
        stdout(&again)
    );
}

#[test]
fn assignees_change_with_one_put_per_user_and_then_nothing() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\nassignees: [carol, erin]\n");
    let pod = pod();

    let apply = run(&ws, &pod, &["apply"]);
    assert_exit(&apply, 0);
    assert_eq!(
        user_writes(&pod),
        [
            ("a1/assignments/1005".to_string(), json!({"active": true})),
            ("a1/assignments/1004".to_string(), json!({"active": false})),
        ]
    );
    assert_eq!(bulk_puts(&pod), 0);
    assert_eq!(pod.emulator.assignees("a1"), ["carol", "erin"]);
    assert_eq!(
        pod.emulator.members("a1"),
        ["alice", "bob"],
        "members are not managed"
    );

    pod.emulator.clear_requests();
    assert_exit(&run(&ws, &pod, &["apply"]), 0);
    assert!(user_writes(&pod).is_empty(), "{:?}", user_writes(&pod));
}

#[test]
fn json_plans_list_adds_removes_and_every_write() {
    let ws = Workspace::new();
    ws.write_group_file(
        "a1.yaml",
        "id: a1\nmembers: [alice, carol]\nassignees: []\n",
    );
    let pod = pod();
    let output = run(&ws, &pod, &["plan", "--format", "json"]);
    assert_exit(&output, 2);
    let plan: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let change = &plan["changes"][0];
    assert_eq!(
        change["members"],
        json!({"add": ["carol"], "remove": ["bob"]})
    );
    assert_eq!(
        change["assignees"],
        json!({"add": [], "remove": ["carol", "dave"]})
    );
    let paths: Vec<&str> = change["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|request| request["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/v2/admin/usergroups/a1/memberships/1003",
            "/v2/admin/usergroups/a1/memberships/1002",
            "/v2/admin/usergroups/a1/assignments/1003",
            "/v2/admin/usergroups/a1/assignments/1004",
        ]
    );
    assert_eq!(change["requests"][3]["user"], "dave");
    assert!(
        change["warnings"][0]
            .as_str()
            .unwrap()
            .contains("last assignee"),
        "{change}"
    );
}

#[test]
fn an_unknown_username_fails_its_group_and_the_others_apply() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\nmembers: [alice, bob, zoe.unknown]\n");
    ws.write_group_file(
        "b2.yaml",
        "id: b2\narea: APAC-North\nmembers: [alice, bob]\n",
    );
    let pod = pod();

    let output = run(&ws, &pod, &["apply"]);
    assert_exit(&output, 1);
    let text = stdout(&output);
    // Every declared group is counted: the one that could not be planned failed.
    assert!(
        text.contains("Apply: 1 updated, 1 failed, 0 unchanged."),
        "{text}"
    );
    assert!(
        text.contains("error: groups.d/a1.yaml:1:1: ")
            && text.contains("the pod has no user \"zoe.unknown\" (in `members`)"),
        "{text}"
    );
    // Nothing for a1; b2 applied in full.
    assert!(
        list_requests(&pod, "a1")
            .iter()
            .all(|request| request.starts_with("GET "))
    );
    assert_eq!(
        user_writes(&pod),
        [("b2/memberships/1002".to_string(), json!({"active": true}))]
    );
    assert_eq!(
        pod.emulator.group("b2").unwrap().area.as_deref(),
        Some("APAC-North")
    );
    assert_eq!(pod.emulator.members("a1"), ["alice", "bob"]);
}

#[test]
fn more_removals_than_the_limit_write_nothing_unless_forced() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\nmembers: []\nassignees: [erin]\n");
    ws.write_group_file("b2.yaml", "id: b2\nmembers: []\n");
    ws.write_file("groupsync.yaml", "limits: {max_member_removals: 2}\n");
    let pod = pod();
    let with_config = |args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--config", "groupsync.yaml"]);
        run(&ws, &pod, &args)
    };

    let refused = with_config(&["apply"]);
    assert_exit(&refused, 1);
    assert!(
        stderr(&refused)
            .contains("removes 5 members and assignees, more than limits.max_member_removals = 2"),
        "{}",
        stderr(&refused)
    );
    assert!(user_writes(&pod).is_empty(), "{:?}", user_writes(&pod));

    let forced = with_config(&["apply", "--force"]);
    assert_exit(&forced, 0);
    assert_eq!(user_writes(&pod).len(), 6, "{:?}", user_writes(&pod));
    assert!(pod.emulator.members("a1").is_empty());
    assert_eq!(pod.emulator.assignees("a1"), ["erin"]);
    assert!(pod.emulator.members("b2").is_empty());
}

#[test]
fn a_member_added_in_the_portal_is_drift_and_is_reverted() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\nmembers: [alice, bob]\n");
    let pod = pod();
    assert_exit(&run(&ws, &pod, &["apply"]), 0);
    assert!(user_writes(&pod).is_empty(), "already in sync");

    // An admin adds dave and removes bob in the portal.
    pod.emulator
        .set_roster("a1", Roster::Members, ["alice", "dave"])
        .unwrap();
    let plain = run(&ws, &pod, &["plan", "--refresh=false"]);
    assert_exit(&plain, 0); // from the snapshot alone, still in sync
    let plan = run(&ws, &pod, &["plan", "--refresh"]);
    assert_exit(&plan, 2);
    let text = stdout(&plan);
    assert!(
        text.contains(
            "Drift: a1 changed outside groupsync: members added \"dave\", removed \"bob\""
        ),
        "{text}"
    );

    let apply = run(&ws, &pod, &["apply", "--refresh"]);
    assert_exit(&apply, 0);
    assert_eq!(pod.emulator.members("a1"), ["alice", "bob"]);
    assert_eq!(
        sorted(user_writes(&pod)),
        [
            ("a1/memberships/1002".to_string(), json!({"active": true})),
            ("a1/memberships/1004".to_string(), json!({"active": false})),
        ]
    );
    assert_eq!(bulk_puts(&pod), 0);
}

#[test]
fn a_group_without_lists_never_touches_them() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\narea: EMEA-North\n");
    ws.write_group_file("b2.yaml", "id: b2\nassignees: [carol]\n");
    let pod = pod();
    assert_exit(&run(&ws, &pod, &["apply", "--refresh"]), 0);
    assert_exit(&run(&ws, &pod, &["apply", "--refresh"]), 0);
    assert_eq!(list_requests(&pod, "a1"), Vec::<String>::new());
    // b2 manages only its assignees: its memberships are never asked for.
    assert!(
        list_requests(&pod, "b2")
            .iter()
            .all(|request| request.contains("/assignments")),
        "{:?}",
        list_requests(&pod, "b2")
    );
    assert_eq!(
        pod.emulator.group("a1").unwrap().area.as_deref(),
        Some("EMEA-North")
    );
}

#[test]
fn a_created_group_gets_its_members_on_the_new_id() {
    let ws = Workspace::new();
    ws.write_group_file(
        "new.yaml",
        "name: EMEA rates\nmembers: [alice, bob]\nassignees: [carol]\n",
    );
    let pod = pod();
    let output = run(&ws, &pod, &["apply"]);
    assert_exit(&output, 0);
    let created = pod
        .emulator
        .groups()
        .into_iter()
        .find(|group| group.name.as_deref() == Some("EMEA rates"))
        .expect("the group was created");
    let id = created.id.unwrap();
    assert_eq!(pod.emulator.members(&id), ["alice", "bob"]);
    assert_eq!(pod.emulator.assignees(&id), ["carol"]);
    let group = pod.emulator.group(&id).unwrap();
    assert_eq!(
        (group.member_count, group.assignee_count),
        (Some(2), Some(1))
    );
    // A new group starts empty: its lists are never read, and the next
    // cycle knows them from the state file.
    assert!(
        list_requests(&pod, &id)
            .iter()
            .all(|request| request.starts_with("PUT ")),
        "{:?}",
        list_requests(&pod, &id)
    );
    pod.emulator.clear_requests();
    let again = run(&ws, &pod, &["apply"]);
    assert_exit(&again, 0);
    assert!(user_writes(&pod).is_empty());
}
