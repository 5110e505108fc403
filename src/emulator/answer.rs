//! How the emulator answers: JSON bodies, and failures as a status with a
//! `{code, message}` body (an `Allow` header on a 405).

use axum::http::header::ALLOW;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::model::ApiError;

/// A pod call answered with an error status and a `{code, message}` body.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) status: StatusCode,
    message: String,
    /// The `Allow` header of a 405.
    allow: Option<&'static str>,
}

impl Failure {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
            allow: None,
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::BAD_REQUEST, message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::NOT_FOUND, message)
    }

    pub(super) fn method_not_allowed(allow: &'static str) -> Failure {
        let message = format!("method not allowed here; allowed: {allow}");
        Failure {
            allow: Some(allow),
            ..Failure::new(StatusCode::METHOD_NOT_ALLOWED, message)
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = error_response(self.status, self.message);
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

pub(super) fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    (status, axum::Json(body)).into_response()
}

/// `status` with the pod's error body, `{code, message}`.
pub(super) fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    let body = ApiError {
        code: Some(i32::from(status.as_u16())),
        message: Some(message.into()),
    };
    json_response(status, &body)
}
