//! `benchmark.rank_by: cost`, pure over a scenario's records: after the confirmation gives the
//! fastest command, every command that was cheaper per output token at its best search rate is
//! checked in long trials (cheapest first, walked down, never below the rate at which it would
//! stop being 5% cheaper than the cheapest checked so far), and the answer is the cheapest
//! command at a rate a long check held. A search rate alone never makes a command the answer: the
//! short trials overstate rates, so they understate costs. The backend's cost stage
//! (`session::cost`) only measures what these functions ask for.

use crate::cost::{self, GpuPrice};
use crate::decision::STEP_DOWN;
use crate::metrics::Metric;
use crate::ranking;
use crate::record::{FailureKind, Stage, TrialRecord};
pub use crate::verdict::CostOutcome;

/// At most this many commands are checked for cost beside the fastest.
pub const MAX_CHECKED: usize = 3;

/// Dollars per million output tokens of `trial`'s command at its throughput.
pub fn cost_of(trial: &TrialRecord, price: &GpuPrice) -> Option<f64> {
    let dollars = price.for_command(&trial.server_flags);
    let tokens = trial.metric(Metric::OutputThroughput)?;
    cost::per_million_output_tokens(dollars, price.gpus(&trial.server_flags), tokens)
}

/// The next command to check: among base candidates other than `fastest` and those `checked`,
/// the cheapest at its best search pass, when it is at least 5% cheaper than `best`.
pub fn next_contender<'a>(
    records: &'a [TrialRecord],
    price: &GpuPrice,
    fastest: usize,
    checked: &[usize],
    best: f64,
) -> Option<(&'a TrialRecord, f64)> {
    let mut ids: Vec<usize> = records
        .iter()
        .filter(|r| r.stage == Stage::Base && r.candidate_id != fastest)
        .map(|r| r.candidate_id)
        .filter(|id| !checked.contains(id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter_map(|id| {
            let top = ranking::best_passing(
                records
                    .iter()
                    .filter(|r| r.stage == Stage::Base && r.candidate_id == id),
            )?;
            Some((top, cost_of(top, price)?))
        })
        .filter(|(_, dollars)| dollars * STEP_DOWN <= best)
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// The walk for a contender that cost `dollars` at its search rate: down from that rate, never
/// below the rate at which its cost (inversely proportional to its rate) would no longer be 5%
/// under `best`.
pub fn descent(contender: &TrialRecord, dollars: f64, best: f64) -> crate::qps::Descend {
    let floor = contender.requested_qps * dollars * STEP_DOWN / best;
    crate::decision::descent(contender.requested_qps, floor.min(contender.requested_qps))
}

/// What the cost checks of candidate `id` held: its highest held rate, that check's cost, and the
/// lowest failure above it.
fn checked_cost(
    records: &[TrialRecord],
    id: usize,
    price: &GpuPrice,
) -> Option<(f64, f64, Option<f64>)> {
    let checks = || {
        records.iter().filter(move |r| {
            r.stage == Stage::CostCheck
                && r.candidate_id == id
                && r.failure == FailureKind::Trial
                && r.metrics.is_some()
        })
    };
    let held = checks()
        .filter(|r| r.sla_passed)
        .max_by(|a, b| a.requested_qps.total_cmp(&b.requested_qps))?;
    let fails_at = checks()
        .filter(|r| !r.sla_passed && r.requested_qps > held.requested_qps)
        .map(|r| r.requested_qps)
        .reduce(f64::min);
    Some((held.requested_qps, cost_of(held, price)?, fails_at))
}

/// The cheapest per token of the fastest command (held `fastest_rate` in `fastest_trial`, which
/// failed at `fastest_fails`) and the `checked` commands at the rates their checks held.
pub fn outcome(
    records: &[TrialRecord],
    price: &GpuPrice,
    fastest_trial: &TrialRecord,
    (fastest_rate, fastest_fails): (f64, Option<f64>),
    checked: &[usize],
) -> Option<CostOutcome> {
    let fastest = fastest_trial.candidate_id;
    let fastest_cost = cost_of(fastest_trial, price)?;
    let mut best = (fastest, fastest_rate, fastest_cost, fastest_fails);
    for id in checked {
        if let Some((rate, dollars, fails_at)) = checked_cost(records, *id, price)
            && dollars * STEP_DOWN <= best.2
        {
            best = (*id, rate, dollars, fails_at);
        }
    }
    Some(CostOutcome {
        candidate: best.0,
        rate: best.1,
        cost: best.2,
        fails_at: best.3,
        fastest,
        fastest_rate,
        fastest_cost,
        checked: checked.to_vec(),
    })
}

/// The cheapest checked cost so far (the fastest's, or a checked command's 5% under it).
pub fn best_so_far(
    records: &[TrialRecord],
    price: &GpuPrice,
    fastest_cost: f64,
    checked: &[usize],
) -> f64 {
    checked
        .iter()
        .filter_map(|id| checked_cost(records, *id, price).map(|(_, dollars, _)| dollars))
        .fold(fastest_cost, |best, dollars| {
            if dollars * STEP_DOWN <= best {
                dollars
            } else {
                best
            }
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A trial of candidate `id` with `gpus` tensor-parallel GPUs at `qps`, producing 10 output
    /// tokens per request.
    fn record(stage: Stage, id: usize, gpus: u64, qps: f64, passed: bool) -> TrialRecord {
        serde_json::from_value(json!({
            "stage": stage, "candidate_id": id, "requested_qps": qps, "max_concurrency": null,
            "server_flags": {"tp_size": gpus}, "sla_passed": passed,
            "metrics": {"completed": 10, "achieved_request_rate": qps, "output_throughput": qps * 10.0}
        }))
        .expect("record")
    }

    #[test]
    fn a_command_cheaper_per_token_in_the_search_is_checked_and_answers_only_where_it_held() {
        let price = GpuPrice::flat(3.6);
        // The fastest: 2 GPUs holding 30 req/s (300 tokens/s): $3.6 x 2 / 3600 / 300 x 1e6 = $6.67.
        let fastest = record(Stage::Confirm, 1, 2, 30.0, true);
        // One GPU at 20 req/s in the search: $5.00, 25% cheaper: checked.
        let mut records = vec![
            record(Stage::Base, 0, 1, 20.0, true),
            record(Stage::Base, 1, 2, 32.0, true),
            fastest.clone(),
        ];
        let fastest_cost = cost_of(&fastest, &price).expect("cost");
        assert!((fastest_cost - 6.667).abs() < 0.01, "{fastest_cost}");
        let (next, dollars) =
            next_contender(&records, &price, 1, &[], fastest_cost).expect("a contender");
        assert_eq!(next.candidate_id, 0);
        assert!((dollars - 5.0).abs() < 1e-9);
        // It stays 5% cheaper down to 20 x 5.00 x 1.05 / 6.67 = 15.75 req/s.
        let walk = descent(next, dollars, fastest_cost);
        assert!((walk.floor - 15.75).abs() < 0.01, "{}", walk.floor);
        // Its check held 18 req/s (failed at 20): $5.56 there, still the cheapest.
        records.push(record(Stage::CostCheck, 0, 1, 20.0, false));
        records.push(record(Stage::CostCheck, 0, 1, 18.0, true));
        let out = outcome(&records, &price, &fastest, (30.0, None), &[0]).expect("outcome");
        assert_eq!(
            (out.candidate, out.rate, out.fails_at),
            (0, 18.0, Some(20.0))
        );
        assert!((out.cost - 5.556).abs() < 0.01, "{}", out.cost);
        assert_eq!(out.fastest, 1);
        // Nothing else is cheaper than that.
        assert!(next_contender(&records, &price, 1, &[0], out.cost).is_none());
    }

    #[test]
    fn a_contender_whose_check_lost_its_edge_leaves_the_fastest_the_answer() {
        let price = GpuPrice::flat(3.6);
        let fastest = record(Stage::Confirm, 1, 2, 30.0, true);
        let records = vec![
            record(Stage::Base, 0, 1, 20.0, true),
            record(Stage::CostCheck, 0, 1, 20.0, false),
            record(Stage::CostCheck, 0, 1, 16.0, false),
        ];
        let out = outcome(&records, &price, &fastest, (30.0, None), &[0]).expect("outcome");
        assert_eq!(out.candidate, 1);
        assert_eq!(
            best_so_far(&records, &price, out.fastest_cost, &[0]),
            out.fastest_cost
        );
    }
}
