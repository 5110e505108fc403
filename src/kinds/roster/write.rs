//! The writes of a user-list kind: one `PUT .../{segment}/{userId}` per user
//! added or removed, adds first, stopping at the first failure; each user the
//! pod took is recorded, even when a later one fails.

use std::collections::BTreeMap;

use crate::kinds::core::{Answer, Sent, UserWrite, Written};
use crate::kinds::roster::{ListChange, user_request};
use crate::model::group_path;
use crate::pod::{PodClient, PodError};
use crate::store::snapshot::Snapshot;

impl ListChange {
    /// Sends every write of the list to the group `sent` names, one at a
    /// time, in order; stops at the first failure. Each write the pod took
    /// is added to `sent`.
    pub async fn send(&self, client: &PodClient, sent: &mut Sent) -> Result<(), PodError> {
        let Some(group_id) = sent.group_id.clone() else {
            return Ok(());
        };
        for (user, active) in self.writes() {
            let Some(user_id) = user.user_id else {
                return Err(PodError::UnknownUserId {
                    username: user.username.clone(),
                });
            };
            client
                .set_roster_user(&group_id, self.roster, user_id, active)
                .await?;
            let path = group_path(&group_id);
            sent.written.push(Written {
                kind: self.kind,
                request: user_request(
                    &path,
                    self.roster,
                    &user_id.to_string(),
                    &user.username,
                    active,
                ),
                answer: Answer::User(UserWrite {
                    roster: self.roster,
                    username: user.username.clone(),
                    user_id,
                    active,
                }),
            });
        }
        Ok(())
    }

    /// Records the list's writes: a group this change created starts with
    /// nobody on it, then each user the pod took is added or removed.
    pub fn record(&self, snapshot: &mut Snapshot, group_id: &str, sent: &Sent) {
        if sent.created {
            snapshot.record_roster(group_id, self.roster, BTreeMap::new(), None);
        }
        for written in &sent.written {
            if let Answer::User(user) = &written.answer
                && user.roster == self.roster
            {
                snapshot.record_roster_write(
                    group_id,
                    self.roster,
                    &user.username,
                    user.user_id,
                    user.active,
                );
            }
        }
    }
}
