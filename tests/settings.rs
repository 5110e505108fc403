//! The settings and the safety limits as `groupsync::config` describes them
//! are what the binary does: each limit refuses a plan with the message of
//! its row in `LIMITS`, `--force` overrides every one, and a configuration
//! error prints its cause after it.

use groupsync::config::{LIMITS, Limit};
use groupsync::emulator::{EmulatorConfig, Entitlements, SeedUser};

use crate::util::*;

/// A pod whose group g1 is active, in area EMEA, with the member alice.
fn pod() -> PodFixture {
    PodFixture::start(EmulatorConfig {
        groups: vec![PodGroup::new("g1").name("EMEA").area("EMEA").build()],
        users: vec![SeedUser::new(1001, "alice")],
        memberships: vec![("g1".to_string(), "alice".to_string())],
        session_tokens: vec![(TOKEN.into(), Entitlements::ALL)],
        ..Default::default()
    })
}

/// g1 declared so that the plan counts one of what `limit` counts.
fn one_of(limit: Limit) -> &'static str {
    match limit {
        Limit::Changes => "id: g1\narea: APAC\n",
        Limit::Deactivations => "id: g1\nactive: false\n",
        Limit::MemberRemovals => "id: g1\nmembers: []\n",
    }
}

#[test]
fn each_limit_refuses_with_the_message_of_its_row_and_force_overrides_it() {
    for spec in &LIMITS {
        let ws = Workspace::new();
        ws.write_group_file("g1.yaml", one_of(spec.limit));
        ws.write_file(
            "groupsync.yaml",
            format!("limits: {{{}: 0}}\n", spec.name()),
        );
        let pod = pod();

        let refused = pod.run(&ws, &["apply", "--config", "groupsync.yaml"]);
        assert_exit(&refused, 1);
        let expected = format!("error: {}", spec.refusal(1, "", 0));
        assert!(
            stderr(&refused).contains(&expected),
            "{}: expected {expected:?} in\n{}",
            spec.key,
            stderr(&refused)
        );
        let writes = pod
            .emulator
            .requests()
            .into_iter()
            .filter(|request| request.method == "PUT")
            .count();
        assert_eq!(writes, 0, "{}: nothing is written", spec.key);

        let forced = pod.run(&ws, &["apply", "--force", "--config", "groupsync.yaml"]);
        assert_exit(&forced, 0);
    }
}

#[test]
fn a_config_error_prints_its_cause_after_it() {
    let ws = Workspace::new();
    let sdk = ws.path().join("missing-sdk.yaml");
    let output = ws
        .groupsync_std()
        .args(["validate", "--bdk-config"])
        .arg(&sdk)
        .output()
        .expect("run groupsync");
    assert_exit(&output, 1);
    let sdk = sdk.display();
    let expected = format!(
        "error: {sdk}: SDK config file: cannot read the SDK config file {sdk}: No such file or directory"
    );
    assert!(stderr(&output).contains(&expected), "{}", stderr(&output));
}

#[test]
fn a_bad_value_in_the_config_file_names_its_position_and_the_parser_cause() {
    let ws = Workspace::new();
    ws.write_file("groupsync.yaml", "schedule: \"61 * * * *\"\n");
    let output = ws
        .groupsync_std()
        .args(["validate", "--config", "groupsync.yaml"])
        .output()
        .expect("run groupsync");
    assert_exit(&output, 1);
    let stderr = stderr(&output);
    let prefix = "groupsync.yaml:1:11: schedule: `61 * * * *` is not a valid cron schedule: ";
    let message = stderr
        .split_once(prefix)
        .map(|(_, cause)| cause.trim())
        .unwrap_or_else(|| panic!("expected {prefix:?} in\n{stderr}"));
    assert!(
        !message.is_empty(),
        "the cron parser's own reason follows: {stderr}"
    );
}
