//! The **pod** layer: everything that talks HTTP to a Symphony pod.
//!
//! - [`client`] — [`PodClient`]: one method per endpoint, bounded waits a stop cuts short, re-login on 401.
//! - [`auth`]   — session tokens and RSA bot login (JWT RS512).
//! - [`retry`]  — back-off between attempts, honouring `Retry-After`.
//!
//! Its errors ([`PodError`], [`AuthError`]) live on the ground floor, in
//! [`crate::error`], so the crate's one error type can carry them.

pub mod auth;
pub mod client;
pub mod retry;

pub use crate::error::{AuthError, PodError, TransportKind};
pub use client::{
    Created, GROUP_PATH_TEMPLATE, LIST_PAGE_SIZE, LOGIN_PATH_TEMPLATE, ListFilter,
    MAX_ANSWER_BYTES, MAX_ERROR_ANSWER_BYTES, MAX_LIST_BYTES, MAX_LIST_PAGES, Observer, PodClient,
    RequestOutcome, STOP_GRACE_IN_FLIGHT, Timeouts, USER_AGENT,
};
