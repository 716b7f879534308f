//! The dashboard's connections, with deadlines so that a client that sends slowly or stops
//! halfway cannot hold a connection (and its task) for good: hyper closes a connection whose
//! request head has not arrived [`HEADER_READ_TIMEOUT`] after it began (which also closes idle
//! keep-alive connections), and [`read_body`] answers 408 and closes the connection when a
//! request's body has not all arrived [`BODY_READ_TIMEOUT`] after its head.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::Listener;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;

/// How long a client has to send a request's head (request line and headers).
pub(super) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a client has to send a request's whole body, from the end of its head. The
/// dashboard's bodies are configs of a few kilobytes.
pub(super) const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest request body read (axum's own default limit for its extractors).
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Serves `app` on every connection `listener` accepts, over HTTP/1, until the task is dropped.
pub(super) async fn serve(mut listener: tokio::net::TcpListener, app: Router) {
    loop {
        // axum's accept retries (and waits out) accept errors such as too many open files.
        let (stream, _) = Listener::accept(&mut listener).await;
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            // An error here is one connection's (a timeout, a reset): nothing to report.
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Middleware: reads the request's body within [`BODY_READ_TIMEOUT`] (408, and the connection
/// closed, when it does not come) and at most [`MAX_BODY_BYTES`] of it (413), then runs the
/// handler on it.
pub(super) async fn read_body(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
        );
    }
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(
        BODY_READ_TIMEOUT,
        axum::body::to_bytes(body, MAX_BODY_BYTES),
    );
    match read.await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(error)) => refuse(
            StatusCode::BAD_REQUEST,
            format!("cannot read the request body (at most {MAX_BODY_BYTES} bytes): {error}"),
        ),
        Err(_) => refuse(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s",
                BODY_READ_TIMEOUT.as_secs()
            ),
        ),
    }
}

/// A refusal that closes the connection: the rest of the body is never read.
fn refuse(status: StatusCode, message: String) -> Response {
    (status, [(header::CONNECTION, "close")], message).into_response()
}
