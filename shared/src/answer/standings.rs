//! Every candidate's place in a scenario, for the CLI's table: named by its change, its best rate
//! that no check refuted, its status (answer, tied, slower, skipped, failed to start, ...) and the
//! SLA's latencies at that rate against their limits.

use crate::ranking;
use crate::record::{Stage, TrialRecord};
use crate::sla::Sla;
use crate::verdict::Confirmation;

use super::{Names, credible_rate, decided, rate};

/// One candidate's row.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    /// Stage (base or speculative).
    pub stage: Stage,
    /// Candidate index.
    pub candidate: usize,
    /// What it changes from the default ("--max-running-requests 32", "default").
    pub name: String,
    /// Its best rate that no check refuted.
    pub best_rate: Option<f64>,
    /// `answer`, `tied`, `slower`, `skipped at ...`, `failed to start: ...`, ...
    pub status: String,
    /// Per latency limit of the SLA, the value at its best rate ("182.0 ms", "312.0 ms (over)").
    pub latencies: Vec<String>,
    /// Dollars per million output tokens at its best rate, when a GPU-hour price was given.
    pub cost_per_million_output_tokens: Option<f64>,
}

/// The candidates of both search stages, in stage and id order.
pub fn standings(
    records: &[TrialRecord],
    confirmation: Option<&Confirmation>,
    sla: Option<&Sla>,
    price: Option<&crate::cost::GpuPrice>,
) -> Vec<Standing> {
    let names = Names::of(records);
    let mut ids: Vec<(Stage, usize)> = records
        .iter()
        .filter(|r| !r.stage.is_check())
        .map(|r| (r.stage, r.candidate_id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let top = ranking::answer_trial(records, confirmation).map(|t| (t.stage, t.candidate_id));
    // A speculative command that beat the base answer in its check is the answer.
    let speculative = confirmation
        .and_then(|c| c.speculative.as_ref())
        .filter(|o| o.beat)
        .and_then(|o| Some((o.candidate?, o.held?)));
    // Ranked by cost, the cheapest command the checks held is the answer.
    let cheapest = confirmation
        .and_then(|c| c.by_cost.as_ref())
        .filter(|o| confirmation.is_some_and(|c| c.chosen != o.candidate));
    let answer = match (confirmation, speculative) {
        (_, Some((id, _))) => Some((Stage::Speculative, id)),
        (_, None) if cheapest.is_some() => cheapest.map(|o| (Stage::Base, o.candidate)),
        (Some(c), None) if c.passes_at.is_some() || c.confirmed => Some((Stage::Base, c.chosen)),
        (Some(_), None) => None,
        (None, None) => top,
    };
    ids.into_iter()
        .map(|(stage, id)| {
            let own: Vec<&TrialRecord> = records
                .iter()
                .filter(|r| r.candidate_id == id && r.stage.numbered_like(stage))
                .collect();
            let is_answer = answer == Some((stage, id));
            let best_rate = match (confirmation, speculative) {
                (_, Some((_, held))) if is_answer => Some(held),
                (_, None) if is_answer && cheapest.is_some() => cheapest.map(|o| o.rate),
                (Some(c), None) if is_answer => c.passes_at.or(Some(c.rate)),
                _ => credible_rate(records, stage, id),
            };
            let status = status(&own, stage, id, is_answer, confirmation, best_rate);
            // The latencies at its best rate: the trial there, else its lowest measured rate.
            let shown = best_rate
                .and_then(|b| {
                    own.iter()
                        .rev()
                        .find(|r| r.sla_passed && decided(r) && rate_of(r) == b)
                })
                .or_else(|| {
                    own.iter()
                        .filter(|r| r.metrics.is_some())
                        .min_by(|a, b| a.requested_qps.total_cmp(&b.requested_qps))
                });
            let latencies = sla.map_or_else(Vec::new, |s| {
                s.limits
                    .iter()
                    .map(|l| {
                        match shown
                            .and_then(|r| r.metrics.as_ref())
                            .and_then(|m| l.value(m))
                        {
                            Some(v) if v > l.max_ms => format!("{v:.1} ms (over)"),
                            Some(v) => format!("{v:.1} ms"),
                            None => "-".into(),
                        }
                    })
                    .collect()
            });
            // The cost at its best rate, from the trial there (not at a lower rate's).
            let at_best = shown.filter(|r| best_rate.is_some_and(|b| rate_of(r) == b));
            let cost = at_best
                .zip(price)
                .and_then(|(r, price)| super::cost_of(r, price))
                .map(|(dollars, _)| dollars);
            Standing {
                stage,
                candidate: id,
                name: names.plain(stage, id),
                best_rate,
                status,
                latencies,
                cost_per_million_output_tokens: cost,
            }
        })
        .collect()
}

/// The rate a trial is shown at: requested for a confirmation trial, credited otherwise.
fn rate_of(r: &TrialRecord) -> f64 {
    if r.stage.is_check() {
        r.requested_qps
    } else {
        ranking::credited_rate(r)
    }
}

fn status(
    own: &[&TrialRecord],
    stage: Stage,
    id: usize,
    is_answer: bool,
    confirmation: Option<&Confirmation>,
    best_rate: Option<f64>,
) -> String {
    let base = stage == Stage::Base;
    if is_answer {
        return if confirmation.is_some() {
            "answer".into()
        } else {
            "answer (not confirmed)".into()
        };
    }
    if let Some(c) = confirmation.filter(|_| base) {
        if let Some(o) = c
            .by_cost
            .as_ref()
            .filter(|o| o.candidate != id && o.fastest == id)
        {
            return format!(
                "fastest, but costs more per token (${:.2} against ${:.2})",
                o.fastest_cost, o.cost
            );
        }
        let held = c.contenders.first().is_some_and(|x| x.passed);
        if held
            && (c.tied_with.contains(&id) || (id == c.winner && c.tied_with.contains(&c.chosen)))
        {
            return "tied".into();
        }
        if id == c.winner && !c.confirmed {
            return format!("failed its check at {}", rate(c.rate));
        }
        let failed_check = c.contenders.iter().any(|x| {
            x.candidate == id
                && !x.passed
                && !x.class.starts_with("failed at")
                && x.class != "not measured"
        });
        if failed_check {
            return format!(
                "slower: failed at {} in the check",
                rate(c.compared_at.unwrap_or(c.rate))
            );
        }
    }
    if own.iter().all(|r| r.metrics.is_none()) {
        let failure = own.iter().find(|r| r.is_launch_failure()).or(own.first());
        let cause = failure.map_or_else(String::new, |r| {
            let cause = r
                .cause
                .clone()
                .or_else(|| r.error.clone())
                .unwrap_or_default();
            let cause = short(cause.lines().next().unwrap_or_default());
            match (r.diagnosis, cause.is_empty()) {
                (Some(d), true) => d.name().to_string(),
                (Some(d), false) => format!("{d}: {cause}"),
                (None, _) => cause,
            }
        });
        let what = if failure.is_some_and(|r| r.is_launch_failure()) {
            "failed to start"
        } else {
            "failed"
        };
        return format!("{what}: {cause}");
    }
    if best_rate.is_none() {
        if let Some(pruned) = own.iter().find(|r| r.heuristic_pruned) {
            return format!(
                "skipped at {} because it failed where a better command held",
                rate(pruned.requested_qps)
            );
        }
        return "never held the SLA".into();
    }
    "slower".into()
}

/// The first 60 characters of a cause, cut at a word, with "..." when cut.
pub(super) fn short(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        return text.to_string();
    }
    let cut: String = text.chars().take(MAX + 1).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{}...", cut.trim_end_matches([',', ':', ';', '.']))
}
