//! Everything that happens in a run, as typed events: the session emits each [`RunEvent`] once,
//! `events.jsonl` stores them (one [`EventLine`] per line, appended and fsynced), and every view
//! of a run is a rendering of them: the progress bar and `progress.log` (human lines), the
//! dashboard's live state ([`RunView`]), `mirror`'s "has the remote run ended" and the report.
//!
//! Reading is forgiving: [`parse_lines`] keeps every line that parses and reports the others (a
//! torn last line after a crash, an event kind written by a newer version) as warnings naming the
//! line, so a damaged file never stops a reader.

use serde::{Deserialize, Serialize};

use crate::api::{CandidatePhase, CandidateState, RunStatus};
use crate::flags::FlagMap;
use crate::record::{Diagnosis, FailureKind, Stage, TrialRecord};

/// Layout version of `events.jsonl`.
pub const EVENTS_VERSION: u32 = 1;

/// One line of `events.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventLine {
    /// Position in the run (0, 1, ...; continues across resumes).
    pub seq: u64,
    /// When it happened (RFC 3339, UTC).
    pub at: String,
    /// What happened.
    #[serde(flatten)]
    pub event: RunEvent,
}

/// A candidate as the plan names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateInfo {
    /// Stage.
    pub stage: Stage,
    /// Index in the stage's candidate list.
    pub id: usize,
    /// Its server flags (without host/port).
    pub flags: FlagMap,
}

/// What the run is about to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPlan {
    /// Base candidates.
    pub candidates: Vec<CandidateInfo>,
    /// Scenario names.
    pub scenarios: Vec<String>,
    /// Estimated base-stage trials.
    pub estimated_trials: u64,
    /// Whether finished trials are reused.
    pub resume: bool,
    /// The writing process.
    pub pid: u32,
    /// autobench version.
    pub autobench_version: String,
    /// The measured length of a confirmation trial, in seconds (absent in older runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_trial_seconds: Option<f64>,
    /// `benchmark.gpu_hour_price` and its overrides, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_hour_price: Option<crate::cost::GpuPrice>,
}

/// One scenario's answer at the end of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioAnswer {
    /// Scenario name.
    pub scenario: String,
    /// The best trial's stage, candidate and credited rate, when one met the SLA.
    pub best: Option<BestTrial>,
    /// Its launch command.
    pub command: Option<String>,
    /// What re-measuring the top candidates found (absent when the stage did not run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<crate::verdict::Confirmation>,
}

/// The best SLA-passing trial of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestTrial {
    /// Stage.
    pub stage: Stage,
    /// Candidate index.
    pub candidate: usize,
    /// Credited rate (req/s).
    pub rate: f64,
    /// Concurrency cap.
    pub max_concurrency: Option<u64>,
}

/// Everything that happens in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    /// The run started (or resumed) with this plan.
    RunStarted {
        /// The plan.
        plan: RunPlan,
    },
    /// Something the user should know that is not a step of the search (config warnings,
    /// servers of an earlier run reaped).
    Notice {
        /// The text.
        text: String,
    },
    /// A scenario's dataset is ready.
    ScenarioPrepared {
        /// Scenario name.
        scenario: String,
        /// Prepared file.
        dataset_file: String,
        /// Requests.
        rows: usize,
        /// Request path (`sglang`, `sglang-oai`, ...).
        backend: String,
        /// Trials found on disk from an earlier run.
        resumed_records: usize,
    },
    /// A stage began (the speculative stage names its scenario and candidates).
    StageStarted {
        /// Stage.
        stage: Stage,
        /// Scenario, for per-scenario stages.
        scenario: Option<String>,
        /// Its candidates.
        candidates: Vec<CandidateInfo>,
    },
    /// A candidate's server is being started.
    CandidateLaunching {
        /// Stage.
        stage: Stage,
        /// Candidate index.
        candidate: usize,
        /// The launch command (secrets redacted).
        command: String,
    },
    /// It answers its health check.
    CandidateReady {
        /// Stage.
        stage: Stage,
        /// Candidate index.
        candidate: usize,
        /// Seconds it took.
        startup_s: f64,
        /// Its process group.
        pgid: i32,
    },
    /// It could not be started, or it died.
    CandidateFailed {
        /// Stage.
        stage: Stage,
        /// Candidate index.
        candidate: usize,
        /// Class.
        diagnosis: Diagnosis,
        /// At launch, or when the server exited later.
        failure: FailureKind,
        /// The one line that explains it (from the server log or the launcher).
        cause: Option<String>,
        /// What to do about it.
        hint: String,
    },
    /// A trial began.
    TrialStarted {
        /// Stage.
        stage: Stage,
        /// Candidate index.
        candidate: usize,
        /// Scenario name.
        scenario: String,
        /// Offered rate (req/s).
        qps: f64,
        /// Concurrency cap.
        max_concurrency: Option<u64>,
    },
    /// A trial ended and its record is on disk.
    TrialFinished {
        /// The record.
        record: Box<TrialRecord>,
    },
    /// A trial of an earlier run was reused by resume.
    TrialReused {
        /// The record.
        record: Box<TrialRecord>,
    },
    /// A candidate's walks are done and its server stopped.
    CandidateDone {
        /// Stage.
        stage: Stage,
        /// Candidate index.
        candidate: usize,
    },
    /// Where a candidate runs when it runs elsewhere than in the run's own process: its worker
    /// (`worker pid 123`: `on GPU(s) 0,1, cores 0-7`) or its Slurm job (`Slurm job 42`:
    /// `PENDING (Resources)`, `RUNNING on node1`, `COMPLETED (done)`).
    JobState {
        /// Stage.
        stage: Stage,
        /// Candidate index.
        candidate: usize,
        /// The worker or job.
        job: String,
        /// Where it stands.
        state: String,
    },
    /// The time budget ran out.
    BudgetReached {
        /// The budget in hours.
        budget_h: f64,
    },
    /// A signal stopped the run.
    Interrupted,
    /// The run ended; partial results say why they are partial.
    RunFinished {
        /// Finished, partial, interrupted or failed (nothing could be measured).
        status: RunStatus,
        /// Why the search did not complete.
        partial: Option<String>,
        /// The answer per scenario.
        answers: Vec<ScenarioAnswer>,
    },
    /// The run stopped with an error.
    RunFailed {
        /// The error.
        error: String,
    },
}

/// A line of `events.jsonl` that could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedLine {
    /// 1-based line number.
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// Parses `events.jsonl` text: every line that parses, and a warning per line that did not.
pub fn parse_lines(text: &str) -> (Vec<EventLine>, Vec<SkippedLine>) {
    let mut events = Vec::new();
    let mut skipped = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<EventLine>(line) {
            Ok(event) => events.push(event),
            Err(error) => skipped.push(SkippedLine {
                line: index + 1,
                reason: error.to_string(),
            }),
        }
    }
    (events, skipped)
}

/// A run's live state, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    /// Where it stands (`None` before anything was written).
    pub status: Option<RunStatus>,
    /// First event time.
    pub started_at: Option<String>,
    /// Last event time.
    pub last_at: Option<String>,
    /// Every candidate's state.
    pub candidates: Vec<CandidateState>,
    /// Trials finished (measured or reused).
    pub trials_done: usize,
    /// Trials planned for the base stage.
    pub trials_planned: Option<usize>,
    /// The measured length of a confirmation trial, in seconds, from the plan.
    pub confirm_trial_seconds: Option<f64>,
    /// The price of one GPU-hour (and its overrides), from the plan.
    pub gpu_hour_price: Option<crate::cost::GpuPrice>,
    /// Why the run is partial or failed.
    pub partial: Option<String>,
    /// The answers, once finished.
    pub answers: Vec<ScenarioAnswer>,
    /// The writing process.
    pub pid: Option<u32>,
    /// The baseline's flags (candidate 0 of the base stage), which candidates are named against.
    #[serde(default)]
    pub baseline: Option<crate::flags::FlagMap>,
    /// Trials started and not finished yet (several at once with partitions or Slurm).
    #[serde(default)]
    pub in_flight: Vec<TrialInFlight>,
    /// Scenarios whose confirmation stage began, in the order it began.
    #[serde(default)]
    pub confirming: Vec<String>,
}

/// A trial that started and has not finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialInFlight {
    /// Stage.
    pub stage: Stage,
    /// Candidate index.
    pub candidate: usize,
    /// Scenario name.
    pub scenario: String,
    /// Offered rate (req/s).
    pub qps: f64,
    /// When it started (RFC 3339).
    pub since: String,
}

impl RunView {
    /// Folds every event.
    pub fn from_events(events: &[EventLine]) -> RunView {
        let mut view = RunView::default();
        for line in events {
            view.apply(line);
        }
        view
    }

    /// Takes one event into account.
    pub fn apply(&mut self, line: &EventLine) {
        if self.started_at.is_none() {
            self.started_at = Some(line.at.clone());
        }
        self.last_at = Some(line.at.clone());
        match &line.event {
            RunEvent::RunStarted { plan } => self.start(plan),
            RunEvent::StageStarted {
                candidates,
                stage,
                scenario,
            } => {
                let confirming = scenario
                    .as_ref()
                    .filter(|n| stage.is_check() && !self.confirming.contains(n));
                if let Some(name) = confirming {
                    self.confirming.push(name.clone());
                }
                for c in candidates {
                    self.set(c.stage, c.id, CandidatePhase::Waiting);
                    self.name(c);
                }
            }
            RunEvent::CandidateLaunching {
                stage,
                candidate,
                command,
            } => {
                self.set(*stage, *candidate, CandidatePhase::Launching);
                if let Some(c) = self.find_mut(*stage, *candidate) {
                    c.command = Some(command.clone());
                }
            }
            RunEvent::CandidateReady {
                stage, candidate, ..
            } => self.set(*stage, *candidate, CandidatePhase::WarmingUp),
            RunEvent::CandidateFailed {
                stage,
                candidate,
                diagnosis,
                cause,
                ..
            } => {
                self.in_flight
                    .retain(|t| !(t.stage == *stage && t.candidate == *candidate));
                self.set(
                    *stage,
                    *candidate,
                    CandidatePhase::Failed {
                        diagnosis: *diagnosis,
                        cause: cause.clone(),
                    },
                );
            }
            RunEvent::TrialStarted {
                stage,
                candidate,
                qps,
                scenario,
                ..
            } => {
                self.set(*stage, *candidate, CandidatePhase::Probing { qps: *qps });
                self.in_flight
                    .retain(|t| !(t.stage == *stage && t.candidate == *candidate));
                self.in_flight.push(TrialInFlight {
                    stage: *stage,
                    candidate: *candidate,
                    scenario: scenario.clone(),
                    qps: *qps,
                    since: line.at.clone(),
                });
            }
            RunEvent::TrialFinished { record } | RunEvent::TrialReused { record } => {
                self.trials_done += 1;
                self.in_flight
                    .retain(|t| !(t.stage == record.stage && t.candidate == record.candidate_id));
                if !matches!(
                    self.phase(record.stage, record.candidate_id),
                    Some(CandidatePhase::Failed { .. })
                ) {
                    self.set(record.stage, record.candidate_id, CandidatePhase::Measured);
                }
            }
            RunEvent::CandidateDone { stage, candidate } => {
                self.in_flight
                    .retain(|t| !(t.stage == *stage && t.candidate == *candidate));
                if !matches!(
                    self.phase(*stage, *candidate),
                    Some(CandidatePhase::Failed { .. })
                ) {
                    self.set(*stage, *candidate, CandidatePhase::Done);
                }
            }
            RunEvent::BudgetReached { budget_h } => {
                self.partial = Some(format!(
                    "search budget of {} reached",
                    crate::budget::budget_text(*budget_h)
                ));
            }
            RunEvent::Interrupted => {
                self.status = Some(RunStatus::Interrupted);
                self.in_flight.clear();
            }
            RunEvent::RunFinished {
                status,
                partial,
                answers,
            } => {
                self.status = Some(*status);
                self.partial.clone_from(partial);
                self.answers.clone_from(answers);
                self.settle_candidates();
            }
            RunEvent::RunFailed { error } => {
                self.status = Some(RunStatus::Failed);
                self.partial = Some(error.clone());
                self.settle_candidates();
            }
            RunEvent::JobState {
                stage,
                candidate,
                job,
                state,
            } => {
                if let Some(c) = self.find_mut(*stage, *candidate) {
                    c.job = Some(format!("{job}: {state}"));
                }
            }
            RunEvent::Notice { .. } | RunEvent::ScenarioPrepared { .. } => {}
        }
    }

    fn start(&mut self, plan: &RunPlan) {
        // A resumed run starts again: its counts restart from what it reuses.
        *self = RunView {
            started_at: self.started_at.take(),
            last_at: self.last_at.take(),
            status: Some(RunStatus::Running),
            trials_planned: usize::try_from(plan.estimated_trials).ok(),
            confirm_trial_seconds: plan.confirm_trial_seconds,
            gpu_hour_price: plan.gpu_hour_price.clone(),
            pid: Some(plan.pid),
            ..RunView::default()
        };
        self.baseline = plan
            .candidates
            .iter()
            .find(|c| c.stage == Stage::Base && c.id == 0)
            .map(|c| c.flags.clone());
        for c in &plan.candidates {
            self.set(c.stage, c.id, CandidatePhase::Waiting);
            self.name(c);
        }
    }

    /// Names a candidate by what it changes from the baseline.
    fn name(&mut self, info: &CandidateInfo) {
        let label = match &self.baseline {
            Some(baseline) => crate::naming::change(&info.flags, baseline),
            None => format!("cand {}", info.id),
        };
        if let Some(c) = self.find_mut(info.stage, info.id) {
            c.label = label;
        }
    }

    fn find_mut(&mut self, stage: Stage, id: usize) -> Option<&mut CandidateState> {
        self.candidates
            .iter_mut()
            .find(|c| c.stage == stage && c.id == id)
    }

    /// A candidate that was still busy when the run ended is shown as stopped, not as probing.
    fn settle_candidates(&mut self) {
        self.in_flight.clear();
        for c in &mut self.candidates {
            if matches!(
                c.phase,
                CandidatePhase::Launching
                    | CandidatePhase::WarmingUp
                    | CandidatePhase::Probing { .. }
                    | CandidatePhase::Measured
            ) {
                c.phase = CandidatePhase::Stopped;
            }
        }
    }

    fn phase(&self, stage: Stage, id: usize) -> Option<&CandidatePhase> {
        self.candidates
            .iter()
            .find(|c| c.stage == stage && c.id == id)
            .map(|c| &c.phase)
    }

    fn set(&mut self, stage: Stage, id: usize, phase: CandidatePhase) {
        match self
            .candidates
            .iter_mut()
            .find(|c| c.stage == stage && c.id == id)
        {
            Some(existing) => existing.phase = phase,
            None => self.candidates.push(CandidateState {
                stage,
                id,
                phase,
                label: format!("cand {id}"),
                command: None,
                job: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64, event: RunEvent) -> EventLine {
        EventLine {
            seq,
            at: format!("2026-01-01T00:00:{seq:02}Z"),
            event,
        }
    }

    fn plan(candidates: usize) -> RunPlan {
        RunPlan {
            candidates: (0..candidates)
                .map(|id| CandidateInfo {
                    stage: Stage::Base,
                    id,
                    flags: FlagMap::new(),
                })
                .collect(),
            scenarios: vec!["s".into()],
            estimated_trials: 9,
            resume: false,
            pid: 42,
            autobench_version: "0".into(),
            confirm_trial_seconds: Some(24.0),
            gpu_hour_price: None,
        }
    }

    #[test]
    fn the_view_knows_the_trial_in_flight_and_which_confirmations_began() {
        let confirm = |scenario: &str| RunEvent::StageStarted {
            stage: Stage::Confirm,
            scenario: Some(scenario.into()),
            candidates: Vec::new(),
        };
        let started = RunEvent::TrialStarted {
            stage: Stage::Confirm,
            candidate: 1,
            scenario: "chat".into(),
            qps: 21.9,
            max_concurrency: None,
        };
        let mut events = vec![
            line(0, RunEvent::RunStarted { plan: plan(2) }),
            line(1, confirm("chat")),
            line(2, started),
        ];
        let view = RunView::from_events(&events);
        assert_eq!(view.confirming, ["chat"]);
        assert_eq!(
            view.in_flight
                .iter()
                .map(|t| (t.candidate, t.scenario.as_str(), t.qps))
                .collect::<Vec<_>>(),
            [(1, "chat", 21.9)]
        );
        events.push(line(
            3,
            RunEvent::CandidateDone {
                stage: Stage::Confirm,
                candidate: 1,
            },
        ));
        events.push(line(4, confirm("summarization")));
        let view = RunView::from_events(&events);
        assert!(view.in_flight.is_empty());
        assert_eq!(view.confirming, ["chat", "summarization"]);
    }

    #[test]
    fn the_view_follows_the_events() {
        let events = [
            line(0, RunEvent::RunStarted { plan: plan(3) }),
            line(
                1,
                RunEvent::CandidateLaunching {
                    stage: Stage::Base,
                    candidate: 0,
                    command: "x".into(),
                },
            ),
            line(
                2,
                RunEvent::TrialStarted {
                    stage: Stage::Base,
                    candidate: 0,
                    scenario: "s".into(),
                    qps: 12.5,
                    max_concurrency: None,
                },
            ),
            line(
                3,
                RunEvent::CandidateFailed {
                    stage: Stage::Base,
                    candidate: 1,
                    diagnosis: Diagnosis::Oom,
                    failure: FailureKind::Launch,
                    cause: Some("CUDA out of memory".into()),
                    hint: "less memory".into(),
                },
            ),
        ];
        let view = RunView::from_events(&events);
        let phases: Vec<String> = view
            .candidates
            .iter()
            .map(|c| c.phase.to_string())
            .collect();
        assert_eq!(
            phases,
            [
                "probing 12.5000 req/s",
                "failed: oom (CUDA out of memory)",
                "waiting"
            ]
        );
        assert_eq!(view.status, Some(RunStatus::Running));
        assert_eq!(view.trials_planned, Some(9));
        let mut ended = events.to_vec();
        ended.push(line(
            4,
            RunEvent::RunFinished {
                status: RunStatus::Interrupted,
                partial: Some("interrupted".into()),
                answers: vec![],
            },
        ));
        let view = RunView::from_events(&ended);
        assert_eq!(view.status, Some(RunStatus::Interrupted));
        assert_eq!(view.candidates[0].phase, CandidatePhase::Stopped);
    }

    #[test]
    fn unreadable_lines_are_skipped_and_named() {
        let good = serde_json::to_string(&line(0, RunEvent::Interrupted)).expect("json");
        let text = format!(
            "{good}\n{{\"seq\":1,\"at\":\"x\",\"event\":\"from_the_future\"}}\n{good}\n{{\"seq\":3,\"at"
        );
        let (events, skipped) = parse_lines(&text);
        assert_eq!(events.len(), 2);
        let lines: Vec<usize> = skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, [2, 4]);
    }
}
