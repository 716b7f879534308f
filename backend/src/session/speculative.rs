//! The speculative (EAGLE) stage: per scenario, a search over the speculative flags on top of the
//! base answer's command (the same search and steady-state trials as the base stage), then a
//! check of its best command like the confirmation's (walked down from its search rate in long
//! trials, never below a step above the base answer, [`shared::speculative`]). The outcome goes
//! into the scenario's confirmation: when the speculative command held a step above the base
//! answer, it is the answer.

use serde_json::Value;

use shared::candidates::{self, CandidateSpec};
use shared::events::{CandidateInfo, RunEvent};
use shared::flags::FlagMap;
use shared::record::Stage;

use super::{Ctx, ScenarioState, candidate};
use crate::config::SpeculativePlan;

/// Runs the stage for every scenario with a confirmed base answer; returns what it did, or
/// `None` when the stage is not enabled.
pub(super) async fn run_stage(
    ctx: &mut Ctx<'_>,
    scenarios: &mut [ScenarioState],
) -> anyhow::Result<Option<String>> {
    let Some(spec) = ctx.cfg.speculative.clone() else {
        return Ok(None);
    };
    if ctx.stop.is_some() {
        return Ok(Some("skipped: the run stopped before it".into()));
    }
    let mut notes = Vec::new();
    for index in 0..scenarios.len() {
        let name = scenarios[index].scenario.name.clone();
        let Some((base_flags, base_rate)) = base_answer(ctx, &scenarios[index]) else {
            notes.push(format!("{name}: skipped (no confirmed base answer)"));
            continue;
        };
        let plan = candidates::generate(&CandidateSpec {
            base_flags: speculative_base(&base_flags, &spec),
            search_space: spec.search_space.clone(),
            derive_dp_from_gpus: None,
            ..ctx.cfg.candidate_spec.clone()
        })?;
        report_stage(
            ctx,
            Stage::Speculative,
            &name,
            plan.candidates.iter().enumerate(),
        );
        for (cand, flags) in plan.candidates.iter().enumerate() {
            if ctx.stop.is_some() {
                return Ok(Some(notes.join("; ")));
            }
            let walks = candidate::Walks::Scenario(index);
            candidate::run_candidate(ctx, scenarios, Stage::Speculative, cand, flags, walks)
                .await?;
        }
        check_leader(ctx, scenarios, index, &plan.candidates, base_rate).await?;
        if ctx.stop.is_some() {
            return Ok(Some(notes.join("; ")));
        }
        let state = &mut scenarios[index];
        let outcome =
            shared::speculative::outcome(&state.records, base_rate, plan.candidates.len());
        notes.push(format!(
            "{name}: {} searched, {}",
            plan.candidates.len(),
            if outcome.beat {
                "one beat the best base command"
            } else {
                "none beat the best base command"
            }
        ));
        if let Some(confirmation) = state.confirmation.as_mut() {
            confirmation.speculative = Some(outcome);
        }
    }
    Ok(Some(notes.join("; ")))
}

/// The base answer's command and rate: the confirmation's choice and the highest rate it held.
fn base_answer(ctx: &Ctx<'_>, state: &ScenarioState) -> Option<(FlagMap, f64)> {
    let c = state.confirmation.as_ref()?;
    let rate = c.passes_at.or(c.confirmed.then_some(c.rate))?;
    let flags = ctx.cfg.candidates.candidates.get(c.chosen)?.clone();
    Some((flags, rate))
}

/// Checks the speculative search's best command, when it is a step above the base answer.
async fn check_leader(
    ctx: &mut Ctx<'_>,
    scenarios: &mut [ScenarioState],
    index: usize,
    candidates: &[FlagMap],
    base_rate: f64,
) -> anyhow::Result<()> {
    let Some(leader) = shared::speculative::leader(&scenarios[index].records, base_rate).cloned()
    else {
        return Ok(());
    };
    let Some(flags) = candidates.get(leader.candidate_id) else {
        return Ok(());
    };
    let name = scenarios[index].scenario.name.clone();
    let checked = std::iter::once((leader.candidate_id, flags));
    report_stage(ctx, Stage::SpeculativeConfirm, &name, checked);
    let walks = candidate::Walks::Descend {
        scenario: index,
        plan: shared::speculative::descent(&leader, base_rate),
        max_concurrency: leader.max_concurrency,
    };
    let id = leader.candidate_id;
    candidate::run_candidate(ctx, scenarios, Stage::SpeculativeConfirm, id, flags, walks).await
}

/// Announces a stage's candidates in a scenario.
fn report_stage<'a>(
    ctx: &mut Ctx<'_>,
    stage: Stage,
    scenario: &str,
    candidates: impl Iterator<Item = (usize, &'a FlagMap)>,
) {
    ctx.report(RunEvent::StageStarted {
        stage,
        scenario: Some(scenario.to_string()),
        candidates: candidates
            .map(|(id, flags)| CandidateInfo {
                stage,
                id,
                flags: flags.clone(),
            })
            .collect(),
    });
}

/// The best base flags (without host/port) plus the speculative settings.
fn speculative_base(best: &FlagMap, spec: &SpeculativePlan) -> FlagMap {
    let mut base = best.clone();
    base.remove("host");
    base.remove("port");
    base.extend(spec.base_flags.clone());
    base.insert(
        "speculative_algorithm".into(),
        Value::String(spec.algorithm.clone()),
    );
    base.insert(
        "speculative_draft_model_path".into(),
        Value::String(spec.draft_model_path.clone()),
    );
    base
}
