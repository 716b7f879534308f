//! Per-scenario state during a run: prepared dataset, request path, the records so far (resumed
//! and new), the stage incumbents, and writing the scenario's result files.

use std::collections::{HashMap, HashSet};

use anyhow::Context;

use shared::answer::{Answer, Facts, RunState, Standing};
use shared::ranking;
use shared::record::{Stage, TrialRecord};
use shared::run_dir::ScenarioDir;
use shared::verdict::Confirmation;

use crate::config::{ApiBackend, RunConfig, Scenario};
use crate::dataset::DatasetRow;
use crate::results::{self, command, csv_export, markdown};

/// One scenario's state.
pub(crate) struct ScenarioState {
    /// The scenario.
    pub scenario: Scenario,
    /// Output folder.
    pub dir: ScenarioDir,
    /// Prepared rows.
    pub rows: Vec<DatasetRow>,
    /// Request path.
    pub backend: ApiBackend,
    /// All records, resumed first, then new ones in order.
    pub records: Vec<TrialRecord>,
    /// Resumed records by trial key.
    pub stored: HashMap<String, TrialRecord>,
    /// Best passing credited rate so far, per stage, as replayed in this run.
    pub incumbent: HashMap<Stage, f64>,
    /// What the confirmation stage found, once it ran.
    pub confirmation: Option<Confirmation>,
    /// Trial keys of the records this run added.
    pub fresh: HashSet<String>,
}

impl ScenarioState {
    /// A scenario with the records an earlier run left.
    pub(crate) fn new(
        scenario: Scenario,
        dir: ScenarioDir,
        rows: Vec<DatasetRow>,
        backend: ApiBackend,
        records: Vec<TrialRecord>,
    ) -> ScenarioState {
        let stored = records
            .iter()
            .map(|r| (r.trial_key.clone(), r.clone()))
            .collect();
        ScenarioState {
            scenario,
            dir,
            rows,
            backend,
            records,
            stored,
            incumbent: HashMap::new(),
            confirmation: None,
            fresh: HashSet::new(),
        }
    }

    /// Takes a finished (or resumed) record into account for the incumbent.
    pub(crate) fn note_incumbent(&mut self, record: &TrialRecord) {
        if record.sla_passed && record.metrics.is_some() {
            let rate = record.requested_qps;
            let entry = self.incumbent.entry(record.stage).or_insert(rate);
            *entry = entry.max(rate);
        }
    }

    /// Adds a newly measured record: appended to the live log before anything else happens. A
    /// record with the same trial key (a retried launch failure) is replaced.
    pub(crate) fn push_new(&mut self, record: TrialRecord) -> anyhow::Result<()> {
        results::append_jsonl(&self.dir.live_results(), &record)?;
        self.note_incumbent(&record);
        self.records.retain(|r| r.trial_key != record.trial_key);
        self.fresh.insert(record.trial_key.clone());
        self.records.push(record);
        Ok(())
    }

    /// Records with `best_for_candidate` marked on the best passing trial of each walk.
    pub(crate) fn marked_records(&self) -> Vec<TrialRecord> {
        let mut records = self.records.clone();
        let mut best: HashMap<(Stage, usize, Option<u64>), usize> = HashMap::new();
        for (i, r) in records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.sla_passed && r.metrics.is_some())
        {
            let key = (r.stage, r.candidate_id, r.max_concurrency);
            match best.get(&key) {
                Some(&j) if records[j].requested_qps >= r.requested_qps => {}
                _ => {
                    best.insert(key, i);
                }
            }
        }
        for r in &mut records {
            r.best_for_candidate = false;
        }
        for i in best.into_values() {
            records[i].best_for_candidate = true;
        }
        records
    }

    /// Rewrites `results.jsonl`, `results.csv` and `summary.md` (`state`: where the run stands,
    /// for the answer's words).
    pub(crate) fn write_outputs(
        &self,
        cfg: &RunConfig,
        partial: Option<&str>,
        state: RunState,
    ) -> anyhow::Result<()> {
        let records = self.marked_records();
        results::write_atomic(&self.dir.results(), &results::jsonl_bytes(&records)?)?;
        let csv = csv_export::to_csv(&records).context("cannot render results.csv")?;
        results::write_atomic(&self.dir.results_csv(), &csv)?;
        let facts = markdown::ScenarioFacts {
            name: &self.scenario.name,
            dataset: dataset_line(cfg, &self.scenario),
            requests: self.rows.len(),
            partial,
            best_command: self.best_command(cfg),
            best: self.best(),
            sla: sla_text(cfg),
            answer: self.answer(cfg, state),
        };
        results::write_atomic(
            &self.dir.summary(),
            markdown::scenario_summary(&facts, &records).as_bytes(),
        )
    }

    /// The launch command of the best SLA-passing trial.
    pub(crate) fn best_command(&self, cfg: &RunConfig) -> Option<String> {
        self.best().map(|best| {
            let mut flags = best.server_flags.clone();
            if cfg.server.port.is_none() {
                // autobench picked a free port for this launch; the user chooses their own.
                flags.remove("port");
            }
            command::render(&cfg.server, &flags)
        })
    }

    /// The trial behind the answer ([`ranking::answer_trial`]): every figure shown with the
    /// answer comes from it.
    pub(crate) fn best(&self) -> Option<&TrialRecord> {
        ranking::answer_trial(&self.records, self.confirmation.as_ref())
    }

    /// The answer in words ([`shared::answer`]), the same on every surface.
    pub(crate) fn answer(&self, cfg: &RunConfig, state: RunState) -> Answer {
        shared::answer::answer(&Facts {
            records: &self.records,
            confirmation: self.confirmation.as_ref(),
            sla: Some(&cfg.benchmark.sla),
            state,
            gpu_hour_price: cfg.benchmark.gpu_hour_price.as_ref(),
        })
    }

    /// Every candidate's place, for the CLI's table.
    pub(crate) fn standings(&self, cfg: &RunConfig) -> Vec<Standing> {
        shared::answer::standings(
            &self.records,
            self.confirmation.as_ref(),
            Some(&cfg.benchmark.sla),
            cfg.benchmark.gpu_hour_price.as_ref(),
        )
    }
}

/// "random (synthetic), input 512 / output 64 tokens" and the like.
pub(crate) fn dataset_line(cfg: &RunConfig, scenario: &Scenario) -> String {
    match (scenario.input_len, scenario.output_len) {
        (Some(input), Some(output)) => format!(
            "random (synthetic traffic), input {input} / output {output} tokens, exact lengths{}",
            cfg.dataset
                .random_range_ratio
                .filter(|r| *r < 1.0)
                .map(|r| format!(" (range ratio {r})"))
                .unwrap_or_default()
        ),
        _ => {
            let origin = match cfg.dataset.kind {
                crate::config::DatasetKind::Custom => "real traffic from a file",
                crate::config::DatasetKind::Sharegpt => "real conversations (ShareGPT)",
                _ => "synthetic traffic",
            };
            let path = cfg
                .dataset
                .path
                .as_ref()
                .map(|p| format!(", {}", p.display()))
                .unwrap_or_default();
            format!("{} ({origin}){path}", cfg.dataset.kind.name())
        }
    }
}

/// The SLA in words.
pub(crate) fn sla_text(cfg: &RunConfig) -> String {
    cfg.benchmark.sla.plain()
}
