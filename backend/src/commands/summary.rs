//! What `run` prints at its end: the answer per scenario, the candidates table, the launch
//! command, and `run --json`'s object.

use shared::flags::FlagMap;
use shared::outward::{RunBestJson, RunCostRankJson, RunFilesJson, RunJson, RunScenarioJson};
use std::fmt::Write as _;
use std::path::Path;

use shared::api::RunStatus;
use shared::run_dir::RunDir;

use crate::config::{self, RunConfig};
use crate::session::{RunOutcome, ScenarioResult};

/// Every candidate in a compact table: its change, its best rate, the SLA's latencies there
/// against their limits, and its status (answer, tied, slower, skipped, failed to start).
fn standings_table(standings: &[shared::answer::Standing], sla: &shared::sla::Sla) -> String {
    // With a GPU-hour price, what a million output tokens cost at each best rate.
    let priced = standings
        .iter()
        .any(|s| s.cost_per_million_output_tokens.is_some());
    let mut rows: Vec<Vec<String>> = vec![
        std::iter::once("candidate".to_string())
            .chain(std::iter::once("best rate".to_string()))
            .chain(priced.then(|| "$ per M tokens".to_string()))
            .chain(sla.limits.iter().map(shared::sla::LatencyLimit::plain))
            .chain(std::iter::once("status".to_string()))
            .collect(),
    ];
    for s in standings {
        let cost = s
            .cost_per_million_output_tokens
            .map_or("-".into(), |d| format!("${d:.2}"));
        rows.push(
            std::iter::once(s.name.clone())
                .chain(std::iter::once(
                    s.best_rate.map_or("-".into(), shared::answer::rate),
                ))
                .chain(priced.then_some(cost))
                .chain(s.latencies.iter().cloned())
                .chain(std::iter::once(s.status.clone()))
                .collect(),
        );
    }
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if i + 1 == row.len() {
                    cell.clone()
                } else {
                    format!(
                        "{cell:<width$}",
                        width = widths.get(i).copied().unwrap_or(0)
                    )
                }
            })
            .collect();
        let _ = writeln!(out, "    {}", cells.join("  ").trim_end());
    }
    out
}

/// The final answer as JSON (`run --json`): status, and per scenario the best command, its rate
/// with the confirmation's interval, its cost when priced, its name, and the files.
pub(super) fn answer_json(cfg: &RunConfig, outcome: &RunOutcome, report: Option<&Path>) -> RunJson {
    let baseline = cfg
        .candidates
        .candidates
        .first()
        .cloned()
        .unwrap_or_default();
    let scenarios = outcome
        .scenarios
        .iter()
        .map(|s| RunScenarioJson {
            name: s.name.clone(),
            dataset: s.dataset.clone(),
            headline: s.answer.headline.clone(),
            how_sure: s.answer.how_sure.clone(),
            best: best_json(s, &baseline),
            files: RunFilesJson {
                summary: s.dir.join("summary.md"),
                results_jsonl: s.dir.join("results.jsonl"),
                results_csv: s.dir.join("results.csv"),
            },
        })
        .collect();
    RunJson {
        framework: None,
        status: outcome.status.name().into(),
        partial: outcome.partial.clone(),
        output_dir: outcome.output_dir.clone(),
        report: report.map(Path::to_path_buf),
        scenarios,
    }
}

/// A scenario's answer for `run --json`; `None` when no candidate met the SLA.
fn best_json(s: &ScenarioResult, baseline: &FlagMap) -> Option<RunBestJson> {
    let b = s.best.as_ref()?;
    let mut best = RunBestJson {
        candidate: b.candidate_id,
        label: shared::naming::label(&b.server_flags, baseline),
        rate: s.answer_rate()?,
        cost_per_million_output_tokens: s.answer.cost_per_million_output_tokens,
        max_concurrency: b.max_concurrency,
        confirmed: None,
        passes_at: None,
        fails_at: None,
        tied_with: None,
        compared_at: None,
        tie: None,
        note: None,
        not_shown: None,
        ranked_by_cost: s
            .confirmation
            .as_ref()
            .and_then(|c| c.by_cost.as_ref())
            .map(|o| RunCostRankJson {
                fastest: o.fastest,
                fastest_rate: o.fastest_rate,
                fastest_cost_per_million_output_tokens: o.fastest_cost,
                checked: o.checked.clone(),
            }),
        command: s.command.clone(),
    };
    match (s.cheaper_answer(), s.confirmation.as_ref()) {
        // Its own check: the confirmation's fields (and its tie) are the fastest's.
        (Some(cheaper), _) => {
            best.confirmed = Some(true);
            best.passes_at = Some(cheaper.rate);
            best.fails_at = cheaper.fails_at;
        }
        (None, Some(c)) => confirmation_fields(&mut best, c, &s.standings),
        (None, None) => {}
    }
    Some(best)
}

/// What the confirmation found about the answer's command, in `best`.
fn confirmation_fields(
    best: &mut RunBestJson,
    c: &shared::verdict::Confirmation,
    standings: &[shared::answer::Standing],
) {
    best.confirmed = Some(c.confirmed);
    best.passes_at = c.passes_at;
    best.fails_at = c.fails_at;
    best.tied_with = Some(c.tied_with.clone());
    best.compared_at = c.compared_at;
    best.tie = c.tie_text_named(|id| {
        standings
            .iter()
            .find(|st| st.stage == shared::record::Stage::Base && st.candidate == id)
            .map_or_else(|| format!("candidate {id}"), |st| format!("`{}`", st.name))
    });
    best.note = Some(c.note.clone());
    best.not_shown = c.not_shown.clone();
}

/// What a person needs to act on, printed at the end of `run`.
pub(crate) fn final_summary(cfg: &RunConfig, outcome: &RunOutcome) -> String {
    let mut out = String::from("\n=== autobench result ===\n");
    let _ = writeln!(
        out,
        "search: {}; {} base candidate(s)",
        crate::plan::search_text(cfg),
        cfg.candidates.candidates.len()
    );
    if let Some(reason) = &outcome.partial {
        let word = if outcome.status == RunStatus::Failed {
            "FAILED"
        } else {
            "PARTIAL"
        };
        let _ = writeln!(out, "status: {word} ({reason})");
    } else if outcome.status == RunStatus::Failed {
        let _ = writeln!(out, "status: FAILED (nothing could be measured)");
    }
    for s in &outcome.scenarios {
        let _ = writeln!(out, "\nscenario {}: dataset {}", s.name, s.dataset);
        let _ = writeln!(out, "  {}", s.answer.headline);
        if let Some(line) = &s.answer.speculative {
            let _ = writeln!(out, "  {line}");
        }
        if !s.answer.how_sure.is_empty() {
            let _ = writeln!(out, "  how sure:");
            for sentence in &s.answer.how_sure {
                let _ = writeln!(out, "    - {sentence}");
            }
        }
        if !s.answer.flag_effects.is_empty() {
            let _ = writeln!(out, "  what each flag bought:");
            for effect in &s.answer.flag_effects {
                let _ = writeln!(out, "    - {}", effect.text().replace('`', ""));
            }
        }
        if !s.standings.is_empty() {
            let _ = writeln!(out, "  candidates:");
            out.push_str(&standings_table(&s.standings, &cfg.benchmark.sla));
        }
        if let (Some(_), Some(command)) = (&s.best, &s.command) {
            let _ = writeln!(
                out,
                "  launch command:\n    {}",
                command.replace('\n', "\n    ")
            );
        }
        let _ = writeln!(
            out,
            "  files: {}/summary.md, results.csv, results.jsonl, prepared_dataset.jsonl",
            s.dir.display()
        );
    }
    let _ = writeln!(
        out,
        "\nspeculative stage: {}",
        outcome.speculative.as_deref().unwrap_or("disabled")
    );
    if cfg.scenarios.len() > 1 {
        let _ = writeln!(
            out,
            "summary of all scenarios: {}",
            RunDir::new(&outcome.output_dir).run_summary().display()
        );
    }
    let _ = writeln!(
        out,
        "progress log: {}",
        RunDir::new(&outcome.output_dir).progress_log().display()
    );
    let here = (!outcome.server_logs.is_empty()).then(|| {
        RunDir::new(&outcome.output_dir)
            .logs()
            .display()
            .to_string()
    });
    let workers = (cfg.executor != config::ExecutorPlan::Local).then(|| {
        format!(
            "{}/workers/cand-<i>/logs (each candidate's worker)",
            outcome.output_dir.display()
        )
    });
    let logs: Vec<String> = here.into_iter().chain(workers).collect();
    if !logs.is_empty() {
        let _ = writeln!(out, "server logs: {}", logs.join(" and "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_candidates_table_lines_up_and_ends_with_the_status() {
        let sla = shared::sla::Sla {
            limits: vec![
                shared::sla::parse_limit_key(
                    "max_p99_ttft_ms",
                    200.0,
                    shared::sla::MeasureFrom::Scheduled,
                )
                .expect("key"),
            ],
            min_success_rate: 1.0,
        };
        let standing =
            |name: &str, rate: Option<f64>, latency: &str, status: &str| shared::answer::Standing {
                stage: shared::record::Stage::Base,
                candidate: 0,
                name: name.into(),
                best_rate: rate,
                status: status.into(),
                latencies: vec![latency.into()],
                cost_per_million_output_tokens: None,
            };
        let table = standings_table(
            &[
                standing("default", Some(6.0), "150.0 ms", "slower"),
                standing(
                    "--chunked-prefill-size 1024",
                    Some(14.1417),
                    "180.2 ms",
                    "answer",
                ),
                standing(
                    "--mem-fraction-static 0.97",
                    None,
                    "-",
                    "failed to start: oom",
                ),
            ],
            &sla,
        );
        assert_eq!(
            table,
            "    candidate                    best rate    p99 TTFT <= 200 ms  status\n    \
             default                      6.00 req/s   150.0 ms            slower\n    \
             --chunked-prefill-size 1024  14.14 req/s  180.2 ms            answer\n    \
             --mem-fraction-static 0.97   -            -                   failed to start: oom\n"
        );
        // With a price, the cost at each best rate gets a column.
        let mut priced = standing("default", Some(6.0), "150.0 ms", "answer");
        priced.cost_per_million_output_tokens = Some(0.694);
        let table = standings_table(&[priced], &sla);
        assert_eq!(
            table,
            "    candidate  best rate   $ per M tokens  p99 TTFT <= 200 ms  status\n    \
             default    6.00 req/s  $0.69           150.0 ms            answer\n"
        );
    }
}
