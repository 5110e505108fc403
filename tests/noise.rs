//! What the daemon says, said once and in order, through the real binary:
//! drift counted once however often a dry run sees it, the plans a dry run
//! prints told apart by a dated header, and the drift WARN ahead of the
//! update that reverts it.

use crate::util::*;

/// One group, a1, declared with `area`.
fn declare(ws: &Workspace, area: &str) {
    replace_file(
        &ws.groups_dir().join("a1.yaml"),
        &format!("id: a1\nname: Alpha\narea: {area}\n"),
    );
}

/// Sets a1's area on the pod, as an admin in the portal would.
fn change_on_the_pod(pod: &PodFixture, area: &str) {
    pod.emulator
        .set_group(PodGroup::new("a1").name("Alpha").area(area).build());
}

/// A pod and a state file holding a1 with `area`.
fn pod_with(ws: &Workspace, area: &str) -> PodFixture {
    let pod = token_pod(vec![PodGroup::new("a1").name("Alpha").area(area).build()]);
    seed_state(ws, &pod);
    pod
}

#[test]
fn a_dry_run_daemon_counts_the_same_drift_once_and_new_drift_again() {
    let ws = Workspace::new();
    declare(&ws, "NEW");
    let pod = pod_with(&ws, "NEW");
    let metrics = write_daemon_config(&ws, true, "dry_run: true\nrefresh: always\n");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    daemon.wait_cycles("success", 1.0);
    let mut cycles = 1.0;
    // A reload runs a cycle, which reads a1 from the pod.
    let mut cycle = |daemon: &mut Daemon| {
        cycles += 1.0;
        daemon.signal("HUP");
        daemon.wait_cycles("success", cycles);
        daemon
            .metric("groupsync_drift_total", &[])
            .expect("the drift counter")
    };

    change_on_the_pod(&pod, "HACKED");
    assert_eq!(cycle(&mut daemon), 1.0, "{}", daemon.output());
    assert_eq!(cycle(&mut daemon), 1.0, "the same drift, seen again");
    assert_eq!(cycle(&mut daemon), 1.0, "the same drift, seen again");
    change_on_the_pod(&pod, "HACKED-AGAIN");
    assert_eq!(cycle(&mut daemon), 2.0, "the drift changed");
    change_on_the_pod(&pod, "NEW");
    assert_eq!(cycle(&mut daemon), 2.0, "back in line");
    change_on_the_pod(&pod, "HACKED-AGAIN");
    assert_eq!(cycle(&mut daemon), 3.0, "drifted again");
    daemon.stop();
}

/// The header lines of `stdout`, each checked: `# plan at <UTC time> (cycle N)`; returns the Ns.
fn plan_headers(stdout: &str) -> Vec<u64> {
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("# plan at "))
        .map(|rest| {
            let (time, cycle) = rest.split_once(" (cycle ").expect("(cycle N)");
            assert!(time.ends_with('Z'), "in UTC: {time}");
            chrono::DateTime::parse_from_rfc3339(time).expect("an RFC 3339 time");
            cycle
                .strip_suffix(')')
                .unwrap()
                .parse()
                .expect("a cycle number")
        })
        .collect()
}

#[test]
fn each_plan_a_dry_run_prints_is_dated_and_numbered() {
    let ws = Workspace::new();
    declare(&ws, "NEW");
    let pod = pod_with(&ws, "OLD");
    let metrics = write_daemon_config(&ws, true, "dry_run: true\n");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    let plans = |daemon: &Daemon| daemon.stdout().matches("\nPlan: ").count();
    wait_until("the first plan is printed", || plans(&daemon) == 1);
    let first = daemon.stdout();
    assert!(first.starts_with("# plan at "), "{first}");
    assert_eq!(plan_headers(&first), [1], "{first}");

    declare(&ws, "NEWER");
    wait_until("the second plan is printed", || plans(&daemon) == 2);
    let both = daemon.stdout();
    let second = &both[first.len()..];
    assert!(second.starts_with("# plan at "), "{second}");
    let headers = plan_headers(&both);
    assert_eq!(headers.len(), 2, "{both}");
    assert!(headers[1] > headers[0], "{both}");
    daemon.stop();
}

#[test]
fn drift_is_logged_before_the_update_that_reverts_it() {
    let ws = Workspace::new();
    declare(&ws, "NEW");
    let pod = pod_with(&ws, "NEW");
    change_on_the_pod(&pod, "HACKED");
    let metrics = write_daemon_config(&ws, true, "");
    let mut daemon = Daemon::start(&ws, &pod, metrics, &[]);
    pod.wait_puts(1);
    daemon.wait_stderr("cycle done");
    daemon.stop();

    let stderr = daemon.stderr();
    let drift = stderr.find("drift: group a1").expect("the drift is logged");
    let update = stderr.find("updated group").expect("the update is logged");
    assert!(drift < update, "the drift comes first:\n{stderr}");
}
