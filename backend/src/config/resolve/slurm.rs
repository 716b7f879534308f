//! `executor: {kind: slurm}` resolution: the job's resources (GPUs per node, nodes, time limit),
//! its environment (`setup` lines, a pyxis container, variables passed by name) and the checks
//! that keep secrets out of job scripts. Whether the cluster can run it (partition, GPUs, time)
//! is checked against `sinfo` later, in `plan` and before submitting ([`crate::slurm::checks`]).

use shared::flags::FlagMap;
use shared::kinds::Framework;

use super::Ctx;
use super::search::need;
use crate::config::error::ConfigError;
use crate::config::file::ConfigFile;
use crate::config::plan::{Container, SlurmPlan};

/// The Slurm executor: one job per candidate, asking for its GPUs on `server.nnodes` nodes.
pub(super) fn slurm(
    ctx: &Ctx,
    raw: &ConfigFile,
    candidates: &[FlagMap],
) -> Result<SlurmPlan, ConfigError> {
    let section = &raw.executor;
    if section.time_limit_min == Some(0) {
        return Err(ctx.error(&["executor", "time_limit_min"], "must be at least 1 minute"));
    }
    let max_jobs = section.max_jobs.unwrap_or(4);
    if max_jobs == 0 {
        return Err(ctx.error(&["executor", "max_jobs"], "must be at least 1"));
    }
    let nnodes = nnodes(ctx, raw)?;
    let needs: Vec<usize> = candidates
        .iter()
        .map(|flags| need(flags, section.gpus_per_candidate))
        .collect();
    if let Some((index, gpus)) = needs.iter().enumerate().find(|(_, n)| **n % nnodes != 0) {
        return Err(ctx.error(
            &["server", "nnodes"],
            format!(
                "candidate {index} needs {gpus} GPU(s), which do not split evenly over {nnodes} nodes; set executor.gpus_per_candidate or the parallel sizes to a multiple of {nnodes}"
            ),
        ));
    }
    check_setup(ctx, &section.setup)?;
    let pass_env = pass_env(ctx, section.pass_env.as_deref())?;
    Ok(SlurmPlan {
        partition: section.partition.clone(),
        account: section.account.clone(),
        time_limit_min: section.time_limit_min,
        sbatch_args: section.sbatch_args.clone(),
        max_jobs,
        needs,
        retries: section.retries.unwrap_or(2),
        setup: section.setup.clone(),
        container: container(ctx, raw)?,
        pass_env,
        nnodes,
        gpus_explicit: section.gpus_per_candidate.is_some(),
        partition_time_limit_min: None,
        cluster_notes: Vec::new(),
    })
}

/// `server.nnodes`: 1 by default; more only for servers autobench can start across nodes.
fn nnodes(ctx: &Ctx, raw: &ConfigFile) -> Result<usize, ConfigError> {
    let Some(count) = raw.server.nnodes else {
        return Ok(1);
    };
    if count == 0 {
        return Err(ctx.error(&["server", "nnodes"], "must be at least 1"));
    }
    let multi_node = matches!(
        raw.server.framework,
        Framework::Sglang | Framework::Sim | Framework::Vllm
    );
    if count > 1 && !multi_node {
        return Err(ctx.error(
            &["server", "nnodes"],
            format!(
                "autobench starts multi-node servers for sglang, vllm and sim, not {}",
                raw.server.framework.name()
            ),
        ));
    }
    usize::try_from(count).map_err(|_| ctx.error(&["server", "nnodes"], "is too large"))
}

/// `container_image` and `container_mounts` (pyxis).
fn container(ctx: &Ctx, raw: &ConfigFile) -> Result<Option<Container>, ConfigError> {
    let section = &raw.executor;
    let mounts: Vec<String> = section
        .container_mounts
        .as_ref()
        .map(|m| {
            m.0.iter()
                .flat_map(|entry| entry.split(','))
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let Some(image) = section.container_image.as_deref().map(str::trim) else {
        if mounts.is_empty() {
            return Ok(None);
        }
        return Err(ctx.error(
            &["executor", "container_mounts"],
            "needs executor.container_image (the mounts are for its container)",
        ));
    };
    if image.is_empty() {
        return Err(ctx.error(
            &["executor", "container_image"],
            "expected an image (`nvcr.io#nvidia/pytorch:24.05-py3`, a .sqsh file)",
        ));
    }
    if let Some(bad) = mounts.iter().find(|m| !m.starts_with('/')) {
        return Err(ctx.error(
            &["executor", "container_mounts"],
            format!("`{bad}` is not SRC:DST with absolute paths (`/lustre/me:/lustre/me`)"),
        ));
    }
    Ok(Some(Container {
        image: image.to_string(),
        mounts,
    }))
}

/// Setup lines go into job scripts, which are files on a shared filesystem: a line that assigns
/// a secret-looking variable a literal value is refused (pass it by name with `pass_env`).
fn check_setup(ctx: &Ctx, lines: &[String]) -> Result<(), ConfigError> {
    for line in lines {
        if line.contains('\n') {
            return Err(ctx.error(
                &["executor", "setup"],
                format!(
                    "`{}` holds a line break; give one line per list item",
                    line.escape_debug()
                ),
            ));
        }
        if let Some(name) = secret_assignment(line) {
            return Err(ctx.error(
                &["executor", "setup"],
                format!(
                    "a setup line sets {name}, a secret, to a value written in the config; job scripts are files others may read: set it where you start autobench and list it in executor.pass_env"
                ),
            ));
        }
    }
    Ok(())
}

/// The secret variable a shell line assigns a literal to (`export HF_TOKEN=hf_x`), if any; a
/// value taken from another variable (`HF_TOKEN=$MY_TOKEN`) writes no secret.
pub(crate) fn secret_assignment(line: &str) -> Option<String> {
    line.split(|c: char| c.is_whitespace() || c == ';')
        .filter_map(|word| word.split_once('='))
        .find(|(name, value)| {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && shared::redact::is_secret_env(name)
                && !value.is_empty()
                && !value.trim_matches(['"', '\'']).starts_with('$')
        })
        .map(|(name, _)| name.to_string())
}

/// `pass_env`: variable names only.
fn pass_env(ctx: &Ctx, names: Option<&[String]>) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(names) = names else {
        return Ok(None);
    };
    if let Some(bad) = names.iter().find(|n| {
        n.is_empty()
            || n.starts_with(|c: char| c.is_ascii_digit())
            || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }) {
        return Err(ctx.error(
            &["executor", "pass_env"],
            format!("`{bad}` is not an environment variable name (letters, digits, _); list names, never values"),
        ));
    }
    Ok(Some(names.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::secret_assignment;

    #[test]
    fn finds_secrets_assigned_literally_only() {
        assert_eq!(
            secret_assignment("export HF_TOKEN=hf_abc").as_deref(),
            Some("HF_TOKEN")
        );
        assert_eq!(
            secret_assignment("module load x; DB_PASSWORD='p'").as_deref(),
            Some("DB_PASSWORD")
        );
        assert_eq!(secret_assignment("export HF_TOKEN=$MY_TOKEN"), None);
        assert_eq!(secret_assignment("export HF_TOKEN=\"${X}\""), None);
        assert_eq!(
            secret_assignment("export TOKENIZERS_PARALLELISM=false"),
            None
        );
        assert_eq!(secret_assignment("module load cuda/12.4"), None);
    }
}
