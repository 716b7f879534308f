//! Plots drawn with plotters into inline SVG: per scenario, achieved request rate (or output
//! tokens/s) against one latency statistic, one series per candidate (named by the flags it
//! changes, in its own colour from [`shared::palette`], the same on every plot and page), the SLA
//! limit as a dashed line and the Pareto frontier of the trials that met the SLA (no other passing
//! trial is both faster and lower-latency) drawn thick.
//!
//! Search trials that met the SLA are filled dots, the others hollow; the confirmation's longer
//! trials are squares. A search trial that met the SLA but that a longer check refuted (a
//! confirmation trial of the same candidate failed at or below its rate) is a cross and never on
//! the frontier. The answer's trial is ringed. The legend sits beside the data, never on it. The
//! y axis stops at three times the SLA limit: a point above it is drawn on the top edge as a
//! triangle. Every point carries an SVG `<title>` with its flags and numbers, so hovering shows
//! them with no script at all. Trials stopped early (they could no longer pass) are left out: they
//! measured too little to be a point of a throughput curve.

use std::fmt::Write as _;

use plotters::prelude::*;
use shared::metrics::Metric;
use shared::record::{Stage, TrialRecord};

use super::escape;

/// What to plot.
#[derive(Debug, Clone)]
pub(crate) struct PlotSpec {
    /// Caption.
    pub title: String,
    /// The x axis (achieved rate, output throughput).
    pub x_metric: Metric,
    /// The y axis (a latency statistic).
    pub y_metric: Metric,
    /// SLA limit on the y metric, drawn as a line.
    pub sla_ms: Option<f64>,
}

/// The trial behind a scenario's answer, ringed on its plots.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AnswerMark {
    /// Its stage.
    pub stage: Stage,
    /// Its candidate.
    pub candidate: usize,
    /// Its offered rate.
    pub requested_qps: f64,
}

/// How a point is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A search trial.
    Search,
    /// A confirmation trial (longer).
    Check,
    /// A search trial that met the SLA but a longer check refuted.
    Refuted,
}

/// One plotted point.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Point {
    /// X value (rate or tokens/s).
    pub rate: f64,
    /// Latency in milliseconds.
    pub latency: f64,
    /// The trial met the SLA.
    pub passed: bool,
    /// Search, check or refuted.
    pub kind: Kind,
    /// The answer's trial.
    pub answer: bool,
    /// Hover text: candidate, numbers, flags.
    pub info: String,
}

/// One candidate's points.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    /// Legend name (`1 · --max-running-requests 24`, `run: 0 · default` on the compare page).
    pub label: String,
    /// The candidate, which picks the colour.
    pub candidate: usize,
    /// Drawn dashed (a second run on the compare page).
    pub dashed: bool,
    /// Points, by x.
    pub points: Vec<Point>,
}

/// Per candidate, its points sorted by x (confirmation trials with their candidate's search).
pub(crate) fn series(
    records: &[TrialRecord],
    x_metric: Metric,
    y_metric: Metric,
    answer: Option<&AnswerMark>,
) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    let baseline = shared::naming::baseline_flags(records).unwrap_or_default();
    for r in records {
        // Upstream records have no achieved rate; the achieved-rate metric then reads
        // bench_serving's request throughput, the same measure.
        let (Some(x), Some(y)) = (r.metric(x_metric), r.metric(y_metric)) else {
            continue;
        };
        // A trial stopped early measured too little to place on a throughput curve: its rate is
        // what it achieved before the stop, not what the server sustains.
        if r.metrics
            .as_ref()
            .is_none_or(|m| m.completed < 1 || m.early_stop_reason.is_some())
        {
            continue;
        }
        let label = series_label(r, &baseline);
        let kind = if r.stage.is_check() {
            Kind::Check
        } else if shared::answer::refuted(records, r) {
            Kind::Refuted
        } else {
            Kind::Search
        };
        let is_answer = answer.is_some_and(|a| {
            a.stage == r.stage
                && a.candidate == r.candidate_id
                && a.requested_qps == r.requested_qps
        });
        let point = Point {
            rate: x,
            latency: y,
            passed: r.sla_passed,
            kind,
            answer: is_answer,
            info: hover_text(r, &label, kind, x_metric, y_metric, (x, y)),
        };
        match out.iter_mut().find(|s| s.label == label) {
            Some(series) => series.points.push(point),
            None => out.push(Series {
                label,
                candidate: r.candidate_id,
                dashed: false,
                points: vec![point],
            }),
        }
    }
    for series in &mut out {
        series.points.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    }
    out.sort_by_key(|s| s.candidate);
    out
}

/// `1 · --max-running-requests 24`; a speculative candidate says so.
fn series_label(r: &TrialRecord, baseline: &shared::FlagMap) -> String {
    let name = shared::naming::change(&r.server_flags, baseline);
    match r.stage {
        Stage::Speculative => format!("speculative {} · {name}", r.candidate_id),
        _ => format!("{} · {name}", r.candidate_id),
    }
}

fn hover_text(
    r: &TrialRecord,
    label: &str,
    kind: Kind,
    x_metric: Metric,
    y_metric: Metric,
    (x, y): (f64, f64),
) -> String {
    let what = match kind {
        Kind::Search => "search trial",
        Kind::Check => "longer check",
        Kind::Refuted => {
            "search trial, refuted by a longer check that failed at or below this rate"
        }
    };
    format!(
        "{label} ({what}): offered {:.2} req/s, {} {x:.2}, {} {y:.1}, SLA {}\nflags: {}",
        r.requested_qps,
        x_metric.label(),
        y_metric.label(),
        if r.sla_passed { "pass" } else { "fail" },
        serde_json::to_string(&r.server_flags).unwrap_or_default()
    )
}

/// Points no other point beats on both axes (higher x and lower latency), by x.
pub(crate) fn pareto(points: &[Point]) -> Vec<Point> {
    let mut front: Vec<Point> = points
        .iter()
        .filter(|p| {
            !points.iter().any(|q| {
                q.rate >= p.rate
                    && q.latency <= p.latency
                    && (q.rate > p.rate || q.latency < p.latency)
            })
        })
        .cloned()
        .collect();
    front.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    front.dedup_by(|a, b| a.rate == b.rate && a.latency == b.latency);
    front
}

/// The y axis ends at this many times the SLA limit; higher points are drawn clipped.
const CLIP_AT_LIMITS: f64 = 3.0;

/// The SVG's size: the chart, then the legend beside it.
const WIDTH: u32 = 1200;
const HEIGHT: u32 = 460;
const LEGEND_WIDTH: u32 = 330;
/// Height of one legend line.
const LEGEND_LINE: i32 = 19;

/// The Pareto frontier of the points that met the SLA: a failing trial is never an option, nor a
/// refuted one.
pub(crate) fn frontier(points: &[Point]) -> Vec<Point> {
    let passing: Vec<Point> = points
        .iter()
        .filter(|p| p.passed && p.kind != Kind::Refuted)
        .cloned()
        .collect();
    pareto(&passing)
}

/// Renders one plot as an SVG element (no XML namespace URL, so it carries no link at all).
pub(crate) fn latency_svg(
    spec: &PlotSpec,
    records: &[TrialRecord],
    answer: Option<&AnswerMark>,
) -> String {
    svg_of_series(spec, &series(records, spec.x_metric, spec.y_metric, answer))
}

/// Several runs' series on shared axes, each series named `run: candidate`: a candidate keeps its
/// colour, and the runs after the first are dashed.
pub(crate) fn overlay_svg(spec: &PlotSpec, runs: &[(String, Vec<TrialRecord>)]) -> String {
    let all: Vec<Series> = runs
        .iter()
        .enumerate()
        .flat_map(|(index, (run, records))| {
            series(records, spec.x_metric, spec.y_metric, None)
                .into_iter()
                .map(move |s| Series {
                    label: format!("{run}: {}", s.label),
                    dashed: index > 0,
                    ..s
                })
        })
        .collect();
    svg_of_series(spec, &all)
}

fn svg_of_series(spec: &PlotSpec, all: &[Series]) -> String {
    let points: Vec<(usize, Point)> = all
        .iter()
        .flat_map(|s| s.points.iter().map(|p| (s.candidate, p.clone())))
        .collect();
    let max_x = points.iter().map(|(_, p)| p.rate).fold(1.0_f64, f64::max) * 1.1;
    let highest = points
        .iter()
        .map(|(_, p)| p.latency)
        .chain(spec.sla_ms)
        .fold(1.0_f64, f64::max);
    let top = spec
        .sla_ms
        .map_or(highest, |limit| highest.min(limit * CLIP_AT_LIMITS));
    let legend = legend_entries(spec, all, top);
    let height = HEIGHT.max(40 + legend.len() as u32 * LEGEND_LINE as u32);
    let mut svg = String::new();
    let mut overlay = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        let (chart_area, _) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        let flat: Vec<Point> = points.iter().map(|(_, p)| p.clone()).collect();
        if let Ok(pixels) = draw(&chart_area, spec, all, &flat, max_x, top) {
            overlay = markers(&points, &pixels, top);
        }
        let _ = root.present();
    }
    overlay.push_str(&legend_svg(&legend, WIDTH - LEGEND_WIDTH + 12));
    let svg = svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
    match svg.rfind("</svg>") {
        Some(end) => format!("{}{overlay}</svg>", &svg[..end]),
        None => svg,
    }
}
/// The hand-drawn layer over the chart: a ring around the answer's trial, then a transparent
/// circle per point that carries its hover text.
fn markers(points: &[(usize, Point)], pixels: &[(i32, i32)], top: f64) -> String {
    let mut out = String::new();
    for ((candidate, point), (px, py)) in points.iter().zip(pixels) {
        if point.answer {
            let _ = write!(
                out,
                "<circle class=\"answer-marker\" data-candidate=\"{candidate}\" cx=\"{px}\" cy=\"{py}\" r=\"11\" fill=\"none\" stroke=\"#111\" stroke-width=\"2.5\"><title>the answer: {}</title></circle>",
                escape(&point.info)
            );
        }
    }
    for ((candidate, point), (px, py)) in points.iter().zip(pixels) {
        let clipped = if point.latency > top {
            " (above the axis: clipped)"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<circle class=\"hover\" data-candidate=\"{candidate}\" cx=\"{px}\" cy=\"{py}\" r=\"8\" fill=\"transparent\"><title>{}{clipped}</title></circle>",
            escape(&point.info)
        );
    }
    out
}

/// The colour of a candidate's series.
fn colour_of(candidate: usize) -> RGBColor {
    let (r, g, b) = shared::palette::rgb(candidate);
    RGBColor(r, g, b)
}

/// The SLA line's colour: dark, so no candidate's colour is mistaken for it.
const SLA_COLOUR: RGBColor = RGBColor(0x22, 0x22, 0x22);
/// The frontier's colour.
const FRONTIER_COLOUR: RGBColor = RGBColor(0x99, 0x99, 0x99);

/// Draws the chart; returns each point's pixel position (same order as `points`).
fn draw(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    spec: &PlotSpec,
    all: &[Series],
    points: &[Point],
    max_x: f64,
    top: f64,
) -> Result<Vec<(i32, i32)>, String> {
    let max_y = top * 1.15;
    let shown = |p: &Point| (p.rate, p.latency.min(top));
    let err = |e: plotters::drawing::DrawingAreaErrorKind<_>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(root)
        .caption(&spec.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_x, 0.0..max_y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(spec.x_metric.label())
        .y_desc(spec.y_metric.label())
        .light_line_style(WHITE.mix(0.0))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(err)?;
    let front = frontier(points);
    if front.len() > 1 {
        chart
            .draw_series(LineSeries::new(
                front.iter().map(shown),
                FRONTIER_COLOUR.mix(0.6).stroke_width(8),
            ))
            .map_err(err)?;
    }
    if let Some(limit) = spec.sla_ms {
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, limit), (max_x, limit)],
                8,
                6,
                SLA_COLOUR.stroke_width(2),
            ))
            .map_err(err)?;
    }
    for series in all {
        draw_series(&mut chart, series, top).map_err(err)?;
    }
    Ok(points
        .iter()
        .map(|p| chart.backend_coord(&shown(p)))
        .collect())
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// One candidate: its search trials joined by a line, then each point's marker.
fn draw_series(
    chart: &mut Chart<'_, '_>,
    series: &Series,
    top: f64,
) -> Result<(), plotters::drawing::DrawingAreaErrorKind<std::io::Error>> {
    let colour = colour_of(series.candidate);
    let shown = |p: &Point| (p.rate, p.latency.min(top));
    let line = series
        .points
        .iter()
        .filter(|p| p.kind != Kind::Check)
        .map(shown);
    if series.dashed {
        chart.draw_series(DashedLineSeries::new(line, 6, 4, colour.stroke_width(2)))?;
    } else {
        chart.draw_series(LineSeries::new(line, colour.stroke_width(2)))?;
    }
    for p in &series.points {
        let at = shown(p);
        let style = if p.passed {
            colour.filled()
        } else {
            colour.stroke_width(2)
        };
        if p.latency > top {
            chart.draw_series(std::iter::once(TriangleMarker::new(at, 6, colour.filled())))?;
        } else if p.kind == Kind::Refuted {
            chart.draw_series(std::iter::once(Cross::new(at, 5, colour.stroke_width(3))))?;
        } else if p.kind == Kind::Check {
            chart.draw_series(std::iter::once(
                EmptyElement::at(at) + Rectangle::new([(-5, -5), (5, 5)], style),
            ))?;
        } else {
            chart.draw_series(std::iter::once(Circle::new(at, 4, style)))?;
        }
    }
    Ok(())
}

/// One line of the legend.
#[derive(Debug, Clone, PartialEq)]
enum Entry {
    /// A candidate's series: its colour's line and its name.
    Series {
        candidate: usize,
        label: String,
        dashed: bool,
    },
    /// A marker and what it means.
    Key { shape: &'static str, text: String },
}

/// The legend: the series, then the markers that occur and the lines.
fn legend_entries(spec: &PlotSpec, all: &[Series], top: f64) -> Vec<Entry> {
    let mut out: Vec<Entry> = all
        .iter()
        .map(|s| Entry::Series {
            candidate: s.candidate,
            label: s.label.clone(),
            dashed: s.dashed,
        })
        .collect();
    let points = || all.iter().flat_map(|s| s.points.iter());
    let key = |shape, text: &str| Entry::Key {
        shape,
        text: text.to_string(),
    };
    out.push(key("filled", "filled: met the SLA"));
    out.push(key("hollow", "hollow: missed it"));
    if points().any(|p| p.kind == Kind::Check) {
        out.push(key("square", "square: longer check (confirmation)"));
    }
    if points().any(|p| p.kind == Kind::Refuted) {
        out.push(key("cross", "cross: refuted by a longer check"));
    }
    if points().any(|p| p.latency > top) {
        out.push(key(
            "triangle",
            &format!("triangle: above {top:.0} ms (clipped)"),
        ));
    }
    if points().any(|p| p.answer) {
        out.push(key("ring", "ring: the answer"));
    }
    if frontier(&points().cloned().collect::<Vec<_>>()).len() > 1 {
        out.push(key("frontier", "Pareto frontier (met the SLA)"));
    }
    if let Some(limit) = spec.sla_ms {
        out.push(key("sla", &format!("SLA {limit} ms")));
    }
    out
}

/// The longest legend text before it is cut with an ellipsis.
const LEGEND_CHARS: usize = 44;

/// The legend as SVG, from `x` on: each series' swatch carries its candidate and colour.
fn legend_svg(entries: &[Entry], x: u32) -> String {
    let mut out = String::from("<g class=\"legend\" font-family=\"sans-serif\" font-size=\"13\">");
    for (index, entry) in entries.iter().enumerate() {
        let y = 40 + index as i32 * LEGEND_LINE;
        let (swatch, text, class) = match entry {
            Entry::Series {
                candidate,
                label,
                dashed,
            } => {
                let dash = if *dashed {
                    " stroke-dasharray=\"6 4\""
                } else {
                    ""
                };
                (
                    format!(
                        "<line class=\"legend-swatch\" data-candidate=\"{candidate}\" x1=\"{x}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{}\" stroke-width=\"3\"{dash}/>",
                        x + 22,
                        shared::palette::colour(*candidate)
                    ),
                    label.as_str(),
                    "legend-entry series",
                )
            }
            Entry::Key { shape, text } => (
                key_swatch(shape, x + 11, y),
                text.as_str(),
                "legend-entry key",
            ),
        };
        // A cut name keeps its whole text in a hover title.
        let shown = cut(text);
        let title = if shown == text {
            String::new()
        } else {
            format!("<title>{}</title>", escape(text))
        };
        let _ = write!(
            out,
            "<g class=\"{class}\">{swatch}<text x=\"{}\" y=\"{}\" fill=\"#222\">{title}{}</text></g>",
            x + 30,
            y + 4,
            escape(&shown)
        );
    }
    out.push_str("</g>");
    out
}

/// A marker's sample in the legend, centred on (`x`, `y`).
fn key_swatch(shape: &str, x: u32, y: i32) -> String {
    let ink = "#444";
    match shape {
        "filled" => format!("<circle cx=\"{x}\" cy=\"{y}\" r=\"4\" fill=\"{ink}\"/>"),
        "hollow" => format!(
            "<circle cx=\"{x}\" cy=\"{y}\" r=\"4\" fill=\"none\" stroke=\"{ink}\" stroke-width=\"2\"/>"
        ),
        "square" => format!(
            "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"none\" stroke=\"{ink}\" stroke-width=\"2\"/>",
            x - 5,
            y - 5
        ),
        "cross" => format!(
            "<path d=\"M{} {}L{} {}M{} {}L{} {}\" stroke=\"{ink}\" stroke-width=\"3\"/>",
            x - 5,
            y - 5,
            x + 5,
            y + 5,
            x - 5,
            y + 5,
            x + 5,
            y - 5
        ),
        "triangle" => format!(
            "<path d=\"M{x} {}L{} {}L{} {}Z\" fill=\"{ink}\"/>",
            y - 6,
            x + 6,
            y + 5,
            x - 6,
            y + 5
        ),
        "ring" => format!(
            "<circle cx=\"{x}\" cy=\"{y}\" r=\"7\" fill=\"none\" stroke=\"#111\" stroke-width=\"2.5\"/>"
        ),
        "frontier" => format!(
            "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#999\" stroke-opacity=\"0.6\" stroke-width=\"8\"/>",
            x - 11,
            x + 11
        ),
        _ => format!(
            "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#222\" stroke-width=\"2\" stroke-dasharray=\"8 6\"/>",
            x - 11,
            x + 11
        ),
    }
}

/// `text` cut to [`LEGEND_CHARS`] characters, with an ellipsis when cut.
fn cut(text: &str) -> String {
    if text.chars().count() <= LEGEND_CHARS {
        return text.to_string();
    }
    let head: String = text.chars().take(LEGEND_CHARS - 1).collect();
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(rate: f64, latency: f64) -> Point {
        Point {
            rate,
            latency,
            passed: true,
            kind: Kind::Search,
            answer: false,
            info: String::new(),
        }
    }

    #[test]
    fn the_frontier_keeps_only_undominated_points() {
        let p = point;
        let front = pareto(&[p(10.0, 50.0), p(20.0, 40.0), p(15.0, 60.0), p(30.0, 90.0)]);
        assert_eq!(front, vec![p(20.0, 40.0), p(30.0, 90.0)]);
        let failing = Point {
            passed: false,
            ..p(25.0, 10.0)
        };
        assert_eq!(
            frontier(&[p(10.0, 50.0), failing, p(20.0, 40.0)]),
            vec![p(20.0, 40.0)],
            "a failing trial dominates nothing"
        );
        let refuted = Point {
            kind: Kind::Refuted,
            ..p(30.0, 30.0)
        };
        assert_eq!(
            frontier(&[p(10.0, 50.0), refuted, p(20.0, 40.0)]),
            vec![p(20.0, 40.0)],
            "a refuted trial is never on the frontier"
        );
    }

    fn record(stage: &str, cand: usize, qps: f64, ttft: f64, passed: bool) -> TrialRecord {
        serde_json::from_value(serde_json::json!({
            "stage": stage, "candidate_id": cand, "requested_qps": qps,
            "server_flags": {"model_path": "m", "max_running_requests": 8 * (cand + 1)},
            "sla_passed": passed,
            "metrics": {"completed": 10, "achieved_request_rate": qps, "p99_ttft_ms": ttft}
        }))
        .expect("record")
    }

    fn spec() -> PlotSpec {
        PlotSpec {
            title: "t".into(),
            x_metric: Metric::AchievedRate,
            y_metric: Metric::Latency(shared::metrics::Series::Ttft, shared::sla::Stat::P99),
            sla_ms: Some(100.0),
        }
    }

    #[test]
    fn a_trial_stopped_early_stays_off_the_curves() {
        let record = |qps: f64, early: Option<&str>| -> TrialRecord {
            serde_json::from_value(serde_json::json!({
                "stage": "base", "candidate_id": 0, "requested_qps": qps,
                "server_flags": {}, "sla_passed": early.is_none(),
                "metrics": {"completed": 17, "duration": 4.0, "achieved_request_rate": qps,
                            "p99_ttft_ms": 20.0, "early_stopped": early.is_some(),
                            "early_stop_reason": early}
            }))
            .expect("record")
        };
        let plotted = series(
            &[record(10.0, None), record(30.0, Some("unsustainable"))],
            Metric::AchievedRate,
            spec().y_metric,
            None,
        );
        let rates: Vec<f64> = plotted
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.rate))
            .collect();
        assert_eq!(
            rates,
            [10.0],
            "the stopped trial is not a point of the curve"
        );
    }

    #[test]
    fn a_refuted_point_is_a_cross_the_answer_is_ringed_and_the_legend_is_beside_the_data() {
        let records = [
            record("base", 1, 20.0, 40.0, true),
            record("base", 1, 15.0, 30.0, true),
            record("confirm", 1, 18.0, 120.0, false),
            record("confirm", 1, 15.0, 35.0, true),
        ];
        let answer = AnswerMark {
            stage: Stage::Confirm,
            candidate: 1,
            requested_qps: 15.0,
        };
        let plotted = series(
            &records,
            Metric::AchievedRate,
            spec().y_metric,
            Some(&answer),
        );
        let kinds: Vec<(f64, Kind, bool)> = plotted[0]
            .points
            .iter()
            .map(|p| (p.rate, p.kind, p.answer))
            .collect();
        assert!(kinds.contains(&(20.0, Kind::Refuted, false)), "{kinds:?}");
        assert!(kinds.contains(&(15.0, Kind::Search, false)), "{kinds:?}");
        assert!(kinds.contains(&(15.0, Kind::Check, true)), "{kinds:?}");
        let svg = latency_svg(&spec(), &records, Some(&answer));
        assert_eq!(svg.matches("class=\"answer-marker\"").count(), 1, "{svg}");
        assert!(svg.contains("cross: refuted by a longer check"));
        // The legend starts right of the chart area.
        let legend_x = WIDTH - LEGEND_WIDTH + 12;
        assert!(
            svg.contains(&format!(
                "<line class=\"legend-swatch\" data-candidate=\"1\" x1=\"{legend_x}\""
            )),
            "{svg}"
        );
    }

    #[test]
    fn the_legend_explains_markers_an_outlier_is_clipped_and_colours_follow_the_candidate() {
        let svg = latency_svg(
            &spec(),
            &[
                record("base", 0, 1.0, 50.0, true),
                record("base", 1, 2.0, 5000.0, false),
            ],
            None,
        );
        assert!(svg.contains("filled: met the SLA"), "{svg}");
        assert!(svg.contains("hollow: missed it"));
        assert!(svg.contains("above the axis: clipped"));
        assert!(
            svg.contains("1 · --max-running-requests 16"),
            "series named by their flags"
        );
        assert!(svg.contains(&format!("stroke=\"{}\"", shared::palette::colour(1))));
        // Candidate 1 alone still gets candidate 1's colour.
        let alone = latency_svg(&spec(), &[record("base", 1, 2.0, 50.0, true)], None);
        assert!(alone.contains(&format!(
            "data-candidate=\"1\" x1=\"{}\"",
            WIDTH - LEGEND_WIDTH + 12
        )));
        let both = overlay_svg(
            &spec(),
            &[
                ("run-a".into(), vec![record("base", 0, 1.0, 50.0, true)]),
                ("run-b".into(), vec![record("base", 0, 2.0, 60.0, true)]),
            ],
        );
        assert!(
            both.contains("run-a: 0 · default") && both.contains("run-b: 0 · default"),
            "one series per run on shared axes"
        );
        assert_eq!(
            both.matches(&format!("stroke=\"{}\"", shared::palette::colour(0)))
                .count(),
            2,
            "the same candidate, the same colour, in both runs"
        );
    }
}
