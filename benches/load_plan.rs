//! load + plan for 1,000 / 10,000 / 100,000 groups in files of 100, 1% changed:
//! what one `groupsync plan` cycle costs, minus process start and printing.
//!
//! Run: `cargo bench --bench load_plan`

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

use groupsync::desired as load;
use groupsync::kinds::seam::Lookups;
use groupsync::pipeline::plan::{self, PlanOptions};
use groupsync::store::state_file::StateFile;

#[path = "support/fixture.rs"]
mod fixture;

fn load_and_plan(c: &mut Criterion) {
    let mut group = c.benchmark_group("load_plan");
    group.sample_size(10);
    for groups in [1_000, 10_000, 100_000] {
        let dir = tempfile::tempdir().unwrap();
        fixture::write_fixture(dir.path(), groups, 100, 100);
        let groups_dir = dir.path().join("groups.d");
        let state_path = dir.path().join("state.json");
        group.bench_with_input(
            BenchmarkId::from_parameter(groups),
            &groups,
            |b, &groups| {
                b.iter(|| {
                    let desired = load::load_dir(&groups_dir).unwrap();
                    let state = StateFile::open(&state_path).unwrap();
                    let snapshot = state.load().unwrap();
                    let lookups = Lookups::offline(&desired, &snapshot);
                    let planned =
                        plan::plan(&desired, &snapshot, &lookups, &PlanOptions::default());
                    assert_eq!(planned.changes.len(), groups / 100);
                    planned
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, load_and_plan);
criterion_main!(benches);
