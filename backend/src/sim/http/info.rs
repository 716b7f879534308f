//! The informational endpoints of SGLang's API: `/v1/models`, `/get_model_info` and
//! `/server_info`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::SimState;

pub(super) async fn models(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(
        json!({"object": "list", "data": [{"id": state.served_name, "object": "model", "owned_by": "sglang", "root": state.model_path}]}),
    )
}

pub(super) async fn model_info(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(
        json!({"model_path": state.model_path, "tokenizer_path": state.model_path, "is_generation": true}),
    )
}

pub(super) async fn server_info(State(state): State<Arc<SimState>>) -> Json<Value> {
    let mut info = state.flags.clone();
    info["version"] = json!(concat!("autobench-sim ", env!("CARGO_PKG_VERSION")));
    let accept = state.accept.as_ref().and_then(|a| a.average());
    info["internal_states"] = json!([{"avg_spec_accept_length": accept}]);
    Json(info)
}

/// vLLM's Prometheus text: its speculative-decoding counters (drafts, accepted draft tokens) when
/// the server runs speculative decoding, and a request counter either way.
pub(super) async fn vllm_metrics(State(state): State<Arc<SimState>>) -> String {
    let model = &state.served_name;
    let served = state.served.load(std::sync::atomic::Ordering::Relaxed);
    let mut text = format!(
        "# TYPE vllm:request_success_total counter\nvllm:request_success_total{{model_name=\"{model}\"}} {served}\n"
    );
    if let Some(accept) = &state.accept {
        let (drafts, accepted) = accept.vllm_counters();
        text.push_str(&format!(
            "# TYPE vllm:spec_decode_num_drafts_total counter\nvllm:spec_decode_num_drafts_total{{model_name=\"{model}\"}} {drafts}\n# TYPE vllm:spec_decode_num_accepted_tokens_total counter\nvllm:spec_decode_num_accepted_tokens_total{{model_name=\"{model}\"}} {accepted}\n"
        ));
    }
    text
}
