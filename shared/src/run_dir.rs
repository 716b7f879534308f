//! The layout of a run's output directory, named once. Every reader and writer (the session, the
//! dashboard, `mirror`, `report`) gets its paths from [`RunDir`] and [`ScenarioDir`]; no other
//! module spells a run file's name.
//!
//! ```text
//! RUN/                         RunDir
//!   run_meta.json              what the results were measured with, and which process runs it
//!   events.jsonl               every RunEvent, appended and fsynced (the typed contract)
//!   progress.log               the same events as human lines (for `tail -f` and `mirror`)
//!   report.html                the self-contained report
//!   SUMMARY.md, scenario_summary.{jsonl,csv}   several scenarios only
//!   logs/server_<stage>_cand<N>.log            each candidate's server output
//!   .autobench/                private state (server registry)
//!   <scenario>/ or RUN/        ScenarioDir: one scenario's files (the run folder itself when
//!                              the run has one scenario)
//!     live_results.jsonl       appended and fsynced as each trial ends
//!     results.jsonl, results.csv, summary.md, prepared_dataset.jsonl
//!     requests/<trial_key>.jsonl   each trial's per-request timings (warm-up and cool-down marked)
//! ```

use std::path::{Path, PathBuf};

use crate::record::Stage;

/// A run's output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// `run_meta.json`.
    pub const META: &'static str = "run_meta.json";
    /// `events.jsonl`.
    pub const EVENTS: &'static str = "events.jsonl";
    /// `progress.log`.
    pub const PROGRESS_LOG: &'static str = "progress.log";
    /// `report.html`.
    pub const REPORT: &'static str = "report.html";
    /// `SUMMARY.md` (several scenarios).
    pub const RUN_SUMMARY: &'static str = "SUMMARY.md";
    /// `scenario_summary.jsonl`.
    pub const SCENARIO_SUMMARY_JSONL: &'static str = "scenario_summary.jsonl";
    /// `scenario_summary.csv`.
    pub const SCENARIO_SUMMARY_CSV: &'static str = "scenario_summary.csv";
    /// The server logs' folder.
    pub const LOGS: &'static str = "logs";
    /// The config the run was started with, secrets redacted (for a rerun at other limits).
    pub const CONFIG: &'static str = "config.yaml";

    /// The run directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> RunDir {
        RunDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `run_meta.json`.
    pub fn meta(&self) -> PathBuf {
        self.root.join(Self::META)
    }

    /// `config.yaml`: the config the run was started with, secrets redacted.
    pub fn config(&self) -> PathBuf {
        self.root.join(Self::CONFIG)
    }

    /// `events.jsonl`.
    pub fn events(&self) -> PathBuf {
        self.root.join(Self::EVENTS)
    }

    /// `progress.log`.
    pub fn progress_log(&self) -> PathBuf {
        self.root.join(Self::PROGRESS_LOG)
    }

    /// `report.html`.
    pub fn report(&self) -> PathBuf {
        self.root.join(Self::REPORT)
    }

    /// `SUMMARY.md`.
    pub fn run_summary(&self) -> PathBuf {
        self.root.join(Self::RUN_SUMMARY)
    }

    /// `scenario_summary.jsonl`.
    pub fn scenario_summary_jsonl(&self) -> PathBuf {
        self.root.join(Self::SCENARIO_SUMMARY_JSONL)
    }

    /// `scenario_summary.csv`.
    pub fn scenario_summary_csv(&self) -> PathBuf {
        self.root.join(Self::SCENARIO_SUMMARY_CSV)
    }

    /// The server logs' folder.
    pub fn logs(&self) -> PathBuf {
        self.root.join(Self::LOGS)
    }

    /// One candidate's server log.
    pub fn server_log(&self, stage: Stage, candidate: usize) -> PathBuf {
        self.logs()
            .join(format!("server_{stage}_cand{candidate}.log"))
    }

    /// Private state (the registry of launched servers).
    pub fn state(&self) -> PathBuf {
        self.root.join(".autobench")
    }

    /// A scenario's folder: the run folder itself for a single-scenario run, `RUN/<slug>`
    /// otherwise.
    pub fn scenario(&self, slug: &str, single: bool) -> ScenarioDir {
        ScenarioDir {
            dir: if single {
                self.root.clone()
            } else {
                self.root.join(slug)
            },
        }
    }

    /// Whether `name` is a log the dashboard may show: `progress.log` or `logs/<name>.log`.
    pub fn is_log_name(name: &str) -> bool {
        name == Self::PROGRESS_LOG
            || name
                .strip_prefix("logs/")
                .is_some_and(|n| n.ends_with(".log") && !n.contains('/') && !n.starts_with('.'))
    }
}

/// One scenario's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioDir {
    dir: PathBuf,
}

impl ScenarioDir {
    /// `live_results.jsonl`.
    pub const LIVE_RESULTS: &'static str = "live_results.jsonl";
    /// `results.jsonl`.
    pub const RESULTS: &'static str = "results.jsonl";
    /// `results.csv`.
    pub const RESULTS_CSV: &'static str = "results.csv";
    /// `summary.md`.
    pub const SUMMARY: &'static str = "summary.md";
    /// `prepared_dataset.jsonl`.
    pub const PREPARED_DATASET: &'static str = "prepared_dataset.jsonl";
    /// `requests/`: per-request timings, one file per trial.
    pub const REQUESTS: &'static str = "requests";

    /// A scenario folder at `dir` (for readers that found it on disk).
    pub fn at(dir: impl Into<PathBuf>) -> ScenarioDir {
        ScenarioDir { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `live_results.jsonl`.
    pub fn live_results(&self) -> PathBuf {
        self.dir.join(Self::LIVE_RESULTS)
    }

    /// `results.jsonl`.
    pub fn results(&self) -> PathBuf {
        self.dir.join(Self::RESULTS)
    }

    /// `results.csv`.
    pub fn results_csv(&self) -> PathBuf {
        self.dir.join(Self::RESULTS_CSV)
    }

    /// `summary.md`.
    pub fn summary(&self) -> PathBuf {
        self.dir.join(Self::SUMMARY)
    }

    /// `prepared_dataset.jsonl`.
    pub fn prepared_dataset(&self) -> PathBuf {
        self.dir.join(Self::PREPARED_DATASET)
    }

    /// `requests/<trial_key>.jsonl`: a trial's per-request timings
    /// ([`crate::timings::RequestTiming`]). `None` for a key that is not a plain hex digest (it
    /// may come from outside, for example a dashboard request).
    pub fn requests(&self, trial_key: &str) -> Option<PathBuf> {
        let plain = !trial_key.is_empty()
            && trial_key.len() <= 64
            && trial_key.bytes().all(|b| b.is_ascii_hexdigit());
        plain.then(|| {
            self.dir
                .join(Self::REQUESTS)
                .join(format!("{trial_key}.jsonl"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_file_once() {
        let run = RunDir::new("/r");
        assert_eq!(run.events(), Path::new("/r/events.jsonl"));
        assert_eq!(
            run.server_log(Stage::Speculative, 3),
            Path::new("/r/logs/server_speculative_cand3.log")
        );
        assert_eq!(
            run.scenario("chat", true).results(),
            Path::new("/r/results.jsonl")
        );
        assert_eq!(
            run.scenario("chat", false).live_results(),
            Path::new("/r/chat/live_results.jsonl")
        );
        assert!(RunDir::is_log_name("logs/server_base_cand0.log"));
        for bad in [
            "logs/../x.log",
            "logs/.hidden.log",
            "run_meta.json",
            "logs/a/b.log",
        ] {
            assert!(!RunDir::is_log_name(bad), "{bad}");
        }
    }
}
