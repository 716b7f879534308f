//! `autobench worker`: one candidate (or the finishing stages) of a partitioned or Slurm run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use shared::run_dir::RunDir;

use crate::config;
use crate::exit;
use crate::progress::{ConsoleMode, Progress};
use crate::reporter::{EventLog, Fanout};
use crate::session;

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
