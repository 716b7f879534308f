//! `autobench bench --output-file F`: the line appended to `F` ([`BenchLine`], bench_serving's
//! result line, so its notebooks read these files) and, with `--output-details`, the per-request
//! lines of `F.requests.jsonl` ([`BenchRequestLine`]).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::kinds::{ApiBackend, DatasetKind};
use crate::metrics::TrialMetrics;

/// One load test's result line: the flags it ran with, the server's `/server_info`, its metrics
/// under bench_serving's names, and bench_serving's own totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchLine {
    /// `--tag`.
    pub tag: Option<String>,
    /// `--backend`, as given.
    pub backend: ApiBackend,
    /// `--dataset-name`.
    pub dataset_name: DatasetKind,
    /// `--request-rate` (`None`: unbounded).
    pub request_rate: Option<f64>,
    /// `--max-concurrency`.
    pub max_concurrency: Option<u64>,
    /// `--sharegpt-output-len`.
    pub sharegpt_output_len: Option<u64>,
    /// `--random-input-len`.
    pub random_input_len: u64,
    /// `--random-output-len`.
    pub random_output_len: u64,
    /// `--random-range-ratio`.
    pub random_range_ratio: Option<f64>,
    /// The server's `/server_info` as it answered (SGLang backends), kept as it is.
    pub server_info: Option<Value>,
    /// What the load test measured.
    #[serde(flatten)]
    pub metrics: BenchMetrics,
    /// Input tokens sent (all text).
    pub total_input_text_tokens: u64,
    /// Input vision tokens (always 0).
    pub total_input_vision_tokens: u64,
    /// Output tokens of the successful requests, counted from the stream (or `usage`), not by
    /// re-tokenizing the text as bench_serving does.
    pub total_output_tokens_retokenized: u64,
    /// The server's speculative accept length (`/server_info`), when it reports one.
    pub accept_length: Option<f64>,
    /// The most output tokens received in any 1-s window, per second.
    pub max_output_tokens_per_s: f64,
    /// The most requests in flight at once.
    pub max_concurrent_requests: u64,
    /// With `--output-details`: bench_serving's per-request arrays.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub details: Option<BenchDetails>,
}

/// The fields of [`BenchLine`] that its own fields carry, left out of its metrics.
const LINE_OWN_KEYS: [&str; 4] = ["tag", "request_rate", "max_concurrency", "accept_length"];

/// A load test's metrics under bench_serving's names ([`TrialMetrics::to_wire`]), less those
/// [`BenchLine`] writes itself, so no key is written twice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BenchMetrics(pub TrialMetrics);

impl Serialize for BenchMetrics {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut wire = self.0.to_wire();
        wire.retain(|key, _| !LINE_OWN_KEYS.contains(&key.as_str()));
        wire.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for BenchMetrics {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        TrialMetrics::deserialize(deserializer).map(BenchMetrics)
    }
}

/// bench_serving's per-request arrays, one entry per request in the order they were sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchDetails {
    /// Input tokens.
    pub input_lens: Vec<u64>,
    /// Output tokens (0 for a failed request).
    pub output_lens: Vec<u64>,
    /// Time to first token, seconds (0 when none came).
    pub ttfts: Vec<f64>,
    /// Inter-token latencies, seconds.
    pub itls: Vec<Vec<f64>>,
    /// Empty strings: the generated text is not kept (only its timing).
    pub generated_texts: Vec<String>,
    /// The error category, or an empty string.
    pub errors: Vec<String>,
}

/// One request of `F.requests.jsonl` (`--output-details`); times in seconds from the start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchRequestLine {
    /// When the schedule meant to send it.
    pub scheduled_s: f64,
    /// When it was sent.
    pub sent_s: f64,
    /// When its first token came.
    pub first_token_s: Option<f64>,
    /// When it ended.
    pub end_s: f64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Inter-token latencies.
    pub itl_s: Vec<f64>,
    /// Its error category, when it failed.
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(details: Option<BenchDetails>) -> BenchLine {
        BenchLine {
            tag: Some("t1".into()),
            backend: ApiBackend::Sglang,
            dataset_name: DatasetKind::Random,
            request_rate: None,
            max_concurrency: Some(4),
            sharegpt_output_len: None,
            random_input_len: 32,
            random_output_len: 8,
            random_range_ratio: None,
            server_info: None,
            metrics: BenchMetrics(TrialMetrics {
                request_rate: Some(2.0),
                max_concurrency: Some(4),
                completed: 40,
                tag: Some("from the metrics".into()),
                ..TrialMetrics::default()
            }),
            total_input_text_tokens: 1280,
            total_input_vision_tokens: 0,
            total_output_tokens_retokenized: 320,
            accept_length: None,
            max_output_tokens_per_s: 50.0,
            max_concurrent_requests: 4,
            details,
        }
    }

    #[test]
    fn every_key_is_written_once_in_bench_servings_order() {
        let text = serde_json::to_string(&line(None)).expect("json");
        for key in ["tag", "request_rate", "max_concurrency", "accept_length"] {
            assert_eq!(
                text.matches(&format!("\"{key}\":")).count(),
                1,
                "{key}: {text}"
            );
        }
        assert!(
            text.starts_with(r#"{"tag":"t1","backend":"sglang","dataset_name":"random","request_rate":null,"max_concurrency":4,"#),
            "{text}"
        );
        assert!(text.contains(r#""accept_length":null"#), "{text}");
        assert!(!text.contains("input_lens"), "no details asked: {text}");
    }

    #[test]
    fn a_line_reads_back() {
        let details = BenchDetails {
            input_lens: vec![32],
            output_lens: vec![8],
            ttfts: vec![0.02],
            itls: vec![vec![0.01; 7]],
            generated_texts: vec![String::new()],
            errors: vec![String::new()],
        };
        let written = line(Some(details.clone()));
        let back: BenchLine =
            serde_json::from_str(&serde_json::to_string(&written).expect("json")).expect("read");
        assert_eq!(back.details, Some(details));
        assert_eq!(back.metrics.0.completed, 40);
        assert_eq!(back.tag.as_deref(), Some("t1"));
        let plain: BenchLine =
            serde_json::from_str(&serde_json::to_string(&line(None)).expect("json")).expect("read");
        assert_eq!(plain.details, None);
    }
}
