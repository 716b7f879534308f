//! The statistical early stop: once half a trial's planned requests have finished, a point whose
//! finished requests already show a broken limit at the verdict's confidence (the same bounds as
//! the final verdict, [`super::assess`]) stops. Requests still in flight are the slower ones, so
//! judging the finished ones alone can only understate a failure, never invent one.

use shared::confidence::Decision;
use shared::sla::Sla;

use super::assess::assess;
use crate::loadgen::{EarlyEnd, RequestResult, StopRule};

/// Checks every 5% of the planned requests from the halfway point on.
pub(crate) struct ShownFailing {
    sla: Sla,
    confidence: f64,
    every: usize,
    next_check: usize,
}

impl ShownFailing {
    /// The rule for `planned` requests.
    pub(crate) fn new(sla: &Sla, planned: usize, confidence: f64) -> ShownFailing {
        ShownFailing {
            sla: sla.clone(),
            confidence,
            every: (planned / 20).max(1),
            next_check: planned.div_ceil(2).max(1),
        }
    }
}

impl StopRule for ShownFailing {
    fn due(&self, finished: usize) -> bool {
        finished >= self.next_check
    }

    fn check(
        &mut self,
        finished: &[RequestResult],
        _in_flight_scheduled: &[f64],
        _now: f64,
    ) -> Option<EarlyEnd> {
        self.next_check = finished.len() + self.every;
        let verdict = assess(&self.sla, finished, self.confidence, 1);
        (verdict.decision == Decision::Fail).then(|| EarlyEnd {
            reason: format!(
                "shown to fail at {:.0}% confidence after {} requests: {}",
                self.confidence * 100.0,
                finished.len(),
                verdict
                    .checks
                    .iter()
                    .filter(|c| c.decision == Decision::Fail)
                    .map(|c| c.describe(self.confidence))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            passed: false,
            complete: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::sla::{MeasureFrom, parse_limit_key};

    fn request(ttft: f64) -> RequestResult {
        RequestResult {
            scheduled_at: 0.0,
            sent_at: 0.0,
            first_token_at: Some(ttft),
            end_at: ttft,
            itl: Vec::new(),
            output_tokens: 1,
            input_tokens: 1,
            error: None,
            read_lag: 0.0,
        }
    }

    #[test]
    fn stops_only_from_halfway_and_only_when_shown() {
        let sla = Sla {
            limits: vec![
                parse_limit_key("max_median_ttft_ms", 100.0, MeasureFrom::Sent).expect("key"),
            ],
            min_success_rate: 1.0,
        };
        let mut rule = ShownFailing::new(&sla, 100, 0.95);
        assert!(!rule.due(49));
        assert!(rule.due(50));
        let slow: Vec<RequestResult> = (0..50).map(|_| request(0.5)).collect();
        assert!(rule.check(&slow, &[], 1.0).is_some_and(|e| !e.passed));
        let mut rule = ShownFailing::new(&sla, 100, 0.95);
        let fast: Vec<RequestResult> = (0..50).map(|_| request(0.01)).collect();
        assert!(rule.check(&fast, &[], 1.0).is_none());
        assert!(!rule.due(51), "next check after 5 more requests");
    }
}
