//! rosters: members written and read at scale, against the emulator with
//! 20 ms of latency per request, at `concurrency` 16. Each case prints its
//! floor beside criterion's figure; the bench asserts request counts, never
//! times.
//!
//! - `apply_one_group_gaining_500_members`: 500 per-user PUTs share the one
//!   budget of 16. Floor: ceil(500 / 16) x 20 ms = 640 ms (target 1.5x: 960 ms).
//! - `apply_20_groups_gaining_25_members_each`: the same 500 writes spread
//!   over 20 groups. Floor: 640 ms.
//! - `refresh_50_groups_of_5000_members_in_sync`: a `plan --refresh` of 50
//!   long lists nobody changed: one group page, then one row sorted each way
//!   per list, 100 reads instead of 2,500 pages. Floor: 20 ms + ceil(50 / 16)
//!   x 2 x 20 ms = 180 ms.
//! - `refresh_50_groups_one_member_swapped`: the same, one member swapped in
//!   one group in the portal: only that list is walked (50 pages, one after
//!   the other). Floor: 20 ms + 2 x 20 ms + 50 x 20 ms = 1,060 ms.
//!
//! Run: `cargo bench --bench rosters`

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

#[path = "support/pod.rs"]
mod pod;
use pod::pod_from_config;

use criterion::{Criterion, criterion_group, criterion_main};

use groupsync::config::{Overrides, RefreshMode, Settings};
use groupsync::emulator::{Emulator, EmulatorConfig, SeedUser};
use groupsync::model::{Roster, UserGroupResponse};
use groupsync::pipeline::cycle::{CycleOptions, run_cycle};
use groupsync::shutdown::Shutdown;

const CONCURRENCY: usize = 16;
const LATENCY: Duration = Duration::from_millis(20);

fn username(index: usize) -> String {
    format!("user{index:05}")
}

fn group_id(index: usize) -> String {
    format!("65{index:012x}")
}

fn users(count: usize) -> Vec<SeedUser> {
    (0..count)
        .map(|index| SeedUser::new(10_000 + index as i64, username(index)))
        .collect()
}

fn groups(count: usize) -> Vec<UserGroupResponse> {
    (0..count)
        .map(|index| UserGroupResponse {
            id: Some(group_id(index).into()),
            name: Some(format!("Scope {index}").into()),
            ..Default::default()
        })
        .collect()
}

/// groups.d: one file per group, declaring `members(index)`.
fn write_tree(groups_dir: &Path, count: usize, members: impl Fn(usize) -> Vec<String>) {
    std::fs::create_dir_all(groups_dir).unwrap();
    for index in 0..count {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "id: \"{}\"\nmembers: [{}]",
            group_id(index),
            members(index).join(", ")
        );
        std::fs::write(groups_dir.join(format!("g{index}.yaml")), text).unwrap();
    }
}

fn settings(dir: &Path, emulator: &Emulator) -> Settings {
    let mut settings = Settings::from_overrides(&Overrides {
        groups_dir: Some(dir.join("groups.d")),
        state_file: Some(dir.join("state.json")),
        pod_url: Some(emulator.pod_url()),
        ..Overrides::default()
    })
    .unwrap();
    settings.concurrency = CONCURRENCY;
    settings.limits.max_changes = usize::MAX;
    settings
}

/// Requests whose path ends with `segment`, by method.
fn count(emulator: &Emulator, method: &str, segment: &str) -> usize {
    emulator
        .requests()
        .iter()
        .filter(|request| request.method == method && request.path.ends_with(segment))
        .count()
}

/// Each iteration empties the lists on the pod, then applies `groups`
/// groups gaining `members` members each (500 writes in all).
fn bench_gaining(c: &mut Criterion, name: &str, group_count: usize, members: usize) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = EmulatorConfig {
        groups: groups(group_count),
        users: users(group_count * members),
        ..Default::default()
    };
    let (emulator, client) = pod_from_config(&runtime, config, LATENCY);
    let dir = tempfile::tempdir().unwrap();
    let members_of = |index: usize| -> Vec<String> {
        (0..members)
            .map(|m| username(index * members + m))
            .collect()
    };
    write_tree(&dir.path().join("groups.d"), group_count, members_of);
    let settings = settings(dir.path(), &emulator);
    let writes = group_count * members;
    println!(
        "{name}: floor ceil({writes} / {CONCURRENCY}) x {} ms = {} ms",
        LATENCY.as_millis(),
        writes.div_ceil(CONCURRENCY) as u128 * LATENCY.as_millis()
    );
    let mut group = c.benchmark_group("rosters");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function(name, |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                for index in 0..group_count {
                    emulator
                        .set_roster(&group_id(index), Roster::Members, Vec::<String>::new())
                        .unwrap();
                }
                // The lists are read (empty) and the users looked up before the clock starts.
                prime_state(&runtime, &settings, &client);
                emulator.clear_requests();
                let started = Instant::now();
                let outcome = runtime
                    .block_on(run_cycle(
                        &settings,
                        Some(&client),
                        CycleOptions::apply(RefreshMode::Missing),
                        Shutdown::never(),
                    ))
                    .unwrap();
                total += started.elapsed();
                assert!(outcome.apply.as_ref().unwrap().converged());
                assert_eq!(count(&emulator, "PUT", ""), writes, "one PUT per user");
            }
            total
        })
    });
    group.finish();
}

/// Writes a state file in which every list is known empty and every user's
/// id is known, as after a refresh: what the measured apply starts from.
fn prime_state(
    runtime: &tokio::runtime::Runtime,
    settings: &Settings,
    client: &groupsync::pod::PodClient,
) {
    // An apply refused by its limits still records what its refresh read.
    let mut refused = settings.clone();
    refused.limits.max_changes = 0;
    let outcome = runtime.block_on(run_cycle(
        &refused,
        Some(client),
        CycleOptions::apply(RefreshMode::Always),
        Shutdown::never(),
    ));
    assert!(matches!(outcome, Err(groupsync::Error::Refused { .. })));
}

fn apply_one_group_gaining_500_members(c: &mut Criterion) {
    bench_gaining(c, "apply_one_group_gaining_500_members", 1, 500);
}

fn apply_20_groups_gaining_25_members_each(c: &mut Criterion) {
    bench_gaining(c, "apply_20_groups_gaining_25_members_each", 20, 25);
}

const LONG_GROUPS: usize = 50;
const LONG_MEMBERS: usize = 5_000;

fn refresh_long_lists(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let members: Vec<String> = (0..LONG_MEMBERS).map(username).collect();
    let memberships = (0..LONG_GROUPS)
        .flat_map(|index| {
            members
                .iter()
                .map(move |user| (group_id(index), user.clone()))
        })
        .collect();
    let config = EmulatorConfig {
        groups: groups(LONG_GROUPS)
            .into_iter()
            .map(|mut group| {
                group.member_count = Some(LONG_MEMBERS as i64);
                group
            })
            .collect(),
        users: users(LONG_MEMBERS + 1),
        memberships,
        page_size: 100,
        ..Default::default()
    };
    let (emulator, client) = pod_from_config(&runtime, config, LATENCY);
    let dir = tempfile::tempdir().unwrap();
    write_tree(&dir.path().join("groups.d"), LONG_GROUPS, |_| {
        members.clone()
    });
    let settings = settings(dir.path(), &emulator);
    // The first refresh walks every list and records its newest dates.
    let first = runtime
        .block_on(run_cycle(
            &settings,
            Some(&client),
            CycleOptions::apply(RefreshMode::Always),
            Shutdown::never(),
        ))
        .unwrap();
    assert!(first.plan.is_empty(), "{:?}", first.plan.errors);
    let plan = || {
        runtime
            .block_on(run_cycle(
                &settings,
                Some(&client),
                CycleOptions::plan(RefreshMode::Always),
                Shutdown::never(),
            ))
            .unwrap()
    };
    println!(
        "refresh_50_groups_of_5000_members_in_sync: floor 20 ms + ceil(50 / 16) x 2 x 20 ms = 180 ms; 100 list reads (a full walk: 2,500)"
    );
    let mut group = c.benchmark_group("rosters");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("refresh_50_groups_of_5000_members_in_sync", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                emulator.clear_requests();
                let started = Instant::now();
                let outcome = plan();
                total += started.elapsed();
                assert!(outcome.plan.is_empty());
                assert_eq!(count(&emulator, "GET", "/memberships"), 2 * LONG_GROUPS);
            }
            total
        })
    });

    // One member swapped in one group: only that list is walked.
    let mut swapped: Vec<String> = members[1..].to_vec();
    swapped.push(username(LONG_MEMBERS));
    emulator
        .set_roster(&group_id(7), Roster::Members, swapped)
        .unwrap();
    println!(
        "refresh_50_groups_one_member_swapped: floor 20 ms + 2 x 20 ms + 50 x 20 ms = 1,060 ms; 150 list reads"
    );
    group.bench_function("refresh_50_groups_one_member_swapped", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                emulator.clear_requests();
                let started = Instant::now();
                let outcome = plan();
                total += started.elapsed();
                assert_eq!(outcome.plan.changes.len(), 1);
                let reads = count(&emulator, "GET", "/memberships");
                let per_list: BTreeMap<String, usize> = emulator
                    .requests()
                    .iter()
                    .filter(|request| request.path.ends_with("/memberships"))
                    .fold(BTreeMap::new(), |mut seen, request| {
                        *seen.entry(request.path.clone()).or_default() += 1;
                        seen
                    });
                // Every list probed (2 reads); the swapped one walked too (its 50 pages).
                assert_eq!(
                    per_list.values().filter(|reads| **reads == 2).count(),
                    LONG_GROUPS - 1
                );
                assert!(reads >= 2 * LONG_GROUPS + LONG_MEMBERS / 100, "{reads}");
            }
            total
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    apply_one_group_gaining_500_members,
    apply_20_groups_gaining_25_members_each,
    refresh_long_lists
);
criterion_main!(benches);
