//! The statistical verdict of a trial from its requests: for each SLA limit, the statistic, its
//! distribution-free confidence interval, and whether the sample shows the limit holds, is broken
//! or cannot tell (see [`shared::confidence`]).

use shared::confidence::{self, Decision};
use shared::metrics::Series;
use shared::sla::{LatencyLimit, Sla};
use shared::stats::{Summary, percentile_sorted};
use shared::verdict::{LimitCheck, Verdict};

use crate::loadgen::RequestResult;

/// Judges `results` (successful and failed requests, pooled over every replication of the trial,
/// each replication's times after the previous one's) against the SLA at `confidence`.
///
/// Percentile limits are judged on the sample's effective size: successive requests' latencies
/// cluster (they share the server's batch), so `n` requests carry the information of about
/// `n / τ` independent ones ([`confidence::clustering`], measured on the latencies in the order
/// they were scheduled). Treating them as independent made verdicts near capacity far too sure.
pub(crate) fn assess(
    sla: &Sla,
    results: &[RequestResult],
    confidence: f64,
    replications: u32,
) -> Verdict {
    let ordered = in_schedule_order(results);
    let mut checks: Vec<LimitCheck> = sla
        .limits
        .iter()
        .map(|limit| latency_check(limit, &ordered, confidence))
        .collect();
    checks.push(success_check(sla.min_success_rate, results, confidence));
    Verdict {
        decision: Verdict::combine(&checks),
        confidence,
        requests: results.len() as u64,
        replications,
        checks,
    }
}

/// The requests in the order they were scheduled.
fn in_schedule_order(results: &[RequestResult]) -> Vec<&RequestResult> {
    let mut ordered: Vec<&RequestResult> = results.iter().collect();
    ordered.sort_by(|a, b| a.scheduled_at.total_cmp(&b.scheduled_at));
    ordered
}

/// The per-request (per-gap for ITL) values of a series, in ms, from successful requests, in the
/// order of `results`.
pub(crate) fn series_values(series: Series, results: &[&RequestResult]) -> Vec<f64> {
    let ok = results.iter().copied().filter(|r| r.error.is_none());
    let first = |r: &RequestResult| r.first_token_at.unwrap_or(r.end_at);
    let ms = |s: f64| s * 1000.0;
    match series {
        Series::Ttft => ok.map(|r| ms(first(r) - r.sent_at)).collect(),
        Series::TtftFromScheduled => ok.map(|r| ms(first(r) - r.scheduled_at)).collect(),
        Series::E2e => ok.map(|r| ms(r.end_at - r.sent_at)).collect(),
        Series::E2eFromScheduled => ok.map(|r| ms(r.end_at - r.scheduled_at)).collect(),
        Series::Tpot => ok
            .filter(|r| r.output_tokens > 1)
            .map(|r| ms(r.end_at - first(r)) / (r.output_tokens - 1) as f64)
            .collect(),
        Series::Itl => ok.flat_map(|r| r.itl.iter().map(|g| ms(*g))).collect(),
    }
}

/// A limit's values, NaN left out, sorted, with how they clustered in schedule order
/// (percentile limits: [`tail_clustering`]; means: [`confidence::clustering`] of the values).
fn limit_sample(limit: &LatencyLimit, results: &[&RequestResult]) -> (Vec<f64>, f64) {
    let mut values = series_values(limit.series(), results);
    values.retain(|v| !v.is_nan());
    let tau = match limit.stat.quantile() {
        Some(q) => {
            let ordered = values.clone();
            values.sort_by(f64::total_cmp);
            tail_clustering(&ordered, &values, limit.max_ms, q)
        }
        None => {
            let tau = confidence::clustering(&values);
            values.sort_by(f64::total_cmp);
            tau
        }
    };
    (values, tau)
}

fn latency_check(limit: &LatencyLimit, results: &[&RequestResult], confidence: f64) -> LimitCheck {
    let (values, tau) = limit_sample(limit, results);
    let mut check = LimitCheck {
        name: limit.metric_name(),
        limit: limit.max_ms,
        floor: false,
        estimate: None,
        lower: None,
        upper: None,
        // No measured value counts against the SLA, as a missing metric always has.
        decision: Decision::Fail,
        effective_requests: None,
    };
    if values.is_empty() {
        return check;
    }
    match limit.stat.quantile() {
        Some(q) => {
            let over = values.iter().filter(|v| **v > limit.max_ms).count() as u64;
            let n = values.len() as u64;
            check.decision =
                confidence::clustered_share_decision(over, n, tau, 1.0 - q, confidence);
            check.estimate = Some(percentile_sorted(&values, q * 100.0));
            (check.lower, check.upper) =
                confidence::clustered_quantile_interval(&values, q, confidence, tau);
            check.effective_requests = effective(n, tau);
        }
        None => {
            let summary = Summary::of(&values);
            let n = values.len();
            let effective_n = ((n as f64 / tau).floor() as usize).max(n.min(2));
            check.effective_requests = effective(n as u64, tau);
            let (low, high) =
                confidence::mean_bounds(summary.mean, summary.std, effective_n, confidence);
            check.decision = if high <= limit.max_ms {
                Decision::Pass
            } else if low > limit.max_ms {
                Decision::Fail
            } else {
                Decision::Inconclusive
            };
            let two_sided = (1.0 + confidence) / 2.0;
            let (low, high) =
                confidence::mean_bounds(summary.mean, summary.std, effective_n, two_sided);
            check.estimate = Some(summary.mean);
            check.lower = low.is_finite().then_some(low);
            check.upper = high.is_finite().then_some(high);
        }
    }
    check
}

/// How the high values of a percentile limit's sample cluster: [`confidence::clustering`] of
/// "above the threshold", in schedule order, where the threshold is the limit or, when fewer
/// values come near it, the sample's own high quantile (its p90 for a p99 limit: ten times the
/// tail, so there are enough events to see whether they come together). So what is measured is
/// how the slow requests, the ones the limit is about, come together.
fn tail_clustering(values_in_order: &[f64], sorted: &[f64], limit: f64, q: f64) -> f64 {
    let level = (1.0 - 10.0 * (1.0 - q)).max(0.5);
    let threshold = percentile_sorted(sorted, level * 100.0).min(limit);
    let above: Vec<f64> = values_in_order
        .iter()
        .map(|v| if *v > threshold { 1.0 } else { 0.0 })
        .collect();
    confidence::clustering(&above)
}

/// The effective sample size of `n` values with clustering `tau`, when clustering matters (it
/// shrinks the sample by more than a tenth).
fn effective(n: u64, tau: f64) -> Option<f64> {
    (tau > 1.1).then(|| (n as f64 / tau).floor())
}

fn success_check(floor: f64, results: &[RequestResult], confidence: f64) -> LimitCheck {
    let n = results.len() as u64;
    let ok = results.iter().filter(|r| r.error.is_none()).count() as u64;
    let (low, high) = confidence::wilson(ok, n, confidence);
    let decision = if n == 0 {
        Decision::Fail
    } else if floor >= 1.0 {
        // "No request may fail" is a rule, not a rate: one failure breaks it, none keeps it.
        if ok == n {
            Decision::Pass
        } else {
            Decision::Fail
        }
    } else if low >= floor {
        Decision::Pass
    } else if high < floor {
        Decision::Fail
    } else {
        Decision::Inconclusive
    };
    let (low, high) = confidence::wilson(ok, n, (1.0 + confidence) / 2.0);
    LimitCheck {
        name: "success_rate".into(),
        limit: floor,
        floor: true,
        estimate: (n > 0).then(|| ok as f64 / n as f64),
        lower: (n > 0).then_some(low),
        upper: (n > 0).then_some(high),
        decision,
        effective_requests: None,
    }
}

/// Whether extending the trial to `cap` requests in all could still settle its verdict: a point
/// that passes on its estimates could be shown to pass if every extra request met every limit;
/// one that fails on its estimates could be shown to fail if the extra requests exceeded its
/// limits as often as the measured ones did. When not, more requests would only spend server
/// time (clustered latencies make a p99 take thousands of requests to show either way).
pub(crate) fn extension_can_settle(
    verdict: &Verdict,
    sla: &Sla,
    results: &[RequestResult],
    cap: u64,
) -> bool {
    let extra = cap.saturating_sub(results.len() as u64);
    let passing = verdict.estimates_hold();
    let ordered = in_schedule_order(results);
    // A percentile limit: extrapolate its count over the limit to `cap` requests.
    let percentile_reachable = |limit: &LatencyLimit, q: f64| {
        let (values, tau) = limit_sample(limit, &ordered);
        let over = values.iter().filter(|v| **v > limit.max_ms).count() as u64;
        let n = values.len() as u64;
        let (over, wanted) = if passing {
            (over, Decision::Pass)
        } else {
            let share = over as f64 / n.max(1) as f64;
            (over + (share * extra as f64).round() as u64, Decision::Fail)
        };
        confidence::clustered_share_decision(over, n + extra, tau, 1.0 - q, verdict.confidence)
            == wanted
    };
    // Mean and success-rate bounds narrow with more requests: an undecided one could settle the
    // way its estimate points.
    let check_reachable = |check: &LimitCheck| {
        (passing && check.decision == Decision::Pass)
            || (check.decision == Decision::Inconclusive && check.estimate_holds() == passing)
    };
    let mut reachable = sla
        .limits
        .iter()
        .zip(&verdict.checks)
        .map(|(limit, check)| match limit.stat.quantile() {
            Some(q) => percentile_reachable(limit, q),
            None => check_reachable(check),
        });
    let success = verdict
        .checks
        .get(sla.limits.len())
        .is_some_and(check_reachable);
    if passing {
        // Every limit must be shown to hold; the success rate holds or could be shown to.
        reachable.all(|r| r) && verdict.checks.get(sla.limits.len()).is_none_or(|_| success)
    } else {
        // One limit shown broken settles it.
        reachable.any(|r| r) || success
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::sla::{MeasureFrom, parse_limit_key};

    fn request(ttft_s: f64) -> RequestResult {
        RequestResult {
            scheduled_at: 0.0,
            sent_at: 0.0,
            first_token_at: Some(ttft_s),
            end_at: ttft_s + 0.1,
            itl: vec![0.01; 10],
            output_tokens: 11,
            input_tokens: 10,
            error: None,
            read_lag: 0.0,
        }
    }

    fn sla(key: &str, max: f64) -> Sla {
        Sla {
            limits: vec![parse_limit_key(key, max, MeasureFrom::Scheduled).expect("key")],
            min_success_rate: 1.0,
        }
    }

    #[test]
    fn a_median_limit_is_decided_by_a_small_sample() {
        let fast: Vec<RequestResult> = (0..60)
            .map(|i| request(0.05 + f64::from(i) * 1e-4))
            .collect();
        let verdict = assess(&sla("max_median_ttft_ms", 100.0), &fast, 0.95, 1);
        assert_eq!(verdict.decision, Decision::Pass, "{}", verdict.describe());
        let slow: Vec<RequestResult> = (0..60).map(|_| request(0.2)).collect();
        let verdict = assess(&sla("max_median_ttft_ms", 100.0), &slow, 0.95, 1);
        assert_eq!(verdict.decision, Decision::Fail);
    }

    #[test]
    fn a_p99_of_sixty_requests_is_inconclusive_and_pass_needs_more_requests() {
        let fast: Vec<RequestResult> = (0..60).map(|_| request(0.05)).collect();
        let limit = sla("max_p99_ttft_ms", 100.0);
        let verdict = assess(&limit, &fast, 0.95, 1);
        assert_eq!(verdict.decision, Decision::Inconclusive);
        assert_eq!(verdict.class(), "pass (inconclusive)");
        assert!(!extension_can_settle(&verdict, &limit, &fast, 120));
        assert!(extension_can_settle(&verdict, &limit, &fast, 300));
        // Two slow of sixty (3%): failing on its estimate, not yet shown; tripling the trial at
        // that share would show it.
        let mut some_slow = fast.clone();
        some_slow[10] = request(0.2);
        some_slow[40] = request(0.2);
        let verdict = assess(&limit, &some_slow, 0.95, 1);
        assert_eq!(verdict.class(), "fail (inconclusive)");
        assert!(extension_can_settle(&verdict, &limit, &some_slow, 600));
        assert!(!extension_can_settle(&verdict, &limit, &some_slow, 61));
        let p99 = &verdict.checks[0];
        assert_eq!(p99.upper, None, "60 requests cannot bound a p99 from above");
    }

    #[test]
    fn a_burst_of_slow_requests_is_judged_as_one_moment_not_many_requests() {
        // 600 requests a tenth of a second apart; requests 300-319 shared one congested moment.
        let results: Vec<RequestResult> = (0..600)
            .map(|i| {
                let slow = (300..320).contains(&i);
                let mut r = request(if slow {
                    0.2
                } else {
                    0.02 + f64::from(i % 7) * 1e-3
                });
                r.scheduled_at = f64::from(i) * 0.1;
                r.sent_at = r.scheduled_at;
                r.first_token_at = r.first_token_at.map(|t| t + r.scheduled_at);
                r.end_at += r.scheduled_at;
                r
            })
            .collect();
        let limit = sla("max_p99_ttft_ms", 100.0);
        let verdict = assess(&limit, &results, 0.95, 1);
        let p99 = &verdict.checks[0];
        // As 600 independent requests, 20 over the limit (3.3%) would be shown to fail.
        assert_eq!(
            confidence::share_decision(20, 600, 0.01, 0.95),
            Decision::Fail
        );
        assert_eq!(
            p99.decision,
            Decision::Inconclusive,
            "{}",
            p99.describe(0.95)
        );
        let worth = p99.effective_requests.expect("clustered");
        assert!(worth < 100.0, "{worth}");
        assert!(p99.describe(0.95).contains("independent requests"));
        // Shuffled over the trial, the same slow requests are independent and the failure shows.
        let spread: Vec<RequestResult> = results
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut r = r.clone();
                let slow = i % 30 == 0;
                let ttft = if slow {
                    0.2
                } else {
                    0.02 + (i % 7) as f64 * 1e-3
                };
                r.first_token_at = Some(r.scheduled_at + ttft);
                r
            })
            .collect();
        assert_eq!(
            assess(&limit, &spread, 0.95, 1).checks[0].decision,
            Decision::Fail
        );
    }

    #[test]
    fn one_failure_breaks_a_no_failure_rule_and_rates_get_bounds() {
        let mut results: Vec<RequestResult> = (0..100).map(|_| request(0.01)).collect();
        results[3].error = Some(crate::loadgen::stream::RequestError::Http(500));
        let strict = assess(&sla("max_median_ttft_ms", 100.0), &results, 0.95, 1);
        assert_eq!(strict.decision, Decision::Fail);
        let mut lenient = sla("max_median_ttft_ms", 100.0);
        lenient.min_success_rate = 0.9;
        assert_eq!(assess(&lenient, &results, 0.95, 1).decision, Decision::Pass);
    }
}
