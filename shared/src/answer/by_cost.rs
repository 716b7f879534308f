//! The answer with `benchmark.rank_by: cost`: when a command other than the fastest costs less
//! per output token at a rate its own long check held, it is the answer ("Use `--tp-size 1`: the
//! cheapest command that holds your SLA (p99 TTFT <= 200 ms): $5.56 per million output tokens at
//! up to 18.00 req/s (it failed at 20.00 req/s); the fastest, `--tp-size 2`, holds up to 30.00
//! req/s at $6.67; checked in a 90-s trial."); when the fastest is also the cheapest, the answer
//! says so.

use crate::record::Stage;
use crate::verdict::{Confirmation, CostOutcome};

use super::{Answer, Facts, Names, holds, how_sure, rate, trial_words};

/// The sentence added to a rate answer whose command is also the cheapest per token.
pub(super) fn also_cheapest(outcome: &CostOutcome) -> String {
    let others = match outcome.checked.len() {
        0 => "no other command was cheaper per token in the search".to_string(),
        1 => "the one command cheaper in the search lost that edge in its check".to_string(),
        n => format!("the {n} commands cheaper in the search lost that edge in their checks"),
    };
    format!(
        " Ranked by cost, it is also the cheapest per token ({} per million output tokens): {others}.",
        crate::cost::amount(outcome.fastest_cost)
    )
}

/// The answer when the cheapest command is not the fastest; `None` when its check trial is not
/// in the records.
pub(super) fn answer(
    facts: &Facts,
    c: &Confirmation,
    outcome: &CostOutcome,
    names: &Names,
) -> Option<Answer> {
    let trial = crate::ranking::cost_check(facts.records, outcome)?;
    let bracket = outcome
        .fails_at
        .map_or(String::new(), |f| format!(" (it failed at {})", rate(f)));
    let headline = format!(
        "Use {}: the cheapest command that {}: {} per million output tokens at up to {}{bracket}; the fastest, {}, holds up to {} at {}; checked in {}.",
        names.quoted(Stage::Base, outcome.candidate),
        holds(facts.sla),
        crate::cost::amount(outcome.cost),
        rate(outcome.rate),
        names.quoted(Stage::Base, c.chosen),
        rate(outcome.fastest_rate),
        crate::cost::amount(outcome.fastest_cost),
        trial_words(trial),
    );
    let mut how_sure = vec![how_sure::likely(crate::decision::likely_range(
        outcome.rate,
        outcome.fails_at,
    ))];
    how_sure.extend(how_sure::sentences(trial, None, facts.sla, names));
    Some(Answer {
        headline,
        how_sure,
        rate: Some(outcome.rate),
        unconfirmed: None,
        cost_per_million_output_tokens: Some(outcome.cost),
        flag_effects: Vec::new(),
        speculative: None,
    })
}
