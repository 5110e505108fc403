//! A group's members and assignees, and the users lookup, over real TCP:
//! paging, `expand`, filters, statuses, counts, the bulk replace, entitlements,
//! and seeds that hold users and lists.

use groupsync::emulator::{
    Emulator, EmulatorConfig, Entitlements, SUPER_COMPLIANCE_OFFICER, SeedUser, load_seed,
};
use groupsync::model::{
    Membership, MembershipList, MembershipWritten, Roster, USERGROUPS_PATH, USERS_PATH,
    UserGroupResponse, UserId, UserList, roster_path, roster_user_path,
};
use reqwest::Method;
use serde_json::Value;

use super::{Answer, call, group, put, start_with};
use crate::util::{PodGroup, PodSeed, TOKEN};

const MEMBERS: Roster = Roster::Members;
const ASSIGNEES: Roster = Roster::Assignees;

fn pairs(group_id: &str, usernames: &[&str]) -> Vec<(String, String)> {
    usernames
        .iter()
        .map(|name| (group_id.to_string(), name.to_string()))
        .collect()
}

/// g1 (members alice and bob, assignee olga) and g2 (empty lists); carol
/// and the officer oscar are in no list.
async fn people_pod() -> Emulator {
    start_with(people_config()).await
}

fn people_config() -> EmulatorConfig {
    EmulatorConfig {
        groups: vec![group("g1"), group("g2")],
        users: vec![
            SeedUser::new(1, "alice").name("Alice", "Smith"),
            SeedUser::new(2, "bob"),
            SeedUser::new(3, "carol"),
            SeedUser::officer(11, "olga"),
            SeedUser::new(12, "oscar").roles([SUPER_COMPLIANCE_OFFICER]),
        ],
        memberships: pairs("g1", &["alice", "bob"]),
        assignments: pairs("g1", &["olga"]),
        ..Default::default()
    }
}

fn list_url(pod: &Emulator, id: &str, roster: Roster, query: &str) -> String {
    format!("{}{}?{query}", pod.pod_url(), roster_path(id, roster))
}

async fn list(pod: &Emulator, id: &str, roster: Roster, query: &str) -> Answer {
    call(
        Method::GET,
        &list_url(pod, id, roster, query),
        Some(TOKEN),
        None,
    )
    .await
}

async fn put_user(pod: &Emulator, id: &str, roster: Roster, user: UserId, body: &str) -> Answer {
    let url = format!("{}{}", pod.pod_url(), roster_user_path(id, roster, user));
    call(Method::PUT, &url, Some(TOKEN), Some(body)).await
}

async fn bulk_put(pod: &Emulator, id: &str, body: &str) -> Answer {
    let url = format!("{}{}", pod.pod_url(), roster_path(id, MEMBERS));
    call(Method::PUT, &url, Some(TOKEN), Some(body)).await
}

async fn lookup(pod: &Emulator, query: &str) -> Answer {
    let url = format!("{}{USERS_PATH}?{query}", pod.pod_url());
    call(Method::GET, &url, Some(TOKEN), None).await
}

/// The usernames of a list's records (`expand=user`), in the order listed.
fn usernames(list: &MembershipList) -> Vec<String> {
    list.data
        .iter()
        .map(|record| {
            let user = record.user.as_ref().expect("expand=user nests the user");
            user.username.clone().unwrap()
        })
        .collect()
}

async fn counts(pod: &Emulator, id: &str) -> (Option<i64>, Option<i64>) {
    let group: UserGroupResponse = super::get(pod, id).await.json();
    (group.member_count, group.assignee_count)
}

/// Walks a list from the first page; each page's usernames and whether it carried `next`.
async fn walk(pod: &Emulator, id: &str, roster: Roster, query: &str) -> Vec<(Vec<String>, bool)> {
    let mut pages = Vec::new();
    let mut after = String::new();
    loop {
        let answer = list(pod, id, roster, &format!("{query}{after}")).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let page: MembershipList = answer.json();
        let pagination = page.pagination.clone().expect("every page has pagination");
        pages.push((usernames(&page), pagination.next.is_some()));
        let Some(_) = pagination.next else {
            return pages;
        };
        after = format!(
            "&after={}",
            pagination.cursors.after.expect("an after cursor")
        );
        assert!(pages.len() < 20, "paging does not end");
    }
}

// ---------------------------------------------------------------- listing

#[tokio::test]
async fn a_250_member_group_comes_in_three_pages_of_at_most_100() {
    let names: Vec<String> = (0..250).map(|n| format!("user{n:03}")).collect();
    let pod = start_with(EmulatorConfig {
        groups: vec![group("big")],
        users: names
            .iter()
            .enumerate()
            .map(|(n, name)| SeedUser::new(5000 + n as UserId, name))
            .collect(),
        memberships: names
            .iter()
            .map(|name| ("big".to_string(), name.clone()))
            .collect(),
        page_size: 100,
        ..Default::default()
    })
    .await;

    let pages = walk(&pod, "big", MEMBERS, "active=true&expand=user").await;

    let shape: Vec<(usize, bool)> = pages
        .iter()
        .map(|(users, next)| (users.len(), *next))
        .collect();
    assert_eq!(shape, [(100, true), (100, true), (50, false)]);
    let listed: Vec<String> = pages.into_iter().flat_map(|(users, _)| users).collect();
    assert_eq!(listed, names, "every member once, in user-id order");
    assert_eq!(counts(&pod, "big").await.0, Some(250));
}

#[tokio::test]
async fn expand_nests_the_user_and_the_group_and_assignments_carry_roles() {
    let pod = people_pod().await;

    let plain: MembershipList = list(&pod, "g1", MEMBERS, "").await.json();
    let expanded: MembershipList = list(&pod, "g1", MEMBERS, "expand=user,group").await.json();
    let assignments: MembershipList = list(&pod, "g1", ASSIGNEES, "expand=user").await.json();

    assert_eq!(plain.data.len(), 2);
    assert!(
        plain
            .data
            .iter()
            .all(|record| record.user.is_none() && record.group.is_none())
    );
    assert_eq!(
        plain
            .data
            .iter()
            .map(|record| record.user_id)
            .collect::<Vec<_>>(),
        [Some(1), Some(2)]
    );
    let alice = &expanded.data[0];
    let user = alice.user.as_ref().unwrap();
    assert_eq!(
        (
            user.id,
            user.username.as_deref(),
            user.first_name.as_deref()
        ),
        (Some(1), Some("alice"), Some("Alice"))
    );
    assert_eq!(user.email_address.as_deref(), Some("alice@example.com"));
    assert_eq!(
        alice.group.as_ref().unwrap().name.as_deref(),
        Some("Group g1")
    );
    assert_eq!(
        (
            alice.group_id.as_deref(),
            alice.active,
            alice.user_roles.as_ref()
        ),
        (Some("g1"), Some(true), None)
    );
    assert!(alice.id.is_some() && alice.last_added_date.is_some());
    assert_eq!(usernames(&assignments), ["olga"]);
    assert_eq!(
        assignments.data[0].user_roles,
        Some(vec!["COMPLIANCE_OFFICER".to_string()])
    );
    let by_role = list(
        &pod,
        "g1",
        ASSIGNEES,
        "expand=user&userRole=SUPER_COMPLIANCE_OFFICER",
    )
    .await;
    assert!(by_role.json::<MembershipList>().data.is_empty());
}

#[tokio::test]
async fn a_removed_member_stays_listed_inactive_so_active_true_matters() {
    let pod = people_pod().await;

    let removed = put_user(&pod, "g1", MEMBERS, 2, r#"{"active": false}"#).await;

    assert_eq!(removed.status, 200, "{}", removed.body);
    let everyone: MembershipList = list(&pod, "g1", MEMBERS, "expand=user").await.json();
    assert_eq!(usernames(&everyone), ["alice", "bob"]);
    let bob = &everyone.data[1];
    assert_eq!(bob.active, Some(false));
    assert!(bob.last_removed_date > bob.last_added_date);
    let active: MembershipList = list(&pod, "g1", MEMBERS, "expand=user&active=true")
        .await
        .json();
    assert_eq!(usernames(&active), ["alice"]);
    let inactive: MembershipList = list(&pod, "g1", MEMBERS, "expand=user&active=false")
        .await
        .json();
    assert_eq!(usernames(&inactive), ["bob"]);
    let one: MembershipList = list(&pod, "g1", MEMBERS, "expand=user&userId=1")
        .await
        .json();
    assert_eq!(usernames(&one), ["alice"]);
    assert_eq!(pod.members("g1"), ["alice"]);
}

#[tokio::test]
async fn lists_sort_by_date_descending_on_request() {
    let pod = people_pod().await;
    put_user(&pod, "g1", MEMBERS, 3, r#"{"active": true}"#).await;

    let newest_first: MembershipList = list(&pod, "g1", MEMBERS, "expand=user&sort=-lastAddedDate")
        .await
        .json();

    assert_eq!(usernames(&newest_first)[0], "carol");
    list(&pod, "g1", MEMBERS, "sort=name")
        .await
        .assert_error(400, "sort");
}

#[tokio::test]
async fn a_list_query_must_make_sense() {
    let pod = people_pod().await;

    for query in [
        "active=yes",
        "userId=bob",
        "limit=0",
        "after=zz",
        "expand=users",
    ] {
        list(&pod, "g1", MEMBERS, query).await.assert_error(400, "");
    }
}

// ---------------------------------------------------------------- writing

#[tokio::test]
async fn counts_follow_adds_and_removes_on_every_group_answer() {
    let pod = people_pod().await;
    assert_eq!(counts(&pod, "g1").await, (Some(2), Some(1)));

    put_user(&pod, "g1", MEMBERS, 3, r#"{"active": true}"#).await;
    put_user(&pod, "g1", MEMBERS, 1, r#"{"active": false}"#).await;
    put_user(&pod, "g1", ASSIGNEES, 12, r#"{"active": true}"#).await;

    assert_eq!(counts(&pod, "g1").await, (Some(2), Some(2)));
    let updated: UserGroupResponse = put(&pod, "g1", r#"{"area": "EMEA"}"#).await.json();
    assert_eq!(
        (updated.member_count, updated.assignee_count),
        (Some(2), Some(2))
    );
    let listed: Vec<UserGroupResponse> = call(
        Method::GET,
        &format!("{}{USERGROUPS_PATH}?type=ROLE_SCOPE", pod.pod_url()),
        Some(TOKEN),
        None,
    )
    .await
    .json::<groupsync::model::UserGroupResponseList>()
    .data;
    let counted: Vec<_> = listed
        .iter()
        .map(|group| (group.id.as_deref().unwrap(), group.member_count))
        .collect();
    assert_eq!(counted, [("g1", Some(2)), ("g2", Some(0))]);
    let created: UserGroupResponse = call(
        Method::POST,
        &format!("{}{USERGROUPS_PATH}", pod.pod_url()),
        Some(TOKEN),
        Some(r#"{"name": "New", "type": "ROLE_SCOPE"}"#),
    )
    .await
    .json();
    assert_eq!(
        (created.member_count, created.assignee_count),
        (Some(0), Some(0))
    );
    let id = created.id.unwrap();
    put_user(&pod, &id, MEMBERS, 2, r#"{"active": true}"#).await;
    assert_eq!(counts(&pod, &id).await, (Some(1), Some(0)));
}

#[tokio::test]
async fn a_membership_put_answers_200_and_spells_user_name_with_a_capital_n() {
    let pod = people_pod().await;
    let modified = pod.group("g1").unwrap().modified_date;

    let answer = put_user(&pod, "g1", MEMBERS, 3, r#"{"active": true}"#).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["user"]["userName"], Value::from("carol"));
    assert!(answer.body["user"].get("username").is_none());
    let written: MembershipWritten = answer.json();
    assert_eq!(
        (written.group_id.as_deref(), written.user_id, written.active),
        (Some("g1"), Some(3), Some(true))
    );
    assert!(written.last_added_date.is_some() && written.last_removed_date.is_none());
    assert_eq!(pod.members("g1"), ["alice", "bob", "carol"]);
    assert_eq!(
        pod.group("g1").unwrap().modified_date,
        modified,
        "a list is not the group"
    );
    let again = put_user(&pod, "g1", MEMBERS, 3, r#"{"active": true}"#).await;
    assert_eq!(
        again.json::<MembershipWritten>().last_added_date,
        written.last_added_date
    );
}

#[tokio::test]
async fn an_assignment_put_answers_201_when_new_and_200_after() {
    let pod = people_pod().await;

    let new = put_user(&pod, "g2", ASSIGNEES, 11, r#"{"active": true}"#).await;
    let again = put_user(&pod, "g2", ASSIGNEES, 11, r#"{"active": true}"#).await;
    let removed = put_user(&pod, "g2", ASSIGNEES, 11, r#"{"active": false}"#).await;
    let back = put_user(&pod, "g2", ASSIGNEES, 11, r#"{"active": true}"#).await;

    assert_eq!(
        [new.status, again.status, removed.status, back.status],
        [201, 200, 200, 200]
    );
    let assignment: Membership = new.json();
    assert_eq!(assignment.user.unwrap().username.as_deref(), Some("olga"));
    assert_eq!(
        assignment.user_roles,
        Some(vec!["COMPLIANCE_OFFICER".to_string()])
    );
    assert_eq!(removed.json::<Membership>().active, Some(false));
    assert_eq!(pod.assignees("g2"), ["olga"]);
}

#[tokio::test]
async fn unknown_groups_and_users_are_404() {
    let pod = people_pod().await;

    list(&pod, "nope", MEMBERS, "")
        .await
        .assert_error(404, "nope");
    list(&pod, "nope", ASSIGNEES, "")
        .await
        .assert_error(404, "nope");
    put_user(&pod, "nope", MEMBERS, 1, r#"{"active": true}"#)
        .await
        .assert_error(404, "nope");
    put_user(&pod, "g1", MEMBERS, 999, r#"{"active": true}"#)
        .await
        .assert_error(404, "999");
    put_user(&pod, "g1", ASSIGNEES, 999, r#"{"active": true}"#)
        .await
        .assert_error(404, "999");
    bulk_put(&pod, "nope", r#"[{"username": "alice"}]"#)
        .await
        .assert_error(404, "nope");
}

#[tokio::test]
async fn non_officer_assignees_bad_bodies_and_bad_user_ids_are_400() {
    let pod = people_pod().await;

    put_user(&pod, "g1", ASSIGNEES, 3, r#"{"active": true}"#)
        .await
        .assert_error(400, "carol");
    for body in [
        "",
        "{}",
        r#"{"active": "yes"}"#,
        r#"{"active": true, "x": 1}"#,
        "[]",
    ] {
        put_user(&pod, "g1", MEMBERS, 3, body)
            .await
            .assert_error(400, "");
    }
    let url = format!(
        "{}{}/memberships/carol",
        pod.pod_url(),
        groupsync::model::group_path("g1")
    );
    call(Method::PUT, &url, Some(TOKEN), Some(r#"{"active": true}"#))
        .await
        .assert_error(400, "userId");
    let member_url = format!("{}{}", pod.pod_url(), roster_user_path("g1", MEMBERS, 3));
    call(Method::GET, &member_url, Some(TOKEN), None)
        .await
        .assert_error(405, "");
    call(
        Method::PUT,
        &list_url(&pod, "g1", ASSIGNEES, ""),
        Some(TOKEN),
        Some("[]"),
    )
    .await
    .assert_error(405, "");
    assert_eq!(pod.assignees("g1"), ["olga"]);
    assert_eq!(pod.members("g1"), ["alice", "bob"]);
}

// ---------------------------------------------------------------- the bulk replace

#[tokio::test]
async fn the_bulk_put_replaces_the_whole_membership() {
    let pod = people_pod().await;

    let answer = bulk_put(
        &pod,
        "g1",
        r#"[{"username": "bob"}, {"username": "carol"}]"#,
    )
    .await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["format"], Value::from("TEXT"));
    assert!(answer.body["message"].is_string());
    assert_eq!(
        pod.members("g1"),
        ["bob", "carol"],
        "alice, not listed, is out"
    );
    assert_eq!(counts(&pod, "g1").await.0, Some(2));
    bulk_put(
        &pod,
        "g1",
        r#"[{"username": "alice"}, {"username": "zed"}]"#,
    )
    .await
    .assert_error(400, "zed");
    bulk_put(&pod, "g1", r#"{"username": "alice"}"#)
        .await
        .assert_error(400, "");
    bulk_put(&pod, "g1", r#"[{}]"#)
        .await
        .assert_error(400, "username");
    assert_eq!(
        pod.members("g1"),
        ["bob", "carol"],
        "a refused call changes nothing"
    );
    assert_eq!(bulk_put(&pod, "g1", "[]").await.status, 200);
    assert!(pod.members("g1").is_empty());
}

// ---------------------------------------------------------------- the users lookup

#[tokio::test]
async fn the_users_lookup_finds_the_known_and_leaves_out_the_unknown() {
    let pod = people_pod().await;

    let answer = lookup(&pod, "username=bob,nobody,alice&local=true").await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    let found: UserList = answer.json();
    let ids: Vec<_> = found
        .users
        .iter()
        .map(|user| (user.id.unwrap(), user.username.clone().unwrap()))
        .collect();
    assert_eq!(ids, [(2, "bob".to_string()), (1, "alice".to_string())]);
    assert_eq!(found.users[1].display_name.as_deref(), Some("Alice Smith"));
    let by_id: UserList = lookup(&pod, "uid=11,404").await.json();
    assert_eq!(by_id.users.len(), 1);
    let by_email: UserList = lookup(&pod, "email=carol%40example.com").await.json();
    assert_eq!(by_email.users[0].id, Some(3));
}

#[tokio::test]
async fn the_users_lookup_takes_one_list_of_at_most_100() {
    let pod = people_pod().await;
    let names = |count: usize| {
        (0..count)
            .map(|n| format!("u{n}"))
            .collect::<Vec<_>>()
            .join(",")
    };

    assert_eq!(
        lookup(&pod, &format!("username={}&local=true", names(100)))
            .await
            .status,
        200
    );
    lookup(&pod, &format!("username={}&local=true", names(101)))
        .await
        .assert_error(400, "100");
    lookup(&pod, "username=alice&uid=1")
        .await
        .assert_error(400, "one");
    lookup(&pod, "local=true").await.assert_error(400, "one");
    lookup(&pod, "uid=alice").await.assert_error(400, "uid");
}

// ---------------------------------------------------------------- entitlements

#[tokio::test]
async fn list_reads_need_view_and_list_writes_need_manage() {
    let pod = people_pod().await;
    let viewer = pod.add_session(Entitlements::VIEW_ONLY);
    let manager = pod.add_session(Entitlements::MANAGE_ONLY);
    let nobody = pod.add_session(Entitlements::NONE);
    let members = list_url(&pod, "g1", MEMBERS, "");
    let assignments = list_url(&pod, "g1", ASSIGNEES, "");
    let member = format!("{}{}", pod.pod_url(), roster_user_path("g1", MEMBERS, 3));
    let assignee = format!("{}{}", pod.pod_url(), roster_user_path("g1", ASSIGNEES, 12));
    let add = Some(r#"{"active": true}"#);

    for url in [&members, &assignments] {
        assert_eq!(
            call(Method::GET, url, Some(&viewer), None).await.status,
            200
        );
        call(Method::GET, url, Some(&manager), None)
            .await
            .assert_error(403, "VIEW_ROLE_SCOPES");
    }
    for url in [&member, &assignee] {
        call(Method::PUT, url, Some(&viewer), add)
            .await
            .assert_error(403, "MANAGE_ROLE_SCOPES");
    }
    call(Method::PUT, &members, Some(&viewer), Some("[]"))
        .await
        .assert_error(403, "MANAGE_ROLE_SCOPES");
    assert_eq!((pod.members("g1").len(), pod.assignees("g1").len()), (2, 1));
    assert_eq!(
        call(Method::PUT, &member, Some(&manager), add).await.status,
        200
    );
    assert_eq!(
        call(Method::PUT, &assignee, Some(&manager), add)
            .await
            .status,
        201
    );

    // Looking users up needs a session, no entitlement.
    let users = format!("{}{USERS_PATH}?username=alice", pod.pod_url());
    assert_eq!(
        call(Method::GET, &users, Some(&nobody), None).await.status,
        200
    );
    call(Method::GET, &users, None, None)
        .await
        .assert_error(401, "");
}

// ---------------------------------------------------------------- seeds and admin changes

#[tokio::test]
async fn a_seed_file_holds_users_and_each_group_s_lists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.yaml");
    std::fs::write(
        &path,
        "groups:\n\
         - {id: g1, name: One, memberCount: 40, members: [alice, bob], assignees: [olga]}\n\
         - {id: g2, name: Two}\n\
         users:\n\
         - {id: 1001, username: alice}\n\
         - {id: 1002, username: bob}\n\
         - {id: 2001, username: olga, roles: [COMPLIANCE_OFFICER]}\n",
    )
    .unwrap();

    let pod = start_with(load_seed(&path).unwrap()).await;

    let members: MembershipList = list(&pod, "g1", MEMBERS, "active=true&expand=user")
        .await
        .json();
    assert_eq!(usernames(&members), ["alice", "bob"]);
    assert_eq!(pod.assignees("g1"), ["olga"]);
    assert_eq!(
        counts(&pod, "g1").await,
        (Some(2), Some(1)),
        "the lists, not the seed's count"
    );
    assert_eq!(counts(&pod, "g2").await, (Some(0), Some(0)));
    let found: UserList = lookup(&pod, "username=olga").await.json();
    assert_eq!(found.users[0].id, Some(2001));

    std::fs::write(
        &path,
        "groups: [{id: g1, assignees: [alice]}]\nusers: [{id: 1, username: alice}]\n",
    )
    .unwrap();
    let refused = load_seed(&path).unwrap_err();
    assert!(
        refused.contains("seed.yaml") && refused.contains("alice"),
        "{refused}"
    );
}

#[tokio::test]
async fn set_roster_is_a_portal_change_behind_our_back() {
    let pod = people_pod().await;
    let modified = pod.group("g1").unwrap().modified_date;

    pod.set_roster("g1", MEMBERS, ["alice", "carol"]).unwrap();
    pod.add_user(SeedUser::officer(20, "otto")).unwrap();
    pod.set_roster("g1", ASSIGNEES, ["otto"]).unwrap();

    assert_eq!(pod.members("g1"), ["alice", "carol"]);
    assert_eq!(pod.assignees("g1"), ["otto"]);
    assert_eq!(counts(&pod, "g1").await, (Some(2), Some(1)));
    assert_eq!(pod.group("g1").unwrap().modified_date, modified);
    let bob = pod
        .roster_records("g1", MEMBERS)
        .into_iter()
        .find(|record| record.user_id == Some(2))
        .unwrap();
    assert_eq!(bob.active, Some(false));
    assert!(
        pod.set_roster("g1", ASSIGNEES, ["bob"]).is_err(),
        "bob is no officer"
    );
    assert!(pod.set_roster("g1", MEMBERS, ["zed"]).is_err());
    assert!(pod.set_roster("nope", MEMBERS, ["alice"]).is_err());
    assert_eq!(pod.members("g1"), ["alice", "carol"]);
    assert!(
        pod.add_user(SeedUser::new(99, "alice")).is_err(),
        "alice is user 1"
    );
}

// ---------------------------------------------------------------- the test harness

/// The fixture counts a group's own PUTs apart from its lists' PUTs.
#[test]
fn the_fixture_tells_group_puts_from_list_puts() {
    let pod = PodSeed::new()
        .groups([
            PodGroup::new("a1")
                .members(["alice", "bob"])
                .assignees(["olga"]),
            PodGroup::new("a2").assignees(["bob"]),
        ])
        .users(["carol"])
        .officers(["otto"])
        .user(SeedUser::new(7, "dave").name("Dave", "Jones"))
        .start();
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let emulator = &pod.emulator;
    let (carol, bob, olga) = (
        pod.user_id("carol"),
        pod.user_id("bob"),
        pod.user_id("olga"),
    );

    client.block_on(async {
        put(emulator, "a1", r#"{"area": "EMEA"}"#).await;
        put_user(emulator, "a1", MEMBERS, carol, r#"{"active": true}"#).await;
        put_user(emulator, "a1", MEMBERS, bob, r#"{"active": false}"#).await;
        put_user(emulator, "a1", ASSIGNEES, olga, r#"{"active": false}"#).await;
        bulk_put(emulator, "a1", r#"[{"username": "alice"}]"#).await;
    });

    assert_eq!(pod.put_count(), 1);
    assert_eq!(
        pod.put_log(),
        [("a1".to_string(), serde_json::json!({"area": "EMEA"}))]
    );
    assert_eq!(
        pod.member_puts(),
        [
            ("a1".to_string(), carol, serde_json::json!({"active": true})),
            ("a1".to_string(), bob, serde_json::json!({"active": false})),
        ]
    );
    assert_eq!(
        pod.roster_changes(MEMBERS),
        [
            ("a1".to_string(), "carol".to_string(), true),
            ("a1".to_string(), "bob".to_string(), false),
        ]
    );
    assert_eq!(pod.assignee_puts().len(), 1);
    assert_eq!(pod.bulk_member_put_count(), 1);
    assert_eq!(emulator.members("a1"), ["alice"]);
    let officers: Vec<String> = emulator
        .users()
        .into_iter()
        .filter(SeedUser::is_officer)
        .map(|user| user.username)
        .collect();
    assert_eq!(
        officers,
        ["bob", "olga", "otto"],
        "assignees and officers may be assigned"
    );
    assert_eq!(pod.user_id("alice"), 1001);
    assert_eq!(pod.user_id("dave"), 7);
    assert_eq!(emulator.assignees("a2"), ["bob"]);
    assert_eq!(emulator.group("a1").unwrap().member_count, Some(1));
}
