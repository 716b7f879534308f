//! The end of a run: every scenario's files, the cross-scenario summary, the final event with the
//! answer, and the [`RunOutcome`].

use std::path::Path;

use shared::answer::RunState;
use shared::api::RunStatus;
use shared::events::RunEvent;
use shared::metrics::{Metric, Series};
use shared::sla::Stat;

use super::{Ctx, RunOutcome, ScenarioResult, ScenarioState, Stop, answers, dataset_line};
use crate::config::RunConfig;
use crate::results::{self, markdown};

/// Writes the outputs, reports the end of the run and returns what it produced.
pub(super) fn finish(
    ctx: Ctx<'_>,
    scenarios: Vec<ScenarioState>,
    speculative: Option<String>,
) -> anyhow::Result<RunOutcome> {
    let cfg = ctx.cfg;
    let partial = match &ctx.stop {
        Some(Stop::Cancelled) => Some("interrupted before the full search completed".to_string()),
        Some(Stop::Deadline) => Some(format!(
            "search budget of {} reached before the full search completed",
            shared::budget::budget_text(cfg.max_duration.as_secs_f64() / 3600.0)
        )),
        Some(Stop::SameLaunchFailure(cause)) => Some(format!(
            "stopped early: every candidate tried failed to launch the same way: {cause}"
        )),
        None => None,
    };
    let state = if partial.is_some() {
        RunState::Stopped
    } else {
        RunState::Finished
    };
    write_outputs(cfg, &scenarios, partial.as_deref(), state)?;
    let status = status(&ctx, &scenarios);
    let launch_failure = matches!(ctx.stop, Some(Stop::SameLaunchFailure(_)));
    ctx.report(RunEvent::RunFinished {
        status,
        partial: partial.clone(),
        answers: answers(cfg, &scenarios),
    });
    let results = scenarios
        .iter()
        .map(|s| ScenarioResult {
            name: s.scenario.name.clone(),
            dir: s.dir.dir().to_path_buf(),
            dataset: dataset_line(cfg, &s.scenario),
            best: s.best().cloned(),
            command: s.best_command(cfg),
            confirmation: s.confirmation.clone(),
            answer: s.answer(cfg, state),
            standings: s.standings(cfg),
        })
        .collect();
    Ok(RunOutcome {
        output_dir: cfg.output_dir.clone(),
        scenarios: results,
        status,
        partial,
        speculative,
        server_logs: ctx.server_logs,
        launch_failure,
    })
}

/// Interrupted, partial (budget), failed (nothing could be measured) or finished.
fn status(ctx: &Ctx<'_>, scenarios: &[ScenarioState]) -> RunStatus {
    let measured = scenarios
        .iter()
        .any(|s| s.records.iter().any(|r| r.metrics.is_some()));
    match ctx.stop {
        Some(Stop::Cancelled) => RunStatus::Interrupted,
        Some(Stop::Deadline) => RunStatus::Partial,
        Some(Stop::SameLaunchFailure(_)) => RunStatus::Failed,
        None if !measured => RunStatus::Failed,
        None => RunStatus::Finished,
    }
}

/// Writes every scenario's files and, for several scenarios, the cross-scenario summary.
fn write_outputs(
    cfg: &RunConfig,
    scenarios: &[ScenarioState],
    partial: Option<&str>,
    state: RunState,
) -> anyhow::Result<()> {
    for scenario in scenarios {
        scenario.write_outputs(cfg, partial, state)?;
    }
    if scenarios.len() <= 1 {
        return Ok(());
    }
    let run_dir = shared::run_dir::RunDir::new(&cfg.output_dir);
    let rows: Vec<markdown::ScenarioRow> = scenarios
        .iter()
        .map(|s| scenario_row(cfg, s, state))
        .collect();
    results::write_atomic(
        &run_dir.run_summary(),
        markdown::run_summary(&rows, partial).as_bytes(),
    )?;
    results::write_atomic(
        &run_dir.scenario_summary_jsonl(),
        &results::jsonl_bytes(&rows)?,
    )?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in &rows {
        writer.serialize(row)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| anyhow::anyhow!("{}", e.error()))?;
    results::write_atomic(&run_dir.scenario_summary_csv(), &bytes)
}

fn scenario_row(cfg: &RunConfig, state: &ScenarioState, run: RunState) -> markdown::ScenarioRow {
    let best = state.best();
    let any_metrics = state.records.iter().any(|r| r.metrics.is_some());
    let answer = state.answer(cfg, run);
    let status = row_status(best.is_some(), &answer, any_metrics);
    let dir = state
        .dir
        .dir()
        .strip_prefix(&cfg.output_dir)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| state.dir.dir().to_path_buf());
    let metric = |m: Metric| best.and_then(|b| b.metric(m));
    markdown::ScenarioRow {
        scenario_name: state.scenario.name.clone(),
        scenario_dir: dir.display().to_string(),
        status,
        requested_qps: best.map(|b| b.requested_qps),
        achieved_request_rate: metric(Metric::AchievedRate),
        mean_ttft_ms: metric(Metric::Latency(Series::Ttft, Stat::Mean)),
        mean_tpot_ms: metric(Metric::Latency(Series::Tpot, Stat::Mean)),
        output_throughput: metric(Metric::OutputThroughput),
        cost_per_million_output_tokens: best.and(answer.cost_per_million_output_tokens),
        launch_command: state.best_command(cfg).unwrap_or_default(),
        headline: answer.headline,
    }
}

/// A summary row's status: `ok` for a confirmed answer, `unconfirmed (what is missing)` for one
/// that was not (the run stopped before or during its check, or the check failed), else why there
/// is none.
fn row_status(has_best: bool, answer: &shared::answer::Answer, any_metrics: bool) -> String {
    match (has_best, answer.status(), any_metrics) {
        (true, Some(status), _) => status,
        (true, None, _) => shared::outward::summary::STATUS_OK.into(),
        (false, _, true) => "no_sla_pass".into(),
        (false, _, false) => "no_successful_runs".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::answer::{Facts, RunState};
    use shared::record::TrialRecord;

    fn record(stage: &str, cand: usize, qps: f64, passed: bool) -> TrialRecord {
        serde_json::from_value(serde_json::json!({
            "stage": stage, "candidate_id": cand, "requested_qps": qps, "max_concurrency": null,
            "server_flags": {}, "sla_passed": passed,
            "metrics": {"completed": 100, "duration": 30.0, "achieved_request_rate": qps}
        }))
        .expect("record")
    }

    #[test]
    fn an_interrupted_scenarios_row_says_its_answer_is_unconfirmed() {
        let records = [record("base", 0, 8.0, true), record("base", 1, 12.0, true)];
        let answer = |state| {
            shared::answer::answer(&Facts {
                records: &records,
                confirmation: None,
                sla: None,
                state,
                gpu_hour_price: None,
            })
        };
        assert_eq!(
            row_status(true, &answer(RunState::Stopped), true),
            "unconfirmed (the run stopped before its check)"
        );
        assert_eq!(
            row_status(true, &answer(RunState::Finished), true),
            "unconfirmed (no check was run)"
        );
        let none = shared::answer::Answer::default();
        assert_eq!(row_status(false, &none, true), "no_sla_pass");
        assert_eq!(row_status(false, &none, false), "no_successful_runs");
    }
}
