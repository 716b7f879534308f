//! `autobench truth`: one typed line per scenario and candidate of the quickstart's simulated
//! search, a rate for each candidate the simulator can model and the error for the one that runs
//! out of memory.

use shared::outward::truth::TruthLine;

use super::common;

#[test]
fn truth_prints_one_line_per_scenario_and_candidate() {
    let config = common::root().join("references/sim/quickstart.yaml");
    let output = common::bin()
        .current_dir(common::root())
        .args([
            "truth",
            "--requests",
            "100",
            "--seeds",
            "1",
            "--precision",
            "0.1",
        ])
        .arg("--config")
        .arg(&config)
        .output()
        .expect("truth");
    assert!(output.status.success(), "{}", common::text(&output));
    let lines: Vec<TruthLine> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a TruthLine"))
        .collect();
    assert_eq!(lines.len(), 10, "2 scenarios x 5 candidates: {lines:?}");
    for line in &lines {
        match (&line.rate, &line.error) {
            (Some(rate), None) => assert!(*rate > 0.0, "{line:?}"),
            (None, Some(error)) => assert!(error.contains("out of memory"), "{line:?}"),
            _ => panic!("a rate or an error: {line:?}"),
        }
    }
    assert_eq!(lines.iter().filter(|l| l.error.is_some()).count(), 2);
}
