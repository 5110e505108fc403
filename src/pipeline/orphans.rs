//! Orphans: groups groupsync manages that no file declares any more (a file
//! deleted, a group taken out of one). Argo CD's `prune: true`, Flux's
//! `spec.prune` and Terraform's removed block act on removal; so does
//! groupsync when asked (`prune: deactivate`, `--prune`): the pod has no
//! DELETE, so an orphan still active is deactivated (`PUT {"active":
//! false}`), its members and assignees left as they are. Otherwise orphans
//! are listed in every plan, and nothing is written for them.
//!
//! A plan that would create a group while an orphan of the same type was
//! declared in the same file at the last apply says so: most likely a
//! rename that lacks `previously:`.

use serde::Serialize;

use crate::kinds::group;
use crate::kinds::seam::Part;
use crate::model::ROLE_SCOPE;
use crate::store::snapshot::Snapshot;

/// A managed group no file declares any more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Orphan {
    pub group_id: String,
    /// Its name on the pod, as last recorded.
    pub name: Option<String>,
    /// The file that declared it at the last apply.
    pub last_file: String,
    /// False when the pod has it inactive already: nothing to prune.
    #[serde(skip)]
    pub active: bool,
}

/// The orphans of `snapshot`: the managed groups whose ids are not among
/// `declared` (the pod groups the declared groups are bound to, sorted);
/// and how many groups groupsync manages in all.
pub fn orphans_of(declared: &[&str], snapshot: &Snapshot) -> (Vec<Orphan>, usize) {
    let mut orphans = Vec::new();
    let mut managed = 0;
    // Both ascend by id: one walk along each, where 100,000 hash lookups
    // cost more than the rest of the plan.
    let mut declared = declared.iter().peekable();
    for (id, entry, record) in snapshot.managed_groups() {
        managed += 1;
        while declared.next_if(|other| **other < id).is_some() {}
        if declared.peek().is_some_and(|other| **other == id) {
            continue;
        }
        orphans.push(Orphan {
            group_id: id.to_string(),
            name: entry.pod.name.as_deref().map(str::to_owned),
            last_file: record.file.to_string(),
            active: entry.pod.active != Some(false),
        });
    }
    (orphans, managed)
}

/// The part that prunes `orphan`: its deactivation, from what the snapshot
/// records of it; `None` when it is inactive already or not recorded.
pub fn prune_part(orphan: &Orphan, snapshot: &Snapshot) -> Option<Part> {
    let recorded = snapshot.get(&orphan.group_id).filter(|_| orphan.active)?;
    Some(Part::Group(Box::new(group::prune(recorded))))
}

/// The note for a create of `group_type` + `name` in `file`, for each
/// orphan of the same type that file declared at the last apply: most
/// likely a rename without `previously:`.
pub fn rename_notes(
    group_type: &str,
    name: &str,
    file: &str,
    orphans: &[Orphan],
    snapshot: &Snapshot,
) -> Vec<String> {
    orphans
        .iter()
        .filter(|orphan| orphan.last_file == file)
        .filter(|orphan| {
            let orphan_type = snapshot
                .get(&orphan.group_id)
                .and_then(|pod| pod.group_type.as_deref())
                .unwrap_or(ROLE_SCOPE);
            orphan_type == group_type
        })
        .map(|orphan| {
            let old = orphan.name.as_deref().unwrap_or("its old name");
            format!(
                "this creates {name:?} while group {} ({old:?}), declared in {file} at the last apply, \
                 is declared nowhere now: if it was renamed, add `previously: [{old:?}]` so that it is \
                 renamed rather than a second group created",
                orphan.group_id
            )
        })
        .collect()
}
