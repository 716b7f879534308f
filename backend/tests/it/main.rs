//! Integration tests: one binary (see each module's doc for what it covers). Runs the real
//! `autobench` binary against the built-in simulator on loopback; nothing leaves the machine.

mod bench_cmd;
mod browser;
mod common;
mod config_errors;
mod dashboard;
mod datasets;
mod mirror;
mod other_frameworks;
mod plan;
mod report;
mod run_e2e;
mod signals;
