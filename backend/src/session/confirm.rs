//! The confirmation stage: before a scenario's answer is given, the winner, the runner-up and the
//! baseline (candidate 0) are measured again at the winning rate, with fresh arrivals and a longer
//! trial (`benchmark.confirm_trial_seconds`). The winner is confirmed when it meets the SLA again;
//! when another contender meets it too, the two are not separable at this rate and the answer
//! prefers the baseline, then the command that changes fewer flags. When none meets it, the winner
//! steps down ([`STEP_DOWN`]) in equally long trials until it does, and the answer is the rate it
//! held.

use shared::events::{CandidateInfo, RunEvent};
use shared::flags::{self, FlagMap};
use shared::ranking;
use shared::record::{FailureKind, Stage, TrialRecord};
use shared::verdict::{Confirmation, Contender};

use super::candidate::{self, Walks};
use super::{Ctx, ScenarioState};

/// Confirms every scenario's winner.
pub(super) async fn run_stage(
    ctx: &mut Ctx<'_>,
    scenarios: &mut [ScenarioState],
) -> anyhow::Result<()> {
    for index in 0..scenarios.len() {
        if ctx.stop.is_some() {
            return Ok(());
        }
        let Some(winner) = base_best(&scenarios[index].records).cloned() else {
            continue;
        };
        let contenders = contenders(&scenarios[index].records, &winner);
        let all = &ctx.cfg.candidates.candidates;
        ctx.report(RunEvent::StageStarted {
            stage: Stage::Confirm,
            scenario: Some(scenarios[index].scenario.name.clone()),
            candidates: contenders
                .iter()
                .filter_map(|(id, _)| {
                    Some(CandidateInfo {
                        stage: Stage::Confirm,
                        id: *id,
                        flags: all.get(*id)?.clone(),
                    })
                })
                .collect(),
        });
        for (id, _) in &contenders {
            let Some(flags) = all.get(*id) else { continue };
            // A contender the search already saw failing at this rate is separated from the
            // winner there: re-measuring it would cost a launch and a long trial for nothing.
            if *id != winner.candidate_id
                && failed_in_search(&scenarios[index].records, *id, &winner).is_some()
            {
                continue;
            }
            let walks = Walks::Point {
                scenario: index,
                qps: winner.requested_qps,
                max_concurrency: winner.max_concurrency,
            };
            candidate::run_candidate(ctx, scenarios, Stage::Confirm, *id, flags, walks).await?;
        }
        if ctx.stop.is_some() {
            return Ok(());
        }
        if !contenders.iter().any(|(id, _)| {
            confirm_trial(&scenarios[index].records, *id, &winner).is_some_and(|t| t.sla_passed)
        }) && let Some(flags) = all.get(winner.candidate_id)
        {
            let walks = Walks::UntilPass {
                scenario: index,
                rates: step_down(winner.requested_qps, ctx.cfg.benchmark.qps.lowest()),
                max_concurrency: winner.max_concurrency,
            };
            candidate::run_candidate(
                ctx,
                scenarios,
                Stage::Confirm,
                winner.candidate_id,
                flags,
                walks,
            )
            .await?;
            if ctx.stop.is_some() {
                return Ok(());
            }
        }
        let state = &mut scenarios[index];
        state.confirmation = Some(decide(&state.records, &winner, &contenders, all));
    }
    Ok(())
}

/// How far each step of the step-down goes: a confirmation that fails at the winning rate tries
/// the winner again 5% lower, then 5% lower again (long trials, fresh arrivals), until a rate
/// holds, at most [`STEP_DOWN_STEPS`] times (to 61% of the winning rate) and never below the
/// lowest rate the search measures. A step that fails usually stops early (its trial's p99 is
/// already lost), so going on costs seconds; the step that holds is the answer.
const STEP_DOWN: f64 = 1.05;
const STEP_DOWN_STEPS: i32 = 10;

/// The rates of the step-down below `rate`, down to `floor` (to a ten-thousandth, as bisection
/// midpoints are).
fn step_down(rate: f64, floor: f64) -> Vec<f64> {
    (1..=STEP_DOWN_STEPS)
        .map(|k| {
            let qps = rate / STEP_DOWN.powi(k);
            format!("{qps:.4}").parse().unwrap_or(qps)
        })
        .take_while(|qps| *qps >= floor * (1.0 - 1e-9))
        .collect()
}

/// The best SLA-passing base-stage trial.
fn base_best(records: &[TrialRecord]) -> Option<&TrialRecord> {
    ranking::best_passing(records.iter().filter(|r| r.stage == Stage::Base))
}

/// The winner, the best other passing candidate and the baseline, each once, with its role.
fn contenders(records: &[TrialRecord], winner: &TrialRecord) -> Vec<(usize, &'static str)> {
    let mut out = vec![(winner.candidate_id, "winner")];
    let runner_up = ranking::best_passing(
        records
            .iter()
            .filter(|r| r.stage == Stage::Base && r.candidate_id != winner.candidate_id),
    );
    if let Some(r) = runner_up {
        out.push((r.candidate_id, "runner-up"));
    }
    if out.iter().all(|(id, _)| *id != 0) {
        out.push((0, "baseline"));
    }
    out
}

/// A contender's base-stage trial that failed at the winning rate (measured, the server's verdict,
/// not a client stall or a launch failure).
fn failed_in_search<'a>(
    records: &'a [TrialRecord],
    id: usize,
    winner: &TrialRecord,
) -> Option<&'a TrialRecord> {
    records.iter().find(|r| {
        r.stage == Stage::Base
            && r.candidate_id == id
            && r.requested_qps == winner.requested_qps
            && r.max_concurrency == winner.max_concurrency
            && !r.sla_passed
            && r.failure == FailureKind::Trial
            && r.metrics.as_ref().is_some_and(|m| !m.client_limited())
    })
}

/// A contender's confirmation trial at the winning rate.
fn confirm_trial<'a>(
    records: &'a [TrialRecord],
    id: usize,
    winner: &TrialRecord,
) -> Option<&'a TrialRecord> {
    records.iter().rev().find(|r| {
        r.stage == Stage::Confirm
            && r.candidate_id == id
            && r.requested_qps == winner.requested_qps
            && r.max_concurrency == winner.max_concurrency
    })
}

/// Flags that differ from the baseline's (fewer is simpler).
fn changes(flags_of: &FlagMap, baseline: Option<&FlagMap>) -> usize {
    let Some(baseline) = baseline else { return 0 };
    let keys: std::collections::BTreeSet<&String> =
        flags_of.keys().chain(baseline.keys()).collect();
    keys.into_iter()
        .filter(|k| {
            flags_of.get(*k).map(flags::render_scalar) != baseline.get(*k).map(flags::render_scalar)
        })
        .count()
}

fn decide(
    records: &[TrialRecord],
    winner: &TrialRecord,
    contenders: &[(usize, &'static str)],
    candidates: &[FlagMap],
) -> Confirmation {
    let measured: Vec<Contender> = contenders
        .iter()
        .map(|(id, role)| {
            let trial = confirm_trial(records, *id, winner);
            let class = match (trial, failed_in_search(records, *id, winner)) {
                (Some(trial), _) => class_of(trial),
                (None, Some(_)) => "failed at this rate in the search (not re-measured)".into(),
                (None, None) => "not measured".into(),
            };
            Contender {
                candidate: *id,
                role: (*role).into(),
                passed: trial.is_some_and(|t| t.sla_passed),
                class,
            }
        })
        .collect();
    let confirmed = measured.first().is_some_and(|c| c.passed);
    let tied_with: Vec<usize> = measured
        .iter()
        .skip(1)
        .filter(|c| c.passed)
        .map(|c| c.candidate)
        .collect();
    let mut pool: Vec<usize> = tied_with.clone();
    if confirmed {
        pool.insert(0, winner.candidate_id);
    }
    let baseline = candidates.first();
    let chosen = if pool.contains(&0) {
        0
    } else {
        pool.iter()
            .copied()
            .min_by_key(|id| {
                candidates
                    .get(*id)
                    .map_or(usize::MAX, |f| changes(f, baseline))
            })
            .unwrap_or(winner.candidate_id)
    };
    let (passes_at, fails_at) = bracket(records, winner, confirmed);
    // The rate the winner held in a step-down trial, when that is where its answer comes from.
    let held_lower = (!confirmed && passes_at.is_some_and(|p| p < winner.requested_qps))
        .then_some(passes_at)
        .flatten()
        .filter(|p| stepped_down_to(records, winner, *p));
    // Nobody held the winning rate: at the winner's fallback rate, a baseline that met the SLA
    // there too is as good, and simpler. Its evidence must be as strong as the winner's: a
    // confirmation trial when the winner's rate comes from the step-down.
    let baseline_too = !confirmed
        && tied_with.is_empty()
        && winner.candidate_id != 0
        && passes_at
            .is_some_and(|rate| baseline_passes(records, winner, rate, held_lower.is_some()));
    let chosen = if baseline_too { 0 } else { chosen };
    let mut note = note(winner, confirmed, &tied_with, chosen);
    if let (true, Some(rate)) = (baseline_too, passes_at) {
        note.push_str(&format!(
            ": at {rate:.2} req/s, its fallback rate, the baseline met the SLA too"
        ));
    }
    if let Some(rate) = held_lower {
        note.push_str(&format!(
            "; stepping down, it met the SLA at {rate:.2} req/s in a confirmation trial"
        ));
    }
    let mut confirmation = Confirmation {
        rate: winner.requested_qps,
        max_concurrency: winner.max_concurrency,
        winner: winner.candidate_id,
        chosen,
        confirmed,
        tied_with,
        contenders: measured,
        passes_at,
        fails_at,
        note,
        not_shown: None,
    };
    confirmation.not_shown = ranking::answer_trial(records, Some(&confirmation)).and_then(|t| {
        let seconds = t.metrics.as_ref().map_or(0.0, |m| m.duration);
        shared::verdict::not_shown(t.verdict.as_ref()?, seconds)
    });
    confirmation
}

/// Whether the baseline met the SLA at `rate` or above, at the winner's concurrency (in a
/// confirmation trial, with `confirmed_only`: a short search trial that passed at a rate where a
/// long one failed does not match a winner that held in a long one).
fn baseline_passes(
    records: &[TrialRecord],
    winner: &TrialRecord,
    rate: f64,
    confirmed_only: bool,
) -> bool {
    records.iter().any(|r| {
        r.candidate_id == 0
            && (r.stage == Stage::Confirm || (!confirmed_only && r.stage == Stage::Base))
            && r.max_concurrency == winner.max_concurrency
            && r.sla_passed
            && r.requested_qps >= rate * (1.0 - 1e-9)
    })
}

/// The rate the winner credibly passes at (the winning rate when confirmed, else the highest rate
/// below it that passed in the search) and the lowest rate above that at which it failed.
fn bracket(
    records: &[TrialRecord],
    winner: &TrialRecord,
    confirmed: bool,
) -> (Option<f64>, Option<f64>) {
    let walk: Vec<&TrialRecord> = records
        .iter()
        .filter(|r| {
            r.stage == Stage::Base
                && r.candidate_id == winner.candidate_id
                && r.max_concurrency == winner.max_concurrency
                && r.metrics.is_some()
                && r.failure == FailureKind::Trial
                && !r.metrics.as_ref().is_some_and(|m| m.client_limited())
        })
        .collect();
    let stepped: Vec<&TrialRecord> = records
        .iter()
        .filter(|r| {
            r.stage == Stage::Confirm
                && r.candidate_id == winner.candidate_id
                && r.max_concurrency == winner.max_concurrency
                && r.requested_qps < winner.requested_qps
                && r.metrics.is_some()
        })
        .collect();
    let stepped_pass = stepped
        .iter()
        .filter(|r| r.sla_passed)
        .map(|r| r.requested_qps)
        .reduce(f64::max);
    if !confirmed && let Some(passes) = stepped_pass {
        let fails = stepped
            .iter()
            .filter(|r| !r.sla_passed && r.requested_qps > passes)
            .map(|r| r.requested_qps)
            .fold(winner.requested_qps, f64::min);
        return (Some(passes), Some(fails));
    }
    let passes_at = if confirmed {
        Some(winner.requested_qps)
    } else {
        walk.iter()
            .filter(|r| r.sla_passed && r.requested_qps < winner.requested_qps)
            .map(|r| r.requested_qps)
            .fold(None, |high: Option<f64>, q| {
                Some(high.map_or(q, |h| h.max(q)))
            })
    };
    let above = passes_at.unwrap_or(0.0);
    let fails_at = walk
        .iter()
        .filter(|r| !r.sla_passed && r.requested_qps > above)
        .map(|r| r.requested_qps)
        .chain((!confirmed).then_some(winner.requested_qps))
        // The step-down's failures count too (all of them, when none held).
        .chain(
            stepped
                .iter()
                .filter(|r| !r.sla_passed && r.requested_qps > above)
                .map(|r| r.requested_qps),
        )
        .fold(None, |low: Option<f64>, q| {
            Some(low.map_or(q, |l| l.min(q)))
        });
    (passes_at, fails_at)
}

/// Whether the winner passed a step-down confirmation trial at `rate`.
fn stepped_down_to(records: &[TrialRecord], winner: &TrialRecord, rate: f64) -> bool {
    records.iter().any(|r| {
        r.stage == Stage::Confirm
            && r.candidate_id == winner.candidate_id
            && r.max_concurrency == winner.max_concurrency
            && r.requested_qps == rate
            && r.sla_passed
    })
}

fn class_of(trial: &TrialRecord) -> String {
    match &trial.verdict {
        Some(v) => v.class().into(),
        None => trial.outcome_label().into(),
    }
}

fn note(winner: &TrialRecord, confirmed: bool, tied: &[usize], chosen: usize) -> String {
    let rate = winner.requested_qps;
    let w = winner.candidate_id;
    let mut text = if confirmed {
        format!("cand {w} confirmed at {rate:.2} req/s with fresh arrivals")
    } else {
        format!(
            "cand {w} did NOT meet the SLA again at {rate:.2} req/s with fresh arrivals: its rate is not confirmed"
        )
    };
    if !tied.is_empty() {
        let others: Vec<String> = tied.iter().map(|c| format!("cand {c}")).collect();
        text.push_str(&format!(
            "; no significant difference: {} also met the SLA at {rate:.2} req/s",
            others.join(", ")
        ));
    }
    if chosen != w {
        let why = if chosen == 0 {
            "the baseline"
        } else {
            "the command with fewer changed flags"
        };
        text.push_str(&format!("; the answer is cand {chosen} ({why})"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(stage: &str, cand: usize, qps: f64, passed: bool) -> TrialRecord {
        serde_json::from_value(serde_json::json!({
            "stage": stage, "candidate_id": cand, "requested_qps": qps, "max_concurrency": null,
            "server_flags": {}, "sla_passed": passed,
            "metrics": {"completed": 10, "achieved_request_rate": qps, "output_throughput": qps}
        }))
        .expect("record")
    }

    fn flags(pairs: &[(&str, i64)]) -> FlagMap {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), serde_json::json!(v)))
            .collect()
    }

    #[test]
    fn a_tie_prefers_the_baseline_and_an_overturned_winner_falls_back() {
        let candidates = [flags(&[]), flags(&[("a", 1)]), flags(&[("a", 1), ("b", 2)])];
        let mut records = vec![
            record("base", 2, 8.0, true),
            record("base", 2, 9.0, false),
            record("base", 0, 6.0, true),
            record("base", 1, 7.0, true),
        ];
        let winner = base_best(&records).expect("winner").clone();
        assert_eq!(winner.candidate_id, 2);
        let roles = contenders(&records, &winner);
        assert_eq!(roles, [(2, "winner"), (1, "runner-up"), (0, "baseline")]);
        records.extend([
            record("confirm", 2, 8.0, true),
            record("confirm", 1, 8.0, false),
            record("confirm", 0, 8.0, true),
        ]);
        let c = decide(&records, &winner, &roles, &candidates);
        assert!(c.confirmed);
        assert_eq!(c.tied_with, [0]);
        assert_eq!(
            c.chosen, 0,
            "tied with the baseline: the baseline is the answer"
        );
        assert_eq!((c.passes_at, c.fails_at), (Some(8.0), Some(9.0)));

        let mut overturned = records[..4].to_vec();
        overturned.extend([
            record("confirm", 2, 8.0, false),
            record("confirm", 1, 8.0, false),
            record("confirm", 0, 8.0, false),
        ]);
        overturned.push(record("base", 2, 5.0, true));
        let c = decide(&overturned, &winner, &roles, &candidates);
        assert!(!c.confirmed);
        assert_eq!(
            c.chosen, 0,
            "the baseline passed at 6, above the winner's fallback rate 5: it is as good, and simpler"
        );
        assert!(
            c.note.contains("the baseline met the SLA too"),
            "{}",
            c.note
        );
        assert_eq!((c.passes_at, c.fails_at), (Some(5.0), Some(8.0)));
        assert!(c.note.contains("NOT"), "{}", c.note);
        let mut separated = records[..4].to_vec();
        separated.push(record("base", 1, 8.0, false));
        separated.push(record("confirm", 2, 8.0, true));
        let c = decide(&separated, &winner, &roles, &candidates);
        assert!(c.confirmed && c.tied_with.is_empty());
        assert_eq!(
            c.contenders[1].class,
            "failed at this rate in the search (not re-measured)"
        );
        let mut stepped = overturned.clone();
        let rates = step_down(8.0, 1.0);
        assert_eq!(rates[..3], [7.619, 7.2562, 6.9107]);
        assert_eq!(rates.len(), 10);
        assert_eq!(step_down(8.0, 7.0), [7.619, 7.2562]);
        stepped.extend([
            record("confirm", 2, rates[0], false),
            record("confirm", 2, rates[1], true),
        ]);
        let c = decide(&stepped, &winner, &roles, &candidates);
        assert!(!c.confirmed);
        assert_eq!((c.passes_at, c.fails_at), (Some(rates[1]), Some(rates[0])));
        assert!(c.note.contains("met the SLA at 7.26"), "{}", c.note);
        assert_eq!(c.chosen, 2);
        // A baseline whose short search trial passed above the step-down's rate, but whose long
        // confirmation failed there, is not as good as the winner's long trial that held.
        let mut short_pass = stepped.clone();
        short_pass.push(record("base", 0, 9.0, true));
        let c = decide(&short_pass, &winner, &roles, &candidates);
        assert_eq!(c.chosen, 2, "{}", c.note);
        short_pass.push(record("confirm", 0, rates[1], true));
        let c = decide(&short_pass, &winner, &roles, &candidates);
        assert_eq!(
            c.chosen, 0,
            "a long baseline trial that held there is as good: {}",
            c.note
        );
        let simpler = [flags(&[]), flags(&[("a", 1)]), flags(&[("a", 1), ("b", 2)])];
        let mut tied_runner_up = records[..4].to_vec();
        tied_runner_up.extend([
            record("confirm", 2, 8.0, true),
            record("confirm", 1, 8.0, true),
            record("confirm", 0, 8.0, false),
        ]);
        let c = decide(&tied_runner_up, &winner, &roles, &simpler);
        assert_eq!(c.chosen, 1, "tied: the command with fewer changed flags");
    }
}
