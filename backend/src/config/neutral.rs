//! The framework-neutral schema (`schema_version: 1`, the `llm-serving-auto-benchmark` configs):
//! read as it is, checked as strictly as the sglang schema (unknown keys with did-you-mean, every
//! error at its line and column), and mapped onto one sglang-schema config per enabled framework,
//! which the usual resolver turns into a [`RunConfig`] whose errors still point into this file
//! ([`KeyMap::Neutral`]).
//!
//! Mapping: `model.name` is the model (`--model-path` for SGLang, positional for vLLM and
//! TensorRT-LLM); `server_command` is the launch command; `base_server_flags` and `search_space`
//! are the base flags and the search space, in the server's own spelling; `dataset` and
//! `benchmark` are shared by every framework (so each one is measured on the same workload), and
//! `benchmark.endpoint` picks the request API. `candidate_generation:
//! baseline_first_bounded_product` is the full product in key order, capped by
//! `max_candidates_per_framework` (tier 3 with a cap); without it, `search.tier` applies.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};

use shared::flags::FlagMap;
use shared::kinds::Framework;

use super::error::ConfigError;
use super::file::{self, BenchmarkSection, ConfigFile, DatasetSection};
use super::plan::{KeyMap, RunConfig};

/// The whole schema v1 file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NeutralFile {
    schema_version: Value,
    #[serde(default)]
    source: Option<Source>,
    model: Model,
    #[serde(default)]
    #[expect(dead_code, reason = "read so that its keys are checked")]
    hardware: Option<Hardware>,
    #[serde(default, deserialize_with = "file::dataset_section")]
    dataset: Option<DatasetSection>,
    benchmark: BenchmarkSection,
    #[serde(default)]
    search: Search,
    frameworks: Frameworks,
}

/// `source:` (provenance, information only).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "provenance is read so that its keys are checked")]
struct Source {
    kind: String,
    #[serde(default)]
    source_recipe_file: Option<String>,
    #[serde(default)]
    translation: Option<String>,
}

/// `model:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Model {
    name: String,
    #[serde(default)]
    tokenizer: Option<String>,
    #[serde(default)]
    precision: Option<String>,
    #[serde(default)]
    quantization: Option<String>,
}

/// `hardware:` (information only; GPUs are chosen with `env: CUDA_VISIBLE_DEVICES`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "read so that its keys are checked")]
struct Hardware {
    #[serde(default)]
    gpu_count: Option<u64>,
    #[serde(default)]
    multi_node: Option<bool>,
    #[serde(default)]
    gpu_model: Option<String>,
}

/// `search:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Search {
    #[serde(default)]
    tier: Option<i64>,
    #[serde(default)]
    max_candidates_per_framework: Option<usize>,
    #[serde(default)]
    candidate_generation: Option<String>,
    #[serde(default)]
    resume: Option<bool>,
    #[serde(default)]
    max_duration_hours: Option<f64>,
}

/// `frameworks:`: the three the schema knows.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Frameworks {
    #[serde(default)]
    sglang: Option<FrameworkSection>,
    #[serde(default)]
    vllm: Option<FrameworkSection>,
    #[serde(default)]
    tensorrt_llm: Option<FrameworkSection>,
}

/// `frameworks.<name>:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrameworkSection {
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    server_command: Option<String>,
    #[serde(default)]
    base_server_flags: FlagMap,
    #[serde(default)]
    search_space: FlagMap,
    #[serde(default)]
    #[expect(dead_code, reason = "provenance, read so that the key is accepted")]
    config_source: Option<String>,
    #[serde(default)]
    backend_policy: Option<String>,
    /// autobench's addition: the server's environment (`CUDA_VISIBLE_DEVICES`).
    #[serde(default)]
    env: serde_json::Map<String, Value>,
}

/// The frameworks in the order a run takes them: (key in the file, server profile).
const FRAMEWORKS: [(&str, Framework); 3] = [
    ("sglang", Framework::Sglang),
    ("vllm", Framework::Vllm),
    ("tensorrt_llm", Framework::Trtllm),
];

/// Each framework's sequence limit flag (checked against the longest scenario).
fn sequence_limit_key(framework: &str) -> &'static str {
    match framework {
        "sglang" => "context_length",
        "vllm" => "max_model_len",
        _ => "max_seq_len",
    }
}

/// The one generation rule the schema names.
const BOUNDED_PRODUCT: &str = "baseline_first_bounded_product";

/// SLA keys schema v1 renamed: a mean or a tail cannot be told apart in the old names.
const DEPRECATED_SLA: [(&str, &str); 3] = [
    ("max_ttft_ms", "max_p99_ttft_ms"),
    ("max_tpot_ms", "max_p99_tpot_ms"),
    ("max_e2e_ms", "max_p99_e2e_ms"),
];

/// Whether `text` is a schema v1 config (a top-level `schema_version` or `frameworks`).
pub(super) fn is_neutral(text: &str) -> bool {
    matches!(
        serde_norway::from_str::<serde_norway::Value>(text),
        Ok(serde_norway::Value::Mapping(map))
            if map.contains_key("schema_version") || map.contains_key("frameworks")
    )
}

/// Reads a schema v1 config: one [`RunConfig`] per enabled framework, in the order sglang, vllm,
/// tensorrt_llm, each with its own output folder `<output_dir>/<framework>`.
pub(super) fn parse(path: &Path, text: &str, base: &Path) -> Result<Vec<RunConfig>, ConfigError> {
    let file = read(path, text)?;
    check(path, text, &file)?;
    let mut configs: Vec<RunConfig> = Vec::new();
    for (key, framework) in FRAMEWORKS {
        let Some(section) = section(&file.frameworks, key).filter(|s| s.enabled) else {
            continue;
        };
        // Parsed again per framework: the sections are moved into each sglang-schema config.
        let fresh = read(path, text)?;
        let mut raw = translate(path, text, fresh, key, framework, section)?;
        super::paths::anchor(&mut raw, base);
        let mut cfg = super::resolve::resolve_mapped(path, text, raw, KeyMap::Neutral(key))?;
        let root = configs
            .first()
            .and_then(|first| first.output_dir.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| cfg.output_dir.clone());
        cfg.output_dir = root.join(key);
        cfg.paths_base = base.to_path_buf();
        configs.push(cfg);
    }
    Ok(configs)
}

fn read(path: &Path, text: &str) -> Result<NeutralFile, ConfigError> {
    serde_norway::from_str(text).map_err(|e| ConfigError::from_yaml(path, &e))
}

fn section<'a>(frameworks: &'a Frameworks, key: &str) -> Option<&'a FrameworkSection> {
    match key {
        "sglang" => frameworks.sglang.as_ref(),
        "vllm" => frameworks.vllm.as_ref(),
        _ => frameworks.tensorrt_llm.as_ref(),
    }
}

/// The schema's own rules, each an error at its key.
fn check(path: &Path, text: &str, file: &NeutralFile) -> Result<(), ConfigError> {
    let error = |keys: &[&str], message: String| ConfigError::at_key(path, text, keys, message);
    if file.schema_version.as_u64() != Some(1) {
        return Err(error(
            &["schema_version"],
            "must be 1 (the only framework-neutral schema version)".into(),
        ));
    }
    if let Some(source) = &file.source
        && source.kind != "llm_serving_cookbook"
    {
        return Err(error(
            &["source", "kind"],
            format!(
                "`{}` is not a source kind; expected llm_serving_cookbook",
                source.kind
            ),
        ));
    }
    if file.model.name.trim().is_empty() {
        return Err(error(&["model", "name"], "must name the model".into()));
    }
    check_sla_keys(path, text)?;
    if let Some(rule) = &file.search.candidate_generation
        && rule != BOUNDED_PRODUCT
    {
        return Err(error(
            &["search", "candidate_generation"],
            format!("`{rule}` is not a generation rule; expected {BOUNDED_PRODUCT}"),
        ));
    }
    let enabled: Vec<&str> = FRAMEWORKS
        .iter()
        .map(|(key, _)| *key)
        .filter(|key| section(&file.frameworks, key).is_some_and(|s| s.enabled))
        .collect();
    if enabled.is_empty() {
        return Err(error(
            &["frameworks"],
            "no framework is enabled; set `enabled: true` on sglang, vllm or tensorrt_llm".into(),
        ));
    }
    let longest = longest_request(file.dataset.as_ref());
    for key in enabled {
        let Some(section) = section(&file.frameworks, key) else {
            continue;
        };
        check_framework(path, text, key, section, longest)?;
    }
    Ok(())
}

/// `benchmark.sla` keys: the deprecated mean-or-tail names are refused, with the new name.
fn check_sla_keys(path: &Path, text: &str) -> Result<(), ConfigError> {
    let Ok(value) = serde_norway::from_str::<serde_norway::Value>(text) else {
        return Ok(());
    };
    let Some(sla) = value
        .get("benchmark")
        .and_then(|b| b.get("sla"))
        .and_then(serde_norway::Value::as_mapping)
    else {
        return Ok(());
    };
    for (old, new) in DEPRECATED_SLA {
        if sla.contains_key(old) {
            return Err(ConfigError::at_key(
                path,
                text,
                &["benchmark", "sla", old],
                format!("is deprecated in schema_version 1 (a mean or a tail?); use {new}"),
            ));
        }
    }
    Ok(())
}

/// The longest input + output of the dataset's scenarios (random datasets; `None` otherwise).
fn longest_request(dataset: Option<&DatasetSection>) -> Option<u64> {
    let dataset = dataset?;
    let inputs = dataset.input_len.as_ref()?;
    let outputs = dataset.output_len.as_ref()?;
    inputs
        .0
        .iter()
        .zip(outputs.0.iter())
        .map(|(i, o)| i + o)
        .max()
}

fn check_framework(
    path: &Path,
    text: &str,
    key: &str,
    section: &FrameworkSection,
    longest: Option<u64>,
) -> Result<(), ConfigError> {
    let error = |keys: &[&str], message: String| {
        let mut at = vec!["frameworks", key];
        at.extend_from_slice(keys);
        ConfigError::at_key(path, text, &at, message)
    };
    let command = section.server_command.as_deref().unwrap_or("").trim();
    if command.is_empty() {
        return Err(error(
            &["server_command"],
            "is required for an enabled framework (e.g. `vllm serve`)".into(),
        ));
    }
    if key == "tensorrt_llm" {
        if section.backend_policy.as_deref() != Some("fixed_pytorch") {
            return Err(error(
                &["backend_policy"],
                "must be fixed_pytorch (the PyTorch backend of trtllm-serve; engines are not built here)".into(),
            ));
        }
        if let Some(backend) = section.base_server_flags.get("backend")
            && backend.as_str() != Some("pytorch")
        {
            return Err(error(
                &["base_server_flags", "backend"],
                format!("must be pytorch under backend_policy fixed_pytorch, not {backend}"),
            ));
        }
        if section.search_space.contains_key("backend") {
            return Err(error(
                &["search_space", "backend"],
                "must not be searched under backend_policy fixed_pytorch".into(),
            ));
        }
    }
    let Some(longest) = longest else {
        return Ok(());
    };
    let limit = sequence_limit_key(key);
    let short = |value: &Value| value.as_u64().is_none_or(|v| v < longest);
    if let Some(value) = section.base_server_flags.get(limit)
        && short(value)
    {
        return Err(error(
            &["base_server_flags", limit],
            format!(
                "{value} must be an integer of at least {longest}, the longest scenario (input + output tokens)"
            ),
        ));
    }
    if let Some(values) = section.search_space.get(limit) {
        let list = match values {
            Value::Array(list) => list.clone(),
            one => vec![one.clone()],
        };
        if let Some(bad) = list.iter().find(|v| short(v)) {
            return Err(error(
                &["search_space", limit],
                format!(
                    "{bad} must be an integer of at least {longest}, the longest scenario (input + output tokens)"
                ),
            ));
        }
    }
    Ok(())
}

/// One framework's section as an sglang-schema config sharing the dataset and benchmark.
fn translate(
    path: &Path,
    text: &str,
    file: NeutralFile,
    key: &str,
    framework: Framework,
    section: &FrameworkSection,
) -> Result<ConfigFile, ConfigError> {
    let mut base_flags = FlagMap::new();
    let model_key = if framework.profile().positional_model {
        "model"
    } else {
        "model_path"
    };
    let has_model = ["model", "model_path"]
        .iter()
        .any(|k| section.base_server_flags.contains_key(*k));
    if !has_model {
        base_flags.insert(model_key.into(), Value::String(file.model.name.clone()));
    }
    base_flags.extend(section.base_server_flags.clone());
    let server = json!({
        "framework": framework.name(),
        "command_prefix": section.server_command,
        "env": section.env,
        "base_flags": base_flags,
        "search_space": section.search_space,
    });
    let server = serde_json::from_value(server)
        .map_err(|e| ConfigError::at_key(path, text, &["frameworks", key], e.to_string()))?;
    let mut benchmark = file.benchmark;
    if benchmark.tokenizer.is_none() {
        benchmark.tokenizer = Some(file.model.tokenizer.unwrap_or(file.model.name));
    }
    let _ = (file.model.precision, file.model.quantization);
    let search = &file.search;
    let bounded = search.candidate_generation.is_some();
    let search = serde_json::from_value(json!({
        "tier": if bounded { 3 } else { search.tier.unwrap_or(2) },
        "max_candidates": search.max_candidates_per_framework.unwrap_or(8),
        "resume": search.resume.unwrap_or(true),
        "max_duration_hours": search.max_duration_hours,
    }))
    .map_err(|e| ConfigError::at_key(path, text, &["search"], e.to_string()))?;
    Ok(ConfigFile {
        server,
        dataset: file.dataset,
        benchmark,
        search,
        speculative: Default::default(),
        executor: Default::default(),
    })
}
