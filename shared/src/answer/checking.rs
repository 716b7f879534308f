//! What the answer card says while the confirmation runs: which command is being checked, at
//! which rates its longer trials failed or held, and the rate being tried now ("Checking
//! `--attention-backend flashinfer` (held 23.06 req/s in the search) in 24-s trials: 23.06 req/s
//! failed, 21.90 req/s failed; now trying 20.50 req/s."; once a rate held, "5 checks: held up
//! to 20.10 req/s, failed at 20.80 req/s; now trying 20.45 req/s."). During the confirmation no
//! rate is an answer yet: the search's rate may be refuted at any moment, so the card shows the
//! checks instead of a number.

use crate::ranking;
use crate::record::{Stage, TrialRecord};

use super::{Names, decided, rate, seconds_text};

/// The confirmation trial in flight for a scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    /// Candidate index.
    pub candidate: usize,
    /// Offered rate (req/s).
    pub qps: f64,
}

/// The card's sentence while the scenario's confirmation runs (`done`: it is over, but the run
/// goes on); `None` when its confirmation has not begun.
pub fn checking(records: &[TrialRecord], probe: Option<Probe>, done: bool) -> Option<String> {
    let checks: Vec<&TrialRecord> = records
        .iter()
        .filter(|r| r.stage == Stage::Confirm && decided(r))
        .collect();
    let current = probe
        .map(|p| p.candidate)
        .or_else(|| checks.last().map(|r| r.candidate_id))?;
    let names = Names::of(records);
    let length = check_length(&checks);
    let mut order: Vec<usize> = Vec::new();
    for r in &checks {
        if !order.contains(&r.candidate_id) {
            order.push(r.candidate_id);
        }
    }
    let earlier: Vec<String> = order
        .iter()
        .filter(|id| done || **id != current)
        .map(|id| outcome(&names, &checks, *id))
        .collect();
    if done {
        return Some(format!(
            "Checked{length}: {}. The answer is given when the run ends.",
            earlier.join("; ")
        ));
    }
    let mut text = format!(
        "Checking {}{}{length}: ",
        names.quoted(Stage::Base, current),
        search_best(records, current)
    );
    let mine: Vec<&TrialRecord> = checks
        .iter()
        .copied()
        .filter(|r| r.candidate_id == current)
        .collect();
    let now = probe.map(|p| format!("now trying {}", rate(p.qps)));
    let parts: Vec<String> = so_far(&mine).into_iter().chain(now).collect();
    text.push_str(&if parts.is_empty() {
        "next trial starting".to_string()
    } else {
        parts.join("; ")
    });
    text.push('.');
    if !earlier.is_empty() {
        text.push_str(&format!(" Checked before: {}.", earlier.join("; ")));
    }
    Some(text)
}

/// What the candidate's checks found so far: each failed rate while none held ("23.06 req/s
/// failed, 21.90 req/s failed"), then the highest that held and the lowest above it that failed.
fn so_far(checks: &[&TrialRecord]) -> Option<String> {
    let held = checks
        .iter()
        .filter(|r| r.sla_passed)
        .map(|r| r.requested_qps)
        .reduce(f64::max);
    let Some(held) = held else {
        let failed: Vec<String> = checks
            .iter()
            .map(|r| format!("{} failed", rate(r.requested_qps)))
            .collect();
        return (!failed.is_empty()).then(|| failed.join(", "));
    };
    let above = checks
        .iter()
        .filter(|r| !r.sla_passed && r.requested_qps > held)
        .map(|r| r.requested_qps)
        .reduce(f64::min);
    let count = match checks.len() {
        1 => "1 check".to_string(),
        n => format!("{n} checks"),
    };
    Some(match above {
        Some(f) => format!("{count}: held up to {}, failed at {}", rate(held), rate(f)),
        None => format!("{count}: held up to {}", rate(held)),
    })
}

/// " (held 23.06 req/s in the search)": the offered rate the check starts from.
fn search_best(records: &[TrialRecord], id: usize) -> String {
    ranking::best_passing(
        records
            .iter()
            .filter(|r| r.stage == Stage::Base && r.candidate_id == id),
    )
    .map_or(String::new(), |r| {
        format!(" (held {} in the search)", rate(r.requested_qps))
    })
}

/// " in 24-s trials": how long a check measures, from what its trials planned.
fn check_length(checks: &[&TrialRecord]) -> String {
    let seconds = checks
        .iter()
        .filter_map(|r| {
            let planned = r.metrics.as_ref()?.planned_requests? as f64;
            (r.requested_qps > 0.0).then(|| planned / r.requested_qps)
        })
        .chain(checks.iter().filter_map(|r| r.steady.map(|s| s.measured_s)))
        .fold(0.0_f64, f64::max);
    if seconds >= 1.0 {
        format!(" in {}-s trials", seconds_text(seconds.round()))
    } else {
        " in longer trials".to_string()
    }
}

/// "`--x` held 14.74 req/s and failed at 15.48 req/s": a checked candidate's result.
fn outcome(names: &Names, checks: &[&TrialRecord], id: usize) -> String {
    let of = || checks.iter().filter(move |r| r.candidate_id == id);
    let held = of()
        .filter(|r| r.sla_passed)
        .map(|r| r.requested_qps)
        .reduce(f64::max);
    let failed = of()
        .filter(|r| !r.sla_passed && held.is_none_or(|h| r.requested_qps > h))
        .map(|r| r.requested_qps)
        .reduce(f64::min);
    let name = names.quoted(Stage::Base, id);
    match (held, failed) {
        (Some(h), Some(f)) => format!("{name} held {} and failed at {}", rate(h), rate(f)),
        (Some(h), None) => format!("{name} held {}", rate(h)),
        (None, Some(f)) => format!("{name} failed at {}", rate(f)),
        (None, None) => format!("{name} not measured"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(stage: &str, cand: usize, qps: f64, passed: bool) -> TrialRecord {
        let mut flags = serde_json::json!({"model_path": "m"});
        if cand == 1 {
            flags["attention_backend"] = "flashinfer".into();
        }
        serde_json::from_value(serde_json::json!({
            "stage": stage, "candidate_id": cand, "requested_qps": qps,
            "server_flags": flags, "sla_passed": passed,
            "metrics": {"completed": 100, "duration": 24.0, "achieved_request_rate": qps,
                        "planned_requests": (qps * 24.0).round() as u64}
        }))
        .expect("record")
    }

    #[test]
    fn the_check_names_what_failed_and_what_is_tried_never_an_answer() {
        let records = vec![
            record("base", 0, 15.0, true),
            record("base", 1, 23.06, true),
            record("confirm", 1, 23.06, false),
        ];
        let probe = Some(Probe {
            candidate: 1,
            qps: 21.9,
        });
        let text = checking(&records, probe, false).expect("checking");
        assert_eq!(
            text,
            "Checking `--attention-backend flashinfer` (held 23.06 req/s in the search) in 24-s trials: 23.06 req/s failed; now trying 21.90 req/s."
        );
        assert!(!text.contains("holds your SLA"), "{text}");
    }

    #[test]
    fn earlier_checks_are_summed_up_and_a_finished_check_says_the_answer_comes_later() {
        let records = vec![
            record("base", 0, 15.0, true),
            record("base", 1, 23.06, true),
            record("confirm", 1, 23.06, false),
            record("confirm", 1, 20.0, true),
            record("confirm", 0, 20.0, false),
        ];
        let probe = Some(Probe {
            candidate: 0,
            qps: 19.0,
        });
        let text = checking(&records, probe, false).expect("checking");
        assert!(
            text.ends_with("Checked before: `--attention-backend flashinfer` held 20.00 req/s and failed at 23.06 req/s."),
            "{text}"
        );
        assert!(text.starts_with("Checking the default (held 15.00 req/s in the search)"));
        let done = checking(&records, None, true).expect("done");
        assert!(done.starts_with("Checked in 24-s trials: "), "{done}");
        assert!(done.contains("the default failed at 20.00 req/s"), "{done}");
        assert_eq!(checking(&records[..2], None, false), None);
        let walked = checking(
            &records[..4],
            Some(Probe {
                candidate: 1,
                qps: 21.5,
            }),
            false,
        )
        .expect("walked");
        assert!(
            walked.ends_with("in 24-s trials: 2 checks: held up to 20.00 req/s, failed at 23.06 req/s; now trying 21.50 req/s."),
            "{walked}"
        );
    }
}
