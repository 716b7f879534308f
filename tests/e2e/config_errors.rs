//! Config errors: unknown keys with did-you-mean, file:line:column, wrong shapes, the
//! framework-neutral schema, a typo in a value set, a QPS tolerance wider than its range, a
//! second YAML document, and a missing dataset file (found before `run` creates anything).

use super::common;

fn plan_error(yaml: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = common::write_config(dir.path(), yaml);
    let output = common::bin()
        .args(["plan", "--config"])
        .arg(&path)
        .output()
        .expect("plan");
    assert_eq!(output.status.code(), Some(2), "{}", common::text(&output));
    common::text(&output).replace(&path.display().to_string(), "CONFIG")
}

const GOOD: &str =
    "server:\n  base_flags:\n    model_path: m\ndataset: random\nbenchmark:\n  qps: [1, 2]\n";

#[test]
fn good_config_plans() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = common::write_config(dir.path(), GOOD);
    let output = common::bin()
        .args(["plan", "--config"])
        .arg(&path)
        .output()
        .expect("plan");
    assert!(output.status.success(), "{}", common::text(&output));
}

#[test]
fn unknown_key_has_location_and_hint() {
    let error = plan_error(
        "server:\n  base_flags:\n    model_path: m\n  serch_space: {}\nbenchmark:\n  qps: [1]\n",
    );
    assert!(error.contains("CONFIG:4:3"), "{error}");
    assert!(error.contains("unknown field `serch_space`"), "{error}");
    assert!(error.contains("did you mean `search_space`?"), "{error}");
}

#[test]
fn wrong_shapes_are_explained() {
    let error =
        plan_error("server:\n  base_flags:\n    model_path: m\nbenchmark:\n  qps: {lower: 1}\n");
    assert!(error.contains("CONFIG:5:"), "{error}");
    assert!(error.contains("lower, upper"), "{error}");
    let error = plan_error(
        "server:\n  base_flags:\n    model_path: m\nbenchmark:\n  qps: [1]\n  max_concurrency: [0]\n",
    );
    assert!(error.contains("at least 1"), "{error}");
    let error = plan_error(
        "server:\n  base_flags:\n    model_path: m\nbenchmark:\n  qps: [1]\n  sla:\n    max_p98_ttft_ms: 3\n",
    );
    assert!(error.contains("CONFIG:7:"), "{error}");
    assert!(error.contains("max_p98_ttft_ms"), "{error}");
    let error = plan_error(
        "server:\n  base_flags:\n    model_path: m\nbenchmark:\n  qps: [1]\nsearch:\n  max_candidates: 0\n",
    );
    assert!(
        error.contains("max_candidates must be >= 1 or null"),
        "{error}"
    );
}

#[test]
fn bad_values_name_their_key() {
    let error = plan_error(
        "server:\n  base_flags:\n    model_path: m\ndataset:\n  kind: randon\nbenchmark:\n  qps: [1]\n",
    );
    assert!(error.contains("CONFIG:5:3: dataset.kind"), "{error}");
    assert!(error.contains("did you mean `random`?"), "{error}");
    let error = plan_error(
        "server:\n  base_flags:\n    model_path: m\ndataset: random\nbenchmark:\n  qps: {lower: 5, upper: 1}\n",
    );
    assert!(error.contains("benchmark.qps"), "{error}");
    let error =
        plan_error("server:\n  base_flags:\n    model_path: m\ndataset: random\nbenchmark: {}\n");
    assert!(error.contains("benchmark.qps is required"), "{error}");
}

#[test]
fn a_qps_tolerance_wider_than_the_range_names_its_key() {
    let error = plan_error(
        "server:\n  base_flags:\n    model_path: m\ndataset: random\nbenchmark:\n  qps:\n    lower: 2\n    upper: 10\n    tolerance: 20\n",
    );
    assert!(
        error.contains(
            "CONFIG:9:5: benchmark.qps.tolerance: 20 is not below upper - lower (10 - 2 = 8 req/s)"
        ),
        "{error}"
    );
}

#[test]
fn a_second_yaml_document_is_refused_at_its_line() {
    let error = plan_error(&format!("{GOOD}---\nserver:\n  port: 1\n"));
    assert!(
        error.contains("CONFIG:7:1: a second YAML document starts here"),
        "{error}"
    );
}

/// A dataset file that is not there is a config error at its key, found before anything is
/// created: `run` leaves no output folder behind, and `plan` says the same.
#[test]
fn a_missing_dataset_file_stops_run_before_its_output_folder_exists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("results");
    let config = common::fast_config(
        &out,
        "    max_running_requests: [8]",
        "  kind: custom\n  path: missing.jsonl",
        "[4]",
    );
    let line = 1 + config
        .lines()
        .position(|l| l.starts_with("  path: "))
        .expect("a path line");
    let path = common::write_config(dir.path(), &config);
    let expected = format!(
        "CONFIG:{line}:3: dataset.path: `{}` does not exist",
        dir.path().join("missing.jsonl").display()
    );
    for command in ["run", "plan"] {
        let output = common::bin()
            .args([command, "--config"])
            .arg(&path)
            .output()
            .expect("autobench");
        let text = common::text(&output).replace(&path.display().to_string(), "CONFIG");
        assert_eq!(output.status.code(), Some(2), "{command}: {text}");
        assert!(text.contains(&expected), "{command}: {text}");
        assert!(!text.contains("panicked"), "{command}: {text}");
        assert!(!out.exists(), "{command} created {}", out.display());
    }
}

/// Schema v1 is read strictly: a missing section or an unknown key is one located error; the
/// upstream cookbook config plans as is, every framework in its own spelling.
#[test]
fn framework_neutral_schema_is_read_strictly() {
    let inline = plan_error(
        "schema_version: 1\nmodel:\n  name: m\nframeworks:\n  sglang:\n    enabled: true\nbenchmark:\n  qps: [1]\n  sla:\n    max_p99_ttft_ms: 3\n  max_p99_tpot_ms: 3\n",
    );
    assert!(
        inline.contains("CONFIG:11:3: benchmark: unknown field `max_p99_tpot_ms`"),
        "{inline}"
    );
    assert_eq!(
        inline.lines().filter(|l| l.contains("error")).count(),
        1,
        "{inline}"
    );
    let path = common::root().join("references/llm-serving/deepseek-r1-0528.yaml");
    let output = common::bin()
        .args(["plan", "--config"])
        .arg(&path)
        .output()
        .expect("plan");
    let text = common::text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains("python -m sglang.launch_server \\\n        --tp-size 8"),
        "{text}"
    );
    assert!(text.contains("vllm serve \\\n        deepseek-ai/DeepSeek-R1-0528 \\\n        --tensor-parallel-size 8"), "{text}");
    assert!(text.contains("trtllm-serve serve \\\n        deepseek-ai/DeepSeek-R1-0528 \\\n        --backend pytorch \\\n        --tp_size 8"), "{text}");
}

#[test]
fn early_pass_fractions_are_checked() {
    let error = plan_error(
        "server:\n  base_flags:\n    model_path: m\ndataset: random\nbenchmark:\n  qps: [1]\n  early_pass: true\n  early_pass_margin: 1.5\n",
    );
    assert!(error.contains("CONFIG:8:"), "{error}");
    assert!(error.contains("early_pass_margin"), "{error}");
    assert!(error.contains("at most 1"), "{error}");
}

#[test]
fn invalid_utf8_and_endless_files_are_located_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, b"server:\n  base_flags:\n    model_path: m\xff\n").expect("write");
    let output = common::bin()
        .args(["plan", "--config"])
        .arg(&path)
        .output()
        .expect("plan");
    assert_eq!(output.status.code(), Some(2));
    let text = common::text(&output);
    assert!(text.contains("bad.yaml:3:18: is not valid UTF-8"), "{text}");
    assert_eq!(
        text.matches("UTF-8").count(),
        2,
        "said once, with its fix: {text}"
    );
    let zero = common::bin()
        .args(["plan", "--config", "/dev/zero"])
        .output()
        .expect("plan");
    assert_eq!(zero.status.code(), Some(2), "{}", common::text(&zero));
}

#[test]
fn a_gpu_hour_price_must_be_a_positive_price() {
    let error = plan_error(
        "server:\n  base_flags:\n    model_path: m\ndataset: random\nbenchmark:\n  qps: [1]\n  gpu_hour_price: -2\n",
    );
    assert!(error.contains("CONFIG:7:"), "{error}");
    assert!(
        error.contains("benchmark.gpu_hour_price")
            && error.contains("must be a positive price of one GPU for an hour"),
        "{error}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = common::write_config(dir.path(), &format!("{GOOD}  gpu_hour_price: 2.5\n"));
    let output = common::bin()
        .args(["plan", "--config"])
        .arg(&path)
        .output()
        .expect("plan");
    assert!(output.status.success(), "{}", common::text(&output));
}

#[test]
fn a_quoted_key_is_located_where_it_is_written_and_a_missing_dataset_says_what_to_add() {
    // The parser's own positions: the quoted `"qps"` key on line 6, column 3.
    let error = plan_error(
        "server:\n  base_flags:\n    model_path: m\ndataset: random\n\"benchmark\":\n  \"qps\": {lower: 5, upper: 1}\n",
    );
    assert!(error.contains("CONFIG:6:3: benchmark.qps"), "{error}");
    let error = plan_error("server:\n  base_flags:\n    model_path: m\nbenchmark:\n  qps: [1]\n");
    assert!(
        error.contains("dataset: the config has no dataset section"),
        "{error}"
    );
    assert!(error.contains("kind: random"), "{error}");
}

#[test]
fn price_overrides_are_checked_at_their_key() {
    let base =
        "server:\n  base_flags:\n    model_path: m\ndataset: random\nbenchmark:\n  qps: [1]\n";
    let error = plan_error(&format!(
        "{base}  gpu_hour_price_overrides:\n    - flags: {{tp_size: 2}}\n      price: 4\n"
    ));
    assert!(
        error.contains(
            "CONFIG:7:3: benchmark.gpu_hour_price_overrides: needs benchmark.gpu_hour_price"
        ),
        "{error}"
    );
    let error = plan_error(&format!(
        "{base}  gpu_hour_price: 2\n  gpu_hour_price_overrides:\n    - price: 4\n"
    ));
    assert!(
        error.contains("names a `framework`, `flags` or both"),
        "{error}"
    );
    let error = plan_error(&format!(
        "{base}  gpu_hour_price: 2\n  gpu_hour_price_overrides:\n    - framework: vlm\n      price: 4\n"
    ));
    assert!(error.contains("did you mean"), "{error}");
    let error = plan_error(&format!(
        "{base}  gpu_hour_price: 2\n  gpu_hour_price_overrides:\n    - flags: {{tp_size: 2}}\n      price: -1\n"
    ));
    assert!(error.contains("positive price"), "{error}");
}

#[test]
fn ranking_by_cost_needs_a_price_and_a_known_word() {
    let base =
        "server:\n  base_flags:\n    model_path: m\ndataset: random\nbenchmark:\n  qps: [1]\n";
    let error = plan_error(&format!("{base}  rank_by: cost\n"));
    assert!(
        error.contains(
            "CONFIG:7:3: benchmark.rank_by: ranking by cost needs benchmark.gpu_hour_price"
        ),
        "{error}"
    );
    let error = plan_error(&format!("{base}  gpu_hour_price: 2\n  rank_by: cots\n"));
    assert!(error.contains("did you mean `cost`?"), "{error}");
}
