//! One candidate's search: every (scenario, `max_concurrency`) walk of the rate plan on one
//! server. Each step is either replayed from an earlier run's record (resume), copied from the
//! candidate's launch failure or crash, or measured; the same rule ([`steer`]) moves the walk in
//! all three cases, so a resume makes exactly the decisions the original run made.

use shared::events::RunEvent;
use shared::flags::FlagMap;
use shared::qps::{QpsPlan, QpsWalk, Step, StepKind};
use shared::record::{Diagnosis, FailureKind, Stage, TrialRecord};

use super::server::{self, Live};
use super::{Ctx, ScenarioState, trial};
use crate::launcher::{self, LaunchError};

/// The candidate being searched.
struct Candidate<'f> {
    stage: Stage,
    index: usize,
    flags: &'f FlagMap,
    live: Option<Live>,
    /// The launch failure or crash that ended this candidate, copied into its remaining walks.
    dead: Option<TrialRecord>,
}

/// Which walks a candidate runs.
#[derive(Debug, Clone)]
pub(super) enum Walks {
    /// The configured rate plan, for every `max_concurrency`, in every scenario.
    All,
    /// The configured rate plan in one scenario.
    Scenario(usize),
    /// One rate at one `max_concurrency` in one scenario (confirmation).
    Point {
        /// Scenario index.
        scenario: usize,
        /// The rate.
        qps: f64,
        /// The concurrency cap.
        max_concurrency: Option<u64>,
    },
    /// The confirmation's walk down from the winning rate until a rate holds, then back up
    /// between it and the lowest failure ([`shared::qps::Descend`]).
    Descend {
        /// Scenario index.
        scenario: usize,
        /// The walk.
        plan: shared::qps::Descend,
        /// The concurrency cap.
        max_concurrency: Option<u64>,
    },
    /// The configured rate plan in one scenario at one `max_concurrency`, probing first at
    /// `from` instead of the stage's best rate: a search that a probe ended at a rate a long
    /// trial has since refuted, searched again ([`shared::decision::pruned_against`]).
    Reopen {
        /// Scenario index.
        scenario: usize,
        /// The concurrency cap.
        max_concurrency: Option<u64>,
        /// The rate to beat (`None`: the whole plan).
        from: Option<f64>,
    },
}

/// One walk: scenario index, concurrency cap, rate plan, and the rate its probe starts from
/// (`None`: the stage's best so far).
type PlannedWalk = (usize, Option<u64>, QpsPlan, Option<Option<f64>>);

/// Runs the walks of one candidate with one server.
pub(super) async fn run_candidate(
    ctx: &mut Ctx<'_>,
    scenarios: &mut [ScenarioState],
    stage: Stage,
    index: usize,
    flags: &FlagMap,
    walks: Walks,
) -> anyhow::Result<()> {
    run_walks(ctx, scenarios, stage, index, flags, walks, None).await
}

/// Records a base candidate that could not be run elsewhere (its Slurm job kept dying): every
/// walk step not measured yet gets `failure`'s cause, as a launch failure would.
pub(super) async fn record_failed(
    ctx: &mut Ctx<'_>,
    scenarios: &mut [ScenarioState],
    index: usize,
    flags: &FlagMap,
    failure: TrialRecord,
) -> anyhow::Result<()> {
    run_walks(
        ctx,
        scenarios,
        Stage::Base,
        index,
        flags,
        Walks::All,
        Some(failure),
    )
    .await
}

async fn run_walks(
    ctx: &mut Ctx<'_>,
    scenarios: &mut [ScenarioState],
    stage: Stage,
    index: usize,
    flags: &FlagMap,
    walks: Walks,
    dead: Option<TrialRecord>,
) -> anyhow::Result<()> {
    let mut cand = Candidate {
        stage,
        index,
        flags,
        live: None,
        dead,
    };
    let configured = ctx.cfg.benchmark.qps.clone();
    let plans: Vec<PlannedWalk> = match walks {
        Walks::All | Walks::Scenario(_) => {
            let picked: Vec<usize> = match walks {
                Walks::Scenario(i) => vec![i],
                _ => (0..scenarios.len()).collect(),
            };
            picked
                .into_iter()
                .flat_map(|s| {
                    let plan = configured.clone();
                    ctx.cfg
                        .benchmark
                        .max_concurrency
                        .iter()
                        .map(move |mc| (s, *mc, plan.clone(), None))
                })
                .collect()
        }
        Walks::Point {
            scenario,
            qps,
            max_concurrency,
        } => vec![(scenario, max_concurrency, QpsPlan::Fixed(vec![qps]), None)],
        Walks::Descend {
            scenario,
            plan,
            max_concurrency,
        } => vec![(scenario, max_concurrency, QpsPlan::Descend(plan), None)],
        Walks::Reopen {
            scenario,
            max_concurrency,
            from,
        } => vec![(scenario, max_concurrency, configured, Some(from))],
    };
    let mut picked: Vec<usize> = plans.iter().map(|(s, ..)| *s).collect();
    picked.dedup();
    for (scenario_index, mc, plan, from) in plans {
        let incumbent = from.unwrap_or_else(|| match stage {
            // Confirmation re-measures the winning rate for every contender, whatever passed
            // before.
            Stage::Confirm | Stage::SpeculativeConfirm | Stage::CostCheck => None,
            stage => scenarios[scenario_index].incumbent.get(&stage).copied(),
        });
        if !walk(
            ctx,
            scenarios,
            &mut cand,
            (scenario_index, mc, incumbent),
            &plan,
        )
        .await?
        {
            break;
        }
    }
    server::stop(&mut cand.live).await;
    if ctx.stop.is_none() {
        for &scenario_index in &picked {
            let state = &mut scenarios[scenario_index];
            if drop_unreached_retries(state, stage, index) {
                state.write_outputs(ctx.cfg, None, shared::answer::RunState::Running)?;
            }
        }
        ctx.report(RunEvent::CandidateDone {
            stage,
            candidate: index,
        });
    }
    Ok(())
}

/// One walk of the rate plan in a scenario at a concurrency cap, its probe at `incumbent`;
/// `false` when the run is stopping.
async fn walk(
    ctx: &mut Ctx<'_>,
    scenarios: &mut [ScenarioState],
    cand: &mut Candidate<'_>,
    (scenario_index, mc, incumbent): (usize, Option<u64>, Option<f64>),
    plan: &QpsPlan,
) -> anyhow::Result<bool> {
    let mut walk = QpsWalk::new(plan, incumbent);
    while let Some(step) = walk.next_step() {
        if ctx.stop.is_some() {
            server::stop(&mut cand.live).await;
            return Ok(false);
        }
        let state = &mut scenarios[scenario_index];
        let key = trial::trial_key(cand.stage, &state.scenario.slug, cand.flags, step.qps, mc);
        if let Some(previous) = state.stored.get(&key).cloned()
            && reusable(&previous)
        {
            replay(ctx, state, cand, &mut walk, previous);
            continue;
        }
        if let Some(failure) = cand.dead.clone() {
            let mut record = trial_id(ctx, state, cand, step.qps, mc, None).empty_record();
            copy_failure(&mut record, &failure);
            steer(&mut walk, &record);
            state.push_new(record)?;
            state.write_outputs(ctx.cfg, None, shared::answer::RunState::Running)?;
            continue;
        }
        if tokio::time::Instant::now() >= ctx.deadline {
            ctx.budget_reached();
            continue;
        }
        let Some(record) = measure(ctx, scenarios, cand, scenario_index, &step, mc).await? else {
            continue;
        };
        conclude(
            ctx,
            &mut scenarios[scenario_index],
            cand,
            &step,
            &mut walk,
            record,
        )
        .await?;
    }
    Ok(true)
}

/// Whether an earlier run's record is reused: everything but a launch failure that could be
/// transient (port taken, start-up timeout, crash at start), which is tried again.
fn reusable(previous: &TrialRecord) -> bool {
    !previous.is_launch_failure() || previous.diagnosis.is_some_and(Diagnosis::is_deterministic)
}

/// Leaves out of the results the launch failures of an earlier run that this run would have
/// tried again but whose steps its walk did not reach (the candidate launched this time, and the
/// search went another way): they describe a launch that no longer fails. They stay in
/// `live_results.jsonl`. Returns whether any was left out.
fn drop_unreached_retries(state: &mut ScenarioState, stage: Stage, index: usize) -> bool {
    let before = state.records.len();
    state.records.retain(|r| {
        r.stage != stage
            || r.candidate_id != index
            || reusable(r)
            || state.fresh.contains(&r.trial_key)
    });
    state.records.len() != before
}

/// Reuses a finished trial of an earlier run, deciding exactly as the original run did.
fn replay(
    ctx: &Ctx<'_>,
    state: &mut ScenarioState,
    cand: &mut Candidate<'_>,
    walk: &mut QpsWalk,
    previous: TrialRecord,
) {
    state.note_incumbent(&previous);
    steer(walk, &previous);
    if previous.failure != FailureKind::Trial {
        cand.dead = Some(previous.clone());
    }
    ctx.report(RunEvent::TrialReused {
        record: Box::new(previous),
    });
}

/// How a finished record moves its walk: the verdict, and no lower rate after the candidate
/// died (launch failure, crash) or its warmup failed (which does not depend on the rate).
fn steer(walk: &mut QpsWalk, record: &TrialRecord) {
    if client_stall(record).is_some() {
        // The client was the bottleneck even after re-measuring: no verdict either way.
        walk.record_no_verdict();
    } else {
        walk.record(record.sla_passed);
    }
    if record.failure != FailureKind::Trial || record.diagnosis == Some(Diagnosis::WarmupFailed) {
        walk.abandon();
    }
}

fn copy_failure(record: &mut TrialRecord, failure: &TrialRecord) {
    record.error.clone_from(&failure.error);
    record.diagnosis = failure.diagnosis;
    record.failure = failure.failure;
    record.cause.clone_from(&failure.cause);
    record.hint.clone_from(&failure.hint);
}

fn trial_id<'a>(
    ctx: &Ctx<'_>,
    state: &'a ScenarioState,
    cand: &Candidate<'_>,
    qps: f64,
    mc: Option<u64>,
    port: Option<u16>,
) -> trial::TrialId<'a> {
    let port = port.or_else(|| cand.live.as_ref().and_then(|l| l.port));
    let flags = if port.is_some() || ctx.cfg.server.port.is_some() {
        server::with_host_port(ctx.cfg, cand.flags, port.or(ctx.cfg.server.port))
    } else {
        cand.flags.clone()
    };
    // A confirmation pools its requests with the search's trial at the same point.
    let pool_with = cand
        .stage
        .is_check()
        .then(|| {
            state.records.iter().find(|r| {
                r.stage == cand.stage.searched_in()
                    && r.candidate_id == cand.index
                    && r.requested_qps == qps
                    && r.max_concurrency == mc
                    && r.metrics.is_some()
            })
        })
        .flatten()
        .and_then(|r| state.dir.requests(&r.trial_key));
    trial::TrialId {
        stage: cand.stage,
        scenario: &state.scenario.name,
        scenario_slug: &state.scenario.slug,
        candidate_id: cand.index,
        flags,
        qps,
        max_concurrency: mc,
        pool_with,
    }
}

/// Launches the server when needed and measures one step; `None` when the run is stopping.
async fn measure(
    ctx: &mut Ctx<'_>,
    scenarios: &[ScenarioState],
    cand: &mut Candidate<'_>,
    scenario_index: usize,
    step: &Step,
    mc: Option<u64>,
) -> anyhow::Result<Option<TrialRecord>> {
    if cand.live.is_none() {
        super::memory::before_launch(ctx).await?;
    }
    let state = &scenarios[scenario_index];
    let launched = server::ensure(ctx, &mut cand.live, cand.stage, cand.index, cand.flags).await;
    if let Err(failure) = launched {
        if ctx.stop.is_some() {
            return Ok(None);
        }
        let record = launch_failure(ctx, state, cand, step.qps, mc, &failure);
        cand.dead = Some(record.clone());
        return Ok(Some(record));
    }
    let Some(live) = cand.live.as_ref() else {
        return Ok(None);
    };
    let id = trial_id(ctx, state, cand, step.qps, mc, live.port);
    ctx.report(RunEvent::TrialStarted {
        stage: cand.stage,
        candidate: cand.index,
        scenario: state.scenario.name.clone(),
        qps: step.qps,
        max_concurrency: mc,
    });
    let mut attempt = 1;
    loop {
        let bench = ctx.bench.clone();
        let Some(record) = bench.measure(ctx, live, state, &id).await? else {
            ctx.interrupted();
            return Ok(None);
        };
        let Some(reason) = client_stall(&record) else {
            return Ok(Some(record));
        };
        let point = format!(
            "[{}] cand={} scenario={} qps={:.4}",
            cand.stage, cand.index, state.scenario.name, step.qps
        );
        if attempt > CLIENT_RETRIES {
            ctx.report(RunEvent::Notice {
                text: format!(
                    "WARNING: {point}: the client could not keep its schedule in {attempt} attempts ({reason}); this point is recorded as client_limited and is no verdict: it neither passes, prunes nor ranks. Free CPU on this machine (or raise benchmark.max_client_lag_ms) and resume."
                ),
            });
            return Ok(Some(record));
        }
        ctx.report(RunEvent::Notice {
            text: format!(
                "warning: {point}: the client fell behind ({reason}); re-measuring (attempt {} of {})",
                attempt + 1,
                CLIENT_RETRIES + 1
            ),
        });
        attempt += 1;
    }
}

/// How many times a point whose client fell behind is measured again before it is recorded as
/// client-limited.
const CLIENT_RETRIES: u32 = 2;

/// Why the client, not the server, may have held this trial back.
fn client_stall(record: &TrialRecord) -> Option<String> {
    record
        .metrics
        .as_ref()
        .and_then(|m| m.client.as_ref())
        .and_then(|c| c.limited_reason.clone())
}

fn launch_failure(
    ctx: &Ctx<'_>,
    state: &ScenarioState,
    cand: &Candidate<'_>,
    qps: f64,
    mc: Option<u64>,
    failure: &LaunchError,
) -> TrialRecord {
    let mut record = trial_id(ctx, state, cand, qps, mc, None).empty_record();
    record.error = Some(format!("launch failed: {failure}"));
    record.failure = FailureKind::Launch;
    if let Some(classified) = failure.classify() {
        record.diagnosis = Some(classified.diagnosis);
        record.cause.clone_from(&classified.cause);
        record.hint = Some(classified.hint.clone());
        ctx.report(RunEvent::CandidateFailed {
            stage: cand.stage,
            candidate: cand.index,
            diagnosis: classified.diagnosis,
            failure: FailureKind::Launch,
            cause: classified.cause,
            hint: classified.hint,
        });
    }
    record
}

/// After a measured (or launch-failed) step: a crash check, the incumbent prune, the event, the
/// walk's next move, and the record on disk before anything else happens.
async fn conclude(
    ctx: &mut Ctx<'_>,
    state: &mut ScenarioState,
    cand: &mut Candidate<'_>,
    step: &Step,
    walk: &mut QpsWalk,
    mut record: TrialRecord,
) -> anyhow::Result<()> {
    let bench = ctx.bench.clone();
    let crash_log = match cand.live.as_mut() {
        Some(live) => bench.exited(live, saw_failures(&record)).await,
        None => None,
    };
    if let Some(log) = crash_log {
        mark_crashed(ctx, &mut record, cand, &log).await;
    }
    if step.kind == StepKind::IncumbentProbe
        && !record.sla_passed
        && client_stall(&record).is_none()
    {
        record.heuristic_pruned = true;
        record.heuristic_reason = Some("Failed incumbent probe; skipped lower-QPS search because it cannot beat the current best candidate.".into());
    }
    steer(walk, &record);
    let requests = std::mem::take(&mut record.requests);
    if let Some(path) = state
        .dir
        .requests(&record.trial_key)
        .filter(|_| !requests.is_empty())
    {
        super::timings::write(&path, &requests)?;
    }
    state.push_new(record.clone())?;
    state.write_outputs(ctx.cfg, None, shared::answer::RunState::Running)?;
    ctx.report(RunEvent::TrialFinished {
        record: Box::new(record),
    });
    if ctx.cfg.server.relaunch_per_trial {
        server::stop(&mut cand.live).await;
    }
    Ok(())
}

/// Whether a trial saw failed requests (or failed its warmup), as a crashing server leaves it.
fn saw_failures(record: &TrialRecord) -> bool {
    record.diagnosis == Some(Diagnosis::WarmupFailed)
        || record.metrics.as_ref().is_some_and(|m| m.failed > 0)
}

/// The server exited during the trial (`log`: its tail): the record says so, with the log line
/// that explains it.
async fn mark_crashed(
    ctx: &Ctx<'_>,
    record: &mut TrialRecord,
    cand: &mut Candidate<'_>,
    log: &str,
) {
    let classified = launcher::classify(log);
    let diagnosis = if classified.diagnosis == Diagnosis::Oom {
        Diagnosis::Oom
    } else {
        Diagnosis::Crashed
    };
    record.error = Some("the server exited during the trial".into());
    record.diagnosis = Some(diagnosis);
    record.failure = FailureKind::ServerExit;
    record.cause.clone_from(&classified.cause);
    record.hint = Some(classified.hint.clone());
    record.sla_passed = false;
    ctx.report(RunEvent::CandidateFailed {
        stage: cand.stage,
        candidate: cand.index,
        diagnosis,
        failure: FailureKind::ServerExit,
        cause: classified.cause,
        hint: classified.hint,
    });
    cand.dead = Some(record.clone());
    server::stop(&mut cand.live).await;
}
