//! `report.html`: written by `run` and by `autobench report`, self-contained (no URL, no script,
//! no external reference of any kind), and showing exactly the numbers of `results.csv`.

use std::path::Path;

use super::common;

const SPACE: &str = "    chunked_prefill_size: [1024]\n    mem_fraction_static: [0.97]";
const DATASET: &str = "  kind: random\n  num_prompts: 10\n  scenario_names: [short, long]\n  input_len: [64, 256]\n  output_len: [6, 6]";
const QPS: &str = "{lower: 5, upper: 80, tolerance: 20, max_rounds: 2}";

fn csv_cells(path: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .expect("csv");
    reader
        .records()
        .map(|r| r.expect("row").iter().map(str::to_string).collect())
        .collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[test]
fn run_writes_a_self_contained_report_with_the_csv_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let config = common::write_config(dir.path(), &common::fast_config(&out, SPACE, DATASET, QPS));
    let output = common::run(&config);
    let text = common::text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("report: "), "{text}");
    let report = std::fs::read_to_string(out.join("report.html")).expect("report.html");

    // Nothing that would reach the network or need a script.
    let lower = report.to_ascii_lowercase();
    for forbidden in [
        "http://", "https://", "<script", "<link", "src=", "@import", "url(",
    ] {
        assert!(!lower.contains(forbidden), "report contains {forbidden}");
    }
    assert_eq!(
        report.matches("<svg").count(),
        10,
        "per scenario: rate and output tokens/s against p99 TTFT and TPOT, and the answer's \
         trial request by request"
    );
    assert_eq!(
        report
            .matches("Latency over time (the answer's trial)")
            .count(),
        2,
        "one latency-over-time view per scenario"
    );
    assert!(
        report.contains("SLA limit: p99 TTFT 400 ms"),
        "the limit on the timeline"
    );
    assert!(
        report.contains("output throughput (tok/s)"),
        "an output-throughput axis"
    );
    assert!(report.contains("Pareto frontier"));
    // The static what-if: four presets of scaled limits, a column per scenario, marked.
    assert!(report.contains("What if the limits were different?"));
    assert!(report.contains("From recorded trials: not searched or confirmed at these limits"));
    for preset in [
        "p99 TTFT &lt;= 200 ms, p99 TPOT &lt;= 20 ms (0.5x)",
        "p99 TTFT &lt;= 800 ms, p99 TPOT &lt;= 80 ms (2x)",
    ] {
        assert!(report.contains(preset), "preset {preset}");
    }
    let whatif = report
        .split("<table class=\"whatif\">")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .expect("the what-if table");
    assert_eq!(
        whatif.matches("<tr>").count(),
        5,
        "a header and four presets"
    );
    assert!(whatif.contains("req/s"), "{whatif}");
    assert!(report.contains("SLA 400 ms"), "the p99 TTFT limit is drawn");

    // Every cell of every results.csv appears, in order, in the trial table.
    for scenario in ["short", "long"] {
        let rows = csv_cells(&out.join(scenario).join("results.csv"));
        assert!(rows.len() > 1);
        for row in rows {
            let html_row: String = row
                .iter()
                .map(|c| format!(">{}</t", escape(c)))
                .collect::<Vec<_>>()
                .join("");
            let mut cursor = 0;
            for cell in html_row.split("</t").filter(|c| !c.is_empty()) {
                let found = report[cursor..]
                    .find(&format!("{cell}</t"))
                    .unwrap_or_else(|| panic!("cell {cell} of {scenario} missing"));
                cursor += found + cell.len();
            }
        }
    }

    // The command rewrites it from the folder alone.
    std::fs::remove_file(out.join("report.html")).expect("rm");
    let again = common::bin()
        .arg("report")
        .arg(&out)
        .output()
        .expect("report");
    assert!(again.status.success(), "{}", common::text(&again));
    assert!(out.join("report.html").is_file());
    let missing = common::bin()
        .arg("report")
        .arg(dir.path().join("nope"))
        .output()
        .expect("report");
    assert_eq!(missing.status.code(), Some(2));
    assert!(common::text(&missing).contains("is not a directory"));
}

/// `report --sla`: the run's recorded trials re-judged at other limits, marked as such; a tighter
/// limit than the run's never reads higher than the run's own answer, an impossible one holds
/// nowhere, and an unknown key is refused.
#[test]
fn report_sla_rejudges_the_recorded_trials_at_other_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let config = common::write_config(dir.path(), &common::fast_config(&out, SPACE, DATASET, QPS));
    let output = common::run(&config);
    assert_eq!(output.status.code(), Some(0), "{}", common::text(&output));
    let what_if = |limit: &str| {
        let output = common::bin()
            .arg("report")
            .arg(&out)
            .args(["--sla", limit])
            .output()
            .expect("report --sla");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).to_string(),
            common::text(&output),
        )
    };
    let (code, loose, _) = what_if("max_p99_ttft_ms=100000");
    assert_eq!(code, Some(0), "{loose}");
    assert!(loose.contains("would hold the SLA up to"), "{loose}");
    assert!(
        loose.contains("not searched or confirmed at these limits"),
        "{loose}"
    );
    assert!(loose.contains("p99 TTFT <= 100000 ms"), "{loose}");
    let (code, none, _) = what_if("max_p99_ttft_ms=0.001");
    assert_eq!(code, Some(0), "{none}");
    assert!(none.contains("no recorded trial met the SLA"), "{none}");
    let (code, _, refused) = what_if("max_p99_ttf_ms=5");
    assert_eq!(code, Some(2), "{refused}");
    assert!(
        refused.contains("unknown SLA key `max_p99_ttf_ms`"),
        "{refused}"
    );
}
