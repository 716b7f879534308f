//! `executor:` resolution: one candidate at a time (`local`), or several at once on disjoint GPU
//! sets of this machine (`partitions`), each candidate getting `gpus_per_candidate` GPUs or its
//! tp x pp x dp; one Slurm job per candidate (`slurm`, resolved in [`super::slurm`]).

use std::time::Duration;

use serde_json::Value;

use super::search::{gpus_from_env, need};
use super::{Ctx, positive_seconds, scalar_text};
use crate::config::error::ConfigError;
use crate::config::file::ConfigFile;
use crate::config::plan::{ExecutorPlan, MemoryGate, Partitions};
use shared::flags::FlagMap;

/// Default allowance above a GPU's start-of-run memory use when a candidate starts on it.
const MEMORY_MARGIN_MIB: f64 = 1024.0;

pub(super) fn resolve_executor(
    ctx: &Ctx,
    raw: &ConfigFile,
    candidates: &[FlagMap],
) -> Result<ExecutorPlan, ConfigError> {
    let section = &raw.executor;
    let kind = section.kind.as_deref().unwrap_or("local");
    if kind != "slurm" && raw.server.nnodes.is_some_and(|n| n > 1) {
        return Err(ctx.error(
            &["server", "nnodes"],
            "a server spans several nodes only under `executor.kind: slurm`",
        ));
    }
    match kind {
        "local" => {
            only_for(ctx, raw, "local")?;
            for key in ["gpus", "gpus_per_candidate"] {
                let set = match key {
                    "gpus" => section.gpus.is_some(),
                    _ => section.gpus_per_candidate.is_some(),
                };
                if set {
                    return Err(ctx.error(&["executor", key], "only applies to `kind: partitions`"));
                }
            }
            Ok(ExecutorPlan::Local)
        }
        "partitions" => {
            only_for(ctx, raw, "partitions")?;
            partitions(ctx, raw, candidates).map(ExecutorPlan::Partitions)
        }
        "slurm" => {
            only_for(ctx, raw, "slurm")?;
            own_servers(ctx, raw, "slurm")?;
            super::slurm::slurm(ctx, raw, candidates).map(ExecutorPlan::Slurm)
        }
        other => {
            let hint = shared::kinds::closest(other, &["local", "partitions", "slurm"])
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            Err(ctx.error(
                &["executor", "kind"],
                format!("`{other}` is not an executor; expected local, partitions or slurm{hint}"),
            ))
        }
    }
}

/// Candidates running at once each launch their own server on their own port.
fn own_servers(ctx: &Ctx, raw: &ConfigFile, kind: &str) -> Result<(), ConfigError> {
    if raw.server.port.is_some() {
        return Err(ctx.error(
            &["server", "port"],
            "candidates running at once need a port each: remove server.port (autobench picks free ones)",
        ));
    }
    if !raw.server.launch {
        return Err(ctx.error(
            &["executor", "kind"],
            format!("{kind} launches a server per candidate; it cannot use one that is already running (server.launch: false)"),
        ));
    }
    Ok(())
}

/// Keys of one executor kind set under another are errors, not silently ignored.
fn only_for(ctx: &Ctx, raw: &ConfigFile, kind: &str) -> Result<(), ConfigError> {
    let section = &raw.executor;
    let slurm_keys = [
        ("partition", section.partition.is_some()),
        ("account", section.account.is_some()),
        ("time_limit_min", section.time_limit_min.is_some()),
        ("sbatch_args", !section.sbatch_args.is_empty()),
        ("max_jobs", section.max_jobs.is_some()),
        ("retries", section.retries.is_some()),
        ("setup", !section.setup.is_empty()),
        ("container_image", section.container_image.is_some()),
        ("container_mounts", section.container_mounts.is_some()),
        ("pass_env", section.pass_env.is_some()),
    ];
    let local_keys = [
        ("gpus", section.gpus.is_some()),
        (
            "gpu_memory_margin_mib",
            section.gpu_memory_margin_mib.is_some(),
        ),
        (
            "gpu_memory_timeout_sec",
            section.gpu_memory_timeout_sec.is_some(),
        ),
    ];
    let foreign: &[(&str, bool)] = if kind == "slurm" {
        &local_keys
    } else {
        &slurm_keys
    };
    match foreign.iter().find(|(_, set)| *set) {
        Some((key, _)) => Err(ctx.error(
            &["executor", key],
            format!("does not apply to `kind: {kind}`"),
        )),
        None => Ok(()),
    }
}

fn partitions(
    ctx: &Ctx,
    raw: &ConfigFile,
    candidates: &[FlagMap],
) -> Result<Partitions, ConfigError> {
    let section = &raw.executor;
    let gpus = match &section.gpus {
        Some(value) => gpu_list(value),
        None => from_environment(raw),
    };
    if gpus.is_empty() {
        return Err(ctx.error(
            &["executor", "kind"],
            "partitions needs GPUs to share out: set executor.gpus, server.env.CUDA_VISIBLE_DEVICES or CUDA_VISIBLE_DEVICES",
        ));
    }
    own_servers(ctx, raw, "partitions")?;
    let needs: Vec<usize> = candidates
        .iter()
        .map(|flags| need(flags, section.gpus_per_candidate))
        .collect();
    if let Some((index, most)) = needs
        .iter()
        .enumerate()
        .find(|(_, need)| **need > gpus.len())
    {
        let key = if section.gpus_per_candidate.is_some() {
            "gpus_per_candidate"
        } else {
            "gpus"
        };
        return Err(ctx.error(
            &["executor", key],
            format!(
                "candidate {index} needs {most} GPUs (tp x pp x dp) but only {} are shared out ({})",
                gpus.len(),
                gpus.join(",")
            ),
        ));
    }
    let gate = memory_gate(ctx, raw)?;
    Ok(Partitions {
        gpus,
        needs,
        memory_margin_mib: gate.margin_mib,
        memory_timeout: gate.timeout,
    })
}

/// `[0, 1]`, `"0,1"` or `0`.
fn gpu_list(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().map(scalar_text).collect(),
        other => scalar_text(other)
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

fn from_environment(raw: &ConfigFile) -> Vec<String> {
    if gpus_from_env(&raw.server.env).is_some()
        && let Some(value) = raw.server.env.get("CUDA_VISIBLE_DEVICES")
    {
        return gpu_list(value);
    }
    std::env::var("CUDA_VISIBLE_DEVICES")
        .map(|v| gpu_list(&Value::String(v)))
        .unwrap_or_default()
}

/// The GPU memory check before each launch (`executor.gpu_memory_margin_mib`,
/// `executor.gpu_memory_timeout_sec`), for every executor that launches on this machine.
pub(super) fn memory_gate(ctx: &Ctx, raw: &ConfigFile) -> Result<MemoryGate, ConfigError> {
    let section = &raw.executor;
    let timeout = positive_seconds(
        ctx,
        &["executor", "gpu_memory_timeout_sec"],
        section.gpu_memory_timeout_sec,
        300.0,
    )?;
    let margin_mib = section.gpu_memory_margin_mib.unwrap_or(MEMORY_MARGIN_MIB);
    if !(margin_mib.is_finite() && margin_mib >= 0.0) {
        return Err(ctx.error(
            &["executor", "gpu_memory_margin_mib"],
            "must be 0 or more MiB",
        ));
    }
    Ok(MemoryGate {
        margin_mib,
        timeout: Duration::max(timeout, Duration::from_millis(1)),
    })
}
