//! The daemon's current plan ([`CurrentPlan`]), as `/plan` (text) and
//! `/plan.json` serve it: published after every cycle that planned,
//! withdrawn with the reason ([`NoPlan`]) after one that could not.

use std::sync::{Arc, RwLock};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The content type of `/plan`: the text plan, as `groupsync plan` prints it.
pub const PLAN_TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// The daemon's current plan, as `/plan` (text) and `/plan.json` serve it:
/// published after every cycle that planned, withdrawn (with the reason)
/// after one that could not.
#[derive(Debug)]
pub struct CurrentPlan {
    slot: RwLock<Result<PlanDocuments, NoPlan>>,
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

/// One plan, rendered once for both endpoints.
#[derive(Debug, Clone)]
struct PlanDocuments {
    text: String,
    json: String,
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
        }
    }

    /// `text` as `groupsync plan` prints it (no colour), `json` as with `--format json`.
    pub fn publish(&self, text: String, json: String) {
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

    fn documents(&self) -> Result<PlanDocuments, NoPlan> {
        self.slot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The text plan, or why there is none.
    pub fn text(&self) -> Result<String, NoPlan> {
        self.documents().map(|documents| documents.text)
    }

    /// The JSON plan, or why there is none.
    pub fn json(&self) -> Result<String, NoPlan> {
        self.documents().map(|documents| documents.json)
    }
}

/// `/plan`: the text plan, as `groupsync plan` prints it.
pub async fn plan_text_endpoint(State(plan): State<Arc<CurrentPlan>>) -> Response {
    plan_response(plan.text(), PLAN_TEXT_CONTENT_TYPE)
}

/// `/plan.json`: the plan, as `groupsync plan --format json` prints it.
pub async fn plan_json_endpoint(State(plan): State<Arc<CurrentPlan>>) -> Response {
    plan_response(plan.json(), "application/json")
}

/// 200 with the plan, or 503 with why there is none (as text).
fn plan_response(plan: Result<String, NoPlan>, content_type: &'static str) -> Response {
    match plan {
        Ok(body) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(reason) => {
            let headers = [(header::CONTENT_TYPE, PLAN_TEXT_CONTENT_TYPE)];
            (
                StatusCode::SERVICE_UNAVAILABLE,
                headers,
                format!("{reason}\n"),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plan_endpoints_serve_the_published_plan_or_say_why_there_is_none() {
        let plan = Arc::new(CurrentPlan::new());
        let answer = |response: Response| async move {
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
        };
        let (status, _, body) = answer(plan_json_endpoint(State(plan.clone())).await).await;
        assert_eq!(
            (status, body.as_str()),
            (503, "no plan yet: the first cycle has not finished\n")
        );

        let text = "No changes. 1 group in sync.\n";
        let json = "{\"changes\": []}\n";
        plan.publish(text.to_string(), json.to_string());
        assert_eq!(
            answer(plan_text_endpoint(State(plan.clone())).await).await,
            (200, PLAN_TEXT_CONTENT_TYPE.to_string(), text.to_string())
        );
        assert_eq!(
            answer(plan_json_endpoint(State(plan.clone())).await).await,
            (200, "application/json".to_string(), json.to_string())
        );

        plan.withdraw("the desired state is invalid".to_string());
        let (status, _, body) = answer(plan_text_endpoint(State(plan)).await).await;
        assert_eq!(
            (status, body.as_str()),
            (503, "the desired state is invalid\n")
        );
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
        plan.publish("text\n".to_string(), "{}\n".to_string());
        assert_eq!(plan.text().as_deref(), Ok("text\n"));
    }
}
