//! The `plan` and `run` subcommands: everything they print for a person.

use crate::frameworks::Finished;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use shared::api::RunStatus;
use shared::events::RunEvent;
use shared::ranking;
use shared::run_dir::RunDir;

use crate::config::{self, RunConfig};
use crate::exit;
use crate::progress::{ConsoleMode, Progress};
use crate::reporter::{EventLog, Fanout, Reporter};
use crate::session::{self, RunOutcome};
use crate::stdout;

/// `autobench plan`.
pub(crate) async fn plan(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let mut cfgs = config::load_all(path, None)?;
    for cfg in &mut cfgs {
        match preflight(cfg, false).await? {
            None => return Ok(ExitCode::from(exit::INTERRUPTED)),
            Some(crate::preflight::Preflight::Skipped(why)) => cfg.warnings.push(why),
            Some(crate::preflight::Preflight::Passed) => {}
        }
    }
    match (json, cfgs.as_slice()) {
        (true, [one]) => stdout::println(crate::plan::json(one))?,
        (true, several) => stdout::println(serde_json::json!({
            "frameworks": several.iter().map(crate::plan::json).collect::<Vec<_>>()
        }))?,
        (false, all) => {
            for cfg in all {
                stdout::print(crate::plan::render(cfg))?;
            }
        }
    }
    Ok(ExitCode::from(exit::MET))
}

/// The server's `--help` against the config's flags ([`crate::preflight`]); `None` when a
/// SIGINT or SIGTERM came first (its child is killed on the way out).
async fn preflight(
    cfg: &config::RunConfig,
    installed_required: bool,
) -> anyhow::Result<Option<crate::preflight::Preflight>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        checked = crate::preflight::check(cfg, installed_required) => Ok(Some(checked?)),
        _ = term.recv() => Ok(None),
        _ = interrupt.recv() => Ok(None),
    }
}

/// `autobench run`: one run, or one per framework of a schema v1 config (ranked together at the
/// end, [`crate::frameworks`]).
#[expect(
    clippy::print_stderr,
    reason = "warnings and the interruption are for the user"
)]
pub(crate) async fn run(
    path: &Path,
    output_dir: Option<PathBuf>,
    paths_from: Option<&Path>,
    quiet: bool,
    dashboard_port: Option<u16>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut cfgs = config::load_all(path, paths_from)?;
    let several = cfgs.len() > 1;
    for cfg in &mut cfgs {
        if let Some(dir) = &output_dir {
            cfg.output_dir = match cfg.keys {
                config::KeyMap::Neutral(framework) => dir.join(framework),
                config::KeyMap::Sglang => dir.clone(),
            };
            cfg.output_dir_explicit = true;
            cfg.warnings
                .retain(|w| !w.starts_with("benchmark.output_dir"));
        }
    }
    crate::launcher::registry::install_panic_hook();
    // Every framework's flags are checked before anything launches or is created.
    for cfg in &mut cfgs {
        match preflight(cfg, true).await? {
            None => return Ok(ExitCode::from(exit::INTERRUPTED)),
            Some(crate::preflight::Preflight::Skipped(why)) => cfg.warnings.push(why),
            Some(crate::preflight::Preflight::Passed) => {}
        }
    }
    for cfg in &cfgs {
        std::fs::create_dir_all(&cfg.output_dir).with_context(|| {
            format!(
                "cannot create the output directory {}",
                cfg.output_dir.display()
            )
        })?;
    }
    let dashboard = match (dashboard_port, cfgs.first()) {
        (Some(port), Some(cfg)) => Some(start_dashboard(cfg, port).await?),
        _ => None,
    };
    let (cancel_tx, cancel_rx) = crate::cancel::channel();
    let signals = tokio::spawn(crate::stop_signals::forward(cancel_tx));
    let mut finished = Vec::new();
    for cfg in &cfgs {
        let done = run_one(cfg, quiet, cancel_rx.clone()).await;
        let done = match done {
            Ok(done) => done,
            Err(error) => {
                signals.abort();
                crate::launcher::registry::kill_all();
                return Err(error);
            }
        };
        let stop = done.outcome.status == RunStatus::Interrupted;
        finished.push(done);
        if stop {
            break;
        }
    }
    signals.abort();
    crate::launcher::registry::kill_all();
    let ranking = several.then(|| crate::frameworks::write(&cfgs, &finished));
    let ranking = match ranking {
        Some(Ok(ranking)) => Some(ranking),
        Some(Err(error)) => {
            eprintln!("warning: the cross-framework ranking was not written: {error:#}");
            None
        }
        None => None,
    };
    if json {
        let answers: Vec<serde_json::Value> = cfgs
            .iter()
            .zip(&finished)
            .map(|(cfg, done)| {
                let mut answer = answer_json(cfg, &done.outcome, done.report.as_deref());
                if let config::KeyMap::Neutral(framework) = cfg.keys {
                    answer["framework"] = framework.into();
                }
                answer
            })
            .collect();
        let answer = match (&ranking, answers.as_slice()) {
            (None, [one]) => one.clone(),
            _ => serde_json::json!({
                "frameworks": answers,
                "ranking": ranking.as_ref().map(|r| &r.json),
            }),
        };
        stdout::unless_closed(stdout::println(answer))?;
    } else {
        let mut text: String = finished.iter().map(|done| done.text.as_str()).collect();
        if let Some(ranking) = &ranking {
            text.push_str(&ranking.text);
        }
        // The results are written and the exit status says whether the SLA was met: a closed
        // stdout loses only the summary.
        stdout::unless_closed(stdout::print(text))?;
    }
    let interrupted = finished
        .iter()
        .find(|d| d.outcome.status == RunStatus::Interrupted);
    let code = match interrupted {
        Some(done) => {
            eprintln!(
                "interrupted: partial results are in {}",
                done.outcome.output_dir.display()
            );
            return Ok(ExitCode::from(exit::INTERRUPTED));
        }
        None if finished.iter().any(|d| d.outcome.any_passed()) => exit::MET,
        None if finished.iter().all(|d| d.outcome.launch_failure) => exit::ERROR,
        None => exit::NOT_MET,
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

/// What `autobench worker` is given.
pub(crate) struct WorkerArgs<'a> {
    pub config: &'a Path,
    pub paths_from: Option<&'a Path>,
    pub run_dir: PathBuf,
    /// `None`: the confirmation and speculative stages.
    pub candidate: Option<usize>,
    pub gpus: &'a str,
    pub budget_s: f64,
    pub framework: Option<&'a str>,
}

/// `autobench worker`: one candidate of a partitioned run ([`session::worker`]).
pub(crate) async fn worker(args: WorkerArgs<'_>) -> anyhow::Result<ExitCode> {
    let cfgs = config::load_all(args.config, args.paths_from)?;
    let mut cfg = cfgs
        .into_iter()
        .find(|c| match (c.keys, args.framework) {
            (config::KeyMap::Neutral(name), Some(wanted)) => name == wanted,
            (_, None) => true,
            _ => false,
        })
        .context("the config has no such framework section")?;
    cfg.output_dir = args.run_dir;
    crate::launcher::registry::install_panic_hook();
    let own = RunDir::new(match args.candidate {
        Some(index) => session::worker::worker_dir(&cfg.output_dir, index),
        None => session::worker::finish_dir(&cfg.output_dir),
    });
    std::fs::create_dir_all(own.root())?;
    let events = EventLog::open(&own.events())?;
    let progress = Progress::new(&own.progress_log(), ConsoleMode::Quiet);
    let reporter = Fanout(vec![Box::new(events), Box::new(progress)]);
    let (cancel_tx, cancel_rx) = crate::cancel::channel();
    let signals = tokio::spawn(crate::stop_signals::forward(cancel_tx));
    let budget = std::time::Duration::from_secs_f64(args.budget_s.max(0.0));
    let done = match args.candidate {
        Some(index) => {
            session::worker::run(&cfg, index, args.gpus, budget, &reporter, cancel_rx).await
        }
        None => session::worker::run_finish(&cfg, args.gpus, budget, &reporter, cancel_rx).await,
    };
    signals.abort();
    crate::launcher::registry::kill_all();
    done?;
    Ok(ExitCode::from(exit::MET))
}

/// Runs one config to its end (or its interruption) and writes its report.
async fn run_one(
    cfg: &RunConfig,
    quiet: bool,
    cancel: crate::cancel::CancelReceiver,
) -> anyhow::Result<Finished> {
    let reporter = reporter(cfg, quiet)?;
    if !quiet {
        // Said first, so a user on another machine can `tail -f` it while the run goes on.
        print_progress_log(cfg);
    }
    for warning in &cfg.warnings {
        reporter.report(&RunEvent::Notice {
            text: format!("warning: {warning}"),
        });
    }
    let outcome = match session::run(cfg, &reporter, cancel).await {
        Ok(outcome) => outcome,
        Err(error) => {
            reporter.report(&RunEvent::RunFailed {
                error: format!("{error:#}"),
            });
            return Err(error);
        }
    };
    let mut text = final_summary(cfg, &outcome);
    let report = match crate::report::write(&outcome.output_dir) {
        Ok(path) => {
            let _ = writeln!(text, "report: {}", path.display());
            Some(path)
        }
        Err(error) => {
            reporter.report(&RunEvent::Notice {
                text: format!("warning: report.html not written: {error:#}"),
            });
            None
        }
    };
    Ok(Finished {
        outcome,
        text,
        report,
    })
}

#[expect(
    clippy::print_stderr,
    reason = "where to follow the run is for the user"
)]
fn print_progress_log(cfg: &RunConfig) {
    let log = RunDir::new(&cfg.output_dir).progress_log();
    let log = std::path::absolute(&log).unwrap_or(log);
    eprintln!("progress log: {} (follow it with `tail -f`)", log.display());
}

/// The run's reporters: `events.jsonl` first (the record every reader uses), then the human
/// rendering on the console and in `progress.log`.
fn reporter(cfg: &RunConfig, quiet: bool) -> anyhow::Result<Fanout> {
    let run_dir = RunDir::new(&cfg.output_dir);
    let events = EventLog::open(&run_dir.events())?;
    let mode = if quiet {
        ConsoleMode::Quiet
    } else {
        ConsoleMode::Normal
    };
    let progress = Progress::new(&run_dir.progress_log(), mode);
    Ok(Fanout(vec![Box::new(events), Box::new(progress)]))
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

/// `autobench report RUN_DIR`: prints the file it wrote.
pub(crate) fn report(run_dir: &Path) -> anyhow::Result<ExitCode> {
    let path = crate::report::write(run_dir)?;
    stdout::println(path.display())?;
    Ok(ExitCode::from(exit::MET))
}

/// Every candidate in a compact table: its change, its best rate, the SLA's latencies there
/// against their limits, and its status (answer, tied, slower, skipped, failed to start).
fn standings_table(standings: &[shared::answer::Standing], sla: &shared::sla::Sla) -> String {
    let mut rows: Vec<Vec<String>> = vec![
        std::iter::once("candidate".to_string())
            .chain(std::iter::once("best rate".to_string()))
            .chain(sla.limits.iter().map(shared::sla::LatencyLimit::plain))
            .chain(std::iter::once("status".to_string()))
            .collect(),
    ];
    for s in standings {
        rows.push(
            std::iter::once(s.name.clone())
                .chain(std::iter::once(
                    s.best_rate.map_or("-".into(), shared::answer::rate),
                ))
                .chain(s.latencies.iter().cloned())
                .chain(std::iter::once(s.status.clone()))
                .collect(),
        );
    }
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if i + 1 == row.len() {
                    cell.clone()
                } else {
                    format!(
                        "{cell:<width$}",
                        width = widths.get(i).copied().unwrap_or(0)
                    )
                }
            })
            .collect();
        let _ = writeln!(out, "    {}", cells.join("  ").trim_end());
    }
    out
}

/// The final answer as JSON (`run --json`): status, and per scenario the best command, its rate
/// with the confirmation's interval, its name, and the files.
fn answer_json(cfg: &RunConfig, outcome: &RunOutcome, report: Option<&Path>) -> serde_json::Value {
    let baseline = cfg
        .candidates
        .candidates
        .first()
        .cloned()
        .unwrap_or_default();
    let scenarios: Vec<serde_json::Value> = outcome
        .scenarios
        .iter()
        .map(|s| {
            let best = s.best.as_ref().map(|b| {
                let c = s.confirmation.as_ref();
                serde_json::json!({
                    "candidate": b.candidate_id,
                    "label": shared::naming::label(&b.server_flags, &baseline),
                    "rate": c.filter(|c| !c.confirmed).and_then(|c| c.passes_at)
                        .unwrap_or_else(|| ranking::credited_rate(b)),
                    "max_concurrency": b.max_concurrency,
                    "confirmed": c.map(|c| c.confirmed),
                    "passes_at": c.and_then(|c| c.passes_at),
                    "fails_at": c.and_then(|c| c.fails_at),
                    "tied_with": c.map(|c| c.tied_with.clone()),
                    "compared_at": c.and_then(|c| c.compared_at),
                    "tie": c.and_then(|c| c.tie_text()),
                    "note": c.map(|c| c.note.clone()),
                    "not_shown": c.and_then(|c| c.not_shown.clone()),
                    "command": s.command,
                })
            });
            serde_json::json!({
                "name": s.name,
                "dataset": s.dataset,
                "headline": s.answer.headline,
                "how_sure": s.answer.how_sure,
                "best": best,
                "files": {
                    "summary": s.dir.join("summary.md"),
                    "results_jsonl": s.dir.join("results.jsonl"),
                    "results_csv": s.dir.join("results.csv"),
                },
            })
        })
        .collect();
    serde_json::json!({
        "status": outcome.status.name(),
        "partial": outcome.partial,
        "output_dir": outcome.output_dir,
        "report": report,
        "scenarios": scenarios,
    })
}

/// What a person needs to act on, printed at the end of `run`.
pub(crate) fn final_summary(cfg: &RunConfig, outcome: &RunOutcome) -> String {
    let mut out = String::from("\n=== autobench result ===\n");
    let _ = writeln!(
        out,
        "search: {}; {} base candidate(s)",
        crate::plan::search_text(cfg),
        cfg.candidates.candidates.len()
    );
    if let Some(reason) = &outcome.partial {
        let word = if outcome.status == RunStatus::Failed {
            "FAILED"
        } else {
            "PARTIAL"
        };
        let _ = writeln!(out, "status: {word} ({reason})");
    } else if outcome.status == RunStatus::Failed {
        let _ = writeln!(out, "status: FAILED (nothing could be measured)");
    }
    for s in &outcome.scenarios {
        let _ = writeln!(out, "\nscenario {}: dataset {}", s.name, s.dataset);
        let _ = writeln!(out, "  {}", s.answer.headline);
        if !s.answer.how_sure.is_empty() {
            let _ = writeln!(out, "  how sure:");
            for sentence in &s.answer.how_sure {
                let _ = writeln!(out, "    - {sentence}");
            }
        }
        if !s.standings.is_empty() {
            let _ = writeln!(out, "  candidates:");
            out.push_str(&standings_table(&s.standings, &cfg.benchmark.sla));
        }
        if let (Some(_), Some(command)) = (&s.best, &s.command) {
            let _ = writeln!(
                out,
                "  launch command:\n    {}",
                command.replace('\n', "\n    ")
            );
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
            RunDir::new(&outcome.output_dir).run_summary().display()
        );
    }
    let _ = writeln!(
        out,
        "progress log: {}",
        RunDir::new(&outcome.output_dir).progress_log().display()
    );
    let here = (!outcome.server_logs.is_empty()).then(|| {
        RunDir::new(&outcome.output_dir)
            .logs()
            .display()
            .to_string()
    });
    let workers = (cfg.executor != config::ExecutorPlan::Local).then(|| {
        format!(
            "{}/workers/cand-<i>/logs (each candidate's worker)",
            outcome.output_dir.display()
        )
    });
    let logs: Vec<String> = here.into_iter().chain(workers).collect();
    if !logs.is_empty() {
        let _ = writeln!(out, "server logs: {}", logs.join(" and "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_candidates_table_lines_up_and_ends_with_the_status() {
        let sla = shared::sla::Sla {
            limits: vec![
                shared::sla::parse_limit_key(
                    "max_p99_ttft_ms",
                    200.0,
                    shared::sla::MeasureFrom::Scheduled,
                )
                .expect("key"),
            ],
            min_success_rate: 1.0,
        };
        let standing =
            |name: &str, rate: Option<f64>, latency: &str, status: &str| shared::answer::Standing {
                stage: shared::record::Stage::Base,
                candidate: 0,
                name: name.into(),
                best_rate: rate,
                status: status.into(),
                latencies: vec![latency.into()],
            };
        let table = standings_table(
            &[
                standing("default", Some(6.0), "150.0 ms", "slower"),
                standing(
                    "--chunked-prefill-size 1024",
                    Some(14.1417),
                    "180.2 ms",
                    "answer",
                ),
                standing(
                    "--mem-fraction-static 0.97",
                    None,
                    "-",
                    "failed to start: oom",
                ),
            ],
            &sla,
        );
        assert_eq!(
            table,
            "    candidate                    best rate    p99 TTFT <= 200 ms  status\n    \
             default                      6.00 req/s   150.0 ms            slower\n    \
             --chunked-prefill-size 1024  14.14 req/s  180.2 ms            answer\n    \
             --mem-fraction-static 0.97   -            -                   failed to start: oom\n"
        );
    }
}
