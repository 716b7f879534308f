//! A non-SGLang server profile end to end: `framework: transformers` launches the simulator in its
//! `transformers serve` personality (positional model, `--flag/--no-flag`, `--cb-*` knobs, strict
//! request fields, empty `/v1/models`, no SGLang endpoints, no streamed `usage`), the same paths a
//! real `transformers serve` run on a GPU takes.

use super::common;

fn config(out: &std::path::Path) -> String {
    let model = common::tiny_model();
    format!(
        "server:\n  framework: transformers\n  command_prefix: autobench sim --sim-like transformers --sim-startup-s 0.2 --sim-time-scale 0.5\n  host: 127.0.0.1\n  base_flags:\n    model_path: {model}\n    continuous_batching: true\n  search_space:\n    attn_implementation: [sdpa, eager]\n    cb_use_cuda_graph: [false]\n    continuous_batching: [false]\n  shutdown_grace_sec: 2\n\
         dataset:\n  kind: random\n  num_prompts: 10\n  input_len: 64\n  output_len: 6\n\
         benchmark:\n  qps: {{lower: 2, upper: 40, tolerance: 20, max_rounds: 2}}\n  sla:\n    max_p99_ttft_ms: 2000\n  output_dir: {}\n  max_client_lag_ms: 1000\n  min_trial_seconds: 0\n\
         search:\n  tier: 1\n",
        out.display()
    )
}

/// One candidate whose server OOMs on every `every`-th request.
fn oom_config(out: &std::path::Path, every: u32) -> String {
    config(out)
        .replace(
            "--sim-time-scale 0.5",
            &format!("--sim-time-scale 0.5 --sim-runtime-oom-every {every}"),
        )
        .replace("    attn_implementation: [sdpa, eager]\n", "")
        .replace("    continuous_batching: [false]\n", "")
}

#[test]
fn transformers_profile_runs_a_search_against_a_strict_openai_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let path = common::write_config(dir.path(), &config(&out));

    let plan = common::bin()
        .args(["plan", "--config"])
        .arg(&path)
        .output()
        .expect("plan");
    let plan_text = common::text(&plan);
    assert!(plan.status.success(), "{plan_text}");
    assert!(
        plan_text.contains("--no-continuous-batching"),
        "false renders --no-flag: {plan_text}"
    );
    assert!(plan_text.contains("--no-cb-use-cuda-graph"), "{plan_text}");
    assert!(
        !plan_text.contains("--model-path"),
        "the model is positional: {plan_text}"
    );

    let output = common::run(&path);
    let text = common::text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let records = common::records(&out.join("results.jsonl"));
    assert!(!records.is_empty());
    let measured: Vec<_> = records
        .iter()
        .filter(|r| r["metrics"].is_object())
        .collect();
    assert!(
        !measured.is_empty(),
        "every trial failed (a 422 for an unknown field?): {records:?}"
    );
    for record in &measured {
        let metrics = &record["metrics"];
        assert_eq!(metrics["failed"], 0, "{record}");
        // No usage while streaming: output tokens come from the streamed chunks.
        assert_eq!(
            metrics["total_output_tokens"].as_u64(),
            metrics["completed"].as_u64().map(|c| c * 6),
            "{record}"
        );
    }
    assert!(
        records.iter().any(|r| r["sla_passed"] == true),
        "{records:?}"
    );
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("summary");
    assert!(
        summary.contains("autobench sim --sim-like transformers"),
        "{summary}"
    );
    common::assert_no_survivors(&out);
}

#[test]
fn the_native_backend_is_refused_for_servers_without_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let text = config(&out).replace("benchmark:\n", "benchmark:\n  backend: sglang\n");
    let path = common::write_config(dir.path(), &text);
    let plan = common::bin()
        .args(["plan", "--config"])
        .arg(&path)
        .output()
        .expect("plan");
    let message = common::text(&plan);
    assert_eq!(plan.status.code(), Some(2), "{message}");
    assert!(message.contains("does not serve"), "{message}");
}

#[test]
fn requests_failing_on_a_server_oom_are_diagnosed_from_its_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let text = oom_config(&out, 4);
    let path = common::write_config(dir.path(), &text);
    let output = common::run(&path);
    let message = common::text(&output);
    assert_eq!(output.status.code(), Some(1), "nothing can pass: {message}");
    let records = common::records(&out.join("results.jsonl"));
    assert!(!records.is_empty());
    for record in &records {
        assert_eq!(record["diagnosis"], "oom_at_runtime", "{record}");
        assert!(
            record["metrics"]["error_counts"]["stream_error"].as_u64() >= Some(1),
            "requests failed mid-trial, after a good warmup: {record}"
        );
        assert!(
            record["hint"]
                .as_str()
                .is_some_and(|h| h.contains("ran out of GPU memory")),
            "{record}"
        );
    }
    common::assert_no_survivors(&out);
}

#[test]
fn a_failed_warmup_ends_the_walk_instead_of_trying_every_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let text = oom_config(&out, 1);
    let path = common::write_config(dir.path(), &text);
    let output = common::run(&path);
    assert_eq!(output.status.code(), Some(1), "{}", common::text(&output));
    let records = common::records(&out.join("results.jsonl"));
    let per_candidate = records.iter().filter(|r| r["candidate_id"] == 0).count();
    assert_eq!(per_candidate, 1, "one trial, not one per rate: {records:?}");
    assert!(
        records.iter().all(|r| r["diagnosis"] == "oom_at_runtime"),
        "{records:?}"
    );
}

/// `plan` of a config for `framework` with the given `server.parallel` lines.
fn plan_parallel(framework: &str, parallel: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "server:\n  framework: {framework}\n  base_flags:\n    model_path: /models/llama\n  parallel:\n{parallel}    gpu_count: 8\n\
         dataset:\n  kind: random\n  num_prompts: 10\n  input_len: 64\n  output_len: 8\n\
         benchmark:\n  tokenizer: {}\n  qps: [1]\n",
        common::tiny_model()
    );
    let path = common::write_config(dir.path(), &text);
    let plan = common::bin()
        .args(["plan", "--config"])
        .arg(&path)
        .output()
        .expect("plan");
    (plan.status.code(), common::text(&plan))
}

#[test]
fn parallel_sizes_are_rendered_in_each_servers_spelling() {
    let (code, vllm) = plan_parallel("vllm", "    tp: [2, 4]\n");
    assert_eq!(code, Some(0), "{vllm}");
    assert!(
        vllm.contains("--tensor-parallel-size 2") && vllm.contains("--data-parallel-size 4"),
        "{vllm}"
    );
    assert!(
        !vllm.contains("--tp-size") && !vllm.contains("--dp-size"),
        "{vllm}"
    );

    let (code, trtllm) = plan_parallel("trtllm", "    tp: [8]\n");
    assert_eq!(code, Some(0), "{trtllm}");
    assert!(trtllm.contains("--tp_size 8"), "{trtllm}");
    assert!(
        !trtllm.contains("--dp"),
        "dp 1 is the default and is left out: {trtllm}"
    );

    let (code, refused) = plan_parallel("trtllm", "    tp: [2]\n    dp: [2]\n");
    assert_eq!(code, Some(2), "{refused}");
    assert!(
        refused.contains(":7:5: server.parallel.dp: trtllm-serve has no flag for dp_size (here 2)"),
        "{refused}"
    );
    let (code, refused) = plan_parallel("transformers", "    tp: [2]\n");
    assert_eq!(code, Some(2), "{refused}");
    assert!(
        refused.contains("server.parallel.tp: transformers serve has no flag for tp_size"),
        "{refused}"
    );
}

#[test]
fn flags_the_server_does_not_know_are_refused_before_any_launch() {
    let help = common::bin()
        .args(["sim", "--help"])
        .output()
        .expect("sim --help");
    let text = String::from_utf8_lossy(&help.stdout).to_string();
    assert_eq!(help.status.code(), Some(0), "{text}");
    assert!(
        text.contains("--chunked-prefill-size") && text.contains("--tp-size"),
        "{text}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let typo = common::fast_config(
        &out,
        "    chunked_prefil_size: [1024]",
        "  kind: random\n  num_prompts: 8\n  input_len: 64\n  output_len: 8",
        "[4]",
    );
    let path = common::write_config(dir.path(), &typo);
    for command in ["plan", "run"] {
        let output = common::bin()
            .args([command, "--config"])
            .arg(&path)
            .output()
            .expect(command);
        let message = common::text(&output);
        assert_eq!(output.status.code(), Some(2), "{command}: {message}");
        assert!(
            message.contains(":9:5: server.search_space.chunked_prefil_size: `autobench sim` does not accept --chunked-prefil-size")
                && message.contains("did you mean --chunked-prefill-size?"),
            "{command}: {message}"
        );
    }
    assert!(!out.join("logs").exists(), "nothing was launched");

    // A command whose help lists nothing: a warning, and the plan goes on.
    let unreadable = typo
        .replace("chunked_prefil_size", "chunked_prefill_size")
        .replacen("server:\n", "server:\n  command_prefix: \"true\"\n", 1);
    let path = common::write_config(dir.path(), &unreadable);
    let plan = common::bin()
        .args(["plan", "--config"])
        .arg(&path)
        .output()
        .expect("plan");
    let message = common::text(&plan);
    assert_eq!(plan.status.code(), Some(0), "{message}");
    assert!(
        message.contains("`true --help` listed no flags; the flags were not checked before launch"),
        "{message}"
    );
}

#[test]
fn a_speculative_flag_the_server_does_not_know_is_refused_by_plan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let path = common::write_config(
        dir.path(),
        &common::speculative_config(&out, "speculative_eagle_top_k"),
    );
    let plan = common::bin()
        .args(["plan", "--config"])
        .arg(&path)
        .output()
        .expect("plan");
    let message = common::text(&plan);
    assert_eq!(plan.status.code(), Some(2), "{message}");
    assert!(
        message.contains("speculative.search_space.speculative_eagle_top_k: `autobench sim` does not accept --speculative-eagle-top-k")
            && message.contains("did you mean --speculative-eagle-topk?"),
        "{message}"
    );
    let path = common::write_config(
        dir.path(),
        &common::speculative_config(&out, "speculative_eagle_topk"),
    );
    let plan = common::bin()
        .args(["plan", "--config"])
        .arg(&path)
        .output()
        .expect("plan");
    assert_eq!(plan.status.code(), Some(0), "{}", common::text(&plan));
}

#[test]
fn prefill_decode_disaggregation_is_refused_at_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let config = common::speculative_config(&out, "speculative_eagle_topk")
        .replace("benchmark:\n", "benchmark:\n  pd_separated: true\n");
    let path = common::write_config(dir.path(), &config);
    let plan = common::bin()
        .args(["plan", "--config"])
        .arg(&path)
        .output()
        .expect("plan");
    let message = common::text(&plan);
    assert_eq!(plan.status.code(), Some(2), "{message}");
    assert!(
        message.contains("benchmark.pd_separated: prefill-decode disaggregation")
            && message.contains("is not supported"),
        "{message}"
    );
}
