//! `run_meta.json`: what the results in an output directory were measured with, so a resumed run
//! with a changed config or dataset is refused instead of silently mixing results.

use std::path::Path;

use anyhow::Context;
use serde_json::{Value, json};

use shared::redact::{REDACTED, is_secret_env};

use crate::config::RunConfig;

/// The settings that change measured numbers (the SLA and the search breadth do not: verdicts are
/// re-judged on load, and new candidates simply add trials).
pub fn measurement_settings(cfg: &RunConfig) -> Value {
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

/// Compares the stored settings with the current ones; returns the differing top-level keys.
pub fn changed_keys(stored: &Value, current: &Value) -> Vec<String> {
    let mut changed = Vec::new();
    if let (Some(a), Some(b)) = (stored.as_object(), current.as_object()) {
        for (section, value) in b {
            match (a.get(section), value) {
                (Some(Value::Object(old)), Value::Object(new)) => {
                    for (key, v) in new {
                        if old.get(key) != Some(v) {
                            changed.push(format!("{section}.{key}"));
                        }
                    }
                }
                (old, new) if old != Some(new) => changed.push(section.clone()),
                _ => {}
            }
        }
    }
    changed
}

/// Loads `run_meta.json`, if any.
pub fn load(dir: &Path) -> anyhow::Result<Option<Value>> {
    let path = dir.join("run_meta.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            Ok(Some(serde_json::from_str(&text).with_context(|| {
                format!("{} is not valid JSON", path.display())
            })?))
        }
        Err(_) => Ok(None),
    }
}

/// Writes `run_meta.json`.
pub fn save(dir: &Path, meta: &Value) -> anyhow::Result<()> {
    crate::results::write_atomic(
        &dir.join("run_meta.json"),
        serde_json::to_string_pretty(meta)?.as_bytes(),
    )
}
