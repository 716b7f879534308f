//! Speculative decoding's accept length, as the server reports it: SGLang's `/server_info`
//! running average, or vLLM's Prometheus counters read before and after a trial (the trial's own
//! drafts and accepted tokens). A server that reports nothing leaves the record without one; the
//! request is short and never fails a trial.

use std::time::Duration;

use serde_json::Value;
use shared::kinds::AcceptReport;

use crate::loadgen::Target;

/// How long one report request may take.
const REPORT_TIMEOUT: Duration = Duration::from_secs(3);

/// What a server said at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Reading {
    /// SGLang: its running average (tokens per verify step).
    Average(f64),
    /// vLLM: its counters so far (drafts, accepted draft tokens).
    Counters { drafts: f64, accepted: f64 },
}

/// Reads the server's report, `None` when it gives none.
pub(super) async fn read(target: &Target, report: AcceptReport) -> Option<Reading> {
    let path = match report {
        AcceptReport::SglangServerInfo => "/server_info",
        AcceptReport::VllmMetrics => "/metrics",
    };
    let answer = target
        .client
        .get(format!("{}{path}", target.base_url))
        .timeout(REPORT_TIMEOUT)
        .send()
        .await
        .ok()?
        .error_for_status()
        .ok()?;
    let body = answer.text().await.ok()?;
    match report {
        AcceptReport::SglangServerInfo => sglang_average(&body).map(Reading::Average),
        AcceptReport::VllmMetrics => vllm_counters(&body),
    }
}

/// The trial's accept length from the readings before and after it: SGLang's average after it,
/// or vLLM's `1 + accepted / drafts` over the trial's own counts.
pub(super) fn over_trial(before: Option<Reading>, after: Option<Reading>) -> Option<f64> {
    match (before, after?) {
        (_, Reading::Average(average)) => Some(average),
        (
            Some(Reading::Counters { drafts, accepted }),
            Reading::Counters {
                drafts: d,
                accepted: a,
            },
        ) if d > drafts => Some(1.0 + (a - accepted).max(0.0) / (d - drafts)),
        _ => None,
    }
}

/// `internal_states[0].avg_spec_accept_length`, or a top-level `avg_spec_accept_length` (older
/// SGLang).
fn sglang_average(body: &str) -> Option<f64> {
    let info: Value = serde_json::from_str(body).ok()?;
    info.pointer("/internal_states/0/avg_spec_accept_length")
        .and_then(Value::as_f64)
        .or_else(|| info.get("avg_spec_accept_length").and_then(Value::as_f64))
        .filter(|v| v.is_finite() && *v > 0.0)
}

/// The sums of vLLM's two speculative-decoding counters over every label set, from Prometheus
/// text (a line per sample: `name{labels} value`). Hand-parsed: two counters do not need a
/// Prometheus client crate.
fn vllm_counters(body: &str) -> Option<Reading> {
    let sum = |name: &str| -> Option<f64> {
        let values: Vec<f64> = body
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let rest = line.strip_prefix(name)?;
                // The name must end here: `{labels} v` or ` v`, not a longer metric's name.
                let value = match rest.chars().next()? {
                    '{' => rest.rsplit_once('}')?.1,
                    ' ' => rest,
                    _ => return None,
                };
                value.split_whitespace().next()?.parse::<f64>().ok()
            })
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    };
    Some(Reading::Counters {
        drafts: sum("vllm:spec_decode_num_drafts_total")?,
        accepted: sum("vllm:spec_decode_num_accepted_tokens_total")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sglang_reports_its_average_in_either_place() {
        let now = r#"{"internal_states": [{"avg_spec_accept_length": 2.61}]}"#;
        let old = r#"{"avg_spec_accept_length": 3.1}"#;
        assert_eq!(sglang_average(now), Some(2.61));
        assert_eq!(sglang_average(old), Some(3.1));
        assert_eq!(
            sglang_average(r#"{"internal_states": [{"avg_spec_accept_length": null}]}"#),
            None
        );
        assert_eq!(sglang_average("not json"), None);
    }

    #[test]
    fn vllm_counters_give_the_trials_own_accept_length() {
        let text = |drafts: u64, accepted: u64| {
            format!(
                "# HELP x\n# TYPE vllm:spec_decode_num_drafts_total counter\nvllm:spec_decode_num_drafts_total{{model_name=\"m\",engine=\"0\"}} {drafts}.0\nvllm:spec_decode_num_drafts_total_created{{model_name=\"m\"}} 1.7e9\nvllm:spec_decode_num_accepted_tokens_total{{model_name=\"m\"}} {accepted}.0\n"
            )
        };
        let before = vllm_counters(&text(100, 150));
        let after = vllm_counters(&text(1100, 1550));
        assert_eq!(
            before,
            Some(Reading::Counters {
                drafts: 100.0,
                accepted: 150.0
            }),
            "`_created` is another metric"
        );
        // 1,000 drafts over the trial accepted 1,400 tokens: 2.4 per verify step.
        assert_eq!(over_trial(before, after), Some(2.4));
        assert_eq!(over_trial(after, after), None, "no drafts in the trial");
        assert_eq!(vllm_counters("vllm:request_success_total 3"), None);
        assert_eq!(over_trial(None, Some(Reading::Average(2.5))), Some(2.5));
    }
}
