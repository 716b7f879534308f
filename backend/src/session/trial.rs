//! One trial against a running server: warmup, cache flush, the open-loop load, metrics and the
//! SLA verdict, as a [`TrialRecord`].

use std::sync::Arc;

use serde_json::json;
use sha2::Digest;
use tokio::time::Instant;

use shared::flags::{self, FlagMap};
use shared::record::{Diagnosis, SCHEMA_VERSION, Stage, TrialRecord};

use crate::cancel::CancelReceiver;
use crate::config::RunConfig;
use crate::loadgen::{self, BodyOptions, LoadSpec, PreparedRequest, Target};

/// The content key of a trial: stage, scenario, flags without host/port, rate (to a millionth of a
/// request/s, so float formatting never matters) and concurrency.
pub fn trial_key(
    stage: Stage,
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
    /// Stage.
    pub stage: Stage,
    /// Scenario display name.
    pub scenario: &'a str,
    /// Scenario slug (part of the key).
    pub scenario_slug: &'a str,
    /// Candidate index.
    pub candidate_id: usize,
    /// Flags as launched.
    pub flags: FlagMap,
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
                &self.flags,
                self.qps,
                self.max_concurrency,
            ),
            stage: self.stage,
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
            failure: Default::default(),
            cause: None,
            hint: None,
            heuristic_pruned: false,
            heuristic_reason: None,
            best_for_candidate: false,
            started_at: chrono::Utc::now().to_rfc3339(),
            trial_duration_s: 0.0,
        }
    }
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

/// How long the cache flush between points may take.
const FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

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
    let warmed = tokio::select! {
        warmed = loadgen::warmup(target, &workload.warmup) => warmed,
        () = crate::cancel::cancelled(cancel) => return None,
    };
    if let Err(message) = warmed {
        record.error = Some(message);
        record.diagnosis = Some(Diagnosis::WarmupFailed);
        record.hint = Some("Every warmup request failed; check the server log and the request path (benchmark.backend).".into());
        record.trial_duration_s = started.elapsed().as_secs_f64();
        return Some(record);
    }
    if flush {
        let request = target
            .client
            .post(format!("{}/flush_cache", target.base_url))
            .timeout(FLUSH_TIMEOUT)
            .send();
        tokio::select! {
            _ = request => {}
            () = crate::cancel::cancelled(cancel) => return None,
        }
    }
    let spec = LoadSpec {
        rate: id.qps,
        max_concurrency: id.max_concurrency,
        seed: cfg.benchmark.seed,
        arrival: cfg.benchmark.arrival,
        burstiness: cfg.benchmark.burstiness,
    };
    let rules = crate::verdict::stop_rules(
        &cfg.benchmark.sla,
        workload.requests.len(),
        cfg.benchmark.early_stop,
        cfg.benchmark.early_pass.map(|p| (p.after, p.margin)),
    );
    let outcome =
        loadgen::run_with_early_stop(target, Arc::clone(&workload.requests), &spec, rules, cancel)
            .await?;
    let mut metrics = crate::metrics::summarize(
        &outcome.results,
        outcome.duration,
        id.qps,
        id.max_concurrency,
    );
    metrics.client = Some(crate::metrics::client_health(
        &outcome.client,
        outcome.results.len(),
        cfg.benchmark.max_client_lag_ms,
    ));
    metrics.early_stopped = outcome.early_stopped.is_some();
    if outcome.early_passed {
        metrics.early_pass_reason = outcome.early_stopped;
    } else {
        metrics.early_stop_reason = outcome.early_stopped;
    }
    metrics.tag.clone_from(&cfg.benchmark.tag);
    record.sla_failures = crate::verdict::judge(&cfg.benchmark.sla, &metrics);
    record.sla_passed = record.sla_failures.is_empty();
    record.metrics = Some(metrics);
    record.trial_duration_s = started.elapsed().as_secs_f64();
    Some(record)
}
