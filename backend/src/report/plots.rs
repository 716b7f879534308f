//! Plots drawn with plotters into inline SVG: per scenario, achieved request rate (or output
//! tokens/s) against one latency statistic, one series per candidate, the SLA limit as a dashed
//! line and the Pareto frontier (no other trial is both faster and lower-latency) drawn thick.
//! Trials that met the SLA are filled dots, the others hollow. Every point carries an SVG
//! `<title>` with its flags and numbers, so hovering shows them with no script at all.

use std::fmt::Write as _;

use plotters::prelude::*;
use shared::metrics::Metric;
use shared::record::TrialRecord;

use super::html::escape;

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
    for r in records {
        // Upstream records have no achieved rate; the achieved-rate metric then reads
        // bench_serving's request throughput, the same measure.
        let (Some(x), Some(y)) = (r.metric(x_metric), r.metric(y_metric)) else {
            continue;
        };
        if r.metrics.as_ref().is_none_or(|m| m.completed < 1) {
            continue;
        }
        let label = format!("{} cand {}", r.stage, r.candidate_id);
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

/// Renders one plot as an SVG element (no XML namespace URL, so it carries no link at all).
pub(crate) fn latency_svg(spec: &PlotSpec, records: &[TrialRecord]) -> String {
    let all = series(records, spec.x_metric, spec.y_metric);
    let points: Vec<Point> = all.iter().flat_map(|(_, p)| p.iter().cloned()).collect();
    let max_x = points.iter().map(|p| p.rate).fold(1.0_f64, f64::max) * 1.1;
    let max_y = points
        .iter()
        .map(|p| p.latency)
        .chain(spec.sla_ms)
        .fold(1.0_f64, f64::max)
        * 1.15;
    let mut svg = String::new();
    let mut hover = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 420)).into_drawing_area();
        if let Ok(pixels) = draw(&root, spec, &all, &points, max_x, max_y) {
            for (point, (px, py)) in points.iter().zip(pixels) {
                let _ = write!(
                    hover,
                    "<circle class=\"hover\" cx=\"{px}\" cy=\"{py}\" r=\"8\" fill=\"transparent\"><title>{}</title></circle>",
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
    max_y: f64,
) -> Result<Vec<(i32, i32)>, String> {
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
                series.iter().map(|p| (p.rate, p.latency)),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        chart
            .draw_series(series.iter().map(|p| {
                let style = if p.passed {
                    color.filled()
                } else {
                    color.stroke_width(2)
                };
                Circle::new((p.rate, p.latency), 4, style)
            }))
            .map_err(err)?;
    }
    let front = pareto(points);
    if front.len() > 1 {
        let grey = BLACK.mix(0.35);
        chart
            .draw_series(LineSeries::new(
                front.iter().map(|p| (p.rate, p.latency)),
                grey.stroke_width(6),
            ))
            .map_err(err)?
            .label("Pareto frontier")
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
        .map(|p| chart.backend_coord(&(p.rate, p.latency)))
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
    }
}
