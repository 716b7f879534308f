//! `report.html`: one self-contained file per run (inline CSS, inline SVG plots, no JavaScript, no
//! network) with the best launch command per scenario, the plots, the full trial table (the same
//! cells as `results.csv`), the failures with their hints, the settings and the environment.
//! `autobench report RUN_DIR` writes it; `run` writes it at the end of every run, interrupted
//! ones included.

mod html;
pub(crate) mod plots;
pub(crate) mod timeline;
mod whatif;

use std::path::{Path, PathBuf};

use anyhow::Context;
use shared::metrics::{Metric, Series};
use shared::outward::summary::ScenarioSummaryRow;
use shared::record::TrialRecord;
use shared::run_dir::{RunDir, ScenarioDir};
use shared::run_meta::RunMeta;
use shared::sla::{LatencyMetric, Sla, Stat};

/// One scenario's results as found on disk.
#[derive(Debug)]
pub(crate) struct ScenarioData {
    /// Display name.
    pub name: String,
    /// Its `scenario_summary.jsonl` row, when the run got that far.
    pub summary: Option<ScenarioSummaryRow>,
    /// Trial records (`results.jsonl`).
    pub records: Vec<TrialRecord>,
    /// `results.csv`: header and rows, as written.
    pub csv: Vec<Vec<String>>,
    /// Its folder (per-request timings live under `requests/`).
    pub folder: PathBuf,
}

/// Everything a report shows.
#[derive(Debug)]
pub(crate) struct RunData {
    /// The run directory.
    pub dir: PathBuf,
    /// `run_meta.json`, if present.
    pub meta: Option<RunMeta>,
    /// Scenarios in run order.
    pub scenarios: Vec<ScenarioData>,
    /// The answers of the run's final event (empty for older folders and unfinished runs).
    pub answers: Vec<shared::events::ScenarioAnswer>,
    /// The run's state folded from its events (status, why partial, candidate names).
    pub view: shared::events::RunView,
}

impl RunData {
    /// The SLA the run judged with, from `run_meta.json`.
    pub(crate) fn sla(&self) -> Option<Sla> {
        self.meta.as_ref()?.sla.clone()
    }
}

/// Reads a run directory (single-scenario runs keep results at the top, others one folder each).
pub(crate) fn load(dir: &Path) -> anyhow::Result<RunData> {
    anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
    let meta = crate::session::meta::load(&RunDir::new(dir))?;
    let mut scenarios = Vec::new();
    for (name, folder, summary) in scenario_folders(dir)? {
        // `results.jsonl` is rewritten after every trial; the upstream tool writes it only when a
        // scenario ends, so an upstream run in progress has only `live_results.jsonl`.
        let files = ScenarioDir::at(&folder);
        let records = if files.results().is_file() {
            crate::results::read_jsonl(&files.results())?
        } else {
            crate::results::read_jsonl(&files.live_results())?
        };
        let csv = read_csv(&files.results_csv())?;
        scenarios.push(ScenarioData {
            name,
            summary,
            records,
            csv,
            folder,
        });
    }
    anyhow::ensure!(
        !scenarios.is_empty(),
        "{} holds no autobench results (no results.jsonl, scenario_summary.jsonl or scenario folders)",
        dir.display()
    );
    let (events, _) = crate::reporter::read_events(&RunDir::new(dir).events());
    let view = shared::events::RunView::from_events(&events);
    let answers = view.answers.clone();
    Ok(RunData {
        dir: dir.to_path_buf(),
        meta,
        scenarios,
        answers,
        view,
    })
}

type Folder = (String, PathBuf, Option<ScenarioSummaryRow>);

fn scenario_folders(dir: &Path) -> anyhow::Result<Vec<Folder>> {
    let summary_path = RunDir::new(dir).scenario_summary_jsonl();
    if let Ok(text) = std::fs::read_to_string(&summary_path) {
        let mut out = Vec::new();
        for (index, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let row: ScenarioSummaryRow = serde_json::from_str(line).with_context(|| {
                format!(
                    "{}:{}: not a scenario summary row",
                    summary_path.display(),
                    index + 1
                )
            })?;
            let name = match row.scenario_name.as_str() {
                "" => "default".to_string(),
                name => name.to_string(),
            };
            let sub = row.scenario_dir.as_str();
            let folder = if sub == "." || (sub.is_empty() && has_results(dir)) {
                dir.to_path_buf()
            } else if sub.is_empty() {
                // Upstream rows name no folder: it is the scenario's slug.
                dir.join(slug(&name))
            } else {
                dir.join(sub)
            };
            out.push((name, folder, Some(row)));
        }
        return Ok(out);
    }
    if has_results(dir) {
        return Ok(vec![("default".into(), dir.to_path_buf(), None)]);
    }
    let mut subs: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| has_results(p))
        .collect();
    subs.sort();
    Ok(subs
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            (name, p, None)
        })
        .collect())
}

fn has_results(dir: &Path) -> bool {
    let files = ScenarioDir::at(dir);
    files.results().is_file() || files.live_results().is_file()
}

/// A scenario name as a folder name (`prefill_heavy` → `prefill-heavy`).
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn read_csv(path: &Path) -> anyhow::Result<Vec<Vec<String>>> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    reader
        .records()
        .map(|r| {
            r.map(|r| r.iter().map(str::to_string).collect())
                .with_context(|| format!("{} is not valid CSV", path.display()))
        })
        .collect()
}

/// The plotted metric for `stat` of `metric`, and the SLA limit on it, if any: the SLA's own
/// measure (from the scheduled or the sent time) when it limits that statistic, else the sent-time
/// statistic.
pub(crate) fn plotted_metric(
    sla: Option<&Sla>,
    metric: LatencyMetric,
    stat: Stat,
) -> (Metric, Option<f64>) {
    let limit = sla.and_then(|s| {
        s.limits
            .iter()
            .find(|l| l.metric == metric && l.stat == stat)
    });
    match limit {
        Some(l) => (l.measured(), Some(l.max_ms)),
        None => {
            let series = match metric {
                LatencyMetric::Ttft => Series::Ttft,
                LatencyMetric::Tpot => Series::Tpot,
                LatencyMetric::Itl => Series::Itl,
                LatencyMetric::E2e => Series::E2e,
            };
            (Metric::Latency(series, stat), None)
        }
    }
}

/// The trial behind the scenario's confirmed answer, ringed on its plots; `None` before the run
/// answered, or when its check confirmed no rate.
pub(crate) fn answer_mark(data: &RunData, scenario: &ScenarioData) -> Option<plots::AnswerMark> {
    let confirmation = data
        .answers
        .iter()
        .find(|a| a.scenario == scenario.name || data.scenarios.len() == 1)
        .and_then(|a| a.confirmation.as_ref())?;
    let words = shared::answer::answer(&shared::answer::Facts {
        records: &scenario.records,
        confirmation: Some(confirmation),
        sla: None,
        state: shared::answer::RunState::Finished,
        gpu_hour_price: None,
    });
    words.rate?;
    let trial = shared::ranking::answer_trial(&scenario.records, Some(confirmation))?;
    Some(plots::AnswerMark {
        stage: trial.stage,
        candidate: trial.candidate_id,
        requested_qps: trial.requested_qps,
    })
}

/// Writes `report.html` into the run directory and returns its path.
pub(crate) fn write(dir: &Path) -> anyhow::Result<PathBuf> {
    let data = load(dir)?;
    let path = RunDir::new(dir).report();
    crate::results::write_atomic(&path, html::render(&data).as_bytes())?;
    Ok(path)
}

/// Renders the report of a run directory as HTML (for the dashboard's export).
pub(crate) fn render(dir: &Path) -> anyhow::Result<String> {
    Ok(html::render(&load(dir)?))
}

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
