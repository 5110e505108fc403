//! `groupsync demo`: the whole story against an in-process pod emulator, with
//! the example tree and pod built into the binary, so it runs anywhere.
//!
//! Every step runs what its command line says, and, as `plan` and `apply`
//! do by default, reads every declared group from the pod first:
//! plan -> apply -> plan (nothing left) -> a change behind groupsync's back
//! -> plan (drift) -> apply (reverted) -> a new group declared without `id`,
//! with members and an assignee -> plan (a create) -> apply (created, then
//! one PUT per user) -> plan (nothing left) -> a member swapped in a pull
//! request -> plan (one `+`, one `-`) -> apply (two PUTs) -> a file deleted
//! -> plan (its group listed as an orphan, nothing written) -> apply
//! --prune (deactivated) -> plan --prune (nothing left) -> what the
//! compliance room saw: the messages each apply posted to it through the
//! emulator's agent (`notify:` with a `room_name`).

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use crate::config::{
    Destination, EventKind, Overrides, RefreshMode, Room, Settings, TargetSettings,
};
use crate::emulator::{Emulator, Entitlements, PostedMessage, parse_seed};
use crate::notify::Notifications;
use crate::pipeline::cycle::{CycleOptions, CycleOutcome, pod_client, run_cycle_observed};
use crate::pipeline::render::render_text;
use crate::pod::PodClient;
use crate::shutdown::Shutdown;

/// The example `groups.d/` of this repository, built in.
const EXAMPLE_TREE: &[(&str, &str)] = &[
    ("emea.yaml", include_str!("../groups.d/emea.yaml")),
    ("apac.yaml", include_str!("../groups.d/apac.yaml")),
    ("global.yaml", include_str!("../groups.d/global.yaml")),
    (
        "americas/latam.yaml",
        include_str!("../groups.d/americas/latam.yaml"),
    ),
    (
        "americas/us-equities-research.yaml",
        include_str!("../groups.d/americas/us-equities-research.yaml"),
    ),
];

/// The group the demo adds, declared by name: groupsync creates it.
const NEW_GROUP: &str = "# A new group, declared without `id`: groupsync creates it, then knows it by its name.\n\
name: EMEA rates\narea: EMEA\ndescription: Rates desks in London\n\
members: [alice.smith, bob.jones]\nassignees: [olga.officer]\n";

/// The file a pull request deletes, leaving its group an orphan.
const DELETED_FILE: &str = "groups.d/americas/us-equities-research.yaml";

/// The pod the demo starts from: the same groups, a few of them different.
const DEMO_POD: &str = include_str!("../examples/demo-pod.json");

/// The room the demo's notifications go to.
const ROOM: &str = "Compliance EMEA";

/// Everything the demo needs at hand between its steps.
struct Demo {
    settings: Settings,
    client: PodClient,
    notifications: Notifications,
    color: bool,
}

/// Runs the demo in `workdir` (a fresh temporary folder), printing to `out`.
///
/// Changes the process's working directory to `workdir`, so that paths print
/// as `groups.d/emea.yaml`, as they would in a real checkout.
pub async fn run(workdir: &Path, out: &mut dyn Write, color: bool) -> anyhow::Result<()> {
    std::env::set_current_dir(workdir)?;
    write_example_tree(Path::new("groups.d"))?;
    let seed = parse_seed(DEMO_POD).map_err(anyhow::Error::msg)?;
    let emulator = Emulator::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), seed).await?;
    let token = emulator.add_session(Entitlements::ALL);
    let overrides = Overrides {
        groups_dir: Some("groups.d".into()),
        state_file: Some("groupsync.state.json".into()),
        pod_url: Some(emulator.pod_url()),
        ..Overrides::default()
    };
    let mut settings = Settings::from_overrides(&overrides)?;
    notify_the_room(&mut settings, &emulator)?;
    let client = pod_client(&settings, Some(token))?.expect("the demo always has a pod URL");
    let notifications = Notifications::start(&settings, Some(&client), None)?;
    let mut demo = Demo {
        settings,
        client,
        notifications,
        color,
    };

    writeln!(
        out,
        "groupsync demo: a pod emulator at {} holding {} groups, and the example groups.d/ ({} files).\n\
         The state file starts empty. Like plan and apply, every step first reads each declared group from the pod.\n",
        emulator.pod_url(),
        emulator.groups().len(),
        EXAMPLE_TREE.len()
    )?;
    demo.plan_then_apply(out).await?;
    demo.step(
        out,
        "$ groupsync plan        # right after: nothing left to do",
        PLAN,
    )
    .await?;

    let mut changed = emulator
        .group("6543a1f0c2")
        .expect("the demo pod holds 6543a1f0c2");
    changed.area = Some("EMEA-temporary".into());
    emulator.set_group(changed);
    writeln!(
        out,
        "An admin changes the area of 6543a1f0c2 in the portal, behind groupsync's back.\n"
    )?;
    demo.plan_then_apply(out).await?;

    std::fs::write("groups.d/emea-rates.yaml", NEW_GROUP)?;
    writeln!(
        out,
        "A new group goes through a pull request: groups.d/emea-rates.yaml declares it by its name, without an id,\n\
         with two members and an assignee.\n"
    )?;
    demo.plan_then_apply(out).await?;
    demo.step(
        out,
        "$ groupsync plan        # the new group is known by its name now: nothing to do",
        PLAN,
    )
    .await?;

    // A pull request that swaps one member for another.
    let swapped = NEW_GROUP.replace("bob.jones", "carol.white");
    std::fs::write("groups.d/emea-rates.yaml", swapped)?;
    writeln!(
        out,
        "Another pull request swaps bob.jones for carol.white in the members of EMEA rates.\n"
    )?;
    demo.plan_then_apply(out).await?;

    // A pull request that deletes a file: its group becomes an orphan.
    std::fs::remove_file(DELETED_FILE)?;
    writeln!(
        out,
        "A third pull request deletes {DELETED_FILE}. groupsync still manages its group,\n\
         which no file declares now: an orphan.\n"
    )?;
    demo.step(
        out,
        "$ groupsync plan        # the orphan is listed; nothing is written for it unless asked",
        PLAN,
    )
    .await?;
    let prune = Step {
        prune: true,
        ..APPLY
    };
    demo.step(out, "$ groupsync apply --prune", prune).await?;
    demo.step(
        out,
        "$ groupsync plan --prune        # the orphan is inactive now: nothing left to do",
        Step {
            prune: true,
            ..PLAN
        },
    )
    .await?;

    let requests = emulator.requests();
    let count = |method: &str, matches: &dyn Fn(&str) -> bool| {
        requests
            .iter()
            .filter(|request| request.method == method && matches(&request.path))
            .count()
    };
    let is_user_write =
        |path: &str| path.contains("/memberships/") || path.contains("/assignments/");
    let group_puts = count("PUT", &|path| {
        path.starts_with("/pod/v2/admin/usergroups/") && !is_user_write(path)
    });
    let user_puts = count("PUT", &is_user_write);
    let posts = count("POST", &|path| path == "/pod/v2/admin/usergroups");
    writeln!(
        out,
        "The pod received {group_puts} group PUTs, each carrying only the fields that differed, {posts} POST,\n\
         and {user_puts} PUTs of one member or assignee each (never the bulk membership replace).\n\
         `groupsync forget ID` would stop listing the orphan, touching nothing on the pod."
    )?;
    show_the_room(out, &emulator.messages())?;
    emulator.shutdown().await;
    Ok(())
}

/// What one step of the story runs.
#[derive(Debug, Clone, Copy)]
struct Step {
    write: bool,
    /// `--prune`.
    prune: bool,
}

/// `groupsync plan`.
const PLAN: Step = Step {
    write: false,
    prune: false,
};

/// `groupsync apply`.
const APPLY: Step = Step {
    write: true,
    prune: false,
};

/// `notify: [{kind: symphony, room_name: Compliance EMEA}]`, a room the
/// emulator holds, and a key manager token for it in a file.
fn notify_the_room(settings: &mut Settings, emulator: &Emulator) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    emulator.add_room(ROOM);
    let token_file = Path::new("key-manager-token");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(token_file)?;
    file.write_all(emulator.add_key_manager_token().as_bytes())?;
    let notify = &mut settings.notify;
    notify.targets = vec![TargetSettings {
        destination: Destination::Symphony(Room::Name(ROOM.to_string())),
        events: EventKind::ALL.to_vec(),
    }];
    notify.agent_url = Some(emulator.agent_url());
    notify.key_manager_url = Some(emulator.key_manager_url());
    notify.key_manager_token_file = Some(token_file.to_path_buf());
    Ok(())
}

/// What the compliance room saw: each message the agent took, as text.
fn show_the_room(out: &mut dyn Write, messages: &[PostedMessage]) -> anyhow::Result<()> {
    writeln!(
        out,
        "\nMeanwhile, in the Symphony room \"{ROOM}\" (notify: kind: symphony), the bot posted {} messages:",
        messages.len()
    )?;
    for message in messages {
        writeln!(out, "\n{}", room_text(&message.message))?;
    }
    Ok(())
}

/// MessageML as a room shows it, roughly: one line a paragraph or table
/// row, cells apart, tags left out, entities read.
fn room_text(messageml: &str) -> String {
    let mut text = String::new();
    let mut rest = messageml;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        let close = rest[open..]
            .find('>')
            .map_or(rest.len(), |at| open + at + 1);
        match &rest[open..close] {
            "</p>" | "</header>" | "</tr>" => text.push('\n'),
            "</td>" | "</th>" => text.push_str(" | "),
            _ => {}
        }
        rest = &rest[close..];
    }
    text.push_str(rest);
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#123;", "{")
        .replace("&amp;", "&");
    let lines: Vec<String> = text
        .lines()
        .map(|line| format!("  | {}", line.trim_end_matches(" | ")))
        .collect();
    lines.join("\n")
}

impl Demo {
    /// `groupsync plan`, then `groupsync apply`.
    async fn plan_then_apply(&mut self, out: &mut dyn Write) -> anyhow::Result<()> {
        self.step(out, "$ groupsync plan", PLAN).await?;
        self.step(out, "$ groupsync apply", APPLY).await?;
        Ok(())
    }

    /// Runs `step` as the command does by default (reading every declared
    /// group from the pod first) and prints `title`, then what it printed.
    async fn step(
        &mut self,
        out: &mut dyn Write,
        title: &str,
        step: Step,
    ) -> anyhow::Result<CycleOutcome> {
        let refresh = RefreshMode::Always;
        let options = match step.write {
            true => CycleOptions::apply(refresh),
            false => CycleOptions::plan(refresh),
        };
        let options = CycleOptions {
            prune: step.prune,
            ..options
        };
        // Only a cycle that writes notifies, as `apply` does.
        let notifications = match step.write {
            true => self.notifications.clone(),
            false => Notifications::none(),
        };
        let notify = |outcome: &CycleOutcome| notifications.planned(outcome);
        let result = run_cycle_observed(
            &self.settings,
            Some(&self.client),
            options,
            Shutdown::never(),
            &notify,
        )
        .await;
        notifications.finished(result.as_ref());
        notifications.flush().await;
        let outcome = result?;
        let report = outcome.report();
        writeln!(out, "{title}\n{}", render_text(&report, self.color))?;
        Ok(outcome)
    }
}

fn write_example_tree(groups_dir: &Path) -> std::io::Result<()> {
    for (relative, contents) in EXAMPLE_TREE {
        let path = groups_dir.join(relative);
        std::fs::create_dir_all(
            path.parent()
                .expect("every example file is inside groups.d"),
        )?;
        std::fs::write(path, contents)?;
    }
    Ok(())
}
