//! autobench: launches LLM inference server candidates, drives each with open-loop load, and finds
//! the highest request rate that meets a latency SLA.

pub mod bench_command;
pub mod calibrate;
pub mod cancel;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dataset;
pub mod dataset_commands;
#[cfg(test)]
mod fuzz;
pub mod hardware;
pub mod launcher;
pub mod loadgen;
pub mod machine_noise;
pub mod metrics;
pub mod mirror;
pub mod plan;
pub mod progress;
pub mod report;
pub mod reporter;
pub mod results;
pub mod session;
pub mod sim;
pub mod stamped_read;
pub mod timer;
pub mod verdict;
pub mod web;
