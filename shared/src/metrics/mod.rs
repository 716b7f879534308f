//! Typed trial metrics: [`TrialMetrics`] is what one trial measured, with accessors that the SLA,
//! ranking, tables and plots use instead of looking values up by name.
//!
//! On disk the metrics stay one flat JSON object with `sglang.bench_serving`'s names
//! (`mean_ttft_ms`, `request_throughput`, ...) plus autobench's additions, so files written before
//! this type existed, and the upstream tool's files, read the same. Those names are built in this
//! module only ([`Series::stem`], [`Metric::name`]); nothing else spells them.

mod column;
mod wire;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use column::Metric;

/// The statistic an SLA limit constrains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stat {
    /// Mean.
    Mean,
    /// Median.
    Median,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
}

impl Stat {
    /// The name used in metric keys (`p99`, `median`).
    pub fn name(self) -> &'static str {
        match self {
            Stat::Mean => "mean",
            Stat::Median => "median",
            Stat::P90 => "p90",
            Stat::P95 => "p95",
            Stat::P99 => "p99",
        }
    }

    /// The quantile a percentile statistic stands for (`None` for the mean).
    pub fn quantile(self) -> Option<f64> {
        match self {
            Stat::Mean => None,
            Stat::Median => Some(0.5),
            Stat::P90 => Some(0.9),
            Stat::P95 => Some(0.95),
            Stat::P99 => Some(0.99),
        }
    }

    /// The statistic a metric name starts with (`p99_tpot_ms` is p99).
    pub fn of_metric(name: &str) -> Option<Stat> {
        Stat::parse(name.split('_').next()?)
    }

    pub(crate) fn parse(text: &str) -> Option<Stat> {
        Some(match text {
            "mean" | "avg" => Stat::Mean,
            "median" | "p50" => Stat::Median,
            "p90" => Stat::P90,
            "p95" => Stat::P95,
            "p99" => Stat::P99,
            _ => return None,
        })
    }
}

/// A latency series measured per request (or per token gap for ITL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Series {
    /// End-to-end latency from the actual send.
    E2e,
    /// Time to first token from the actual send.
    Ttft,
    /// Time per output token after the first.
    Tpot,
    /// Inter-token latency (every gap pooled).
    Itl,
    /// Time to first token from the scheduled send time.
    TtftFromScheduled,
    /// End-to-end latency from the scheduled send time.
    E2eFromScheduled,
}

impl Series {
    /// Every series, in the order the metrics object lists them.
    pub const ALL: [Series; 6] = [
        Series::E2e,
        Series::Ttft,
        Series::Tpot,
        Series::Itl,
        Series::TtftFromScheduled,
        Series::E2eFromScheduled,
    ];

    /// The series' part of a metric name (`ttft` in `p99_ttft_ms`).
    pub fn stem(self) -> &'static str {
        match self {
            Series::E2e => "e2e_latency",
            Series::Ttft => "ttft",
            Series::Tpot => "tpot",
            Series::Itl => "itl",
            Series::TtftFromScheduled => "ttft_from_scheduled",
            Series::E2eFromScheduled => "e2e_latency_from_scheduled",
        }
    }

    /// Short human title (`TTFT`, `E2E latency`).
    pub fn title(self) -> &'static str {
        match self {
            Series::E2e => "E2E latency",
            Series::Ttft => "TTFT",
            Series::Tpot => "TPOT",
            Series::Itl => "ITL",
            Series::TtftFromScheduled => "TTFT from schedule",
            Series::E2eFromScheduled => "E2E latency from schedule",
        }
    }
}

/// The summary statistics of one latency series, in milliseconds (absent when not measured, e.g.
/// in files of older tools).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LatencyStats {
    /// Mean.
    pub mean: Option<f64>,
    /// Median.
    pub median: Option<f64>,
    /// Population standard deviation.
    pub std: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
}

impl LatencyStats {
    /// From a computed summary.
    pub fn from_summary(s: &crate::stats::Summary) -> LatencyStats {
        LatencyStats {
            mean: Some(s.mean),
            median: Some(s.median),
            std: Some(s.std),
            p90: Some(s.p90),
            p95: Some(s.p95),
            p99: Some(s.p99),
        }
    }

    /// One statistic.
    pub fn get(&self, stat: Stat) -> Option<f64> {
        match stat {
            Stat::Mean => self.mean,
            Stat::Median => self.median,
            Stat::P90 => self.p90,
            Stat::P95 => self.p95,
            Stat::P99 => self.p99,
        }
    }
}

/// The load generator's view of its own health during a trial.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientHealth {
    /// Mean lateness of request tasks against their schedule (ms).
    pub mean_dispatch_lag_ms: f64,
    /// p99 of that lateness (ms).
    pub p99_dispatch_lag_ms: f64,
    /// Largest lateness (ms).
    pub max_dispatch_lag_ms: f64,
    /// Mean wait of first tokens in the socket before the client read them (ms).
    pub mean_read_lag_ms: f64,
    /// p99 of that wait (ms).
    pub p99_read_lag_ms: f64,
    /// Share of all cores the client used.
    pub cpu_fraction: f64,
    /// Client CPU seconds per 1,000 requests.
    pub cpu_s_per_1000_requests: f64,
    /// Share of CPU time the hypervisor took (%), where the kernel reports it.
    pub host_steal_pct: Option<f64>,
    /// Why the client, not the server, may have held the rate back; `None` when healthy.
    pub limited_reason: Option<String>,
}

/// Everything one trial measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrialMetrics {
    /// Requested request rate (req/s); `None` for an unbounded rate.
    pub request_rate: Option<f64>,
    /// The rate the arrival schedule really offered: arrivals per second between the first and
    /// the last scheduled send (absent in older files).
    pub offered_request_rate: Option<f64>,
    /// Client concurrency cap.
    pub max_concurrency: Option<u64>,
    /// Seconds from the start of dispatch until the last request finished.
    pub duration: f64,
    /// Successful requests.
    pub completed: u64,
    /// Failed requests.
    pub failed: u64,
    /// Input tokens of successful requests.
    pub total_input_tokens: u64,
    /// Output tokens of successful requests.
    pub total_output_tokens: u64,
    /// Successful requests per second.
    pub request_throughput: f64,
    /// Input tokens per second.
    pub input_throughput: f64,
    /// Output tokens per second.
    pub output_throughput: f64,
    /// Input plus output tokens per second.
    pub total_throughput: f64,
    /// The rate the client really kept up (absent in upstream files).
    pub achieved_request_rate: Option<f64>,
    /// Latency series.
    pub e2e_latency: LatencyStats,
    /// Time to first token.
    pub ttft: LatencyStats,
    /// Time per output token.
    pub tpot: LatencyStats,
    /// Inter-token latency.
    pub itl: LatencyStats,
    /// TTFT from the scheduled send time.
    pub ttft_from_scheduled: LatencyStats,
    /// E2E latency from the scheduled send time.
    pub e2e_latency_from_scheduled: LatencyStats,
    /// Largest inter-token gap (ms).
    pub max_itl_ms: Option<f64>,
    /// Mean actual-minus-scheduled send time (ms).
    pub mean_send_lag_ms: Option<f64>,
    /// p99 of it (ms).
    pub p99_send_lag_ms: Option<f64>,
    /// Largest (ms).
    pub max_send_lag_ms: Option<f64>,
    /// Mean requests in flight.
    pub concurrency: Option<f64>,
    /// Failed requests by category (`http_503`, `timeout`, ...).
    pub error_counts: BTreeMap<String, u64>,
    /// The client's self-check; `None` in files of other tools.
    pub client: Option<ClientHealth>,
    /// Whether the trial stopped before its last request.
    pub early_stopped: bool,
    /// Why it stopped early because it could no longer pass.
    pub early_stop_reason: Option<String>,
    /// Why it stopped early because it had already passed.
    pub early_pass_reason: Option<String>,
    /// The measured requests the trial planned (absent in older files and other tools').
    pub planned_requests: Option<u64>,
    /// The user's tag (`benchmark.tag`).
    pub tag: Option<String>,
    /// Speculative decoding's average accept length over the trial (tokens per verify step), as
    /// the server itself reports it; `None` without speculative decoding or a report.
    pub accept_length: Option<f64>,
}

impl TrialMetrics {
    /// "stopped early at 17 of 120 requests" when the trial stopped because it could no longer
    /// pass (`None` for a trial that ran to its end or stopped because it had passed).
    pub fn stopped_early(&self) -> Option<String> {
        self.early_stop_reason.as_ref()?;
        let finished = self.completed + self.failed;
        Some(match self.planned_requests {
            Some(planned) if planned >= finished => {
                format!("stopped early at {finished} of {planned} requests")
            }
            _ => format!("stopped early at {finished} requests"),
        })
    }

    /// The statistics of one latency series.
    pub fn series(&self, series: Series) -> &LatencyStats {
        match series {
            Series::E2e => &self.e2e_latency,
            Series::Ttft => &self.ttft,
            Series::Tpot => &self.tpot,
            Series::Itl => &self.itl,
            Series::TtftFromScheduled => &self.ttft_from_scheduled,
            Series::E2eFromScheduled => &self.e2e_latency_from_scheduled,
        }
    }

    pub(crate) fn series_mut(&mut self, series: Series) -> &mut LatencyStats {
        match series {
            Series::E2e => &mut self.e2e_latency,
            Series::Ttft => &mut self.ttft,
            Series::Tpot => &mut self.tpot,
            Series::Itl => &mut self.itl,
            Series::TtftFromScheduled => &mut self.ttft_from_scheduled,
            Series::E2eFromScheduled => &mut self.e2e_latency_from_scheduled,
        }
    }

    /// One statistic of one series (ms).
    pub fn latency(&self, series: Series, stat: Stat) -> Option<f64> {
        self.series(series).get(stat)
    }

    /// Share of requests that succeeded (0 when none ran).
    pub fn success_rate(&self) -> f64 {
        let total = self.completed + self.failed;
        if total == 0 {
            0.0
        } else {
            self.completed as f64 / total as f64
        }
    }

    /// The achieved rate, or for upstream files (which lack it) the request throughput.
    pub fn achieved_or_throughput(&self) -> f64 {
        self.achieved_request_rate
            .unwrap_or(self.request_throughput)
    }

    /// Whether the client self-check says the client held the rate back.
    pub fn client_limited(&self) -> bool {
        self.client
            .as_ref()
            .is_some_and(|c| c.limited_reason.is_some())
    }

    /// Hypervisor steal during the trial (%), where known.
    pub fn host_steal_pct(&self) -> Option<f64> {
        self.client.as_ref().and_then(|c| c.host_steal_pct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn a_trial_stopped_early_says_how_far_it_got() {
        let wire = json!({"completed": 15, "failed": 2, "duration": 4.0, "planned_requests": 120,
                          "early_stopped": true, "early_stop_reason": "unsustainable"});
        let stopped: TrialMetrics = serde_json::from_value(wire).expect("metrics");
        assert_eq!(
            stopped.stopped_early().as_deref(),
            Some("stopped early at 17 of 120 requests")
        );
        assert_eq!(
            serde_json::to_value(&stopped).expect("json")["planned_requests"],
            120
        );
        let passed: TrialMetrics = serde_json::from_value(
            json!({"completed": 60, "early_stopped": true, "early_pass_reason": "clearly passing"}),
        )
        .expect("metrics");
        assert_eq!(passed.stopped_early(), None, "an early pass is no stop");
    }

    #[test]
    fn the_wire_form_round_trips_and_keeps_bench_serving_names() {
        let wire = json!({
            "request_rate": 4.0, "max_concurrency": null, "duration": 10.0, "completed": 39,
            "failed": 1, "total_input_tokens": 100, "total_output_tokens": 200,
            "request_throughput": 3.9, "input_throughput": 10.0, "output_throughput": 20.0,
            "total_throughput": 30.0, "achieved_request_rate": 3.95, "mean_ttft_ms": 12.5,
            "p99_ttft_ms": 40.0, "p99_ttft_from_scheduled_ms": 45.0, "error_counts": {"http_503": 1},
            "client_cpu_fraction": 0.01, "p99_dispatch_lag_ms": 0.2, "client_limited": false,
            "early_stopped": false
        });
        let metrics: TrialMetrics = serde_json::from_value(wire.clone()).expect("metrics");
        assert_eq!(metrics.latency(Series::Ttft, Stat::P99), Some(40.0));
        assert_eq!(
            metrics.latency(Series::TtftFromScheduled, Stat::P99),
            Some(45.0)
        );
        assert_eq!(metrics.latency(Series::Tpot, Stat::P99), None);
        assert_eq!(metrics.error_counts["http_503"], 1);
        assert!(!metrics.client_limited());
        assert!((metrics.success_rate() - 0.975).abs() < 1e-12);
        let back = serde_json::to_value(&metrics).expect("json");
        for key in [
            "mean_ttft_ms",
            "p99_ttft_from_scheduled_ms",
            "achieved_request_rate",
        ] {
            assert_eq!(back[key], wire[key], "{key}");
        }
        let again: TrialMetrics = serde_json::from_value(back).expect("metrics");
        assert_eq!(again, metrics);
    }

    #[test]
    fn upstream_records_without_achieved_rate_use_throughput() {
        let metrics: TrialMetrics =
            serde_json::from_value(json!({"request_throughput": 2.5})).expect("metrics");
        assert_eq!(Metric::AchievedRate.value(&metrics), Some(2.5));
        assert!(metrics.client.is_none());
    }

    #[test]
    fn metric_names_match_the_wire_form() {
        let mut metrics = TrialMetrics::default();
        metrics.tpot.p95 = Some(3.0);
        metrics.client = Some(ClientHealth {
            host_steal_pct: Some(7.0),
            ..ClientHealth::default()
        });
        let wire = metrics.to_wire();
        for metric in [
            Metric::Latency(Series::Tpot, Stat::P95),
            Metric::HostStealPct,
            Metric::OutputThroughput,
        ] {
            assert_eq!(
                wire.get(&metric.name()).and_then(Value::as_f64),
                metric.value(&metrics),
                "{metric:?}"
            );
        }
    }
}
