//! One pod request as the client describes it (`Call`): verb, path, metric
//! template, query and body, sent again unchanged on every attempt.

use reqwest::Method;
use serde::Serialize;

use crate::error::PodError;

/// One HTTP verb the client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verb {
    Get,
    Put,
    Post,
}

impl Verb {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Put => "PUT",
            Verb::Post => "POST",
        }
    }

    pub(super) fn method(self) -> Method {
        match self {
            Verb::Get => Method::GET,
            Verb::Put => Method::PUT,
            Verb::Post => Method::POST,
        }
    }
}

/// One pod request, as sent again on every attempt.
#[derive(Clone)]
pub(super) struct Call {
    pub(super) verb: Verb,
    /// The concrete path under the pod URL, ids percent-encoded.
    pub(super) path: String,
    pub(super) template: &'static str,
    pub(super) query: Vec<(&'static str, String)>,
    pub(super) body: Option<Vec<u8>>,
    /// False for a request that must not be repeated when it may have been acted on.
    pub(super) idempotent: bool,
}

impl Call {
    pub(super) fn new(verb: Verb, path: String, template: &'static str) -> Call {
        Call {
            verb,
            path,
            template,
            query: Vec::new(),
            body: None,
            idempotent: verb != Verb::Post,
        }
    }

    pub(super) fn with_json(mut self, body: &impl Serialize) -> Call {
        // The model types serialize infallibly (plain strings and booleans).
        self.body = Some(serde_json::to_vec(body).expect("model types serialize to JSON"));
        self
    }

    pub(super) fn decode_error(&self, reason: impl Into<String>) -> PodError {
        PodError::Decode {
            method: self.verb.as_str(),
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    pub(super) fn over_limit(&self, what: String) -> PodError {
        PodError::OverLimit {
            method: self.verb.as_str(),
            path: self.path.clone(),
            what,
        }
    }
}
