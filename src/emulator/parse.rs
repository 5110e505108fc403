//! Reading a pod call: its query parameters, paging cursors and JSON body.
//! Whatever cannot be read is a 400.

use axum::extract::Query;
use axum::http::Uri;
use serde::de::DeserializeOwned;

use super::answer::Failure;

/// The query of `uri` as `T`.
pub(super) fn parse_query<T: DeserializeOwned>(uri: &Uri) -> Result<T, Failure> {
    let Query(query) =
        Query::<T>::try_from_uri(uri).map_err(|err| Failure::bad_request(err.body_text()))?;
    Ok(query)
}

/// A boolean query parameter: absent, `true` or `false`.
pub(super) fn flag(name: &str, value: Option<&str>) -> Result<Option<bool>, Failure> {
    match value {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(Failure::bad_request(format!(
            "{name} must be true or false, not {other:?}"
        ))),
    }
}

/// The pod's page size is also the most a `limit` can ask for.
pub(super) fn page_limit(limit: Option<&str>, page_size: usize) -> Result<usize, Failure> {
    match limit {
        None => Ok(page_size),
        Some(text) => match text.parse::<usize>() {
            Ok(limit) if limit > 0 => Ok(limit.min(page_size)),
            _ => Err(Failure::bad_request(format!(
                "limit must be a positive integer, not {text:?}"
            ))),
        },
    }
}

/// Where a page starts, as the `after` or `before` cursor says.
pub(super) enum Cursor<T> {
    First,
    After(T),
    Before(T),
}

/// The one cursor given, decoded. An empty cursor counts as none: it can
/// only mean "from the start".
pub(super) fn cursor<T>(
    after: Option<String>,
    before: Option<String>,
    decode: impl Fn(&str) -> Option<T>,
) -> Result<Cursor<T>, Failure> {
    let decode = |cursor: &str| {
        decode(cursor).ok_or_else(|| Failure::bad_request("invalid pagination cursor"))
    };
    match (
        after.filter(|c| !c.is_empty()),
        before.filter(|c| !c.is_empty()),
    ) {
        (None, None) => Ok(Cursor::First),
        (Some(after), None) => Ok(Cursor::After(decode(&after)?)),
        (None, Some(before)) => Ok(Cursor::Before(decode(&before)?)),
        (Some(_), Some(_)) => Err(Failure::bad_request("give at most one of after and before")),
    }
}

/// The body as `T`; an empty body, malformed JSON, a wrong type or an unknown field is a 400.
pub(super) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    if body.is_empty() {
        return Err(Failure::bad_request("the request body is required"));
    }
    serde_json::from_slice(body)
        .map_err(|err| Failure::bad_request(format!("invalid request body: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UserGroupUpdate;

    #[test]
    fn bodies_must_be_json_of_the_right_shape() {
        assert!(parse_body::<UserGroupUpdate>(b"").is_err());
        assert!(parse_body::<UserGroupUpdate>(b"{").is_err());
        assert!(parse_body::<UserGroupUpdate>(b"{\"active\": \"yes\"}").is_err());
        assert!(parse_body::<UserGroupUpdate>(b"{\"colour\": \"red\"}").is_err());
        assert_eq!(
            parse_body::<UserGroupUpdate>(b"{}").unwrap(),
            UserGroupUpdate::default()
        );
    }
}
