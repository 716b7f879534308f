//! The run orchestrator, the only module that knows the whole story: prepare every scenario's
//! dataset ([`prepare`]), then for each candidate launch **one** server and reuse it for all its
//! rates, `max_concurrency` values and scenarios ([`candidate`], [`server`]), record every trial
//! on disk as it ends, then run the optional speculative stage per scenario ([`speculative`]) and
//! write the summaries ([`finish`]). Everything that happens is reported as a typed
//! [`shared::events::RunEvent`] to a [`Reporter`]. Resume replays the same walk and reuses finished
//! trials by content key; cancellation (SIGINT/SIGTERM) and the time budget stop the run with
//! complete partial outputs.

mod accept;
mod bench;
mod candidate;
mod confirm;
mod cost;
#[cfg(test)]
mod fake;
mod finish;
mod memory;
pub(crate) mod meta;
mod nodes;
pub(crate) mod owner;
mod partitions;
mod prepare;
mod scenario;
mod server;
mod slurm;
mod speculative;
#[cfg(test)]
mod tests;
mod timings;
mod trial;
pub(crate) mod worker;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::bail;
use tokio::time::Instant;

use shared::api::RunStatus;
use shared::events::{CandidateInfo, RunEvent, RunPlan, ScenarioAnswer};
use shared::record::{Stage, TrialRecord};
use shared::run_dir::RunDir;

use crate::cancel::CancelReceiver;
use crate::config::RunConfig;
use crate::launcher;
use crate::loadgen;
use crate::reporter::Reporter;

pub(crate) use scenario::{ScenarioState, dataset_line, sla_text};

/// What a finished (or stopped) run produced.
#[derive(Debug)]
pub(crate) struct RunOutcome {
    /// Output directory.
    pub output_dir: PathBuf,
    /// Per scenario: name, folder, best passing record, its launch command.
    pub scenarios: Vec<ScenarioResult>,
    /// How the run ended.
    pub status: RunStatus,
    /// Why the run stopped early, if it did.
    pub partial: Option<String>,
    /// Whether the speculative stage ran (`None`: not enabled).
    pub speculative: Option<String>,
    /// Server logs written.
    pub server_logs: Vec<PathBuf>,
    /// The run stopped because its first candidates all failed to launch the same way.
    pub launch_failure: bool,
}

/// One scenario's result.
#[derive(Debug)]
pub(crate) struct ScenarioResult {
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
    /// What re-measuring the top candidates found.
    pub confirmation: Option<shared::verdict::Confirmation>,
    /// The answer in words.
    pub answer: shared::answer::Answer,
    /// Every candidate's place.
    pub standings: Vec<shared::answer::Standing>,
}

impl ScenarioResult {
    /// Ranked by cost (`benchmark.rank_by: cost`), the cost ranking's outcome when the answer is a
    /// cheaper command than the fastest: [`ScenarioResult::best`] is then its cost check, and the
    /// confirmation's own fields describe the fastest.
    pub(crate) fn cheaper_answer(&self) -> Option<&shared::verdict::CostOutcome> {
        let best = self.best.as_ref()?;
        self.confirmation
            .as_ref()?
            .by_cost
            .as_ref()
            .filter(|o| best.stage == Stage::CostCheck && best.candidate_id == o.candidate)
    }

    /// The rate the answer holds the SLA up to, when a trial met it: the answer's own rate
    /// ([`shared::answer::Answer::rate`]: a cheaper or speculative answer's checked rate, the
    /// rate the check held). `None` when the check failed at every rate: the search's rate it
    /// refuted is no answer.
    pub(crate) fn answer_rate(&self) -> Option<f64> {
        self.best.as_ref()?;
        self.answer.rate
    }
}

impl RunOutcome {
    /// True when some candidate met the SLA in some scenario.
    pub(crate) fn any_passed(&self) -> bool {
        self.scenarios.iter().any(|s| s.best.is_some())
    }
}

/// Why the run loop stopped early.
enum Stop {
    Cancelled,
    Deadline,
    /// The first candidates all failed to launch the same way before anything was measured.
    SameLaunchFailure(String),
}

/// This many candidates failing to launch the same way, with nothing measured, stop the run (a
/// missing package or a port in use fails every candidate; trying them all only wastes time).
const SAME_FAILURE_STREAK: usize = 3;

/// The shared cause when candidates `0..=last` all failed to launch with the same diagnosis and
/// cause and no trial was measured, and either the streak is long enough or no candidate is left.
fn same_launch_failure(scenarios: &[ScenarioState], last: usize, total: usize) -> Option<String> {
    if last + 1 < SAME_FAILURE_STREAK.min(total) {
        return None;
    }
    let records: Vec<&TrialRecord> = scenarios
        .iter()
        .flat_map(|s| s.records.iter())
        .filter(|r| r.stage == Stage::Base)
        .collect();
    if records.iter().any(|r| r.metrics.is_some()) {
        return None;
    }
    let failure = |id: usize| {
        records
            .iter()
            .find(|r| r.candidate_id == id && r.is_launch_failure())
            .map(|r| (r.diagnosis, r.cause.clone()))
    };
    let first = failure(0)?;
    let cause = first.1.clone()?;
    (1..=last)
        .all(|id| failure(id).as_ref() == Some(&first))
        .then(|| match first.0 {
            Some(diagnosis) => format!("{diagnosis}: {cause}"),
            None => cause,
        })
}

struct Ctx<'a> {
    cfg: &'a RunConfig,
    reporter: &'a dyn Reporter,
    run_dir: RunDir,
    /// Turns `true` on SIGINT/SIGTERM or when the time budget runs out, whichever comes first:
    /// every wait (a launch, a trial, a cache reset) watches this one, so a trial never runs past
    /// the deadline by more than its drain.
    cancel: CancelReceiver,
    /// Turns `true` on SIGINT/SIGTERM only: tells a signal from the deadline.
    signal: CancelReceiver,
    deadline: Instant,
    stop: Option<Stop>,
    server_logs: Vec<PathBuf>,
    client: reqwest::Client,
    /// Whether servers may be launched on this machine (not by a Slurm run's orchestrator).
    local_launches: bool,
    /// Launches and measures ([`bench::RealBench`]; a scripted fake in tests).
    bench: Arc<dyn bench::Bench>,
    /// Each GPU's memory use at the start of the run (`nvidia-smi`), for the memory gate before
    /// every launch ([`memory`]); `None` without `nvidia-smi`.
    gpu_baseline: Option<std::collections::BTreeMap<String, f64>>,
}

impl<'a> Ctx<'a> {
    /// A context writing to `run_dir`, stopped by `signal` or at `deadline`.
    fn new(
        cfg: &'a RunConfig,
        reporter: &'a dyn Reporter,
        run_dir: RunDir,
        signal: CancelReceiver,
        deadline: Instant,
    ) -> Ctx<'a> {
        Ctx {
            cfg,
            reporter,
            run_dir,
            cancel: crate::cancel::with_deadline(signal.clone(), deadline),
            signal,
            deadline,
            stop: None,
            server_logs: Vec::new(),
            client: loadgen::http_client(),
            local_launches: true,
            bench: Arc::new(bench::RealBench),
            gpu_baseline: None,
        }
    }

    /// The same context launching and measuring through `bench`.
    fn with_bench(mut self, bench: Arc<dyn bench::Bench>) -> Ctx<'a> {
        self.bench = bench;
        self
    }

    fn report(&self, event: RunEvent) {
        self.reporter.report(&event);
    }

    /// A signal or the time budget stopped the run: noted once, as an event.
    fn interrupted(&mut self) {
        if !*self.signal.borrow() && Instant::now() >= self.deadline {
            self.budget_reached();
            return;
        }
        if self.stop.is_none() {
            self.report(RunEvent::Interrupted);
        }
        self.stop = Some(Stop::Cancelled);
    }

    /// The time budget ran out: noted once, as an event.
    fn budget_reached(&mut self) {
        if self.stop.is_none() {
            self.report(RunEvent::BudgetReached {
                budget_h: self.cfg.max_duration.as_secs_f64() / 3600.0,
            });
            self.stop = Some(Stop::Deadline);
        }
    }
}

/// Runs the whole search.
pub(crate) async fn run(
    cfg: &RunConfig,
    reporter: &dyn Reporter,
    cancel: CancelReceiver,
) -> anyhow::Result<RunOutcome> {
    run_with(cfg, reporter, cancel, Arc::new(bench::RealBench)).await
}

/// Runs the whole search, launching and measuring through `bench`.
async fn run_with(
    cfg: &RunConfig,
    reporter: &dyn Reporter,
    cancel: CancelReceiver,
    bench: Arc<dyn bench::Bench>,
) -> anyhow::Result<RunOutcome> {
    let started = Instant::now();
    if let Some(spec) = &cfg.speculative
        && spec.draft_model_path.trim().is_empty()
    {
        bail!(
            "speculative.enabled is true but speculative.draft_model_path is empty: set the draft model path or disable the speculative stage"
        );
    }
    let run_dir = RunDir::new(&cfg.output_dir);
    prepare::create_dir(run_dir.root())?;
    reporter.report(&RunEvent::RunStarted { plan: plan(cfg) });
    let reaped = launcher::registry::reap_survivors(&run_dir.state());
    if !reaped.is_empty() {
        reporter.report(&RunEvent::Notice {
            text: format!(
                "reaped {} server process(es) left by an earlier run of this output dir: {reaped:?}",
                reaped.len()
            ),
        });
    }
    let sla_changed = prepare::check_meta(cfg, &run_dir)?;
    let mut scenarios = prepare::prepare_scenarios(cfg, &run_dir, reporter, sla_changed).await?;
    let mut ctx =
        Ctx::new(cfg, reporter, run_dir, cancel, started + cfg.max_duration).with_bench(bench);
    // The memory gate's start (a Slurm run's orchestrator launches nothing here).
    if cfg.server.launch && !matches!(cfg.executor, crate::config::ExecutorPlan::Slurm(_)) {
        ctx.gpu_baseline = crate::gpus::memory_used().await;
    }
    ctx.report(RunEvent::StageStarted {
        stage: Stage::Base,
        scenario: None,
        candidates: plan(cfg).candidates,
    });
    let mut finishing = true;
    match &cfg.executor {
        crate::config::ExecutorPlan::Partitions(plan) => {
            partitions::run_base_stage(&mut ctx, &mut scenarios, plan).await?;
        }
        crate::config::ExecutorPlan::Slurm(plan) => {
            slurm::run_base_stage(&mut ctx, &mut scenarios, plan).await?;
            // The confirmation and speculative stages run in one more job; here they are
            // replayed from what it measured.
            finishing =
                ctx.stop.is_none() && slurm::run_finish_job(&mut ctx, &mut scenarios, plan).await?;
            ctx.local_launches = false;
        }
        crate::config::ExecutorPlan::Local => run_sequential(&mut ctx, &mut scenarios).await?,
    }
    if !finishing && ctx.stop.is_none() {
        let skipped =
            "skipped: the Slurm job of the confirmation and speculative stages did not complete";
        ctx.report(RunEvent::Notice {
            text: format!(
                "warning: confirmation {skipped}; the answer is the search's, unconfirmed"
            ),
        });
        let speculative = cfg.speculative.as_ref().map(|_| skipped.to_string());
        return finish::finish(ctx, scenarios, speculative);
    }
    confirm::run_stage(&mut ctx, &mut scenarios).await?;
    cost::run_stage(&mut ctx, &mut scenarios).await?;
    let speculative = speculative::run_stage(&mut ctx, &mut scenarios).await?;
    finish::finish(ctx, scenarios, speculative)
}

/// The base stage on this machine, one candidate after another; the first candidates all failing
/// to launch the same way stop it.
async fn run_sequential(ctx: &mut Ctx<'_>, scenarios: &mut [ScenarioState]) -> anyhow::Result<()> {
    let candidates = &ctx.cfg.candidates.candidates;
    for (index, flags) in candidates.iter().enumerate() {
        if ctx.stop.is_some() {
            break;
        }
        let walks = candidate::Walks::All;
        candidate::run_candidate(ctx, scenarios, Stage::Base, index, flags, walks).await?;
        if ctx.stop.is_none()
            && let Some(cause) = same_launch_failure(scenarios, index, candidates.len())
        {
            ctx.report(RunEvent::Notice {
                text: format!(
                    "error: the first {} candidate(s) all failed to launch the same way, and nothing was measured: {cause}",
                    index + 1
                ),
            });
            ctx.stop = Some(Stop::SameLaunchFailure(cause));
        }
    }
    Ok(())
}

/// The plan the run starts with.
fn plan(cfg: &RunConfig) -> RunPlan {
    let per_walk = cfg.benchmark.qps.estimate_trials() as u64;
    let candidates = &cfg.candidates.candidates;
    RunPlan {
        candidates: candidates
            .iter()
            .enumerate()
            .map(|(id, flags)| CandidateInfo {
                stage: Stage::Base,
                id,
                flags: flags.clone(),
            })
            .collect(),
        scenarios: cfg.scenarios.iter().map(|s| s.name.clone()).collect(),
        estimated_trials: candidates.len() as u64
            * cfg.scenarios.len() as u64
            * cfg.benchmark.max_concurrency.len() as u64
            * per_walk,
        resume: cfg.resume,
        pid: std::process::id(),
        autobench_version: env!("CARGO_PKG_VERSION").into(),
        confirm_trial_seconds: Some(cfg.benchmark.confirm_trial_seconds),
        gpu_hour_price: cfg.benchmark.gpu_hour_price.clone(),
    }
}

/// The answer of each scenario, for the final event.
fn answers(cfg: &RunConfig, scenarios: &[ScenarioState]) -> Vec<ScenarioAnswer> {
    scenarios
        .iter()
        .map(|s| ScenarioAnswer {
            scenario: s.scenario.name.clone(),
            best: s.best().map(|b| shared::events::BestTrial {
                stage: b.stage,
                candidate: b.candidate_id,
                // An overturned winner is credited with the rate it credibly passes at.
                rate: s
                    .confirmation
                    .as_ref()
                    .filter(|c| !c.confirmed)
                    .and_then(|c| c.passes_at)
                    .unwrap_or_else(|| shared::ranking::credited_rate(b)),
                max_concurrency: b.max_concurrency,
            }),
            command: s.best_command(cfg),
            confirmation: s.confirmation.clone(),
        })
        .collect()
}
