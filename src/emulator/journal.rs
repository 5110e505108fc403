//! The record of every request the emulator received, in arrival order.

use std::time::Instant;

use serde_json::Value;

/// What replaces a secret in a recorded body.
const REDACTED: &str = "<redacted>";

/// One request as the emulator received it. Login bodies have their JWT
/// replaced by `<redacted>`; token values are never kept.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// As received, still percent-encoded, e.g. `/pod/v2/admin/usergroups/abc`.
    pub path: String,
    pub query: Option<String>,
    /// The body parsed as JSON, if it is JSON.
    pub body: Option<serde_json::Value>,
    pub raw_body: String,
    /// The status answered (0 while the request is still in flight, or when
    /// its answer was dropped: [`Emulator::drop_next_answers`](super::Emulator::drop_next_answers)).
    pub status: u16,
    pub had_session_token: bool,
    /// When the request arrived.
    pub started: Instant,
}

/// Requests in arrival order; each gets its status when its answer is ready.
#[derive(Debug, Default)]
pub(super) struct Journal {
    next_id: u64,
    /// Sorted by id, so that `finish` can find its entry by binary search.
    entries: Vec<(u64, RecordedRequest)>,
}

/// A request as it arrives, before it is answered.
pub(super) struct Arrival<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
    pub had_session_token: bool,
    pub started: Instant,
}

impl Journal {
    /// Records an arriving request (status 0 until `finish`) and returns its id.
    pub(super) fn begin(&mut self, arrival: Arrival<'_>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let (body, raw_body) = recorded_body(arrival.path, arrival.body);
        let request = RecordedRequest {
            method: arrival.method.to_owned(),
            path: arrival.path.to_owned(),
            query: arrival.query.map(str::to_owned),
            body,
            raw_body,
            status: 0,
            had_session_token: arrival.had_session_token,
            started: arrival.started,
        };
        self.entries.push((id, request));
        id
    }

    /// Sets the status of request `id`, unless the journal was cleared meanwhile.
    pub(super) fn finish(&mut self, id: u64, status: u16) {
        if let Ok(index) = self
            .entries
            .binary_search_by_key(&id, |(entry_id, _)| *entry_id)
        {
            self.entries[index].1.status = status;
        }
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &RecordedRequest> {
        self.entries.iter().map(|(_, request)| request)
    }

    pub(super) fn requests(&self) -> Vec<RecordedRequest> {
        self.iter().cloned().collect()
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
    }
}

/// The body as JSON (if it is) and as text. A login body (the pod's or the
/// key manager's) holds a JWT, a
/// secret: its `token` is replaced, and a login body that is not JSON is not kept.
fn recorded_body(path: &str, bytes: &[u8]) -> (Option<Value>, String) {
    let parsed: Option<Value> = serde_json::from_slice(bytes).ok();
    if !path.starts_with("/login") && !path.starts_with("/relay") {
        return (parsed, String::from_utf8_lossy(bytes).into_owned());
    }
    match parsed {
        Some(mut value) => {
            if let Some(token) = value.get_mut("token") {
                *token = Value::String(REDACTED.to_owned());
            }
            let raw = value.to_string();
            (Some(value), raw)
        }
        None if bytes.is_empty() => (None, String::new()),
        None => (None, REDACTED.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival<'a>(path: &'a str, body: &'a [u8]) -> Arrival<'a> {
        Arrival {
            method: "POST",
            path,
            query: None,
            body,
            had_session_token: false,
            started: Instant::now(),
        }
    }

    #[test]
    fn keeps_arrival_order_and_fills_in_statuses() {
        let mut journal = Journal::default();
        let first = journal.begin(arrival("/pod/a", b"{\"name\":\"x\"}"));
        let second = journal.begin(arrival("/pod/b", b"not json"));
        journal.finish(second, 404);
        journal.finish(first, 200);
        let requests = journal.requests();
        assert_eq!(
            requests
                .iter()
                .map(|r| (r.path.as_str(), r.status))
                .collect::<Vec<_>>(),
            [("/pod/a", 200), ("/pod/b", 404)]
        );
        assert_eq!(requests[0].body, Some(serde_json::json!({"name": "x"})));
        assert_eq!(
            (requests[1].body.as_ref(), requests[1].raw_body.as_str()),
            (None, "not json")
        );
    }

    #[test]
    fn finishing_after_a_clear_is_harmless() {
        let mut journal = Journal::default();
        let id = journal.begin(arrival("/pod/a", b""));
        journal.clear();
        journal.finish(id, 200);
        assert!(journal.requests().is_empty());
    }

    #[test]
    fn never_keeps_a_login_jwt() {
        let mut journal = Journal::default();
        journal.begin(arrival(
            "/login/pubkey/authenticate",
            b"{\"token\":\"eyJsecret\"}",
        ));
        journal.begin(arrival("/login/pubkey/authenticate", b"eyJsecret"));
        for request in journal.requests() {
            assert!(!request.raw_body.contains("eyJsecret"));
            assert!(!format!("{request:?}").contains("eyJsecret"));
        }
    }
}
