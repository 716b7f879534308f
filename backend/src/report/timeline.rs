//! Latency over time for one trial: each request's TTFT and TPOT against the time the schedule
//! said to send it, from the trial's `requests/<trial_key>.jsonl`. A queue that builds shows as
//! latencies climbing through the trial. Warm-up and cool-down requests (not counted) are drawn in
//! grey over a grey band; the SLA limits are dashed red lines. Two panels, TTFT above TPOT, in one
//! inline SVG in the style of [`super::plots`].

use std::path::Path;

use plotters::prelude::*;
use shared::timings::{Phase, RequestTiming};

/// The y axis ends at this many times the limit; higher points are drawn on the top edge.
const CLIP_AT_LIMITS: f64 = 3.0;

/// The timings of a trial's requests; unreadable lines are skipped, a missing file gives none.
pub(crate) fn read(path: &Path) -> Vec<RequestTiming> {
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The view of a scenario's answer trial (the trial behind its answer, [`answer_trial`]), when
/// its per-request timings were stored.
///
/// [`answer_trial`]: shared::ranking::answer_trial
pub(crate) fn answer_svg(data: &super::RunData, scenario: &super::ScenarioData) -> Option<String> {
    let confirmation = data
        .answers
        .iter()
        .find(|a| a.scenario == scenario.name || data.scenarios.len() == 1)
        .and_then(|a| a.confirmation.as_ref());
    let trial = shared::ranking::answer_trial(&scenario.records, confirmation)?;
    let path = shared::run_dir::ScenarioDir::at(&scenario.folder).requests(&trial.trial_key)?;
    let sla = data.sla();
    let limit = |metric| super::plotted_metric(sla.as_ref(), metric, shared::sla::Stat::P99).1;
    let title = format!(
        "{}: the answer's trial at {:.2} req/s, request by request",
        scenario.name, trial.requested_qps
    );
    svg(
        &title,
        &read(&path),
        limit(shared::sla::LatencyMetric::Ttft),
        limit(shared::sla::LatencyMetric::Tpot),
    )
}

/// One panel: what it plots and its limit.
struct Panel {
    name: &'static str,
    value: fn(&RequestTiming) -> Option<f64>,
    limit: Option<f64>,
    color: RGBColor,
}

/// The two-panel SVG (TTFT, then TPOT) of a trial's requests; `None` when no request has a
/// latency to plot.
pub(crate) fn svg(
    title: &str,
    timings: &[RequestTiming],
    ttft_limit: Option<f64>,
    tpot_limit: Option<f64>,
) -> Option<String> {
    if !timings.iter().any(|t| t.ttft_ms().is_some()) {
        return None;
    }
    let panels = [
        Panel {
            name: "TTFT",
            value: RequestTiming::ttft_ms,
            limit: ttft_limit,
            color: RGBColor(31, 119, 180),
        },
        Panel {
            name: "TPOT",
            value: RequestTiming::tpot_ms,
            limit: tpot_limit,
            color: RGBColor(214, 39, 40),
        },
    ];
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (1100, 560)).into_drawing_area();
        let halves = root.split_evenly((2, 1));
        for (index, (area, panel)) in halves.iter().zip(&panels).enumerate() {
            let caption = (index == 0).then_some(title);
            if draw(area, caption, panel, timings).is_err() {
                return None;
            }
        }
        root.present().ok()?;
    }
    Some(out.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1))
}

/// The span of scheduled times of the requests of `phase`, if any.
fn span(timings: &[RequestTiming], phase: Phase) -> Option<(f64, f64)> {
    let times = timings
        .iter()
        .filter(|t| t.phase == phase)
        .map(|t| t.scheduled_s);
    let (lo, hi) = times.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    (lo <= hi).then_some((lo, hi))
}

/// The y axis runs this far above the highest point drawn, for the legend.
const LEGEND_HEADROOM: f64 = 1.45;

fn draw(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    caption: Option<&str>,
    panel: &Panel,
    timings: &[RequestTiming],
) -> Result<(), String> {
    let err = |e: plotters::drawing::DrawingAreaErrorKind<_>| e.to_string();
    let values: Vec<(f64, f64, Phase)> = timings
        .iter()
        .filter_map(|t| (panel.value)(t).map(|v| (t.scheduled_s, v.max(0.0), t.phase)))
        .collect();
    let max_x = timings
        .iter()
        .map(|t| t.scheduled_s)
        .fold(1.0_f64, f64::max)
        * 1.02;
    let highest = values
        .iter()
        .map(|v| v.1)
        .chain(panel.limit)
        .fold(1.0_f64, f64::max);
    // The data stays below `data_top`; the band above it holds the legend, which so never covers
    // a request.
    let data_top = panel
        .limit
        .map_or(highest, |limit| highest.min(limit * CLIP_AT_LIMITS))
        * 1.1;
    let top = data_top * LEGEND_HEADROOM;
    area.fill(&WHITE).map_err(err)?;
    let mut builder = ChartBuilder::on(area);
    if let Some(text) = caption {
        builder.caption(text, ("sans-serif", 18));
    }
    let mut chart = builder
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_x, 0.0..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("scheduled send time (s from the trial's start)")
        .y_desc(format!("{} ms", panel.name))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    let band = BLACK.mix(0.08);
    for (phase, label) in [
        (Phase::Warmup, "warm-up (grey, not counted)"),
        (Phase::Cooldown, "cool-down (grey, not counted)"),
    ] {
        if let Some((lo, hi)) = span(timings, phase) {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(lo, 0.0), (hi.max(lo + max_x * 0.002), top)],
                    band.filled(),
                )))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], band.filled()));
        }
    }
    let grey = BLACK.mix(0.35);
    let clipped = |v: f64| v.min(data_top);
    chart
        .draw_series(
            values
                .iter()
                .filter(|v| v.2 != Phase::Measured)
                .map(|v| Circle::new((v.0, clipped(v.1)), 2, grey.filled())),
        )
        .map_err(err)?;
    let color = panel.color;
    chart
        .draw_series(
            values
                .iter()
                .filter(|v| v.2 == Phase::Measured)
                .map(|v| Circle::new((v.0, clipped(v.1)), 2, color.filled())),
        )
        .map_err(err)?
        .label(format!("{} of each measured request", panel.name))
        .legend(move |(x, y)| Circle::new((x + 8, y), 3, color.filled()));
    if let Some(limit) = panel.limit {
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, limit), (max_x, limit)],
                8,
                6,
                RED.stroke_width(2),
            ))
            .map_err(err)?
            .label(format!("SLA limit: p99 {} {limit} ms", panel.name))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(phase: Phase, at: f64, ttft_s: f64) -> RequestTiming {
        RequestTiming {
            phase,
            scheduled_s: at,
            sent_s: at,
            first_token_s: Some(at + ttft_s),
            end_s: at + ttft_s + 0.3,
            input_tokens: 10,
            output_tokens: 11,
            error: None,
        }
    }

    #[test]
    fn a_trials_requests_are_drawn_against_their_send_time_with_the_limits() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("abc.jsonl");
        let lines: Vec<String> = [
            timing(Phase::Warmup, 0.0, 0.05),
            timing(Phase::Warmup, 0.5, 0.06),
            timing(Phase::Measured, 1.0, 0.08),
            timing(Phase::Measured, 1.5, 0.12),
            timing(Phase::Measured, 2.0, 0.9),
            timing(Phase::Cooldown, 2.5, 0.2),
        ]
        .iter()
        .map(|t| serde_json::to_string(t).expect("json"))
        .chain(["not json".to_string()])
        .collect();
        std::fs::write(&path, lines.join("\n")).expect("write");
        let timings = read(&path);
        assert_eq!(timings.len(), 6, "a bad line is skipped");
        let svg = svg(
            "chat: the answer's trial",
            &timings,
            Some(200.0),
            Some(20.0),
        )
        .expect("svg");
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("SLA limit: p99 TTFT 200 ms"), "{svg}");
        assert!(svg.contains("SLA limit: p99 TPOT 20 ms"), "{svg}");
        assert!(svg.contains("warm-up (grey, not counted)"), "{svg}");
        assert!(svg.contains("cool-down (grey, not counted)"), "{svg}");
        assert!(svg.contains("TTFT of each measured request"), "{svg}");
        assert!(svg.contains("TPOT of each measured request"), "{svg}");
        assert_eq!(read(&dir.path().join("missing.jsonl")), Vec::new());
        assert_eq!(svg_missing(), None);
    }

    fn svg_missing() -> Option<String> {
        svg("t", &[], None, None)
    }
}
