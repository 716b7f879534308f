//! Resolution of the raw config into a runnable [`RunConfig`]: upstream defaults and aliases,
//! candidate generation, scenarios, the QPS plan, and warnings for risky settings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use shared::candidates::{self, CandidatePlan, CandidateSpec, SearchKey};
use shared::flags::{self, FlagMap};
use shared::qps::{Bisect, MAX_ROUNDS_LIMIT, QpsPlan};
use shared::sla::Sla;

use super::de::QpsSpec;
use super::error::{ConfigError, closest};
use super::file::{ConfigFile, DatasetSection, Framework, SpeculativeSection};

/// Knobs the workflow advises against sweeping by default.
const DISCOURAGED_KNOBS: [&str; 7] = [
    "disable_cuda_graph",
    "mem_fraction_static",
    "schedule_policy",
    "enable_hierarchical_cache",
    "hicache_ratio",
    "hicache_size",
    "enable_lmcache",
];

/// Budget guardrail for `search.max_duration_hours`.
const MAX_DURATION_HOURS: f64 = 12.0;

/// Which HTTP API requests go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApiBackend {
    /// Decide from the dataset's prompt kinds.
    Auto,
    /// SGLang native `/generate`.
    Sglang,
    /// OpenAI completions `/v1/completions`.
    SglangOai,
    /// OpenAI chat completions `/v1/chat/completions`.
    SglangOaiChat,
}

impl ApiBackend {
    fn parse(name: &str) -> Option<ApiBackend> {
        Some(match name {
            "auto" => ApiBackend::Auto,
            "sglang" | "sglang-native" => ApiBackend::Sglang,
            "sglang-oai" | "vllm" | "openai" | "lmdeploy" | "trt" | "tensorrt-llm" => {
                ApiBackend::SglangOai
            }
            "sglang-oai-chat" | "vllm-chat" | "openai-chat" => ApiBackend::SglangOaiChat,
            _ => return None,
        })
    }

    /// The bench_serving name.
    pub fn name(self) -> &'static str {
        match self {
            ApiBackend::Auto => "auto",
            ApiBackend::Sglang => "sglang",
            ApiBackend::SglangOai => "sglang-oai",
            ApiBackend::SglangOaiChat => "sglang-oai-chat",
        }
    }
}

const BACKEND_NAMES: &[&str] = &[
    "auto",
    "sglang",
    "sglang-native",
    "sglang-oai",
    "sglang-oai-chat",
    "vllm",
    "vllm-chat",
    "openai",
    "openai-chat",
];

/// Dataset kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// Synthetic prompts of exact token lengths.
    Random,
    /// A canonical (or legacy conversation) JSONL file.
    Custom,
    /// ShareGPT conversations.
    Sharegpt,
    /// Generated shared-prefix groups.
    GeneratedSharedPrefix,
}

impl DatasetKind {
    /// The config spelling.
    pub fn name(&self) -> &'static str {
        match self {
            DatasetKind::Random => "random",
            DatasetKind::Custom => "custom",
            DatasetKind::Sharegpt => "sharegpt",
            DatasetKind::GeneratedSharedPrefix => "generated-shared-prefix",
        }
    }
}

const DATASET_KINDS: &[&str] = &[
    "sharegpt",
    "custom",
    "random",
    "generated-shared-prefix",
    "autobench",
];

/// The resolved dataset settings shared by all scenarios.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetPlan {
    /// Kind.
    pub kind: DatasetKind,
    /// File path (custom, sharegpt), resolved against the config's folder.
    pub path: Option<PathBuf>,
    /// Rows (0 = all rows of a custom file).
    pub num_prompts: u64,
    /// Fixed output length override (non-random kinds).
    pub output_len_override: Option<u64>,
    /// Upstream range ratio; `None` = exact lengths.
    pub random_range_ratio: Option<f64>,
    /// Context limit for filtering rows.
    pub context_len: Option<u64>,
    /// Preparation seed.
    pub seed: u64,
    /// Appended to legacy prompts.
    pub prompt_suffix: String,
    /// Wrap legacy prompts in the chat template client-side.
    pub apply_chat_template: bool,
    /// Generated-shared-prefix settings.
    pub gsp: crate::dataset::gsp::GspOptions,
}

/// One scenario (one workload shape).
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// Display name.
    pub name: String,
    /// Directory name.
    pub slug: String,
    /// Random input length (tokens).
    pub input_len: Option<u64>,
    /// Random output length (tokens).
    pub output_len: Option<u64>,
}

/// How to start servers.
#[derive(Debug, Clone, Serialize)]
pub struct ServerPlan {
    /// Launch servers at all.
    pub launch: bool,
    /// Program family.
    pub framework: Framework,
    /// Program and leading arguments as shown to users (`python -m sglang.launch_server`).
    pub command_display: Vec<String>,
    /// Program and leading arguments as executed.
    pub command: Vec<String>,
    /// Extra environment (values as strings).
    pub env: Vec<(String, String)>,
    /// Arguments after the flags.
    pub extra_args: Vec<String>,
    /// Host for URLs and the `--host` flag.
    pub host: String,
    /// Configured port (`None`: pick a free one per launch).
    pub port: Option<u16>,
    /// Host was set in the config (so it is injected as a flag).
    pub inject_host: bool,
    /// Relaunch for every trial.
    pub relaunch_per_trial: bool,
    /// Readiness path.
    pub health_path: String,
    /// Start-up timeout.
    pub ready_timeout: Duration,
    /// SIGTERM-to-SIGKILL grace.
    pub shutdown_grace: Duration,
}

/// Load and SLA settings.
#[derive(Debug, Clone, Serialize)]
pub struct BenchmarkPlan {
    /// Request path.
    pub backend: ApiBackend,
    /// Tokenizer name or path.
    pub tokenizer: String,
    /// Model name for requests.
    pub model: Option<String>,
    /// Fixed base URL (`server.launch: false`, or explicit).
    pub base_url: Option<String>,
    /// Rate plan.
    pub qps: QpsPlan,
    /// Concurrency caps (`None` = unlimited).
    pub max_concurrency: Vec<Option<u64>>,
    /// SLA.
    pub sla: Sla,
    /// Arrival seed.
    pub seed: u64,
    /// Warmup requests per trial.
    pub warmup_requests: u32,
    /// Fields merged into every request.
    pub extra_request_body: serde_json::Map<String, Value>,
    /// Non-streaming requests.
    pub disable_stream: bool,
    /// Let generation stop at EOS.
    pub disable_ignore_eos: bool,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Per-request detail files.
    pub output_details: bool,
    /// Tag stored with results.
    pub tag: Option<String>,
    /// Arrival process.
    pub arrival: crate::loadgen::schedule::Arrival,
    /// Client-limited threshold on p99 dispatch lag.
    pub max_client_lag_ms: f64,
    /// SLA early stop.
    pub early_stop: bool,
    /// Opt-in early stop for clearly passing points.
    pub early_pass: Option<EarlyPassPlan>,
    /// Gamma shape of arrival gaps.
    pub burstiness: f64,
}

/// The speculative stage.
#[derive(Debug, Clone, Serialize)]
pub struct SpeculativePlan {
    /// `speculative_algorithm`.
    pub algorithm: String,
    /// `speculative_draft_model_path` (may be empty: the plan warns, the run refuses).
    pub draft_model_path: String,
    /// Overlay on the best base flags.
    pub base_flags: FlagMap,
    /// Speculative search space.
    pub search_space: Vec<SearchKey>,
}

/// A fully resolved run.
#[derive(Debug, Clone, Serialize)]
pub struct RunConfig {
    /// The config file.
    pub config_path: PathBuf,
    /// Server launch settings.
    pub server: ServerPlan,
    /// Base candidate generation inputs (re-used for the speculative stage).
    #[serde(skip)]
    pub candidate_spec: CandidateSpec,
    /// Generated base candidates.
    #[serde(skip)]
    pub candidates: CandidatePlan,
    /// The dataset.
    pub dataset: DatasetPlan,
    /// Scenarios, in order.
    pub scenarios: Vec<Scenario>,
    /// Load and SLA.
    pub benchmark: BenchmarkPlan,
    /// Output directory.
    pub output_dir: PathBuf,
    /// `output_dir` was given explicitly (resume across invocations needs it).
    pub output_dir_explicit: bool,
    /// Resume finished trials.
    pub resume: bool,
    /// Wall-clock budget.
    pub max_duration: Duration,
    /// Tier.
    pub tier: i64,
    /// Candidate cap.
    pub max_candidates: Option<usize>,
    /// Speculative stage, when enabled.
    pub speculative: Option<SpeculativePlan>,
    /// Things the user should know before spending GPU time.
    pub warnings: Vec<String>,
}

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn error(&self, key_path: &[&str], message: impl Into<String>) -> ConfigError {
        ConfigError::at_key(self.path, self.text, key_path, message)
    }
}

/// Resolves a parsed config.
pub fn resolve(path: &Path, text: &str, raw: ConfigFile) -> Result<RunConfig, ConfigError> {
    let ctx = Ctx { path, text };
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut warnings = Vec::new();
    let server = resolve_server(&ctx, &raw)?;
    let (candidate_spec, candidates) = resolve_candidates(&ctx, &raw, &mut warnings)?;
    let dataset_section = normalize_dataset(&raw);
    let dataset = resolve_dataset(&ctx, &dataset_section, &raw, &base_dir, &mut warnings)?;
    let scenarios = resolve_scenarios(&ctx, &dataset_section, &dataset)?;
    let benchmark = resolve_benchmark(&ctx, &raw, &mut warnings)?;
    let speculative = resolve_speculative(&raw.speculative, &mut warnings);
    let max_duration = resolve_duration(&ctx, raw.search.max_duration_hours, &mut warnings)?;
    let (output_dir, output_dir_explicit) = match &raw.benchmark.output_dir {
        Some(dir) => (PathBuf::from(dir), true),
        None => {
            warnings.push(
                "benchmark.output_dir is not set: results go to a new timestamped folder, so a later run cannot resume this one"
                    .to_string(),
            );
            let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
            (
                PathBuf::from(format!("./auto_benchmark_results/{stamp}")),
                false,
            )
        }
    };
    if raw.benchmark.pd_separated {
        warnings.push("benchmark.pd_separated is accepted but prefill/decode disaggregation is not supported yet; requests go to one server".into());
    }
    Ok(RunConfig {
        config_path: path.to_path_buf(),
        server,
        candidate_spec,
        candidates,
        dataset,
        scenarios,
        benchmark,
        output_dir,
        output_dir_explicit,
        resume: raw.search.resume,
        max_duration,
        tier: raw.search.tier,
        max_candidates: raw.search.max_candidates,
        speculative,
        warnings,
    })
}

fn scalar_text(value: &Value) -> String {
    flags::render_scalar(value)
}

fn resolve_server(ctx: &Ctx, raw: &ConfigFile) -> Result<ServerPlan, ConfigError> {
    let section = &raw.server;
    let (command_display, command) = match (&section.command_prefix, section.framework) {
        (Some(prefix), _) => {
            let words = split_prefix(ctx, &prefix.0)?;
            let exec = words
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    if i == 0 && w == "autobench" {
                        current_exe()
                    } else {
                        w.clone()
                    }
                })
                .collect();
            (words, exec)
        }
        (None, Framework::Sim) => (
            vec!["autobench".into(), "sim".into()],
            vec![current_exe(), "sim".into()],
        ),
        (None, Framework::Sglang) => (
            vec!["python".into(), "-m".into(), "sglang.launch_server".into()],
            vec!["python3".into(), "-m".into(), "sglang.launch_server".into()],
        ),
        (None, other) => {
            let words: Vec<String> = other
                .profile()
                .command
                .iter()
                .map(|w| (*w).to_string())
                .collect();
            (words.clone(), words)
        }
    };
    // A secret shown as `<redacted>` (a config saved by the dashboard) is inherited from the
    // environment instead of being set to that text.
    let env = section
        .env
        .iter()
        .map(|(k, v)| (k.clone(), scalar_text(v)))
        .filter(|(k, v)| !(shared::redact::is_secret_env(k) && v == shared::redact::REDACTED))
        .collect();
    let ready_timeout = positive_seconds(
        ctx,
        &["benchmark", "ready_check_timeout_sec"],
        raw.benchmark.ready_check_timeout_sec,
        600.0,
    )?;
    let shutdown_grace = positive_seconds(
        ctx,
        &["server", "shutdown_grace_sec"],
        section.shutdown_grace_sec,
        20.0,
    )?;
    Ok(ServerPlan {
        launch: section.launch,
        framework: section.framework,
        command_display,
        command,
        env,
        extra_args: section.extra_args.iter().map(scalar_text).collect(),
        host: section
            .host
            .clone()
            .unwrap_or_else(|| "127.0.0.1".to_string()),
        port: section.port,
        inject_host: section.host.is_some(),
        relaunch_per_trial: section.relaunch_per_trial,
        health_path: section
            .health_path
            .clone()
            .unwrap_or_else(|| "/health".to_string()),
        ready_timeout,
        shutdown_grace,
    })
}

fn split_prefix(ctx: &Ctx, parts: &[String]) -> Result<Vec<String>, ConfigError> {
    if let [single] = parts {
        let words = shlex::split(single).ok_or_else(|| {
            ctx.error(
                &["server", "command_prefix"],
                "cannot split this command (unbalanced quotes)",
            )
        })?;
        if words.is_empty() {
            return Err(ctx.error(
                &["server", "command_prefix"],
                "is empty; expected a command such as `python -m sglang.launch_server`",
            ));
        }
        return Ok(words);
    }
    if parts.is_empty() {
        return Err(ctx.error(
            &["server", "command_prefix"],
            "is empty; expected a command such as `python -m sglang.launch_server`",
        ));
    }
    Ok(parts.to_vec())
}

/// The running autobench binary, for `autobench sim` candidates.
pub fn current_exe() -> String {
    std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "autobench".to_string())
}

fn positive_seconds(
    ctx: &Ctx,
    key: &[&str],
    value: Option<f64>,
    default: f64,
) -> Result<Duration, ConfigError> {
    let seconds = value.unwrap_or(default);
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(ctx.error(
            key,
            format!("must be a positive number of seconds, got {seconds}"),
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn to_search_keys(space: &FlagMap) -> Vec<SearchKey> {
    space
        .iter()
        .map(|(key, value)| SearchKey {
            key: flags::canonical_key(key).to_string(),
            values: match value {
                Value::Array(items) => items.clone(),
                scalar => vec![scalar.clone()],
            },
        })
        .collect()
}

fn resolve_candidates(
    ctx: &Ctx,
    raw: &ConfigFile,
    warnings: &mut Vec<String>,
) -> Result<(CandidateSpec, CandidatePlan), ConfigError> {
    let section = &raw.server;
    let mut base_flags = flags::canonicalize(&section.base_flags);
    let mut search_space = to_search_keys(&section.search_space);
    for item in &search_space {
        if DISCOURAGED_KNOBS.contains(&item.key.as_str()) {
            warnings.push(format!(
                "server.search_space.{} is searched; the workflow advises keeping it fixed in base_flags unless you have a reason to sweep it",
                item.key
            ));
        }
        if item.values.is_empty() {
            return Err(ctx.error(
                &["server", "search_space", &item.key],
                "has no values; give a list with at least one value",
            ));
        }
    }
    let mut derive_dp_from_gpus = None;
    if let Some(parallel) = section.parallel.as_ref().filter(|p| !p.is_empty()) {
        let gpu_count = parallel.get("gpu_count").and_then(Value::as_u64);
        let sugar: FlagMap = parallel
            .iter()
            .filter(|(k, _)| *k != "gpu_count")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        candidates::apply_parallel(&mut base_flags, &mut search_space, &to_search_keys(&sugar));
        let total = gpu_count.or(section.gpu_count).or_else(|| gpus_from_env(&section.env)).ok_or_else(|| {
            ctx.error(&["server", "parallel"], "cannot infer the GPU count for dp_size derivation: set server.parallel.gpu_count, server.gpu_count or CUDA_VISIBLE_DEVICES in server.env")
        })?;
        derive_dp_from_gpus = Some(total);
    }
    let env: Vec<(String, String)> = section
        .env
        .iter()
        .map(|(k, v)| (k.clone(), scalar_text(v)))
        .collect();
    let spec = CandidateSpec {
        base_flags,
        search_space,
        tier: raw.search.tier,
        max_candidates: raw.search.max_candidates,
        derive_dp_from_gpus,
        fa3_supported: if raw.server.launch {
            crate::hardware::fa3_supported(&env)
        } else {
            None
        },
    };
    let plan = candidates::generate(&spec).map_err(|e| ctx.error(e.config_key(), e.to_string()))?;
    Ok((spec, plan))
}

/// GPU count from the first visible-devices variable in `env` that lists devices.
pub fn gpus_from_env(env: &serde_json::Map<String, Value>) -> Option<u64> {
    [
        "CUDA_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES",
        "HIP_VISIBLE_DEVICES",
        "NVIDIA_VISIBLE_DEVICES",
    ]
    .iter()
    .filter_map(|key| env.get(*key).map(scalar_text))
    .map(|value| value.trim().to_string())
    .find(|value| {
        !value.is_empty() && !["all", "none", "void"].contains(&value.to_ascii_lowercase().as_str())
    })
    .map(|value| value.split(',').filter(|d| !d.trim().is_empty()).count() as u64)
}

fn normalize_dataset(raw: &ConfigFile) -> DatasetSection {
    let mut section = raw.dataset.clone().unwrap_or_default();
    if section.kind.is_none()
        && let Some(path) = &section.path
        && ["sharegpt", "custom", "random", "generated-shared-prefix"].contains(&path.as_str())
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

fn resolve_dataset(
    ctx: &Ctx,
    d: &DatasetSection,
    raw: &ConfigFile,
    base_dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<DatasetPlan, ConfigError> {
    let kind_name = d.kind.clone().unwrap_or_else(|| "custom".into());
    let kind = match kind_name.as_str() {
        "random" => DatasetKind::Random,
        "custom" | "autobench" => DatasetKind::Custom,
        "sharegpt" => DatasetKind::Sharegpt,
        "generated-shared-prefix" => DatasetKind::GeneratedSharedPrefix,
        other => {
            let hint = closest(other, DATASET_KINDS)
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            return Err(ctx.error(
                &["dataset", "kind"],
                format!(
                    "unknown dataset kind `{other}`; supported: {}{hint}",
                    DATASET_KINDS.join(", ")
                ),
            ));
        }
    };
    let path = d
        .path
        .as_ref()
        .filter(|p| !p.is_empty() && *p != "sharegpt")
        .map(|p| resolve_path(base_dir, p));
    if kind == DatasetKind::Custom && path.is_none() {
        let key: &[&str] = if raw.dataset.is_some() {
            &["dataset"]
        } else {
            &["benchmark"]
        };
        return Err(ctx.error(key, "dataset.path is required when dataset.kind=custom"));
    }
    if let Some(ratio) = d.random_range_ratio
        && kind == DatasetKind::Random
    {
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
    }
    let default_rows = if kind == DatasetKind::Custom { 0 } else { 1000 };
    let output_len_override = if kind == DatasetKind::Random {
        None
    } else {
        d.output_len.as_ref().and_then(|o| o.0.first().copied())
    };
    Ok(DatasetPlan {
        kind,
        path,
        num_prompts: d.num_prompts.unwrap_or(default_rows),
        output_len_override,
        random_range_ratio: d.random_range_ratio,
        context_len: d.context_len,
        seed: d.seed.unwrap_or(1),
        prompt_suffix: d.prompt_suffix.clone().unwrap_or_default(),
        apply_chat_template: d.apply_chat_template,
        gsp: gsp_options(d),
    })
}

fn gsp_options(d: &DatasetSection) -> crate::dataset::gsp::GspOptions {
    let defaults = crate::dataset::gsp::GspOptions::default();
    crate::dataset::gsp::GspOptions {
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
pub fn slugify(name: &str) -> String {
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

fn resolve_scenarios(
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

fn resolve_benchmark(
    ctx: &Ctx,
    raw: &ConfigFile,
    warnings: &mut Vec<String>,
) -> Result<BenchmarkPlan, ConfigError> {
    let b = &raw.benchmark;
    let backend_name = b.backend.clone().unwrap_or_else(|| "auto".into());
    let backend = ApiBackend::parse(&backend_name).ok_or_else(|| {
        let hint = closest(&backend_name, BACKEND_NAMES)
            .map(|c| format!("; did you mean `{c}`?"))
            .unwrap_or_default();
        ctx.error(
            &["benchmark", "backend"],
            format!(
                "unknown backend `{backend_name}`; expected one of {}{hint}",
                BACKEND_NAMES.join(", ")
            ),
        )
    })?;
    if backend == ApiBackend::Sglang && !raw.server.framework.profile().sglang_api {
        return Err(ctx.error(
            &["benchmark", "backend"],
            format!(
                "backend `{backend_name}` is SGLang's native /generate, which server.framework `{}` does not serve; use sglang-oai (completions) or sglang-oai-chat",
                serde_json::to_value(raw.server.framework)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ),
        ));
    }
    let tokenizer = b
        .tokenizer
        .clone()
        .or_else(|| raw.server.base_flags.get("model_path").map(scalar_text))
        .ok_or_else(|| {
            ctx.error(
                &["benchmark"],
                "benchmark.tokenizer or server.base_flags.model_path is required",
            )
        })?;
    let qps_spec = b.qps.clone().ok_or_else(|| {
        ctx.error(
            &["benchmark"],
            "benchmark.qps is required: a list of rates or a {lower, upper, tolerance} map",
        )
    })?;
    let qps = resolve_qps(ctx, qps_spec, warnings)?;
    let base_url = b.base_url.clone();
    if !raw.server.launch && base_url.is_none() && raw.server.port.is_none() {
        warnings.push("server.launch is false and neither benchmark.base_url nor server.port is set: using http://127.0.0.1:30000".into());
    }
    Ok(BenchmarkPlan {
        backend,
        tokenizer,
        model: b.served_model_name.clone().or_else(|| b.model.clone()),
        base_url,
        qps,
        max_concurrency: b
            .max_concurrency
            .clone()
            .map_or_else(|| vec![None], |c| c.0),
        sla: b.sla.0.clone(),
        seed: b.seed.unwrap_or(1),
        warmup_requests: b.warmup_requests.unwrap_or(1),
        extra_request_body: b.extra_request_body.clone(),
        disable_stream: b.disable_stream,
        disable_ignore_eos: b.disable_ignore_eos,
        request_timeout: positive_seconds(
            ctx,
            &["benchmark", "request_timeout_sec"],
            b.request_timeout_sec,
            600.0,
        )?,
        output_details: b.output_details,
        tag: b.tag.clone(),
        arrival: b.arrival,
        max_client_lag_ms: b
            .max_client_lag_ms
            .unwrap_or(crate::metrics::CLIENT_LAG_LIMIT_MS),
        early_stop: b.early_stop.unwrap_or(true),
        early_pass: resolve_early_pass(ctx, b)?,
        burstiness: match b.burstiness {
            Some(value) if !(value.is_finite() && value > 0.0) => {
                return Err(ctx.error(
                    &["benchmark", "burstiness"],
                    "must be a positive number (1.0 = Poisson)",
                ));
            }
            Some(value) => value,
            None => 1.0,
        },
    })
}

/// `early_pass` settings.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct EarlyPassPlan {
    /// Fraction of planned requests finished before judging.
    pub after: f64,
    /// Fraction of each SLA limit a clearly passing point stays under.
    pub margin: f64,
}

fn resolve_early_pass(
    ctx: &Ctx,
    b: &super::file::BenchmarkSection,
) -> Result<Option<EarlyPassPlan>, ConfigError> {
    let fraction = |key: &str, value: Option<f64>, default: f64| match value {
        Some(v) if !(v > 0.0 && v <= 1.0) => Err(ctx.error(
            &["benchmark", key],
            "must be a fraction greater than 0 and at most 1",
        )),
        Some(v) => Ok(v),
        None => Ok(default),
    };
    let after = fraction(
        "early_pass_after",
        b.early_pass_after,
        crate::verdict::early_pass::DEFAULT_AFTER,
    )?;
    let margin = fraction(
        "early_pass_margin",
        b.early_pass_margin,
        crate::verdict::early_pass::DEFAULT_MARGIN,
    )?;
    Ok(b.early_pass.then_some(EarlyPassPlan { after, margin }))
}

fn resolve_qps(
    ctx: &Ctx,
    spec: QpsSpec,
    warnings: &mut Vec<String>,
) -> Result<QpsPlan, ConfigError> {
    match spec {
        QpsSpec::Values(values) => {
            if values.is_empty() || values.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
                return Err(ctx.error(
                    &["benchmark", "qps"],
                    "rates must be positive numbers (requests/s)",
                ));
            }
            Ok(QpsPlan::Fixed(values))
        }
        QpsSpec::Bisect {
            lower,
            upper,
            tolerance,
            max_rounds,
        } => {
            if !(lower > 0.0 && upper > lower && upper.is_finite()) {
                return Err(ctx.error(
                    &["benchmark", "qps"],
                    format!("needs 0 < lower < upper, got lower={lower}, upper={upper}"),
                ));
            }
            let tolerance = tolerance.unwrap_or(0.1);
            if !(tolerance.is_finite() && tolerance >= 0.0) {
                return Err(ctx.error(
                    &["benchmark", "qps", "tolerance"],
                    "must be a non-negative number of requests/s",
                ));
            }
            let rounds = max_rounds.unwrap_or(5);
            let clamped = rounds.clamp(1, i64::from(MAX_ROUNDS_LIMIT));
            if rounds != clamped {
                warnings.push(format!("benchmark.qps.max_rounds={rounds} is outside the guardrail 1..={MAX_ROUNDS_LIMIT}; using {clamped}"));
            }
            Ok(QpsPlan::Bisect(Bisect {
                lower,
                upper,
                tolerance,
                max_rounds: u32::try_from(clamped).unwrap_or(MAX_ROUNDS_LIMIT),
            }))
        }
    }
}

fn resolve_duration(
    ctx: &Ctx,
    hours: Option<f64>,
    warnings: &mut Vec<String>,
) -> Result<Duration, ConfigError> {
    let hours = hours.unwrap_or(MAX_DURATION_HOURS);
    if !(hours.is_finite() && hours > 0.0) {
        return Err(ctx.error(
            &["search", "max_duration_hours"],
            "must be a positive number of hours",
        ));
    }
    let clamped = hours.min(MAX_DURATION_HOURS);
    if hours > MAX_DURATION_HOURS {
        warnings.push(format!("search.max_duration_hours={hours} exceeds the {MAX_DURATION_HOURS} h budget guardrail; using {clamped} h"));
    }
    Ok(Duration::from_secs_f64(clamped * 3600.0))
}

fn resolve_speculative(
    s: &SpeculativeSection,
    warnings: &mut Vec<String>,
) -> Option<SpeculativePlan> {
    if !s.enabled {
        return None;
    }
    let draft = s.draft_model_path.clone().unwrap_or_default();
    if draft.trim().is_empty() {
        warnings.push("speculative.enabled is true but speculative.draft_model_path is empty: the speculative stage cannot run (`run` refuses to start)".into());
    }
    Some(SpeculativePlan {
        algorithm: s.algorithm.clone().unwrap_or_else(|| "EAGLE".into()),
        draft_model_path: draft,
        base_flags: flags::canonicalize(&s.base_flags),
        search_space: to_search_keys(&s.search_space),
    })
}
