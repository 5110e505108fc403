//! The one page walker every list uses (`PodClient::walk_pages`): follows
//! `pagination.cursors.after` while `pagination.next` is present, within the
//! same bounds for every list (no repeated cursor, [`MAX_LIST_PAGES`] pages,
//! [`MAX_LIST_BYTES`] held).

use std::collections::HashSet;

use serde::de::DeserializeOwned;

use super::answer::{decode_answer, shown_size};
use super::client::PodClient;
use super::request::Call;
use crate::error::PodError;
use crate::model::Pagination;

/// Records asked for per page when listing.
pub const LIST_PAGE_SIZE: u32 = 100;

/// The most pages one list walk follows before it fails.
pub const MAX_LIST_PAGES: usize = 10_000;

/// The most one list walk may hold: its answers' bytes plus the records
/// decoded from them (a record counted at its in-memory size, so that a page
/// of `{}`s counts too). Past it the walk fails.
pub const MAX_LIST_BYTES: usize = 64 << 20;

/// One page of a paged list: `{data, pagination}`.
#[derive(serde::Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
    #[serde(default)]
    pagination: Option<Pagination>,
}

impl PodClient {
    /// Every record of a paged list: `first_page` with `limit`, then again
    /// with `after` = `pagination.cursors.after` while `pagination.next` is
    /// present. The one walker of every list, so that each keeps the same
    /// bounds: it fails at a cursor it already followed, after
    /// [`MAX_LIST_PAGES`] pages, and past [`MAX_LIST_BYTES`].
    pub(super) async fn walk_pages<T: DeserializeOwned>(
        &self,
        first_page: Call,
    ) -> Result<Vec<T>, PodError> {
        let mut records = Vec::new();
        let mut held_bytes = 0usize;
        let mut seen_cursors = HashSet::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            pages += 1;
            let call = page_call(&first_page, after.as_deref());
            let reply = self.call_with_retries(&call).await?;
            let page: Page<T> = decode_answer(&call, &reply)?;
            held_bytes += reply.body.len() + page.data.len() * std::mem::size_of::<T>();
            if held_bytes > MAX_LIST_BYTES {
                return Err(call.over_limit(format!(
                    "the list's {pages} pages so far add up to more than {}, the most groupsync holds of one list",
                    shown_size(MAX_LIST_BYTES)
                )));
            }
            records.extend(page.data);
            let Some(cursor) = next_cursor(page.pagination.as_ref())
                .map_err(|reason| call.decode_error(reason))?
            else {
                return Ok(records);
            };
            if pages >= MAX_LIST_PAGES {
                return Err(call.over_limit(format!(
                    "the list still says `next` after {MAX_LIST_PAGES} pages, the most groupsync follows; the pod's paging looks broken"
                )));
            }
            // A cursor seen before would page forever.
            if !seen_cursors.insert(cursor.clone()) {
                return Err(call.decode_error(format!(
                    "the pod returned the cursor {} a second time; stopping rather than paging forever",
                    shown_cursor(&reply.quoted(&cursor))
                )));
            }
            after = Some(cursor);
        }
    }
}

/// `first_page` with `limit` and, past the first page, `after`.
fn page_call(first_page: &Call, after: Option<&str>) -> Call {
    let mut call = first_page.clone();
    call.query.push(("limit", LIST_PAGE_SIZE.to_string()));
    if let Some(after) = after {
        call.query.push(("after", after.to_string()));
    }
    call
}

/// A cursor as an error shows it: quoted, and cut short if long.
fn shown_cursor(cursor: &str) -> String {
    const MAX_CHARS: usize = 64;
    match cursor.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{:?}…", &cursor[..cut]),
        None => format!("{cursor:?}"),
    }
}

/// The cursor of the next page, `None` on the last page.
fn next_cursor(pagination: Option<&Pagination>) -> Result<Option<String>, &'static str> {
    let Some(pagination) = pagination.filter(|pagination| pagination.next.is_some()) else {
        return Ok(None);
    };
    match pagination.cursors.after.as_deref() {
        Some(after) if !after.is_empty() => Ok(Some(after.to_string())),
        _ => Err("pagination.next is present but pagination.cursors.after is missing"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::answer::{MAX_ANSWER_BYTES, MAX_ERROR_ANSWER_BYTES};
    use super::*;
    use crate::model::Cursors;

    #[test]
    fn cursor_follows_next_and_after() {
        let page = |after: Option<&str>, next: Option<&str>| Pagination {
            cursors: Cursors {
                before: "b".into(),
                after: after.map(str::to_string),
            },
            previous: None,
            next: next.map(str::to_string),
        };
        assert_eq!(next_cursor(None), Ok(None));
        assert_eq!(next_cursor(Some(&page(Some("c2"), None))), Ok(None));
        assert_eq!(
            next_cursor(Some(&page(Some("c2"), Some("n")))),
            Ok(Some("c2".to_string()))
        );
        assert!(next_cursor(Some(&page(None, Some("n")))).is_err());
        assert!(next_cursor(Some(&page(Some(""), Some("n")))).is_err());
    }

    #[test]
    fn sizes_read_as_limits_are_written() {
        assert_eq!(shown_size(MAX_ANSWER_BYTES), "4 MiB");
        assert_eq!(shown_size(MAX_ERROR_ANSWER_BYTES), "64 KiB");
        assert_eq!(shown_size(MAX_LIST_BYTES), "64 MiB");
    }

    #[test]
    fn a_long_cursor_is_cut_in_messages() {
        let shown = shown_cursor(&"c".repeat(1000));
        assert!(shown.chars().count() < 80, "{shown}");
        assert_eq!(shown_cursor("same"), "\"same\"");
    }
}
