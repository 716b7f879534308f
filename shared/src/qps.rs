//! The request-rate plan of one (candidate, `max_concurrency`) pair: a fixed list of rates, or a
//! bisection between `lower` and `upper` for the highest rate that meets the SLA.
//!
//! [`QpsWalk`] is a pure state machine: the caller asks for the next rate, measures it, and reports
//! pass or fail. That keeps the search testable without any server (see the tests, which replay
//! upstream's documented bisection sequences).

use serde::{Deserialize, Serialize};

/// Upstream's cap on bisection rounds.
pub const MAX_ROUNDS_LIMIT: u32 = 5;

/// Bisection settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bisect {
    /// Lowest rate considered (never measured itself).
    pub lower: f64,
    /// Highest rate considered (never measured itself).
    pub upper: f64,
    /// Stop when `hi - lo` is at most this many requests/s.
    pub tolerance: f64,
    /// At most this many bisection trials (1..=5).
    pub max_rounds: u32,
    /// Where midpoints fall between the bounds.
    #[serde(default)]
    pub spacing: Spacing,
}

/// Where bisection midpoints fall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spacing {
    /// Geometric when `upper / lower` is above [`GEOMETRIC_FROM_RATIO`], arithmetic otherwise.
    #[default]
    Auto,
    /// Upstream's arithmetic midpoints `(lo + hi) / 2` (for parity with `sglang.auto_benchmark`).
    Arithmetic,
    /// Geometric midpoints `sqrt(lo * hi)`: each round halves the ratio between the bounds, so a
    /// wide range (0.5-64 req/s) does not spend its rounds at the top.
    Geometric,
}

/// From this `upper / lower` ratio on, `spacing: auto` bisects geometrically.
pub const GEOMETRIC_FROM_RATIO: f64 = 8.0;

impl Bisect {
    /// Whether this search uses geometric midpoints.
    pub fn geometric(&self) -> bool {
        match self.spacing {
            Spacing::Arithmetic => false,
            Spacing::Geometric => self.lower > 0.0,
            Spacing::Auto => self.lower > 0.0 && self.upper / self.lower > GEOMETRIC_FROM_RATIO,
        }
    }

    /// The next rate between `lo` and `hi`.
    pub fn midpoint(&self, lo: f64, hi: f64) -> f64 {
        if self.geometric() && lo > 0.0 {
            round_inside(lo, hi, (lo * hi).sqrt())
        } else {
            midpoint(lo, hi)
        }
    }
}

/// How rates are chosen for each (candidate, `max_concurrency`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QpsPlan {
    /// Measure each rate in order.
    Fixed(Vec<f64>),
    /// Bisect for the highest passing rate.
    Bisect(Bisect),
    /// The confirmation's walk down from a rate the search chose (see [`Descend`]).
    Descend(Descend),
}

/// The confirmation's walk: `from` first; while it fails, ever larger steps down (`step`, then
/// its square, its fourth power: 5%, 10%, 19%, 34% below the last failure), never below `floor`;
/// once a rate holds, geometric bisection between it and the lowest failure above it until they
/// are within `resolution` of each other. A search whose short trials overstated the rate by 40%
/// costs four long trials down instead of eight 5% steps, and the answer is still within 2.5% of
/// the lowest rate a long trial refuted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Descend {
    /// The rate the search chose.
    pub from: f64,
    /// The lowest rate to try.
    pub floor: f64,
    /// The first step's ratio (1.05).
    pub step: f64,
    /// The bisection's tolerance: the walk ends once the rate held and the lowest one refuted
    /// are within this ratio (a walk recorded before it existed ended within `step`).
    #[serde(default)]
    pub resolution: Option<f64>,
    /// At most this many trials.
    pub max_steps: u32,
}

impl Descend {
    /// The next rate to try below the lowest failure `hi` after `misses` failures in a row
    /// (to a ten-thousandth, as bisection midpoints are), or `None` below the floor.
    fn below(&self, hi: f64, misses: u32) -> Option<f64> {
        let exponent = 2f64.powi(misses.saturating_sub(1).min(8) as i32);
        let next = round4(hi / self.step.powf(exponent));
        if next >= self.floor * (1.0 - 1e-9) {
            Some(next)
        } else if hi > self.floor * (1.0 + 1e-9) {
            Some(self.floor)
        } else {
            None
        }
    }
}

/// `value` to a ten-thousandth.
fn round4(value: f64) -> f64 {
    format!("{value:.4}").parse().unwrap_or(value)
}

impl QpsPlan {
    /// The lowest rate the plan measures: the bisection's lower bound, the smallest listed rate.
    pub fn lowest(&self) -> f64 {
        match self {
            QpsPlan::Bisect(b) => b.lower,
            QpsPlan::Fixed(rates) => rates.iter().copied().fold(f64::INFINITY, f64::min),
            QpsPlan::Descend(d) => d.floor,
        }
    }

    /// One-line description for the plan output.
    pub fn describe(&self) -> String {
        match self {
            QpsPlan::Fixed(values) => format!("fixed rates {values:?} req/s"),
            QpsPlan::Bisect(b) => format!(
                "{} bisection in [{}, {}] req/s, tolerance {}, at most {} rounds",
                if b.geometric() {
                    "geometric"
                } else {
                    "arithmetic"
                },
                b.lower,
                b.upper,
                b.tolerance,
                b.max_rounds
            ),
            QpsPlan::Descend(d) => format!(
                "from {} req/s down to at most {} req/s, within {}%",
                d.from,
                d.floor,
                ((d.step - 1.0) * 100.0).round()
            ),
        }
    }

    /// Worst-case trials for one `max_concurrency` value (the all-fail path for bisection).
    pub fn estimate_trials(&self) -> usize {
        match self {
            QpsPlan::Fixed(values) => values.len(),
            QpsPlan::Bisect(b) => {
                let (lo, mut hi) = (b.lower, b.upper);
                let mut rounds = 0;
                while hi - lo > b.tolerance && rounds < b.max_rounds {
                    let q = b.midpoint(lo, hi);
                    if !(lo < q && q < hi) {
                        break;
                    }
                    hi = q;
                    rounds += 1;
                }
                rounds.max(1) as usize
            }
            QpsPlan::Descend(d) => d.max_steps as usize,
        }
    }

    /// A typical rate of this plan (for wall-time estimates).
    pub fn typical_rate(&self) -> f64 {
        match self {
            QpsPlan::Fixed(values) if !values.is_empty() => {
                values.iter().sum::<f64>() / values.len() as f64
            }
            QpsPlan::Fixed(_) => 1.0,
            QpsPlan::Bisect(b) => b.midpoint(b.lower, b.upper),
            QpsPlan::Descend(d) => d.from,
        }
    }
}

/// Upstream's midpoint: rounded to 4 decimals when that stays strictly inside `(lo, hi)`.
pub fn midpoint(lo: f64, hi: f64) -> f64 {
    round_inside(lo, hi, (lo + hi) / 2.0)
}

/// `value` rounded to 4 decimals when that stays strictly inside `(lo, hi)`.
fn round_inside(lo: f64, hi: f64, value: f64) -> f64 {
    // Python's round() works on the exact binary value with ties to even; Rust's fixed-precision
    // formatting does the same, so formatting and parsing back reproduces upstream's rates exactly.
    let rounded = format!("{value:.4}").parse::<f64>().unwrap_or(value);
    if lo < rounded && rounded < hi {
        rounded
    } else {
        value
    }
}

/// Why a rate is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// A probe at the incumbent's rate, to prune candidates that cannot beat it.
    IncumbentProbe,
    /// A bisection midpoint.
    Bisect,
    /// A value from a fixed list.
    Fixed,
    /// A step of the confirmation's walk down ([`Descend`]).
    Descend,
}

/// One rate to measure next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Requests per second to offer.
    pub qps: f64,
    /// Why.
    pub kind: StepKind,
}

/// Drives one (candidate, `max_concurrency`) search: call [`QpsWalk::next_step`], measure, then
/// [`QpsWalk::record`] the verdict, until `next_step` returns `None`.
#[derive(Debug, Clone)]
pub struct QpsWalk {
    plan: QpsPlan,
    incumbent: Option<f64>,
    lo: f64,
    hi: f64,
    rounds: u32,
    fixed_index: usize,
    pending: Option<Step>,
    probe_done: bool,
    pruned: bool,
    best: Option<f64>,
    misses: u32,
}

impl QpsWalk {
    /// Starts a walk; `incumbent` is the best SLA-passing rate found so far in this stage.
    pub fn new(plan: &QpsPlan, incumbent: Option<f64>) -> Self {
        let (lo, hi) = match plan {
            QpsPlan::Bisect(b) => (b.lower, b.upper),
            QpsPlan::Fixed(_) => (0.0, 0.0),
            QpsPlan::Descend(d) => (0.0, d.from),
        };
        QpsWalk {
            plan: plan.clone(),
            incumbent,
            lo,
            hi,
            rounds: 0,
            fixed_index: 0,
            pending: None,
            probe_done: false,
            pruned: false,
            best: None,
            misses: 0,
        }
    }

    /// The next rate to measure, or `None` when the walk is over.
    pub fn next_step(&mut self) -> Option<Step> {
        if self.pruned {
            return None;
        }
        if let Some(step) = self.pending {
            return Some(step);
        }
        let step = match &self.plan {
            QpsPlan::Fixed(values) => self.next_fixed(&values.clone()),
            QpsPlan::Bisect(b) => self.next_bisect(*b),
            QpsPlan::Descend(d) => self.next_descend(*d),
        };
        self.pending = step;
        step
    }

    fn next_fixed(&mut self, values: &[f64]) -> Option<Step> {
        while let Some(&qps) = values.get(self.fixed_index) {
            self.fixed_index += 1;
            if self.incumbent.is_some_and(|incumbent| qps < incumbent) {
                continue;
            }
            return Some(Step {
                qps,
                kind: StepKind::Fixed,
            });
        }
        None
    }

    fn next_bisect(&mut self, b: Bisect) -> Option<Step> {
        if !self.probe_done {
            self.probe_done = true;
            if let Some(incumbent) = self.incumbent
                && b.lower < incumbent
                && incumbent <= b.upper
            {
                return Some(Step {
                    qps: incumbent,
                    kind: StepKind::IncumbentProbe,
                });
            }
        }
        if self.hi - self.lo <= b.tolerance || self.rounds >= b.max_rounds {
            return None;
        }
        let qps = b.midpoint(self.lo, self.hi);
        if !(self.lo < qps && qps < self.hi) {
            return None;
        }
        Some(Step {
            qps,
            kind: StepKind::Bisect,
        })
    }

    fn next_descend(&mut self, d: Descend) -> Option<Step> {
        if self.rounds >= d.max_steps {
            return None;
        }
        let qps = if self.rounds == 0 {
            d.from
        } else if self.lo > 0.0 {
            // Midpoints are rounded to a ten-thousandth: a ratio a hair above the step is within it.
            if self.hi / self.lo <= d.resolution.unwrap_or(d.step) * (1.0 + 1e-4) {
                return None;
            }
            let mid = round_inside(self.lo, self.hi, (self.lo * self.hi).sqrt());
            if !(self.lo < mid && mid < self.hi) {
                return None;
            }
            mid
        } else {
            d.below(self.hi, self.misses)?
        };
        Some(Step {
            qps,
            kind: StepKind::Descend,
        })
    }

    /// Records a step that gave no verdict (the client, not the server, was the bottleneck, even
    /// after re-measuring): it never prunes the candidate and never counts as a pass. A probe
    /// that says nothing lets the full bisection run; a bisection step keeps its rate as the
    /// upper bound, since it could not be shown to pass.
    pub fn record_no_verdict(&mut self) {
        let Some(step) = self.pending.take() else {
            return;
        };
        match step.kind {
            StepKind::IncumbentProbe | StepKind::Fixed => {}
            StepKind::Bisect | StepKind::Descend => {
                self.hi = step.qps;
                self.rounds += 1;
                if self.lo <= 0.0 {
                    self.misses += 1;
                }
            }
        }
    }

    /// Records the verdict of the pending step.
    pub fn record(&mut self, passed: bool) {
        let Some(step) = self.pending.take() else {
            return;
        };
        if passed {
            self.best = Some(self.best.map_or(step.qps, |b| b.max(step.qps)));
        }
        match step.kind {
            StepKind::IncumbentProbe if passed => self.lo = step.qps,
            StepKind::IncumbentProbe => self.pruned = true,
            StepKind::Bisect => {
                if passed {
                    self.lo = step.qps;
                } else {
                    self.hi = step.qps;
                }
                self.rounds += 1;
            }
            StepKind::Descend => {
                if passed {
                    self.lo = step.qps;
                    if step.qps >= self.hi {
                        // The first rate held: nothing above it to look for.
                        self.pruned = true;
                    }
                } else {
                    self.hi = step.qps;
                    if self.lo <= 0.0 {
                        self.misses += 1;
                    }
                }
                self.rounds += 1;
            }
            StepKind::Fixed => {}
        }
    }

    /// Ends the walk early (the server died, or the search budget ran out).
    pub fn abandon(&mut self) {
        self.pending = None;
        self.pruned = true;
    }

    /// The highest passing rate measured in this walk.
    pub fn best(&self) -> Option<f64> {
        self.best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bisect(lower: f64, upper: f64, tolerance: f64, max_rounds: u32) -> QpsPlan {
        QpsPlan::Bisect(Bisect {
            lower,
            upper,
            tolerance,
            max_rounds,
            spacing: Spacing::Arithmetic,
        })
    }

    fn run(plan: &QpsPlan, incumbent: Option<f64>, capacity: f64) -> (Vec<f64>, Option<f64>) {
        let mut walk = QpsWalk::new(plan, incumbent);
        let mut seen = Vec::new();
        while let Some(step) = walk.next_step() {
            seen.push(step.qps);
            walk.record(step.qps <= capacity);
            assert!(seen.len() < 40, "walk does not terminate");
        }
        (seen, walk.best())
    }

    #[test]
    fn spec_sequence_all_pass() {
        let (seen, best) = run(&bisect(1.0, 12.0, 0.1, 5), None, f64::INFINITY);
        assert_eq!(seen, [6.5, 9.25, 10.625, 11.3125, 11.6562]);
        assert_eq!(best, Some(11.6562));
    }

    #[test]
    fn spec_sequence_all_fail() {
        let (seen, best) = run(&bisect(1.0, 12.0, 0.1, 5), None, 0.0);
        assert_eq!(seen, [6.5, 3.75, 2.375, 1.6875, 1.3438]);
        assert_eq!(best, None);
    }

    #[test]
    fn spec_sequence_capacity_three() {
        let (seen, best) = run(&bisect(0.25, 4.0, 0.1, 5), None, 3.0);
        assert_eq!(seen, [2.125, 3.0625, 2.5938, 2.8281, 2.9453]);
        assert_eq!(best, Some(2.9453));
    }

    #[test]
    fn tiny_range_terminates() {
        let (seen, _) = run(&bisect(1.0, 1.000_000_01, 1e-12, 5), None, 2.0);
        assert!(seen.len() < 40);
    }

    #[test]
    fn max_rounds_two_gives_two_trials() {
        let (seen, _) = run(&bisect(1.0, 12.0, 0.1, 2), None, 5.0);
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn incumbent_probe_pass_continues_above() {
        let (seen, best) = run(&bisect(1.0, 12.0, 0.1, 5), Some(8.0), 100.0);
        assert_eq!(seen[0], 8.0);
        assert_eq!(seen[1], 10.0);
        assert!(best.is_some_and(|b| b > 8.0));
    }

    #[test]
    fn incumbent_probe_fail_prunes() {
        let (seen, best) = run(&bisect(1.0, 12.0, 0.1, 5), Some(8.0), 5.0);
        assert_eq!(seen, [8.0]);
        assert_eq!(best, None);
    }

    #[test]
    fn fixed_skips_below_incumbent() {
        let (seen, _) = run(&QpsPlan::Fixed(vec![1.0, 2.0, 3.0]), Some(2.0), 10.0);
        assert_eq!(seen, [2.0, 3.0]);
    }

    #[test]
    fn estimate_matches_upstream() {
        assert_eq!(bisect(0.25, 4.0, 0.1, 5).estimate_trials() * 3, 15);
        assert_eq!(QpsPlan::Fixed(vec![3.5]).estimate_trials(), 1);
    }

    #[test]
    fn wide_ranges_bisect_geometrically() {
        let b = Bisect {
            lower: 0.5,
            upper: 64.0,
            tolerance: 0.1,
            max_rounds: 5,
            spacing: Spacing::Auto,
        };
        assert!(b.geometric());
        let (seen, best) = run(&QpsPlan::Bisect(b), None, 3.3);
        // sqrt(0.5 * 64) = 5.657 fails, sqrt(0.5 * 5.657) = 1.682 passes, ...
        assert_eq!(seen[0], 5.6569);
        assert_eq!(seen[1], 1.6818);
        let best = best.expect("a passing rate");
        let last_fail = seen
            .iter()
            .copied()
            .filter(|q| *q > 3.3)
            .fold(f64::INFINITY, f64::min);
        assert!(
            last_fail / best < 1.25,
            "five geometric rounds bracket the answer within 25%: {seen:?}"
        );
        let narrow = Bisect {
            lower: 2.0,
            upper: 10.0,
            ..b
        };
        assert!(!narrow.geometric(), "ratio 5 stays arithmetic");
        let parity = Bisect {
            spacing: Spacing::Arithmetic,
            ..b
        };
        assert_eq!(run(&QpsPlan::Bisect(parity), None, 3.3).0[0], 32.25);
    }

    #[test]
    fn a_step_without_verdict_neither_prunes_nor_passes() {
        let mut walk = QpsWalk::new(&bisect(1.0, 9.0, 0.1, 3), Some(5.0));
        let probe = walk.next_step().expect("probe");
        assert_eq!(probe.kind, StepKind::IncumbentProbe);
        walk.record_no_verdict();
        let next = walk.next_step().expect("the walk goes on");
        assert_eq!(next.kind, StepKind::Bisect);
        assert_eq!(next.qps, 5.0);
        walk.record_no_verdict();
        assert_eq!(walk.next_step().map(|s| s.qps), Some(3.0));
        assert_eq!(walk.best(), None);
    }

    /// Drives a descent against a server whose true rate is `truth` (a rate passes iff it is at
    /// or below it) and returns the rates tried.
    fn descend(from: f64, floor: f64, truth: f64) -> (Vec<f64>, Option<f64>) {
        let plan = QpsPlan::Descend(Descend {
            from,
            floor,
            step: 1.05,
            resolution: None,
            max_steps: 12,
        });
        let mut walk = QpsWalk::new(&plan, None);
        let mut tried = Vec::new();
        while let Some(step) = walk.next_step() {
            assert_eq!(step.kind, StepKind::Descend);
            tried.push(step.qps);
            walk.record(step.qps <= truth);
        }
        (tried, walk.best())
    }

    #[test]
    fn the_descent_goes_down_in_growing_steps_then_bisects_back_up() {
        // Held at once: one trial.
        assert_eq!(descend(10.0, 1.0, 11.0), (vec![10.0], Some(10.0)));
        // 40% too high: four trials down (5%, 10%, 19%, 34% below each failure), then up.
        let (tried, best) = descend(10.0, 1.0, 6.0);
        assert_eq!(tried[..4], [10.0, 9.5238, 8.6384, 7.1068]);
        let best = best.expect("held somewhere");
        assert!((6.0 / 1.05..=6.0).contains(&best), "answer {best}");
        assert!(tried.len() <= 8, "{tried:?}");
        // Never below the floor; the floor itself is tried once.
        let (tried, best) = descend(10.0, 8.0, 2.0);
        assert_eq!(tried, [10.0, 9.5238, 8.6384, 8.0]);
        assert_eq!(best, None);
    }

    #[test]
    fn a_descent_step_without_a_verdict_counts_as_a_failure() {
        let plan = QpsPlan::Descend(Descend {
            from: 10.0,
            floor: 1.0,
            step: 1.05,
            resolution: None,
            max_steps: 12,
        });
        let mut walk = QpsWalk::new(&plan, None);
        assert_eq!(walk.next_step().map(|s| s.qps), Some(10.0));
        walk.record_no_verdict();
        assert_eq!(walk.next_step().map(|s| s.qps), Some(9.5238));
    }
}
