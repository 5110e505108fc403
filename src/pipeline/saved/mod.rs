//! Saved plans and plan digests: what change control names a plan by, and
//! what `plan --out`, `show` and `apply FILE` read and write.
//!
//! - [`digest`]      — the plan digest (what a plan sends, not when) and the desired-state digest.
//! - [`fingerprint`] — what the pod showed of each resource a plan touches, checked again before applying.
//! - [`document`]    — the plan file: versioned JSON, checksummed, refused when altered.

pub mod digest;
pub mod document;
pub mod fingerprint;

pub use digest::{desired_digest, plan_digest, short};
pub use document::{PLAN_FORMAT, PLAN_VERSION, PlanOrigin, SavedPlan};
pub use fingerprint::{Fingerprint, Moved};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::PlanFileError;
    use crate::kinds::core::{Action, Kind};
    use crate::kinds::roster::{ListChange, ListUser};
    use crate::kinds::seam::Part;
    use crate::model::{GroupKey, Roster};
    use crate::pipeline::plan::{Change, Plan};
    use crate::store::snapshot::Snapshot;

    const POD: &str = "https://acme.example/pod";

    /// A change adding `users` as members of group `id`.
    fn adding(id: &str, users: &[&str]) -> Change {
        let add = users
            .iter()
            .enumerate()
            .map(|(index, username)| ListUser {
                username: username.to_string(),
                user_id: Some(index as i64 + 1),
            })
            .collect();
        Change {
            action: Action::Update,
            group_id: Some(id.to_string()),
            key: GroupKey::Id(id.into()),
            source: "groups.d/g.yaml".into(),
            parts: vec![Part::List(ListChange {
                kind: Kind::Membership,
                roster: Roster::Members,
                before: Some(Vec::new()),
                after: users.iter().map(|user| user.to_string()).collect(),
                add,
                remove: Vec::new(),
                emptied_warning: None,
                adds_first: false,
                held_add: Vec::new(),
                held_remove: Vec::new(),
            })],
            declared: Some(0),
            notes: Vec::new(),
        }
    }

    fn saved(changes: Vec<Change>) -> SavedPlan {
        let plan = Plan {
            changes,
            ..Plan::default()
        };
        let fingerprints = fingerprint::take(&plan.changes, &Snapshot::default());
        SavedPlan::new(
            &plan,
            PlanOrigin {
                pod_url: POD.to_string(),
                revision: None,
                desired_digest: "d".repeat(64),
                fingerprints,
            },
        )
    }

    #[test]
    fn the_digest_names_what_a_plan_sends_and_where_nothing_else() {
        let one = plan_digest(Some(POD), &[adding("g1", &["alice"])]);
        assert_eq!(one.len(), 64);
        assert_eq!(one, plan_digest(Some(POD), &[adding("g1", &["alice"])]));
        // The same pod written otherwise: the same plan.
        assert_eq!(
            one,
            plan_digest(
                Some("https://ACME.example/pod/"),
                &[adding("g1", &["alice"])]
            )
        );
        // Where the file says it came from is not what the plan does.
        let mut elsewhere = adding("g1", &["alice"]);
        elsewhere.source = "groups.d/other.yaml".into();
        assert_eq!(one, plan_digest(Some(POD), &[elsewhere]));
        for other in [
            plan_digest(Some(POD), &[adding("g1", &["bob"])]),
            plan_digest(Some(POD), &[adding("g2", &["alice"])]),
            plan_digest(
                Some("https://other.example/pod"),
                &[adding("g1", &["alice"])],
            ),
            plan_digest(Some(POD), &[]),
        ] {
            assert_ne!(one, other);
        }
        assert_eq!(short(&one).len(), 12);
    }

    #[test]
    fn a_plan_file_reads_back_as_written_and_refuses_any_edit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        let written = saved(vec![adding("g1", &["alice", "bob"])]);
        written.write(&path).unwrap();
        let read = SavedPlan::read(&path).unwrap();
        assert_eq!(read, written);
        assert_eq!(read.plan().changes, written.changes);
        assert_eq!(
            read.check_pod(&path, "https://acme.example/pod/").ok(),
            Some(())
        );
        assert!(matches!(
            read.check_pod(&path, "https://other.example/pod"),
            Err(PlanFileError::AnotherPod { .. })
        ));

        let text = std::fs::read_to_string(&path).unwrap();
        let edit = |from: &str, to: &str| {
            assert!(text.contains(from), "{from}");
            std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
            SavedPlan::read(&path).unwrap_err()
        };
        assert!(matches!(
            edit("\"bob\"", "\"eve\""),
            PlanFileError::Altered { .. }
        ));
        assert!(matches!(
            edit("\"version\": 1", "\"version\": 2"),
            PlanFileError::UnknownVersion { found: 2, .. }
        ));
        assert!(matches!(
            edit("groupsync-plan", "other-plan"),
            PlanFileError::NotAPlan { .. }
        ));
        std::fs::write(&path, &text[..text.len() - 20]).unwrap();
        assert!(matches!(
            SavedPlan::read(&path).unwrap_err(),
            PlanFileError::Truncated { .. }
        ));
        std::fs::write(&path, "plan: yes\n").unwrap();
        assert!(matches!(
            SavedPlan::read(&path).unwrap_err(),
            PlanFileError::NotJson { line: 1, .. }
        ));
    }

    #[test]
    fn a_resealed_file_whose_requests_differ_from_its_changes_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        let mut forged = saved(vec![adding("g1", &["alice"])]);
        forged
            .requests
            .push(serde_json::json!({"method": "PUT", "path": "/v2/admin/usergroups/ALL"}));
        // The checksum recomputed, as a forger would: the requests still give it away.
        let resealed = SavedPlan::new(
            &forged.plan(),
            PlanOrigin {
                pod_url: POD.to_string(),
                revision: None,
                desired_digest: forged.desired_digest.clone(),
                fingerprints: forged.fingerprints.clone(),
            },
        );
        let requests = serde_json::to_value(&forged.requests).unwrap();
        reseal(&path, &resealed, |bytes| bytes["requests"] = requests);
        let refused = SavedPlan::read(&path).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("its requests are not those its changes send"),
            "{refused}"
        );
    }

    #[test]
    fn a_resealed_file_without_its_fingerprints_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        let plan = saved(vec![adding("g1", &["alice"])]);
        reseal(&path, &plan, |bytes| {
            bytes["fingerprints"] = serde_json::json!([])
        });
        let refused = SavedPlan::read(&path).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("its fingerprints are not one for each change"),
            "{refused}"
        );
        // Each fingerprint must be of its change's group.
        reseal(&path, &plan, |bytes| {
            bytes["fingerprints"][0]["group"] = serde_json::json!({"id": "other"})
        });
        assert!(SavedPlan::read(&path).is_err());
        // Unaltered, it reads.
        reseal(&path, &plan, |_| {});
        assert!(SavedPlan::read(&path).is_ok());
    }

    #[test]
    fn a_plan_files_revision_is_read_escaped_and_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        let plan = saved(vec![adding("g1", &["alice"])]);
        let long = format!("\u{1b}]0;owned\u{7}{}", "x".repeat(10_000));
        reseal(&path, &plan, |bytes| {
            bytes["revision"] = serde_json::json!({
                "commit": long, "dirty": false, "author": long, "subject": long
            })
        });
        let revision = SavedPlan::read(&path).unwrap().revision.unwrap();
        for text in [
            &revision.commit,
            &revision.author.unwrap(),
            &revision.subject.unwrap(),
        ] {
            assert!(!text.contains('\u{1b}'), "{text}");
            assert!(text.chars().count() < 300, "{} characters", text.len());
        }
    }

    /// Writes `plan` to `path` altered by `alter`, its checksum recomputed as a forger would.
    fn reseal(
        path: &std::path::Path,
        plan: &SavedPlan,
        alter: impl FnOnce(&mut serde_json::Value),
    ) {
        let mut bytes: serde_json::Value = serde_json::from_slice(&plan.to_bytes()).unwrap();
        alter(&mut bytes);
        bytes["checksum"] = serde_json::Value::String(String::new());
        let checksum = crate::store::journal::record::sha256_hex(
            &serde_json::to_vec(&serde_json::from_value::<SavedPlan>(bytes.clone()).unwrap())
                .unwrap(),
        );
        bytes["checksum"] = serde_json::Value::String(checksum);
        std::fs::write(path, serde_json::to_vec(&bytes).unwrap()).unwrap();
    }
}
