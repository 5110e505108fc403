//! The users lookup of `docs/pod-api.md` (`GET /v3/users`): the pod's users
//! of given usernames.

use super::client::PodClient;
use super::request::{Call, Verb};
use crate::error::PodError;
use crate::model::{USERS_PATH, USERS_PER_LOOKUP, UserList, UserRecord};

impl PodClient {
    /// `GET /v3/users?username=a,b&local=true`: the users of those names the
    /// pod knows (an unknown name is simply absent), at most
    /// [`USERS_PER_LOOKUP`] names a call.
    pub async fn users_by_name(&self, usernames: &[String]) -> Result<Vec<UserRecord>, PodError> {
        let mut users = Vec::with_capacity(usernames.len());
        for chunk in usernames.chunks(USERS_PER_LOOKUP) {
            let mut call = Call::new(Verb::Get, USERS_PATH.to_string(), USERS_PATH);
            call.query.push(("username", chunk.join(",")));
            call.query.push(("local", "true".to_string()));
            let answer: UserList = self.call_json(&call).await?;
            users.extend(answer.users);
        }
        Ok(users)
    }
}
