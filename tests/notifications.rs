//! Notifications through the real binary: to the emulator's agent (a
//! Symphony room) and to webhooks on 127.0.0.1. What each message says,
//! that it is said once, retried or not as the status says, signed, escaped,
//! and that a target that never answers holds nothing up.

use std::process::Output;

use groupsync::emulator::{EmulatorConfig, PostedMessage, SeedRoom};
use groupsync::model::UserGroupResponse;

use crate::util::*;

/// The key manager token the emulator accepts from the start.
const KEY_MANAGER_TOKEN: &str = "test-key-manager-token";

/// The room the tests post into, its stream id in standard base64 (as the
/// room's settings show it: `+`, `/`, padding).
fn room() -> SeedRoom {
    SeedRoom {
        name: "Compliance EMEA".to_string(),
        stream_id: "cm9vbS9vbmU+Zm9yK3Rlc3Rz/A==".to_string(),
        active: true,
    }
}

/// An emulator holding `groups`, the room, and accepting [`TOKEN`] and [`KEY_MANAGER_TOKEN`].
fn notify_pod(groups: Vec<UserGroupResponse>) -> PodFixture {
    PodFixture::start(with_token(EmulatorConfig {
        groups,
        rooms: vec![room()],
        key_manager_tokens: vec![KEY_MANAGER_TOKEN.to_string()],
        ..Default::default()
    }))
}

/// `notify:` posting every event into the room by its stream id.
fn room_target() -> String {
    format!(
        "notify:\n  - {{kind: symphony, stream_id: \"{}\"}}\n",
        room().stream_id
    )
}

/// Writes `groupsync.yaml` (the daemon's, without `/metrics`) with `extra`.
fn write_config(ws: &Workspace, extra: &str) {
    write_daemon_config(ws, false, extra);
}

/// `groupsync --config groupsync.yaml ARGS` against `pod`, with both tokens.
fn groupsync(ws: &Workspace, pod: &PodFixture, args: &[&str]) -> Output {
    ws.groupsync_std()
        .args(["--config", "groupsync.yaml"])
        .args(args)
        .env("GROUPSYNC_POD_URL", pod.emulator.pod_url())
        .env("GROUPSYNC_SESSION_TOKEN", TOKEN)
        .env("GROUPSYNC_KEY_MANAGER_TOKEN", KEY_MANAGER_TOKEN)
        .output()
        .expect("run groupsync")
}

fn start_daemon(ws: &Workspace, pod: &PodFixture, metrics: Option<std::net::SocketAddr>) -> Daemon {
    Daemon::start_with(ws, pod, metrics, &[], |command| {
        command.env("GROUPSYNC_KEY_MANAGER_TOKEN", KEY_MANAGER_TOKEN);
    })
}

/// The event each message is about, from its small print (`... · drift_found · ...`).
fn kinds(messages: &[PostedMessage]) -> Vec<String> {
    messages
        .iter()
        .map(|message| {
            let small_print = message.message.rsplit("<p><i>").next().unwrap_or_default();
            small_print
                .split(" · ")
                .nth(1)
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// A secret file (mode 0600) holding `secret` and a line break.
fn secret_file(ws: &Workspace, secret: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = ws.write_file("hook.secret", format!("{secret}\n"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// The pod's group `id`, changed by `change` behind groupsync's back.
fn change_on_pod(pod: &PodFixture, id: &str, change: impl FnOnce(&mut UserGroupResponse)) {
    let mut group = pod.emulator.group(id).expect("the pod holds the group");
    change(&mut group);
    pod.emulator.set_group(group);
}

#[test]
fn drift_in_a_daemon_is_one_message_and_the_next_cycle_adds_none() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", "id: a1\nname: EMEA trading\narea: EMEA\n");
    let pod = notify_pod(vec![
        PodGroup::new("a1")
            .name("EMEA trading")
            .area("EMEA")
            .build(),
    ]);
    let extra = "notify:\n  - {kind: symphony, room_name: Compliance EMEA}\n";
    let metrics = write_daemon_config(&ws, true, extra);
    let mut daemon = start_daemon(&ws, &pod, metrics);
    daemon.wait_cycles("success", 1.0);

    change_on_pod(&pod, "a1", |group| group.area = Some("GLOBAL".into()));
    daemon.signal("HUP");
    daemon.wait_cycles("success", 2.0);
    wait_until("three messages in the room", || {
        pod.emulator.messages().len() >= 3
    });
    let messages = pod.emulator.messages();
    assert_eq!(
        kinds(&messages),
        ["drift_found", "drift_reverted", "applied"],
        "{messages:#?}"
    );
    let drift = &messages[0].message;
    assert!(
        drift.contains("<td>EMEA trading</td><td>a1</td>"),
        "{drift}"
    );
    assert!(
        drift.contains("area &quot;EMEA&quot; -&gt; &quot;GLOBAL&quot;"),
        "{drift}"
    );
    assert_eq!(messages[0].room.as_deref(), Some("Compliance EMEA"));

    // The next cycle finds nothing new and says nothing: the message of a
    // second, different drift comes right after the first three.
    daemon.signal("HUP");
    daemon.wait_cycles("success", 3.0);
    change_on_pod(&pod, "a1", |group| group.area = Some("APAC".into()));
    daemon.signal("HUP");
    daemon.wait_cycles("success", 4.0);
    wait_until("the second drift's message", || {
        pod.emulator.messages().len() >= 4
    });
    let messages = pod.emulator.messages();
    assert_eq!(kinds(&messages)[3], "drift_found", "{messages:#?}");
    assert!(
        messages[3].message.contains("&quot;APAC&quot;"),
        "{messages:#?}"
    );
    // The room's name was looked up once.
    assert_eq!(pod.emulator.count("POST", "/pod/v3/room/search"), 1);
    daemon.stop();
}

#[test]
fn the_same_drift_found_again_by_a_dry_run_is_not_sent_again() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", "id: a1\narea: EMEA\n");
    let pod = notify_pod(vec![PodGroup::new("a1").area("EMEA").build()]);
    // What a dry run reads is never saved: each cycle finds the same drift.
    ws.write_state(&[PodGroup::new("a1").area("EMEA").build()]);
    change_on_pod(&pod, "a1", |group| group.area = Some("GLOBAL".into()));
    let hook = Hook::answering("200 OK");
    let secret = secret_file(&ws, "s3cr3t-hook");
    let extra = format!(
        "notify:\n  - {{kind: webhook, url: \"{}\", secret_file: \"{}\"}}\n",
        hook.url(),
        secret.display()
    );
    let metrics = write_daemon_config(&ws, true, &extra);
    let mut daemon = Daemon::start(&ws, &pod, metrics, &["--dry-run"]);
    daemon.wait_cycles("success", 1.0);
    daemon.signal("HUP");
    daemon.wait_cycles("success", 2.0);
    let target = format!("webhook {}", hook.url());
    let count = |result: &str| {
        let labels = [
            ("target", target.as_str()),
            ("event", "drift_found"),
            ("result", result),
        ];
        daemon
            .metric("groupsync_notifications_total", &labels)
            .unwrap_or(0.0)
    };
    wait_until("the second drift_found is deduplicated", || {
        count("deduplicated") >= 1.0
    });
    // Other news is sent, right after the first message.
    change_on_pod(&pod, "a1", |group| group.area = Some("APAC".into()));
    daemon.signal("HUP");
    wait_until("the new drift's message", || hook.received().len() >= 2);
    let events: Vec<String> = (hook.received().iter())
        .map(|post| {
            post.json()["groups"][0]["change"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        events,
        ["area \"EMEA\" -> \"GLOBAL\"", "area \"EMEA\" -> \"APAC\""]
    );
    wait_until("both counted as sent", || count("sent") == 2.0);
    assert!(pod.puts().is_empty(), "a dry run never writes");
    daemon.stop();
}

#[test]
fn an_apply_posts_one_message_listing_each_change_and_signs_the_webhook() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", "id: a1\nname: EMEA trading\narea: EMEA\n");
    ws.write_group_file("apac.yaml", "id: b2\nname: APAC research\n");
    let pod = notify_pod(vec![
        PodGroup::new("a1")
            .name("EMEA trading")
            .area("EMEA-old")
            .build(),
        PodGroup::new("b2").name("APAC old name").build(),
    ]);
    let hook = Hook::answering("200 OK");
    let secret = secret_file(&ws, "s3cr3t-hook");
    let extra = format!(
        "{}  - {{kind: webhook, url: \"{}\", secret_file: \"{}\", events: [applied]}}\n",
        room_target(),
        hook.url(),
        secret.display()
    );
    write_config(&ws, &extra);

    let output = groupsync(&ws, &pod, &["apply"]);
    assert_exit(&output, 0);

    let messages = pod.emulator.messages();
    assert_eq!(kinds(&messages), ["applied"], "{messages:#?}");
    let applied = &messages[0].message;
    assert!(
        applied.contains("Applied: 2 groups changed on the pod"),
        "{applied}"
    );
    assert!(
        applied.contains("<td>EMEA trading</td><td>a1</td><td>area &quot;EMEA-old&quot; -&gt; &quot;EMEA&quot;</td>"),
        "{applied}"
    );
    assert!(
        applied.contains("<td>APAC research</td><td>b2</td><td>name &quot;APAC old name&quot; -&gt; &quot;APAC research&quot;</td>"),
        "{applied}"
    );

    let received = hook.received();
    assert_eq!(received.len(), 1, "{received:#?}");
    let post = &received[0];
    let signature = post.header("x-groupsync-signature").expect("signed");
    assert_eq!(signature, expected_signature(b"s3cr3t-hook", &post.body));
    assert_ne!(signature, expected_signature(b"another secret", &post.body));
    let body = post.json();
    assert_eq!(body["event"], "applied");
    let ids: Vec<&str> = (body["groups"].as_array().unwrap().iter())
        .map(|group| group["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a1", "b2"]);
    assert_eq!(body["groups"][0]["name"], "EMEA trading");
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("groupsync: Applied: 2 groups changed on the pod\n"),
        "{text}"
    );
    assert!(
        text.contains("- APAC research (b2): name \"APAC old name\" -> \"APAC research\"\n"),
        "{text}"
    );
}

#[test]
fn failing_cycles_are_said_once_then_recovered() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", "id: a1\narea: EMEA\n");
    let pod = notify_pod(vec![PodGroup::new("a1").area("EMEA").build()]);
    // Every attempt of the first cycle's read (4, as the daemon retries).
    pod.emulator.fail_next(4, 503, None);
    let metrics = write_daemon_config(&ws, true, &room_target());
    let mut daemon = start_daemon(&ws, &pod, metrics);
    daemon.wait_cycles("failure", 1.0);
    wait_until("the failing message", || {
        !pod.emulator.messages().is_empty()
    });

    daemon.signal("HUP");
    daemon.wait_cycles("success", 1.0);
    wait_until("the recovered message", || {
        pod.emulator.messages().len() >= 2
    });
    let messages = pod.emulator.messages();
    assert_eq!(
        kinds(&messages),
        ["cycle_failing", "recovered"],
        "{messages:#?}"
    );
    assert!(
        messages[0].message.contains("503"),
        "{}",
        messages[0].message
    );
    daemon.stop();
}

#[test]
fn the_agent_answering_500_is_retried_and_451_is_not() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", "id: a1\narea: EMEA\n");
    let pod = notify_pod(vec![PodGroup::new("a1").area("EMEA-old").build()]);
    write_config(&ws, &room_target());
    let agent_posts = || pod.emulator.count("POST", "/agent/");

    pod.emulator.fail_agent_next(1, 500, None);
    let output = groupsync(&ws, &pod, &["apply"]);
    assert_exit(&output, 0);
    assert_eq!(kinds(&pod.emulator.messages()), ["applied"]);
    assert_eq!(agent_posts(), 2, "the 500 was retried");

    ws.write_group_file("emea.yaml", "id: a1\narea: EMEA-new\n");
    pod.emulator.fail_agent_next(1, 451, None);
    let output = groupsync(&ws, &pod, &["apply"]);
    assert_exit(&output, 0);
    assert_eq!(agent_posts(), 3, "the 451 was not retried");
    assert_eq!(
        pod.emulator.messages().len(),
        1,
        "compliance blocked the second"
    );
    let errors = stderr(&output);
    assert_eq!(errors.matches("compliance blocked").count(), 1, "{errors}");
    assert!(errors.contains("451"), "{errors}");
}

#[test]
fn a_webhook_that_never_answers_holds_up_no_cycle_and_no_stop() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", "id: a1\narea: EMEA\n");
    let pod = notify_pod(vec![PodGroup::new("a1").area("EMEA-old").build()]);
    let hook = Hook::dead();
    let secret = secret_file(&ws, "s3cr3t-hook");
    let extra = format!(
        "notify:\n  - {{kind: webhook, url: \"{}\", secret_file: \"{}\"}}\n\
         notify_settings: {{flush_timeout: 1s}}\n",
        hook.url(),
        secret.display()
    );
    let metrics = write_daemon_config(&ws, true, &extra);
    let mut daemon = start_daemon(&ws, &pod, metrics);
    // The cycle applies and reports, while its message waits on the webhook.
    daemon.wait_in_sync(1);
    assert_eq!(pod.put_log().len(), 1);
    let target = format!("webhook {}", hook.url());
    let sent = daemon.metric(
        "groupsync_notifications_total",
        &[
            ("target", &target),
            ("event", "applied"),
            ("result", "sent"),
        ],
    );
    assert_eq!(
        sent,
        Some(0.0),
        "known from the first scrape, and nothing sent"
    );
    // Nor failed yet: the cycle ended while its message was still in flight
    // (a cycle that waited on it would end only after the send timed out).
    let failed = daemon.metric(
        "groupsync_notifications_total",
        &[
            ("target", &target),
            ("event", "applied"),
            ("result", "failed"),
        ],
    );
    assert_eq!(failed, Some(0.0), "the cycle did not wait for the send");
    // More cycles run meanwhile.
    ws.write_group_file("emea.yaml", "id: a1\narea: EMEA-2\n");
    daemon.wait_cycles("success", 2.0);
    daemon.wait_in_sync(1);
    daemon.stop();

    // A one-shot apply waits for it no longer than flush_timeout, and still succeeds.
    ws.write_group_file("emea.yaml", "id: a1\narea: EMEA-3\n");
    let output = groupsync(&ws, &pod, &["run", "--once"]);
    assert_exit(&output, 0);
    assert!(
        stderr(&output).contains("not delivered within notify_settings.flush_timeout (1s)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn hostile_names_from_the_pod_are_escaped_and_the_message_stays_well_formed() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", "id: a1\nname: EMEA trading\n");
    let pod = notify_pod(vec![PodGroup::new("a1").name("EMEA trading").build()]);
    let hook = Hook::answering("200 OK");
    let secret = secret_file(&ws, "s3cr3t-hook");
    let extra = format!(
        "{}  - {{kind: webhook, url: \"{}\", secret_file: \"{}\", events: [drift_found]}}\n",
        room_target(),
        hook.url(),
        secret.display()
    );
    write_config(&ws, &extra);
    assert_exit(&groupsync(&ws, &pod, &["apply"]), 0);
    assert!(pod.emulator.messages().is_empty(), "nothing to say yet");

    let hostile = "</messageML>${x} #{y} \u{1b}[31mred & 'q\" \u{202e}";
    change_on_pod(&pod, "a1", |group| group.name = Some(hostile.into()));
    assert_exit(&groupsync(&ws, &pod, &["apply", "--refresh"]), 0);

    // The agent refuses malformed MessageML and unescaped Freemarker markers
    // with 400: every message got in.
    let messages = pod.emulator.messages();
    assert_eq!(
        kinds(&messages),
        ["drift_found", "drift_reverted", "applied"],
        "{messages:#?}"
    );
    // The change is quoted as the plan quotes it (JSON: ESC as `\u001b`),
    // then escaped for MessageML.
    let drift = &messages[0].message;
    assert!(
        drift.contains("&lt;/messageML&gt;$&#123;x} #&#123;y} \\u001b[31mred &amp; &apos;q\\&quot; \\u&#123;202e}"),
        "{drift}"
    );
    for message in &messages {
        assert!(!message.message.contains('\u{1b}'), "{message:?}");
        assert_eq!(
            message.message.matches("</messageML>").count(),
            1,
            "{message:?}"
        );
    }
    let received = hook.received();
    assert_eq!(received.len(), 1);
    let text = received[0].json()["text"].as_str().unwrap().to_string();
    assert!(text.contains("\\u001b[31mred"), "{text}");
    assert!(text.contains("\\u{202e}"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text}");
}

#[test]
fn bad_targets_are_refused_at_their_position() {
    use std::os::unix::fs::PermissionsExt;
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", "id: a1\n");
    let private = secret_file(&ws, "s");
    let open = ws.write_file("open.secret", "s\n");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o640)).unwrap();
    let hook =
        |rest: &str| format!("notify:\n  - {{kind: webhook, url: \"https://h.test/x\", {rest}}}\n");
    let cases = [
        (
            hook(&format!(
                "secret_file: {}, events: [drift_fond]",
                private.display()
            )),
            "unknown variant `drift_fond`",
        ),
        (
            "notify:\n  - {kind: teams}\n".to_string(),
            "unknown variant `teams`",
        ),
        (
            "notify:\n  - {kind: symphony, stream_id: \"not base64!\"}\n".to_string(),
            "is not a stream id",
        ),
        (
            "notify:\n  - {kind: webhook, url: \"ftp://h.test/x\", secret_file: s}\n".to_string(),
            "is not a URL starting with http:// or https://",
        ),
        (hook("secret_file: missing.secret"), "does not exist"),
        (
            hook(&format!("secret_file: {}", open.display())),
            "may be read by group or others (mode 0640)",
        ),
        (hook("events: [applied]"), "an unsigned webhook is refused"),
    ];
    for (notify, expected) in cases {
        write_config(&ws, &notify);
        let output = ws
            .groupsync_std()
            .args(["validate", "--config", "groupsync.yaml"])
            .output()
            .unwrap();
        assert_exit(&output, 1);
        let errors = stderr(&output);
        let at = "groupsync.yaml:";
        let line = errors.lines().find(|line| line.contains(expected));
        let line = line.unwrap_or_else(|| panic!("{expected:?} not in:\n{errors}"));
        let position = line
            .split_once(at)
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        assert!(
            position.starts_with("7:") || position.starts_with("8:"),
            "no line:col of the target in {line:?}"
        );
    }
}

#[test]
fn notify_test_names_each_target_and_fails_when_one_does() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", "id: a1\n");
    let pod = notify_pod(vec![PodGroup::new("a1").build()]);
    // The answer echoes the secret, as a careless receiver might.
    let hook = Hook::answering_with("403 Forbidden", "bad signature for key s3cr3t-hook");
    let secret = secret_file(&ws, "s3cr3t-hook");
    let extra = format!(
        "{}  - {{kind: webhook, url: \"{}\", secret_file: \"{}\"}}\n",
        room_target(),
        hook.url(),
        secret.display()
    );
    write_config(&ws, &extra);
    let output = groupsync(&ws, &pod, &["notify", "test"]);
    assert_exit(&output, 1);
    let text = stdout(&output);
    let stream_id = "cm9vbS9vbmU-Zm9yK3Rlc3Rz_A";
    assert!(
        text.contains(&format!("ok      symphony stream_id {stream_id}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("FAILED  webhook {}: ", hook.url())) && text.contains("403"),
        "{text}"
    );
    assert_eq!(pod.emulator.messages().len(), 1);
    assert!(text.contains("bad signature for key <redacted>"), "{text}");
    assert!(!text.contains("s3cr3t"), "{text}");
}

#[test]
fn an_agent_answering_without_end_is_read_no_further_than_the_cap() {
    let ws = Workspace::new();
    ws.write_group_file("emea.yaml", "id: a1\n");
    let pod = notify_pod(vec![PodGroup::new("a1").build()]);
    let agent = RawServer::start(|request, stream| {
        drain_request_body(request, stream);
        write_endless_body(stream, "200 OK");
    });
    let extra = format!(
        "pod: {{agent_url: \"{}/agent\"}}\n{}",
        agent.origin(),
        room_target()
    );
    write_config(&ws, &extra);
    let output = run_within_guard({
        let mut command = ws.groupsync_std();
        command
            .args(["--config", "groupsync.yaml", "notify", "test"])
            .env("GROUPSYNC_POD_URL", pod.emulator.pod_url())
            .env("GROUPSYNC_SESSION_TOKEN", TOKEN)
            .env("GROUPSYNC_KEY_MANAGER_TOKEN", KEY_MANAGER_TOKEN);
        command
    });
    assert_eq!(output.code, Some(1), "{}", output.everything());
    assert!(
        output.stdout.contains("larger than 4 MiB"),
        "{}",
        output.stdout
    );
    assert_eq!(agent.requests().len(), 1);
}
