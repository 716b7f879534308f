//! Ranking by cost (`benchmark.rank_by: cost`, issue 32): on the simulator, tensor parallelism
//! divides compute but adds communication, so `--tp-size 2` holds more requests per second than
//! one GPU but less than twice as many: it is the fastest command and the dearer per token. Ranked
//! by rate the answer is `--tp-size 2`; ranked by cost it is the default, at a rate its own long
//! check held, and the answer names the fastest beside it. And the cost itself, on every answer
//! with `benchmark.gpu_hour_price`, checked by hand against the answer's trial.

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

/// Runs a config with `run --json`; returns `summary.md`, the records and the answer object.
fn run(
    dir: &std::path::Path,
    rank_by: &str,
) -> (String, Vec<serde_json::Value>, shared::outward::RunBestJson) {
    let out = dir.join("out");
    let output = common::bin()
        .args(["run", "--quiet", "--json", "--config"])
        .arg(common::write_config(dir, &config(&out, rank_by)))
        .output()
        .expect("run --json");
    assert_eq!(output.status.code(), Some(0), "{}", common::text(&output));
    let answer: shared::outward::RunJson =
        serde_json::from_slice(&output.stdout).expect("stdout is one RunJson object");
    let best = answer.scenarios[0].best.clone().expect("an answer");
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    common::assert_no_survivors(&out);
    (summary, common::records(&out.join("results.jsonl")), best)
}

#[test]
fn ranked_by_cost_the_cheaper_command_answers_where_ranked_by_rate_the_faster_does() {
    let by_rate = tempfile::tempdir().expect("tempdir");
    let (summary, records, best) = run(by_rate.path(), "rate");
    assert!(
        common::launch_command(&summary).contains("--tp-size 2"),
        "{summary}"
    );
    assert!(
        !records.iter().any(|r| r["stage"] == "cost_check"),
        "{records:?}"
    );
    // run --json: the fastest, with its cost, and no cost ranking.
    assert_eq!(best.candidate, 1, "{best:?}");
    assert!(best.cost_per_million_output_tokens.is_some(), "{best:?}");
    assert_eq!(best.ranked_by_cost, None, "{best:?}");

    let by_cost = tempfile::tempdir().expect("tempdir");
    let (summary, records, best) = run(by_cost.path(), "cost");
    assert!(
        !common::launch_command(&summary).contains("--tp-size"),
        "{summary}"
    );
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
    // run --json says the same: the default at the rate and cost of its own check, the fastest
    // beside it, dearer per token, and no tie (that was the fastest's).
    assert_eq!(best.candidate, 0, "{best:?}");
    assert_eq!(
        (best.confirmed, best.passes_at),
        (Some(true), Some(best.rate)),
        "{best:?}"
    );
    assert_eq!((&best.tie, &best.tied_with), (&None, &None), "{best:?}");
    let check = records
        .iter()
        .rev()
        .find(|r| {
            r["stage"] == "cost_check"
                && r["candidate_id"] == 0
                && r["sla_passed"] == true
                && r["requested_qps"].as_f64() == Some(best.rate)
        })
        .unwrap_or_else(|| panic!("the check at the answer's rate: {best:?} {records:?}"));
    let tokens_per_s = check["metrics"]["output_throughput"]
        .as_f64()
        .expect("output tokens/s");
    // One GPU at $2.00 an hour over the output tokens its check made in an hour.
    let by_hand = 2.0 / (3600.0 * tokens_per_s) * 1e6;
    let cost = best.cost_per_million_output_tokens.expect("a cost");
    assert!((cost - by_hand).abs() <= 1e-9 * by_hand, "{cost} {by_hand}");
    let ranked = best.ranked_by_cost.as_ref().expect("ranked by cost");
    assert_eq!(ranked.fastest, 1, "{best:?}");
    assert!(
        ranked.fastest_cost_per_million_output_tokens > cost,
        "{best:?}"
    );
}

/// The cost per million output tokens on the simulator: `run --json` gives the answer's cost, the
/// answer sentence ends with it, and it is what the answer's own trial works out to by hand (the
/// price of the command's GPUs for an hour over the output tokens it made in that hour).
#[test]
fn the_answers_cost_is_its_trials_gpu_hours_over_its_output_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let dataset = "  kind: random\n  num_prompts: 8\n  input_len: 64\n  output_len: 8";
    // Every command runs on two GPUs (tp 2), which an override prices at $3.00 an hour.
    let yaml = common::fast_config(&out, "    chunked_prefill_size: [1024]", dataset, "[4]")
        .replace("    sim_startup_s: 0.2\n", "    sim_startup_s: 0.2\n    tp_size: 2\n")
        .replace(
            "  min_trial_seconds: 0\n",
            "  min_trial_seconds: 0\n  gpu_hour_price: 2.0\n  gpu_hour_price_overrides:\n    - flags: {tp_size: 2}\n      price: 3.0\n",
        );
    let output = common::bin()
        .args(["run", "--quiet", "--json", "--config"])
        .arg(common::write_config(dir.path(), &yaml))
        .output()
        .expect("run --json");
    assert_eq!(output.status.code(), Some(0), "{}", common::text(&output));
    let answer: shared::outward::RunJson =
        serde_json::from_slice(&output.stdout).expect("stdout is one RunJson object");
    let scenario = &answer.scenarios[0];
    let best = scenario.best.as_ref().expect("an answer");
    let cost = best.cost_per_million_output_tokens.expect("a cost");

    // The answer's trial: its passing check (one rate was tried), else its search trial.
    let records = common::records(&out.join("results.jsonl"));
    let passed = |stage: &str| {
        records.iter().rev().find(|r| {
            r["stage"] == stage && r["candidate_id"] == best.candidate && r["sla_passed"] == true
        })
    };
    let trial = passed("confirm")
        .or_else(|| passed("base"))
        .unwrap_or_else(|| panic!("the answer's trial: {best:?} {records:?}"));
    let tokens_per_s = trial["metrics"]["output_throughput"]
        .as_f64()
        .expect("output tokens/s");
    // By hand: 2 GPUs x $3.00 = $6.00 an hour buys 3600 x tokens_per_s output tokens, so a
    // million cost 6.00 / (3600 x tokens_per_s) x 1e6.
    let by_hand = 6.0 / (3600.0 * tokens_per_s) * 1e6;
    assert!(
        (cost - by_hand).abs() <= 1e-9 * by_hand,
        "{cost} against {by_hand} ({tokens_per_s} tokens/s)"
    );
    let words = if by_hand >= 10.0 {
        format!("${by_hand:.1}")
    } else {
        format!("${by_hand:.2}")
    };
    assert!(
        scenario.headline.ends_with(&format!(
            " Cost: {words} per million output tokens (2 GPUs at $3.00 an hour)."
        )),
        "{}",
        scenario.headline
    );
    common::assert_no_survivors(&out);
}
