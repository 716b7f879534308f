//! The human rendering of a run's events: a plain-text `progress.log` in the output directory
//! that a person can `tail -f` (no ANSI codes, no carriage returns), plus, on a terminal, a
//! progress bar with ETA and the running best; off a terminal (or with `--quiet` off), the same
//! plain lines on stderr. Nothing reads these lines back: readers use `events.jsonl`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use shared::api::RunStatus;
use shared::events::RunEvent;
use shared::metrics::{Metric, Series};
use shared::ranking;
use shared::record::{FailureKind, TrialRecord};
use shared::sla::Stat;

use crate::reporter::Reporter;

/// How chatty the console is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConsoleMode {
    /// Progress bar on a terminal, plain lines otherwise.
    Normal,
    /// Nothing but errors and the final summary.
    Quiet,
}

/// The run's human progress sink.
pub(crate) struct Progress {
    log: Mutex<Option<std::fs::File>>,
    bar: Option<ProgressBar>,
    plain: bool,
    best: Mutex<BTreeMap<String, Option<TrialRecord>>>,
}

impl Progress {
    /// Opens `progress.log` (appending) and sets up the console.
    pub(crate) fn new(log_path: &Path, mode: ConsoleMode) -> Progress {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .ok();
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = (mode == ConsoleMode::Normal && terminal).then(progress_bar);
        Progress {
            log: Mutex::new(log),
            plain: mode == ConsoleMode::Normal && !terminal,
            bar,
            best: Mutex::new(BTreeMap::new()),
        }
    }

    /// Logs one line.
    #[expect(clippy::print_stderr, reason = "progress lines go to stderr by design")]
    fn line(&self, message: &str) {
        let stamped = format!(
            "{} {message}",
            chrono::Local::now().format("%Y-%m-%d %H:%M:%S")
        );
        if let Ok(mut guard) = self.log.lock()
            && let Some(file) = guard.as_mut()
        {
            let _ = writeln!(file, "{stamped}");
            let _ = file.flush();
        }
        if let Some(bar) = &self.bar {
            bar.println(message);
        } else if self.plain {
            eprintln!("{stamped}");
        }
    }

    fn advance(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// Shows the running best per scenario after a trial.
    fn note_best(&self, record: &TrialRecord) {
        let Ok(mut best) = self.best.lock() else {
            return;
        };
        let entry = best.entry(record.scenario.clone()).or_default();
        if record.sla_passed
            && entry
                .as_ref()
                .is_none_or(|b| ranking::compare(record, b).is_gt())
        {
            *entry = Some(record.clone());
        }
        let text: Vec<String> = best
            .iter()
            .map(|(scenario, b)| match b {
                Some(b) => format!(
                    "{scenario}: cand {} @ {:.2} req/s",
                    b.candidate_id,
                    ranking::credited_rate(b)
                ),
                None => format!("{scenario}: best pending"),
            })
            .collect();
        if let Some(bar) = &self.bar {
            bar.set_message(text.join(" | "));
        }
    }
}

fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    let template = if std::env::var_os("NO_COLOR").is_none() {
        "{elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} trials, ETA {eta} | {msg}"
    } else {
        "{elapsed_precise} [{bar:30}] {pos}/{len} trials, ETA {eta} | {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

impl Reporter for Progress {
    fn report(&self, event: &RunEvent) {
        match event {
            RunEvent::RunStarted { plan } => {
                if let Some(bar) = &self.bar {
                    bar.set_length(plan.estimated_trials);
                }
            }
            RunEvent::TrialFinished { record } | RunEvent::TrialReused { record } => {
                self.advance();
                self.note_best(record);
            }
            RunEvent::RunFinished { .. } | RunEvent::RunFailed { .. } => {
                if let Some(bar) = &self.bar {
                    bar.finish_and_clear();
                }
            }
            _ => {}
        }
        if let Some(line) = render(event) {
            self.line(&line);
        }
    }
}

fn mc_text(mc: Option<u64>) -> String {
    mc.map_or("none".into(), |c| c.to_string())
}

/// The human line of an event (`None`: the event shows no line).
pub(crate) fn render(event: &RunEvent) -> Option<String> {
    Some(match event {
        RunEvent::RunStarted { plan } => format!(
            "candidates={} scenarios={} estimated_base_trials={}",
            plan.candidates.len(),
            plan.scenarios.len(),
            plan.estimated_trials
        ),
        RunEvent::Notice { text } => text.clone(),
        RunEvent::JobState {
            candidate,
            job,
            state,
            ..
        } => format!("cand {candidate}: {job} {state}"),
        RunEvent::ScenarioPrepared {
            scenario,
            dataset_file,
            rows,
            backend,
            resumed_records,
        } => format!(
            "scenario={scenario} prepared_dataset={dataset_file} rows={rows} selected_backend={backend} loaded_records={resumed_records}"
        ),
        RunEvent::StageStarted {
            stage,
            scenario: Some(scenario),
            candidates,
        } => format!(
            "[{stage}] scenario={scenario} candidates={}",
            candidates.len()
        ),
        RunEvent::StageStarted { .. } | RunEvent::CandidateDone { .. } => return None,
        RunEvent::CandidateLaunching {
            stage,
            candidate,
            command,
        } => format!("[{stage}] cand={candidate} launching: {command}"),
        RunEvent::CandidateReady {
            stage,
            candidate,
            startup_s,
            pgid,
        } => format!("[{stage}] cand={candidate} ready in {startup_s:.1}s (pgid {pgid})"),
        RunEvent::CandidateFailed {
            stage,
            candidate,
            diagnosis,
            failure,
            cause,
            ..
        } => {
            let what = match failure {
                FailureKind::Launch => "failed to start",
                FailureKind::ServerExit | FailureKind::Trial => "server failed",
            };
            let cause = cause.as_ref().map(|c| format!(": {c}")).unwrap_or_default();
            format!("[{stage}] cand={candidate} {what}: {diagnosis}{cause}")
        }
        RunEvent::TrialStarted {
            stage,
            candidate,
            scenario,
            qps,
            max_concurrency,
        } => format!(
            "[{stage}] cand={candidate} scenario={scenario} probing qps={qps:.4} mc={}",
            mc_text(*max_concurrency)
        ),
        RunEvent::TrialFinished { record } => trial_line(record),
        RunEvent::TrialReused { record } => format!(
            "[{}] resume: reusing cand={} scenario={} qps={:.4} mc={} ({})",
            record.stage,
            record.candidate_id,
            record.scenario,
            record.requested_qps,
            mc_text(record.max_concurrency),
            record.outcome_label()
        ),
        RunEvent::BudgetReached { budget_h } => {
            format!(
                "search_deadline_reached=true budget={}",
                shared::budget::budget_text(*budget_h).replace(' ', "")
            )
        }
        RunEvent::Interrupted => "interrupt received; stopping with partial results".into(),
        RunEvent::RunFinished { status, .. } => match status {
            RunStatus::Interrupted => "run interrupted; partial results written".into(),
            RunStatus::Failed => "run failed: nothing could be measured".into(),
            _ => "run finished; summary follows".into(),
        },
        RunEvent::RunFailed { error } => format!("run failed: {error}"),
    })
}

fn trial_line(r: &TrialRecord) -> String {
    let metric = |m: Metric| r.metric(m).map_or("-".into(), |v| format!("{v:.1}"));
    let warmup = r
        .steady
        .map(|w| {
            format!(
                " warmup={:.1}s/{}req({})",
                w.warmup_s,
                w.warmup_requests,
                match w.warmup_rule {
                    shared::steady::WarmupRule::Mser5 => "mser5",
                    shared::steady::WarmupRule::Floor => "floor",
                    shared::steady::WarmupRule::Cap => "cap",
                    shared::steady::WarmupRule::Stopped => "stopped",
                }
            )
        })
        .unwrap_or_default();
    // Every limit that failed, by name, with the measured value against it.
    let why = if r.sla_failures.is_empty() {
        String::new()
    } else {
        format!(" why: {}", r.sla_failures.join("; "))
    };
    let stopped = r
        .metrics
        .as_ref()
        .and_then(shared::metrics::TrialMetrics::stopped_early)
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    let accept = r
        .metric(Metric::AcceptLength)
        .map(|a| format!(" accept_length={a:.2}"))
        .unwrap_or_default();
    format!(
        "[{}] cand={} scenario={} qps={:.4} mc={} -> {} achieved={} tok/s={} p99_ttft={}ms p99_tpot={}ms n={}{accept}{stopped}{warmup}{}{why}",
        r.stage,
        r.candidate_id,
        r.scenario,
        r.requested_qps,
        mc_text(r.max_concurrency),
        r.outcome_label(),
        metric(Metric::AchievedRate),
        metric(Metric::OutputThroughput),
        metric(Metric::Latency(Series::Ttft, Stat::P99)),
        metric(Metric::Latency(Series::Tpot, Stat::P99)),
        r.metrics.as_ref().map_or(0, |m| m.completed),
        r.diagnosis
            .as_ref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trial_line_names_every_limit_that_failed_and_an_early_stop() {
        let record: TrialRecord = serde_json::from_value(serde_json::json!({
            "stage": "base", "candidate_id": 1, "scenario": "chat", "requested_qps": 23.06,
            "max_concurrency": null, "server_flags": {}, "sla_passed": false,
            "sla_failures": ["p99 TTFT 260.0 ms > 250 ms", "p99 TPOT 24.0 ms > 20 ms",
                             "early_stopped: 13 requests exceeded p99_tpot_ms 20 ms"],
            "metrics": {"completed": 17, "duration": 4.0, "planned_requests": 120,
                        "early_stopped": true, "early_stop_reason": "13 requests exceeded",
                        "p99_tpot_ms": 24.0}
        }))
        .expect("record");
        let line = trial_line(&record);
        assert!(
            line.contains("(stopped early at 17 of 120 requests)"),
            "{line}"
        );
        assert!(
            line.ends_with(
                "why: p99 TTFT 260.0 ms > 250 ms; p99 TPOT 24.0 ms > 20 ms; early_stopped: 13 requests exceeded p99_tpot_ms 20 ms"
            ),
            "{line}"
        );
    }
}
