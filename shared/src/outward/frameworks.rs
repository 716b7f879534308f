//! Several frameworks in one run (a schema v1 config that enables more than one): `plan --json`
//! ([`PlanFrameworksJson`]) and `run --json` ([`RunFrameworksJson`], with the cross-framework
//! [`RankingJson`]), and the rows of `frameworks.jsonl` ([`FrameworkRow`], schema v1's result-row
//! shape).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{PlanJson, RunJson};

/// `autobench plan --json` of a config that enables several frameworks: one plan each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanFrameworksJson {
    /// One plan per enabled framework, in the config's order.
    pub frameworks: Vec<PlanJson>,
}

/// `autobench run --json` of a config that enables several frameworks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFrameworksJson {
    /// One answer per framework, each naming its framework.
    pub frameworks: Vec<RunJson>,
    /// The frameworks ranked per scenario (`None`: the ranking could not be written).
    pub ranking: Option<RankingJson>,
}

/// The cross-framework ranking: where it was written, and per scenario the frameworks in rank
/// order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingJson {
    /// `frameworks.md` and `frameworks.jsonl`.
    pub files: RankingFiles,
    /// One entry per scenario.
    pub scenarios: Vec<RankedScenario>,
}

/// The ranking's files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingFiles {
    /// `frameworks.md`.
    pub markdown: PathBuf,
    /// `frameworks.jsonl`.
    pub jsonl: PathBuf,
}

/// What the frameworks are ranked by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RankedBy {
    /// The rate each answer holds the SLA up to, higher first.
    #[default]
    Rate,
    /// Its cost per million output tokens there, cheaper first (`benchmark.rank_by: cost`).
    Cost,
}

/// One scenario's ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedScenario {
    /// The scenario's name.
    pub scenario: String,
    /// What the frameworks are ranked by.
    #[serde(default)]
    pub ranked_by: RankedBy,
    /// The frameworks not measurably behind the leader (never seen failing at or below its rate;
    /// empty when ranked by cost).
    pub tied: Vec<String>,
    /// The frameworks, best first.
    pub ranked: Vec<RankedFramework>,
}

/// One framework's place in a scenario's ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedFramework {
    /// Its key (`vllm`, `tensorrt_llm`, ...).
    pub framework: String,
    /// The rate its answer credibly meets the SLA at (`None`: nothing met it).
    pub rate: Option<f64>,
    /// Dollars per million output tokens at that rate, with `benchmark.gpu_hour_price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_million_output_tokens: Option<f64>,
    /// Its answer's launch command.
    pub command: Option<String>,
    /// Its run folder.
    pub output_dir: PathBuf,
}

/// Whether a framework's row has an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameworkRowStatus {
    /// A candidate met the SLA.
    Ok,
    /// None did.
    Skipped,
}

/// One row of `frameworks.jsonl`: a framework's answer in one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameworkRow {
    /// Its key.
    pub framework: String,
    /// The scenario's name.
    pub scenario: String,
    /// Its rank in the scenario (1 is the best).
    pub rank: usize,
    /// The answer's candidate.
    pub candidate_id: Option<usize>,
    /// The model of its baseline.
    pub model: Option<String>,
    /// Whether it has an answer.
    pub status: FrameworkRowStatus,
    /// Why not, when it has none.
    pub failure_reason: Option<String>,
    /// The load the answer holds.
    pub workload: FrameworkRowWorkload,
    /// Whether the SLA was met.
    pub sla: FrameworkRowSla,
    /// The answer's measurements.
    pub metrics: Option<FrameworkRowMetrics>,
    /// Dollars per million output tokens at the answer's rate, with `benchmark.gpu_hour_price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_million_output_tokens: Option<f64>,
    /// The answer's launch command.
    pub server_command: Option<String>,
    /// The scenario's result files.
    pub artifacts: FrameworkRowArtifacts,
}

/// The load of a [`FrameworkRow`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameworkRowWorkload {
    /// The scenario's name.
    pub scenario: String,
    /// The rate the answer credibly meets the SLA at.
    pub request_rate: Option<f64>,
    /// The answer's concurrency cap.
    pub max_concurrency: Option<u64>,
}

/// The SLA verdict of a [`FrameworkRow`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameworkRowSla {
    /// Whether a candidate met it.
    pub passed: bool,
}

/// The measurements of a [`FrameworkRow`]'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameworkRowMetrics {
    /// Completed requests per second.
    pub request_throughput: f64,
    /// Output tokens per second.
    pub output_token_throughput: f64,
    /// Mean time to first token.
    pub mean_ttft_ms: Option<f64>,
    /// P99 time to first token.
    pub p99_ttft_ms: Option<f64>,
    /// Mean time per output token.
    pub mean_tpot_ms: Option<f64>,
    /// P99 time per output token.
    pub p99_tpot_ms: Option<f64>,
    /// Completed over sent.
    pub success_rate: f64,
}

/// The result files of a [`FrameworkRow`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameworkRowArtifacts {
    /// `results.jsonl`.
    pub results: PathBuf,
    /// `summary.md`.
    pub summary: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_keeps_schema_v1s_names() {
        let row = FrameworkRow {
            framework: "vllm".into(),
            scenario: "chat".into(),
            rank: 1,
            candidate_id: None,
            model: Some("m".into()),
            status: FrameworkRowStatus::Skipped,
            failure_reason: Some("no candidate met the SLA".into()),
            workload: FrameworkRowWorkload {
                scenario: "chat".into(),
                request_rate: None,
                max_concurrency: None,
            },
            sla: FrameworkRowSla { passed: false },
            metrics: None,
            cost_per_million_output_tokens: None,
            server_command: None,
            artifacts: FrameworkRowArtifacts {
                results: "out/vllm/results.jsonl".into(),
                summary: "out/vllm/summary.md".into(),
            },
        };
        let text = serde_json::to_string(&row).expect("json");
        assert_eq!(
            text,
            r#"{"framework":"vllm","scenario":"chat","rank":1,"candidate_id":null,"model":"m","status":"skipped","failure_reason":"no candidate met the SLA","workload":{"scenario":"chat","request_rate":null,"max_concurrency":null},"sla":{"passed":false},"metrics":null,"server_command":null,"artifacts":{"results":"out/vllm/results.jsonl","summary":"out/vllm/summary.md"}}"#
        );
        let back: FrameworkRow = serde_json::from_str(&text).expect("read");
        assert_eq!(back, row);
    }
}
