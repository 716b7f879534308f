//! The dashboard's requests and answers that are not views of a run ([`crate::api`] holds those):
//! the bodies the web UI POSTs, what each endpoint answers, and the error body every `/api/`
//! endpoint answers with when it refuses. The backend builds and reads these, the web UI and the
//! e2e tests read and build them, so both sides agree at compile time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `POST /api/validate`: config text to check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidateRequest {
    /// The config, as YAML text.
    pub yaml: String,
}

/// `POST /api/start`: run this config into `ROOT/name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartRequest {
    /// The run's folder name under the results root.
    pub name: String,
    /// The config, as YAML text.
    pub yaml: String,
    /// Start even though other runs are running (the user read the warning).
    #[serde(default)]
    pub force: bool,
}

/// `POST /api/rerun`: start a finished run again on its own folder at other SLA limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RerunRequest {
    /// The run's id.
    pub run: String,
    /// The new limits by SLA key (`max_p99_ttft_ms`: 500).
    pub limits: BTreeMap<String, f64>,
    /// Start even though other runs are running (the user read the warning).
    #[serde(default)]
    pub force: bool,
}

/// `POST /api/stop`: interrupt a run started from this dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopRequest {
    /// The run's id.
    pub run: String,
}

/// The answer to `POST /api/start` and `POST /api/rerun`: the run that started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    /// Its id (the page to follow it is `#/run/ID`).
    pub run: String,
}

/// The answer to `POST /api/stop`: the run being stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stopping {
    /// Its id.
    pub stopping: String,
}

/// What kind of refusal an [`ApiError`] is; the web UI acts on this, never on the words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiErrorKind {
    /// The request itself is wrong (a bad name, a config with errors, a bad parameter).
    BadRequest,
    /// No token, or the wrong one, for a dashboard that needs one.
    Unauthorized,
    /// A path outside the results root, or a request from another site.
    Forbidden,
    /// Nothing there (no such run, scenario, file or running run).
    NotFound,
    /// The request body did not arrive in time.
    Timeout,
    /// It clashes with what is going on (that folder already has a run going).
    Conflict,
    /// It may spoil results (other runs share the GPUs): the same request with `force: true`
    /// goes ahead once the user agreed.
    NeedsConfirmation,
    /// The request body is larger than the dashboard takes.
    TooLarge,
    /// Something failed on the dashboard's side.
    Internal,
}

impl ApiErrorKind {
    /// The HTTP status it is answered with.
    pub fn status(self) -> u16 {
        match self {
            ApiErrorKind::BadRequest => 400,
            ApiErrorKind::Unauthorized => 401,
            ApiErrorKind::Forbidden => 403,
            ApiErrorKind::NotFound => 404,
            ApiErrorKind::Timeout => 408,
            ApiErrorKind::Conflict | ApiErrorKind::NeedsConfirmation => 409,
            ApiErrorKind::TooLarge => 413,
            ApiErrorKind::Internal => 500,
        }
    }

    /// The kind of a refusal known only by its HTTP status (one the framework answered before
    /// an endpoint ran); a 409 is a [`ApiErrorKind::Conflict`].
    pub fn of_status(status: u16) -> ApiErrorKind {
        match status {
            401 => ApiErrorKind::Unauthorized,
            403 => ApiErrorKind::Forbidden,
            404 => ApiErrorKind::NotFound,
            408 => ApiErrorKind::Timeout,
            409 => ApiErrorKind::Conflict,
            413 => ApiErrorKind::TooLarge,
            400..=499 => ApiErrorKind::BadRequest,
            _ => ApiErrorKind::Internal,
        }
    }
}

/// The body of every refused `/api/` request: its kind and what is wrong, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// What kind of refusal.
    pub kind: ApiErrorKind,
    /// What is wrong, for people.
    pub message: String,
}

impl ApiError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ApiErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    /// Whether the same request with `force: true` would go ahead once the user agrees.
    pub fn needs_confirmation(&self) -> bool {
        self.kind == ApiErrorKind::NeedsConfirmation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_its_kind_and_its_words() {
        let error = ApiError::new(ApiErrorKind::NeedsConfirmation, "warning: another run");
        let text = serde_json::to_string(&error).expect("json");
        assert_eq!(
            text,
            r#"{"kind":"needs_confirmation","message":"warning: another run"}"#
        );
        let back: ApiError = serde_json::from_str(&text).expect("parse");
        assert!(back.needs_confirmation());
        assert_eq!(back.to_string(), "warning: another run");
    }

    #[test]
    fn every_kind_keeps_its_status() {
        for kind in [
            ApiErrorKind::BadRequest,
            ApiErrorKind::Unauthorized,
            ApiErrorKind::Forbidden,
            ApiErrorKind::NotFound,
            ApiErrorKind::Timeout,
            ApiErrorKind::Conflict,
            ApiErrorKind::TooLarge,
            ApiErrorKind::Internal,
        ] {
            assert_eq!(ApiErrorKind::of_status(kind.status()), kind, "{kind:?}");
        }
        assert_eq!(ApiErrorKind::NeedsConfirmation.status(), 409);
        assert_eq!(ApiErrorKind::of_status(422), ApiErrorKind::BadRequest);
        assert_eq!(ApiErrorKind::of_status(503), ApiErrorKind::Internal);
    }

    #[test]
    fn requests_keep_their_field_names() {
        let start: StartRequest =
            serde_json::from_str(r#"{"name": "quick", "yaml": "a: 1"}"#).expect("start");
        assert!(!start.force, "force is optional");
        let rerun: RerunRequest =
            serde_json::from_str(r#"{"run": "quick", "limits": {"max_p99_ttft_ms": 500}}"#)
                .expect("rerun");
        assert_eq!(rerun.limits.get("max_p99_ttft_ms"), Some(&500.0));
        assert_eq!(
            serde_json::to_string(&Stopping {
                stopping: "quick".into()
            })
            .expect("json"),
            r#"{"stopping":"quick"}"#
        );
    }
}
