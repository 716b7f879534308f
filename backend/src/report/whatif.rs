//! report.html's static SLA what-if: the recorded trials re-judged at a few preset limits (every
//! limit at half, three quarters, one and a half and twice its value), one row per preset and a
//! column per scenario, marked as what it is. The dashboard's what-if takes any limits; a shared
//! file offline cannot run code, so it carries these.

use std::fmt::Write as _;

use shared::sla::Sla;

use super::{RunData, escape};

/// The factors every limit is scaled by, one preset each.
const PRESETS: [f64; 4] = [0.5, 0.75, 1.5, 2.0];

/// The what-if section, empty when the run has no SLA or no latency limit.
pub(super) fn section(out: &mut String, data: &RunData) {
    let Some(sla) = data.sla().filter(|s| !s.limits.is_empty()) else {
        return;
    };
    out.push_str("<h2>What if the limits were different?</h2>");
    out.push_str("<p class=\"muted\">From recorded trials: not searched or confirmed at these limits. Every limit is scaled together; <code>autobench report RUN_DIR --sla KEY=VALUE</code> and the dashboard take any limits.</p>");
    out.push_str("<div class=\"scroll\"><table class=\"whatif\"><thead><tr><th>limits</th>");
    for scenario in &data.scenarios {
        let _ = write!(out, "<th>{}</th>", escape(&scenario.name));
    }
    out.push_str("</tr></thead><tbody>");
    for factor in PRESETS {
        let scaled = scale(&sla, factor);
        let _ = write!(
            out,
            "<tr><td>{} ({}x)</td>",
            escape(&scaled.plain()),
            factor
        );
        for scenario in &data.scenarios {
            let whatifs = shared::whatif::rejudge(&scenario.records, &scaled);
            let best = whatifs.first().filter(|w| w.holds_up_to.is_some());
            let names = shared::answer::Names::of(&scenario.records);
            let cell = best.map_or("no recorded trial met it".to_string(), |w| {
                let rate = shared::answer::rate(w.holds_up_to.unwrap_or_default());
                let bound = if w.at_least() {
                    format!("at least {rate}")
                } else {
                    rate
                };
                format!("{}: {bound}", names.plain(w.stage, w.candidate))
            });
            let _ = write!(out, "<td>{}</td>", escape(&cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
}

/// `sla` with every latency limit times `factor`.
fn scale(sla: &Sla, factor: f64) -> Sla {
    let overrides: Vec<(String, f64)> = sla
        .limits
        .iter()
        .map(|l| (l.key.clone(), l.max_ms * factor))
        .collect();
    shared::whatif::with_overrides(sla, &overrides).unwrap_or_else(|_| sla.clone())
}

#[cfg(test)]
mod tests {
    use shared::sla::{MeasureFrom, parse_limit_key};

    use super::*;

    #[test]
    fn presets_scale_every_limit() {
        let sla = Sla {
            limits: vec![
                parse_limit_key("max_p99_ttft_ms", 200.0, MeasureFrom::Scheduled).expect("key"),
                parse_limit_key("max_p99_tpot_ms", 20.0, MeasureFrom::Scheduled).expect("key"),
            ],
            min_success_rate: 1.0,
        };
        assert_eq!(
            scale(&sla, 1.5).plain(),
            "p99 TTFT <= 300 ms, p99 TPOT <= 30 ms"
        );
    }
}
