//! import: 10,000 groups read from the emulator with 20 ms of latency per
//! request and pages of 100. Paging is sequential (each page's cursor comes
//! from the one before), so the floor is 100 pages x 20 ms = 2 s; the target
//! is within 1.5x of it. Each import starts from an empty state file,
//! records all 10,000 groups in it, and writes them into a new directory
//! (two files of at most 512 KiB).
//!
//! Run: `cargo bench --bench import`

use std::time::{Duration, Instant};

#[path = "support/pod.rs"]
mod pod;
use pod::pod_with_latency;

use criterion::{Criterion, criterion_group, criterion_main};

use groupsync::model::UserGroupResponse;
use groupsync::pipeline::import::{Destination, ImportOptions, ImportRun, import};
use groupsync::shutdown::Shutdown;

const GROUPS: usize = 10_000;
const PAGE_SIZE: usize = 100;
const LATENCY: Duration = Duration::from_millis(20);

fn seed() -> Vec<UserGroupResponse> {
    (0..GROUPS)
        .map(|index| UserGroupResponse {
            id: Some(format!("65{index:012x}")),
            name: Some(format!("Scope {index}")),
            area: Some(["EMEA", "APAC", "AMER"][index % 3].to_string()),
            description: Some(format!("Desk number {index}")),
            active: Some(index % 10 != 0),
            ..Default::default()
        })
        .collect()
}

fn import_10000_groups(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (emulator, client) = pod_with_latency(&runtime, seed(), PAGE_SIZE, LATENCY);
    let dir = tempfile::tempdir().unwrap();
    let groups_dir = dir.path().join("groups.d");

    let mut group = c.benchmark_group("import");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    let mut round = 0usize;
    group.bench_function("10000_groups_20ms_latency_pages_of_100", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                round += 1;
                let state = dir.path().join(format!("state-{round}.json"));
                let out = dir.path().join(format!("round-{round}"));
                std::fs::create_dir(&out).unwrap();
                let destination = Destination::File(out.join("imported.yaml"));
                emulator.clear_requests();
                let started = Instant::now();
                let run = ImportRun {
                    groups_dir: &groups_dir,
                    state_path: &state,
                    destination: &destination,
                    options: &ImportOptions::default(),
                    read_at: "now",
                    timeout: Duration::from_secs(600),
                    stop: Shutdown::never(),
                };
                let imported = runtime.block_on(import(&run, &client)).unwrap();
                total += started.elapsed();
                assert_eq!(imported.imported, GROUPS);
                assert_eq!(
                    emulator.count("GET", "/pod/v2/admin/usergroups"),
                    GROUPS / PAGE_SIZE,
                    "one request per page"
                );
                let _ = std::fs::remove_file(&state);
                let _ = std::fs::remove_dir_all(&out);
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, import_10000_groups);
criterion_main!(benches);
