//! The speculative (EAGLE) stage: per scenario, a search over the speculative flags on top of the
//! best base flags.

use serde_json::Value;

use shared::candidates::{self, CandidateSpec};
use shared::events::{CandidateInfo, RunEvent};
use shared::flags::FlagMap;
use shared::ranking;
use shared::record::Stage;

use super::{Ctx, ScenarioState, candidate};
use crate::config::SpeculativePlan;

/// Runs the stage for every scenario with a passing base trial; returns what it did, or `None`
/// when the stage is not enabled.
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
        let best = ranking::best(
            scenarios[index]
                .records
                .iter()
                .filter(|r| r.stage == Stage::Base),
        );
        let Some(base) = best.map(|b| speculative_base(&b.server_flags, &spec)) else {
            notes.push(format!("{name}: skipped (no successful base run)"));
            continue;
        };
        let plan = candidates::generate(&CandidateSpec {
            base_flags: base,
            search_space: spec.search_space.clone(),
            derive_dp_from_gpus: None,
            ..ctx.cfg.candidate_spec.clone()
        })?;
        ctx.report(RunEvent::StageStarted {
            stage: Stage::Speculative,
            scenario: Some(name.clone()),
            candidates: plan
                .candidates
                .iter()
                .enumerate()
                .map(|(id, flags)| CandidateInfo {
                    stage: Stage::Speculative,
                    id,
                    flags: flags.clone(),
                })
                .collect(),
        });
        for (cand, flags) in plan.candidates.iter().enumerate() {
            if ctx.stop.is_some() {
                break;
            }
            let walks = candidate::Walks::Scenario(index);
            candidate::run_candidate(ctx, scenarios, Stage::Speculative, cand, flags, walks)
                .await?;
        }
        notes.push(format!("{name}: ran {} candidates", plan.candidates.len()));
    }
    Ok(Some(notes.join("; ")))
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
