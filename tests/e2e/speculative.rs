//! The speculative stage as a verdict (issue 30): its best command goes through the same search
//! and a check like the confirmation's, and the answer is the best command of both stages. On
//! the simulator, EAGLE with 3 draft steps emits about 2.3 tokens per verify step at 1.5 times a
//! decode step's cost: where decoding limits the rate (a p90 TPOT limit, 64-token outputs) it is
//! the true best; where the first token does (a p90 TTFT limit, 2-token outputs after 256-token
//! prompts) it buys nothing, and the answer keeps the command without a draft model.

use crate::common;

/// A search over one base flag and two speculative settings, on a slow simulated GPU.
fn config(out: &std::path::Path, dataset: &str, sla: &str, lower: u32) -> String {
    let model = common::tiny_model();
    format!(
        "server:\n  framework: sim\n  host: 127.0.0.1\n  base_flags:\n    model_path: {model}\n    sim_startup_s: 0.2\n    sim_time_scale: 4\n  search_space:\n    chunked_prefill_size: [1024]\n  shutdown_grace_sec: 2\n\
         dataset:\n{dataset}\n\
         benchmark:\n  tokenizer: {model}\n  qps: {{lower: {lower}, upper: 64, tolerance: 8, max_rounds: 2}}\n  sla:\n{sla}\n  output_dir: {}\n  max_client_lag_ms: 1000\n  min_trial_seconds: 1\n  confirm_trial_seconds: 3\n\
         search:\n  tier: 1\n  max_candidates: null\n\
         speculative:\n  enabled: true\n  draft_model_path: /models/draft\n  search_space:\n    speculative_num_steps: [3]\n",
        out.display()
    )
}

fn run(dir: &std::path::Path, yaml: &str) -> (String, Vec<serde_json::Value>) {
    let out = dir.join("out");
    let output = common::run(&common::write_config(dir, yaml));
    let text = common::text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    common::assert_no_survivors(&out);
    (summary, common::records(&out.join("results.jsonl")))
}

#[test]
fn a_speculative_command_that_beats_the_base_answer_in_its_check_is_the_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dataset = "  kind: random\n  num_prompts: 8\n  input_len: 64\n  output_len: 64";
    let yaml = config(
        &dir.path().join("out"),
        dataset,
        "    max_p90_tpot_ms: 30",
        8,
    );
    let (summary, records) = run(dir.path(), &yaml);
    let answer = summary
        .split("## Answer")
        .nth(1)
        .expect("an answer section");
    assert!(
        answer
            .trim_start()
            .starts_with("Use `--speculative-algorithm EAGLE"),
        "{summary}"
    );
    assert!(
        answer.contains("more than the best command without a draft model"),
        "{summary}"
    );
    assert!(
        answer.contains("Speculative decoding: `--speculative-algorithm EAGLE"),
        "{summary}"
    );
    let best_command = common::launch_command(&summary);
    assert!(
        best_command.contains("--speculative-algorithm EAGLE"),
        "{summary}"
    );
    // The answer rests on the speculative command's own check, a step above every rate the
    // base commands held in theirs, and every speculative trial carries its accept length.
    let checks: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["stage"] == "speculative_confirm")
        .collect();
    let held = checks
        .iter()
        .filter(|r| r["sla_passed"] == true)
        .filter_map(|r| r["requested_qps"].as_f64())
        .fold(0.0, f64::max);
    let base_held = records
        .iter()
        .filter(|r| r["stage"] == "confirm" && r["sla_passed"] == true)
        .filter_map(|r| r["requested_qps"].as_f64())
        .fold(0.0, f64::max);
    assert!(
        base_held > 0.0 && held >= base_held * 1.05,
        "{held} vs {base_held}: {records:?}"
    );
    for record in records.iter().filter(|r| {
        (r["stage"] == "speculative" || r["stage"] == "speculative_confirm")
            && r["metrics"].is_object()
    }) {
        let accept = record["metrics"]["accept_length"].as_f64();
        assert!(
            accept.is_some_and(|a| (1.5..=3.6).contains(&a)),
            "accept length {accept:?} in {record}"
        );
    }
}

#[test]
fn a_speculative_setting_that_buys_nothing_leaves_the_base_answer_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dataset = "  kind: random\n  num_prompts: 8\n  input_len: 256\n  output_len: 2";
    let yaml = config(
        &dir.path().join("out"),
        dataset,
        "    max_p90_ttft_ms: 200",
        2,
    );
    let (summary, records) = run(dir.path(), &yaml);
    let answer = summary
        .split("## Answer")
        .nth(1)
        .expect("an answer section");
    assert!(
        !answer.trim_start().starts_with("Use `--speculative"),
        "{summary}"
    );
    assert!(
        answer.contains("Speculative decoding: no speculative setting beat the best base command"),
        "{summary}"
    );
    let best_command = common::launch_command(&summary);
    assert!(!best_command.contains("speculative"), "{summary}");
    let searched: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["stage"] == "speculative" && r["metrics"].is_object())
        .collect();
    assert!(
        !searched.is_empty(),
        "the speculative stage searched: {records:?}"
    );
    assert!(
        searched.iter().all(|r| r["metrics"]["accept_length"]
            .as_f64()
            .is_some_and(|a| a > 1.0)),
        "{searched:?}"
    );
}
