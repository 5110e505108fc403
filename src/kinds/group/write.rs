//! The group kind's writes: the PUT of an update, or a create's POST
//! ([`PodClient::create_once`], which never makes two groups of one POST)
//! and the PUT of whatever the new group still lacks. Every answer is
//! checked against what was sent before it is recorded.

use crate::kinds::core::{Answer, Kind, Request, RequestBody, StepFailure, StepOutcome, Written};
use crate::kinds::group::{GroupFields, minimal_body};
use crate::model::{Field, USERGROUPS_PATH, UserGroupResponse, UserGroupUpdate, group_path};
use crate::pod::{Answered, Created, PodClient, PodError};
use crate::store::snapshot::{Snapshot, now_ms};

impl GroupFields {
    /// The part's steps: the group's own requests are one step (a create's
    /// POST and the PUT after it go together), when there are any.
    pub fn stages(&self) -> Vec<Vec<usize>> {
        if self.has_writes() {
            vec![vec![0]]
        } else {
            Vec::new()
        }
    }

    /// Sends the group's requests to `group_id` (creating the group first
    /// for a create).
    pub async fn send_step(&self, client: &PodClient, group_id: Option<&str>) -> StepOutcome {
        let mut outcome = StepOutcome::default();
        let sent = match (&self.create, group_id) {
            (Some(post), _) => create(self, post, client, &mut outcome).await,
            (None, Some(id)) if !self.body.is_empty() => {
                put_verified(client, id, &self.body, self.recorded.as_ref(), &mut outcome).await
            }
            (None, _) => Ok(()),
        };
        if let Err(error) = sent {
            outcome.failure = Some(StepFailure {
                kind: Kind::Group,
                user: None,
                error,
            });
        }
        outcome
    }

    /// Records the group as the step's last answer showed it.
    pub fn record(&self, snapshot: &mut Snapshot, group_id: &str, outcome: &StepOutcome) {
        if let Some(group) = outcome.group() {
            snapshot.record_write(group_id, group.clone(), now_ms());
        }
    }
}

/// A create's POST, then the PUT of whatever the new group still lacks. The
/// new group is in `outcome` even when that PUT fails, so that it is
/// recorded and the next plan finds it by name.
async fn create(
    part: &GroupFields,
    post: &crate::model::UserGroupCreate,
    client: &PodClient,
    outcome: &mut StepOutcome,
) -> Result<(), PodError> {
    let created = client.create_once(post).await?;
    let status = created.status();
    let post_written = |answer: Answer| Written {
        kind: Kind::Group,
        request: Request {
            method: "POST",
            path: USERGROUPS_PATH.to_string(),
            body: RequestBody::Create(post.clone()),
            user: None,
        },
        status,
        answer,
    };
    let group = match created {
        Created::New(Answered { body: group, .. }) => group,
        Created::FoundAfterFailure(group) => {
            tracing::warn!(
                group_id = group.id.as_deref().unwrap_or_default(),
                "the answer to the POST of {:?} was lost; the pod had created it, and this is that group",
                post.name
            );
            group
        }
        Created::Unreadable { error, .. } => {
            // The pod made a group all the same: the journal says so.
            outcome
                .written
                .push(post_written(Answer::Unusable(error.to_string())));
            return Err(error);
        }
    };
    let Some(id) = group.id.clone().filter(|id| !id.is_empty()) else {
        let error = PodError::Decode {
            method: "POST",
            path: USERGROUPS_PATH.to_string(),
            reason: "the new group has no id".to_string(),
        };
        // The pod made a group all the same: the journal says so.
        outcome
            .written
            .push(post_written(Answer::Unusable(error.to_string())));
        return Err(error);
    };
    outcome.created = Some(id.to_string());
    outcome
        .written
        .push(post_written(Answer::Group(group.clone())));
    let follow_up = minimal_body(&part.desired, &group);
    if follow_up.is_empty() {
        return Ok(());
    }
    put_verified(client, &id, &follow_up, Some(&group), outcome).await
}

/// A group PUT the pod took, and what its answer showed.
fn group_written(path: String, body: &UserGroupUpdate, status: u16, answer: Answer) -> Written {
    Written {
        kind: Kind::Group,
        request: Request {
            method: "PUT",
            path,
            body: RequestBody::Update(body.clone()),
            user: None,
        },
        status,
        answer,
    }
}

/// PUTs `body` to group `id` and records in `outcome` what the pod holds
/// after it, checked rather than trusted. Once the pod took the PUT (a 2xx)
/// it is in `outcome` whatever its answer: an answer that cannot be read,
/// or about another group, fails the step and is recorded nowhere but the
/// journal. An answer that does not show the fields just sent (a bare `{}`)
/// is followed by one GET of the group, and when that cannot be read, the
/// snapshot records what was sent, so that the next plan does not send it again.
async fn put_verified(
    client: &PodClient,
    id: &str,
    body: &UserGroupUpdate,
    before: Option<&UserGroupResponse>,
    outcome: &mut StepOutcome,
) -> Result<(), PodError> {
    let taken = client.update(id, body).await?;
    let status = taken.status;
    let checked = taken
        .body
        .and_then(|answer| answer_is_for(id, &answer, "PUT").map(|()| answer));
    let answer = match checked {
        Ok(answer) => verified(client, id, body, before, answer).await,
        Err(error) => {
            let written = Answer::Unusable(error.to_string());
            outcome
                .written
                .push(group_written(group_path(id), body, status, written));
            return Err(error);
        }
    };
    let written = answer.as_ref().map_or_else(
        |error| Answer::Unusable(error.to_string()),
        |group| Answer::Group(group.clone()),
    );
    outcome
        .written
        .push(group_written(group_path(id), body, status, written));
    answer.map(drop)
}

/// What group `id` holds after a PUT of `body` the pod answered with
/// `answer`: the answer when it shows the fields sent, else the group read
/// back, else what was sent over `before`.
async fn verified(
    client: &PodClient,
    id: &str,
    body: &UserGroupUpdate,
    before: Option<&UserGroupResponse>,
    answer: UserGroupResponse,
) -> Result<UserGroupResponse, PodError> {
    if shows(&answer, body) {
        return Ok(answer);
    }
    tracing::warn!(
        group_id = id,
        "the pod's answer to the PUT does not show the fields sent: reading the group back"
    );
    match client.get(id).await {
        Ok(read) => {
            answer_is_for(id, &read, "GET")?;
            Ok(read)
        }
        Err(error) => {
            tracing::warn!(
                group_id = id,
                "cannot read the group back ({error}); recording what was sent"
            );
            let mut sent = before.cloned().unwrap_or_default().with_update(body);
            sent.id = Some(id.into());
            Ok(sent)
        }
    }
}

/// True when `answer` holds every field of `body` with the value sent.
fn shows(answer: &UserGroupResponse, body: &UserGroupUpdate) -> bool {
    Field::ALL
        .into_iter()
        .all(|field| body.field(field).is_none() || answer.field(field) == body.field(field))
}

/// An answer naming another group than the one asked about is a failure.
fn answer_is_for(
    id: &str,
    answer: &UserGroupResponse,
    method: &'static str,
) -> Result<(), PodError> {
    match answer.id.as_deref() {
        Some(other) if other != id => Err(PodError::Decode {
            method,
            path: group_path(id),
            reason: format!(
                "the pod answered about group {other:?} instead; nothing was recorded for either"
            ),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_checked_against_what_was_sent() {
        let body = UserGroupUpdate {
            area: Some("EMEA".into()),
            ..UserGroupUpdate::default()
        };
        let answer = |id: Option<&str>, area: Option<&str>| UserGroupResponse {
            id: id.map(Into::into),
            area: area.map(Into::into),
            ..UserGroupResponse::default()
        };
        assert!(shows(&answer(Some("g1"), Some("EMEA")), &body));
        assert!(
            !shows(&answer(None, None), &body),
            "a bare {{}} shows nothing"
        );
        assert!(!shows(&answer(Some("g1"), Some("EMEA-old")), &body));
        assert!(answer_is_for("g1", &answer(Some("g1"), None), "PUT").is_ok());
        assert!(answer_is_for("g1", &answer(None, None), "PUT").is_ok());
        let other = answer_is_for("g1", &answer(Some("g2"), None), "PUT").unwrap_err();
        assert!(
            other
                .to_string()
                .contains("answered about group \"g2\" instead"),
            "{other}"
        );
    }
}
