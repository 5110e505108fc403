//! The refresh step of a cycle: read the pod's state of declared groups into
//! the snapshot before planning, and report what changed outside groupsync.
//!
//! Few groups to read: one GET each. Many: one paged walk of the list
//! endpoint, then GET for any declared group the walk did not return. A 403
//! on reads (a bot may hold MANAGE_ROLE_SCOPES without VIEW_ROLE_SCOPES) is a
//! warning: the plan goes on from the snapshot.

use std::collections::HashSet;

use crate::config::RefreshMode;
use crate::model::{DesiredState, ROLE_SCOPE, UserGroupResponse};
use crate::pipeline::plan::{FieldChange, changed_fields};
use crate::pipeline::state::{Snapshot, now_ms};
use crate::pod::{PodClient, PodError};

/// Above this many groups to read, one list walk is cheaper than a GET each.
const LIST_WALK_THRESHOLD: usize = 16;

/// A group whose managed fields changed on the pod since the snapshot recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub group_id: String,
    /// `from` = the snapshot's value, `to` = the pod's value now.
    pub fields: Vec<FieldChange>,
}

/// What a refresh read and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshReport {
    /// Groups read from the pod and recorded in the snapshot.
    pub read: usize,
    pub drift: Vec<Drift>,
    /// Problems that do not stop the cycle (no read permission, unknown group).
    pub warnings: Vec<String>,
}

/// Reads the pod's state of the declared groups that `mode` selects into `snapshot`.
pub async fn refresh(
    desired: &DesiredState,
    snapshot: &mut Snapshot,
    client: &PodClient,
    mode: RefreshMode,
) -> Result<RefreshReport, PodError> {
    let wanted: Vec<&str> = desired
        .groups
        .iter()
        .map(|group| group.id.as_str())
        .filter(|id| mode == RefreshMode::Always || snapshot.get(id).is_none())
        .collect();
    let mut report = RefreshReport::default();
    if wanted.is_empty() {
        return Ok(report);
    }
    let mut remaining: HashSet<&str> = wanted.iter().copied().collect();
    if wanted.len() > LIST_WALK_THRESHOLD {
        match client.list(ROLE_SCOPE).await {
            Ok(listed) => {
                for pod in listed {
                    let Some(id) = pod.id.clone() else { continue };
                    if remaining.remove(id.as_str()) {
                        observe(&mut report, snapshot, &id, pod);
                    }
                }
            }
            Err(error) if error.status() == Some(403) => {
                report.warnings.push(no_read_permission(&error));
                return Ok(report);
            }
            Err(error) => return Err(error),
        }
    }
    // In declared order, so that logs and warnings are deterministic.
    for id in wanted.into_iter().filter(|id| remaining.contains(id)) {
        match client.get(id).await {
            Ok(pod) => observe(&mut report, snapshot, id, pod),
            Err(error) if error.status() == Some(403) => {
                report.warnings.push(no_read_permission(&error));
                break;
            }
            Err(error) if error.status() == Some(404) => report.warnings.push(format!(
                "group {id} is declared but the pod has no such group: fix the id, or create the group in the admin portal (groupsync never creates groups)"
            )),
            Err(error) => return Err(error),
        }
    }
    Ok(report)
}

fn no_read_permission(error: &PodError) -> String {
    format!(
        "cannot read groups from the pod ({error}); planning from the snapshot, and groups it does not know get every declared field. Grant VIEW_ROLE_SCOPES to see drift"
    )
}

/// Records what the pod said, noting drift against what the snapshot had.
fn observe(report: &mut RefreshReport, snapshot: &mut Snapshot, id: &str, pod: UserGroupResponse) {
    if let Some(recorded) = snapshot.get(id) {
        let fields = drifted_fields(recorded, &pod);
        if !fields.is_empty() {
            report.drift.push(Drift {
                group_id: id.to_string(),
                fields,
            });
        }
    }
    snapshot.record_read(id, pod, now_ms());
    report.read += 1;
}

/// The managed fields whose value the pod now reports differently.
fn drifted_fields(recorded: &UserGroupResponse, now: &UserGroupResponse) -> Vec<FieldChange> {
    changed_fields(|field| recorded.field(field), |field| now.field(field))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Field, FieldValue};

    #[test]
    fn drift_lists_only_changed_managed_fields() {
        let recorded = UserGroupResponse {
            name: Some("A".into()),
            area: Some("EU".into()),
            active: Some(true),
            member_count: Some(1),
            ..Default::default()
        };
        let now = UserGroupResponse {
            name: Some("A".into()),
            area: Some("US".into()),
            active: Some(true),
            member_count: Some(9),
            ..Default::default()
        };
        assert_eq!(
            drifted_fields(&recorded, &now),
            vec![FieldChange {
                field: Field::Area,
                from: Some(FieldValue::Text("EU".into())),
                to: FieldValue::Text("US".into()),
            }]
        );
    }
}
