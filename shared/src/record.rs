//! One finished trial, as written to `live_results.jsonl` and `results.jsonl`.
//!
//! Field names follow upstream's trial record (`stage`, `candidate_id`, `requested_qps`,
//! `max_concurrency`, `server_flags`, `sla_passed`, `metrics`, `error`, `diagnosis`, `hint`,
//! `heuristic_pruned`, `best_for_candidate`) so tools written for upstream files keep working; the
//! additions (`schema_version`, `trial_key`, `scenario`, `sla_failures`, timing) are documented in
//! the README. `metrics` is a flat object with bench_serving's metric names, read into
//! [`TrialMetrics`].

use serde::{Deserialize, Serialize};

use crate::flags::FlagMap;
use crate::metrics::{Metric, TrialMetrics};
use crate::steady::SteadyWindow;
use crate::verdict::Verdict;

/// Version of the record layout.
pub const SCHEMA_VERSION: u32 = 1;

/// The search stage a trial belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The main search over the candidates of the search space.
    #[default]
    Base,
    /// EAGLE speculative decoding on top of the best base flags.
    Speculative,
    /// The winner re-measured at the winning rate with fresh arrivals and a longer trial
    /// (stepping down until a rate holds), then the runner-up and the baseline at the answer's
    /// rate, before the answer is given.
    Confirm,
    /// The speculative stage's best command checked the same way (walked down from its search
    /// rate in long trials) and compared with the best base command's answer; numbered like the
    /// speculative stage.
    SpeculativeConfirm,
    /// With `benchmark.rank_by: cost`, a command cheaper per token at its search rate than the
    /// confirmed answer, checked the same way (walked down in long trials, never below the rate
    /// at which it would stop being cheaper); numbered like the base stage.
    CostCheck,
}

impl Stage {
    /// Whether candidate ids of the two stages name the same commands: the confirmation
    /// re-measures base candidates; the speculative stage numbers its own.
    pub fn numbered_like(self, other: Stage) -> bool {
        self.speculative() == other.speculative()
    }

    /// Whether the stage's candidates are the speculative stage's.
    pub fn speculative(self) -> bool {
        matches!(self, Stage::Speculative | Stage::SpeculativeConfirm)
    }

    /// Whether the stage checks a search's rates in long trials (a confirmation).
    pub fn is_check(self) -> bool {
        matches!(
            self,
            Stage::Confirm | Stage::SpeculativeConfirm | Stage::CostCheck
        )
    }

    /// The search whose candidates and rates the stage checks (itself for a search).
    pub fn searched_in(self) -> Stage {
        match self {
            Stage::Confirm | Stage::CostCheck => Stage::Base,
            Stage::SpeculativeConfirm => Stage::Speculative,
            search => search,
        }
    }

    /// The name in records and logs (`base`).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Base => "base",
            Stage::Speculative => "speculative",
            Stage::Confirm => "confirm",
            Stage::SpeculativeConfirm => "speculative_confirm",
            Stage::CostCheck => "cost_check",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a candidate or a trial failed, as classified from the server's exit and log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Diagnosis {
    /// The server ran out of GPU memory while starting.
    Oom,
    /// The server rejected a flag or its value.
    BadFlag,
    /// The server program could not be started (not found, port taken, ...).
    SpawnFailed,
    /// The server did not become healthy in time.
    StartupTimeout,
    /// The server exited for another reason.
    Crashed,
    /// Every warmup request failed.
    WarmupFailed,
    /// Requests failed because the server ran out of memory while serving them.
    OomAtRuntime,
    /// Anything else (also used for classes written by a newer version).
    #[serde(other)]
    Error,
}

impl Diagnosis {
    /// The name in records and logs (`oom`, `bad_flag`).
    pub fn name(self) -> &'static str {
        match self {
            Diagnosis::Oom => "oom",
            Diagnosis::BadFlag => "bad_flag",
            Diagnosis::SpawnFailed => "spawn_failed",
            Diagnosis::StartupTimeout => "startup_timeout",
            Diagnosis::Crashed => "crashed",
            Diagnosis::WarmupFailed => "warmup_failed",
            Diagnosis::OomAtRuntime => "oom_at_runtime",
            Diagnosis::Error => "error",
        }
    }

    /// Whether the same launch would fail the same way again (so a resume may reuse the
    /// verdict): out of memory at start and a rejected flag. Spawn failures, time-outs and
    /// crashes can be transient and are retried.
    pub fn is_deterministic(self) -> bool {
        matches!(self, Diagnosis::Oom | Diagnosis::BadFlag)
    }
}

impl std::fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What kind of failure a record without metrics describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The record was measured, or failed in its own trial (warmup, runtime).
    #[default]
    Trial,
    /// The candidate's server could not be started; no trial of it ran.
    Launch,
    /// The server exited during this trial.
    ServerExit,
}

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
    pub stage: Stage,
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
    pub metrics: Option<TrialMetrics>,
    /// The statistical verdict: each limit's estimate, confidence interval and decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Why the trial could not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Failure class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<Diagnosis>,
    /// Whether a failure without metrics was the launch, the server's exit, or the trial.
    #[serde(default, skip_serializing_if = "is_trial_failure")]
    pub failure: FailureKind,
    /// The one line of the server log that explains a launch failure or crash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
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
    /// The steady-state trial's warm-up and cool-down (load before and after the measured
    /// requests, not counted); absent for trials without one (trace replay, older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady: Option<SteadyWindow>,
    /// The trial's per-request timings while it is being recorded: written to their own file
    /// (`requests/<trial_key>.jsonl`), never into the record.
    #[serde(skip)]
    pub requests: Vec<crate::timings::RequestTiming>,
}

/// Hypervisor steal (% of all CPU time during a trial) from which a trial is flagged as noisy.
pub const HOST_STEAL_NOTE_PCT: f64 = 5.0;

fn is_trial_failure(kind: &FailureKind) -> bool {
    *kind == FailureKind::Trial
}

impl TrialRecord {
    /// A metric, when the trial has metrics.
    pub fn metric(&self, metric: Metric) -> Option<f64> {
        self.metrics.as_ref().and_then(|m| metric.value(m))
    }

    /// Whether this record says the candidate's server never started. Records written before
    /// `failure` existed are recognised by their shape: no metrics and a launch-time diagnosis.
    pub fn is_launch_failure(&self) -> bool {
        self.failure == FailureKind::Launch
            || (self.failure == FailureKind::Trial
                && self.metrics.is_none()
                && matches!(
                    self.diagnosis,
                    Some(
                        Diagnosis::SpawnFailed
                            | Diagnosis::StartupTimeout
                            | Diagnosis::Oom
                            | Diagnosis::BadFlag
                            | Diagnosis::Crashed
                    )
                ))
    }

    /// "host steal N%" when the hypervisor took at least [`HOST_STEAL_NOTE_PCT`] of the CPU
    /// during the trial: part of its latency tail then came from the host.
    pub fn host_steal_note(&self) -> Option<String> {
        self.metric(Metric::HostStealPct)
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
