//! `POST /api/rerun {"run": ID, "limits": {"max_p99_ttft_ms": 500}, "force": false}`: starts a
//! finished run again on its own folder at other SLA limits, from the config it kept
//! (`config.yaml`, secrets redacted; a dashboard-started run's `.dashboard/ID.yaml`). It is a
//! resume: every recorded trial is reused and re-judged at the new limits, and only what the new
//! limits make the search ask for is measured. Every part of the request is checked: the run name
//! and folder are confined to the root, each limit must be an SLA key with a positive number, and
//! the rest of the config is the run's own, checked as `/api/start` checks a config.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use shared::api_calls::{ApiError, ApiErrorKind, RerunRequest, StartRequest};
use shared::run_dir::RunDir;
use shared::sla::{MeasureFrom, parse_limit_key};

use super::api::{AppState, start_run};

/// Starts the run again at the new limits; the run's id, or why not.
pub(super) async fn rerun(
    State(state): State<Arc<AppState>>,
    Json(body): Json<RerunRequest>,
) -> Response {
    match config_at(&state, &body) {
        Ok(yaml) => start_run(
            &state,
            &StartRequest {
                name: body.run.clone(),
                yaml,
                force: body.force,
            },
        ),
        Err(error) => super::errors::answer(&error),
    }
}

/// The run's kept config with `benchmark.sla` set to the new limits.
fn config_at(state: &AppState, body: &RerunRequest) -> Result<String, ApiError> {
    let bad = |why: String| ApiError::new(ApiErrorKind::BadRequest, why);
    super::runner::check_name(&body.run).map_err(|e| bad(e.to_string()))?;
    if body.limits.is_empty() {
        return Err(bad("no limit to change".into()));
    }
    for (key, value) in &body.limits {
        if !(value.is_finite() && *value > 0.0) {
            return Err(bad(format!("{key} must be a positive number, got {value}")));
        }
        parse_limit_key(key, *value, MeasureFrom::Scheduled).map_err(|e| bad(e.to_string()))?;
    }
    let dir = super::runs::confined(&state.root, &body.run).map_err(|e| bad(e.to_string()))?;
    let kept = [
        RunDir::new(&dir).config(),
        state
            .root
            .join(".dashboard")
            .join(format!("{}.yaml", body.run)),
    ];
    let text = kept
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .ok_or_else(|| {
            ApiError::new(
                ApiErrorKind::NotFound,
                format!(
                    "{} kept no config to run again (an older autobench wrote it): run it again from its config with the new limits and the same output_dir",
                    body.run
                ),
            )
        })?;
    let mut doc: serde_norway::Value =
        serde_norway::from_str(&text).map_err(|e| bad(format!("its config.yaml: {e}")))?;
    let sla = doc
        .as_mapping_mut()
        .map(|top| {
            top.entry("benchmark".into())
                .or_insert_with(|| serde_norway::Value::Mapping(Default::default()))
        })
        .and_then(serde_norway::Value::as_mapping_mut)
        .map(|benchmark| {
            benchmark
                .entry("sla".into())
                .or_insert_with(|| serde_norway::Value::Mapping(Default::default()))
        })
        .and_then(serde_norway::Value::as_mapping_mut)
        .ok_or_else(|| bad("its config has no benchmark map to set limits in".into()))?;
    for (key, value) in &body.limits {
        sla.insert(key.as_str().into(), (*value).into());
    }
    serde_norway::to_string(&doc).map_err(|e| bad(format!("cannot write the config: {e}")))
}
