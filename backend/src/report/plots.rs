//! The report's plots, drawn with plotters into inline SVG: per scenario, achieved request rate
//! against one latency statistic, one series per candidate, the SLA limit as a dashed line and the
//! Pareto frontier (no other trial is both faster and lower-latency) drawn thick. Trials that
//! met the SLA are filled dots, the others hollow.

use plotters::prelude::*;
use shared::record::TrialRecord;

/// One plotted point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Achieved request rate.
    pub rate: f64,
    /// Latency in milliseconds.
    pub latency: f64,
    /// The trial met the SLA (drawn filled; failures hollow).
    pub passed: bool,
}

/// The series of one candidate: `(label, points sorted by rate)`.
pub fn series(records: &[TrialRecord], metric: &str) -> Vec<(String, Vec<Point>)> {
    let mut out: Vec<(String, Vec<Point>)> = Vec::new();
    for r in records {
        let (Some(rate), Some(latency)) = (r.metric("achieved_request_rate"), r.metric(metric))
        else {
            continue;
        };
        if r.metric("completed").unwrap_or(0.0) < 1.0 {
            continue;
        }
        let label = format!("{} cand {}", r.stage, r.candidate_id);
        let point = Point {
            rate,
            latency,
            passed: r.sla_passed,
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

/// Points no other point beats on both axes (higher rate and lower latency), by rate.
pub fn pareto(points: &[Point]) -> Vec<Point> {
    let mut front: Vec<Point> = points
        .iter()
        .copied()
        .filter(|p| {
            !points.iter().any(|q| {
                q.rate >= p.rate
                    && q.latency <= p.latency
                    && (q.rate > p.rate || q.latency < p.latency)
            })
        })
        .collect();
    front.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    front.dedup();
    front
}

/// Renders one plot as an SVG document string.
pub fn latency_svg(
    title: &str,
    metric: &str,
    records: &[TrialRecord],
    sla_ms: Option<f64>,
) -> String {
    let all = series(records, metric);
    let points: Vec<Point> = all.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    let max_rate = points.iter().map(|p| p.rate).fold(1.0_f64, f64::max) * 1.1;
    let max_latency = points
        .iter()
        .map(|p| p.latency)
        .chain(sla_ms)
        .fold(1.0_f64, f64::max)
        * 1.15;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 420)).into_drawing_area();
        let _ = draw(
            &root,
            title,
            metric,
            &all,
            &points,
            sla_ms,
            max_rate,
            max_latency,
        );
        let _ = root.present();
    }
    // Inline SVG in HTML needs no namespace; dropping it keeps the report free of any URL.
    svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
}

#[expect(
    clippy::too_many_arguments,
    reason = "one drawing, its inputs spelled out"
)]
fn draw(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    metric: &str,
    all: &[(String, Vec<Point>)],
    points: &[Point],
    sla_ms: Option<f64>,
    max_rate: f64,
    max_latency: f64,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_rate, 0.0..max_latency)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("achieved request rate (req/s)")
        .y_desc(metric)
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|e| e.to_string())?;
    for (index, (label, series)) in all.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        chart
            .draw_series(LineSeries::new(
                series.iter().map(|p| (p.rate, p.latency)),
                color.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
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
            .map_err(|e| e.to_string())?;
    }
    let front = pareto(points);
    if front.len() > 1 {
        chart
            .draw_series(LineSeries::new(
                front.iter().map(|p| (p.rate, p.latency)),
                BLACK.mix(0.35).stroke_width(6),
            ))
            .map_err(|e| e.to_string())?
            .label("Pareto frontier")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], BLACK.mix(0.35).stroke_width(6))
            });
    }
    if let Some(limit) = sla_ms {
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, limit), (max_rate, limit)],
                8,
                6,
                RED.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(format!("SLA {limit} ms"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
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
        };
        let front = pareto(&[p(10.0, 50.0), p(20.0, 40.0), p(15.0, 60.0), p(30.0, 90.0)]);
        assert_eq!(front, vec![p(20.0, 40.0), p(30.0, 90.0)]);
    }
}
