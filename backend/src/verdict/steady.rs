//! The steady-state window of a trial: the stop rule that decides, while the load runs, where the
//! warm-up ends ([`shared::steady::mser5`] on the SLA's latencies, with a floor and a cap), which
//! requests are measured, when the measured ones are all done (the rest is cool-down load, sent
//! so that no measured request runs in a draining batch), and whether the rate is unsustainable
//! (requests in flight growing without bound, [`shared::steady::Growth`]).
//!
//! The SLA's own stop rules (certain failure, shown failing, early pass) see only the measured
//! requests. When the measured window ends with an inconclusive verdict that more requests could
//! settle, the window is extended on the same server, under the same load (no new warm-up), up to
//! the point's request cap: a sequential test on steady-state data.

use std::sync::{Arc, Mutex};

use shared::confidence::Decision;
use shared::metrics::Series;
use shared::sla::Sla;
use shared::steady::{self, SteadyWindow, WarmupRule};

use super::assess;
use crate::loadgen::{EarlyEnd, RequestResult, StopRule, StopRules};

/// The settings of a steady-state trial.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The offered rate (requests/s).
    pub rate: f64,
    /// The shortest warm-up, in seconds.
    pub warmup_floor_s: f64,
    /// The longest warm-up, in seconds: where the latencies have not settled by then, the
    /// measured requests start there.
    pub warmup_cap_s: f64,
    /// The measured window's planned length, in seconds.
    pub measure_s: f64,
    /// The longest the measured window may be extended to, in seconds.
    pub max_measure_s: f64,
    /// The SLA and the verdict's confidence.
    pub sla: Sla,
    /// The verdict's confidence.
    pub confidence: f64,
    /// `benchmark.early_stop`.
    pub early_stop: bool,
    /// `benchmark.early_pass` as `(after, margin)`.
    pub early_pass: Option<(f64, f64)>,
    /// The schedule's blocks, in seconds, when every block offers exactly the rate
    /// ([`crate::loadgen::LoadSpec::exact_over_s`]): the measured window then starts on a block's
    /// edge and spans whole blocks, so it offers exactly the rate its record names.
    pub blocks_s: Option<f64>,
    /// Extend an inconclusive window whose estimate is near a limit up to the cap, even when more
    /// requests are not expected to show the verdict at the confidence (a confirmation: a longer
    /// sample near capacity is a truer one, whether or not it ends shown).
    pub extend_while_inconclusive: bool,
}

/// What the rule decided, read by the trial once the load has ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct Decided {
    /// The measured window `[start, end)` in scheduled time, once the warm-up ended.
    pub window: Option<(f64, f64)>,
    /// What decided the warm-up's end.
    pub rule: Option<WarmupRule>,
}

impl Decided {
    /// The record's account of the warm-up and cool-down, from the scheduled times of every
    /// request sent and the time the load stopped.
    pub(crate) fn summary(&self, scheduled: &[f64], stopped_at: f64) -> SteadyWindow {
        let (start, end) = self.window.unwrap_or((stopped_at, stopped_at));
        let (start, end) = (start.min(stopped_at), end.min(stopped_at));
        SteadyWindow {
            warmup_requests: scheduled.iter().filter(|at| **at < start).count() as u64,
            warmup_s: start,
            warmup_rule: self.rule.unwrap_or(WarmupRule::Stopped),
            measured_s: end - start,
            cooldown_requests: scheduled.iter().filter(|at| **at >= end).count() as u64,
        }
    }

    /// Whether a request is one of the measured ones (`None` window: none is).
    pub(crate) fn measures(&self, result: &RequestResult) -> bool {
        self.window
            .is_some_and(|(start, end)| result.scheduled_at >= start && result.scheduled_at < end)
    }
}

/// The stop rule; [`SteadyState::new`] also returns the handle its decisions are read from.
pub(crate) struct SteadyState {
    settings: Settings,
    decided: Arc<Mutex<Decided>>,
    inner: StopRules,
    window: Option<(f64, f64)>,
    in_window: usize,
    every: usize,
    next_check: usize,
    next_growth_check: f64,
}

/// Requests at least this many of which must overlap on average for a warm-up to matter: below
/// it, requests barely share the server and the floor is enough.
const OVERLAP_FOR_WARMUP: f64 = 2.0;

/// The warm-up's floor in request lifetimes: the batch fills within about one lifetime, and
/// the queue it leaves takes about as long again to show.
const FLOOR_LIFETIMES: f64 = 3.0;

/// The shortest window over which the queue's growth is judged, in seconds. Near capacity the
/// batch keeps filling for several of its lengthening lifetimes: with 2 s, a check of the
/// quickstart's best command at 4% below its true rate read its batch filling (in flight 2 -> 42
/// in 3 s) as overload. A rate far beyond capacity breaks its latency limits well before this.
const MIN_GROWTH_WINDOW_S: f64 = 8.0;

/// The lifetime of a request on a server with little load: the shortest scheduled-to-end time of
/// the first [`FIRST_REQUESTS`] requests (an in-flight one counts its age so far, a lower bound
/// of its lifetime, so a batch that has not finished a request yet is not taken for a fast one).
/// The first requests meet an emptier server than later ones, and an overloaded queue does not
/// stretch them. A sustainable queue fills within a few of these.
fn lifetime(finished: &[RequestResult], in_flight: &[f64], now: f64) -> f64 {
    let mut first: Vec<(f64, f64)> = finished
        .iter()
        .map(|r| (r.scheduled_at, r.end_at - r.scheduled_at))
        .chain(in_flight.iter().map(|at| (*at, now - at)))
        .collect();
    first.sort_by(|a, b| a.0.total_cmp(&b.0));
    first
        .into_iter()
        .take(FIRST_REQUESTS)
        .map(|(_, age)| age)
        .reduce(f64::min)
        .unwrap_or(0.0)
}

/// The median scheduled-to-end time of the latest [`RECENT`] requests to finish (`now` when none
/// has: a server that finishes nothing has lifetimes at least that long).
fn recent_lifetime(finished: &[RequestResult], now: f64) -> f64 {
    let mut latest: Vec<&RequestResult> = finished.iter().collect();
    if latest.is_empty() {
        return now;
    }
    latest.sort_by(|a, b| b.end_at.total_cmp(&a.end_at));
    let mut ages: Vec<f64> = latest
        .into_iter()
        .take(RECENT)
        .map(|r| r.end_at - r.scheduled_at)
        .collect();
    let middle = ages.len() / 2;
    *ages.select_nth_unstable_by(middle, f64::total_cmp).1
}

/// How many of the first requests give [`lifetime`].
const FIRST_REQUESTS: usize = 3;

/// How many of the latest warm-up requests [`SteadyState::failing_warmup`] looks at.
const RECENT: usize = 20;

/// The fewest it judges, when the server finishes requests slowly: an overloaded server with
/// long prompts finishes one or two a second, so twenty took 13 s at three times its capacity.
const FEWEST_RECENT: usize = 10;

/// The longest the queue may take to fill before its growth counts as evidence, in seconds (the
/// warm-up's cap: long outputs live 10-15 s, so their queue fills for tens of seconds, and a
/// server that falls far behind shows it sooner in its latencies, [`SteadyState::failing_warmup`]).
const MAX_FILL_S: f64 = 60.0;

/// How often the queue's growth is checked while no request finishes, in seconds.
const GROWTH_CHECK_EVERY_S: f64 = 0.5;

/// The window of growth checks, in seconds (at most; the time since the batch filled before
/// that). A sustainable queue's excursion near capacity does not grow with the window while an
/// overloaded queue's growth does, so a long window tells them apart: 10 s took 10-s bursts at
/// 2-7% below the true rate for overload.
const GROWTH_WINDOW_S: f64 = 30.0;

impl SteadyState {
    /// The rule and the handle its decisions are read from after the run.
    pub(crate) fn new(settings: Settings) -> (SteadyState, Arc<Mutex<Decided>>) {
        let decided = Arc::new(Mutex::new(Decided::default()));
        let every = ((settings.rate * 0.25).round() as usize).clamp(1, 50);
        let rule = SteadyState {
            settings,
            decided: Arc::clone(&decided),
            inner: StopRules::new(),
            window: None,
            in_window: 0,
            every,
            next_check: 1,
            next_growth_check: 0.0,
        };
        (rule, decided)
    }

    fn planned_in(&self, (start, end): (f64, f64)) -> usize {
        ((end - start) * self.settings.rate).ceil().max(1.0) as usize
    }

    /// The sample the SLA's stop rules judge: the window's requests, or for a trial that is
    /// extended while inconclusive near a limit (a confirmation), the longest it may grow to. A
    /// p99 near capacity comes from excursions minutes apart, so at the true rate a 90-s window
    /// holds more than 1% of exceedances about half the time: counted against the planned
    /// window, "certainly over" stopped checks at 3% below the truth (clear landscape, device
    /// run of 2026-12-07) before the extension that would have judged them on three times the
    /// sample.
    fn judged_over(&self, (start, end): (f64, f64)) -> usize {
        let s = &self.settings;
        if s.extend_while_inconclusive {
            self.planned_in((start, start + s.max_measure_s.max(end - start)))
        } else {
            self.planned_in((start, end))
        }
    }

    /// Opens (or widens) the measured window and feeds the SLA's rules the requests already in it.
    fn open(&mut self, window: (f64, f64), finished: &[RequestResult]) {
        let s = &self.settings;
        self.window = Some(window);
        self.inner = super::stop_rules(
            &s.sla,
            self.judged_over(window),
            s.confidence,
            s.early_stop,
            s.early_pass,
        );
        self.in_window = 0;
        for result in finished.iter().filter(|r| inside(r, window)) {
            self.in_window += 1;
            for rule in &mut self.inner {
                // A failure among the requests already finished is found by the next check.
                let _ = rule.observe(result);
            }
        }
        if let Ok(mut decided) = self.decided.lock() {
            decided.window = Some(window);
        }
    }

    /// Where the warm-up ends, if it has: `None` while the latencies are still settling.
    fn warmup_end(
        &self,
        finished: &[RequestResult],
        in_flight: &[f64],
        now: f64,
    ) -> Option<(f64, WarmupRule)> {
        let s = &self.settings;
        let complete_before = in_flight.iter().copied().fold(now, f64::min);
        let mut prefix: Vec<&RequestResult> = finished
            .iter()
            .filter(|r| r.scheduled_at < complete_before)
            .collect();
        prefix.sort_by(|a, b| a.scheduled_at.total_cmp(&b.scheduled_at));
        let typical = lifetime(finished, in_flight, now);
        let floor = s
            .warmup_floor_s
            .max(FLOOR_LIFETIMES * typical)
            .min(s.warmup_cap_s);
        if now < floor {
            return None;
        }
        let cut = self.mser_cut(&prefix);
        let at = |cut: usize| prefix.get(cut).map_or(floor, |r| r.scheduled_at);
        match cut {
            Some(cut) if at(cut) > floor => Some((at(cut).min(s.warmup_cap_s), WarmupRule::Mser5)),
            Some(_) => Some((floor, WarmupRule::Floor)),
            None if s.rate * typical < OVERLAP_FOR_WARMUP && !prefix.is_empty() => {
                Some((floor, WarmupRule::Floor))
            }
            None if now >= s.warmup_cap_s => Some((s.warmup_cap_s, WarmupRule::Cap)),
            None => None,
        }
    }

    /// The MSER-5 truncation point over the SLA's latency series (the latest of them), in
    /// requests of `prefix`; `None` while any series has not settled.
    fn mser_cut(&self, prefix: &[&RequestResult]) -> Option<usize> {
        let mut series: Vec<Series> = self
            .settings
            .sla
            .limits
            .iter()
            .map(|l| match l.series() {
                Series::Itl => Series::Tpot,
                other => other,
            })
            .collect();
        series.sort_by_key(|s| format!("{s:?}"));
        series.dedup();
        if series.is_empty() {
            series.push(Series::E2eFromScheduled);
        }
        let ok: Vec<&RequestResult> = prefix
            .iter()
            .copied()
            .filter(|r| r.error.is_none())
            .collect();
        let mut cut = 0;
        for one in series {
            let values = assess::series_values(one, &ok);
            let at = steady::mser5(&values)?;
            cut = cut.max(at);
        }
        // The cut counts successful requests; map it back onto the prefix.
        let boundary = ok.get(cut).map_or(f64::INFINITY, |r| r.scheduled_at);
        Some(
            prefix
                .iter()
                .take_while(|r| r.scheduled_at < boundary)
                .count(),
        )
    }

    /// Fails a rate whose queue grows without bound.
    fn unsustainable(
        &self,
        finished: &[RequestResult],
        in_flight: &[f64],
        now: f64,
    ) -> Option<EarlyEnd> {
        let rate = self.settings.rate;
        // The batch fills during the first lifetimes of a request, at the lifetime it settles
        // at (longer than an idle server's): growth then is no evidence. A queue that never
        // settles stretches every lifetime, so the wait is capped.
        let filled = self
            .settings
            .warmup_floor_s
            .max(FLOOR_LIFETIMES * recent_lifetime(finished, now))
            .min(MAX_FILL_S);
        let window = (now - filled).min(GROWTH_WINDOW_S);
        if window < MIN_GROWTH_WINDOW_S {
            return None;
        }
        let mut scheduled: Vec<f64> = finished.iter().map(|r| r.scheduled_at).collect();
        let mut ended: Vec<Option<f64>> = finished.iter().map(|r| Some(r.end_at)).collect();
        scheduled.extend_from_slice(in_flight);
        ended.extend(in_flight.iter().map(|_| None));
        let growth = steady::growth(&scheduled, &ended, now, window);
        growth.unbounded(rate, window).then(|| EarlyEnd {
            reason: format!(
                "unsustainable: requests in flight grew from {} to {} in {window:.0} s; the server completed {:.2} of the {rate:.2} req/s offered",
                growth.before, growth.now, growth.completed_per_s
            ),
            passed: false,
            complete: false,
        })
    }

    /// Fails a rate whose warm-up already breaks a percentile limit beyond doubt: of the latest
    /// [`RECENT`] requests to finish, at least half (of a median limit, four fifths) exceeded it;
    /// of [`FEWEST_RECENT`] to [`RECENT`], four fifths (all). Latencies from an idle start only rise, so a warm-up this bad does
    /// not need measuring to the end of the cap.
    fn failing_warmup(&self, finished: &[RequestResult]) -> Option<EarlyEnd> {
        // The latest to finish: on a server falling behind, the earliest requests can stay in
        // flight for long, so a complete prefix in schedule order would wait on them. Those that
        // finish first are the fast ones, so this can only understate a failure.
        if finished.len() < FEWEST_RECENT {
            return None;
        }
        let count = finished.len().min(RECENT);
        let mut prefix: Vec<&RequestResult> = finished.iter().collect();
        prefix.sort_by(|a, b| a.end_at.total_cmp(&b.end_at));
        let recent = &prefix[prefix.len() - count..];
        for limit in &self.settings.sla.limits {
            let Some(q) = limit.stat.quantile() else {
                continue;
            };
            let values = assess::series_values(limit.series(), recent);
            let over = values.iter().filter(|v| **v > limit.max_ms).count();
            // Half of twenty beyond a p90+ limit (four fifths for a median); from fewer, four
            // fifths (all of them for a median).
            let needed = match (count >= RECENT, q >= 0.9) {
                (true, true) => count / 2,
                (true, false) | (false, true) => count * 4 / 5,
                (false, false) => count,
            };
            if over >= needed.max(1) {
                return Some(EarlyEnd {
                    reason: format!(
                        "the warm-up already fails: {over} of the latest {count} requests broke {}",
                        limit.plain()
                    ),
                    passed: false,
                    complete: false,
                });
            }
        }
        None
    }

    /// The measured window is done: extend it when its verdict is inconclusive and more requests
    /// could settle it, else end the run.
    fn window_done(&mut self, finished: &[RequestResult], window: (f64, f64)) -> Option<EarlyEnd> {
        let s = &self.settings;
        let measured: Vec<RequestResult> = finished
            .iter()
            .filter(|r| inside(r, window))
            .cloned()
            .collect();
        let verdict = assess::assess(&s.sla, &measured, s.confidence, 1);
        let length = window.1 - window.0;
        let longer = (length + s.measure_s).min(s.max_measure_s);
        let cap = (longer * s.rate).ceil() as u64;
        if verdict.decision == Decision::Inconclusive
            && longer > length + 1e-9
            && ((s.extend_while_inconclusive && near_a_limit(&verdict))
                || assess::extension_can_settle(&verdict, &s.sla, &measured, cap))
        {
            self.open((window.0, window.0 + longer), finished);
            return None;
        }
        Some(EarlyEnd {
            reason: "every measured request finished".into(),
            passed: false,
            complete: true,
        })
    }
}

/// How close to a ceiling an inconclusive confirmation's estimate must come for the window to be
/// extended: a p99 TPOT of 8.7 ms against 20 needs no longer sample, one of 15.6 ms may well be a
/// window that missed the queue's excursions.
const NEAR_LIMIT: f64 = 0.7;

/// Whether an inconclusive limit's estimate is within [`NEAR_LIMIT`] of its ceiling (or a floor's
/// estimate is not clear of it).
fn near_a_limit(verdict: &shared::verdict::Verdict) -> bool {
    verdict.checks.iter().any(|check| {
        check.decision == Decision::Inconclusive
            && check.estimate.is_none_or(|estimate| {
                if check.floor {
                    estimate < 1.0
                } else {
                    estimate >= NEAR_LIMIT * check.limit
                }
            })
    })
}

fn inside(result: &RequestResult, (start, end): (f64, f64)) -> bool {
    result.scheduled_at >= start && result.scheduled_at < end
}

impl StopRule for SteadyState {
    fn observe(&mut self, result: &RequestResult) -> Option<EarlyEnd> {
        let window = self.window?;
        if !inside(result, window) {
            return None;
        }
        self.in_window += 1;
        self.inner.iter_mut().find_map(|rule| rule.observe(result))
    }

    fn due(&self, finished: usize) -> bool {
        finished >= self.next_check || self.inner.iter().any(|r| r.due(self.in_window))
    }

    fn ticks(&self) -> bool {
        true
    }

    fn check(
        &mut self,
        finished: &[RequestResult],
        in_flight: &[f64],
        now: f64,
    ) -> Option<EarlyEnd> {
        if finished.len() >= self.next_check || now >= self.next_growth_check {
            self.next_check = finished.len() + self.every;
            self.next_growth_check = now + GROWTH_CHECK_EVERY_S;
            if let Some(end) = self.unsustainable(finished, in_flight, now) {
                return Some(end);
            }
            if self.window.is_none()
                && let Some(end) = self.failing_warmup(finished)
            {
                return Some(end);
            }
        }
        let window = match self.window {
            Some(window) => window,
            None => {
                let (start, rule) = self.warmup_end(finished, in_flight, now)?;
                if let Ok(mut decided) = self.decided.lock() {
                    decided.rule = Some(rule);
                }
                let start = match self.settings.blocks_s {
                    Some(block) if block > 0.0 => (start / block - 1e-9).ceil() * block,
                    _ => start,
                };
                let window = (start, start + self.settings.measure_s);
                self.open(window, finished);
                window
            }
        };
        if self.inner.iter().any(|r| r.due(self.in_window)) {
            let measured: Vec<RequestResult> = finished
                .iter()
                .filter(|r| inside(r, window))
                .cloned()
                .collect();
            let pending: Vec<f64> = in_flight
                .iter()
                .copied()
                .filter(|at| *at >= window.0 && *at < window.1)
                .collect();
            for rule in &mut self.inner {
                if rule.due(measured.len())
                    && let Some(end) = rule.check(&measured, &pending, now)
                {
                    return Some(end);
                }
            }
        }
        let measured_pending = in_flight.iter().any(|at| *at < window.1);
        if now >= window.1 && !measured_pending {
            return self.window_done(finished, window);
        }
        None
    }
}
