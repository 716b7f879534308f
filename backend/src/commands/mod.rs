//! The subcommands, one file each: what each does for a person and prints. `cli` parses the
//! command line and calls these.

pub(crate) mod bench;
pub(crate) mod dataset;
mod plan;
mod report;
mod run;
mod summary;
pub(crate) mod truth;
mod worker;

pub(crate) use plan::plan;
pub(crate) use report::report;
pub(crate) use run::run;
pub(crate) use worker::{WorkerArgs, worker};
