//! apply: 1,000 changed groups against the emulator with 20 ms of latency per
//! request, 16 PUTs in flight. The floor is 1,000 x 20 ms / 16 = 1.25 s.
//!
//! Run: `cargo bench --bench apply`

use std::time::{Duration, Instant};

#[path = "support/pod.rs"]
mod pod;
use pod::pod_with_latency;

use criterion::{Criterion, criterion_group, criterion_main};

use groupsync::kinds::seam::Lookups;
use groupsync::model::{
    DesiredGroup, DesiredState, GroupKey, SourcePos, UserGroupResponse, UserGroupUpdate,
};
use groupsync::pipeline::apply::{ApplyOptions, Records, apply};
use groupsync::pipeline::journaling::Recorder;
use groupsync::pipeline::plan::{PlanOptions, plan};
use groupsync::shutdown::Shutdown;
use groupsync::store::journal::Journal;
use groupsync::store::snapshot::Snapshot;
use groupsync::store::state_file::StateFile;

const GROUPS: usize = 1_000;
const LATENCY: Duration = Duration::from_millis(20);
const CONCURRENCY: usize = 16;

fn group_id(index: usize) -> String {
    format!("65{index:012x}")
}

/// Every group declared with `area: <area>`.
fn desired_with_area(area: &str) -> DesiredState {
    let groups: Vec<DesiredGroup> = (0..GROUPS)
        .map(|index| DesiredGroup {
            key: GroupKey::Id(group_id(index).into()),
            fields: UserGroupUpdate {
                area: Some(area.into()),
                ..Default::default()
            },
            rosters: Default::default(),
            on_drift: None,
            previously: Box::default(),
            source: SourcePos {
                path: std::path::Path::new("groups.d/bench.yaml").into(),
                line: 1,
                column: 1,
            },
        })
        .collect();
    DesiredState::new(groups)
}

fn apply_1000_changes(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let seed: Vec<UserGroupResponse> = (0..GROUPS)
        .map(|index| UserGroupResponse {
            id: Some(group_id(index).into()),
            name: Some(format!("Scope {index}").into()),
            area: Some("start".into()),
            ..Default::default()
        })
        .collect();
    let (emulator, client) = pod_with_latency(&runtime, seed.clone(), 1_000, LATENCY);
    let state = StateFile::open(&dir.path().join("state.json")).unwrap();
    let mut snapshot = Snapshot::default();
    for group in seed {
        let id = group.id.clone().unwrap();
        snapshot.record_read(&id, group, 0);
    }

    let mut group = c.benchmark_group("apply");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    let mut round = 0usize;
    group.bench_function("1000_changes_20ms_latency_concurrency_16", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                round += 1;
                let planned = plan(
                    &desired_with_area(&format!("round-{round}")),
                    &snapshot,
                    &Lookups::default(),
                    &PlanOptions::default(),
                );
                assert_eq!(planned.changes.len(), GROUPS);
                emulator.clear_requests();
                let journal = Journal::open(&dir.path().join("journal.jsonl"), 64 << 20).unwrap();
                let mut journal = Recorder::new(journal, &client, None, None);
                let started = Instant::now();
                let records = Records {
                    state: &state,
                    snapshot: &mut snapshot,
                    journal: &mut journal,
                    applied: None,
                };
                let report = runtime
                    .block_on(apply(
                        &planned,
                        &client,
                        records,
                        ApplyOptions {
                            concurrency: CONCURRENCY,
                            log_changes: false,
                        },
                        Shutdown::never(),
                    ))
                    .unwrap();
                total += started.elapsed();
                assert_eq!(report.applied.len(), GROUPS, "{:?}", report.failed.first());
                assert_eq!(
                    emulator.count("PUT", "/pod/v2/admin/usergroups/"),
                    GROUPS,
                    "exactly one PUT per group"
                );
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, apply_1000_changes);
criterion_main!(benches);
