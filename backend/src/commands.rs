//! The `plan` and `run` subcommands: everything they print for a person.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use shared::candidates::tier_description;
use shared::flags;
use shared::ranking;

use crate::cli::exit;
use crate::config::{self, RunConfig};
use crate::progress::{ConsoleMode, Progress};
use crate::results::command;
use crate::session::{self, RunOutcome};

/// Seconds a server of this framework typically needs to start (for the wall-time estimate).
fn startup_estimate_s(cfg: &RunConfig) -> f64 {
    cfg.server.framework.profile().startup_estimate_s
}

/// Renders the plan text.
pub fn plan_text(cfg: &RunConfig) -> String {
    let mut out = String::from("=== autobench plan ===\n");
    let _ = writeln!(out, "config: {}", cfg.config_path.display());
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
    let _ = writeln!(out, "search: {}", tier_description(cfg.tier));
    let _ = writeln!(
        out,
        "max_candidates: {}",
        cfg.max_candidates
            .map_or("unbounded".into(), |c| c.to_string())
    );
    let _ = writeln!(
        out,
        "max_duration_hours: {:.1}",
        cfg.max_duration.as_secs_f64() / 3600.0
    );
    let _ = writeln!(out, "qps_plan: {}", cfg.benchmark.qps.describe());
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
            cfg.server.framework.profile().sglang_api,
        ) {
            (true, _) => "relaunch for every trial (server.relaunch_per_trial)",
            (false, true) => "one launch per candidate, cache flushed between points",
            (false, false) => "one launch per candidate (this server has no cache flush endpoint)",
        }
    );
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
    if plan.capped_candidates > 0 {
        left_out.push(format!(
            "max_candidates cuts {} more candidate(s)",
            plan.capped_candidates
        ));
        for item in &plan.untried_after_cap {
            left_out.push(format!(
                "  never tried because of the cap: {} = {}",
                item.key,
                values(&item.values)
            ));
        }
    }
    if !left_out.is_empty() {
        let _ = writeln!(out, "\nnot tried:");
        for line in left_out {
            let _ = writeln!(out, "  - {line}");
        }
    }
    let per_walk = cfg.benchmark.qps.estimate_trials();
    let trials = cfg.scenarios.len()
        * plan.candidates.len()
        * cfg.benchmark.max_concurrency.len()
        * per_walk;
    let trial_s = cfg.dataset.num_prompts.max(1) as f64 / cfg.benchmark.qps.typical_rate() + 3.0;
    let launches = if cfg.server.relaunch_per_trial {
        trials
    } else {
        plan.candidates.len()
    };
    let wall_s = trials as f64 * trial_s + launches as f64 * startup_estimate_s(cfg);
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
        "estimated wall time: up to {} (about {trial_s:.0} s per trial, {:.0} s per launch)",
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
    if !cfg.warnings.is_empty() {
        out.push_str("\nwarnings:\n");
        for warning in &cfg.warnings {
            let _ = writeln!(out, "  - {warning}");
        }
    }
    out
}

fn values(values: &[serde_json::Value]) -> String {
    values
        .iter()
        .map(flags::render_scalar)
        .collect::<Vec<_>>()
        .join(", ")
}

fn human(seconds: f64) -> String {
    if seconds >= 3600.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else if seconds >= 60.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{seconds:.0} s")
    }
}

/// `autobench plan`.
#[expect(clippy::print_stdout, reason = "the plan is the command's output")]
pub fn plan(path: &Path) -> anyhow::Result<ExitCode> {
    let cfg = config::load(path)?;
    print!("{}", plan_text(&cfg));
    Ok(ExitCode::from(exit::MET))
}

/// `autobench run`.
#[expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the final summary is the command's output"
)]
pub async fn run(
    path: &Path,
    output_dir: Option<PathBuf>,
    quiet: bool,
    dashboard_port: Option<u16>,
) -> anyhow::Result<ExitCode> {
    let mut cfg = config::load(path)?;
    if let Some(dir) = output_dir {
        cfg.output_dir = dir;
        cfg.output_dir_explicit = true;
        cfg.warnings
            .retain(|w| !w.starts_with("benchmark.output_dir"));
    }
    crate::launcher::registry::install_panic_hook();
    std::fs::create_dir_all(&cfg.output_dir)?;
    let progress = Progress::new(
        &cfg.output_dir.join("progress.log"),
        if quiet {
            ConsoleMode::Quiet
        } else {
            ConsoleMode::Normal
        },
    );
    for warning in &cfg.warnings {
        progress.line(&format!("warning: {warning}"));
    }
    let dashboard = match dashboard_port {
        Some(port) => Some(start_dashboard(&cfg, port).await?),
        None => None,
    };
    let (cancel_tx, cancel_rx) = crate::cancel::channel();
    let signals = tokio::spawn(forward_signals(cancel_tx));
    let outcome = session::run(&cfg, &progress, cancel_rx).await;
    signals.abort();
    crate::launcher::registry::kill_all();
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            progress.line(&format!("run failed: {error:#}"));
            return Err(error);
        }
    };
    let mut text = final_summary(&cfg, &outcome);
    match crate::report::write(&outcome.output_dir) {
        Ok(path) => {
            let _ = writeln!(text, "report: {}", path.display());
        }
        Err(error) => progress.line(&format!("warning: report.html not written: {error:#}")),
    }
    progress.line("run finished; summary follows");
    print!("{text}");
    let code = if outcome
        .partial
        .as_deref()
        .is_some_and(|p| p.starts_with("interrupted"))
    {
        progress.line("run interrupted; partial results written");
        eprintln!(
            "interrupted: partial results are in {}",
            outcome.output_dir.display()
        );
        return Ok(ExitCode::from(exit::INTERRUPTED));
    } else if outcome.any_passed() {
        exit::MET
    } else {
        exit::NOT_MET
    };
    if let Some(dashboard) = dashboard {
        eprintln!(
            "dashboard still serving at {} ; press Ctrl-C to stop it",
            dashboard.url
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    Ok(ExitCode::from(code))
}

/// Starts the dashboard for `run --serve`: the results root is the output folder's parent, and
/// the printed URL opens this run's page.
#[expect(clippy::print_stderr, reason = "the dashboard URL is for the user")]
async fn start_dashboard(cfg: &RunConfig, port: u16) -> anyhow::Result<crate::web::Dashboard> {
    let output = std::path::absolute(&cfg.output_dir)?;
    let root = output
        .parent()
        .map_or_else(|| output.clone(), Path::to_path_buf);
    let id = output
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let args = crate::web::ServeArgs {
        dir: root,
        host: "127.0.0.1".into(),
        port,
        token: None,
        references: None,
    };
    let dashboard = crate::web::start(&args).await?;
    eprintln!("dashboard: {}#/run/{id}", dashboard.url);
    Ok(dashboard)
}

/// `autobench report RUN_DIR`.
#[expect(clippy::print_stdout, reason = "the command prints the file it wrote")]
pub fn report(run_dir: &Path) -> anyhow::Result<ExitCode> {
    let path = crate::report::write(run_dir)?;
    println!("{}", path.display());
    Ok(ExitCode::from(exit::MET))
}

async fn forward_signals(cancel: crate::cancel::CancelSender) {
    use tokio::signal::unix::{SignalKind, signal};
    let kinds = [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ];
    let Ok(mut streams) = kinds.into_iter().map(signal).collect::<Result<Vec<_>, _>>() else {
        return;
    };
    // SIGINT, SIGTERM and SIGHUP (the terminal went away) stop the run with partial results.
    futures_util::future::select_all(streams.iter_mut().map(|s| Box::pin(s.recv()))).await;
    let _ = cancel.send(true);
    // A second signal means "now": kill the servers and leave.
    futures_util::future::select_all(streams.iter_mut().map(|s| Box::pin(s.recv()))).await;
    crate::launcher::registry::kill_all();
    std::process::exit(i32::from(exit::INTERRUPTED));
}

/// What a person needs to act on, printed at the end of `run`.
pub fn final_summary(cfg: &RunConfig, outcome: &RunOutcome) -> String {
    let mut out = String::from("\n=== autobench result ===\n");
    let _ = writeln!(
        out,
        "search: {}; {} base candidate(s)",
        tier_description(cfg.tier),
        cfg.candidates.candidates.len()
    );
    if let Some(reason) = &outcome.partial {
        let _ = writeln!(out, "status: PARTIAL ({reason})");
    }
    for s in &outcome.scenarios {
        let _ = writeln!(out, "\nscenario {}: dataset {}", s.name, s.dataset);
        match (&s.best, &s.command) {
            (Some(best), Some(command)) => {
                let _ = writeln!(
                    out,
                    "  best: candidate {} ({} stage) met the SLA at {:.4} req/s (max_concurrency {}), {:.1} output tok/s, mean TTFT {:.1} ms, mean TPOT {:.2} ms",
                    best.candidate_id,
                    best.stage,
                    ranking::credited_rate(best),
                    best.max_concurrency
                        .map_or("unlimited".into(), |c| c.to_string()),
                    best.metric("output_throughput").unwrap_or(0.0),
                    best.metric("mean_ttft_ms").unwrap_or(0.0),
                    best.metric("mean_tpot_ms").unwrap_or(0.0)
                );
                let _ = writeln!(
                    out,
                    "  launch command:\n    {}",
                    command.replace('\n', "\n    ")
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "  no candidate met the SLA ({})",
                    session::sla_text(cfg)
                );
            }
        }
        let _ = writeln!(
            out,
            "  files: {}/summary.md, results.csv, results.jsonl, prepared_dataset.jsonl",
            s.dir.display()
        );
    }
    let _ = writeln!(
        out,
        "\nspeculative stage: {}",
        outcome.speculative.as_deref().unwrap_or("disabled")
    );
    if cfg.scenarios.len() > 1 {
        let _ = writeln!(
            out,
            "summary of all scenarios: {}",
            outcome.output_dir.join("SUMMARY.md").display()
        );
    }
    let _ = writeln!(
        out,
        "progress log: {}",
        outcome.output_dir.join("progress.log").display()
    );
    if !outcome.server_logs.is_empty() {
        let _ = writeln!(
            out,
            "server logs: {}",
            outcome.output_dir.join("logs").display()
        );
    }
    out
}
