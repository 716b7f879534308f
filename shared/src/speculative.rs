//! The speculative stage's verdict, pure over a scenario's records: which speculative command is
//! checked (the best pass of the speculative search), from where its check walks down and how
//! low it goes (a step above the best base command's answer: below that it cannot beat it), and
//! the outcome against the best base command: it beat it, with its gain, or it did not (a tie
//! when it held about as much). The backend's speculative stage (`session::speculative`) only
//! measures what these functions ask for.

use crate::decision::{self, STEP_DOWN};
use crate::ranking;
use crate::record::{FailureKind, Stage, TrialRecord};
pub use crate::verdict::SpeculativeOutcome;

impl SpeculativeOutcome {
    /// The gain of the speculative answer over the best base command (0.22 for +22%), when it
    /// held a rate.
    pub fn gain(&self) -> Option<f64> {
        self.held
            .filter(|_| self.base_rate > 0.0)
            .map(|held| held / self.base_rate - 1.0)
    }

    /// The answer's line about the stage: "`--speculative-num-steps 3`: +22% over the best base
    /// command (16.00 against 13.10 req/s)", or why no speculative setting beat it. `command`
    /// names the checked speculative command, `base` the best base command.
    pub fn line(&self, command: &str, base: &str) -> String {
        let base_rate = crate::answer::rate(self.base_rate);
        let none_held = match self.tried {
            1 => "the speculative setting tried did not hold the SLA in the search".to_string(),
            n => format!("none of the {n} speculative settings tried held the SLA in the search"),
        };
        let best = match self.tried {
            1 => command.to_string(),
            n => format!("the best of the {n} tried, {command},"),
        };
        match (self.candidate, self.held) {
            (None, _) => {
                format!("Speculative decoding: {none_held}; the answer stays {base} ({base_rate}).")
            }
            (Some(_), Some(held)) if self.beat => format!(
                "Speculative decoding: {command} holds {}, {:+.0}% over the best base command {base} ({base_rate}), in checks of the same length.",
                crate::answer::rate(held),
                self.gain().unwrap_or(0.0) * 100.0
            ),
            (Some(_), Some(held)) => format!(
                "Speculative decoding: no speculative setting beat the best base command {base} ({base_rate}): {best} held {} in its check, within {:.0}% of it; the answer keeps the command without a draft model.",
                crate::answer::rate(held),
                (STEP_DOWN - 1.0) * 100.0
            ),
            (Some(_), None) if self.fails_at.is_none() => format!(
                "Speculative decoding: no speculative setting beat the best base command {base} ({base_rate}): {best} held at most {} in the search, less than {:.0}% above it, so it was not checked.",
                crate::answer::rate(self.searched.unwrap_or(0.0)),
                (STEP_DOWN - 1.0) * 100.0
            ),
            (Some(_), None) => format!(
                "Speculative decoding: no speculative setting beat the best base command {base} ({base_rate}): {best} failed its check at every rate down to {}.",
                crate::answer::rate(self.fails_at.unwrap_or(self.base_rate * STEP_DOWN))
            ),
        }
    }
}

/// The lowest rate a speculative command must hold to beat a base answer of `base_rate`: a step
/// (5%) above it, the margin by which a later confirmation leader must lead an earlier one.
pub fn floor(base_rate: f64) -> f64 {
    base_rate * STEP_DOWN
}

/// The speculative command the stage checks: the best pass of its search, when it is above the
/// floor (below it, it cannot beat the base answer and no check is owed).
pub fn leader(records: &[TrialRecord], base_rate: f64) -> Option<&TrialRecord> {
    ranking::best_passing(records.iter().filter(|r| r.stage == Stage::Speculative))
        .filter(|r| r.requested_qps >= floor(base_rate) * (1.0 - 1e-9))
}

/// The check's walk for `leader`: down from its search rate, never below the floor.
pub fn descent(leader: &TrialRecord, base_rate: f64) -> crate::qps::Descend {
    decision::descent(leader.requested_qps, floor(base_rate))
}

/// What the speculative stage found against a base answer of `base_rate`: its best search pass
/// and what that command's checks held; `tried` speculative commands were searched.
pub fn outcome(records: &[TrialRecord], base_rate: f64, tried: usize) -> SpeculativeOutcome {
    let best = ranking::best_passing(records.iter().filter(|r| r.stage == Stage::Speculative));
    let id = best.map(|r| r.candidate_id);
    let checks = || {
        records.iter().filter(move |r| {
            r.stage == Stage::SpeculativeConfirm
                && Some(r.candidate_id) == id
                && r.failure == FailureKind::Trial
                && r.metrics.is_some()
        })
    };
    let held = checks()
        .filter(|r| r.sla_passed)
        .map(|r| r.requested_qps)
        .reduce(f64::max);
    let fails_at = checks()
        .filter(|r| !r.sla_passed && r.requested_qps > held.unwrap_or(0.0))
        .map(|r| r.requested_qps)
        .reduce(f64::min);
    let beat = held.is_some_and(|h| h >= floor(base_rate) * (1.0 - 1e-9));
    SpeculativeOutcome {
        candidate: id,
        held,
        fails_at,
        base_rate,
        beat,
        searched: best.map(|r| r.requested_qps),
        tried,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(stage: Stage, id: usize, qps: f64, passed: bool) -> TrialRecord {
        serde_json::from_value(serde_json::json!({
            "stage": stage, "candidate_id": id, "requested_qps": qps, "max_concurrency": null,
            "server_flags": {}, "sla_passed": passed,
            "metrics": {"completed": 10, "achieved_request_rate": qps, "output_throughput": qps}
        }))
        .expect("record")
    }

    #[test]
    fn the_check_starts_at_the_best_speculative_pass_and_stops_a_step_above_the_base_answer() {
        let records = vec![
            record(Stage::Speculative, 0, 18.0, true),
            record(Stage::Speculative, 1, 21.0, true),
            record(Stage::Speculative, 1, 24.0, false),
        ];
        let leader = leader(&records, 16.0).expect("a leader");
        assert_eq!((leader.candidate_id, leader.requested_qps), (1, 21.0));
        let walk = descent(leader, 16.0);
        assert_eq!(walk.from, 21.0);
        assert!((walk.floor - 16.8).abs() < 1e-9);
        // A speculative search whose best is not a step above the base answer is not checked.
        assert!(super::leader(&records, 20.5).is_none());
    }

    #[test]
    fn a_speculative_command_that_held_a_step_above_the_base_answer_beats_it() {
        let records = vec![
            record(Stage::Speculative, 1, 21.0, true),
            record(Stage::SpeculativeConfirm, 1, 21.0, false),
            record(Stage::SpeculativeConfirm, 1, 20.0, true),
            // A base check at the same id says nothing about the speculative command.
            record(Stage::Confirm, 1, 25.0, true),
        ];
        let out = outcome(&records, 16.0, 2);
        assert_eq!(out.held, Some(20.0));
        assert_eq!(out.fails_at, Some(21.0));
        assert!(out.beat);
        assert!((out.gain().expect("a gain") - 0.25).abs() < 1e-9);
        let line = out.line("`--speculative-num-steps 3`", "`--tp 1`");
        assert_eq!(
            line,
            "Speculative decoding: `--speculative-num-steps 3` holds 20.00 req/s, +25% over the best base command `--tp 1` (16.00 req/s), in checks of the same length."
        );
        let trial = ranking::speculative_check(&records, &out).expect("the trial");
        assert_eq!(trial.stage, Stage::SpeculativeConfirm);
    }

    #[test]
    fn within_a_step_of_the_base_answer_is_no_gain_and_the_base_command_stays() {
        let records = vec![
            record(Stage::Speculative, 0, 17.0, true),
            record(Stage::SpeculativeConfirm, 0, 17.0, false),
            record(Stage::SpeculativeConfirm, 0, 16.5, true),
        ];
        let out = outcome(&records, 16.0, 1);
        assert!(!out.beat);
        assert!(
            out.line("`--x`", "the default").contains(
                "no speculative setting beat the best base command the default (16.00 req/s)"
            ),
            "{}",
            out.line("`--x`", "the default")
        );
        let failed = outcome(&records[..2], 16.0, 1);
        assert_eq!(failed.held, None);
        assert!(!failed.beat);
        assert!(
            failed
                .line("`--x`", "the default")
                .contains("failed its check")
        );
        let none = outcome(&[], 16.0, 3);
        let line = none.line("`--x`", "the default");
        assert!(
            line.contains("none of the 3 speculative settings tried held the SLA"),
            "{line}"
        );
        let below = outcome(&records[..1], 16.5, 1);
        assert!(
            below
                .line("`--x`", "the default")
                .contains("held at most 17.00 req/s in the search")
        );
    }
}
