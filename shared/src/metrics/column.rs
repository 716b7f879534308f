//! [`Metric`]: one number of a trial, by type, for tables, plot axes and summary lines.

use serde::{Deserialize, Serialize};

use super::Stat;
use super::{Series, TrialMetrics};

/// A single number a table column, a plot axis or a summary line shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Rate the arrival schedule really offered (req/s).
    OfferedRate,
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
    /// Speculative decoding's average accept length (tokens per verify step).
    AcceptLength,
}

impl Metric {
    /// The bench_serving / results-file name (`p99_ttft_ms`).
    pub fn name(self) -> String {
        match self {
            Metric::OfferedRate => "offered_request_rate".into(),
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
            Metric::AcceptLength => "accept_length".into(),
        }
    }

    /// A human label with its unit (`p99 TTFT (ms)`, `achieved rate (req/s)`).
    pub fn label(self) -> String {
        match self {
            Metric::OfferedRate => "offered rate (req/s)".into(),
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
            Metric::AcceptLength => "accept length (tokens/step)".into(),
        }
    }

    /// The value in `m`, when measured.
    pub fn value(self, m: &TrialMetrics) -> Option<f64> {
        let client = m.client.as_ref();
        match self {
            Metric::OfferedRate => m.offered_request_rate,
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
            Metric::AcceptLength => m.accept_length,
        }
    }
}
