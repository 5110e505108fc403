//! The **assignment** kind: the compliance officers responsible for a group.
//! Read from `GET .../usergroups/{id}/assignments`, written one user at a
//! time with `PUT .../assignments/{userId}`; the list machinery it shares
//! with memberships is in [`crate::kinds::roster`]. A plan that removes a
//! group's last assignee says so.

use crate::kinds::core::Kind;
use crate::kinds::roster::ListKind;
use crate::model::Roster;

/// Assignees: `assignees:` in YAML, `assigneeCount` on the group.
pub const ASSIGNMENTS: ListKind = ListKind {
    kind: Kind::Assignment,
    roster: Roster::Assignees,
    count: |group| group.assignee_count,
    emptied_warning: Some(
        "this removes the group's last assignee: no compliance officer will be responsible for it",
    ),
    // A new officer is in place before the one it replaces goes.
    adds_first: true,
};

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::kinds::core::{Action, DriftRule, Target};
    use crate::kinds::membership::MEMBERSHIPS;
    use crate::kinds::roster::{ListKind, plan};
    use crate::model::{DesiredGroup, UserGroupResponse};
    use crate::store::snapshot::Snapshot;

    /// Group g1's list `roster` holds carol; YAML declares it empty.
    fn emptied(list: &ListKind) -> Vec<String> {
        let mut snapshot = Snapshot::default();
        snapshot.record_read("g1", UserGroupResponse::test("g1"), 0);
        let carol = BTreeMap::from([(3, "carol".to_string())]);
        snapshot.record_roster("g1", list.roster, carol, Some(0));
        let group = DesiredGroup::test("g1").with_roster(list.roster, &[]);
        let target = Target {
            action: Action::Update,
            group_id: Some("g1"),
            recorded: snapshot.get("g1"),
        };
        let change = plan(
            list,
            &group,
            &target,
            &snapshot,
            &Default::default(),
            DriftRule::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(change.remove.len(), 1);
        change.warnings()
    }

    #[test]
    fn the_last_assignee_going_is_flagged_only_for_assignees() {
        let warnings = emptied(&ASSIGNMENTS);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("last assignee"), "{warnings:?}");
        assert!(emptied(&MEMBERSHIPS).is_empty());
    }
}
