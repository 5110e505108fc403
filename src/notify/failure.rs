//! Why one attempt to deliver a message did not ([`DeliveryError`]): the
//! answer's status, the reason, and whether another attempt may do.

use std::time::Duration;

use crate::pod::agent::AgentError;

/// Why one attempt did not deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryError {
    /// The answer's status, `None` when nothing answered.
    pub status: Option<u16>,
    pub message: String,
    /// 429, 5xx, no answer: another attempt may do.
    pub retryable: bool,
    pub retry_after: Option<Duration>,
}

impl DeliveryError {
    /// An answer with an error `status`.
    pub fn status(status: u16, message: String, retry_after: Option<Duration>) -> DeliveryError {
        DeliveryError {
            status: Some(status),
            message,
            retryable: status == 429 || status >= 500,
            retry_after,
        }
    }

    /// No answer from `url`: connection refused, timed out, broken.
    pub fn no_answer(url: &str, error: &reqwest::Error) -> DeliveryError {
        let what = if error.is_timeout() {
            "no answer in time"
        } else if error.is_connect() {
            "cannot connect"
        } else {
            "the connection failed"
        };
        DeliveryError {
            status: None,
            message: format!("POST {url}: {what}"),
            retryable: true,
            retry_after: None,
        }
    }

    /// A failure no attempt can mend (a room that cannot be found, a setup error).
    pub fn final_error(message: String) -> DeliveryError {
        DeliveryError {
            status: None,
            message,
            retryable: false,
            retry_after: None,
        }
    }
}

impl From<AgentError> for DeliveryError {
    fn from(error: AgentError) -> DeliveryError {
        DeliveryError {
            status: error.status(),
            retryable: error.is_retryable(),
            retry_after: error.retry_after(),
            message: error.to_string(),
        }
    }
}
