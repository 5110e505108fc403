//! The writes of a user-list kind: one `PUT .../{segment}/{userId}` per user
//! added or removed, each its own step, so that one user's failure fails
//! only that user's write. A list whose kind keeps the order (assignments)
//! sends its adds before its removes; each user the pod took is recorded.
//!
//! A write answered 404 may mean the user is gone, or was made again with a
//! new id: the user is looked up once more by name, and the write is sent
//! again to the new id; with no such user, it is the user that is missing.

use std::collections::BTreeMap;

use crate::kinds::core::{Answer, StepFailure, StepOutcome, UserWrite, Written};
use crate::kinds::roster::{ListChange, ListUser, user_request};
use crate::model::{Roster, UserId, group_path};
use crate::pod::{PodClient, PodError};
use crate::store::snapshot::Snapshot;

impl ListChange {
    /// The list's steps, by index into [`ListChange::writes`]: adds then
    /// removes when the kind keeps that order, else all at once.
    pub fn stages(&self) -> Vec<Vec<usize>> {
        let adds: Vec<usize> = (0..self.add.len()).collect();
        let removes: Vec<usize> = (self.add.len()..self.add.len() + self.remove.len()).collect();
        let stages = if self.adds_first {
            vec![adds, removes]
        } else {
            vec![adds.into_iter().chain(removes).collect()]
        };
        stages
            .into_iter()
            .filter(|stage| !stage.is_empty())
            .collect()
    }

    /// Sends write `step` (an index into [`ListChange::writes`]) to group `group_id`.
    pub async fn send_step(
        &self,
        step: usize,
        client: &PodClient,
        group_id: Option<&str>,
    ) -> StepOutcome {
        let Some((user, active)) = self.writes().nth(step) else {
            return StepOutcome::default();
        };
        let Some(group_id) = group_id else {
            return StepOutcome::default();
        };
        let mut outcome = StepOutcome::default();
        if let Err(error) = self
            .write_user(client, group_id, user, active, &mut outcome)
            .await
        {
            outcome.failure = Some(StepFailure {
                kind: self.kind,
                user: Some(user.username.clone()),
                error,
            });
        }
        outcome
    }

    /// One user's write; on a 404, the user looked up again and, under a
    /// new id, written once more.
    async fn write_user(
        &self,
        client: &PodClient,
        group_id: &str,
        user: &ListUser,
        active: bool,
        outcome: &mut StepOutcome,
    ) -> Result<(), PodError> {
        let Some(user_id) = user.user_id else {
            return Err(PodError::UnknownUserId {
                username: user.username.clone(),
            });
        };
        let error = match client
            .set_roster_user(group_id, self.roster, user_id, active)
            .await
        {
            Ok(status) => {
                outcome
                    .written
                    .push(self.written(group_id, user, (user_id, status), active));
                return Ok(());
            }
            Err(error) if error.status() == Some(404) && active => error,
            // A user gone from the pod is already off the list.
            Err(error) => return Err(error),
        };
        let now = match client
            .users_by_name(std::slice::from_ref(&user.username))
            .await
        {
            Ok(found) => found
                .into_iter()
                .find(|found| {
                    found.username.as_deref().map(str::to_lowercase)
                        == Some(user.username.to_lowercase())
                })
                .and_then(|found| found.id),
            Err(_) => return Err(error),
        };
        match now {
            None => {
                outcome.users.push((user.username.clone(), None));
                Err(PodError::NoSuchUser {
                    method: "PUT",
                    path: self.user_path(group_id, user_id),
                    username: user.username.clone(),
                })
            }
            // The same user: it is the group the pod does not have.
            Some(same) if same == user_id => Err(error),
            Some(new_id) => {
                outcome.users.push((user.username.clone(), Some(new_id)));
                let status = client
                    .set_roster_user(group_id, self.roster, new_id, active)
                    .await?;
                outcome
                    .written
                    .push(self.written(group_id, user, (new_id, status), active));
                Ok(())
            }
        }
    }

    fn user_path(&self, group_id: &str, user_id: UserId) -> String {
        format!(
            "{}/{}/{user_id}",
            group_path(group_id),
            self.roster.segment()
        )
    }

    /// The write the pod took for `user`, under `user_id`, answering `status`.
    fn written(
        &self,
        group_id: &str,
        user: &ListUser,
        (user_id, status): (UserId, u16),
        active: bool,
    ) -> Written {
        let request = user_request(
            &group_path(group_id),
            self.roster,
            &user_id.to_string(),
            &user.username,
            active,
        );
        Written {
            kind: self.kind,
            request,
            status,
            answer: Answer::User(UserWrite {
                roster: self.roster,
                username: user.username.clone(),
                user_id,
                active,
            }),
        }
    }

    /// Before the list's first write: a group this change created starts with nobody on it.
    pub fn begin(&self, snapshot: &mut Snapshot, group_id: &str, created: bool) {
        if created {
            snapshot.record_roster(group_id, self.roster, BTreeMap::new(), None);
        }
    }

    /// Records one step: each user the pod took, added to or removed from
    /// the list, and each user id learnt (a new one, or none: gone).
    pub fn record(&self, snapshot: &mut Snapshot, group_id: &str, outcome: &StepOutcome) {
        for (username, user_id) in &outcome.users {
            match user_id {
                Some(id) => snapshot.remember_user(username, *id),
                None => snapshot.forget_user(username),
            }
        }
        for written in &outcome.written {
            if let Answer::User(user) = &written.answer {
                record_user(snapshot, group_id, self.roster, user);
            }
        }
    }
}

fn record_user(snapshot: &mut Snapshot, group_id: &str, roster: Roster, user: &UserWrite) {
    snapshot.record_roster_write(group_id, roster, &user.username, user.user_id, user.active);
}
