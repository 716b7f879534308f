//! The SLA what-if: a finished run's recorded trials re-judged at other limits, without measuring
//! anything. Each candidate holds the new SLA up to the highest rate a recorded trial met it at
//! (its measured p99s against the new limits), and fails at the lowest recorded rate above that
//! which broke it. It says only what the run measured: a looser limit may hold above every rate
//! the search tried, so such a rate is "at least". Neither searched nor confirmed at these limits,
//! and every sentence says so.

use crate::answer::Names;
use crate::record::{Stage, TrialRecord};
use crate::sla::{Sla, UnknownSlaKey, parse_limit_key};

/// One candidate at the new limits.
#[derive(Debug, Clone, PartialEq)]
pub struct WhatIf {
    /// The stage its trials were numbered in (base or speculative; confirmation trials count for
    /// their base candidate).
    pub stage: Stage,
    /// Its number.
    pub candidate: usize,
    /// The highest recorded rate at which it met the new SLA.
    pub holds_up_to: Option<f64>,
    /// The lowest recorded rate above that at which it broke it.
    pub fails_at: Option<f64>,
}

impl WhatIf {
    /// Whether no rate above the one it held was measured: the truth may be higher.
    pub fn at_least(&self) -> bool {
        self.holds_up_to.is_some() && self.fails_at.is_none()
    }
}

/// The run's SLA with `overrides` (`max_p99_ttft_ms=500`) applied: a key the SLA already has
/// changes its value, another adds a limit.
pub fn with_overrides(sla: &Sla, overrides: &[(String, f64)]) -> Result<Sla, UnknownSlaKey> {
    let mut out = sla.clone();
    for (key, value) in overrides {
        if key == "min_success_rate" {
            out.min_success_rate = *value;
            continue;
        }
        let from = out
            .limits
            .first()
            .map_or(crate::sla::MeasureFrom::Scheduled, |l| l.measure_from);
        let limit = parse_limit_key(key, *value, from)?;
        match out.limits.iter_mut().find(|l| l.key == *key) {
            Some(existing) => *existing = limit,
            None => out.limits.push(limit),
        }
    }
    Ok(out)
}

/// Every candidate of `records` re-judged at `sla`, the best first (highest rate held; those
/// that held at no recorded rate last, in candidate order).
pub fn rejudge(records: &[TrialRecord], sla: &Sla) -> Vec<WhatIf> {
    let mut ids: Vec<(Stage, usize)> = records
        .iter()
        .map(|r| (numbered(r.stage), r.candidate_id))
        .collect();
    ids.sort_by_key(|(stage, id)| (*stage == Stage::Speculative, *id));
    ids.dedup();
    let mut out: Vec<WhatIf> = ids
        .into_iter()
        .map(|(stage, candidate)| {
            let mine: Vec<&TrialRecord> = records
                .iter()
                .filter(|r| numbered(r.stage) == stage && r.candidate_id == candidate)
                .collect();
            let judged: Vec<(f64, bool)> = mine
                .iter()
                .filter_map(|r| judge(r, sla).map(|ok| (r.requested_qps, ok)))
                .collect();
            // A long (confirmation) trial that broke the new SLA refutes every shorter pass at
            // its rate or above.
            let refuted_from = mine
                .iter()
                .filter(|r| r.stage.is_check() && judge(r, sla) == Some(false))
                .map(|r| r.requested_qps)
                .reduce(f64::min)
                .unwrap_or(f64::INFINITY);
            let holds_up_to = mine
                .iter()
                .filter(|r| judge(r, sla) == Some(true))
                .filter(|r| r.stage.is_check() || r.requested_qps < refuted_from)
                .map(|r| r.requested_qps)
                .reduce(f64::max);
            let above = holds_up_to.unwrap_or(0.0);
            let fails_at = judged
                .iter()
                .filter(|(rate, ok)| !*ok && *rate > above)
                .map(|(rate, _)| *rate)
                .reduce(f64::min);
            WhatIf {
                stage,
                candidate,
                holds_up_to,
                fails_at,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.holds_up_to
            .unwrap_or(-1.0)
            .total_cmp(&a.holds_up_to.unwrap_or(-1.0))
    });
    out
}

/// Confirmation trials are their base candidate's.
fn numbered(stage: Stage) -> Stage {
    stage.searched_in()
}

/// Whether a recorded trial meets `sla` on its measured figures; `None` when it says nothing
/// about them (not measured, held back by the client, or stopped early on the run's own limits
/// with figures that meet the new ones). A trial stopped early whose figures already break the
/// new SLA fails it: the requests it left in flight were its slow ones, so its figures can only
/// understate a failure (a check stopped for its p90 TPOT still fails when only TTFT is loosened).
fn judge(record: &TrialRecord, sla: &Sla) -> Option<bool> {
    let metrics = record.metrics.as_ref()?;
    if metrics.client_limited() {
        return None;
    }
    let meets = sla.violations(metrics).is_empty();
    match (metrics.early_stop_reason.is_some(), meets) {
        (true, true) => None,
        (_, meets) => Some(meets),
    }
}

/// The what-if in one sentence, marked as what it is.
pub fn headline(whatifs: &[WhatIf], records: &[TrialRecord], sla: &Sla) -> String {
    let names = Names::of(records);
    let marked = "from recorded trials: not searched or confirmed at these limits";
    let Some(best) = whatifs.first().filter(|w| w.holds_up_to.is_some()) else {
        return format!(
            "At {}, no recorded trial met the SLA ({marked}).",
            sla.plain()
        );
    };
    let rate = best.holds_up_to.unwrap_or_default();
    let bound = match best.fails_at {
        Some(fails) => format!(
            "up to {} (it failed at {})",
            crate::answer::rate(rate),
            crate::answer::rate(fails)
        ),
        None => format!(
            "up to at least {} (the highest rate measured)",
            crate::answer::rate(rate)
        ),
    };
    // Two lower bounds are no ranking: neither was measured where it stops holding.
    let unresolved = whatifs
        .get(1)
        .filter(|next| best.at_least() && next.at_least())
        .map(|next| {
            format!(
                "; {} holds it up to at least {}, and neither was measured higher, so only a run at these limits tells them apart",
                names.quoted(next.stage, next.candidate),
                crate::answer::rate(next.holds_up_to.unwrap_or_default())
            )
        })
        .unwrap_or_default();
    format!(
        "At {}, {} would hold the SLA {bound}{unresolved} ({marked}).",
        sla.plain(),
        names.quoted(best.stage, best.candidate)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TrialRecord;
    use crate::sla::MeasureFrom;

    fn record(candidate: usize, rate: f64, p99_ttft: f64, stage: Stage) -> TrialRecord {
        serde_json::from_value(serde_json::json!({
            "stage": stage, "candidate_id": candidate, "requested_qps": rate,
            "max_concurrency": null, "server_flags": {"chunked_prefill_size": candidate},
            "sla_passed": p99_ttft <= 250.0,
            "metrics": {"completed": 100, "p99_ttft_from_scheduled_ms": p99_ttft}
        }))
        .expect("record")
    }

    fn sla(ttft: f64) -> Sla {
        Sla {
            limits: vec![
                parse_limit_key("max_p99_ttft_ms", ttft, MeasureFrom::Scheduled).expect("key"),
            ],
            min_success_rate: 1.0,
        }
    }

    #[test]
    fn a_looser_limit_lets_more_recorded_trials_pass() {
        let records = vec![
            record(0, 10.0, 150.0, Stage::Base),
            record(0, 14.0, 320.0, Stage::Base),
            record(0, 18.0, 900.0, Stage::Base),
            record(1, 10.0, 120.0, Stage::Base),
            record(1, 16.0, 240.0, Stage::Base),
            record(1, 16.0, 245.0, Stage::Confirm),
        ];
        let tight = rejudge(&records, &sla(250.0));
        assert_eq!(tight[0].candidate, 1);
        assert_eq!(tight[0].holds_up_to, Some(16.0));
        let loose = rejudge(
            &records,
            &with_overrides(&sla(250.0), &[("max_p99_ttft_ms".into(), 500.0)]).expect("sla"),
        );
        // Candidate 0 now holds 14 (320 ms), fails at 18; candidate 1 holds 16 with nothing above.
        assert_eq!(loose[0].candidate, 1);
        assert!(loose[0].at_least());
        let zero = loose
            .iter()
            .find(|w| w.candidate == 0)
            .expect("candidate 0");
        assert_eq!((zero.holds_up_to, zero.fails_at), (Some(14.0), Some(18.0)));
        let tighter = rejudge(&records, &sla(130.0));
        assert_eq!(tighter[0].candidate, 1);
        assert_eq!(
            (tighter[0].holds_up_to, tighter[0].fails_at),
            (Some(10.0), Some(16.0))
        );
        let line = headline(
            &loose,
            &records,
            &with_overrides(&sla(250.0), &[("max_p99_ttft_ms".into(), 500.0)]).expect("sla"),
        );
        assert!(line.contains("up to at least 16.00 req/s"), "{line}");
        assert!(
            line.contains("not searched or confirmed at these limits"),
            "{line}"
        );
    }

    #[test]
    fn a_long_trial_that_broke_the_limit_refutes_the_shorter_passes_above_it() {
        let records = vec![
            record(0, 10.0, 150.0, Stage::Base),
            record(0, 18.0, 200.0, Stage::Base),
            record(0, 16.0, 700.0, Stage::Confirm),
            record(0, 12.0, 300.0, Stage::Confirm),
        ];
        let loose = with_overrides(&sla(250.0), &[("max_p99_ttft_ms".into(), 500.0)]).expect("sla");
        let w = &rejudge(&records, &loose)[0];
        assert_eq!(
            (w.holds_up_to, w.fails_at),
            (Some(12.0), Some(16.0)),
            "{w:?}"
        );
    }

    #[test]
    fn a_check_stopped_early_still_fails_a_limit_it_breaks_and_says_nothing_of_one_it_meets() {
        let stopped = |rate: f64, p99_ttft: f64| {
            let mut r = record(0, rate, p99_ttft, Stage::Confirm);
            if let Some(m) = r.metrics.as_mut() {
                m.early_stop_reason = Some("22 requests exceeded p99 TTFT".into());
            }
            r
        };
        let records = vec![
            record(0, 10.0, 150.0, Stage::Base),
            record(0, 18.0, 200.0, Stage::Base),
            stopped(18.0, 900.0),
        ];
        // Loosened to 500 ms, the stopped check's 900 ms still breaks it: 18 is refuted.
        let loose = with_overrides(&sla(250.0), &[("max_p99_ttft_ms".into(), 500.0)]).expect("sla");
        let w = &rejudge(&records, &loose)[0];
        assert_eq!(
            (w.holds_up_to, w.fails_at),
            (Some(10.0), Some(18.0)),
            "{w:?}"
        );
        // Loosened to 1000 ms it meets it on what it measured: no verdict, the search's pass stands.
        let looser =
            with_overrides(&sla(250.0), &[("max_p99_ttft_ms".into(), 1000.0)]).expect("sla");
        let w = &rejudge(&records, &looser)[0];
        assert_eq!((w.holds_up_to, w.fails_at), (Some(18.0), None), "{w:?}");
    }

    #[test]
    fn an_unknown_key_is_refused_and_a_new_limit_is_added() {
        assert!(with_overrides(&sla(250.0), &[("max_p99_ttf_ms".into(), 1.0)]).is_err());
        let both = with_overrides(&sla(250.0), &[("max_p99_tpot_ms".into(), 20.0)]).expect("sla");
        assert_eq!(both.limits.len(), 2);
    }
}
