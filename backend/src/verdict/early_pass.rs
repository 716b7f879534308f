//! Opt-in early stop for a point that is clearly passing (`benchmark.early_pass: true`).
//!
//! A passing point cannot be *certain* before its last requests finish, so this check is
//! deliberately conservative rather than exact. Once `after` of the planned requests have
//! finished, it judges the SLA with every limit tightened to `margin` times its value, over
//! - every finished request, plus every request still in flight counted as if its first token and
//!   its end arrived right now (a lower bound on its real TTFT and E2E, so slow stragglers count
//!   against the verdict instead of being ignored), and
//! - the most recent quarter of that set by scheduled time, so a queue that is slowly building up
//!   (latency rising over the trial) does not pass on the strength of its calm beginning.
//!
//! Both must be shown to pass at the verdict's confidence (the same bounds as the final verdict,
//! [`super::assess`]), with failures no more than `margin` of what `min_success_rate` allows. The
//! check runs at most 20 times per trial (every 5% of the planned requests).

use shared::sla::Sla;

use crate::loadgen::{EarlyEnd, RequestResult, StopRule};

/// The opt-in passing-point check.
#[derive(Debug, Clone)]
pub(crate) struct EarlyPass {
    tightened: Sla,
    planned: usize,
    every: usize,
    next_check: usize,
    allowed_failures: f64,
    margin: f64,
    confidence: f64,
}

impl EarlyPass {
    /// A check for `planned` requests; `after` and `margin` are fractions in (0, 1]; the pass must
    /// be shown at `confidence`.
    pub(crate) fn new(
        sla: &Sla,
        planned: usize,
        after: f64,
        margin: f64,
        confidence: f64,
    ) -> EarlyPass {
        let mut tightened = sla.clone();
        for limit in &mut tightened.limits {
            limit.max_ms *= margin;
        }
        // The success rate is checked separately, on finished requests only.
        tightened.min_success_rate = 0.0;
        let first_check = ((planned as f64 * after).ceil() as usize).max(1);
        EarlyPass {
            tightened,
            planned,
            every: (planned / 20).max(1),
            next_check: first_check,
            allowed_failures: planned as f64 * (1.0 - sla.min_success_rate) * margin,
            margin,
            confidence,
        }
    }

    /// Whether enough new requests finished since the last check to run another one.
    pub(crate) fn due(&self, finished: usize) -> bool {
        finished >= self.next_check && finished < self.planned
    }

    /// Judges the point; `in_flight_scheduled` are the scheduled times of requests sent but not
    /// finished, `now` the trial clock. Returns why the point is clearly passing.
    pub(crate) fn check(
        &mut self,
        finished: &[RequestResult],
        in_flight_scheduled: &[f64],
        now: f64,
    ) -> Option<String> {
        self.next_check = finished.len() + self.every;
        let failures = finished.iter().filter(|r| r.error.is_some()).count();
        if failures as f64 > self.allowed_failures {
            return None;
        }
        let mut pool: Vec<RequestResult> = finished
            .iter()
            .filter(|r| r.error.is_none())
            .cloned()
            .collect();
        pool.extend(in_flight_scheduled.iter().map(|&at| RequestResult {
            scheduled_at: at,
            sent_at: at,
            first_token_at: Some(now),
            end_at: now,
            itl: Vec::new(),
            output_tokens: 0,
            input_tokens: 0,
            error: None,
            read_lag: 0.0,
        }));
        if !self.passes(&pool, true) {
            return None;
        }
        pool.sort_by(|a, b| a.scheduled_at.total_cmp(&b.scheduled_at));
        let recent = &pool[pool.len() - pool.len().div_ceil(4)..];
        if !self.passes(recent, false) {
            return None;
        }
        Some(format!(
            "clearly passing: {} of {} requests finished ({} in flight) within {:.0}% of every SLA limit, also over the latest quarter",
            finished.len(),
            self.planned,
            in_flight_scheduled.len(),
            self.margin * 100.0
        ))
    }

    /// Whether `results` meet the tightened limits; `shown` also asks that the sample shows it at
    /// the confidence level (the latest quarter alone is too small for that, so it only guards
    /// against a trend).
    fn passes(&self, results: &[RequestResult], shown: bool) -> bool {
        if results.is_empty() {
            return false;
        }
        let span = results
            .iter()
            .map(|r| r.end_at)
            .fold(f64::MIN, f64::max)
            .max(1e-9);
        let metrics = crate::metrics::summarize(results, span, f64::INFINITY, None);
        self.tightened.violations(&metrics).is_empty()
            && (!shown
                || super::assess::assess(&self.tightened, results, self.confidence, 1).decision
                    == shared::confidence::Decision::Pass)
    }
}

impl StopRule for EarlyPass {
    fn due(&self, finished: usize) -> bool {
        EarlyPass::due(self, finished)
    }

    fn check(
        &mut self,
        finished: &[RequestResult],
        in_flight_scheduled: &[f64],
        now: f64,
    ) -> Option<EarlyEnd> {
        EarlyPass::check(self, finished, in_flight_scheduled, now).map(|reason| EarlyEnd {
            reason,
            passed: true,
            complete: false,
        })
    }
}
