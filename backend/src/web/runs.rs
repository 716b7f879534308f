//! Runs under the results root, read from their files: found by their marker files (at most three
//! folders deep), summarised for the runs page, and detailed for the run page. Status, progress
//! and candidate states are folded from the run's `events.jsonl` ([`RunView`]); folders written
//! before runs kept events (and the upstream tool's) are derived from their result files and
//! marked so. Everything is read fresh from disk, so CLI runs, dashboard runs and folders synced
//! from another machine look the same.

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use shared::api::{RunDetail, RunStatus, RunSummary, ScenarioView};
use shared::events::RunView;
use shared::run_dir::{RunDir, ScenarioDir};

use crate::session::owner::RunOwner;

/// A run folder quiet for longer than this without a final line is shown as failed.
const QUIET_LIMIT: Duration = Duration::from_secs(30 * 60);

/// Files that make a folder a run: autobench's, and those of the upstream Python tool
/// (`results.jsonl`/`live_results.jsonl` at the top for one scenario, `SUMMARY.md` for several).
const MARKERS: [&str; 7] = [
    RunDir::META,
    RunDir::EVENTS,
    RunDir::PROGRESS_LOG,
    RunDir::SCENARIO_SUMMARY_JSONL,
    ScenarioDir::RESULTS,
    ScenarioDir::LIVE_RESULTS,
    RunDir::RUN_SUMMARY,
];

/// A folder written by the upstream Python tool (no `run_meta.json`): shown read-only.
fn is_upstream(dir: &Path) -> bool {
    !RunDir::new(dir).meta().is_file()
}

/// Why a path was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum PathError {
    /// Not a plain relative path under the root (or, for configs, under `references/`).
    #[error("refused path `{0}`: it must stay inside the results root or the references folder")]
    Outside(String),
    /// Nothing there.
    #[error("no run at `{0}`")]
    Missing(String),
}

/// Resolves `relative` under `root`, refusing absolute paths, `..`, and symlinks that lead out.
pub(crate) fn confined(root: &Path, relative: &str) -> Result<PathBuf, PathError> {
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
pub(crate) fn confined_to_any(roots: &[&Path], typed: &str) -> Result<PathBuf, PathError> {
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
pub(crate) fn is_run(dir: &Path) -> bool {
    MARKERS.iter().any(|m| dir.join(m).is_file())
}

/// Every run directory under `root`, as ids relative to it (`.` for the root itself).
pub(crate) fn discover(root: &Path) -> Vec<String> {
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

/// The run's events folded into its live state, with a warning per unreadable line; `None`
/// for folders without `events.jsonl`.
fn run_view_with_warnings(dir: &Path) -> Option<(RunView, Vec<String>)> {
    let path = RunDir::new(dir).events();
    if !path.is_file() {
        return None;
    }
    let (events, warnings) = crate::reporter::read_events(&path);
    let warnings = warnings
        .into_iter()
        .map(|w| w.replace(&dir.display().to_string(), "."))
        .collect();
    Some((RunView::from_events(&events), warnings))
}

fn run_view(dir: &Path) -> Option<RunView> {
    run_view_with_warnings(dir).map(|(view, _)| view)
}

fn status(dir: &Path, view: Option<&RunView>) -> RunStatus {
    match view.and_then(|v| v.status) {
        Some(RunStatus::Running) | None => {}
        Some(ended) => return ended,
    }
    if view.is_none() && has_final_results(dir) {
        // Older folders and the upstream tool's: results.jsonl is written when a scenario ends.
        return RunStatus::Finished;
    }
    if owner_died(dir) {
        // Killed (`kill -9`, a reboot) before it could write a final event; resume continues it.
        return RunStatus::Interrupted;
    }
    match quiet_for(dir) {
        Some(quiet) if quiet > QUIET_LIMIT => RunStatus::Failed,
        _ => RunStatus::Running,
    }
}

/// How long the run's files have not changed.
fn quiet_for(dir: &Path) -> Option<Duration> {
    let run = RunDir::new(dir);
    [
        run.events(),
        run.progress_log(),
        ScenarioDir::at(dir).live_results(),
    ]
    .iter()
    .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
    .max()
    .and_then(|t| SystemTime::now().duration_since(t).ok())
}

/// Whether the run's own process, on this machine, is gone.
fn owner_died(dir: &Path) -> bool {
    std::fs::read_to_string(RunDir::new(dir).meta())
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .and_then(|meta| RunOwner::from_meta(&meta))
        .is_some_and(|owner| owner.is_local() && !owner.alive_locally())
}

fn has_final_results(dir: &Path) -> bool {
    ScenarioDir::at(dir).results().is_file() || RunDir::new(dir).run_summary().is_file()
}

/// An RFC 3339 time as local `YYYY-MM-DD HH:MM:SS`.
fn local_time(rfc3339: &str) -> Option<chrono::DateTime<chrono::Local>> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.with_timezone(&chrono::Local))
}

/// First and last moment of a run: from its events, or, for older folders, its trials.
fn time_span(
    view: Option<&RunView>,
    records: &[&shared::record::TrialRecord],
) -> Option<(
    chrono::DateTime<chrono::Local>,
    chrono::DateTime<chrono::Local>,
)> {
    if let Some(view) = view {
        let first = view.started_at.as_deref().and_then(local_time)?;
        let last = view.last_at.as_deref().and_then(local_time)?;
        return Some((first, last));
    }
    let starts: Vec<_> = records
        .iter()
        .filter_map(|r| local_time(&r.started_at).map(|t| (t, r.trial_duration_s)))
        .collect();
    let first = starts.iter().map(|(t, _)| *t).min()?;
    let last = starts
        .iter()
        .map(|(t, d)| *t + chrono::Duration::milliseconds((d * 1000.0) as i64))
        .max()?;
    Some((first, last))
}

/// The runs-page line of one run.
pub(crate) fn summary(root: &Path, id: &str) -> Result<RunSummary, PathError> {
    let dir = confined(root, id)?;
    let view = run_view(&dir);
    Ok(summarize(&dir, id, view.as_ref()))
}

fn summarize(dir: &Path, id: &str, view: Option<&RunView>) -> RunSummary {
    let data = crate::report::load(dir).ok();
    let scenarios = data
        .as_ref()
        .map(|d| d.scenarios.as_slice())
        .unwrap_or_default();
    let records: Vec<&shared::record::TrialRecord> =
        scenarios.iter().flat_map(|s| s.records.iter()).collect();
    let span = time_span(view, &records);
    let status = status(dir, view);
    let state = status.state();
    // The rate the answer gives (never one a check refuted), and what is missing when it was not
    // confirmed.
    let answers: Vec<(String, shared::answer::Answer)> = scenarios
        .iter()
        .map(|s| {
            let answer = view.and_then(|v| answer_for(&v.answers, &s.name, scenarios.len()));
            let words = shared::answer::answer(&shared::answer::Facts {
                records: &s.records,
                confirmation: answer.and_then(|a| a.confirmation.as_ref()),
                sla: None,
                state,
                gpu_hour_price: view.and_then(|v| v.gpu_hour_price.as_ref()),
            });
            (s.name.clone(), words)
        })
        .collect();
    RunSummary {
        id: id.to_string(),
        status,
        scenarios: scenarios.iter().map(|s| s.name.clone()).collect(),
        best: answers.iter().map(|(s, a)| (s.clone(), a.rate)).collect(),
        unconfirmed: answers
            .iter()
            .filter_map(|(s, a)| a.unconfirmed.clone().map(|m| (s.clone(), m)))
            .collect(),
        costs: answers
            .iter()
            .filter_map(|(s, a)| Some((s.clone(), a.rate.and(a.cost_per_million_output_tokens)?)))
            .collect(),
        started_at: span.map(|(a, _)| a.format("%Y-%m-%d %H:%M:%S").to_string()),
        duration_s: span.map(|(a, b)| (b - a).num_milliseconds() as f64 / 1000.0),
        trials: trial_count(records.iter().copied()),
        upstream: is_upstream(dir),
        derived: view.is_none(),
    }
}

/// The run's answer for a scenario: by name, or the only one of a one-scenario run (whose folder
/// is the run's own, so its files carry no scenario name).
fn answer_for<'a>(
    answers: &'a [shared::events::ScenarioAnswer],
    name: &str,
    scenarios: usize,
) -> Option<&'a shared::events::ScenarioAnswer> {
    answers
        .iter()
        .find(|a| a.scenario == name)
        .or_else(|| (scenarios == 1 && answers.len() == 1).then(|| &answers[0]))
}

/// Trials: every measured one, and a server's failure to start once (a multi-scenario run records
/// it in each scenario), so the runs list and the run page count the same.
fn trial_count<'a>(records: impl Iterator<Item = &'a shared::record::TrialRecord>) -> usize {
    let mut launches = std::collections::BTreeSet::new();
    records
        .filter(|r| !r.is_launch_failure() || launches.insert((r.stage.name(), r.candidate_id)))
        .count()
}

fn best_rate(records: &[shared::record::TrialRecord]) -> Option<f64> {
    shared::ranking::best_passing(records).map(shared::ranking::credited_rate)
}

/// A scenario of the run page: the answer once the run gave one, else the best so far, live from
/// the trials, with the launch command the run recorded for that candidate.
fn scenario_view(
    s: crate::report::ScenarioData,
    answer: Option<&shared::events::ScenarioAnswer>,
    view: Option<&shared::events::RunView>,
    running: bool,
) -> ScenarioView {
    use shared::record::Stage;
    // The trial behind the answer (the same rule as the run's summary), or the best so far.
    let best_trial = match answer.and_then(|a| a.confirmation.as_ref()) {
        Some(confirmation) => {
            shared::ranking::answer_trial(&s.records, Some(confirmation)).cloned()
        }
        None => shared::ranking::best_passing(s.records.iter().filter(|r| r.stage == Stage::Base))
            .cloned(),
    };
    let best_id = answer
        .and_then(|a| a.best.as_ref().map(|b| b.candidate))
        .or(best_trial.as_ref().map(|r| r.candidate_id));
    // A speculative answer's command is the speculative stage's candidate of that number.
    let best_stage = answer
        .and_then(|a| a.best.as_ref().map(|b| b.stage))
        .or(best_trial.as_ref().map(|r| r.stage))
        .unwrap_or(Stage::Base);
    let launched = |id: usize| {
        view?
            .candidates
            .iter()
            .find(|c| c.stage.numbered_like(best_stage) && c.id == id)
            .and_then(|c| c.command.clone())
    };
    let from_summary = s
        .summary
        .as_ref()
        .and_then(|r| r.confirmed_command())
        .map(str::to_string);
    let best_command = answer
        .and_then(|a| a.command.clone())
        .or(from_summary)
        .or_else(|| best_id.and_then(launched));
    let labels = labels(&s.records, view);
    let baseline_rate = best_rate(
        &s.records
            .iter()
            .filter(|r| r.stage == Stage::Base && r.candidate_id == 0)
            .cloned()
            .collect::<Vec<_>>(),
    );
    ScenarioView {
        best_command,
        best_rate: answer
            .and_then(|a| a.best.as_ref().map(|b| b.rate))
            .or_else(|| best_rate(&s.records)),
        confirmation: answer.and_then(|a| a.confirmation.clone()),
        best_label: best_id
            .filter(|_| !best_stage.speculative())
            .and_then(|id| labels.get(&id).cloned()),
        best_trial,
        baseline_rate,
        so_far: running && answer.is_none(),
        answer: None,
        checking: None,
        labels,
        name: s.name,
        records: s.records,
    }
}

/// What the card says while the scenario's confirmation runs (see [`shared::answer::checking`]);
/// `None` before it began.
fn checking(
    records: &[shared::record::TrialRecord],
    name: &str,
    view: &shared::events::RunView,
    scenarios: usize,
) -> Option<String> {
    let mine = |n: &String| n == name || scenarios == 1;
    let at = view.confirming.iter().position(mine)?;
    let probe = view
        .in_flight
        .iter()
        .find(|t| t.stage.is_check() && mine(&t.scenario))
        .map(|t| shared::answer::Probe {
            candidate: t.candidate,
            qps: t.qps,
        });
    let done = probe.is_none() && at + 1 < view.confirming.len();
    shared::answer::checking(records, probe, done)
}

/// Candidate names by id: from the run's events, else from the records' flags against candidate
/// 0's.
fn labels(
    records: &[shared::record::TrialRecord],
    view: Option<&shared::events::RunView>,
) -> std::collections::BTreeMap<usize, String> {
    use shared::record::Stage;
    let mut out = std::collections::BTreeMap::new();
    if let Some(view) = view {
        for c in view.candidates.iter().filter(|c| c.stage == Stage::Base) {
            out.insert(c.id, c.label.clone());
        }
    }
    if let Some(baseline) = shared::naming::baseline_flags(records) {
        for r in records {
            out.entry(r.candidate_id)
                .or_insert_with(|| shared::naming::change(&r.server_flags, &baseline));
        }
    }
    out
}

/// Every run, newest first.
pub(crate) fn list(root: &Path) -> Vec<RunSummary> {
    let mut runs: Vec<RunSummary> = discover(root)
        .iter()
        .filter_map(|id| summary(root, id).ok())
        .collect();
    runs.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(a.id.cmp(&b.id)));
    runs
}

/// The run page.
pub(crate) fn detail(root: &Path, id: &str) -> Result<RunDetail, PathError> {
    let dir = confined(root, id)?;
    if !is_run(&dir) {
        return Err(PathError::Missing(id.to_string()));
    }
    let (view, warnings) = match run_view_with_warnings(&dir) {
        Some((view, warnings)) => (Some(view), warnings),
        None => (None, Vec::new()),
    };
    let summary = summarize(&dir, id, view.as_ref());
    let answers = view.as_ref().map(|v| v.answers.clone()).unwrap_or_default();
    let running = summary.status == RunStatus::Running;
    let state = summary.status.state();
    let data = crate::report::load(&dir).ok();
    // The SLA the run judged with, also for the page's what-if.
    let sla = data.as_ref().and_then(crate::report::RunData::sla);
    let scenarios: Vec<ScenarioView> = data
        .map(|d| {
            let count = d.scenarios.len();
            d.scenarios
                .into_iter()
                .map(|s| {
                    let answer = answer_for(&answers, &s.name, count);
                    let words = shared::answer::answer(&shared::answer::Facts {
                        records: &s.records,
                        confirmation: answer.and_then(|a| a.confirmation.as_ref()),
                        sla: sla.as_ref(),
                        state,
                        gpu_hour_price: view.as_ref().and_then(|v| v.gpu_hour_price.as_ref()),
                    });
                    let checking = view
                        .as_ref()
                        .filter(|_| running && answer.is_none())
                        .and_then(|v| checking(&s.records, &s.name, v, count));
                    let mut scenario = scenario_view(s, answer, view.as_ref(), running);
                    // The rate the answer gives, never one its check refuted.
                    scenario.best_rate = words.rate;
                    scenario.answer = Some(words);
                    scenario.checking = checking;
                    scenario
                })
                .collect()
        })
        .unwrap_or_default();
    // The same count as the runs list's.
    let trials_done = summary.trials;
    let trials_planned = view.as_ref().and_then(|v| v.trials_planned);
    let eta_s = view.as_ref().and_then(|v| {
        let trials: Vec<super::eta::ScenarioTrials<'_>> = scenarios
            .iter()
            .map(|s| (s.name.as_str(), s.records.as_slice()))
            .collect();
        super::eta::eta(&trials, v, summary.duration_s, running)
    });
    let last_update = view.as_ref().and_then(|v| v.last_at.clone());
    let stale = summary.status == RunStatus::Running
        && last_update
            .as_deref()
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .is_some_and(|at| {
                (chrono::Utc::now() - at.with_timezone(&chrono::Utc)).num_seconds()
                    > shared::api::STALE_AFTER_S
            });
    let partial = view.as_ref().and_then(|v| v.partial.clone());
    let stop_refused = (summary.status == RunStatus::Running).then(|| {
        let pid = view.as_ref().and_then(|v| v.pid);
        match pid {
            Some(pid) => format!(
                "started outside this dashboard: stop it where it runs (Ctrl-C, or kill -INT {pid})"
            ),
            None => "started outside this dashboard: stop it where it runs (Ctrl-C)".to_string(),
        }
    });
    Ok(RunDetail {
        sla,
        partial,
        last_update,
        stale,
        stop_refused,
        candidates: view.map(|v| v.candidates).unwrap_or_default(),
        trials_done,
        trials_planned,
        eta_s,
        logs: log_files(&dir),
        scenarios,
        summary,
        warnings,
    })
}

fn log_files(dir: &Path) -> Vec<String> {
    let run = RunDir::new(dir);
    let mut logs = Vec::new();
    if run.progress_log().is_file() {
        logs.push(RunDir::PROGRESS_LOG.to_string());
    }
    if let Ok(entries) = std::fs::read_dir(run.logs()) {
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
pub(crate) fn log_text(
    root: &Path,
    id: &str,
    file: &str,
    max_bytes: usize,
) -> Result<String, PathError> {
    if !RunDir::is_log_name(file) {
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
    #[test]
    fn a_one_scenario_run_finds_its_answer_without_a_scenario_name() {
        let answer = |name: &str| shared::events::ScenarioAnswer {
            scenario: name.into(),
            best: None,
            command: Some(format!("cmd of {name}")),
            confirmation: None,
        };
        let one = [answer("input64-output8")];
        // A one-scenario run's folder is the run's own: its scenario reads as "default".
        assert!(super::answer_for(&one, "default", 1).is_some());
        let two = [answer("chat"), answer("summarization")];
        assert_eq!(
            super::answer_for(&two, "summarization", 2).and_then(|a| a.command.clone()),
            Some("cmd of summarization".into())
        );
        assert!(super::answer_for(&two, "default", 2).is_none());
    }

    use super::*;

    #[test]
    fn a_server_that_failed_to_start_counts_once_in_every_count() {
        let record = |scenario: &str, cand: usize, failure: &str| -> shared::record::TrialRecord {
            serde_json::from_value(serde_json::json!({
                "stage": "base", "scenario": scenario, "candidate_id": cand,
                "requested_qps": 4.0, "server_flags": {}, "sla_passed": false,
                "failure": failure, "metrics": {"completed": 10}
            }))
            .expect("record")
        };
        let records = [
            record("chat", 0, "trial"),
            record("chat", 4, "launch"),
            record("summ", 0, "trial"),
            record("summ", 4, "launch"),
        ];
        assert_eq!(trial_count(records.iter()), 3);
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
