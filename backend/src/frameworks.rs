//! Several frameworks in one run (a schema v1 config that enables more than one): each framework
//! is searched on the same workload in its own folder, then their answers are ranked together
//! per scenario, so "SGLang or vLLM for this model and SLA?" gets one answer with the best
//! command of each. Written next to the framework folders as `frameworks.md` (for people) and
//! `frameworks.jsonl` (one row per framework and scenario, in schema v1's result-row shape).
//!
//! Ranking: the rate each framework's answer credibly meets the SLA at (after its confirmation),
//! higher first; then output tokens per second. Two frameworks are called tied ("no significant
//! difference") when the runner-up was never seen failing at or below the leader's rate: the
//! leader's edge is then inside the search's resolution, not a measured difference. With
//! `benchmark.gpu_hour_price` (and its per-framework overrides), each answer's cost per million
//! output tokens is shown beside its rate; with `benchmark.rank_by: cost` the frameworks are
//! ranked by that cost, cheaper first (then by rate), and the leader is called the cheapest.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use shared::outward::frameworks::{
    FrameworkRow, FrameworkRowArtifacts, FrameworkRowMetrics, FrameworkRowSla, FrameworkRowStatus,
    FrameworkRowWorkload, RankedBy, RankedFramework, RankedScenario, RankingFiles, RankingJson,
};
use shared::record::TrialRecord;

use crate::config::{KeyMap, RunConfig};
use crate::session::{RunOutcome, ScenarioResult};

/// One finished run: what it produced, its final summary text and its report.
pub(crate) struct Finished {
    /// The outcome.
    pub outcome: RunOutcome,
    /// The final summary for the console.
    pub text: String,
    /// `report.html`, when written.
    pub report: Option<PathBuf>,
}

/// What was written, and the same for the console and `run --json`.
pub(crate) struct Ranking {
    /// The console text.
    pub text: String,
    /// Per scenario, the frameworks in rank order.
    pub json: RankingJson,
}

/// One framework's answer in one scenario.
struct Entry<'a> {
    framework: &'a str,
    scenario: &'a ScenarioResult,
    /// The rate its answer credibly meets the SLA at (`None`: nothing met it).
    rate: Option<f64>,
    /// The lowest rate it failed at in the search or the confirmation, above its answer.
    fails_at: Option<f64>,
    /// Dollars per million output tokens at its answer's rate, when priced.
    cost: Option<f64>,
    /// Its run ranks by cost (`benchmark.rank_by: cost`).
    by_cost: bool,
    output_dir: &'a Path,
}

/// Writes `frameworks.md` and `frameworks.jsonl` in the folder above the framework folders.
pub(crate) fn write(cfgs: &[RunConfig], finished: &[Finished]) -> anyhow::Result<Ranking> {
    let root = cfgs
        .first()
        .and_then(|c| c.output_dir.parent())
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut scenarios: Vec<(String, Vec<Entry<'_>>)> = Vec::new();
    for (cfg, done) in cfgs.iter().zip(finished) {
        let framework = framework_key(cfg);
        for scenario in &done.outcome.scenarios {
            let mut entry = entry(framework, scenario, &done.outcome.output_dir);
            entry.by_cost = cfg.benchmark.rank_by_cost;
            match scenarios
                .iter_mut()
                .find(|(name, _)| *name == scenario.name)
            {
                Some((_, entries)) => entries.push(entry),
                None => scenarios.push((scenario.name.clone(), vec![entry])),
            }
        }
    }
    for (_, entries) in &mut scenarios {
        rank(entries);
    }
    let text = markdown(&scenarios, cfgs);
    let rows = rows(&scenarios, cfgs);
    std::fs::write(root.join("frameworks.md"), &text)
        .with_context(|| format!("cannot write {}", root.join("frameworks.md").display()))?;
    let mut jsonl = String::new();
    for row in &rows {
        let _ = writeln!(jsonl, "{}", serde_json::to_string(row)?);
    }
    std::fs::write(root.join("frameworks.jsonl"), jsonl)
        .with_context(|| format!("cannot write {}", root.join("frameworks.jsonl").display()))?;
    Ok(Ranking {
        text: console(&scenarios, &root),
        json: RankingJson {
            files: RankingFiles {
                markdown: root.join("frameworks.md"),
                jsonl: root.join("frameworks.jsonl"),
            },
            scenarios: scenario_json(&scenarios),
        },
    })
}

fn entry<'a>(framework: &'a str, scenario: &'a ScenarioResult, output_dir: &'a Path) -> Entry<'a> {
    let rate = scenario.answer_rate();
    // A cheaper answer (ranked by cost) failed where its own check did, not where the fastest's.
    let fails_at = match scenario.cheaper_answer() {
        Some(cheaper) => cheaper.fails_at,
        None => scenario.confirmation.as_ref().and_then(|c| c.fails_at),
    };
    Entry {
        framework,
        scenario,
        rate,
        fails_at,
        cost: rate.and(scenario.answer.cost_per_million_output_tokens),
        by_cost: false,
        output_dir,
    }
}

/// Best first: by rate (then output tokens/s), or, when every run ranks by cost, cheaper first
/// (then by rate).
fn rank(entries: &mut [Entry<'_>]) {
    let by_cost = entries.iter().all(|e| e.by_cost);
    entries.sort_by(|a, b| {
        let ((rate_a, tokens_a), (rate_b, tokens_b)) = (rank_key(a), rank_key(b));
        let cheaper = if by_cost {
            cost_key(a).total_cmp(&cost_key(b))
        } else {
            std::cmp::Ordering::Equal
        };
        cheaper
            .then(rate_b.total_cmp(&rate_a))
            .then(tokens_b.total_cmp(&tokens_a))
    });
}

/// Dollars per million output tokens, a missing cost dearest.
fn cost_key(entry: &Entry<'_>) -> f64 {
    entry.cost.unwrap_or(f64::INFINITY)
}

/// (rate, output tok/s), missing values lowest.
fn rank_key(entry: &Entry<'_>) -> (f64, f64) {
    let tokens = entry
        .scenario
        .best
        .as_ref()
        .and_then(|b| b.metrics.as_ref())
        .map_or(f64::NEG_INFINITY, |m| m.output_throughput);
    (entry.rate.unwrap_or(f64::NEG_INFINITY), tokens)
}

/// Whether `runner_up` is not measurably behind `leader`: it was never seen failing at or below
/// the leader's rate.
fn tied(leader: &Entry<'_>, runner_up: &Entry<'_>) -> bool {
    match (leader.rate, runner_up.rate) {
        (Some(lead), Some(_)) => runner_up.fails_at.is_none_or(|fail| fail > lead),
        _ => false,
    }
}

fn best<'a>(entry: &Entry<'a>) -> Option<&'a TrialRecord> {
    entry.scenario.best.as_ref()
}

fn markdown(scenarios: &[(String, Vec<Entry<'_>>)], cfgs: &[RunConfig]) -> String {
    let mut out = String::from("# Cross-framework comparison\n\n");
    let names: Vec<&str> = cfgs.iter().map(framework_key).collect();
    let _ = writeln!(
        out,
        "Frameworks: {}. Each was searched on the same workload and SLA ({}); the rate is the one its answer meets the SLA at after confirmation{}.\n",
        names.join(", "),
        cfgs.first()
            .map(crate::session::sla_text)
            .unwrap_or_default(),
        if cfgs.iter().all(|c| c.benchmark.rank_by_cost) {
            "; ranked by cost per million output tokens there (benchmark.rank_by: cost)"
        } else {
            ""
        }
    );
    for (name, entries) in scenarios {
        let _ = writeln!(out, "## Scenario {name}\n");
        let _ = writeln!(out, "{}\n", verdict_line(entries));
        // With a GPU-hour price, what a million output tokens cost at each answer's rate.
        let priced = entries.iter().any(|e| e.cost.is_some());
        let (cost_head, cost_rule) = if priced {
            (" $ per M output tokens |", "---|")
        } else {
            ("", "")
        };
        let _ = writeln!(
            out,
            "| Rank | Framework | Req/s |{cost_head} Output tok/s | P99 TTFT ms | P99 TPOT ms | Candidate | Launch command |\n|---|---|---|{cost_rule}---|---|---|---|---|"
        );
        for (rank, entry) in entries.iter().enumerate() {
            let metrics = best(entry).and_then(|b| b.metrics.as_ref());
            let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
            let cost = if priced {
                format!(
                    " {} |",
                    entry.cost.map_or("-".into(), |d| format!("${d:.2}"))
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} |{cost} {} | {} | {} | {} | {} |",
                rank + 1,
                entry.framework,
                entry
                    .rate
                    .map_or("none met the SLA".into(), |r| format!("{r:.2}")),
                cell(metrics.map(|m| m.output_throughput)),
                cell(metrics.and_then(|m| m.ttft.p99)),
                cell(metrics.and_then(|m| m.tpot.p99)),
                best(entry).map_or("-".into(), |b| b.candidate_id.to_string()),
                entry
                    .scenario
                    .command
                    .as_deref()
                    .map_or("-".into(), |c| format!(
                        "`{}`",
                        c.replace(" \\\n  ", " ").replace('|', "\\|")
                    ))
            );
        }
        out.push('\n');
    }
    out
}

/// "Best: vllm at 8.13 req/s." or the tie note, naming every framework tied with the leader.
fn verdict_line(entries: &[Entry<'_>]) -> String {
    let Some((leader, rest)) = entries.split_first() else {
        return "No framework ran in this scenario.".into();
    };
    let Some(lead) = leader.rate else {
        return "No framework met the SLA in this scenario.".into();
    };
    if let Some(cost) = leader.cost.filter(|_| entries.iter().all(|e| e.by_cost)) {
        return format!(
            "Cheapest: {} at ${cost:.2} per million output tokens (up to {lead:.2} req/s).",
            leader.framework
        );
    }
    let tied: Vec<&Entry<'_>> = rest.iter().filter(|e| tied(leader, e)).collect();
    if tied.is_empty() {
        return format!("Best: {} at {lead:.2} req/s.", leader.framework);
    }
    let all: Vec<String> = std::iter::once(leader)
        .chain(tied.iter().copied())
        .map(|e| format!("{} ({:.2} req/s)", e.framework, e.rate.unwrap_or_default()))
        .collect();
    format!(
        "No significant difference between {}: none of the others was seen failing at {lead:.2} req/s or below. They are listed by output tokens/s, a difference inside the noise.",
        all.join(", ")
    )
}

fn console(scenarios: &[(String, Vec<Entry<'_>>)], root: &Path) -> String {
    let mut out = String::from("\n=== cross-framework comparison ===\n");
    for (name, entries) in scenarios {
        let _ = writeln!(out, "scenario {name}: {}", verdict_line(entries));
        for (rank, entry) in entries.iter().enumerate() {
            let cost = entry.cost.map_or(String::new(), |d| {
                format!(", ${d:.2} per million output tokens")
            });
            let _ = writeln!(
                out,
                "  {}. {}: {}{cost} ({})",
                rank + 1,
                entry.framework,
                entry
                    .rate
                    .map_or("none met the SLA".into(), |r| format!("{r:.2} req/s")),
                entry.output_dir.display()
            );
        }
    }
    let _ = writeln!(out, "comparison: {}", root.join("frameworks.md").display());
    out
}

fn scenario_json(scenarios: &[(String, Vec<Entry<'_>>)]) -> Vec<RankedScenario> {
    scenarios
        .iter()
        .map(|(name, entries)| {
            let by_cost = entries.iter().all(|e| e.by_cost);
            RankedScenario {
                scenario: name.clone(),
                ranked_by: if by_cost {
                    RankedBy::Cost
                } else {
                    RankedBy::Rate
                },
                // A tie is called between rates; ranked by cost there is none.
                tied: entries
                    .split_first()
                    .filter(|_| !by_cost)
                    .map(|(leader, rest)| {
                        rest.iter()
                            .filter(|e| tied(leader, e))
                            .map(|e| e.framework.to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
                ranked: entries
                    .iter()
                    .map(|e| RankedFramework {
                        framework: e.framework.to_string(),
                        rate: e.rate,
                        cost_per_million_output_tokens: e.cost,
                        command: e.scenario.command.clone(),
                        output_dir: e.output_dir.to_path_buf(),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Schema v1 result rows: one per framework and scenario (its answer).
fn rows(scenarios: &[(String, Vec<Entry<'_>>)], cfgs: &[RunConfig]) -> Vec<FrameworkRow> {
    let model = |framework: &str| {
        cfgs.iter()
            .find(|c| framework_key(c) == framework)
            .and_then(|c| c.candidates.candidates.first())
            .and_then(|flags| flags.get("model").or_else(|| flags.get("model_path")))
            .map(shared::flags::render_scalar)
    };
    let mut out = Vec::new();
    for (name, entries) in scenarios {
        for (rank, entry) in entries.iter().enumerate() {
            out.push(row(name, rank + 1, entry, model(entry.framework)));
        }
    }
    out
}

/// The row of one framework's answer in scenario `name`.
fn row(name: &str, rank: usize, entry: &Entry<'_>, model: Option<String>) -> FrameworkRow {
    let record = best(entry);
    let metrics = record.and_then(|r| r.metrics.as_ref());
    FrameworkRow {
        framework: entry.framework.to_string(),
        scenario: name.to_string(),
        rank,
        candidate_id: record.map(|r| r.candidate_id),
        model,
        status: if record.is_some() {
            FrameworkRowStatus::Ok
        } else {
            FrameworkRowStatus::Skipped
        },
        failure_reason: record
            .is_none()
            .then(|| "no candidate met the SLA".to_string()),
        workload: FrameworkRowWorkload {
            scenario: name.to_string(),
            request_rate: entry.rate,
            max_concurrency: record.and_then(|r| r.max_concurrency),
        },
        sla: FrameworkRowSla {
            passed: record.is_some(),
        },
        metrics: metrics.map(|m| FrameworkRowMetrics {
            request_throughput: m.request_throughput,
            output_token_throughput: m.output_throughput,
            mean_ttft_ms: m.ttft.mean,
            p99_ttft_ms: m.ttft.p99,
            mean_tpot_ms: m.tpot.mean,
            p99_tpot_ms: m.tpot.p99,
            success_rate: m.success_rate(),
        }),
        cost_per_million_output_tokens: entry.cost,
        server_command: entry.scenario.command.clone(),
        artifacts: FrameworkRowArtifacts {
            results: entry.scenario.dir.join("results.jsonl"),
            summary: entry.scenario.dir.join("summary.md"),
        },
    }
}

/// The framework's key: its `frameworks.<key>` section, or the framework's name.
fn framework_key(cfg: &RunConfig) -> &'static str {
    match cfg.keys {
        KeyMap::Neutral(name) => name,
        KeyMap::Sglang => cfg.server.framework.name(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A framework's answer at `rate` req/s costing `cost` per million output tokens.
    fn result(rate: f64, cost: f64) -> ScenarioResult {
        let best: TrialRecord = serde_json::from_value(json!({
            "stage": "base", "candidate_id": 0, "requested_qps": rate, "max_concurrency": null,
            "server_flags": {}, "sla_passed": true,
            "metrics": {"completed": 10, "achieved_request_rate": rate, "output_throughput": rate}
        }))
        .expect("record");
        ScenarioResult {
            name: "chat".into(),
            dir: PathBuf::from("chat"),
            dataset: String::new(),
            best: Some(best),
            command: None,
            confirmation: None,
            answer: shared::answer::Answer {
                rate: Some(rate),
                cost_per_million_output_tokens: Some(cost),
                ..Default::default()
            },
            standings: Vec::new(),
        }
    }

    #[test]
    fn ranked_by_cost_the_cheaper_framework_leads_and_is_called_the_cheapest() {
        // vllm holds more requests, trtllm costs less per token (its GPUs are cheaper).
        let (fast, cheap) = (result(8.0, 3.5), result(6.0, 2.25));
        let dir = Path::new("out");
        let entries = |by_cost: bool| {
            let mut entries = vec![
                entry("vllm", &fast, dir),
                entry("tensorrt_llm", &cheap, dir),
            ];
            for e in &mut entries {
                e.by_cost = by_cost;
            }
            rank(&mut entries);
            entries
        };
        let by_rate = entries(false);
        assert_eq!(by_rate[0].framework, "vllm");
        assert!(verdict_line(&by_rate).starts_with("No significant difference"));
        let by_cost = entries(true);
        assert_eq!(by_cost[0].framework, "tensorrt_llm");
        assert_eq!(
            verdict_line(&by_cost),
            "Cheapest: tensorrt_llm at $2.25 per million output tokens (up to 6.00 req/s)."
        );
        let json = scenario_json(&[("chat".into(), by_cost)]);
        assert_eq!(json[0].ranked_by, RankedBy::Cost);
        assert_eq!(json[0].ranked[1].cost_per_million_output_tokens, Some(3.5));
        assert!(json[0].tied.is_empty(), "no tie between costs: {json:?}");
    }
}
