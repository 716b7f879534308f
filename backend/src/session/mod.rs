//! The run orchestrator, the only module that knows the whole story: prepare every scenario's
//! dataset, then for each candidate launch **one** server and reuse it for all its rates,
//! `max_concurrency` values and scenarios (flushing the cache between points), walk the rate plan
//! per (scenario, concurrency), record every trial on disk as it ends, then run the optional
//! speculative stage per scenario and write the summaries. Resume replays the same walk and reuses
//! finished trials by content key; cancellation (SIGINT/SIGTERM) and the time budget stop the run
//! with complete partial outputs.

pub mod meta;
pub mod owner;
mod scenario;
mod trial;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::time::Instant;

use shared::candidates::{self, CandidateSpec};
use shared::flags::FlagMap;
use shared::qps::{QpsWalk, StepKind};
use shared::ranking;
use shared::record::TrialRecord;

use crate::cancel::CancelReceiver;
use crate::config::{ApiBackend, RunConfig};
use crate::launcher::{self, LaunchSpec, RunningServer};
use crate::loadgen::{self, Target};
use crate::progress::Progress;
use crate::results::{self, command, markdown};

pub use scenario::{ScenarioState, dataset_line, sla_text};
pub use trial::trial_key;

/// What a finished (or stopped) run produced.
#[derive(Debug)]
pub struct RunOutcome {
    /// Output directory.
    pub output_dir: PathBuf,
    /// Per scenario: name, folder, best passing record, its launch command.
    pub scenarios: Vec<ScenarioResult>,
    /// Why the run stopped early, if it did.
    pub partial: Option<String>,
    /// Whether the speculative stage ran (`None`: not enabled).
    pub speculative: Option<String>,
    /// Server logs written.
    pub server_logs: Vec<PathBuf>,
}

/// One scenario's result.
#[derive(Debug)]
pub struct ScenarioResult {
    /// Display name.
    pub name: String,
    /// Folder.
    pub dir: PathBuf,
    /// Dataset description.
    pub dataset: String,
    /// Best passing trial.
    pub best: Option<TrialRecord>,
    /// Its launch command.
    pub command: Option<String>,
}

impl RunOutcome {
    /// True when some candidate met the SLA in some scenario.
    pub fn any_passed(&self) -> bool {
        self.scenarios.iter().any(|s| s.best.is_some())
    }
}

/// Why the run loop stopped early.
enum Stop {
    Cancelled,
    Deadline,
}

struct Ctx<'a> {
    cfg: &'a RunConfig,
    progress: &'a Progress,
    cancel: CancelReceiver,
    deadline: Instant,
    stop: Option<Stop>,
    server_logs: Vec<PathBuf>,
    client: reqwest::Client,
}

/// A candidate's server while it is in use.
struct Live {
    server: Option<RunningServer>,
    base_url: String,
    port: Option<u16>,
    model: String,
}

/// Runs the whole search.
pub async fn run(
    cfg: &RunConfig,
    progress: &Progress,
    cancel: CancelReceiver,
) -> anyhow::Result<RunOutcome> {
    let started = Instant::now();
    if let Some(spec) = &cfg.speculative
        && spec.draft_model_path.trim().is_empty()
    {
        bail!(
            "speculative.enabled is true but speculative.draft_model_path is empty: set the draft model path or disable the speculative stage"
        );
    }
    std::fs::create_dir_all(&cfg.output_dir)
        .with_context(|| format!("cannot create {}", cfg.output_dir.display()))?;
    let state_dir = cfg.output_dir.join(".autobench");
    let reaped = launcher::registry::reap_survivors(&state_dir);
    if !reaped.is_empty() {
        progress.line(&format!(
            "reaped {} server process(es) left by an earlier run of this output dir: {reaped:?}",
            reaped.len()
        ));
    }
    check_meta(cfg)?;
    let mut scenarios = prepare_scenarios(cfg, progress).await?;
    let mut ctx = Ctx {
        cfg,
        progress,
        cancel,
        deadline: started + cfg.max_duration,
        stop: None,
        server_logs: Vec::new(),
        client: loadgen::http_client(),
    };
    let per_walk = cfg.benchmark.qps.estimate_trials() as u64;
    let total = cfg.candidates.candidates.len() as u64
        * scenarios.len() as u64
        * cfg.benchmark.max_concurrency.len() as u64
        * per_walk;
    progress.set_total(total);
    progress.line(&format!(
        "candidates={} scenarios={} estimated_base_trials={total}",
        cfg.candidates.candidates.len(),
        scenarios.len()
    ));
    for (index, flags) in cfg.candidates.candidates.iter().enumerate() {
        if ctx.stop.is_some() {
            break;
        }
        run_candidate(&mut ctx, &mut scenarios, "base", index, flags, None).await?;
    }
    let speculative = run_speculative_stage(&mut ctx, &mut scenarios).await?;
    let partial = match ctx.stop {
        Some(Stop::Cancelled) => Some("interrupted before the full search completed".to_string()),
        Some(Stop::Deadline) => Some(format!(
            "search budget of {:.1}h reached before the full search completed",
            cfg.max_duration.as_secs_f64() / 3600.0
        )),
        None => None,
    };
    finish(cfg, &scenarios, partial.as_deref())?;
    progress.finish();
    let results = scenarios
        .iter()
        .map(|s| ScenarioResult {
            name: s.scenario.name.clone(),
            dir: s.dir.clone(),
            dataset: dataset_line(cfg, &s.scenario),
            best: s.best().cloned(),
            command: s.best_command(cfg),
        })
        .collect();
    Ok(RunOutcome {
        output_dir: cfg.output_dir.clone(),
        scenarios: results,
        partial,
        speculative,
        server_logs: ctx.server_logs,
    })
}

fn check_meta(cfg: &RunConfig) -> anyhow::Result<()> {
    let current = meta::measurement_settings(cfg);
    if cfg.resume
        && let Some(stored) = meta::load(&cfg.output_dir)?
        && let Some(settings) = stored.get("settings")
    {
        let changed = meta::changed_keys(settings, &current);
        if !changed.is_empty() {
            bail!(
                "{} holds results measured with different settings (changed: {}); use another benchmark.output_dir, or set search.resume: false to start over there",
                cfg.output_dir.display(),
                changed.join(", ")
            );
        }
    }
    let previous_datasets = meta::load(&cfg.output_dir)?.and_then(|m| m.get("datasets").cloned());
    let datasets = if cfg.resume {
        previous_datasets.unwrap_or(Value::Object(Default::default()))
    } else {
        Value::Object(Default::default())
    };
    meta::save(
        &cfg.output_dir,
        &serde_json::json!({"schema_version": 1, "settings": current, "datasets": datasets,
            "sla": cfg.benchmark.sla, "autobench_version": env!("CARGO_PKG_VERSION"),
            "process": owner::RunOwner::current().to_json()}),
    )
}

fn scenario_dir(cfg: &RunConfig, slug: &str) -> PathBuf {
    if cfg.scenarios.len() == 1 {
        cfg.output_dir.clone()
    } else {
        cfg.output_dir.join(slug)
    }
}

async fn prepare_scenarios(
    cfg: &RunConfig,
    progress: &Progress,
) -> anyhow::Result<Vec<ScenarioState>> {
    let mut states = Vec::new();
    let mut stored_meta = meta::load(&cfg.output_dir)?.unwrap_or_default();
    for (index, scenario) in cfg.scenarios.iter().enumerate() {
        let dir = scenario_dir(cfg, &scenario.slug);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let rows = crate::dataset::prepare(&cfg.dataset, scenario, index, &cfg.benchmark.tokenizer)
            .await?;
        let prepared = dir.join("prepared_dataset.jsonl");
        crate::dataset::write_prepared(&prepared, &rows)?;
        let fingerprint = crate::dataset::fingerprint(&prepared)?;
        let known = stored_meta
            .pointer(&format!("/datasets/{}", scenario.slug))
            .and_then(Value::as_str)
            .map(str::to_string);
        if cfg.resume && known.as_ref().is_some_and(|k| *k != fingerprint) {
            bail!(
                "the prepared dataset of scenario `{}` differs from the one {} was measured with (the source file or tokenizer changed); use another benchmark.output_dir or set search.resume: false",
                scenario.name,
                cfg.output_dir.display()
            );
        }
        stored_meta["datasets"][&scenario.slug] = Value::String(fingerprint);
        let backend = match cfg.benchmark.backend {
            ApiBackend::Auto => match crate::dataset::infer_backend(&rows)? {
                // Only SGLang serves `/generate`; text prompts go to OpenAI completions elsewhere.
                ApiBackend::Sglang if !cfg.server.framework.profile().sglang_api => {
                    ApiBackend::SglangOai
                }
                inferred => inferred,
            },
            explicit => explicit,
        };
        let live = dir.join("live_results.jsonl");
        if !cfg.resume {
            let _ = std::fs::remove_file(&live);
        }
        let mut records = results::read_jsonl(&live)?;
        for record in &mut records {
            record.sla_failures = if record.metrics.is_some() {
                trial::judge(
                    &cfg.benchmark.sla,
                    record.metrics.as_ref().unwrap_or(&Default::default()),
                )
            } else {
                Vec::new()
            };
            record.sla_passed = record.metrics.is_some() && record.sla_failures.is_empty();
        }
        let stored = records
            .iter()
            .map(|r| (r.trial_key.clone(), r.clone()))
            .collect();
        progress.line(&format!(
            "scenario={} prepared_dataset={} rows={} selected_backend={} resume={} loaded_records={}",
            scenario.name, prepared.display(), rows.len(), backend.name(), cfg.resume, records.len()
        ));
        states.push(ScenarioState {
            scenario: scenario.clone(),
            dir,
            rows,
            backend,
            records,
            stored,
            incumbent: Default::default(),
        });
    }
    meta::save(&cfg.output_dir, &stored_meta)?;
    Ok(states)
}

fn with_host_port(cfg: &RunConfig, flags: &FlagMap, port: Option<u16>) -> FlagMap {
    let mut out = flags.clone();
    if cfg.server.inject_host && !out.contains_key("host") {
        out.insert("host".into(), Value::String(cfg.server.host.clone()));
    }
    if let Some(port) = port
        && !out.contains_key("port")
    {
        out.insert("port".into(), Value::from(port));
    }
    out
}

/// Runs every walk of one candidate over `only_scenario` (or all scenarios) with one server.
async fn run_candidate(
    ctx: &mut Ctx<'_>,
    scenarios: &mut [ScenarioState],
    stage: &str,
    index: usize,
    flags: &FlagMap,
    only_scenario: Option<usize>,
) -> anyhow::Result<()> {
    let mut live: Option<Live> = None;
    let mut dead: Option<TrialRecord> = None;
    let picked: Vec<usize> = match only_scenario {
        Some(i) => vec![i],
        None => (0..scenarios.len()).collect(),
    };
    for scenario_index in picked {
        for &mc in &ctx.cfg.benchmark.max_concurrency {
            let state = &mut scenarios[scenario_index];
            let incumbent = state.incumbent.get(stage).copied();
            let mut walk = QpsWalk::new(&ctx.cfg.benchmark.qps, incumbent);
            while let Some(step) = walk.next_step() {
                if ctx.stop.is_some() {
                    stop_server(&mut live).await;
                    return Ok(());
                }
                let (scenario_name, scenario_slug) = (
                    scenarios[scenario_index].scenario.name.clone(),
                    scenarios[scenario_index].scenario.slug.clone(),
                );
                let state = &mut scenarios[scenario_index];
                let port_flags = with_host_port(
                    ctx.cfg,
                    flags,
                    live.as_ref().and_then(|l| l.port).or(ctx.cfg.server.port),
                );
                let key_flags = if live.is_some() || ctx.cfg.server.port.is_some() {
                    port_flags.clone()
                } else {
                    flags.clone()
                };
                let id = trial::TrialId {
                    stage,
                    scenario: &scenario_name,
                    scenario_slug: &scenario_slug,
                    candidate_id: index,
                    flags: &key_flags,
                    qps: step.qps,
                    max_concurrency: mc,
                };
                let key = trial::trial_key(stage, &scenario_slug, flags, step.qps, mc);
                if let Some(previous) = state.stored.get(&key).cloned() {
                    ctx.progress.line(&format!(
                        "[{stage}] resume: reusing cand={index} scenario={} qps={:.4} mc={} ({})",
                        state.scenario.name,
                        step.qps,
                        mc_text(mc),
                        previous.outcome_label()
                    ));
                    state.note_incumbent(&previous);
                    ctx.progress.advance(1);
                    if previous
                        .error
                        .as_deref()
                        .is_some_and(|e| e.starts_with("launch failed"))
                    {
                        return Ok(());
                    }
                    walk.record(previous.sla_passed);
                    continue;
                }
                if let Some(failure) = &dead {
                    let mut record = id.empty_record();
                    record.error.clone_from(&failure.error);
                    record.diagnosis.clone_from(&failure.diagnosis);
                    record.hint.clone_from(&failure.hint);
                    state.push_new(record)?;
                    state.write_outputs(ctx.cfg, None)?;
                    walk.abandon();
                    continue;
                }
                if Instant::now() >= ctx.deadline {
                    ctx.stop = Some(Stop::Deadline);
                    ctx.progress.line(&format!(
                        "search_deadline_reached=true budget={:.1}h",
                        ctx.cfg.max_duration.as_secs_f64() / 3600.0
                    ));
                    continue;
                }
                let record = match ensure_server(ctx, &mut live, stage, index, flags).await {
                    Ok(()) => {
                        let Some(current) = live.as_mut() else {
                            continue;
                        };
                        let flags_now = with_host_port(ctx.cfg, flags, current.port);
                        let id = trial::TrialId {
                            flags: &flags_now,
                            ..id
                        };
                        ctx.progress.line(&format!(
                            "[{stage}] cand={index} scenario={} probing qps={:.4} mc={}",
                            id.scenario,
                            step.qps,
                            mc_text(mc)
                        ));
                        match run_one(ctx, current, &scenarios[scenario_index], &id).await? {
                            Some(record) => record,
                            None => {
                                ctx.stop = Some(Stop::Cancelled);
                                continue;
                            }
                        }
                    }
                    Err(failure) => {
                        if ctx.stop.is_some() {
                            continue;
                        }
                        let mut record = id.empty_record();
                        record.error = Some(format!("launch failed: {failure}"));
                        let (diagnosis, hint) = failure.diagnosis();
                        record.diagnosis = Some(diagnosis.into());
                        record.hint = Some(hint);
                        ctx.progress.line(&format!(
                            "[{stage}] cand={index} failed to start: {diagnosis}"
                        ));
                        dead = Some(record.clone());
                        record
                    }
                };
                let state = &mut scenarios[scenario_index];
                let mut record = record;
                let server_died = record.metrics.is_some()
                    && live
                        .as_mut()
                        .and_then(|l| l.server.as_mut())
                        .is_some_and(|s| s.exit_status().is_some());
                if server_died {
                    mark_crashed(&mut record, &mut live, &mut dead).await;
                }
                if step.kind == StepKind::IncumbentProbe && !record.sla_passed {
                    record.heuristic_pruned = true;
                    record.heuristic_reason = Some("Failed incumbent probe; skipped lower-QPS search because it cannot beat the current best candidate.".into());
                }
                ctx.progress.line(&trial_line(stage, &record));
                walk.record(record.sla_passed);
                // A failed warmup does not depend on the rate (the server cannot serve this
                // scenario at all, or broke earlier), so lower rates are not tried.
                if dead.is_some() || record.diagnosis.as_deref() == Some("warmup_failed") {
                    walk.abandon();
                }
                state.push_new(record)?;
                state.write_outputs(ctx.cfg, None)?;
                ctx.progress.advance(1);
                update_best(ctx.progress, scenarios);
                if ctx.cfg.server.relaunch_per_trial {
                    stop_server(&mut live).await;
                }
            }
        }
    }
    stop_server(&mut live).await;
    Ok(())
}

fn mc_text(mc: Option<u64>) -> String {
    mc.map_or("none".into(), |c| c.to_string())
}

fn trial_line(stage: &str, r: &TrialRecord) -> String {
    let metric = |name: &str| r.metric(name).map_or("-".into(), |v| format!("{v:.1}"));
    format!(
        "[{stage}] cand={} scenario={} qps={:.4} mc={} -> {} achieved={} tok/s={} ttft={}ms p99_ttft={}ms tpot={}ms{}",
        r.candidate_id,
        r.scenario,
        r.requested_qps,
        mc_text(r.max_concurrency),
        r.outcome_label(),
        metric("achieved_request_rate"),
        metric("output_throughput"),
        metric("mean_ttft_ms"),
        metric("p99_ttft_ms"),
        metric("mean_tpot_ms"),
        r.diagnosis
            .as_ref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default()
    )
}

fn update_best(progress: &Progress, scenarios: &[ScenarioState]) {
    let best: Vec<String> = scenarios
        .iter()
        .map(|s| match s.best() {
            Some(b) => format!(
                "{}: cand {} @ {:.2} req/s",
                s.scenario.name,
                b.candidate_id,
                ranking::credited_rate(b)
            ),
            None => format!("{}: best pending", s.scenario.name),
        })
        .collect();
    progress.set_best(&best.join(" | "));
}

async fn mark_crashed(
    record: &mut TrialRecord,
    live: &mut Option<Live>,
    dead: &mut Option<TrialRecord>,
) {
    let log = live
        .as_ref()
        .and_then(|l| l.server.as_ref())
        .map(|s| launcher::log_tail(&s.log_path, 4000))
        .unwrap_or_default();
    let (diagnosis, hint) = launcher::classify(&log);
    record.error = Some("the server exited during the trial".into());
    record.diagnosis = Some(if diagnosis == "oom" {
        "oom".into()
    } else {
        "crashed".into()
    });
    record.hint = Some(hint);
    record.sla_passed = false;
    *dead = Some(record.clone());
    stop_server(live).await;
}

async fn stop_server(live: &mut Option<Live>) {
    if let Some(mut current) = live.take()
        && let Some(server) = current.server.take()
    {
        server.shutdown().await;
    }
}

/// Launches the candidate's server if it is not running (or reuses `base_url` without launching).
async fn ensure_server(
    ctx: &mut Ctx<'_>,
    live: &mut Option<Live>,
    stage: &str,
    index: usize,
    flags: &FlagMap,
) -> Result<(), launcher::LaunchError> {
    if live.is_some() {
        return Ok(());
    }
    let cfg = ctx.cfg;
    if !cfg.server.launch {
        let base_url = cfg.benchmark.base_url.clone().unwrap_or_else(|| {
            format!(
                "http://{}:{}",
                cfg.server.host,
                cfg.server.port.unwrap_or(30000)
            )
        });
        let model = resolve_model(ctx, &base_url).await;
        *live = Some(Live {
            server: None,
            base_url,
            port: cfg.server.port,
            model,
        });
        return Ok(());
    }
    let port = match cfg.server.port {
        Some(port) if launcher::port_is_free(&cfg.server.host, port) => port,
        Some(port) => {
            return Err(launcher::LaunchError::Spawn {
                program: cfg.server.command_display.join(" "),
                source: std::io::Error::other(format!(
                    "port {port} on {} is already in use by another process; autobench never kills processes it did not start: stop it, or remove server.port to let autobench pick a free port",
                    cfg.server.host
                )),
            });
        }
        None => launcher::free_port(&cfg.server.host).unwrap_or(30000),
    };
    let flags = with_host_port(cfg, flags, Some(port));
    let mut argv = cfg.server.command.clone();
    argv.extend(crate::config::launch_args(
        &cfg.server.framework.profile(),
        &flags,
        &cfg.server.extra_args,
    ));
    let connect_host = if cfg.server.host == "0.0.0.0" {
        "127.0.0.1".to_string()
    } else {
        cfg.server.host.clone()
    };
    let base_url = cfg
        .benchmark
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{connect_host}:{port}"));
    let log_path = cfg
        .output_dir
        .join("logs")
        .join(format!("server_{stage}_cand{index}.log"));
    let spec = LaunchSpec {
        argv,
        env: cfg.server.env.clone(),
        log_path: log_path.clone(),
        base_url: base_url.clone(),
        health_path: cfg.server.health_path.clone(),
        ready_timeout: cfg.server.ready_timeout,
        grace: cfg.server.shutdown_grace,
        state_dir: cfg.output_dir.join(".autobench"),
    };
    ctx.progress.line(&format!(
        "[{stage}] cand={index} launching: {}",
        command::render(&cfg.server, &flags).replace(" \\\n  ", " ")
    ));
    if !ctx.server_logs.contains(&log_path) {
        ctx.server_logs.push(log_path);
    }
    let launched = Instant::now();
    let server = match launcher::launch(&spec, &mut ctx.cancel).await {
        Ok(server) => server,
        Err(launcher::LaunchError::Cancelled) => {
            ctx.stop = Some(Stop::Cancelled);
            return Err(launcher::LaunchError::Cancelled);
        }
        Err(error) => return Err(error),
    };
    ctx.progress.line(&format!(
        "[{stage}] cand={index} ready in {:.1}s (pgid {})",
        launched.elapsed().as_secs_f64(),
        server.pgid()
    ));
    let model = resolve_model(ctx, &base_url).await;
    *live = Some(Live {
        server: Some(server),
        base_url,
        port: Some(port),
        model,
    });
    Ok(())
}

async fn resolve_model(ctx: &Ctx<'_>, base_url: &str) -> String {
    if let Some(model) = &ctx.cfg.benchmark.model {
        return model.clone();
    }
    let listed = async {
        let response = ctx
            .client
            .get(format!("{base_url}/v1/models"))
            .send()
            .await
            .ok()?;
        let body: Value = response.json().await.ok()?;
        body.pointer("/data/0/id")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    listed
        .await
        .unwrap_or_else(|| ctx.cfg.benchmark.tokenizer.clone())
}

async fn run_one(
    ctx: &mut Ctx<'_>,
    live: &mut Live,
    state: &ScenarioState,
    id: &trial::TrialId<'_>,
) -> anyhow::Result<Option<TrialRecord>> {
    let workload = trial::workload(ctx.cfg, &state.rows, state.backend, &live.model)?;
    let target = Target::new(
        ctx.client.clone(),
        live.base_url.clone(),
        !ctx.cfg.benchmark.disable_stream,
        ctx.cfg.benchmark.request_timeout,
        loadgen::api_key_from_env(),
    );
    let flush = ctx.cfg.server.framework.profile().sglang_api;
    let log_path = live.server.as_ref().map(|s| s.log_path.clone());
    let log_start = log_path
        .as_deref()
        .and_then(|p| std::fs::metadata(p).ok())
        .map_or(0, |m| m.len());
    let mut record = trial::measure(ctx.cfg, &target, &workload, id, flush, &mut ctx.cancel).await;
    if let (Some(record), Some(path)) = (record.as_mut(), log_path) {
        diagnose_failed_requests(record, &path, log_start);
    }
    Ok(record)
}

/// A trial whose requests failed while the server lived on: when the server's log from this trial
/// shows an out-of-memory error (a real server can OOM mid-run, for example when a long prompt's
/// attention needs more than the KV cache left free), the record says so, with a hint.
fn diagnose_failed_requests(record: &mut TrialRecord, log_path: &std::path::Path, from: u64) {
    let failed = record
        .metrics
        .as_ref()
        .and_then(|m| m.get("failed"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let warmup_failed = record.diagnosis.as_deref() == Some("warmup_failed");
    if !(warmup_failed || (failed > 0 && record.diagnosis.is_none())) {
        return;
    }
    let log = launcher::log_since(log_path, from, 64 * 1024);
    if launcher::classify(&log).0 == "oom" {
        record.diagnosis = Some("oom_at_runtime".into());
        record.hint = Some(
            "Requests failed because the server ran out of GPU memory while serving them; give the KV cache less memory (mem_fraction_static, cb_max_memory_percent) or lower the batch token budget (chunked_prefill_size, cb_max_batch_tokens)."
                .into(),
        );
    }
}

/// The speculative (EAGLE) stage: per scenario, on the best base flags.
async fn run_speculative_stage(
    ctx: &mut Ctx<'_>,
    scenarios: &mut [ScenarioState],
) -> anyhow::Result<Option<String>> {
    let Some(spec) = ctx.cfg.speculative.clone() else {
        return Ok(None);
    };
    if ctx.stop.is_some() {
        return Ok(Some("skipped: the run stopped before it".into()));
    }
    let mut notes = Vec::new();
    for index in 0..scenarios.len() {
        let Some(best) = ranking::best(
            scenarios[index]
                .records
                .iter()
                .filter(|r| r.stage == "base"),
        )
        .cloned() else {
            notes.push(format!(
                "{}: skipped (no successful base run)",
                scenarios[index].scenario.name
            ));
            continue;
        };
        let mut base = best.server_flags.clone();
        base.remove("host");
        base.remove("port");
        base.extend(spec.base_flags.clone());
        base.insert(
            "speculative_algorithm".into(),
            Value::String(spec.algorithm.clone()),
        );
        base.insert(
            "speculative_draft_model_path".into(),
            Value::String(spec.draft_model_path.clone()),
        );
        let candidate_spec = CandidateSpec {
            base_flags: base,
            search_space: spec.search_space.clone(),
            ..ctx.cfg.candidate_spec.clone()
        };
        let plan = candidates::generate(&CandidateSpec {
            derive_dp_from_gpus: None,
            ..candidate_spec
        })?;
        ctx.progress.line(&format!(
            "[speculative] scenario={} candidates={}",
            scenarios[index].scenario.name,
            plan.candidates.len()
        ));
        for (cand, flags) in plan.candidates.iter().enumerate() {
            if ctx.stop.is_some() {
                break;
            }
            run_candidate(ctx, scenarios, "speculative", cand, flags, Some(index)).await?;
        }
        notes.push(format!(
            "{}: ran {} candidates",
            scenarios[index].scenario.name,
            plan.candidates.len()
        ));
    }
    Ok(Some(notes.join("; ")))
}

/// Writes every scenario's files and, for several scenarios, the cross-scenario summary.
fn finish(
    cfg: &RunConfig,
    scenarios: &[ScenarioState],
    partial: Option<&str>,
) -> anyhow::Result<()> {
    for state in scenarios {
        state.write_outputs(cfg, partial)?;
    }
    if scenarios.len() > 1 {
        let rows: Vec<markdown::ScenarioRow> =
            scenarios.iter().map(|s| scenario_row(cfg, s)).collect();
        results::write_atomic(
            &cfg.output_dir.join("SUMMARY.md"),
            markdown::run_summary(&rows, partial).as_bytes(),
        )?;
        results::write_atomic(
            &cfg.output_dir.join("scenario_summary.jsonl"),
            &results::jsonl_bytes(&rows)?,
        )?;
        let mut writer = csv::Writer::from_writer(Vec::new());
        for row in &rows {
            writer.serialize(row)?;
        }
        let bytes = writer
            .into_inner()
            .map_err(|e| anyhow::anyhow!("{}", e.error()))?;
        results::write_atomic(&cfg.output_dir.join("scenario_summary.csv"), &bytes)?;
    }
    Ok(())
}

fn scenario_row(cfg: &RunConfig, state: &ScenarioState) -> markdown::ScenarioRow {
    let best = state.best();
    let any_metrics = state.records.iter().any(|r| r.metrics.is_some());
    let status = match (best, any_metrics) {
        (Some(_), _) => "ok",
        (None, true) => "no_sla_pass",
        (None, false) => "no_successful_runs",
    };
    let dir = state
        .dir
        .strip_prefix(&cfg.output_dir)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| state.dir.clone());
    markdown::ScenarioRow {
        scenario_name: state.scenario.name.clone(),
        scenario_dir: dir.display().to_string(),
        status: status.into(),
        requested_qps: best.map(|b| b.requested_qps),
        achieved_request_rate: best.and_then(|b| b.metric("achieved_request_rate")),
        mean_ttft_ms: best.and_then(|b| b.metric("mean_ttft_ms")),
        mean_tpot_ms: best.and_then(|b| b.metric("mean_tpot_ms")),
        output_throughput: best.and_then(|b| b.metric("output_throughput")),
        launch_command: state.best_command(cfg).unwrap_or_default(),
    }
}
