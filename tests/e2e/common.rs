//! Shared helpers: temp folders with configs, running the binary, and checking that no server
//! process outlived a run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use backend::launcher::registry;

/// The project (workspace) root. These tests live in `tests/e2e/` but are a target of the
/// `backend` package, so `CARGO_MANIFEST_DIR` is `backend/`, one level below the root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("backend/ has a parent folder")
        .to_path_buf()
}

/// The tiny tokenizer shipped for the simulator.
pub(crate) fn tiny_model() -> String {
    root()
        .join("references/sim/tiny-model")
        .display()
        .to_string()
}

/// The autobench binary.
pub(crate) fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_autobench"))
}

/// A config for a fast simulated search; `extra_space` lines go under `search_space`.
pub(crate) fn fast_config(out: &Path, search_space: &str, dataset: &str, qps: &str) -> String {
    let model = tiny_model();
    format!(
        "server:\n  framework: sim\n  host: 127.0.0.1\n  base_flags:\n    model_path: {model}\n    sim_startup_s: 0.2\n    sim_time_scale: 0.5\n  search_space:\n{search_space}\n  shutdown_grace_sec: 2\n\
         dataset:\n{dataset}\n\
         benchmark:\n  tokenizer: {model}\n  qps: {qps}\n  sla:\n    max_p99_ttft_ms: 400\n    max_p99_tpot_ms: 40\n  output_dir: {}\n  ready_check_timeout_sec: 600\n  max_client_lag_ms: 1000\n  min_trial_seconds: 0\n\
         search:\n  tier: 1\n  max_candidates: null\n",
        out.display()
    )
}

/// Writes `text` to `dir/config.yaml` and returns the path.
pub(crate) fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Runs `autobench run --config` to completion.
pub(crate) fn run(config: &Path) -> Output {
    bin()
        .args(["run", "--quiet", "--config"])
        .arg(config)
        .output()
        .expect("run autobench")
}

/// Asserts that no process started for `output_dir` is still alive (waiting briefly for exits).
pub(crate) fn assert_no_survivors(output_dir: &Path) {
    let state = output_dir.join(".autobench");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alive = registry::surviving_processes(&state);
        if alive.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "server processes outlived autobench: {alive:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Records of a JSONL file.
pub(crate) fn records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// Records of a JSONL file, each parsed into `T` (one of the typed outward contracts).
pub(crate) fn typed_records<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
        .collect()
}

/// Text of a command's output streams.
pub(crate) fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The events of a run (`events.jsonl`), as JSON objects.
pub(crate) fn events(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("an event line"))
        .collect()
}

/// How many events of `kind` a run has.
pub(crate) fn count_events(run: &Path, kind: &str) -> usize {
    events(run).iter().filter(|e| e["event"] == kind).count()
}

/// How many events of `kind` a run has in `stage`.
pub(crate) fn count_stage_events(run: &Path, kind: &str, stage: &str) -> usize {
    events(run)
        .iter()
        .filter(|e| e["event"] == kind && e["stage"] == stage)
        .count()
}

/// Asserts that no trial key appears twice in `records`.
pub(crate) fn keys_are_unique(records: &[serde_json::Value]) {
    let mut keys: Vec<&str> = records
        .iter()
        .filter_map(|r| r["trial_key"].as_str())
        .collect();
    let all = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), all, "a trial recorded twice: {records:?}");
}

/// (candidate, start, end) of every base-stage trial, in seconds since the epoch.
pub(crate) fn base_spans(records: &[serde_json::Value]) -> Vec<(u64, f64, f64)> {
    records
        .iter()
        .filter(|r| r["stage"] == "base")
        .filter_map(|r| {
            let start = chrono::DateTime::parse_from_rfc3339(r["started_at"].as_str()?).ok()?;
            let start = start.timestamp_millis() as f64 / 1000.0;
            Some((
                r["candidate_id"].as_u64()?,
                start,
                start + r["trial_duration_s"].as_f64()?,
            ))
        })
        .collect()
}

/// Whether two different candidates' trials overlap in time.
pub(crate) fn overlapped(spans: &[(u64, f64, f64)]) -> bool {
    spans
        .iter()
        .any(|(a, start, end)| spans.iter().any(|(b, s, e)| a != b && s < end && start < e))
}

/// A config whose speculative stage searches `key` (the simulator's help lists
/// `--speculative-eagle-topk`).
pub(crate) fn speculative_config(out: &std::path::Path, key: &str) -> String {
    fast_config(
        out,
        "    chunked_prefill_size: [1024]",
        "  kind: random\n  num_prompts: 8\n  input_len: 64\n  output_len: 8",
        "[4]",
    ) + &format!(
        "speculative:\n  enabled: true\n  draft_model_path: /models/draft\n  search_space:\n    {key}: [1, 2]\n"
    )
}

/// The launch command's code block in a `summary.md`.
pub(crate) fn launch_command(summary: &str) -> &str {
    summary
        .split("## Best Launch Command")
        .nth(1)
        .and_then(|rest| rest.split("```").nth(1))
        .expect("a launch command")
}
