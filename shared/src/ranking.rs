//! Which trial is "best": upstream's ranking key (SLA pass, rate, output throughput, lower mean
//! TTFT, lower mean TPOT), except that the rate is the **achieved** rate whenever the client or a
//! concurrency cap held it more than [`ACHIEVED_TOLERANCE`] below the requested one, so a capped
//! run cannot win with a rate it never delivered (upstream weakness 7).

use std::cmp::Ordering;

use crate::metrics::{Metric, Series};
use crate::record::TrialRecord;
use crate::sla::Stat;

/// Relative shortfall of achieved versus requested rate tolerated before ranking uses achieved.
pub const ACHIEVED_TOLERANCE: f64 = 0.03;

/// The rate a trial is credited with (requests/s): what its schedule really offered (never more
/// than requested), or the achieved rate when the client or a concurrency cap held that more
/// than [`ACHIEVED_TOLERANCE`] lower.
pub fn credited_rate(record: &TrialRecord) -> f64 {
    let offered = record
        .metric(Metric::OfferedRate)
        .map_or(record.requested_qps, |o| o.min(record.requested_qps));
    match record.metric(Metric::AchievedRate) {
        Some(achieved) if achieved < offered * (1.0 - ACHIEVED_TOLERANCE) => achieved,
        _ => offered,
    }
}

/// Compares two trials; `Greater` means `a` ranks higher.
pub fn compare(a: &TrialRecord, b: &TrialRecord) -> Ordering {
    let key = |r: &TrialRecord| {
        [
            f64::from(u8::from(r.sla_passed)),
            credited_rate(r),
            r.metric(Metric::OutputThroughput)
                .unwrap_or(f64::NEG_INFINITY),
            -r.metric(Metric::Latency(Series::Ttft, Stat::Mean))
                .unwrap_or(f64::INFINITY),
            -r.metric(Metric::Latency(Series::Tpot, Stat::Mean))
                .unwrap_or(f64::INFINITY),
        ]
    };
    let (ka, kb) = (key(a), key(b));
    ka.iter()
        .zip(kb.iter())
        .map(|(x, y)| x.total_cmp(y))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// The best trial among those with metrics (failed runs never win). Confirmation trials re-measure
/// rates the search already found, so they confirm or overturn a winner but never rank.
pub fn best<'a, I: IntoIterator<Item = &'a TrialRecord>>(records: I) -> Option<&'a TrialRecord> {
    records
        .into_iter()
        .filter(|r| r.metrics.is_some() && !r.stage.is_check())
        .max_by(|a, b| compare(a, b))
}

/// The best trial that met the SLA.
pub fn best_passing<'a, I: IntoIterator<Item = &'a TrialRecord>>(
    records: I,
) -> Option<&'a TrialRecord> {
    best(records.into_iter().filter(|r| r.sla_passed))
}

/// The latest passing trial of `candidate` at exactly `rate`: the trial behind an answer that fell
/// back to a lower rate after its confirmation failed.
pub fn passing_at(
    records: &[TrialRecord],
    candidate: usize,
    stage: crate::record::Stage,
    rate: f64,
) -> Option<&TrialRecord> {
    records.iter().rev().find(|r| {
        r.stage.numbered_like(stage)
            && r.candidate_id == candidate
            && r.sla_passed
            && r.requested_qps == rate
    })
}

/// The trial behind a scenario's answer, so that every figure shown with the answer comes from
/// the trial at the answer's rate: without a confirmation, the best passing trial; with one, the
/// chosen candidate's confirmation trial at the answer's rate (the winning rate when it held, else
/// the rate it stepped down to), the longest measurement the answer rests on; failing that, its
/// lowest passing trial at or above that rate (a fallback to the search, a baseline chosen at the
/// winner's fallback rate).
pub fn answer_trial<'a>(
    records: &'a [TrialRecord],
    confirmation: Option<&crate::verdict::Confirmation>,
) -> Option<&'a TrialRecord> {
    let top = best_passing(records)?;
    let Some(c) = confirmation else {
        return Some(top);
    };
    if let Some(outcome) = c.speculative.as_ref().filter(|o| o.beat)
        && let Some(trial) = speculative_check(records, outcome)
    {
        return Some(trial);
    }
    if let Some(outcome) = c.by_cost.as_ref().filter(|o| o.candidate != c.chosen)
        && let Some(trial) = cost_check(records, outcome)
    {
        return Some(trial);
    }
    let rate = if c.confirmed {
        c.rate
    } else {
        let Some(rate) = c.passes_at else {
            return Some(top);
        };
        rate
    };
    let passing = |r: &&TrialRecord| {
        r.stage.numbered_like(crate::record::Stage::Base)
            && r.stage != crate::record::Stage::CostCheck
            && r.candidate_id == c.chosen
            && r.sla_passed
            && r.metrics.is_some()
            && r.max_concurrency == c.max_concurrency
    };
    records
        .iter()
        .rev()
        .filter(passing)
        .find(|r| r.stage == crate::record::Stage::Confirm && r.requested_qps == rate)
        .or_else(|| {
            records
                .iter()
                .filter(passing)
                .filter(|r| r.requested_qps >= rate * (1.0 - 1e-9))
                .min_by(|a, b| a.requested_qps.total_cmp(&b.requested_qps))
        })
        .or(Some(top))
}

/// The passing check of the speculative command that beat the base answer, at the rate it held:
/// the trial a speculative answer rests on.
pub fn speculative_check<'a>(
    records: &'a [TrialRecord],
    outcome: &crate::verdict::SpeculativeOutcome,
) -> Option<&'a TrialRecord> {
    let (id, held) = (outcome.candidate?, outcome.held?);
    records.iter().rev().find(|r| {
        r.stage == crate::record::Stage::SpeculativeConfirm
            && r.candidate_id == id
            && r.sla_passed
            && r.metrics.is_some()
            && (r.requested_qps - held).abs() <= held * 1e-9
    })
}

/// The passing cost check of the cheapest command at the rate it held: the trial a cost-ranked
/// answer rests on.
pub fn cost_check<'a>(
    records: &'a [TrialRecord],
    outcome: &crate::verdict::CostOutcome,
) -> Option<&'a TrialRecord> {
    records.iter().rev().find(|r| {
        r.stage == crate::record::Stage::CostCheck
            && r.candidate_id == outcome.candidate
            && r.sla_passed
            && r.metrics.is_some()
            && (r.requested_qps - outcome.rate).abs() <= outcome.rate * 1e-9
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(qps: f64, passed: bool, achieved: f64, tput: f64) -> TrialRecord {
        TrialRecord {
            schema_version: 1,
            trial_key: String::new(),
            stage: crate::record::Stage::Base,
            scenario: "s".into(),
            candidate_id: 0,
            requested_qps: qps,
            max_concurrency: None,
            server_flags: Default::default(),
            sla_passed: passed,
            sla_failures: vec![],
            metrics: json!({"achieved_request_rate": achieved, "output_throughput": tput,
                            "mean_ttft_ms": 10.0, "mean_tpot_ms": 5.0})
            .as_object()
            .map(crate::metrics::TrialMetrics::from_wire),
            verdict: None,
            error: None,
            diagnosis: None,
            failure: Default::default(),
            cause: None,
            hint: None,
            heuristic_pruned: false,
            heuristic_reason: None,
            best_for_candidate: false,
            started_at: String::new(),
            trial_duration_s: 0.0,
            steady: None,
            requests: Vec::new(),
        }
    }

    #[test]
    fn the_answer_trial_is_the_one_at_the_answers_rate() {
        let records = [
            record(14.0, true, 14.0, 1700.0),
            record(23.0, true, 23.0, 2180.0),
            record(32.0, false, 32.0, 2500.0),
        ];
        let confirmation = |confirmed: bool, passes_at: Option<f64>| crate::verdict::Confirmation {
            rate: 23.0,
            max_concurrency: None,
            winner: 0,
            chosen: 0,
            confirmed,
            tied_with: vec![],
            compared_at: None,
            contenders: vec![],
            passes_at,
            fails_at: None,
            likely: None,
            note: String::new(),
            not_shown: None,
            speculative: None,
            by_cost: None,
        };
        let rate = |c: Option<&crate::verdict::Confirmation>| {
            answer_trial(&records, c).map(|r| r.requested_qps)
        };
        assert_eq!(rate(None), Some(23.0));
        assert_eq!(rate(Some(&confirmation(true, Some(23.0)))), Some(23.0));
        assert_eq!(
            rate(Some(&confirmation(false, Some(14.0)))),
            Some(14.0),
            "the winning rate did not hold: its figures come from the trial it fell back to"
        );
    }

    #[test]
    fn passing_beats_faster_failing() {
        let records = [
            record(10.0, false, 10.0, 100.0),
            record(5.0, true, 5.0, 50.0),
        ];
        assert_eq!(best(&records).map(|r| r.requested_qps), Some(5.0));
    }

    #[test]
    fn capped_run_ranks_on_achieved_rate() {
        let capped = record(10.0, true, 6.0, 100.0);
        let honest = record(8.0, true, 7.95, 80.0);
        assert_eq!(credited_rate(&capped), 6.0);
        assert_eq!(credited_rate(&honest), 8.0);
        let records = [capped, honest];
        assert_eq!(best(&records).map(|r| r.requested_qps), Some(8.0));
    }

    #[test]
    fn failures_without_metrics_never_win() {
        let mut failed = record(100.0, false, 0.0, 0.0);
        failed.metrics = None;
        let records = [failed, record(1.0, false, 1.0, 1.0)];
        assert_eq!(best(&records).map(|r| r.requested_qps), Some(1.0));
        assert!(best_passing(&records).is_none());
    }
}
