//! A trial's per-request timings on disk (`requests/<trial_key>.jsonl`, see
//! [`shared::timings`]): written before the trial's record, read back where a confirmation pools
//! its requests with the search's trial at the same rate.

use std::path::Path;

use shared::timings::{MAX_STORED, Phase, RequestTiming};

use crate::loadgen::RequestResult;
use crate::loadgen::stream::RequestError;

/// Every request of a trial, in schedule order, each marked with its phase by `phase`.
pub(super) fn of(
    results: &[RequestResult],
    phase: impl Fn(&RequestResult) -> Phase,
) -> Vec<RequestTiming> {
    let mut timings: Vec<RequestTiming> = results
        .iter()
        .map(|r| RequestTiming {
            phase: phase(r),
            scheduled_s: micros(r.scheduled_at),
            sent_s: micros(r.sent_at),
            first_token_s: r.first_token_at.map(micros),
            end_s: micros(r.end_at),
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            error: r.error.as_ref().map(RequestError::category),
        })
        .collect();
    timings.sort_by(|a, b| a.scheduled_s.total_cmp(&b.scheduled_s));
    timings.truncate(MAX_STORED);
    timings
}

/// Seconds to the microsecond (the file stays small; the clock is no finer).
fn micros(seconds: f64) -> f64 {
    (seconds * 1e6).round() / 1e6
}

/// Writes the timings (atomically: a reader never sees half a file).
pub(super) fn write(path: &Path, timings: &[RequestTiming]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::results::write_atomic(path, &crate::results::jsonl_bytes(timings)?)
}

/// The measured requests of a stored trial, as the verdict reads them (inter-token gaps are not
/// stored: none), or nothing when the file is missing or unreadable.
pub(super) fn measured(path: &Path) -> Vec<RequestResult> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| serde_json::from_str::<RequestTiming>(line).ok())
        .filter(|t| t.phase == Phase::Measured)
        .map(|t| RequestResult {
            scheduled_at: t.scheduled_s,
            sent_at: t.sent_s,
            first_token_at: t.first_token_s,
            end_at: t.end_s,
            itl: Vec::new(),
            output_tokens: t.output_tokens,
            input_tokens: t.input_tokens,
            error: t.error.map(|_| RequestError::Other),
            read_lag: 0.0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(at: f64, error: Option<RequestError>) -> RequestResult {
        RequestResult {
            scheduled_at: at,
            sent_at: at,
            first_token_at: error.is_none().then_some(at + 0.1),
            end_at: at + 1.0,
            itl: vec![0.1; 9],
            output_tokens: 10,
            input_tokens: 5,
            error,
            read_lag: 0.0,
        }
    }

    #[test]
    fn measured_requests_round_trip_and_the_rest_stay_out() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("requests").join("abc.jsonl");
        let results = vec![
            request(2.0, None),
            request(0.5, None),
            request(1.5, Some(RequestError::Timeout)),
            request(3.0, None),
        ];
        let timings = of(&results, |r| match r.scheduled_at {
            at if at < 1.0 => Phase::Warmup,
            at if at < 2.5 => Phase::Measured,
            _ => Phase::Cooldown,
        });
        assert_eq!(timings[0].phase, Phase::Warmup, "schedule order");
        assert_eq!(timings[1].error.as_deref(), Some("timeout"));
        write(&path, &timings).expect("write");
        let back = measured(&path);
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].scheduled_at, 1.5);
        assert!(back[0].error.is_some());
        assert_eq!(back[1].first_token_at, Some(2.1));
        assert!(measured(&dir.path().join("missing.jsonl")).is_empty());
    }
}
