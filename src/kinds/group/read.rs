//! The group kind's reads, before planning: the declared groups the refresh
//! mode selects, into the snapshot, with drift noted per field.
//!
//! Few groups to read: one GET each. Many: one paged walk of the list
//! endpoint, then GET for any declared group the walk did not return. A 403
//! on reads (a bot may hold MANAGE_ROLE_SCOPES without VIEW_ROLE_SCOPES) is a
//! warning: the plan goes on from the snapshot. A bot login that fails, 403
//! included, is no such refusal: it fails the cycle in the login's own words. A 404 says the group does
//! not exist; when every group read answers 404, the pod URL is the likelier
//! culprit, and one warning says so instead of one per group.
//!
//! Groups declared without `id` are bound to the groups the snapshot records
//! under their names first ([`NameLookups::from_snapshot`]), before any read.
//! A name the snapshot does not know is looked up on the pod: with the list's
//! `name` filter for one name, or in one walk of the list for several (a pod
//! filters each page after taking it, so a filtered lookup costs a whole
//! walk anyway). One match is adopted into the snapshot.

use std::collections::HashSet;

use crate::config::RefreshMode;
use crate::kinds::core::ReadContext;
use crate::kinds::group::names::{NameLookups, is_named};
use crate::kinds::group::{FieldChange, changed_fields};
use crate::model::Text;
use crate::model::{GroupKey, ROLE_SCOPE, UserGroupResponse};
use crate::pod::{PodClient, PodError};
use crate::store::snapshot::{Snapshot, now_ms};

/// Above this many groups to read, one list walk is cheaper than a GET each.
const LIST_WALK_THRESHOLD: usize = 16;

/// What the group kind's reads found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupRead {
    /// Groups read from the pod and recorded in the snapshot.
    pub read: usize,
    /// Groups whose fields changed outside groupsync: `from` = the
    /// snapshot's value, `to` = the pod's value now.
    pub drift: Vec<(String, Vec<FieldChange>)>,
    /// Problems that do not stop the cycle (no read permission, unknown group).
    pub warnings: Vec<String>,
    /// Which pod group each group declared without `id` is.
    pub names: NameLookups,
}

/// Reads the declared groups the refresh mode selects into `snapshot`, and
/// looks up the names declared without `id` that it does not know.
pub async fn read(ctx: &ReadContext<'_>, snapshot: &mut Snapshot) -> Result<GroupRead, PodError> {
    let (desired, client, mode) = (ctx.desired, ctx.client, ctx.mode);
    let mut report = GroupRead {
        names: NameLookups::from_snapshot(desired, snapshot),
        ..GroupRead::default()
    };
    let mut seen = HashSet::new();
    let mut wanted: Vec<String> = desired
        .groups
        .iter()
        .filter_map(|group| group.id())
        .chain(report.names.recorded_ids())
        .filter(|id| mode == RefreshMode::Always || snapshot.get(id).is_none())
        .filter(|id| seen.insert(*id))
        .map(str::to_string)
        .collect();
    // Managed groups no file declares (orphans, or renamed): read too, so
    // that a plan shows whether they are still active.
    let orphans: Vec<String> = match mode {
        RefreshMode::Always => snapshot
            .managed_groups()
            .map(|(id, _, _)| id)
            .filter(|id| seen.insert(*id))
            .map(str::to_string)
            .collect(),
        RefreshMode::Missing => Vec::new(),
    };
    wanted.extend(orphans.iter().cloned());
    let names: Vec<(String, String)> = report
        .names
        .unresolved()
        .map(|(group_type, name)| (group_type.to_string(), name.to_string()))
        .collect();
    let walk_for_names = names
        .iter()
        .filter(|(group_type, _)| group_type == ROLE_SCOPE)
        .count()
        > 1;
    // One walk serves every read and every ROLE_SCOPE name when it pays.
    let walk = if wanted.len() > LIST_WALK_THRESHOLD || walk_for_names {
        match client.list(ROLE_SCOPE).await {
            Ok(listed) => Some(listed),
            Err(error) if error.is_forbidden() => {
                cannot_read(&mut report, &names, &error);
                return Ok(report);
            }
            Err(error) => return Err(error),
        }
    } else {
        None
    };
    let reads = Reads {
        wanted: &wanted,
        orphans: &orphans,
        names: &names,
        walk: walk.as_deref(),
    };
    if !read_groups(&mut report, snapshot, client, &reads).await? {
        return Ok(report);
    }
    // No file declares an orphan: what changed of it on the pod is no drift of git's.
    report.drift.retain(|(id, _)| !orphans.contains(id));
    look_up_names(&mut report, snapshot, client, &names, walk.as_deref()).await?;
    Ok(report)
}

/// What a refresh is to read.
struct Reads<'a> {
    /// Group ids to read.
    wanted: &'a [String],
    /// Those of them groupsync manages and no file declares.
    orphans: &'a [String],
    /// Names (type, name) to look up afterwards.
    names: &'a [(String, String)],
    /// The list walk, when there was one.
    walk: Option<&'a [UserGroupResponse]>,
}

/// Reads the wanted groups: from the walk when there was one, then a GET
/// for each of the rest. False when the pod refused reads (403).
async fn read_groups(
    report: &mut GroupRead,
    snapshot: &mut Snapshot,
    client: &PodClient,
    reads: &Reads<'_>,
) -> Result<bool, PodError> {
    let (wanted, walk) = (reads.wanted, reads.walk);
    let mut remaining: HashSet<&str> = wanted.iter().map(String::as_str).collect();
    for pod in walk.unwrap_or_default() {
        let Some(id) = pod.id.as_deref() else {
            continue;
        };
        if remaining.remove(id) {
            observe(report, snapshot, id, pod.clone());
        }
    }
    // In declared order, so that logs and warnings are deterministic.
    let mut gets = 0;
    let mut not_found = Vec::new();
    for id in wanted.iter().filter(|id| remaining.contains(id.as_str())) {
        gets += 1;
        match client.get(id).await {
            Ok(pod) => observe(report, snapshot, id, pod),
            Err(error) if error.is_forbidden() => {
                cannot_read(report, reads.names, &error);
                return Ok(false);
            }
            Err(error) if error.status() == Some(404) => not_found.push(id.as_str()),
            Err(error) => return Err(error),
        }
    }
    // A list walk that answered shows the pod URL is right, whatever the GETs say.
    let url_proven = walk.is_some() || not_found.len() < gets;
    let (gone, not_found): (Vec<&str>, Vec<&str>) = not_found
        .into_iter()
        .partition(|id| reads.orphans.iter().any(|orphan| orphan == id));
    if url_proven {
        forget_gone(report, snapshot, &gone);
    }
    let pod_url = walk.is_none().then(|| client.pod_url());
    report
        .warnings
        .extend(not_found_warnings(&not_found, gets, pod_url));
    Ok(true)
}

/// Orphans the pod no longer has: nothing to prune, nothing to manage.
fn forget_gone(report: &mut GroupRead, snapshot: &mut Snapshot, gone: &[&str]) {
    for id in gone {
        snapshot.forget_managed(id);
        report.warnings.push(format!(
            "group {id}, which groupsync managed and no file declares any more, is gone from the pod (404): no longer managed"
        ));
    }
}

/// Looks up each of `names` (type, name): in `walk` for ROLE_SCOPE when there
/// was one, else with the list's `name` filter. One match is adopted.
async fn look_up_names(
    report: &mut GroupRead,
    snapshot: &mut Snapshot,
    client: &PodClient,
    names: &[(String, String)],
    walk: Option<&[UserGroupResponse]>,
) -> Result<(), PodError> {
    for (index, (group_type, name)) in names.iter().enumerate() {
        let key = GroupKey::Name {
            group_type: group_type.as_str().into(),
            name: name.as_str().into(),
        };
        // The name first, then each former name while nothing is found.
        let mut candidates = vec![name.clone()];
        candidates.extend(report.names.previously(&key).iter().map(Text::to_string));
        let mut matches = Vec::new();
        for candidate in &candidates {
            match named_on_pod(client, walk, group_type, candidate).await {
                Ok(found) => matches = found,
                Err(error) if error.is_forbidden() => {
                    cannot_read(report, &names[index..], &error);
                    return Ok(());
                }
                Err(error) => return Err(error),
            }
            if !matches.is_empty() {
                if candidate != name {
                    tracing::info!(
                        "{name:?} was {candidate:?} (previously): renaming it, not creating it"
                    );
                }
                break;
            }
        }
        report.names.found_on_pod(group_type, name, &matches);
        if let [adopted] = matches.as_slice()
            && let Some(id) = adopted.id.as_deref()
        {
            tracing::info!(
                group_id = id,
                "the pod's group named {name:?} is {id}: adopting it"
            );
            observe(report, snapshot, id, adopted.clone());
        }
    }
    Ok(())
}

/// The pod's groups of `group_type` named exactly `name`: from the walk
/// when there was one, else through the list's `name` filter.
async fn named_on_pod(
    client: &PodClient,
    walk: Option<&[UserGroupResponse]>,
    group_type: &str,
    name: &str,
) -> Result<Vec<UserGroupResponse>, PodError> {
    let matches = match walk.filter(|_| group_type == ROLE_SCOPE) {
        Some(walk) => walk
            .iter()
            .filter(|pod| is_named(pod, group_type, name))
            .cloned()
            .collect(),
        None => client.list_named(group_type, name).await?,
    };
    // A pod applies its own filter; only exact matches of the type count.
    Ok(matches
        .into_iter()
        .filter(|pod| is_named(pod, group_type, name))
        .collect())
}

/// The pod refused reads (a 403 from a group endpoint, never the login's):
/// one warning, and the names not yet looked up stay unknown.
fn cannot_read(report: &mut GroupRead, names: &[(String, String)], error: &PodError) {
    debug_assert!(error.is_forbidden() && !error.is_login_failure());
    report.warnings.push(no_read_permission(error));
    for (group_type, name) in names {
        let reason =
            format!("the pod refused to list its groups ({error}); grant VIEW_ROLE_SCOPES");
        report.names.not_looked_up(group_type, name, reason);
    }
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
            "group {id} is declared but the pod has no such group: fix the id, or leave `id:` out to have groupsync create the group by its name"
        ))
        .collect()
}

fn no_read_permission(error: &PodError) -> String {
    format!(
        "cannot read groups from the pod ({error}); planning from the snapshot, and groups it does not know get every declared field. Grant VIEW_ROLE_SCOPES to see drift"
    )
}

/// Records what the pod said, noting drift against what the snapshot had.
fn observe(report: &mut GroupRead, snapshot: &mut Snapshot, id: &str, pod: UserGroupResponse) {
    if let Some(recorded) = snapshot.get(id) {
        let fields = drifted_fields(recorded, &pod);
        if !fields.is_empty() {
            report.drift.push((id.to_string(), fields));
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
    use crate::model::{DesiredGroup, DesiredState, Field, FieldValue};

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
        DesiredState::new(ids.iter().map(|id| DesiredGroup::test(id)))
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

        let desired = declared(&["a1", "b2", "c3"]);
        let ctx = ReadContext {
            desired: &desired,
            client: &client,
            mode: RefreshMode::Missing,
            concurrency: 4,
            started_ms: 0,
        };
        let report = read(&ctx, &mut snapshot).await.unwrap();

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
