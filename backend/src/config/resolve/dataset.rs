//! `dataset:` resolution: the legacy spellings (`dataset: random`, a kind in `dataset.path`,
//! `benchmark.dataset_path`), the dataset plan (whose file must exist), and the scenarios (one
//! per random input/output pair, or a single one for file and generated datasets).

use std::path::{Path, PathBuf};

use shared::kinds::DatasetKind;

use super::Ctx;
use crate::config::GspOptions;
use crate::config::error::ConfigError;
use crate::config::file::{ConfigFile, DatasetSection};
use crate::config::plan::{DatasetPlan, Scenario};

/// The `dataset:` section with the legacy spellings folded in.
pub(super) fn normalize_dataset(raw: &ConfigFile) -> DatasetSection {
    let mut section = raw.dataset.clone().unwrap_or_default();
    if section.kind.is_none()
        && let Some(path) = &section.path
        && DatasetKind::NAMES.contains(&path.as_str())
    {
        section.kind = Some(path.clone());
        section.path = None;
    }
    if section.kind.is_none() && raw.benchmark.dataset_path.is_some() {
        section.kind = Some("custom".into());
        section.path.clone_from(&raw.benchmark.dataset_path);
    }
    if section.num_prompts.is_none() {
        section.num_prompts = raw.benchmark.num_prompts;
    }
    section
}

/// The upstream workflow's default request count per trial ("use `dataset.num_prompts: 80` unless
/// the user asks for a heavier study"); more is allowed, with a warning.
const PROMPTS_GUARDRAIL: u64 = 80;

pub(super) fn resolve_dataset(
    ctx: &Ctx,
    d: &DatasetSection,
    raw: &ConfigFile,
    base_dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<DatasetPlan, ConfigError> {
    let kind: DatasetKind =
        d.kind.as_deref().unwrap_or("custom").parse().map_err(
            |e: shared::kinds::UnknownName| ctx.error(&["dataset", "kind"], e.to_string()),
        )?;
    let path = d
        .path
        .as_ref()
        .filter(|p| !p.is_empty() && *p != "sharegpt")
        .map(|p| resolve_path(base_dir, p));
    if kind == DatasetKind::Custom && path.is_none() {
        let message = if raw.dataset.is_some() {
            "dataset.path is required when dataset.kind=custom"
        } else {
            "the config has no dataset section: add one, e.g. `dataset: {kind: random, num_prompts: 80}` for synthetic prompts or `dataset: {kind: custom, path: prompts.jsonl}` for your own"
        };
        return Err(ctx.error(&["dataset"], message));
    }
    // Random and generated datasets read no file, whatever `path` says.
    if let Some(path) = &path
        && matches!(kind, DatasetKind::Custom | DatasetKind::Sharegpt)
    {
        check_dataset_file(ctx, raw, d, path)?;
    }
    if kind == DatasetKind::Random {
        check_range_ratio(ctx, d.random_range_ratio, warnings)?;
    }
    let default_rows = if kind == DatasetKind::Custom { 0 } else { 1000 };
    let num_prompts = d.num_prompts.unwrap_or(default_rows);
    if num_prompts > PROMPTS_GUARDRAIL && kind != DatasetKind::GeneratedSharedPrefix {
        warnings.push(format!(
            "dataset.num_prompts={num_prompts}{} is above the {PROMPTS_GUARDRAIL}-prompt budget guardrail of the upstream workflow: every trial sends at least that many requests, so the search costs more server time; keep it for a deliberately heavier study, otherwise set dataset.num_prompts: {PROMPTS_GUARDRAIL}",
            if d.num_prompts.is_none() { " (the default)" } else { "" }
        ));
    }
    let output_len_override = if kind == DatasetKind::Random {
        None
    } else {
        d.output_len.as_ref().and_then(|o| o.0.first().copied())
    };
    Ok(DatasetPlan {
        kind,
        path,
        num_prompts,
        output_len_override,
        random_range_ratio: d.random_range_ratio,
        context_len: d.context_len,
        seed: d.seed.unwrap_or(1),
        prompt_suffix: d.prompt_suffix.clone().unwrap_or_default(),
        apply_chat_template: d.apply_chat_template,
        gsp: gsp_options(d),
    })
}

/// `dataset.random_range_ratio` of a random dataset: within [0, 1], with a warning below 1.
fn check_range_ratio(
    ctx: &Ctx,
    ratio: Option<f64>,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let Some(ratio) = ratio else {
        return Ok(());
    };
    if !(0.0..=1.0).contains(&ratio) {
        return Err(ctx.error(
            &["dataset", "random_range_ratio"],
            "must be between 0 and 1",
        ));
    }
    if ratio < 1.0 {
        warnings.push(format!(
            "dataset.random_range_ratio={ratio}: lengths are drawn from [max(1, L*{ratio}), L] as upstream did, so the average is below the nominal length; remove the key for exact lengths"
        ));
    }
    Ok(())
}

/// A dataset path must name a readable file now, not when the run reaches it: a run that
/// fails there has already created its output folder.
fn check_dataset_file(
    ctx: &Ctx,
    raw: &ConfigFile,
    d: &DatasetSection,
    path: &Path,
) -> Result<(), ConfigError> {
    let problem = match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => "is a folder; expected a dataset file".to_string(),
        Ok(_) => return Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            "does not exist; expected a dataset file".to_string()
        }
        Err(error) => format!("cannot be read ({error}); expected a dataset file"),
    };
    // The path is where it was written: `dataset.path`, or the legacy `benchmark.dataset_path`.
    let in_dataset = raw.dataset.as_ref().and_then(|s| s.path.as_ref()) == d.path.as_ref();
    let key: &[&str] = if !in_dataset && raw.benchmark.dataset_path.is_some() {
        &["benchmark", "dataset_path"]
    } else {
        &["dataset", "path"]
    };
    Err(ctx.error(key, format!("`{}` {problem}", path.display())))
}

fn gsp_options(d: &DatasetSection) -> GspOptions {
    let defaults = GspOptions::default();
    GspOptions {
        num_groups: d.gsp_num_groups.unwrap_or(defaults.num_groups),
        prompts_per_group: d
            .gsp_prompts_per_group
            .unwrap_or(defaults.prompts_per_group),
        system_prompt_len: d
            .gsp_system_prompt_len
            .unwrap_or(defaults.system_prompt_len),
        question_len: d.gsp_question_len.unwrap_or(defaults.question_len),
        output_len: d.gsp_output_len.unwrap_or(defaults.output_len),
        range_ratio: d.gsp_range_ratio.unwrap_or(defaults.range_ratio),
        fast_prepare: d.gsp_fast_prepare,
        send_routing_key: d.gsp_send_routing_key,
        num_turns: d.gsp_num_turns.unwrap_or(defaults.num_turns),
        ordered: d.gsp_ordered,
        seed: d.seed.unwrap_or(defaults.seed),
    }
}

fn resolve_path(base_dir: &Path, path: &str) -> PathBuf {
    let candidate = PathBuf::from(path);
    if candidate.is_absolute() || candidate.exists() {
        candidate
    } else {
        base_dir.join(candidate)
    }
}

/// Upstream's scenario slug: lower-case, every non-alphanumeric character replaced by `-`, with
/// leading and trailing dashes stripped.
pub(super) fn slugify(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    slug.trim_matches('-').to_string()
}

pub(super) fn resolve_scenarios(
    ctx: &Ctx,
    d: &DatasetSection,
    plan: &DatasetPlan,
) -> Result<Vec<Scenario>, ConfigError> {
    if plan.kind != DatasetKind::Random {
        let name = d.scenario_name.clone().unwrap_or_else(|| "default".into());
        let slug = Some(slugify(&name))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".into());
        return Ok(vec![Scenario {
            name,
            slug,
            input_len: None,
            output_len: None,
        }]);
    }
    random_scenarios(ctx, d)
}

/// One scenario per `dataset.input_len`/`output_len` pair, named by `scenario_names`.
fn random_scenarios(ctx: &Ctx, d: &DatasetSection) -> Result<Vec<Scenario>, ConfigError> {
    let inputs = d
        .input_len
        .as_ref()
        .map_or_else(|| vec![1024], |v| v.0.clone());
    let outputs = d
        .output_len
        .as_ref()
        .map_or_else(|| vec![256], |v| v.0.clone());
    if inputs.len() != outputs.len() {
        return Err(ctx.error(&["dataset", "output_len"], format!("has {} values but dataset.input_len has {}; they pair up one scenario per position", outputs.len(), inputs.len())));
    }
    if inputs.iter().chain(&outputs).any(|&len| len == 0) {
        return Err(ctx.error(
            &["dataset", "input_len"],
            "lengths must be at least 1 token",
        ));
    }
    if let Some(names) = &d.scenario_names
        && names.len() != inputs.len()
    {
        return Err(ctx.error(
            &["dataset", "scenario_names"],
            format!(
                "has {} names for {} input/output pairs",
                names.len(),
                inputs.len()
            ),
        ));
    }
    let mut scenarios: Vec<Scenario> = Vec::new();
    for (i, (&input, &output)) in inputs.iter().zip(&outputs).enumerate() {
        let name = d
            .scenario_names
            .as_ref()
            .map_or_else(|| format!("input{input}-output{output}"), |n| n[i].clone());
        let slug = Some(slugify(&name))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("scenario-{}", i + 1));
        if scenarios.iter().any(|s| s.slug == slug) {
            return Err(ctx.error(
                &["dataset", "scenario_names"],
                format!("two scenarios share the directory name `{slug}`"),
            ));
        }
        scenarios.push(Scenario {
            name,
            slug,
            input_len: Some(input),
            output_len: Some(output),
        });
    }
    Ok(scenarios)
}
