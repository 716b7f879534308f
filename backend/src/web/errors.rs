//! The dashboard's refusals as typed JSON: every refused `/api/` request answers an
//! [`ApiError`] (its kind and what is wrong) with the status its kind calls for. Endpoints build
//! theirs with [`refuse`]; [`typed`] wraps what axum's extractors and the outer checks answer in
//! plain text, so the web UI reads one shape whatever refused the request.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shared::api_calls::{ApiError, ApiErrorKind};

/// The most of a plain-text refusal [`typed`] reads into its message.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// A refusal of `kind` saying `message`, with the status its kind calls for.
pub(super) fn refuse(kind: ApiErrorKind, message: impl Into<String>) -> Response {
    answer(&ApiError::new(kind, message))
}

/// `error`, with the status its kind calls for.
pub(super) fn answer(error: &ApiError) -> Response {
    let status =
        StatusCode::from_u16(error.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(error)).into_response()
}

/// Middleware: a refused `/api/` request whose answer is not JSON yet (an extractor's rejection,
/// the security or body checks) gets its text wrapped in an [`ApiError`] of the kind its status
/// says; the status and the other headers stay.
pub(super) async fn typed(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let status = response.status();
    if !api || !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let message = match axum::body::to_bytes(body, MAX_MESSAGE_BYTES).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => status.canonical_reason().unwrap_or("refused").to_string(),
    };
    let error = ApiError::new(ApiErrorKind::of_status(status.as_u16()), message);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = serde_json::to_vec(&error).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(body))
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refusal_answers_its_kind_at_its_status() {
        let response = refuse(ApiErrorKind::NeedsConfirmation, "warning: busy");
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let bytes = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .expect("body");
        let error: ApiError = serde_json::from_slice(&bytes).expect("typed");
        assert!(error.needs_confirmation());
        assert_eq!(error.message, "warning: busy");
    }
}
