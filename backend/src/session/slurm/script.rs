//! The batch scripts autobench submits: `#SBATCH` lines for the job's nodes, GPUs per node, time
//! limit, output, partition and account; then `executor.setup`'s lines, each stopping the job with
//! exit status [`SETUP_FAILED`] and the line's number when it fails; then `exec` of the worker.
//! No value of an environment variable is ever written here: `executor.pass_env` passes names to
//! `sbatch --export`, and setup lines that assign a secret a literal are refused by the config.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::Task;
use crate::config::SlurmPlan;
use crate::session::Ctx;
use crate::slurm::time_limit::{self, JobKind};

/// The exit status of a job whose setup line failed.
pub(super) const SETUP_FAILED: i32 = 97;

/// What the `#SBATCH` lines ask for.
pub(super) struct Header<'a> {
    /// `--job-name` (after `autobench-`).
    pub name: &'a str,
    /// `--nodes`, one task per node.
    pub nodes: usize,
    /// `--gres=gpu:N` per node (`None`: no GPUs, the probe).
    pub gpus_per_node: Option<usize>,
    /// `--time`, minutes.
    pub minutes: u64,
    /// `--output`.
    pub output: &'a str,
    /// `--partition` and `--account`.
    pub plan: &'a SlurmPlan,
}

/// The `#SBATCH` lines.
pub(super) fn header(h: &Header<'_>) -> String {
    let mut out = String::from("#!/bin/bash\n");
    let _ = writeln!(out, "#SBATCH --job-name=autobench-{}", h.name);
    let _ = writeln!(out, "#SBATCH --nodes={}", h.nodes);
    let _ = writeln!(out, "#SBATCH --ntasks-per-node=1");
    if let Some(gpus) = h.gpus_per_node {
        let _ = writeln!(out, "#SBATCH --gres=gpu:{gpus}");
    }
    let _ = writeln!(out, "#SBATCH --time={}", h.minutes);
    let _ = writeln!(out, "#SBATCH --output={}", h.output);
    if let Some(partition) = &h.plan.partition {
        let _ = writeln!(out, "#SBATCH --partition={partition}");
    }
    if let Some(account) = &h.plan.account {
        let _ = writeln!(out, "#SBATCH --account={account}");
    }
    out
}

/// `executor.setup`'s lines, each stopping the job with [`SETUP_FAILED`] when it fails.
pub(super) fn setup(lines: &[String]) -> String {
    let mut out = String::new();
    if lines.is_empty() {
        return out;
    }
    out.push_str("# executor.setup\n");
    for (number, line) in lines.iter().enumerate() {
        let quoted = shlex::try_quote(line).map_or_else(|_| "?".into(), |q| q.to_string());
        let _ = writeln!(
            out,
            "{line} || {{ echo \"autobench: executor.setup line {} failed: \"{quoted} >&2; exit {SETUP_FAILED}; }}",
            number + 1
        );
    }
    out
}

/// `sbatch --export=NAMES` when `executor.pass_env` is set (only those variables, and Slurm's,
/// reach the job); nothing otherwise (Slurm's default: the whole environment).
pub(super) fn export_arg(plan: &SlurmPlan) -> Option<String> {
    let names = plan.pass_env.as_ref()?;
    // `--export=` with no names would mean "none" on some versions and an error on others.
    Some(if names.is_empty() {
        "--export=NONE".into()
    } else {
        format!("--export={}", names.join(","))
    })
}

/// The batch script of a candidate's (or the confirmation's) job.
pub(super) fn job_script(
    ctx: &Ctx<'_>,
    task: Task,
    plan: &SlurmPlan,
    dir: &Path,
) -> anyhow::Result<String> {
    let cfg = ctx.cfg;
    let budget = ctx
        .deadline
        .saturating_duration_since(tokio::time::Instant::now());
    let (name, need, what, kind) = match task {
        Task::Candidate(index) => (
            format!("cand{index}"),
            plan.needs.get(index).copied().unwrap_or(1),
            format!("--candidate {index}"),
            JobKind::Candidate,
        ),
        Task::Finish => (
            "confirm".to_string(),
            plan.needs.iter().copied().max().unwrap_or(1),
            "--finish".to_string(),
            JobKind::Finish,
        ),
    };
    let (minutes, _) = time_limit::minutes(cfg, plan, kind);
    let output = format!("{}/slurm-%j.log", dir.display());
    let mut out = header(&Header {
        name: &name,
        nodes: plan.nnodes,
        gpus_per_node: Some(need / plan.nnodes.max(1)),
        minutes,
        output: &output,
        plan,
    });
    out.push_str(&setup(&plan.setup));
    let exe = PathBuf::from(crate::config::current_exe());
    let config = std::path::absolute(&cfg.config_path)?;
    let base = std::path::absolute(if cfg.paths_base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        cfg.paths_base.as_path()
    })?;
    let run = std::path::absolute(&cfg.output_dir)?;
    let _ = write!(
        out,
        "exec {} worker --config {} --paths-from {} --run-dir {} {what} --gpus \"${{CUDA_VISIBLE_DEVICES:-}}\" --budget-s {:.3}",
        quote(&exe)?,
        quote(&config)?,
        quote(&base)?,
        quote(&run)?,
        budget.as_secs_f64()
    );
    if let crate::config::KeyMap::Neutral(framework) = cfg.keys {
        let _ = write!(out, " --framework {framework}");
    }
    out.push('\n');
    Ok(out)
}

/// A path as one shell word.
pub(super) fn quote(path: &Path) -> anyhow::Result<String> {
    Ok(shlex::try_quote(&path.display().to_string())?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::session::slurm::test_plan as plan;

    #[test]
    fn a_two_node_job_asks_for_its_gpus_per_node_and_runs_setup_first() {
        let plan = plan();
        let mut script = header(&Header {
            name: "cand0",
            nodes: plan.nnodes,
            gpus_per_node: Some(4),
            minutes: 25,
            output: "/shared/run/slurm-%j.log",
            plan: &plan,
        });
        script.push_str(&setup(&plan.setup));
        for line in [
            "#SBATCH --nodes=2\n",
            "#SBATCH --ntasks-per-node=1\n",
            "#SBATCH --gres=gpu:4\n",
            "#SBATCH --time=25\n",
            "#SBATCH --partition=gpu\n",
            "#SBATCH --account=proj\n",
            "module load cuda/12.4 || { echo \"autobench: executor.setup line 1 failed: \"'module load cuda/12.4' >&2; exit 97; }\n",
        ] {
            assert!(script.contains(line), "{line:?} in\n{script}");
        }
        assert!(
            script.find("module load").expect("setup")
                < script.find("source").expect("second line")
        );
    }

    #[test]
    fn variables_are_passed_by_name_only() {
        assert_eq!(
            export_arg(&plan()).as_deref(),
            Some("--export=HF_TOKEN,PATH")
        );
        let mut all = plan();
        all.pass_env = None;
        assert_eq!(export_arg(&all), None);
    }
}
