//! The dashboard's HTTP API payloads, shared by the backend (`autobench serve`) and the web UI.

use serde::{Deserialize, Serialize};

use crate::record::TrialRecord;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Its progress log is still growing and it has not finished.
    Running,
    /// It finished.
    Finished,
    /// It was stopped by a signal, or its process on this machine died without a final line
    /// (partial results; resume continues it).
    Interrupted,
    /// It stopped with an error, or went quiet without finishing.
    Failed,
}

/// One line of the runs page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Path of the run directory relative to the results root (`/`-separated).
    pub id: String,
    /// Status.
    pub status: RunStatus,
    /// Scenario names.
    pub scenarios: Vec<String>,
    /// Per scenario, the best rate that met the SLA so far.
    pub best: Vec<(String, Option<f64>)>,
    /// First progress-log timestamp.
    pub started_at: Option<String>,
    /// Seconds from the first to the last progress-log line.
    pub duration_s: Option<f64>,
    /// Trials recorded.
    pub trials: usize,
    /// Written by the upstream Python tool (`sglang.auto_benchmark`): shown read-only.
    #[serde(default)]
    pub upstream: bool,
}

/// A candidate's state, from the progress log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateState {
    /// `base`, `speculative`.
    pub stage: String,
    /// Candidate index.
    pub id: usize,
    /// `waiting`, `launching`, `warming up`, `probing 12.5 req/s`, `done`, `failed: oom`.
    pub state: String,
}

/// One scenario of the run page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioView {
    /// Display name.
    pub name: String,
    /// Trials, in the order they finished.
    pub records: Vec<TrialRecord>,
    /// Best launch command so far, when one met the SLA.
    pub best_command: Option<String>,
    /// Its rate.
    pub best_rate: Option<f64>,
}

/// The run page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetail {
    /// Summary line.
    pub summary: RunSummary,
    /// Scenarios.
    pub scenarios: Vec<ScenarioView>,
    /// Candidates and their states.
    pub candidates: Vec<CandidateState>,
    /// Trials done and planned (from the progress log), for progress and ETA.
    pub trials_done: usize,
    /// Planned trials, when known.
    pub trials_planned: Option<usize>,
    /// Seconds left at the current pace, when it can be estimated.
    pub eta_s: Option<f64>,
    /// Log files that can be opened (`progress.log`, `logs/server_base_cand0.log`, ...).
    pub logs: Vec<String>,
}

/// A config problem, with its place in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigProblem {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The validator's message.
    pub message: String,
}

/// Answer to a config check: problems, or the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigCheck {
    /// Problems (empty when valid).
    pub problems: Vec<ConfigProblem>,
    /// The `autobench plan` text when valid.
    pub plan: Option<String>,
}
