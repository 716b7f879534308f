//! End-to-end tests: one binary, `e2e` (see each module's doc for what it covers). Runs the real
//! `autobench` binary against the built-in simulator on loopback; nothing leaves the machine.
//! They live in the workspace's top-level `tests/e2e/` and are declared as a `[[test]]` target of
//! the `backend` package (backend/Cargo.toml), so `cargo test --workspace` runs them; run them
//! alone with `scripts/test -p backend --test e2e [FILTER]`.

mod bench_cmd;
mod browser;
mod closed_stdout;
mod common;
mod config_errors;
mod cost;
mod dashboard;
mod dashboard_runs;
mod datasets;
mod faults;
mod mirror;
mod module_graph;
mod neutral;
mod other_frameworks;
mod partitions;
mod plan;
mod report;
mod run_e2e;
mod signals;
mod slurm;
mod speculative;
mod truth;
