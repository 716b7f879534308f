//! The framework-neutral schema (`schema_version: 1`): read as it is, checked strictly (errors at
//! their line, exit 2, nothing launched), and run with several frameworks at once: each searched
//! on the same workload through the simulator's vLLM and TensorRT-LLM personalities (their real
//! flag sets), then ranked together.

use shared::outward::frameworks::{
    FrameworkRow, FrameworkRowStatus, PlanFrameworksJson, RunFrameworksJson,
};

use super::common;

fn config(out: &std::path::Path) -> String {
    let model = common::tiny_model();
    format!(
        "schema_version: 1\nsource:\n  kind: llm_serving_cookbook\nmodel:\n  name: {model}\n\
         hardware:\n  gpu_count: 1\n\
         dataset:\n  kind: random\n  num_prompts: 8\n  scenario_names: [chat]\n  input_len: [64]\n  output_len: [8]\n\
         benchmark:\n  endpoint: /v1/completions\n  backend: openai-compatible\n  max_concurrency: [null]\n  qps: [2]\n  min_trial_seconds: 0\n  max_client_lag_ms: 1000\n  sla:\n    max_p99_ttft_ms: 2000\n    max_p99_tpot_ms: 200\n    min_success_rate: 0.99\n  output_dir: {}\n\
         search:\n  tier: 2\n  max_candidates_per_framework: 2\n  candidate_generation: baseline_first_bounded_product\n  resume: true\n\
         frameworks:\n  sglang:\n    enabled: false\n    server_command: python -m sglang.launch_server\n\
         \x20 vllm:\n    enabled: true\n    server_command: autobench sim --sim-like vllm --sim-startup-s 0.2 --sim-time-scale 0.5\n    base_server_flags:\n      gpu_memory_utilization: 0.88\n      max_model_len: 4096\n    search_space:\n      max_num_seqs: [16]\n\
         \x20 tensorrt_llm:\n    enabled: true\n    server_command: autobench sim --sim-like trtllm --sim-startup-s 0.2 --sim-time-scale 0.5\n    backend_policy: fixed_pytorch\n    base_server_flags:\n      backend: pytorch\n      max_seq_len: 4096\n    search_space:\n      max_batch_size: [16]\n",
        out.display()
    )
}

#[test]
fn two_frameworks_are_searched_on_one_workload_and_ranked_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    // Priced per framework: TensorRT-LLM's GPUs (named by its v1 key) at $4.00, the rest at $2.00.
    let priced = config(&out).replace(
        "  output_dir:",
        "  gpu_hour_price: 2.0\n  gpu_hour_price_overrides:\n    - framework: tensorrt_llm\n      price: 4.0\n  output_dir:",
    );
    let path = common::write_config(dir.path(), &priced);
    let plan = common::bin()
        .args(["plan", "--config"])
        .arg(&path)
        .output()
        .expect("plan");
    let plan_text = common::text(&plan);
    assert!(plan.status.success(), "{plan_text}");
    assert!(
        plan_text.contains("framework: vllm (frameworks.vllm"),
        "{plan_text}"
    );
    assert!(plan_text.contains("--max-num-seqs 16"), "{plan_text}");
    assert!(plan_text.contains("--max_batch_size 16"), "{plan_text}");
    assert!(
        !plan_text.contains("--model-path"),
        "the model is positional: {plan_text}"
    );
    let plan = common::bin()
        .args(["plan", "--json", "--config"])
        .arg(&path)
        .output()
        .expect("plan --json");
    assert!(plan.status.success(), "{}", common::text(&plan));
    let plan: PlanFrameworksJson =
        serde_json::from_slice(&plan.stdout).expect("one plan per framework");
    let names: Vec<&str> = plan
        .frameworks
        .iter()
        .map(|p| p.framework.as_str())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    let output = common::run(&path);
    let text = common::text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    for framework in ["vllm", "tensorrt_llm"] {
        let records = common::records(&out.join(framework).join("results.jsonl"));
        assert!(
            records.iter().any(|r| r["sla_passed"] == true),
            "{framework}: {records:?}"
        );
        common::assert_no_survivors(&out.join(framework));
    }
    assert!(
        !out.join("sglang").exists(),
        "a disabled framework is not run"
    );
    let ranking = std::fs::read_to_string(out.join("frameworks.md")).expect("frameworks.md");
    assert!(ranking.contains("## Scenario chat"), "{ranking}");
    assert!(
        ranking.contains("| vllm |") && ranking.contains("| tensorrt_llm |"),
        "{ranking}"
    );
    let rows: Vec<FrameworkRow> = common::typed_records(&out.join("frameworks.jsonl"));
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.status == FrameworkRowStatus::Ok && r.sla.passed && r.metrics.is_some()),
        "{rows:?}"
    );
    assert!(
        text.contains("=== cross-framework comparison ==="),
        "{text}"
    );

    // Each answer's cost beside its rate, at its framework's price: one GPU for an hour over
    // the output tokens its trial made in an hour.
    assert!(
        ranking.contains("| Req/s | $ per M output tokens |"),
        "{ranking}"
    );
    assert!(text.contains(" per million output tokens ("), "{text}");
    for row in &rows {
        let price = if row.framework == "tensorrt_llm" {
            4.0
        } else {
            2.0
        };
        let candidate = row.candidate_id.expect("an answer");
        let tokens_per_s = answer_tokens_per_s(&out.join(&row.framework), candidate);
        let by_hand = price / (3600.0 * tokens_per_s) * 1e6;
        let cost = row.cost_per_million_output_tokens.expect("a cost");
        assert!(
            (cost - by_hand).abs() <= 1e-9 * by_hand,
            "{row:?}: {by_hand}"
        );
    }

    // Again with --json: a resume that reuses every trial, answered as one object.
    let again = common::bin()
        .args(["run", "--quiet", "--json", "--config"])
        .arg(&path)
        .output()
        .expect("run --json");
    assert_eq!(again.status.code(), Some(0), "{}", common::text(&again));
    let answer: RunFrameworksJson =
        serde_json::from_slice(&again.stdout).expect("one object for every framework");
    let frameworks: Vec<Option<&str>> = answer
        .frameworks
        .iter()
        .map(|f| f.framework.as_deref())
        .collect();
    assert_eq!(
        frameworks,
        [Some("vllm"), Some("tensorrt_llm")],
        "{answer:?}"
    );
    let ranking = answer.ranking.expect("the ranking");
    assert_eq!(ranking.files.jsonl, out.join("frameworks.jsonl"));
    assert_eq!(ranking.scenarios[0].scenario, "chat");
    assert_eq!(ranking.scenarios[0].ranked.len(), 2, "{ranking:?}");
    assert!(
        ranking.scenarios[0]
            .ranked
            .iter()
            .all(|f| f.cost_per_million_output_tokens.is_some()),
        "{ranking:?}"
    );
}

/// Output tokens per second of the answer's trial in a run folder: the passing check of its
/// candidate (one rate was tried), else its search trial.
fn answer_tokens_per_s(run: &std::path::Path, candidate: usize) -> f64 {
    let records = common::records(&run.join("results.jsonl"));
    let passed = |stage: &str| {
        records.iter().rev().find(|r| {
            r["stage"] == stage && r["candidate_id"] == candidate && r["sla_passed"] == true
        })
    };
    passed("confirm")
        .or_else(|| passed("base"))
        .and_then(|r| r["metrics"]["output_throughput"].as_f64())
        .unwrap_or_else(|| panic!("the answer's trial of candidate {candidate}: {records:?}"))
}

/// Every kind of bad v1 input is refused before anything launches, at its line, with exit 2.
#[test]
fn bad_v1_input_is_refused_at_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let good = config(&out);
    let cases = [
        (
            good.replace("  tensorrt_llm:\n", "  tensorrt:\n"),
            "unknown field `tensorrt`",
        ),
        (
            good.replace("max_p99_ttft_ms: 2000", "max_ttft_ms: 2000"),
            "benchmark.sla.max_ttft_ms: is deprecated in schema_version 1",
        ),
        (
            good.replace("    backend_policy: fixed_pytorch\n", ""),
            "frameworks.tensorrt_llm.backend_policy: must be fixed_pytorch",
        ),
        (
            good.replace("max_model_len: 4096", "max_model_len: 32"),
            "frameworks.vllm.base_server_flags.max_model_len: 32 must be an integer of at least 72",
        ),
        (
            good.replace("schema_version: 1", "schema_version: 2"),
            "schema_version: must be 1",
        ),
        (
            good.replace("max_num_seqs: [16]", "max_running_requests: [16]"),
            "frameworks.vllm.search_space.max_running_requests: `autobench sim --sim-like vllm",
        ),
        (
            good.replace(
                "server_command: autobench sim --sim-like vllm",
                "server_command: vllm-not-installed-here serve",
            ),
            "`vllm-not-installed-here` is not on PATH",
        ),
    ];
    for (yaml, expected) in cases {
        let path = common::write_config(dir.path(), &yaml);
        let output = common::run(&path);
        let text = common::text(&output);
        assert_eq!(output.status.code(), Some(2), "{expected}: {text}");
        assert!(text.contains(expected), "expected `{expected}` in: {text}");
        assert!(text.contains("config.yaml:"), "located: {text}");
        assert!(
            !out.join("vllm").join("events.jsonl").exists(),
            "nothing ran: {text}"
        );
    }
}
