//! The shared filesystem, checked rather than assumed: before the first candidate's job, a short
//! job (no GPUs, a few minutes) runs `executor.setup` and then reads a file this machine has
//! just written under the run directory, and checks that the `autobench` binary and the config
//! are there at the same paths. The job's exit status says which failed; the run stops with an
//! error naming the path and how to fix it, before any candidate waits in the queue.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use shared::events::RunEvent;

use super::script::{self, Header, SETUP_FAILED, quote};
use super::{POLL, cancel, final_state, sbatch, squeue};
use crate::config::SlurmPlan;
use crate::session::Ctx;

/// The probe's time limit, minutes (at most the partition's).
const PROBE_MINUTES: u64 = 5;

/// Exit statuses of the probe job: what the node could not see.
const RUN_DIR_UNSEEN: i32 = 3;
const BINARY_UNSEEN: i32 = 4;
const CONFIG_UNSEEN: i32 = 5;

/// What the probe checks: the file this machine wrote and what it holds, the binary, the config.
struct Paths {
    marker: PathBuf,
    nonce: String,
    binary: PathBuf,
    config: PathBuf,
}

/// Submits the probe and waits for it; `Ok(false)` when the run was stopped meanwhile.
pub(super) async fn shared_filesystem(ctx: &mut Ctx<'_>, plan: &SlurmPlan) -> anyhow::Result<bool> {
    let paths = write_marker(ctx)?;
    let dir = paths
        .marker
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let script_path = dir.join("slurm-probe.sh");
    std::fs::write(&script_path, probe_script(plan, &paths)?)
        .with_context(|| format!("cannot write {}", script_path.display()))?;
    let id = sbatch(
        ctx.cfg,
        plan,
        &script_path,
        "the shared-filesystem probe job",
    )
    .await?;
    ctx.report(RunEvent::Notice {
        text: format!(
            "checking that the compute nodes see the run directory: Slurm probe job {id}"
        ),
    });
    let Some(exit) = wait(ctx, &id).await else {
        return Ok(false);
    };
    let _ = std::fs::remove_file(&paths.marker);
    match verdict(exit, &paths, &ctx.cfg.output_dir, &id) {
        Ok(()) => {
            ctx.report(RunEvent::Notice {
                text: format!("probe job {id}: the compute nodes see the run directory"),
            });
            Ok(true)
        }
        Err(message) => Err(anyhow::anyhow!(message)),
    }
}

/// Waits for the probe to leave the queue, reporting its state; its exit status, or `None`
/// when the run was stopped (the probe is cancelled).
async fn wait(ctx: &mut Ctx<'_>, id: &str) -> Option<i32> {
    let ids = [id.to_string()];
    let mut shown = String::new();
    loop {
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = crate::cancel::cancelled(&mut ctx.cancel) => ctx.interrupted(),
        }
        if ctx.stop.is_some() {
            cancel(&ids).await;
            return None;
        }
        match squeue(&ids).await.remove(id) {
            Some(state) if state != shown => {
                ctx.report(RunEvent::Notice {
                    text: format!("probe job {id}: {state}"),
                });
                shown = state;
            }
            Some(_) => {}
            None => break,
        }
    }
    // Slurm may record the end a moment after the job left the queue.
    for _ in 0..10 {
        let ended = final_state(id).await;
        if let Some(code) = ended.exit_code {
            return Some(code);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Some(-1)
}

/// Writes the marker file the probe must read, with a fresh nonce.
fn write_marker(ctx: &Ctx<'_>) -> anyhow::Result<Paths> {
    let state = std::path::absolute(shared::run_dir::RunDir::new(&ctx.cfg.output_dir).state())?;
    std::fs::create_dir_all(&state)
        .with_context(|| format!("cannot create {}", state.display()))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let nonce = format!("{:x}-{nanos:x}", std::process::id());
    let marker = state.join("slurm-probe");
    std::fs::write(&marker, &nonce)
        .with_context(|| format!("cannot write {}", marker.display()))?;
    Ok(Paths {
        marker,
        nonce,
        binary: PathBuf::from(crate::config::current_exe()),
        config: std::path::absolute(&ctx.cfg.config_path)?,
    })
}

/// The probe's batch script: the setup lines, then one check per path, each with its own exit
/// status.
fn probe_script(plan: &SlurmPlan, paths: &Paths) -> anyhow::Result<String> {
    let minutes = plan
        .partition_time_limit_min
        .map_or(PROBE_MINUTES, |limit| limit.min(PROBE_MINUTES));
    let mut out = script::header(&Header {
        name: "probe",
        nodes: 1,
        gpus_per_node: None,
        minutes,
        output: "/dev/null",
        plan,
    });
    out.push_str(&script::setup(&plan.setup));
    let _ = writeln!(
        out,
        "[ \"$(cat {} 2>/dev/null)\" = {} ] || exit {RUN_DIR_UNSEEN}",
        quote(&paths.marker)?,
        paths.nonce
    );
    let _ = writeln!(
        out,
        "[ -x {} ] || exit {BINARY_UNSEEN}",
        quote(&paths.binary)?
    );
    let _ = writeln!(
        out,
        "[ -r {} ] || exit {CONFIG_UNSEEN}",
        quote(&paths.config)?
    );
    Ok(out)
}

/// What the probe's exit status means for the run.
fn verdict(exit: i32, paths: &Paths, run: &Path, id: &str) -> Result<(), String> {
    let shared = "the compute nodes must see it at the same path (a home or project directory on NFS/Lustre)";
    match exit {
        0 => Ok(()),
        RUN_DIR_UNSEEN => Err(format!(
            "Slurm probe job {id} could not read {}, which this machine wrote: the run directory {} is not on a filesystem the compute nodes share. Set benchmark.output_dir to a folder on a shared filesystem; {shared}",
            paths.marker.display(),
            run.display()
        )),
        BINARY_UNSEEN => Err(format!(
            "Slurm probe job {id} found no executable {} on its node: the job runs autobench by this path; install or copy it to a shared filesystem and run it from there ({shared})",
            paths.binary.display()
        )),
        CONFIG_UNSEEN => Err(format!(
            "Slurm probe job {id} could not read the config {}: keep it on a shared filesystem ({shared})",
            paths.config.display()
        )),
        SETUP_FAILED => Err(format!(
            "Slurm probe job {id}: a line of executor.setup failed on the node (its message is in the job's output; the probe writes to /dev/null, so run the line in `srun --pty bash` to see it)"
        )),
        other => Err(format!(
            "Slurm probe job {id} did not complete (exit status {other}): check the partition, account and sbatch_args with `sacct -j {id}` or `scontrol show job {id}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> Paths {
        Paths {
            marker: "/scratch/run/.autobench/slurm-probe".into(),
            nonce: "1a-2b".into(),
            binary: "/home/me/autobench".into(),
            config: "/home/me/c.yaml".into(),
        }
    }

    #[test]
    fn each_unseen_path_is_named_with_the_fix() {
        let run = Path::new("/scratch/run");
        let unseen = verdict(RUN_DIR_UNSEEN, &paths(), run, "7").expect_err("unseen");
        assert!(
            unseen.contains("/scratch/run/.autobench/slurm-probe"),
            "{unseen}"
        );
        assert!(unseen.contains("benchmark.output_dir"), "{unseen}");
        assert!(
            verdict(BINARY_UNSEEN, &paths(), run, "7")
                .expect_err("binary")
                .contains("/home/me/autobench")
        );
        assert!(verdict(0, &paths(), run, "7").is_ok());
    }

    #[test]
    fn the_probe_reads_the_marker_after_the_setup_lines() {
        let mut plan = crate::session::slurm::test_plan();
        plan.setup = vec!["module load x".into()];
        let script = probe_script(&plan, &paths()).expect("script");
        let setup = script.find("module load x").expect("setup");
        let read = script
            .find(
                "[ \"$(cat /scratch/run/.autobench/slurm-probe 2>/dev/null)\" = 1a-2b ] || exit 3",
            )
            .expect("read");
        assert!(setup < read, "{script}");
        assert!(
            !script.contains("--gres"),
            "the probe asks for no GPUs: {script}"
        );
    }
}
