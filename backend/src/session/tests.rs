//! The session end to end on a scripted bench ([`super::fake`]): the search, the confirmation's
//! step-down and hand-offs, re-opened candidates, launch failures, crashes and resume, each in
//! milliseconds, through the same code a real run takes (records on disk, events, answers).

use std::sync::{Arc, Mutex};

use shared::events::RunEvent;
use shared::record::{Diagnosis, Stage};

use super::fake::{Call, Script, ScriptedBench};
use super::{RunOutcome, run_with};
use crate::reporter::Reporter;

/// Collects the events of a run.
#[derive(Default)]
struct Events(Mutex<Vec<RunEvent>>);

impl Reporter for Events {
    fn report(&self, event: &RunEvent) {
        if let Ok(mut events) = self.0.lock() {
            events.push(event.clone());
        }
    }
}

/// A simulator config with the baseline and one candidate per listed change, in `dir`.
fn config(dir: &std::path::Path, changes: usize) -> crate::config::RunConfig {
    let tiny = concat!(env!("CARGO_MANIFEST_DIR"), "/../references/sim/tiny-model");
    let values: Vec<String> = (0..changes)
        .map(|i| format!("{}", 1024 * (i + 1)))
        .collect();
    let text = format!(
        r#"server:
  framework: sim
  host: 127.0.0.1
  base_flags:
    model_path: {tiny}
  search_space:
    chunked_prefill_size: [{values}]
dataset:
  kind: random
  num_prompts: 16
  input_len: 128
  output_len: 64
benchmark:
  tokenizer: {tiny}
  qps:
    lower: 2.0
    upper: 64.0
    tolerance: 0.5
    max_rounds: 6
  min_trial_seconds: 4
  confirm_trial_seconds: 36
  sla:
    max_p99_ttft_ms: 250
    max_p99_tpot_ms: 20
  output_dir: {out}
search:
  tier: 1
  max_candidates: 20
  resume: true
"#,
        values = values.join(", "),
        out = dir.join("run").display(),
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, &text).expect("write the test config");
    crate::config::parse(&path, &text).expect("a valid test config")
}

/// Runs the whole session on `scripts` (one per candidate, the baseline first).
async fn search(
    dir: &std::path::Path,
    scripts: &[Script],
) -> (RunOutcome, Arc<ScriptedBench>, Vec<RunEvent>) {
    let cfg = config(dir, scripts.len() - 1);
    let bench = Arc::new(ScriptedBench::new(scripts.to_vec()));
    let events = Events::default();
    let (_keep, cancel) = crate::cancel::channel();
    let outcome = run_with(&cfg, &events, cancel, bench.clone())
        .await
        .expect("the run ends");
    let events = events.0.into_inner().unwrap_or_default();
    (outcome, bench, events)
}

/// The answer's candidate and rate in the only scenario.
fn answer(outcome: &RunOutcome) -> (usize, f64) {
    let scenario = &outcome.scenarios[0];
    let best = scenario.best.as_ref().expect("an answer");
    let confirmation = scenario.confirmation.as_ref().expect("a confirmation");
    let rate = if confirmation.confirmed {
        confirmation.rate
    } else {
        confirmation.passes_at.expect("a rate that held")
    };
    (best.candidate_id, rate)
}

fn confirm_trials(bench: &ScriptedBench, candidate: usize) -> Vec<f64> {
    bench
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Measure(Stage::Confirm, id, qps) if id == candidate => Some(qps),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_true_best_is_the_answer_and_its_check_passes_first_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scripts = [Script::holds(10.0), Script::holds(14.0), Script::holds(8.0)];
    let (outcome, bench, _) = search(dir.path(), &scripts).await;
    let (id, rate) = answer(&outcome);
    assert_eq!(id, 1);
    assert!((13.3..=14.2).contains(&rate), "rate {rate}");
    let confirmation = outcome.scenarios[0].confirmation.as_ref().expect("checked");
    assert!(confirmation.confirmed, "{confirmation:?}");
    assert_eq!(confirm_trials(&bench, 1).len(), 1, "{:?}", bench.calls());
}

#[tokio::test]
async fn an_optimistic_search_rate_steps_down_to_a_rate_that_held() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scripts = [
        Script::holds(8.0),
        Script::optimistic(16.0, 12.5),
        Script::holds(6.0),
    ];
    let (outcome, bench, _) = search(dir.path(), &scripts).await;
    let (id, rate) = answer(&outcome);
    assert_eq!(id, 1);
    // The answer is a rate a long trial held, within the descent's 5% of the lowest it refuted.
    assert!((12.5 / 1.06..=12.6).contains(&rate), "rate {rate}");
    let confirmation = outcome.scenarios[0].confirmation.as_ref().expect("checked");
    assert!(!confirmation.confirmed);
    let fails_at = confirmation.fails_at.expect("the rate that failed");
    assert!(
        fails_at > rate && fails_at <= rate * 1.06,
        "{confirmation:?}"
    );
    let steps = confirm_trials(&bench, 1);
    assert!(steps.len() >= 2, "{steps:?}");
    assert!(
        steps[0] > 15.0,
        "the check starts at the search's rate: {steps:?}"
    );
}

#[tokio::test]
async fn a_refuted_leader_hands_the_lead_to_the_next_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scripts = [
        Script::holds(13.0),
        Script::optimistic(16.0, 10.0),
        Script::holds(8.0),
    ];
    let (outcome, bench, _) = search(dir.path(), &scripts).await;
    let (id, rate) = answer(&outcome);
    assert_eq!(id, 0, "the baseline truly holds more: {:?}", bench.calls());
    assert!((12.3..=13.2).contains(&rate), "rate {rate}");
    assert!(!confirm_trials(&bench, 1).is_empty());
    assert!(!confirm_trials(&bench, 0).is_empty());
}

#[tokio::test]
async fn a_command_pruned_against_a_refuted_rate_is_searched_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The baseline's search says 20 but it holds 12; candidate 1 holds 15, and its search was
    // cut short by a probe at the baseline's refuted 20.
    let scripts = [
        Script::optimistic(20.0, 12.0),
        Script::holds(15.0),
        Script::holds(5.0),
    ];
    let (outcome, bench, _) = search(dir.path(), &scripts).await;
    let (id, rate) = answer(&outcome);
    assert_eq!(id, 1, "{:?}", bench.calls());
    assert!((14.2..=15.2).contains(&rate), "rate {rate}");
}

#[tokio::test]
async fn a_launch_failure_and_a_crash_are_recorded_and_never_the_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let crashing = Script {
        crashes_above: Some(9.0),
        ..Script::holds(30.0)
    };
    let oom = Script {
        oom_at_launch: true,
        ..Script::holds(40.0)
    };
    let scripts = [Script::holds(10.0), crashing, oom];
    let (outcome, bench, _) = search(dir.path(), &scripts).await;
    let (id, _) = answer(&outcome);
    assert_eq!(id, 0);
    let records = &outcome.scenarios[0].standings;
    assert!(!records.is_empty());
    let launches = bench
        .calls()
        .iter()
        .filter(|c| **c == Call::Launch(Stage::Base, 2))
        .count();
    assert_eq!(launches, 1, "an OOM at start is not retried");
    let run = shared::run_dir::RunDir::new(dir.path().join("run"));
    let text = std::fs::read_to_string(run.root().join("results.jsonl")).expect("results");
    let records: Vec<shared::record::TrialRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record"))
        .collect();
    assert!(
        records
            .iter()
            .any(|r| r.candidate_id == 1 && r.diagnosis == Some(Diagnosis::Crashed))
    );
    assert!(
        records
            .iter()
            .any(|r| r.candidate_id == 2 && r.diagnosis == Some(Diagnosis::Oom))
    );
}

#[tokio::test]
async fn a_resumed_run_replays_every_trial_and_gives_the_same_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scripts = [
        Script::optimistic(20.0, 12.0),
        Script::holds(15.0),
        Script::optimistic(18.0, 9.0),
    ];
    let (first, _, _) = search(dir.path(), &scripts).await;
    let (again, bench, events) = search(dir.path(), &scripts).await;
    assert_eq!(answer(&first), answer(&again));
    let measured: Vec<Call> = bench
        .calls()
        .into_iter()
        .filter(|c| matches!(c, Call::Measure(..)))
        .collect();
    assert!(
        measured.is_empty(),
        "a resume measures nothing: {measured:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RunEvent::TrialReused { .. }))
    );
}

#[tokio::test]
async fn a_run_stopped_in_its_confirmation_is_unconfirmed_and_its_resume_finishes_it() {
    let scripts = [
        Script::optimistic(20.0, 12.0),
        Script::holds(15.0),
        Script::holds(9.0),
    ];
    let whole = tempfile::tempdir().expect("tempdir");
    let (uninterrupted, all, _) = search(whole.path(), &scripts).await;
    let base_trials = all
        .calls()
        .iter()
        .take_while(|c| !matches!(c, Call::Measure(Stage::Confirm, ..)))
        .filter(|c| matches!(c, Call::Measure(..)))
        .count();

    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), scripts.len() - 1);
    let (stop, cancel) = crate::cancel::channel();
    let first =
        Arc::new(ScriptedBench::new(scripts.to_vec()).interrupted_after(base_trials + 1, stop));
    let events = Events::default();
    let stopped = run_with(&cfg, &events, cancel, first.clone())
        .await
        .expect("the run ends");
    assert!(stopped.partial.is_some(), "{:?}", stopped.status);
    let scenario = &stopped.scenarios[0];
    assert!(scenario.confirmation.is_none());
    let status = scenario.answer.status().expect("a search answer");
    assert!(status.starts_with("unconfirmed"), "{status}");

    let (resumed, second, _) = search(dir.path(), &scripts).await;
    assert_eq!(answer(&resumed), answer(&uninterrupted));
    // The resume measures exactly the trials the stopped run did not, and nothing twice.
    let trials = |bench: &ScriptedBench| -> Vec<Call> {
        bench
            .calls()
            .into_iter()
            .filter(|c| matches!(c, Call::Measure(..)))
            .collect()
    };
    let mut both = trials(&first);
    both.extend(trials(&second));
    assert_eq!(both, trials(&all));
}

#[tokio::test]
async fn a_later_leader_is_not_walked_below_the_rate_an_earlier_one_held() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scripts = [
        Script::holds(8.0),
        Script::optimistic(16.0, 12.0),
        Script::optimistic(15.0, 10.0),
    ];
    let (outcome, bench, _) = search(dir.path(), &scripts).await;
    let (id, rate) = answer(&outcome);
    assert_eq!(id, 1, "{:?}", bench.calls());
    assert!((11.4..=12.1).contains(&rate), "rate {rate}");
    let second = confirm_trials(&bench, 2);
    assert!(!second.is_empty(), "{:?}", bench.calls());
    // Its walk stops above the rate candidate 1 held; it is then compared there, once.
    let below: Vec<f64> = second
        .iter()
        .copied()
        .filter(|q| *q < rate * 0.999)
        .collect();
    assert!(below.is_empty(), "{second:?} against {rate}");
    let at_rate = second.iter().filter(|q| (**q - rate).abs() < 1e-6).count();
    assert_eq!(at_rate, 1, "{second:?}");
}
