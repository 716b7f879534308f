//! The simulated server's HTTP API, in SGLang's shapes: `/health`, `/v1/models`,
//! `/get_model_info`, `/server_info`, `/flush_cache`, native `/generate`, and OpenAI
//! `/v1/completions` and `/v1/chat/completions` with SSE streaming and `usage`.
//!
//! This file holds the shared state and the routes. [`info`] answers the informational
//! endpoints, [`generate`] the generation endpoints, reading their bodies with [`request`];
//! [`chunks`] formats the answers, which [`responses`] paces by the GPU model's engine and
//! [`fixed_plan`] by the fixed-latency mode's clock.

mod chunks;
mod fixed_plan;
mod generate;
mod info;
mod request;
mod responses;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::engine::SimRequest;
use generate::{chat, completions, generate};
use info::{model_info, models, server_info};

pub(super) use fixed_plan::FixedPlan;
pub(super) use generate::RequestArrival;

/// Shared server state.
pub(super) struct SimState {
    /// Model path as launched.
    pub model_path: String,
    /// Name served in `/v1/models`.
    pub served_name: String,
    /// Launch flags for `/server_info`.
    pub flags: Value,
    /// One sender per data-parallel replica.
    pub replicas: Vec<mpsc::UnboundedSender<SimRequest>>,
    /// Round-robin cursor.
    pub next_replica: AtomicUsize,
    /// Tokenizer for prompt lengths, when the model folder has one.
    pub tokenizer: Option<tokenizers::Tokenizer>,
    /// Fixed-latency mode: (TTFT, inter-token delay).
    pub fixed: Option<(Duration, Duration)>,
    /// Behave like `transformers serve`: no SGLang endpoints, an empty `/v1/models`, 422 for
    /// unknown request fields, no `usage` while streaming.
    pub strict_openai: bool,
    /// Which server's routes it serves.
    pub api: Surface,
    /// Every Nth generation request fails with a CUDA out-of-memory error (logged, and an error
    /// chunk in the stream), as a real server can OOM mid-run on a long prompt.
    pub runtime_oom_every: Option<u64>,
    /// After this many generation requests, the next one makes the process exit at once (a
    /// crash mid-run: in-flight requests are cut, the log ends with a fatal error).
    pub crash_after_requests: Option<u64>,
    /// Generation requests served so far.
    pub served: AtomicUsize,
    /// What speculative decoding accepted, when the server runs it.
    pub accept: Option<Arc<super::speculation::AcceptStats>>,
}

/// Which server's HTTP surface the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Surface {
    /// SGLang's: `/flush_cache`, `/server_info`, native `/generate`, ...
    Sglang,
    /// `transformers serve`'s (strict OpenAI, empty `/v1/models`).
    Transformers,
    /// vLLM's: OpenAI routes and `POST /reset_prefix_cache`.
    Vllm,
    /// `trtllm-serve`'s: OpenAI routes, `/version`, no cache reset.
    Trtllm,
}

/// The router.
pub(super) fn router(state: Arc<SimState>) -> Router {
    match state.api {
        Surface::Vllm | Surface::Trtllm => return openai_router(state),
        Surface::Sglang | Surface::Transformers => {}
    }
    if state.strict_openai {
        return Router::new()
            .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
            .route(
                "/v1/models",
                get(|| async { Json(json!({"object": "list", "data": []})) }),
            )
            .route("/v1/completions", post(completions))
            .route("/v1/chat/completions", post(chat))
            .with_state(state);
    }
    Router::new()
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/health_generate", get(|| async { StatusCode::OK }))
        .route("/v1/models", get(models))
        .route("/get_model_info", get(model_info))
        .route("/server_info", get(server_info))
        .route("/get_server_info", get(server_info))
        .route(
            "/flush_cache",
            post(|| async { "Cache flushed.\n" }).get(|| async { "Cache flushed.\n" }),
        )
        .route("/generate", post(generate))
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat))
        .with_state(state)
}

/// vLLM's or `trtllm-serve`'s routes: OpenAI, `/health`, `/v1/models`, and the one cache reset
/// vLLM has.
fn openai_router(state: Arc<SimState>) -> Router {
    let router = Router::new()
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/v1/models", get(models))
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat));
    let router = match state.api {
        Surface::Vllm => router
            .route("/reset_prefix_cache", post(|| async { StatusCode::OK }))
            .route("/metrics", get(info::vllm_metrics)),
        _ => router.route(
            "/version",
            get(|| async { Json(json!({"version": "simulated"})) }),
        ),
    };
    router.with_state(state)
}
