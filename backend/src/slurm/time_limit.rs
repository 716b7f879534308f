//! Each Slurm job's time limit: `executor.time_limit_min` when set, else the plan's estimate for
//! that job ([`crate::plan::job_estimates_s`]) with a margin, so a candidate's job neither sits
//! in the queue behind a needlessly long request nor is killed in the middle of its search.

use crate::config::{RunConfig, SlurmPlan};

/// The estimate is multiplied by this ...
const MARGIN_FACTOR: f64 = 1.5;
/// ... and this many minutes are added (the queue's start-up, a slow node, the model's load).
const MARGIN_MIN: u64 = 10;

/// Which job a limit is for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum JobKind {
    /// One candidate's base stage.
    Candidate,
    /// The confirmation and speculative stages.
    Finish,
}

/// The time limit in minutes, and whether it came from the estimate.
pub(crate) fn minutes(cfg: &RunConfig, plan: &SlurmPlan, kind: JobKind) -> (u64, bool) {
    if let Some(set) = plan.time_limit_min {
        return (set, false);
    }
    let (candidate_s, finish_s) = crate::plan::job_estimates_s(cfg);
    let estimate_s = match kind {
        JobKind::Candidate => candidate_s,
        JobKind::Finish => finish_s,
    };
    let estimated = from_estimate(estimate_s);
    let capped = plan
        .partition_time_limit_min
        .map_or(estimated, |limit| estimated.min(limit));
    (capped, true)
}

/// Whole minutes for an estimate in seconds, with the margin.
pub(crate) fn from_estimate(estimate_s: f64) -> u64 {
    let scaled = (estimate_s.max(0.0) * MARGIN_FACTOR / 60.0).ceil();
    // An estimate is far below u64::MAX minutes; the cast saturates if it is not.
    scaled as u64 + MARGIN_MIN
}

#[cfg(test)]
mod tests {
    use super::from_estimate;

    #[test]
    fn adds_a_margin_to_the_estimate() {
        assert_eq!(from_estimate(0.0), 10);
        assert_eq!(from_estimate(600.0), 25);
        assert_eq!(from_estimate(f64::NAN), 10);
    }
}
