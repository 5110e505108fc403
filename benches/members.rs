//! members: a full `plan --refresh` of 500 groups with 50 members and 2
//! assignees each, every list in sync, against the emulator with 20 ms of
//! latency per request, at `concurrency` 16, from an empty state file.
//!
//! The requests: the group list walk (500 groups in pages of 100: 5 pages,
//! one after the other, since each page's cursor comes from the one before),
//! then 1,000 list reads (500 memberships and 500 assignments, one page each),
//! 16 at a time. Every declared user is on a list, so no users lookup is needed.
//! Floor: 5 x 20 ms + ceil(1000 / 16) x 20 ms = 100 ms + 1,260 ms = 1.36 s;
//! the target is within 1.5x of it (2.04 s). The bench asserts the request
//! counts, never the time.
//!
//! Run: `cargo bench --bench members`

use std::fmt::Write as _;
use std::time::{Duration, Instant};

#[path = "support/pod.rs"]
mod pod;
use pod::pod_from_config;
#[path = "support/lists.rs"]
mod lists;
use lists::{ListsPod, group_id};

use criterion::{Criterion, criterion_group, criterion_main};

use groupsync::config::{Overrides, RefreshMode, Settings};
use groupsync::pipeline::cycle::{CycleOptions, run_cycle};
use groupsync::shutdown::Shutdown;

const GROUPS: usize = 500;
const MEMBERS: usize = 50;
const ASSIGNEES: usize = 2;
/// Users to draw members from; officers are drawn from the first [`OFFICERS`].
const USERS: usize = 2_000;
const OFFICERS: usize = 20;
const PAGE_SIZE: usize = 100;
const CONCURRENCY: usize = 16;
const LATENCY: Duration = Duration::from_millis(20);

/// The pod: every group with its members and assignees already right.
const POD: ListsPod = ListsPod {
    groups: GROUPS,
    members: MEMBERS,
    assignees: ASSIGNEES,
    users: USERS,
    officers: OFFICERS,
    page_size: PAGE_SIZE,
};

/// groups.d: one file declaring every group with the same lists as the pod.
fn write_tree(groups_dir: &std::path::Path) {
    let mut text = String::from("groups:\n");
    for index in 0..GROUPS {
        let _ = writeln!(
            text,
            "  - id: \"{}\"\n    name: Scope {index}\n    members: [{}]\n    assignees: [{}]",
            group_id(index),
            POD.members_of(index).join(", "),
            POD.assignees_of(index).join(", ")
        );
    }
    std::fs::create_dir_all(groups_dir).unwrap();
    std::fs::write(groups_dir.join("scopes.yaml"), text).unwrap();
}

fn plan_refresh_500_groups(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (emulator, client) = pod_from_config(&runtime, POD.config(|_| "EMEA"), LATENCY);
    let dir = tempfile::tempdir().unwrap();
    let groups_dir = dir.path().join("groups.d");
    write_tree(&groups_dir);
    let mut settings = Settings::from_overrides(&Overrides {
        groups_dir: Some(groups_dir),
        state_file: Some(dir.path().join("state.json")),
        pod_url: Some(emulator.pod_url()),
        ..Overrides::default()
    })
    .unwrap();
    settings.concurrency = CONCURRENCY;

    let mut group = c.benchmark_group("members");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    group.bench_function("plan_refresh_500_groups_50_members_20ms_c16", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                emulator.clear_requests();
                let started = Instant::now();
                let outcome = runtime
                    .block_on(run_cycle(
                        &settings,
                        Some(&client),
                        CycleOptions::plan(RefreshMode::Always),
                        Shutdown::never(),
                    ))
                    .unwrap();
                total += started.elapsed();
                assert!(outcome.plan.changes.is_empty(), "{:?}", outcome.plan.errors);
                assert_eq!(outcome.plan.unchanged, GROUPS);
                let requests = emulator.requests();
                let count = |segment: &str| {
                    requests
                        .iter()
                        .filter(|request| request.path.ends_with(segment))
                        .count()
                };
                assert_eq!(count("/usergroups"), GROUPS / PAGE_SIZE, "list pages");
                assert_eq!(
                    count("/memberships"),
                    GROUPS,
                    "one read per membership list"
                );
                assert_eq!(
                    count("/assignments"),
                    GROUPS,
                    "one read per assignment list"
                );
                assert_eq!(
                    requests.len(),
                    GROUPS / PAGE_SIZE + 2 * GROUPS,
                    "nothing else"
                );
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, plan_refresh_500_groups);
criterion_main!(benches);
