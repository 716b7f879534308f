//! The GPU memory gate before every launch, for every executor and stage: a GPU must be back
//! within the margin of its start-of-run use (`nvidia-smi`), or the run stops naming what holds
//! it. A previous server that has not let go of its memory yet would make the next one run out of
//! memory or run slower, and its trials would say nothing true about the candidate.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use shared::events::RunEvent;

use super::Ctx;
use crate::config::MemoryGate;

/// Checks the GPUs the next local server will use (its `CUDA_VISIBLE_DEVICES`, else every GPU
/// `nvidia-smi` listed at the start) against the run's start, when a start was read.
pub(super) async fn before_launch(ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    let Some(baseline) = ctx.gpu_baseline.clone() else {
        return Ok(());
    };
    let visible = ctx
        .cfg
        .server
        .env
        .iter()
        .find(|(name, _)| name == "CUDA_VISIBLE_DEVICES")
        .map(|(_, value)| value.clone())
        .or_else(|| std::env::var("CUDA_VISIBLE_DEVICES").ok());
    let gpus: Vec<String> = match visible {
        Some(list) => list
            .split(',')
            .map(|g| g.trim().to_string())
            .filter(|g| !g.is_empty())
            .collect(),
        None => baseline.keys().cloned().collect(),
    };
    wait_for_memory(ctx, &gpus, &baseline, ctx.cfg.memory_gate).await
}

/// Waits until every GPU of `gpus` is back within the margin of its start-of-run use; an error
/// naming what holds it when it is not back in time.
pub(super) async fn wait_for_memory(
    ctx: &mut Ctx<'_>,
    gpus: &[String],
    baseline: &BTreeMap<String, f64>,
    gate: MemoryGate,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + gate.timeout;
    let mut noted = false;
    loop {
        let Some(used) = crate::gpus::memory_used().await else {
            return Ok(());
        };
        let high = crate::gpus::above_baseline(&used, baseline, gpus, gate.margin_mib);
        if high.is_empty() {
            if !gpus.is_empty() {
                let now: Vec<String> = gpus
                    .iter()
                    .map(|g| {
                        format!(
                            "GPU {g} {:.0} MiB (start of run {:.0})",
                            used.get(g).copied().unwrap_or(0.0),
                            baseline.get(g).copied().unwrap_or(0.0)
                        )
                    })
                    .collect();
                ctx.report(RunEvent::Notice {
                    text: format!(
                        "GPU memory checked before the next candidate: {}; waited {:.1} s",
                        now.join(", "),
                        (gate.timeout - deadline.saturating_duration_since(Instant::now()))
                            .as_secs_f64()
                    ),
                });
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            let holders = crate::gpus::processes_on(gpus).await;
            let list: Vec<String> = high
                .iter()
                .map(|(gpu, mib)| format!("GPU {gpu} holds {mib:.0} MiB more than at the start"))
                .collect();
            anyhow::bail!(
                "{} after {:.0} s{}; free it (or raise executor.gpu_memory_timeout_sec) and resume",
                list.join(", "),
                gate.timeout.as_secs_f64(),
                if holders.is_empty() {
                    String::new()
                } else {
                    format!(": {}", holders.join("; "))
                }
            );
        }
        if !noted {
            ctx.report(RunEvent::Notice {
                text: format!(
                    "waiting for GPU(s) {} to give their memory back before the next candidate starts",
                    gpus.join(",")
                ),
            });
            noted = true;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = crate::cancel::cancelled(&mut ctx.cancel) => {
                ctx.interrupted();
                return Ok(());
            }
        }
    }
}
