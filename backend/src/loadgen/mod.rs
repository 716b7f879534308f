//! The load generator: open-loop arrivals on an absolute, seeded schedule, an optional
//! `max_concurrency` cap, warmup, and per-request timing records. It never decides pass or fail:
//! [`crate::metrics`] summarises its records and the search applies the SLA.
//!
//! Open loop means a request's send time comes from the schedule, not from earlier responses.
//! When a concurrency cap or the client itself delays a send, the delay is kept (scheduled versus
//! actual send time), so latency can be reported from the scheduled time as well, which is
//! coordinated-omission safe (see the Goose book's chapter on coordinated omission).

mod client;
mod h1;
pub(crate) mod request;
pub(crate) mod schedule;
pub(crate) mod stream;
#[cfg(test)]
mod stream_fuzz_tests;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

pub(crate) use client::{RequestResult, Target};
pub(crate) use request::{BodyOptions, PreparedRequest};

/// How far ahead of its send time a request gets its own task (which then sleeps until the
/// exact time), so the dispatcher wakes about once per this period instead of once per request.
const LOOKAHEAD: Duration = Duration::from_millis(20);

/// One load test: requests, rate, cap.
#[derive(Debug, Clone)]
pub(crate) struct LoadSpec {
    /// Request rate (requests/s); infinity sends all at once.
    pub rate: f64,
    /// Concurrency cap.
    pub max_concurrency: Option<u64>,
    /// Arrival seed.
    pub seed: u64,
    /// Arrival process.
    pub arrival: schedule::Arrival,
    /// Gamma shape for Poisson-like arrivals (1.0 = Poisson).
    pub burstiness: f64,
    /// Poisson-like arrivals offer exactly `rate` over every this many seconds (a steady-state
    /// trial's measured length, [`schedule::realise_rate_in_blocks`]); `None`: over the whole
    /// schedule.
    pub exact_over_s: Option<f64>,
}

/// Builds an HTTP client suited to load generation (pooled keep-alive connections, no global
/// timeout: each request has its own).
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .tcp_nodelay(true)
        .build()
        .unwrap_or_default()
}

/// The API key for requests, from `OPENAI_API_KEY` or `API_KEY` (never logged).
pub(crate) fn api_key_from_env() -> Option<String> {
    std::env::var("OPENAI_API_KEY")
        .or_else(|_| std::env::var("API_KEY"))
        .ok()
        .filter(|k| !k.is_empty())
}

/// Sends `count` warmup copies at once; fails only if every one fails.
pub(crate) async fn warmup(target: &Target, requests: &[PreparedRequest]) -> Result<(), String> {
    if requests.is_empty() {
        return Ok(());
    }
    let origin = Instant::now();
    let tasks: Vec<_> = requests
        .iter()
        .cloned()
        .map(|request| {
            let target = target.clone();
            tokio::spawn(async move { client::send(&target, &request, origin, 0.0).await })
        })
        .collect();
    let mut errors = Vec::new();
    for task in tasks {
        match task.await {
            Ok(results) => match results.iter().find_map(|r| r.error.clone()) {
                None => return Ok(()),
                Some(error) => errors.push(error.category()),
            },
            Err(e) => errors.push(e.to_string()),
        }
    }
    Err(format!(
        "warmup failed: every warmup request failed ({})",
        errors.join(", ")
    ))
}

/// Runs the load: sends each request at `start + offset` and returns one record per request (per
/// round for multi-turn rows), or `None` if cancelled. With `early_stop`, the run ends as soon as
/// the SLA verdict is certain; the outcome then says why, and unfinished requests are abandoned.
pub(crate) async fn run(
    target: &Target,
    requests: Arc<Vec<PreparedRequest>>,
    spec: &LoadSpec,
    cancel: &mut crate::cancel::CancelReceiver,
) -> Option<LoadOutcome> {
    run_with_early_stop(target, requests, spec, StopRules::new(), cancel).await
}

/// Why a run ended before every request finished.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EarlyEnd {
    /// In words.
    pub reason: String,
    /// The point was clearly passing (rather than certainly failing).
    pub passed: bool,
    /// Every measured request finished: the rest were cool-down load, abandoned on purpose
    /// (a steady-state trial's normal end, not an early stop).
    pub complete: bool,
}

/// A rule that may end a run before every request finished. The load generator only asks; the
/// rules (the SLA's early stop and early pass) live with the SLA in [`crate::verdict`], and the
/// load generator never decides pass or fail itself.
pub(crate) trait StopRule: Send {
    /// A request finished; returns why the run can end, if it can.
    fn observe(&mut self, _result: &RequestResult) -> Option<EarlyEnd> {
        None
    }

    /// Whether [`StopRule::check`] wants to run after `finished` requests.
    fn due(&self, _finished: usize) -> bool {
        false
    }

    /// Whether [`StopRule::check`] also runs every [`TICK`] while requests are in flight (a rule
    /// that watches the queue must not wait for a completion that an overloaded server delays).
    fn ticks(&self) -> bool {
        false
    }

    /// Looks at every finished request and the scheduled times of those still in flight (`now`
    /// is the trial clock); returns why the run can end, if it can.
    fn check(
        &mut self,
        _finished: &[RequestResult],
        _in_flight_scheduled: &[f64],
        _now: f64,
    ) -> Option<EarlyEnd> {
        None
    }
}

/// How often rules that [`StopRule::ticks`] are checked while no request finishes.
pub(crate) const TICK: Duration = Duration::from_millis(250);

/// The stop rules of one run (none: every request runs).
pub(crate) type StopRules = Vec<Box<dyn StopRule>>;

/// Something that sends one prepared request and times it: the HTTP [`Target`], or a fake in tests
/// (so the schedule can be checked with tokio's paused clock, free of real I/O).
pub(crate) trait Sender: Clone + Send + Sync + 'static {
    /// Sends `request` now; see [`client::send`].
    fn send(
        &self,
        request: &PreparedRequest,
        origin: Instant,
        scheduled_at: f64,
    ) -> impl std::future::Future<Output = Vec<RequestResult>> + Send;

    /// Waits until a request is due: tokio's timer (whole milliseconds, and paused in tests)
    /// unless the sender has a finer one.
    fn sleep_until(&self, due: Instant) -> impl std::future::Future<Output = ()> + Send {
        tokio::time::sleep_until(due)
    }
}

impl Sender for Target {
    fn send(
        &self,
        request: &PreparedRequest,
        origin: Instant,
        scheduled_at: f64,
    ) -> impl std::future::Future<Output = Vec<RequestResult>> + Send {
        client::send(self, request, origin, scheduled_at)
    }

    /// Sends on time to about 0.1 ms instead of tokio's 1 ms ([`crate::timer`]).
    fn sleep_until(&self, due: Instant) -> impl std::future::Future<Output = ()> + Send {
        crate::timer::sleep_until(due.into_std())
    }
}

/// [`run`] with optional early stops.
pub(crate) async fn run_with_early_stop<S: Sender>(
    target: &S,
    requests: Arc<Vec<PreparedRequest>>,
    spec: &LoadSpec,
    mut stops: StopRules,
    cancel: &mut crate::cancel::CancelReceiver,
) -> Option<LoadOutcome> {
    let timestamps: Vec<Option<f64>> = requests.iter().map(|r| r.timestamp).collect();
    let offsets = schedule::offsets(
        spec.arrival,
        requests.len(),
        spec.rate,
        spec.burstiness,
        spec.seed,
        &timestamps,
    )
    .unwrap_or_else(|_| {
        // A trace schedule without timestamps is refused when the workload is built; this only
        // guards direct callers.
        schedule::realise_rate(
            schedule::poisson_offsets(requests.len(), spec.rate, spec.seed),
            spec.rate,
        )
    });
    let offsets = match (spec.arrival, spec.exact_over_s) {
        (schedule::Arrival::Poisson, Some(block)) => {
            schedule::realise_rate_in_blocks(offsets, spec.rate, block)
        }
        _ => offsets,
    };
    let limit = spec.max_concurrency.map_or(Semaphore::MAX_PERMITS, |c| {
        usize::try_from(c).unwrap_or(Semaphore::MAX_PERMITS)
    });
    let semaphore = Arc::new(Semaphore::new(limit.min(Semaphore::MAX_PERMITS)));
    let cpu_start = process_cpu_seconds();
    let steal_start = crate::machine_noise::steal_seconds();
    let origin = Instant::now();
    // Dropping the set aborts whatever is still running (cancel, early stop).
    let mut tasks = tokio::task::JoinSet::new();
    // Sized up front: no reallocation and copying of every record mid-run.
    let mut collected = Collected {
        results: Vec::with_capacity(offsets.len()),
        dispatch_lag: Vec::with_capacity(offsets.len()),
        ..Collected::default()
    };
    let mut in_flight = std::collections::BTreeMap::new();
    let mut next = 0;
    let ticking = stops.iter().any(|r| r.ticks());
    let mut ticks = tokio::time::interval_at(origin + TICK, TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while collected.stopped.is_none() && (next < offsets.len() || !tasks.is_empty()) {
        // Wake up a little before the next request is due and hand it, with every other request
        // due within the look-ahead, to its own task, which sleeps until its exact time.
        let wake = offsets
            .get(next)
            .map(|offset| origin + Duration::from_secs_f64(*offset).saturating_sub(LOOKAHEAD));
        tokio::select! {
            () = async { if let Some(wake) = wake { tokio::time::sleep_until(wake).await } else { std::future::pending::<()>().await } } => {
                let horizon = (origin.elapsed() + LOOKAHEAD).as_secs_f64();
                while let Some(&offset) = offsets.get(next).filter(|o| **o <= horizon) {
                    let (target, requests, semaphore) = (target.clone(), Arc::clone(&requests), Arc::clone(&semaphore));
                    let index = next;
                    in_flight.insert(index, offset);
                    tasks.spawn(async move {
                        target.sleep_until(origin + Duration::from_secs_f64(offset)).await;
                        let dispatch_lag = origin.elapsed().as_secs_f64() - offset;
                        let _permit = semaphore.acquire_owned().await.ok();
                        (index, dispatch_lag, target.send(&requests[index], origin, offset).await)
                    });
                    next += 1;
                }
            }
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                let (index, lag, results) = joined.ok()?;
                in_flight.remove(&index);
                collected.take(lag, results, &mut stops);
                let finished = collected.dispatch_lag.len();
                for rule in stops.iter_mut().filter(|r| r.due(finished)) {
                    if collected.stopped.is_some() {
                        break;
                    }
                    // Requests handed out ahead of their time are not in flight yet.
                    let now = origin.elapsed().as_secs_f64();
                    let pending: Vec<f64> = in_flight.values().copied().filter(|at| *at <= now).collect();
                    collected.stopped = rule.check(&collected.results, &pending, now);
                }
            }
            _ = ticks.tick(), if ticking && !tasks.is_empty() => {
                let now = origin.elapsed().as_secs_f64();
                let pending: Vec<f64> = in_flight.values().copied().filter(|at| *at <= now).collect();
                for rule in stops.iter_mut().filter(|r| r.ticks()) {
                    if collected.stopped.is_some() {
                        break;
                    }
                    collected.stopped = rule.check(&collected.results, &pending, now);
                }
            }
            () = crate::cancel::cancelled(cancel) => return None,
        }
    }
    let duration = origin.elapsed().as_secs_f64();
    let client = ClientStats {
        dispatch_lag_s: collected.dispatch_lag,
        read_lag_s: collected.results.iter().map(|r| r.read_lag).collect(),
        cpu_s: process_cpu_seconds() - cpu_start,
        duration_s: duration,
        steal_s: crate::machine_noise::steal_seconds()
            .zip(steal_start)
            .map(|(end, start)| end - start),
    };
    let stopped = collected.stopped.filter(|e| !e.complete);
    let mut scheduled = offsets;
    scheduled.truncate(next);
    Some(LoadOutcome {
        scheduled,
        results: collected.results,
        duration,
        client,
        early_passed: stopped.as_ref().is_some_and(|e| e.passed),
        early_stopped: stopped.map(|e| e.reason),
    })
}

#[derive(Default)]
struct Collected {
    results: Vec<RequestResult>,
    dispatch_lag: Vec<f64>,
    stopped: Option<EarlyEnd>,
}

impl Collected {
    fn take(&mut self, lag: f64, results: Vec<RequestResult>, rules: &mut [Box<dyn StopRule>]) {
        self.dispatch_lag.push(lag);
        for result in &results {
            for rule in rules.iter_mut() {
                if self.stopped.is_none() {
                    self.stopped = rule.observe(result);
                }
            }
        }
        self.results.extend(results);
    }
}

/// What one load run measured.
#[derive(Debug)]
pub(crate) struct LoadOutcome {
    /// The scheduled send time of every request sent (finished or abandoned), in order.
    pub scheduled: Vec<f64>,
    /// Per-request (per-round) records.
    pub results: Vec<RequestResult>,
    /// From dispatch start until the last response ended.
    pub duration: f64,
    /// How the client itself kept up.
    pub client: ClientStats,
    /// Why the run ended before every request finished (SLA early stop).
    pub early_stopped: Option<String>,
    /// The early stop was for a clearly passing point (`early_pass`), not a lost verdict.
    pub early_passed: bool,
}

/// The client's own health during a run (self-calibration).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientStats {
    /// Per request: how late its task started relative to the schedule (before any
    /// `max_concurrency` wait), i.e. the client's own lag.
    pub dispatch_lag_s: Vec<f64>,
    /// Per request: how long the first token's bytes waited in the socket before the client
    /// read them (latencies are timed from the kernel's receive time, so this is the client's
    /// own lag on the receiving side).
    pub read_lag_s: Vec<f64>,
    /// CPU seconds this process used during the run.
    pub cpu_s: f64,
    /// Wall seconds of the run.
    pub duration_s: f64,
    /// CPU seconds the hypervisor took from this machine (all CPUs) during the run, where the
    /// kernel reports it ([`crate::machine_noise`]).
    pub steal_s: Option<f64>,
}

impl ClientStats {
    /// Both runs' health together (one trial measured in several replications).
    pub(crate) fn merge(mut self, other: ClientStats) -> ClientStats {
        self.dispatch_lag_s.extend(other.dispatch_lag_s);
        self.read_lag_s.extend(other.read_lag_s);
        self.cpu_s += other.cpu_s;
        self.duration_s += other.duration_s;
        self.steal_s = match (self.steal_s, other.steal_s) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self
    }
}

/// User + system CPU seconds of this process so far.
pub(crate) fn process_cpu_seconds() -> f64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).map_or(0.0, |u| {
        let user = u.user_time();
        let system = u.system_time();
        user.tv_sec() as f64
            + user.tv_usec() as f64 / 1e6
            + system.tv_sec() as f64
            + system.tv_usec() as f64 / 1e6
    })
}

#[cfg(test)]
mod paused_clock_tests;
