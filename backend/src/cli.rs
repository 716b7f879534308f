//! Command-line interface: argument types (clap derive) and the thin subcommand functions.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit;

/// Find the best LLM inference server launch command under a latency SLA.
#[derive(Debug, Parser)]
#[command(name = "autobench", version, about)]
pub struct Cli {
    /// Subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands, in workflow order.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show scenarios, candidates, launch commands and the trial estimate without running.
    Plan {
        /// Config file (YAML, sglang auto_benchmark schema).
        #[arg(long)]
        config: PathBuf,
        /// Print the plan as one JSON object (scenarios, candidates with argv, what was left out,
        /// the estimate, warnings).
        #[arg(long)]
        json: bool,
    },
    /// Convert a dataset into canonical JSONL.
    Convert(Box<crate::commands::dataset::ConvertArgs>),
    /// Check a canonical JSONL dataset and report every problem with its line.
    Validate(crate::commands::dataset::ValidateArgs),
    /// One load test against a running server (like `python -m sglang.bench_serving`).
    Bench(Box<crate::commands::bench::BenchArgs>),
    /// Run the search.
    Run {
        /// Config file (YAML, sglang auto_benchmark schema).
        #[arg(long)]
        config: PathBuf,
        /// Override benchmark.output_dir.
        #[arg(long)]
        output_dir: Option<PathBuf>,
        /// Take relative paths in the config (model, tokenizer, dataset) from this folder
        /// instead of the config's own folder.
        #[arg(long)]
        paths_from: Option<PathBuf>,
        /// Only errors and the final summary on the console.
        #[arg(long, short)]
        quiet: bool,
        /// Also serve the dashboard (results root: the output folder's parent) and keep it up
        /// after the run until Ctrl-C.
        #[arg(long)]
        serve: bool,
        /// Dashboard port with --serve (0 picks a free one).
        #[arg(long, default_value_t = 8321)]
        port: u16,
        /// Print the final answer as one JSON object on stdout instead of the summary text.
        #[arg(long)]
        json: bool,
    },
    /// Keep a local copy of a run on another machine (rsync over ssh), refreshed every 30 s.
    Mirror(crate::mirror::MirrorArgs),
    /// Serve the dashboard for the runs under a results root.
    Serve(crate::web::ServeArgs),
    /// Write report.html (one self-contained file: plots, trials, failures, settings) for a run.
    Report {
        /// The run's output directory.
        run_dir: PathBuf,
        /// What if a limit were different (`max_p99_ttft_ms=500`, repeatable): the run's recorded
        /// trials re-judged at the new limits, printed per scenario (nothing is measured).
        #[arg(long = "sla", value_name = "KEY=VALUE", value_parser = parse_sla_override)]
        sla: Vec<(String, f64)>,
    },
    /// The simulator's true SLA-limited rate of every candidate of a simulated search (virtual
    /// time; for the verdict benchmark).
    Truth(crate::commands::truth::TruthArgs),
    /// Print a shell completion script (`autobench completions bash > ~/.local/share/bash-completion/completions/autobench`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// One candidate's base-stage search on given GPUs, inside a run another autobench
    /// orchestrates (`executor: {kind: partitions}` starts these; not for direct use).
    #[command(hide = true)]
    Worker {
        /// The run's config file.
        #[arg(long)]
        config: PathBuf,
        /// The folder relative paths in the config are taken from.
        #[arg(long)]
        paths_from: Option<PathBuf>,
        /// The run's output directory.
        #[arg(long)]
        run_dir: PathBuf,
        /// The candidate's index.
        #[arg(long, required_unless_present = "finish")]
        candidate: Option<usize>,
        /// Run the confirmation and speculative stages instead (after the base stage).
        #[arg(long, conflicts_with = "candidate")]
        finish: bool,
        /// Its GPUs (`CUDA_VISIBLE_DEVICES`).
        #[arg(long)]
        gpus: String,
        /// What is left of the run's time budget (seconds).
        #[arg(long)]
        budget_s: f64,
        /// The schema v1 framework section the run is (`vllm`, ...).
        #[arg(long)]
        framework: Option<String>,
    },
    /// Run the built-in simulated SGLang-like server (takes SGLang launch flags).
    #[command(disable_help_flag = true)]
    Sim {
        /// SGLang-style flags (`--model-path M --port P ...`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Runs a parsed command line. A command whose stdout was closed (`| head -1`) ends quietly with
/// success, as ripgrep does ([`crate::stdout`]).
pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match run_command(cli).await {
        Err(error) if crate::stdout::is_closed(&error) => Ok(ExitCode::from(exit::MET)),
        done => done,
    }
}

async fn run_command(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Plan { config, json } => crate::commands::plan(&config, json).await,
        Command::Run {
            config,
            output_dir,
            paths_from,
            quiet,
            serve,
            port,
            json,
        } => {
            let paths_from = paths_from.as_deref();
            crate::commands::run(
                &config,
                output_dir,
                paths_from,
                quiet,
                serve.then_some(port),
                json,
            )
            .await
        }
        Command::Serve(args) => crate::web::serve(&args).await,
        Command::Mirror(args) => crate::mirror::mirror(&args).await,
        Command::Bench(args) => crate::commands::bench::bench(&args).await,
        Command::Convert(args) => crate::commands::dataset::convert(&args).await,
        Command::Validate(args) => crate::commands::dataset::validate_command(&args).await,
        Command::Report { run_dir, sla } => crate::commands::report(&run_dir, &sla),
        Command::Truth(args) => crate::commands::truth::truth(&args),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            // Into a buffer first: clap_complete panics on a write error (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "autobench", &mut script);
            use std::io::Write as _;
            let _ = std::io::stdout().lock().write_all(&script);
            Ok(ExitCode::from(exit::MET))
        }
        Command::Worker {
            config,
            paths_from,
            run_dir,
            candidate,
            finish,
            gpus,
            budget_s,
            framework,
        } => {
            crate::commands::worker(crate::commands::WorkerArgs {
                config: &config,
                paths_from: paths_from.as_deref(),
                run_dir,
                candidate: candidate.filter(|_| !finish),
                gpus: &gpus,
                budget_s,
                framework: framework.as_deref(),
            })
            .await
        }
        Command::Sim { args } => Ok(ExitCode::from(
            u8::try_from(crate::sim::main(&args).await).unwrap_or(1),
        )),
    }
}

/// `max_p99_ttft_ms=500` as a key and a number.
fn parse_sla_override(text: &str) -> Result<(String, f64), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: expected KEY=VALUE, such as max_p99_ttft_ms=500"))?;
    let value: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("`{text}`: the value after `=` must be a number"))?;
    if !(value.is_finite() && value >= 0.0) {
        return Err(format!("`{text}`: the value must be 0 or more"));
    }
    Ok((key.trim().to_string(), value))
}
