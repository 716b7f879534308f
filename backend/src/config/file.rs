//! The raw config file, mirroring upstream's YAML schema key for key (UPSTREAM-SPEC section 1)
//! plus autobench's own keys. Every section denies unknown keys; defaults match upstream.
//! Resolution into a runnable plan lives in [`super::resolve`]; the name sets (`framework`,
//! `arrival`) are [`shared::kinds`], read through their one parser.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use shared::FlagMap;
pub(crate) use shared::kinds::Framework;

use super::de::{ConcurrencyList, OneOrMany, QpsSpec, SlaSpec};

/// The whole config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    /// How to launch the server candidates.
    pub server: ServerSection,
    /// The workload.
    #[serde(default, deserialize_with = "dataset_section")]
    pub dataset: Option<DatasetSection>,
    /// Load, SLA and outputs.
    pub benchmark: BenchmarkSection,
    /// Search breadth and budget.
    #[serde(default)]
    pub search: SearchSection,
    /// Optional EAGLE second stage.
    #[serde(default)]
    pub speculative: SpeculativeSection,
    /// Where candidates run (autobench's addition): one after another, or several at once on
    /// disjoint GPU sets.
    #[serde(default)]
    pub executor: ExecutorSection,
}

/// `executor:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExecutorSection {
    /// `local` (one candidate at a time, the default) or `partitions`.
    #[serde(default)]
    pub kind: Option<String>,
    /// The GPUs to share out (default: `server.env.CUDA_VISIBLE_DEVICES`, then the environment's).
    #[serde(default)]
    pub gpus: Option<Value>,
    /// GPUs each candidate gets (default: its tp x pp x dp).
    #[serde(default)]
    pub gpus_per_candidate: Option<u64>,
    /// How far above its start-of-run use a GPU's memory may be when a candidate starts on it.
    #[serde(default)]
    pub gpu_memory_margin_mib: Option<f64>,
    /// How long to wait for a GPU's memory to come back before giving up.
    #[serde(default)]
    pub gpu_memory_timeout_sec: Option<f64>,
    /// Slurm partition (`sbatch --partition`).
    #[serde(default)]
    pub partition: Option<String>,
    /// Slurm account (`sbatch --account`).
    #[serde(default)]
    pub account: Option<String>,
    /// Each candidate's job time limit, minutes.
    #[serde(default)]
    pub time_limit_min: Option<u64>,
    /// More `sbatch` arguments.
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// Most jobs in flight at once.
    #[serde(default)]
    pub max_jobs: Option<usize>,
    /// How many times a job that died (node failure, time limit, preemption) is submitted again.
    #[serde(default)]
    pub retries: Option<u32>,
    /// Shell lines run in each Slurm job before the worker (`module load ...`, `source
    /// venv/bin/activate`).
    #[serde(default)]
    pub setup: Vec<String>,
    /// A container image the servers of a Slurm job run in (pyxis/enroot `srun --container-image`).
    #[serde(default)]
    pub container_image: Option<String>,
    /// pyxis `--container-mounts` (`SRC:DST[:FLAGS]`), a list or one comma-separated string.
    #[serde(default)]
    pub container_mounts: Option<OneOrMany<String>>,
    /// Names of environment variables passed from here to the jobs (`sbatch --export=NAMES`):
    /// set, only these (and Slurm's own) reach a job; values are never written into job scripts.
    #[serde(default)]
    pub pass_env: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

/// `server:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerSection {
    /// Launch and stop servers (false: benchmark `base_url` as is).
    #[serde(default = "yes")]
    pub launch: bool,
    /// Server program family.
    #[serde(default)]
    pub framework: Framework,
    /// Host flag injected into every candidate.
    #[serde(default)]
    pub host: Option<String>,
    /// Port flag injected into every candidate (a free port is picked when absent).
    #[serde(default)]
    pub port: Option<u16>,
    /// Extra environment for the server process.
    #[serde(default)]
    pub env: serde_json::Map<String, Value>,
    /// Command before the flags (string is shell-split).
    #[serde(default)]
    pub command_prefix: Option<OneOrMany<String>>,
    /// Arguments appended after the flags.
    #[serde(default)]
    pub extra_args: Vec<Value>,
    /// Baseline flags.
    #[serde(default)]
    pub base_flags: FlagMap,
    /// Flags to sweep, in priority order.
    #[serde(default)]
    pub search_space: FlagMap,
    /// Parallel-search sugar (`tp`, `pp_size`, ..., `gpu_count`).
    #[serde(default)]
    pub parallel: Option<FlagMap>,
    /// GPU count for `dp_size` derivation.
    #[serde(default)]
    pub gpu_count: Option<u64>,
    /// Relaunch the server for every trial (upstream behaviour; slow).
    #[serde(default)]
    pub relaunch_per_trial: bool,
    /// Readiness path polled after launch (default `/health`).
    #[serde(default)]
    pub health_path: Option<String>,
    /// Seconds between SIGTERM and SIGKILL at shutdown.
    #[serde(default)]
    pub shutdown_grace_sec: Option<f64>,
    /// Nodes one server spans (`executor.kind: slurm` only): one job of this many nodes per
    /// candidate, the server started on each with the framework's multi-node flags.
    #[serde(default)]
    pub nnodes: Option<u64>,
}

/// `benchmark:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BenchmarkSection {
    /// Request path: `auto`, `sglang`, `sglang-oai`, `sglang-oai-chat`, ...
    #[serde(default)]
    pub backend: Option<String>,
    /// The OpenAI path to drive (`/v1/completions`, `/v1/chat/completions`), as schema v1 names
    /// it; picks the backend.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Tokenizer for dataset preparation (defaults to `base_flags.model_path`).
    #[serde(default)]
    pub tokenizer: Option<String>,
    /// Model name for requests (default: first id of `/v1/models`).
    #[serde(default)]
    pub model: Option<String>,
    /// Served model name for requests.
    #[serde(default)]
    pub served_model_name: Option<String>,
    /// Target URL (default `http://host:port`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Request rates.
    #[serde(alias = "request_rate")]
    pub qps: Option<QpsSpec>,
    /// Client concurrency caps.
    #[serde(default)]
    pub max_concurrency: Option<ConcurrencyList>,
    /// Latency SLA.
    #[serde(default)]
    pub sla: SlaSpec,
    /// Output directory.
    #[serde(default)]
    pub output_dir: Option<String>,
    /// Arrival RNG seed.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Server start-up timeout in seconds.
    #[serde(default)]
    pub ready_check_timeout_sec: Option<f64>,
    /// Accepted for compatibility (autobench draws its own progress).
    #[serde(default)]
    #[expect(dead_code, reason = "upstream's key, accepted and ignored")]
    pub disable_tqdm: Option<bool>,
    /// Write per-request details next to each trial.
    #[serde(default)]
    pub output_details: bool,
    /// Send non-streaming requests.
    #[serde(default)]
    pub disable_stream: bool,
    /// Let the server stop at EOS instead of forcing the output length.
    #[serde(default)]
    pub disable_ignore_eos: bool,
    /// Accepted for compatibility (prefill/decode disaggregation is not supported yet).
    #[serde(default)]
    pub pd_separated: bool,
    /// Flush the server cache after warmup (always done between points of a reused server).
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "upstream's key, accepted: the cache is always flushed between points"
    )]
    pub flush_cache: bool,
    /// Free-form tag stored with every trial.
    #[serde(default)]
    pub tag: Option<String>,
    /// Warmup requests before each trial (default 1).
    #[serde(default)]
    pub warmup_requests: Option<u32>,
    /// Fields merged into every request body.
    #[serde(default)]
    pub extra_request_body: serde_json::Map<String, Value>,
    /// Legacy: custom dataset path.
    #[serde(default)]
    pub dataset_path: Option<String>,
    /// Legacy: dataset row count.
    #[serde(default)]
    pub num_prompts: Option<u64>,
    /// Per-request timeout in seconds (default 600).
    #[serde(default)]
    pub request_timeout_sec: Option<f64>,
    /// Stop a trial as soon as its SLA verdict is certain (default true).
    #[serde(default)]
    pub early_stop: Option<bool>,
    /// Stop a trial early once it is clearly passing (opt-in, default false).
    #[serde(default)]
    pub early_pass: bool,
    /// Fraction of planned requests that must finish before `early_pass` judges (default 0.5).
    #[serde(default)]
    pub early_pass_after: Option<f64>,
    /// `early_pass` tightens every SLA limit to this fraction of its value (default 0.8).
    #[serde(default)]
    pub early_pass_margin: Option<f64>,
    /// p99 client dispatch lag (ms) above which a trial is client-limited (default 10).
    #[serde(default)]
    pub max_client_lag_ms: Option<f64>,
    /// Every trial lasts at least this long, cycling the dataset (default 10; 0 disables).
    #[serde(default)]
    pub min_trial_seconds: Option<f64>,
    /// Length of each confirmation trial (default 9 x min_trial_seconds).
    #[serde(default)]
    pub confirm_trial_seconds: Option<f64>,
    /// The price of one GPU for an hour (any currency, written as dollars): each answer then
    /// says what a million output tokens cost at its rate.
    #[serde(default)]
    pub gpu_hour_price: Option<f64>,
    /// Other GPU-hour prices: per framework, or for the candidates whose flags include the given
    /// values (the first that matches wins).
    #[serde(default)]
    pub gpu_hour_price_overrides: Option<Vec<PriceOverrideEntry>>,
    /// What the answer ranks by: `rate` (default) or `cost` per million output tokens.
    #[serde(default)]
    pub rank_by: Option<String>,
    /// Confidence level of every pass/fail verdict (default 0.95).
    #[serde(default)]
    pub confidence: Option<f64>,
    /// An inconclusive point is measured again (pooling the requests) up to this many requests
    /// (default 3 x num_prompts).
    #[serde(default)]
    pub max_requests_per_point: Option<u64>,
    /// Gamma shape of Poisson-like arrival gaps (1.0 = Poisson; lower is burstier).
    #[serde(default)]
    pub burstiness: Option<f64>,
    /// Arrival process: poisson (default), constant, or trace (row timestamps).
    #[serde(default)]
    pub arrival: shared::kinds::Arrival,
}

/// `search:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchSection {
    /// Candidate tier.
    #[serde(default = "default_tier")]
    pub tier: i64,
    /// Candidate cap (`null` = unbounded).
    #[serde(
        default = "super::de::default_max_candidates",
        deserialize_with = "super::de::max_candidates"
    )]
    pub max_candidates: Option<usize>,
    /// Reuse finished trials in the same output dir.
    #[serde(default = "yes")]
    pub resume: bool,
    /// Wall-clock budget for the whole run.
    #[serde(default)]
    pub max_duration_hours: Option<f64>,
}

fn default_tier() -> i64 {
    2
}

impl Default for SearchSection {
    fn default() -> Self {
        SearchSection {
            tier: default_tier(),
            max_candidates: super::de::default_max_candidates(),
            resume: true,
            max_duration_hours: None,
        }
    }
}

/// `speculative:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SpeculativeSection {
    /// Run the second stage.
    #[serde(default)]
    pub enabled: bool,
    /// `speculative_algorithm` (default EAGLE).
    #[serde(default)]
    pub algorithm: Option<String>,
    /// `speculative_draft_model_path`.
    #[serde(default)]
    pub draft_model_path: Option<String>,
    /// Flags overlaid on the best base candidate.
    #[serde(default)]
    pub base_flags: FlagMap,
    /// Speculative flags to sweep.
    #[serde(default)]
    pub search_space: FlagMap,
}

/// `dataset:` as a map.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DatasetSection {
    /// `sharegpt`, `custom`, `random`, `generated-shared-prefix` (`autobench` = custom).
    #[serde(default)]
    pub kind: Option<String>,
    /// File path (custom, sharegpt).
    #[serde(default)]
    pub path: Option<String>,
    /// Rows to use.
    #[serde(default)]
    pub num_prompts: Option<u64>,
    /// Display name of the single scenario.
    #[serde(default)]
    pub scenario_name: Option<String>,
    /// Display names of random scenarios.
    #[serde(default)]
    pub scenario_names: Option<Vec<String>>,
    /// Random input lengths (tokens).
    #[serde(default, alias = "random_input_len")]
    pub input_len: Option<OneOrMany<u64>>,
    /// Random output lengths, or a fixed output length for other kinds.
    #[serde(default, alias = "random_output_len")]
    pub output_len: Option<OneOrMany<u64>>,
    /// Upstream length sampling ratio; absent means exact lengths.
    #[serde(default)]
    pub random_range_ratio: Option<f64>,
    /// Drop rows longer than this (prompt + output tokens).
    #[serde(default)]
    pub context_len: Option<u64>,
    /// Appended to legacy prompts.
    #[serde(default)]
    pub prompt_suffix: Option<String>,
    /// Apply the chat template client-side (legacy formats).
    #[serde(default)]
    pub apply_chat_template: bool,
    /// Generated-shared-prefix groups.
    #[serde(default)]
    pub gsp_num_groups: Option<u64>,
    /// Prompts per group.
    #[serde(default)]
    pub gsp_prompts_per_group: Option<u64>,
    /// Shared system prompt length.
    #[serde(default)]
    pub gsp_system_prompt_len: Option<u64>,
    /// Question length.
    #[serde(default)]
    pub gsp_question_len: Option<u64>,
    /// Output length.
    #[serde(default)]
    pub gsp_output_len: Option<u64>,
    /// Length range ratio.
    #[serde(default)]
    pub gsp_range_ratio: Option<f64>,
    /// Skip tokenisation.
    #[serde(default)]
    pub gsp_fast_prepare: bool,
    /// Send a per-group routing key.
    #[serde(default)]
    pub gsp_send_routing_key: bool,
    /// Turns per conversation.
    #[serde(default)]
    pub gsp_num_turns: Option<u64>,
    /// Keep group order.
    #[serde(default)]
    pub gsp_ordered: bool,
    /// Dataset preparation seed.
    #[serde(default)]
    pub seed: Option<u64>,
}

/// Reads `dataset:` given either as a bare kind string or as a map.
pub(crate) fn dataset_section<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DatasetSection>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<DatasetSection>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a dataset kind (random, sharegpt, custom, generated-shared-prefix) or a dataset map")
        }
        fn visit_str<E: de::Error>(self, kind: &str) -> Result<Self::Value, E> {
            Ok(Some(DatasetSection {
                kind: Some(kind.to_string()),
                ..DatasetSection::default()
            }))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            DatasetSection::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
    deserializer.deserialize_any(V)
}

/// One entry of `benchmark.gpu_hour_price_overrides`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PriceOverrideEntry {
    /// Only for this framework's run (schema v1 configs that enable several).
    #[serde(default)]
    pub(crate) framework: Option<String>,
    /// Only for the candidates whose flags include these values (server spelling).
    #[serde(default)]
    pub(crate) flags: Option<FlagMap>,
    /// The price of one GPU for an hour.
    pub(crate) price: f64,
}
