//! `autobench plan` on upstream's reference configs: candidate counts of the spec's worked
//! examples, warnings, and redaction.

use super::common;

fn plan(path: &std::path::Path) -> String {
    let output = common::bin()
        .args(["plan", "--config"])
        .arg(path)
        .output()
        .expect("plan");
    assert!(output.status.success(), "{}", common::text(&output));
    String::from_utf8_lossy(&output.stdout).to_string()
}

fn reference(name: &str) -> std::path::PathBuf {
    common::root()
        .join("tests/fixtures/reference-configs")
        .join(name)
}

#[test]
fn reference_configs_plan_with_upstream_counts() {
    let cases = [
        ("sglang-auto-benchmark__qwen3-32b.yaml", 8),
        ("sglang-auto-benchmark__cookbook-llm__deepseek-v3.yaml", 23),
        (
            "sglang-auto-benchmark__cookbook-llm__llama-3.1-70b-instruct.yaml",
            20,
        ),
        (
            "sglang-auto-benchmark__cookbook-llm__qwen3-235b-a22b.yaml",
            8,
        ),
    ];
    for (name, count) in cases {
        let path = reference(name);
        let text = plan(&path);
        assert!(
            text.contains(&format!("base candidates ({count}):")),
            "{name}:\n{text}"
        );
        assert!(text.contains("[0] (baseline)"), "{name}");
        assert!(text.contains("estimated_base_trials:"), "{name}");
    }
}

#[test]
fn qwen3_plan_reports_cap_and_estimate() {
    let path = reference("sglang-auto-benchmark__qwen3-32b.yaml");
    let text = plan(&path);
    assert!(
        text.contains("never tried because of the cap: max_running_requests = 64, 96, 128"),
        "{text}"
    );
    assert!(text.contains("estimated_base_trials: 240"), "{text}");
    assert!(
        text.contains("CUDA_VISIBLE_DEVICES=0 python -m sglang.launch_server"),
        "{text}"
    );
}

#[test]
fn plan_warns_and_redacts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = "server:\n  env:\n    HF_TOKEN: hf_abc123\n    TOKENIZERS_PARALLELISM: 'false'\n  base_flags:\n    model_path: m\n  search_space:\n    mem_fraction_static: [0.8, 0.9]\n\
                dataset: random\nbenchmark:\n  qps: {lower: 1, upper: 4, max_rounds: 9}\nsearch:\n  max_duration_hours: 30\nspeculative:\n  enabled: true\n";
    let text = plan(&common::write_config(dir.path(), yaml));
    assert!(!text.contains("hf_abc123"), "{text}");
    assert!(text.contains("HF_TOKEN=<redacted>"), "{text}");
    assert!(text.contains("TOKENIZERS_PARALLELISM=false"), "{text}");
    assert!(text.contains("mem_fraction_static is searched"), "{text}");
    assert!(text.contains("max_rounds=9"), "{text}");
    assert!(text.contains("max_duration_hours=30"), "{text}");
    assert!(text.contains("draft_model_path is empty"), "{text}");
    assert!(
        text.contains(
            "dataset.num_prompts=1000 (the default) is above the 80-prompt budget guardrail"
        ),
        "{text}"
    );
}

/// A plan whose own estimate does not fit the config's time budget says so, in minutes.
#[test]
fn plan_warns_when_its_estimate_exceeds_the_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = "server:\n  base_flags:\n    model_path: m\n  search_space:\n    chunked_prefill_size: [1024, 2048]\n\
                dataset:\n  kind: random\n  num_prompts: 80\nbenchmark:\n  qps: {lower: 1, upper: 4}\nsearch:\n  max_duration_hours: 0.1\n";
    let text = plan(&common::write_config(dir.path(), yaml));
    assert!(text.contains("max_duration_hours: 0.1 (6 min)"), "{text}");
    assert!(
        text.contains("exceeds search.max_duration_hours (6 min)"),
        "{text}"
    );
    assert!(!text.contains("budget guardrail"), "{text}");
}

/// Every cookbook config plans, and the folder's README lists each of them.
#[test]
fn every_cookbook_config_plans() {
    let folder = common::root().join("references/cookbook-llm");
    let readme = std::fs::read_to_string(folder.join("README.md")).expect("README");
    let mut names: Vec<String> = std::fs::read_dir(&folder)
        .expect("cookbook folder")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 14, "{names:?}");
    for name in &names {
        let text = plan(&folder.join(name));
        assert!(text.contains("[0] (baseline)"), "{name}:\n{text}");
        assert!(text.contains("estimated_base_trials:"), "{name}");
        assert!(readme.contains(name.as_str()), "README lacks {name}");
    }
}

/// A tier-3 config searching 10 keys x 5 values (9,765,625 combinations) with `max_candidates`.
fn huge_tier3(cap: &str) -> String {
    let keys: String = (0..10)
        .map(|i| format!("    sim_knob_{i}: [1, 2, 3, 4, 5]\n"))
        .collect();
    format!(
        // Made-up knobs: a server whose --help lists nothing (`true`) lets any flag through.
        "server:\n  framework: sglang\n  command_prefix: \"true\"\n  base_flags:\n    model_path: m\n  search_space:\n{keys}\
         dataset: random\nbenchmark:\n  qps: [1]\nsearch:\n  tier: 3\n  max_candidates: {cap}\n"
    )
}

#[test]
fn a_huge_tier3_space_with_a_cap_plans_only_the_cap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = plan(&common::write_config(dir.path(), &huge_tier3("5")));
    assert!(text.contains("combinations: 9765626 "), "{text}");
    assert!(text.contains("base candidates (5):"), "{text}");
    assert!(
        text.contains("max_candidates stops generation after 5 of 9765626 combinations"),
        "{text}"
    );
}

#[test]
fn a_huge_tier3_space_without_a_cap_is_a_config_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = common::bin()
        .args(["plan", "--config"])
        .arg(common::write_config(dir.path(), &huge_tier3("null")))
        .output()
        .expect("plan");
    let text = common::text(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(
        text.contains("search.max_candidates: the search space has 9765626 combinations"),
        "{text}"
    );
}

#[test]
fn shell_completions_cover_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let output = common::bin()
            .args(["completions", shell])
            .output()
            .expect("completions");
        let script = String::from_utf8_lossy(&output.stdout).to_string();
        assert_eq!(output.status.code(), Some(0), "{shell}");
        for command in ["plan", "run", "serve", "bench", "validate", "completions"] {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
        if shell == "bash" {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("autobench.bash");
            std::fs::write(&path, &script).expect("write");
            let check = std::process::Command::new("bash")
                .arg("-n")
                .arg(&path)
                .output()
                .expect("bash -n");
            assert!(check.status.success(), "{}", common::text(&check));
        }
    }
}

#[test]
fn plan_json_is_one_object_with_every_candidate_argv() {
    let config = common::root().join("references/sim/quickstart.yaml");
    let output = common::bin()
        .args(["plan", "--json", "--config"])
        .arg(&config)
        .output()
        .expect("plan --json");
    assert!(output.status.success(), "{}", common::text(&output));
    let plan: shared::outward::PlanJson =
        serde_json::from_slice(&output.stdout).expect("plan --json is one PlanJson object");
    let candidates = &plan.candidates;
    assert_eq!(candidates.len(), 5);
    assert_eq!(candidates[0].label, "baseline");
    assert_eq!(candidates[1].label, "attention-backend=flashinfer");
    assert_eq!(candidates[1].argv[0], "autobench");
    assert!(
        candidates[1]
            .argv
            .iter()
            .any(|w| w == "--attention-backend"),
        "{plan:?}"
    );
    assert_eq!(plan.scenarios.len(), 2);
    assert_eq!(plan.estimate.base_trials, 30);
    assert!(plan.estimate.wall_time_s > 60.0, "{plan:?}");
}

/// The vLLM, TensorRT-LLM and schema v1 references plan, each in its server's own spelling.
#[test]
fn framework_references_plan_in_their_own_spelling() {
    let cases = [
        ("references/vllm/qwen3-32b.yaml", "--max-num-seqs 64"),
        ("references/vllm/sim.yaml", "--max-num-batched-tokens 1024"),
        (
            "references/trtllm/llama-3.1-8b-instruct.yaml",
            "--max_batch_size 64",
        ),
        ("references/trtllm/sim.yaml", "--max_num_tokens 1024"),
        (
            "references/llm-serving/sim-three-frameworks.yaml",
            "--max_batch_size 24",
        ),
        (
            "references/llm-serving/deepseek-r1-0528.yaml",
            "--max-num-seqs 32",
        ),
    ];
    for (path, spelled) in cases {
        let text = plan(&common::root().join(path));
        assert!(text.contains(spelled), "{path}:\n{text}");
        assert!(text.contains("[0] (baseline)"), "{path}");
    }
}
