//! The refresh step of a cycle: read the pod's state of declared groups into
//! the snapshot before planning, and report what changed outside groupsync.
//!
//! Few groups to read: one GET each. Many: one paged walk of the list
//! endpoint, then GET for any declared group the walk did not return. A 403
//! on reads (a bot may hold MANAGE_ROLE_SCOPES without VIEW_ROLE_SCOPES) is a
//! warning: the plan goes on from the snapshot. A 404 says the group does
//! not exist; when every group read answers 404, the pod URL is the likelier
//! culprit, and one warning says so instead of one per group.

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
        .filter_map(|group| group.id())
        .filter(|id| mode == RefreshMode::Always || snapshot.get(id).is_none())
        .collect();
    let mut report = RefreshReport::default();
    if wanted.is_empty() {
        return Ok(report);
    }
    let mut remaining: HashSet<&str> = wanted.iter().copied().collect();
    // A list walk that answered shows the pod URL is right, whatever the GETs say.
    let mut listed_ok = false;
    if wanted.len() > LIST_WALK_THRESHOLD {
        match client.list(ROLE_SCOPE).await {
            Ok(listed) => {
                listed_ok = true;
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
    let mut reads = 0;
    let mut not_found = Vec::new();
    for id in wanted.into_iter().filter(|id| remaining.contains(id)) {
        reads += 1;
        match client.get(id).await {
            Ok(pod) => observe(&mut report, snapshot, id, pod),
            Err(error) if error.status() == Some(403) => {
                report.warnings.push(no_read_permission(&error));
                break;
            }
            Err(error) if error.status() == Some(404) => not_found.push(id),
            Err(error) => return Err(error),
        }
    }
    let pod_url = (!listed_ok).then(|| client.pod_url());
    report
        .warnings
        .extend(not_found_warnings(&not_found, reads, pod_url));
    Ok(report)
}

/// One warning per group the pod said it does not have; or, when every read
/// (more than one) answered 404, one warning that the pod URL is likely
/// wrong. `pod_url` is `None` when another call already proved it right.
fn not_found_warnings(not_found: &[&str], reads: usize, pod_url: Option<&str>) -> Vec<String> {
    if let Some(pod_url) = pod_url
        && not_found.len() > 1
        && not_found.len() == reads
    {
        return vec![format!(
            "every group read answered 404 ({} groups, e.g. {}): the pod URL {pod_url} is probably wrong; it usually ends in /pod (e.g. https://acme.symphony.com/pod). Check pod.url / GROUPSYNC_POD_URL",
            not_found.len(),
            not_found[0]
        )];
    }
    not_found
        .iter()
        .map(|id| format!(
            "group {id} is declared but the pod has no such group: fix the id, or create the group in the admin portal (groupsync never creates groups)"
        ))
        .collect()
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

    const POD_URL: &str = "https://acme.symphony.com";

    #[test]
    fn when_every_read_answers_404_one_warning_names_the_pod_url() {
        let warnings = not_found_warnings(&["a1", "b2", "c3"], 3, Some(POD_URL));
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert!(
            warnings[0].contains(&format!("the pod URL {POD_URL} is probably wrong"))
                && warnings[0].contains("ends in /pod"),
            "{}",
            warnings[0]
        );
    }

    #[test]
    fn a_404_among_answers_is_one_warning_per_missing_group() {
        let warnings = not_found_warnings(&["a1", "c3"], 3, Some(POD_URL));
        assert_eq!(warnings.len(), 2, "{warnings:#?}");
        assert!(warnings[0].starts_with("group a1 is declared but the pod has no such group"));
        assert!(warnings[1].starts_with("group c3 is declared"));
        // One group alone is as likely a wrong id as a wrong URL.
        let alone = not_found_warnings(&["a1"], 1, Some(POD_URL));
        assert!(alone[0].starts_with("group a1 is declared"), "{alone:?}");
        // A list walk that answered proved the URL right.
        assert_eq!(not_found_warnings(&["a1", "b2"], 2, None).len(), 2);
    }

    fn declared(ids: &[&str]) -> DesiredState {
        DesiredState {
            groups: ids
                .iter()
                .map(|id| crate::model::DesiredGroup {
                    key: crate::model::GroupKey::Id(id.to_string()),
                    fields: Default::default(),
                    source: crate::model::SourcePos {
                        path: "groups.d/g.yaml".into(),
                        line: 1,
                        column: 1,
                    },
                })
                .collect(),
        }
    }

    #[tokio::test]
    async fn a_pod_url_without_slash_pod_is_named_once() {
        use crate::emulator::{Emulator, EmulatorConfig, Entitlements};
        use crate::pod::Timeouts;
        use crate::pod::auth::{AuthSource, SessionToken};
        use crate::pod::retry::RetryPolicy;
        let pod = Emulator::start(
            "127.0.0.1:0".parse().unwrap(),
            EmulatorConfig {
                session_tokens: vec![("token".into(), Entitlements::ALL)],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        // The origin alone: every group path misses the `/pod` prefix.
        let wrong_url = pod.base_url();
        let auth = AuthSource::Token(SessionToken::new("token"));
        let client = PodClient::new(
            &wrong_url,
            auth,
            RetryPolicy::no_retries(),
            Timeouts::default(),
        )
        .unwrap();
        let mut snapshot = Snapshot::default();

        let report = refresh(
            &declared(&["a1", "b2", "c3"]),
            &mut snapshot,
            &client,
            RefreshMode::Missing,
        )
        .await
        .unwrap();

        assert_eq!(report.read, 0);
        assert_eq!(report.warnings.len(), 1, "{:#?}", report.warnings);
        assert!(
            report.warnings[0].contains(&format!("the pod URL {wrong_url} is probably wrong")),
            "{}",
            report.warnings[0]
        );
    }

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
