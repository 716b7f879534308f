//! `results.csv`: one row per trial with a fixed, documented column order (README "Output
//! files"), instead of upstream's sorted union of every nested key.

use shared::metrics::{Metric, Series};
use shared::record::TrialRecord;
use shared::sla::Stat;

/// Metric columns, in order (bench_serving names; empty when the trial has no metrics).
pub(crate) const METRIC_COLUMNS: [Metric; 37] = [
    Metric::OfferedRate,
    Metric::AchievedRate,
    Metric::Completed,
    Metric::Failed,
    Metric::Duration,
    Metric::RequestThroughput,
    Metric::InputThroughput,
    Metric::OutputThroughput,
    Metric::TotalThroughput,
    Metric::Latency(Series::Ttft, Stat::Mean),
    Metric::Latency(Series::Ttft, Stat::Median),
    Metric::Latency(Series::Ttft, Stat::P90),
    Metric::Latency(Series::Ttft, Stat::P95),
    Metric::Latency(Series::Ttft, Stat::P99),
    Metric::Latency(Series::TtftFromScheduled, Stat::Mean),
    Metric::Latency(Series::TtftFromScheduled, Stat::P99),
    Metric::Latency(Series::Tpot, Stat::Mean),
    Metric::Latency(Series::Tpot, Stat::Median),
    Metric::Latency(Series::Tpot, Stat::P90),
    Metric::Latency(Series::Tpot, Stat::P95),
    Metric::Latency(Series::Tpot, Stat::P99),
    Metric::Latency(Series::Itl, Stat::Mean),
    Metric::Latency(Series::Itl, Stat::Median),
    Metric::Latency(Series::Itl, Stat::P95),
    Metric::Latency(Series::Itl, Stat::P99),
    Metric::MaxItl,
    Metric::Latency(Series::E2e, Stat::Mean),
    Metric::Latency(Series::E2e, Stat::Median),
    Metric::Latency(Series::E2e, Stat::P99),
    Metric::Latency(Series::E2eFromScheduled, Stat::P99),
    Metric::MeanSendLag,
    Metric::P99SendLag,
    Metric::MaxSendLag,
    Metric::Concurrency,
    Metric::TotalOutputTokens,
    Metric::HostStealPct,
    Metric::AcceptLength,
];

/// Leading columns.
pub(crate) const LEAD_COLUMNS: [&str; 7] = [
    "scenario",
    "stage",
    "candidate_id",
    "requested_qps",
    "max_concurrency",
    "sla_passed",
    "best_for_candidate",
];

/// Trailing columns.
pub(crate) const TAIL_COLUMNS: [&str; 13] = [
    "early_stopped",
    "client_limited",
    "heuristic_pruned",
    "diagnosis",
    "cause",
    "hint",
    "error",
    "sla_failures",
    "verdict",
    "verdict_detail",
    "server_flags",
    "started_at",
    "trial_key",
];

/// Serialises records to CSV bytes.
pub(crate) fn to_csv(records: &[TrialRecord]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let metric_names: Vec<String> = METRIC_COLUMNS.iter().map(|m| m.name()).collect();
    let header: Vec<&str> = LEAD_COLUMNS
        .iter()
        .copied()
        .chain(metric_names.iter().map(String::as_str))
        .chain(TAIL_COLUMNS.iter().copied())
        .collect();
    writer.write_record(&header)?;
    for r in records {
        let mut row = vec![
            r.scenario.clone(),
            r.stage.to_string(),
            r.candidate_id.to_string(),
            r.requested_qps.to_string(),
            r.max_concurrency.map(|c| c.to_string()).unwrap_or_default(),
            r.sla_passed.to_string(),
            r.best_for_candidate.to_string(),
        ];
        row.extend(
            METRIC_COLUMNS
                .iter()
                .map(|m| r.metric(*m).map(|v| format!("{v:.4}")).unwrap_or_default()),
        );
        let metrics = r.metrics.as_ref();
        row.extend([
            metrics.is_some_and(|m| m.early_stopped).to_string(),
            metrics.is_some_and(|m| m.client_limited()).to_string(),
            r.heuristic_pruned.to_string(),
            r.diagnosis.map(|d| d.to_string()).unwrap_or_default(),
            r.cause.clone().unwrap_or_default(),
            r.hint.clone().unwrap_or_default(),
            r.error.clone().unwrap_or_default(),
            r.sla_failures.join("; "),
            r.verdict
                .as_ref()
                .map_or(String::new(), |v| v.class().to_string()),
            r.verdict.as_ref().map_or(String::new(), |v| {
                format!(
                    "{:.0}% confidence, {} requests, {} run(s): {}",
                    v.confidence * 100.0,
                    v.requests,
                    v.replications,
                    v.describe()
                )
            }),
            serde_json::to_string(&r.server_flags).unwrap_or_default(),
            r.started_at.clone(),
            r.trial_key.clone(),
        ]);
        writer.write_record(&row)?;
    }
    writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}
