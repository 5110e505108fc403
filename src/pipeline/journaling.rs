//! The journal of a writing cycle: one record per write the pod took,
//! appended as its answer arrives (before the state file records it), and
//! the file fsynced once at the end of the cycle. Opened before the first
//! write: a journal that cannot be written fails the cycle before any
//! write, so that no write goes unrecorded.

use serde_json::{Map, Value, json};

use crate::config::Settings;
use crate::error::JournalError;
use crate::kinds::core::{Answer, Kind, RequestBody, Written};
use crate::kinds::seam::Part;
use crate::model::{Field, UserGroupResponse, UserGroupUpdate};
use crate::pipeline::plan::Change;
use crate::pod::PodClient;
use crate::revision::Revision;
use crate::store::journal::record::sha256_hex;
use crate::store::journal::{Journal, JournalEntry, JournalRequest, WriteKind, host_name, now};

/// The journal, open for one writing cycle, and what every record of it shares.
pub struct Recorder {
    journal: Journal,
    pod_url: String,
    revision: Option<String>,
    author: Option<String>,
    plan_digest: Option<String>,
    actor: String,
    host: String,
}

impl Recorder {
    /// Opens the journal `settings` name for a cycle writing as `client`,
    /// from `revision`, carrying out the plan of `plan_digest`.
    pub fn open(
        settings: &Settings,
        client: &PodClient,
        revision: Option<&Revision>,
        plan_digest: Option<&str>,
    ) -> Result<Recorder, JournalError> {
        let journal = Journal::open(&settings.journal_file, settings.journal.max_size)?;
        Ok(Recorder::new(journal, client, revision, plan_digest))
    }

    /// Records into `journal`, already open, for a cycle writing as `client`.
    pub fn new(
        journal: Journal,
        client: &PodClient,
        revision: Option<&Revision>,
        plan_digest: Option<&str>,
    ) -> Recorder {
        if let Some(aside) = journal.set_aside() {
            tracing::warn!(
                "the journal's last line was cut short ({} bytes, the mark of a crash): it was \
                 moved to {} and the chain goes on from the last whole record",
                aside.bytes,
                aside.sidecar.display()
            );
        }
        Recorder {
            journal,
            pod_url: client.pod_url().to_string(),
            revision: revision.map(Revision::id),
            author: revision.and_then(|revision| revision.author.clone()),
            plan_digest: plan_digest.map(str::to_string),
            actor: client.actor(),
            host: host_name(),
        }
    }

    /// Appends the record of `written`, a write of `change` to group `group_id`.
    pub fn record(
        &mut self,
        group_id: &str,
        change: &Change,
        written: &Written,
    ) -> Result<(), JournalError> {
        let (before, after) = before_and_after(change, written);
        let entry = JournalEntry {
            time: now(),
            pod_url: self.pod_url.clone(),
            group_id: group_id.to_string(),
            kind: write_kind(written.kind),
            request: JournalRequest {
                method: written.request.method.to_string(),
                path: written.request.path.clone(),
                body: serde_json::to_value(&written.request.body)
                    .expect("a request body always serializes"),
            },
            status: written.status,
            before,
            after,
            revision: self.revision.clone(),
            author: self.author.clone(),
            plan_digest: self.plan_digest.clone(),
            actor: self.actor.clone(),
            host: self.host.clone(),
        };
        match self.journal.append(&entry) {
            // Too large for a line (a saved plan can carry any text): the
            // write is still recorded, its values by size and digest.
            Err(JournalError::RecordTooLarge { .. }) => {
                self.journal.append(&summarized(entry)).map(drop)
            }
            other => other.map(drop),
        }
    }

    /// Makes every record appended so far durable.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.journal.sync()
    }
}

/// `entry` with its request body and values each replaced by
/// `{"omitted_bytes": N, "sha256": ...}`: what a record too large for a line keeps.
fn summarized(mut entry: JournalEntry) -> JournalEntry {
    for value in [&mut entry.request.body, &mut entry.before, &mut entry.after] {
        let bytes = serde_json::to_vec(value).expect("a JSON value always serializes");
        *value = json!({"omitted_bytes": bytes.len(), "sha256": sha256_hex(&bytes)});
    }
    entry
}

fn write_kind(kind: Kind) -> WriteKind {
    match kind {
        Kind::Group => WriteKind::Group,
        Kind::Membership => WriteKind::Membership,
        Kind::Assignment => WriteKind::Assignment,
    }
}

/// What the write changed, before (as the snapshot had it) and after (as
/// the pod answered): the fields the request carried, a created group
/// whole, or one user's place on a list.
fn before_and_after(change: &Change, written: &Written) -> (Value, Value) {
    match (&written.answer, &written.request.body) {
        (Answer::User(user), _) => (
            json!({"username": user.username, "active": !user.active}),
            json!({"username": user.username, "user_id": user.user_id, "active": user.active}),
        ),
        (Answer::Group(group), RequestBody::Create(_)) => (Value::Null, whole_group(group)),
        (Answer::Group(group), RequestBody::Update(body)) => {
            let recorded = change.parts.iter().find_map(|part| match part {
                Part::Group(fields) => fields.recorded.as_ref(),
                Part::List(_) => None,
            });
            let before = match (recorded, change.group_id.is_some()) {
                (Some(recorded), true) => sent_fields(body, recorded),
                _ => Value::Null,
            };
            (before, sent_fields(body, group))
        }
        (Answer::Group(group), RequestBody::Active(_)) => (Value::Null, whole_group(group)),
        (Answer::Unusable(reason), _) => (Value::Null, json!({"unusable_answer": reason})),
    }
}

/// The values `group` holds of the fields `body` sends.
fn sent_fields(body: &UserGroupUpdate, group: &UserGroupResponse) -> Value {
    let fields: Map<String, Value> = Field::ALL
        .into_iter()
        .filter(|field| body.field(*field).is_some())
        .map(|field| {
            let value = group.get(field).map_or(Value::Null, |value| json!(value));
            (field.key().to_string(), value)
        })
        .collect();
    Value::Object(fields)
}

fn whole_group(group: &UserGroupResponse) -> Value {
    json!({
        "id": group.id,
        "name": group.name,
        "type": group.group_type,
        "area": group.area,
        "description": group.description,
        "active": group.active,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::journal::record::tests::entry;

    #[test]
    fn a_record_too_large_for_a_line_is_kept_by_size_and_digest() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(&dir.path().join("j.jsonl"), 64 << 20).unwrap();
        let mut huge = entry("g1");
        huge.request.body = json!({"description": "x".repeat(2 << 20)});
        assert!(matches!(
            journal.append(&huge),
            Err(JournalError::RecordTooLarge { .. })
        ));
        let kept = summarized(huge);
        assert_eq!(kept.request.body["omitted_bytes"], 2 * 1024 * 1024 + 18);
        assert_eq!(kept.request.body["sha256"].as_str().unwrap().len(), 64);
        assert_eq!(
            kept.after["omitted_bytes"],
            r#"{"area":"EMEA","id":"g1"}"#.len()
        );
        journal.append(&kept).unwrap();
    }
}
