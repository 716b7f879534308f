//! `autobench run` end to end on the simulator: every output file, failed candidates kept as rows
//! with their diagnosis (OOM with its hint, bad flag), fail-fast start-up failures, resume without
//! re-running, changed-config detection, and no server left behind on normal and error exits.

use std::time::{Duration, Instant};

use shared::outward::summary::ScenarioSummaryRow;

use super::common;

const SPACE: &str = "    chunked_prefill_size: [1024]\n    mem_fraction_static: [0.97]\n    attention_backend: [no-such-kernel]";
const TWO_SCENARIOS: &str = "  kind: random\n  num_prompts: 12\n  scenario_names: [short, long]\n  input_len: [64, 512]\n  output_len: [8, 8]";
const QPS: &str = "{lower: 5, upper: 120, tolerance: 10, max_rounds: 2}";

#[test]
fn full_search_writes_every_output_and_keeps_failures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let config = common::write_config(
        dir.path(),
        &common::fast_config(&out, SPACE, TWO_SCENARIOS, QPS),
    );
    let started = Instant::now();
    let output = common::run(&config);
    let text = common::text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    // Both start-up failures were noticed at once, not after the 600 s ready timeout.
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "took {:?}",
        started.elapsed()
    );
    for file in [
        "SUMMARY.md",
        "scenario_summary.jsonl",
        "scenario_summary.csv",
        "progress.log",
        "run_meta.json",
    ] {
        assert!(out.join(file).is_file(), "missing {file}");
    }
    let rows: Vec<ScenarioSummaryRow> = common::typed_records(&out.join("scenario_summary.jsonl"));
    let names: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.scenario_name.as_str(), r.scenario_dir.as_str()))
        .collect();
    assert_eq!(names, [("short", "short"), ("long", "long")], "{rows:?}");
    assert!(rows.iter().all(|r| !r.headline.is_empty()), "{rows:?}");
    for scenario in ["short", "long"] {
        for file in [
            "prepared_dataset.jsonl",
            "live_results.jsonl",
            "results.jsonl",
            "results.csv",
            "summary.md",
        ] {
            assert!(
                out.join(scenario).join(file).is_file(),
                "missing {scenario}/{file}"
            );
        }
        let records = common::records(&out.join(scenario).join("results.jsonl"));
        let oom: Vec<_> = records.iter().filter(|r| r["diagnosis"] == "oom").collect();
        assert_eq!(oom.len(), 1, "one OOM row per scenario: {records:?}");
        assert!(
            oom[0]["hint"]
                .as_str()
                .unwrap_or_default()
                .contains("Increase GPU count")
        );
        assert!(
            records.iter().any(|r| r["diagnosis"] == "bad_flag"),
            "bad flag row missing"
        );
        assert!(
            records.iter().any(|r| r["sla_passed"] == true),
            "nothing passed in {scenario}"
        );
        assert!(records.iter().any(|r| r["best_for_candidate"] == true));
        let summary =
            std::fs::read_to_string(out.join(scenario).join("summary.md")).expect("summary");
        assert!(summary.contains("## Best Launch Command"));
        assert!(summary.contains("autobench sim"));
    }
    let progress = std::fs::read_to_string(out.join("progress.log")).expect("progress");
    assert!(
        !progress.contains('\u{1b}') && !progress.contains('\r'),
        "progress.log must be plain text"
    );
    assert!(text.contains("=== autobench result ==="), "{text}");
    assert!(text.contains("launch command:"), "{text}");
    // The answer in a sentence, then every candidate by its change with its status.
    let result = text
        .split("=== autobench result ===")
        .nth(1)
        .unwrap_or_default();
    assert!(
        result.contains("  Use `") || result.contains("  No change beat the default: "),
        "{result}"
    );
    assert!(result.contains("  candidates:"), "{result}");
    let rows: Vec<&str> = result
        .lines()
        .filter(|l| l.starts_with("    ") && !l.starts_with("    - "))
        .collect();
    assert!(
        rows.iter()
            .any(|l| l.starts_with("    default ") || l.contains(" default ")),
        "the baseline is called the default: {result}"
    );
    assert!(
        rows.iter().any(|l| l.contains("failed to start: oom")),
        "the OOM is in the table: {result}"
    );
    assert!(
        rows.iter().any(|l| l.trim_end().ends_with("  answer")),
        "{result}"
    );
    // One format for rates: two decimals.
    for (at, _) in result.match_indices(" req/s") {
        // The number before it, read backwards: its decimals come first.
        let number: String = result[..at]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let decimals = number.split('.').next().map_or(0, str::len);
        assert!(number.contains('.'), "a rate without decimals in: {result}");
        assert!(
            decimals == 2,
            "a rate with {decimals} decimals in: {result}"
        );
    }
    assert_eq!(
        progress
            .lines()
            .filter(|l| l.contains("[base]") && l.contains("launching:"))
            .count(),
        4,
        "progress.log renders each launch:\n{progress}"
    );
    assert_eq!(
        common::count_stage_events(&out, "candidate_launching", "base"),
        4,
        "one launch per candidate, shared across scenarios and rates"
    );
    let runs_started = common::count_events(&out, "run_started");
    assert_eq!(common::count_events(&out, "run_finished"), 1);
    common::assert_no_survivors(&out);

    // Re-running the same config reuses every finished trial and measures nothing new.
    let before = common::records(&out.join("short/live_results.jsonl")).len();
    let before_trials = common::count_events(&out, "trial_finished");
    let before_launches = common::count_events(&out, "candidate_launching");
    let again = common::run(&config);
    assert_eq!(again.status.code(), Some(0), "{}", common::text(&again));
    assert_eq!(
        common::records(&out.join("short/live_results.jsonl")).len(),
        before
    );
    assert_eq!(
        common::count_events(&out, "candidate_launching"),
        before_launches,
        "resume must not relaunch (confirmation included)"
    );
    assert_eq!(common::count_events(&out, "run_started"), runs_started + 1);
    assert_eq!(
        common::count_events(&out, "trial_finished"),
        before_trials,
        "resume measures nothing new"
    );

    // A changed measurement setting under the same output dir is refused.
    let changed = std::fs::read_to_string(&config)
        .expect("config")
        .replace("num_prompts: 12", "num_prompts: 13");
    std::fs::write(&config, changed).expect("write");
    let refused = common::run(&config);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        common::text(&refused).contains("different settings (changed: dataset.num_prompts"),
        "{}",
        common::text(&refused)
    );
}

#[test]
fn nothing_meets_an_impossible_sla() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let dataset = "  kind: random\n  num_prompts: 8\n  input_len: 64\n  output_len: 8";
    let yaml = common::fast_config(&out, "    chunked_prefill_size: [1024]", dataset, "[5]")
        .replace("max_p99_ttft_ms: 400", "max_p99_ttft_ms: 0.001");
    // Not quiet: the progress log's path comes first, so it can be followed while the run goes on.
    let output = common::bin()
        .args(["run", "--config"])
        .arg(common::write_config(dir.path(), &yaml))
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1), "{}", common::text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("progress log: ")
            && first.contains(&out.join("progress.log").display().to_string()),
        "{stderr}"
    );
    let summary = std::fs::read_to_string(out.join("summary.md"))
        .expect("single scenario writes into output_dir");
    assert!(summary.contains("No candidate met the SLA"), "{summary}");
    assert!(!summary.contains("```bash"), "{summary}");
    common::assert_no_survivors(&out);
}

#[test]
fn error_after_launch_leaves_no_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let data = dir.path().join("chat.jsonl");
    std::fs::write(
        &data,
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"output_len\": 4}\n",
    )
    .expect("data");
    let dataset = format!("  kind: custom\n  path: {}", data.display());
    // The native /generate path cannot carry chat messages: the run fails after the server started.
    let yaml = common::fast_config(&out, "    chunked_prefill_size: [1024]", &dataset, "[5]")
        .replace("  qps: [5]", "  qps: [5]\n  backend: sglang");
    let output = common::run(&common::write_config(dir.path(), &yaml));
    assert_eq!(output.status.code(), Some(2), "{}", common::text(&output));
    assert!(
        common::text(&output).contains("native /generate path"),
        "{}",
        common::text(&output)
    );
    common::assert_no_survivors(&out);
}

#[test]
fn speculative_stage_runs_on_the_best_base_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let dataset = "  kind: random\n  num_prompts: 8\n  input_len: 64\n  output_len: 16";
    let yaml = common::fast_config(&out, "    chunked_prefill_size: [1024]", dataset, "[5]")
        + "speculative:\n  enabled: true\n  draft_model_path: draft-model\n  search_space:\n    speculative_num_steps: [3, 5]\n";
    let output = common::run(&common::write_config(dir.path(), &yaml));
    assert_eq!(output.status.code(), Some(0), "{}", common::text(&output));
    let records = common::records(&out.join("results.jsonl"));
    let speculative: Vec<_> = records
        .iter()
        .filter(|r| r["stage"] == "speculative")
        .collect();
    assert_eq!(
        speculative.len(),
        3,
        "baseline + 2 step counts: {records:?}"
    );
    assert!(
        speculative
            .iter()
            .all(|r| r["server_flags"]["speculative_draft_model_path"] == "draft-model")
    );
    assert!(
        speculative
            .iter()
            .all(|r| r["server_flags"]["speculative_algorithm"] == "EAGLE")
    );
    // The simulator reports its running average accept length in /server_info, as SGLang does:
    // every speculative trial carries it (EAGLE with 3-5 draft steps: 2.3-2.7 on average), no
    // base trial does.
    for record in &speculative {
        let accept = record["metrics"]["accept_length"].as_f64();
        assert!(
            accept.is_some_and(|a| (1.5..=3.6).contains(&a)),
            "accept length {accept:?} in {record}"
        );
    }
    assert!(
        records
            .iter()
            .filter(|r| r["stage"] == "base")
            .all(|r| r["metrics"].get("accept_length").is_none()),
        "{records:?}"
    );
    assert!(
        common::text(&output).contains("speculative stage: input64-output16: 3 searched"),
        "{}",
        common::text(&output)
    );
    common::assert_no_survivors(&out);
}

#[test]
fn multi_turn_rows_with_tools_and_trace_timestamps_reach_the_chat_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let data = dir.path().join("chat.jsonl");
    let rows = [
        r#"{"prompt": ["first question", "follow-up", "last one"], "output_len": 4, "timestamp": 10.0, "routing_key": "user-a"}"#,
        r#"{"prompt": [[{"role": "system", "content": "be brief"}, {"role": "user", "content": "q1"}], [{"role": "user", "content": "q2"}]], "output_len": 4, "timestamp": 10.5}"#,
        r#"{"messages": [{"role": "user", "content": "weather?"}, {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]}, {"role": "tool", "tool_call_id": "c1", "content": "sunny"}], "output_len": 4, "timestamp": 11.0}"#,
    ];
    std::fs::write(&data, rows.join("\n")).expect("data");
    let dataset = format!("  kind: custom\n  path: {}", data.display());
    let yaml = common::fast_config(&out, "    chunked_prefill_size: [1024]", &dataset, "[4]")
        .replace("  qps: [4]", "  qps: [4]\n  arrival: trace");
    let output = common::run(&common::write_config(dir.path(), &yaml));
    assert_eq!(output.status.code(), Some(0), "{}", common::text(&output));
    let records = common::records(&out.join("results.jsonl"));
    let completed: Vec<u64> = records
        .iter()
        .filter_map(|r| r["metrics"]["completed"].as_u64())
        .collect();
    assert!(
        completed.iter().all(|c| *c == 3 + 2 + 1),
        "every round is an output: {completed:?}"
    );
    assert!(
        records.iter().all(|r| r["metrics"]["failed"] == 0),
        "{records:?}"
    );
    common::assert_no_survivors(&out);
}

#[test]
fn a_lost_point_stops_early() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let dataset = "  kind: random\n  num_prompts: 200\n  input_len: 64\n  output_len: 8";
    // p99 TTFT under 1 µs is impossible: the trial stops after 3 of its 200 requests (2 may exceed).
    let yaml = common::fast_config(&out, "    chunked_prefill_size: [1024]", dataset, "[10]")
        .replace("max_p99_ttft_ms: 400", "max_p99_ttft_ms: 0.001");
    let started = std::time::Instant::now();
    let output = common::run(&common::write_config(dir.path(), &yaml));
    assert_eq!(output.status.code(), Some(1), "{}", common::text(&output));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "200 requests at 10 req/s would take 20 s per trial"
    );
    let records = common::records(&out.join("results.jsonl"));
    assert!(
        records
            .iter()
            .all(|r| r["metrics"]["early_stopped"] == true),
        "{records:?}"
    );
    assert!(
        records
            .iter()
            .all(|r| r["metrics"]["completed"].as_u64().is_some_and(|c| c < 20))
    );
    assert!(
        records
            .iter()
            .any(|r| r["sla_failures"].to_string().contains("early_stopped"))
    );
    common::assert_no_survivors(&out);
}

/// `autobench run --json` of a small search at 4 req/s over `search_space`; its answer object.
fn run_json_at_4(
    dir: &std::path::Path,
    out: &std::path::Path,
    search_space: &str,
) -> shared::outward::RunJson {
    let dataset = "  kind: random\n  num_prompts: 8\n  input_len: 64\n  output_len: 8";
    let yaml = common::fast_config(out, search_space, dataset, "[4]");
    let output = common::bin()
        .args(["run", "--quiet", "--json", "--config"])
        .arg(common::write_config(dir, &yaml))
        .output()
        .expect("run --json");
    assert_eq!(output.status.code(), Some(0), "{}", common::text(&output));
    serde_json::from_slice(&output.stdout).expect("stdout is one RunJson object")
}

#[test]
fn run_json_prints_the_answer_as_one_object() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let answer = run_json_at_4(dir.path(), &out, "    chunked_prefill_size: [1024]");
    assert_eq!(answer.status, "finished");
    let scenario = &answer.scenarios[0];
    let best = scenario.best.as_ref().expect("an answer");
    assert!(best.rate > 0.0, "{answer:?}");
    assert!(
        best.command
            .as_deref()
            .is_some_and(|c| c.contains("autobench sim"))
    );
    assert!(!best.label.is_empty());
    assert!(scenario.files.results_jsonl.is_file());
    assert!(!scenario.headline.is_empty());
    assert!(
        answer
            .report
            .as_deref()
            .is_some_and(|p| p.ends_with("report.html"))
    );
    common::assert_no_survivors(&out);
}

/// Two commands that perform the same (the second sets a flag to its default) tie: the winner is
/// confirmed first, the other is measured at the answer's rate, the tie is called and the answer
/// names the baseline.
#[test]
fn an_equal_command_ties_with_the_baseline_at_the_answers_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let answer = run_json_at_4(dir.path(), &out, "    cuda_graph_max_bs: [160]");
    let best = answer.scenarios[0].best.as_ref().expect("an answer");
    assert_eq!(best.candidate, 0, "{answer:?}");
    assert_eq!(best.compared_at, Some(4.0), "{answer:?}");
    assert!(
        best.tie
            .as_deref()
            .is_some_and(|t| t.starts_with("tie: no significant difference")
                && t.contains("`--cuda-graph-max-bs 160`")
                && t.ends_with("the answer is `default` (the baseline)")),
        "the tie names the commands by their flags: {answer:?}"
    );
    let scenario = out.clone();
    let records = common::records(&scenario.join("results.jsonl"));
    let confirms: Vec<(u64, f64)> = records
        .iter()
        .filter(|r| r["stage"] == "confirm")
        .filter_map(|r| Some((r["candidate_id"].as_u64()?, r["requested_qps"].as_f64()?)))
        .collect();
    assert_eq!(confirms.len(), 2, "winner, then the other: {confirms:?}");
    assert!(
        confirms.iter().all(|(_, rate)| *rate == 4.0),
        "both at the answer's rate: {confirms:?}"
    );
    let finished = common::events(&out)
        .into_iter()
        .find(|e| e["event"] == "run_finished")
        .expect("run_finished");
    let confirmation = &finished["answers"][0]["confirmation"];
    assert_eq!(confirmation["confirmed"], true, "{confirmation}");
    assert_eq!(confirmation["compared_at"], 4.0, "{confirmation}");
    assert_eq!(confirmation["chosen"], 0, "{confirmation}");
    assert_eq!(
        confirmation["winner"].as_u64(),
        Some(confirms[0].0),
        "the winner is measured first"
    );
    let note = confirmation["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("no significant difference") && note.contains("also met the SLA at 4.00"),
        "{note}"
    );
    let headline = answer.scenarios[0].headline.as_str();
    assert!(
        headline.starts_with("No change beat the default: it holds your SLA (")
            && headline.contains(
                "the best, `--cuda-graph-max-bs 160`, tied with it at 4.00 req/s: no significant difference, so the default stays."
            ),
        "the tie is named by its flags: {headline}"
    );
    let summary = std::fs::read_to_string(scenario.join("summary.md")).expect("summary");
    assert!(
        summary.contains(&format!("## Answer\n\n{headline}\n")),
        "the same sentence in summary.md: {summary}"
    );
    let report = std::fs::read_to_string(out.join("report.html")).expect("report");
    let escaped = headline
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;");
    assert!(
        report.contains(&format!("<p class=\"headline\">{escaped}</p>")),
        "report.html says the same sentence"
    );
    common::assert_no_survivors(&out);
}

/// The time budget reaches into a running trial: a 20-s trial under a 5.4-s budget is cut at the
/// deadline (plus its drain), is not recorded as a verdict, and the run ends partial, saying so
/// in minutes or seconds.
#[test]
fn the_budget_stops_a_running_trial() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let dataset = "  kind: random\n  num_prompts: 8\n  input_len: 64\n  output_len: 8";
    let yaml = common::fast_config(&out, "    chunked_prefill_size: [1024]", dataset, "[2]")
        .replace("min_trial_seconds: 0", "min_trial_seconds: 20")
        .replace("search:\n", "search:\n  max_duration_hours: 0.0015\n");
    let config = common::write_config(dir.path(), &yaml);
    let started = std::time::Instant::now();
    let output = common::run(&config);
    let elapsed = started.elapsed();
    let text = common::text(&output);
    assert!(elapsed.as_secs_f64() < 12.0, "ran {elapsed:?}: {text}");
    assert_eq!(output.status.code(), Some(1), "{text}");
    common::assert_no_survivors(&out);
    assert!(
        common::records(&out.join("live_results.jsonl")).is_empty(),
        "a cut trial is not a verdict"
    );
    assert!(
        text.contains("No answer: nothing was measured before the run stopped."),
        "{text}"
    );
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("summary");
    assert!(
        summary.contains("search budget of 5.4 s reached"),
        "{summary}"
    );
}

/// `max_duration_hours: 0` is accepted as upstream does: nothing is measured, nothing launched,
/// and the empty partial results say why.
#[test]
fn a_zero_budget_measures_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let dataset = "  kind: random\n  num_prompts: 8\n  input_len: 64\n  output_len: 8";
    let yaml = common::fast_config(&out, "    chunked_prefill_size: [1024]", dataset, "[2]")
        .replace("search:\n", "search:\n  max_duration_hours: 0\n");
    let config = common::write_config(dir.path(), &yaml);
    let plan = common::bin()
        .args(["plan", "--config"])
        .arg(&config)
        .output()
        .expect("plan");
    let plan_text = common::text(&plan);
    assert!(plan_text.contains("max_duration_hours is 0"), "{plan_text}");
    let output = common::run(&config);
    let text = common::text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert_eq!(
        common::count_events(&out, "candidate_launching"),
        0,
        "{text}"
    );
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("summary");
    assert!(
        summary.contains("search budget of 0 s reached"),
        "{summary}"
    );
}
