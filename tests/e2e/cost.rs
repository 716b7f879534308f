//! Ranking by cost (`benchmark.rank_by: cost`, issue 32): on the simulator, tensor parallelism
//! divides compute but adds communication, so `--tp-size 2` holds more requests per second than
//! one GPU but less than twice as many: it is the fastest command and the dearer per token. Ranked
//! by rate the answer is `--tp-size 2`; ranked by cost it is the default, at a rate its own long
//! check held, and the answer names the fastest beside it.

use crate::common;

fn config(out: &std::path::Path, rank_by: &str) -> String {
    let model = common::tiny_model();
    format!(
        "server:\n  framework: sim\n  host: 127.0.0.1\n  base_flags:\n    model_path: {model}\n    sim_startup_s: 0.2\n    sim_time_scale: 4\n  search_space:\n    tp_size: [2]\n  shutdown_grace_sec: 2\n\
         dataset:\n  kind: random\n  num_prompts: 8\n  input_len: 64\n  output_len: 64\n\
         benchmark:\n  tokenizer: {model}\n  qps: {{lower: 8, upper: 128, tolerance: 8, max_rounds: 3}}\n  sla:\n    max_p90_tpot_ms: 30\n  output_dir: {}\n  max_client_lag_ms: 1000\n  min_trial_seconds: 1\n  confirm_trial_seconds: 3\n  gpu_hour_price: 2.0\n  rank_by: {rank_by}\n\
         search:\n  tier: 1\n  max_candidates: null\n",
        out.display()
    )
}

/// Runs a config; returns `summary.md` and the records.
fn run(dir: &std::path::Path, rank_by: &str) -> (String, Vec<serde_json::Value>) {
    let out = dir.join("out");
    let output = common::run(&common::write_config(dir, &config(&out, rank_by)));
    assert_eq!(output.status.code(), Some(0), "{}", common::text(&output));
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    common::assert_no_survivors(&out);
    (summary, common::records(&out.join("results.jsonl")))
}

/// The launch command's code block in `summary.md`.
fn launch_command(summary: &str) -> &str {
    summary
        .split("## Best Launch Command")
        .nth(1)
        .and_then(|rest| rest.split("```").nth(1))
        .expect("a launch command")
}

#[test]
fn ranked_by_cost_the_cheaper_command_answers_where_ranked_by_rate_the_faster_does() {
    let by_rate = tempfile::tempdir().expect("tempdir");
    let (summary, records) = run(by_rate.path(), "rate");
    assert!(
        launch_command(&summary).contains("--tp-size 2"),
        "{summary}"
    );
    assert!(
        !records.iter().any(|r| r["stage"] == "cost_check"),
        "{records:?}"
    );

    let by_cost = tempfile::tempdir().expect("tempdir");
    let (summary, records) = run(by_cost.path(), "cost");
    assert!(!launch_command(&summary).contains("--tp-size"), "{summary}");
    let answer = summary.split("## Answer").nth(1).expect("an answer");
    assert!(
        answer.contains("Use the default: the cheapest command that holds your SLA"),
        "{summary}"
    );
    assert!(
        answer.contains("the fastest, `--tp-size 2`, holds up to"),
        "{summary}"
    );
    // The cheaper command's rate rests on its own long check, not on the search.
    let held = records
        .iter()
        .filter(|r| r["stage"] == "cost_check" && r["candidate_id"] == 0 && r["sla_passed"] == true)
        .count();
    assert!(held >= 1, "{records:?}");
}
