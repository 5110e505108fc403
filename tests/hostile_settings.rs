//! Settings the daemon could not survive are refused at once, by `validate`
//! as by every command, naming what to fix: a file setting that is a FIFO
//! or a device (which would block a read for ever, SIGTERM ignored, or
//! never end), a state file that is a dangling link into the groups dir, a
//! duration out of its range. And words a user expects to work do: the pod
//! URL's scheme in any case, a did-you-mean for a mistyped config key.
//!
//! Each command runs under a guard ([`run_within_guard`]): a regression
//! fails the test instead of hanging the suite.

use std::path::{Path, PathBuf};

use crate::util::*;

/// A workspace with one valid group, and a FIFO beside it at `fifo`.
fn workspace_with_fifo() -> (Workspace, PathBuf) {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\nname: Alpha\n");
    let fifo = ws.path().join("fifo");
    make_fifo(&fifo);
    (ws, fifo)
}

/// `groupsync <command> --groups-dir groups.d ARGS` in `ws`, under the guard.
fn groupsync(ws: &Workspace, command: &str, args: &[&str]) -> Finished {
    let mut groupsync = ws.groupsync_std();
    groupsync
        .args([command, "--groups-dir", "groups.d"])
        .args(args);
    run_within_guard(groupsync)
}

/// The ways to name a file groupsync reads, each with what the refusal
/// calls it: flags, config keys, and the SDK config's private key.
fn file_settings(ws: &Workspace, target: &Path) -> Vec<(Vec<String>, &'static str)> {
    let target = target.display().to_string();
    let config = |name: &str, text: String| {
        ws.write_file(name, text);
        vec!["--config".to_string(), name.to_string()]
    };
    let sdk = ws.write_file(
        "sdk.yaml",
        format!("host: acme.example\nbot: {{username: bot, privateKey: {{path: {target}}}}}\n"),
    );
    vec![
        (vec!["--ca-file".into(), target.clone()], "the CA file"),
        (vec!["--state".into(), target.clone()], "the state file"),
        (
            config(
                "token.yaml",
                format!("auth: {{session_token_file: {target}}}\n"),
            ),
            "the session token file",
        ),
        (
            config(
                "bot.yaml",
                format!("auth: {{bot_username: bot, private_key_file: {target}}}\n"),
            ),
            "the bot's private key file",
        ),
        (
            vec!["--bdk-config".into(), target.clone()],
            "cannot read the SDK config file",
        ),
        (
            vec!["--bdk-config".into(), sdk.display().to_string()],
            "the bot's private key file",
        ),
    ]
}

#[test]
fn a_fifo_or_a_device_named_by_any_file_setting_is_refused_at_once() {
    let (ws, fifo) = workspace_with_fifo();
    for (target, kind) in [
        (fifo.as_path(), "a FIFO (named pipe)"),
        (Path::new("/dev/zero"), "a character device"),
    ] {
        for (args, what) in file_settings(&ws, target) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            for command in ["validate", "plan"] {
                let done = groupsync(&ws, command, &args);
                let context = format!("{command} {args:?}:\n{}", done.everything());
                assert_eq!(done.code, Some(1), "{context}");
                assert!(
                    done.stderr.contains(what)
                        && done.stderr.contains(&target.display().to_string()),
                    "{context}"
                );
                assert!(
                    done.stderr.contains(&format!(
                        "it is {kind}, not a regular file; name a regular file"
                    )),
                    "{context}"
                );
            }
        }
    }
}

#[test]
fn a_state_file_turned_into_a_fifo_fails_the_daemon_cycle_and_sigterm_still_stops_it() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\nname: Alpha\n");
    let pod = token_pod(vec![PodGroup::new("a1").name("Alpha").build()]);
    let metrics = write_daemon_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_in_sync(1);

    let fifo = ws.path().join("state.fifo");
    make_fifo(&fifo);
    std::fs::rename(&fifo, ws.state_file()).unwrap();
    replace_file(&ws.groups_dir().join("a1.yaml"), "id: a1\nname: Alpha\n");
    daemon.wait_stderr("it is a FIFO (named pipe), not a regular file");
    assert!(
        daemon
            .stderr()
            .contains(&format!("state file {}", ws.state_file().display())),
        "{}",
        daemon.output()
    );

    daemon.signal("TERM");
    let status = daemon.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", daemon.output());
}

#[test]
fn a_dangling_link_into_the_groups_dir_is_refused_as_the_state_file() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\nname: Alpha\n");
    // Its target is not there yet: the first save would create it inside groups.d.
    std::os::unix::fs::symlink("groups.d/state.json", ws.path().join("state.json")).unwrap();
    for command in ["validate", "plan"] {
        let done = groupsync(&ws, command, &["--state", "state.json"]);
        assert_eq!(done.code, Some(1), "{command}: {}", done.everything());
        assert!(
            done.stderr.contains(
                "error: the state file state.json is inside the groups directory groups.d: "
            ),
            "{command}: {}",
            done.everything()
        );
    }
    assert!(!ws.groups_dir().join("state.json").exists());
}

#[test]
fn a_duration_out_of_its_range_is_refused_at_its_position_naming_the_range() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\nname: Alpha\n");
    for (text, expected) in [
        (
            "interval: 18446744073709551615s\n",
            "groupsync.yaml:1:11: interval: `18446744073709551615s` is out of range; \
             expected a duration from 1s to 8760h",
        ),
        (
            "interval: 1ms\n",
            "groupsync.yaml:1:11: interval: `1ms` is out of range; expected a duration from 1s to 8760h",
        ),
        (
            "debounce: 10ms\n",
            "groupsync.yaml:1:11: debounce: `10ms` is out of range; expected a duration from 100ms to 8760h",
        ),
        (
            "retry:\n  max_interval: 9000h\n",
            "groupsync.yaml:2:17: retry.max_interval: `9000h` is out of range; expected a duration from 0s to 8760h",
        ),
    ] {
        ws.write_file("groupsync.yaml", text);
        let done = groupsync(&ws, "validate", &["--config", "groupsync.yaml"]);
        assert_eq!(done.code, Some(1), "{text}: {}", done.everything());
        assert!(
            done.stderr.contains(&format!("error: {expected}")),
            "{text}: {}",
            done.everything()
        );
    }

    let flag = groupsync(&ws, "validate", &["--cycle-timeout", "0s"]);
    assert_eq!(flag.code, Some(1), "{}", flag.everything());
    assert!(
        flag.stderr.contains(
            "error: --cycle-timeout / GROUPSYNC_CYCLE_TIMEOUT: `0s` is out of range; \
             expected a duration from 1s to 8760h"
        ),
        "{}",
        flag.everything()
    );
    let lock = groupsync(&ws, "apply", &["--lock-timeout", "9000h"]);
    assert_eq!(lock.code, Some(1), "{}", lock.everything());
    assert!(
        lock.stderr.contains("--lock-timeout")
            && lock
                .stderr
                .contains("`9000h` is out of range; expected a duration from 0s to 8760h"),
        "{}",
        lock.everything()
    );
}

#[test]
fn the_pod_url_scheme_may_be_written_in_any_case() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\nname: Alpha\n");
    let pod = token_pod(vec![PodGroup::new("a1").name("Alpha").build()]);
    let url = pod.emulator.pod_url();
    for scheme in ["HTTP", "Http"] {
        let shouted = url.replacen("http", scheme, 1);
        let output = ws
            .groupsync_std()
            .args(["plan", "--groups-dir", "groups.d", "--state", "state.json"])
            .args(["--pod-url", &shouted])
            .env("GROUPSYNC_SESSION_TOKEN", TOKEN)
            .output()
            .unwrap();
        assert_exit(&output, 0);
        assert!(
            stdout(&output).contains("No changes"),
            "{scheme}: {}",
            stdout(&output)
        );
    }
}

#[test]
fn a_mistyped_config_key_gets_a_did_you_mean_at_its_position() {
    let ws = Workspace::new();
    ws.write_group_file("a1.yaml", "id: a1\nname: Alpha\n");
    ws.write_file("groupsync.yaml", "concurrency: 2\nintervl: 5m\n");
    let done = groupsync(&ws, "validate", &["--config", "groupsync.yaml"]);
    assert_eq!(done.code, Some(1), "{}", done.everything());
    assert!(
        done.stderr.contains(
            "error: groupsync.yaml:2:1: unknown field `intervl` (did you mean `interval`?), \
             expected one of"
        ),
        "{}",
        done.everything()
    );
}
