//! The cost stage (`benchmark.rank_by: cost`): per scenario, after the confirmation gives the
//! fastest command, every command that was cheaper per output token at its best search rate is
//! checked in long trials, cheapest first ([`shared::cost_rank`]), and the outcome goes into the
//! scenario's confirmation: the cheapest command at a rate a check held is the answer.

use shared::cost_rank::{self, MAX_CHECKED};
use shared::events::{CandidateInfo, RunEvent};
use shared::ranking;
use shared::record::Stage;

use super::{Ctx, ScenarioState, candidate};

/// Runs the stage for every scenario with a confirmed answer, when the run ranks by cost.
pub(super) async fn run_stage(
    ctx: &mut Ctx<'_>,
    scenarios: &mut [ScenarioState],
) -> anyhow::Result<()> {
    if !ctx.cfg.benchmark.rank_by_cost {
        return Ok(());
    }
    let Some(price) = ctx.cfg.benchmark.gpu_hour_price.clone() else {
        return Ok(());
    };
    for index in 0..scenarios.len() {
        if ctx.stop.is_some() {
            return Ok(());
        }
        let Some(c) = scenarios[index].confirmation.clone() else {
            continue;
        };
        let records = &scenarios[index].records;
        let (Some(fastest), Some(rate)) = (
            ranking::answer_trial(records, Some(&c)).cloned(),
            c.passes_at.or(c.confirmed.then_some(c.rate)),
        ) else {
            continue;
        };
        let Some(fastest_cost) = cost_rank::cost_of(&fastest, &price) else {
            continue;
        };
        let mut checked: Vec<usize> = Vec::new();
        while checked.len() < MAX_CHECKED {
            let records = &scenarios[index].records;
            let best = cost_rank::best_so_far(records, &price, fastest_cost, &checked);
            let Some((contender, dollars)) =
                cost_rank::next_contender(records, &price, c.chosen, &checked, best)
                    .map(|(r, d)| (r.clone(), d))
            else {
                break;
            };
            let id = contender.candidate_id;
            checked.push(id);
            let Some(flags) = ctx.cfg.candidates.candidates.get(id).cloned() else {
                continue;
            };
            ctx.report(RunEvent::StageStarted {
                stage: Stage::CostCheck,
                scenario: Some(scenarios[index].scenario.name.clone()),
                candidates: vec![CandidateInfo {
                    stage: Stage::CostCheck,
                    id,
                    flags: flags.clone(),
                }],
            });
            let walks = candidate::Walks::Descend {
                scenario: index,
                plan: cost_rank::descent(&contender, dollars, best),
                max_concurrency: contender.max_concurrency,
            };
            candidate::run_candidate(ctx, scenarios, Stage::CostCheck, id, &flags, walks).await?;
            if ctx.stop.is_some() {
                return Ok(());
            }
        }
        let outcome = cost_rank::outcome(
            &scenarios[index].records,
            &price,
            &fastest,
            (rate, c.fails_at),
            &checked,
        );
        if let Some(confirmation) = scenarios[index].confirmation.as_mut() {
            confirmation.by_cost = outcome;
        }
    }
    Ok(())
}
