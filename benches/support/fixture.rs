//! A synthetic `groups.d/` tree and matching state file, for benchmarks and
//! for measuring the `plan` process by hand (see `examples/generate.rs`).

use std::path::Path;

use groupsync::model::UserGroupUpdate;
use groupsync::store::snapshot::{AppliedPlan, LastApplied, ManagedHow, Snapshot};
use groupsync::store::state_file::StateFile;

#[path = "../../tests/util/pod_seed.rs"]
#[allow(dead_code)] // only the PodGroup fixture
mod pod_seed;
use pod_seed::PodGroup;

/// Writes `groups` groups into `dir/groups.d` (files of `per_file` groups, in
/// folders of 50 files) and a state file at `dir/state.json` in which one group
/// in `changed_every` differs from the YAML, every group managed with its
/// last-applied values, and the pod and the last apply's revision and
/// digest recorded, as a state file is after applies.
pub fn write_fixture(dir: &Path, groups: usize, per_file: usize, changed_every: usize) {
    let groups_dir = dir.join("groups.d");
    let mut snapshot = Snapshot::default();
    snapshot.claim_for_pod("https://acme.symphony.com").unwrap();
    snapshot.set_last_applied(AppliedPlan {
        revision: Some("4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39".to_string()),
        digest: "5e".repeat(32),
        at_ms: 1_700_000_000_000,
    });
    for (file_index, first) in (0..groups).step_by(per_file).enumerate() {
        let folder = groups_dir.join(format!("region-{:03}", file_index / 50));
        std::fs::create_dir_all(&folder).unwrap();
        let file = format!(
            "groups.d/region-{:03}/scopes-{file_index:05}.yaml",
            file_index / 50
        );
        let mut yaml = String::from("groups:\n");
        for index in first..(first + per_file).min(groups) {
            let id = group_id(index);
            yaml.push_str(&format!(
                "  - id: \"{id}\"\n    name: Scope {index}\n    area: AREA-{}\n    description: Compliance scope number {index}\n    active: true\n",
                index % 7
            ));
            let area = if index % changed_every == 0 {
                "AREA-old".to_string()
            } else {
                format!("AREA-{}", index % 7)
            };
            let pod = PodGroup::new(&id)
                .name(format!("Scope {index}"))
                .area(area)
                .description(format!("Compliance scope number {index}"))
                .build();
            snapshot.record_read(&id, pod, 1_700_000_000_000);
            let applied = LastApplied {
                fields: UserGroupUpdate {
                    name: Some(format!("Scope {index}").into()),
                    area: Some(format!("AREA-{}", index % 7).into()),
                    description: Some(format!("Compliance scope number {index}").into()),
                    active: Some(true),
                },
                lists: Default::default(),
            };
            snapshot.mark_managed(&id, ManagedHow::Declared, &file, applied, 1_700_000_000_000);
        }
        std::fs::write(folder.join(format!("scopes-{file_index:05}.yaml")), yaml).unwrap();
    }
    StateFile::open(&dir.join("state.json"))
        .unwrap()
        .save(&snapshot)
        .unwrap();
}

/// Symphony-like hex ids: `65` followed by the index in hex.
pub fn group_id(index: usize) -> String {
    format!("65{index:012x}")
}
