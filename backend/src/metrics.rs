//! Trial metrics from request records, with `sglang.bench_serving`'s names and formulas
//! (UPSTREAM-SPEC 9.4) plus autobench's additions. All latency values are milliseconds.
//!
//! bench_serving-compatible (clock starts at the actual send): `ttft`, `e2e_latency`;
//! `tpot = (e2e - ttft) / (output_tokens - 1)` per request with more than one output token; `itl`
//! pools every inter-token gap; throughput = tokens / `duration`, where `duration` runs from the
//! start of dispatch until the last request finished; `concurrency = sum(e2e) / duration`.
//!
//! Additions: `*_ttft_from_scheduled_ms` and `*_e2e_latency_from_scheduled_ms` start the clock at
//! the scheduled send time (includes `max_concurrency` queueing and client lag); `request_rate` is
//! the offered rate; `achieved_request_rate` is the offered rate scaled by how much the actual send
//! span stretched the scheduled span (equal to the offered rate when every request left on time);
//! `*_send_lag_ms` is actual minus scheduled send time; `failed` and `error_counts` count failed
//! requests by category. Statistics pool successful requests only, as upstream does.
//!
//! Where the kernel reports when response bytes arrived (plain `http://` on Linux,
//! `SO_TIMESTAMPNS`), first token, inter-token gaps and end are timed from that arrival rather
//! than from when the client got round to reading them; bench_serving times from the read.
//!
//! Self-calibration: `*_dispatch_lag_ms` is how late each request's task started relative to its
//! schedule (before any `max_concurrency` wait), `*_read_lag_ms` how long each request's first
//! token waited in the socket before the client read it, and `client_cpu_fraction` is the share of
//! all cores this process used during the run. When the client fell behind (p99 dispatch or read
//! lag above [`crate::config::CLIENT_LAG_LIMIT_MS`]) or saturated the CPU (above
//! [`CLIENT_CPU_LIMIT`]), `client_limited` is true: the client, not the server, may have held the
//! rate back, so the trial cannot pass the SLA and is shown as client-limited.
//! `host_steal_pct` is the share of all CPU time the hypervisor took from this machine during the
//! run (absent where the kernel does not report it): a few percent or more means some latency
//! came from the host, not from the client or the server.

use shared::metrics::{ClientHealth, LatencyStats, TrialMetrics};
use shared::stats::Summary;

use crate::loadgen::{ClientStats, RequestResult};

/// Share of all cores above which the client is considered saturated.
pub(crate) const CLIENT_CPU_LIMIT: f64 = 0.9;

/// The client's own health and the `client_limited` verdict.
pub(crate) fn client_health(
    client: &ClientStats,
    requests: usize,
    lag_limit_ms: f64,
) -> ClientHealth {
    let lag: Vec<f64> = client.dispatch_lag_s.iter().map(|s| s * 1000.0).collect();
    let lag = Summary::of(&lag);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let cpu_fraction = client.cpu_s / (client.duration_s.max(1e-9) * cores);
    let read_lag: Vec<f64> = client.read_lag_s.iter().map(|s| s * 1000.0).collect();
    let read_lag = Summary::of(&read_lag);
    // A p99 of 60 samples is nearly their maximum, so one late wake-up would decide it. The client
    // counts as late only when more requests were late than a 99th percentile allows (at least
    // two): more than 1% of them, and never just one.
    let allowed = ((client.dispatch_lag_s.len() as f64) * 0.01)
        .floor()
        .max(1.0) as usize;
    let late = |samples: &[f64]| {
        samples
            .iter()
            .filter(|s| **s * 1000.0 > lag_limit_ms)
            .count()
    };
    let limited_reason = if late(&client.dispatch_lag_s) > allowed {
        Some(format!(
            "client fell behind its schedule ({} of {} requests more than {lag_limit_ms} ms late, p99 dispatch lag {:.1} ms)",
            late(&client.dispatch_lag_s),
            client.dispatch_lag_s.len(),
            lag.p99
        ))
    } else if late(&client.read_lag_s) > allowed {
        Some(format!(
            "client read first tokens late ({} requests more than {lag_limit_ms} ms, p99 read lag {:.1} ms)",
            late(&client.read_lag_s),
            read_lag.p99
        ))
    } else if cpu_fraction > CLIENT_CPU_LIMIT {
        Some(format!(
            "client CPU saturated ({:.0}% of all cores)",
            cpu_fraction * 100.0
        ))
    } else {
        None
    };
    ClientHealth {
        mean_dispatch_lag_ms: lag.mean,
        p99_dispatch_lag_ms: lag.p99,
        max_dispatch_lag_ms: lag.max,
        mean_read_lag_ms: read_lag.mean,
        p99_read_lag_ms: read_lag.p99,
        cpu_fraction,
        cpu_s_per_1000_requests: client.cpu_s * 1000.0 / requests.max(1) as f64,
        host_steal_pct: client
            .steal_s
            .map(|stolen| crate::machine_noise::steal_percent(stolen, client.duration_s)),
        limited_reason,
    }
}

/// Computes the metrics of one trial (without the client's self-check).
pub(crate) fn summarize(
    results: &[RequestResult],
    duration_s: f64,
    offered_rate: f64,
    max_concurrency: Option<u64>,
) -> TrialMetrics {
    let ok: Vec<&RequestResult> = results.iter().filter(|r| r.error.is_none()).collect();
    let ms = |v: f64| v * 1000.0;
    let first = |r: &RequestResult| r.first_token_at.unwrap_or(r.end_at);
    let ttft: Vec<f64> = ok.iter().map(|r| ms(first(r) - r.sent_at)).collect();
    let ttft_sched: Vec<f64> = ok.iter().map(|r| ms(first(r) - r.scheduled_at)).collect();
    let e2e: Vec<f64> = ok.iter().map(|r| ms(r.end_at - r.sent_at)).collect();
    let e2e_sched: Vec<f64> = ok.iter().map(|r| ms(r.end_at - r.scheduled_at)).collect();
    let tpot: Vec<f64> = ok
        .iter()
        .filter(|r| r.output_tokens > 1)
        .map(|r| ms(r.end_at - first(r)) / (r.output_tokens - 1) as f64)
        .collect();
    let itl: Vec<f64> = ok
        .iter()
        .flat_map(|r| r.itl.iter().map(|g| ms(*g)))
        .collect();
    let lag: Vec<f64> = results
        .iter()
        .map(|r| ms(r.sent_at - r.scheduled_at))
        .collect();
    let input: u64 = ok.iter().map(|r| r.input_tokens).sum();
    let output: u64 = ok.iter().map(|r| r.output_tokens).sum();
    let duration = duration_s.max(1e-9);
    let stats = |values: &[f64]| LatencyStats::from_summary(&Summary::of(values));
    let send_lag = Summary::of(&lag);
    TrialMetrics {
        request_rate: offered_rate.is_finite().then_some(offered_rate),
        offered_request_rate: crate::loadgen::schedule::offered_rate(
            &results.iter().map(|r| r.scheduled_at).collect::<Vec<_>>(),
        ),
        max_concurrency,
        duration: duration_s,
        completed: ok.len() as u64,
        failed: (results.len() - ok.len()) as u64,
        total_input_tokens: input,
        total_output_tokens: output,
        request_throughput: ok.len() as f64 / duration,
        input_throughput: input as f64 / duration,
        output_throughput: output as f64 / duration,
        total_throughput: (input + output) as f64 / duration,
        achieved_request_rate: Some(achieved_rate(results, offered_rate)),
        e2e_latency: stats(&e2e),
        ttft: stats(&ttft),
        tpot: stats(&tpot),
        itl: stats(&itl),
        ttft_from_scheduled: stats(&ttft_sched),
        e2e_latency_from_scheduled: stats(&e2e_sched),
        max_itl_ms: Some(Summary::of(&itl).max),
        mean_send_lag_ms: Some(send_lag.mean),
        p99_send_lag_ms: Some(send_lag.p99),
        max_send_lag_ms: Some(send_lag.max),
        concurrency: Some(e2e.iter().sum::<f64>() / 1000.0 / duration),
        error_counts: error_counts(results),
        ..TrialMetrics::default()
    }
}

/// Offered rate scaled by how much the actual send span stretched the scheduled span.
fn achieved_rate(results: &[RequestResult], offered: f64) -> f64 {
    let span = |f: fn(&RequestResult) -> f64| {
        let (lo, hi) = results
            .iter()
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        hi - lo
    };
    let scheduled = span(|r| r.scheduled_at);
    let actual = span(|r| r.sent_at);
    if !offered.is_finite() || results.len() < 2 || scheduled <= 0.0 || actual <= 0.0 {
        return if offered.is_finite() {
            offered
        } else {
            results.len() as f64 / actual.max(1e-9)
        };
    }
    offered * (scheduled / actual).min(1.0)
}

fn error_counts(results: &[RequestResult]) -> std::collections::BTreeMap<String, u64> {
    let mut counts = std::collections::BTreeMap::new();
    for error in results.iter().filter_map(|r| r.error.as_ref()) {
        *counts.entry(error.category()).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::stream::RequestError;

    fn result(scheduled: f64, sent: f64, first: f64, end: f64, tokens: u64) -> RequestResult {
        RequestResult {
            scheduled_at: scheduled,
            sent_at: sent,
            first_token_at: Some(first),
            end_at: end,
            itl: vec![(end - first) / (tokens - 1) as f64; (tokens - 1) as usize],
            output_tokens: tokens,
            input_tokens: 10,
            error: None,
            read_lag: 0.0,
        }
    }

    fn get(m: &TrialMetrics, key: &str) -> f64 {
        m.to_wire()
            .get(key)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(f64::NAN)
    }

    fn health(dispatch: Vec<f64>, read: Vec<f64>, cpu_s: f64, requests: usize) -> TrialMetrics {
        let client = ClientStats {
            dispatch_lag_s: dispatch,
            read_lag_s: read,
            cpu_s,
            duration_s: 10.0,
            steal_s: None,
        };
        TrialMetrics {
            client: Some(client_health(
                &client,
                requests,
                crate::config::CLIENT_LAG_LIMIT_MS,
            )),
            ..TrialMetrics::default()
        }
    }

    #[test]
    fn hand_computed_values() {
        // Request A: sent on time at 0.0, first token 0.1, end 0.5, 5 tokens -> ttft 100, tpot 100, e2e 500.
        // Request B: scheduled 1.0, sent 1.2 (queued), first 1.4, end 2.2, 3 tokens -> ttft 200 (400 from schedule), tpot 400.
        let results = [result(0.0, 0.0, 0.1, 0.5, 5), result(1.0, 1.2, 1.4, 2.2, 3)];
        let m = summarize(&results, 2.5, 2.0, Some(1));
        assert!((get(&m, "mean_ttft_ms") - 150.0).abs() < 1e-6);
        assert!((get(&m, "mean_ttft_from_scheduled_ms") - 250.0).abs() < 1e-6);
        assert!((get(&m, "mean_tpot_ms") - 250.0).abs() < 1e-6);
        assert!((get(&m, "mean_e2e_latency_ms") - 750.0).abs() < 1e-6);
        assert!((get(&m, "mean_e2e_latency_from_scheduled_ms") - 850.0).abs() < 1e-6);
        assert!((get(&m, "request_throughput") - 0.8).abs() < 1e-9);
        assert!((get(&m, "output_throughput") - 8.0 / 2.5).abs() < 1e-9);
        assert!((get(&m, "total_throughput") - 28.0 / 2.5).abs() < 1e-9);
        assert!((get(&m, "concurrency") - 1.5 / 2.5).abs() < 1e-9);
        assert!((get(&m, "achieved_request_rate") - 2.0 / 1.2).abs() < 1e-9);
        assert!((get(&m, "max_send_lag_ms") - 200.0).abs() < 1e-6);
        assert_eq!(get(&m, "completed"), 2.0);
    }

    #[test]
    fn one_late_wake_up_in_a_small_trial_is_not_a_stalled_client() {
        let mut lags = vec![0.0005; 60];
        lags[17] = 0.0103;
        assert!(!health(lags.clone(), vec![0.0; 60], 0.01, 60).client_limited());
        lags[40] = 0.012;
        assert!(health(lags, vec![0.0; 60], 0.01, 60).client_limited());
    }

    #[test]
    fn client_limits_are_flagged() {
        let m = health(vec![0.001; 100], vec![0.0; 100], 0.1, 100);
        assert!(!m.client_limited());
        assert!(m.host_steal_pct().is_none());
        let late = health(vec![0.05; 100], vec![0.0; 100], 0.1, 100);
        let reason = |m: &TrialMetrics| {
            m.client
                .as_ref()
                .and_then(|c| c.limited_reason.clone())
                .unwrap_or_default()
        };
        assert!(late.client_limited());
        assert!(reason(&late).contains("dispatch lag"));
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let busy = health(vec![0.0; 10], vec![0.0; 10], 9.5 * cores, 10);
        assert!(busy.client_limited());
        let slow_reader = health(
            vec![0.001; 100],
            [vec![0.002; 98], vec![0.03; 2]].concat(),
            0.1,
            100,
        );
        assert!(get(&slow_reader, "p99_read_lag_ms") > crate::config::CLIENT_LAG_LIMIT_MS);
        assert!((get(&slow_reader, "mean_read_lag_ms") - 2.56).abs() < 1e-9);
        assert!(reason(&slow_reader).contains("p99 read lag"));
    }

    #[test]
    fn failures_are_counted_not_averaged() {
        let mut failed = result(0.5, 0.5, 0.5, 0.6, 2);
        failed.error = Some(RequestError::Http(503));
        let m = summarize(&[result(0.0, 0.0, 0.1, 0.5, 5), failed], 1.0, 2.0, None);
        assert_eq!(get(&m, "failed"), 1.0);
        assert_eq!(m.error_counts["http_503"], 1);
        assert!((get(&m, "mean_ttft_ms") - 100.0).abs() < 1e-6);
    }
}
