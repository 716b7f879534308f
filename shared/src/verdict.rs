//! A trial's SLA verdict with how sure it is: per limit, the measured statistic, its confidence
//! interval and whether the sample shows the limit holds, is broken, or cannot tell; and the
//! verdict of the whole SLA. Computed by the backend from the trial's requests
//! (`backend/src/verdict/assess.rs`) with the bounds of [`crate::confidence`].

use serde::{Deserialize, Serialize};

use crate::confidence::Decision;

/// One SLA limit, judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitCheck {
    /// The measured value's name (`p99_ttft_from_scheduled_ms`, `success_rate`).
    pub name: String,
    /// The limit (ms, or the success-rate floor).
    pub limit: f64,
    /// Whether the limit is a floor (success rate) rather than a ceiling.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub floor: bool,
    /// The point estimate.
    pub estimate: Option<f64>,
    /// Lower end of its confidence interval, when the sample bounds it.
    pub lower: Option<f64>,
    /// Upper end of its confidence interval, when the sample bounds it.
    pub upper: Option<f64>,
    /// What the sample shows.
    pub decision: Decision,
    /// How many independent requests the sample is worth when successive latencies cluster
    /// (requests that shared a congested moment move together): the sample size divided by
    /// [`shared::confidence::clustering`](crate::confidence::clustering). The bounds and the
    /// decision rest on it. Absent when the sample counts in full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_requests: Option<f64>,
}

impl LimitCheck {
    /// "p99_ttft_ms 534.2 (95% CI 480.1-610.0) <= 1000": the estimate, its interval and the limit.
    pub fn describe(&self, confidence: f64) -> String {
        let number = |v: Option<f64>| v.map_or("?".into(), |v| format!("{v:.1}"));
        let interval = match (self.lower, self.upper) {
            (None, None) => String::new(),
            (lower, upper) => format!(
                " ({:.0}% CI {}-{})",
                confidence * 100.0,
                number(lower),
                number(upper)
            ),
        };
        let relation = if self.floor { ">=" } else { "<=" };
        let effective = self.effective_requests.map_or(String::new(), |n| {
            format!(" (worth {n:.0} independent requests)")
        });
        format!(
            "{} {}{interval} {relation} {}{effective}",
            self.name,
            number(self.estimate),
            self.limit
        )
    }

    /// The limit's name for people: `p99_ttft_from_scheduled_ms` is "p99 TTFT (from scheduled)",
    /// `success_rate` is "success rate".
    pub fn title(&self) -> String {
        let base = self.name.trim_end_matches("_ms");
        let scheduled = base.contains("_from_scheduled");
        let base = base.replace("_from_scheduled", "");
        let mut words: Vec<String> = base
            .split('_')
            .map(|w| match w {
                "ttft" | "tpot" | "itl" | "e2e" | "e2el" => w.to_uppercase(),
                other => other.to_string(),
            })
            .collect();
        if scheduled {
            words.push("(from scheduled)".into());
        }
        words.join(" ")
    }

    /// The headroom to the limit: "p99 TTFT 534 ms of 1000 ms (53%)", "success rate 100% (at
    /// least 99%)".
    pub fn headroom(&self) -> String {
        let title = self.title();
        match (self.floor, self.estimate) {
            (_, None) => format!("{title}: not measured"),
            (true, Some(v)) => format!(
                "{title} {:.1}% (at least {:.1}%)",
                v * 100.0,
                self.limit * 100.0
            ),
            (false, Some(v)) => {
                let share = if self.limit > 0.0 {
                    format!(" ({:.0}%)", v / self.limit * 100.0)
                } else {
                    String::new()
                };
                let digits = if self.limit < 100.0 { 1 } else { 0 };
                format!(
                    "{title} {v:.digits$} ms of {:.digits$} ms{share}",
                    self.limit
                )
            }
        }
    }

    /// Whether the point estimate meets the limit.
    pub fn estimate_holds(&self) -> bool {
        match self.estimate {
            Some(value) if self.floor => value >= self.limit,
            Some(value) => value <= self.limit,
            None => false,
        }
    }
}

/// The verdict of one trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Pass when every limit is shown to hold, fail when one is shown broken, else inconclusive.
    pub decision: Decision,
    /// Confidence level of every bound (e.g. 0.95).
    pub confidence: f64,
    /// Requests the verdict rests on.
    pub requests: u64,
    /// How many times the trial was run to get them (1 unless an inconclusive point was extended).
    pub replications: u32,
    /// Each limit.
    pub checks: Vec<LimitCheck>,
}

impl Verdict {
    /// Combines the limits' decisions: any fail fails, all pass passes, else inconclusive.
    pub fn combine(checks: &[LimitCheck]) -> Decision {
        if checks.iter().any(|c| c.decision == Decision::Fail) {
            Decision::Fail
        } else if checks.iter().all(|c| c.decision == Decision::Pass) {
            Decision::Pass
        } else {
            Decision::Inconclusive
        }
    }

    /// Whether the point estimates meet every limit (how an inconclusive point is decided once
    /// more requests cannot settle it).
    pub fn estimates_hold(&self) -> bool {
        self.checks.iter().all(LimitCheck::estimate_holds)
    }

    /// The verdict class for tables: `pass`, `fail`, `pass (inconclusive)`, `fail (inconclusive)`.
    pub fn class(&self) -> &'static str {
        match (self.decision, self.estimates_hold()) {
            (Decision::Pass, _) => "pass",
            (Decision::Fail, _) => "fail",
            (Decision::Inconclusive, true) => "pass (inconclusive)",
            (Decision::Inconclusive, false) => "fail (inconclusive)",
        }
    }

    /// Every limit described, `; `-separated.
    pub fn describe(&self) -> String {
        self.checks
            .iter()
            .map(|c| c.describe(self.confidence))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// One candidate re-measured by the confirmation stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contender {
    /// Candidate index (base stage).
    pub candidate: usize,
    /// `winner`, `runner-up` or `baseline`.
    pub role: String,
    /// Whether it met the SLA at `Confirmation::compared_at` on re-measurement.
    pub passed: bool,
    /// Its verdict class there (`pass`, `fail (inconclusive)`, ...).
    pub class: String,
}

/// Where the answer's command's true SLA-limited rate most likely lies: around the rate it held
/// and the lowest rate it failed in checks, widened by margins measured on the verdict benchmark
/// so that the stated share of answers' ranges held their truth there (see
/// [`crate::decision::likely_range`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LikelyRange {
    /// The range's lower end (req/s).
    pub low: f64,
    /// Its upper end (req/s); `None` when nothing failed above the rate held.
    pub high: Option<f64>,
    /// The share of the benchmark's answers whose true rate fell in their range (0.9).
    pub level: f64,
}

impl LikelyRange {
    /// "likely 23.0-26.7 req/s (90% range)", or "likely above 23.0 req/s (90% range)".
    pub fn text(&self) -> String {
        let level = (self.level * 100.0).round();
        match self.high {
            Some(high) => format!(
                "likely {:.1}-{:.1} req/s ({level:.0}% range)",
                self.low, high
            ),
            None => format!("likely above {:.1} req/s ({level:.0}% range)", self.low),
        }
    }
}

/// What the confirmation stage found for one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The winning rate (req/s): the search's best, which the winner was re-measured at first.
    pub rate: f64,
    /// Its concurrency cap.
    pub max_concurrency: Option<u64>,
    /// The candidate the search ranked first.
    pub winner: usize,
    /// The answer after confirmation (the baseline or the simpler command when the top are tied).
    pub chosen: usize,
    /// Whether the winner met the SLA again at its rate.
    pub confirmed: bool,
    /// Contenders that also met the SLA at `compared_at`: no significant difference.
    pub tied_with: Vec<usize>,
    /// The rate the runner-up and the baseline were measured at: the highest rate the winner met
    /// the SLA at in a confirmation trial (the winning rate, or where its step-down held), else
    /// the winning rate. `None` in records from before it was kept: the winning rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compared_at: Option<f64>,
    /// Every contender.
    pub contenders: Vec<Contender>,
    /// The highest rate the answer's command (`chosen`) is credibly known to meet the SLA at: the
    /// winning rate when confirmed, the rate its step-down held, else the highest rate below it
    /// that passed in the search (`None`: none did); for another contender, the rate it was
    /// compared at.
    pub passes_at: Option<f64>,
    /// The lowest rate above `passes_at` at which the answer's command failed (`None`: none
    /// failed).
    pub fails_at: Option<f64>,
    /// Where the answer's true rate most likely lies (absent in records from before it was kept,
    /// and when nothing held).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likely: Option<LikelyRange>,
    /// In words.
    pub note: String,
    /// When the trial the answer rests on met a limit only on its estimate, not at the verdict's
    /// confidence: which limit, what the trial was worth and what showing it would take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_shown: Option<String>,
    /// The speculative stage's outcome against this answer, when the stage ran
    /// ([`crate::speculative`]): when it beat it, the answer is the speculative command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speculative: Option<SpeculativeOutcome>,
    /// With `benchmark.rank_by: cost`, the cheapest command per token among those a long check
    /// held ([`crate::cost_rank`]); when it is not `chosen`, it is the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_cost: Option<CostOutcome>,
}

/// The cost ranking's outcome: the cheapest command per million output tokens at a rate a long
/// check held, against the fastest (the rate answer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostOutcome {
    /// The cheapest command (base numbering).
    pub candidate: usize,
    /// The highest rate it held in a check.
    pub rate: f64,
    /// Its dollars per million output tokens there.
    pub cost: f64,
    /// The lowest rate above `rate` at which it failed a check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fails_at: Option<f64>,
    /// The fastest command (the rate answer), its rate and cost.
    pub fastest: usize,
    /// See [`CostOutcome::fastest`].
    pub fastest_rate: f64,
    /// See [`CostOutcome::fastest`].
    pub fastest_cost: f64,
    /// The other commands checked for cost (cheaper than the fastest at their search rates).
    pub checked: Vec<usize>,
}

/// The speculative stage's outcome against the best base command's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeculativeOutcome {
    /// The speculative command checked (the speculative stage's numbering); `None` when none
    /// held the SLA in the speculative search.
    pub candidate: Option<usize>,
    /// The highest rate it held in a check.
    pub held: Option<f64>,
    /// The lowest rate above `held` at which it failed a check.
    pub fails_at: Option<f64>,
    /// The best base command's answer, which it had to beat.
    pub base_rate: f64,
    /// Whether it beat it: it held at least a step (5%) above it in a check of the same length.
    pub beat: bool,
    /// The best rate it held in the speculative search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub searched: Option<f64>,
    /// How many speculative commands the stage searched.
    pub tried: usize,
}

impl Confirmation {
    /// The note, followed by what keeps the answer from being shown, when something does.
    pub fn full_note(&self) -> String {
        match &self.not_shown {
            Some(why) => format!("{}. {why}", self.note),
            None => self.note.clone(),
        }
    }

    /// When another contender met the SLA where the winner held: "tie: no significant difference
    /// between cand 1 and cand 0 at 16.69 req/s; the answer is cand 0 (the baseline)".
    pub fn tie_text(&self) -> Option<String> {
        self.tie_text_named(|c| format!("cand {c}"))
    }

    /// [`Confirmation::tie_text`] with each candidate named by `name` (its flags, on outward
    /// surfaces).
    pub fn tie_text_named(&self, name: impl Fn(usize) -> String) -> Option<String> {
        let held = self.contenders.first().is_some_and(|c| c.passed);
        if self.tied_with.is_empty() || !held {
            return None;
        }
        let names: Vec<String> = std::iter::once(self.winner)
            .chain(self.tied_with.iter().copied())
            .map(&name)
            .collect();
        let (last, rest) = names.split_last()?;
        let why = if self.chosen == 0 {
            "the baseline"
        } else if self.chosen == self.winner {
            "the search's winner, with no more changed flags than the others"
        } else {
            "the command with the fewest changed flags"
        };
        Some(format!(
            "tie: no significant difference between {} and {last} at {:.2} req/s; the answer is {} ({why})",
            rest.join(", "),
            self.compared_at.unwrap_or(self.rate),
            name(self.chosen)
        ))
    }

    /// "8.13 req/s (passes at 8.13, fails at 9.00)" style interval text for the answer's rate.
    pub fn interval_text(&self) -> String {
        let low = match (self.confirmed, self.passes_at) {
            // Another contender's interval: the winner's rate is not its story.
            (_, Some(p)) if self.chosen != self.winner => format!("passes at {p:.2}"),
            (true, _) => format!("passes at {:.2}", self.rate),
            (false, Some(p)) => format!("{:.2} not confirmed; passes at {p:.2}", self.rate),
            (false, None) => match self.fails_at {
                Some(f) if f < self.rate => format!(
                    "{:.2} not confirmed; it failed down to {f:.2} in longer trials, and no lower rate was measured",
                    self.rate
                ),
                _ => format!("{:.2} not confirmed", self.rate),
            },
        };
        if !self.confirmed && self.passes_at.is_none() {
            return low;
        }
        let low = match &self.not_shown {
            Some(_) => format!("{low} on its estimate, not shown at the confidence level"),
            None => low,
        };
        let high = self
            .fails_at
            .map_or("no failure above it in the searched range".into(), |f| {
                format!("fails at {f:.2}")
            });
        let separator = if self.not_shown.is_some() { "; " } else { ", " };
        format!("{low}{separator}{high}")
    }
}

/// Requests an independent sample needs, with none over the limit, to show that at most
/// `allowed_share` exceed it at `confidence` (299 for a p99 at 95%).
pub fn requests_to_show(allowed_share: f64, confidence: f64) -> f64 {
    ((1.0 - confidence).ln() / (1.0 - allowed_share).ln()).ceil()
}

/// "p99 TPOT is not shown at 95%: the 30-s trial was worth 17 independent requests (...)": what
/// keeps a passing trial's verdict from being sure, for the answer's interval; `None` when every
/// limit is shown to hold or one does not hold even on its estimate.
pub fn not_shown(verdict: &Verdict, trial_seconds: f64) -> Option<String> {
    use crate::confidence::Decision;
    let open: Vec<&LimitCheck> = verdict
        .checks
        .iter()
        .filter(|c| c.decision != Decision::Pass)
        .collect();
    if open.is_empty() || !open.iter().all(|c| c.estimate_holds()) {
        return None;
    }
    let confidence = verdict.confidence;
    let parts: Vec<String> = open
        .iter()
        .map(|check| {
            let worth = check.effective_requests.unwrap_or(verdict.requests as f64);
            let unit = if check.name.contains("itl") {
                "token gaps"
            } else {
                "requests"
            };
            // With none over the limit, a sample needs this many independent values to show it;
            // with some over it, more.
            let need = quantile_share(&check.name).map(|s| requests_to_show(s, confidence));
            let longer = match need {
                Some(need) if worth > 0.0 && worth < need && trial_seconds > 0.0 => format!(
                    "; showing it takes at least {need:.0}, a trial of at least {:.0} s",
                    trial_seconds * need / worth
                ),
                _ => String::new(),
            };
            format!(
                "{} is not shown at {:.0}% confidence: the trial was worth {worth:.0} independent {unit}{longer}",
                check.title(),
                confidence * 100.0
            )
        })
        .collect();
    Some(format!(
        "{} (latencies of concurrent requests move together; benchmark.confirm_trial_seconds sets the confirmation's length)",
        parts.join("; ")
    ))
}

/// The share of requests a percentile limit lets exceed it: `p99_...` → 0.01.
fn quantile_share(name: &str) -> Option<f64> {
    crate::sla::Stat::of_metric(name)?
        .quantile()
        .map(|q| 1.0 - q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(decision: Decision, estimate: f64) -> LimitCheck {
        LimitCheck {
            name: "p99_ttft_ms".into(),
            limit: 100.0,
            floor: false,
            estimate: Some(estimate),
            lower: Some(estimate * 0.9),
            upper: None,
            decision,
            effective_requests: None,
        }
    }

    #[test]
    fn an_answer_passing_on_its_estimate_says_what_showing_it_takes() {
        assert_eq!(requests_to_show(0.01, 0.95), 299.0);
        let mut p99 = check(Decision::Inconclusive, 90.0);
        p99.name = "p99_tpot_ms".into();
        p99.effective_requests = Some(20.0);
        let verdict = Verdict {
            decision: Decision::Inconclusive,
            confidence: 0.95,
            requests: 600,
            replications: 1,
            checks: vec![p99.clone(), check(Decision::Pass, 10.0)],
        };
        let text = not_shown(&verdict, 30.0).expect("not shown");
        assert!(text.starts_with("p99 TPOT is not shown at 95% confidence: the trial was worth 20 independent requests; showing it takes at least 299, a trial of at least 448 s"), "{text}");
        // A sample already worth more than a clean one needs is open because of its slow
        // requests: no length is promised.
        let mut worth_more = p99.clone();
        worth_more.effective_requests = Some(400.0);
        let open = Verdict {
            checks: vec![worth_more],
            ..verdict.clone()
        };
        let text = not_shown(&open, 90.0).expect("not shown");
        assert!(!text.contains("showing it takes"), "{text}");
        // A limit broken on its estimate is a failure, not an open question.
        p99.estimate = Some(150.0);
        let failing = Verdict {
            checks: vec![p99],
            ..verdict.clone()
        };
        assert_eq!(not_shown(&failing, 30.0), None);
        let shown = Verdict {
            checks: vec![check(Decision::Pass, 10.0)],
            ..verdict
        };
        assert_eq!(not_shown(&shown, 30.0), None);
    }

    #[test]
    fn a_tie_is_named_and_the_interval_is_the_answers_own() {
        let contender = |candidate: usize, passed: bool| Contender {
            candidate,
            role: String::new(),
            passed,
            class: String::new(),
        };
        let stepped_tie = Confirmation {
            rate: 22.37,
            max_concurrency: None,
            winner: 1,
            chosen: 0,
            confirmed: false,
            tied_with: vec![0],
            compared_at: Some(16.69),
            contenders: vec![contender(1, true), contender(0, true)],
            passes_at: Some(16.69),
            fails_at: Some(23.06),
            likely: None,
            note: String::new(),
            not_shown: None,
            speculative: None,
            by_cost: None,
        };
        assert_eq!(
            stepped_tie.tie_text().as_deref(),
            Some(
                "tie: no significant difference between cand 1 and cand 0 at 16.69 req/s; the answer is cand 0 (the baseline)"
            )
        );
        assert_eq!(
            stepped_tie.interval_text(),
            "passes at 16.69, fails at 23.06",
            "the baseline's interval, without the winner's unconfirmed rate"
        );
        let overturned = Confirmation {
            contenders: vec![contender(1, false), contender(2, true)],
            tied_with: vec![2],
            chosen: 2,
            ..stepped_tie.clone()
        };
        assert_eq!(
            overturned.tie_text(),
            None,
            "it held where the winner did not"
        );
        let winner_answers = Confirmation {
            chosen: 1,
            tied_with: vec![],
            ..stepped_tie
        };
        assert_eq!(winner_answers.tie_text(), None);
        assert!(
            winner_answers
                .interval_text()
                .starts_with("22.37 not confirmed; passes at 16.69")
        );
    }

    #[test]
    fn decisions_combine_and_describe() {
        let pass = check(Decision::Pass, 50.0);
        let open = check(Decision::Inconclusive, 90.0);
        let fail = check(Decision::Fail, 150.0);
        assert_eq!(
            Verdict::combine(&[pass.clone(), open.clone()]),
            Decision::Inconclusive
        );
        assert_eq!(Verdict::combine(&[pass.clone(), fail]), Decision::Fail);
        assert_eq!(Verdict::combine(&[pass]), Decision::Pass);
        assert_eq!(
            open.describe(0.95),
            "p99_ttft_ms 90.0 (95% CI 81.0-?) <= 100"
        );
        let verdict = Verdict {
            decision: Decision::Inconclusive,
            confidence: 0.95,
            requests: 60,
            replications: 1,
            checks: vec![open],
        };
        assert_eq!(verdict.class(), "pass (inconclusive)");
        let check = LimitCheck {
            name: "p99_ttft_from_scheduled_ms".into(),
            limit: 1000.0,
            floor: false,
            estimate: Some(534.2),
            lower: None,
            upper: None,
            decision: Decision::Pass,
            effective_requests: None,
        };
        assert_eq!(check.title(), "p99 TTFT (from scheduled)");
        assert_eq!(
            check.headroom(),
            "p99 TTFT (from scheduled) 534 ms of 1000 ms (53%)"
        );
        let rate = LimitCheck {
            name: "success_rate".into(),
            limit: 0.99,
            floor: true,
            estimate: Some(1.0),
            ..check
        };
        assert_eq!(rate.headroom(), "success rate 100.0% (at least 99.0%)");
    }
}
