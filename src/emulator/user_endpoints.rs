//! The users lookup, `GET /v3/users`: query parsing and the answer. Who
//! exists is `people.rs`'s.

use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;

use crate::model::{USERS_PER_LOOKUP, UserId};

use super::answer::{Failure, json_response};
use super::parse::{flag, parse_query};
use super::people::UserSearch;
use super::shared::{Shared, lock};

/// `GET /v3/users?username=a,b&local=true` (or `uid=`, or `email=`).
pub(super) fn lookup_users(shared: &Shared, uri: &Uri) -> Result<Response, Failure> {
    let query = parse_query::<UsersQuery>(uri)?;
    let search = user_search(query)?;
    let found = lock(&shared.store).lookup_users(&search);
    Ok(json_response(StatusCode::OK, &found))
}

/// The users lookup's query. Unknown parameters are ignored.
#[derive(Debug, Default, Deserialize)]
struct UsersQuery {
    uid: Option<String>,
    email: Option<String>,
    username: Option<String>,
    local: Option<String>,
    active: Option<String>,
}

/// Exactly one search list of at most [`USERS_PER_LOOKUP`] entries.
fn user_search(query: UsersQuery) -> Result<UserSearch, Failure> {
    flag("local", query.local.as_deref())?;
    flag("active", query.active.as_deref())?;
    let lists = [
        ("uid", query.uid),
        ("email", query.email),
        ("username", query.username),
    ];
    let mut given = lists
        .into_iter()
        .filter_map(|(name, list)| Some((name, list?)));
    let (Some((name, list)), None) = (given.next(), given.next()) else {
        return Err(Failure::bad_request(
            "give exactly one search list: uid, email or username",
        ));
    };
    let entries: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect();
    if entries.is_empty() {
        return Err(Failure::bad_request(format!("{name} lists nothing")));
    }
    if entries.len() > USERS_PER_LOOKUP {
        return Err(Failure::bad_request(format!(
            "at most {USERS_PER_LOOKUP} entries a call, not {}",
            entries.len()
        )));
    }
    Ok(match name {
        "uid" => UserSearch::Ids(
            entries
                .iter()
                .map(|entry| entry.parse::<UserId>())
                .collect::<Result<_, _>>()
                .map_err(|_| Failure::bad_request("uid lists integers"))?,
        ),
        "email" => UserSearch::Emails(entries),
        _ => UserSearch::Usernames(entries),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users_query(query: &str) -> Result<UserSearch, Failure> {
        let uri: Uri = format!("/pod/v3/users?{query}").parse().unwrap();
        user_search(parse_query(&uri)?)
    }

    #[test]
    fn a_users_lookup_takes_one_list_of_at_most_100() {
        assert_eq!(
            users_query("username=a,b&local=true").unwrap(),
            UserSearch::Usernames(vec!["a".into(), "b".into()])
        );
        assert_eq!(users_query("uid=1,2").unwrap(), UserSearch::Ids(vec![1, 2]));
        let hundred_and_one = (0..=100)
            .map(|n| format!("u{n}"))
            .collect::<Vec<_>>()
            .join(",");
        for bad in [
            "",
            "local=true",
            "username=a&uid=1",
            "username=",
            "uid=x",
            "username=a&local=maybe",
            &format!("username={hundred_and_one}"),
        ] {
            let failure = users_query(bad).unwrap_err();
            assert_eq!(failure.status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}
