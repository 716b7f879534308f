//! `summary.md` (one scenario) and `SUMMARY.md` (all scenarios). The best launch command is shown
//! only when a trial met the SLA; otherwise the summary says plainly that nothing did.

use std::fmt::Write;

use shared::flags;
use shared::metrics::{Metric, Series};
use shared::ranking;
use shared::record::TrialRecord;
use shared::sla::Stat;

/// Facts about a scenario for its summary.
pub(crate) struct ScenarioFacts<'a> {
    /// Display name.
    pub name: &'a str,
    /// Dataset kind and provenance line.
    pub dataset: String,
    /// Rows.
    pub requests: usize,
    /// `Some(reason)` when the search did not finish.
    pub partial: Option<&'a str>,
    /// Best passing trial's launch command.
    pub best_command: Option<String>,
    /// The answer's trial (after confirmation).
    pub best: Option<&'a TrialRecord>,
    /// SLA text.
    pub sla: String,
    /// The answer in words ([`shared::answer`]).
    pub answer: shared::answer::Answer,
}

fn number(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.2}")).unwrap_or_default()
}

fn note(record: &TrialRecord) -> String {
    let text = record
        .diagnosis
        .map(|d| match &record.cause {
            Some(cause) => format!("{d}: {cause}"),
            None => format!("{d}: {}", record.hint.clone().unwrap_or_default()),
        })
        .or_else(|| record.error.clone())
        .or_else(|| record.heuristic_reason.clone())
        .or_else(|| (!record.sla_failures.is_empty()).then(|| record.sla_failures.join("; ")))
        .unwrap_or_default();
    let first = text.lines().next().unwrap_or_default().replace('|', "/");
    let first: String = first.chars().take(120).collect();
    let first = match record.metrics.as_ref().and_then(|m| m.stopped_early()) {
        Some(stopped) if first.is_empty() => stopped,
        Some(stopped) => format!("{stopped}: {first}"),
        None => first,
    };
    match (record.host_steal_note(), first.is_empty()) {
        (Some(steal), true) => steal,
        (Some(steal), false) => format!("{first} ({steal})"),
        (None, _) => first,
    }
}

/// Renders `summary.md`.
pub(crate) fn scenario_summary(facts: &ScenarioFacts, records: &[TrialRecord]) -> String {
    let mut out = format!("# Auto Benchmark Summary: {}\n\n", facts.name);
    let _ = writeln!(out, "- Dataset: {}", facts.dataset);
    let _ = writeln!(out, "- Requests: {}", facts.requests);
    let _ = writeln!(out, "- SLA: {}", facts.sla);
    if let Some(reason) = facts.partial {
        let _ = writeln!(out, "- Status: partial ({reason})");
    }
    let _ = write!(out, "\n## Answer\n\n{}\n", facts.answer.headline);
    if let Some(line) = &facts.answer.speculative {
        let _ = write!(out, "\n{line}\n");
    }
    if !facts.answer.how_sure.is_empty() {
        out.push_str("\n### How sure\n\n");
        for sentence in &facts.answer.how_sure {
            let _ = writeln!(out, "- {sentence}");
        }
    }
    if !facts.answer.flag_effects.is_empty() {
        out.push_str("\n### What each flag bought\n\n");
        for effect in &facts.answer.flag_effects {
            let _ = writeln!(out, "- {}", effect.text());
        }
    }
    match &facts.best_command {
        Some(command) if facts.best.is_some() => {
            let _ = write!(out, "\n## Best Launch Command\n\n```bash\n{command}\n```\n");
        }
        _ => out.push_str("\n## Best Launch Command\n\nNo candidate met the SLA in this scenario, so there is no launch command to recommend. See the failures and SLA violations below.\n"),
    }
    out.push_str("\n## Results\n\n| Candidate | Change | Stage | Rate req/s | Achieved req/s | Max Conc | Prefill | Decode | TP | EP | PP | Output tok/s | Mean TTFT ms | Mean TPOT ms | P99 TTFT ms | P99 TPOT ms | SLA | Note |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    let baseline = shared::naming::baseline_flags(records).unwrap_or_default();
    let mut sorted: Vec<&TrialRecord> = records.iter().collect();
    sorted.sort_by(|a, b| ranking::compare(b, a));
    for r in sorted {
        let f = &r.server_flags;
        let text = |key: &str| f.get(key).map(flags::render_scalar).unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.candidate_id,
            shared::naming::change(&r.server_flags, &baseline).replace('|', "/"),
            r.stage,
            r.requested_qps,
            number(r.metric(Metric::AchievedRate)),
            r.max_concurrency.map_or("-".into(), |c| c.to_string()),
            text("prefill_attention_backend"),
            text("decode_attention_backend"),
            flags::int_flag(f, "tp_size", 1),
            text("ep_size"),
            flags::int_flag(f, "pp_size", 1),
            number(r.metric(Metric::OutputThroughput)),
            number(r.metric(Metric::Latency(Series::Ttft, Stat::Mean))),
            number(r.metric(Metric::Latency(Series::Tpot, Stat::Mean))),
            number(r.metric(Metric::Latency(Series::Ttft, Stat::P99))),
            number(r.metric(Metric::Latency(Series::Tpot, Stat::P99))),
            r.verdict
                .as_ref()
                .filter(|_| r.metrics.is_some())
                .map_or(r.outcome_label(), |v| v.class()),
            note(r)
        );
    }
    out
}

/// One row of the cross-scenario summary.
pub(crate) use shared::outward::summary::ScenarioSummaryRow as ScenarioRow;

/// Renders `SUMMARY.md`: one table, then one section per scenario.
pub(crate) fn run_summary(rows: &[ScenarioRow], partial: Option<&str>) -> String {
    let mut out = String::from("# Scenario Summary\n\n");
    if let Some(reason) = partial {
        let _ = writeln!(out, "- Status: partial ({reason})\n");
    }
    // With a GPU-hour price, the cost per million output tokens beside each rate.
    let priced = rows
        .iter()
        .any(|r| r.cost_per_million_output_tokens.is_some());
    let (cost_head, cost_rule) = if priced {
        (" $ per M output tokens |", "---|")
    } else {
        ("", "")
    };
    let _ = writeln!(
        out,
        "| Scenario | Status | Rate req/s |{cost_head} Output tok/s | Mean TTFT ms | Mean TPOT ms | Summary |\n|---|---|---|{cost_rule}---|---|---|---|"
    );
    for row in rows {
        let cost = if priced {
            let dollars = row.cost_per_million_output_tokens;
            format!(
                " {} |",
                dollars.map(|d| format!("${d:.2}")).unwrap_or_default()
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} |{cost} {} | {} | {} | `{}/summary.md` |",
            row.scenario_name,
            row.status,
            row.requested_qps
                .map(|q| format!("{q:.2}"))
                .unwrap_or_default(),
            number(row.output_throughput),
            number(row.mean_ttft_ms),
            number(row.mean_tpot_ms),
            row.scenario_dir
        );
    }
    for row in rows {
        let _ = write!(out, "\n## {}\n\n", row.scenario_name);
        if !row.headline.is_empty() {
            let _ = write!(out, "{}\n\n", row.headline);
        }
        if row.launch_command.is_empty() {
            out.push_str("No candidate met the SLA in this scenario.\n");
        } else {
            let _ = writeln!(out, "```bash\n{}\n```", row.launch_command);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sla_failures: &[&str], steal: f64) -> TrialRecord {
        serde_json::from_value(serde_json::json!({
            "stage": "base", "candidate_id": 0, "requested_qps": 4.0, "max_concurrency": null,
            "server_flags": {}, "sla_passed": sla_failures.is_empty(),
            "sla_failures": sla_failures, "metrics": {"host_steal_pct": steal}
        }))
        .expect("record")
    }

    #[test]
    fn a_noisy_host_is_added_to_the_note() {
        assert_eq!(note(&record(&[], 1.0)), "");
        assert_eq!(note(&record(&[], 9.0)), "host steal 9%");
        assert_eq!(
            note(&record(&["p99_ttft_ms=30.0 > 25"], 9.0)),
            "p99_ttft_ms=30.0 > 25 (host steal 9%)"
        );
    }

    #[test]
    fn the_summary_gives_the_answer_then_how_sure_and_a_stopped_trial_says_how_far_it_got() {
        let mut stopped = record(&["p99 TPOT 24.0 ms > 20 ms"], 0.0);
        stopped.metrics = Some(shared::metrics::TrialMetrics {
            completed: 17,
            duration: 4.0,
            planned_requests: Some(120),
            early_stopped: true,
            early_stop_reason: Some("unsustainable".into()),
            ..Default::default()
        });
        let facts = ScenarioFacts {
            name: "chat",
            dataset: "random".into(),
            requests: 10,
            partial: None,
            best_command: None,
            best: None,
            sla: "p99 TPOT <= 20 ms".into(),
            answer: shared::answer::Answer {
                headline: "No command held your SLA at any rate tried, down to 4.00 req/s.".into(),
                how_sure: vec!["Measured 17 requests over 4 s at 4.00 req/s.".into()],
                ..Default::default()
            },
        };
        let text = scenario_summary(&facts, &[stopped]);
        assert!(
            text.contains(
                "## Answer\n\nNo command held your SLA at any rate tried, down to 4.00 req/s.\n\n### How sure\n\n- Measured 17 requests over 4 s at 4.00 req/s.\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("| stopped early at 17 of 120 requests: p99 TPOT 24.0 ms > 20 ms |"),
            "{text}"
        );
        assert!(text.contains("| 4.00 |"), "rates with two decimals: {text}");
        let rows = [ScenarioRow {
            scenario_name: "chat".into(),
            scenario_dir: "chat".into(),
            status: "ok".into(),
            requested_qps: Some(12.3456),
            achieved_request_rate: None,
            mean_ttft_ms: None,
            mean_tpot_ms: None,
            output_throughput: None,
            cost_per_million_output_tokens: None,
            launch_command: "serve".into(),
            headline: "Use `--x 1`: it holds your SLA up to 12.35 req/s.".into(),
        }];
        let all = run_summary(&rows, None);
        assert!(all.contains("| chat | ok | 12.35 |"), "{all}");
        assert!(all.contains("Mean TTFT ms | Mean TPOT ms"), "{all}");
        assert!(!all.contains("$ per M"), "no price, no cost column: {all}");
        assert!(
            all.contains("## chat\n\nUse `--x 1`: it holds your SLA up to 12.35 req/s.\n"),
            "{all}"
        );
        // With a price, the cost stands beside the rate.
        let mut priced = rows[0].clone();
        priced.cost_per_million_output_tokens = Some(0.6944);
        let all = run_summary(&[priced], None);
        assert!(
            all.contains("| Rate req/s | $ per M output tokens | Output tok/s |"),
            "{all}"
        );
        assert!(all.contains("|---|---|---|---|---|---|---|---|\n"), "{all}");
        assert!(all.contains("| chat | ok | 12.35 | $0.69 |"), "{all}");
    }
}
