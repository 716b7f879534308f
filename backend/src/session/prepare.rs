//! Before the search: the output folder, `run_meta.json` (refusing a resume whose settings or
//! datasets changed), and each scenario's prepared dataset, request path and resumed records.

use std::path::Path;

use anyhow::{Context, bail};

use shared::events::RunEvent;
use shared::run_dir::RunDir;
use shared::run_meta::{META_VERSION, ProcessRef, RunMeta, changed_settings};

use super::{ScenarioState, meta, owner};
use crate::config::{ApiBackend, RunConfig};
use crate::reporter::Reporter;
use crate::results;

/// Creates the output folder.
pub(super) fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

/// Refuses a resume over results measured with other settings, then records this run's. Answers
/// whether the SLA differs from the one the stored verdicts were judged against.
pub(super) fn check_meta(cfg: &RunConfig, run_dir: &RunDir) -> anyhow::Result<bool> {
    let current = meta::measurement_settings(cfg);
    let stored = meta::load(run_dir)?;
    let sla_changed = stored
        .as_ref()
        .is_some_and(|m| m.sla.as_ref() != Some(&cfg.benchmark.sla));
    if cfg.resume
        && let Some(stored) = &stored
        && !stored.settings.is_null()
    {
        let changed = changed_settings(&stored.settings, &current);
        if !changed.is_empty() {
            bail!(
                "{} holds results measured with different settings (changed: {}); use another benchmark.output_dir, or set search.resume: false to start over there",
                cfg.output_dir.display(),
                changed.join(", ")
            );
        }
    }
    let datasets = match stored {
        Some(stored) if cfg.resume => stored.datasets,
        _ => Default::default(),
    };
    let owner = owner::RunOwner::current();
    meta::save(
        run_dir,
        &RunMeta {
            schema_version: META_VERSION,
            settings: current,
            datasets,
            sla: Some(cfg.benchmark.sla.clone()),
            autobench_version: env!("CARGO_PKG_VERSION").into(),
            process: Some(ProcessRef {
                pid: owner.pid,
                host: owner.host,
            }),
        },
    )?;
    Ok(sla_changed)
}

/// Prepares every scenario: dataset, fingerprint check, request path, resumed records.
pub(super) async fn prepare_scenarios(
    cfg: &RunConfig,
    run_dir: &RunDir,
    reporter: &dyn Reporter,
    sla_changed: bool,
) -> anyhow::Result<Vec<ScenarioState>> {
    let mut states = Vec::new();
    let mut stored_meta = meta::load(run_dir)?.context("run_meta.json vanished")?;
    let single = cfg.scenarios.len() == 1;
    for (index, scenario) in cfg.scenarios.iter().enumerate() {
        let dir = run_dir.scenario(&scenario.slug, single);
        create_dir(dir.dir())?;
        let rows = crate::dataset::prepare(&cfg.dataset, scenario, index, &cfg.benchmark.tokenizer)
            .await?;
        let prepared = dir.prepared_dataset();
        crate::dataset::write_prepared(&prepared, &rows)?;
        let fingerprint = crate::dataset::fingerprint(&prepared)?;
        let known = stored_meta.datasets.get(&scenario.slug);
        if cfg.resume && known.is_some_and(|k| *k != fingerprint) {
            bail!(
                "the prepared dataset of scenario `{}` differs from the one {} was measured with (the source file or tokenizer changed); use another benchmark.output_dir or set search.resume: false",
                scenario.name,
                cfg.output_dir.display()
            );
        }
        stored_meta
            .datasets
            .insert(scenario.slug.clone(), fingerprint);
        let backend = request_backend(cfg, &rows)?;
        if !cfg.resume {
            let _ = std::fs::remove_file(dir.live_results());
        }
        if let Some(aside) = results::jsonl::repair_torn_tail(&dir.live_results())? {
            reporter.report(&RunEvent::Notice {
                text: format!(
                    "warning: the last line of {} was torn (a crash or a full disk mid-write); it was moved to {}",
                    dir.live_results().display(),
                    aside.display()
                ),
            });
        }
        let records = resumed_records(cfg, &dir.live_results(), sla_changed)?;
        reporter.report(&RunEvent::ScenarioPrepared {
            scenario: scenario.name.clone(),
            dataset_file: prepared.display().to_string(),
            rows: rows.len(),
            backend: backend.name().into(),
            resumed_records: records.len(),
        });
        states.push(ScenarioState::new(
            scenario.clone(),
            dir,
            rows,
            backend,
            records,
        ));
    }
    meta::save(run_dir, &stored_meta)?;
    Ok(states)
}

/// The request path: the configured one, or the one the dataset implies.
pub(super) fn request_backend(
    cfg: &RunConfig,
    rows: &[crate::dataset::DatasetRow],
) -> anyhow::Result<ApiBackend> {
    Ok(match cfg.benchmark.backend {
        ApiBackend::Auto => match crate::dataset::infer_backend(rows)? {
            // Only SGLang serves `/generate`; text prompts go to OpenAI completions elsewhere.
            ApiBackend::Sglang if !cfg.server.framework.profile().sglang_api => {
                ApiBackend::SglangOai
            }
            inferred => inferred,
        },
        explicit => explicit,
    })
}

/// Records of an earlier run of this folder. Their verdicts stand while the SLA is the one they
/// were judged against; with a changed SLA they are re-judged on their point estimates (the
/// requests behind the confidence bounds are not kept). When a trial key appears more than once
/// (a retried launch failure), the last record wins.
pub(super) fn resumed_records(
    cfg: &RunConfig,
    live: &Path,
    sla_changed: bool,
) -> anyhow::Result<Vec<shared::record::TrialRecord>> {
    let mut records = results::read_jsonl(live)?;
    for record in &mut records {
        let Some(metrics) = &record.metrics else {
            record.sla_failures = Vec::new();
            record.sla_passed = false;
            continue;
        };
        record.sla_failures = crate::verdict::judge(&cfg.benchmark.sla, metrics);
        if sla_changed || record.verdict.is_none() {
            record.verdict = None;
            record.sla_passed = record.sla_failures.is_empty();
        }
    }
    let mut last: std::collections::HashMap<String, usize> = Default::default();
    for (i, r) in records.iter().enumerate() {
        last.insert(r.trial_key.clone(), i);
    }
    Ok(records
        .into_iter()
        .enumerate()
        .filter(|(i, r)| r.trial_key.is_empty() || last.get(&r.trial_key) == Some(i))
        .map(|(_, r)| r)
        .collect())
}
