//! The base stage on a Slurm cluster (`executor: {kind: slurm}`): one job per candidate asking for
//! its GPUs (`--gres=gpu:N`, one node), running `autobench worker` on the allocated node, which
//! launches the server there, drives it over loopback and writes its trials to the run folder
//! (a filesystem the orchestrator and the nodes share). The orchestrator follows the jobs
//! (`squeue`, then `scontrol show job` once a job has left the queue), reads the trials in as they
//! land, and reports each job's state (pending with Slurm's reason, running on a node, done). A
//! job that dies (node failure, time limit, preemption) is submitted again up to `retries` times,
//! then its candidate is recorded as failed with Slurm's reason. SIGINT/SIGTERM cancel every job
//! this run submitted, by job id, and nothing else; the ids are kept in
//! `<run>/.autobench/slurm-jobs`, so a resume first cancels the jobs a killed orchestrator left.

mod probe;
mod script;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use shared::events::RunEvent;
use shared::record::{FailureKind, Stage, TrialRecord};

use super::partitions::{finished, ingest_from};
use super::scenario::ScenarioState;
use super::worker::{finish_dir, is_done, worker_dir};
use super::{Ctx, candidate};
use crate::config::SlurmPlan;

/// How often the queue is read.
const POLL: Duration = Duration::from_secs(1);

/// What a job runs: one candidate's base stage, or the confirmation and speculative stages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Task {
    Candidate(usize),
    Finish,
}

impl Task {
    fn folder(self, run: &Path) -> PathBuf {
        match self {
            Task::Candidate(index) => worker_dir(run, index),
            Task::Finish => finish_dir(run),
        }
    }

    fn name(self) -> String {
        match self {
            Task::Candidate(index) => format!("cand {index}"),
            Task::Finish => "confirmation".into(),
        }
    }
}

/// One submitted job.
struct Job {
    task: Task,
    id: String,
    attempt: u32,
    /// The state last reported (`PENDING (Resources)`, `RUNNING on node1`).
    shown: String,
    /// Bytes of its worker's live results read so far, per scenario.
    seen: Vec<u64>,
}

/// Runs every base candidate as a Slurm job.
pub(super) async fn run_base_stage(
    ctx: &mut Ctx<'_>,
    scenarios: &mut [ScenarioState],
    plan: &SlurmPlan,
) -> anyhow::Result<()> {
    cancel_leftovers(ctx).await;
    let tasks: Vec<Task> = (0..plan.needs.len()).map(Task::Candidate).collect();
    let run = ctx.cfg.output_dir.clone();
    if tasks.iter().any(|t| !is_done(&t.folder(&run)))
        && !probe::shared_filesystem(ctx, plan).await?
    {
        return Ok(());
    }
    run_jobs(ctx, scenarios, plan, &tasks).await.map(|_| ())
}

/// Runs the confirmation and speculative stages as one more job, on as many GPUs as the largest
/// candidate needs, and reads its trials in. `false` when it did not complete (retries spent, or
/// the run was stopped): the orchestrator then leaves the answer unconfirmed rather than launch
/// servers where it runs.
pub(super) async fn run_finish_job(
    ctx: &mut Ctx<'_>,
    scenarios: &mut [ScenarioState],
    plan: &SlurmPlan,
) -> anyhow::Result<bool> {
    run_jobs(ctx, scenarios, plan, &[Task::Finish]).await
}

/// Submits a job per task not done yet (at most `max_jobs` in flight), follows each until its
/// worker is done or its retries are spent, and reads its trials in as they land. A candidate
/// whose job kept dying is recorded as failed with Slurm's reason. `true` when every task is done.
async fn run_jobs(
    ctx: &mut Ctx<'_>,
    scenarios: &mut [ScenarioState],
    plan: &SlurmPlan,
    tasks: &[Task],
) -> anyhow::Result<bool> {
    let run = ctx.cfg.output_dir.clone();
    // Trials of an earlier orchestrator that it did not read in before it stopped.
    for task in tasks {
        ingest_from(ctx, scenarios, &task.folder(&run), &mut Vec::new())?;
    }
    let mut pending = tasks.iter().copied().filter(|t| !is_done(&t.folder(&run)));
    let mut jobs: Vec<Job> = Vec::new();
    let mut all_done = true;
    loop {
        while ctx.stop.is_none() && jobs.len() < plan.max_jobs {
            let Some(task) = pending.next() else {
                break;
            };
            jobs.push(submit(ctx, task, plan, 0).await?);
        }
        if jobs.is_empty() {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = crate::cancel::cancelled(&mut ctx.cancel) => ctx.interrupted(),
        }
        if ctx.stop.is_some() {
            cancel(&jobs.iter().map(|j| j.id.clone()).collect::<Vec<_>>()).await;
            for job in &mut jobs {
                ingest_from(ctx, scenarios, &job.task.folder(&run), &mut job.seen)?;
            }
            return Ok(false);
        }
        let queue = squeue(&jobs.iter().map(|j| j.id.clone()).collect::<Vec<_>>()).await;
        let mut still = Vec::new();
        for mut job in jobs {
            let folder = job.task.folder(&run);
            ingest_from(ctx, scenarios, &folder, &mut job.seen)?;
            if let Some(state) = queue.get(&job.id) {
                show(ctx, &mut job, state.clone());
                still.push(job);
                continue;
            }
            let Ended {
                state,
                reason,
                exit_code,
            } = final_state(&job.id).await;
            let reason = match exit_code {
                Some(script::SETUP_FAILED) => {
                    "a line of executor.setup failed; see the job's slurm-<id>.log".into()
                }
                _ => reason,
            };
            ingest_from(ctx, scenarios, &folder, &mut job.seen)?;
            if is_done(&folder) {
                show(ctx, &mut job, format!("{state} (done)"));
                if let Task::Candidate(index) = job.task {
                    finished(ctx, index, true);
                }
            } else if job.attempt < plan.retries {
                ctx.report(RunEvent::Notice {
                    text: format!(
                        "{}: Slurm job {} ended {state}{}; submitting it again (attempt {} of {})",
                        job.task.name(),
                        job.id,
                        reason_text(&reason),
                        job.attempt + 2,
                        plan.retries + 1
                    ),
                });
                still.push(submit(ctx, job.task, plan, job.attempt + 1).await?);
            } else {
                all_done = false;
                let cause = format!(
                    "Slurm job {} ended {state}{} ({} attempt(s)); see {}",
                    job.id,
                    reason_text(&reason),
                    job.attempt + 1,
                    folder.display()
                );
                match job.task {
                    Task::Candidate(index) => {
                        record_failure(ctx, scenarios, index, cause).await?;
                        finished(ctx, index, false);
                    }
                    Task::Finish => ctx.report(RunEvent::Notice {
                        text: format!("warning: confirmation: {cause}"),
                    }),
                }
            }
        }
        jobs = still;
    }
    Ok(all_done)
}

fn reason_text(reason: &str) -> String {
    if reason.is_empty() || reason == "None" {
        String::new()
    } else {
        format!(" ({reason})")
    }
}

/// Reports a job's state when it changed.
fn show(ctx: &Ctx<'_>, job: &mut Job, state: String) {
    if state == job.shown {
        return;
    }
    match job.task {
        Task::Candidate(candidate) => ctx.report(RunEvent::JobState {
            stage: Stage::Base,
            candidate,
            job: format!("Slurm job {}", job.id),
            state: state.clone(),
        }),
        Task::Finish => ctx.report(RunEvent::Notice {
            text: format!("confirmation: Slurm job {} {state}", job.id),
        }),
    }
    job.shown = state;
}

/// Writes the task's job script and submits it; the id is kept for cancelling.
async fn submit(
    ctx: &mut Ctx<'_>,
    task: Task,
    plan: &SlurmPlan,
    attempt: u32,
) -> anyhow::Result<Job> {
    let cfg = ctx.cfg;
    let dir = std::path::absolute(task.folder(&cfg.output_dir))?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let script = dir.join("job.sh");
    std::fs::write(&script, script::job_script(ctx, task, plan, &dir)?)
        .with_context(|| format!("cannot write {}", script.display()))?;
    let id = sbatch(cfg, plan, &script, &format!("the job of {}", task.name())).await?;
    match task {
        Task::Finish => ctx.report(RunEvent::Notice {
            text: format!("confirmation: submitted as Slurm job {id}"),
        }),
        Task::Candidate(index) => {
            ctx.report(RunEvent::CandidateLaunching {
                stage: Stage::Base,
                candidate: index,
                command: crate::results::command::render(
                    &cfg.server,
                    &cfg.candidates.candidates[index],
                )
                .replace(" \\\n  ", " "),
            });
            ctx.report(RunEvent::JobState {
                stage: Stage::Base,
                candidate: index,
                job: format!("Slurm job {id}"),
                state: if attempt > 0 {
                    format!("submitted (attempt {})", attempt + 1)
                } else {
                    "submitted".into()
                },
            });
        }
    }
    Ok(Job {
        task,
        id,
        attempt,
        shown: String::new(),
        seen: Vec::new(),
    })
}

/// The file of job ids this run submitted.
fn jobs_file(cfg: &crate::config::RunConfig) -> PathBuf {
    shared::run_dir::RunDir::new(&cfg.output_dir)
        .state()
        .join("slurm-jobs")
}

/// Submits `script` with `sbatch --parsable` (the plan's exports and `sbatch_args`) and remembers
/// the job id it answers, so that only jobs autobench submitted are ever cancelled. `what` names
/// the job in errors ("the job of cand 2", "the shared-filesystem probe job").
pub(super) async fn sbatch(
    cfg: &crate::config::RunConfig,
    plan: &SlurmPlan,
    script: &std::path::Path,
    what: &str,
) -> anyhow::Result<String> {
    let output = tokio::process::Command::new("sbatch")
        .arg("--parsable")
        .args(script::export_arg(plan))
        .args(&plan.sbatch_args)
        .arg(script)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .context("cannot run sbatch (is Slurm's client installed here?)")?;
    if !output.status.success() {
        anyhow::bail!(
            "sbatch refused {what}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let id = stdout
        .trim()
        .split(';')
        .next()
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit() || c == '_'))
        .with_context(|| format!("sbatch printed no job id for {what}: {stdout}"))?
        .to_string();
    remember(cfg, &id)?;
    Ok(id)
}

fn remember(cfg: &crate::config::RunConfig, id: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let path = jobs_file(cfg);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot record the job id in {}", path.display()))?;
    writeln!(file, "{id}")?;
    Ok(())
}

/// Cancels the jobs an earlier orchestrator of this run submitted that are still queued or
/// running (it was killed before it could): they would write into the run alongside new ones.
async fn cancel_leftovers(ctx: &Ctx<'_>) {
    let ids: Vec<String> = std::fs::read_to_string(jobs_file(ctx.cfg))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        return;
    }
    let live = squeue(&ids).await;
    let left: Vec<String> = ids.into_iter().filter(|id| live.contains_key(id)).collect();
    if !left.is_empty() {
        ctx.report(RunEvent::Notice {
            text: format!(
                "cancelling Slurm job(s) {} that an earlier run of this folder submitted and left running",
                left.join(", ")
            ),
        });
        cancel(&left).await;
    }
}

/// `scancel` by job id: only jobs this run submitted.
async fn cancel(ids: &[String]) {
    if ids.is_empty() {
        return;
    }
    let _ = tokio::process::Command::new("scancel")
        .args(ids)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await;
}

/// Queue state of `ids` still in the queue: `PENDING (Resources)`, `RUNNING on node1`.
async fn squeue(ids: &[String]) -> BTreeMap<String, String> {
    let output = tokio::process::Command::new("squeue")
        .args(["-h", "-o", "%i|%T|%r|%N", "-j", &ids.join(",")])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .await;
    let Ok(output) = output else {
        return BTreeMap::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let parts: Vec<&str> = line.split('|').map(str::trim).collect();
            let [id, state, reason, node] = parts.as_slice() else {
                return None;
            };
            let text = match *state {
                "PENDING" => format!("PENDING{}", reason_text(reason)),
                "RUNNING" if !node.is_empty() => format!("RUNNING on {node}"),
                other => other.to_string(),
            };
            Some(((*id).to_string(), text))
        })
        .collect()
}

/// How a job that left the queue ended.
struct Ended {
    /// `COMPLETED`, `TIMEOUT`, `NODE_FAIL`, ...
    state: String,
    /// Slurm's reason.
    reason: String,
    /// The batch script's exit status, once Slurm has recorded it.
    exit_code: Option<i32>,
}

/// How a job that left the queue ended: its state, reason and exit status.
async fn final_state(id: &str) -> Ended {
    let output = tokio::process::Command::new("scontrol")
        .args(["show", "job", "-o", id])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .await;
    let text = output
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .unwrap_or("")
            .to_string()
    };
    let state = field("JobState=");
    let exit_code = field("ExitCode=")
        .split(':')
        .next()
        .and_then(|code| code.parse().ok())
        .filter(|_| !matches!(state.as_str(), "" | "PENDING" | "RUNNING" | "COMPLETING"));
    let state = if state.is_empty() {
        "(gone from Slurm's records)".into()
    } else {
        state
    };
    Ended {
        state,
        reason: field("Reason="),
        exit_code,
    }
}

/// A plan for the tests of this module's parts.
#[cfg(test)]
pub(super) fn test_plan() -> SlurmPlan {
    SlurmPlan {
        partition: Some("gpu".into()),
        account: Some("proj".into()),
        time_limit_min: None,
        sbatch_args: Vec::new(),
        max_jobs: 1,
        needs: vec![8],
        retries: 0,
        setup: vec![
            "module load cuda/12.4".into(),
            "source /opt/venv/bin/activate".into(),
        ],
        container: None,
        pass_env: Some(vec!["HF_TOKEN".into(), "PATH".into()]),
        nnodes: 2,
        gpus_explicit: false,
        partition_time_limit_min: None,
        cluster_notes: Vec::new(),
    }
}

/// Records candidate `index` as failed with `cause` in every walk step not measured yet.
async fn record_failure(
    ctx: &mut Ctx<'_>,
    scenarios: &mut [ScenarioState],
    index: usize,
    cause: String,
) -> anyhow::Result<()> {
    ctx.report(RunEvent::Notice {
        text: format!("warning: cand {index}: {cause}"),
    });
    let flags = ctx.cfg.candidates.candidates[index].clone();
    let failure = TrialRecord {
        error: Some(cause.clone()),
        failure: FailureKind::Launch,
        cause: Some(cause),
        ..serde_json::from_value(serde_json::json!({
            "stage": "base", "candidate_id": index, "requested_qps": 0.0,
            "max_concurrency": null, "server_flags": {}, "sla_passed": false
        }))?
    };
    candidate::record_failed(ctx, scenarios, index, &flags, failure).await
}
