//! Signals: SIGINT stops the run with complete partial results and no server left, and a rerun
//! resumes without running or recording any finished trial twice; `kill -9` of autobench takes
//! its servers down too (parent-death signal), and a rerun reaps anything it owns.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::common;

fn slow_config(dir: &Path, out: &Path) -> std::path::PathBuf {
    let dataset = "  kind: random\n  num_prompts: 16\n  input_len: 64\n  output_len: 8";
    let yaml = common::fast_config(
        out,
        "    chunked_prefill_size: [1024, 2048]",
        dataset,
        "[4, 4.5, 5, 5.5, 6, 6.5]",
    );
    common::write_config(dir, &yaml)
}

fn spawn(config: &Path) -> Child {
    common::bin()
        .args(["run", "--quiet", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn")
}

fn wait_for_lines(path: &Path, lines: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while common::records(path).len() < lines {
        assert!(Instant::now() < deadline, "no trial finished in time");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn pid(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).expect("pid"))
}

#[test]
fn sigint_then_resume_runs_no_trial_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let config = slow_config(dir.path(), &out);
    let mut child = spawn(&config);
    let live = out.join("live_results.jsonl");
    wait_for_lines(&live, 2);
    kill(pid(&child), Signal::SIGINT).expect("sigint");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    common::assert_no_survivors(&out);
    let partial = common::records(&live);
    assert!(partial.len() >= 2, "partial results written");
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("summary");
    assert!(
        summary.contains("Status: partial (interrupted"),
        "{summary}"
    );
    let report =
        std::fs::read_to_string(out.join("report.html")).expect("interrupted runs get a report");
    assert!(report.contains("<table class=\"trials\">"), "{report}");

    let output = common::run(&config);
    assert_eq!(output.status.code(), Some(0), "{}", common::text(&output));
    let records = common::records(&live);
    let mut keys: Vec<&str> = records
        .iter()
        .filter_map(|r| r["trial_key"].as_str())
        .collect();
    let total = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), total, "a finished trial was recorded twice");
    for before in &partial {
        let after = records
            .iter()
            .find(|r| r["trial_key"] == before["trial_key"])
            .expect("finished trial kept");
        assert_eq!(
            after["started_at"], before["started_at"],
            "a finished trial was measured again"
        );
    }
    assert!(total > partial.len(), "the rerun finished the search");
    common::assert_no_survivors(&out);
}

#[test]
fn kill_9_leaves_no_server_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let config = slow_config(dir.path(), &out);
    let mut child = spawn(&config);
    wait_for_lines(&out.join("live_results.jsonl"), 1);
    kill(pid(&child), Signal::SIGKILL).expect("sigkill");
    let _ = child.wait();
    common::assert_no_survivors(&out);
    let output = common::run(&config);
    assert_eq!(output.status.code(), Some(0), "{}", common::text(&output));
    common::assert_no_survivors(&out);
}
