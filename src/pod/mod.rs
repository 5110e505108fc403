//! The **pod** layer: everything that talks HTTP to a Symphony pod. Each file
//! uses only the ones listed below it:
//!
//! - [`agent`]     — the agent and the key manager: a message posted into a room, room search.
//! - [`lists`]     — a group's members and assignees: read the active list, add or remove one user.
//! - [`groups`]    — group endpoints: get, list (all, filtered, by name), update, create, create once (adopting only an exact namesake).
//! - [`users`]     — the users lookup by username or by id, its answers checked before they are believed.
//! - [`paging`]    — the one bounded page walker of every list (repeated cursor, page and byte caps).
//! - [`in_flight`] — many requests at once, `concurrency` at most, answers in the order asked.
//! - [`client`]    — [`PodClient`] and its core call loop: retries, re-login on 401, bounded waits a stop cuts short.
//! - [`session`]   — the session token shared by clones, bot login, one renewal per stale token.
//! - [`transport`] — the reqwest client (CA file, proxy, timeouts) and one exchange: send, observe, stop grace.
//! - [`answer`]    — answers read bounded, decoded, and turned into the error their status means, secrets redacted.
//! - [`failure`]   — transport failures told apart (DNS, TLS, refused, timeout); URLs shown safely.
//! - [`stop`]      — how a stop cuts a wait short and a request in flight off after a grace.
//! - [`request`]   — one request as described: verb, path, metric template, query, body.
//! - [`auth`]      — session tokens and RSA bot credentials (JWT RS512).
//! - [`retry`]     — back-off between attempts, honouring `Retry-After`.
//! - [`secrets`]   — the credentials a client holds (tokens, JWTs, proxy password), redacted from every quoted answer.
//!
//! Its errors ([`PodError`], [`AuthError`]) live on the ground floor, in
//! [`crate::error`], so the crate's one error type can carry them.

pub mod agent;
pub mod answer;
pub mod auth;
pub mod client;
pub mod failure;
pub mod groups;
pub mod in_flight;
pub mod lists;
pub mod paging;
pub mod request;
pub mod retry;
pub mod secrets;
pub mod session;
pub mod stop;
pub mod transport;
pub mod users;

pub use crate::error::{AuthError, PodError, TransportKind};
pub use answer::{MAX_ANSWER_BYTES, MAX_ERROR_ANSWER_BYTES};
pub use client::{Answered, PodClient};
pub use groups::{Created, GROUP_PATH_TEMPLATE, ListFilter, is_exactly_named};
pub use lists::ListDate;
pub use paging::{LIST_PAGE_SIZE, MAX_LIST_BYTES, MAX_LIST_PAGES};
pub use session::LOGIN_PATH_TEMPLATE;
pub use stop::STOP_GRACE_IN_FLIGHT;
pub use transport::{Observer, RequestOutcome, Timeouts, USER_AGENT};
