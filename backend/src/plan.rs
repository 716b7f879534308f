//! The plan of a search, as `autobench plan` prints it and the dashboard's config check shows it:
//! scenarios, candidates with their launch commands (secrets redacted), what the tier or the cap
//! left out, the trial count, a wall-time estimate and warnings. One renderer for both callers.

use shared::outward::{PlanCandidate, PlanEstimate, PlanJson, PlanScenario};
use std::fmt::Write as _;

use shared::candidates::tier_description;
use shared::flags;

use crate::config::RunConfig;
use crate::results::command;
use crate::session;

/// Seconds a server of this framework typically needs to start (for the wall-time estimate); the
/// simulator's, whatever server it plays, when the command is `autobench sim`.
fn startup_estimate_s(cfg: &RunConfig) -> f64 {
    let simulated = cfg.server.command_display.first().map(String::as_str) == Some("autobench")
        && cfg.server.command_display.get(1).map(String::as_str) == Some("sim");
    if simulated {
        let declared = cfg
            .candidates
            .candidates
            .first()
            .and_then(|flags| flags.get("sim_startup_s"))
            .and_then(serde_json::Value::as_f64);
        let from_prefix = cfg
            .server
            .command_display
            .windows(2)
            .find(|w| w[0] == "--sim-startup-s")
            .and_then(|w| w[1].parse().ok());
        return from_prefix
            .or(declared)
            .unwrap_or(shared::kinds::Framework::Sim.profile().startup_estimate_s);
    }
    cfg.server.framework.profile().startup_estimate_s
}

/// Renders the plan text.
pub(crate) fn render(cfg: &RunConfig) -> String {
    let mut out = String::from("=== autobench plan ===\n");
    settings(cfg, &mut out);
    candidates(cfg, &mut out);
    let left_out = left_out(cfg);
    if !left_out.is_empty() {
        let _ = writeln!(out, "\nnot tried:");
        for line in left_out {
            let _ = writeln!(out, "  - {line}");
        }
    }
    estimate(cfg, &mut out);
    let warnings = warnings(cfg);
    if !warnings.is_empty() {
        out.push_str("\nwarnings:\n");
        for warning in &warnings {
            let _ = writeln!(out, "  - {warning}");
        }
    }
    out
}

/// The plan as JSON (`autobench plan --json`): the same facts as [`render`], for scripts.
pub(crate) fn json(cfg: &RunConfig) -> PlanJson {
    let plan = &cfg.candidates;
    let baseline = plan.candidates.first().cloned().unwrap_or_default();
    let profile = cfg.server.framework.profile();
    let candidates = plan
        .candidates
        .iter()
        .enumerate()
        .map(|(id, flags_of)| {
            let mut argv = cfg.server.command_display.clone();
            argv.extend(crate::config::launch_args(
                &profile,
                flags_of,
                &cfg.server.extra_args,
            ));
            PlanCandidate {
                id,
                label: shared::naming::label(flags_of, &baseline),
                flags: flags_of.clone(),
                argv,
            }
        })
        .collect();
    let (trials, launches, wall_s, _) = totals(cfg);
    PlanJson {
        config: cfg.config_path.clone(),
        output_dir: cfg.output_dir.clone(),
        framework: cfg.server.framework.name().into(),
        search: search_text(cfg),
        max_candidates: cfg.max_candidates,
        scenarios: cfg
            .scenarios
            .iter()
            .map(|s| PlanScenario {
                name: s.name.clone(),
                dataset: session::dataset_line(cfg, s),
                num_prompts: cfg.dataset.num_prompts,
            })
            .collect(),
        candidates,
        combinations: plan.combinations,
        not_tried: left_out(cfg),
        estimate: PlanEstimate {
            base_trials: trials,
            server_launches: launches,
            wall_time_s: wall_s,
        },
        speculative: cfg.speculative.is_some(),
        executor: serde_json::to_value(&cfg.executor).unwrap_or_default(),
        warnings: warnings(cfg),
    }
}

/// The config's warnings, then the plan's own: an estimate beyond the time budget.
fn warnings(cfg: &RunConfig) -> Vec<String> {
    let mut warnings = cfg.warnings.clone();
    let (_, _, wall_s, _) = totals(cfg);
    let budget_s = cfg.max_duration.as_secs_f64();
    if wall_s > budget_s && budget_s > 0.0 {
        warnings.push(format!(
            "the estimated wall time (about {}) exceeds search.max_duration_hours ({}): the run may stop at the budget with partial results; raise the budget, lower the tier or max_candidates, or narrow benchmark.qps",
            human(wall_s),
            shared::budget::budget_text(budget_s / 3600.0)
        ));
    }
    warnings
}

/// Seconds a steady-state trial spends beyond its measured part (warm-up, cool-down, the cache
/// flush), on average.
const STEADY_OVERHEAD_S: f64 = 4.0;

/// Base trials, server launches, the wall-time estimate and the seconds per trial it assumes.
///
/// The wall time counts what a search typically does, measured on the quickstart: a bisection
/// walk takes one trial more than its all-fail path (it passes somewhere, then bisects up), every
/// candidate after the first probes the best rate so far first, and each scenario's confirmation
/// measures its contenders and walks the winner down about [`TYPICAL_STEP_DOWNS`] steps (short
/// search windows are optimistic near capacity).
fn totals(cfg: &RunConfig) -> (usize, usize, f64, f64) {
    let plan = &cfg.candidates;
    let walks = cfg.scenarios.len() * cfg.benchmark.max_concurrency.len();
    let per_walk = cfg.benchmark.qps.estimate_trials();
    let trials = walks * plan.candidates.len() * per_walk;
    let bisects = matches!(cfg.benchmark.qps, shared::qps::QpsPlan::Bisect(_));
    let typical_trials = if bisects {
        walks * (plan.candidates.len() * (per_walk + 1) + plan.candidates.len().saturating_sub(1))
    } else {
        trials
    };
    let dataset_s = cfg.dataset.num_prompts.max(1) as f64 / cfg.benchmark.qps.typical_rate();
    // A steady-state trial: its warm-up (a few seconds at the typical rate), the measured part
    // and the cool-down (about one request's lifetime).
    let trial_s = dataset_s.max(cfg.benchmark.min_trial_seconds) + STEADY_OVERHEAD_S;
    // The confirmation: the winner, the runner-up and the baseline once each per scenario, in
    // longer trials, each with a launch, and the winner's steps down.
    let contenders = plan.candidates.len().min(3);
    let checks = cfg.scenarios.len() * (contenders + TYPICAL_STEP_DOWNS);
    let confirm_s = checks as f64
        * (cfg.benchmark.confirm_trial_seconds.max(dataset_s) + STEADY_OVERHEAD_S)
        + (cfg.scenarios.len() * contenders) as f64 * startup_estimate_s(cfg);
    let launches = if cfg.server.relaunch_per_trial {
        typical_trials
    } else {
        plan.candidates.len()
    };
    let wall_s =
        typical_trials as f64 * trial_s + launches as f64 * startup_estimate_s(cfg) + confirm_s;
    (trials, launches, wall_s, trial_s)
}

/// Seconds one candidate's base stage and the confirmation and speculative stages take in this
/// estimate: a Slurm job's time limit comes from them when `executor.time_limit_min` is unset.
pub(crate) fn job_estimates_s(cfg: &RunConfig) -> (f64, f64) {
    let (_, launches, wall_s, trial_s) = totals(cfg);
    let count = cfg.candidates.candidates.len().max(1) as f64;
    let walks = cfg.scenarios.len() * cfg.benchmark.max_concurrency.len();
    let trials = walks * (cfg.benchmark.qps.estimate_trials() + 1);
    let candidate_s =
        trials as f64 * trial_s + (launches as f64 / count).max(1.0) * startup_estimate_s(cfg);
    let finish_s = (wall_s - count * candidate_s).max(candidate_s);
    let speculative_s = if cfg.speculative.is_some() {
        candidate_s
    } else {
        0.0
    };
    (candidate_s, finish_s + speculative_s)
}

/// Confirmation trials of the winner below the search's rate, per scenario, in a typical search.
const TYPICAL_STEP_DOWNS: usize = 2;

/// The settings, one per line.
fn settings(cfg: &RunConfig, out: &mut String) {
    let _ = writeln!(out, "config: {}", cfg.config_path.display());
    if let crate::config::KeyMap::Neutral(section) = cfg.keys {
        let _ = writeln!(
            out,
            "framework: {} (frameworks.{section} of a schema_version 1 config)",
            cfg.server.framework.name()
        );
    }
    let _ = writeln!(
        out,
        "output_dir: {}{}",
        cfg.output_dir.display(),
        if cfg.output_dir_explicit {
            ""
        } else {
            " (timestamped; set benchmark.output_dir to resume)"
        }
    );
    let _ = writeln!(out, "search: {}", search_text(cfg));
    let _ = writeln!(
        out,
        "max_candidates: {}",
        cfg.max_candidates
            .map_or("unbounded".into(), |c| c.to_string())
    );
    let _ = writeln!(
        out,
        "combinations: {} (the tier's flag sets, baseline included, before de-duplication and the cap)",
        cfg.candidates.combinations
    );
    let _ = writeln!(
        out,
        "max_duration_hours: {} ({})",
        cfg.max_duration.as_secs_f64() / 3600.0,
        shared::budget::budget_text(cfg.max_duration.as_secs_f64() / 3600.0)
    );
    let _ = writeln!(out, "executor: {}", executor_text(&cfg.executor));
    let _ = writeln!(out, "qps_plan: {}", cfg.benchmark.qps.describe());
    let _ = writeln!(
        out,
        "trials: steady state (a warm-up at the trial's rate, not counted, its end decided from the latencies; then at least {} s measured; then cool-down load until the last measured request ends), confirmation trials {} (the dataset is cycled, repeats salted); verdicts at {:.0}% confidence, an inconclusive point extended up to {} requests",
        cfg.benchmark.min_trial_seconds,
        if cfg.benchmark.confirm_trial_seconds > 0.0 {
            format!(
                "at least {} s measured and once over the dataset",
                cfg.benchmark.confirm_trial_seconds
            )
        } else {
            "once over the dataset".into()
        },
        cfg.benchmark.confidence * 100.0,
        cfg.benchmark
            .max_requests_per_point
            .map_or("3 x the trial's".into(), |n| n.to_string())
    );
    let _ = writeln!(
        out,
        "max_concurrency: {}",
        cfg.benchmark
            .max_concurrency
            .iter()
            .map(|c| c.map_or("unlimited".into(), |c| c.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(out, "sla: {}", session::sla_text(cfg));
    let _ = writeln!(out, "backend: {}", cfg.benchmark.backend.name());
    let _ = writeln!(
        out,
        "server reuse: {}",
        match (
            cfg.server.relaunch_per_trial,
            cfg.server.framework.profile().cache_reset,
        ) {
            (true, _) => "relaunch for every trial (server.relaunch_per_trial)".to_string(),
            (false, Some("/flush_cache")) => {
                "one launch per candidate, prefix cache emptied (POST /flush_cache) before every trial".to_string()
            }
            (false, Some(path)) => format!(
                "one launch per candidate, prefix cache emptied (POST {path}) before every trial when the server allows it (vLLM: VLLM_SERVER_DEV_MODE=1); otherwise every prompt starts with a marker of its trial"
            ),
            (false, None) => {
                "one launch per candidate; no cache reset endpoint, so every prompt starts with a marker of its trial (`[trial 1a2b] `) and no point is served from an earlier one's prefix cache".to_string()
            }
        }
    );
}

/// The scenarios and the base candidates with their launch commands.
fn candidates(cfg: &RunConfig, out: &mut String) {
    let _ = writeln!(out, "\nscenarios ({}):", cfg.scenarios.len());
    for (i, s) in cfg.scenarios.iter().enumerate() {
        let _ = writeln!(
            out,
            "  [{}/{}] {}: {}, num_prompts={}",
            i + 1,
            cfg.scenarios.len(),
            s.name,
            session::dataset_line(cfg, s),
            cfg.dataset.num_prompts
        );
    }
    let plan = &cfg.candidates;
    let _ = writeln!(out, "\nbase candidates ({}):", plan.candidates.len());
    for (i, candidate) in plan.candidates.iter().enumerate() {
        let _ = writeln!(
            out,
            "  [{i}]{} {}",
            if i == 0 { " (baseline)" } else { "" },
            command::render(&cfg.server, candidate).replace('\n', "\n      ")
        );
    }
}

/// What the tier and the cap leave out, one line each.
fn left_out(cfg: &RunConfig) -> Vec<String> {
    let plan = &cfg.candidates;
    let mut left_out = Vec::new();
    if !plan.dropped_keys.is_empty() {
        left_out.push(format!(
            "tier {} drops these search keys entirely: {}",
            cfg.tier,
            plan.dropped_keys.join(", ")
        ));
    }
    for item in &plan.dropped_values {
        left_out.push(format!(
            "tier {} drops values of {}: {}",
            cfg.tier,
            item.key,
            values(&item.values)
        ));
    }
    if plan.examined < plan.combinations {
        left_out.push(format!(
            "max_candidates stops generation after {} of {} combinations; the rest are not examined",
            plan.examined, plan.combinations
        ));
    } else if plan.capped_candidates > 0 {
        left_out.push(format!(
            "max_candidates cuts {} more candidate(s)",
            plan.capped_candidates
        ));
    }
    if plan.cap_left_out() {
        for item in &plan.untried_after_cap {
            left_out.push(format!(
                "  never tried because of the cap: {} = {}",
                item.key,
                values(&item.values)
            ));
        }
    }
    left_out
}

/// The trial count, the launches and the wall-time estimate, and the speculative stage.
fn estimate(cfg: &RunConfig, out: &mut String) {
    let plan = &cfg.candidates;
    let per_walk = cfg.benchmark.qps.estimate_trials();
    let (trials, launches, wall_s, trial_s) = totals(cfg);
    let _ = writeln!(
        out,
        "\nestimated_base_trials: {trials} ({} scenarios x {} candidates x {} concurrency values x up to {per_walk} rates)",
        cfg.scenarios.len(),
        plan.candidates.len(),
        cfg.benchmark.max_concurrency.len()
    );
    let _ = writeln!(out, "server launches: {launches}");
    let _ = writeln!(
        out,
        "estimated wall time: about {} (about {trial_s:.0} s per trial, {:.0} s per launch, a typical search: its walks, probes and checks)",
        human(wall_s),
        startup_estimate_s(cfg)
    );
    match &cfg.speculative {
        Some(spec) => {
            let _ = writeln!(
                out,
                "speculative stage: enabled ({}, draft {}), run per scenario on the best base candidate",
                spec.algorithm,
                if spec.draft_model_path.is_empty() {
                    "MISSING"
                } else {
                    &spec.draft_model_path
                }
            );
        }
        None => out.push_str("speculative stage: disabled\n"),
    }
}

fn values(values: &[serde_json::Value]) -> String {
    values
        .iter()
        .map(flags::render_scalar)
        .collect::<Vec<_>>()
        .join(", ")
}

fn human(seconds: f64) -> String {
    shared::budget::budget_text(seconds / 3600.0)
}

/// Where candidates run, in a line.
fn executor_text(executor: &crate::config::ExecutorPlan) -> String {
    use crate::config::ExecutorPlan;
    match executor {
        ExecutorPlan::Local => "local (one candidate at a time on this machine)".into(),
        ExecutorPlan::Partitions(p) => format!(
            "partitions: GPUs {} shared out, {} GPU(s) per candidate at most; a GPU's memory must be back within {:.0} MiB of its start-of-run use (waiting up to {:.0} s)",
            p.gpus.join(","),
            p.needs.iter().copied().max().unwrap_or(1),
            p.memory_margin_mib,
            p.memory_timeout.as_secs_f64()
        ),
        ExecutorPlan::Slurm(s) => format!(
            "slurm: one job per candidate ({} node(s), --gres=gpu:{} per node at most, --time={}{}{}), at most {} in flight, {} retries of a job that dies; the confirmation in one more job{}",
            s.nnodes,
            s.needs.iter().copied().max().unwrap_or(1) / s.nnodes.max(1),
            s.time_limit_min
                .map_or("from the estimate".into(), |m| format!("{m} min")),
            s.partition
                .as_ref()
                .map(|p| format!(", --partition={p}"))
                .unwrap_or_default(),
            s.account
                .as_ref()
                .map(|a| format!(", --account={a}"))
                .unwrap_or_default(),
            s.max_jobs,
            s.retries,
            s.cluster_notes
                .iter()
                .map(|note| format!("\n  {note}"))
                .collect::<String>()
        ),
    }
}

/// How candidates were generated: the tier, or schema v1's bounded product (its tier unused).
pub(crate) fn search_text(cfg: &RunConfig) -> String {
    match cfg.keys {
        crate::config::KeyMap::Neutral(_) => "baseline_first_bounded_product (schema v1): the baseline, then the product of search_space in key order, capped by max_candidates_per_framework; search.tier is not used".into(),
        crate::config::KeyMap::Sglang => tier_description(cfg.tier).to_string(),
    }
}
