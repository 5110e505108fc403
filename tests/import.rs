//! `groupsync import` through the real binary: what it writes always loads
//! (split into files the loader reads, every group the loader would refuse
//! left out with the reason), it is bounded by `cycle_timeout`, it locks
//! the state file only to record what it read, and it checks where it
//! writes before it reads anything.

use std::net::TcpStream;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use groupsync::model::UserGroupResponse;
use serde_json::{Value, json};

use crate::util::*;

/// `groupsync ARGS` against the scripted pod at `origin` (`{origin}/pod`).
fn against(ws: &Workspace, origin: &str, args: &[&str]) -> std::process::Command {
    let mut command = ws.groupsync_std();
    command
        .args(args)
        .args(["--groups-dir", "groups.d", "--state", "state.json"])
        .env("GROUPSYNC_POD_URL", format!("{origin}/pod"))
        .env("GROUPSYNC_SESSION_TOKEN", TOKEN);
    command
}

fn run_against(ws: &Workspace, origin: &str, args: &[&str]) -> Output {
    against(ws, origin, args).output().expect("run groupsync")
}

/// The `*.yaml` files in `groups.d/`, by name.
fn yaml_files(ws: &Workspace) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(ws.groups_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    names.sort();
    names
}

#[track_caller]
fn assert_validates(ws: &Workspace, pod: &PodFixture) {
    let output = pod.run(ws, &["validate"]);
    assert_exit(&output, 0);
}

/// `count` groups whose YAML (about 500 bytes each) is more than one file may hold.
fn many_groups(count: usize) -> Vec<UserGroupResponse> {
    (0..count)
        .map(|index| {
            PodGroup::new(&format!("65{index:010x}"))
                .name(format!("Scope {index}"))
                .area(["EMEA", "APAC", "AMER"][index % 3])
                .description(format!("Desk {index}: {}", "traders and sales ".repeat(24)))
                .build()
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Size
// ---------------------------------------------------------------------------

#[test]
fn an_import_larger_than_a_file_is_split_into_files_that_all_load() {
    let ws = Workspace::new();
    std::fs::create_dir(ws.groups_dir()).unwrap();
    let pod = token_pod(many_groups(3000));

    let output = pod.run(&ws, &["import", "--out", "groups.d/imported.yaml"]);

    assert_exit(&output, 0);
    let files = yaml_files(&ws);
    assert!(files.len() > 2, "{files:?}");
    let expected: Vec<String> = (1..=files.len())
        .map(|part| format!("imported-{part:03}.yaml"))
        .collect();
    assert_eq!(files, expected);
    let last = stderr(&output)
        .trim_end()
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert_eq!(
        last,
        format!(
            "groups.d/imported-001.yaml to groups.d/{}: imported 3000 groups in {} files; skipped 0 groups already declared",
            files.last().unwrap(),
            files.len()
        )
    );
    for name in &files {
        let size = std::fs::metadata(ws.groups_dir().join(name)).unwrap().len();
        assert!(size <= 1024 * 1024, "{name}: {size} bytes");
    }
    assert_validates(&ws, &pod);
    let plan = pod.run(&ws, &["plan"]);
    assert_exit(&plan, 0);
    assert_eq!(stdout(&plan), "No changes. 3000 groups in sync.\n");
}

#[test]
fn an_import_too_large_for_stdout_writes_nothing_and_says_how_to_split_it() {
    let ws = Workspace::new();
    let pod = token_pod(many_groups(3000));

    let output = pod.run(&ws, &["import"]);

    assert_exit(&output, 1);
    assert_eq!(stdout(&output), "");
    let message = stderr(&output);
    assert!(message.contains("stdout is one file"), "{message}");
    assert!(message.contains("--out DIR/"), "{message}");
    assert!(!ws.state_file().exists(), "nothing was recorded");
}

#[test]
fn a_group_too_large_for_any_file_is_left_out_saying_why_and_the_rest_load() {
    let ws = Workspace::new();
    std::fs::create_dir(ws.groups_dir()).unwrap();
    let pod = token_pod(vec![
        PodGroup::new("big1")
            .name("Huge")
            .description("x".repeat(1_100_000))
            .build(),
        PodGroup::new("ok1").name("Fine").build(),
    ]);

    let output = pod.run(&ws, &["import", "--out", "groups.d/imported.yaml"]);

    assert_exit(&output, 0);
    let message = stderr(&output);
    assert!(
        message.contains(
            "left out id \"big1\" (name \"Huge\"): its YAML is 1100078 bytes, more than a groups file may hold (1 MiB), \
             1100000 of them its description"
        ),
        "{message}"
    );
    assert!(
        message.contains("shorten the description on the pod"),
        "{message}"
    );
    assert!(
        message.trim_end().ends_with(
            "groups.d/imported.yaml: imported 1 group; skipped 0 groups already declared; \
             left out 1 group that groupsync could not load (listed above)"
        ),
        "{message}"
    );
    let yaml = std::fs::read_to_string(ws.groups_dir().join("imported.yaml")).unwrap();
    assert!(
        yaml.contains("#   id \"big1\" (name \"Huge\"): its YAML is 1100078 bytes"),
        "{}",
        &yaml[..yaml.len().min(2000)]
    );
    assert!(yaml.contains("  - id: \"ok1\"\n"), "{yaml}");
    assert_validates(&ws, &pod);
    let plan = pod.run(&ws, &["plan"]);
    assert_eq!(stdout(&plan), "No changes. 1 group in sync.\n");
}

// ---------------------------------------------------------------------------
// Content
// ---------------------------------------------------------------------------

fn pod_group(id: &str, name: &str, description: &str) -> Value {
    json!({"id": id, "name": name, "area": "EMEA", "description": description,
           "type": "ROLE_SCOPE", "active": true})
}

/// A pod that lists `groups` on one page and answers nothing else.
fn listing_pod(groups: Vec<Value>) -> RawServer {
    let page = json!({"data": groups, "pagination": {"cursors": {"before": "b"}}}).to_string();
    RawServer::start(move |request, stream| {
        drain_request_body(request, stream);
        if request.line.starts_with("GET /pod/v2/admin/usergroups?") {
            write_answer(
                stream,
                "200 OK",
                &[("Content-Type", "application/json")],
                &page,
            );
        } else {
            let body = json!({"code": 404, "message": "no such thing"}).to_string();
            write_answer(
                stream,
                "404 Not Found",
                &[("Content-Type", "application/json")],
                &body,
            );
        }
    })
}

#[test]
fn a_hostile_group_list_imports_only_what_the_loader_reads() {
    let ws = Workspace::new();
    std::fs::create_dir(ws.groups_dir()).unwrap();
    let pod = listing_pod(vec![
        pod_group("g1", "First", "kept"),
        pod_group("g1", "Second", "listed again"),
        pod_group("..", "Dots", ""),
        pod_group("", "Empty", ""),
        pod_group("a/b", "Slash", ""),
        pod_group("z1", "zero\u{200B}width", ""),
        pod_group("c1", "Portal", "line one\r\nline two"),
    ]);

    let output = run_against(
        &ws,
        &pod.origin(),
        &["import", "--no-members", "--out", "groups.d/imported.yaml"],
    );

    assert_exit(&output, 0);
    let message = stderr(&output);
    for (id, why) in [
        ("g1", "listed id \"g1\" more than once; the first was kept"),
        ("..", "`id` must be the pod's groupId"),
        ("", "`id` must not be empty"),
        ("a/b", "`id` must be the pod's groupId"),
        ("z1", "`name` holds the invisible character U+200B"),
    ] {
        assert!(
            message.lines().any(
                |line| line.starts_with(&format!("left out id \"{id}\"")) && line.contains(why)
            ),
            "{id}: {message}"
        );
    }
    assert!(message.contains("imported 2 groups"), "{message}");
    let yaml = std::fs::read_to_string(ws.groups_dir().join("imported.yaml")).unwrap();
    let body = yaml.split_once("groups:\n").unwrap().1;
    assert_eq!(
        body,
        "  - id: \"g1\"\n    name: First\n    area: EMEA\n    description: kept\n    active: true\n\
         \x20 - id: \"c1\"\n    name: Portal\n    area: EMEA\n    description: \"line one\\r\\nline two\"\n    active: true\n"
    );
    let validate = run_against(&ws, &pod.origin(), &["validate"]);
    assert_exit(&validate, 0);
    let state = ws.load_state();
    assert_eq!(state.get("g1").unwrap().name.as_deref(), Some("First"));
    assert!(state.get("..").is_none() && state.get("a/b").is_none());
}

#[test]
fn a_crlf_description_survives_import_validate_and_a_refreshing_plan() {
    let ws = Workspace::new();
    std::fs::create_dir(ws.groups_dir()).unwrap();
    let pod = token_pod(vec![
        PodGroup::new("c1")
            .name("Portal desk")
            .description("Traders in London\r\nand Paris\r\n")
            .build(),
    ]);

    let output = pod.run(&ws, &["import", "--out", "groups.d/imported.yaml"]);

    assert_exit(&output, 0);
    assert!(
        stderr(&output).contains("imported 1 group;"),
        "{}",
        stderr(&output)
    );
    assert_validates(&ws, &pod);
    let plan = pod.run(&ws, &["plan", "--refresh"]);
    assert_exit(&plan, 0);
    assert_eq!(stdout(&plan), "No changes. 1 group in sync.\n");
}

// ---------------------------------------------------------------------------
// Lock and time limit
// ---------------------------------------------------------------------------

/// A pod whose group list never ends: each page, answered after `delay`,
/// says `next` with a cursor never seen before. `GET .../usergroups/a1`
/// answers group a1. Counts the list pages served.
fn endless_pod(delay: Duration, pages: &'static AtomicUsize) -> RawServer {
    RawServer::start(move |request, stream: &mut TcpStream| {
        drain_request_body(request, stream);
        let json = [("Content-Type", "application/json")];
        if request.line.starts_with("GET /pod/v2/admin/usergroups?") {
            std::thread::sleep(delay);
            let page = pages.fetch_add(1, Ordering::SeqCst);
            let body = json!({"data": [],
                "pagination": {"cursors": {"before": "b", "after": format!("c{page}")}, "next": "n"}});
            write_answer(stream, "200 OK", &json, &body.to_string());
        } else if request.line.starts_with("GET /pod/v2/admin/usergroups/a1 ") {
            write_answer(
                stream,
                "200 OK",
                &json,
                &pod_group("a1", "A", "").to_string(),
            );
        } else {
            let body = json!({"code": 404, "message": "no such thing"}).to_string();
            write_answer(stream, "404 Not Found", &json, &body);
        }
    })
}

#[test]
fn an_import_of_an_endless_list_fails_at_the_cycle_timeout_and_writes_nothing() {
    static PAGES: AtomicUsize = AtomicUsize::new(0);
    let ws = Workspace::new();
    std::fs::create_dir(ws.groups_dir()).unwrap();
    let pod = endless_pod(Duration::from_millis(100), &PAGES);

    let import = Running::spawn(against(
        &ws,
        &pod.origin(),
        &[
            "--cycle-timeout",
            "2s",
            "import",
            "--out",
            "groups.d/imported.yaml",
        ],
    ));
    let finished = import.finish_within(PATIENCE);

    assert_eq!(finished.code, Some(1), "{}", finished.everything());
    assert!(
        finished.stderr.contains(
            "the import was abandoned after running for longer than cycle_timeout (2s); nothing was written"
        ),
        "{}",
        finished.everything()
    );
    assert!(PAGES.load(Ordering::SeqCst) > 0, "it was reading");
    assert_eq!(yaml_files(&ws), Vec::<String>::new());
    assert!(!ws.state_file().exists(), "nothing was recorded");
}

#[test]
fn the_state_file_is_not_locked_while_import_reads_the_pod() {
    static PAGES: AtomicUsize = AtomicUsize::new(0);
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\nname: A\n");
    let pod = endless_pod(Duration::from_millis(50), &PAGES);
    let mut import = Running::spawn(against(&ws, &pod.origin(), &["import"]));
    wait_until("import reads its second page", || {
        PAGES.load(Ordering::SeqCst) >= 2
    });

    let apply = run_against(&ws, &pod.origin(), &["apply", "--lock-timeout", "1s"]);

    assert_exit(&apply, 0);
    assert!(import.is_running(), "import was still reading");
    assert!(
        ws.load_state().get("a1").is_some(),
        "apply recorded what it read"
    );
    import.signal("TERM");
    let finished = import.finish_within(PATIENCE);
    assert_eq!(finished.code, Some(1), "{}", finished.everything());
}

// ---------------------------------------------------------------------------
// Where it writes
// ---------------------------------------------------------------------------

#[test]
fn out_naming_a_directory_writes_imported_yaml_in_it() {
    let ws = Workspace::new();
    std::fs::create_dir(ws.groups_dir()).unwrap();
    let pod = token_pod(vec![PodGroup::new("a1").name("EMEA").build()]);

    let output = pod.run(&ws, &["import", "--out", "groups.d/"]);

    assert_exit(&output, 0);
    assert_eq!(yaml_files(&ws), ["imported.yaml"]);
    assert!(
        stderr(&output).starts_with("groups.d/imported.yaml: imported 1 group;"),
        "{}",
        stderr(&output)
    );
    let again = pod.run(&ws, &["import", "--out", "groups.d"]);
    assert_exit(&again, 1);
    assert!(
        stderr(&again).contains("groups.d/imported.yaml already exists"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn an_import_into_a_missing_directory_fails_before_reading_the_pod() {
    let ws = Workspace::new();
    let pod = token_pod(vec![PodGroup::new("a1").build()]);

    let output = pod.run(&ws, &["import", "--out", "nodir/imported.yaml"]);

    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains(
            "cannot write nodir/imported.yaml: the directory nodir does not exist; create it first"
        ),
        "{}",
        stderr(&output)
    );
    assert_eq!(pod.emulator.requests(), [], "nothing was read");
    assert!(!ws.state_file().exists(), "nothing was recorded");
    assert!(!ws.path().join("nodir").exists());
}
