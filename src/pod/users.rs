//! The users lookup of `docs/pod-api.md` (`GET /v3/users`): the pod's users
//! of given usernames, or of given ids.
//!
//! An answer is checked before it is believed, since what it says decides
//! which user ids are written into groups: it must be the `{users: [...],
//! errors: [...]}` the contract promises, every user must carry a username
//! and an id a pod can give ([`MAX_USER_ID`]), and no username (compared
//! without regard to case, as the lookup compares) or id may be answered
//! twice as two different users. An answer that fails is the pod's fault, a
//! [`PodError::Decode`] naming the endpoint, never "no such user".

use std::collections::HashMap;
use std::fmt::Display;

use super::answer::{Reply, decode_answer};
use super::client::PodClient;
use super::request::{Call, Verb};
use crate::error::PodError;
use crate::model::{USERS_PATH, USERS_PER_LOOKUP, UserId, UserList, UserRecord};

/// The largest user id believed: 2^53 − 1, the largest integer every JSON
/// reader keeps exact. A pod's user ids are far below it; a larger one (or
/// zero, or a negative one) is a broken answer, never an id to write.
pub const MAX_USER_ID: UserId = (1 << 53) - 1;

impl PodClient {
    /// `GET /v3/users?username=a,b&local=true`: the users of those names the
    /// pod knows (an unknown name is simply absent), at most
    /// [`USERS_PER_LOOKUP`] names a call. Only users of the names asked for
    /// are returned, each once; an answer that cannot be believed (see the
    /// module) is an error.
    pub async fn users_by_name(&self, usernames: &[String]) -> Result<Vec<UserRecord>, PodError> {
        let mut found = Found::default();
        for chunk in usernames.chunks(USERS_PER_LOOKUP) {
            let asked: Vec<String> = chunk.iter().map(|name| name.to_lowercase()).collect();
            let call = lookup_call("username", chunk.join(","));
            let reply = self.call_with_retries(&call).await?;
            for user in checked_answer(&call, &reply)? {
                let username = user.username.as_deref().unwrap_or_default();
                if asked.contains(&username.to_lowercase()) {
                    found.add(&call, &reply, user)?;
                }
            }
        }
        Ok(found.users)
    }

    /// `GET /v3/users?uid=1,2&local=true`: the users of those ids the pod
    /// knows (an unknown id is simply absent), at most [`USERS_PER_LOOKUP`]
    /// ids a call. Only users of the ids asked for are returned, each once;
    /// an answer that cannot be believed (see the module) is an error.
    pub async fn users_by_id(&self, ids: &[UserId]) -> Result<Vec<UserRecord>, PodError> {
        let mut found = Found::default();
        for chunk in ids.chunks(USERS_PER_LOOKUP) {
            let listed: Vec<String> = chunk.iter().map(UserId::to_string).collect();
            let call = lookup_call("uid", listed.join(","));
            let reply = self.call_with_retries(&call).await?;
            for user in checked_answer(&call, &reply)? {
                if user.id.is_some_and(|id| chunk.contains(&id)) {
                    found.add(&call, &reply, user)?;
                }
            }
        }
        Ok(found.users)
    }
}

/// One lookup of `list` (`username` or `uid`), local users only.
fn lookup_call(list: &'static str, entries: String) -> Call {
    let mut call = Call::new(Verb::Get, USERS_PATH.to_string(), USERS_PATH);
    call.query.push((list, entries));
    call.query.push(("local", "true".to_string()));
    call
}

/// The users of one answer, each with a username and a believable id.
fn checked_answer(call: &Call, reply: &Reply) -> Result<Vec<UserRecord>, PodError> {
    let answer: UserList = decode_answer(call, reply).map_err(|error| match error {
        PodError::Decode { method, path, reason } => PodError::Decode {
            method,
            path,
            reason: format!(
                "not the users list {{\"users\": [...], \"errors\": [...]}} the pod's contract promises ({reason})"
            ),
        },
        other => other,
    })?;
    for user in &answer.users {
        let username = user.username.as_deref().unwrap_or_default();
        let shown = quoted(reply, username);
        if username.trim().is_empty() {
            let id = user.id.map_or("none".to_string(), |id| id.to_string());
            return Err(unusable(
                call,
                format!("a user without a username (id {id})"),
            ));
        }
        match user.id {
            None => return Err(unusable(call, format!("user {shown} without an id"))),
            Some(id) if !(1..=MAX_USER_ID).contains(&id) => {
                return Err(unusable(
                    call,
                    format!(
                        "user {shown} with the id {id}, which no pod gives (ids run from 1 to {MAX_USER_ID})"
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(answer.users)
}

/// The users of a lookup so far, each once, by username (lower-cased) and by id.
#[derive(Default)]
struct Found {
    users: Vec<UserRecord>,
    by_name: HashMap<String, UserId>,
    by_id: HashMap<UserId, String>,
}

impl Found {
    /// Adds `user` (checked by [`checked_answer`]); the same user again is
    /// dropped, a username or id answered before as another user is an error.
    fn add(&mut self, call: &Call, reply: &Reply, user: UserRecord) -> Result<(), PodError> {
        let (Some(id), Some(username)) = (user.id, user.username.as_deref()) else {
            return Ok(());
        };
        let key = username.to_lowercase();
        if let Some(&other) = self.by_name.get(&key) {
            if other == id {
                return Ok(());
            }
            let (first, second) = (other.min(id), other.max(id));
            return Err(unusable(
                call,
                format!(
                    "the user {} twice, as user {first} and as user {second}: which one is meant cannot be told",
                    quoted(reply, username)
                ),
            ));
        }
        if let Some(other) = self.by_id.get(&id) {
            return Err(unusable(
                call,
                format!(
                    "user {id} twice, as {} and as {}",
                    quoted(reply, other),
                    quoted(reply, username)
                ),
            ));
        }
        self.by_name.insert(key, id);
        self.by_id.insert(id, username.to_string());
        self.users.push(user);
        Ok(())
    }
}

/// The error for a users answer that cannot be believed: the pod's fault.
fn unusable(call: &Call, what: impl Display) -> PodError {
    call.decode_error(format!(
        "the users lookup answered {what}; groupsync cannot use this answer (the pod is at fault, not the usernames declared)"
    ))
}

/// A username from the answer as a message shows it: quoted, no secret in it.
fn quoted(reply: &Reply, username: &str) -> String {
    reply.quoted(&format!("{username:?}"))
}

#[cfg(test)]
mod tests {
    use super::super::answer::test_reply;
    use super::*;

    fn call() -> Call {
        lookup_call("username", "alice,bob".to_string())
    }

    fn checked(body: &str) -> Result<Vec<UserRecord>, PodError> {
        checked_answer(&call(), &test_reply(None, body))
    }

    #[test]
    fn an_answer_that_is_not_the_users_list_is_the_pods_fault() {
        for body in ["[]", r#"{"nope": 1}"#, r#"{"users": {"alice": 1}}"#, "null"] {
            let error = checked(body).unwrap_err();
            let message = error.to_string();
            assert!(
                matches!(error, PodError::Decode { .. }),
                "{body}: {error:?}"
            );
            assert!(
                message.starts_with(
                    "GET /v3/users: unexpected answer from the pod: not the users list"
                ),
                "{body}: {message}"
            );
        }
        let bare = checked(r#"{"users": []}"#).unwrap();
        assert!(bare.is_empty());
    }

    #[test]
    fn ids_no_pod_gives_are_refused() {
        for id in [
            "-5",
            "0",
            &i64::MAX.to_string(),
            &(MAX_USER_ID + 1).to_string(),
        ] {
            let body =
                format!(r#"{{"users": [{{"id": {id}, "username": "alice"}}], "errors": []}}"#);
            let message = checked(&body).unwrap_err().to_string();
            assert!(
                message.contains(&format!(
                    "user \"alice\" with the id {id}, which no pod gives"
                )),
                "{message}"
            );
        }
        for body in [
            r#"{"users": [{"id": "7", "username": "alice"}]}"#,
            r#"{"users": [{"username": "alice"}]}"#,
            r#"{"users": [{"id": 7}]}"#,
            r#"{"users": [{"id": 7, "username": " "}]}"#,
        ] {
            assert!(checked(body).is_err(), "{body}");
        }
        let fine = format!(r#"{{"users": [{{"id": {MAX_USER_ID}, "username": "alice"}}]}}"#);
        assert_eq!(checked(&fine).unwrap()[0].id, Some(MAX_USER_ID));
    }

    fn user(id: UserId, username: &str) -> UserRecord {
        UserRecord {
            id: Some(id),
            username: Some(username.to_string()),
            ..UserRecord::default()
        }
    }

    #[test]
    fn a_username_or_an_id_answered_as_two_users_is_refused_and_a_repeat_dropped() {
        let (call, reply) = (call(), test_reply(None, "{}"));
        let mut found = Found::default();
        found.add(&call, &reply, user(1002, "alice")).unwrap();
        found.add(&call, &reply, user(1002, "alice")).unwrap();
        assert_eq!(found.users.len(), 1);

        let message = found
            .add(&call, &reply, user(1001, "Alice"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("the user \"Alice\" twice, as user 1001 and as user 1002"),
            "{message}"
        );
        let message = found
            .add(&call, &reply, user(1002, "bob"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("user 1002 twice, as \"alice\" and as \"bob\""),
            "{message}"
        );
        assert!(message.contains("the pod is at fault"), "{message}");
    }

    #[tokio::test]
    async fn users_by_id_asks_for_at_most_a_hundred_ids_a_call_and_keeps_only_those_asked() {
        use crate::emulator::{Emulator, EmulatorConfig, Entitlements, SeedUser};
        use crate::pod::Timeouts;
        use crate::pod::auth::{AuthSource, SessionToken};
        use crate::pod::retry::RetryPolicy;
        let pod = Emulator::start(
            "127.0.0.1:0".parse().unwrap(),
            EmulatorConfig {
                session_tokens: vec![("token".into(), Entitlements::ALL)],
                users: vec![SeedUser::new(1001, "alice"), SeedUser::new(1150, "bob")],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let client = PodClient::new(
            &pod.pod_url(),
            AuthSource::Token(SessionToken::new("token")),
            RetryPolicy::no_retries(),
            Timeouts::default(),
        )
        .unwrap();
        let ids: Vec<UserId> = (1001..=1150).collect();

        let users = client.users_by_id(&ids).await.unwrap();

        let found: Vec<(Option<UserId>, Option<&str>)> = users
            .iter()
            .map(|user| (user.id, user.username.as_deref()))
            .collect();
        assert_eq!(
            found,
            [(Some(1001), Some("alice")), (Some(1150), Some("bob"))]
        );
        let queries: Vec<String> = pod
            .requests()
            .into_iter()
            .filter_map(|request| request.query)
            .collect();
        assert_eq!(queries.len(), 2, "{queries:?}");
        assert!(queries.iter().all(|query| query.ends_with("&local=true")));
        assert!(
            queries[0].starts_with("uid=1001%2C1002%2C"),
            "{}",
            queries[0]
        );
        assert!(queries[1].starts_with("uid=1101%2C"), "{}", queries[1]);
        assert!(client.users_by_id(&[]).await.unwrap().is_empty());
    }
}
