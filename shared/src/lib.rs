//! Types and pure logic shared by the autobench backend (CLI, search, results) and the web UI.
//!
//! Nothing here does I/O or needs an async runtime, so every function is unit-tested natively and
//! the same code compiles to WebAssembly for the dashboard.

pub mod answer;
pub mod api;
pub mod api_calls;
pub mod budget;
pub mod candidates;
pub mod confidence;
pub mod cost;
pub mod cost_rank;
pub mod dataset_row;
pub mod decision;
pub mod events;
pub mod flags;
pub mod kinds;
pub mod metrics;
pub mod naming;
pub mod outward;
pub mod palette;
pub mod qps;
pub mod ranking;
pub mod record;
pub mod redact;
pub mod run_dir;
pub mod run_meta;
pub mod sla;
pub mod speculative;
pub mod stats;
pub mod steady;
pub mod timings;
pub mod verdict;
pub mod whatif;

pub use flags::FlagMap;
