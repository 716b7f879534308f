//! Fault injection: what can happen to a run leaves its results whole.
//!
//! - SIGINT in each phase (server start-up, warmup, the model lookup against a server that accepts
//!   and never answers, mid-trial) ends the run with status 130 within 2 s, with complete partial
//!   files.
//! - `kill -9` of autobench mid-run, then a resume: no finished trial is lost, recorded twice or
//!   measured again, and the server it had started is gone.
//! - A torn last line in `live_results.jsonl` and `events.jsonl` is set aside as
//!   `<file>.torn-<secs>`, and two resumes succeed.
//! - A finished run, one of whose candidates crashed mid-trial, run again: nothing is measured.
//! - `server.port` taken: `spawn_failed` launch failures, retried (and measured) once it is free.
//! - An output directory that cannot be written (or created): status 2 with a clear message.
//!
//! Every check also asserts that every output file parses and that no server survives.

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use super::common;

const ONE_SCENARIO: &str = "  kind: random\n  num_prompts: 8\n  input_len: 64\n  output_len: 8";
const ONE_CANDIDATE: &str = "    chunked_prefill_size: [1024]";

/// How soon after SIGINT the run must have exited.
const EXIT_AFTER_SIGNAL: Duration = Duration::from_secs(2);

/// A run started in the background; its output goes to files beside the config.
struct Running {
    child: Child,
    stderr: PathBuf,
}

fn start(config: &Path) -> Running {
    let dir = config.parent().expect("config folder");
    let stderr = dir.join(format!("stderr-{}.txt", unique()));
    let child = common::bin()
        .args(["run", "--quiet", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("spawn autobench");
    Running { child, stderr }
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

impl Running {
    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).expect("pid"))
    }

    /// Sends `signal` and waits for the exit: the status, how long it took, and stderr.
    fn stop_with(mut self, signal: Signal) -> (Option<i32>, Duration, String) {
        kill(self.pid(), signal).expect("signal");
        let sent = Instant::now();
        let deadline = sent + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "autobench ignored {signal}");
            std::thread::sleep(Duration::from_millis(10));
        };
        let took = sent.elapsed();
        let mut stderr = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.stderr) {
            let _ = file.read_to_string(&mut stderr);
        }
        (status.code(), took, stderr)
    }
}

/// Waits until `done` holds, failing with `what` after `timeout`.
fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Event kinds seen so far, read leniently: the run may be writing a line right now.
fn kinds(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|e| e["event"].as_str().map(str::to_string))
        .collect()
}

fn seen(out: &Path, kind: &str) -> bool {
    kinds(out).iter().any(|k| k == kind)
}

/// Every JSON, JSONL and CSV file under `out` parses (fragments set aside as `.torn-*` aside).
fn assert_outputs_parse(out: &Path) {
    let mut pending = vec![out.to_path_buf()];
    let mut checked = 0;
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read output dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let name = path.file_name().map(|n| n.to_string_lossy().to_string());
            let name = name.unwrap_or_default();
            if name.contains(".torn-") {
                continue;
            }
            let text = || std::fs::read_to_string(&path).expect("utf-8 output file");
            if name.ends_with(".jsonl") {
                let text = text();
                assert!(
                    text.is_empty() || text.ends_with('\n'),
                    "{} ends in a torn line",
                    path.display()
                );
                for (n, line) in text.lines().enumerate() {
                    assert!(
                        serde_json::from_str::<Value>(line).is_ok(),
                        "{}:{}: not JSON: {line}",
                        path.display(),
                        n + 1
                    );
                }
                checked += 1;
            } else if name.ends_with(".json") {
                assert!(
                    serde_json::from_str::<Value>(&text()).is_ok(),
                    "{} is not JSON",
                    path.display()
                );
                checked += 1;
            } else if name.ends_with(".csv") {
                let mut reader = csv::Reader::from_path(&path).expect("open csv");
                let columns = reader.headers().expect("csv header").len();
                for record in reader.records() {
                    let record =
                        record.unwrap_or_else(|e| panic!("{}: bad row: {e}", path.display()));
                    assert_eq!(record.len(), columns, "{}", path.display());
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "no output file in {}", out.display());
}

/// The last event of the run.
fn last_event(out: &Path) -> Value {
    common::events(out).pop().expect("events.jsonl has events")
}

/// The pids of the servers this output dir launched (`.autobench/servers.jsonl`).
fn server_pids(out: &Path) -> Vec<i32> {
    common::records(&out.join(".autobench/servers.jsonl"))
        .iter()
        .filter_map(|s| s["pgid"].as_i64())
        .filter_map(|p| i32::try_from(p).ok())
        .collect()
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// No process this output dir started is alive: by ownership marker and by recorded pid.
fn assert_no_survivors(out: &Path) {
    common::assert_no_survivors(out);
    for pid in server_pids(out) {
        wait_for(
            &format!("server {pid} to be gone"),
            Duration::from_secs(10),
            || !alive(pid),
        );
    }
}

/// After SIGINT: status 130 within 2 s, complete partial files, nothing left running.
fn assert_interrupted(out: &Path, (code, took, stderr): (Option<i32>, Duration, String)) {
    assert_eq!(code, Some(130), "{stderr}");
    assert!(took <= EXIT_AFTER_SIGNAL, "exit took {took:?} after SIGINT");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_outputs_parse(out);
    let last = last_event(out);
    assert_eq!(last["event"], "run_finished", "{last}");
    assert_eq!(last["status"], "interrupted", "{last}");
    for file in [
        "results.jsonl",
        "results.csv",
        "report.html",
        "run_meta.json",
    ] {
        assert!(out.join(file).is_file(), "missing {file}");
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(
        summary.contains("Status: partial (interrupted"),
        "{summary}"
    );
    assert_no_survivors(out);
}

fn config(dir: &Path, space: &str, dataset: &str, qps: &str) -> (PathBuf, PathBuf) {
    let out = dir.join("out");
    let yaml = common::fast_config(&out, space, dataset, qps);
    (common::write_config(dir, &yaml), out)
}

fn rewrite(config: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(config).expect("config");
    assert!(text.contains(from), "{from} not in the config");
    std::fs::write(config, text.replacen(from, to, 1)).expect("write config");
}

#[test]
fn sigint_during_server_start_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, out) = config(dir.path(), ONE_CANDIDATE, ONE_SCENARIO, "[4]");
    rewrite(&config, "sim_startup_s: 0.2", "sim_startup_s: 120");
    let run = start(&config);
    wait_for("the launch", Duration::from_secs(60), || {
        seen(&out, "candidate_launching") && !server_pids(&out).is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    let stopped = run.stop_with(Signal::SIGINT);
    assert!(!seen(&out, "candidate_ready"), "the server became ready");
    assert_interrupted(&out, stopped);
    assert!(common::records(&out.join("live_results.jsonl")).is_empty());
}

#[test]
fn sigint_during_warmup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, out) = config(dir.path(), ONE_CANDIDATE, ONE_SCENARIO, "[4]");
    // Every simulated step 2000 times slower: the warmup request takes many seconds.
    rewrite(&config, "sim_time_scale: 0.5", "sim_time_scale: 1000");
    let run = start(&config);
    wait_for("the first trial", Duration::from_secs(60), || {
        seen(&out, "trial_started")
    });
    std::thread::sleep(Duration::from_millis(300));
    let stopped = run.stop_with(Signal::SIGINT);
    assert!(!seen(&out, "trial_finished"), "the trial was not cut short");
    assert_interrupted(&out, stopped);
    assert!(common::records(&out.join("live_results.jsonl")).is_empty());
}

#[test]
fn sigint_during_the_model_lookup_of_a_server_that_never_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&accepted);
    // Accepts every connection, reads nothing and answers nothing; keeps them open.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            flag.store(true, Ordering::SeqCst);
            held.push(stream);
        }
    });
    let (config, out) = config(dir.path(), ONE_CANDIDATE, ONE_SCENARIO, "[4]");
    rewrite(
        &config,
        "  framework: sim\n",
        "  framework: sim\n  launch: false\n",
    );
    rewrite(
        &config,
        "  qps: [4]\n",
        &format!("  qps: [4]\n  base_url: http://127.0.0.1:{port}\n"),
    );
    let run = start(&config);
    wait_for(
        "the model lookup to connect",
        Duration::from_secs(60),
        || accepted.load(Ordering::SeqCst),
    );
    std::thread::sleep(Duration::from_millis(300));
    let stopped = run.stop_with(Signal::SIGINT);
    assert_interrupted(&out, stopped);
    assert!(server_pids(&out).is_empty(), "launch: false starts nothing");
}

#[test]
fn sigint_mid_trial() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dataset = "  kind: random\n  num_prompts: 40\n  input_len: 64\n  output_len: 8";
    let (config, out) = config(dir.path(), ONE_CANDIDATE, dataset, "[4]");
    let run = start(&config);
    wait_for("the first trial", Duration::from_secs(60), || {
        seen(&out, "trial_started")
    });
    // 40 requests at 4 req/s take 10 s: this is well inside the trial.
    std::thread::sleep(Duration::from_millis(1500));
    let stopped = run.stop_with(Signal::SIGINT);
    assert!(!seen(&out, "trial_finished"), "the trial was not cut short");
    assert_interrupted(&out, stopped);
}

/// `trial_key` → `started_at` of the records in `live_results.jsonl`.
fn measured(out: &Path) -> Vec<(String, String)> {
    common::records(&out.join("live_results.jsonl"))
        .iter()
        .map(|r| {
            (
                r["trial_key"].as_str().unwrap_or_default().to_string(),
                r["started_at"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Trial keys of `kind` events after the `run`-th `run_started` (0-based) and before the next.
fn event_keys(out: &Path, run: usize, kind: &str) -> Vec<String> {
    let mut runs_seen = 0;
    let mut keys = Vec::new();
    for event in common::events(out) {
        if event["event"] == "run_started" {
            runs_seen += 1;
        } else if runs_seen == run + 1 && event["event"] == kind {
            keys.push(
                event["record"]["trial_key"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
            );
        }
    }
    keys
}

#[test]
fn kill_9_mid_run_then_resume_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dataset = "  kind: random\n  num_prompts: 12\n  input_len: 64\n  output_len: 8";
    let (config, out) = config(
        dir.path(),
        "    chunked_prefill_size: [1024, 2048]",
        dataset,
        "[4, 4.5, 5, 5.5]",
    );
    let mut run = start(&config);
    let live = out.join("live_results.jsonl");
    wait_for("two finished trials", Duration::from_secs(90), || {
        common::records(&live).len() >= 2
    });
    // Into the next trial, then kill -9.
    std::thread::sleep(Duration::from_millis(700));
    kill(run.pid(), Signal::SIGKILL).expect("kill -9");
    let _ = run.child.wait();
    let servers = server_pids(&out);
    assert!(!servers.is_empty(), "a server was launched");
    // The parent-death signal took the server down with autobench.
    assert_no_survivors(&out);

    let before = measured(&out);
    let finished_before = event_keys(&out, 0, "trial_finished");
    assert!(
        finished_before
            .iter()
            .all(|k| before.iter().any(|(b, _)| b == k))
    );
    assert!(finished_before.len() + 1 >= before.len());

    let output = common::run(&config);
    assert_eq!(output.status.code(), Some(0), "{}", common::text(&output));
    assert!(!common::text(&output).contains("panicked"));
    let after = measured(&out);
    let mut keys: Vec<&str> = after.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), after.len(), "a trial was recorded twice");
    for (key, started) in &before {
        let kept = after.iter().find(|(k, _)| k == key);
        assert_eq!(
            kept.map(|(_, s)| s),
            Some(started),
            "trial {key} was lost or measured again"
        );
    }
    let reused = event_keys(&out, 1, "trial_reused");
    let finished = event_keys(&out, 1, "trial_finished");
    assert_eq!(reused.len(), before.len(), "every finished trial is reused");
    assert_eq!(finished.len(), after.len() - before.len());
    assert!(
        finished.iter().all(|k| !before.iter().any(|(b, _)| b == k)),
        "the resume measured a finished trial again"
    );
    assert!(after.len() > before.len(), "the resume finished the search");
    assert_outputs_parse(&out);
    assert_eq!(last_event(&out)["status"], "finished");
    assert_no_survivors(&out);
}

/// Files beside `file` that hold its set-aside fragments.
fn torn_files(file: &Path) -> Vec<PathBuf> {
    let name = file
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    let mut found: Vec<PathBuf> = std::fs::read_dir(file.parent().expect("parent"))
        .expect("read dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{name}.torn-")))
        })
        .collect();
    found.sort();
    found
}

#[test]
fn torn_last_lines_are_set_aside_and_resumes_succeed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, out) = config(dir.path(), ONE_CANDIDATE, ONE_SCENARIO, "[4, 8]");
    let first = common::run(&config);
    assert_eq!(first.status.code(), Some(0), "{}", common::text(&first));
    let live = out.join("live_results.jsonl");
    let events = out.join("events.jsonl");
    let records = common::records(&live).len();
    let trials = common::count_events(&out, "trial_finished");
    let live_fragment = "{\"schema_version\":1,\"trial_key\":\"0123";
    let event_fragment = "{\"seq\":999,\"at\":\"2025-";
    for (file, fragment) in [(&live, live_fragment), (&events, event_fragment)] {
        let mut handle = std::fs::OpenOptions::new()
            .append(true)
            .open(file)
            .expect("open");
        std::io::Write::write_all(&mut handle, fragment.as_bytes()).expect("append fragment");
    }
    for resume in 1..=2 {
        let output = common::run(&config);
        let text = common::text(&output);
        assert_eq!(output.status.code(), Some(0), "resume {resume}: {text}");
        assert!(!text.contains("panicked"), "{text}");
        for (file, fragment) in [(&live, live_fragment), (&events, event_fragment)] {
            let aside = torn_files(file);
            assert_eq!(aside.len(), 1, "resume {resume}: {aside:?}");
            assert_eq!(
                std::fs::read_to_string(&aside[0]).expect("fragment"),
                fragment,
                "the fragment is kept whole"
            );
        }
        assert_eq!(common::records(&live).len(), records);
        assert_eq!(
            common::count_events(&out, "trial_finished"),
            trials,
            "resume {resume} measured nothing"
        );
        assert_outputs_parse(&out);
        assert_eq!(last_event(&out)["status"], "finished");
        assert_no_survivors(&out);
    }
}

#[test]
fn a_finished_run_with_a_crashed_candidate_reruns_without_measuring() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Candidate 2's server dies at its 6th generation request (warmup included): mid-trial.
    let space = "    chunked_prefill_size: [1024]\n    sim_crash_after_requests: [5]";
    let dataset = "  kind: random\n  num_prompts: 8\n  scenario_names: [a, b]\n  input_len: [64, 64]\n  output_len: [8, 4]";
    let (config, out) = config(dir.path(), space, dataset, "[4, 8]");
    let first = common::run(&config);
    assert_eq!(first.status.code(), Some(0), "{}", common::text(&first));
    let records = common::records(&out.join("a/results.jsonl"));
    let crashed: Vec<_> = records
        .iter()
        .filter(|r| r["diagnosis"] == "crashed")
        .collect();
    assert!(
        crashed
            .iter()
            .any(|r| r["failure"] == "server_exit" && r["metrics"].is_object()),
        "the crash is recorded on the trial it cut: {records:?}"
    );
    assert!(
        crashed.iter().all(|r| r["candidate_id"] == 2),
        "{crashed:?}"
    );
    let b = common::records(&out.join("b/results.jsonl"));
    assert!(
        b.iter()
            .any(|r| r["candidate_id"] == 2 && r["diagnosis"] == "crashed"),
        "the crash carries over to the candidate's other walks: {b:?}"
    );
    assert_no_survivors(&out);
    let trials = common::count_events(&out, "trial_finished");
    let launches = common::count_events(&out, "candidate_launching");

    let again = common::run(&config);
    assert_eq!(again.status.code(), Some(0), "{}", common::text(&again));
    assert_eq!(common::count_events(&out, "trial_finished"), trials);
    assert_eq!(common::count_events(&out, "candidate_launching"), launches);
    assert_eq!(
        event_keys(&out, 1, "trial_reused").len(),
        common::records(&out.join("a/live_results.jsonl")).len()
            + common::records(&out.join("b/live_results.jsonl")).len()
    );
    assert_outputs_parse(&out);
    assert_eq!(last_event(&out)["status"], "finished");
    assert_no_survivors(&out);
}

#[test]
fn candidates_failing_to_launch_the_same_way_stop_the_run_early() {
    let dir = tempfile::tempdir().expect("tempdir");
    let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    // Tier 1: the baseline and one candidate per value, five in all.
    let five = "    chunked_prefill_size: [512, 1024]\n    max_running_requests: [8, 16]";
    let (config, out) = config(dir.path(), five, ONE_SCENARIO, "[4, 8]");
    rewrite(
        &config,
        "  shutdown_grace_sec: 2\n",
        &format!("  shutdown_grace_sec: 2\n  port: {port}\n"),
    );
    let output = common::run(&config);
    let text = common::text(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(
        text.contains("failed to launch the same way") && text.contains(&format!("port {port}")),
        "the cause, once: {text}"
    );
    assert!(text.contains("status: FAILED (stopped early"), "{text}");
    let tried: std::collections::BTreeSet<u64> = common::records(&out.join("results.jsonl"))
        .iter()
        .filter_map(|r| r["candidate_id"].as_u64())
        .collect();
    assert_eq!(
        tried,
        [0, 1, 2].into(),
        "three identical launch failures of five candidates stop the run"
    );
    let last = last_event(&out);
    assert_eq!(last["status"], "failed");
    assert!(
        last["partial"]
            .as_str()
            .is_some_and(|p| p.contains("stopped early")),
        "{last}"
    );
    assert_outputs_parse(&out);
    assert_no_survivors(&out);
}

#[test]
fn a_taken_port_fails_the_launch_and_a_rerun_retries_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let (config, out) = config(dir.path(), ONE_CANDIDATE, ONE_SCENARIO, "[4, 8]");
    rewrite(
        &config,
        "  shutdown_grace_sec: 2\n",
        &format!("  shutdown_grace_sec: 2\n  port: {port}\n"),
    );
    let taken = common::run(&config);
    let text = common::text(&taken);
    assert_eq!(taken.status.code(), Some(2), "nothing could run: {text}");
    assert_eq!(last_event(&out)["status"], "failed");
    assert!(!text.contains("panicked"), "{text}");
    let failed = common::records(&out.join("results.jsonl"));
    assert!(!failed.is_empty());
    assert!(
        failed
            .iter()
            .all(|r| r["diagnosis"] == "spawn_failed" && r["failure"] == "launch"),
        "{failed:?}"
    );
    assert!(
        failed[0]["cause"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("port {port}")),
        "{failed:?}"
    );
    assert_eq!(common::count_events(&out, "trial_finished"), failed.len());
    assert_eq!(common::count_events(&out, "candidate_launching"), 0);
    assert_outputs_parse(&out);
    assert_no_survivors(&out);

    drop(holder);
    let freed = common::run(&config);
    assert_eq!(freed.status.code(), Some(0), "{}", common::text(&freed));
    let records = common::records(&out.join("results.jsonl"));
    assert!(
        records
            .iter()
            .all(|r| r["metrics"].is_object() && r.get("diagnosis").is_none_or(Value::is_null)),
        "every launch failure was retried and measured: {records:?}"
    );
    assert!(records.iter().all(|r| r["server_flags"]["port"] == port));
    assert_eq!(
        event_keys(&out, 1, "trial_reused").len(),
        0,
        "launch failures are not reused"
    );
    assert!(!event_keys(&out, 1, "trial_finished").is_empty());
    assert_outputs_parse(&out);
    assert_no_survivors(&out);
}

/// Whether this process runs with effective uid 0 (`/proc/self/status`: real, effective, ...).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
            .unwrap_or(false)
    })
}

/// A run whose output directory cannot be written must fail with status 2 and say where.
fn assert_refused(config: &Path, out: &Path) {
    let output = common::run(config);
    let text = common::text(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    assert!(text.starts_with("error: "), "{text}");
    assert!(
        text.contains(&out.display().to_string()),
        "names the path: {text}"
    );
}

#[test]
fn an_output_dir_that_cannot_be_written_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, out) = config(dir.path(), ONE_CANDIDATE, ONE_SCENARIO, "[4]");
    if running_as_root() {
        // chmod does not stop root: put a file where the output directory should be, and under
        // it, so that creating the directory fails both ways.
        std::fs::write(&out, "not a directory").expect("file");
        assert_refused(&config, &out);
        rewrite(
            &config,
            &format!("output_dir: {}", out.display()),
            &format!("output_dir: {}", out.join("run").display()),
        );
        assert_refused(&config, &out.join("run"));
        assert_eq!(
            std::fs::read_to_string(&out).expect("file"),
            "not a directory"
        );
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir(&out).expect("dir");
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o555)).expect("chmod");
        assert_refused(&config, &out);
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(std::fs::read_dir(&out).expect("dir").count(), 0);
    }
}
