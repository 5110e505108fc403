//! `groupsync import` writes each group's members and assignees, through
//! the real binary: against the emulator, a plan right after the import
//! has nothing to do for the lists either; against a scripted pod, a user
//! no lookup can name and a list the pod will not show each become a
//! comment in a file that still loads; `--no-members` writes what import
//! wrote before it read lists.

use groupsync::model::Roster;
use serde_json::{Value, json};

use crate::util::*;

/// A pod with two undeclared groups holding members and assignees (b2 has
/// no members), and c3, which `groups.d/declared.yaml` declares.
fn pod_with_lists() -> PodFixture {
    PodSeed::new()
        .group(
            PodGroup::new("a1")
                .name("EMEA trading")
                .area("EMEA")
                .members(["carol", "alice", "null", "bob"])
                .assignees(["olga"]),
        )
        .group(
            PodGroup::new("b2")
                .name("APAC wealth")
                .area("APAC")
                .members([])
                .assignees(["pete", "olga"]),
        )
        .group(PodGroup::new("c3").name("Declared").members(["alice"]))
        .start()
}

fn workspace() -> Workspace {
    let ws = Workspace::new();
    ws.write_group_file("declared.yaml", "id: c3\nname: Declared\n");
    ws
}

/// How many list reads (`GET .../{segment}`) the pod has served for group `id`.
fn list_reads(pod: &PodFixture, id: &str, roster: Roster) -> usize {
    let path = format!("{GROUP_PREFIX}{id}/{}", roster.segment());
    pod.emulator
        .requests()
        .iter()
        .filter(|request| request.method == "GET" && request.path == path)
        .count()
}

fn writes(pod: &PodFixture) -> Vec<String> {
    pod.emulator
        .requests()
        .into_iter()
        .filter(|request| request.method != "GET")
        .map(|request| format!("{} {}", request.method, request.path))
        .collect()
}

#[test]
fn an_import_writes_members_and_assignees_and_plan_then_says_no_changes() {
    let ws = workspace();
    let pod = pod_with_lists();

    let output = pod.run(&ws, &["import", "--out", "groups.d/imported.yaml"]);

    assert_exit(&output, 0);
    assert_eq!(
        stderr(&output),
        "groups.d/imported.yaml: imported 2 groups; skipped 1 group already declared\n"
    );
    let yaml = std::fs::read_to_string(ws.groups_dir().join("imported.yaml")).unwrap();
    let body = yaml.split_once("groups:\n").unwrap().1;
    assert_eq!(
        body,
        "  - id: \"b2\"\n    name: APAC wealth\n    area: APAC\n    description: \"\"\n    active: true\n    \
         members: []\n    assignees:\n      - olga\n      - pete\n\
         \x20 - id: \"a1\"\n    name: EMEA trading\n    area: EMEA\n    description: \"\"\n    active: true\n    \
         members:\n      - alice\n      - bob\n      - carol\n      - \"null\"\n    assignees:\n      - olga\n",
        "sorted usernames; a name YAML would misread quoted"
    );
    // One read per list; b2's members are known empty from its count.
    for (id, roster, reads) in [
        ("a1", Roster::Members, 1),
        ("a1", Roster::Assignees, 1),
        ("b2", Roster::Members, 0),
        ("b2", Roster::Assignees, 1),
        ("c3", Roster::Members, 0),
    ] {
        assert_eq!(list_reads(&pod, id, roster), reads, "{id} {roster}");
    }
    let state = ws.load_state();
    let members = state.roster("a1", Roster::Members).unwrap();
    assert_eq!(members.usernames(), ["alice", "bob", "carol", "null"]);
    assert!(members.users.contains_key(&pod.user_id("carol")));
    assert_eq!(
        state.roster("b2", Roster::Members).unwrap().usernames(),
        Vec::<String>::new()
    );
    assert!(state.roster("c3", Roster::Members).is_none());

    assert_exit(&pod.run(&ws, &["validate"]), 0);
    pod.emulator.clear_requests();
    // From the state file alone, what import recorded is enough.
    let plan = pod.run(&ws, &["plan", "--refresh=false"]);
    assert_exit(&plan, 0);
    assert_eq!(stdout(&plan), "No changes. 3 groups in sync.\n");
    for (id, roster) in [("a1", Roster::Members), ("b2", Roster::Assignees)] {
        assert_eq!(
            list_reads(&pod, id, roster),
            0,
            "the state file knew {id} {roster}"
        );
    }
    let refreshed = pod.run(&ws, &["plan", "--refresh"]);
    assert_exit(&refreshed, 0);
    assert_eq!(stdout(&refreshed), "No changes. 3 groups in sync.\n");
    assert_eq!(
        list_reads(&pod, "a1", Roster::Members),
        1,
        "--refresh read it"
    );
    assert_eq!(writes(&pod), Vec::<String>::new());
}

#[test]
fn no_members_writes_the_groups_alone_and_reads_no_list() {
    let ws = workspace();
    let pod = pod_with_lists();

    let output = pod.run(
        &ws,
        &["import", "--no-members", "--out", "groups.d/imported.yaml"],
    );

    assert_exit(&output, 0);
    let yaml = std::fs::read_to_string(ws.groups_dir().join("imported.yaml")).unwrap();
    let body = yaml.split_once("groups:\n").unwrap().1;
    assert_eq!(
        body,
        "  - id: \"b2\"\n    name: APAC wealth\n    area: APAC\n    description: \"\"\n    active: true\n\
         \x20 - id: \"a1\"\n    name: EMEA trading\n    area: EMEA\n    description: \"\"\n    active: true\n"
    );
    let list_requests: Vec<String> = pod
        .emulator
        .requests()
        .into_iter()
        .map(|request| request.path)
        .filter(|path| path.ends_with("/memberships") || path.ends_with("/assignments"))
        .collect();
    assert_eq!(list_requests, Vec::<String>::new());
    assert!(ws.load_state().roster("a1", Roster::Members).is_none());
    let plan = pod.run(&ws, &["plan"]);
    assert_exit(&plan, 0);
    assert_eq!(stdout(&plan), "No changes. 3 groups in sync.\n");
}

// ---------------------------------------------------------------------------
// A pod that does not make it easy
// ---------------------------------------------------------------------------

const LIST_PATH: &str = "/pod/v2/admin/usergroups/g1/";

/// A membership row: `user` is the expanded user, when the pod gives one.
fn row(user_id: i64, user: Option<&str>) -> Value {
    match user {
        Some(name) => json!({"userId": user_id, "active": true,
                             "user": {"id": user_id, "username": name}}),
        None => json!({"userId": user_id, "active": true}),
    }
}

/// A pod holding g1 with the member `members` rows; its assignees list
/// answers `assignees` (status and rows); the users lookup by id knows
/// `known` (id, username) and nobody else, or answers 403 when `None`.
fn scripted(
    members: Vec<Value>,
    assignees: (&'static str, Vec<Value>),
    known: Option<&'static [(i64, &'static str)]>,
) -> RawServer {
    let group = json!({"id": "g1", "name": "Desk", "area": "EMEA", "description": "",
                       "type": "ROLE_SCOPE", "active": true,
                       "memberCount": members.len(), "assigneeCount": assignees.1.len()});
    scripted_pod(move |method, target| {
        if method != "GET" {
            return not_found();
        }
        if target.starts_with("/pod/v2/admin/usergroups?") {
            return ("200 OK", page(std::slice::from_ref(&group)));
        }
        if target == "/pod/v2/admin/usergroups/g1" {
            return ("200 OK", group.to_string());
        }
        if let Some(list) = target.strip_prefix(LIST_PATH) {
            if list.starts_with("memberships?") {
                return ("200 OK", page(&members));
            }
            if list.starts_with("assignments?") {
                return match assignees.0 {
                    "403" => (
                        "403 Forbidden",
                        json!({"code": 403, "message": "not allowed"}).to_string(),
                    ),
                    "400" => (
                        "400 Bad Request",
                        json!({"code": 400, "message": "bad list"}).to_string(),
                    ),
                    _ => ("200 OK", page(&assignees.1)),
                };
            }
        }
        if target.starts_with("/pod/v3/users?uid=") {
            let Some(known) = known else {
                return (
                    "403 Forbidden",
                    json!({"code": 403, "message": "no user lookups"}).to_string(),
                );
            };
            let users: Vec<Value> = known
                .iter()
                .filter(|(id, _)| target.contains(&id.to_string()))
                .map(|(id, name)| json!({"id": id, "username": name}))
                .collect();
            return ("200 OK", json!({"users": users, "errors": []}).to_string());
        }
        not_found()
    })
}

fn scripted_workspace(pod: &RawServer) -> Workspace {
    let ws = Workspace::new();
    std::fs::create_dir(ws.groups_dir()).unwrap();
    write_config(&ws, &format!("{}/pod", pod.origin()), "");
    ws
}

fn imported_body(ws: &Workspace) -> String {
    let yaml = std::fs::read_to_string(ws.groups_dir().join("imported.yaml")).unwrap();
    yaml.split_once("groups:\n").unwrap().1.to_string()
}

#[test]
fn a_user_no_lookup_can_name_and_a_name_the_loader_refuses_become_comments_and_the_file_loads() {
    // 7 is named by the lookup; 9 is named nowhere (a deleted account);
    // 10's username holds an invisible character.
    let pod = scripted(
        vec![
            row(8, Some("bob")),
            row(7, None),
            row(9, None),
            row(10, Some("eve\u{200B}")),
        ],
        ("200", vec![row(20, Some("olga"))]),
        Some(&[(7, "alice")]),
    );
    let ws = scripted_workspace(&pod);

    let output = run_configured(&ws, &["import", "--out", "groups.d/imported.yaml"]);

    assert_exit(&output, 0);
    assert_eq!(
        imported_body(&ws),
        "  - id: \"g1\"\n    name: Desk\n    area: EMEA\n    description: \"\"\n    active: true\n    \
         # members: user 9 has no username (a deleted account?), so it cannot be listed here; `apply` \
         removes it from the pod's list\n    \
         # members: user 10 (\"eve\\u{200b}\") cannot be listed here, as groupsync cannot load its name \
         (`members` holds the invisible character U+200B; remove it (control, bidi, zero-width and other \
         invisible characters make text show other than it reads)); `apply` removes it from the pod's list\n    \
         members:\n      - alice\n      - bob\n    assignees:\n      - olga\n",
        "{}",
        everything(&output)
    );
    let message = stderr(&output);
    assert!(
        message.contains("warning: 2 users on the lists imported cannot be written as a username"),
        "{message}"
    );
    assert!(
        message.trim_end().ends_with(
            "groups.d/imported.yaml: imported 1 group; skipped 0 groups already declared"
        ),
        "{message}"
    );
    assert_eq!(
        requests_starting(&pod, "GET /pod/v3/users?uid=").len(),
        1,
        "both unnamed users in one lookup"
    );
    assert_exit(&run_configured(&ws, &["validate"]), 0);
    let members = ws.load_state();
    let members = members.roster("g1", Roster::Members).unwrap();
    assert_eq!(
        members.users.values().collect::<Vec<_>>(),
        ["alice", "bob", "#9", "eve\u{200B}"],
        "the state file records the list as the pod has it"
    );

    // As the comments say: the plan removes the two it could not write.
    let plan = run_configured(&ws, &["plan"]);
    assert_exit(&plan, 2);
    let text = stdout(&plan);
    for id in [9, 10] {
        assert!(
            text.contains(&format!(
                "PUT /v2/admin/usergroups/g1/memberships/{id} {{\"active\":false}}"
            )),
            "{text}"
        );
    }
    assert_eq!(requests_starting(&pod, "PUT "), Vec::<String>::new());
}

#[test]
fn a_list_the_pod_will_not_show_is_left_out_with_a_comment_and_a_warning() {
    let pod = scripted(
        vec![row(8, Some("bob")), row(7, Some("alice"))],
        ("403", vec![row(20, Some("olga"))]),
        Some(&[]),
    );
    let ws = scripted_workspace(&pod);

    let output = run_configured(&ws, &["import", "--out", "groups.d/imported.yaml"]);

    assert_exit(&output, 0);
    let body = imported_body(&ws);
    assert!(
        body.ends_with(
            "    active: true\n    members:\n      - alice\n      - bob\n    \
             # assignees: not imported, so groupsync leaves them alone: the pod would not list them \
             (GET /v2/admin/usergroups/g1/assignments: the pod answered 403 (code 403): not allowed; \
             the bot needs the Scope Management role with MANAGE_ROLE_SCOPES (to write) / VIEW_ROLE_SCOPES \
             (to read))\n"
        ),
        "{body}"
    );
    let message = stderr(&output);
    assert!(
        message.starts_with(
            "warning: the assignees of id \"g1\" (name \"Desk\") are left out: the pod would not list them \
             (GET /v2/admin/usergroups/g1/assignments: the pod answered 403"
        ),
        "{message}"
    );
    assert!(
        message
            .trim_end()
            .ends_with("imported 1 group; skipped 0 groups already declared"),
        "{message}"
    );
    assert_exit(&run_configured(&ws, &["validate"]), 0);
    let state = ws.load_state();
    assert!(state.roster("g1", Roster::Members).is_some());
    assert!(state.roster("g1", Roster::Assignees).is_none());
    let plan = run_configured(&ws, &["plan"]);
    assert_exit(&plan, 0);
    assert_eq!(stdout(&plan), "No changes. 1 group in sync.\n");
}

#[test]
fn a_list_read_failing_other_than_403_or_404_fails_the_import_and_writes_nothing() {
    let pod = scripted(
        vec![row(8, Some("bob"))],
        ("400", vec![row(20, Some("olga"))]),
        Some(&[]),
    );
    let ws = scripted_workspace(&pod);

    let output = run_configured(&ws, &["import", "--out", "groups.d/imported.yaml"]);

    assert_exit(&output, 1);
    let message = stderr(&output);
    assert!(
        message.contains("GET /v2/admin/usergroups/g1/assignments") && message.contains("400"),
        "{message}"
    );
    assert!(!ws.groups_dir().join("imported.yaml").exists());
    assert!(!ws.state_file().exists(), "nothing recorded");
}

#[test]
fn a_list_naming_users_by_id_alone_is_left_out_when_the_pod_will_not_name_them() {
    let pod = scripted(
        vec![row(8, Some("bob")), row(7, None)],
        ("200", vec![row(20, Some("olga"))]),
        None,
    );
    let ws = scripted_workspace(&pod);

    let output = run_configured(&ws, &["import", "--out", "groups.d/imported.yaml"]);

    assert_exit(&output, 0);
    let body = imported_body(&ws);
    assert!(
        body.contains(
            "    # members: not imported, so groupsync leaves them alone: some of them are listed by id alone, \
             and the pod refused to name them (GET /v3/users: the pod answered 403"
        ),
        "{body}"
    );
    assert!(
        body.contains("writing the list without them would remove them"),
        "{body}"
    );
    assert!(!body.contains("    members:"), "{body}");
    assert!(body.ends_with("    assignees:\n      - olga\n"), "{body}");
    assert!(
        stderr(&output)
            .starts_with("warning: the members of id \"g1\" (name \"Desk\") are left out"),
        "{}",
        everything(&output)
    );
    assert!(ws.load_state().roster("g1", Roster::Members).is_none());
    assert_exit(&run_configured(&ws, &["validate"]), 0);
    let plan = run_configured(&ws, &["plan"]);
    assert_exit(&plan, 0);
    assert_eq!(stdout(&plan), "No changes. 1 group in sync.\n");
}
