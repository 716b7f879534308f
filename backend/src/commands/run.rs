//! `autobench run`: one run (or one per framework), with its console, progress log, events and
//! optional dashboard, ending with the summary and `report.html`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use shared::api::RunStatus;
use shared::events::RunEvent;
use shared::outward::frameworks::RunFrameworksJson;
use shared::run_dir::RunDir;

use crate::config::{self, RunConfig};
use crate::exit;
use crate::frameworks::Finished;
use crate::progress::{ConsoleMode, Progress};
use crate::reporter::{EventLog, Fanout, Reporter};
use crate::session;
use crate::stdout;

use super::plan::preflight;
use super::summary::{answer_json, final_summary};

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
    // Every framework's flags are checked before anything launches or is created. A Slurm run's
    // servers start on compute nodes (after `executor.setup`, or in a container): a server missing
    // here only skips the check, with a warning.
    for cfg in &mut cfgs {
        let here = !matches!(cfg.executor, config::ExecutorPlan::Slurm(_));
        match preflight(cfg, here).await? {
            None => return Ok(ExitCode::from(exit::INTERRUPTED)),
            Some(crate::preflight::Preflight::Skipped(why)) => cfg.warnings.push(why),
            Some(crate::preflight::Preflight::Passed) => {}
        }
        crate::slurm::checks::check(cfg).await?;
    }
    for cfg in &cfgs {
        std::fs::create_dir_all(&cfg.output_dir).with_context(|| {
            format!(
                "cannot create the output directory {}",
                cfg.output_dir.display()
            )
        })?;
        save_config_copy(cfg)?;
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
        let answers: Vec<shared::outward::RunJson> = cfgs
            .iter()
            .zip(&finished)
            .map(|(cfg, done)| {
                let mut answer = answer_json(cfg, &done.outcome, done.report.as_deref());
                if let config::KeyMap::Neutral(framework) = cfg.keys {
                    answer.framework = Some(framework.into());
                }
                answer
            })
            .collect();
        let answer = match (ranking, answers.as_slice()) {
            (None, [one]) => serde_json::to_string(one)?,
            (ranking, _) => serde_json::to_string(&RunFrameworksJson {
                frameworks: answers,
                ranking: ranking.map(|r| r.json),
            })?,
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

/// Keeps the config the run starts with in its folder (`config.yaml`, secrets redacted), so the
/// dashboard can start it again at other SLA limits on the same folder (a resume: every recorded
/// trial is reused).
fn save_config_copy(cfg: &config::RunConfig) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&cfg.config_path)
        .with_context(|| format!("cannot read {}", cfg.config_path.display()))?;
    let copy = RunDir::new(&cfg.output_dir).config();
    std::fs::write(&copy, crate::web::secrets::redact_yaml(&text))
        .with_context(|| format!("cannot write {}", copy.display()))
}
