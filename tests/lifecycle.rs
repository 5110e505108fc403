//! The whole life of a group in git, through the real binary against the pod
//! emulator: groups declared without `id` are created or adopted by name, a
//! create is never sent twice, and `import` writes what the pod has.

use std::process::Output;

use groupsync::model::{ROLE_SCOPE, UserGroupResponse};
use groupsync::pod::auth::{AuthSource, SessionToken};
use groupsync::pod::retry::RetryPolicy;
use groupsync::pod::{Created, PodClient, Timeouts};
use serde_json::{Value, json};

use crate::util::*;

const POST_PATH: &str = "/pod/v2/admin/usergroups";

/// `groupsync ARGS` in `ws` against `pod` (see [`PodFixture::run`]).
fn run(ws: &Workspace, pod: &PodFixture, args: &[&str]) -> Output {
    pod.run(ws, args)
}

/// Every POST that creates a group, as (status, body).
fn posts(pod: &PodFixture) -> Vec<(u16, Value)> {
    pod.emulator
        .requests()
        .into_iter()
        .filter(|request| request.method == "POST" && request.path == POST_PATH)
        .map(|request| (request.status, request.body.expect("a JSON body")))
        .collect()
}

/// The pod's groups named `name`.
fn named(pod: &PodFixture, name: &str) -> Vec<UserGroupResponse> {
    pod.emulator
        .groups()
        .into_iter()
        .filter(|group| group.name.as_deref() == Some(name))
        .collect()
}

/// The one pod group named `name`.
#[track_caller]
fn only_named(pod: &PodFixture, name: &str) -> UserGroupResponse {
    let mut found = named(pod, name);
    assert_eq!(found.len(), 1, "groups named {name:?}: {found:#?}");
    found.remove(0)
}

// ---------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------

#[test]
fn a_group_without_id_is_created_with_exactly_its_declared_fields_once() {
    let ws = Workspace::new();
    ws.write_group_file(
        "rates.yaml",
        "name: EMEA rates\narea: EMEA\ndescription: Rates desks in London\n",
    );
    let pod = token_pod(vec![PodGroup::new("a1").build()]);

    let output = run(&ws, &pod, &["apply"]);

    assert_exit(&output, 0);
    assert_eq!(
        posts(&pod),
        [(
            201,
            json!({"name": "EMEA rates", "type": ROLE_SCOPE, "area": "EMEA", "description": "Rates desks in London"})
        )]
    );
    assert_eq!(
        pod.put_count(),
        0,
        "an active group needs no PUT after its POST"
    );
    let created = only_named(&pod, "EMEA rates");
    let id = created.id.clone().unwrap().into_string();
    let text = stdout(&output);
    assert!(
        text.contains(&format!(
            "created {id} (groups.d/rates.yaml): EMEA rates; add id: \"{id}\" to pin it"
        )),
        "{text}"
    );
    assert!(
        text.contains("Apply: 1 created, 0 updated, 0 failed, 0 unchanged."),
        "{text}"
    );
    assert_eq!(ws.load_state().get(&id), Some(&created), "recorded at once");

    // The next cycle finds it by name in the snapshot: nothing to send at all.
    pod.emulator.clear_requests();
    let again = run(&ws, &pod, &["apply", "--refresh=false"]);
    assert_exit(&again, 0);
    assert!(
        stdout(&again).contains("No changes. 1 group in sync."),
        "{}",
        stdout(&again)
    );
    assert_eq!(
        pod.emulator.requests(),
        [],
        "the second apply sent a request"
    );
}

#[test]
fn a_group_declared_inactive_is_created_then_deactivated_by_one_put() {
    let ws = Workspace::new();
    ws.write_group_file("old.yaml", "name: Retired desk\nactive: false\n");
    let pod = token_pod(vec![]);

    let plan = run(&ws, &pod, &["plan"]);
    assert_exit(&plan, 2);
    let text = stdout(&plan);
    assert!(
        text.contains(
            "POST /v2/admin/usergroups {\"name\":\"Retired desk\",\"type\":\"ROLE_SCOPE\"}\n\
             PUT /v2/admin/usergroups/{new id} {\"active\":false}\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("Plan: 1 to create, 0 to update, 0 unchanged."),
        "{text}"
    );

    let output = run(&ws, &pod, &["apply"]);

    assert_exit(&output, 0);
    assert_eq!(
        posts(&pod),
        [(201, json!({"name": "Retired desk", "type": ROLE_SCOPE}))]
    );
    let created = only_named(&pod, "Retired desk");
    let id = created.id.clone().unwrap().into_string();
    assert_eq!(pod.put_log(), [(id.clone(), json!({"active": false}))]);
    assert_eq!(created.active, Some(false));
    assert_eq!(ws.load_state().get(&id), Some(&created));
    let again = run(&ws, &pod, &["apply"]);
    assert_exit(&again, 0);
    assert_eq!((posts(&pod).len(), pod.put_count()), (1, 1));
}

#[test]
fn a_created_group_renamed_on_the_pod_is_drift_not_a_second_create() {
    let ws = Workspace::new();
    ws.write_group_file("rates.yaml", "name: EMEA rates\narea: EMEA\n");
    let pod = token_pod(vec![]);
    assert_exit(&run(&ws, &pod, &["apply"]), 0);
    let mut renamed = only_named(&pod, "EMEA rates");
    let id = renamed.id.clone().unwrap();
    renamed.name = Some("EMEA rates (by hand)".into());
    pod.emulator.set_group(renamed);

    let output = run(&ws, &pod, &["apply", "--refresh"]);

    assert_exit(&output, 0);
    let text = stdout(&output);
    assert!(
        text.contains(&format!(
            "Drift: {id} changed outside groupsync: name \"EMEA rates\" -> \"EMEA rates (by hand)\""
        )),
        "{text}"
    );
    assert_eq!(posts(&pod).len(), 1, "a second POST was sent");
    assert_eq!(
        pod.put_log(),
        [(id.to_string(), json!({"name": "EMEA rates"}))]
    );
    assert_eq!(only_named(&pod, "EMEA rates").id, Some(id));
}

// ---------------------------------------------------------------------------
// Adopt
// ---------------------------------------------------------------------------

#[test]
fn a_name_the_pod_has_is_adopted_and_updated_without_a_post() {
    let ws = Workspace::new();
    ws.write_group_file("rates.yaml", "name: EMEA rates\narea: EMEA\n");
    ws.write_group_file("fx.yaml", "name: EMEA FX\narea: EMEA\n");
    let pod = token_pod(vec![
        PodGroup::new("a1")
            .name("EMEA rates")
            .area("EMEA-old")
            .build(),
        PodGroup::new("b2").name("EMEA FX").area("EMEA").build(),
        PodGroup::new("c3").name("emea rates").build(),
    ]);

    let plan = run(&ws, &pod, &["plan", "--format", "json"]);
    assert_exit(&plan, 2);
    let plan: Value = serde_json::from_str(&stdout(&plan)).unwrap();
    assert_eq!(plan["changes"].as_array().unwrap().len(), 1, "{plan:#}");
    assert_eq!(plan["changes"][0]["action"], "adopt");
    assert_eq!(plan["changes"][0]["group_id"], "a1");
    assert_eq!(plan["unchanged"], 1);
    // Whether plan records what it read is not the point here: start afresh.
    let _ = std::fs::remove_file(ws.state_file());

    let output = run(&ws, &pod, &["apply"]);

    assert_exit(&output, 0);
    assert_eq!(posts(&pod), [], "an adopted group is never posted");
    assert_eq!(pod.put_log(), [("a1".to_string(), json!({"area": "EMEA"}))]);
    let text = stdout(&output);
    assert!(
        text.contains("adopted a1 (groups.d/rates.yaml): EMEA rates; add id: \"a1\" to pin it"),
        "{text}"
    );
    let state = ws.load_state();
    assert!(
        state.get("a1").is_some() && state.get("b2").is_some(),
        "both recorded"
    );
    assert_eq!(state.get("c3"), None, "a name is matched exactly");
}

#[test]
fn a_name_several_pod_groups_bear_fails_alone_naming_them() {
    let ws = Workspace::new();
    ws.write_group_file(
        "groups.yaml",
        "groups:\n  - name: Duplicated\n    area: X\n  - name: Brand new\n  - id: c3\n    area: AMER\n",
    );
    let pod = token_pod(vec![
        PodGroup::new("b1").name("Duplicated").build(),
        PodGroup::new("b2").name("Duplicated").build(),
        PodGroup::new("c3").area("old").build(),
    ]);

    let output = run(&ws, &pod, &["apply"]);

    assert_exit(&output, 1);
    let text = stdout(&output);
    assert!(
        text.contains(
            "error: groups.d/groups.yaml:2:5: the pod has 2 groups named \"Duplicated\" (ids b1, b2); \
             add `id:` with the one this group means"
        ),
        "{text}"
    );
    assert_eq!(
        posts(&pod),
        [(201, json!({"name": "Brand new", "type": ROLE_SCOPE}))]
    );
    assert_eq!(pod.put_log(), [("c3".to_string(), json!({"area": "AMER"}))]);
    assert_eq!(named(&pod, "Duplicated").len(), 2);

    let json = run(&ws, &pod, &["plan", "--format", "json"]);
    assert_exit(&json, 1);
    let json: Value = serde_json::from_str(&stdout(&json)).unwrap();
    let message = json["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("(ids b1, b2)"), "{json:#}");
}

// ---------------------------------------------------------------------------
// A create is never sent twice
// ---------------------------------------------------------------------------

#[test]
fn a_post_whose_answer_is_lost_makes_exactly_one_group() {
    let ws = Workspace::new();
    ws.write_group_file("rates.yaml", "name: EMEA rates\nactive: false\n");
    ws.write_file("groupsync.yaml", FAST_RETRY);
    let pod = token_pod(vec![]);
    pod.emulator.drop_next_answers("POST", 1);

    let output = ws
        .groupsync_std()
        .args(["apply", "--config", "groupsync.yaml"])
        .args(["--groups-dir", "groups.d", "--state", "state.json"])
        .env("GROUPSYNC_POD_URL", pod.emulator.pod_url())
        .env("GROUPSYNC_SESSION_TOKEN", TOKEN)
        .output()
        .unwrap();

    assert_exit(&output, 0);
    let created = only_named(&pod, "EMEA rates");
    let id = created.id.clone().unwrap().into_string();
    assert_eq!(posts(&pod).len(), 1, "the POST was sent again");
    assert_eq!(posts(&pod)[0].0, 0, "its answer was lost");
    assert_eq!(
        created.active,
        Some(false),
        "and the group was still deactivated"
    );
    assert_eq!(ws.load_state().get(&id), Some(&created));
    assert!(
        stdout(&output).contains(&format!("created {id} ")),
        "{}",
        stdout(&output)
    );
}

#[test]
fn after_a_5xx_the_name_is_looked_up_and_the_post_sent_again_only_if_absent() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pod = token_pod(vec![]);
    let client = PodClient::new(
        &pod.emulator.pod_url(),
        AuthSource::Token(SessionToken::new(TOKEN)),
        RetryPolicy {
            initial_interval: std::time::Duration::from_millis(10),
            ..RetryPolicy::default()
        },
        Timeouts::default(),
    )
    .unwrap();
    let body = groupsync::model::UserGroupCreate {
        name: "EMEA rates".into(),
        group_type: ROLE_SCOPE.into(),
        area: None,
        description: None,
    };
    // A 500 instead of acting: the lookup finds nothing, so the POST is repeated.
    pod.emulator.fail_next(1, 500, None);

    let created = runtime.block_on(client.create_once(&body)).unwrap();

    assert!(matches!(created, Created::New(_)), "{created:?}");
    let methods: Vec<String> = pod
        .emulator
        .requests()
        .iter()
        .map(|request| format!("{} {}", request.method, request.status))
        .collect();
    assert_eq!(methods, ["POST 500", "GET 200", "POST 201"]);
    assert_eq!(named(&pod, "EMEA rates").len(), 1);

    // A lost answer: the lookup finds the group, and no POST follows.
    pod.emulator.clear_requests();
    pod.emulator.drop_next_answers("POST", 1);
    let second = groupsync::model::UserGroupCreate {
        name: "APAC rates".into(),
        ..body
    };
    let found = runtime.block_on(client.create_once(&second)).unwrap();
    assert!(matches!(found, Created::FoundAfterFailure(_)), "{found:?}");
    assert_eq!(found.group(), Some(&only_named(&pod, "APAC rates")));
    assert_eq!(pod.emulator.count("POST", POST_PATH), 1);
}

#[test]
fn without_read_permission_a_name_is_never_created() {
    let ws = Workspace::new();
    ws.write_group_file("rates.yaml", "name: EMEA rates\n");
    let pod = PodFixture::start(groupsync::emulator::EmulatorConfig {
        session_tokens: vec![(TOKEN.into(), groupsync::emulator::Entitlements::MANAGE_ONLY)],
        ..Default::default()
    });

    let output = run(&ws, &pod, &["apply"]);

    assert_exit(&output, 1);
    assert_eq!(posts(&pod), [], "a POST was sent blind");
    let text = stdout(&output);
    assert!(
        text.contains("cannot tell whether the pod already has a group named \"EMEA rates\""),
        "{text}"
    );
}

// ---------------------------------------------------------------------------
// Import
// ---------------------------------------------------------------------------

/// Three pod groups: a1 and c3 are declared (c3 by name), b2 and d4 are not.
fn import_pod() -> PodFixture {
    token_pod(vec![
        PodGroup::new("a1")
            .name("EMEA trading")
            .area("EMEA")
            .build(),
        PodGroup::new("b2")
            .name("APAC: wealth")
            .area("APAC")
            .description("Singapore \"desk\"")
            .build(),
        PodGroup::new("c3").name("US research").area("AMER").build(),
        PodGroup::new("d4")
            .name("Old desk")
            .area("APAC")
            .active(false)
            .build(),
    ])
}

fn write_declared(ws: &Workspace) {
    ws.write_group_file("emea.yaml", "id: a1\nname: EMEA trading\narea: EMEA\n");
    ws.write_group_file("us.yaml", "name: US research\n");
}

#[test]
fn import_writes_the_undeclared_groups_and_plan_then_has_nothing_to_do() {
    let ws = Workspace::new();
    write_declared(&ws);
    let pod = import_pod();

    let output = run(&ws, &pod, &["import", "--out", "groups.d/imported.yaml"]);

    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "", "the YAML went to the file");
    assert_eq!(
        stderr(&output).trim_end().lines().last(),
        Some("groups.d/imported.yaml: imported 2 groups; skipped 2 groups already declared")
    );
    let yaml = std::fs::read_to_string(ws.groups_dir().join("imported.yaml")).unwrap();
    let body = yaml.split_once("groups:\n").unwrap().1;
    assert_eq!(
        body,
        "  - id: \"b2\"\n    name: \"APAC: wealth\"\n    area: APAC\n    description: Singapore \"desk\"\n    active: true\n    \
         members: []\n    assignees: []\n\
         \x20 - id: \"d4\"\n    name: Old desk\n    area: APAC\n    description: \"\"\n    active: false\n    \
         members: []\n    assignees: []\n",
        "sorted by area then name; b2 before d4 only by name; their lists, empty on the pod"
    );
    assert!(
        yaml.starts_with(&format!(
            "# Imported by `groupsync import` from {} at ",
            pod.emulator.pod_url()
        )),
        "{yaml}"
    );
    let state = ws.load_state();
    for id in ["a1", "b2", "c3", "d4"] {
        assert_eq!(
            state.get(id),
            pod.emulator.group(id).as_ref(),
            "state of {id}"
        );
    }

    let plan = run(&ws, &pod, &["plan"]);
    assert_exit(&plan, 0);
    assert_eq!(stdout(&plan), "No changes. 4 groups in sync.\n");
    let writes = pod
        .emulator
        .requests()
        .iter()
        .filter(|request| request.method != "GET")
        .count();
    assert_eq!(writes, 0, "import and plan wrote to the pod");
}

#[test]
fn import_to_stdout_filters_by_area_and_activity() {
    let ws = Workspace::new();
    let pod = import_pod();

    let output = run(&ws, &pod, &["import", "--area", "APAC", "--active-only"]);

    assert_exit(&output, 0);
    let yaml = stdout(&output);
    assert!(yaml.contains("  - id: \"b2\"\n"), "{yaml}");
    assert!(
        !yaml.contains("\"d4\"") && !yaml.contains("\"a1\""),
        "{yaml}"
    );
    assert!(
        stderr(&output).contains("imported 1 group; skipped 0 groups already declared"),
        "{}",
        stderr(&output)
    );
    let list = &pod.emulator.requests()[0];
    let query = list.query.as_deref().unwrap_or_default();
    assert!(
        query.contains("area=APAC") && query.contains("active=true"),
        "{query}"
    );
}

#[test]
fn import_refuses_to_overwrite_a_file_and_leaves_it_untouched() {
    let ws = Workspace::new();
    write_declared(&ws);
    let existing = ws.write_group_file("imported.yaml", "id: zz\n");
    let pod = import_pod();

    let output = run(&ws, &pod, &["import", "--out", "groups.d/imported.yaml"]);

    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains("groups.d/imported.yaml already exists"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read_to_string(existing).unwrap(), "id: zz\n");
    assert_eq!(pod.emulator.requests(), [], "nothing was read");
    assert!(!ws.state_file().exists(), "nothing was recorded");
}

#[test]
fn the_demo_creates_a_group_and_then_has_nothing_to_do() {
    let ws = Workspace::new();
    let output = ws.groupsync_std().arg("demo").output().unwrap();
    assert_exit(&output, 0);
    let text = stdout(&output);
    let story = text
        .split_once("declares it by its name, without an id,")
        .expect("the demo adds a group by name")
        .1;
    assert!(
        story.contains("--- /dev/null\n+++ groups.d/emea-rates.yaml\n"),
        "{story}"
    );
    assert!(
        story.contains("Plan: 1 to create, 0 to update, 12 unchanged."),
        "{story}"
    );
    assert!(
        story.lines().any(|line| line.starts_with("created ")
            && line.ends_with("to pin it")
            && line.contains("(groups.d/emea-rates.yaml): EMEA rates; add id: \"")),
        "{story}"
    );
    assert!(story.contains("No changes. 13 groups in sync."), "{story}");
    assert!(story.contains(", 1 POST,"), "{story}");
    // Then a member swapped: one `-`, one `+`, two PUTs of one user each.
    let swap = story
        .split_once("swaps bob.jones for carol.white")
        .expect("the demo swaps a member")
        .1;
    assert!(
        swap.contains("   - alice.smith\n-  - bob.jones\n+  - carol.white\n"),
        "{swap}"
    );
    assert!(
        swap.contains("updated ")
            && swap.contains("members added \"carol.white\", removed \"bob.jones\""),
        "{swap}"
    );
    assert!(
        swap.contains(
            "and 5 PUTs of one member or assignee each (never the bulk membership replace)"
        ),
        "{swap}"
    );
}

#[test]
fn the_demo_reads_the_pod_by_default_and_prunes_the_group_of_a_deleted_file() {
    let ws = Workspace::new();
    let output = ws.groupsync_std().arg("demo").output().unwrap();
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert!(
        !text.contains("--refresh"),
        "plan and apply read by default: {text}"
    );
    // A plain plan, right after the change in the portal, shows the drift.
    let drift = text
        .split_once("behind groupsync's back.\n\n$ groupsync plan\nDrift: 6543a1f0c2 changed outside groupsync")
        .is_some();
    assert!(drift, "{text}");

    let story = text
        .split_once("deletes groups.d/americas/us-equities-research.yaml")
        .expect("the demo deletes a file")
        .1;
    let steps: Vec<&str> = story.split("\n$ groupsync ").skip(1).collect();
    assert_eq!(steps.len(), 3, "plan, apply --prune, plan --prune: {story}");
    let orphan = "65e4f7a2b8 \"US equities research\" (last declared in groups.d/americas/us-equities-research.yaml): ";
    // Listed, nothing written.
    assert!(
        steps[0].starts_with("plan ")
            && steps[0]
                .contains("Orphans (groupsync manages them; no file declares them any more):")
            && steps[0].contains(&format!("{orphan}still active"))
            && steps[0].contains("No changes. 12 groups in sync.")
            && !steps[0].contains("PUT "),
        "{}",
        steps[0]
    );
    // Pruned: one deactivation.
    assert!(
        steps[1].starts_with("apply --prune\n")
            && steps[1].contains(
                "pruned 65e4f7a2b8 (groups.d/americas/us-equities-research.yaml): deactivated"
            )
            && steps[1].contains("Apply: 0 updated, 1 pruned, 0 failed, 12 unchanged."),
        "{}",
        steps[1]
    );
    // Then nothing left to do, even with --prune.
    assert!(
        steps[2].starts_with("plan --prune ")
            && steps[2].contains(&format!("{orphan}inactive already"))
            && steps[2].contains("No changes. 12 groups in sync."),
        "{}",
        steps[2]
    );
    assert!(story.contains("The pod received 7 group PUTs"), "{story}");
}
