//! Candidates at once on disjoint GPU sets (`executor: {kind: partitions}`), on fake GPUs: this
//! binary linked as `nvidia-smi` answers from the files the simulator writes. Candidates overlap
//! in time, every trial is recorded once, SIGINT leaves no worker and no server and a rerun
//! resumes, and a GPU whose memory does not come back stops the run naming what holds it, with
//! this executor and with the default one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::common;

/// A folder with `nvidia-smi` (this binary) for `PATH`, and the fake GPUs' folder.
fn fake_gpus(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_autobench"), bin.join("nvidia-smi"))
        .expect("link");
    (bin, dir.join("gpus"))
}

fn command(dir: &Path, config: &Path) -> Command {
    let (bin, gpus) = fake_gpus_once(dir);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = common::bin();
    command
        .args(["run", "--quiet", "--config"])
        .arg(config)
        .env("PATH", path)
        .env("AUTOBENCH_FAKE_GPU_DIR", gpus)
        .env("AUTOBENCH_FAKE_GPUS", "2");
    command
}

fn fake_gpus_once(dir: &Path) -> (PathBuf, PathBuf) {
    if dir.join("bin").join("nvidia-smi").exists() {
        return (dir.join("bin"), dir.join("gpus"));
    }
    fake_gpus(dir)
}

/// A config whose simulated servers hold their GPU memory `release_s` seconds after they exit.
fn holding_config(out: &Path, executor: &str, release_s: f64) -> String {
    config(out, executor, "    chunked_prefill_size: [512]", 0).replace(
        "    sim_startup_s: 0.2\n",
        &format!("    sim_startup_s: 0.2\n    sim_gpu_release_s: {release_s}\n"),
    )
}

fn config(out: &Path, executor: &str, space: &str, trial_s: u32) -> String {
    let dataset = "  kind: random\n  num_prompts: 8\n  input_len: 64\n  output_len: 8";
    common::fast_config(out, space, dataset, "[3, 4]").replace(
        "min_trial_seconds: 0",
        &format!("min_trial_seconds: {trial_s}"),
    ) + executor
}

const TWO_GPUS: &str = "executor:\n  kind: partitions\n  gpus: [0, 1]\n  gpus_per_candidate: 1\n";

#[test]
fn candidates_run_at_once_on_disjoint_gpus() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let yaml = config(
        &out,
        TWO_GPUS,
        "    chunked_prefill_size: [512, 1024, 2048]",
        2,
    );
    let path = common::write_config(dir.path(), &yaml);
    let output = command(dir.path(), &path).output().expect("run");
    let text = common::text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let records = common::records(&out.join("results.jsonl"));
    common::keys_are_unique(&records);
    common::keys_are_unique(&common::records(&out.join("live_results.jsonl")));
    let spans = common::base_spans(&records);
    // Tier 1 keeps two values of the key: the baseline and two candidates.
    for candidate in 0..3 {
        assert!(
            spans.iter().any(|(c, _, _)| *c == candidate),
            "candidate {candidate} measured: {spans:?}"
        );
    }
    assert!(
        common::overlapped(&spans),
        "two candidates measured at once: {spans:?}"
    );
    let events = std::fs::read_to_string(out.join("events.jsonl")).expect("events");
    assert!(
        events.contains("on GPU(s) 0") && events.contains("on GPU(s) 1"),
        "{events}"
    );
    for candidate in 0..3 {
        common::assert_no_survivors(&out.join("workers").join(format!("cand-{candidate}")));
    }
    common::assert_no_survivors(&out);
}

#[test]
fn sigint_stops_every_worker_and_a_rerun_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let yaml = config(
        &out,
        TWO_GPUS,
        "    chunked_prefill_size: [512, 1024, 2048]",
        3,
    );
    let path = common::write_config(dir.path(), &yaml);
    let mut child = command(dir.path(), &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let live = out.join("live_results.jsonl");
    let deadline = Instant::now() + Duration::from_secs(90);
    while common::records(&live).is_empty() {
        assert!(Instant::now() < deadline, "no trial landed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    let sent = Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("sigint");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "{:?}",
        sent.elapsed()
    );
    for candidate in 0..3 {
        common::assert_no_survivors(&out.join("workers").join(format!("cand-{candidate}")));
    }
    let before = common::records(&live);
    common::keys_are_unique(&before);
    let output = command(dir.path(), &path).output().expect("resume");
    assert_eq!(output.status.code(), Some(0), "{}", common::text(&output));
    let after = common::records(&live);
    common::keys_are_unique(&after);
    for record in &before {
        assert!(
            after
                .iter()
                .filter(|r| r["trial_key"] == record["trial_key"])
                .count()
                == 1,
            "finished trial kept once: {record}"
        );
    }
}

#[test]
fn a_gpu_whose_memory_does_not_come_back_stops_the_run_naming_its_holder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let executor = "executor:\n  kind: partitions\n  gpus: [0]\n  gpu_memory_timeout_sec: 2\n";
    let yaml = holding_config(&out, executor, 60.0);
    let path = common::write_config(dir.path(), &yaml);
    let output = command(dir.path(), &path).output().expect("run");
    let text = common::text(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("GPU 0 holds"), "{text}");
    assert!(text.contains("autobench-sim"), "names the holder: {text}");
    let records = common::records(&out.join("live_results.jsonl"));
    assert!(
        records.iter().all(|r| r["candidate_id"] == 0) && !records.is_empty(),
        "the first candidate's trials are kept: {records:?}"
    );
}

/// The default executor (one candidate after another on this machine) checks the memory too:
/// the next candidate does not start while the previous server's GPU memory is still held.
#[test]
fn the_default_executor_waits_for_the_memory_and_stops_naming_its_holder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let executor = "executor:\n  gpu_memory_timeout_sec: 2\n";
    let yaml = holding_config(&out, executor, 60.0);
    let path = common::write_config(dir.path(), &yaml);
    let output = command(dir.path(), &path).output().expect("run");
    let text = common::text(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("GPU 0 holds"), "{text}");
    assert!(text.contains("autobench-sim"), "names the holder: {text}");
    let records = common::records(&out.join("live_results.jsonl"));
    assert!(
        records.iter().all(|r| r["candidate_id"] == 0) && !records.is_empty(),
        "the first candidate's trials are kept, the second never started: {records:?}"
    );

    // Released in time: the next candidate waits for it, then runs.
    let out = dir.path().join("out-released");
    let executor = "executor:\n  gpu_memory_timeout_sec: 30\n";
    let yaml = holding_config(&out, executor, 1.5);
    let path = common::write_config(dir.path(), &yaml);
    let output = command(dir.path(), &path).output().expect("run");
    let text = common::text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let records = common::records(&out.join("live_results.jsonl"));
    assert!(
        records.iter().any(|r| r["candidate_id"] == 1),
        "{records:?}"
    );
    let events = common::events(&out);
    assert!(
        events.iter().any(|e| e["event"] == "notice"
            && e["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("waiting for GPU(s)"))),
        "the wait is said"
    );
}
