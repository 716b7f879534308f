//! The cross-scenario summary rows: one [`ScenarioSummaryRow`] per scenario in
//! `scenario_summary.jsonl` and `scenario_summary.csv` (with more than one scenario), behind
//! `SUMMARY.md`. The report and the dashboard read them back, also from folders the upstream
//! Python tool wrote, so every field reads as its default when a row lacks it.

use serde::{Deserialize, Serialize};

/// The status of a scenario with a confirmed answer.
pub const STATUS_OK: &str = "ok";

/// One scenario's row of the cross-scenario summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScenarioSummaryRow {
    /// Display name.
    pub scenario_name: String,
    /// Its folder, relative to the run's (`""` in upstream rows: the scenario's slug).
    pub scenario_dir: String,
    /// `ok` (a confirmed answer), `unconfirmed (what is missing)`, `no_sla_pass` or
    /// `no_successful_runs`.
    pub status: String,
    /// Best passing rate.
    pub requested_qps: Option<f64>,
    /// Credited (achieved) rate.
    pub achieved_request_rate: Option<f64>,
    /// Mean TTFT of the best.
    pub mean_ttft_ms: Option<f64>,
    /// Mean TPOT of the best.
    pub mean_tpot_ms: Option<f64>,
    /// Output throughput of the best.
    pub output_throughput: Option<f64>,
    /// Launch command ("" when nothing met the SLA).
    pub launch_command: String,
    /// The answer in words ([`crate::answer`]).
    pub headline: String,
    /// Dollars per million output tokens at the answer's rate, with `benchmark.gpu_hour_price`
    /// (last, so the columns before it keep their places).
    pub cost_per_million_output_tokens: Option<f64>,
}

impl ScenarioSummaryRow {
    /// The launch command of a confirmed answer (`None` when the row has none).
    pub fn confirmed_command(&self) -> Option<&str> {
        (self.status == STATUS_OK && !self.launch_command.is_empty())
            .then_some(self.launch_command.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_missing_fields_reads_with_defaults() {
        let row: ScenarioSummaryRow = serde_json::from_str(
            r#"{"scenario_name": "chat", "status": "ok", "launch_command": "python -m x", "extra": 1}"#,
        )
        .expect("an upstream row");
        assert_eq!(row.scenario_dir, "");
        assert_eq!(row.requested_qps, None);
        assert_eq!(row.confirmed_command(), Some("python -m x"));
        let unconfirmed = ScenarioSummaryRow {
            status: "unconfirmed (no check was run)".into(),
            ..row
        };
        assert_eq!(unconfirmed.confirmed_command(), None);
    }

    #[test]
    fn a_row_keeps_its_field_names_and_order() {
        let text = serde_json::to_string(&ScenarioSummaryRow::default()).expect("json");
        assert_eq!(
            text,
            r#"{"scenario_name":"","scenario_dir":"","status":"","requested_qps":null,"achieved_request_rate":null,"mean_ttft_ms":null,"mean_tpot_ms":null,"output_throughput":null,"launch_command":"","headline":"","cost_per_million_output_tokens":null}"#
        );
    }
}
