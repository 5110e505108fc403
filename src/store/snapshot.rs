//! The snapshot: what groupsync last knew of each group on the pod, and the
//! state file's format (`{"version": 1, "pod_url": ..., "groups": {"<id>":
//! {"pod": ..., "read_at_ms": ..., "written_at_ms": ..., "members": ...}},
//! "users": {...}}`), sorted by group id.
//!
//! Each group's entry holds what every resource kind records of it: the
//! group's own fields (`pod`) and each managed user list by its key
//! ([`Roster`]). A new list kind is a new `Roster` value; the file format
//! follows from it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::{Roster, Text, UserGroupResponse, UserGroupUpdate, UserId};

use crate::error::{FormatError, STATE_FORMAT_VERSION as FORMAT_VERSION};

/// What groupsync last knew of each group on the pod, by group id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// The normalized URL of the pod this snapshot describes; `None` until a
    /// cycle against a pod first claims it (and in files older than this field).
    pod_url: Option<String>,
    /// Boxed: a map's nodes hold room for eleven values, and a map grown
    /// one group at a time leaves them half empty; 400 bytes of entry each.
    groups: BTreeMap<Text, Box<SnapshotEntry>>,
    /// User ids by username, as the users lookup and list reads found them
    /// (a user's id never changes, so they are kept for good).
    users: BTreeMap<String, UserId>,
    /// The last writing cycle that carried out a plan: its revision and digest.
    last_applied: Option<AppliedPlan>,
}

/// What the last writing cycle that wrote carried out (`last_applied` in the state file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppliedPlan {
    /// The git revision of the groups dir (`--revision` without git), if known.
    pub revision: Option<String>,
    /// The plan's digest.
    pub digest: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// The pod's last known state of one group: its `UserGroupResponse`, when
/// it was read or written, and the user lists YAML manages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SnapshotEntry {
    pub pod: UserGroupResponse,
    /// Milliseconds since the Unix epoch.
    pub read_at_ms: Option<i64>,
    /// Milliseconds since the Unix epoch.
    pub written_at_ms: Option<i64>,
    /// The group's active users of each managed list, kept only while YAML manages it.
    pub lists: BTreeMap<Roster, RosterRecord>,
    /// Set while groupsync manages the group: a group it manages that no file
    /// declares any more is an orphan.
    pub managed: Option<Managed>,
}

/// How groupsync came to manage a group, since when, and what git declared
/// of it when it was last applied: the base of a three-way diff (as
/// `kubectl apply` keeps its last-applied configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Managed {
    pub how: ManagedHow,
    /// Milliseconds since the Unix epoch.
    pub since_ms: i64,
    /// The file that declared the group at the last apply (shared: a file
    /// declares hundreds of groups, and a large snapshot is mostly entries).
    pub file: Arc<str>,
    /// The declared values at the last apply.
    pub applied: LastApplied,
}

/// How groupsync came to manage a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ManagedHow {
    /// A file declared it and an apply put it in line (or found it so).
    Declared,
    /// groupsync created it.
    Created,
    /// `groupsync import` wrote it into a file.
    Imported,
}

/// What git declared of a group when it was last applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastApplied {
    /// The declared fields (an omitted one is absent).
    #[serde(default)]
    pub fields: UserGroupUpdate,
    /// The declared usernames of each list YAML managed, sorted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lists: BTreeMap<Roster, Vec<String>>,
}

impl SnapshotEntry {
    /// The recorded list `roster`, if it was ever read (or known, for a group groupsync created).
    pub fn roster(&self, roster: Roster) -> Option<&RosterRecord> {
        self.lists.get(&roster)
    }
}

/// One of a group's user lists as the pod last showed it: the active users by
/// user id, each with its username (`#<id>` for a user the pod named no
/// username for), and when the list was last read whole. Keyed by id, so two
/// rows that share a username stay two users.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterRecord {
    #[serde(deserialize_with = "users_by_id")]
    pub users: BTreeMap<UserId, String>,
    /// Milliseconds since the Unix epoch; `None` for a list known without a
    /// read (a group groupsync created starts with nobody).
    #[serde(default)]
    pub read_at_ms: Option<i64>,
    /// The newest `lastAddedDate` among the list's rows (active or not) when
    /// it was last read whole; with `newest_removed_ms`, what a long list is
    /// probed against before it is read again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_added_ms: Option<i64>,
    /// The newest `lastRemovedDate` among the list's rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_removed_ms: Option<i64>,
}

impl RosterRecord {
    /// The usernames on the list, sorted (a name twice for two users who share it).
    pub fn usernames(&self) -> Vec<String> {
        let mut names: Vec<String> = self.users.values().cloned().collect();
        names.sort();
        names
    }
}

/// A list's users as written (`{"<id>": "<username>"}`), or as state files
/// before it wrote them (`{"<username>": <id>}`).
fn users_by_id<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<UserId, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Value {
        Id(UserId),
        Name(String),
    }
    let entries = BTreeMap::<String, Value>::deserialize(deserializer)?;
    entries
        .into_iter()
        .map(|(key, value)| match value {
            Value::Name(name) => key.parse::<UserId>().map(|id| (id, name)).map_err(|_| {
                de::Error::custom(format!("a list's user id must be a number, not {key:?}"))
            }),
            Value::Id(id) => Ok((id, key)),
        })
        .collect()
}

impl Snapshot {
    /// The pod's last known state of group `id`.
    pub fn get(&self, id: &str) -> Option<&UserGroupResponse> {
        self.groups.get(id).map(|entry| &entry.pod)
    }

    pub fn entry(&self, id: &str) -> Option<&SnapshotEntry> {
        self.groups.get(id).map(|entry| &**entry)
    }

    /// Records what the pod answered to a read of group `id` at `at_ms`.
    pub fn record_read(&mut self, id: &str, pod: UserGroupResponse, at_ms: i64) {
        let entry = self.entry_mut(id, pod);
        entry.read_at_ms = Some(at_ms);
    }

    /// Records what the pod holds after a successful write of group `id` at `at_ms`.
    pub fn record_write(&mut self, id: &str, pod: UserGroupResponse, at_ms: i64) {
        let entry = self.entry_mut(id, pod);
        entry.written_at_ms = Some(at_ms);
    }

    /// The entry of `id` holding `pod`, keeping its timestamps if it existed.
    fn entry_mut(&mut self, id: &str, pod: UserGroupResponse) -> &mut SnapshotEntry {
        let entry = self.groups.entry(id.into()).or_default();
        entry.pod = pod;
        entry
    }

    /// The recorded list `roster` of group `id`.
    pub fn roster(&self, id: &str, roster: Roster) -> Option<&RosterRecord> {
        self.groups.get(id)?.roster(roster)
    }

    /// Records a whole read of group `id`'s list `roster` (`at_ms: None`: known
    /// without a read), and remembers every user id it names. Ignored for a
    /// group the snapshot does not hold.
    pub fn record_roster(
        &mut self,
        id: &str,
        roster: Roster,
        users: BTreeMap<UserId, String>,
        at_ms: Option<i64>,
    ) {
        for (user_id, username) in &users {
            if !username.starts_with('#') {
                self.users.insert(username.clone(), *user_id);
            }
        }
        if let Some(entry) = self.groups.get_mut(id) {
            let record = RosterRecord {
                users,
                read_at_ms: at_ms,
                ..RosterRecord::default()
            };
            entry.lists.insert(roster, record);
        }
    }

    /// Records that group `id`'s list `roster` was found unchanged at `at_ms`.
    pub fn record_roster_checked(&mut self, id: &str, roster: Roster, at_ms: i64) {
        if let Some(record) = self.roster_mut(id, roster) {
            record.read_at_ms = Some(at_ms);
        }
    }

    /// Records the newest dates of group `id`'s list `roster`, as just read.
    pub fn record_roster_newest(
        &mut self,
        id: &str,
        roster: Roster,
        added: Option<i64>,
        removed: Option<i64>,
    ) {
        if let Some(record) = self.roster_mut(id, roster) {
            record.newest_added_ms = added;
            record.newest_removed_ms = removed;
        }
    }

    fn roster_mut(&mut self, id: &str, roster: Roster) -> Option<&mut RosterRecord> {
        self.groups.get_mut(id)?.lists.get_mut(&roster)
    }

    /// Records one user added to (`active`) or removed from group `id`'s list
    /// `roster`; a list never read stays unrecorded.
    pub fn record_roster_write(
        &mut self,
        id: &str,
        roster: Roster,
        username: &str,
        user_id: UserId,
        active: bool,
    ) {
        let Some(record) = self.roster_mut(id, roster) else {
            return;
        };
        if active {
            record.users.insert(user_id, username.to_string());
        } else {
            record.users.remove(&user_id);
        }
    }

    /// Forgets group `id`'s list `roster` (no longer managed).
    pub fn forget_roster(&mut self, id: &str, roster: Roster) {
        if let Some(entry) = self.groups.get_mut(id) {
            entry.lists.remove(&roster);
        }
    }

    /// The id of user `username`, if the pod ever named it.
    pub fn user_id(&self, username: &str) -> Option<UserId> {
        self.users.get(username).copied()
    }

    /// Remembers that user `username` has id `user_id`.
    pub fn remember_user(&mut self, username: &str, user_id: UserId) {
        self.users.insert(username.to_string(), user_id);
    }

    /// How groupsync manages group `id`, if it does.
    pub fn managed(&self, id: &str) -> Option<&Managed> {
        self.groups.get(id)?.managed.as_ref()
    }

    /// Every group groupsync manages, by id.
    pub fn managed_groups(&self) -> impl Iterator<Item = (&str, &SnapshotEntry, &Managed)> {
        self.groups
            .iter()
            .filter_map(|(id, entry)| Some((id.as_str(), &**entry, entry.managed.as_ref()?)))
    }

    /// Marks group `id` managed (since `at_ms`, as `how`, unless it already
    /// was) with what `file` declared of it at this apply. Ignored for a group
    /// the snapshot does not hold. True when that changed the snapshot.
    pub fn mark_managed(
        &mut self,
        id: &str,
        how: ManagedHow,
        file: &str,
        applied: LastApplied,
        at_ms: i64,
    ) -> bool {
        let Some(entry) = self.groups.get_mut(id) else {
            return false;
        };
        match &mut entry.managed {
            Some(managed) if *managed.file == *file && managed.applied == applied => false,
            Some(managed) => {
                managed.file = Arc::from(file);
                managed.applied = applied;
                true
            }
            None => {
                entry.managed = Some(Managed {
                    how,
                    since_ms: at_ms,
                    file: Arc::from(file),
                    applied,
                });
                true
            }
        }
    }

    /// Stops managing group `id`, touching nothing else; false when it was not managed.
    pub fn forget_managed(&mut self, id: &str) -> bool {
        self.groups
            .get_mut(id)
            .and_then(|entry| entry.managed.take())
            .is_some()
    }

    /// Every known user's name, by id.
    pub fn usernames_by_id(&self) -> std::collections::HashMap<UserId, String> {
        self.users
            .iter()
            .map(|(username, id)| (*id, username.clone()))
            .collect()
    }

    /// Forgets the id of user `username` (the pod no longer knows it).
    pub fn forget_user(&mut self, username: &str) {
        self.users.remove(username);
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Every entry, sorted by group id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &SnapshotEntry)> {
        self.groups
            .iter()
            .map(|(id, entry)| (id.as_str(), &**entry))
    }

    /// The plan the last writing cycle carried out, if any.
    pub fn last_applied(&self) -> Option<&AppliedPlan> {
        self.last_applied.as_ref()
    }

    /// Records that a writing cycle carried out `applied`.
    pub fn set_last_applied(&mut self, applied: AppliedPlan) {
        self.last_applied = Some(applied);
    }

    /// The pod URL this snapshot records, if any.
    pub fn pod_url(&self) -> Option<&str> {
        self.pod_url.as_deref()
    }

    /// Ties this snapshot to the pod at `pod_url`: a snapshot that records
    /// no pod yet (new, or written before pod URLs were recorded) adopts it;
    /// one that records another pod is refused, with the URL it records.
    pub fn claim_for_pod(&mut self, pod_url: &str) -> Result<(), String> {
        let wanted = normalize_pod_url(pod_url);
        match &self.pod_url {
            None => {
                self.pod_url = Some(wanted);
                Ok(())
            }
            Some(recorded) if *recorded == wanted => Ok(()),
            Some(recorded) => Err(recorded.clone()),
        }
    }

    /// Parses the state file's text; the error says what is wrong, not where
    /// the file is. One pass: only a document that does not parse is read
    /// again for its version, so that a newer format is reported as such
    /// rather than as whatever its first unfamiliar field happens to be.
    pub fn from_json(text: &str) -> Result<Snapshot, FormatError> {
        let document: DocumentIn = match serde_json::from_str(text) {
            Ok(document) => document,
            Err(error) => {
                check_version(text)?;
                return Err(FormatError::Json(error));
            }
        };
        check_version_value(document.version.as_ref())?;
        Ok(Snapshot {
            pod_url: document.pod_url,
            groups: document.groups,
            users: document.users,
            last_applied: document.last_applied,
        })
    }

    /// The snapshot of a state file's parts, read elsewhere (its version checked).
    pub(super) fn from_parts(
        pod_url: Option<String>,
        groups: BTreeMap<Text, Box<SnapshotEntry>>,
        users: BTreeMap<String, UserId>,
        last_applied: Option<AppliedPlan>,
    ) -> Snapshot {
        Snapshot {
            pod_url,
            groups,
            users,
            last_applied,
        }
    }

    /// The state file's contents: pretty JSON with a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let document = DocumentOut {
            version: FORMAT_VERSION,
            pod_url: self.pod_url.as_deref(),
            last_applied: self.last_applied.as_ref(),
            groups: &self.groups,
            users: &self.users,
        };
        // Capacity guess: a pretty-printed entry is a few hundred bytes.
        let mut bytes = Vec::with_capacity(64 + self.groups.len() * 320);
        serde_json::to_writer_pretty(&mut bytes, &document).expect("a snapshot always serializes");
        bytes.push(b'\n');
        bytes
    }
}

/// The whole file as written.
#[derive(Serialize)]
struct DocumentOut<'a> {
    version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pod_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_applied: Option<&'a AppliedPlan>,
    groups: &'a BTreeMap<Text, Box<SnapshotEntry>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    users: &'a BTreeMap<String, UserId>,
}

/// The whole file as read, once its version is known to be ours.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentIn {
    /// Checked once the document is read.
    #[serde(default)]
    version: Option<serde_json::Value>,
    #[serde(default)]
    pod_url: Option<String>,
    #[serde(default)]
    last_applied: Option<AppliedPlan>,
    groups: BTreeMap<Text, Box<SnapshotEntry>>,
    #[serde(default)]
    users: BTreeMap<String, UserId>,
}

/// Just the version, read first so that a newer format is reported as such
/// rather than as whatever its first unfamiliar field happens to be.
#[derive(Deserialize)]
struct VersionOnly {
    version: Option<serde_json::Value>,
}

/// The keys of an entry besides its lists.
const POD: &str = "pod";
const READ_AT: &str = "read_at_ms";
const WRITTEN_AT: &str = "written_at_ms";
const MANAGED: &str = "managed";

/// `{"pod": ..., "read_at_ms": ..., "written_at_ms": ..., "<list key>": ...}`:
/// the timestamps always (null when unknown), each recorded list by its key.
impl Serialize for SnapshotEntry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3 + self.lists.len()))?;
        map.serialize_entry(POD, &self.pod)?;
        map.serialize_entry(READ_AT, &self.read_at_ms)?;
        map.serialize_entry(WRITTEN_AT, &self.written_at_ms)?;
        for (roster, record) in &self.lists {
            map.serialize_entry(roster.key(), record)?;
        }
        if let Some(managed) = &self.managed {
            map.serialize_entry(MANAGED, managed)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for SnapshotEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = SnapshotEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a snapshot entry")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SnapshotEntry, A::Error> {
        let mut entry = SnapshotEntry::default();
        let mut pod = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                POD => pod = Some(map.next_value()?),
                READ_AT => entry.read_at_ms = map.next_value()?,
                WRITTEN_AT => entry.written_at_ms = map.next_value()?,
                MANAGED => entry.managed = map.next_value()?,
                other => match Roster::from_key(other) {
                    Some(roster) => {
                        let record: Option<RosterRecord> = map.next_value()?;
                        if let Some(record) = record {
                            entry.lists.insert(roster, record);
                        }
                    }
                    None => return Err(de::Error::unknown_field(other, entry_fields())),
                },
            }
        }
        entry.pod = pod.ok_or_else(|| de::Error::missing_field(POD))?;
        Ok(entry)
    }
}

/// Every key an entry may hold, for the "unknown field" message.
fn entry_fields() -> &'static [&'static str] {
    static FIELDS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
        let lists = Roster::ALL.into_iter().map(Roster::key);
        [POD, READ_AT, WRITTEN_AT, MANAGED]
            .into_iter()
            .chain(lists)
            .collect()
    });
    &FIELDS
}

/// Fails unless the document's `version` is the one this groupsync reads.
fn check_version(text: &str) -> Result<(), FormatError> {
    let header: VersionOnly = serde_json::from_str(text).map_err(FormatError::Json)?;
    check_version_value(header.version.as_ref())
}

pub(super) fn check_version_value(version: Option<&serde_json::Value>) -> Result<(), FormatError> {
    let Some(version) = version else {
        return Err(FormatError::NoVersion);
    };
    match version.as_u64() {
        Some(FORMAT_VERSION) => Ok(()),
        Some(newer) if newer > FORMAT_VERSION => Err(FormatError::Newer(newer)),
        Some(older) => Err(FormatError::Older(older)),
        None => Err(FormatError::VersionNotANumber(json_type(version))),
    }
}

/// The JSON type of `value`, as an error names it: `a string`, `a fraction`.
fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a negative or fractional number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A pod URL in the form recorded in the state file: scheme and host in
/// lower case, the scheme's default port and any trailing `/` dropped, so that
/// `HTTPS://Acme.example:443/pod/` and `https://acme.example/pod` are one pod.
pub fn normalize_pod_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut authority = authority.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => "",
    };
    if !default_port.is_empty() && authority.ends_with(default_port) {
        authority.truncate(authority.len() - default_port.len());
    }
    format!("{scheme}://{authority}{path}")
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn group(name: &str) -> UserGroupResponse {
        UserGroupResponse {
            id: Some("g1".into()),
            name: Some(name.into()),
            area: Some("EMEA".into()),
            active: Some(true),
            member_count: Some(3),
            ..UserGroupResponse::default()
        }
    }

    #[test]
    fn record_read_and_write_keep_each_others_timestamps() {
        let mut snapshot = Snapshot::default();
        snapshot.record_read("g1", group("old"), 10);
        snapshot.record_write("g1", group("new"), 20);
        let entry = snapshot.entry("g1").unwrap();
        assert_eq!(entry.pod.name.as_deref(), Some("new"));
        assert_eq!(
            (entry.read_at_ms, entry.written_at_ms),
            (Some(10), Some(20))
        );
        assert_eq!(snapshot.get("g1"), Some(&group("new")));
        assert_eq!(snapshot.get("g2"), None);
        assert_eq!(snapshot.len(), 1);
    }

    #[test]
    fn user_lists_and_user_ids_are_kept_and_survive_the_file() {
        let mut snapshot = Snapshot::default();
        snapshot.record_read("g1", group("G"), 1);
        let users = BTreeMap::from([(7, "alice".to_string()), (9, "#9".to_string())]);
        snapshot.record_roster("g1", Roster::Members, users, Some(2));
        snapshot.record_roster("nowhere", Roster::Members, BTreeMap::new(), Some(2));
        assert_eq!(snapshot.user_id("alice"), Some(7));
        assert_eq!(snapshot.user_id("#9"), None, "a placeholder is no username");
        assert!(snapshot.entry("nowhere").is_none());
        snapshot.record_roster_write("g1", Roster::Members, "bob", 8, true);
        snapshot.record_roster_write("g1", Roster::Members, "alice", 7, false);
        // A list never read stays unrecorded, whatever is written to it.
        snapshot.record_roster_write("g1", Roster::Assignees, "carol", 3, true);
        let members = snapshot.roster("g1", Roster::Members).unwrap();
        assert_eq!(
            (members.usernames(), members.read_at_ms),
            (vec!["#9".to_string(), "bob".to_string()], Some(2))
        );
        assert!(snapshot.roster("g1", Roster::Assignees).is_none());
        let reread =
            Snapshot::from_json(std::str::from_utf8(&snapshot.to_json()).unwrap()).unwrap();
        assert_eq!(reread, snapshot);
        snapshot.forget_roster("g1", Roster::Members);
        assert!(snapshot.roster("g1", Roster::Members).is_none());
    }

    #[test]
    fn lists_are_kept_by_user_id_and_the_older_shape_by_name_still_loads() {
        let older = r#"{"version": 1, "groups": {"g1": {"pod": {"id": "g1"}, "read_at_ms": 1,
            "written_at_ms": null, "members": {"users": {"alice": 7, "bob": 8}, "read_at_ms": 1}}}}"#;
        let snapshot = Snapshot::from_json(older).unwrap();
        let members = snapshot.roster("g1", Roster::Members).unwrap();
        assert_eq!(
            members.users,
            BTreeMap::from([(7, "alice".to_string()), (8, "bob".to_string())])
        );
        let written = String::from_utf8(snapshot.to_json()).unwrap();
        assert!(written.contains("\"7\": \"alice\""), "{written}");
        // Two users who share a name stay two users.
        let mut twins = Snapshot::default();
        twins.record_read("g1", group("G"), 1);
        let users = BTreeMap::from([(1, "sam".to_string()), (2, "sam".to_string())]);
        twins.record_roster("g1", Roster::Members, users, Some(1));
        assert_eq!(twins.roster("g1", Roster::Members).unwrap().users.len(), 2);
    }

    #[test]
    fn a_file_from_before_user_lists_still_loads() {
        let old = r#"{"version": 1, "groups": {"g1": {"pod": {"id": "g1"}, "read_at_ms": 1, "written_at_ms": null}}}"#;
        let snapshot = Snapshot::from_json(old).unwrap();
        assert!(snapshot.roster("g1", Roster::Members).is_none());
        assert_eq!(snapshot.user_id("alice"), None);
    }

    #[test]
    fn a_version_of_the_wrong_type_is_not_blamed_on_a_newer_groupsync() {
        for version in [r#""1""#, "1.0", "-1", "true", "null", "[1]"] {
            let text = format!(r#"{{"version": {version}, "groups": {{}}}}"#);
            let error = Snapshot::from_json(&text).unwrap_err();
            assert!(!error.to_string().contains("newer"), "for {text}: {error}");
            assert!(
                error.to_string().contains("not a groupsync state file"),
                "for {text}: {error}"
            );
        }
    }

    #[test]
    fn a_snapshot_adopts_the_first_pod_and_refuses_another() {
        let mut snapshot = Snapshot::default();
        assert_eq!(snapshot.pod_url(), None);
        snapshot
            .claim_for_pod("HTTPS://Acme.example:443/pod/")
            .unwrap();
        assert_eq!(snapshot.pod_url(), Some("https://acme.example/pod"));
        snapshot.claim_for_pod("https://acme.example/pod").unwrap();
        assert_eq!(
            snapshot.claim_for_pod("https://other.example/pod"),
            Err("https://acme.example/pod".to_string())
        );
        assert_eq!(snapshot.pod_url(), Some("https://acme.example/pod"));
    }

    #[test]
    fn pod_urls_are_normalized() {
        let cases = [
            ("https://acme.example/pod", "https://acme.example/pod"),
            ("https://ACME.example:443/pod/", "https://acme.example/pod"),
            ("http://127.0.0.1:80/pod", "http://127.0.0.1/pod"),
            ("http://127.0.0.1:8080/pod", "http://127.0.0.1:8080/pod"),
            ("https://acme.example:8443", "https://acme.example:8443"),
            // The path is case-sensitive on a web server: kept as written.
            ("https://acme.example/Pod", "https://acme.example/Pod"),
        ];
        for (given, expected) in cases {
            assert_eq!(normalize_pod_url(given), expected, "for {given}");
        }
    }

    #[test]
    fn now_is_after_2020() {
        assert!(now_ms() > 1_577_836_800_000);
    }
}
