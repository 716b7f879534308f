//! autobench: launches LLM inference server candidates, drives each with open-loop load, and finds
//! the highest request rate that meets a latency SLA.
//!
//! The public surface is deliberate and small: [`cli`] (what the `autobench` binary runs) and
//! [`launcher`] (the server registry and port helpers the binary's exit path and the end-to-end
//! tests use). Everything else is crate-private; `unreachable_pub` keeps it that way.

mod calibrate;
mod cancel;
pub mod cli;
mod commands;
mod config;
mod dataset;
pub mod exit;
mod frameworks;
#[cfg(test)]
mod fuzz;
mod gpus;
mod hardware;
pub mod launcher;
mod loadgen;
mod machine_noise;
mod metrics;
mod mirror;
mod plan;
mod preflight;
mod progress;
mod report;
mod reporter;
mod results;
mod session;
mod sim;
mod slurm;
mod stamped_read;
mod stdout;
mod stop_signals;
mod timer;
mod verdict;
mod web;

/// When this binary runs under the name `nvidia-smi` (a link the tests put on `PATH`), the fake
/// GPUs' answer and its exit status ([`gpus::fake_nvidia_smi`]).
pub fn as_fake_nvidia_smi() -> Option<u8> {
    let args: Vec<String> = std::env::args().collect();
    let name = std::path::Path::new(args.first()?).file_name()?.to_str()?;
    (name == "nvidia-smi").then(|| gpus::fake_nvidia_smi(&args[1..]))
}
