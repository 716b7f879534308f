//! The answer when the speculative stage ran: its one line against the best base command, and,
//! when its check beat that command, the answer itself ("Use `--speculative-algorithm EAGLE
//! ...`: it holds your SLA up to 20.00 req/s (it failed at 21.00 req/s), 25% more than the best
//! command without a draft model, `--a 1` (16.00 req/s); checked in a 90-s trial.").

use crate::record::Stage;
use crate::verdict::{Confirmation, SpeculativeOutcome};

use super::{Answer, Facts, Names, cost_of, holds, how_sure, rate, trial_words, with_cost};

/// The speculative stage's line: the checked speculative command and the base answer's
/// command, by name.
pub(super) fn line(c: &Confirmation, outcome: &SpeculativeOutcome, names: &Names) -> String {
    let command = outcome.candidate.map_or_else(
        || "no speculative command".to_string(),
        |id| quoted(names, id),
    );
    outcome.line(&command, &names.quoted(Stage::Base, c.chosen))
}

/// "`--speculative-algorithm EAGLE --speculative-num-steps 3`".
fn quoted(names: &Names, id: usize) -> String {
    format!("`{}`", names.command(Stage::Speculative, id))
}

/// The answer when the speculative command beat the best base command in its check; `None` when
/// the check trial it rests on is not in the records.
pub(super) fn answer(
    facts: &Facts,
    c: &Confirmation,
    outcome: &SpeculativeOutcome,
    names: &Names,
) -> Option<Answer> {
    let records = facts.records;
    let trial = crate::ranking::speculative_check(records, outcome)?;
    let (id, held) = (outcome.candidate?, outcome.held?);
    let base = names.quoted(Stage::Base, c.chosen);
    let bracket = outcome
        .fails_at
        .map_or(String::new(), |f| format!(" (it failed at {})", rate(f)));
    let pct = outcome.gain().unwrap_or(0.0) * 100.0;
    let headline = format!(
        "Use {}: it {} up to {}{bracket}, {pct:.0}% more than the best command without a draft model, {base} ({}); checked in {}.",
        quoted(names, id),
        holds(facts.sla),
        rate(held),
        rate(outcome.base_rate),
        trial_words(trial),
    );
    let cost = facts.gpu_hour_price.and_then(|price| cost_of(trial, price));
    let mut how_sure = vec![likely(held, outcome.fails_at)];
    how_sure.extend(how_sure::sentences(trial, None, facts.sla, names));
    let base_failed = c
        .fails_at
        .map_or(String::new(), |f| format!(" and failed at {}", rate(f)));
    how_sure.push(format!(
        "Compared with the best command without a draft model, {base}: it held up to {} in checks of the same length{base_failed}.",
        rate(outcome.base_rate)
    ));
    Some(Answer {
        headline: with_cost(headline, cost.as_ref()),
        how_sure,
        rate: Some(held),
        unconfirmed: None,
        cost_per_million_output_tokens: cost.map(|(dollars, _)| dollars),
        flag_effects: Vec::new(),
        speculative: Some(line(c, outcome, names)),
    })
}

/// The likely-range sentence for the speculative answer's rate.
fn likely(held: f64, fails_at: Option<f64>) -> String {
    how_sure::likely(crate::decision::likely_range(held, fails_at))
}
