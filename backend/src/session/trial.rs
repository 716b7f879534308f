//! One trial against a running server: warmup, cache flush, the open-loop load, metrics and the
//! SLA verdict, as a [`TrialRecord`].

use std::sync::Arc;

use serde_json::json;
use sha2::Digest;
use tokio::time::Instant;

use shared::flags::{self, FlagMap};
use shared::record::{Diagnosis, SCHEMA_VERSION, Stage, TrialRecord};
use shared::timings::Phase;

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
    /// The stored timings of an earlier trial at this point whose measured requests the verdict
    /// pools with this trial's (a confirmation's search trial at the same rate).
    pub pool_with: Option<std::path::PathBuf>,
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
            steady: None,
            requests: Vec::new(),
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
    judge_record(cfg, &mut record, measured.metrics, measured.verdict);
    record.steady = measured.steady;
    record.requests = measured.timings;
    record.trial_duration_s = started.elapsed().as_secs_f64();
    Some(record)
}

/// Puts a trial's metrics and verdict in its record: whether it passes and, when not, why, in the
/// SLA's words.
pub(super) fn judge_record(
    cfg: &RunConfig,
    record: &mut TrialRecord,
    mut metrics: TrialMetrics,
    verdict: Verdict,
) {
    metrics.tag.clone_from(&cfg.benchmark.tag);
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
}

/// A trial's pooled measurement.
struct Measured {
    metrics: TrialMetrics,
    verdict: Verdict,
    steady: Option<shared::steady::SteadyWindow>,
    timings: Vec<shared::timings::RequestTiming>,
}

/// The shortest warm-up of a steady-state trial, in seconds (at least two request lifetimes).
const WARMUP_FLOOR_S: f64 = 1.0;
/// The longest warm-up, in seconds: a rate whose latencies have not settled by then is measured
/// from there (and a queue that grows without bound fails long before).
const WARMUP_CAP_S: f64 = 60.0;
/// Load held after the measured requests, at most, in seconds (at least the measured length):
/// the cool-down keeps the batch full until the last measured request finishes.
const COOLDOWN_RESERVE_S: f64 = 10.0;

/// Measures a trial. A trace replays its own timestamps once (with replications while its verdict
/// is inconclusive, [`replicate`]); every other trial is a steady-state trial ([`steady_trial`]).
async fn replicate(
    cfg: &RunConfig,
    target: &Target,
    workload: &Workload,
    id: &TrialId<'_>,
    reset: Option<&'static str>,
    cancel: &mut CancelReceiver,
) -> Option<Measured> {
    if workload.trace {
        return replicate_trace(cfg, target, workload, id, reset, cancel).await;
    }
    steady_trial(cfg, target, workload, id, reset, cancel).await
}

/// The measured length of a trial and the arrival stream's offset of its stage: confirmation
/// re-measures a rate the search chose, with fresh arrivals and a longer trial
/// (`confirm_trial_seconds`).
fn trial_length(cfg: &RunConfig, workload: &Workload, id: &TrialId<'_>) -> (u64, f64) {
    let dataset_seconds = workload.requests.len() as f64 / id.qps.max(1e-9);
    match id.stage {
        Stage::Confirm | Stage::SpeculativeConfirm | Stage::CostCheck => (
            1_000_003,
            cfg.benchmark.confirm_trial_seconds.max(dataset_seconds),
        ),
        _ => (0, cfg.benchmark.min_trial_seconds.max(dataset_seconds)),
    }
}

/// The longest block of a search trial's schedule that offers exactly its rate (see
/// [`exact_blocks`]).
const EXACT_BLOCK_S: f64 = 2.5;

/// The blocks, in seconds, over which a trial's schedule offers exactly its rate: a search
/// trial's measured window is a few seconds of a long Poisson schedule, whose count there is
/// easily 12% off in 4 s (a trial at 17.9 req/s offered 13.2 and passed, so the search ranked a
/// command at 73% above its true rate). Its window spans whole blocks of at most
/// [`EXACT_BLOCK_S`], Poisson-shaped inside. A confirmation keeps plain Poisson arrivals: its
/// long window is the check on what the count's slower swings do to the tail.
/// A block holds a whole number of arrivals, so it lasts that many over the rate.
fn exact_blocks(stage: Stage, rate: f64, measure_s: f64) -> Option<f64> {
    let block = measure_s / (measure_s / EXACT_BLOCK_S).ceil().max(1.0);
    let arrivals = (rate * block).round();
    (!stage.is_check() && arrivals >= 2.0 && rate.is_finite()).then(|| arrivals / rate)
}

/// The load of one replication of a trial (`fresh`: the stage's arrival offset; `exact_over_s`:
/// see [`LoadSpec::exact_over_s`]).
fn load_spec(
    cfg: &RunConfig,
    id: &TrialId<'_>,
    (fresh, replication): (u64, u64),
    exact_over_s: Option<f64>,
) -> LoadSpec {
    LoadSpec {
        exact_over_s,
        rate: id.qps,
        max_concurrency: id.max_concurrency,
        seed: arrival_seed(cfg.benchmark.seed, fresh, id.qps, replication),
        arrival: cfg.benchmark.arrival,
        burstiness: cfg.benchmark.burstiness,
    }
}

/// The salt of a trial's prompts when the cache cannot be flushed (see [`Workload::for_rate`]).
fn trial_salt(id: &TrialId<'_>) -> u64 {
    let key = trial_key(
        id.stage,
        id.scenario_slug,
        &id.flags,
        id.qps,
        id.max_concurrency,
    );
    u64::from_str_radix(key.get(..12).unwrap_or("0"), 16).unwrap_or(0)
}

/// A steady-state trial: one open-loop run at the trial's rate whose first requests are a warm-up
/// (not counted; its end decided from the latencies, [`crate::verdict::steady`]), then the
/// measured requests (extended while the verdict is inconclusive and more could settle it), then
/// cool-down load until every measured request has finished. `None` when cancelled.
async fn steady_trial(
    cfg: &RunConfig,
    target: &Target,
    workload: &Workload,
    id: &TrialId<'_>,
    reset: Option<&'static str>,
    cancel: &mut CancelReceiver,
) -> Option<Measured> {
    let (fresh, measure_s) = trial_length(cfg, workload, id);
    let planned = (id.qps * measure_s).ceil().max(1.0);
    // Every steady-state trial, the confirmation's included, is extended while its verdict is
    // inconclusive and more requests could settle it, up to three times its planned length (or
    // `max_requests_per_point`): near capacity a p99 over a few hundred correlated requests
    // often cannot tell, and deciding it on the estimate is what made short checks optimistic.
    let cap = (cfg
        .benchmark
        .max_requests_per_point
        .unwrap_or(3 * planned as u64) as f64)
        .max(planned);
    let max_measure_s = cap / id.qps.max(1e-9);
    let blocks_s = exact_blocks(id.stage, id.qps, measure_s);
    // The measured window spans whole blocks.
    let measure_s = blocks_s.map_or(measure_s, |b| (measure_s / b).round().max(1.0) * b);
    let settings = crate::verdict::steady::Settings {
        rate: id.qps,
        warmup_floor_s: WARMUP_FLOOR_S,
        warmup_cap_s: WARMUP_CAP_S,
        measure_s,
        max_measure_s,
        sla: cfg.benchmark.sla.clone(),
        confidence: cfg.benchmark.confidence,
        early_stop: cfg.benchmark.early_stop,
        early_pass: cfg.benchmark.early_pass.map(|p| (p.after, p.margin)),
        blocks_s,
        extend_while_inconclusive: id.stage.is_check(),
    };
    let flushed = reset_cache(target, reset, cancel).await?;
    let total_s = WARMUP_CAP_S + max_measure_s + COOLDOWN_RESERVE_S.max(measure_s);
    let requests = workload
        .for_rate(id.qps, total_s, (!flushed).then_some(trial_salt(id)))
        .ok()?;
    let spec = load_spec(cfg, id, (fresh, 0), blocks_s);
    let (rule, decided) = crate::verdict::steady::SteadyState::new(settings);
    let rules: loadgen::StopRules = vec![Box::new(rule)];
    let outcome = loadgen::run_with_early_stop(target, requests, &spec, rules, cancel).await?;
    let decided = decided.lock().map(|d| d.clone()).unwrap_or_default();
    let in_window: Vec<RequestResult> = outcome
        .results
        .iter()
        .filter(|r| decided.measures(r))
        .cloned()
        .collect();
    let (measured, duration): (Vec<RequestResult>, f64) = match decided.window {
        Some((start, end)) if !in_window.is_empty() || outcome.early_stopped.is_none() => (
            in_window,
            (end - start).min(outcome.duration - start).max(1e-9),
        ),
        // Stopped before a measured request finished (an unsustainable rate): what it saw shows
        // how.
        _ => (outcome.results.clone(), outcome.duration),
    };
    let steady = decided.summary(&outcome.scheduled, outcome.duration);
    let window = decided.window;
    // A trial stopped before its warm-up ended measured nothing: all of it was warm-up.
    let timings = super::timings::of(&outcome.results, |r| match window {
        Some((start, _)) if r.scheduled_at < start => Phase::Warmup,
        Some((_, end)) if r.scheduled_at >= end => Phase::Cooldown,
        Some(_) => Phase::Measured,
        None => Phase::Warmup,
    });
    let early = outcome
        .early_stopped
        .map(|reason| (reason, outcome.early_passed));
    let mut part = crate::metrics::summarize(&measured, duration, id.qps, id.max_concurrency);
    part.duration = duration;
    let mut runs = vec![(part, outcome.client, measured.len())];
    // A confirmation pools its requests with the search's trial at the same rate (the earlier
    // ones first on one timeline, as replications are), unless this one stopped early.
    let earlier = match (&id.pool_with, &early) {
        (Some(path), None) if !has_itl_limit(&cfg.benchmark.sla) => super::timings::measured(path),
        _ => Vec::new(),
    };
    let pooled: Vec<RequestResult> = if earlier.is_empty() {
        measured
    } else {
        let offset = earlier.iter().map(|r| r.end_at).fold(0.0, f64::max);
        let start = measured
            .iter()
            .map(|r| r.scheduled_at)
            .fold(f64::INFINITY, f64::min);
        let span = earlier
            .iter()
            .map(|r| r.scheduled_at)
            .fold(f64::INFINITY, f64::min);
        let earlier_s = (offset - span).max(0.0);
        let mut prior = crate::metrics::summarize(&earlier, earlier_s, id.qps, id.max_concurrency);
        prior.duration = earlier_s;
        runs.insert(0, (prior, ClientStats::default(), earlier.len()));
        let shift = offset - start.min(offset);
        earlier
            .into_iter()
            .chain(measured.into_iter().map(|r| r.shifted(shift)))
            .collect()
    };
    let replications = runs.len() as u32;
    let verdict = assess::assess(
        &cfg.benchmark.sla,
        &pooled,
        cfg.benchmark.confidence,
        replications,
    );
    let mut metrics = pooled_metrics(cfg, id, &pooled, runs, early);
    metrics.planned_requests = Some(planned as u64);
    Some(Measured {
        metrics,
        verdict,
        steady: Some(steady),
        timings,
    })
}

/// A trace trial: the trace replayed on its own timestamps, and again with fresh arrival seeds
/// while its verdict is inconclusive and more requests could settle it (up to
/// `benchmark.max_requests_per_point`), pooling the requests. Each run starts from an idle
/// server, so the runs are independent replications of one experiment. `None` when cancelled.
async fn replicate_trace(
    cfg: &RunConfig,
    target: &Target,
    workload: &Workload,
    id: &TrialId<'_>,
    reset: Option<&'static str>,
    cancel: &mut CancelReceiver,
) -> Option<Measured> {
    let sla = &cfg.benchmark.sla;
    let (fresh, min_seconds) = trial_length(cfg, workload, id);
    // Without a cache reset, each replication of each point gets prompts of its own.
    let trial_salt = trial_salt(id);
    let salt_of = |replication: u64, flushed: bool| (!flushed).then_some(trial_salt ^ replication);
    let flushed = reset_cache(target, reset, cancel).await?;
    let mut requests = workload
        .for_rate(id.qps, min_seconds, salt_of(0, flushed))
        .ok()?;
    let planned = requests.len();
    // A confirmation trial is already long (`confirm_trial_seconds`); it is not extended further.
    let cap = match id.stage {
        Stage::Confirm | Stage::SpeculativeConfirm | Stage::CostCheck => planned as u64,
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
        let spec = load_spec(cfg, id, (fresh, replication), None);
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
    let mut metrics = pooled_metrics(cfg, id, &pooled, runs, early);
    metrics.planned_requests = Some(planned as u64);
    let timings = super::timings::of(&pooled, |_| Phase::Measured);
    Some(Measured {
        metrics,
        verdict,
        steady: None,
        timings,
    })
}

/// Whether the SLA limits inter-token latency (not stored per request, so such a verdict cannot
/// pool stored requests).
fn has_itl_limit(sla: &shared::sla::Sla) -> bool {
    sla.limits
        .iter()
        .any(|l| l.metric == shared::sla::LatencyMetric::Itl)
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
    mark_early(&mut metrics, early);
    metrics
}

/// Records why a trial ended early (`(reason, passed)`). One that stopped because it could no
/// longer pass is credited with what it measured: the requests it completed over the seconds it
/// ran, not the schedule's rate, which says nothing of a trial cut short.
fn mark_early(metrics: &mut TrialMetrics, early: Option<(String, bool)>) {
    metrics.early_stopped = early.is_some();
    match early {
        Some((reason, true)) => metrics.early_pass_reason = Some(reason),
        Some((reason, false)) => {
            metrics.early_stop_reason = Some(reason);
            metrics.achieved_request_rate =
                Some(metrics.completed as f64 / metrics.duration.max(1e-9));
        }
        None => {}
    }
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
    fn a_trial_stopped_early_is_credited_with_what_it_completed() {
        let measured = || TrialMetrics {
            completed: 17,
            duration: 4.0,
            achieved_request_rate: Some(37.61),
            ..TrialMetrics::default()
        };
        let mut stopped = measured();
        mark_early(&mut stopped, Some(("unsustainable".into(), false)));
        assert_eq!(
            stopped.achieved_request_rate,
            Some(4.25),
            "17 requests in 4 s"
        );
        assert!(stopped.early_stopped);
        let mut passed = measured();
        mark_early(&mut passed, Some(("clearly passing".into(), true)));
        assert_eq!(
            passed.achieved_request_rate,
            Some(37.61),
            "an early pass kept up with its schedule"
        );
    }

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
