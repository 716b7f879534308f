//! What leaves the program as JSON, typed: `autobench plan --json` ([`PlanJson`]) and
//! `autobench run --json` ([`RunJson`]) here, their several-framework forms and `frameworks.jsonl`
//! in [`frameworks`], `autobench bench`'s result lines in [`bench`], the cross-scenario summary
//! rows in [`summary`], `autobench validate --json` in [`dataset`], `autobench truth`'s lines in
//! [`truth`]. The backend builds these and
//! the e2e tests parse them back, so a field renamed on one side fails to compile on the other
//! instead of silently disappearing from a script's input.

pub mod bench;
pub mod dataset;
pub mod frameworks;
pub mod summary;
pub mod truth;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::flags::FlagMap;

/// `autobench plan --json`: the same facts as the plan's text, for scripts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanJson {
    /// The config file.
    pub config: PathBuf,
    /// Where the run writes.
    pub output_dir: PathBuf,
    /// The server's framework (`sglang`, `vllm`, `trtllm`, `transformers`, `sim`).
    pub framework: String,
    /// The search in words (tier, keys, how candidates are combined).
    pub search: String,
    /// `search.max_candidates`.
    pub max_candidates: Option<usize>,
    /// One entry per scenario.
    pub scenarios: Vec<PlanScenario>,
    /// Every base candidate, the baseline first.
    pub candidates: Vec<PlanCandidate>,
    /// How many combinations the search space holds.
    pub combinations: u64,
    /// What the tier or the cap left out, in words.
    pub not_tried: Vec<String>,
    /// What the search will cost.
    pub estimate: PlanEstimate,
    /// Whether the speculative stage is on.
    pub speculative: bool,
    /// Where candidates run (local, partitions, Slurm), as the config resolved it.
    pub executor: Value,
    /// The config's warnings and the plan's own.
    pub warnings: Vec<String>,
}

/// One scenario of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanScenario {
    /// Its name.
    pub name: String,
    /// Its dataset in words.
    pub dataset: String,
    /// Prompts prepared.
    pub num_prompts: u64,
}

/// One base candidate of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanCandidate {
    /// Its number (0 is the baseline).
    pub id: usize,
    /// Its change from the baseline (`baseline`, `attention-backend=flashinfer`).
    pub label: String,
    /// Its flags.
    pub flags: FlagMap,
    /// Its launch command, word by word (secrets redacted).
    pub argv: Vec<String>,
}

/// What a plan expects a typical search to cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanEstimate {
    /// Base-stage trials on the all-fail path of every walk.
    pub base_trials: usize,
    /// Server launches in the base stage.
    pub server_launches: usize,
    /// Wall time of a typical search, in seconds.
    pub wall_time_s: f64,
}

/// `autobench run --json`: the answer per scenario, for scripts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunJson {
    /// The framework of this run, for a schema v1 config (one run per enabled framework).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<String>,
    /// How the run ended (`finished`, `partial`, `interrupted`, `failed`).
    pub status: String,
    /// Why it stopped early, when it did.
    pub partial: Option<String>,
    /// The run folder.
    pub output_dir: PathBuf,
    /// `report.html`, when written.
    pub report: Option<PathBuf>,
    /// One entry per scenario.
    pub scenarios: Vec<RunScenarioJson>,
}

/// One scenario's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunScenarioJson {
    /// Its name.
    pub name: String,
    /// Its dataset in words.
    pub dataset: String,
    /// The answer sentence, as every surface says it.
    pub headline: String,
    /// How sure, one sentence per limit.
    pub how_sure: Vec<String>,
    /// The answer's command and rate (`None`: no candidate met the SLA).
    pub best: Option<RunBestJson>,
    /// The scenario's files.
    pub files: RunFilesJson,
}

/// The answer of a scenario: its command, rate and what the confirmation found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunBestJson {
    /// The candidate's number.
    pub candidate: usize,
    /// Its change from the baseline.
    pub label: String,
    /// The rate it holds the SLA up to (req/s).
    pub rate: f64,
    /// Dollars per million output tokens at the answer's rate, with `benchmark.gpu_hour_price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_million_output_tokens: Option<f64>,
    /// Its concurrency cap.
    pub max_concurrency: Option<u64>,
    /// Whether its check held at the search's rate (`None`: not checked).
    pub confirmed: Option<bool>,
    /// The highest rate it held in a check.
    pub passes_at: Option<f64>,
    /// The lowest rate above that at which it failed.
    pub fails_at: Option<f64>,
    /// Contenders that met the SLA at the compared rate too.
    pub tied_with: Option<Vec<usize>>,
    /// The rate the contenders were compared at.
    pub compared_at: Option<f64>,
    /// The tie in words.
    pub tie: Option<String>,
    /// What the confirmation found, in words.
    pub note: Option<String>,
    /// What keeps the answer from being shown at the confidence, when something does.
    pub not_shown: Option<String>,
    /// With `benchmark.rank_by: cost`, the fastest command beside it (when the answer is a
    /// cheaper one, the fields above describe that command's own check; the tie fields are
    /// absent: they are about the fastest's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranked_by_cost: Option<RunCostRankJson>,
    /// Its launch command.
    pub command: Option<String>,
}

/// How the cost ranking went: the fastest command, and the others checked for cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunCostRankJson {
    /// The fastest command (the answer ranked by rate).
    pub fastest: usize,
    /// The rate it holds the SLA up to (req/s).
    pub fastest_rate: f64,
    /// Its dollars per million output tokens there.
    pub fastest_cost_per_million_output_tokens: f64,
    /// The commands cheaper per token in the search that were checked in long trials.
    pub checked: Vec<usize>,
}

/// A scenario's result files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFilesJson {
    /// `summary.md`.
    pub summary: PathBuf,
    /// `results.jsonl`.
    pub results_jsonl: PathBuf,
    /// `results.csv`.
    pub results_csv: PathBuf,
}
