//! The confirmation stage: before a scenario's answer is given, the winner is measured again at
//! the winning rate, with fresh arrivals and a longer trial (`benchmark.confirm_trial_seconds`).
//! When it fails there, it walks down in growing steps until a rate holds, then back up by
//! bisection to within 5% of the lowest rate a long trial refuted ([`shared::decision::descent`]),
//! all on one server, and the answer is the highest rate that held. Then the runner-up, the
//! baseline (candidate 0) and every other candidate the search measured are measured at the
//! answer's rate, unless the search already saw them fail at or below it: a contender that meets
//! the SLA there too is not separable from the winner, and the answer prefers the baseline, then
//! the command that changes fewer flags. The tie is called at the rate the answer gives.

use shared::decision::{
    MAX_LEADERS, STEP_DOWN, base_best, compared_at, confirmed_winner, contenders, decide, descent,
    failed_at_or_below, held_rate, lowest_refuted, next_leader, pruned_against,
};
use shared::events::{CandidateInfo, RunEvent};
use shared::record::Stage;

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
        let listed = contenders(&scenarios[index].records, &winner);
        let all = &ctx.cfg.candidates.candidates;
        ctx.report(RunEvent::StageStarted {
            stage: Stage::Confirm,
            scenario: Some(scenarios[index].scenario.name.clone()),
            candidates: listed
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
        // The winner first, walking down on one server until a rate holds, then back up; when a
        // long trial refutes its rate below another command's search rate, that command leads
        // next, from its own best rate.
        let mut walked: Vec<usize> = Vec::new();
        while walked.len() < MAX_LEADERS {
            reconsider_pruned(ctx, scenarios, index, &walked, winner.max_concurrency).await?;
            if ctx.stop.is_some() {
                return Ok(());
            }
            let Some(leader) = next_leader(&scenarios[index].records, &walked).cloned() else {
                break;
            };
            let Some(flags) = all.get(leader.candidate_id) else {
                walked.push(leader.candidate_id);
                continue;
            };
            // A later leader matters only clearly above the rate an earlier one held: its walk
            // stops a step (5%) above it; closer, it is compared at the answer's rate with the
            // other contenders (a walk that ended just above it measured the same rate twice and
            // left an answer that "held at 13.48 and failed at 13.48").
            let held = walked
                .iter()
                .filter_map(|id| held_rate(&scenarios[index].records, *id))
                .reduce(f64::max);
            let floor = held.map_or(ctx.cfg.benchmark.qps.lowest(), |h| h * STEP_DOWN);
            walked.push(leader.candidate_id);
            let walks = Walks::Descend {
                scenario: index,
                plan: descent(leader.requested_qps, floor),
                max_concurrency: leader.max_concurrency,
            };
            let id = leader.candidate_id;
            candidate::run_candidate(ctx, scenarios, Stage::Confirm, id, flags, walks).await?;
            if ctx.stop.is_some() {
                return Ok(());
            }
        }
        let winner = confirmed_winner(&scenarios[index].records, &walked)
            .cloned()
            .unwrap_or(winner);
        let contenders = contenders(&scenarios[index].records, &winner);
        // The others at the rate the answer gives.
        let rate = compared_at(&scenarios[index].records, &winner);
        for (id, _) in contenders.iter().skip(1) {
            let Some(flags) = all.get(*id) else { continue };
            // A contender the search already saw failing at or below this rate is separated from
            // the winner there: re-measuring it would cost a launch and a long trial for nothing.
            if failed_at_or_below(&scenarios[index].records, *id, &winner, rate).is_some() {
                // Listed when the stage started: not left waiting.
                ctx.report(RunEvent::CandidateDone {
                    stage: Stage::Confirm,
                    candidate: *id,
                });
                continue;
            }
            let walks = Walks::Point {
                scenario: index,
                qps: rate,
                max_concurrency: winner.max_concurrency,
            };
            candidate::run_candidate(ctx, scenarios, Stage::Confirm, *id, flags, walks).await?;
        }
        if ctx.stop.is_some() {
            return Ok(());
        }
        let state = &mut scenarios[index];
        state.confirmation = Some(decide(&state.records, &winner, &contenders, all));
    }
    Ok(())
}

/// Searches again every candidate whose search a probe ended at a rate the walked leaders'
/// long trials refuted, probing first at the highest rate a leader held (the whole plan when
/// none held), so the next leader is chosen among all commands at rates the run believes.
async fn reconsider_pruned(
    ctx: &mut Ctx<'_>,
    scenarios: &mut [ScenarioState],
    index: usize,
    walked: &[usize],
    max_concurrency: Option<u64>,
) -> anyhow::Result<()> {
    let records = &scenarios[index].records;
    let Some(refuted) = lowest_refuted(records, walked) else {
        return Ok(());
    };
    let held = walked
        .iter()
        .filter_map(|id| held_rate(records, *id))
        .reduce(f64::max);
    let all = &ctx.cfg.candidates.candidates;
    for id in pruned_against(records, refuted, max_concurrency) {
        let Some(flags) = all.get(id) else { continue };
        ctx.report(RunEvent::Notice {
            text: format!(
                "[{}] cand={id}: its search stopped at a probe that a long trial has since refuted ({refuted:.2} req/s failed); searching it again{}",
                scenarios[index].scenario.name,
                held.map(|h| format!(" from {h:.2} req/s")).unwrap_or_default()
            ),
        });
        let walks = Walks::Reopen {
            scenario: index,
            max_concurrency,
            from: held,
        };
        candidate::run_candidate(ctx, scenarios, Stage::Base, id, flags, walks).await?;
        if ctx.stop.is_some() {
            return Ok(());
        }
    }
    Ok(())
}
