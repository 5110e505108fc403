//! The daemon's current plan ([`CurrentPlan`]), as `/plan` (text) and
//! `/plan.json` serve it: published after every cycle that planned,
//! withdrawn with the reason ([`NoPlan`]) after one that could not.
//!
//! A plan can be tens of megabytes. It is held once, as [`Bytes`], and every
//! download streams slices of that one copy (`PlanBody`, [`PLAN_CHUNK`]
//! bytes at a time, polled only as the client reads): a slow reader costs a
//! reference, not a copy. At most [`MAX_PLAN_DOWNLOADS`] run at once, so
//! that slow readers can never take every connection from the probes.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::service::metrics::access::PlanAccess;

/// The content type of `/plan`: the text plan, as `groupsync plan` prints it.
pub const PLAN_TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// The size of the slices a plan download is sent in.
pub const PLAN_CHUNK: usize = 16 * 1024;

/// Plan downloads served at once; more are answered 503 with `Retry-After`.
/// Half of [`MAX_CONNECTIONS`](super::MAX_CONNECTIONS): the other half is
/// always there for `/healthz`, `/readyz` and `/metrics`.
pub const MAX_PLAN_DOWNLOADS: usize = 64;

/// The daemon's current plan, as `/plan` (text) and `/plan.json` serve it:
/// published after every cycle that planned, withdrawn (with the reason)
/// after one that could not.
#[derive(Debug)]
pub struct CurrentPlan {
    slot: RwLock<Result<PlanDocuments, NoPlan>>,
    downloads: Arc<Semaphore>,
}

/// Why there is no plan to serve; the endpoints answer 503 with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoPlan {
    /// The first cycle has not planned yet.
    #[error("no plan yet: the first cycle has not finished")]
    NotYet,
    /// The last cycle could not plan; the daemon's words for why.
    #[error("{0}")]
    Withdrawn(String),
}

/// One plan, rendered once for both endpoints; cloning shares it.
#[derive(Debug, Clone)]
struct PlanDocuments {
    text: Bytes,
    json: Bytes,
}

impl Default for CurrentPlan {
    fn default() -> Self {
        CurrentPlan::new()
    }
}

impl CurrentPlan {
    /// No plan yet: the first cycle has not planned.
    pub fn new() -> CurrentPlan {
        CurrentPlan {
            slot: RwLock::new(Err(NoPlan::NotYet)),
            downloads: Arc::new(Semaphore::new(MAX_PLAN_DOWNLOADS)),
        }
    }

    /// `text` as `groupsync plan` prints it (no colour), `json` as with
    /// `--format json`. Downloads of the previous plan still running go on
    /// with the copy they started with.
    pub fn publish(&self, text: Bytes, json: Bytes) {
        *self
            .slot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Ok(PlanDocuments { text, json });
    }

    /// The last cycle could not plan: the endpoints say why instead of showing a stale plan.
    pub fn withdraw(&self, reason: String) {
        *self
            .slot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Err(NoPlan::Withdrawn(reason));
    }

    /// A shared reference to the documents, never a copy of them.
    fn documents(&self) -> Result<PlanDocuments, NoPlan> {
        self.slot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The text plan, or why there is none.
    pub fn text(&self) -> Result<Bytes, NoPlan> {
        self.documents().map(|documents| documents.text)
    }

    /// The JSON plan, or why there is none.
    pub fn json(&self) -> Result<Bytes, NoPlan> {
        self.documents().map(|documents| documents.json)
    }

    /// 200 streaming `document`, 503 when there is none or too many
    /// downloads run already.
    fn respond(&self, document: Result<Bytes, NoPlan>, content_type: &'static str) -> Response {
        let document = match document {
            Ok(document) => document,
            Err(reason) => return unavailable(format!("{reason}\n"), None),
        };
        let Ok(download) = Arc::clone(&self.downloads).try_acquire_owned() else {
            let busy = format!(
                "{MAX_PLAN_DOWNLOADS} plan downloads are running already; try again in a moment\n"
            );
            return unavailable(busy, Some("1"));
        };
        let body = PlanBody {
            rest: document,
            _download: download,
        };
        ([(header::CONTENT_TYPE, content_type)], Body::new(body)).into_response()
    }
}

/// 503 with `reason` as text (and `Retry-After`, if given).
fn unavailable(reason: String, retry_after: Option<&'static str>) -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, PLAN_TEXT_CONTENT_TYPE)],
        reason,
    )
        .into_response();
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from_static(seconds),
        );
    }
    response
}

/// One download: what is left to send of the shared document, in
/// [`PLAN_CHUNK`] slices (`Content-Length` is known), holding a download
/// slot until it is sent or the client goes.
struct PlanBody {
    rest: Bytes,
    _download: OwnedSemaphorePermit,
}

impl hyper::body::Body for PlanBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let body = self.get_mut();
        if body.rest.is_empty() {
            return Poll::Ready(None);
        }
        let slice = body.rest.split_to(body.rest.len().min(PLAN_CHUNK));
        Poll::Ready(Some(Ok(Frame::data(slice))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}

/// `/plan`: the text plan, as `groupsync plan` prints it.
pub async fn plan_text_endpoint(
    State(plan): State<Arc<CurrentPlan>>,
    State(access): State<Arc<PlanAccess>>,
    headers: HeaderMap,
) -> Response {
    match access.refusal(&headers) {
        None => plan.respond(plan.text(), PLAN_TEXT_CONTENT_TYPE),
        Some(refusal) => refusal,
    }
}

/// `/plan.json`: the plan, as `groupsync plan --format json` prints it.
pub async fn plan_json_endpoint(
    State(plan): State<Arc<CurrentPlan>>,
    State(access): State<Arc<PlanAccess>>,
    headers: HeaderMap,
) -> Response {
    match access.refusal(&headers) {
        None => plan.respond(plan.json(), "application/json"),
        Some(refusal) => refusal,
    }
}

#[cfg(test)]
mod tests {
    use hyper::body::Body as _;

    use super::*;

    fn open() -> State<Arc<PlanAccess>> {
        State(Arc::new(PlanAccess::Loopback))
    }

    async fn answer(response: Response) -> (u16, String, String) {
        let status = response.status().as_u16();
        let content_type = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    async fn text(plan: &Arc<CurrentPlan>) -> Response {
        plan_text_endpoint(State(plan.clone()), open(), HeaderMap::new()).await
    }

    async fn json(plan: &Arc<CurrentPlan>) -> Response {
        plan_json_endpoint(State(plan.clone()), open(), HeaderMap::new()).await
    }

    #[tokio::test]
    async fn plan_endpoints_serve_the_published_plan_or_say_why_there_is_none() {
        let plan = Arc::new(CurrentPlan::new());
        let (status, _, body) = answer(json(&plan).await).await;
        assert_eq!(
            (status, body.as_str()),
            (503, "no plan yet: the first cycle has not finished\n")
        );

        let text_plan = "No changes. 1 group in sync.\n";
        let json_plan = "{\"changes\": []}\n";
        plan.publish(Bytes::from(text_plan), Bytes::from(json_plan));
        assert_eq!(
            answer(text(&plan).await).await,
            (
                200,
                PLAN_TEXT_CONTENT_TYPE.to_string(),
                text_plan.to_string()
            )
        );
        assert_eq!(
            answer(json(&plan).await).await,
            (200, "application/json".to_string(), json_plan.to_string())
        );

        plan.withdraw("the desired state is invalid".to_string());
        let (status, _, body) = answer(text(&plan).await).await;
        assert_eq!(
            (status, body.as_str()),
            (503, "the desired state is invalid\n")
        );
    }

    #[tokio::test]
    async fn a_download_streams_slices_of_the_one_copy_and_says_its_length() {
        let plan = Arc::new(CurrentPlan::new());
        let document: String = (0..3 * PLAN_CHUNK + 5)
            .map(|index| char::from(b'a' + (index % 26) as u8))
            .collect();
        plan.publish(Bytes::from(document.clone()), Bytes::from_static(b"{}"));
        let published = plan.text().unwrap();
        let response = text(&plan).await;
        assert_eq!(
            hyper::body::Body::size_hint(response.body()).exact(),
            Some(document.len() as u64)
        );
        let mut body = response.into_body();
        let mut slices = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            slices.push(frame.unwrap().into_data().unwrap());
        }
        let lengths: Vec<usize> = slices.iter().map(Bytes::len).collect();
        assert_eq!(lengths, [PLAN_CHUNK, PLAN_CHUNK, PLAN_CHUNK, 5]);
        // Slices of the published copy, not copies of it.
        assert_eq!(slices[0].as_ptr(), published.as_ptr());
        assert_eq!(slices.concat(), document.as_bytes());
    }

    #[tokio::test]
    async fn downloads_past_the_cap_are_told_to_come_back_and_a_finished_one_frees_its_slot() {
        let plan = Arc::new(CurrentPlan::new());
        plan.publish(Bytes::from_static(b"plan\n"), Bytes::from_static(b"{}"));
        let mut running = Vec::new();
        for _ in 0..MAX_PLAN_DOWNLOADS {
            let response = json(&plan).await;
            assert_eq!(response.status(), StatusCode::OK);
            running.push(response);
        }
        let busy = text(&plan).await;
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
        let (status, _, body) = answer(busy).await;
        assert_eq!(status, 503);
        assert!(
            body.contains("plan downloads are running already"),
            "{body}"
        );

        let (status, _, body) = answer(running.pop().unwrap()).await;
        assert_eq!((status, body.as_str()), (200, "{}"));
        assert_eq!(text(&plan).await.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn the_plan_is_refused_before_anything_else_is_said() {
        let plan = Arc::new(CurrentPlan::new());
        let refused = State(Arc::new(PlanAccess::Refused));
        let answer = plan_text_endpoint(State(plan), refused, HeaderMap::new()).await;
        assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn why_there_is_no_plan_is_typed() {
        let plan = CurrentPlan::new();
        assert_eq!(plan.text(), Err(NoPlan::NotYet));
        plan.withdraw("no plan: the last cycle failed: the pod is down".to_string());
        assert_eq!(
            plan.json().unwrap_err().to_string(),
            "no plan: the last cycle failed: the pod is down"
        );
        plan.publish(Bytes::from_static(b"text\n"), Bytes::from_static(b"{}\n"));
        assert_eq!(plan.text().as_deref(), Ok(&b"text\n"[..]));
    }
}
