//! The checks before anything is submitted, in `plan` and in `run` before datasets are
//! prepared: Slurm's client programs are on `PATH`, the partition exists and is up, it has nodes
//! with the GPUs a candidate asks for (and enough of them for `server.nnodes`), the time limit
//! fits the partition's, `srun` has pyxis's `--container-image` when a container is asked for,
//! and every `pass_env` variable is set here. Each failure is a [`ConfigError`] at the key that
//! asked for it. The decisions are pure ([`judge`]); [`check`] only runs the programs.

use std::path::Path;
use std::time::Duration;

use crate::config::{ConfigError, ExecutorPlan, RunConfig, SlurmPlan};

use super::sinfo::{self, PartitionRow};
use super::time_limit::{self, JobKind};

/// How long `sinfo` or `srun --help` may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A failed check: the key (in the sglang schema) that asked for it, and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    /// The config key.
    pub key: Vec<&'static str>,
    /// What is wrong and what to do.
    pub message: String,
}

fn problem(key: &[&'static str], message: impl Into<String>) -> Problem {
    Problem {
        key: key.to_vec(),
        message: message.into(),
    }
}

/// What the checks found that the run uses: the partition's time limit (an estimated job limit
/// is capped at it), and notes for the plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Cluster {
    /// The partition's time limit in minutes (`None`: unlimited).
    pub partition_time_limit_min: Option<u64>,
    /// Lines for the plan (the partition chosen, the job time limits).
    pub notes: Vec<String>,
}

/// Runs every check of a Slurm run (nothing for other executors), caps estimated job time
/// limits at the partition's, and keeps what it found in the plan (`cluster_notes`; a job limit
/// capped at the partition's is also a warning).
pub(crate) async fn check(cfg: &mut RunConfig) -> Result<(), ConfigError> {
    let ExecutorPlan::Slurm(plan) = &cfg.executor else {
        return Ok(());
    };
    let cluster = probe_cluster(cfg, plan)
        .await
        .map_err(|problem| at_key(cfg, &problem))?;
    for note in &cluster.notes {
        if let Some(warning) = note.strip_prefix("warning: ") {
            cfg.warnings.push(format!("slurm: {warning}"));
        }
    }
    if let ExecutorPlan::Slurm(plan) = &mut cfg.executor {
        plan.partition_time_limit_min = cluster.partition_time_limit_min;
        plan.cluster_notes = cluster.notes;
    }
    Ok(())
}

/// The checks that need the cluster's programs, then [`judge`].
async fn probe_cluster(cfg: &RunConfig, plan: &SlurmPlan) -> Result<Cluster, Problem> {
    let mut programs = vec!["sbatch", "sinfo", "squeue", "scontrol", "scancel"];
    if plan.container.is_some() || plan.nnodes > 1 {
        programs.push("srun");
    }
    if let Some(missing) = programs.iter().find(|p| on_path(p).is_none()) {
        return Err(problem(
            &["executor", "kind"],
            format!(
                "`kind: slurm` needs Slurm's `{missing}` on PATH, and it is not there: run autobench on a login node of the cluster (or load its Slurm module first)"
            ),
        ));
    }
    let rows = output(&["sinfo", "-h", "-o", sinfo::FORMAT])
        .await
        .map_err(|why| {
            problem(
                &["executor", "kind"],
                format!("`sinfo` failed ({why}): is the cluster's controller reachable from here?"),
            )
        })?;
    if plan.container.is_some() {
        let help = output(&["srun", "--help"]).await.unwrap_or_default();
        if !help.contains("--container-image") {
            return Err(problem(
                &["executor", "container_image"],
                "this cluster's `srun` has no --container-image option: the pyxis plugin is not installed here; ask the cluster's admins, or drop the container and set up the server's environment with executor.setup",
            ));
        }
    }
    let unset: Vec<&String> = plan
        .pass_env
        .iter()
        .flatten()
        .filter(|name| std::env::var_os(name).is_none())
        .collect();
    if let Some(name) = unset.first() {
        return Err(problem(
            &["executor", "pass_env"],
            format!("`{name}` is not set in this environment, so no job could be given it"),
        ));
    }
    let minutes = [JobKind::Candidate, JobKind::Finish].map(|k| time_limit::minutes(cfg, plan, k));
    judge(plan, &sinfo::parse(&rows), minutes)
}

/// Whether the partition can run the jobs: it exists and is up, has nodes with the GPUs, and
/// allows their time limits (`minutes`: the candidate's and the confirmation's, each with
/// whether it was estimated).
pub(crate) fn judge(
    plan: &SlurmPlan,
    rows: &[PartitionRow],
    minutes: [(u64, bool); 2],
) -> Result<Cluster, Problem> {
    let chosen = partition(plan, rows)?;
    let name = chosen[0].name.clone();
    if !chosen.iter().any(|r| r.up) {
        return Err(problem(
            &partition_key(plan),
            format!("partition `{name}` is not up (sinfo says it is down or drained)"),
        ));
    }
    let most = plan.needs.iter().copied().max().unwrap_or(1);
    let per_node = (most / plan.nnodes.max(1)) as u64;
    let nodes: u64 = chosen
        .iter()
        .filter(|r| r.gpus_per_node >= per_node)
        .map(|r| r.nodes)
        .sum();
    if nodes == 0 {
        let largest = chosen.iter().map(|r| r.gpus_per_node).max().unwrap_or(0);
        return Err(problem(
            &gpu_key(plan),
            format!(
                "a candidate needs {per_node} GPU(s) on each node, but partition `{name}` has no node with more than {largest} (sinfo's gres)"
            ),
        ));
    }
    if nodes < plan.nnodes as u64 {
        return Err(problem(
            &["server", "nnodes"],
            format!(
                "a candidate spans {} nodes with {per_node} GPU(s) each, but partition `{name}` has only {nodes} such node(s)",
                plan.nnodes
            ),
        ));
    }
    let limit = chosen.iter().filter_map(|r| r.time_limit_min).max();
    let mut notes = vec![format!(
        "partition `{name}`: {nodes} node(s) with at least {per_node} GPU(s), time limit {}",
        limit.map_or("unlimited".into(), |m| format!("{m} min"))
    )];
    for ((asked, estimated), job) in minutes
        .into_iter()
        .zip(["a candidate's", "the confirmation's"])
    {
        match limit {
            Some(limit) if asked > limit && !estimated => {
                return Err(problem(
                    &["executor", "time_limit_min"],
                    format!("{asked} min is more than partition `{name}` allows ({limit} min)"),
                ));
            }
            Some(limit) if asked > limit => notes.push(format!(
                "warning: {job} job would need about {asked} min (the estimate with its margin) but partition `{name}` allows {limit}: it asks for {limit}; set executor.time_limit_min or narrow the search"
            )),
            _ => notes.push(format!(
                "{job} job asks for {asked} min{}",
                if estimated { " (the plan's estimate x1.5 + 10 min)" } else { " (executor.time_limit_min)" }
            )),
        }
    }
    Ok(Cluster {
        partition_time_limit_min: limit,
        notes,
    })
}

/// The rows of the partition the jobs go to: `executor.partition`, else the default one.
fn partition<'a>(
    plan: &SlurmPlan,
    rows: &'a [PartitionRow],
) -> Result<Vec<&'a PartitionRow>, Problem> {
    let mut names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    names.dedup();
    let chosen: Vec<&PartitionRow> = match &plan.partition {
        Some(wanted) => rows.iter().filter(|r| &r.name == wanted).collect(),
        None => rows.iter().filter(|r| r.default).collect(),
    };
    if !chosen.is_empty() {
        return Ok(chosen);
    }
    Err(match &plan.partition {
        Some(wanted) => {
            let hint = shared::kinds::closest(wanted, &names)
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            problem(
                &["executor", "partition"],
                format!(
                    "this cluster has no partition `{wanted}` (sinfo lists: {}){hint}",
                    names.join(", ")
                ),
            )
        }
        None => problem(
            &["executor", "kind"],
            format!(
                "this cluster has no default partition; set executor.partition (sinfo lists: {})",
                names.join(", ")
            ),
        ),
    })
}

fn partition_key(plan: &SlurmPlan) -> Vec<&'static str> {
    if plan.partition.is_some() {
        vec!["executor", "partition"]
    } else {
        vec!["executor", "kind"]
    }
}

/// The key that set the GPU count: `gpus_per_candidate`, else the flags' parallel sizes.
fn gpu_key(plan: &SlurmPlan) -> Vec<&'static str> {
    if plan.gpus_explicit {
        vec!["executor", "gpus_per_candidate"]
    } else if plan.nnodes > 1 {
        vec!["server", "nnodes"]
    } else {
        vec!["server", "base_flags"]
    }
}

/// A [`Problem`] as a config error at its key in the config file.
fn at_key(cfg: &RunConfig, problem: &Problem) -> ConfigError {
    let text = std::fs::read_to_string(&cfg.config_path).unwrap_or_default();
    ConfigError::at_key(
        &cfg.config_path,
        &text,
        &cfg.keys.source(&problem.key),
        problem.message.clone(),
    )
}

/// Where `program` is on `PATH`.
fn on_path(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A program's standard output, or why it failed (its standard error).
async fn output(argv: &[&str]) -> Result<String, String> {
    let run = tokio::process::Command::new(argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(COMMAND_TIMEOUT, run).await {
        Err(_) => Err(format!("no answer in {} s", COMMAND_TIMEOUT.as_secs())),
        Ok(Err(error)) => Err(error.to_string()),
        Ok(Ok(out)) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into()),
        Ok(Ok(out)) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> SlurmPlan {
        SlurmPlan {
            partition: None,
            account: None,
            time_limit_min: None,
            sbatch_args: Vec::new(),
            max_jobs: 2,
            needs: vec![1, 2],
            retries: 1,
            setup: Vec::new(),
            container: None,
            pass_env: None,
            nnodes: 1,
            gpus_explicit: false,
            partition_time_limit_min: None,
            cluster_notes: Vec::new(),
        }
    }

    fn rows() -> Vec<PartitionRow> {
        sinfo::parse(
            "main*|1-00:00:00|gpu:4|1|up\nshort|30:00|gpu:8|2|up\ncpu|infinite|(null)|9|up\n",
        )
    }

    #[test]
    fn accepts_a_fitting_partition_and_names_it() {
        let cluster = judge(&plan(), &rows(), [(20, true), (30, true)]).expect("fits");
        assert_eq!(cluster.partition_time_limit_min, Some(1440));
        assert!(
            cluster.notes[0].contains("partition `main`"),
            "{:?}",
            cluster.notes
        );
    }

    #[test]
    fn refuses_a_missing_partition_with_a_hint() {
        let mut asked = plan();
        asked.partition = Some("shrot".into());
        let refused = judge(&asked, &rows(), [(20, true), (30, true)]).expect_err("missing");
        assert_eq!(refused.key, ["executor", "partition"]);
        assert!(
            refused.message.contains("no partition `shrot`"),
            "{}",
            refused.message
        );
        assert!(
            refused.message.contains("did you mean `short`"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn refuses_too_many_gpus_or_nodes_at_their_keys() {
        let mut asked = plan();
        asked.needs = vec![8];
        asked.gpus_explicit = true;
        let refused = judge(&asked, &rows(), [(20, true), (30, true)]).expect_err("gpus");
        assert_eq!(refused.key, ["executor", "gpus_per_candidate"]);
        asked.partition = Some("short".into());
        asked.nnodes = 4;
        asked.needs = vec![16];
        let refused = judge(&asked, &rows(), [(20, true), (20, true)]).expect_err("nodes");
        assert_eq!(refused.key, ["server", "nnodes"]);
        assert!(
            refused.message.contains("only 2 such node"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn refuses_a_set_time_over_the_limit_and_caps_an_estimate() {
        let mut asked = plan();
        asked.partition = Some("short".into());
        let refused = judge(&asked, &rows(), [(45, false), (45, false)]).expect_err("time");
        assert_eq!(refused.key, ["executor", "time_limit_min"]);
        assert!(
            refused.message.contains("allows (30 min)"),
            "{}",
            refused.message
        );
        let capped = judge(&asked, &rows(), [(45, true), (20, true)]).expect("capped");
        assert_eq!(capped.partition_time_limit_min, Some(30));
        assert!(
            capped.notes[1].starts_with("warning:"),
            "{:?}",
            capped.notes
        );
    }

    #[test]
    fn refuses_a_cluster_without_a_default_partition() {
        let rows = sinfo::parse("a|1:00:00|gpu:1|1|up\n");
        let refused = judge(&plan(), &rows, [(20, true), (30, true)]).expect_err("no default");
        assert_eq!(refused.key, ["executor", "kind"]);
        assert!(refused.message.contains("set executor.partition"));
    }
}
