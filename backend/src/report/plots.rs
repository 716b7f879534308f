//! Plots drawn with plotters into inline SVG: per scenario, achieved request rate (or output
//! tokens/s) against one latency statistic, one series per candidate, the SLA limit as a dashed
//! line and the Pareto frontier of the trials that met the SLA (no other passing trial is both
//! faster and lower-latency) drawn thick. Trials that met the SLA are filled dots, the others
//! hollow, and the legend says so. Series are named by what the candidate changes from the
//! baseline. The y axis stops at three times the SLA limit: a point above it is drawn on the top
//! edge as a triangle. Every point carries an SVG `<title>` with its flags and numbers, so
//! hovering shows them with no script at all. Trials stopped early (they could no longer pass)
//! are left out: they measured too little to be a point of a throughput curve.

use std::fmt::Write as _;

use plotters::prelude::*;
use shared::metrics::Metric;
use shared::record::TrialRecord;

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

/// One plotted point.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Point {
    /// X value (rate or tokens/s).
    pub rate: f64,
    /// Latency in milliseconds.
    pub latency: f64,
    /// The trial met the SLA.
    pub passed: bool,
    /// Hover text: candidate, numbers, flags.
    pub info: String,
}

/// Per candidate: `(label, points sorted by x)`.
pub(crate) fn series(
    records: &[TrialRecord],
    x_metric: Metric,
    y_metric: Metric,
) -> Vec<(String, Vec<Point>)> {
    let mut out: Vec<(String, Vec<Point>)> = Vec::new();
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
        let label = format!(
            "{} {}",
            r.stage,
            shared::naming::numbered(r.candidate_id, &r.server_flags, &baseline)
        );
        let info = format!(
            "{label}: offered {:.2} req/s, {} {x:.2}, {} {y:.1}, SLA {}\nflags: {}",
            r.requested_qps,
            x_metric.label(),
            y_metric.label(),
            if r.sla_passed { "pass" } else { "fail" },
            serde_json::to_string(&r.server_flags).unwrap_or_default()
        );
        let point = Point {
            rate: x,
            latency: y,
            passed: r.sla_passed,
            info,
        };
        match out.iter_mut().find(|(l, _)| *l == label) {
            Some((_, points)) => points.push(point),
            None => out.push((label, vec![point])),
        }
    }
    for (_, points) in &mut out {
        points.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    }
    out
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

/// The Pareto frontier of the points that met the SLA: a failing trial is never an option.
pub(crate) fn frontier(points: &[Point]) -> Vec<Point> {
    let passing: Vec<Point> = points.iter().filter(|p| p.passed).cloned().collect();
    pareto(&passing)
}

/// Renders one plot as an SVG element (no XML namespace URL, so it carries no link at all).
pub(crate) fn latency_svg(spec: &PlotSpec, records: &[TrialRecord]) -> String {
    svg_of_series(spec, series(records, spec.x_metric, spec.y_metric))
}

/// Several runs' series on shared axes, each series named `run: candidate`.
pub(crate) fn overlay_svg(spec: &PlotSpec, runs: &[(String, Vec<TrialRecord>)]) -> String {
    let all = runs
        .iter()
        .flat_map(|(run, records)| {
            series(records, spec.x_metric, spec.y_metric)
                .into_iter()
                .map(move |(label, points)| (format!("{run}: {label}"), points))
        })
        .collect();
    svg_of_series(spec, all)
}

fn svg_of_series(spec: &PlotSpec, all: Vec<(String, Vec<Point>)>) -> String {
    let points: Vec<Point> = all.iter().flat_map(|(_, p)| p.iter().cloned()).collect();
    let max_x = points.iter().map(|p| p.rate).fold(1.0_f64, f64::max) * 1.1;
    let highest = points
        .iter()
        .map(|p| p.latency)
        .chain(spec.sla_ms)
        .fold(1.0_f64, f64::max);
    let top = spec
        .sla_ms
        .map_or(highest, |limit| highest.min(limit * CLIP_AT_LIMITS));
    let mut svg = String::new();
    let mut hover = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 420)).into_drawing_area();
        if let Ok(pixels) = draw(&root, spec, &all, &points, max_x, top) {
            for (point, (px, py)) in points.iter().zip(pixels) {
                let clipped = if point.latency > top {
                    " (above the axis: clipped)"
                } else {
                    ""
                };
                let _ = write!(
                    hover,
                    "<circle class=\"hover\" cx=\"{px}\" cy=\"{py}\" r=\"8\" fill=\"transparent\"><title>{}{clipped}</title></circle>",
                    escape(&point.info)
                );
            }
        }
        let _ = root.present();
    }
    let svg = svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
    match svg.rfind("</svg>") {
        Some(end) => format!("{}{hover}</svg>", &svg[..end]),
        None => svg,
    }
}

/// Draws the chart; returns each point's pixel position (same order as `points`).
fn draw(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    spec: &PlotSpec,
    all: &[(String, Vec<Point>)],
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
        .draw()
        .map_err(err)?;
    for (index, (label, series)) in all.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        chart
            .draw_series(LineSeries::new(
                series.iter().map(shown),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        chart
            .draw_series(series.iter().filter(|p| p.latency <= top).map(|p| {
                let style = if p.passed {
                    color.filled()
                } else {
                    color.stroke_width(2)
                };
                Circle::new((p.rate, p.latency), 4, style)
            }))
            .map_err(err)?;
        chart
            .draw_series(
                series
                    .iter()
                    .filter(|p| p.latency > top)
                    .map(|p| TriangleMarker::new(shown(p), 6, color.filled())),
            )
            .map_err(err)?;
    }
    let marker = BLACK.mix(0.7);
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
        .map_err(err)?
        .label("filled: met the SLA")
        .legend(move |(x, y)| Circle::new((x + 8, y), 4, marker.filled()));
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
        .map_err(err)?
        .label("hollow: missed it")
        .legend(move |(x, y)| Circle::new((x + 8, y), 4, marker.stroke_width(2)));
    if points.iter().any(|p| p.latency > top) {
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .map_err(err)?
            .label(format!("triangle: above {top:.0} ms (clipped)"))
            .legend(move |(x, y)| TriangleMarker::new((x + 8, y), 6, marker.filled()));
    }
    let front = frontier(points);
    if front.len() > 1 {
        let grey = BLACK.mix(0.35);
        chart
            .draw_series(LineSeries::new(
                front.iter().map(shown),
                grey.stroke_width(6),
            ))
            .map_err(err)?
            .label("Pareto frontier (met the SLA)")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], grey.stroke_width(6))
            });
    }
    if let Some(limit) = spec.sla_ms {
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, limit), (max_x, limit)],
                8,
                6,
                RED.stroke_width(2),
            ))
            .map_err(err)?
            .label(format!("SLA {limit} ms"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    Ok(points
        .iter()
        .map(|p| chart.backend_coord(&shown(p)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frontier_keeps_only_undominated_points() {
        let p = |rate, latency| Point {
            rate,
            latency,
            passed: true,
            info: String::new(),
        };
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
        let y = Metric::Latency(shared::metrics::Series::Ttft, shared::sla::Stat::P99);
        let plotted = series(
            &[record(10.0, None), record(30.0, Some("unsustainable"))],
            Metric::AchievedRate,
            y,
        );
        let rates: Vec<f64> = plotted
            .iter()
            .flat_map(|(_, points)| points.iter().map(|p| p.rate))
            .collect();
        assert_eq!(
            rates,
            [10.0],
            "the stopped trial is not a point of the curve"
        );
    }

    #[test]
    fn the_legend_explains_markers_and_an_outlier_is_clipped() {
        let record = |cand: usize, qps: f64, ttft: f64, passed: bool| -> TrialRecord {
            serde_json::from_value(serde_json::json!({
                "stage": "base", "candidate_id": cand, "requested_qps": qps,
                "server_flags": {"model_path": "m", "max_running_requests": 8 * (cand + 1)},
                "sla_passed": passed,
                "metrics": {"completed": 10, "achieved_request_rate": qps, "p99_ttft_ms": ttft}
            }))
            .expect("record")
        };
        let spec = PlotSpec {
            title: "t".into(),
            x_metric: Metric::AchievedRate,
            y_metric: Metric::Latency(shared::metrics::Series::Ttft, shared::sla::Stat::P99),
            sla_ms: Some(100.0),
        };
        let svg = latency_svg(
            &spec,
            &[record(0, 1.0, 50.0, true), record(1, 2.0, 5000.0, false)],
        );
        assert!(svg.contains("filled: met the SLA"), "{svg}");
        assert!(svg.contains("hollow: missed it"));
        assert!(svg.contains("above the axis: clipped"));
        assert!(
            svg.contains("1 · max-running-requests=16"),
            "series named by their change"
        );
        let both = overlay_svg(
            &spec,
            &[
                ("run-a".into(), vec![record(0, 1.0, 50.0, true)]),
                ("run-b".into(), vec![record(0, 2.0, 60.0, true)]),
            ],
        );
        assert!(
            both.contains("run-a: base 0 · baseline") && both.contains("run-b: base 0 · baseline"),
            "one series per run on shared axes"
        );
    }
}
