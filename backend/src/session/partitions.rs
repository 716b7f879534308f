//! The base stage on disjoint GPU sets of this machine (`executor: {kind: partitions}`): as many
//! candidates at once as their GPU needs fit, each in an `autobench worker` process of its own
//! (its own `CUDA_VISIBLE_DEVICES`, ports, load generator and, when the machine has the cores,
//! its own CPU cores), in candidate order; a candidate that needs more GPUs than are free waits.
//! A GPU listed twice (`gpus: [0, 0]`) takes two candidates at once, with memory shares that fit.
//! Before a candidate starts on GPUs, their memory must be back near what it was at the start of
//! the run (`nvidia-smi`); a GPU that does not come back in time stops the run, naming what holds
//! it. The workers' trials are read into the run as they land (every half second), so results,
//! events and resume are the same as a sequential run's; SIGINT/SIGTERM stop every worker (each
//! takes its server down) before the partial results are written.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::time::Instant;

use shared::events::RunEvent;
use shared::record::{Stage, TrialRecord};
use shared::run_dir::RunDir;

use super::Ctx;
use super::scenario::ScenarioState;
use super::worker::{is_done, worker_dir};
use crate::config::Partitions;

/// How often the workers' files are read.
const POLL: Duration = Duration::from_millis(500);

/// How long a worker has to stop after SIGTERM before it is killed.
const WORKER_GRACE: Duration = Duration::from_secs(30);

/// One running worker.
struct Worker {
    index: usize,
    gpus: Vec<String>,
    cores: Option<Vec<usize>>,
    child: tokio::process::Child,
    /// Bytes of its live results read so far, per scenario.
    seen: Vec<u64>,
}

/// Runs every base candidate through workers on `partitions`.
pub(super) async fn run_base_stage(
    ctx: &mut Ctx<'_>,
    scenarios: &mut [ScenarioState],
    partitions: &Partitions,
) -> anyhow::Result<()> {
    // Trials of an earlier orchestrator that it did not read in before it stopped.
    for index in 0..partitions.needs.len() {
        ingest(ctx, scenarios, index, &mut vec![0; scenarios.len()])?;
    }
    let baseline = crate::gpus::memory_used().await;
    if baseline.is_none() {
        ctx.report(RunEvent::Notice {
            text: "warning: nvidia-smi is not available: candidates start on GPUs without checking that their memory came back".into(),
        });
    }
    let slots = most_at_once(partitions);
    let core_sets = core_sets(slots);
    let mut free: Vec<String> = partitions.gpus.clone();
    let mut free_cores: Vec<Vec<usize>> = core_sets.clone().unwrap_or_default();
    let mut running: Vec<Worker> = Vec::new();
    let mut next = 0;
    loop {
        while ctx.stop.is_none() && next < partitions.needs.len() {
            if is_done(&worker_dir(&ctx.cfg.output_dir, next)) {
                next += 1;
                continue;
            }
            let need = partitions.needs[next];
            if free.len() < need {
                break;
            }
            let gpus: Vec<String> = free.drain(..need).collect();
            // A GPU listed more than once is shared by design (memory shares that fit, e.g.
            // --cb-max-memory-percent): while a running candidate holds it, its memory is in use
            // and is not waited for.
            let unshared: Vec<String> = gpus
                .iter()
                .filter(|gpu| !running.iter().any(|w| w.gpus.contains(gpu)))
                .cloned()
                .collect();
            if let Some(baseline) = &baseline {
                super::memory::wait_for_memory(ctx, &unshared, baseline, ctx.cfg.memory_gate)
                    .await?;
            }
            let cores = core_sets.as_ref().and_then(|_| free_cores.pop());
            running.push(spawn(ctx, next, gpus, cores)?);
            next += 1;
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = crate::cancel::cancelled(&mut ctx.cancel) => {
                ctx.interrupted();
            }
        }
        if ctx.stop.is_some() {
            stop_all(&mut running).await;
        }
        let mut still = Vec::new();
        for mut worker in running {
            ingest(ctx, scenarios, worker.index, &mut worker.seen)?;
            match worker.child.try_wait() {
                Ok(Some(status)) => {
                    ingest(ctx, scenarios, worker.index, &mut worker.seen)?;
                    free.append(&mut worker.gpus);
                    free_cores.extend(worker.cores.take());
                    finished(ctx, worker.index, status.success());
                }
                _ => still.push(worker),
            }
        }
        running = still;
    }
    Ok(())
}

/// The most candidates that can run at once (for sharing out the cores).
fn most_at_once(partitions: &Partitions) -> usize {
    let smallest = partitions.needs.iter().copied().min().unwrap_or(1).max(1);
    (partitions.gpus.len() / smallest).clamp(1, partitions.needs.len().max(1))
}

/// Disjoint core sets, one per worker, when the machine has at least two cores per worker (a
/// load generator and its server's CPU side); `None` otherwise (the client self-check then
/// catches a starved load generator, and its trial is measured again).
fn core_sets(slots: usize) -> Option<Vec<Vec<usize>>> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if slots < 2 || cores < 2 * slots {
        return None;
    }
    let per = cores / slots;
    Some(
        (0..slots)
            .map(|slot| (slot * per..(slot + 1) * per).collect())
            .collect(),
    )
}

/// Starts candidate `index`'s worker on `gpus`.
fn spawn(
    ctx: &mut Ctx<'_>,
    index: usize,
    gpus: Vec<String>,
    cores: Option<Vec<usize>>,
) -> anyhow::Result<Worker> {
    let cfg = ctx.cfg;
    let dir = worker_dir(&cfg.output_dir, index);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let log = std::fs::File::create(dir.join("worker.log"))
        .with_context(|| format!("cannot create {}", dir.join("worker.log").display()))?;
    let budget = ctx.deadline.saturating_duration_since(Instant::now());
    let mut command = tokio::process::Command::new(crate::config::current_exe());
    command
        .arg("worker")
        .arg("--config")
        .arg(&cfg.config_path)
        .arg("--paths-from")
        .arg(if cfg.paths_base.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            cfg.paths_base.as_path()
        })
        .arg("--run-dir")
        .arg(&cfg.output_dir)
        .args(["--candidate", &index.to_string(), "--gpus", &gpus.join(",")])
        .args(["--budget-s", &format!("{:.3}", budget.as_secs_f64())]);
    if let crate::config::KeyMap::Neutral(framework) = cfg.keys {
        command.args(["--framework", framework]);
    }
    command
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .kill_on_drop(true);
    let pin = cores.clone();
    #[expect(
        unsafe_code,
        reason = "pre_exec is unsafe; the closure only calls async-signal-safe prctl and sched_setaffinity"
    )]
    // SAFETY: between fork and exec only async-signal-safe calls are made.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)?;
            if let Some(cores) = &pin {
                let mut set = nix::sched::CpuSet::new();
                for core in cores {
                    let _ = set.set(*core);
                }
                let _ = nix::sched::sched_setaffinity(Pid::from_raw(0), &set);
            }
            Ok(())
        });
    }
    let child = command
        .spawn()
        .with_context(|| format!("cannot start the worker of candidate {index}"))?;
    ctx.report(RunEvent::CandidateLaunching {
        stage: Stage::Base,
        candidate: index,
        command: crate::results::command::render(&cfg.server, &cfg.candidates.candidates[index])
            .replace(" \\\n  ", " "),
    });
    ctx.report(RunEvent::JobState {
        stage: Stage::Base,
        candidate: index,
        job: format!("worker pid {}", child.id().unwrap_or_default()),
        state: format!(
            "on GPU(s) {}{}",
            gpus.join(","),
            cores
                .as_ref()
                .map(|c| format!(", cores {}-{}", c[0], c[c.len() - 1]))
                .unwrap_or_default()
        ),
    });
    Ok(Worker {
        index,
        gpus,
        cores,
        child,
        seen: Vec::new(),
    })
}

/// SIGTERM to every worker's group, then SIGKILL to any still there after the grace.
async fn stop_all(running: &mut [Worker]) {
    for worker in running.iter() {
        if let Some(pid) = worker.child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
    let deadline = Instant::now() + WORKER_GRACE;
    for worker in running.iter_mut() {
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, worker.child.wait())
            .await
            .is_err()
        {
            if let Some(pid) = worker.child.id().and_then(|p| i32::try_from(p).ok()) {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = worker.child.wait().await;
        }
    }
}

/// A worker ended: done, or failed (its log says why).
pub(super) fn finished(ctx: &Ctx<'_>, index: usize, success: bool) {
    if !success && ctx.stop.is_none() {
        ctx.report(RunEvent::Notice {
            text: format!(
                "warning: the worker of candidate {index} ended with an error; see {}",
                worker_dir(&ctx.cfg.output_dir, index)
                    .join("worker.log")
                    .display()
            ),
        });
    }
    ctx.report(RunEvent::CandidateDone {
        stage: Stage::Base,
        candidate: index,
    });
}

/// Reads the worker's new trials into the run: appended to the run's live results, reported,
/// and the scenario's files rewritten. A trial the run already holds is not taken twice.
pub(super) fn ingest(
    ctx: &Ctx<'_>,
    scenarios: &mut [ScenarioState],
    index: usize,
    seen: &mut Vec<u64>,
) -> anyhow::Result<()> {
    ingest_from(
        ctx,
        scenarios,
        &worker_dir(&ctx.cfg.output_dir, index),
        seen,
    )
}

/// [`ingest`] from any worker folder.
pub(super) fn ingest_from(
    ctx: &Ctx<'_>,
    scenarios: &mut [ScenarioState],
    folder: &Path,
    read_to: &mut Vec<u64>,
) -> anyhow::Result<()> {
    read_to.resize(scenarios.len(), 0);
    let own = RunDir::new(folder);
    let single = scenarios.len() == 1;
    for (slot, state) in scenarios.iter_mut().enumerate() {
        let path = own.scenario(&state.scenario.slug, single).live_results();
        let records = complete_records(&path, &mut read_to[slot]);
        let mut changed = false;
        for record in records {
            if held(state, &record) {
                continue;
            }
            state.push_new(record.clone())?;
            // A later walk of this run (the confirmation, a failed job's record) replays it.
            state
                .stored
                .insert(record.trial_key.clone(), record.clone());
            ctx.report(RunEvent::TrialFinished {
                record: Box::new(record),
            });
            changed = true;
        }
        if changed {
            state.write_outputs(ctx.cfg, None, shared::answer::RunState::Running)?;
        }
    }
    Ok(())
}

/// Whether the run already holds this trial: a record with its key, unless that one is a launch
/// failure the worker has since retried with a measurement.
fn held(state: &ScenarioState, record: &TrialRecord) -> bool {
    state.records.iter().any(|r| {
        r.trial_key == record.trial_key && (!r.is_launch_failure() || record.is_launch_failure())
    })
}

/// The records another process appended to `path` since byte `read_to`, complete lines only;
/// `read_to` moves past them.
fn complete_records(path: &Path, read_to: &mut u64) -> Vec<TrialRecord> {
    use std::io::{Read as _, Seek as _};
    let mut bytes = Vec::new();
    let read = std::fs::File::open(path).and_then(|mut file| {
        file.seek(std::io::SeekFrom::Start(*read_to))?;
        file.read_to_end(&mut bytes)
    });
    if read.is_err() {
        return Vec::new();
    }
    let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else {
        return Vec::new();
    };
    *read_to += end as u64 + 1;
    String::from_utf8_lossy(&bytes[..=end])
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
