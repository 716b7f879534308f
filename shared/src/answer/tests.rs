use serde_json::json;

use super::*;
use crate::confidence::Decision;
use crate::sla::{MeasureFrom, parse_limit_key};
use crate::verdict::{Contender, LimitCheck, Verdict};

fn sla() -> Sla {
    Sla {
        limits: vec![
            parse_limit_key("max_p99_ttft_ms", 200.0, MeasureFrom::Scheduled).expect("key"),
            parse_limit_key("max_p99_tpot_ms", 20.0, MeasureFrom::Scheduled).expect("key"),
        ],
        min_success_rate: 1.0,
    }
}

/// Candidate 0 is the default; candidate `n` sets `--max-running-requests 16 * n`.
fn record(stage: &str, cand: usize, qps: f64, passed: bool) -> TrialRecord {
    let mut flags = json!({"model_path": "m"});
    if cand > 0 {
        flags["max_running_requests"] = json!(16 * cand);
    }
    let seconds = if stage == "confirm" { 90.0 } else { 30.0 };
    serde_json::from_value(json!({
        "stage": stage, "candidate_id": cand, "requested_qps": qps, "max_concurrency": null,
        "server_flags": flags, "sla_passed": passed,
        "metrics": {"completed": 100, "duration": seconds, "achieved_request_rate": qps,
                    "output_throughput": qps, "p99_ttft_from_scheduled_ms": 150.0,
                    "p99_tpot_ms": if passed { 15.0 } else { 24.0 }}
    }))
    .expect("record")
}

fn contender(candidate: usize, passed: bool) -> Contender {
    Contender {
        candidate,
        role: String::new(),
        passed,
        class: if passed { "pass" } else { "fail" }.into(),
    }
}

fn confirmation(winner: usize, chosen: usize, confirmed: bool) -> Confirmation {
    Confirmation {
        rate: 12.0,
        max_concurrency: None,
        winner,
        chosen,
        confirmed,
        tied_with: vec![],
        compared_at: Some(12.0),
        contenders: vec![contender(winner, confirmed)],
        passes_at: confirmed.then_some(12.0),
        fails_at: Some(13.0),
        likely: None,
        note: String::new(),
        not_shown: None,
        speculative: None,
        by_cost: None,
    }
}

fn headline(records: &[TrialRecord], c: Option<&Confirmation>, state: RunState) -> String {
    let sla = sla();
    answer(&Facts {
        records,
        confirmation: c,
        sla: Some(&sla),
        state,
        gpu_hour_price: None,
    })
    .headline
}

/// A case of the table: name, records, confirmation, where the run stands, the sentence.
type Case<'a> = (
    &'a str,
    Vec<TrialRecord>,
    Option<&'a Confirmation>,
    RunState,
    String,
);

const SLA: &str = "your SLA (p99 TTFT <= 200 ms, p99 TPOT <= 20 ms)";

#[test]
fn every_case_reads_as_one_sentence() {
    let search = vec![
        record("base", 0, 6.0, true),
        record("base", 0, 7.0, false),
        record("base", 2, 12.0, true),
        record("base", 2, 13.0, false),
        record("base", 1, 8.0, true),
    ];
    let confirmed = [search.clone(), vec![record("confirm", 2, 12.0, true)]].concat();
    let stepped_down = {
        let mut c = confirmation(2, 2, false);
        c.passes_at = Some(11.4);
        c.fails_at = Some(12.0);
        c.contenders = vec![contender(2, true), contender(0, false)];
        c.compared_at = Some(11.4);
        c
    };
    let tie_with_default = {
        let mut c = confirmation(2, 0, true);
        c.tied_with = vec![0];
        c.contenders = vec![contender(2, true), contender(0, true)];
        c.fails_at = None;
        c
    };
    let tie_between_changes = {
        let mut c = confirmation(2, 1, true);
        c.tied_with = vec![1];
        c.contenders = vec![contender(2, true), contender(1, true), contender(0, false)];
        c
    };
    let refuted = {
        let mut c = confirmation(2, 2, false);
        c.fails_at = Some(10.0);
        c
    };
    let default_wins = {
        let mut c = confirmation(0, 0, true);
        c.contenders = vec![contender(0, true), contender(2, false)];
        c
    };
    let default_search = vec![
        record("base", 0, 12.0, true),
        record("base", 1, 8.0, true),
        record("base", 2, 10.0, true),
        record("confirm", 0, 12.0, true),
    ];
    let plain = confirmation(2, 2, true);
    let cases: Vec<Case> = vec![
        (
            "confirmed change",
            confirmed.clone(),
            Some(&plain),
            RunState::Finished,
            format!(
                "Use `--max-running-requests 32`: it holds {SLA} up to 12.00 req/s (it failed at 13.00 req/s), 100% more than the default (6.00 req/s); checked in a 90-s trial."
            ),
        ),
        (
            "stepped down",
            [
                search.clone(),
                vec![
                    record("confirm", 2, 12.0, false),
                    record("confirm", 2, 11.4, true),
                ],
            ]
            .concat(),
            Some(&stepped_down),
            RunState::Finished,
            format!(
                "Use `--max-running-requests 32`: it holds {SLA} up to 11.40 req/s (it failed at 12.00 req/s), 90% more than the default (6.00 req/s); checked in a 90-s trial. The search's 12.00 req/s failed a 90-s check."
            ),
        ),
        (
            "tied with the default",
            [
                search.clone(),
                vec![
                    record("confirm", 2, 12.0, true),
                    record("confirm", 0, 12.0, true),
                ],
            ]
            .concat(),
            Some(&tie_with_default),
            RunState::Finished,
            format!(
                "No change beat the default: it holds {SLA} up to 12.00 req/s; checked in a 90-s trial. Tried 2 changes; the best, `--max-running-requests 32`, tied with it at 12.00 req/s: no significant difference, so the default stays."
            ),
        ),
        (
            "tied between changes",
            [
                search.clone(),
                vec![
                    record("confirm", 2, 12.0, true),
                    record("confirm", 1, 12.0, true),
                ],
            ]
            .concat(),
            Some(&tie_between_changes),
            RunState::Finished,
            format!(
                "Use `--max-running-requests 16`: it holds {SLA} up to 12.00 req/s (it failed at 13.00 req/s), 100% more than the default (6.00 req/s); checked in a 90-s trial. It tied with `--max-running-requests 32` at 12.00 req/s: no significant difference, and it changes the fewest flags."
            ),
        ),
        (
            "the default won the search",
            default_search.clone(),
            Some(&default_wins),
            RunState::Finished,
            format!(
                "No change beat the default: it holds {SLA} up to 12.00 req/s (it failed at 13.00 req/s); checked in a 90-s trial. Tried 2 changes; the best, `--max-running-requests 32`, held it up to 10.00 req/s and failed at 12.00 req/s in the check."
            ),
        ),
        (
            "refuted, nothing lower held",
            search.clone(),
            Some(&refuted),
            RunState::Finished,
            "No confirmed answer: the search's best, `--max-running-requests 32` at 12.00 req/s, failed its check at every rate down to 10.00 req/s, and no lower rate held in the search.".into(),
        ),
        (
            "stopped before the check",
            search.clone(),
            None,
            RunState::Stopped,
            format!(
                "Not confirmed: the run stopped before its check: `--max-running-requests 32` holds {SLA} up to 12.00 req/s in a 30-s trial of the search, 100% more than the default (6.00 req/s)."
            ),
        ),
        (
            "stopped during the check, after a failure",
            [search.clone(), vec![record("confirm", 2, 12.0, false)]].concat(),
            None,
            RunState::Stopped,
            "Not confirmed: the run stopped during its check: `--max-running-requests 32` failed a 90-s check at 12.00 req/s; no lower rate held in the search.".into(),
        ),
        (
            "running",
            search.clone(),
            None,
            RunState::Running,
            format!(
                "Best so far, not yet checked: `--max-running-requests 32` holds {SLA} up to 12.00 req/s in a 30-s trial of the search, 100% more than the default (6.00 req/s)."
            ),
        ),
        (
            "nothing held",
            vec![record("base", 0, 2.0, false), record("base", 1, 1.5, false)],
            None,
            RunState::Finished,
            "No command held your SLA (p99 TTFT <= 200 ms, p99 TPOT <= 20 ms) at any rate tried, down to 1.50 req/s.".into(),
        ),
    ];
    for (name, records, c, state, expected) in cases {
        assert_eq!(headline(&records, c, state), expected, "{name}");
    }
}

#[test]
fn numbers_get_their_article() {
    let cases = [
        ("18", "an"),
        ("8.5", "an"),
        ("80", "an"),
        ("11", "an"),
        ("11000", "an"),
        ("1100", "a"),
        ("90", "a"),
        ("1", "a"),
    ];
    for (number, expected) in cases {
        assert_eq!(article(number), expected, "{number}");
    }
}

#[test]
fn a_check_that_failed_is_never_the_answer() {
    let records = [
        record("base", 2, 8.0, true),
        record("base", 2, 12.0, true),
        record("confirm", 2, 12.0, false),
    ];
    let text = headline(&records, None, RunState::Stopped);
    assert!(
        text.contains("failed a 90-s check at 12.00 req/s; in the search it holds"),
        "{text}"
    );
    assert!(text.ends_with("up to 8.00 req/s."), "{text}");
    assert_eq!(credible_rate(&records, Stage::Base, 2), Some(8.0));
}

#[test]
fn a_launch_failure_is_named_by_its_cause() {
    let failed: TrialRecord = serde_json::from_value(json!({
        "stage": "base", "candidate_id": 0, "requested_qps": 1.0, "max_concurrency": null,
        "server_flags": {}, "sla_passed": false, "diagnosis": "oom", "failure": "launch",
        "cause": "CUDA out of memory"
    }))
    .expect("record");
    assert_eq!(
        headline(&[failed], None, RunState::Stopped),
        "No answer: no server started (CUDA out of memory)."
    );
}

#[test]
fn how_sure_says_each_limit_in_a_sentence() {
    let mut trial = record("confirm", 2, 12.0, true);
    trial.steady = Some(crate::steady::SteadyWindow {
        warmup_requests: 150,
        warmup_s: 12.4,
        warmup_rule: crate::steady::WarmupRule::Mser5,
        measured_s: 90.0,
        cooldown_requests: 20,
    });
    let check = |name: &str, limit: f64, estimate: f64, upper: Option<f64>, decision| LimitCheck {
        name: name.into(),
        limit,
        floor: false,
        estimate: Some(estimate),
        lower: None,
        upper,
        decision,
        effective_requests: None,
    };
    trial.verdict = Some(Verdict {
        decision: Decision::Inconclusive,
        confidence: 0.95,
        requests: 1080,
        replications: 1,
        checks: vec![
            check(
                "p99_ttft_from_scheduled_ms",
                200.0,
                150.0,
                Some(171.0),
                Decision::Pass,
            ),
            LimitCheck {
                effective_requests: Some(60.0),
                ..check("p99_tpot_ms", 20.0, 15.0, None, Decision::Inconclusive)
            },
        ],
    });
    let records = [
        record("base", 0, 6.0, true),
        record("base", 2, 12.0, true),
        trial,
    ];
    let mut c = confirmation(2, 2, true);
    c.contenders = vec![contender(2, true), contender(0, false)];
    let sla = sla();
    let how = answer(&Facts {
        records: &records,
        confirmation: Some(&c),
        sla: Some(&sla),
        state: RunState::Finished,
        gpu_hour_price: None,
    })
    .how_sure;
    assert_eq!(
        how,
        [
            "Measured 1080 requests over 90 s at 12.00 req/s, after a 12-s warm-up (latencies settled (MSER-5)).",
            "p99 TTFT: 150 ms measured against a limit of 200 ms; with 95% confidence it is at most 171 ms (1080 requests).",
            "p99 TPOT: 15.0 ms measured, under the limit of 20.0 ms, but not shown at 95% confidence: the sample does not bound it from above (1080 requests, worth 60 independent ones as latencies of concurrent requests move together); showing it takes at least 299 independent requests, a trial of about 448 s.",
            "Compared at 12.00 req/s in equally long trials: the default failed.",
        ]
    );
}

#[test]
fn standings_name_every_candidate_by_its_change() {
    let mut pruned = record("base", 3, 12.0, false);
    pruned.heuristic_pruned = true;
    let launch: TrialRecord = serde_json::from_value(json!({
        "stage": "base", "candidate_id": 4, "requested_qps": 1.0, "max_concurrency": null,
        "server_flags": {"model_path": "m", "max_running_requests": 64}, "sla_passed": false,
        "diagnosis": "oom", "failure": "launch", "cause": "CUDA out of memory"
    }))
    .expect("record");
    let records = [
        record("base", 0, 6.0, true),
        record("base", 1, 9.0, true),
        record("base", 2, 12.0, true),
        pruned,
        launch,
        record("confirm", 2, 12.0, true),
        record("confirm", 1, 12.0, true),
    ];
    let mut c = confirmation(2, 1, true);
    c.tied_with = vec![1];
    c.contenders = vec![contender(2, true), contender(1, true), contender(0, false)];
    let sla = sla();
    let rows = standings(&records, Some(&c), Some(&sla), None);
    let seen: Vec<(&str, Option<f64>, &str)> = rows
        .iter()
        .map(|s| (s.name.as_str(), s.best_rate, s.status.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                "default",
                Some(6.0),
                "slower: failed at 12.00 req/s in the check"
            ),
            ("--max-running-requests 16", Some(12.0), "answer"),
            ("--max-running-requests 32", Some(12.0), "tied"),
            (
                "--max-running-requests 48",
                None,
                "skipped at 12.00 req/s because it failed where a better command held"
            ),
            (
                "--max-running-requests 64",
                None,
                "failed to start: oom: CUDA out of memory"
            ),
        ]
    );
    assert_eq!(rows[1].latencies, ["150.0 ms", "15.0 ms"]);
    assert_eq!(
        standings::short(
            "RuntimeError: CUDA out of memory while capturing cuda graph. Tried to allocate 3 GiB"
        ),
        "RuntimeError: CUDA out of memory while capturing cuda graph..."
    );
    assert_eq!(rows[3].latencies, ["150.0 ms", "24.0 ms (over)"]);
}

#[test]
fn an_answer_says_whether_it_was_confirmed_and_what_is_missing() {
    let of = |records: &[TrialRecord], c: Option<&Confirmation>, state| {
        answer(&Facts {
            records,
            confirmation: c,
            sla: Some(&sla()),
            state,
            gpu_hour_price: None,
        })
    };
    let search = [record("base", 0, 8.0, true), record("base", 2, 12.0, true)];
    let stopped = of(&search, None, RunState::Stopped);
    assert_eq!(stopped.rate, Some(12.0));
    assert_eq!(
        stopped.status().as_deref(),
        Some("unconfirmed (the run stopped before its check)")
    );
    assert_eq!(
        of(&search, None, RunState::Running).status().as_deref(),
        Some("unconfirmed (not yet checked)")
    );
    let refuted = [
        record("base", 2, 8.0, true),
        record("base", 2, 12.0, true),
        record("confirm", 2, 12.0, false),
    ];
    let after = of(&refuted, None, RunState::Stopped);
    assert_eq!(after.rate, Some(8.0), "the refuted 12 is not the rate");
    assert_eq!(
        after.status().as_deref(),
        Some("unconfirmed (the run stopped after it failed its check at 12.00 req/s)")
    );
    let confirmed = of(&search, Some(&confirmation(2, 2, true)), RunState::Finished);
    assert_eq!(
        (confirmed.rate, confirmed.status().as_deref()),
        (Some(12.0), Some("ok"))
    );
    let nothing = of(&[record("base", 0, 8.0, false)], None, RunState::Finished);
    assert_eq!(nothing.status(), None);
}

#[test]
fn how_sure_opens_with_the_likely_range_of_the_true_rate() {
    let records = [
        record("base", 0, 6.0, true),
        record("confirm", 2, 12.0, true),
    ];
    let mut c = confirmation(2, 2, true);
    c.likely = Some(crate::decision::likely_range(12.0, Some(13.0)));
    let how = answer(&Facts {
        records: &records,
        confirmation: Some(&c),
        sla: None,
        state: RunState::Finished,
        gpu_hour_price: None,
    })
    .how_sure;
    assert_eq!(
        how.first().map(String::as_str),
        Some(
            "Its true limit is likely between 11.28 req/s and 13.52 req/s: on the simulator's verdict benchmark, 9 in 10 answers' true rates fell in such a range."
        )
    );
    // Nothing failed above the rate held: open above.
    c.likely = Some(crate::decision::likely_range(12.0, None));
    let how = answer(&Facts {
        records: &records,
        confirmation: Some(&c),
        sla: None,
        state: RunState::Finished,
        gpu_hour_price: None,
    })
    .how_sure;
    assert!(
        how[0].starts_with("Its true limit is likely above 11.28 req/s"),
        "{how:?}"
    );
}

#[test]
fn with_a_gpu_hour_price_the_answer_says_what_a_million_tokens_cost() {
    // The answer's check at 12 req/s produced 12 output tokens/s (the helper's records): one GPU
    // at $3.60 an hour makes 43,200 tokens an hour, so a million cost $3.60 / 0.0432 = $83.3.
    let records = [
        record("base", 0, 6.0, true),
        record("confirm", 2, 12.0, true),
    ];
    let c = confirmation(2, 2, true);
    let priced = answer(&Facts {
        records: &records,
        confirmation: Some(&c),
        sla: None,
        state: RunState::Finished,
        gpu_hour_price: Some(&crate::cost::GpuPrice::flat(3.6)),
    });
    let dollars = priced.cost_per_million_output_tokens.expect("priced");
    assert!((dollars - 83.333).abs() < 0.01, "{dollars}");
    assert!(
        priced
            .headline
            .ends_with(" Cost: $83.3 per million output tokens (1 GPU at $3.60 an hour)."),
        "{}",
        priced.headline
    );
    let unpriced = answer(&Facts {
        gpu_hour_price: None,
        records: &records,
        confirmation: Some(&c),
        sla: None,
        state: RunState::Finished,
    });
    assert_eq!(unpriced.cost_per_million_output_tokens, None);
    assert!(!unpriced.headline.contains("Cost"), "{}", unpriced.headline);
}

#[test]
fn an_override_for_the_answers_flags_prices_its_tokens() {
    // The same check as above, its command matched by an override at $7.20: twice the cost.
    let mut checked = record("confirm", 2, 12.0, true);
    checked
        .server_flags
        .insert("tp_size".into(), serde_json::json!(1));
    let records = [record("base", 0, 6.0, true), checked];
    let c = confirmation(2, 2, true);
    let flags: crate::flags::FlagMap = [("tp_size".to_string(), serde_json::json!("1"))]
        .into_iter()
        .collect();
    let price = crate::cost::GpuPrice {
        default: 3.6,
        overrides: vec![crate::cost::PriceOverride { flags, price: 7.2 }],
        visible_gpus: None,
    };
    let priced = answer(&Facts {
        records: &records,
        confirmation: Some(&c),
        sla: None,
        state: RunState::Finished,
        gpu_hour_price: Some(&price),
    });
    let dollars = priced.cost_per_million_output_tokens.expect("priced");
    assert!((dollars - 166.667).abs() < 0.01, "{dollars}");
    assert!(
        priced.headline.contains("(1 GPU at $7.20 an hour)"),
        "{}",
        priced.headline
    );
}
