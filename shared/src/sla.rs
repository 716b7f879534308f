//! The latency SLA: which statistics must stay under which limits, and the success-rate floor.
//!
//! Keys: upstream's `max_ttft_ms` / `max_tpot_ms` compare the **mean** measured from the actual send
//! (bench_serving compatible). Explicit keys `max_<stat>_<metric>_ms` (stat: mean, median, p90,
//! p95, p99; metric: ttft, tpot, itl, e2e) name their statistic; their TTFT and E2E are measured
//! from the **scheduled** send time by default (`measure_from: scheduled`), so client-side queueing
//! under `max_concurrency` counts against the server instead of hiding. `min_success_rate`
//! (default 1.0) fails a trial whose requests failed.

use serde::{Deserialize, Serialize};

use crate::metrics::{Metric, Series, TrialMetrics};

pub use crate::metrics::Stat;

/// The latency metric an SLA limit constrains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyMetric {
    /// Time to first token.
    Ttft,
    /// Time per output token after the first.
    Tpot,
    /// Inter-token latency.
    Itl,
    /// End-to-end request latency.
    E2e,
}

impl LatencyMetric {
    fn parse(text: &str) -> Option<LatencyMetric> {
        Some(match text {
            "ttft" => LatencyMetric::Ttft,
            "tpot" => LatencyMetric::Tpot,
            "itl" => LatencyMetric::Itl,
            "e2e" | "e2e_latency" | "e2el" => LatencyMetric::E2e,
            _ => return None,
        })
    }

    /// The metric's name inside metric keys (`ttft` in `p99_ttft_ms`).
    pub fn metric_stem(self) -> &'static str {
        match self {
            LatencyMetric::Ttft => "ttft",
            LatencyMetric::Tpot => "tpot",
            LatencyMetric::Itl => "itl",
            LatencyMetric::E2e => "e2e_latency",
        }
    }
}

/// Where latency clocks start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasureFrom {
    /// From the time the arrival schedule said the request should be sent (includes client-side
    /// queueing and lag; coordinated-omission safe).
    #[default]
    Scheduled,
    /// From the moment the request was actually sent (bench_serving's definition).
    Sent,
}

/// One latency limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyLimit {
    /// The config key it came from (`max_p99_ttft_ms`).
    pub key: String,
    /// Statistic.
    pub stat: Stat,
    /// Metric.
    pub metric: LatencyMetric,
    /// Upper bound in milliseconds (equality passes).
    pub max_ms: f64,
    /// Clock start for TTFT/E2E.
    pub measure_from: MeasureFrom,
}

impl LatencyLimit {
    /// The measured series this limit reads: TTFT and E2E from the scheduled send time unless
    /// the limit measures from the actual send.
    pub fn series(&self) -> Series {
        let scheduled = self.measure_from == MeasureFrom::Scheduled;
        match self.metric {
            LatencyMetric::Ttft if scheduled => Series::TtftFromScheduled,
            LatencyMetric::Ttft => Series::Ttft,
            LatencyMetric::E2e if scheduled => Series::E2eFromScheduled,
            LatencyMetric::E2e => Series::E2e,
            LatencyMetric::Tpot => Series::Tpot,
            LatencyMetric::Itl => Series::Itl,
        }
    }

    /// The typed metric this limit reads.
    pub fn measured(&self) -> Metric {
        Metric::Latency(self.series(), self.stat)
    }

    /// The results-file name of the measured value (`p99_ttft_from_scheduled_ms`), for display.
    pub fn metric_name(&self) -> String {
        self.measured().name()
    }

    /// The limit's statistic and metric as people write them: "p99 TTFT", "mean TPOT",
    /// "p90 E2E latency (from send)" (TTFT and E2E from the send rather than the schedule say
    /// so).
    pub fn plain_name(&self) -> String {
        let stat = match self.stat {
            Stat::Mean => "mean",
            Stat::Median => "median",
            Stat::P90 => "p90",
            Stat::P95 => "p95",
            Stat::P99 => "p99",
        };
        let metric = match self.metric {
            LatencyMetric::Ttft => "TTFT",
            LatencyMetric::Tpot => "TPOT",
            LatencyMetric::Itl => "ITL",
            LatencyMetric::E2e => "E2E latency",
        };
        let from_send = self.measure_from == MeasureFrom::Sent
            && matches!(self.metric, LatencyMetric::Ttft | LatencyMetric::E2e);
        format!(
            "{stat} {metric}{}",
            if from_send { " (from send)" } else { "" }
        )
    }

    /// "p99 TTFT <= 250 ms".
    pub fn plain(&self) -> String {
        format!("{} <= {} ms", self.plain_name(), trim_number(self.max_ms))
    }

    /// The measured value in `metrics`, when present.
    pub fn value(&self, metrics: &TrialMetrics) -> Option<f64> {
        metrics.latency(self.series(), self.stat)
    }
}

/// The whole SLA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sla {
    /// Latency limits, all of which must hold.
    pub limits: Vec<LatencyLimit>,
    /// Minimum fraction of requests that must succeed (0..=1).
    pub min_success_rate: f64,
}

impl Sla {
    /// The SLA as people write it: "p99 TTFT <= 250 ms, p99 TPOT <= 20 ms", and the success rate
    /// when it allows failures ("at least 99% of requests succeed"; every request by default,
    /// which goes without saying).
    pub fn plain(&self) -> String {
        let mut parts: Vec<String> = self.limits.iter().map(LatencyLimit::plain).collect();
        if self.min_success_rate < 1.0 {
            parts.push(format!(
                "at least {}% of requests succeed",
                trim_number(self.min_success_rate * 100.0)
            ));
        } else if parts.is_empty() {
            parts.push("every request succeeds".into());
        }
        parts.join(", ")
    }
}

/// A number without trailing zeros: 250, 20.5, 99.9.
fn trim_number(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl Default for Sla {
    fn default() -> Self {
        Sla {
            limits: Vec::new(),
            min_success_rate: 1.0,
        }
    }
}

/// Why an SLA key was not understood.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "unknown SLA key `{0}`: expected max_ttft_ms, max_tpot_ms, max_<stat>_<metric>_ms (stat: mean, median, p90, p95, p99; metric: ttft, tpot, itl, e2e), min_success_rate or measure_from"
)]
pub struct UnknownSlaKey(pub String);

/// Parses an SLA limit key; upstream's `max_ttft_ms`/`max_tpot_ms` are means measured from send.
pub fn parse_limit_key(
    key: &str,
    max_ms: f64,
    default_from: MeasureFrom,
) -> Result<LatencyLimit, UnknownSlaKey> {
    let unknown = || UnknownSlaKey(key.to_string());
    let body = key
        .strip_prefix("max_")
        .and_then(|rest| rest.strip_suffix("_ms"))
        .ok_or_else(unknown)?;
    let (stat, metric, measure_from) = match body {
        "ttft" => (Stat::Mean, LatencyMetric::Ttft, MeasureFrom::Sent),
        "tpot" => (Stat::Mean, LatencyMetric::Tpot, MeasureFrom::Sent),
        _ => {
            let (stat, metric) = body.split_once('_').ok_or_else(unknown)?;
            (
                Stat::parse(stat).ok_or_else(unknown)?,
                LatencyMetric::parse(metric).ok_or_else(unknown)?,
                default_from,
            )
        }
    };
    Ok(LatencyLimit {
        key: key.to_string(),
        stat,
        metric,
        max_ms,
        measure_from,
    })
}

impl Sla {
    /// Checks measured metrics; returns one readable reason per violated limit (empty = pass).
    /// A missing metric counts as a violation.
    pub fn violations(&self, metrics: &TrialMetrics) -> Vec<String> {
        if metrics.completed + metrics.failed == 0 {
            // No latency to show: zeros would read as a fast server.
            return vec!["no request finished, so no latency was measured".into()];
        }
        let mut failures = Vec::new();
        for limit in &self.limits {
            let name = limit.metric_name();
            match limit.value(metrics) {
                Some(value) if value <= limit.max_ms => {}
                Some(value) => failures.push(format!(
                    "{} {value:.1} ms > {} ms",
                    limit.plain_name(),
                    trim_number(limit.max_ms)
                )),
                None => failures.push(format!("{name} missing")),
            }
        }
        let success_rate = metrics.success_rate();
        if success_rate < self.min_success_rate {
            failures.push(format!(
                "success_rate={success_rate:.3} < {} ({} of {} requests failed)",
                self.min_success_rate,
                metrics.failed,
                metrics.completed + metrics.failed
            ));
        }
        failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limits_read_as_people_write_them() {
        let sla = Sla {
            limits: vec![
                parse_limit_key("max_p99_ttft_ms", 250.0, MeasureFrom::Scheduled).expect("key"),
                parse_limit_key("max_p99_tpot_ms", 20.0, MeasureFrom::Scheduled).expect("key"),
                parse_limit_key("max_ttft_ms", 100.5, MeasureFrom::Scheduled).expect("key"),
            ],
            min_success_rate: 0.99,
        };
        assert_eq!(
            sla.plain(),
            "p99 TTFT <= 250 ms, p99 TPOT <= 20 ms, mean TTFT (from send) <= 100.5 ms, at least 99% of requests succeed"
        );
        assert_eq!(Sla::default().plain(), "every request succeeds");
    }

    #[test]
    fn parses_keys() {
        let upstream = parse_limit_key("max_ttft_ms", 1500.0, MeasureFrom::Scheduled).expect("key");
        assert_eq!(upstream.metric_name(), "mean_ttft_ms");
        let tail = parse_limit_key("max_p99_ttft_ms", 1.0, MeasureFrom::Scheduled).expect("key");
        assert_eq!(tail.metric_name(), "p99_ttft_from_scheduled_ms");
        let tpot = parse_limit_key("max_p90_tpot_ms", 1.0, MeasureFrom::Scheduled).expect("key");
        assert_eq!(tpot.metric_name(), "p90_tpot_ms");
        let e2e = parse_limit_key("max_p99_e2e_ms", 1.0, MeasureFrom::Sent).expect("key");
        assert_eq!(e2e.metric_name(), "p99_e2e_latency_ms");
        assert!(parse_limit_key("max_p98_ttft_ms", 1.0, MeasureFrom::Sent).is_err());
        assert!(parse_limit_key("ttft", 1.0, MeasureFrom::Sent).is_err());
    }

    #[test]
    fn judges_limits_and_success_rate() {
        let sla = Sla {
            limits: vec![parse_limit_key("max_ttft_ms", 100.0, MeasureFrom::Sent).expect("key")],
            min_success_rate: 1.0,
        };
        let metrics =
            |v: serde_json::Value| -> TrialMetrics { serde_json::from_value(v).expect("metrics") };
        let ok = metrics(json!({"mean_ttft_ms": 100.0, "completed": 10, "failed": 0}));
        assert!(sla.violations(&ok).is_empty());
        let slow = metrics(json!({"mean_ttft_ms": 100.5, "completed": 10, "failed": 0}));
        assert_eq!(
            sla.violations(&slow),
            ["mean TTFT (from send) 100.5 ms > 100 ms"],
            "the limit as people write it, with the measured value"
        );
        let lossy = metrics(json!({"mean_ttft_ms": 1.0, "completed": 9, "failed": 1}));
        assert_eq!(sla.violations(&lossy).len(), 1);
        let missing = metrics(json!({"completed": 10, "failed": 0}));
        assert_eq!(sla.violations(&missing), ["mean_ttft_ms missing"]);
    }
}
