//! Faults a test injects into the next pod calls ([`Emulator::fail_next`],
//! [`Emulator::expire_sessions_at_next_call`], [`Emulator::drop_next_answers`]),
//! and the answer of an injected failure.
//!
//! [`Emulator::fail_next`]: super::Emulator::fail_next
//! [`Emulator::expire_sessions_at_next_call`]: super::Emulator::expire_sessions_at_next_call
//! [`Emulator::drop_next_answers`]: super::Emulator::drop_next_answers

use std::collections::VecDeque;

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;

use super::answer::error_response;

/// Something injected into the next pod call: a failure to answer instead
/// (with its `Retry-After` header), sessions that expire just before it, or
/// an answer lost after the pod acted on the call.
#[derive(Debug, Clone)]
pub(super) enum Fault {
    Fail {
        status: StatusCode,
        retry_after: Option<HeaderValue>,
    },
    ExpireSessions,
    /// The next call with this method is carried out, then its connection
    /// closes without an answer. Calls with other methods pass it by.
    DropAnswer(Method),
}

/// The fault for a call with `method`: the first queued one, unless it waits
/// for a call with another method.
pub(super) fn next_fault(faults: &mut VecDeque<Fault>, method: &Method) -> Option<Fault> {
    match faults.front() {
        Some(Fault::DropAnswer(wanted)) if wanted != method => None,
        _ => faults.pop_front(),
    }
}

/// The answer of an injected failure.
pub(super) fn failure_response(status: StatusCode, retry_after: Option<HeaderValue>) -> Response {
    let message = status.canonical_reason().unwrap_or("injected failure");
    let mut response = error_response(status, message);
    if let Some(retry_after) = retry_after {
        response.headers_mut().insert(RETRY_AFTER, retry_after);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_answer_waits_for_a_call_with_its_method() {
        let mut faults = VecDeque::from([Fault::DropAnswer(Method::PUT), Fault::ExpireSessions]);
        assert!(next_fault(&mut faults, &Method::GET).is_none());
        assert!(matches!(
            next_fault(&mut faults, &Method::PUT),
            Some(Fault::DropAnswer(_))
        ));
        assert!(matches!(
            next_fault(&mut faults, &Method::GET),
            Some(Fault::ExpireSessions)
        ));
        assert!(next_fault(&mut faults, &Method::GET).is_none());
    }
}
