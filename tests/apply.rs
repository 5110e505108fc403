//! `groupsync apply` (and `plan` against a pod) through the real binary, against
//! the pod emulator served from the test process: minimal PUTs, retries, partial
//! failure, bot login, safety limits, secrets, drift, signals, and the
//! `demo` and `emulate` commands.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use groupsync::emulator::{EmulatorConfig, Entitlements};
use groupsync::model::UserGroupResponse;
use serde_json::{Value, json};

use crate::util::*;

const BOT: &str = "groupsync-bot";

// ---------------------------------------------------------------------------
// The pod, the tree and how to run groupsync
// ---------------------------------------------------------------------------

/// The pod before: four groups, three of which [`TREE`] changes.
fn seed() -> Vec<UserGroupResponse> {
    vec![
        PodGroup::new("a1")
            .name("EMEA trading")
            .area("EMEA-old")
            .description("Traders in London")
            .build(),
        PodGroup::new("b2")
            .name("APAC wealth")
            .area("APAC")
            .description("Singapore desk")
            .build(),
        PodGroup::new("c3")
            .name("US research")
            .area("AMER")
            .description("Equity research")
            .build(),
        PodGroup::new("d4")
            .name("LATAM treasury")
            .area("LATAM")
            .description("Cash desk")
            .build(),
    ]
}

/// The desired state: a1's area, b2's name and active, d4's description change; c3 is in sync.
const TREE: &[(&str, &str)] = &[
    (
        "emea.yaml",
        "id: a1\nname: EMEA trading\narea: EMEA\ndescription: Traders in London\nactive: true\n",
    ),
    (
        "more/others.yaml",
        "groups:\n  - id: b2\n    name: APAC wealth management\n    active: false\n  - id: c3\n    name: US research\n    area: AMER\n  - id: d4\n    description: Cash and FX desk\n",
    ),
];

/// The PUT body each changed group of [`TREE`] must get, and nothing more.
fn expected_bodies() -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("a1".to_string(), json!({"area": "EMEA"})),
        (
            "b2".to_string(),
            json!({"name": "APAC wealth management", "active": false}),
        ),
        ("d4".to_string(), json!({"description": "Cash and FX desk"})),
    ])
}

fn write_tree(ws: &Workspace) {
    for (path, text) in TREE {
        ws.write_group_file(path, text);
    }
}

/// An emulator holding `groups` where the bot [`BOT`] with the fixture key `bot-key` may log in.
fn bot_pod(groups: Vec<UserGroupResponse>) -> PodFixture {
    PodFixture::start(EmulatorConfig {
        groups,
        bots: vec![(BOT.into(), fixture_text("bot-key.pub.pem"))],
        ..Default::default()
    })
}

/// `groupsync.yaml` in the workspace: the pod URL, and `extra` (more top-level keys).
fn write_config(ws: &Workspace, pod: &PodFixture, extra: &str) {
    let text = format!("pod: {{url: \"{}\"}}\n{extra}", pod.emulator.pod_url());
    ws.write_file("groupsync.yaml", text);
}

/// The `auth` section of a bot logging in at `pod` with the private key at `key`.
fn bot_auth(pod: &PodFixture, key: &std::path::Path) -> String {
    format!(
        "auth:\n  bot_username: {BOT}\n  private_key_file: \"{}\"\n  login_url: \"{}\"\n",
        key.display(),
        pod.emulator.login_url()
    )
}

/// `groupsync ARGS --groups-dir groups.d --state state.json`, with
/// `--config groupsync.yaml` when the workspace has one, and `token` (if any)
/// in `GROUPSYNC_SESSION_TOKEN`. The pod URL comes from the config file, or
/// else from `GROUPSYNC_POD_URL`.
fn command(ws: &Workspace, pod: &PodFixture, token: Option<&str>, args: &[&str]) -> Command {
    let mut command = ws.groupsync_std();
    command
        .args(args)
        .args(["--groups-dir", "groups.d", "--state", "state.json"]);
    if ws.path().join("groupsync.yaml").exists() {
        command.args(["--config", "groupsync.yaml"]);
    } else {
        command.env("GROUPSYNC_POD_URL", pod.emulator.pod_url());
    }
    if let Some(token) = token {
        command.env("GROUPSYNC_SESSION_TOKEN", token);
    }
    command
}

/// Runs groupsync with [`TOKEN`] (see [`command`]).
fn run(ws: &Workspace, pod: &PodFixture, args: &[&str]) -> Output {
    command(ws, pod, Some(TOKEN), args)
        .output()
        .expect("run groupsync")
}

/// Runs groupsync with no session token: the config file's bot logs in.
fn run_bot(ws: &Workspace, pod: &PodFixture, args: &[&str]) -> Output {
    command(ws, pod, None, args)
        .output()
        .expect("run groupsync")
}

#[track_caller]
fn assert_converged_on_the_pod(pod: &PodFixture) {
    let a1 = pod.emulator.group("a1").unwrap();
    let b2 = pod.emulator.group("b2").unwrap();
    let d4 = pod.emulator.group("d4").unwrap();
    assert_eq!(a1.area.as_deref(), Some("EMEA"));
    assert_eq!(b2.name.as_deref(), Some("APAC wealth management"));
    assert_eq!(b2.active, Some(false));
    assert_eq!(d4.description.as_deref(), Some("Cash and FX desk"));
}

// ---------------------------------------------------------------------------
// 1. Convergence
// ---------------------------------------------------------------------------

#[test]
fn apply_sends_minimal_puts_records_the_answers_and_converges() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = token_pod(seed());

    let output = run(&ws, &pod, &["apply"]);
    assert_exit(&output, 0);
    let puts = pod.puts();
    assert_eq!(puts.len(), 3, "one PUT per changed group: {puts:#?}");
    assert!(puts.iter().all(|put| put.status == 200), "{puts:#?}");
    assert_eq!(pod.put_bodies(), expected_bodies());
    assert_converged_on_the_pod(&pod);
    let text = stdout(&output);
    assert!(
        text.contains("Apply: 3 updated, 0 failed, 1 unchanged."),
        "{text}"
    );
    assert!(
        text.contains("updated a1 (groups.d/emea.yaml): area \"EMEA-old\" -> \"EMEA\""),
        "{text}"
    );

    // The state file holds the pod's answers: what the pod holds now, written for the changed groups.
    let snapshot = ws.load_state();
    assert_eq!(snapshot.len(), 4);
    for id in ["a1", "b2", "c3", "d4"] {
        assert_eq!(
            snapshot.get(id),
            pod.emulator.group(id).as_ref(),
            "state of {id}"
        );
    }
    assert_eq!(
        written_ids(&snapshot),
        BTreeSet::from(["a1".into(), "b2".into(), "d4".into()])
    );

    // Converged: a second apply writes nothing, and plan agrees.
    let again = run(&ws, &pod, &["apply"]);
    assert_exit(&again, 0);
    assert_eq!(pod.put_count(), 3, "the second apply sent a PUT");
    assert!(stdout(&again).contains("No changes."), "{}", stdout(&again));
    let plan = run(&ws, &pod, &["plan"]);
    assert_exit(&plan, 0);
    assert!(
        stdout(&plan).contains("No changes. 4 groups in sync."),
        "{}",
        stdout(&plan)
    );
}

// ---------------------------------------------------------------------------
// 2, 3. Retries
// ---------------------------------------------------------------------------

#[test]
fn a_429_is_waited_out_as_retry_after_asks() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = token_pod(seed());
    seed_state(&ws, &pod);
    // Back-off alone would wait at most 100 ms: only Retry-After explains a wait of 1 s.
    write_config(&ws, &pod, FAST_RETRY);
    pod.emulator.fail_next(1, 429, Some("1"));

    // From the snapshot alone: the first call is a PUT.
    let output = run(&ws, &pod, &["apply", "--refresh=false"]);
    assert_exit(&output, 0);
    let puts = pod.puts();
    assert_eq!(puts.len(), 4, "three PUTs and one repeat: {puts:#?}");
    let throttled = puts
        .iter()
        .find(|put| put.status == 429)
        .expect("one PUT was throttled");
    let repeat = puts
        .iter()
        .find(|put| put.path == throttled.path && put.started > throttled.started)
        .expect("the throttled PUT was sent again");
    assert_eq!(repeat.status, 200);
    let waited = repeat.started - throttled.started;
    assert!(
        waited >= Duration::from_secs(1),
        "Retry-After: 1 was not honoured: the repeat came {waited:?} after the 429"
    );
    assert_eq!(pod.put_bodies(), expected_bodies());
    assert_converged_on_the_pod(&pod);
}

#[test]
fn two_500s_are_retried_and_apply_succeeds() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = token_pod(seed());
    seed_state(&ws, &pod);
    write_config(&ws, &pod, FAST_RETRY);
    pod.emulator.fail_next(2, 500, None);

    // From the snapshot alone: the first calls are PUTs.
    let output = run(&ws, &pod, &["apply", "--refresh=false"]);
    assert_exit(&output, 0);
    let statuses: Vec<u16> = pod.puts().iter().map(|put| put.status).collect();
    assert_eq!(
        statuses.len(),
        5,
        "three PUTs and two repeats: {statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|&&status| status == 500).count(), 2);
    assert_eq!(pod.put_bodies(), expected_bodies());
    assert_converged_on_the_pod(&pod);
    assert_eq!(written_ids(&ws.load_state()).len(), 3);
}

// ---------------------------------------------------------------------------
// 4. Partial failure
// ---------------------------------------------------------------------------

#[test]
fn a_missing_group_fails_alone_and_the_others_are_applied_and_recorded() {
    let ws = Workspace::new();
    write_tree(&ws);
    ws.write_group_file("ghost.yaml", "id: zz9\nname: Ghost desk\narea: NOWHERE\n");
    let pod = token_pod(seed());

    let output = run(&ws, &pod, &["apply"]);
    assert_exit(&output, 1);
    let text = stdout(&output);
    let failed: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("failed"))
        .collect();
    assert_eq!(failed.len(), 1, "{text}");
    assert!(
        failed[0].contains("zz9")
            && failed[0].contains("groups.d/ghost.yaml")
            && failed[0].contains("404"),
        "the failure line names the group, its file and the 404: {text}"
    );
    assert!(
        text.contains("Apply: 3 updated, 1 failed, 1 unchanged."),
        "{text}"
    );

    assert_converged_on_the_pod(&pod);
    let snapshot = ws.load_state();
    assert_eq!(
        written_ids(&snapshot),
        BTreeSet::from(["a1".into(), "b2".into(), "d4".into()])
    );
    assert!(snapshot.get("zz9").is_none());
    for id in ["a1", "b2", "d4"] {
        assert_eq!(snapshot.get(id), pod.emulator.group(id).as_ref());
    }
}

// ---------------------------------------------------------------------------
// 5, 6. RSA bot login
// ---------------------------------------------------------------------------

#[test]
fn bot_login_works_with_pkcs1_and_pkcs8_keys() {
    for key in ["bot-key.pem", "bot-key.pkcs8.pem"] {
        let ws = Workspace::new();
        write_tree(&ws);
        let pod = bot_pod(seed());
        let key_path = ws.fixture(key, 0o600);
        write_config(&ws, &pod, &bot_auth(&pod, &key_path));

        let output = run_bot(&ws, &pod, &["apply"]);
        assert_exit(&output, 0);
        assert_eq!(pod.login_count(), 1, "{key}: one login for the whole run");
        let puts = pod.puts();
        assert_eq!(puts.len(), 3, "{key}");
        assert!(
            puts.iter()
                .all(|put| put.had_session_token && put.status == 200),
            "{key}: {puts:#?}"
        );
        assert_converged_on_the_pod(&pod);
    }
}

#[test]
fn an_expired_session_costs_exactly_one_more_login() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = bot_pod(seed());
    let key_path = ws.fixture("bot-key.pem", 0o600);
    write_config(&ws, &pod, &bot_auth(&pod, &key_path));
    assert_exit(&run_bot(&ws, &pod, &["apply"]), 0);
    assert_eq!(pod.login_count(), 1);

    // A change to apply, and a session that expires just before the PUT.
    ws.write_group_file(
        "emea.yaml",
        "id: a1\nname: EMEA trading\narea: EMEA-North\ndescription: Traders in London\nactive: true\n",
    );
    pod.emulator.clear_requests();
    pod.emulator.expire_sessions_at_next_call();
    let output = run_bot(&ws, &pod, &["apply", "--refresh=false"]);

    assert_exit(&output, 0);
    let statuses: Vec<u16> = pod.puts().iter().map(|put| put.status).collect();
    assert_eq!(statuses, [401, 200], "refused (expired), then done");
    assert_eq!(
        pod.login_count(),
        2,
        "the run's own login, and exactly one more after the 401"
    );
    assert_eq!(
        pod.emulator.group("a1").unwrap().area.as_deref(),
        Some("EMEA-North")
    );
}

#[test]
fn a_wrong_key_fails_with_one_login_attempt_and_no_put() {
    // Twice: with an empty state file the first call is a read; with a full one
    // the first calls are two PUTs at once (concurrency 2), each needing a
    // session, and the third PUT starts after they failed.
    for seeded in [false, true] {
        let ws = Workspace::new();
        write_tree(&ws);
        let pod = bot_pod(seed());
        if seeded {
            seed_state(&ws, &pod);
        }
        let key_path = ws.fixture("wrong-key.pem", 0o600);
        let auth = bot_auth(&pod, &key_path);
        write_config(&ws, &pod, &format!("{auth}{FAST_RETRY}concurrency: 2\n"));

        let output = run_bot(&ws, &pod, &["apply"]);
        assert_exit(&output, 1);
        let all = format!("{}{}", stdout(&output), stderr(&output));
        assert!(
            all.contains("refused the bot login for groupsync-bot"),
            "seeded={seeded}: the message names the bot login: {all}"
        );
        assert_eq!(
            pod.login_count(),
            1,
            "seeded={seeded}: a refused login is final, tried once: {all}"
        );
        assert_eq!(pod.put_count(), 0, "seeded={seeded}");
    }
}

#[test]
fn a_private_key_readable_by_others_is_refused() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = bot_pod(seed());
    let key_path = ws.fixture("bot-key.pem", 0o644);
    write_config(&ws, &pod, &bot_auth(&pod, &key_path));

    let output = run_bot(&ws, &pod, &["apply"]);
    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains(&format!("chmod 600 {}", key_path.display())),
        "{}",
        stderr(&output)
    );
    assert!(pod.emulator.requests().is_empty(), "nothing was sent");
}

// ---------------------------------------------------------------------------
// 7. Safety limits
// ---------------------------------------------------------------------------

#[test]
fn max_changes_refuses_the_whole_plan_unless_forced() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = token_pod(seed());
    write_config(&ws, &pod, "limits: {max_changes: 2}\n");

    let output = run(&ws, &pod, &["apply"]);
    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains("limits.max_changes"),
        "{}",
        stderr(&output)
    );
    assert_eq!(pod.put_count(), 0);

    let forced = run(&ws, &pod, &["apply", "--force"]);
    assert_exit(&forced, 0);
    assert_eq!(pod.put_count(), 3);
    assert_converged_on_the_pod(&pod);
}

#[test]
fn max_deactivations_refuses_the_whole_plan_unless_forced() {
    let ws = Workspace::new();
    ws.write_group_file(
        "retire.yaml",
        "groups:\n  - {id: a1, active: false}\n  - {id: b2, active: false}\n  - {id: c3, area: US}\n",
    );
    let pod = token_pod(seed());
    write_config(&ws, &pod, "limits: {max_deactivations: 1}\n");

    let output = run(&ws, &pod, &["apply"]);
    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains("limits.max_deactivations"),
        "{}",
        stderr(&output)
    );
    assert_eq!(pod.put_count(), 0);

    let forced = run(&ws, &pod, &["apply", "--force"]);
    assert_exit(&forced, 0);
    assert_eq!(pod.put_count(), 3);
    assert_eq!(pod.emulator.group("a1").unwrap().active, Some(false));
    assert_eq!(pod.emulator.group("b2").unwrap().active, Some(false));
    assert_eq!(
        pod.emulator.group("c3").unwrap().area.as_deref(),
        Some("US")
    );
}

// ---------------------------------------------------------------------------
// 8. Secrets
// ---------------------------------------------------------------------------

/// Panics if `output` shows a JWT, private key material, or `secrets`.
#[track_caller]
fn assert_no_secrets(output: &str, secrets: &[&str]) {
    assert!(!output.contains("eyJ"), "a JWT leaked:\n{output}");
    assert!(
        !output.contains("PRIVATE KEY"),
        "a private key leaked:\n{output}"
    );
    for key in ["bot-key.pem", "bot-key.pkcs8.pem"] {
        for line in fixture_text(key)
            .lines()
            .filter(|line| !line.starts_with("-----"))
        {
            assert!(!output.contains(line), "a line of {key} leaked:\n{output}");
        }
    }
    for secret in secrets {
        assert!(!output.contains(secret), "{secret} leaked:\n{output}");
    }
    // The emulator issues 64 hex digits per session token: none may show.
    let longest_hex_run = output
        .split(|c: char| !c.is_ascii_hexdigit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(
        longest_hex_run < 64,
        "something like a session token leaked:\n{output}"
    );
}

fn everything(output: &Output) -> String {
    format!("{}{}", stdout(output), stderr(output))
}

#[test]
fn trace_logs_show_no_token_jwt_or_key() {
    const SECRET: &str = "SeCrEtToKeN-1234";

    // A bot login, a 401 that makes it log in again, reads and writes, all traced.
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = bot_pod(seed());
    let key_path = ws.fixture("bot-key.pem", 0o600);
    write_config(&ws, &pod, &bot_auth(&pod, &key_path));
    pod.emulator.fail_next(1, 401, None);
    let output = run_bot(&ws, &pod, &["apply", "--refresh", "--log-level", "trace"]);
    assert_exit(&output, 0);
    assert_eq!(
        pod.login_count(),
        2,
        "the injected 401 made it log in again"
    );
    let text = everything(&output);
    assert!(text.contains("TRACE"), "trace logging is on:\n{text}");
    assert_no_secrets(&text, &[]);

    // A session token from the environment: accepted, then expired.
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = PodFixture::start(EmulatorConfig {
        groups: seed(),
        session_tokens: vec![(SECRET.into(), Entitlements::ALL)],
        ..Default::default()
    });
    let output = command(&ws, &pod, Some(SECRET), &["apply", "--log-level", "trace"])
        .output()
        .unwrap();
    assert_exit(&output, 0);
    let text = everything(&output);
    assert!(text.contains("TRACE"), "trace logging is on:\n{text}");
    assert_no_secrets(&text, &[SECRET]);
    pod.emulator.expire_sessions();
    let output = command(
        &ws,
        &pod,
        Some(SECRET),
        &["plan", "--refresh", "--log-level", "trace"],
    )
    .output()
    .unwrap();
    assert_exit(&output, 1);
    let text = everything(&output);
    assert!(
        text.contains("401"),
        "the expired session is reported:\n{text}"
    );
    assert_no_secrets(&text, &[SECRET]);
}

// ---------------------------------------------------------------------------
// 9. Drift
// ---------------------------------------------------------------------------

#[test]
fn refresh_finds_drift_and_apply_refresh_reverts_it() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = token_pod(seed());
    assert_exit(&run(&ws, &pod, &["apply"]), 0);
    let puts_before = pod.put_count();

    // An admin changes a1's area behind groupsync's back.
    let mut changed = pod.emulator.group("a1").unwrap();
    changed.area = Some("EMEA-temporary".into());
    pod.emulator.set_group(changed);
    let converged_state = std::fs::read(ws.state_file()).unwrap();

    // With --refresh=false groupsync trusts its state file and sees nothing.
    let plan = run(&ws, &pod, &["plan", "--refresh=false"]);
    assert_exit(&plan, 0);
    assert!(stdout(&plan).contains("No changes."), "{}", stdout(&plan));

    let plan = run(&ws, &pod, &["plan", "--refresh"]);
    assert_exit(&plan, 2);
    let text = stdout(&plan);
    assert!(
        text.contains("Drift: a1 changed outside groupsync: area \"EMEA\" -> \"EMEA-temporary\""),
        "{text}"
    );
    assert!(
        text.contains("-area: EMEA-temporary\n+area: EMEA\n"),
        "the diff reverts it: {text}"
    );
    assert!(
        text.contains("PUT /v2/admin/usergroups/a1 {\"area\":\"EMEA\"}"),
        "{text}"
    );

    // The same from the converged state file, as JSON.
    std::fs::write(ws.state_file(), &converged_state).unwrap();
    let plan = run(&ws, &pod, &["plan", "--refresh", "--format", "json"]);
    assert_exit(&plan, 2);
    let document: Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(
        document["drift"],
        json!([{"group_id": "a1", "fields": {"area": {"from": "EMEA", "to": "EMEA-temporary"}}}]),
        "{document:#}"
    );
    assert_eq!(
        document["changes"][0]["request"]["body"],
        json!({"area": "EMEA"})
    );
    assert_eq!(pod.put_count(), puts_before, "plan never writes");

    let apply = run(&ws, &pod, &["apply", "--refresh"]);
    assert_exit(&apply, 0);
    assert_eq!(pod.put_count(), puts_before + 1);
    assert_eq!(
        pod.puts().last().unwrap().body,
        Some(json!({"area": "EMEA"}))
    );
    assert_eq!(
        pod.emulator.group("a1").unwrap().area.as_deref(),
        Some("EMEA")
    );
    assert_exit(&run(&ws, &pod, &["plan", "--refresh"]), 0);
}

// ---------------------------------------------------------------------------
// 10. A bot that may write but not read
// ---------------------------------------------------------------------------

#[test]
fn without_read_permission_plan_warns_and_puts_every_declared_field() {
    const MANAGER: &str = "manage-only-token";
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = PodFixture::start(EmulatorConfig {
        groups: seed(),
        session_tokens: vec![(MANAGER.into(), Entitlements::MANAGE_ONLY)],
        ..Default::default()
    });

    let plan = command(&ws, &pod, Some(MANAGER), &["plan"])
        .output()
        .unwrap();
    assert_exit(&plan, 2);
    assert!(
        stderr(&plan).contains("VIEW_ROLE_SCOPES"),
        "{}",
        stderr(&plan)
    );
    let text = stdout(&plan);
    assert!(
        text.contains(
            "PUT /v2/admin/usergroups/a1 {\"name\":\"EMEA trading\",\"area\":\"EMEA\",\"description\":\"Traders in London\",\"active\":true}"
        ),
        "{text}"
    );
    assert!(
        text.contains("PUT /v2/admin/usergroups/c3 {\"name\":\"US research\",\"area\":\"AMER\"}"),
        "{text}"
    );
    assert!(text.contains("Plan: 4 to update, 0 unchanged."), "{text}");
    let json_plan = command(&ws, &pod, Some(MANAGER), &["plan", "--format", "json"])
        .output()
        .unwrap();
    assert_exit(&json_plan, 2);
    let document: Value = serde_json::from_slice(&json_plan.stdout).unwrap();
    assert_eq!(
        document["changes"][0]["fields"]["area"],
        json!({"from": null, "to": "EMEA"})
    );

    let apply = command(&ws, &pod, Some(MANAGER), &["apply"])
        .output()
        .unwrap();
    assert_exit(&apply, 0);
    assert_eq!(pod.put_count(), 4);
    assert_eq!(
        pod.put_bodies()["b2"],
        json!({"name": "APAC wealth management", "active": false})
    );
    assert_converged_on_the_pod(&pod);
}

// ---------------------------------------------------------------------------
// 11. Signals
// ---------------------------------------------------------------------------

/// 20 changes, 2 at a time, 300 ms each; `name` arrives once 2 PUTs are under way.
fn stop_a_slow_apply_with(name: &str) {
    let ws = Workspace::new();
    let groups: Vec<UserGroupResponse> = (0..20)
        .map(|n| {
            PodGroup::new(&format!("g{n:02}"))
                .name(format!("Group {n}"))
                .area("OLD")
                .build()
        })
        .collect();
    let tree: String = (0..20)
        .map(|n| format!("  - {{id: g{n:02}, area: NEW}}\n"))
        .collect();
    ws.write_group_file("many.yaml", format!("groups:\n{tree}"));
    let pod = token_pod(groups);
    seed_state(&ws, &pod);
    write_config(&ws, &pod, "concurrency: 2\n");
    pod.emulator.set_latency(Duration::from_millis(300));

    let child = command(&ws, &pod, Some(TOKEN), &["apply"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    pod.wait_puts(2);
    let signalled = Instant::now();
    signal(&child, name);
    let output = child.wait_with_output().unwrap();

    assert_exit(&output, 1);
    let at_exit = pod.puts();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        pod.put_count(),
        at_exit.len(),
        "a PUT arrived after groupsync exited"
    );
    assert!(
        at_exit.len() < 20,
        "the stop did not stop: {} PUTs",
        at_exit.len()
    );
    let late = at_exit.iter().filter(|put| put.started > signalled).count();
    assert!(
        late <= 2,
        "at most one round (concurrency 2) may start while the signal is on its way; {late} did"
    );
    assert!(
        at_exit.iter().all(|put| put.status == 200),
        "the PUTs in flight were finished, not dropped: {at_exit:#?}"
    );
    let text = stdout(&output);
    assert!(
        text.contains(&format!(
            "Apply: {} updated, 0 failed, 0 unchanged. {} not started: stopped by a signal.",
            at_exit.len(),
            20 - at_exit.len()
        )),
        "{text}"
    );

    // The state file is whole and records exactly the PUTs that got a 200.
    let snapshot = ws.load_state();
    let answered: BTreeSet<String> = at_exit.iter().map(put_id).collect();
    assert_eq!(written_ids(&snapshot), answered);
    for (id, entry) in snapshot.iter() {
        let area = if answered.contains(id) { "NEW" } else { "OLD" };
        assert_eq!(entry.pod.area.as_deref(), Some(area), "state of {id}");
        assert_eq!(
            pod.emulator.group(id).unwrap().area.as_deref(),
            Some(area),
            "pod's {id}"
        );
    }
}

#[test]
fn sigterm_during_apply_finishes_the_puts_in_flight_and_starts_no_more() {
    stop_a_slow_apply_with("TERM");
}

#[test]
fn sigint_during_apply_finishes_the_puts_in_flight_and_starts_no_more() {
    stop_a_slow_apply_with("INT");
}

// ---------------------------------------------------------------------------
// 12. The official SDK's config.yaml
// ---------------------------------------------------------------------------

#[test]
fn bdk_config_points_groupsync_at_the_pod_and_bot() {
    let ws = Workspace::new();
    write_tree(&ws);
    let pod = bot_pod(seed());
    let key_path = ws.fixture("bot-key.pem", 0o600);
    let address = pod.emulator.local_addr();
    ws.write_file(
        "config.yaml",
        format!(
            "scheme: http\nhost: {}\nport: {}\nbot:\n  username: {BOT}\n  privateKey:\n    path: \"{}\"\n\
             agent: {{host: agent.example.com}}\nretry: {{maxAttempts: 3, initialIntervalMillis: 10, maxIntervalMillis: 100}}\n",
            address.ip(),
            address.port(),
            key_path.display()
        ),
    );

    let output = ws
        .groupsync_std()
        .args([
            "apply",
            "--bdk-config",
            "config.yaml",
            "--groups-dir",
            "groups.d",
            "--state",
            "state.json",
        ])
        .output()
        .unwrap();
    assert_exit(&output, 0);
    assert_eq!(pod.login_count(), 1);
    assert_eq!(pod.put_bodies(), expected_bodies());
    assert_converged_on_the_pod(&pod);
}

// ---------------------------------------------------------------------------
// 13, 14. demo and emulate
// ---------------------------------------------------------------------------

#[test]
fn demo_tells_the_whole_story() {
    let ws = Workspace::new();
    let output = ws.groupsync_std().arg("demo").output().unwrap();
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert!(
        text.contains("Apply: 5 updated, 0 failed, 7 unchanged."),
        "{text}"
    );
    assert!(text.contains("No changes. 12 groups in sync."), "{text}");
    assert!(
        text.lines()
            .any(|line| line.starts_with("Drift: ") && line.contains("changed outside groupsync")),
        "{text}"
    );
}

#[test]
fn emulate_serves_the_seed_until_sigterm() {
    let ws = Workspace::new();
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-pod.json");
    let mut child = ws
        .groupsync_std()
        .args(["emulate", "--listen", "127.0.0.1:0", "--seed"])
        .arg(&seed)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Read stdout on a thread, so that a silent emulator fails the test instead of hanging it.
    let (lines, received) = mpsc::channel();
    let reader = BufReader::new(child.stdout.take().unwrap());
    let reading = std::thread::spawn(move || {
        for line in reader.lines() {
            if lines.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut pod_url = None;
    let mut token = None;
    while token.is_none() {
        let line = received
            .recv_timeout(PATIENCE)
            .expect("emulate prints its pod URL and a session token");
        let line = line.trim();
        if let Some(url) = line.strip_prefix("pod URL:") {
            pod_url = Some(url.trim().to_string());
        }
        if let Some(value) = line.strip_prefix("export GROUPSYNC_SESSION_TOKEN=") {
            token = Some(value.to_string());
        }
    }
    let pod_url = pod_url.expect("the pod URL comes before the token");
    let token = token.unwrap();
    assert!(
        !pod_url.contains(":0/"),
        "the pod URL shows the port asked for, not the one bound: {pod_url}"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, body) = runtime.block_on(async {
        let response = reqwest::Client::new()
            .get(format!("{pod_url}/v2/admin/usergroups/6543a1f0c2"))
            .header("sessionToken", &token)
            .send()
            .await
            .expect("the emulator answers");
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap())
    });
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "EMEA trading scope");
    assert_eq!(body["area"], "EMEA-old");

    signal(&child, "TERM");
    let status = child.wait().unwrap();
    drop(received);
    reading.join().unwrap();
    assert_eq!(status.code(), Some(0), "emulate exits 0 on SIGTERM");
}

// ---------------------------------------------------------------------------
// Answers are checked, not trusted
// ---------------------------------------------------------------------------

/// A pod on a raw server whose group a1 has area `EMEA-old` until a PUT
/// arrives, after which it has `EMEA`; every PUT is answered with `put_answer`.
fn pod_answering_puts_with(put_answer: &'static str) -> RawServer {
    use std::sync::atomic::{AtomicBool, Ordering};
    let applied = std::sync::Arc::new(AtomicBool::new(false));
    RawServer::start(move |request, stream| {
        drain_body(stream);
        let json = [("Content-Type", "application/json")];
        if request.line.starts_with("PUT /pod/v2/admin/usergroups/a1 ") {
            applied.store(true, Ordering::SeqCst);
            write_answer(stream, "200 OK", &json, put_answer);
        } else if request.line.starts_with("GET /pod/v2/admin/usergroups/a1 ") {
            let area = if applied.load(Ordering::SeqCst) {
                "EMEA"
            } else {
                "EMEA-old"
            };
            let body = format!(
                r#"{{"id":"a1","name":"A","area":"{area}","type":"ROLE_SCOPE","active":true}}"#
            );
            write_answer(stream, "200 OK", &json, &body);
        } else {
            write_answer(
                stream,
                "404 Not Found",
                &json,
                r#"{"code":404,"message":"no"}"#,
            );
        }
    })
}

/// Reads whatever body the client sent, so that closing the connection
/// never resets it.
fn drain_body(stream: &mut std::net::TcpStream) {
    use std::io::Read;
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buffer = [0u8; 4096];
    while matches!(stream.read(&mut buffer), Ok(read) if read > 0) {}
}

fn run_against(ws: &Workspace, pod: &RawServer, args: &[&str]) -> Output {
    ws.groupsync_std()
        .args(args)
        .args(["--groups-dir", "groups.d", "--state", "state.json"])
        .env("GROUPSYNC_POD_URL", format!("{}/pod", pod.origin()))
        .env("GROUPSYNC_SESSION_TOKEN", TOKEN)
        .output()
        .expect("run groupsync")
}

fn put_requests(pod: &RawServer) -> usize {
    pod.requests()
        .iter()
        .filter(|request| request.line.starts_with("PUT "))
        .count()
}

#[test]
fn a_put_answered_with_an_empty_object_is_read_back_and_converges() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\narea: EMEA\n");
    let pod = pod_answering_puts_with("{}");
    assert_exit(&run_against(&ws, &pod, &["apply"]), 0);
    assert_eq!(put_requests(&pod), 1);
    assert_eq!(
        ws.load_state().get("a1").unwrap().area.as_deref(),
        Some("EMEA")
    );
    // The snapshot records what the pod says: the next apply sends nothing.
    let again = run_against(&ws, &pod, &["apply"]);
    assert_exit(&again, 0);
    assert_eq!(put_requests(&pod), 1, "{}", stdout(&again));
    assert!(stdout(&again).contains("No changes."), "{}", stdout(&again));
}

#[test]
fn a_put_answered_about_another_group_fails_and_is_recorded_nowhere() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\narea: EMEA\n");
    let pod = pod_answering_puts_with(r#"{"id":"zz9","name":"Other","area":"EMEA"}"#);
    let output = run_against(&ws, &pod, &["apply"]);
    assert_exit(&output, 1);
    assert!(
        stdout(&output).contains("the pod answered about group \"zz9\" instead"),
        "{}",
        stdout(&output)
    );
    let snapshot = ws.load_state();
    assert!(snapshot.get("zz9").is_none());
    assert_eq!(
        snapshot.entry("a1").and_then(|entry| entry.written_at_ms),
        None,
        "a1 is recorded as read, never as written"
    );
}
