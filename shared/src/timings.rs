//! Per-request timings of a trial, stored next to its record (`requests/<trial_key>.jsonl`, one
//! [`RequestTiming`] per line): every request sent, warm-up and cool-down included and marked, so
//! a user can see a queue build (latency against send time) and a confirmation can pool its data
//! with the search's trial at the same rate.

use serde::{Deserialize, Serialize};

/// Which part of a steady-state trial a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Load before the measured requests (not counted).
    Warmup,
    /// A measured request.
    Measured,
    /// Load after the measured requests, while they finished (not counted).
    Cooldown,
}

/// One request's times, in seconds from the trial's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestTiming {
    /// Warm-up, measured or cool-down.
    pub phase: Phase,
    /// When the schedule said to send it.
    pub scheduled_s: f64,
    /// When it was sent.
    pub sent_s: f64,
    /// When its first token arrived (none for a failed request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token_s: Option<f64>,
    /// When it ended.
    pub end_s: f64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Output tokens received.
    pub output_tokens: u64,
    /// Why it failed, in a word (`timeout`, `http_500`), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RequestTiming {
    /// Time to first token from the scheduled send time, in ms.
    pub fn ttft_ms(&self) -> Option<f64> {
        self.first_token_s.map(|f| (f - self.scheduled_s) * 1000.0)
    }

    /// Time per output token after the first, in ms (requests with more than one token).
    pub fn tpot_ms(&self) -> Option<f64> {
        let first = self.first_token_s?;
        (self.output_tokens > 1)
            .then(|| (self.end_s - first) * 1000.0 / (self.output_tokens - 1) as f64)
    }
}

/// At most this many requests of a trial are stored (the first ones, in schedule order): 50,000
/// lines are about 6 MB.
pub const MAX_STORED: usize = 50_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_are_from_the_scheduled_time() {
        let t = RequestTiming {
            phase: Phase::Measured,
            scheduled_s: 1.0,
            sent_s: 1.01,
            first_token_s: Some(1.2),
            end_s: 2.2,
            input_tokens: 10,
            output_tokens: 11,
            error: None,
        };
        assert!((t.ttft_ms().expect("ttft") - 200.0).abs() < 1e-9);
        assert!((t.tpot_ms().expect("tpot") - 100.0).abs() < 1e-9);
        let line = serde_json::to_string(&t).expect("json");
        assert!(
            line.starts_with(r#"{"phase":"measured","scheduled_s":1.0"#),
            "{line}"
        );
        assert_eq!(
            serde_json::from_str::<RequestTiming>(&line).expect("back"),
            t
        );
    }
}
