//! The on-disk form of [`TrialMetrics`]: one flat JSON object with bench_serving's names. The
//! metric names are spelled here and in [`super::column`] only.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use super::{ClientHealth, LatencyStats, Series, TrialMetrics};

impl TrialMetrics {
    /// The flat bench_serving-named object written to disk.
    pub fn to_wire(&self) -> Map<String, Value> {
        let mut m = Map::new();
        put(&mut m, "request_rate", self.request_rate);
        put_some(&mut m, "offered_request_rate", self.offered_request_rate);
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
        if let Some(planned) = self.planned_requests {
            m.insert("planned_requests".into(), json!(planned));
        }
        put_text(&mut m, "tag", &self.tag);
        put_some(&mut m, "accept_length", self.accept_length);
        m
    }

    /// Reads the flat object; absent values stay absent (or zero for counts).
    pub fn from_wire(m: &Map<String, Value>) -> TrialMetrics {
        let num = |key: &str| m.get(key).and_then(Value::as_f64);
        let count = |key: &str| num(key).map_or(0, |v| v.max(0.0) as u64);
        let text = |key: &str| m.get(key).and_then(Value::as_str).map(str::to_string);
        let mut out = TrialMetrics {
            request_rate: num("request_rate"),
            offered_request_rate: num("offered_request_rate"),
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
            planned_requests: m.get("planned_requests").and_then(Value::as_u64),
            tag: text("tag"),
            accept_length: num("accept_length"),
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

impl LatencyStats {
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
