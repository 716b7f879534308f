//! `benchmark:` resolution: the request API, tokenizer and model, the rate plan, the SLA and
//! the load generator's knobs (arrival, burstiness, early stop and early pass, timeouts).

use shared::kinds::{ApiBackend, UnknownName};
use shared::qps::{Bisect, MAX_ROUNDS_LIMIT, QpsPlan};

use super::{Ctx, positive_seconds, scalar_text};
use crate::config::de::QpsSpec;
use crate::config::error::ConfigError;
use crate::config::file::{BenchmarkSection, ConfigFile};
use crate::config::plan::{BenchmarkPlan, EarlyPassPlan};

pub(super) fn resolve_benchmark(
    ctx: &Ctx,
    raw: &ConfigFile,
    warnings: &mut Vec<String>,
) -> Result<BenchmarkPlan, ConfigError> {
    let b = &raw.benchmark;
    let backend = resolve_backend(ctx, raw)?;
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
    let min_trial_seconds = seconds_up_to_an_hour(
        ctx,
        "min_trial_seconds",
        b.min_trial_seconds,
        DEFAULT_MIN_TRIAL_SECONDS,
    )?;
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
            .unwrap_or(crate::config::CLIENT_LAG_LIMIT_MS),
        confidence: resolve_confidence(ctx, b.confidence)?,
        min_trial_seconds,
        confirm_trial_seconds: seconds_up_to_an_hour(
            ctx,
            "confirm_trial_seconds",
            b.confirm_trial_seconds,
            (CONFIRM_TRIALS_PER_SEARCH_TRIAL * min_trial_seconds).min(3600.0),
        )?,
        gpu_hour_price: resolve_prices(ctx, raw)?,
        rank_by_cost: resolve_rank_by(ctx, raw)?,
        max_requests_per_point: b.max_requests_per_point,
        early_stop: b.early_stop.unwrap_or(true),
        early_pass: resolve_early_pass(ctx, b)?,
        burstiness: resolve_burstiness(ctx, b.burstiness)?,
    })
}

/// `benchmark.gpu_hour_price`: a positive price of one GPU-hour, at most a million.
fn resolve_price(ctx: &Ctx, price: Option<f64>) -> Result<Option<f64>, ConfigError> {
    match price {
        Some(p) if !(p.is_finite() && p > 0.0 && p <= 1e6) => Err(ctx.error(
            &["benchmark", "gpu_hour_price"],
            format!("must be a positive price of one GPU for an hour (say 2.5), got {p}"),
        )),
        price => Ok(price),
    }
}

/// `benchmark.gpu_hour_price` with the overrides that apply to this run's framework: each must
/// name a framework or flags, with a valid price, and needs a default price beside it.
fn resolve_prices(
    ctx: &Ctx,
    raw: &ConfigFile,
) -> Result<Option<shared::cost::GpuPrice>, ConfigError> {
    let b = &raw.benchmark;
    let default = resolve_price(ctx, b.gpu_hour_price)?;
    let entries = b.gpu_hour_price_overrides.as_deref().unwrap_or_default();
    let key = ["benchmark", "gpu_hour_price_overrides"];
    let Some(default) = default else {
        return if entries.is_empty() {
            Ok(None)
        } else {
            Err(ctx.error(
                &key,
                "needs benchmark.gpu_hour_price beside it: the price of every command no override names",
            ))
        };
    };
    let mut overrides = Vec::new();
    for entry in entries {
        if entry.framework.is_none()
            && entry
                .flags
                .as_ref()
                .is_none_or(shared::flags::FlagMap::is_empty)
        {
            return Err(ctx.error(
                &key,
                "each override names a `framework`, `flags` or both, to say which commands it prices",
            ));
        }
        if !(entry.price.is_finite() && entry.price > 0.0 && entry.price <= 1e6) {
            return Err(ctx.error(
                &key,
                format!(
                    "price must be a positive price of one GPU for an hour (say 2.5), got {}",
                    entry.price
                ),
            ));
        }
        if let Some(name) = &entry.framework {
            let framework: shared::kinds::Framework = name
                .parse()
                .map_err(|e: UnknownName| ctx.error(&key, e.to_string()))?;
            if framework != raw.server.framework {
                continue;
            }
        }
        overrides.push(shared::cost::PriceOverride {
            flags: entry.flags.clone().unwrap_or_default(),
            price: entry.price,
        });
    }
    Ok(Some(shared::cost::GpuPrice {
        default,
        overrides,
        visible_gpus: visible_gpus(raw),
    }))
}

/// The GPUs each candidate holds when its flags name no parallel size: what the executor gives
/// each candidate (`executor.gpus_per_candidate`, partitions or Slurm), else, on the local
/// executor, the devices `server.env` makes visible. Under partitions
/// `server.env.CUDA_VISIBLE_DEVICES` is the pool shared out (a candidate without parallel flags
/// gets one of them), and under Slurm the job's own GPUs replace it, so it counts only locally.
fn visible_gpus(raw: &ConfigFile) -> Option<u64> {
    let local = raw.executor.kind.as_deref().is_none_or(|k| k == "local");
    // SGLang, vLLM and TensorRT-LLM use tp x dp x pp of the devices they see (1 when unset);
    // `transformers serve` has no parallel flags and spreads a model over what it sees.
    let spreads = raw.server.framework == shared::kinds::Framework::Transformers;
    raw.executor.gpus_per_candidate.or_else(|| {
        (local && spreads)
            .then(|| super::search::gpus_from_env(&raw.server.env))
            .flatten()
    })
}

/// `benchmark.rank_by`: `rate` (default) or `cost`, which needs `gpu_hour_price`.
fn resolve_rank_by(ctx: &Ctx, raw: &ConfigFile) -> Result<bool, ConfigError> {
    let key = ["benchmark", "rank_by"];
    match raw.benchmark.rank_by.as_deref() {
        None | Some("rate") => Ok(false),
        Some("cost") if raw.benchmark.gpu_hour_price.is_some() => Ok(true),
        Some("cost") => Err(ctx.error(
            &key,
            "ranking by cost needs benchmark.gpu_hour_price (the price of one GPU for an hour)",
        )),
        Some(other) => {
            let hint = shared::kinds::closest(other, &["rate", "cost"])
                .map_or(String::new(), |h| format!("; did you mean `{h}`?"));
            Err(ctx.error(
                &key,
                format!("expected `rate` or `cost`, got `{other}`{hint}"),
            ))
        }
    }
}

/// `benchmark.backend` (default `auto`), which must be an API the server framework serves.
fn resolve_backend(ctx: &Ctx, raw: &ConfigFile) -> Result<ApiBackend, ConfigError> {
    let backend_name = raw.benchmark.backend.as_deref().unwrap_or("auto");
    let backend: ApiBackend = backend_name
        .parse()
        .map_err(|e: UnknownName| ctx.error(&["benchmark", "backend"], e.to_string()))?;
    let backend = match raw.benchmark.endpoint.as_deref() {
        None => backend,
        Some(endpoint) => endpoint_backend(ctx, endpoint, backend_name, backend)?,
    };
    if backend == ApiBackend::Sglang && !raw.server.framework.profile().sglang_api {
        return Err(ctx.error(
            &["benchmark", "backend"],
            format!(
                "backend `{backend_name}` is SGLang's native /generate, which server.framework `{}` does not serve; use sglang-oai (completions) or sglang-oai-chat",
                raw.server.framework
            ),
        ));
    }
    Ok(backend)
}

/// `benchmark.endpoint` (schema v1): the OpenAI path requests go to, which picks the backend; an
/// explicit backend must agree with it.
fn endpoint_backend(
    ctx: &Ctx,
    endpoint: &str,
    backend_name: &str,
    backend: ApiBackend,
) -> Result<ApiBackend, ConfigError> {
    let by_endpoint = match endpoint.trim_end_matches('/') {
        "/v1/completions" => ApiBackend::SglangOai,
        "/v1/chat/completions" => ApiBackend::SglangOaiChat,
        other => {
            return Err(ctx.error(
                &["benchmark", "endpoint"],
                format!("`{other}` is not an endpoint autobench drives; expected /v1/completions or /v1/chat/completions"),
            ));
        }
    };
    if backend != ApiBackend::Auto && backend != by_endpoint {
        return Err(ctx.error(
            &["benchmark", "endpoint"],
            format!(
                "`{endpoint}` and benchmark.backend `{backend_name}` disagree; set one of them"
            ),
        ));
    }
    Ok(by_endpoint)
}

/// A confirmation trial lasts this many search trials by default (90 s with the default 10-s
/// trials). Near capacity a p99 depends on bursts that come every minute or two: the verdict
/// benchmark's answers were 5% above the long-run truth with 30-s confirmations and 2.5% with
/// 90-s ones (README, "How right the answer is").
const CONFIRM_TRIALS_PER_SEARCH_TRIAL: f64 = 9.0;

/// A `benchmark` length in seconds from 0 (off) to 3600, or `default`.
fn seconds_up_to_an_hour(
    ctx: &Ctx,
    key: &'static str,
    value: Option<f64>,
    default: f64,
) -> Result<f64, ConfigError> {
    let zero = match key {
        "confirm_trial_seconds" => "once over the dataset",
        _ => "off",
    };
    match value {
        Some(v) if !(v.is_finite() && (0.0..=3600.0).contains(&v)) => Err(ctx.error(
            &["benchmark", key],
            format!("must be a number of seconds from 0 ({zero}) to 3600"),
        )),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

/// `benchmark.confidence`: strictly between 0.5 and 1 (default 0.95).
fn resolve_confidence(ctx: &Ctx, value: Option<f64>) -> Result<f64, ConfigError> {
    match value {
        Some(value) if !(value > 0.5 && value < 1.0) => Err(ctx.error(
            &["benchmark", "confidence"],
            "must be a confidence level greater than 0.5 and less than 1 (e.g. 0.95)",
        )),
        Some(value) => Ok(value),
        None => Ok(DEFAULT_CONFIDENCE),
    }
}

/// The request rates a search may ask for (req/s).
const RATES: std::ops::RangeInclusive<f64> = 0.001..=1_000_000.0;

/// The default `benchmark.qps.tolerance` (req/s).
const DEFAULT_TOLERANCE: f64 = 0.1;

/// The default minimum trial duration (s).
pub(super) const DEFAULT_MIN_TRIAL_SECONDS: f64 = 10.0;

/// The default confidence level of verdicts.
pub(super) const DEFAULT_CONFIDENCE: f64 = 0.95;

/// `benchmark.burstiness`: a positive gamma shape, 1.0 (Poisson) when absent.
fn resolve_burstiness(ctx: &Ctx, value: Option<f64>) -> Result<f64, ConfigError> {
    match value {
        Some(value) if !(value.is_finite() && value > 0.0) => Err(ctx.error(
            &["benchmark", "burstiness"],
            "must be a positive number (1.0 = Poisson)",
        )),
        Some(value) => Ok(value),
        None => Ok(1.0),
    }
}

fn resolve_early_pass(
    ctx: &Ctx,
    b: &BenchmarkSection,
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
        crate::config::EARLY_PASS_AFTER,
    )?;
    let margin = fraction(
        "early_pass_margin",
        b.early_pass_margin,
        crate::config::EARLY_PASS_MARGIN,
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
            if values.is_empty() || values.iter().any(|v| !RATES.contains(v)) {
                return Err(ctx.error(
                    &["benchmark", "qps"],
                    "rates must be numbers of requests/s from 0.001 to 1000000",
                ));
            }
            Ok(QpsPlan::Fixed(values))
        }
        QpsSpec::Bisect {
            lower,
            upper,
            tolerance,
            max_rounds,
            spacing,
        } => {
            if !(RATES.contains(&lower) && RATES.contains(&upper) && upper > lower) {
                return Err(ctx.error(
                    &["benchmark", "qps"],
                    format!("needs 0.001 <= lower < upper <= 1000000 (requests/s), got lower={lower}, upper={upper}"),
                ));
            }
            let given = tolerance.is_some();
            let tolerance = tolerance.unwrap_or(DEFAULT_TOLERANCE);
            if !(tolerance.is_finite() && tolerance >= 0.0) {
                return Err(ctx.error(
                    &["benchmark", "qps", "tolerance"],
                    "must be a non-negative number of requests/s",
                ));
            }
            // The search stops once upper - lower is within the tolerance: one at least as
            // wide as the range would measure no rate between the bounds.
            if tolerance >= upper - lower {
                let what = if given { "" } else { " (the default)" };
                // Shown to the micro-request/s (1.1 - 1 is 0.1, not 0.10000000000000009).
                let range = Some(((upper - lower) * 1e6).round() / 1e6)
                    .filter(|r| *r > 0.0)
                    .unwrap_or(upper - lower);
                return Err(ctx.error(
                    &["benchmark", "qps", "tolerance"],
                    format!("{tolerance}{what} is not below upper - lower ({upper} - {lower} = {range} req/s), so the bisection would measure no rate between the bounds; expected a tolerance below {range}"),
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
                spacing: spacing.unwrap_or_default(),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The GPUs the resolved price gives a command without parallel flags, for a config's server
    /// and executor sections.
    fn visible_gpus(server: &str, executor: &str) -> Option<u64> {
        let text = format!(
            "server:\n{server}  base_flags:\n    model_path: m\n{executor}dataset: random\nbenchmark:\n  qps: [1]\n  gpu_hour_price: 2\n"
        );
        let cfg = crate::config::parse(Path::new("c.yaml"), &text).expect("config");
        cfg.benchmark.gpu_hour_price.expect("priced").visible_gpus
    }

    #[test]
    fn a_command_without_parallel_flags_holds_the_gpus_its_candidate_is_given() {
        let pool = "  env:\n    CUDA_VISIBLE_DEVICES: \"0,1,2,3\"\n";
        // `transformers serve`, run here one at a time, spreads over every listed device; an
        // SGLang command without parallel flags uses one of them.
        let transformers = format!("  framework: transformers\n{pool}");
        assert_eq!(visible_gpus(&transformers, ""), Some(4));
        assert_eq!(visible_gpus(pool, ""), None);
        assert_eq!(visible_gpus("", ""), None);
        // Partitions share that pool out: a candidate without parallel flags gets one GPU of it,
        // or gpus_per_candidate.
        let partitions = "executor:\n  kind: partitions\n";
        assert_eq!(visible_gpus(pool, partitions), None);
        let two = "executor:\n  kind: partitions\n  gpus_per_candidate: 2\n";
        assert_eq!(visible_gpus(pool, two), Some(2));
    }
}
