//! `run_meta.json`: what the results in an output directory were measured with, so a resumed run
//! with a changed config or dataset is refused instead of silently mixing results.

use anyhow::Context;
use serde_json::{Value, json};

use shared::redact::{REDACTED, is_secret_env};
use shared::run_dir::RunDir;
use shared::run_meta::RunMeta;

use crate::config::RunConfig;

/// The settings that change measured numbers (the SLA and the search breadth do not: verdicts are
/// re-judged on load, and new candidates simply add trials).
pub(crate) fn measurement_settings(cfg: &RunConfig) -> Value {
    let env: serde_json::Map<String, Value> = cfg
        .server
        .env
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                json!(if is_secret_env(k) {
                    REDACTED
                } else {
                    v.as_str()
                }),
            )
        })
        .collect();
    json!({
        "server": {"framework": cfg.server.framework, "command": cfg.server.command_display, "env": env,
                   "extra_args": cfg.server.extra_args, "launch": cfg.server.launch},
        "dataset": cfg.dataset,
        "scenarios": cfg.scenarios,
        "benchmark": {"backend": cfg.benchmark.backend, "tokenizer": cfg.benchmark.tokenizer, "model": cfg.benchmark.model,
                      "seed": cfg.benchmark.seed, "warmup_requests": cfg.benchmark.warmup_requests,
                      "extra_request_body": cfg.benchmark.extra_request_body, "disable_stream": cfg.benchmark.disable_stream,
                      "disable_ignore_eos": cfg.benchmark.disable_ignore_eos, "base_url": cfg.benchmark.base_url, "arrival": cfg.benchmark.arrival, "burstiness": cfg.benchmark.burstiness},
    })
}

/// Loads `run_meta.json`, if any.
pub(crate) fn load(run_dir: &RunDir) -> anyhow::Result<Option<RunMeta>> {
    let path = run_dir.meta();
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!("{} is not a valid run_meta.json", path.display())
        })?)),
        Err(_) => Ok(None),
    }
}

/// Writes `run_meta.json`.
pub(crate) fn save(run_dir: &RunDir, meta: &RunMeta) -> anyhow::Result<()> {
    crate::results::write_atomic(
        &run_dir.meta(),
        serde_json::to_string_pretty(meta)?.as_bytes(),
    )
}
