//! `autobench truth --config X.yaml`: the simulator's true SLA-limited rate of every base
//! candidate in every scenario of a simulated search (`server.framework: sim`, random datasets
//! with fixed lengths), computed in virtual time ([`crate::sim::truth`]). One JSON line per
//! (scenario, candidate). The verdict benchmark compares a search's answer with it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use shared::outward::truth::TruthLine;

use crate::config::{self, Framework};
use crate::sim::truth::{self, Effort, Workload};

/// `truth` options.
#[derive(Debug, Clone, Args)]
pub struct TruthArgs {
    /// The search's config (server.framework: sim).
    #[arg(long)]
    pub config: PathBuf,
    /// Requests per replication at each rate.
    #[arg(long, default_value_t = 3000)]
    pub requests: usize,
    /// Replications (seeds) pooled at each rate.
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    /// Relative precision of the rate.
    #[arg(long, default_value_t = 0.005)]
    pub precision: f64,
}

/// Prints the true rates, one JSON line each.
pub(crate) fn truth(args: &TruthArgs) -> anyhow::Result<ExitCode> {
    let cfg = config::load(&args.config)?;
    if cfg.server.framework != Framework::Sim {
        bail!("`autobench truth` needs server.framework: sim (it runs the simulated engine)");
    }
    let (low, high) = match &cfg.benchmark.qps {
        shared::qps::QpsPlan::Bisect(b) => (b.lower / 4.0, b.upper * 4.0),
        shared::qps::QpsPlan::Fixed(values) => (
            values.iter().copied().fold(f64::INFINITY, f64::min) / 4.0,
            values.iter().copied().fold(0.0, f64::max) * 4.0,
        ),
        shared::qps::QpsPlan::Descend(d) => (d.floor / 4.0, d.from * 4.0),
    };
    let effort = Effort {
        requests: args.requests,
        seeds: args.seeds,
        precision: args.precision,
    };
    let profile = cfg.server.framework.profile();
    let mut jobs = Vec::new();
    for scenario in &cfg.scenarios {
        let (Some(input), Some(output)) = (scenario.input_len, scenario.output_len) else {
            bail!(
                "scenario `{}` has no fixed input_len/output_len (use a random dataset)",
                scenario.name
            );
        };
        let workload = Workload {
            input_tokens: input,
            output_tokens: output,
        };
        for (candidate, flags) in cfg.candidates.candidates.iter().enumerate() {
            let argv = config::launch_args(&profile, flags, &cfg.server.extra_args);
            jobs.push((
                scenario.name.clone(),
                candidate,
                flags.clone(),
                argv,
                workload,
            ));
        }
    }
    // Each (scenario, candidate) on its own thread, with its own virtual-time runtime.
    let sla = &cfg.benchmark.sla;
    let lines: Vec<TruthLine> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|(scenario, candidate, flags, argv, workload)| {
                scope.spawn(move || {
                    let (rate, error) = match truth::model(&argv) {
                        Ok(model) => (
                            truth::capacity(&model, workload, sla, low, high, effort),
                            None,
                        ),
                        Err(error) => (None, Some(error)),
                    };
                    TruthLine {
                        scenario,
                        candidate,
                        flags,
                        rate,
                        error,
                    }
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    for line in lines {
        crate::stdout::println(serde_json::to_string(&line)?)?;
    }
    Ok(ExitCode::SUCCESS)
}
