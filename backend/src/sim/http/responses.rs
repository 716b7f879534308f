//! Answers paced by the GPU model's engine: an SSE stream with a chunk per generated token, or
//! the whole JSON answer once generation ends; and the SSE response shape shared by every mode.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::mpsc;

use super::chunks::{Chunks, sse};
use super::request::Api;

/// Streams a chunk per token count that `tokens` brings, then the usage chunk when asked
/// for, and `[DONE]`.
pub(super) fn streaming_response(
    chunks: Chunks,
    mut tokens: mpsc::UnboundedReceiver<u64>,
    usage: bool,
) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        let mut previous = 0;
        loop {
            // A client that went away while its request waits for its first token is noticed
            // here, not at the next token: dropping `tokens` tells the engine to drop the request
            // from its queue, as SGLang's and vLLM's servers abort a request on disconnect.
            let generated = tokio::select! {
                generated = tokens.recv() => generated,
                () = tx.closed() => return,
            };
            let Some(generated) = generated else { break };
            if tx
                .send(Ok(sse(&chunks.chunk(previous, generated))))
                .await
                .is_err()
            {
                return;
            }
            previous = generated;
        }
        if usage && chunks.api != Api::Native {
            let final_usage = json!({"id": chunks.id, "object": "chunk", "model": chunks.model, "choices": [], "usage": chunks.usage(previous)});
            let _ = tx.send(Ok(sse(&final_usage))).await;
        }
        let _ = tx.send(Ok(Bytes::from_static(b"data: [DONE]\n\n"))).await;
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    sse_response(Body::from_stream(stream))
}

/// A `text/event-stream` response with `body`.
pub(super) fn sse_response(body: Body) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The whole answer, once the engine has generated every token.
pub(super) async fn whole_response(
    chunks: Chunks,
    mut tokens: mpsc::UnboundedReceiver<u64>,
) -> Response {
    let mut generated = 0;
    while let Some(count) = tokens.recv().await {
        generated = count;
    }
    Json(chunks.whole(generated)).into_response()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A request still queued (no token yet) whose client went away: the answer's body is
    /// dropped, and the engine must see its token channel close at once, not at a first token
    /// that a long queue may take a minute to reach (300 abandoned 2,048-token requests held
    /// the next request back 62 s before this; 0.2 s after).
    #[tokio::test(start_paused = true)]
    async fn a_client_gone_before_its_first_token_closes_the_engines_channel() {
        let (engine_side, tokens) = mpsc::unbounded_channel::<u64>();
        let chunks = Chunks {
            api: Api::Completions,
            model: "m".into(),
            prompt: 2048,
            output: 64,
            id: "cmpl-1".into(),
        };
        let response = streaming_response(chunks, tokens, false);
        assert!(!engine_side.is_closed());
        drop(response);
        tokio::time::timeout(Duration::from_secs(1), engine_side.closed())
            .await
            .expect("the engine's channel closes when the client goes away");
    }
}
