//! The saved plan file (`plan --out FILE`): one versioned JSON document
//! with the plan's digest, the pod URL, the revision, a digest of the
//! desired state, every planned request, the changes themselves, and a
//! fingerprint of every resource they touch. A `checksum` over the rest
//! makes any edit show: `show` and `apply` refuse an altered file.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::digest::plan_digest;
use super::fingerprint::Fingerprint;
use crate::config::files::read_regular_file;
use crate::error::PlanFileError;
use crate::kinds::core::Request;
use crate::pipeline::plan::{Change, Plan};
use crate::revision::Revision;
use crate::store::journal::record::sha256_hex;
use crate::store::snapshot::normalize_pod_url;
use crate::store::state_file::write_atomically;

/// The document's `format`.
pub const PLAN_FORMAT: &str = "groupsync-plan";
/// The document's `version`: the one this groupsync writes and reads.
pub const PLAN_VERSION: u32 = 1;
/// The most read of a plan file: 256 MiB, far beyond the plan of 100,000 groups.
pub const PLAN_FILE_CAP: u64 = 256 * 1024 * 1024;

/// A plan as `plan --out` saves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedPlan {
    pub format: String,
    pub version: u64,
    /// [`plan_digest`] of the changes against `pod_url`.
    pub digest: String,
    /// The pod the plan was made against, normalized.
    pub pod_url: String,
    /// The revision of the groups dir the plan was made from.
    pub revision: Option<Revision>,
    /// [`super::digest::desired_digest`] of what the groups dir declared.
    pub desired_digest: String,
    /// When the plan was made (RFC 3339, UTC); not covered by the digest.
    pub created: String,
    /// How many groups groupsync managed then (for `limits.max_prune_fraction`).
    pub managed: usize,
    /// Every request, in the order sent, for a reviewer to read.
    pub requests: Vec<Value>,
    pub changes: Vec<Change>,
    /// One per change that writes, in order.
    pub fingerprints: Vec<Fingerprint>,
    /// The SHA-256 of the document as compact JSON with `checksum` empty.
    pub checksum: String,
}

/// What a plan file is made from, besides its plan.
pub struct PlanOrigin {
    pub pod_url: String,
    pub revision: Option<Revision>,
    pub desired_digest: String,
    pub fingerprints: Vec<Fingerprint>,
}

impl SavedPlan {
    /// The saved form of `plan`.
    pub fn new(plan: &Plan, origin: PlanOrigin) -> SavedPlan {
        let changes: Vec<Change> = plan.changes.clone();
        let mut saved = SavedPlan {
            format: PLAN_FORMAT.to_string(),
            version: u64::from(PLAN_VERSION),
            digest: plan_digest(Some(&origin.pod_url), &changes),
            pod_url: normalize_pod_url(&origin.pod_url),
            revision: origin.revision,
            desired_digest: origin.desired_digest,
            created: crate::store::journal::record::now(),
            managed: plan.managed,
            requests: requests_of(&changes),
            changes,
            fingerprints: origin.fingerprints,
            checksum: String::new(),
        };
        saved.checksum = saved.computed_checksum();
        saved
    }

    /// The plan to apply: the saved changes, nothing else.
    pub fn plan(&self) -> Plan {
        Plan {
            changes: self.changes.clone(),
            managed: self.managed,
            ..Plan::default()
        }
    }

    fn computed_checksum(&self) -> String {
        let unsealed = SavedPlan {
            checksum: String::new(),
            ..self.clone()
        };
        sha256_hex(&serde_json::to_vec(&unsealed).expect("a saved plan always serializes"))
    }

    /// The document, pretty-printed, with a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a saved plan always serializes");
        bytes.push(b'\n');
        bytes
    }

    /// Writes the document to `path` whole or not at all, mode 0644: a plan
    /// holds nothing secret, and CI hands it on as an artifact.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        write_atomically(path, &self.to_bytes(), 0o644)
    }

    /// Reads and checks the plan file at `path`: its format and version,
    /// its checksum, and that its requests and digest are what its changes
    /// make. Says nothing yet of the pod.
    pub fn read(path: &Path) -> Result<SavedPlan, PlanFileError> {
        let bytes =
            read_regular_file(path, PLAN_FILE_CAP).map_err(|error| PlanFileError::Unreadable {
                path: path.to_path_buf(),
                reason: error.to_string(),
            })?;
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|error| json_error(path, &error))?;
        check_format(path, &value)?;
        let altered = |what: String| PlanFileError::Altered {
            path: path.to_path_buf(),
            what,
        };
        let mut saved: SavedPlan = serde_json::from_value(value)
            .map_err(|error| altered(format!("it does not hold a plan as written ({error})")))?;
        if saved.checksum != saved.computed_checksum() {
            return Err(altered(
                "its checksum does not match its contents".to_string(),
            ));
        }
        for change in &mut saved.changes {
            change
                .parts
                .iter_mut()
                .for_each(crate::kinds::seam::Part::restore);
        }
        if requests_of(&saved.changes) != saved.requests {
            return Err(altered(
                "its requests are not those its changes send".to_string(),
            ));
        }
        if plan_digest(Some(&saved.pod_url), &saved.changes) != saved.digest {
            return Err(altered("its digest is not that of its changes".to_string()));
        }
        if !super::fingerprint::cover(&saved.changes, &saved.fingerprints) {
            return Err(altered(
                "its fingerprints are not one for each change that writes".to_string(),
            ));
        }
        // What the file says it was made from goes into logs, the journal,
        // the state file and messages: as escaped and cut as a revision
        // groupsync detects itself.
        saved.revision = saved.revision.map(Revision::capped);
        Ok(saved)
    }

    /// Refuses the plan unless it was made for the pod at `pod_url`.
    pub fn check_pod(&self, path: &Path, pod_url: &str) -> Result<(), PlanFileError> {
        let configured = normalize_pod_url(pod_url);
        if configured == self.pod_url {
            return Ok(());
        }
        Err(PlanFileError::AnotherPod {
            path: path.to_path_buf(),
            planned: self.pod_url.clone(),
            configured,
        })
    }
}

/// Every request of `changes`, in order, as JSON.
fn requests_of(changes: &[Change]) -> Vec<Value> {
    changes
        .iter()
        .flat_map(Change::requests)
        .map(|request: Request| serde_json::to_value(request).expect("a request always serializes"))
        .collect()
}

/// Before the typed read: a document that is not a plan, or of another
/// version, says so rather than naming a missing key.
fn check_format(path: &Path, value: &Value) -> Result<(), PlanFileError> {
    if value.get("format").and_then(Value::as_str) != Some(PLAN_FORMAT) {
        return Err(PlanFileError::NotAPlan {
            path: path.to_path_buf(),
        });
    }
    match value.get("version").and_then(Value::as_u64) {
        Some(version) if version == u64::from(PLAN_VERSION) => Ok(()),
        found => Err(PlanFileError::UnknownVersion {
            path: path.to_path_buf(),
            found: found.unwrap_or_default(),
            supported: PLAN_VERSION,
        }),
    }
}

fn json_error(path: &Path, error: &serde_json::Error) -> PlanFileError {
    let path = path.to_path_buf();
    match error.classify() {
        serde_json::error::Category::Eof => PlanFileError::Truncated {
            path,
            line: error.line(),
        },
        _ => PlanFileError::NotJson {
            path,
            line: error.line(),
            column: error.column(),
            reason: crate::text::escaped(&error.to_string()).into_owned(),
        },
    }
}
