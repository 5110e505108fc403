//! What every resource kind shares: which kind it is ([`Kind`]), the pod
//! group a declared group is bound to ([`Target`], [`Action`]), the requests
//! a plan shows ([`Request`]), what an apply sent and the pod took
//! ([`Sent`], [`Written`]), and where a refresh reads ([`ReadContext`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::RefreshMode;
use crate::model::{
    ActiveUpdate, DesiredState, Roster, UserGroupCreate, UserGroupResponse, UserGroupUpdate, UserId,
};
use crate::pod::{PodClient, PodError};
use crate::store::snapshot::LastApplied;

/// The resource kinds groupsync manages, in the order a change sends their
/// requests: a group's own fields first (a create gives the others its id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A group's fields: name, area, description, active.
    Group,
    /// The users a group scopes, one membership each.
    Membership,
    /// The compliance officers responsible for a group, one assignment each.
    Assignment,
}

impl Kind {
    /// Every kind, in request order.
    pub const ALL: [Kind; 3] = [Kind::Group, Kind::Membership, Kind::Assignment];

    /// `group`, `membership`, `assignment`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Group => "group",
            Kind::Membership => "membership",
            Kind::Assignment => "assignment",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a change does to its pod group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A group declared without `id` that the pod does not have: POST it.
    Create,
    /// A group declared without `id`, found on the pod by its name this cycle: update it.
    Adopt,
    /// A group the snapshot knows: update it.
    Update,
    /// A group groupsync manages that no file declares any more, still
    /// active: deactivate it (`prune: deactivate`).
    Prune,
}

/// How a change treats drift, a value changed on the pod outside groupsync:
/// with `hold`, a difference whose declared value is the one last applied
/// is held (shown, not written); any other is an ordinary change.
#[derive(Debug, Clone, Copy, Default)]
pub struct DriftRule<'a> {
    pub hold: bool,
    /// What git declared at the last apply, when groupsync manages the group.
    pub applied: Option<&'a LastApplied>,
}

/// The pod group a declared group is bound to, as every kind plans against it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub action: Action,
    /// `None` for a group to create: the pod picks its id.
    pub group_id: Option<&'a str>,
    /// The pod group as the snapshot records it.
    pub recorded: Option<&'a UserGroupResponse>,
}

/// One request a change sends, as plans show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    pub method: &'static str,
    /// Under the pod URL; `{new id}` stands for the id a create's POST returns.
    pub path: String,
    pub body: RequestBody,
    /// The user a per-user write adds or removes, by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// A request's JSON body, its keys in the order the pod's types declare them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum RequestBody {
    Create(UserGroupCreate),
    Update(UserGroupUpdate),
    Active(ActiveUpdate),
}

impl fmt::Display for Request {
    /// `PUT /v2/admin/usergroups/ID {"area":"EMEA"}`, and for a per-user
    /// write the user's name after it: `... {"active":true}  # alice.smith`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = serde_json::to_string(&self.body).expect("request bodies always serialize");
        write!(f, "{} {} {body}", self.method, self.path)?;
        if let Some(user) = &self.user {
            write!(f, "  # {user}")?;
        }
        Ok(())
    }
}

/// The path a create's follow-up requests show in a plan.
pub const NEW_GROUP_PATH: &str = "/v2/admin/usergroups/{new id}";

/// What one step of a change came to: the writes the pod took, what was
/// learnt on the way, and how it ended. A step is one unit a part sends:
/// a group's own requests, or one user's write.
#[derive(Debug, Default)]
pub struct StepOutcome {
    /// The id a create's POST gave the group.
    pub created: Option<String>,
    /// Every write the pod took, in the order sent.
    pub written: Vec<Written>,
    /// User ids learnt while sending: a user's id now, or `None` when the
    /// pod no longer has the user.
    pub users: Vec<(String, Option<UserId>)>,
    /// Why the step did not (fully) happen.
    pub failure: Option<StepFailure>,
}

impl StepOutcome {
    /// The pod's group as the step's last write of it showed it.
    pub fn group(&self) -> Option<&UserGroupResponse> {
        self.written
            .iter()
            .rev()
            .find_map(|written| match &written.answer {
                Answer::Group(group) => Some(group),
                Answer::User(_) | Answer::Unusable(_) => None,
            })
    }

    /// A step that failed before the pod took anything.
    pub fn failed(failure: StepFailure) -> StepOutcome {
        StepOutcome {
            failure: Some(failure),
            ..StepOutcome::default()
        }
    }
}

/// One step that failed: the user it was for, if any, and why.
#[derive(Debug)]
pub struct StepFailure {
    pub kind: Kind,
    /// The user a per-user write was for, by name.
    pub user: Option<String>,
    pub error: PodError,
}

impl fmt::Display for StepFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.user {
            Some(user) => write!(f, "{} {user:?}: {}", self.kind, self.error),
            None => write!(f, "{}", self.error),
        }
    }
}

/// One write the pod took: the request and what it came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub kind: Kind,
    pub request: Request,
    /// The answer's HTTP status (0: a create whose answer was lost, its group found by name).
    pub status: u16,
    pub answer: Answer,
}

/// What the pod holds after a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The group, as its answer showed it (or as read back).
    Group(UserGroupResponse),
    /// One user added to or removed from a list.
    User(UserWrite),
    /// The pod took the write (a 2xx), but its answer could not be used
    /// (not JSON, about another group, a new group without an id): the
    /// journal records the write, the snapshot records nothing.
    Unusable(String),
}

/// One user a list write added (`active`) or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserWrite {
    pub roster: Roster,
    pub username: String,
    pub user_id: UserId,
    pub active: bool,
}

/// Where a refresh reads: the declared groups, the pod, and how much.
pub struct ReadContext<'a> {
    pub desired: &'a DesiredState,
    pub client: &'a PodClient,
    pub mode: RefreshMode,
    /// At most this many reads in flight.
    pub concurrency: usize,
    /// When the refresh started: group entries read since carry counts that can be trusted.
    pub started_ms: i64,
}
