//! `results.csv`: one row per trial with a fixed, documented column order (README "Output
//! files"), instead of upstream's sorted union of every nested key.

use shared::record::TrialRecord;

/// Metric columns, in order (bench_serving names; empty when the trial has no metrics).
pub const METRIC_COLUMNS: [&str; 35] = [
    "achieved_request_rate",
    "completed",
    "failed",
    "duration",
    "request_throughput",
    "input_throughput",
    "output_throughput",
    "total_throughput",
    "mean_ttft_ms",
    "median_ttft_ms",
    "p90_ttft_ms",
    "p95_ttft_ms",
    "p99_ttft_ms",
    "mean_ttft_from_scheduled_ms",
    "p99_ttft_from_scheduled_ms",
    "mean_tpot_ms",
    "median_tpot_ms",
    "p90_tpot_ms",
    "p95_tpot_ms",
    "p99_tpot_ms",
    "mean_itl_ms",
    "median_itl_ms",
    "p95_itl_ms",
    "p99_itl_ms",
    "max_itl_ms",
    "mean_e2e_latency_ms",
    "median_e2e_latency_ms",
    "p99_e2e_latency_ms",
    "p99_e2e_latency_from_scheduled_ms",
    "mean_send_lag_ms",
    "p99_send_lag_ms",
    "max_send_lag_ms",
    "concurrency",
    "total_output_tokens",
    "host_steal_pct",
];

/// Leading columns.
pub const LEAD_COLUMNS: [&str; 7] = [
    "scenario",
    "stage",
    "candidate_id",
    "requested_qps",
    "max_concurrency",
    "sla_passed",
    "best_for_candidate",
];

/// Trailing columns.
pub const TAIL_COLUMNS: [&str; 10] = [
    "early_stopped",
    "client_limited",
    "heuristic_pruned",
    "diagnosis",
    "hint",
    "error",
    "sla_failures",
    "server_flags",
    "started_at",
    "trial_key",
];

/// Serialises records to CSV bytes.
pub fn to_csv(records: &[TrialRecord]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header: Vec<&str> = LEAD_COLUMNS
        .iter()
        .chain(METRIC_COLUMNS.iter())
        .chain(TAIL_COLUMNS.iter())
        .copied()
        .collect();
    writer.write_record(&header)?;
    for r in records {
        let mut row = vec![
            r.scenario.clone(),
            r.stage.clone(),
            r.candidate_id.to_string(),
            r.requested_qps.to_string(),
            r.max_concurrency.map(|c| c.to_string()).unwrap_or_default(),
            r.sla_passed.to_string(),
            r.best_for_candidate.to_string(),
        ];
        row.extend(
            METRIC_COLUMNS
                .iter()
                .map(|m| r.metric(m).map(|v| format!("{v:.4}")).unwrap_or_default()),
        );
        let flag = |key: &str| {
            r.metrics
                .as_ref()
                .and_then(|m| m.get(key))
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false)
                .to_string()
        };
        row.extend([
            flag("early_stopped"),
            flag("client_limited"),
            r.heuristic_pruned.to_string(),
            r.diagnosis.clone().unwrap_or_default(),
            r.hint.clone().unwrap_or_default(),
            r.error.clone().unwrap_or_default(),
            r.sla_failures.join("; "),
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
