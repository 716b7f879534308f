//! One trial against a running server: warmup, cache flush, the open-loop load, metrics and the
//! SLA verdict, as a [`TrialRecord`].

use std::sync::Arc;

use serde_json::json;
use sha2::Digest;
use tokio::time::Instant;

use shared::flags::{self, FlagMap};
use shared::record::{Diagnosis, SCHEMA_VERSION, Stage, TrialRecord};

use shared::confidence::Decision;
use shared::metrics::TrialMetrics;
use shared::verdict::Verdict;

use crate::cancel::CancelReceiver;
use crate::config::RunConfig;
use crate::loadgen::{
    self, BodyOptions, ClientStats, LoadSpec, PreparedRequest, RequestResult, Target,
};
use crate::verdict::assess;

/// The content key of a trial: stage, scenario, flags without host/port, rate (to a millionth of a
/// request/s, so float formatting never matters) and concurrency.
pub(crate) fn trial_key(
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
pub(super) struct TrialId<'a> {
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
    pub(super) fn empty_record(&self) -> TrialRecord {
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
            verdict: None,
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
pub(super) struct Workload {
    /// Main requests.
    pub requests: Arc<Vec<PreparedRequest>>,
    /// Warmup requests.
    pub warmup: Vec<PreparedRequest>,
    rows: Vec<crate::dataset::DatasetRow>,
    options: BodyOptions,
    trace: bool,
}

/// At most this many requests make one trial (the dataset cycled to last `min_trial_seconds` or
/// `confirm_trial_seconds`): their bodies are held in memory, and 50,000 is 100 s at 500 req/s.
const MAX_TRIAL_REQUESTS: usize = 50_000;

impl Workload {
    /// The requests of a trial at `rate`: the dataset's rows, cycled (each repeat with a salted
    /// prompt, so a prefix cache cannot serve it from an earlier copy) until the trial lasts at
    /// least `min_seconds`. A trial of a few dozen requests from an idle server measures its
    /// start-up transient, not its steady state, and overstates what it can sustain.
    ///
    /// With `salt` (servers whose prefix cache cannot be flushed between points), every prompt
    /// starts with a marker of the trial, the first copy included, so no point is served from
    /// the cache an earlier point filled.
    pub(super) fn for_rate(
        &self,
        rate: f64,
        min_seconds: f64,
        salt: Option<u64>,
    ) -> anyhow::Result<Arc<Vec<PreparedRequest>>> {
        let base = self.requests.len();
        let wanted = (rate * min_seconds).ceil();
        let count = if self.trace || base == 0 || !wanted.is_finite() || wanted <= base as f64 {
            base
        } else {
            (wanted as usize).clamp(base, MAX_TRIAL_REQUESTS.max(base))
        };
        if salt.is_none() && count == base {
            return Ok(Arc::clone(&self.requests));
        }
        let mut requests = Vec::with_capacity(count);
        for index in 0..count {
            let cycle = index / base;
            let marker = match (salt, cycle) {
                (None, 0) => {
                    requests.push(self.requests[index].clone());
                    continue;
                }
                (None, cycle) => format!("[repeat {cycle}] "),
                (Some(salt), 0) => format!("[trial {salt:x}] "),
                (Some(salt), cycle) => format!("[trial {salt:x} repeat {cycle}] "),
            };
            let row = salted(
                &self.rows[index % base],
                &marker,
                salt.unwrap_or(0) as usize + cycle,
            );
            requests.push(
                loadgen::request::build(&row, &self.options, None).map_err(anyhow::Error::msg)?,
            );
        }
        Ok(Arc::new(requests))
    }
}

/// A row whose prompt starts with `marker` (token ids: one id from `seed`), so it shares no
/// prefix with other copies of it.
fn salted(
    row: &crate::dataset::DatasetRow,
    marker: &str,
    seed: usize,
) -> crate::dataset::DatasetRow {
    use serde_json::Value;
    let mut row = row.clone();
    match &mut row.prompt {
        Value::String(text) => text.insert_str(0, marker),
        Value::Array(items) => match items.first_mut() {
            Some(Value::Object(message)) => {
                if let Some(Value::String(content)) = message.get_mut("content") {
                    content.insert_str(0, marker);
                }
            }
            Some(Value::Number(_)) => items.insert(0, Value::from(1000 + (seed % 997) as u64)),
            _ => {}
        },
        _ => {}
    }
    row
}

/// Builds the request bodies for a scenario.
pub(super) fn workload(
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
        rows: rows.to_vec(),
        options,
        trace: cfg.benchmark.arrival == shared::kinds::Arrival::Trace,
    })
}

/// How long the cache flush between points may take.
const FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs one trial; `None` when cancelled (nothing is recorded for a cancelled trial).
pub(super) async fn measure(
    cfg: &RunConfig,
    target: &Target,
    workload: &Workload,
    id: &TrialId<'_>,
    reset: Option<&'static str>,
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
    let measured = replicate(cfg, target, workload, id, reset, cancel).await?;
    let mut metrics = measured.metrics;
    metrics.tag.clone_from(&cfg.benchmark.tag);
    let verdict = measured.verdict;
    record.sla_failures = crate::verdict::judge(&cfg.benchmark.sla, &metrics);
    record.sla_passed = crate::verdict::passes(&verdict, &metrics);
    if !record.sla_passed && record.sla_failures.is_empty() {
        let failing: Vec<String> = verdict
            .checks
            .iter()
            .filter(|c| c.decision == Decision::Fail)
            .map(|c| c.describe(verdict.confidence))
            .collect();
        record.sla_failures.push(if failing.is_empty() {
            format!(
                "not shown to pass at {:.0}% confidence: {}",
                verdict.confidence * 100.0,
                verdict.describe()
            )
        } else {
            format!(
                "shown to fail at {:.0}% confidence: {}",
                verdict.confidence * 100.0,
                failing.join("; ")
            )
        });
    }
    record.verdict = Some(verdict);
    record.metrics = Some(metrics);
    record.trial_duration_s = started.elapsed().as_secs_f64();
    Some(record)
}

/// A trial's pooled measurement.
struct Measured {
    metrics: TrialMetrics,
    verdict: Verdict,
}

/// Runs the trial, and again with fresh arrival seeds while its verdict is inconclusive and more
/// requests could settle it (up to `benchmark.max_requests_per_point`), pooling the requests.
/// Each run starts from an idle server, so the runs are independent replications of one
/// experiment. `None` when cancelled.
async fn replicate(
    cfg: &RunConfig,
    target: &Target,
    workload: &Workload,
    id: &TrialId<'_>,
    reset: Option<&'static str>,
    cancel: &mut CancelReceiver,
) -> Option<Measured> {
    let sla = &cfg.benchmark.sla;
    // Confirmation re-measures a rate the search chose: fresh arrivals, and a longer trial
    // (`confirm_trial_seconds`, nine search trials by default), so a rate the server only
    // sustains for a short while does not hold.
    let dataset_seconds = workload.requests.len() as f64 / id.qps.max(1e-9);
    let (fresh, min_seconds) = match id.stage {
        Stage::Confirm => (
            1_000_003,
            cfg.benchmark
                .confirm_trial_seconds
                .max(3.0 * dataset_seconds),
        ),
        _ => (0, cfg.benchmark.min_trial_seconds.max(dataset_seconds)),
    };
    // Without a cache reset, each replication of each point gets prompts of its own.
    let trial_salt = {
        let key = trial_key(
            id.stage,
            id.scenario_slug,
            &id.flags,
            id.qps,
            id.max_concurrency,
        );
        u64::from_str_radix(key.get(..12).unwrap_or("0"), 16).unwrap_or(0)
    };
    let salt_of = |replication: u64, flushed: bool| (!flushed).then_some(trial_salt ^ replication);
    let flushed = reset_cache(target, reset, cancel).await?;
    let mut requests = workload
        .for_rate(id.qps, min_seconds, salt_of(0, flushed))
        .ok()?;
    let planned = requests.len();
    // A confirmation trial is already long (`confirm_trial_seconds`); it is not extended further.
    let cap = match id.stage {
        Stage::Confirm => planned as u64,
        _ => cfg
            .benchmark
            .max_requests_per_point
            .unwrap_or(3 * planned as u64)
            .max(planned as u64),
    };
    let mut pooled: Vec<RequestResult> = Vec::new();
    let mut runs: Vec<(TrialMetrics, ClientStats, usize)> = Vec::new();
    let mut early: Option<(String, bool)> = None;
    let verdict = loop {
        let replication = runs.len() as u64;
        if replication > 0 {
            let flushed = reset_cache(target, reset, cancel).await?;
            if !flushed {
                requests = workload
                    .for_rate(id.qps, min_seconds, salt_of(replication, flushed))
                    .ok()?;
            }
        }
        let spec = LoadSpec {
            rate: id.qps,
            max_concurrency: id.max_concurrency,
            seed: arrival_seed(cfg.benchmark.seed, fresh, id.qps, replication),
            arrival: cfg.benchmark.arrival,
            burstiness: cfg.benchmark.burstiness,
        };
        let rules = crate::verdict::stop_rules(
            sla,
            planned,
            cfg.benchmark.confidence,
            cfg.benchmark.early_stop,
            cfg.benchmark.early_pass.map(|p| (p.after, p.margin)),
        );
        let outcome =
            loadgen::run_with_early_stop(target, Arc::clone(&requests), &spec, rules, cancel)
                .await?;
        let part = crate::metrics::summarize(
            &outcome.results,
            outcome.duration,
            id.qps,
            id.max_concurrency,
        );
        runs.push((part, outcome.client, outcome.results.len()));
        // Each replication on one timeline after the previous, so the verdict sees the requests in
        // the order they ran (it measures how their latencies cluster).
        let offset = pooled.iter().map(|r| r.end_at).fold(0.0, f64::max);
        pooled.extend(outcome.results.into_iter().map(|r| r.shifted(offset)));
        if let Some(reason) = outcome.early_stopped {
            early = Some((reason, outcome.early_passed));
        }
        let verdict = assess::assess(sla, &pooled, cfg.benchmark.confidence, runs.len() as u32);
        let settled = verdict.decision != Decision::Inconclusive;
        let futile = !assess::extension_can_settle(&verdict, sla, &pooled, cap);
        if early.is_some() || settled || futile || pooled.len() as u64 + planned as u64 > cap {
            break verdict;
        }
    };
    let metrics = pooled_metrics(cfg, id, &pooled, runs, early);
    Some(Measured { metrics, verdict })
}

/// The arrival seed of one replication of one point: the run's seed, offset by the stage
/// (`fresh`), the rate and the replication. Every candidate measured at one rate in one stage gets
/// the same arrivals, so their comparison there is paired; each rate gets arrivals of its own, so
/// trials at neighbouring rates are independent draws. (With one seed for every rate, the same
/// burst sat at the same place in every trial of a step-down, and a seed with a bad burst failed
/// every step down to 12% below the true rate.)
fn arrival_seed(run_seed: u64, fresh: u64, qps: f64, replication: u64) -> u64 {
    let rate_key = (qps * 1e4).round() as u64;
    run_seed
        .wrapping_add(fresh)
        .wrapping_add(rate_key.wrapping_mul(104_729))
        .wrapping_add(replication.wrapping_mul(7919))
}

/// The metrics of every replication together: latency statistics and counts over the pooled
/// requests, throughput over the summed durations, offered and achieved rates averaged by
/// requests, and the client's health over all of them.
fn pooled_metrics(
    cfg: &RunConfig,
    id: &TrialId<'_>,
    pooled: &[RequestResult],
    runs: Vec<(TrialMetrics, ClientStats, usize)>,
    early: Option<(String, bool)>,
) -> TrialMetrics {
    let duration: f64 = runs.iter().map(|(m, _, _)| m.duration).sum();
    let mut metrics = crate::metrics::summarize(pooled, duration, id.qps, id.max_concurrency);
    let weight: usize = runs.iter().map(|(_, _, n)| *n).sum::<usize>().max(1);
    let weighted = |f: fn(&TrialMetrics) -> Option<f64>| {
        let parts: Vec<(f64, usize)> = runs
            .iter()
            .filter_map(|(m, _, n)| Some((f(m)?, *n)))
            .collect();
        (!parts.is_empty())
            .then(|| parts.iter().map(|(v, n)| v * *n as f64).sum::<f64>() / weight as f64)
    };
    metrics.offered_request_rate = weighted(|m| m.offered_request_rate);
    metrics.achieved_request_rate = weighted(|m| m.achieved_request_rate);
    let client = runs
        .into_iter()
        .map(|(_, c, _)| c)
        .reduce(ClientStats::merge)
        .unwrap_or_default();
    metrics.client = Some(crate::metrics::client_health(
        &client,
        pooled.len(),
        cfg.benchmark.max_client_lag_ms,
    ));
    metrics.early_stopped = early.is_some();
    match early {
        Some((reason, true)) => metrics.early_pass_reason = Some(reason),
        Some((reason, false)) => metrics.early_stop_reason = Some(reason),
        None => {}
    }
    metrics
}

/// Asks the server to empty its prefix cache at `path` (`/flush_cache`, `/reset_prefix_cache`):
/// `Some(true)` when it answered 2xx, `Some(false)` when it has no such endpoint or refused (the
/// trial then salts its prompts), `None` when cancelled meanwhile.
async fn reset_cache(
    target: &Target,
    path: Option<&str>,
    cancel: &mut CancelReceiver,
) -> Option<bool> {
    let Some(path) = path else {
        return Some(false);
    };
    let request = target
        .client
        .post(format!("{}{path}", target.base_url))
        .timeout(FLUSH_TIMEOUT)
        .send();
    tokio::select! {
        answer = request => Some(answer.is_ok_and(|r| r.status().is_success())),
        () = crate::cancel::cancelled(cancel) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rate_gets_arrivals_of_its_own() {
        let offsets = |qps: f64, replication: u64| {
            let seed = arrival_seed(1, 1_000_003, qps, replication);
            crate::loadgen::schedule::offsets(
                shared::kinds::Arrival::Poisson,
                200,
                qps,
                1.0,
                seed,
                &[],
            )
            .expect("offsets")
        };
        let gaps = |o: &[f64]| -> Vec<f64> { o.windows(2).map(|w| w[1] - w[0]).collect() };
        // Scaled to one rate, the schedules of two rates differ: not the same bursts in the same
        // places.
        let high: Vec<f64> = offsets(24.1466, 0).iter().map(|t| t * 24.1466).collect();
        let low: Vec<f64> = offsets(22.9968, 0).iter().map(|t| t * 22.9968).collect();
        let same = gaps(&high)
            .iter()
            .zip(gaps(&low))
            .filter(|(a, b)| (*a - b).abs() < 1e-9)
            .count();
        assert!(same < 5, "{same} of 199 gaps repeat across rates");
        assert_eq!(offsets(8.0, 0), offsets(8.0, 0), "one rate: one schedule");
        assert_ne!(offsets(8.0, 0), offsets(8.0, 1), "replications differ");
    }

    #[test]
    fn without_a_cache_flush_every_point_gets_prompts_of_its_own() {
        let rows: Vec<crate::dataset::DatasetRow> = ["alpha", "beta"]
            .iter()
            .map(|p| crate::dataset::DatasetRow {
                prompt: serde_json::json!(p),
                output_len: 4,
                prompt_len: None,
                extra_request_body: None,
                image_data: None,
                timestamp: None,
                routing_key: None,
                metadata: None,
            })
            .collect();
        let options = BodyOptions {
            backend: crate::config::ApiBackend::SglangOai,
            model: "m".into(),
            stream: true,
            ignore_eos: true,
            extensions: true,
            extra: serde_json::Map::new(),
        };
        let requests = rows
            .iter()
            .map(|r| loadgen::request::build(r, &options, None).expect("body"))
            .collect();
        let workload = Workload {
            requests: Arc::new(requests),
            warmup: Vec::new(),
            rows,
            options,
            trace: false,
        };
        let bodies = |salt: Option<u64>, rate: f64| -> Vec<String> {
            workload
                .for_rate(rate, 2.0, salt)
                .expect("requests")
                .iter()
                .map(|r| String::from_utf8_lossy(&r.body).to_string())
                .collect()
        };
        let flushed = bodies(None, 1.0);
        assert!(flushed[0].contains("\"alpha\""), "unsalted: {flushed:?}");
        let first = bodies(Some(7), 1.0);
        let second = bodies(Some(8), 1.0);
        assert!(first[0].contains("[trial 7] alpha"), "{first:?}");
        assert!(
            first.iter().zip(&second).all(|(a, b)| a != b),
            "no prompt repeats across points"
        );
        let cycled = bodies(Some(7), 2.0);
        assert_eq!(cycled.len(), 4);
        assert!(cycled[2].contains("[trial 7 repeat 1] alpha"), "{cycled:?}");
    }

    #[test]
    fn repeated_rows_share_no_prefix_with_their_originals() {
        let row = |prompt: serde_json::Value| crate::dataset::DatasetRow {
            prompt,
            output_len: 4,
            prompt_len: None,
            extra_request_body: None,
            image_data: None,
            timestamp: None,
            routing_key: None,
            metadata: None,
        };
        let text = salted(&row(serde_json::json!("hello")), "[repeat 2] ", 2);
        assert_eq!(text.prompt, serde_json::json!("[repeat 2] hello"));
        let chat = salted(
            &row(serde_json::json!([{"role": "user", "content": "hi"}])),
            "[repeat 1] ",
            1,
        );
        assert_eq!(chat.prompt[0]["content"], "[repeat 1] hi");
        let ids = salted(&row(serde_json::json!([5, 6])), "", 3);
        assert_eq!(ids.prompt, serde_json::json!([1003, 5, 6]));
    }
}
