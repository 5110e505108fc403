//! The digest of a plan: the SHA-256 of what it would send, so that a
//! reviewer, a CI job and an approver all name one plan the same way. It
//! covers the pod and the requests, change by change, and nothing of when
//! the plan was made: the same plan has the same digest, cycle after cycle.

use serde::Serialize;

use crate::kinds::core::{Action, Request};
use crate::model::{DesiredState, GroupKey, Roster, UserGroupUpdate};
use crate::pipeline::plan::Change;
use crate::store::journal::record::sha256_hex;
use crate::store::snapshot::normalize_pod_url;

/// What a digest covers, serialized with its keys in this order.
#[derive(Serialize)]
struct Covered<'a> {
    pod_url: String,
    changes: Vec<CoveredChange<'a>>,
}

#[derive(Serialize)]
struct CoveredChange<'a> {
    action: Action,
    group_id: Option<&'a str>,
    requests: Vec<Request>,
}

/// The digest of `changes` against the pod at `pod_url` (none: an offline
/// plan), as 64 lower-case hex digits. A change that only holds drift back
/// sends nothing and is not covered.
pub fn plan_digest(pod_url: Option<&str>, changes: &[Change]) -> String {
    let covered = Covered {
        pod_url: pod_url.map(normalize_pod_url).unwrap_or_default(),
        changes: changes
            .iter()
            .filter(|change| change.writes())
            .map(|change| CoveredChange {
                action: change.action,
                group_id: change.group_id.as_deref(),
                requests: change.requests(),
            })
            .collect(),
    };
    sha256_hex(&serde_json::to_vec(&covered).expect("a plan always serializes"))
}

/// One declared group as the desired-state digest covers it.
#[derive(Serialize)]
struct DeclaredGroup<'a> {
    file: String,
    key: &'a GroupKey,
    fields: &'a UserGroupUpdate,
    lists: Vec<(Roster, Vec<&'a String>)>,
}

/// The digest of what `groups.d/` declares: every group's file, key,
/// fields and managed lists, in the desired state's order.
pub fn desired_digest(desired: &DesiredState) -> String {
    let groups: Vec<DeclaredGroup> = desired
        .groups
        .iter()
        .map(|group| DeclaredGroup {
            file: group.source.path.display().to_string(),
            key: &group.key,
            fields: &group.fields,
            lists: group
                .rosters
                .managed()
                .map(|(roster, users)| (roster, users.iter().collect()))
                .collect(),
        })
        .collect();
    sha256_hex(&serde_json::to_vec(&groups).expect("a desired state always serializes"))
}

/// The first 12 digits, as plans and logs show a digest.
pub fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}
