//! The run page's "about N left": the search's planned trials at the search's pace, plus the
//! confirmation, which is often most of a run (the quickstart spends over half its time there).
//!
//! A scenario's confirmation is counted as one trial per contender (a candidate that met the SLA
//! somewhere in its search) not checked yet, the trial in flight, and [`WALK_ALLOWANCE`] trials
//! for a walk down while none of its checks has held. A trial counts as long as a check measures
//! (what its trials planned) or as the run's checks took so far, whichever is longer; before the
//! first one ends, the plan's `confirm_trial_seconds` and a few seconds of warm-up (older runs:
//! [`CHECK_FACTOR`] search trials). It is an estimate: a walk down may take more
//! steps.

use shared::events::RunView;
use shared::record::{Stage, TrialRecord};

/// Trials added to a scenario's confirmation for the winner's walk down when its rate fails.
const WALK_ALLOWANCE: usize = 2;

/// A confirmation trial against a search trial, in wall time, before one has been measured
/// (longer measured part, fewer stopped early).
const CHECK_FACTOR: f64 = 3.0;

/// A check's wall time beyond its measured length (warm-up, cool-down), at most.
const CHECK_OVERHEAD_S: f64 = 4.0;

/// One scenario: its name and its trials.
pub(crate) type ScenarioTrials<'a> = (&'a str, &'a [TrialRecord]);

/// Seconds left, while the run goes on; `None` when there is nothing to go by.
pub(crate) fn eta(
    scenarios: &[ScenarioTrials<'_>],
    view: &RunView,
    elapsed: Option<f64>,
    running: bool,
) -> Option<f64> {
    if !running {
        return None;
    }
    let all = || scenarios.iter().flat_map(|(_, records)| records.iter());
    let search: Vec<&TrialRecord> = all().filter(|r| !r.stage.is_check()).collect();
    let checks: Vec<&TrialRecord> = all().filter(|r| r.stage.is_check()).collect();
    let search_done = search.len();
    let search_left = match (view.trials_planned, elapsed) {
        (Some(planned), Some(elapsed)) if view.confirming.is_empty() && search_done > 0 => {
            elapsed / search_done as f64 * planned.saturating_sub(search_done) as f64
        }
        _ => 0.0,
    };
    let check_s = match (mean_wall(&checks), planned_length(&checks)) {
        (Some(wall), planned) => wall.max(planned.unwrap_or(0.0)),
        // Before the first check ends: the plan's check length with a search trial's overhead
        // (warm-up, cool-down), else a multiple of a search trial.
        (None, _) => match (view.confirm_trial_seconds, mean_wall(&search)) {
            (Some(length), Some(search_s)) => length + CHECK_OVERHEAD_S.min(search_s),
            (Some(length), None) => length + CHECK_OVERHEAD_S,
            (None, search_s) => search_s? * CHECK_FACTOR,
        },
    };
    let trials: usize = scenarios
        .iter()
        .map(|(name, records)| checks_left(name, records, view, scenarios.len()))
        .sum();
    let left = search_left + trials as f64 * check_s;
    (left >= 1.0).then_some(left)
}

/// Mean wall time of the trials that measured something.
fn mean_wall(records: &[&TrialRecord]) -> Option<f64> {
    let walls: Vec<f64> = records
        .iter()
        .map(|r| r.trial_duration_s)
        .filter(|s| *s > 0.0)
        .collect();
    (!walls.is_empty()).then(|| walls.iter().sum::<f64>() / walls.len() as f64)
}

/// How long a check measures, from what its trials planned (requests over rate).
fn planned_length(checks: &[&TrialRecord]) -> Option<f64> {
    checks
        .iter()
        .filter_map(|r| {
            let planned = r.metrics.as_ref()?.planned_requests? as f64;
            (r.requested_qps > 0.0).then(|| planned / r.requested_qps)
        })
        .reduce(f64::max)
}

/// Confirmation trials a scenario still needs: none once a later scenario's confirmation began.
fn checks_left(name: &str, records: &[TrialRecord], view: &RunView, scenarios: usize) -> usize {
    let mine = |n: &String| n == name || scenarios == 1;
    let over = view
        .confirming
        .iter()
        .position(mine)
        .is_some_and(|at| at + 1 < view.confirming.len());
    if over {
        return 0;
    }
    let contenders = candidates(records, |r| r.stage == Stage::Base && r.sla_passed);
    if contenders.is_empty() {
        return 0;
    }
    let in_flight: Vec<usize> = view
        .in_flight
        .iter()
        .filter(|t| t.stage.is_check() && mine(&t.scenario))
        .map(|t| t.candidate)
        .collect();
    let checked = candidates(records, |r| r.stage.is_check());
    let unchecked = contenders
        .iter()
        .filter(|c| !checked.contains(c) && !in_flight.contains(c))
        .count();
    let held = records.iter().any(|r| r.stage.is_check() && r.sla_passed);
    let walk = if held { 0 } else { WALK_ALLOWANCE };
    unchecked + in_flight.len() + walk
}

/// The candidates of the records `keep` keeps, once each.
fn candidates(records: &[TrialRecord], keep: impl Fn(&TrialRecord) -> bool) -> Vec<usize> {
    let mut ids: Vec<usize> = records
        .iter()
        .filter(|r| keep(r))
        .map(|r| r.candidate_id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(stage: &str, cand: usize, passed: bool, wall: f64) -> TrialRecord {
        serde_json::from_value(serde_json::json!({
            "stage": stage, "candidate_id": cand, "requested_qps": 10.0,
            "server_flags": {}, "sla_passed": passed, "trial_duration_s": wall
        }))
        .expect("record")
    }

    fn view(planned: usize, confirming: &[&str]) -> RunView {
        RunView {
            trials_planned: Some(planned),
            confirming: confirming.iter().map(|s| s.to_string()).collect(),
            ..RunView::default()
        }
    }

    #[test]
    fn before_the_first_check_a_check_lasts_what_the_plan_says() {
        // 5 of 10 search trials at 10 s each; two contenders: 2 checks and a walk of 2, each the
        // plan's 24 s and 4 s of warm-up and cool-down.
        let records: Vec<TrialRecord> = (0..5).map(|i| record("base", i % 2, true, 8.0)).collect();
        let mut planned = view(10, &[]);
        planned.confirm_trial_seconds = Some(24.0);
        let left = eta(&[("chat", &records)], &planned, Some(50.0), true);
        assert_eq!(left, Some(50.0 + 4.0 * 28.0));
    }

    #[test]
    fn the_confirmation_is_counted_before_and_during_it() {
        // Search half done (5 of 10 at 10 s each), two contenders: 2 checks and a walk of 2, each
        // 3 x 8 s.
        let mut records: Vec<TrialRecord> =
            (0..5).map(|i| record("base", i % 2, true, 8.0)).collect();
        let left = eta(&[("chat", &records)], &view(10, &[]), Some(50.0), true);
        assert_eq!(left, Some(50.0 + 4.0 * 24.0));
        // The search is over, the winner's first check failed: the other contender and the walk
        // are left, at the checks' own pace.
        records.push(record("confirm", 1, false, 30.0));
        let left = eta(
            &[("chat", &records)],
            &view(10, &["chat"]),
            Some(400.0),
            true,
        );
        assert_eq!(
            left,
            Some(3.0 * 30.0),
            "no 'seconds left' past the planned trials"
        );
        // A check held: no more walking down, the other contender is left.
        records.push(record("confirm", 1, true, 20.0));
        let left = eta(
            &[("chat", &records)],
            &view(10, &["chat"]),
            Some(400.0),
            true,
        );
        assert_eq!(left, Some(25.0));
        assert_eq!(
            eta(
                &[("chat", &records)],
                &view(10, &["chat"]),
                Some(1.0),
                false
            ),
            None
        );
    }

    #[test]
    fn a_scenario_whose_confirmation_is_over_needs_nothing_more() {
        let chat = vec![
            record("base", 0, true, 8.0),
            record("confirm", 0, true, 20.0),
        ];
        let summ = vec![record("base", 0, true, 8.0)];
        let left = eta(
            &[("chat", &chat), ("summ", &summ)],
            &view(2, &["chat", "summ"]),
            Some(100.0),
            true,
        );
        assert_eq!(left, Some(3.0 * 20.0));
    }
}
