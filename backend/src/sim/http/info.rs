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
    info["internal_states"] = json!([{"avg_spec_accept_length": null}]);
    Json(info)
}
