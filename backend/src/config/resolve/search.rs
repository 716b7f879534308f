//! `search:` and the search space: base candidates from `server.base_flags`, `search_space` and
//! the `parallel` sugar, the speculative stage, and the wall-clock budget.

use std::time::Duration;

use serde_json::Value;

use shared::candidates::{self, CandidatePlan, CandidateSpec, SearchKey};
use shared::flags::{self, FlagMap};

use super::{Ctx, scalar_text};
use crate::config::error::ConfigError;
use crate::config::file::{ConfigFile, SpeculativeSection};
use crate::config::plan::SpeculativePlan;

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

pub(super) fn resolve_candidates(
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

/// GPUs a candidate needs: the explicit count, else tp x pp x dp from its flags (any spelling,
/// [`shared::cost::gpus`]). Here, beside the other GPU counts, for both the partitions and the
/// Slurm executor.
pub(super) fn need(flags: &FlagMap, explicit: Option<u64>) -> usize {
    match explicit {
        Some(count) => count.max(1) as usize,
        None => shared::cost::gpus(flags) as usize,
    }
}

/// GPU count from the first visible-devices variable in `env` that lists devices.
pub(super) fn gpus_from_env(env: &serde_json::Map<String, Value>) -> Option<u64> {
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

pub(super) fn resolve_duration(
    ctx: &Ctx,
    hours: Option<f64>,
    warnings: &mut Vec<String>,
) -> Result<Duration, ConfigError> {
    let hours = hours.unwrap_or(MAX_DURATION_HOURS);
    if !(hours.is_finite() && hours >= 0.0) {
        return Err(ctx.error(
            &["search", "max_duration_hours"],
            "must be a number of hours, 0 or more",
        ));
    }
    if hours == 0.0 {
        warnings.push("search.max_duration_hours is 0: the budget is spent before the first trial, so the run measures nothing and writes empty partial results (as upstream does)".into());
    }
    let clamped = hours.min(MAX_DURATION_HOURS);
    if hours > MAX_DURATION_HOURS {
        warnings.push(format!("search.max_duration_hours={hours} exceeds the {MAX_DURATION_HOURS} h budget guardrail; using {clamped} h"));
    }
    Ok(Duration::from_secs_f64(clamped * 3600.0))
}

pub(super) fn resolve_speculative(
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

/// Refuses candidates whose parallelism sizes the server cannot be told (dp on `trtllm-serve`, any
/// size above 1 on `transformers serve`, an expert-parallel size on vLLM), at the key that set it:
/// `server.parallel`, `server.search_space` or `server.base_flags` (derived dp points at
/// `server.parallel`).
pub(super) fn check_parallel(
    ctx: &Ctx,
    raw: &ConfigFile,
    framework: crate::config::Framework,
    plan: &CandidatePlan,
) -> Result<(), ConfigError> {
    let profile = framework.profile();
    let program = profile.command.join(" ");
    for candidate in &plan.candidates {
        let Err(refused) = flags::translate_parallel(candidate, profile.parallel, &program) else {
            continue;
        };
        let section = &raw.server;
        let sources: [(&str, Option<&FlagMap>); 3] = [
            ("parallel", section.parallel.as_ref()),
            ("search_space", Some(&section.search_space)),
            ("base_flags", Some(&section.base_flags)),
        ];
        let place: Option<(&str, String)> = sources.iter().find_map(|(name, map)| {
            map.and_then(|m| m.keys().find(|k| flags::canonical_key(k) == refused.key))
                .map(|k| (*name, k.clone()))
        });
        return Err(match place {
            Some((name, key)) => ctx.error(&["server", name, key.as_str()], refused.to_string()),
            None => ctx.error(&["server", "parallel"], refused.to_string()),
        });
    }
    Ok(())
}
