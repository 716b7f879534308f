//! `autobench worker`: one candidate's whole base-stage search in a process of its own, on the
//! GPUs the orchestrator gave it ([`super::partitions`]). It measures exactly as a sequential run
//! does (the same [`super::candidate::run_candidate`]), replays what the run already holds, and
//! writes its trials to `<run>/workers/cand-<i>/` (its own live results, events, progress log and
//! server logs), which the orchestrator reads into the run. Nothing is shared for writing, so
//! several workers never interleave in one file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use tokio::time::Instant;

use shared::record::Stage;
use shared::run_dir::RunDir;

use super::candidate::{self, Walks};
use super::scenario::ScenarioState;
use super::{Ctx, prepare};
use crate::cancel::CancelReceiver;
use crate::config::RunConfig;
use crate::reporter::Reporter;

/// The folder of candidate `index`'s worker in `run`.
pub(crate) fn worker_dir(run: &Path, index: usize) -> PathBuf {
    run.join("workers").join(format!("cand-{index}"))
}

/// Whether the worker of `folder` finished its work (a resume does not start it again).
pub(crate) fn is_done(folder: &Path) -> bool {
    folder.join("done").exists()
}

/// Leaves the mark [`is_done`] reads.
fn mark_done(folder: &Path) -> anyhow::Result<()> {
    let done = folder.join("done");
    std::fs::write(&done, b"").with_context(|| format!("cannot write {}", done.display()))
}

/// The folder of the worker that runs the confirmation and speculative stages (Slurm).
pub(crate) fn finish_dir(run: &Path) -> PathBuf {
    run.join("workers").join("finish")
}

/// The confirmation and speculative stages on this node, after the base stage ran in other
/// workers: the run's records say what to confirm, exactly as the orchestrator will when it
/// replays this worker's trials.
pub(crate) async fn run_finish(
    cfg: &RunConfig,
    gpus: &str,
    budget: Duration,
    reporter: &dyn Reporter,
    cancel: CancelReceiver,
) -> anyhow::Result<()> {
    let cfg = on_gpus(cfg, gpus);
    let run_dir = RunDir::new(&cfg.output_dir);
    let own = RunDir::new(finish_dir(&cfg.output_dir));
    prepare::create_dir(own.root())?;
    let mut scenarios = scenarios(&cfg, &run_dir, &own, usize::MAX).await?;
    for state in &mut scenarios {
        state.incumbent.clear();
    }
    let mut ctx = Ctx::new(&cfg, reporter, own, cancel, Instant::now() + budget);
    super::confirm::run_stage(&mut ctx, &mut scenarios).await?;
    super::cost::run_stage(&mut ctx, &mut scenarios).await?;
    super::speculative::run_stage(&mut ctx, &mut scenarios).await?;
    if ctx.stop.is_some() {
        anyhow::bail!("the finishing worker stopped early (a signal or the time budget)");
    }
    mark_done(&finish_dir(&cfg.output_dir))?;
    Ok(())
}

/// Runs candidate `index`'s base-stage walks, on `gpus`, until done or cancelled; `budget` is
/// what is left of the run's time budget.
pub(crate) async fn run(
    cfg: &RunConfig,
    index: usize,
    gpus: &str,
    budget: Duration,
    reporter: &dyn Reporter,
    cancel: CancelReceiver,
) -> anyhow::Result<()> {
    let flags = cfg
        .candidates
        .candidates
        .get(index)
        .with_context(|| format!("the config has no candidate {index}"))?
        .clone();
    let cfg = on_gpus(cfg, gpus);
    let run_dir = RunDir::new(&cfg.output_dir);
    let own = RunDir::new(worker_dir(&cfg.output_dir, index));
    prepare::create_dir(own.root())?;
    let mut scenarios = scenarios(&cfg, &run_dir, &own, index).await?;
    let mut ctx = Ctx::new(&cfg, reporter, own, cancel, Instant::now() + budget);
    candidate::run_candidate(
        &mut ctx,
        &mut scenarios,
        Stage::Base,
        index,
        &flags,
        Walks::All,
    )
    .await?;
    if ctx.stop.is_some() {
        anyhow::bail!(
            "the worker of candidate {index} stopped early (a signal or the time budget)"
        );
    }
    mark_done(&worker_dir(&cfg.output_dir, index))?;
    Ok(())
}

/// `cfg` with its servers on `gpus` (`CUDA_VISIBLE_DEVICES`); unchanged when `gpus` is empty
/// (under Slurm without GPUs allocated, the job's environment has none to give).
fn on_gpus(cfg: &RunConfig, gpus: &str) -> RunConfig {
    let mut cfg = cfg.clone();
    if !gpus.is_empty() {
        cfg.server
            .env
            .retain(|(key, _)| key != "CUDA_VISIBLE_DEVICES");
        cfg.server
            .env
            .push(("CUDA_VISIBLE_DEVICES".into(), gpus.to_string()));
    }
    cfg
}

/// Every scenario as the run prepared it (the same rows, generated again: they are
/// deterministic, and their fingerprint must match the run's), with the run's records and this
/// worker's own so far, writing to the worker's folder.
async fn scenarios(
    cfg: &RunConfig,
    run_dir: &RunDir,
    own: &RunDir,
    candidate: usize,
) -> anyhow::Result<Vec<ScenarioState>> {
    let stored_meta = super::meta::load(run_dir)?.context(
        "the run folder has no run_meta.json: a worker runs inside a run the orchestrator started",
    )?;
    let single = cfg.scenarios.len() == 1;
    let mut states = Vec::new();
    for (index, scenario) in cfg.scenarios.iter().enumerate() {
        let rows = crate::dataset::prepare(&cfg.dataset, scenario, index, &cfg.benchmark.tokenizer)
            .await?;
        let shared_dir = run_dir.scenario(&scenario.slug, single);
        let dir = own.scenario(&scenario.slug, single);
        prepare::create_dir(dir.dir())?;
        crate::dataset::write_prepared(&dir.prepared_dataset(), &rows)?;
        let fingerprint = crate::dataset::fingerprint(&dir.prepared_dataset())?;
        if stored_meta.datasets.get(&scenario.slug) != Some(&fingerprint) {
            anyhow::bail!(
                "scenario `{}`: the worker prepared other rows than the run measured with (the dataset source or tokenizer changed under it)",
                scenario.name
            );
        }
        let backend = prepare::request_backend(cfg, &rows)?;
        let mut records = prepare::resumed_records(cfg, &shared_dir.live_results(), false)?;
        for record in prepare::resumed_records(cfg, &dir.live_results(), false)? {
            records.retain(|r| r.trial_key != record.trial_key);
            records.push(record);
        }
        let mut state = ScenarioState::new(scenario.clone(), dir, rows, backend, records);
        // Other candidates' passing rates so far: the incumbent this worker probes at.
        let passing: Vec<_> = state
            .records
            .iter()
            .filter(|r| r.stage == Stage::Base && r.candidate_id != candidate)
            .cloned()
            .collect();
        for record in &passing {
            state.note_incumbent(record);
        }
        states.push(state);
    }
    Ok(states)
}
