//! The dashboard's HTTP API payloads, shared by the backend (`autobench serve`) and the web UI.

use serde::{Deserialize, Serialize};

use crate::record::{Diagnosis, Stage, TrialRecord};

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Its progress log is still growing and it has not finished.
    Running,
    /// It finished the whole search.
    Finished,
    /// It stopped early at its time budget (partial results).
    Partial,
    /// It was stopped by a signal, or its process on this machine died without a final line
    /// (partial results; resume continues it).
    Interrupted,
    /// It stopped with an error, nothing could be measured, or it went quiet without finishing.
    Failed,
}

impl RunStatus {
    /// The name shown in lists (`running`, `finished`, ...).
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Partial => "partial",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Failed => "failed",
        }
    }
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
    /// Per scenario, the rate the answer gives (the best so far while the run goes on).
    pub best: Vec<(String, Option<f64>)>,
    /// Per scenario whose rate is not confirmed, what is missing ("the run stopped before its
    /// check").
    #[serde(default)]
    pub unconfirmed: Vec<(String, String)>,
    /// Per scenario whose answer has a cost (`benchmark.gpu_hour_price`), dollars per million
    /// output tokens at the answer's rate.
    #[serde(default)]
    pub costs: Vec<(String, f64)>,
    /// First progress-log timestamp.
    pub started_at: Option<String>,
    /// Seconds from the first to the last progress-log line.
    pub duration_s: Option<f64>,
    /// Trials recorded.
    pub trials: usize,
    /// Written by the upstream Python tool (`sglang.auto_benchmark`): shown read-only.
    #[serde(default)]
    pub upstream: bool,
    /// Written before runs kept `events.jsonl`: status and progress are derived from the result
    /// files.
    #[serde(default)]
    pub derived: bool,
}

/// Where one candidate stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum CandidatePhase {
    /// Not started yet.
    Waiting,
    /// Its server is starting.
    Launching,
    /// Its server is up; the first trial is warming it up.
    WarmingUp,
    /// A trial at this rate is running.
    Probing {
        /// Offered rate (req/s).
        qps: f64,
    },
    /// Between trials.
    Measured,
    /// All its walks are done.
    Done,
    /// It could not be started or died.
    Failed {
        /// Class.
        diagnosis: Diagnosis,
        /// The one-line cause.
        cause: Option<String>,
    },
    /// The run ended while it was busy.
    Stopped,
}

impl std::fmt::Display for CandidatePhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CandidatePhase::Waiting => f.write_str("waiting"),
            CandidatePhase::Launching => f.write_str("launching"),
            CandidatePhase::WarmingUp => f.write_str("warming up"),
            CandidatePhase::Probing { qps } => write!(f, "probing {qps:.4} req/s"),
            CandidatePhase::Measured => f.write_str("measured"),
            CandidatePhase::Done => f.write_str("done"),
            CandidatePhase::Failed {
                diagnosis,
                cause: Some(cause),
            } => write!(f, "failed: {diagnosis} ({cause})"),
            CandidatePhase::Failed {
                diagnosis,
                cause: None,
            } => write!(f, "failed: {diagnosis}"),
            CandidatePhase::Stopped => f.write_str("stopped"),
        }
    }
}

/// A candidate's state, from the run's events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateState {
    /// Stage.
    pub stage: Stage,
    /// Candidate index.
    pub id: usize,
    /// Where it stands.
    pub phase: CandidatePhase,
    /// What it changes from the baseline, as flags ([`crate::naming::change`]).
    #[serde(default)]
    pub label: String,
    /// Its launch command (secrets redacted), once launched.
    #[serde(default)]
    pub command: Option<String>,
    /// Its worker or Slurm job and where it stands (`executor: partitions` or `slurm`).
    #[serde(default)]
    pub job: Option<String>,
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
    /// What re-measuring the top candidates found (once the run confirmed its answer).
    #[serde(default)]
    pub confirmation: Option<crate::verdict::Confirmation>,
    /// The best candidate's name ([`crate::naming::change`]).
    #[serde(default)]
    pub best_label: Option<String>,
    /// The trial behind the best rate (its verdict gives the headroom to each SLA limit).
    #[serde(default)]
    pub best_trial: Option<TrialRecord>,
    /// The baseline's best passing rate, for the gain.
    #[serde(default)]
    pub baseline_rate: Option<f64>,
    /// `true` while the run goes on: the best so far, not yet the answer.
    #[serde(default)]
    pub so_far: bool,
    /// Candidate names by id, for tables and legends.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<usize, String>,
    /// The answer in words ([`crate::answer`]): the sentence and how sure it is, the same as the
    /// CLI's and the summaries'.
    #[serde(default)]
    pub answer: Option<crate::answer::Answer>,
    /// While the scenario's confirmation runs: what is being checked and what failed
    /// ([`crate::answer::checking`]), shown instead of a rate no check has confirmed.
    #[serde(default)]
    pub checking: Option<String>,
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
    /// Trials done (from the run's events), for progress and ETA.
    pub trials_done: usize,
    /// Planned trials, when known.
    pub trials_planned: Option<usize>,
    /// Seconds left at the current pace, when it can be estimated.
    pub eta_s: Option<f64>,
    /// Log files that can be opened (`progress.log`, `logs/server_base_cand0.log`, ...).
    pub logs: Vec<String>,
    /// Lines of `events.jsonl` that could not be read (a torn line, an event kind from a newer
    /// version), each naming its line; the page shows what did parse.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Why the run is partial, interrupted or failed (its last words).
    #[serde(default)]
    pub partial: Option<String>,
    /// When the run last wrote an event.
    #[serde(default)]
    pub last_update: Option<String>,
    /// Says "running" but has written nothing for [`STALE_AFTER_S`] (a synced remote run whose
    /// log stopped, or a run killed without a word).
    #[serde(default)]
    pub stale: bool,
    /// This dashboard started the run and can stop it; `None` when it can, else why not.
    #[serde(default)]
    pub stop_refused: Option<String>,
    /// The SLA the run judged with (`run_meta.json`), for the page's what-if.
    #[serde(default)]
    pub sla: Option<crate::sla::Sla>,
}

/// A running run silent for this long is shown as stale.
pub const STALE_AFTER_S: i64 = 15 * 60;

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

impl RunStatus {
    /// Where the run stands, for the answer's words: running, finished, or stopped early
    /// (partial, interrupted, failed).
    pub fn state(self) -> crate::answer::RunState {
        use crate::answer::RunState;
        match self {
            RunStatus::Running => RunState::Running,
            RunStatus::Finished => RunState::Finished,
            RunStatus::Partial | RunStatus::Interrupted | RunStatus::Failed => RunState::Stopped,
        }
    }
}
