//! A scripted [`Bench`] for the session's unit tests: every candidate has a rate it truly holds
//! and a (higher or equal) rate its short search trials appear to hold, may fail to launch (out
//! of memory) or crash above a rate. Its trials are built from synthetic requests whose p99s
//! cross the test config's limits (p99 TTFT 250 ms, p99 TPOT 20 ms) at the scripted rate, and are
//! judged by the real metrics and verdict code, so the session's walk, records, resume,
//! confirmation and answer run exactly as with a real server, in milliseconds.

use std::collections::HashSet;
use std::sync::Mutex;

use futures_util::future::BoxFuture;

use shared::flags::FlagMap;
use shared::record::{Stage, TrialRecord};

use super::bench::Bench;
use super::server::Live;
use super::trial::{self, TrialId};
use super::{Ctx, ScenarioState};
use crate::launcher::LaunchError;
use crate::loadgen::RequestResult;

/// What one candidate does.
#[derive(Debug, Clone, Copy)]
pub(super) struct Script {
    /// The highest rate a confirmation (long) trial holds.
    pub holds: f64,
    /// The highest rate a search (short) trial holds: short windows miss the queue's excursions.
    pub search_holds: f64,
    /// The server runs out of memory at start.
    pub oom_at_launch: bool,
    /// The server crashes during a trial above this rate.
    pub crashes_above: Option<f64>,
}

impl Script {
    /// A candidate that holds `rate` in every trial.
    pub(super) fn holds(rate: f64) -> Script {
        Script {
            holds: rate,
            search_holds: rate,
            oom_at_launch: false,
            crashes_above: None,
        }
    }

    /// A candidate whose search trials hold `search` while long trials hold only `holds`.
    pub(super) fn optimistic(search: f64, holds: f64) -> Script {
        Script {
            search_holds: search,
            ..Script::holds(holds)
        }
    }
}

/// One thing the session asked of the bench.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Call {
    /// A launch of candidate `.1` in stage `.0`.
    Launch(Stage, usize),
    /// A trial of candidate `.1` at rate `.2` in stage `.0`.
    Measure(Stage, usize, f64),
}

/// The scripted bench.
pub(super) struct ScriptedBench {
    scripts: Vec<Script>,
    /// Stops the run (as SIGINT does) when this many trials have been measured.
    interrupt: Option<(usize, crate::cancel::CancelSender)>,
    calls: Mutex<Vec<Call>>,
    /// Base URLs of servers that crashed.
    crashed: Mutex<HashSet<String>>,
}

impl ScriptedBench {
    /// One script per candidate, in the config's order.
    pub(super) fn new(scripts: Vec<Script>) -> ScriptedBench {
        ScriptedBench {
            scripts,
            interrupt: None,
            calls: Mutex::new(Vec::new()),
            crashed: Mutex::new(HashSet::new()),
        }
    }

    /// The same bench, sending `stop` (the run's signal) instead of measuring the trial after
    /// `measured` trials.
    pub(super) fn interrupted_after(
        mut self,
        measured: usize,
        stop: crate::cancel::CancelSender,
    ) -> ScriptedBench {
        self.interrupt = Some((measured, stop));
        self
    }

    /// Everything asked so far, in order.
    pub(super) fn calls(&self) -> Vec<Call> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn note(&self, call: Call) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
    }

    fn script(&self, index: usize) -> Script {
        self.scripts
            .get(index)
            .copied()
            .unwrap_or(Script::holds(1.0))
    }
}

impl Bench for ScriptedBench {
    fn launch<'a, 'c>(
        &'a self,
        _ctx: &'a mut Ctx<'c>,
        stage: Stage,
        index: usize,
        _flags: &'a FlagMap,
    ) -> BoxFuture<'a, Result<Live, LaunchError>> {
        self.note(Call::Launch(stage, index));
        let script = self.script(index);
        Box::pin(async move {
            if script.oom_at_launch {
                return Err(LaunchError::ExitedEarly {
                    status: "exit status: 1".into(),
                    log_tail:
                        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
                            .into(),
                });
            }
            Ok(Live {
                server: None,
                followers: Vec::new(),
                base_url: format!("fake://{stage}/{index}"),
                port: None,
                model: "fake".into(),
            })
        })
    }

    fn measure<'a, 'c>(
        &'a self,
        ctx: &'a mut Ctx<'c>,
        live: &'a Live,
        _state: &'a ScenarioState,
        id: &'a TrialId<'a>,
    ) -> BoxFuture<'a, anyhow::Result<Option<TrialRecord>>> {
        let measured = self
            .calls()
            .iter()
            .filter(|c| matches!(c, Call::Measure(..)))
            .count();
        if let Some((after, stop)) = &self.interrupt
            && measured >= *after
        {
            let _ = stop.send(true);
            return Box::pin(async { Ok(None) });
        }
        self.note(Call::Measure(id.stage, id.candidate_id, id.qps));
        let script = self.script(id.candidate_id);
        let crashes = script.crashes_above.is_some_and(|above| id.qps > above);
        if crashes && let Ok(mut crashed) = self.crashed.lock() {
            crashed.insert(live.base_url.clone());
        }
        let holds = match id.stage {
            Stage::Confirm | Stage::SpeculativeConfirm | Stage::CostCheck => script.holds,
            _ => script.search_holds,
        };
        let seconds = match id.stage {
            Stage::Confirm | Stage::SpeculativeConfirm | Stage::CostCheck => {
                ctx.cfg.benchmark.confirm_trial_seconds
            }
            _ => ctx.cfg.benchmark.min_trial_seconds,
        };
        let mut record = id.empty_record();
        let results = requests(id.qps, holds, seconds, crashes);
        let metrics = crate::metrics::summarize(&results, seconds, id.qps, id.max_concurrency);
        let verdict = crate::verdict::assess::assess(
            &ctx.cfg.benchmark.sla,
            &results,
            ctx.cfg.benchmark.confidence,
            1,
        );
        trial::judge_record(ctx.cfg, &mut record, metrics, verdict);
        record.trial_duration_s = seconds;
        Box::pin(async move { Ok(Some(record)) })
    }

    fn exited<'a>(
        &'a self,
        live: &'a mut Live,
        _saw_failures: bool,
    ) -> BoxFuture<'a, Option<String>> {
        let died = self
            .crashed
            .lock()
            .is_ok_and(|crashed| crashed.contains(&live.base_url));
        Box::pin(async move {
            died.then(|| {
                "RuntimeError: CUDA error: an illegal memory access was encountered".into()
            })
        })
    }
}

/// A trial's requests at `rate` for `seconds`, on a server that holds the SLA up to `holds`:
/// latencies grow with the sixth power of the load, so the p99s cross the limits (250 ms, 20 ms)
/// within about 1% of `holds`. A crashing server fails every request.
fn requests(rate: f64, holds: f64, seconds: f64, crashes: bool) -> Vec<RequestResult> {
    let count = (rate * seconds).ceil().max(40.0) as usize;
    let load = (rate / holds).powi(6);
    (0..count)
        .map(|i| {
            // A spread of 0.80-1.00 of the scale, deterministic per request.
            let spread = 0.80 + 0.20 * ((i * 37 % 101) as f64 / 100.0);
            let scheduled = i as f64 / rate;
            let ttft = 0.25 * load * spread;
            let tpot = 0.020 * load * spread;
            let tokens = 64u64;
            let end = scheduled + ttft + tpot * (tokens - 1) as f64;
            RequestResult {
                scheduled_at: scheduled,
                sent_at: scheduled,
                first_token_at: (!crashes).then_some(scheduled + ttft),
                end_at: end,
                itl: if crashes { Vec::new() } else { vec![tpot; 63] },
                output_tokens: if crashes { 0 } else { tokens },
                input_tokens: 128,
                error: crashes.then_some(crate::loadgen::stream::RequestError::Connect),
                read_lag: 0.0,
            }
        })
        .collect()
}
