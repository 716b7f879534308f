//! What autobench asks of a Slurm cluster before it submits anything: the client programs, the
//! partition, its GPUs and its time limit ([`checks`], run by `plan` and by `run` before it
//! prepares datasets), read from `sinfo` ([`sinfo`]), and each job's time limit ([`time_limit`]).
//! The executor itself (jobs, the probe, following them) is [`crate::session`]'s.

pub(crate) mod checks;
pub(crate) mod sinfo;
pub(crate) mod time_limit;
