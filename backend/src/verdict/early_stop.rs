//! SLA early stop: ends a trial as soon as its verdict can no longer change, so a search spends no
//! more GPU time on a point that has already failed.
//!
//! A tail limit (say p99 TTFT ≤ 1 s over N planned requests) is certainly broken once
//! `N − floor(0.99 × (N − 1))` requests exceeded it, whatever the rest do (numpy's linear
//! percentile); a success-rate floor is
//! certainly broken once more requests failed than it allows. Means are not checked (a later fast
//! request could still pull a mean down).

use shared::sla::{LatencyMetric, MeasureFrom, Sla, Stat};

use crate::loadgen::{EarlyEnd, RequestResult, StopRule};

/// One tail limit checked per request.
#[derive(Debug, Clone)]
struct TailLimit {
    name: String,
    metric: LatencyMetric,
    from_scheduled: bool,
    max_ms: f64,
    allowed_over: usize,
    over: usize,
}

/// Tracks completed requests against the SLA.
#[derive(Debug, Clone)]
pub(crate) struct EarlyStop {
    limits: Vec<TailLimit>,
    allowed_failures: usize,
    failures: usize,
}

fn quantile(stat: Stat) -> Option<f64> {
    match stat {
        Stat::Median => Some(0.5),
        Stat::P90 => Some(0.9),
        Stat::P95 => Some(0.95),
        Stat::P99 => Some(0.99),
        Stat::Mean => None,
    }
}

/// How many of `planned` values may exceed a limit while numpy's linear `q`-quantile can still
/// stay at or under it: the quantile sits between sorted values `floor(q(N-1))` and the next, so
/// once `N - floor(q(N-1))` values exceed the limit, so does the quantile.
fn allowed_over(planned: usize, q: f64) -> usize {
    let rank = (q * planned.saturating_sub(1) as f64).floor() as usize;
    planned.saturating_sub(rank).saturating_sub(1)
}

impl EarlyStop {
    /// The checks an SLA allows for `planned` requests.
    pub(crate) fn new(sla: &Sla, planned: usize) -> EarlyStop {
        let limits = sla
            .limits
            .iter()
            .filter(|l| l.metric != LatencyMetric::Itl)
            .filter_map(|l| {
                let q = quantile(l.stat)?;
                Some(TailLimit {
                    name: l.metric_name(),
                    metric: l.metric,
                    from_scheduled: l.measure_from == MeasureFrom::Scheduled,
                    max_ms: l.max_ms,
                    allowed_over: allowed_over(planned, q),
                    over: 0,
                })
            })
            .collect();
        let allowed_failures = (planned as f64 * (1.0 - sla.min_success_rate)).floor() as usize;
        EarlyStop {
            limits,
            allowed_failures,
            failures: 0,
        }
    }

    /// Counts a finished request; returns why the trial can stop, once its verdict is certain.
    pub(crate) fn observe(&mut self, result: &RequestResult) -> Option<String> {
        if result.error.is_some() {
            self.failures += 1;
            if self.failures > self.allowed_failures {
                return Some(format!(
                    "{} requests failed, more than min_success_rate allows",
                    self.failures
                ));
            }
            return None;
        }
        for limit in &mut self.limits {
            let start = if limit.from_scheduled {
                result.scheduled_at
            } else {
                result.sent_at
            };
            let first = result.first_token_at.unwrap_or(result.end_at);
            let value_ms = match limit.metric {
                LatencyMetric::Ttft => (first - start) * 1000.0,
                LatencyMetric::E2e => (result.end_at - start) * 1000.0,
                LatencyMetric::Tpot if result.output_tokens > 1 => {
                    (result.end_at - first) * 1000.0 / (result.output_tokens - 1) as f64
                }
                _ => continue,
            };
            if value_ms > limit.max_ms {
                limit.over += 1;
                if limit.over > limit.allowed_over {
                    return Some(format!(
                        "{} requests exceeded {} {} ms (at most {} may)",
                        limit.over, limit.name, limit.max_ms, limit.allowed_over
                    ));
                }
            }
        }
        None
    }
}

impl StopRule for EarlyStop {
    fn observe(&mut self, result: &RequestResult) -> Option<EarlyEnd> {
        EarlyStop::observe(self, result).map(|reason| EarlyEnd {
            reason,
            passed: false,
            complete: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::sla::parse_limit_key;

    fn result(ttft: f64) -> RequestResult {
        RequestResult {
            scheduled_at: 0.0,
            sent_at: 0.0,
            first_token_at: Some(ttft),
            end_at: ttft + 0.1,
            itl: vec![],
            output_tokens: 2,
            input_tokens: 1,
            error: None,
            read_lag: 0.0,
        }
    }

    #[test]
    fn stops_once_the_tail_is_lost() {
        let sla = Sla {
            limits: vec![
                parse_limit_key("max_p99_ttft_ms", 100.0, MeasureFrom::Scheduled).expect("key"),
            ],
            min_success_rate: 1.0,
        };
        let mut stop = EarlyStop::new(&sla, 200);
        assert_eq!(
            stop.observe(&result(0.5)),
            None,
            "2 of 200 may exceed a p99 limit"
        );
        assert_eq!(stop.observe(&result(0.5)), None);
        assert!(stop.observe(&result(0.05)).is_none());
        assert!(
            stop.observe(&result(0.5))
                .is_some_and(|r| r.contains("3 requests exceeded"))
        );
    }

    #[test]
    fn means_never_stop_early_and_failures_do() {
        let sla = Sla {
            limits: vec![parse_limit_key("max_ttft_ms", 1.0, MeasureFrom::Sent).expect("key")],
            min_success_rate: 1.0,
        };
        let mut stop = EarlyStop::new(&sla, 10);
        assert!(stop.observe(&result(5.0)).is_none());
        let mut failed = result(0.1);
        failed.error = Some(crate::loadgen::stream::RequestError::Http(500));
        assert!(stop.observe(&failed).is_some());
    }
}
