//! The resolved, runnable plan: what [`super::resolve`] produces from the raw file and what the
//! session, the launcher and the load generator read. Serialised into the plan output.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use shared::candidates::{CandidatePlan, CandidateSpec, SearchKey};
use shared::flags::FlagMap;
use shared::kinds::{ApiBackend, Arrival, DatasetKind, Framework};
use shared::qps::QpsPlan;
use shared::sla::Sla;

/// The resolved dataset settings shared by all scenarios.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DatasetPlan {
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
    pub gsp: GspOptions,
}

/// One scenario (one workload shape).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Scenario {
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
pub(crate) struct ServerPlan {
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
pub(crate) struct BenchmarkPlan {
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
    pub arrival: Arrival,
    /// Client-limited threshold on p99 dispatch lag.
    pub max_client_lag_ms: f64,
    /// Minimum trial duration (s): the dataset is cycled to reach it.
    pub min_trial_seconds: f64,
    /// Length of each confirmation trial (s).
    pub confirm_trial_seconds: f64,
    /// The price of one GPU-hour, when given: answers carry their cost per million output tokens.
    pub gpu_hour_price: Option<shared::cost::GpuPrice>,
    /// `benchmark.rank_by: cost`: the answer is the cheapest command per output token at a rate
    /// a long check held (needs a price).
    pub rank_by_cost: bool,
    /// Confidence level of verdicts (0.5 < c < 1).
    pub confidence: f64,
    /// Cap on the requests an inconclusive point is extended to (`None`: 3 x num_prompts).
    pub max_requests_per_point: Option<u64>,
    /// SLA early stop.
    pub early_stop: bool,
    /// Opt-in early stop for clearly passing points.
    pub early_pass: Option<EarlyPassPlan>,
    /// Gamma shape of arrival gaps.
    pub burstiness: f64,
}

/// The speculative stage.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SpeculativePlan {
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
pub(crate) struct RunConfig {
    /// The config file.
    pub config_path: PathBuf,
    /// Server launch settings.
    pub server: ServerPlan,
    /// The GPU memory check before each launch.
    pub memory_gate: MemoryGate,
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
    /// Where candidates run.
    pub executor: ExecutorPlan,
    /// The folder relative paths in the config were taken from (for workers).
    pub paths_base: PathBuf,
    /// Where the sglang schema's keys are in the config file (another place for schema v1).
    #[serde(skip)]
    pub keys: KeyMap,
}

/// Where candidates run.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub(crate) enum ExecutorPlan {
    /// One candidate at a time on this machine (its GPUs as `server.env` says).
    Local,
    /// Several at once on disjoint sets of this machine's GPUs.
    Partitions(Partitions),
    /// One Slurm job per candidate.
    Slurm(SlurmPlan),
}

/// `executor: {kind: slurm}`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct SlurmPlan {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// Each job's time limit, minutes (`None`: the plan's estimate for the job, with a margin).
    pub time_limit_min: Option<u64>,
    /// More `sbatch` arguments.
    pub sbatch_args: Vec<String>,
    /// Most jobs in flight.
    pub max_jobs: usize,
    /// GPUs each candidate's job asks for, by candidate index.
    pub needs: Vec<usize>,
    /// Resubmissions of a job that died.
    pub retries: u32,
    /// Shell lines run in each job before the worker.
    pub setup: Vec<String>,
    /// The container the servers run in (pyxis), if any.
    pub container: Option<Container>,
    /// Environment variables passed to the jobs by name (`None`: Slurm's default, all of them).
    pub pass_env: Option<Vec<String>>,
    /// Nodes each server spans (1: one node).
    pub nnodes: usize,
    /// `gpus_per_candidate` was set (else the GPUs come from the flags' parallel sizes).
    pub gpus_explicit: bool,
    /// The partition's time limit, once the checks read it: an estimated limit is capped at it.
    pub partition_time_limit_min: Option<u64>,
    /// What the checks against the cluster found (the partition, each job's time limit).
    pub cluster_notes: Vec<String>,
}

/// A pyxis/enroot container for the servers of a Slurm job (`srun --container-image`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Container {
    /// `--container-image`.
    pub image: String,
    /// `--container-mounts` entries (`SRC:DST[:FLAGS]`).
    pub mounts: Vec<String>,
}

/// Before a candidate's server starts, its GPUs' memory must be back within `margin_mib` of what
/// it was at the start of the run (read with `nvidia-smi` when present), waiting up to `timeout`:
/// a previous server that has not let go of its memory would make the next one OOM or run
/// slower. The same for every executor and stage.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub(crate) struct MemoryGate {
    /// Allowed memory above a GPU's start-of-run use (MiB).
    pub margin_mib: f64,
    /// How long to wait for that.
    #[serde(with = "humantime_secs")]
    pub timeout: Duration,
}

/// The GPUs shared out among candidates running at once.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Partitions {
    /// GPU ids as `CUDA_VISIBLE_DEVICES` names them.
    pub gpus: Vec<String>,
    /// GPUs each candidate needs, by candidate index.
    pub needs: Vec<usize>,
    /// Allowed memory above a GPU's start-of-run use when a candidate starts on it (MiB).
    pub memory_margin_mib: f64,
    /// How long to wait for that.
    #[serde(with = "humantime_secs")]
    pub memory_timeout: Duration,
}

/// Serializes a duration as seconds.
mod humantime_secs {
    pub(super) fn serialize<S: serde::Serializer>(
        value: &std::time::Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(value.as_secs_f64())
    }
}

/// Where a key of the sglang schema (`server.base_flags.x`) is in the config file: the same
/// place, or, in a framework-neutral (schema v1) config, under `frameworks.<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum KeyMap {
    /// The file is in the sglang schema.
    #[default]
    Sglang,
    /// The file is in schema v1; the run is its `frameworks.<name>` section.
    Neutral(&'static str),
}

impl KeyMap {
    /// The path in the file of `key_path`, a path in the sglang schema.
    pub(crate) fn source(self, key_path: &[&str]) -> Vec<String> {
        let owned = || key_path.iter().map(|k| (*k).to_string()).collect();
        let KeyMap::Neutral(framework) = self else {
            return owned();
        };
        let under = |key: &str, rest: &[&str]| {
            let mut out = vec![
                "frameworks".to_string(),
                framework.to_string(),
                key.to_string(),
            ];
            out.extend(rest.iter().map(|k| (*k).to_string()));
            out
        };
        match key_path {
            ["server", "base_flags", rest @ ..] => under("base_server_flags", rest),
            ["server", "search_space", rest @ ..] => under("search_space", rest),
            ["server", "env", rest @ ..] => under("env", rest),
            ["server", ..] => under("server_command", &[]),
            ["search", "max_candidates"] => vec![
                "search".to_string(),
                "max_candidates_per_framework".to_string(),
            ],
            _ => owned(),
        }
    }
}

/// `early_pass` settings.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct EarlyPassPlan {
    /// Fraction of planned requests finished before judging.
    pub after: f64,
    /// Fraction of each SLA limit a clearly passing point stays under.
    pub margin: f64,
}

/// Generator settings (upstream's `gsp_*` keys).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct GspOptions {
    /// Groups.
    pub num_groups: u64,
    /// Requests per group.
    pub prompts_per_group: u64,
    /// Shared system prompt tokens.
    pub system_prompt_len: u64,
    /// Question tokens.
    pub question_len: u64,
    /// Output tokens.
    pub output_len: u64,
    /// Length range ratio (1.0 = exact).
    pub range_ratio: f64,
    /// Skip tokenisation of prompts (records `prompt_len` 1, as upstream).
    pub fast_prepare: bool,
    /// Attach a per-group routing key.
    pub send_routing_key: bool,
    /// Turns per request.
    pub num_turns: u64,
    /// Keep group order instead of shuffling.
    pub ordered: bool,
    /// Seed.
    pub seed: u64,
}

impl Default for GspOptions {
    fn default() -> Self {
        GspOptions {
            num_groups: 64,
            prompts_per_group: 16,
            system_prompt_len: 2048,
            question_len: 128,
            output_len: 256,
            range_ratio: 1.0,
            fast_prepare: false,
            send_routing_key: false,
            num_turns: 1,
            ordered: false,
            seed: 1,
        }
    }
}
