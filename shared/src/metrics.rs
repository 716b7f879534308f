//! Typed trial metrics: [`TrialMetrics`] is what one trial measured, with accessors that the SLA,
//! ranking, tables and plots use instead of looking values up by name.
//!
//! On disk the metrics stay one flat JSON object with `sglang.bench_serving`'s names
//! (`mean_ttft_ms`, `request_throughput`, ...) plus autobench's additions, so files written before
//! this type existed, and the upstream tool's files, read the same. Those names are built in this
//! module only ([`Series::stem`], [`Metric::name`]); nothing else spells them.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::sla::Stat;

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

    fn named(&self) -> [(&'static str, Option<f64>); 6] {
        [
            ("mean", self.mean),
            ("median", self.median),
            ("std", self.std),
            ("p90", self.p90),
            ("p95", self.p95),
            ("p99", self.p99),
        ]
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
    /// Offered request rate (req/s); `None` for an unbounded rate.
    pub request_rate: Option<f64>,
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
    /// The user's tag (`benchmark.tag`).
    pub tag: Option<String>,
}

impl TrialMetrics {
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

    fn series_mut(&mut self, series: Series) -> &mut LatencyStats {
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

    /// The flat bench_serving-named object written to disk.
    pub fn to_wire(&self) -> Map<String, Value> {
        let mut m = Map::new();
        put(&mut m, "request_rate", self.request_rate);
        m.insert("max_concurrency".into(), json!(self.max_concurrency));
        put(&mut m, "duration", Some(self.duration));
        m.insert("completed".into(), json!(self.completed));
        m.insert("failed".into(), json!(self.failed));
        m.insert("total_input_tokens".into(), json!(self.total_input_tokens));
        m.insert(
            "total_output_tokens".into(),
            json!(self.total_output_tokens),
        );
        put(&mut m, "request_throughput", Some(self.request_throughput));
        put(&mut m, "input_throughput", Some(self.input_throughput));
        put(&mut m, "output_throughput", Some(self.output_throughput));
        put(&mut m, "total_throughput", Some(self.total_throughput));
        put_some(&mut m, "achieved_request_rate", self.achieved_request_rate);
        for series in Series::ALL {
            for (stat, value) in self.series(series).named() {
                put_some(&mut m, &format!("{stat}_{}_ms", series.stem()), value);
            }
            if series == Series::Itl {
                put_some(&mut m, "max_itl_ms", self.max_itl_ms);
            }
        }
        put_some(&mut m, "mean_send_lag_ms", self.mean_send_lag_ms);
        put_some(&mut m, "p99_send_lag_ms", self.p99_send_lag_ms);
        put_some(&mut m, "max_send_lag_ms", self.max_send_lag_ms);
        put_some(&mut m, "concurrency", self.concurrency);
        m.insert("error_counts".into(), json!(self.error_counts));
        if let Some(client) = &self.client {
            client.write_wire(&mut m);
        }
        m.insert("early_stopped".into(), json!(self.early_stopped));
        put_text(&mut m, "early_stop_reason", &self.early_stop_reason);
        put_text(&mut m, "early_pass_reason", &self.early_pass_reason);
        put_text(&mut m, "tag", &self.tag);
        m
    }

    /// Reads the flat object; absent values stay absent (or zero for counts).
    pub fn from_wire(m: &Map<String, Value>) -> TrialMetrics {
        let num = |key: &str| m.get(key).and_then(Value::as_f64);
        let count = |key: &str| num(key).map_or(0, |v| v.max(0.0) as u64);
        let text = |key: &str| m.get(key).and_then(Value::as_str).map(str::to_string);
        let mut out = TrialMetrics {
            request_rate: num("request_rate"),
            max_concurrency: m.get("max_concurrency").and_then(Value::as_u64),
            duration: num("duration").unwrap_or(0.0),
            completed: count("completed"),
            failed: count("failed"),
            total_input_tokens: count("total_input_tokens"),
            total_output_tokens: count("total_output_tokens"),
            request_throughput: num("request_throughput").unwrap_or(0.0),
            input_throughput: num("input_throughput").unwrap_or(0.0),
            output_throughput: num("output_throughput").unwrap_or(0.0),
            total_throughput: num("total_throughput").unwrap_or(0.0),
            achieved_request_rate: num("achieved_request_rate"),
            max_itl_ms: num("max_itl_ms"),
            mean_send_lag_ms: num("mean_send_lag_ms"),
            p99_send_lag_ms: num("p99_send_lag_ms"),
            max_send_lag_ms: num("max_send_lag_ms"),
            concurrency: num("concurrency"),
            error_counts: error_counts(m.get("error_counts")),
            client: ClientHealth::read_wire(m),
            early_stopped: m
                .get("early_stopped")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            early_stop_reason: text("early_stop_reason"),
            early_pass_reason: text("early_pass_reason"),
            tag: text("tag"),
            ..TrialMetrics::default()
        };
        for series in Series::ALL {
            let stem = series.stem();
            let stat = |name: &str| num(&format!("{name}_{stem}_ms"));
            *out.series_mut(series) = LatencyStats {
                mean: stat("mean"),
                median: stat("median"),
                std: stat("std"),
                p90: stat("p90"),
                p95: stat("p95"),
                p99: stat("p99"),
            };
        }
        out
    }
}

impl ClientHealth {
    fn write_wire(&self, m: &mut Map<String, Value>) {
        put(m, "mean_dispatch_lag_ms", Some(self.mean_dispatch_lag_ms));
        put(m, "p99_dispatch_lag_ms", Some(self.p99_dispatch_lag_ms));
        put(m, "max_dispatch_lag_ms", Some(self.max_dispatch_lag_ms));
        put(m, "mean_read_lag_ms", Some(self.mean_read_lag_ms));
        put(m, "p99_read_lag_ms", Some(self.p99_read_lag_ms));
        put(m, "client_cpu_fraction", Some(self.cpu_fraction));
        put_some(m, "host_steal_pct", self.host_steal_pct);
        put(
            m,
            "client_cpu_s_per_1000_requests",
            Some(self.cpu_s_per_1000_requests),
        );
        m.insert(
            "client_limited".into(),
            json!(self.limited_reason.is_some()),
        );
        put_text(m, "client_limited_reason", &self.limited_reason);
    }

    fn read_wire(m: &Map<String, Value>) -> Option<ClientHealth> {
        let num = |key: &str| m.get(key).and_then(Value::as_f64);
        let present = [
            "client_cpu_fraction",
            "p99_dispatch_lag_ms",
            "client_limited",
            "host_steal_pct",
        ]
        .iter()
        .any(|k| m.contains_key(*k));
        let limited = m.get("client_limited").and_then(Value::as_bool) == Some(true);
        let reason = m
            .get("client_limited_reason")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| limited.then(|| "client limited".to_string()));
        present.then(|| ClientHealth {
            mean_dispatch_lag_ms: num("mean_dispatch_lag_ms").unwrap_or(0.0),
            p99_dispatch_lag_ms: num("p99_dispatch_lag_ms").unwrap_or(0.0),
            max_dispatch_lag_ms: num("max_dispatch_lag_ms").unwrap_or(0.0),
            mean_read_lag_ms: num("mean_read_lag_ms").unwrap_or(0.0),
            p99_read_lag_ms: num("p99_read_lag_ms").unwrap_or(0.0),
            cpu_fraction: num("client_cpu_fraction").unwrap_or(0.0),
            cpu_s_per_1000_requests: num("client_cpu_s_per_1000_requests").unwrap_or(0.0),
            host_steal_pct: num("host_steal_pct"),
            limited_reason: reason,
        })
    }
}

fn error_counts(value: Option<&Value>) -> BTreeMap<String, u64> {
    value
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// A number, written as `null` when it is not finite (JSON has no infinity).
fn put(m: &mut Map<String, Value>, key: &str, value: Option<f64>) {
    let value = value
        .filter(|v| v.is_finite())
        .map_or(Value::Null, Value::from);
    m.insert(key.into(), value);
}

/// A number, left out when absent.
fn put_some(m: &mut Map<String, Value>, key: &str, value: Option<f64>) {
    if value.is_some() {
        put(m, key, value);
    }
}

fn put_text(m: &mut Map<String, Value>, key: &str, value: &Option<String>) {
    if let Some(text) = value {
        m.insert(key.into(), Value::String(text.clone()));
    }
}

impl Serialize for TrialMetrics {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_wire().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TrialMetrics {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Map::deserialize(deserializer)?;
        Ok(TrialMetrics::from_wire(&wire))
    }
}

/// A single number a table column, a plot axis or a summary line shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Rate the client kept up (req/s); request throughput for upstream files.
    AchievedRate,
    /// Successful requests.
    Completed,
    /// Failed requests.
    Failed,
    /// Trial duration (s).
    Duration,
    /// Successful requests per second.
    RequestThroughput,
    /// Input tokens per second.
    InputThroughput,
    /// Output tokens per second.
    OutputThroughput,
    /// Input plus output tokens per second.
    TotalThroughput,
    /// Total input tokens.
    TotalInputTokens,
    /// Total output tokens.
    TotalOutputTokens,
    /// One statistic of one latency series (ms).
    Latency(Series, Stat),
    /// Largest inter-token gap (ms).
    MaxItl,
    /// Mean send lag (ms).
    MeanSendLag,
    /// p99 send lag (ms).
    P99SendLag,
    /// Largest send lag (ms).
    MaxSendLag,
    /// Mean requests in flight.
    Concurrency,
    /// p99 dispatch lag (ms).
    P99DispatchLag,
    /// p99 read lag (ms).
    P99ReadLag,
    /// Client CPU s per 1,000 requests.
    ClientCpuPer1000,
    /// Hypervisor steal (%).
    HostStealPct,
}

impl Metric {
    /// The bench_serving / results-file name (`p99_ttft_ms`).
    pub fn name(self) -> String {
        match self {
            Metric::AchievedRate => "achieved_request_rate".into(),
            Metric::Completed => "completed".into(),
            Metric::Failed => "failed".into(),
            Metric::Duration => "duration".into(),
            Metric::RequestThroughput => "request_throughput".into(),
            Metric::InputThroughput => "input_throughput".into(),
            Metric::OutputThroughput => "output_throughput".into(),
            Metric::TotalThroughput => "total_throughput".into(),
            Metric::TotalInputTokens => "total_input_tokens".into(),
            Metric::TotalOutputTokens => "total_output_tokens".into(),
            Metric::Latency(series, stat) => format!("{}_{}_ms", stat.name(), series.stem()),
            Metric::MaxItl => "max_itl_ms".into(),
            Metric::MeanSendLag => "mean_send_lag_ms".into(),
            Metric::P99SendLag => "p99_send_lag_ms".into(),
            Metric::MaxSendLag => "max_send_lag_ms".into(),
            Metric::Concurrency => "concurrency".into(),
            Metric::P99DispatchLag => "p99_dispatch_lag_ms".into(),
            Metric::P99ReadLag => "p99_read_lag_ms".into(),
            Metric::ClientCpuPer1000 => "client_cpu_s_per_1000_requests".into(),
            Metric::HostStealPct => "host_steal_pct".into(),
        }
    }

    /// A human label with its unit (`p99 TTFT (ms)`, `achieved rate (req/s)`).
    pub fn label(self) -> String {
        match self {
            Metric::AchievedRate => "achieved rate (req/s)".into(),
            Metric::Completed => "completed requests".into(),
            Metric::Failed => "failed requests".into(),
            Metric::Duration => "duration (s)".into(),
            Metric::RequestThroughput => "request throughput (req/s)".into(),
            Metric::InputThroughput => "input throughput (tok/s)".into(),
            Metric::OutputThroughput => "output throughput (tok/s)".into(),
            Metric::TotalThroughput => "total throughput (tok/s)".into(),
            Metric::TotalInputTokens => "input tokens".into(),
            Metric::TotalOutputTokens => "output tokens".into(),
            Metric::Latency(series, stat) => format!("{} {} (ms)", stat.name(), series.title()),
            Metric::MaxItl => "max ITL (ms)".into(),
            Metric::MeanSendLag => "mean send lag (ms)".into(),
            Metric::P99SendLag => "p99 send lag (ms)".into(),
            Metric::MaxSendLag => "max send lag (ms)".into(),
            Metric::Concurrency => "mean concurrency".into(),
            Metric::P99DispatchLag => "p99 dispatch lag (ms)".into(),
            Metric::P99ReadLag => "p99 read lag (ms)".into(),
            Metric::ClientCpuPer1000 => "client CPU s / 1000 requests".into(),
            Metric::HostStealPct => "host steal (%)".into(),
        }
    }

    /// The value in `m`, when measured.
    pub fn value(self, m: &TrialMetrics) -> Option<f64> {
        let client = m.client.as_ref();
        match self {
            Metric::AchievedRate => Some(m.achieved_or_throughput()),
            Metric::Completed => Some(m.completed as f64),
            Metric::Failed => Some(m.failed as f64),
            Metric::Duration => Some(m.duration),
            Metric::RequestThroughput => Some(m.request_throughput),
            Metric::InputThroughput => Some(m.input_throughput),
            Metric::OutputThroughput => Some(m.output_throughput),
            Metric::TotalThroughput => Some(m.total_throughput),
            Metric::TotalInputTokens => Some(m.total_input_tokens as f64),
            Metric::TotalOutputTokens => Some(m.total_output_tokens as f64),
            Metric::Latency(series, stat) => m.latency(series, stat),
            Metric::MaxItl => m.max_itl_ms,
            Metric::MeanSendLag => m.mean_send_lag_ms,
            Metric::P99SendLag => m.p99_send_lag_ms,
            Metric::MaxSendLag => m.max_send_lag_ms,
            Metric::Concurrency => m.concurrency,
            Metric::P99DispatchLag => client.map(|c| c.p99_dispatch_lag_ms),
            Metric::P99ReadLag => client.map(|c| c.p99_read_lag_ms),
            Metric::ClientCpuPer1000 => client.map(|c| c.cpu_s_per_1000_requests),
            Metric::HostStealPct => m.host_steal_pct(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
