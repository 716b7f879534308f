//! The dispatcher under tokio's paused clock with a fake sender: exact send times, queueing under
//! `max_concurrency`, and both early stops, with no real I/O and no timing flakiness.

use std::sync::Arc;
use std::time::Duration;

use shared::sla::{MeasureFrom, Sla, parse_limit_key};
use tokio::time::Instant;

use super::schedule::{self, Arrival};
use super::{LoadSpec, PreparedRequest, RequestResult, Sender, StopRules};
use crate::verdict::{early_pass, early_stop};

/// Answers after `ttft(scheduled_at)` seconds, then streams `tokens - 1` more tokens `itl` apart.
#[derive(Clone)]
struct FakeServer {
    ttft: fn(f64) -> f64,
    itl: f64,
    tokens: u64,
}

impl Sender for FakeServer {
    fn send(
        &self,
        _request: &PreparedRequest,
        origin: Instant,
        scheduled_at: f64,
    ) -> impl std::future::Future<Output = Vec<RequestResult>> + Send {
        let server = self.clone();
        async move {
            let sent_at = origin.elapsed().as_secs_f64();
            tokio::time::sleep(Duration::from_secs_f64((server.ttft)(scheduled_at))).await;
            let first = origin.elapsed().as_secs_f64();
            let mut itl = Vec::new();
            for _ in 1..server.tokens {
                tokio::time::sleep(Duration::from_secs_f64(server.itl)).await;
                itl.push(server.itl);
            }
            vec![RequestResult {
                scheduled_at,
                sent_at,
                first_token_at: Some(first),
                end_at: origin.elapsed().as_secs_f64(),
                itl,
                output_tokens: server.tokens,
                input_tokens: 8,
                error: None,
                read_lag: 0.0,
            }]
        }
    }
}

fn requests(count: usize) -> Arc<Vec<PreparedRequest>> {
    let request = PreparedRequest {
        path: "/v1/completions",
        body: bytes::Bytes::from_static(b"{}"),
        output_len: 4,
        input_len: 8,
        routing_key: None,
        rounds: None,
        timestamp: None,
    };
    Arc::new(vec![request; count])
}

fn spec(rate: f64, max_concurrency: Option<u64>) -> LoadSpec {
    LoadSpec {
        rate,
        max_concurrency,
        seed: 7,
        arrival: Arrival::Poisson,
        burstiness: 1.0,
        exact_over_s: None,
    }
}

fn sla(key: &str, max_ms: f64) -> Sla {
    Sla {
        limits: vec![parse_limit_key(key, max_ms, MeasureFrom::Scheduled).expect("key")],
        min_success_rate: 1.0,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

/// tokio's timer wheel has millisecond resolution: a send is due at its scheduled time rounded
/// up to the next millisecond, never earlier.
fn on_time(sent: f64, scheduled: f64) -> bool {
    sent >= scheduled - 1e-9 && sent - scheduled <= 0.001 + 1e-9
}

async fn run(
    server: &FakeServer,
    count: usize,
    spec: &LoadSpec,
    stops: StopRules,
) -> super::LoadOutcome {
    let (_keep, mut cancel) = crate::cancel::channel();
    super::run_with_early_stop(server, requests(count), spec, stops, &mut cancel)
        .await
        .expect("not cancelled")
}

#[tokio::test(start_paused = true)]
async fn every_request_is_sent_exactly_on_its_absolute_schedule() {
    let server = FakeServer {
        ttft: |_| 0.020,
        itl: 0.002,
        tokens: 4,
    };
    let outcome = run(&server, 300, &spec(100.0, None), StopRules::new()).await;
    let expected = schedule::offsets(Arrival::Poisson, 300, 100.0, 1.0, 7, &[]).expect("offsets");
    let mut sent: Vec<f64> = outcome.results.iter().map(|r| r.sent_at).collect();
    sent.sort_by(f64::total_cmp);
    assert_eq!(sent.len(), 300);
    for (got, want) in sent.iter().zip(&expected) {
        assert!(on_time(*got, *want), "sent at {got}, scheduled {want}");
    }
    for r in &outcome.results {
        assert!(close(r.first_token_at.expect("ttft") - r.sent_at, 0.020));
        assert!(close(r.end_at - r.sent_at, 0.026));
    }
    assert!(
        outcome
            .client
            .dispatch_lag_s
            .iter()
            .all(|lag| (0.0..=0.001 + 1e-9).contains(lag))
    );
    let last = expected.last().copied().unwrap_or_default();
    assert!(
        on_time(outcome.duration - 0.026, last),
        "{}",
        outcome.duration
    );
}

#[tokio::test(start_paused = true)]
async fn a_concurrency_cap_delays_sends_and_the_scheduled_basis_keeps_the_wait() {
    // One slot, 50 ms per request, 100 req/s offered: requests queue behind each other.
    let server = FakeServer {
        ttft: |_| 0.050,
        itl: 0.0,
        tokens: 1,
    };
    let outcome = run(&server, 40, &spec(100.0, Some(1)), StopRules::new()).await;
    let offsets = schedule::offsets(Arrival::Poisson, 40, 100.0, 1.0, 7, &[]).expect("offsets");
    let mut results = outcome.results.clone();
    results.sort_by(|a, b| a.scheduled_at.total_cmp(&b.scheduled_at));
    let mut free_at = 0.0_f64;
    for (r, offset) in results.iter().zip(&offsets) {
        // Queued behind the previous request, or sent on schedule (to the millisecond).
        if free_at > *offset + 0.001 {
            assert!(
                close(r.sent_at, free_at),
                "sent {} want {free_at}",
                r.sent_at
            );
        } else {
            assert!(
                on_time(r.sent_at, *offset),
                "sent {} want {offset}",
                r.sent_at
            );
        }
        free_at = r.sent_at + 0.050;
        assert!(close(r.scheduled_at, *offset));
        let ttft_sent = r.first_token_at.expect("ttft") - r.sent_at;
        let ttft_scheduled = r.first_token_at.expect("ttft") - r.scheduled_at;
        assert!(close(ttft_sent, 0.050));
        assert!(close(ttft_scheduled, 0.050 + (r.sent_at - offset)));
    }
    assert!(
        results
            .last()
            .is_some_and(|r| r.sent_at - r.scheduled_at > 1.0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_lost_tail_stops_the_trial_after_the_first_decisive_requests() {
    let server = FakeServer {
        ttft: |_| 0.500,
        itl: 0.0,
        tokens: 1,
    };
    let stops: StopRules = vec![Box::new(early_stop::EarlyStop::new(
        &sla("max_p99_ttft_ms", 100.0),
        100,
    ))];
    let outcome = run(&server, 100, &spec(50.0, None), stops).await;
    assert!(!outcome.early_passed);
    assert!(
        outcome
            .early_stopped
            .is_some_and(|r| r.contains("2 requests exceeded"))
    );
    assert_eq!(
        outcome.results.len(),
        2,
        "at most 1 of 100 may exceed a p99 limit"
    );
}

#[tokio::test(start_paused = true)]
async fn a_clearly_passing_point_stops_once_half_is_done() {
    let server = FakeServer {
        ttft: |_| 0.010,
        itl: 0.001,
        tokens: 4,
    };
    // A p90 can be shown from 100 requests; a p99 could not (it needs about 300).
    let stops: StopRules = vec![Box::new(early_pass::EarlyPass::new(
        &sla("max_p90_ttft_ms", 100.0),
        200,
        0.5,
        0.8,
        0.95,
    ))];
    let outcome = run(&server, 200, &spec(100.0, None), stops).await;
    assert!(outcome.early_passed);
    let reason = outcome.early_stopped.expect("stopped");
    assert!(
        reason.starts_with("clearly passing: 100 of 200"),
        "{reason}"
    );
    assert_eq!(outcome.results.len(), 100);
}

#[tokio::test(start_paused = true)]
async fn a_point_that_degrades_late_is_not_passed_on_its_calm_start() {
    // Mean TTFT over everything stays under the limit for a while after the regime change, but the
    // latest quarter does not, so the point runs to the end.
    let server = FakeServer {
        ttft: |scheduled| if scheduled < 0.8 { 0.010 } else { 0.200 },
        itl: 0.0,
        tokens: 1,
    };
    let stops: StopRules = vec![Box::new(early_pass::EarlyPass::new(
        &sla("max_ttft_ms", 100.0),
        200,
        0.5,
        0.8,
        0.95,
    ))];
    let outcome = run(&server, 200, &spec(100.0, None), stops).await;
    assert!(!outcome.early_passed, "{:?}", outcome.early_stopped);
    assert_eq!(outcome.results.len(), 200);
}

/// A steady-state rule for `rate` with the given SLA and a 5-s measured window.
fn steady_rule(
    rate: f64,
    sla: Sla,
) -> (
    crate::verdict::steady::SteadyState,
    std::sync::Arc<std::sync::Mutex<crate::verdict::steady::Decided>>,
) {
    crate::verdict::steady::SteadyState::new(crate::verdict::steady::Settings {
        rate,
        warmup_floor_s: 1.0,
        warmup_cap_s: 30.0,
        measure_s: 5.0,
        max_measure_s: 5.0,
        sla,
        confidence: 0.95,
        early_stop: true,
        early_pass: None,
        blocks_s: None,
        extend_while_inconclusive: false,
    })
}

#[tokio::test(start_paused = true)]
async fn a_steady_trial_measures_after_the_transient_and_keeps_the_load_on_past_it() {
    // TTFT climbs from 10 to 60 ms over the first 6 s (a queue building), then stays there;
    // requests live about 0.2 s, so ten are in flight at once.
    let server = FakeServer {
        ttft: |at| 0.010 + 0.050 * (at / 6.0).min(1.0) + 0.002 * ((at * 37.0).sin()),
        itl: 0.05,
        tokens: 4,
    };
    let (rule, decided) = steady_rule(50.0, sla("max_p99_ttft_ms", 200.0));
    let outcome = run(&server, 5000, &spec(50.0, None), vec![Box::new(rule)]).await;
    assert_eq!(outcome.early_stopped, None, "a normal end is no early stop");
    let decided = decided.lock().expect("lock").clone();
    let (start, end) = decided.window.expect("window");
    assert!(
        start >= 4.0,
        "warm-up ended at {start} s, inside the transient ({:?})",
        decided.rule
    );
    assert!((end - start - 5.0).abs() < 1e-9);
    // Load went on past the window, and stopped soon after its last request finished.
    let last_scheduled = outcome.scheduled.last().copied().expect("sent");
    assert!(
        last_scheduled > end,
        "no cool-down: last send at {last_scheduled}"
    );
    assert!(
        last_scheduled < end + 1.0,
        "cool-down ran on to {last_scheduled}"
    );
    let measured = outcome
        .results
        .iter()
        .filter(|r| decided.measures(r))
        .count();
    assert!(
        (200..=300).contains(&measured),
        "{measured} measured requests"
    );
}

#[tokio::test(start_paused = true)]
async fn a_queue_that_grows_without_bound_fails_as_soon_as_it_shows() {
    // Each request waits behind every earlier one: 40 ms of service each at 50 req/s (25/s served).
    let server = FakeServer {
        ttft: |at| 0.010 + at * (50.0 * 0.040 - 1.0),
        itl: 0.002,
        tokens: 4,
    };
    // With a limit it breaks soon, the warm-up shows it; with none, the queue's growth does,
    // once the queue has had its time to fill (capped at 60 s, as lifetimes never settle here).
    let (rule, _) = steady_rule(50.0, sla("max_p99_ttft_ms", 2000.0));
    let outcome = run(&server, 5000, &spec(50.0, None), vec![Box::new(rule)]).await;
    let reason = outcome.early_stopped.expect("stopped");
    assert!(reason.starts_with("the warm-up already fails"), "{reason}");
    let stopped_at = outcome.scheduled.last().copied().expect("sent");
    assert!(stopped_at < 6.0, "took until {stopped_at} s to show");
    let (rule, _) = steady_rule(50.0, sla("max_p99_ttft_ms", 600_000.0));
    let outcome = run(&server, 5000, &spec(50.0, None), vec![Box::new(rule)]).await;
    let reason = outcome.early_stopped.expect("stopped");
    assert!(reason.starts_with("unsustainable"), "{reason}");
    let stopped_at = outcome.scheduled.last().copied().expect("sent");
    assert!(stopped_at < 75.0, "took until {stopped_at} s to show");
}

#[tokio::test(start_paused = true)]
async fn a_busy_server_that_keeps_up_is_not_called_unsustainable() {
    // Requests live 0.2 s on the idle server and 2 s once the batch has filled (after 3 s):
    // 100 in flight at 50 req/s, reached after a fast climb that is no unbounded queue.
    let server = FakeServer {
        ttft: |at| 0.05 + 0.45 * (at / 3.0).min(1.0) + 0.01 * ((at * 13.0).sin()),
        itl: 0.5,
        tokens: 4,
    };
    let (rule, decided) = steady_rule(50.0, sla("max_p99_ttft_ms", 2000.0));
    let outcome = run(&server, 5000, &spec(50.0, None), vec![Box::new(rule)]).await;
    assert_eq!(outcome.early_stopped, None);
    let (start, _) = decided.lock().expect("lock").window.expect("window");
    assert!(start >= 3.0, "warm-up {start} s: inside the climb");
}

#[tokio::test(start_paused = true)]
async fn a_warm_up_that_already_breaks_a_tail_limit_ends_the_trial() {
    // Every request takes 500 ms to its first token against a 100-ms p99 limit.
    let server = FakeServer {
        ttft: |_| 0.5,
        itl: 0.05,
        tokens: 4,
    };
    let (rule, decided) = steady_rule(40.0, sla("max_p99_ttft_ms", 100.0));
    let outcome = run(&server, 5000, &spec(40.0, None), vec![Box::new(rule)]).await;
    let reason = outcome.early_stopped.expect("stopped");
    // Judged from the first ten or so to finish: all of them broke the limit.
    let (over, count) = reason
        .strip_prefix("the warm-up already fails: ")
        .and_then(|r| r.strip_suffix(" requests broke p99 TTFT <= 100 ms"))
        .and_then(|r| r.split_once(" of the latest "))
        .expect("the failing warm-up's words");
    assert_eq!(over, count, "{reason}");
    assert!(
        (10..20).contains(&count.parse::<usize>().expect("a count")),
        "{reason}"
    );
    assert!(decided.lock().expect("lock").window.is_none());
    let stopped_at = outcome.scheduled.last().copied().expect("sent");
    assert!(stopped_at < 2.0, "took until {stopped_at} s");
}
