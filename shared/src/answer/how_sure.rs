//! "How sure": the statistics behind an answer in plain sentences. One for what was measured
//! (requests, seconds, the warm-up before them), one per SLA limit (the measured value against
//! the limit, its confidence bound, what the sample was worth, and what showing an open limit
//! would take), and one for the other commands compared at the answer's rate.

use crate::confidence::Decision;
use crate::record::{Stage, TrialRecord};
use crate::sla::{Sla, Stat};
use crate::verdict::{Confirmation, LimitCheck, Verdict, requests_to_show};

use super::{Names, rate, seconds_text};

/// The sentences for the trial behind the answer.
pub(super) fn sentences(
    trial: &TrialRecord,
    confirmation: Option<&Confirmation>,
    sla: Option<&Sla>,
    names: &Names,
) -> Vec<String> {
    let mut out: Vec<String> = confirmation
        .and_then(|c| c.likely)
        .map(likely)
        .into_iter()
        .collect();
    out.push(measured(trial));
    if let Some(verdict) = &trial.verdict {
        let seconds = trial
            .steady
            .map(|w| w.measured_s)
            .or_else(|| trial.metrics.as_ref().map(|m| m.duration))
            .unwrap_or(0.0);
        out.extend(
            verdict
                .checks
                .iter()
                .map(|check| limit(check, verdict, seconds, sla)),
        );
    }
    if let Some(c) = confirmation
        && let Some(compared) = compared(c, names)
    {
        out.push(compared);
    }
    out
}

/// "Its true limit is likely between 23.0 and 26.7 req/s: on the simulator's verdict benchmark,
/// 9 in 10 answers' true rates fell in such a range."
pub(super) fn likely(range: crate::verdict::LikelyRange) -> String {
    let share = (range.level * 10.0).round();
    let span = match range.high {
        Some(high) => format!("between {} and {}", rate(range.low), rate(high)),
        None => format!("above {}", rate(range.low)),
    };
    format!(
        "Its true limit is likely {span}: on the simulator's verdict benchmark, {share:.0} in 10 answers' true rates fell in such a range."
    )
}

/// "Measured 1,080 requests over 90 s at 12.00 req/s, after a 14-s warm-up (latencies settled
/// (MSER-5))."
fn measured(trial: &TrialRecord) -> String {
    let requests = trial
        .verdict
        .as_ref()
        .map(|v| v.requests)
        .or_else(|| trial.metrics.as_ref().map(|m| m.completed + m.failed))
        .unwrap_or(0);
    let seconds = trial
        .steady
        .map(|w| w.measured_s)
        .or_else(|| trial.metrics.as_ref().map(|m| m.duration))
        .unwrap_or(0.0);
    let warmup = trial.steady.map_or(String::new(), |w| {
        format!(
            ", after a {}-s warm-up ({})",
            seconds_text(w.warmup_s),
            w.warmup_rule.describe()
        )
    });
    let pooled = match trial.verdict.as_ref().map_or(1, |v| v.replications) {
        0 | 1 => String::new(),
        _ if trial.stage.is_check() => ", pooled with the search's trial at the same rate".into(),
        n => format!(", over {n} runs"),
    };
    format!(
        "Measured {requests} requests over {} s at {}{warmup}{pooled}.",
        seconds_text(seconds),
        rate(trial.requested_qps)
    )
}

/// The limit's name as the SLA writes it ("p99 TTFT"), else from the metric's name.
fn limit_name(check: &LimitCheck, sla: Option<&Sla>) -> String {
    sla.and_then(|s| s.limits.iter().find(|l| l.metric_name() == check.name))
        .map_or_else(|| check.title(), |l| l.plain_name())
}

/// One limit in a sentence.
fn limit(check: &LimitCheck, verdict: &Verdict, seconds: f64, sla: Option<&Sla>) -> String {
    let confidence = format!("{:.0}%", verdict.confidence * 100.0);
    let worth = check.effective_requests.unwrap_or(verdict.requests as f64);
    let sample = match check.effective_requests {
        Some(n) => format!(
            "{} requests, worth {n:.0} independent ones as latencies of concurrent requests move together",
            verdict.requests
        ),
        None => format!("{} requests", verdict.requests),
    };
    if check.floor {
        let share = |v: f64| format!("{:.1}%", v * 100.0);
        let Some(estimate) = check.estimate else {
            return "Success rate: not measured.".into();
        };
        let bound = check.lower.map_or(String::new(), |l| {
            format!("; with {confidence} confidence at least {}", share(l))
        });
        let floor = if check.limit >= 1.0 {
            "and every one must".to_string()
        } else {
            format!("against a floor of {}", share(check.limit))
        };
        return format!(
            "Success rate: {} of requests succeeded, {floor}{bound} ({sample}).",
            share(estimate)
        );
    }
    let name = limit_name(check, sla);
    let digits = if check.limit < 100.0 { 1 } else { 0 };
    let ms = |v: f64| format!("{v:.digits$} ms");
    let Some(estimate) = check.estimate else {
        return format!("{name}: not measured (limit {}).", ms(check.limit));
    };
    match check.decision {
        Decision::Pass => {
            let bound = check.upper.map_or_else(
                || format!("it is under the limit with {confidence} confidence"),
                |u| format!("with {confidence} confidence it is at most {}", ms(u)),
            );
            format!(
                "{name}: {} measured against a limit of {}; {bound} ({sample}).",
                ms(estimate),
                ms(check.limit)
            )
        }
        Decision::Fail => format!(
            "{name}: {} measured against a limit of {}: over it with {confidence} confidence ({sample}).",
            ms(estimate),
            ms(check.limit)
        ),
        Decision::Inconclusive => {
            let side = if check.estimate_holds() {
                "under"
            } else {
                "over"
            };
            let bound = check.upper.map_or_else(
                || "the sample does not bound it from above".into(),
                |u| format!("its upper bound is {}", ms(u)),
            );
            let need = Stat::of_metric(&check.name)
                .and_then(Stat::quantile)
                .map(|q| requests_to_show(1.0 - q, verdict.confidence))
                .filter(|need| worth > 0.0 && *need > worth && seconds > 0.0)
                .map_or(String::new(), |need| {
                    format!(
                        "; showing it takes at least {need:.0} independent requests, a trial of about {:.0} s",
                        seconds * need / worth
                    )
                });
            format!(
                "{name}: {} measured, {side} the limit of {}, but not shown at {confidence} confidence: {bound} ({sample}){need}.",
                ms(estimate),
                ms(check.limit)
            )
        }
    }
}

/// "Compared at 16.69 req/s: the default held; `--a 1` failed."
fn compared(c: &Confirmation, names: &Names) -> Option<String> {
    let others: Vec<String> = c
        .contenders
        .iter()
        .skip(1)
        .map(|x| {
            let what = if x.passed {
                "held".to_string()
            } else if x.class == "not measured" || x.class.starts_with("failed at") {
                x.class.clone()
            } else {
                "failed".to_string()
            };
            format!("{} {what}", names.quoted(Stage::Base, x.candidate))
        })
        .collect();
    (!others.is_empty()).then(|| {
        format!(
            "Compared at {} in equally long trials: {}.",
            rate(c.compared_at.unwrap_or(c.rate)),
            others.join("; ")
        )
    })
}
