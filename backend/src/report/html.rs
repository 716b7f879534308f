//! The report's HTML: one document, every value escaped, styles inline, no scripts, no links out.

use std::fmt::Write as _;

use shared::metrics::Metric;
use shared::sla::LatencyMetric;

use super::{RunData, ScenarioData, escape, plots, plotted_metric};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#1d232a;max-width:1400px}\
h1{font-size:1.6em}h2{border-bottom:1px solid #ccd;padding-bottom:4px;margin-top:2em}\
pre{background:#f4f6f8;padding:10px;overflow-x:auto;border-radius:4px}\
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #d7dce1;padding:3px 6px;text-align:left;white-space:nowrap}td{white-space:normal;overflow-wrap:anywhere;word-break:break-word}\
th{background:#eef1f4;position:sticky;top:0}.scroll{overflow-x:auto;max-height:600px}\
.pass{color:#12703a;font-weight:600}.fail{color:#a31515;font-weight:600}.plots{display:flex;flex-wrap:wrap;gap:12px}\
.plots svg{width:100%;height:auto}.muted{color:#667}.banner{padding:10px 14px;border-radius:6px;border:1px solid #e0a040;background:#fff4e0;color:#6b4200;font-size:15px}\
.banner.failed{border-color:#d05050;background:#fde8e8;color:#7a1010}.gain{color:#12703a;font-weight:600}.headline{font-size:1.15em;max-width:70em}details.how-sure{margin:0 0 1em}details.how-sure li{max-width:70em}.tie{display:inline-block;background:#fff4d6;color:#6b4a00;border:1px solid #e8c766;border-radius:4px;padding:2px 8px}\
@media (prefers-color-scheme:dark){body{background:#14191f;color:#dde3ea}pre{background:#1d252e}th{background:#232b34}td,th{border-color:#36414d}}";

/// Renders the whole report.
pub(super) fn render(data: &RunData) -> String {
    let title = data
        .dir
        .file_name()
        .map_or("run".into(), |n| n.to_string_lossy().to_string());
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>autobench report: {}</title><style>{STYLE}</style></head><body>",
        escape(&title)
    );
    let _ = write!(out, "<h1>autobench report: {}</h1>", escape(&title));
    banner(&mut out, data);
    if let Some(sla) = data.sla() {
        let _ = write!(out, "<p>SLA: {}</p>", escape(&sla_text(&sla)));
    }
    best_section(&mut out, data);
    super::whatif::section(&mut out, data);
    for scenario in &data.scenarios {
        scenario_section(&mut out, data, scenario);
    }
    settings_section(&mut out, data);
    out.push_str("</body></html>\n");
    out
}

/// PARTIAL / INTERRUPTED / FAILED / STILL RUNNING, so a report of an unfinished run never reads
/// as final.
fn banner(out: &mut String, data: &RunData) {
    use shared::api::RunStatus;
    let why = data.view.partial.clone().unwrap_or_default();
    let (class, title, text) = match data.view.status {
        Some(RunStatus::Partial) => ("partial", "PARTIAL", why),
        Some(RunStatus::Interrupted) => (
            "interrupted",
            "INTERRUPTED",
            format!("{why} Partial results; run the same command again to resume."),
        ),
        Some(RunStatus::Failed) => ("failed", "FAILED", why),
        Some(RunStatus::Running) => (
            "running",
            "STILL RUNNING",
            "this report was made before the run ended; its answers may change.".to_string(),
        ),
        _ => return,
    };
    let _ = write!(
        out,
        "<div class=\"banner {class}\"><b>{title}</b> {}</div>",
        escape(text.trim())
    );
}

/// Candidate names by id, from the run's events, else from the records against candidate 0.
fn label_of(data: &RunData, scenario: &ScenarioData, id: usize) -> String {
    if let Some(c) = data
        .view
        .candidates
        .iter()
        .find(|c| c.id == id && c.stage == shared::record::Stage::Base)
    {
        return c.label.clone();
    }
    let flags = |cand: usize| {
        scenario
            .records
            .iter()
            .find(|r| r.candidate_id == cand)
            .map(|r| r.server_flags.clone())
    };
    match (flags(id), flags(0)) {
        (Some(ours), Some(baseline)) => shared::naming::change(&ours, &baseline),
        _ => format!("candidate {id}"),
    }
}

fn sla_text(sla: &shared::sla::Sla) -> String {
    sla.plain()
}

fn best_section(out: &mut String, data: &RunData) {
    out.push_str("<h2>Best launch command per scenario</h2>");
    let sla = data.sla();
    let state = data
        .view
        .status
        .map_or(shared::answer::RunState::Finished, |s| s.state());
    for scenario in &data.scenarios {
        let _ = write!(out, "<h3>{}</h3>", escape(&scenario.name));
        let answer = data
            .answers
            .iter()
            .find(|a| a.scenario == scenario.name || data.scenarios.len() == 1);
        let words = shared::answer::answer(&shared::answer::Facts {
            records: &scenario.records,
            confirmation: answer.and_then(|a| a.confirmation.as_ref()),
            sla: sla.as_ref(),
            state,
            gpu_hour_price: data.view.gpu_hour_price.as_ref(),
        });
        let _ = write!(out, "<p class=\"headline\">{}</p>", escape(&words.headline));
        if let Some(line) = &words.speculative {
            let _ = write!(out, "<p class=\"speculative\">{}</p>", escape(line));
        }
        if !words.how_sure.is_empty() {
            out.push_str("<details class=\"how-sure\"><summary>How sure</summary><ul>");
            for sentence in &words.how_sure {
                let _ = write!(out, "<li>{}</li>", escape(sentence));
            }
            out.push_str("</ul></details>");
        }
        flag_effect_bars(out, &words.flag_effects);
        let command = answer
            .filter(|a| a.best.is_some())
            .and_then(|a| a.command.clone())
            .or_else(|| best_of(scenario));
        if let Some(command) = command {
            let _ = write!(out, "<pre>{}</pre>", escape(&command));
        }
    }
}

/// What each flag of the answer bought, as bars: width by the change in rate over the default
/// (green up, red down), the text beside.
fn flag_effect_bars(out: &mut String, effects: &[shared::answer::FlagEffect]) {
    if effects.is_empty() {
        return;
    }
    out.push_str("<p><b>What each flag bought</b></p><table class=\"effects\">");
    for effect in effects {
        let bar = effect.gain().zip(effect.bar_share(effects)).map_or(String::new(), |(gain, share)| {
            let colour = if gain >= 0.0 { "#12703a" } else { "#a31515" };
            format!(
                "<span style=\"display:inline-block;height:12px;width:{:.0}px;background:{colour}\"></span>",
                (share * 240.0).max(2.0)
            )
        });
        let _ = write!(
            out,
            "<tr><td style=\"width:250px\">{bar}</td><td>{}</td></tr>",
            escape(&effect.text().replace('`', ""))
        );
    }
    out.push_str("</table>");
}

/// The launch command of the scenario's best, from its summary row.
fn best_of(scenario: &ScenarioData) -> Option<String> {
    scenario
        .summary
        .as_ref()?
        .confirmed_command()
        .map(str::to_string)
}

fn scenario_section(out: &mut String, data: &RunData, scenario: &ScenarioData) {
    let _ = write!(out, "<h2>Scenario: {}</h2>", escape(&scenario.name));
    let sla = data.sla();
    // The statistic the SLA's limits use (a p90 SLA is plotted at p90, with its limits drawn).
    let stat = sla
        .as_ref()
        .and_then(|s| s.limits.first())
        .map_or(shared::sla::Stat::P99, |l| l.stat);
    let answer = super::answer_mark(data, scenario);
    out.push_str("<div class=\"plots\">");
    for x_metric in [Metric::AchievedRate, Metric::OutputThroughput] {
        for metric in [LatencyMetric::Ttft, LatencyMetric::Tpot] {
            let (y_metric, limit) = plotted_metric(sla.as_ref(), metric, stat);
            let spec = plots::PlotSpec {
                title: format!(
                    "{}: {} vs {}",
                    scenario.name,
                    y_metric.label(),
                    x_metric.label()
                ),
                x_metric,
                y_metric,
                sla_ms: limit,
            };
            out.push_str(&plots::latency_svg(
                &spec,
                &scenario.records,
                answer.as_ref(),
            ));
        }
    }
    out.push_str("</div>");
    latency_over_time(out, data, scenario);
    failures(out, data, scenario);
    out.push_str("<h3>All trials</h3>");
    trial_table(out, &scenario.csv);
}

/// Each request's TTFT and TPOT against its send time in the answer's trial, from its stored
/// timings (none for older runs, or a trial whose timings were not kept).
fn latency_over_time(out: &mut String, data: &RunData, scenario: &ScenarioData) {
    if let Some(svg) = super::timeline::answer_svg(data, scenario) {
        out.push_str("<h3>Latency over time (the answer's trial)</h3>");
        out.push_str("<p class=\"muted\">Each request's TTFT and TPOT against the time it was scheduled: latencies that climb through the trial are a queue building. Warm-up and cool-down requests are grey and not counted.</p>");
        out.push_str(&svg);
    }
}

fn failures(out: &mut String, data: &RunData, scenario: &ScenarioData) {
    let failed: Vec<_> = scenario
        .records
        .iter()
        .filter(|r| r.diagnosis.is_some() || r.error.is_some())
        .collect();
    if failed.is_empty() {
        return;
    }
    out.push_str("<h3>Failures</h3><table><tr><th>candidate</th><th>rate</th><th>diagnosis</th><th>cause</th><th>hint</th><th>error</th></tr>");
    for r in failed {
        let _ = write!(
            out,
            "<tr><td>{} {} · {}</td><td>{}</td><td class=\"fail\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(r.stage.name()),
            r.candidate_id,
            escape(&label_of(data, scenario, r.candidate_id)),
            r.requested_qps,
            escape(r.diagnosis.map_or("", |d| d.name())),
            escape(r.cause.as_deref().unwrap_or("")),
            escape(r.hint.as_deref().unwrap_or("")),
            escape(r.error.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</table>");
}

/// The trial table: exactly the cells of `results.csv`.
fn trial_table(out: &mut String, csv: &[Vec<String>]) {
    let Some((header, rows)) = csv.split_first() else {
        out.push_str("<p class=\"muted\">No trials yet.</p>");
        return;
    };
    let verdict = header.iter().position(|h| h == "sla_passed");
    out.push_str("<div class=\"scroll\"><table class=\"trials\"><tr>");
    for cell in header {
        let _ = write!(out, "<th>{}</th>", escape(cell));
    }
    out.push_str("</tr>");
    for row in rows {
        out.push_str("<tr>");
        for (index, cell) in row.iter().enumerate() {
            let class = match (Some(index) == verdict, cell.as_str()) {
                (true, "true") => " class=\"pass\"",
                (true, _) => " class=\"fail\"",
                _ => "",
            };
            let _ = write!(out, "<td{class}>{}</td>", escape(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table></div>");
}

fn settings_section(out: &mut String, data: &RunData) {
    out.push_str("<h2>Settings</h2>");
    match &data.meta {
        Some(meta) => {
            let _ = write!(
                out,
                "<pre>{}</pre>",
                escape(&serde_json::to_string_pretty(meta).unwrap_or_default())
            );
        }
        None => out.push_str("<p class=\"muted\">No run_meta.json in this folder.</p>"),
    }
    out.push_str("<h2>Environment</h2><ul>");
    let _ = write!(
        out,
        "<li>report by autobench {} on {} {}</li><li>generated {}</li>",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH,
        chrono::Utc::now().to_rfc3339()
    );
    if let Ok(gpu) = std::fs::read_to_string(data.dir.join("gpu.txt")) {
        let _ = write!(out, "<li>GPU: {}</li>", escape(gpu.trim()));
    }
    out.push_str("</ul>");
}

#[cfg(test)]
mod tests {
    use shared::answer::FlagEffect;

    use super::*;

    #[test]
    fn each_changed_flag_of_the_answer_gets_a_bar_and_its_words() {
        let effects = [
            FlagEffect {
                flag: "--attention-backend flashinfer".into(),
                alone: Some(16.2),
                default: Some(13.5),
            },
            FlagEffect {
                flag: "--enable-mixed-chunk".into(),
                alone: None,
                default: Some(13.5),
            },
        ];
        let mut out = String::new();
        flag_effect_bars(&mut out, &effects);
        assert!(out.contains("What each flag bought"), "{out}");
        assert!(
            out.contains(
                "--attention-backend flashinfer: +20% (16.20 against 13.50 req/s, changed alone)"
            ),
            "{out}"
        );
        assert!(
            out.contains("--enable-mixed-chunk: not measured alone"),
            "{out}"
        );
        assert_eq!(out.matches("background:#12703a").count(), 1, "{out}");
        let mut none = String::new();
        flag_effect_bars(&mut none, &[]);
        assert!(none.is_empty());
    }
}
