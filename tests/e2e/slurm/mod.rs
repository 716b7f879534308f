//! Candidates as Slurm jobs (`executor: {kind: slurm}`) on a real single-node Slurm with fake GPUs
//! (`scripts/local-slurm.sh`, started by `scripts/test`): jobs overlap, every trial is recorded
//! once, the confirmation runs in a job too, SIGINT cancels every job the run submitted and
//! nothing else, a rerun resumes, and a job that keeps dying is retried, then recorded with
//! Slurm's reason. They need a Slurm, so they are ignored by default and `scripts/test` runs them
//! (`--ignored`) once one answers; without one, cargo lists them as ignored, by name. The
//! cluster-readiness tests (job environments, the checks, the probe, two-node candidates) are in
//! [`cluster`].

mod cluster;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::common;

/// Fails with a clear message when no Slurm controller answers (these tests run only on request).
fn require_slurm() {
    let up = Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    assert!(
        up,
        "no Slurm answers here: start one with `scripts/local-slurm.sh start` (root)"
    );
}

fn config(out: &Path, executor: &str, trial_s: u32) -> String {
    let dataset = "  kind: random\n  num_prompts: 8\n  input_len: 64\n  output_len: 8";
    common::fast_config(
        out,
        "    chunked_prefill_size: [512, 1024]",
        dataset,
        "[3, 4]",
    )
    .replace(
        "min_trial_seconds: 0",
        &format!("min_trial_seconds: {trial_s}"),
    ) + executor
}

const SLURM: &str =
    "executor:\n  kind: slurm\n  gpus_per_candidate: 1\n  time_limit_min: 10\n  max_jobs: 2\n";

/// Job ids this run submitted.
fn submitted(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out.join(".autobench").join("slurm-jobs"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Job ids of `ids` still in the queue.
fn queued(ids: &[String]) -> Vec<String> {
    if ids.is_empty() {
        return Vec::new();
    }
    let output = Command::new("squeue")
        .args(["-h", "-o", "%i", "-j", &ids.join(",")])
        .output()
        .expect("squeue");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
#[ignore = "needs a Slurm: scripts/test starts one and runs it"]
fn candidates_run_as_overlapping_jobs_and_the_confirmation_in_one_more() {
    require_slurm();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let path = common::write_config(dir.path(), &config(&out, SLURM, 2));
    let output = common::run(&path);
    let text = common::text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let records = common::records(&out.join("results.jsonl"));
    common::keys_are_unique(&records);
    common::keys_are_unique(&common::records(&out.join("live_results.jsonl")));
    let spans = common::base_spans(&records);
    assert!(
        common::overlapped(&spans),
        "two jobs measured at once: {spans:?}"
    );
    assert!(
        records.iter().any(|r| r["stage"] == "confirm"),
        "the confirmation ran (in its job): {records:?}"
    );
    let events = std::fs::read_to_string(out.join("events.jsonl")).expect("events");
    assert!(
        events.contains("RUNNING on"),
        "job states reported: {events}"
    );
    assert!(
        events.contains("confirmation: submitted as Slurm job"),
        "{events}"
    );
    assert!(
        !out.join("logs").exists(),
        "no server ran where the orchestrator runs"
    );
    no_job_left(&out);
}

#[test]
#[ignore = "needs a Slurm: scripts/test starts one and runs it"]
fn sigint_cancels_only_its_own_jobs_and_a_rerun_resumes() {
    require_slurm();
    let foreign = Command::new("sbatch")
        .args([
            "--parsable",
            "--job-name=not-autobench",
            "--output=/dev/null",
            "--wrap",
            "sleep 300",
        ])
        .output()
        .expect("sbatch");
    let foreign = String::from_utf8_lossy(&foreign.stdout).trim().to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let path = common::write_config(dir.path(), &config(&out, SLURM, 3));
    let mut child = common::bin()
        .args(["run", "--quiet", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(120);
    while common::records(&out.join("live_results.jsonl")).is_empty() {
        assert!(Instant::now() < deadline, "no trial landed");
        std::thread::sleep(Duration::from_millis(200));
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("sigint");
    let sent = Instant::now();
    assert_eq!(child.wait().expect("wait").code(), Some(130));
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "{:?}",
        sent.elapsed()
    );
    assert!(!submitted(&out).is_empty());
    no_job_left(&out);
    assert_eq!(
        queued(std::slice::from_ref(&foreign)),
        std::slice::from_ref(&foreign),
        "a job autobench did not submit is untouched"
    );
    let _ = Command::new("scancel").arg(&foreign).status();
    let before = common::records(&out.join("live_results.jsonl"));
    let output = common::run(&path);
    assert_eq!(output.status.code(), Some(0), "{}", common::text(&output));
    let after = common::records(&out.join("live_results.jsonl"));
    common::keys_are_unique(&after);
    for record in &before {
        assert_eq!(
            after
                .iter()
                .filter(|r| r["trial_key"] == record["trial_key"])
                .count(),
            1,
            "finished trial kept once: {record}"
        );
    }
}

#[test]
#[ignore = "needs a Slurm: scripts/test starts one and runs it"]
fn a_job_that_keeps_dying_is_retried_then_recorded_with_slurms_reason() {
    require_slurm();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let executor =
        "executor:\n  kind: slurm\n  gpus_per_candidate: 1\n  max_jobs: 1\n  retries: 1\n";
    let yaml = config(&out, executor, 30).replace(
        "    chunked_prefill_size: [512, 1024]\n",
        "    chunked_prefill_size: [512]\n",
    );
    let path = common::write_config(dir.path(), &yaml);
    let mut child = common::bin()
        .args(["run", "--quiet", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Kill candidate 0's job twice (its first attempt and its retry), as a node failure would;
    // the first job the run submits is the shared-filesystem probe.
    let mut killed: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while killed.len() < 2 {
        assert!(Instant::now() < deadline, "jobs: {:?}", submitted(&out));
        if let Some(id) = submitted(&out).get(killed.len() + 1).cloned() {
            std::thread::sleep(Duration::from_secs(2));
            let _ = Command::new("scancel").arg(&id).status();
            killed.push(id);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // The failure is recorded with Slurm's reason; the rest of the run is not this test's.
    let live = out.join("live_results.jsonl");
    let recorded = |records: &[serde_json::Value]| {
        records.iter().any(|r| {
            r["candidate_id"] == 0
                && r["cause"]
                    .as_str()
                    .is_some_and(|c| c.contains("ended CANCELLED"))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !recorded(&common::records(&live)) {
        assert!(
            Instant::now() < deadline,
            "recorded with Slurm's reason: {:?}",
            common::records(&live)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("sigint");
    assert_eq!(child.wait().expect("wait").code(), Some(130));
    let events = std::fs::read_to_string(out.join("events.jsonl")).expect("events");
    assert!(
        events.contains("submitting it again (attempt 2 of 2)"),
        "retried: {events}"
    );
    no_job_left(&out);
}

/// Waits (up to 20 s: Slurm takes a moment to clear a cancelled job) until none of the run's jobs
/// is queued.
fn no_job_left(out: &Path) {
    let ours = submitted(out);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !queued(&ours).is_empty() {
        assert!(
            Instant::now() < deadline,
            "jobs left behind: {:?}",
            queued(&ours)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
