//! One finished trial, as written to `live_results.jsonl` and `results.jsonl`.
//!
//! Field names follow upstream's trial record (`stage`, `candidate_id`, `requested_qps`,
//! `max_concurrency`, `server_flags`, `sla_passed`, `metrics`, `error`, `diagnosis`, `hint`,
//! `heuristic_pruned`, `best_for_candidate`) so tools written for upstream files keep working; the
//! additions (`schema_version`, `trial_key`, `scenario`, `sla_failures`, timing) are documented in
//! the README. `metrics` is a flat map with bench_serving's metric names.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::flags::FlagMap;

/// Version of the record layout.
pub const SCHEMA_VERSION: u32 = 1;

/// Flat metrics map (`mean_ttft_ms`, `request_throughput`, ...).
pub type Metrics = serde_json::Map<String, Value>;

/// One finished trial: one request rate × one `max_concurrency` × one candidate × one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// Layout version.
    #[serde(default)]
    pub schema_version: u32,
    /// Content key used by resume (stage, scenario, flags without host/port, rate, concurrency).
    #[serde(default)]
    pub trial_key: String,
    /// `base` or `speculative`.
    pub stage: String,
    /// Scenario display name.
    #[serde(default)]
    pub scenario: String,
    /// Index in the stage's candidate list.
    pub candidate_id: usize,
    /// Offered request rate (requests/s).
    pub requested_qps: f64,
    /// Client concurrency cap; `None` is unlimited.
    pub max_concurrency: Option<u64>,
    /// The server flags of the candidate, including host/port.
    pub server_flags: FlagMap,
    /// Whether the trial met the SLA.
    pub sla_passed: bool,
    /// Readable SLA violations (empty when passed or when the trial failed to run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sla_failures: Vec<String>,
    /// Measured metrics; absent when the trial could not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    /// Why the trial could not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Failure class: `oom`, `bad_flag`, `crashed`, `startup_timeout`, `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<String>,
    /// What the user can do about the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The trial was an incumbent probe that failed, so the rest of this walk was skipped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub heuristic_pruned: bool,
    /// Why it was pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heuristic_reason: Option<String>,
    /// The highest passing rate of its (candidate, `max_concurrency`) walk.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub best_for_candidate: bool,
    /// When the trial started (RFC 3339).
    #[serde(default)]
    pub started_at: String,
    /// Wall time the trial took, in seconds (warmup and flush included).
    #[serde(default)]
    pub trial_duration_s: f64,
}

/// Hypervisor steal (% of all CPU time during a trial) from which a trial is flagged as noisy.
pub const HOST_STEAL_NOTE_PCT: f64 = 5.0;

impl TrialRecord {
    /// A metric by name, when the trial has metrics.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics
            .as_ref()
            .and_then(|m| m.get(name))
            .and_then(Value::as_f64)
    }

    /// "host steal N%" when the hypervisor took at least [`HOST_STEAL_NOTE_PCT`] of the CPU
    /// during the trial: part of its latency tail then came from the host.
    pub fn host_steal_note(&self) -> Option<String> {
        self.metric("host_steal_pct")
            .filter(|steal| *steal >= HOST_STEAL_NOTE_PCT)
            .map(|steal| format!("host steal {steal:.0}%"))
    }

    /// Short one-line outcome for logs and tables.
    pub fn outcome_label(&self) -> &'static str {
        if self.metrics.is_none() {
            "failed"
        } else if self.sla_passed {
            "pass"
        } else {
            "fail"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_steal(steal: Option<f64>) -> TrialRecord {
        let metrics = steal.map_or(
            serde_json::json!({}),
            |s| serde_json::json!({"host_steal_pct": s}),
        );
        serde_json::from_value(serde_json::json!({
            "stage": "base", "candidate_id": 0, "requested_qps": 4.0, "max_concurrency": null,
            "server_flags": {}, "sla_passed": true, "metrics": metrics
        }))
        .expect("record")
    }

    #[test]
    fn steal_from_the_threshold_up_is_noted() {
        assert_eq!(with_steal(None).host_steal_note(), None);
        assert_eq!(with_steal(Some(4.9)).host_steal_note(), None);
        assert_eq!(
            with_steal(Some(HOST_STEAL_NOTE_PCT))
                .host_steal_note()
                .as_deref(),
            Some("host steal 5%")
        );
        assert_eq!(
            with_steal(Some(12.4)).host_steal_note().as_deref(),
            Some("host steal 12%")
        );
    }
}
