//! The generation endpoints (`/generate`, `/v1/completions`, `/v1/chat/completions`): each
//! request is checked, counted and answered from a fixed-latency plan or from a replica of the
//! GPU model's engine, streamed or whole; every Nth may fail with a simulated out-of-memory, and
//! the process may crash after N requests.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::SimState;
use super::chunks::Chunks;
use super::fixed_plan::FixedPlan;
use super::request::{Api, max_tokens, prompt_tokens, unexpected_fields};
use super::responses::{sse_response, streaming_response, whole_response};
use crate::sim::engine::SimRequest;

/// When the kernel received a request, where the server read it with receive timestamps
/// ([`crate::sim::fixed_server`]): a fixed-latency stream's TTFT counts from there.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestArrival(pub Instant);

type Arrival = Option<Extension<RequestArrival>>;

pub(super) async fn generate(
    State(state): State<Arc<SimState>>,
    arrival: Arrival,
    body: Bytes,
) -> Response {
    serve(state, Api::Native, body, arrival).await
}

pub(super) async fn completions(
    State(state): State<Arc<SimState>>,
    arrival: Arrival,
    body: Bytes,
) -> Response {
    serve(state, Api::Completions, body, arrival).await
}

pub(super) async fn chat(
    State(state): State<Arc<SimState>>,
    arrival: Arrival,
    body: Bytes,
) -> Response {
    serve(state, Api::Chat, body, arrival).await
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"object": "error", "message": message, "code": 400})),
    )
        .into_response()
}

async fn serve(state: Arc<SimState>, api: Api, body: Bytes, arrival: Arrival) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("request body is not valid JSON");
    };
    if state.strict_openai
        && let Some(unexpected) = unexpected_fields(&body)
    {
        let detail = format!("Unexpected fields in the request: {{{unexpected}}}");
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "detail": detail })),
        )
            .into_response();
    }
    let prompt = match prompt_tokens(&state, api, &body) {
        Ok(tokens) => tokens,
        Err(message) => return bad_request(&message),
    };
    let nth = state.served.fetch_add(1, Ordering::Relaxed) as u64 + 1;
    if state.crash_after_requests.is_some_and(|after| nth > after) {
        crash(nth);
    }
    if state
        .runtime_oom_every
        .is_some_and(|every| every > 0 && nth.is_multiple_of(every))
    {
        return runtime_oom(prompt);
    }
    let output = max_tokens(api, &body);
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let usage = !state.strict_openai
        && body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    let chunks = Chunks {
        api,
        model: state.served_name.clone(),
        prompt,
        output,
        id: request_id(),
    };
    if let Some((ttft, itl)) = state.fixed {
        let start = arrival.map_or_else(Instant::now, |Extension(RequestArrival(at))| at);
        let plan = Arc::new(FixedPlan::new(chunks, start, ttft, itl, usage));
        if !stream {
            // The whole answer when its last token is due.
            crate::timer::sleep_until(plan.due(plan.len().saturating_sub(1))).await;
            return Json(plan.chunks.whole(output)).into_response();
        }
        let mut response = sse_response(Arc::clone(&plan).into_body());
        response.extensions_mut().insert(plan);
        return response;
    }
    let tokens = start_generation(&state, prompt, output);
    if stream {
        streaming_response(chunks, tokens, usage)
    } else {
        whole_response(chunks, tokens).await
    }
}

#[expect(
    clippy::print_stderr,
    reason = "the simulated server logs to stderr like a real one"
)]
fn runtime_oom(prompt: u64) -> Response {
    eprintln!(
        "[sim] ERROR - Error in generation loop: CUDA out of memory. Tried to allocate 7.58 GiB (prompt of {prompt} tokens)\ntorch.OutOfMemoryError: CUDA out of memory."
    );
    let chunk = json!({"error": {"message": "CUDA out of memory", "type": "internal_error"}});
    sse_response(Body::from(format!("data: {chunk}\n\ndata: [DONE]\n\n")))
}

/// `--sim-crash-after-requests`: the process dies mid-run, as a real server can (a segfault in a
/// kernel, a NCCL abort): every connection is cut and the log ends with the fatal error.
#[expect(
    clippy::print_stderr,
    reason = "the simulated server logs to stderr like a real one"
)]
fn crash(nth: u64) -> ! {
    eprintln!(
        "[sim] Fatal Python error: Segmentation fault (simulated crash at generation request {nth})"
    );
    std::process::exit(139);
}

fn start_generation(
    state: &SimState,
    prompt_tokens: u64,
    output_tokens: u64,
) -> mpsc::UnboundedReceiver<u64> {
    let (tx, rx) = mpsc::unbounded_channel();
    let index = state.next_replica.fetch_add(1, Ordering::Relaxed) % state.replicas.len().max(1);
    if let Some(replica) = state.replicas.get(index) {
        let _ = replica.send(SimRequest {
            prompt_tokens,
            output_tokens,
            tokens: tx,
        });
    }
    rx
}

fn request_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}")
}
