//! The types every stage shares: what a group should be (`DesiredGroup`), what
//! the pod says it is (`UserGroupResponse`), and what a PUT carries
//! (`UserGroupUpdate`). The pod types mirror `docs/pod-api.md` field for field;
//! the client and the emulator both use them, so they cannot drift apart.
//! A group's members and assignees, and their pod types, are in [`roster`];
//! the agent's messages and room search, in [`agent`].

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A group's id, name, area, description or type: stored inline up to 24
/// bytes, so that the ids and names of a large tree cost no allocation each.
pub use compact_str::CompactString as Text;

pub mod agent;
pub mod roster;
#[cfg(test)]
mod testing;

pub use roster::{
    ActiveUpdate, BulkMember, GroupRef, Membership, MembershipList, MembershipWritten, Roster,
    Rosters, SuccessResponse, USERS_PATH, USERS_PER_LOOKUP, UserId, UserList, UserRecord, UserRef,
    WrittenUser, roster_path, roster_user_path,
};

/// One of the four fields of a group that groupsync manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    Name,
    Area,
    Description,
    Active,
}

impl Field {
    /// Every managed field, in the order plans and YAML blocks show them.
    pub const ALL: [Field; 4] = [Field::Name, Field::Area, Field::Description, Field::Active];

    /// The field's key, the same in YAML, in JSON bodies and in plans.
    pub fn key(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Area => "area",
            Field::Description => "description",
            Field::Active => "active",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// The value of one managed field: three are strings, `active` is a boolean.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FieldValue {
    Text(String),
    Flag(bool),
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Text(text) => f.write_str(text),
            FieldValue::Flag(flag) => write!(f, "{flag}"),
        }
    }
}

/// `UserGroupUpdate`: the body of `PUT /v2/admin/usergroups/{groupId}`.
///
/// `None` means "not declared / not sent": it is never serialized as `null`,
/// and it stays distinct from `Some("")` (declared empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserGroupUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

impl UserGroupUpdate {
    /// The value of `field`, if it is present.
    pub fn get(&self, field: Field) -> Option<FieldValue> {
        self.field(field).map(FieldRef::to_value)
    }

    /// The value of `field`, borrowed.
    pub fn field(&self, field: Field) -> Option<FieldRef<'_>> {
        field_ref(
            field,
            &self.name,
            &self.area,
            &self.description,
            self.active,
        )
    }

    /// Sets `field` to `value`; a value of the wrong kind for the field is ignored.
    pub fn set(&mut self, field: Field, value: FieldValue) {
        match (field, value) {
            (Field::Name, FieldValue::Text(text)) => self.name = Some(text.into()),
            (Field::Area, FieldValue::Text(text)) => self.area = Some(text.into()),
            (Field::Description, FieldValue::Text(text)) => self.description = Some(text.into()),
            (Field::Active, FieldValue::Flag(flag)) => self.active = Some(flag),
            _ => {}
        }
    }

    /// Removes `field` (not declared, not sent).
    pub fn clear(&mut self, field: Field) {
        match field {
            Field::Name => self.name = None,
            Field::Area => self.area = None,
            Field::Description => self.description = None,
            Field::Active => self.active = None,
        }
    }

    /// True when no field is present (a PUT with this body would change nothing).
    pub fn is_empty(&self) -> bool {
        Field::ALL.iter().all(|field| self.field(*field).is_none())
    }
}

/// `UserGroupResponse`: what the pod answers for one group.
///
/// Every field is optional because a pod may leave any of them out; the
/// snapshot keeps exactly what the pod said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserGroupResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub group_type: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_date: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_count: Option<i64>,
}

impl UserGroupResponse {
    /// The value of one managed field, if the pod reported it.
    pub fn get(&self, field: Field) -> Option<FieldValue> {
        self.field(field).map(FieldRef::to_value)
    }

    /// The value of `field`, borrowed.
    pub fn field(&self, field: Field) -> Option<FieldRef<'_>> {
        field_ref(
            field,
            &self.name,
            &self.area,
            &self.description,
            self.active,
        )
    }

    /// What the pod would hold after accepting `update` (the fields it sends, nothing else).
    pub fn with_update(&self, update: &UserGroupUpdate) -> UserGroupResponse {
        let mut next = self.clone();
        if let Some(name) = &update.name {
            next.name = Some(name.clone());
        }
        if let Some(area) = &update.area {
            next.area = Some(area.clone());
        }
        if let Some(description) = &update.description {
            next.description = Some(description.clone());
        }
        if let Some(active) = update.active {
            next.active = Some(active);
        }
        next
    }
}

/// A borrowed field value: what comparisons use, so that a group that
/// already matches costs no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldRef<'a> {
    Text(&'a str),
    Flag(bool),
}

impl FieldRef<'_> {
    pub fn to_value(self) -> FieldValue {
        match self {
            FieldRef::Text(text) => FieldValue::Text(text.to_string()),
            FieldRef::Flag(flag) => FieldValue::Flag(flag),
        }
    }
}

/// One managed field out of the four, from either type that holds them.
fn field_ref<'a>(
    field: Field,
    name: &'a Option<Text>,
    area: &'a Option<Text>,
    description: &'a Option<Text>,
    active: Option<bool>,
) -> Option<FieldRef<'a>> {
    match field {
        Field::Name => name.as_deref().map(FieldRef::Text),
        Field::Area => area.as_deref().map(FieldRef::Text),
        Field::Description => description.as_deref().map(FieldRef::Text),
        Field::Active => active.map(FieldRef::Flag),
    }
}

/// Where something was declared: a file and a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourcePos {
    /// The file, relative to the groups dir's parent: `groups.d/emea.yaml`
    /// (shared by every group the file declares).
    pub path: Arc<Path>,
    /// 32 bits, as a groups file is at most 1 MiB (and a large tree's groups
    /// are kept by the hundred thousand).
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for SourcePos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

/// How a declared group names its group on the pod.
///
/// Ordered: every group with an id (by id) comes before every group without
/// one (by type, then name), so that sorting by key is deterministic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupKey {
    /// By the pod's groupId (`id:`).
    Id(Text),
    /// A group without `id`: by its type (`type:`, default `ROLE_SCOPE`) and
    /// exact name. groupsync adopts the pod's group of that name, or creates it.
    Name { group_type: Text, name: Text },
}

impl GroupKey {
    /// The pod's groupId, when the group declares one.
    pub fn id(&self) -> Option<&str> {
        match self {
            GroupKey::Id(id) => Some(id),
            GroupKey::Name { .. } => None,
        }
    }
}

/// `6543a1f0c2`, or `"EMEA rates"` for a group known by name.
impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupKey::Id(id) => f.write_str(id),
            GroupKey::Name { group_type, name } if group_type == ROLE_SCOPE => {
                write!(f, "{name:?}")
            }
            GroupKey::Name { group_type, name } => write!(f, "{name:?} ({group_type})"),
        }
    }
}

/// One group as `groups.d/` declares it: how it names its pod group, the
/// fields it manages, and where it was declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredGroup {
    pub key: GroupKey,
    /// The declared fields; an omitted field is `None` and is left alone on
    /// the pod. A group known by name always has `name`.
    pub fields: UserGroupUpdate,
    /// The declared `members:` and `assignees:`; an omitted list is not managed.
    pub rosters: Rosters,
    /// `on_drift:`, when the group says; else the config's applies.
    pub on_drift: Option<DriftPolicy>,
    /// `previously:`, the names a group without `id` was known by before.
    pub previously: Box<[Text]>,
    /// Where the group's mapping starts.
    pub source: SourcePos,
}

/// What a cycle does with drift: a value changed on the pod outside
/// groupsync while git still declares what was last applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftPolicy {
    /// Put the declared value back (the default).
    #[default]
    Revert,
    /// Leave the pod's value, show it as held drift, until a commit decides
    /// or `apply --revert-drift` puts it back.
    Hold,
}

impl DriftPolicy {
    /// Every policy, as YAML and the config file name them.
    pub const NAMES: [&'static str; 2] = ["revert", "hold"];

    /// The policy named `name` in YAML or the config file.
    pub fn from_name(name: &str) -> Option<DriftPolicy> {
        match name {
            "revert" => Some(DriftPolicy::Revert),
            "hold" => Some(DriftPolicy::Hold),
            _ => None,
        }
    }
}

impl DesiredGroup {
    /// The pod's groupId, when the group declares one.
    pub fn id(&self) -> Option<&str> {
        self.key.id()
    }
}

/// Everything `groups.d/` declares, sorted by [`GroupKey`]: groups with an
/// id by id, then groups known by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredState {
    /// Boxed: a tree of 100,000 groups is gathered from its files and sorted
    /// by moving pointers, never by copying every group into a second list.
    pub groups: Vec<Box<DesiredGroup>>,
}

impl DesiredState {
    /// The state that declares `groups`, in the order given.
    pub fn new(groups: impl IntoIterator<Item = DesiredGroup>) -> DesiredState {
        DesiredState {
            groups: groups.into_iter().map(Box::new).collect(),
        }
    }
}

/// How much of a changed group a PUT carries (`update_mode` in the config).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateMode {
    /// Only the fields whose value differs from the snapshot.
    #[default]
    Minimal,
    /// Every declared field of a group that has any difference.
    Full,
}

/// The pod path of one group, `/v2/admin/usergroups/{groupId}`, with the id
/// percent-encoded as a single path segment.
pub fn group_path(group_id: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    // RFC 3986 unreserved characters stay as they are; everything else is encoded.
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    format!(
        "{USERGROUPS_PATH}/{}",
        utf8_percent_encode(group_id, SEGMENT)
    )
}

/// The collection path of compliance user groups.
pub const USERGROUPS_PATH: &str = "/v2/admin/usergroups";

/// The RSA bot login endpoint, relative to the login URL.
pub const PUBKEY_AUTHENTICATE_PATH: &str = "/pubkey/authenticate";

/// `UserGroupCreate`: the body of `POST /v2/admin/usergroups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserGroupCreate {
    pub name: Text,
    #[serde(rename = "type")]
    pub group_type: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
}

/// The only group type the pod knows today.
pub const ROLE_SCOPE: &str = "ROLE_SCOPE";

/// `UserGroupResponseList`: one page of `GET /v2/admin/usergroups`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserGroupResponseList {
    #[serde(default)]
    pub data: Vec<UserGroupResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
}

/// `Pagination`: keep paging with `cursors.after` while `next` is present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pagination {
    pub cursors: Cursors,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `Pagination.cursors`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursors {
    #[serde(default)]
    pub before: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// `Error`: the body of every pod error answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The login answer: `{"name": "sessionToken", "token": "..."}`. Its `Debug` hides the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResponse {
    #[serde(default)]
    pub name: String,
    pub token: String,
}

impl fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginResponse")
            .field("name", &self.name)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// The login request: `{"token": "<JWT>"}`. Its `Debug` hides the JWT.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    pub token: String,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("token", &"<redacted>")
            .finish()
    }
}

/// The header every pod call carries.
pub const SESSION_TOKEN_HEADER: &str = "sessionToken";

/// Where the declared groups stand after a cycle; the one count that logs,
/// metrics and the status line all show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCounts {
    /// Already matching, or updated by this cycle.
    pub in_sync: usize,
    /// Changes planned but not written (a dry run, a plan a safety limit
    /// refused, or not started before a stop).
    pub pending: usize,
    /// Their requests failed, or they could not be planned.
    pub failed: usize,
}
