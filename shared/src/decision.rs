//! The confirmation's decisions, pure over a scenario's trial records: where the winner's
//! step-down goes, which contenders are compared at the answer's rate (and which the search
//! already separated), and the outcome: the answer's command, its rate and interval, ties and the
//! notes that say what happened. The backend's confirmation stage (`session::confirm`) only
//! measures what these functions ask for; the table tests below cover the decisions, resume
//! included (a resumed run hands the same records to the same functions).

use crate::flags::{self, FlagMap};
use crate::ranking;
use crate::record::{FailureKind, Stage, TrialRecord};
use crate::verdict::{Confirmation, Contender};

/// The confirmation's first step down from a winning rate that did not hold (5%), and how close
/// the walk brings the answer to the lowest rate a long trial refuted ([`descent`]). A step that
/// fails usually stops early (its trial's p99 is already lost), so going on costs seconds.
pub const STEP_DOWN: f64 = 1.05;
/// How close the confirmation's bisection brings the rate held to the lowest rate refuted.
/// With 5%, the answer sat on a 5% grid anchored at the search's rate: 2.5% below the truth on
/// average even with perfect checks, and the cliff landscape's answers were 2.9% or 7.5% low
/// (device run of 2026-12-07). One more long trial per winner halves that.
pub const RESOLUTION: f64 = 1.025;
/// How many 5% steps [`step_down`] lists at most.
pub const STEP_DOWN_STEPS: i32 = 10;

/// The confirmation's walk for a winner the search put at `rate`: that rate first, then down in
/// growing steps until a rate holds (never below `floor`), then back up by bisection to within
/// [`RESOLUTION`] of the lowest rate a long trial refuted, in at most [`DESCENT_TRIALS`] trials.
pub fn descent(rate: f64, floor: f64) -> crate::qps::Descend {
    crate::qps::Descend {
        from: rate,
        floor,
        step: STEP_DOWN,
        resolution: Some(RESOLUTION),
        max_steps: DESCENT_TRIALS,
    }
}

/// At most this many confirmation trials of the winner.
pub const DESCENT_TRIALS: u32 = 10;

/// The rates of the step-down below `rate`, down to `floor` (to a ten-thousandth, as bisection
/// midpoints are).
pub fn step_down(rate: f64, floor: f64) -> Vec<f64> {
    (1..=STEP_DOWN_STEPS)
        .map(|k| {
            let qps = rate / STEP_DOWN.powi(k);
            format!("{qps:.4}").parse().unwrap_or(qps)
        })
        .take_while(|qps| *qps >= floor * (1.0 - 1e-9))
        .collect()
}

/// The most leaders the confirmation walks down before it compares the rest at the answer's rate.
pub const MAX_LEADERS: usize = 3;

/// The highest rate candidate `id` held in a confirmation trial.
pub fn held_rate(records: &[TrialRecord], id: usize) -> Option<f64> {
    records
        .iter()
        .filter(|r| r.stage == Stage::Confirm && r.candidate_id == id && r.sla_passed)
        .map(|r| r.requested_qps)
        .reduce(f64::max)
}

/// The next candidate the confirmation walks down from its best search rate: the best search pass
/// among candidates not walked yet, when it is above every rate a walked candidate held. A
/// winner whose rate a long trial refuted hands the lead to the next, so no command loses on a
/// rate the run itself refuted.
pub fn next_leader<'a>(records: &'a [TrialRecord], walked: &[usize]) -> Option<&'a TrialRecord> {
    let held = walked
        .iter()
        .filter_map(|id| held_rate(records, *id))
        .fold(0.0, f64::max);
    ranking::best_passing(
        records
            .iter()
            .filter(|r| r.stage == Stage::Base && !walked.contains(&r.candidate_id)),
    )
    .filter(|r| r.requested_qps > held * (1.0 + 1e-9))
}

/// The lowest rate any of the `walked` leaders failed in a confirmation trial: a rate the run
/// itself refuted.
pub fn lowest_refuted(records: &[TrialRecord], walked: &[usize]) -> Option<f64> {
    records
        .iter()
        .filter(|r| {
            r.stage == Stage::Confirm
                && walked.contains(&r.candidate_id)
                && !r.sla_passed
                && measured(r)
        })
        .map(|r| r.requested_qps)
        .reduce(f64::min)
}

/// Candidates whose search a probe ended at `refuted` or above (a rate a long trial has since
/// refuted), at concurrency `mc`, and that were never measured below it: their search is owed
/// again, from the highest rate a leader held, so no command loses on a refuted rate.
pub fn pruned_against(records: &[TrialRecord], refuted: f64, mc: Option<u64>) -> Vec<usize> {
    let base = |r: &&TrialRecord| r.stage == Stage::Base && r.max_concurrency == mc;
    let mut ids: Vec<usize> = records
        .iter()
        .filter(base)
        .filter(|r| r.heuristic_pruned && r.requested_qps >= refuted * (1.0 - 1e-9))
        .map(|r| r.candidate_id)
        .filter(|id| {
            !records
                .iter()
                .filter(base)
                .any(|r| r.candidate_id == *id && r.requested_qps < refuted * (1.0 - 1e-9))
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The winner once the leaders have been walked down: the search's best pass of the walked
/// candidate that held the highest rate (the first walked on a tie), else the search's winner.
pub fn confirmed_winner<'a>(
    records: &'a [TrialRecord],
    walked: &[usize],
) -> Option<&'a TrialRecord> {
    let mut best: Option<(usize, f64)> = None;
    for id in walked {
        if let Some(rate) = held_rate(records, *id)
            && best.is_none_or(|(_, b)| rate > b * (1.0 + 1e-9))
        {
            best = Some((*id, rate));
        }
    }
    match best {
        Some((id, _)) => ranking::best_passing(
            records
                .iter()
                .filter(|r| r.stage == Stage::Base && r.candidate_id == id),
        ),
        None => base_best(records),
    }
}

/// A contender's trial (search or confirmation) that failed at `rate` or below: already separated
/// from the winner there. A confirmation trial at `rate` itself is the comparison, not a reason
/// to skip it: left out, so a resumed run asks for the same trials as the original one and
/// replays them.
pub fn failed_at_or_below<'a>(
    records: &'a [TrialRecord],
    id: usize,
    winner: &TrialRecord,
    rate: f64,
) -> Option<&'a TrialRecord> {
    failures(records, id, winner).find(|r| {
        let at_rate = (r.requested_qps - rate).abs() <= rate * 1e-9;
        match r.stage {
            Stage::Base => r.requested_qps <= rate * (1.0 + 1e-9),
            Stage::Confirm => r.requested_qps < rate && !at_rate,
            // The cost stage runs after the rate decision and never changes it.
            Stage::Speculative | Stage::SpeculativeConfirm | Stage::CostCheck => false,
        }
    })
}

/// The best SLA-passing base-stage trial.
pub fn base_best(records: &[TrialRecord]) -> Option<&TrialRecord> {
    ranking::best_passing(records.iter().filter(|r| r.stage == Stage::Base))
}

/// The winner, the best other passing candidate and the baseline, each once, with its role.
pub fn contenders(records: &[TrialRecord], winner: &TrialRecord) -> Vec<(usize, &'static str)> {
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
    // Every other candidate the search measured: one skipped or stopped against the winning rate
    // is reconsidered where the answer is, when the winner's rate comes down below where it
    // failed (those the search saw failing at or below the answer's rate are not re-measured).
    let mut others: Vec<usize> = records
        .iter()
        .filter(|r| r.stage == Stage::Base && measured(r))
        .map(|r| r.candidate_id)
        .filter(|id| out.iter().all(|(known, _)| known != id))
        .collect();
    others.sort_unstable();
    others.dedup();
    out.extend(others.into_iter().map(|id| (id, "re-opened")));
    out
}

/// A contender's base-stage trial that failed at `rate` or below (measured, the server's verdict,
/// not a client stall or a launch failure): the search already separated it from the winner there.
pub fn failed_in_search<'a>(
    records: &'a [TrialRecord],
    id: usize,
    winner: &TrialRecord,
    rate: f64,
) -> Option<&'a TrialRecord> {
    failures(records, id, winner)
        .find(|r| r.stage == Stage::Base && r.requested_qps <= rate * (1.0 + 1e-9))
}

/// Candidate `id`'s trials that the server failed (measured), at the winner's concurrency, in the
/// stages that number base candidates.
pub fn failures<'a>(
    records: &'a [TrialRecord],
    id: usize,
    winner: &TrialRecord,
) -> impl Iterator<Item = &'a TrialRecord> {
    let concurrency = winner.max_concurrency;
    records.iter().filter(move |r| {
        // The cost stage's checks run after this decision and never change it.
        r.stage.numbered_like(Stage::Base)
            && r.stage != Stage::CostCheck
            && r.candidate_id == id
            && r.max_concurrency == concurrency
            && !r.sla_passed
            && measured(r)
    })
}

/// A contender's confirmation trial at `rate` (at the winner's concurrency).
pub fn confirm_trial<'a>(
    records: &'a [TrialRecord],
    id: usize,
    winner: &TrialRecord,
    rate: f64,
) -> Option<&'a TrialRecord> {
    records.iter().rev().find(|r| {
        r.stage == Stage::Confirm
            && r.candidate_id == id
            && r.requested_qps == rate
            && r.max_concurrency == winner.max_concurrency
    })
}

/// The rate the other contenders are compared at: the highest rate at which the winner met the
/// SLA in a confirmation trial (the winning rate, or where its step-down held), else the winning
/// rate (where a contender that holds overturns it).
pub fn compared_at(records: &[TrialRecord], winner: &TrialRecord) -> f64 {
    records
        .iter()
        .filter(|r| {
            r.stage == Stage::Confirm
                && r.candidate_id == winner.candidate_id
                && r.max_concurrency == winner.max_concurrency
                && r.sla_passed
                && r.requested_qps <= winner.requested_qps
        })
        .map(|r| r.requested_qps)
        .reduce(f64::max)
        .unwrap_or(winner.requested_qps)
}

/// Flags that differ from the baseline's (fewer is simpler).
pub fn changes(flags_of: &FlagMap, baseline: Option<&FlagMap>) -> usize {
    let Some(baseline) = baseline else { return 0 };
    let keys: std::collections::BTreeSet<&String> =
        flags_of.keys().chain(baseline.keys()).collect();
    keys.into_iter()
        .filter(|k| {
            flags_of.get(*k).map(flags::render_scalar) != baseline.get(*k).map(flags::render_scalar)
        })
        .count()
}

pub fn decide(
    records: &[TrialRecord],
    winner: &TrialRecord,
    contenders: &[(usize, &'static str)],
    candidates: &[FlagMap],
) -> Confirmation {
    let rate = compared_at(records, winner);
    let measured: Vec<Contender> = contenders
        .iter()
        .map(|(id, role)| {
            let trial = confirm_trial(records, *id, winner, rate);
            let separated = (*id != winner.candidate_id)
                .then(|| failed_at_or_below(records, *id, winner, rate))
                .flatten();
            let class = match (trial, separated) {
                (Some(trial), _) => class_of(trial),
                (None, Some(r)) => format!(
                    "failed at {:.2} req/s in {} (not re-measured)",
                    r.requested_qps,
                    if r.stage == Stage::Confirm {
                        "its check"
                    } else {
                        "the search"
                    }
                ),
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
    let confirmed = confirm_trial(records, winner.candidate_id, winner, winner.requested_qps)
        .is_some_and(|t| t.sla_passed);
    let held = measured.first().is_some_and(|c| c.passed);
    let tied_with: Vec<usize> = measured
        .iter()
        .skip(1)
        .filter(|c| c.passed)
        .map(|c| c.candidate)
        .collect();
    let mut pool: Vec<usize> = tied_with.clone();
    if held {
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
    // Nothing held in a confirmation trial: at the winner's fallback rate (a search trial), a
    // baseline that met the SLA there too in the search is as good, and simpler.
    let baseline_too = !held
        && tied_with.is_empty()
        && winner.candidate_id != 0
        && passes_at.is_some_and(|p| baseline_passes(records, winner, p));
    let chosen = if baseline_too { 0 } else { chosen };
    // The interval is the answer's command's: another contender's passes where it was compared
    // (or, as the baseline at the fallback rate, there), and fails where it failed itself.
    let (passes_at, fails_at) = if chosen == winner.candidate_id {
        (passes_at, fails_at)
    } else {
        let passes = if tied_with.contains(&chosen) {
            Some(rate)
        } else {
            passes_at
        };
        (passes, lowest_failure(records, winner, chosen, passes))
    };
    let mut note = note(winner, confirmed, (held && !confirmed).then_some(rate));
    note.push_str(&tie_note(
        &tied_with,
        rate,
        winner.candidate_id,
        held,
        chosen,
    ));
    if let (true, Some(p)) = (baseline_too, passes_at) {
        note.push_str(&format!(
            ": at {p:.2} req/s, its fallback rate, the baseline met the SLA too"
        ));
    }
    let mut confirmation = Confirmation {
        rate: winner.requested_qps,
        max_concurrency: winner.max_concurrency,
        winner: winner.candidate_id,
        chosen,
        confirmed,
        tied_with,
        compared_at: Some(rate),
        contenders: measured,
        passes_at,
        fails_at,
        likely: passes_at.map(|held| likely_range(held, fails_at)),
        note,
        not_shown: None,
        speculative: None,
        by_cost: None,
    };
    confirmation.not_shown = ranking::answer_trial(records, Some(&confirmation)).and_then(|t| {
        let seconds = t.metrics.as_ref().map_or(0.0, |m| m.duration);
        crate::verdict::not_shown(t.verdict.as_ref()?, seconds)
    });
    confirmation
}

/// How far below the rate held and above the lowest rate refuted the answer's true rate may lie,
/// as shares, and how often it lay in that range on the verdict benchmark: see
/// [`likely_range`].
pub const LIKELY_BELOW: f64 = 0.06;
/// See [`LIKELY_BELOW`].
pub const LIKELY_ABOVE: f64 = 0.04;
/// See [`LIKELY_BELOW`].
pub const LIKELY_LEVEL: f64 = 0.9;

/// The range the answer's true SLA-limited rate most likely lies in: from [`LIKELY_BELOW`] under
/// the rate its command held in a check to [`LIKELY_ABOVE`] over the lowest rate it failed.
///
/// Why margins, and not the bracket [held, failed) itself: near capacity a check's p99 rests on
/// queue excursions minutes apart, so one check can hold a little above the true rate or fail a
/// little below it, and the bracket held the truth in 20-80% of benchmark runs. The margins are
/// measured, not derived: on the verdict benchmark's answers (device runs of 2026-12-07: clear,
/// near-tie, cliff, many, slow-queue and the quickstart, 10 seeds each), the true rate lay in
/// this range in at least [`LIKELY_LEVEL`] of them; `docs/verdict-benchmark.md` keeps the
/// figures.
pub fn likely_range(held: f64, failed: Option<f64>) -> crate::verdict::LikelyRange {
    crate::verdict::LikelyRange {
        low: held * (1.0 - LIKELY_BELOW),
        high: failed.map(|f| f * (1.0 + LIKELY_ABOVE)),
        level: LIKELY_LEVEL,
    }
}

/// The lowest rate above `passes` at which candidate `id` failed (measured, the server's verdict),
/// at the winner's concurrency, in any stage.
pub fn lowest_failure(
    records: &[TrialRecord],
    winner: &TrialRecord,
    id: usize,
    passes: Option<f64>,
) -> Option<f64> {
    let above = passes.unwrap_or(0.0);
    failures(records, id, winner)
        .map(|r| r.requested_qps)
        .filter(|qps| *qps > above)
        .reduce(f64::min)
}

/// Whether the baseline met the SLA at `rate` or above, at the winner's concurrency.
pub fn baseline_passes(records: &[TrialRecord], winner: &TrialRecord, rate: f64) -> bool {
    records.iter().any(|r| {
        r.stage.numbered_like(Stage::Base)
            && r.stage != Stage::CostCheck
            && r.candidate_id == 0
            && r.max_concurrency == winner.max_concurrency
            && r.sla_passed
            && r.requested_qps >= rate * (1.0 - 1e-9)
    })
}

/// The rate the winner credibly passes at (the winning rate when confirmed, else the highest rate
/// below it that passed in the search) and the lowest rate above that at which it failed.
pub fn bracket(
    records: &[TrialRecord],
    winner: &TrialRecord,
    confirmed: bool,
) -> (Option<f64>, Option<f64>) {
    let of_winner = |r: &&TrialRecord| {
        r.candidate_id == winner.candidate_id
            && r.max_concurrency == winner.max_concurrency
            && measured(r)
    };
    let walk: Vec<&TrialRecord> = records
        .iter()
        .filter(|r| r.stage == Stage::Base)
        .filter(of_winner)
        .collect();
    let stepped: Vec<&TrialRecord> = records
        .iter()
        .filter(|r| r.stage == Stage::Confirm && r.requested_qps < winner.requested_qps)
        .filter(of_winner)
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
    // Unconfirmed with no step held: the fallback is a search pass below every long trial that
    // failed, not one the step-down already failed under.
    let failed_long = stepped
        .iter()
        .filter(|r| !r.sla_passed)
        .map(|r| r.requested_qps)
        .fold(winner.requested_qps, f64::min);
    let passes_at = if confirmed {
        Some(winner.requested_qps)
    } else {
        walk.iter()
            .filter(|r| r.sla_passed && r.requested_qps < failed_long)
            .map(|r| r.requested_qps)
            .reduce(f64::max)
    };
    let above = passes_at.unwrap_or(0.0);
    let fails_at = walk
        .iter()
        .chain(stepped.iter())
        .filter(|r| !r.sla_passed && r.requested_qps > above)
        .map(|r| r.requested_qps)
        .chain((!confirmed).then_some(winner.requested_qps))
        .reduce(f64::min);
    (passes_at, fails_at)
}

/// A trial the server decided (measured, not a launch failure or a crash, not a client stall).
pub fn measured(r: &TrialRecord) -> bool {
    r.failure == FailureKind::Trial && r.metrics.as_ref().is_some_and(|m| !m.client_limited())
}

pub fn class_of(trial: &TrialRecord) -> String {
    match &trial.verdict {
        Some(v) => v.class().into(),
        None => trial.outcome_label().into(),
    }
}

/// What happened to the winner: confirmed at its rate, or not, and where its step-down held.
pub fn note(winner: &TrialRecord, confirmed: bool, held_lower: Option<f64>) -> String {
    let rate = winner.requested_qps;
    let w = winner.candidate_id;
    let mut text = if confirmed {
        format!("cand {w} confirmed at {rate:.2} req/s with fresh arrivals")
    } else {
        format!(
            "cand {w} did NOT meet the SLA again at {rate:.2} req/s with fresh arrivals: its rate is not confirmed"
        )
    };
    if let Some(held) = held_lower {
        text.push_str(&format!(
            "; stepping down, it met the SLA at {held:.2} req/s in a confirmation trial"
        ));
    }
    text
}

/// The contenders that met the SLA at `rate` too (a tie when the winner `held` there, else they
/// overturn it), and which command the answer names.
pub fn tie_note(tied: &[usize], rate: f64, winner: usize, held: bool, chosen: usize) -> String {
    let mut text = String::new();
    if !tied.is_empty() {
        let others: Vec<String> = tied.iter().map(|c| format!("cand {c}")).collect();
        let others = others.join(", ");
        text.push_str(&if held {
            format!("; no significant difference: {others} also met the SLA at {rate:.2} req/s")
        } else {
            format!("; {others} met the SLA at {rate:.2} req/s where it did not")
        });
    }
    if chosen != winner {
        let why = match (chosen, held) {
            (0, _) => "the baseline",
            (_, true) => "the command with the fewest changed flags",
            (_, false) => "it held the winning rate",
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
        assert_eq!(
            (c.passes_at, c.fails_at),
            (Some(8.0), None),
            "the interval is the baseline's: it failed nowhere above 8 (the winner failed at 9)"
        );
        let likely = c.likely.expect("a rate held: a likely range");
        assert!((likely.low - 8.0 * (1.0 - LIKELY_BELOW)).abs() < 1e-9);
        assert_eq!(likely.high, None, "nothing failed above it: open above");

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
        // Speculative trials number their own candidates: a speculative "candidate 0" passing
        // above the fallback is not the baseline.
        let mut speculative = overturned.clone();
        speculative.retain(|r| !(r.stage == Stage::Base && r.candidate_id == 0));
        speculative.push(record("speculative", 0, 9.0, true));
        let c = decide(&speculative, &winner, &roles, &candidates);
        assert_eq!(c.chosen, 2, "{}", c.note);
        // No step held: the fallback is a search pass below every long trial that failed.
        let mut fell_through = speculative.clone();
        fell_through.extend([
            record("base", 2, 7.0, true),
            record("confirm", 2, 7.619, false),
            record("confirm", 2, 7.2562, false),
            record("confirm", 2, 6.9107, false),
        ]);
        let c = decide(&fell_through, &winner, &roles, &candidates);
        assert_eq!(
            (c.passes_at, c.fails_at),
            (Some(5.0), Some(6.9107)),
            "7 passed a short search trial, but a long one failed below it"
        );
        assert_eq!(c.chosen, 2);
        let mut separated = records[..4].to_vec();
        separated.push(record("base", 1, 7.5, false));
        separated.push(record("confirm", 2, 8.0, true));
        let c = decide(&separated, &winner, &roles, &candidates);
        assert!(c.confirmed && c.tied_with.is_empty());
        assert_eq!(
            c.contenders[1].class, "failed at 7.50 req/s in the search (not re-measured)",
            "a failure below the compared rate separates it too"
        );
        assert_eq!(
            compared_at(&separated, &winner),
            8.0,
            "confirmed: the others are compared at the winning rate"
        );
        let mut stepped = overturned[..4].to_vec();
        stepped.push(record("base", 2, 5.0, true));
        let rates = step_down(8.0, 1.0);
        assert_eq!(rates[..3], [7.619, 7.2562, 6.9107]);
        assert_eq!(rates.len(), 10);
        assert_eq!(step_down(8.0, 7.0), [7.619, 7.2562]);
        stepped.extend([
            record("confirm", 2, 8.0, false),
            record("confirm", 2, rates[0], false),
            record("confirm", 2, rates[1], true),
        ]);
        assert_eq!(
            compared_at(&stepped, &winner),
            rates[1],
            "stepped down: the others are compared where the winner held"
        );
        let c = decide(&stepped, &winner, &roles, &candidates);
        assert!(!c.confirmed);
        assert_eq!((c.passes_at, c.fails_at), (Some(rates[1]), Some(rates[0])));
        assert_eq!(c.compared_at, Some(rates[1]));
        assert!(c.note.contains("met the SLA at 7.26"), "{}", c.note);
        assert_eq!(c.chosen, 2);
        assert_eq!(c.contenders[2].class, "not measured");
        // A baseline whose short search trial passed above the step-down's rate is not as good as
        // the winner's long trial that held; a long baseline trial that held there is a tie.
        let mut short_pass = stepped.clone();
        short_pass.push(record("base", 0, 9.0, true));
        let c = decide(&short_pass, &winner, &roles, &candidates);
        assert_eq!(c.chosen, 2, "{}", c.note);
        short_pass.push(record("confirm", 0, rates[1], true));
        let c = decide(&short_pass, &winner, &roles, &candidates);
        assert_eq!(c.tied_with, [0]);
        assert_eq!(c.chosen, 0, "tied at the step-down's rate: {}", c.note);
        assert!(
            c.note
                .contains("no significant difference: cand 0 also met the SLA at 7.26 req/s"),
            "{}",
            c.note
        );
        assert_eq!(c.passes_at, Some(rates[1]));
        short_pass.push(record("base", 0, 7.5, false));
        let c = decide(&short_pass, &winner, &roles, &candidates);
        assert_eq!(
            c.fails_at,
            Some(7.5),
            "the baseline's own failure bounds its interval, not the winner's step-down"
        );
        let mut overturned_by_runner_up = records[..4].to_vec();
        overturned_by_runner_up.extend([
            record("confirm", 2, 8.0, false),
            record("confirm", 1, 8.0, true),
            record("confirm", 0, 8.0, false),
        ]);
        let c = decide(&overturned_by_runner_up, &winner, &roles, &candidates);
        assert_eq!(c.chosen, 1);
        assert_eq!(
            (c.passes_at, c.fails_at),
            (Some(8.0), None),
            "the runner-up's interval, not the winner's fallback"
        );
        assert!(
            c.note.ends_with(
                "; cand 1 met the SLA at 8.00 req/s where it did not; the answer is cand 1 (it held the winning rate)"
            ),
            "{}",
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

    #[test]
    fn a_candidate_pruned_at_a_refuted_rate_is_reconsidered_where_the_answer_is() {
        let candidates = [
            flags(&[]),
            flags(&[("a", 1)]),
            flags(&[("b", 2)]),
            flags(&[("c", 3)]),
        ];
        // Candidate 1 won the search at 10; 2 was pruned by a probe at 10; 3 failed at 7.
        let mut records = vec![
            record("base", 0, 6.0, true),
            record("base", 0, 7.5, false),
            record("base", 1, 10.0, true),
            record("base", 2, 10.0, false),
            record("base", 3, 7.0, false),
            record("base", 3, 5.0, true),
        ];
        let winner = base_best(&records).expect("winner").clone();
        let roles = contenders(&records, &winner);
        assert_eq!(
            roles,
            [
                (1, "winner"),
                (0, "runner-up"),
                (2, "re-opened"),
                (3, "re-opened")
            ]
        );
        // The winner's 10 is refuted; it holds at 8.
        records.extend([
            record("confirm", 1, 10.0, false),
            record("confirm", 1, 9.5238, false),
            record("confirm", 1, 8.0, true),
        ]);
        let rate = compared_at(&records, &winner);
        assert_eq!(rate, 8.0);
        assert!(
            failed_in_search(&records, 2, &winner, rate).is_none(),
            "pruned at 10, above the answer: it must be measured at 8"
        );
        assert!(failed_in_search(&records, 3, &winner, rate).is_some());
        assert!(failed_in_search(&records, 0, &winner, rate).is_some());
        // Measured there, it holds too: a tie the answer names.
        records.push(record("confirm", 2, 8.0, true));
        let c = decide(&records, &winner, &roles, &candidates);
        assert_eq!(c.tied_with, [2]);
        let reopened = c
            .contenders
            .iter()
            .find(|x| x.candidate == 2)
            .expect("listed");
        assert_eq!(reopened.role, "re-opened");
        assert!(reopened.passed);
        let separated = c
            .contenders
            .iter()
            .find(|x| x.candidate == 3)
            .expect("listed");
        assert_eq!(
            separated.class,
            "failed at 7.00 req/s in the search (not re-measured)"
        );
        // Without the step-down the probe's failure at the answer's rate separates it.
        let confirmed = [
            records[..6].to_vec(),
            vec![record("confirm", 1, 10.0, true)],
        ]
        .concat();
        assert!(
            failed_in_search(&confirmed, 2, &winner, compared_at(&confirmed, &winner)).is_some()
        );
    }

    #[test]
    fn a_refuted_winner_hands_the_lead_to_the_next_command() {
        // The search put 2 at 18 and 1 at 16; long trials refute 2 down to 12.5.
        let mut records = vec![
            record("base", 0, 12.0, true),
            record("base", 0, 14.0, false),
            record("base", 1, 16.0, true),
            record("base", 1, 18.0, false),
            record("base", 2, 18.0, true),
            record("base", 2, 20.0, false),
        ];
        let first = next_leader(&records, &[]).expect("leader").candidate_id;
        assert_eq!(first, 2);
        records.extend([
            record("confirm", 2, 18.0, false),
            record("confirm", 2, 12.5, true),
        ]);
        let second = next_leader(&records, &[2]).expect("the next leader");
        assert_eq!((second.candidate_id, second.requested_qps), (1, 16.0));
        records.extend([
            record("confirm", 1, 16.0, false),
            record("confirm", 1, 15.0, true),
        ]);
        assert!(
            next_leader(&records, &[2, 1]).is_none(),
            "the baseline's 12 is below the 15 that held"
        );
        let winner = confirmed_winner(&records, &[2, 1]).expect("winner").clone();
        let winner = &winner;
        assert_eq!(winner.candidate_id, 1);
        assert_eq!(compared_at(&records, winner), 15.0);
        let roles = contenders(&records, winner);
        // 2 held 12.5 and failed 18 in its check: not separated at 15, so it is measured there.
        assert!(failed_at_or_below(&records, 2, winner, 15.0).is_none());
        records.push(record("confirm", 2, 15.0, false));
        let candidates = [flags(&[]), flags(&[("a", 1)]), flags(&[("b", 2)])];
        let c = decide(&records, winner, &roles, &candidates);
        assert_eq!(c.chosen, 1);
        assert!(c.tied_with.is_empty());
        let two = c
            .contenders
            .iter()
            .find(|x| x.candidate == 2)
            .expect("listed");
        assert!(!two.passed);
        let zero = c
            .contenders
            .iter()
            .find(|x| x.candidate == 0)
            .expect("listed");
        assert_eq!(
            zero.class,
            "failed at 14.00 req/s in the search (not re-measured)"
        );
    }
}
