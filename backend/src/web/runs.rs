//! Runs under the results root, read from their files: found by `run_meta.json`,
//! `progress.log` or `scenario_summary.jsonl` (at most three folders deep), summarised for the
//! runs page, and detailed (candidate states and progress parsed from `progress.log`) for the run
//! page. Everything is read fresh from disk, so CLI runs, dashboard runs and folders synced from
//! another machine look the same.

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::session::owner::RunOwner;
use shared::api::{CandidateState, RunDetail, RunStatus, RunSummary, ScenarioView};

/// A run folder quiet for longer than this without a final line is shown as failed.
const QUIET_LIMIT: Duration = Duration::from_secs(30 * 60);

/// Files that make a folder a run: autobench's, and those of the upstream Python tool
/// (`results.jsonl`/`live_results.jsonl` at the top for one scenario, `SUMMARY.md` for several).
const MARKERS: [&str; 6] = [
    "run_meta.json",
    "progress.log",
    "scenario_summary.jsonl",
    "results.jsonl",
    "live_results.jsonl",
    "SUMMARY.md",
];

/// A folder written by the upstream Python tool (no `run_meta.json`): shown read-only.
fn is_upstream(dir: &Path) -> bool {
    !dir.join("run_meta.json").is_file()
}

/// Why a path was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PathError {
    /// Not a plain relative path under the root (or, for configs, under `references/`).
    #[error("refused path `{0}`: it must stay inside the results root or the references folder")]
    Outside(String),
    /// Nothing there.
    #[error("no run at `{0}`")]
    Missing(String),
}

/// Resolves `relative` under `root`, refusing absolute paths, `..`, and symlinks that lead out.
pub fn confined(root: &Path, relative: &str) -> Result<PathBuf, PathError> {
    let rel = Path::new(relative);
    let plain = rel
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !plain || relative.contains('\\') {
        return Err(PathError::Outside(relative.to_string()));
    }
    let canonical_root = root
        .canonicalize()
        .map_err(|_| PathError::Missing(relative.to_string()))?;
    let target = root
        .join(rel)
        .canonicalize()
        .map_err(|_| PathError::Missing(relative.to_string()))?;
    if target.starts_with(&canonical_root) {
        Ok(target)
    } else {
        Err(PathError::Outside(relative.to_string()))
    }
}

/// Resolves a path the user typed (absolute, or relative to the dashboard's working directory)
/// when it lies, after following symlinks, inside one of `roots`.
pub fn confined_to_any(roots: &[&Path], typed: &str) -> Result<PathBuf, PathError> {
    let target = Path::new(typed)
        .canonicalize()
        .map_err(|_| PathError::Missing(typed.to_string()))?;
    let inside = roots
        .iter()
        .filter_map(|root| root.canonicalize().ok())
        .any(|root| target.starts_with(root));
    if inside {
        Ok(target)
    } else {
        Err(PathError::Outside(typed.to_string()))
    }
}

/// Whether `dir` holds a run (autobench's or the upstream tool's).
pub fn is_run(dir: &Path) -> bool {
    MARKERS.iter().any(|m| dir.join(m).is_file())
}

/// Every run directory under `root`, as ids relative to it (`.` for the root itself).
pub fn discover(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    walk(root, root, 0, &mut found);
    found
}

fn walk(root: &Path, dir: &Path, depth: usize, found: &mut Vec<String>) {
    if is_run(dir) {
        let id = dir
            .strip_prefix(root)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        found.push(if id.is_empty() { ".".into() } else { id });
        return;
    }
    if depth >= 3 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        // Symlinked folders are not followed: a run must live inside the root.
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && !hidden {
            walk(root, &path, depth + 1, found);
        }
    }
}

/// Lines of the run's `progress.log` (empty when absent).
fn progress_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("progress.log"))
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

fn timestamp(line: &str) -> Option<chrono::NaiveDateTime> {
    chrono::NaiveDateTime::parse_from_str(line.get(..19)?, "%Y-%m-%d %H:%M:%S").ok()
}

fn status(dir: &Path, lines: &[String]) -> RunStatus {
    let has = |needle: &str| lines.iter().rev().take(40).any(|l| l.contains(needle));
    if has("run failed") {
        RunStatus::Failed
    } else if has("run interrupted") {
        RunStatus::Interrupted
    } else if has("run finished") {
        RunStatus::Finished
    } else if lines.is_empty() && has_final_results(dir) {
        // The upstream tool keeps no progress log; it writes results.jsonl when a scenario ends.
        RunStatus::Finished
    } else if owner_died(dir) {
        // Killed (`kill -9`, a reboot) before it could write a final line; resume continues it.
        RunStatus::Interrupted
    } else {
        let log = if dir.join("progress.log").is_file() {
            dir.join("progress.log")
        } else {
            dir.join("live_results.jsonl")
        };
        let quiet = std::fs::metadata(log)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok());
        match quiet {
            Some(q) if q > QUIET_LIMIT => RunStatus::Failed,
            _ => RunStatus::Running,
        }
    }
}

/// Whether the run's own process, on this machine, is gone.
fn owner_died(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("run_meta.json"))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .and_then(|meta| RunOwner::from_meta(&meta))
        .is_some_and(|owner| owner.is_local() && !owner.alive_locally())
}

fn has_final_results(dir: &Path) -> bool {
    dir.join("results.jsonl").is_file() || dir.join("SUMMARY.md").is_file()
}

/// The runs-page line of one run.
pub fn summary(root: &Path, id: &str) -> Result<RunSummary, PathError> {
    let dir = confined(root, id)?;
    let lines = progress_lines(&dir);
    let data = crate::report::load(&dir).ok();
    let scenarios = data
        .as_ref()
        .map(|d| d.scenarios.as_slice())
        .unwrap_or_default();
    let first = lines.iter().find_map(|l| timestamp(l));
    let last = lines.iter().rev().find_map(|l| timestamp(l));
    Ok(RunSummary {
        id: id.to_string(),
        status: status(&dir, &lines),
        scenarios: scenarios.iter().map(|s| s.name.clone()).collect(),
        best: scenarios
            .iter()
            .map(|s| (s.name.clone(), best_rate(&s.records)))
            .collect(),
        started_at: first.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
        duration_s: first
            .zip(last)
            .map(|(a, b)| (b - a).num_milliseconds() as f64 / 1000.0),
        trials: scenarios.iter().map(|s| s.records.len()).sum(),
        upstream: is_upstream(&dir),
    })
}

fn best_rate(records: &[shared::record::TrialRecord]) -> Option<f64> {
    shared::ranking::best_passing(records).map(shared::ranking::credited_rate)
}

/// Every run, newest first.
pub fn list(root: &Path) -> Vec<RunSummary> {
    let mut runs: Vec<RunSummary> = discover(root)
        .iter()
        .filter_map(|id| summary(root, id).ok())
        .collect();
    runs.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(a.id.cmp(&b.id)));
    runs
}

/// The run page.
pub fn detail(root: &Path, id: &str) -> Result<RunDetail, PathError> {
    let dir = confined(root, id)?;
    if !is_run(&dir) {
        return Err(PathError::Missing(id.to_string()));
    }
    let summary = summary(root, id)?;
    let lines = progress_lines(&dir);
    let data = crate::report::load(&dir).ok();
    let scenarios = data
        .map(|d| {
            d.scenarios
                .into_iter()
                .map(|s| {
                    let best = s.summary.as_ref().filter(|r| r["status"] == "ok");
                    ScenarioView {
                        best_command: best
                            .and_then(|r| r["launch_command"].as_str())
                            .map(str::to_string),
                        best_rate: best_rate(&s.records),
                        name: s.name,
                        records: s.records,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let (trials_done, trials_planned) = progress_counts(&lines);
    let eta_s = match (trials_planned, summary.duration_s) {
        (Some(planned), Some(elapsed))
            if trials_done > 0 && summary.status == RunStatus::Running =>
        {
            Some(elapsed / trials_done as f64 * planned.saturating_sub(trials_done) as f64)
        }
        _ => None,
    };
    Ok(RunDetail {
        candidates: candidate_states(&lines),
        trials_done,
        trials_planned,
        eta_s,
        logs: log_files(&dir),
        scenarios,
        summary,
    })
}

fn progress_counts(lines: &[String]) -> (usize, Option<usize>) {
    let planned = lines.iter().find_map(|l| {
        l.split_whitespace()
            .find_map(|w| w.strip_prefix("estimated_base_trials="))
            .and_then(|n| n.parse().ok())
    });
    let done = lines.iter().filter(|l| l.contains(" -> ")).count();
    (done, planned)
}

/// Candidate states from the progress log's `[stage] cand=N ...` lines (the last one wins).
pub fn candidate_states(lines: &[String]) -> Vec<CandidateState> {
    let mut states: Vec<CandidateState> = Vec::new();
    if let Some(total) = lines.iter().find_map(|l| {
        l.split_whitespace()
            .find_map(|w| w.strip_prefix("candidates="))
            .and_then(|n| n.parse::<usize>().ok())
    }) {
        states.extend((0..total).map(|id| CandidateState {
            stage: "base".into(),
            id,
            state: "waiting".into(),
        }));
    }
    for line in lines {
        let Some((stage, id, rest)) = parse_candidate_line(line) else {
            continue;
        };
        let state = if rest.starts_with("launching") {
            "launching".to_string()
        } else if rest.starts_with("ready in") {
            "warming up".to_string()
        } else if let Some(qps) = rest.split("probing qps=").nth(1) {
            let rate = qps.split_whitespace().next().unwrap_or("?");
            format!("probing {rate} req/s")
        } else if let Some(reason) = rest.strip_prefix("failed to start: ") {
            format!("failed: {reason}")
        } else if rest.contains(" -> ") {
            match rest.rsplit_once(" (").map(|(_, d)| d.trim_end_matches(')')) {
                Some(diagnosis) => format!("failed: {diagnosis}"),
                None => "done".to_string(),
            }
        } else {
            continue;
        };
        match states.iter_mut().find(|s| s.stage == stage && s.id == id) {
            Some(existing) => existing.state = state,
            None => states.push(CandidateState { stage, id, state }),
        }
    }
    states
}

fn parse_candidate_line(line: &str) -> Option<(String, usize, &str)> {
    let start = line.find('[')?;
    let end = line[start..].find(']')? + start;
    let stage = line[start + 1..end].to_string();
    let rest = line[end + 1..].trim_start().strip_prefix("cand=")?;
    let (id, rest) = rest.split_once(' ')?;
    Some((stage, id.parse().ok()?, rest))
}

fn log_files(dir: &Path) -> Vec<String> {
    let mut logs = Vec::new();
    if dir.join("progress.log").is_file() {
        logs.push("progress.log".to_string());
    }
    if let Ok(entries) = std::fs::read_dir(dir.join("logs")) {
        let mut servers: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.ends_with(".log") && !n.starts_with('.'))
            .map(|n| format!("logs/{n}"))
            .collect();
        servers.sort();
        logs.extend(servers);
    }
    logs
}

/// A log of a run: `progress.log` or `logs/<name>.log`, confined to the run folder; the last
/// `max_bytes` of it.
pub fn log_text(root: &Path, id: &str, file: &str, max_bytes: usize) -> Result<String, PathError> {
    let allowed = file == "progress.log"
        || file
            .strip_prefix("logs/")
            .is_some_and(|n| n.ends_with(".log") && !n.contains('/') && !n.starts_with('.'));
    if !allowed {
        return Err(PathError::Outside(file.to_string()));
    }
    let dir = confined(root, id)?;
    let relative = dir
        .strip_prefix(
            root.canonicalize()
                .map_err(|_| PathError::Missing(id.into()))?,
        )
        .map(|p| p.join(file))
        .map_err(|_| PathError::Outside(file.to_string()))?;
    let path = confined(root, &relative.to_string_lossy())?;
    Ok(crate::launcher::log_tail(&path, max_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_states_follow_the_progress_log() {
        let lines: Vec<String> = [
            "2026-01-01 00:00:00 candidates=3 scenarios=1 estimated_base_trials=9",
            "2026-01-01 00:00:01 [base] cand=0 launching: autobench sim",
            "2026-01-01 00:00:02 [base] cand=0 ready in 0.4s (pgid 1)",
            "2026-01-01 00:00:02 [base] cand=0 scenario=s probing qps=12.5000 mc=none",
            "2026-01-01 00:00:03 [base] cand=1 failed to start: oom",
            "2026-01-01 00:00:04 [base] cand=0 scenario=s qps=12.5000 mc=none -> pass achieved=12.5",
        ]
        .map(String::from)
        .to_vec();
        let states = candidate_states(&lines);
        let text: Vec<String> = states
            .iter()
            .map(|s| format!("{}:{}", s.id, s.state))
            .collect();
        assert_eq!(text, ["0:done", "1:failed: oom", "2:waiting"]);
        assert_eq!(progress_counts(&lines), (1, Some(9)));
    }

    #[test]
    fn paths_stay_inside_the_root() {
        let root = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(root.path().join("run")).expect("mkdir");
        std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).expect("symlink");
        assert!(confined(root.path(), "run").is_ok());
        for bad in ["../x", "/etc", "run/../../x", "escape", "a\\b"] {
            assert!(confined(root.path(), bad).is_err(), "{bad}");
        }
        assert!(log_text(root.path(), "run", "../secret.log", 100).is_err());
        assert!(log_text(root.path(), "run", "logs/../../x.log", 100).is_err());
    }
}
