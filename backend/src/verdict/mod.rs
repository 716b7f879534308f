//! The SLA verdict of a trial and the rules that may end a trial early, kept together with the
//! SLA: the load generator ([`crate::loadgen`]) only measures and asks its [`StopRule`]s whether
//! to stop; whether a point passes is decided here.
//!
//! [`StopRule`]: crate::loadgen::StopRule

pub(crate) mod assess;
pub(crate) mod early_pass;
pub(crate) mod early_stop;
pub(crate) mod shown_failing;
pub(crate) mod steady;

use shared::confidence::Decision;
use shared::metrics::TrialMetrics;
use shared::sla::Sla;
use shared::verdict::Verdict;

use crate::loadgen::StopRules;

/// SLA violations of measured metrics. An early-stopped trial never passes (its verdict was already
/// lost), and neither does a client-limited one (its numbers describe the client, not the server).
pub(crate) fn judge(sla: &Sla, metrics: &TrialMetrics) -> Vec<String> {
    let mut failures = sla.violations(metrics);
    if let Some(reason) = &metrics.early_stop_reason {
        failures.push(format!("early_stopped: {reason}"));
    }
    if let Some(reason) = metrics
        .client
        .as_ref()
        .and_then(|c| c.limited_reason.as_ref())
    {
        failures.push(format!(
            "client_limited: {reason}; this trial says nothing about the server"
        ));
    }
    failures
}

/// Whether a trial passes: its verdict shows it (an inconclusive verdict that more requests could
/// not settle is decided by the point estimates), and it was neither stopped early as failing nor
/// held back by the client.
pub(crate) fn passes(verdict: &Verdict, metrics: &TrialMetrics) -> bool {
    let clean = metrics.early_stop_reason.is_none() && !metrics.client_limited();
    clean
        && match verdict.decision {
            Decision::Pass => true,
            Decision::Fail => false,
            Decision::Inconclusive => verdict.estimates_hold(),
        }
}

/// The stop rules of a trial of `planned` requests: the certain-failure stop and the statistical
/// one (at `confidence`) when `benchmark.early_stop` is on, and the opt-in early pass (`(after, margin)`, see
/// [`early_pass::EarlyPass::new`]).
pub(crate) fn stop_rules(
    sla: &Sla,
    planned: usize,
    confidence: f64,
    early_stop: bool,
    early_pass: Option<(f64, f64)>,
) -> StopRules {
    let mut rules = StopRules::new();
    if early_stop {
        rules.push(Box::new(early_stop::EarlyStop::new(sla, planned)));
        rules.push(Box::new(shown_failing::ShownFailing::new(
            sla, planned, confidence,
        )));
    }
    if let Some((after, margin)) = early_pass {
        rules.push(Box::new(early_pass::EarlyPass::new(
            sla, planned, after, margin, confidence,
        )));
    }
    rules
}
