//! The session's one contact with the world: launch a candidate's server, measure a point on it,
//! and tell whether it died. Everything else the session does (the walk of the rate plan, resume,
//! crash and launch-failure handling, the confirmation's steps and re-openings, the records on
//! disk and the events) goes through this narrow trait, so a scripted fake ([`super::fake`], in
//! tests) drives the same paths in milliseconds, as hyperfine's `Executor` and `MockExecutor` do.

use std::path::Path;

use futures_util::future::BoxFuture;

use shared::flags::FlagMap;
use shared::record::{Diagnosis, Stage, TrialRecord};

use super::accept;
use super::server::{self, Live};
use super::trial::{self, TrialId};
use super::{Ctx, ScenarioState};
use crate::launcher::{self, LaunchError};
use crate::loadgen::{self, Target};

/// Launches and measures; [`RealBench`] with real processes and HTTP.
pub(super) trait Bench: Send + Sync {
    /// Starts candidate `index`'s server with `flags` (host and port are added here) and waits
    /// until it answers.
    fn launch<'a, 'c>(
        &'a self,
        ctx: &'a mut Ctx<'c>,
        stage: Stage,
        index: usize,
        flags: &'a FlagMap,
    ) -> BoxFuture<'a, Result<Live, LaunchError>>;

    /// Measures one point on a running server; `None` when the run is stopping.
    fn measure<'a, 'c>(
        &'a self,
        ctx: &'a mut Ctx<'c>,
        live: &'a Live,
        state: &'a ScenarioState,
        id: &'a TrialId<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Option<TrialRecord>>>;

    /// Whether the server exited (given a moment to show it when the trial saw failed requests,
    /// as a crash leaves them): the tail of its log when it did.
    fn exited<'a>(
        &'a self,
        live: &'a mut Live,
        saw_failures: bool,
    ) -> BoxFuture<'a, Option<String>>;
}

/// Real servers: processes in their own process group, measured over HTTP.
pub(super) struct RealBench;

/// How long a trial with failed requests waits for its server's exit to show, when it is dying.
const CRASH_SETTLE: std::time::Duration = std::time::Duration::from_millis(500);

impl Bench for RealBench {
    fn launch<'a, 'c>(
        &'a self,
        ctx: &'a mut Ctx<'c>,
        stage: Stage,
        index: usize,
        flags: &'a FlagMap,
    ) -> BoxFuture<'a, Result<Live, LaunchError>> {
        Box::pin(server::launch(ctx, stage, index, flags))
    }

    fn measure<'a, 'c>(
        &'a self,
        ctx: &'a mut Ctx<'c>,
        live: &'a Live,
        state: &'a ScenarioState,
        id: &'a TrialId<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Option<TrialRecord>>> {
        Box::pin(measure_real(ctx, live, state, id))
    }

    fn exited<'a>(
        &'a self,
        live: &'a mut Live,
        saw_failures: bool,
    ) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let server = live.server.as_mut()?;
            // A crash cuts the streams a moment before the process is gone: when requests
            // failed, give the process that moment before deciding whether it lives.
            let died = if saw_failures {
                server.exited_within(CRASH_SETTLE).await
            } else {
                server.exit_status().is_some()
            };
            died.then(|| launcher::log_tail(&server.log_path, 4000))
        })
    }
}

async fn measure_real(
    ctx: &mut Ctx<'_>,
    live: &Live,
    state: &ScenarioState,
    id: &TrialId<'_>,
) -> anyhow::Result<Option<TrialRecord>> {
    let workload = trial::workload(ctx.cfg, &state.rows, state.backend, &live.model)?;
    let target = Target::new(
        ctx.client.clone(),
        live.base_url.clone(),
        !ctx.cfg.benchmark.disable_stream,
        ctx.cfg.benchmark.request_timeout,
        loadgen::api_key_from_env(),
    );
    let reset = ctx.cfg.server.framework.profile().cache_reset;
    let log_path = live.server.as_ref().map(|s| s.log_path.clone());
    let log_start = log_path
        .as_deref()
        .and_then(|p| std::fs::metadata(p).ok())
        .map_or(0, |m| m.len());
    let report = speculative(&id.flags)
        .then_some(ctx.cfg.server.framework.profile().accept_report)
        .flatten();
    let before = match report {
        Some(report) => accept::read(&target, report).await,
        None => None,
    };
    let mut record = trial::measure(ctx.cfg, &target, &workload, id, reset, &mut ctx.cancel).await;
    if let (Some(record), Some(report)) = (record.as_mut(), report)
        && let Some(metrics) = record.metrics.as_mut()
    {
        metrics.accept_length = accept::over_trial(before, accept::read(&target, report).await);
    }
    if let (Some(record), Some(path)) = (record.as_mut(), log_path) {
        diagnose_failed_requests(record, &path, log_start);
    }
    Ok(record)
}

/// Whether a candidate runs speculative decoding: a `speculative_*` flag (SGLang's
/// `speculative_algorithm`, vLLM's `speculative_config`).
fn speculative(flags: &FlagMap) -> bool {
    flags.keys().any(|key| key.starts_with("speculative"))
}

/// A trial whose requests failed while the server lived on: when the server's log from this trial
/// shows an out-of-memory error (a real server can OOM mid-run, for example when a long prompt's
/// attention needs more than the KV cache left free), the record says so, with a hint.
fn diagnose_failed_requests(record: &mut TrialRecord, log_path: &Path, from: u64) {
    let failed = record.metrics.as_ref().map_or(0, |m| m.failed);
    let warmup_failed = record.diagnosis == Some(Diagnosis::WarmupFailed);
    if !(warmup_failed || (failed > 0 && record.diagnosis.is_none())) {
        return;
    }
    let log = launcher::log_since(log_path, from, 64 * 1024);
    let classified = launcher::classify(&log);
    if classified.diagnosis == Diagnosis::Oom {
        record.diagnosis = Some(Diagnosis::OomAtRuntime);
        record.cause = classified.cause;
        record.hint = Some(
            "Requests failed because the server ran out of GPU memory while serving them; give the KV cache less memory (mem_fraction_static, cb_max_memory_percent) or lower the batch token budget (chunked_prefill_size, cb_max_batch_tokens)."
                .into(),
        );
    }
}
