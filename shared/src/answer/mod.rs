//! The answer in words: one sentence per scenario that says which command to use, up to what rate
//! it holds the SLA, how that compares with the default and how it was checked ("Use
//! `--max-running-requests 32`: it holds your SLA (p99 TTFT <= 200 ms) up to 57.00 req/s (it
//! failed at 59.00 req/s), 113% more than the default (26.76 req/s); checked in a 90-s trial.").
//!
//! It is built once, here, from the scenario's records, its [`Confirmation`] and the SLA, so the
//! CLI, `summary.md`, `SUMMARY.md`, `report.html`, the dashboard and `run --json` say the same
//! thing. A rate the run's own checks refuted is never given as the answer: an answer that was
//! not checked says so first. The statistics behind the answer go into [`Answer::how_sure`]
//! ([`how_sure`]), and every candidate's place into [`standings`].

mod by_cost;
mod checking;
mod effects;
mod how_sure;
mod names;
mod speculative;
mod standings;

use serde::{Deserialize, Serialize};

use crate::ranking;
use crate::record::{Stage, TrialRecord};
use crate::sla::Sla;
use crate::verdict::Confirmation;

pub use checking::{Probe, checking};
pub use effects::{FlagEffect, flag_effects};
pub use names::Names;
pub use standings::{Standing, standings};

/// Where the run stands, which decides what an answer without a confirmation means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Still running: the best so far.
    Running,
    /// Stopped early (interrupted, out of time, failed).
    Stopped,
    /// Finished.
    Finished,
}

/// What an answer is built from.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The scenario's trials, every stage.
    pub records: &'a [TrialRecord],
    /// What the confirmation stage found, when it ran to the end.
    pub confirmation: Option<&'a Confirmation>,
    /// The SLA, when known.
    pub sla: Option<&'a Sla>,
    /// Where the run stands.
    pub state: RunState,
    /// `benchmark.gpu_hour_price`, when set: the answer says what its tokens cost.
    pub gpu_hour_price: Option<&'a crate::cost::GpuPrice>,
}

/// A scenario's answer in words.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Answer {
    /// The answer sentence.
    pub headline: String,
    /// How sure: one plain sentence for the measurement, one per SLA limit, one for the
    /// comparison with the other commands.
    #[serde(default)]
    pub how_sure: Vec<String>,
    /// The rate the answer gives (req/s), when it gives one.
    #[serde(default)]
    pub rate: Option<f64>,
    /// What is missing when the answer's rate was not confirmed ("the run stopped before its
    /// check"); `None` when it was, or when there is no answer. Tables write it with
    /// [`Answer::status`].
    #[serde(default)]
    pub unconfirmed: Option<String>,
    /// Dollars per million output tokens at the answer's rate, when a GPU-hour price was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_million_output_tokens: Option<f64>,
    /// What each flag the answer changes from the default bought ([`flag_effects`]); empty when
    /// the answer is the default or there is none yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flag_effects: Vec<FlagEffect>,
    /// What the speculative stage found against the best base command, in one line, when it
    /// ran ([`crate::speculative::SpeculativeOutcome::line`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speculative: Option<String>,
}

impl Answer {
    /// A table's status word: `ok` for a confirmed answer, `unconfirmed (what is missing)`
    /// otherwise; `None` when there is no answer.
    pub fn status(&self) -> Option<String> {
        match (&self.unconfirmed, self.rate) {
            (Some(missing), _) => Some(format!("unconfirmed ({missing})")),
            (None, Some(_)) => Some("ok".into()),
            (None, None) => None,
        }
    }
}

/// A rate as every surface writes it: "14.14 req/s".
pub fn rate(value: f64) -> String {
    format!("{value:.2} req/s")
}

/// The scenario's answer: the speculative command when the speculative stage's check beat the
/// best base command, else the base answer, with the speculative stage's line either way.
pub fn answer(facts: &Facts) -> Answer {
    let names = Names::of(facts.records);
    let speculative = facts
        .confirmation
        .and_then(|c| Some((c, c.speculative.as_ref()?)));
    if let Some((c, outcome)) = speculative.filter(|(_, o)| o.beat)
        && let Some(answer) = speculative::answer(facts, c, outcome, &names)
    {
        return answer;
    }
    if let Some(c) = facts.confirmation
        && let Some(outcome) = c.by_cost.as_ref().filter(|o| o.candidate != c.chosen)
        && let Some(answer) = by_cost::answer(facts, c, outcome, &names)
    {
        return answer;
    }
    let mut answer = base_answer(facts, &names);
    answer.speculative = speculative.map(|(c, o)| speculative::line(c, o, &names));
    if let Some(c) = facts.confirmation
        && let Some(outcome) = c.by_cost.as_ref()
    {
        answer.headline.push_str(&by_cost::also_cheapest(outcome));
    }
    answer
}

/// The base stage's answer.
fn base_answer(facts: &Facts, names: &Names) -> Answer {
    let (headline, trial) = match facts.confirmation {
        Some(c) => checked(facts, c, names),
        None => unchecked(facts, names),
    };
    let how_sure = trial.map_or_else(Vec::new, |t| {
        how_sure::sentences(t, facts.confirmation, facts.sla, names)
    });
    let (rate, unconfirmed) = match facts.confirmation {
        Some(c) => checked_rate(c),
        None => unchecked_rate(facts),
    };
    let cost = rate
        .and(trial)
        .zip(facts.gpu_hour_price)
        .and_then(|(t, price)| cost_of(t, price));
    let headline = with_cost(headline, cost.as_ref());
    let flag_effects = match (rate, facts.confirmation) {
        (Some(_), Some(c)) => {
            let standings = standings(facts.records, facts.confirmation, facts.sla, None);
            flag_effects(facts.records, &standings, Some(c.chosen))
        }
        _ => Vec::new(),
    };
    Answer {
        headline,
        how_sure,
        rate,
        unconfirmed,
        cost_per_million_output_tokens: cost.map(|(dollars, _)| dollars),
        flag_effects,
        speculative: None,
    }
}

/// What a million output tokens cost at `trial`'s throughput, in dollars and in words.
fn cost_of(trial: &TrialRecord, price: &crate::cost::GpuPrice) -> Option<(f64, String)> {
    let gpus = price.gpus(&trial.server_flags);
    let price = price.for_command(&trial.server_flags);
    let tokens = trial.metric(crate::metrics::Metric::OutputThroughput)?;
    let dollars = crate::cost::per_million_output_tokens(price, gpus, tokens)?;
    Some((dollars, crate::cost::text(dollars, gpus, price)))
}

/// The headline followed by its cost, when there is one.
fn with_cost(headline: String, cost: Option<&(f64, String)>) -> String {
    match cost {
        Some((_, text)) => format!("{headline} Cost: {text}."),
        None => headline,
    }
}

/// The rate a confirmed run gives, or what its check found when it gives none.
fn checked_rate(c: &Confirmation) -> (Option<f64>, Option<String>) {
    match c.passes_at.or(c.confirmed.then_some(c.rate)) {
        Some(held) => (Some(held), None),
        None => (
            None,
            Some(c.fails_at.map_or_else(
                || "it failed its check".to_string(),
                |f| format!("it failed its check at every rate down to {}", rate(f)),
            )),
        ),
    }
}

/// The trials that checked the search's best `top`: the lowest that failed and the highest that
/// held.
fn checks_of<'a>(
    records: &'a [TrialRecord],
    top: &TrialRecord,
) -> (Option<&'a TrialRecord>, Option<&'a TrialRecord>) {
    let checks: Vec<&TrialRecord> = records
        .iter()
        .filter(|r| {
            top.stage == Stage::Base
                && r.stage == Stage::Confirm
                && r.candidate_id == top.candidate_id
                && decided(r)
        })
        .collect();
    let failed = checks
        .iter()
        .filter(|r| !r.sla_passed)
        .min_by(|a, b| a.requested_qps.total_cmp(&b.requested_qps))
        .copied();
    let held = checks
        .iter()
        .filter(|r| r.sla_passed)
        .max_by(|a, b| a.requested_qps.total_cmp(&b.requested_qps))
        .copied();
    (failed, held)
}

/// The rate an answer without a recorded confirmation gives, and what is missing.
fn unchecked_rate(facts: &Facts) -> (Option<f64>, Option<String>) {
    let records = facts.records;
    let Some(top) = ranking::answer_trial(records, None) else {
        return (None, None);
    };
    let state = facts.state;
    let (missing, held) = match checks_of(records, top) {
        (_, Some(h)) => (
            match state {
                RunState::Running => "checking; the other commands not compared yet",
                RunState::Stopped => "the run stopped during its check",
                RunState::Finished => "the other commands were not compared at that rate",
            }
            .to_string(),
            Some(h.requested_qps),
        ),
        (Some(f), None) => (
            match state {
                RunState::Running => format!("checking: it failed at {}", rate(f.requested_qps)),
                RunState::Stopped => format!(
                    "the run stopped after it failed its check at {}",
                    rate(f.requested_qps)
                ),
                RunState::Finished => format!("it failed its check at {}", rate(f.requested_qps)),
            },
            credible_rate(records, top.stage, top.candidate_id),
        ),
        (None, None) => (
            match state {
                RunState::Running => "not yet checked",
                RunState::Stopped => "the run stopped before its check",
                RunState::Finished => "no check was run",
            }
            .to_string(),
            Some(ranking::credited_rate(top)),
        ),
    };
    (held, Some(missing))
}

/// "holds your SLA (p99 TTFT <= 200 ms)".
fn holds(sla: Option<&Sla>) -> String {
    sla.map_or_else(
        || "holds your SLA".to_string(),
        |s| format!("holds your SLA ({})", s.plain()),
    )
}

/// "a 90-s trial": how long the trial measured (after its warm-up).
fn trial_words(record: &TrialRecord) -> String {
    let seconds = record
        .steady
        .map(|w| w.measured_s)
        .or_else(|| record.metrics.as_ref().map(|m| m.duration))
        .filter(|s| *s > 0.0);
    seconds.map_or_else(
        || "a trial".into(),
        |s| {
            let text = seconds_text(s);
            format!("{} {text}-s trial", article(&text))
        },
    )
}

/// "an" before a number read with a vowel sound ("an 8-s", "an 18-s", "an 80-s"), else "a".
fn article(number: &str) -> &'static str {
    let whole = number.split('.').next().unwrap_or_default();
    let eleven_or_eighteen = matches!(whole, "11" | "18")
        || (whole.len() % 3 == 2 && (whole.starts_with("11") || whole.starts_with("18")));
    if whole.starts_with('8') || eleven_or_eighteen {
        "an"
    } else {
        "a"
    }
}

/// Seconds as people write them: "90", and "0.8" below ten.
fn seconds_text(seconds: f64) -> String {
    if seconds < 9.95 {
        format!("{seconds:.1}")
    } else {
        format!("{seconds:.0}")
    }
}

/// A trial the server decided: measured, not a launch failure or a crash, not a client stall.
fn decided(r: &TrialRecord) -> bool {
    r.failure == crate::record::FailureKind::Trial
        && r.metrics.as_ref().is_some_and(|m| !m.client_limited())
}

/// The highest rate candidate `id` of `stage` held the SLA at that no check refuted: its best
/// passing confirmation trial, or its best passing search trial below every rate where a
/// confirmation trial of it failed.
pub fn credible_rate(records: &[TrialRecord], stage: Stage, id: usize) -> Option<f64> {
    let of = |r: &&TrialRecord| r.candidate_id == id && r.stage.numbered_like(stage);
    let checks = || {
        records
            .iter()
            .filter(of)
            .filter(|r| r.stage.is_check() && decided(r))
    };
    let refuted = checks()
        .filter(|r| !r.sla_passed)
        .map(|r| r.requested_qps)
        .fold(f64::INFINITY, f64::min);
    let checked = checks()
        .filter(|r| r.sla_passed)
        .map(|r| r.requested_qps)
        .reduce(f64::max);
    let searched = ranking::best_passing(
        records
            .iter()
            .filter(of)
            .filter(|r| !r.stage.is_check() && r.requested_qps < refuted),
    )
    .map(ranking::credited_rate);
    match (checked, searched) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Whether a longer check refuted `record`: it met the SLA in the search, but a confirmation trial
/// of the same candidate failed at or below its rate. Such a point is not evidence of a rate the
/// candidate holds, so plots draw it apart and leave it off the frontier.
pub fn refuted(records: &[TrialRecord], record: &TrialRecord) -> bool {
    record.sla_passed
        && !record.stage.is_check()
        && records.iter().any(|r| {
            r.stage.is_check()
                && r.candidate_id == record.candidate_id
                && r.stage.numbered_like(record.stage)
                && r.max_concurrency == record.max_concurrency
                && !r.sla_passed
                && decided(r)
                && r.requested_qps <= record.requested_qps
        })
}

/// "113% more than the default (26.76 req/s)".
fn gain(records: &[TrialRecord], held: f64) -> String {
    match credible_rate(records, Stage::Base, 0) {
        Some(base) if base > 0.0 => {
            let pct = (held / base - 1.0) * 100.0;
            if pct >= 0.5 {
                format!("{pct:.0}% more than the default ({})", rate(base))
            } else if pct > -0.5 {
                format!("as much as the default ({})", rate(base))
            } else {
                format!("less than the default ({})", rate(base))
            }
        }
        _ if records
            .iter()
            .any(|r| r.stage == Stage::Base && r.candidate_id == 0 && r.sla_passed) =>
        {
            "while the default held it at no rate that survived a longer check".into()
        }
        _ => "where the default held it at no rate tried".into(),
    }
}

/// The answer after a confirmation, and the trial behind it.
fn checked<'a>(
    facts: &Facts<'a>,
    c: &Confirmation,
    names: &Names,
) -> (String, Option<&'a TrialRecord>) {
    let records = facts.records;
    let sla = holds(facts.sla);
    let winner = names.quoted(Stage::Base, c.winner);
    let Some(held) = c.passes_at.or(c.confirmed.then_some(c.rate)) else {
        let below = c
            .fails_at
            .map_or(String::new(), |f| format!(" down to {}", rate(f)));
        return (
            format!(
                "No confirmed answer: the search's best, {winner} at {}, failed its check at every rate{below}, and no lower rate held in the search.",
                rate(c.rate)
            ),
            None,
        );
    };
    let trial = ranking::answer_trial(records, Some(c));
    let length = trial.map_or_else(|| "a trial".into(), trial_words);
    let evidence = if trial.is_some_and(|t| t.stage == Stage::Confirm) {
        format!("checked in {length}")
    } else {
        format!("not rechecked: it held in {length} of the search")
    };
    let bracket = c
        .fails_at
        .map_or(String::new(), |f| format!(" (it failed at {})", rate(f)));
    let failed_check = || {
        let check = records.iter().rev().find(|r| {
            r.stage == Stage::Confirm && r.candidate_id == c.winner && r.requested_qps == c.rate
        });
        let length = check.map_or_else(|| "a".into(), |t| trial_words(t).replace(" trial", ""));
        if c.chosen == c.winner {
            format!(" The search's {} failed {length} check.", rate(c.rate))
        } else {
            format!(
                " The search's best, {winner} at {}, failed {length} check.",
                rate(c.rate)
            )
        }
    };
    let headline = if c.chosen != 0 {
        let name = names.quoted(Stage::Base, c.chosen);
        let failed = if c.confirmed {
            String::new()
        } else {
            failed_check()
        };
        format!(
            "Use {name}: it {sla} up to {}{bracket}, {}; {evidence}.{}{failed}",
            rate(held),
            gain(records, held),
            tie(c, names)
        )
    } else {
        let failed = if c.confirmed || c.winner != 0 {
            String::new()
        } else {
            failed_check()
        };
        format!(
            "No change beat the default: it {sla} up to {}{bracket}; {evidence}. {}{failed}",
            rate(held),
            tried(records, c, names)
        )
    };
    (headline, trial)
}

/// " It tied with `--a 1` at 8.00 req/s: no significant difference, and it changes the fewest
/// flags." when other commands held where the answer did.
fn tie(c: &Confirmation, names: &Names) -> String {
    let held = c.contenders.first().is_some_and(|x| x.passed);
    if c.tied_with.is_empty() || !held {
        return String::new();
    }
    let others: Vec<String> = std::iter::once(c.winner)
        .chain(c.tied_with.iter().copied())
        .filter(|id| *id != c.chosen)
        .map(|id| names.quoted(Stage::Base, id))
        .collect();
    let why = if c.chosen == c.winner {
        "the search ranked it first"
    } else {
        "it changes the fewest flags"
    };
    format!(
        " It tied with {} at {}: no significant difference, and {why}.",
        others.join(" and "),
        rate(c.compared_at.unwrap_or(c.rate))
    )
}

/// What was tried when the default is the answer: how many changes, the best of them and what
/// became of it.
fn tried(records: &[TrialRecord], c: &Confirmation, names: &Names) -> String {
    let mut changes: Vec<usize> = records
        .iter()
        .filter(|r| r.stage == Stage::Base && r.candidate_id != 0)
        .map(|r| r.candidate_id)
        .collect();
    changes.sort_unstable();
    changes.dedup();
    let count = match changes.len() {
        0 => return "No change was tried.".into(),
        1 => "1 change".to_string(),
        n => format!("{n} changes"),
    };
    let best = ranking::best_passing(
        records
            .iter()
            .filter(|r| r.stage == Stage::Base && r.candidate_id != 0),
    );
    let Some(best) = best else {
        return format!("Tried {count}; none held the SLA at any rate.");
    };
    let id = best.candidate_id;
    let name = names.quoted(Stage::Base, id);
    let held = c.contenders.first().is_some_and(|x| x.passed);
    let in_tie = |x: usize| x == c.winner || c.tied_with.contains(&x);
    let compared = c.compared_at.unwrap_or(c.rate);
    if held && in_tie(0) && in_tie(id) {
        return format!(
            "Tried {count}; the best, {name}, tied with it at {}: no significant difference, so the default stays.",
            rate(compared)
        );
    }
    if id == c.winner && !held {
        return format!(
            "Tried {count}; the best, {name}, reached {} in the search but failed its check.",
            rate(c.rate)
        );
    }
    let failed_there = c
        .contenders
        .iter()
        .find(|x| {
            x.candidate == id
                && !x.passed
                && !x.class.starts_with("failed at")
                && x.class != "not measured"
        })
        .map_or(String::new(), |_| {
            format!(" and failed at {} in the check", rate(compared))
        });
    match credible_rate(records, Stage::Base, id) {
        Some(r) => format!(
            "Tried {count}; the best, {name}, held it up to {}{failed_there}.",
            rate(r)
        ),
        None => format!("Tried {count}; the best, {name}, failed its check."),
    }
}

/// The answer when no confirmation was recorded, and the trial behind it.
fn unchecked<'a>(facts: &Facts<'a>, names: &Names) -> (String, Option<&'a TrialRecord>) {
    let records = facts.records;
    let sla = holds(facts.sla);
    let Some(top) = ranking::answer_trial(records, None) else {
        return (nothing(facts), None);
    };
    let name = names.quoted(top.stage, top.candidate_id);
    let (failed, held) = checks_of(records, top);
    let during = match facts.state {
        RunState::Running => "Checking, not yet confirmed",
        RunState::Stopped => "Not confirmed: the run stopped during its check",
        RunState::Finished => "Not confirmed",
    };
    match (failed, held) {
        (_, Some(h)) => {
            let failed = failed
                .filter(|f| f.requested_qps > h.requested_qps)
                .map_or(String::new(), |f| {
                    format!(" ({} failed)", rate(f.requested_qps))
                });
            (
                format!(
                    "{during}: {name} {sla} up to {} in {}{failed}; the other commands were not compared at that rate yet.",
                    rate(h.requested_qps),
                    trial_words(h).replace(" trial", " check")
                ),
                Some(h),
            )
        }
        (Some(f), None) => {
            let fallback = credible_rate(records, top.stage, top.candidate_id);
            let behind = fallback.and_then(|p| {
                records.iter().rev().find(|r| {
                    r.candidate_id == top.candidate_id
                        && r.stage == top.stage
                        && r.sla_passed
                        && ranking::credited_rate(r) == p
                })
            });
            let rest = fallback.map_or_else(
                || "; no lower rate held in the search".to_string(),
                |p| format!("; in the search it {sla} up to {}", rate(p)),
            );
            (
                format!(
                    "{during}: {name} failed {} at {}{rest}.",
                    trial_words(f).replace(" trial", " check"),
                    rate(f.requested_qps)
                ),
                behind,
            )
        }
        (None, None) => {
            let lead = match facts.state {
                RunState::Running => "Best so far, not yet checked",
                RunState::Stopped => "Not confirmed: the run stopped before its check",
                RunState::Finished => "Not confirmed: no check was run",
            };
            let held = ranking::credited_rate(top);
            let gain = if top.stage == Stage::Base && top.candidate_id == 0 {
                "no change beat it".to_string()
            } else {
                gain(records, held)
            };
            (
                format!(
                    "{lead}: {name} {sla} up to {} in {} of the search, {gain}.",
                    rate(held),
                    trial_words(top)
                ),
                Some(top),
            )
        }
    }
}

/// When no trial met the SLA: what was measured, or why nothing was.
fn nothing(facts: &Facts) -> String {
    let records = facts.records;
    let measured: Vec<&TrialRecord> = records
        .iter()
        .filter(|r| {
            r.metrics
                .as_ref()
                .is_some_and(|m| m.completed + m.failed > 0)
        })
        .collect();
    let Some(lowest) = measured.iter().map(|r| r.requested_qps).reduce(f64::min) else {
        let launch = records.iter().find(|r| r.is_launch_failure());
        return match (facts.state, launch) {
            (RunState::Running, _) => "Nothing has been measured yet.".into(),
            (_, Some(r)) if records.iter().all(TrialRecord::is_launch_failure) => {
                let cause = r
                    .cause
                    .clone()
                    .or_else(|| r.diagnosis.map(|d| d.name().to_string()))
                    .unwrap_or_else(|| "no cause recorded".into());
                format!("No answer: no server started ({cause}).")
            }
            _ => "No answer: nothing was measured before the run stopped.".into(),
        };
    };
    let sla = facts
        .sla
        .map_or(String::new(), |s| format!(" ({})", s.plain()));
    match facts.state {
        RunState::Running => format!(
            "Nothing has held your SLA{sla} yet; the lowest rate tried so far is {}.",
            rate(lowest)
        ),
        RunState::Stopped => format!(
            "No command held your SLA{sla} at any rate tried before the run stopped, down to {}.",
            rate(lowest)
        ),
        RunState::Finished => format!(
            "No command held your SLA{sla} at any rate tried, down to {}.",
            rate(lowest)
        ),
    }
}

#[cfg(test)]
mod tests;
