//! One trial against a running server: warmup, cache flush, the open-loop load, metrics and the
//! SLA verdict, as a [`TrialRecord`].

use std::sync::Arc;

use serde_json::json;
use sha2::Digest;
use tokio::time::Instant;

use shared::flags::{self, FlagMap};
use shared::record::{SCHEMA_VERSION, TrialRecord};

use crate::cancel::CancelReceiver;
use crate::config::RunConfig;
use crate::loadgen::{self, BodyOptions, LoadSpec, PreparedRequest, Target};

/// The content key of a trial: stage, scenario, flags without host/port, rate (to a millionth of a
/// request/s, so float formatting never matters) and concurrency.
pub fn trial_key(
    stage: &str,
    scenario: &str,
    flags: &FlagMap,
    qps: f64,
    max_concurrency: Option<u64>,
) -> String {
    let mut identity = flags.clone();
    identity.remove("host");
    identity.remove("port");
    let micro = (qps * 1e6).round() as i64;
    let text = json!({"stage": stage, "scenario": scenario, "flags": flags::canonical_json(&identity), "qps_micro": micro, "mc": max_concurrency}).to_string();
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest.iter().take(10).map(|b| format!("{b:02x}")).collect()
}

/// Identity of a trial being run.
pub struct TrialId<'a> {
    /// Stage name.
    pub stage: &'a str,
    /// Scenario display name.
    pub scenario: &'a str,
    /// Scenario slug (part of the key).
    pub scenario_slug: &'a str,
    /// Candidate index.
    pub candidate_id: usize,
    /// Flags as launched.
    pub flags: &'a FlagMap,
    /// Offered rate.
    pub qps: f64,
    /// Concurrency cap.
    pub max_concurrency: Option<u64>,
}

impl TrialId<'_> {
    /// A record with no metrics yet.
    pub fn empty_record(&self) -> TrialRecord {
        TrialRecord {
            schema_version: SCHEMA_VERSION,
            trial_key: trial_key(
                self.stage,
                self.scenario_slug,
                self.flags,
                self.qps,
                self.max_concurrency,
            ),
            stage: self.stage.to_string(),
            scenario: self.scenario.to_string(),
            candidate_id: self.candidate_id,
            requested_qps: self.qps,
            max_concurrency: self.max_concurrency,
            server_flags: self.flags.clone(),
            sla_passed: false,
            sla_failures: Vec::new(),
            metrics: None,
            error: None,
            diagnosis: None,
            hint: None,
            heuristic_pruned: false,
            heuristic_reason: None,
            best_for_candidate: false,
            started_at: chrono::Utc::now().to_rfc3339(),
            trial_duration_s: 0.0,
        }
    }
}

/// SLA violations of measured metrics. An early-stopped trial never passes (its verdict was already
/// lost), and neither does a client-limited one (its numbers describe the client, not the server).
pub fn judge(
    sla: &shared::sla::Sla,
    metrics: &serde_json::Map<String, serde_json::Value>,
) -> Vec<String> {
    let mut failures = sla.violations(metrics);
    if let Some(reason) = metrics
        .get("early_stop_reason")
        .and_then(serde_json::Value::as_str)
    {
        failures.push(format!("early_stopped: {reason}"));
    }
    if let Some(reason) = metrics
        .get("client_limited_reason")
        .and_then(serde_json::Value::as_str)
    {
        failures.push(format!(
            "client_limited: {reason}; this trial says nothing about the server"
        ));
    }
    failures
}

/// Prepared requests of a scenario for one server.
pub struct Workload {
    /// Main requests.
    pub requests: Arc<Vec<PreparedRequest>>,
    /// Warmup requests.
    pub warmup: Vec<PreparedRequest>,
}

/// Builds the request bodies for a scenario.
pub fn workload(
    cfg: &RunConfig,
    rows: &[crate::dataset::DatasetRow],
    backend: crate::config::ApiBackend,
    model: &str,
) -> anyhow::Result<Workload> {
    let options = BodyOptions {
        backend,
        model: model.to_string(),
        stream: !cfg.benchmark.disable_stream,
        ignore_eos: !cfg.benchmark.disable_ignore_eos,
        extensions: cfg.server.framework.profile().openai_extensions,
        extra: cfg.benchmark.extra_request_body.clone(),
    };
    let requests = rows
        .iter()
        .map(|row| loadgen::request::build(row, &options, None))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let timestamps: Vec<Option<f64>> = requests.iter().map(|r| r.timestamp).collect();
    loadgen::schedule::offsets(
        cfg.benchmark.arrival,
        requests.len(),
        1.0,
        1.0,
        1,
        &timestamps,
    )
    .map_err(anyhow::Error::msg)?;
    let warmup = match rows.first() {
        Some(first) => {
            let one = loadgen::request::build(first, &options, Some(first.output_len.min(32)))
                .map_err(anyhow::Error::msg)?;
            vec![one; cfg.benchmark.warmup_requests as usize]
        }
        None => Vec::new(),
    };
    Ok(Workload {
        requests: Arc::new(requests),
        warmup,
    })
}

/// Runs one trial; `None` when cancelled (nothing is recorded for a cancelled trial).
pub async fn measure(
    cfg: &RunConfig,
    target: &Target,
    workload: &Workload,
    id: &TrialId<'_>,
    flush: bool,
    cancel: &mut CancelReceiver,
) -> Option<TrialRecord> {
    let started = Instant::now();
    let mut record = id.empty_record();
    if let Err(message) = loadgen::warmup(target, &workload.warmup).await {
        record.error = Some(message);
        record.diagnosis = Some("warmup_failed".into());
        record.hint = Some("Every warmup request failed; check the server log and the request path (benchmark.backend).".into());
        record.trial_duration_s = started.elapsed().as_secs_f64();
        return Some(record);
    }
    if flush {
        let _ = target
            .client
            .post(format!("{}/flush_cache", target.base_url))
            .send()
            .await;
    }
    let spec = LoadSpec {
        rate: id.qps,
        max_concurrency: id.max_concurrency,
        seed: cfg.benchmark.seed,
        arrival: cfg.benchmark.arrival,
        burstiness: cfg.benchmark.burstiness,
    };
    let planned = workload.requests.len();
    let stops = loadgen::Stops {
        failed: cfg
            .benchmark
            .early_stop
            .then(|| loadgen::early_stop::EarlyStop::new(&cfg.benchmark.sla, planned)),
        passing: cfg.benchmark.early_pass.map(|p| {
            loadgen::early_pass::EarlyPass::new(&cfg.benchmark.sla, planned, p.after, p.margin)
        }),
    };
    let outcome =
        loadgen::run_with_early_stop(target, Arc::clone(&workload.requests), &spec, stops, cancel)
            .await?;
    let mut metrics = crate::metrics::summarize(
        &outcome.results,
        outcome.duration,
        id.qps,
        id.max_concurrency,
    );
    crate::metrics::add_client_stats(
        &mut metrics,
        &outcome.client,
        outcome.results.len(),
        cfg.benchmark.max_client_lag_ms,
    );
    metrics.insert(
        "early_stopped".into(),
        json!(outcome.early_stopped.is_some()),
    );
    if let Some(reason) = &outcome.early_stopped {
        let key = if outcome.early_passed {
            "early_pass_reason"
        } else {
            "early_stop_reason"
        };
        metrics.insert(key.into(), json!(reason));
    }
    if let Some(tag) = &cfg.benchmark.tag {
        metrics.insert("tag".into(), json!(tag));
    }
    record.sla_failures = judge(&cfg.benchmark.sla, &metrics);
    record.sla_passed = record.sla_failures.is_empty();
    record.metrics = Some(metrics);
    record.trial_duration_s = started.elapsed().as_secs_f64();
    Some(record)
}
