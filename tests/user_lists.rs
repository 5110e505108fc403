//! Members and assignees against a pod that does not make it easy, through
//! the real binary and a scripted pod: rows that carry a user id and no
//! user, two users who share a name, a user made again under a new id, one
//! user's write failing among others, and a state file that cannot be saved
//! halfway through an apply.

use std::sync::{Arc, Mutex};

use groupsync::model::Roster;
use groupsync::store::snapshot::Snapshot;
use serde_json::{Value, json};

use crate::util::*;

const GROUP_PATH: &str = "/pod/v2/admin/usergroups/g1";

fn group(member_count: usize) -> String {
    json!({"id": "g1", "name": "G", "type": "ROLE_SCOPE", "active": true,
           "memberCount": member_count, "assigneeCount": 0})
    .to_string()
}

/// A membership row: `user` is the expanded user, when the pod gives one.
fn row(user_id: i64, user: Option<&str>) -> Value {
    match user {
        Some(name) => json!({"userId": user_id, "active": true,
                             "user": {"id": user_id, "username": name}}),
        None => json!({"userId": user_id, "active": true}),
    }
}

/// `{users, errors}` holding `users` (id, username).
fn users(users: &[(i64, &str)]) -> String {
    let users: Vec<Value> = users
        .iter()
        .map(|(id, name)| json!({"id": id, "username": name}))
        .collect();
    json!({"users": users, "errors": []}).to_string()
}

/// A pod holding g1 with the membership `rows`; the users lookup knows `known`.
fn pod_with_rows(rows: Vec<Value>, known: &'static [(i64, &'static str)]) -> RawServer {
    let count = rows.len();
    scripted_pod(move |method, target| match (method, target) {
        ("GET", GROUP_PATH) => ("200 OK", group(count)),
        ("GET", target) if target.starts_with(&format!("{GROUP_PATH}/memberships?")) => {
            ("200 OK", page(&rows))
        }
        ("GET", target) if target.starts_with("/pod/v3/users?") => {
            let asked: Vec<(i64, &str)> = known
                .iter()
                .filter(|(id, name)| {
                    target.contains(&format!("={id}"))
                        || target.contains(&format!(",{id}"))
                        || target.contains(name)
                })
                .copied()
                .collect();
            ("200 OK", users(&asked))
        }
        ("PUT", target) if target.starts_with(&format!("{GROUP_PATH}/memberships/")) => {
            ("200 OK", json!({"active": true}).to_string())
        }
        _ => not_found(),
    })
}

fn workspace(pod: &RawServer, members: &str) -> Workspace {
    let ws = Workspace::new();
    ws.write_group_file("g1.yaml", format!("id: g1\nmembers: {members}\n"));
    write_config(&ws, &format!("{}/pod", pod.origin()), "");
    ws
}

#[test]
fn a_member_listed_by_id_alone_counts_and_the_list_converges() {
    // alice's row carries her id and no user at all.
    let pod = pod_with_rows(
        vec![row(7, None), row(8, Some("bob"))],
        &[(7, "alice"), (8, "bob")],
    );
    let ws = workspace(&pod, "[alice, bob]");

    for _ in 0..2 {
        let plan = run_configured(&ws, &["plan", "--refresh"]);
        assert_exit(&plan, 0);
        let text = stdout(&plan);
        assert!(
            text.contains("No changes. 1 group in sync."),
            "{}",
            everything(&plan)
        );
        assert!(!text.contains("Drift"), "{text}");
    }
    assert_eq!(requests_starting(&pod, "PUT "), Vec::<String>::new());
    // The id was named through the users lookup by id.
    assert!(
        !requests_starting(&pod, "GET /pod/v3/users?uid=7").is_empty(),
        "{:?}",
        pod.requests()
    );
}

#[test]
fn two_users_who_share_a_name_are_two_users_and_both_are_removed() {
    let pod = pod_with_rows(
        vec![
            row(7, Some("alice")),
            row(8, Some("bob")),
            row(9, Some("bob")),
        ],
        &[(7, "alice"), (8, "bob"), (9, "bob")],
    );
    let ws = workspace(&pod, "[alice]");

    let plan = run_configured(&ws, &["plan"]);
    assert_exit(&plan, 2);
    let text = stdout(&plan);
    for id in [8, 9] {
        assert!(
            text.contains(&format!(
                "PUT /v2/admin/usergroups/g1/memberships/{id} {{\"active\":false}}  # bob"
            )),
            "{text}"
        );
    }
}

/// A state file of the pod at `pod` that records g1 with the members
/// `members` (id, name) and the user ids `known`.
fn write_state_file(
    ws: &Workspace,
    pod: &RawServer,
    members: &[(i64, &str)],
    known: &[(&str, i64)],
) {
    let members: serde_json::Map<String, Value> = members
        .iter()
        .map(|(id, name)| (id.to_string(), json!(name)))
        .collect();
    let known: serde_json::Map<String, Value> = known
        .iter()
        .map(|(name, id)| (name.to_string(), json!(id)))
        .collect();
    let state = json!({
        "version": 1,
        "pod_url": format!("{}/pod", pod.origin()),
        "groups": {"g1": {
            "pod": serde_json::from_str::<Value>(&group(members.len())).unwrap(),
            "read_at_ms": 1, "written_at_ms": null,
            "members": {"users": members, "read_at_ms": 1},
        }},
        "users": known,
    });
    ws.write_file("state.json", serde_json::to_vec_pretty(&state).unwrap());
}

/// A pod where alice was made again: her old id 7 is unknown (404), her new one is `now`.
fn pod_after_alice_was_made_again(now: Option<i64>) -> RawServer {
    scripted_pod(move |method, target| match (method, target) {
        ("GET", GROUP_PATH) => ("200 OK", group(0)),
        ("GET", target) if target.starts_with("/pod/v3/users?username=alice") => {
            let found: Vec<(i64, &str)> = now.map(|id| (id, "alice")).into_iter().collect();
            ("200 OK", users(&found))
        }
        ("PUT", "/pod/v2/admin/usergroups/g1/memberships/7") => (
            "404 Not Found",
            json!({"code": 404, "message": "user not found"}).to_string(),
        ),
        ("PUT", target) if target.starts_with(&format!("{GROUP_PATH}/memberships/")) => {
            ("200 OK", json!({"active": true}).to_string())
        }
        _ => not_found(),
    })
}

#[test]
fn a_user_made_again_under_a_new_id_is_looked_up_once_more_and_written() {
    let pod = pod_after_alice_was_made_again(Some(17));
    let ws = workspace(&pod, "[alice]");
    write_state_file(&ws, &pod, &[], &[("alice", 7)]);

    let apply = run_configured(&ws, &["apply", "--refresh=false"]);
    assert_exit(&apply, 0);
    assert!(
        stdout(&apply).contains("members added \"alice\""),
        "{}",
        everything(&apply)
    );
    assert_eq!(
        requests_starting(&pod, "PUT "),
        [
            "PUT /pod/v2/admin/usergroups/g1/memberships/7 HTTP/1.1",
            "PUT /pod/v2/admin/usergroups/g1/memberships/17 HTTP/1.1",
        ]
    );
    let state = ws.load_state();
    assert_eq!(state.user_id("alice"), Some(17));
    let members = state.roster("g1", Roster::Members).unwrap();
    assert_eq!(members.usernames(), ["alice"]);
    assert!(members.users.contains_key(&17));

    let again = run_configured(&ws, &["apply", "--refresh=false"]);
    assert_exit(&again, 0);
    assert!(
        stdout(&again).contains("No changes."),
        "{}",
        everything(&again)
    );
}

#[test]
fn a_user_gone_from_the_pod_is_named_as_the_missing_one_and_forgotten() {
    let pod = pod_after_alice_was_made_again(None);
    let ws = workspace(&pod, "[alice]");
    write_state_file(&ws, &pod, &[], &[("alice", 7)]);

    let apply = run_configured(&ws, &["apply", "--refresh=false"]);
    assert_exit(&apply, 1);
    let text = everything(&apply);
    assert!(
        text.contains("the pod has no user \"alice\"") && !text.contains("no such group"),
        "{text}"
    );
    assert_eq!(
        ws.load_state().user_id("alice"),
        None,
        "the stale id is forgotten"
    );
}

#[test]
fn one_users_failed_write_fails_that_user_alone_and_the_others_are_recorded() {
    let pod = scripted_pod(|method, target| match (method, target) {
        ("PUT", "/pod/v2/admin/usergroups/g1/memberships/103") => (
            "400 Bad Request",
            json!({"code": 400, "message": "this user cannot be scoped"}).to_string(),
        ),
        ("PUT", target) if target.starts_with(&format!("{GROUP_PATH}/memberships/")) => {
            ("200 OK", json!({"active": true}).to_string())
        }
        _ => not_found(),
    });
    let ws = workspace(&pod, "[u1, u2, u3, u4, u5]");
    let known = [
        ("u1", 101),
        ("u2", 102),
        ("u3", 103),
        ("u4", 104),
        ("u5", 105),
    ];
    write_state_file(&ws, &pod, &[], &known);

    let apply = run_configured(&ws, &["apply", "--refresh=false"]);
    assert_exit(&apply, 1);
    let text = everything(&apply);
    assert!(
        text.contains("membership \"u3\"") && text.contains("this user cannot be scoped"),
        "{text}"
    );
    assert_eq!(
        requests_starting(&pod, "PUT ").len(),
        5,
        "the others went on"
    );
    let members = ws.load_state();
    let members = members.roster("g1", Roster::Members).unwrap();
    assert_eq!(members.usernames(), ["u1", "u2", "u4", "u5"]);
    // What is left to do is u3 alone.
    let plan = run_configured(&ws, &["plan", "--refresh=false"]);
    assert_exit(&plan, 2);
    let lines: Vec<String> = stdout(&plan)
        .lines()
        .filter(|line| line.starts_with("PUT "))
        .map(str::to_string)
        .collect();
    assert_eq!(
        lines,
        ["PUT /v2/admin/usergroups/g1/memberships/103 {\"active\":true}  # u3"]
    );
}

#[test]
fn a_one_shot_apply_says_each_write_once() {
    let pod = pod_with_rows(vec![row(8, Some("bob"))], &[(7, "alice"), (8, "bob")]);
    let ws = workspace(&pod, "[alice, bob]");
    let apply = run_configured(&ws, &["apply"]);
    assert_exit(&apply, 0);
    assert!(
        stdout(&apply).contains("updated g1 (groups.d/g1.yaml): members added \"alice\""),
        "{}",
        everything(&apply)
    );
    assert!(
        !stderr(&apply).contains("updated group"),
        "the summary says it already:\n{}",
        everything(&apply)
    );
}

/// 40 groups, each to be given a new area, on a pod that takes its time.
fn slow_pod_of_forty(puts: Arc<Mutex<usize>>) -> RawServer {
    scripted_pod(move |method, target| {
        let id = target.rsplit('/').next().unwrap_or_default().to_string();
        match method {
            "PUT" => {
                *puts.lock().unwrap() += 1;
                std::thread::sleep(std::time::Duration::from_millis(150));
                let body = json!({"id": id, "name": id, "area": "NEW", "type": "ROLE_SCOPE", "active": true});
                ("200 OK", body.to_string())
            }
            _ => not_found(),
        }
    })
}

#[test]
fn a_state_file_that_cannot_be_saved_stops_new_writes_and_the_summary_says_why() {
    let puts = Arc::new(Mutex::new(0));
    let pod = slow_pod_of_forty(puts.clone());
    let ws = Workspace::new();
    let ids: Vec<String> = (0..40).map(|index| format!("g{index:02}")).collect();
    for id in &ids {
        ws.write_group_file(&format!("{id}.yaml"), format!("id: {id}\narea: NEW\n"));
    }
    write_config(&ws, &format!("{}/pod", pod.origin()), "concurrency: 1\n");
    let pods: Vec<_> = ids
        .iter()
        .map(|id| PodGroup::new(id).name(id).area("OLD").build())
        .collect();
    ws.write_state(&pods);
    std::fs::create_dir(ws.path().join("state")).unwrap();
    std::fs::rename(ws.state_file(), ws.path().join("state/state.json")).unwrap();

    let child = ws
        .groupsync_std()
        .args(["apply", "--refresh=false", "--config", "groupsync.yaml"])
        .args(["--groups-dir", "groups.d", "--state", "state/state.json"])
        .env("GROUPSYNC_SESSION_TOKEN", TOKEN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the apply has written", || *puts.lock().unwrap() >= 2);
    // The disk is gone from under it: every save from now on fails.
    std::fs::rename(ws.path().join("state"), ws.path().join("moved")).unwrap();
    let output = child.wait_with_output().unwrap();

    assert_exit(&output, 1);
    let text = stdout(&output);
    assert!(
        text.contains("not started: the state file could not be saved")
            && text.contains("error: state file"),
        "{}",
        everything(&output)
    );
    assert!(
        *puts.lock().unwrap() < ids.len(),
        "writes went on after the save failed"
    );
    // The state file as it was is intact.
    let kept = std::fs::read_to_string(ws.path().join("moved/state.json")).unwrap();
    assert_eq!(Snapshot::from_json(&kept).unwrap().len(), ids.len());
}

/// The membership requests the emulator saw, as `GET ...?query` lines.
fn membership_reads(pod: &PodFixture) -> Vec<String> {
    pod.emulator
        .requests()
        .into_iter()
        .filter(|request| request.method == "GET" && request.path.ends_with("/memberships"))
        .map(|request| format!("GET ?{}", request.query.unwrap_or_default()))
        .collect()
}

#[test]
fn a_long_list_in_sync_is_probed_and_walked_only_when_it_moved() {
    let names: Vec<String> = (0..250).map(|index| format!("user{index:03}")).collect();
    let pod = PodSeed::new()
        .group(PodGroup::new("g1").members(names.iter().map(String::as_str)))
        .users(["newcomer"])
        .start();
    let ws = Workspace::new();
    ws.write_group_file(
        "g1.yaml",
        format!("id: g1\nmembers: [{}]\n", names.join(", ")),
    );
    assert_exit(&pod.run(&ws, &["apply"]), 0);

    // In sync: one row sorted each way, no walk of its three pages.
    pod.emulator.clear_requests();
    assert_exit(&pod.run(&ws, &["apply", "--refresh"]), 0);
    let reads = membership_reads(&pod);
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert!(
        reads.iter().all(|read| read.contains("limit=1")),
        "{reads:?}"
    );
    assert_eq!(pod.put_count() + pod.member_puts().len(), 0);

    // Swapped in the portal: that list is walked, the drift put back.
    let mut swapped: Vec<&str> = names.iter().skip(1).map(String::as_str).collect();
    swapped.push("newcomer");
    pod.emulator
        .set_roster("g1", Roster::Members, swapped)
        .unwrap();
    pod.emulator.clear_requests();
    let apply = pod.run(&ws, &["apply", "--refresh"]);
    assert_exit(&apply, 0);
    let reads = membership_reads(&pod);
    assert!(
        reads
            .iter()
            .filter(|read| read.contains("active=true"))
            .count()
            >= 3,
        "walked whole: {reads:?}"
    );
    assert_eq!(pod.member_puts().len(), 2, "{}", stdout(&apply));
    assert_eq!(pod.emulator.members("g1").len(), 250);
    assert!(!pod.emulator.members("g1").contains(&"newcomer".to_string()));
}

#[test]
fn a_pod_that_ignores_sort_has_its_long_lists_walked_whole() {
    let rows: Vec<Value> = (0..250)
        .map(|index| {
            json!({"userId": 1000 + index, "active": true, "lastAddedDate": 1_000 + index,
                   "user": {"id": 1000 + index, "username": format!("user{index:03}")}})
        })
        .collect();
    let names: Vec<String> = (0..250).map(|index| format!("user{index:03}")).collect();
    let pod = scripted_pod(move |method, target| match (method, target) {
        ("GET", GROUP_PATH) => ("200 OK", group(250)),
        // Sorted or not, the same order: the oldest first.
        ("GET", target) if target.starts_with(&format!("{GROUP_PATH}/memberships?")) => {
            let shown = if target.contains("limit=1&") || target.ends_with("limit=1") {
                &rows[..1]
            } else {
                &rows[..]
            };
            ("200 OK", page(shown))
        }
        _ => not_found(),
    });
    let ws = workspace(&pod, &format!("[{}]", names.join(", ")));
    assert_exit(&run_configured(&ws, &["apply"]), 0);

    let apply = run_configured(&ws, &["apply", "--refresh", "--log-level", "debug"]);
    assert_exit(&apply, 0);
    assert!(
        stderr(&apply).contains("the pod ignores `sort`"),
        "{}",
        everything(&apply)
    );
    let walks = requests_starting(
        &pod,
        "GET /pod/v2/admin/usergroups/g1/memberships?active=true",
    );
    assert_eq!(walks.len(), 2, "walked whole each time: {walks:?}");
    assert!(
        stdout(&apply).contains("No changes."),
        "{}",
        everything(&apply)
    );
}
