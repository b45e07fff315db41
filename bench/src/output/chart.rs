//! The roofline chart: FLOP/s against arithmetic intensity (FLOP per byte), log-log, one roof
//! per backend from its measured peaks, one point per timed case.

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use crate::report::Report;

const COLORS: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
];

/// Renders the report's roofline as an SVG document.
pub fn write_roofline_svg(r: &Report) -> Result<String> {
    let points: Vec<(String, f64, f64)> = r
        .cases
        .iter()
        .filter(|c| c.model_bytes > 0 && c.flops > 0)
        .filter_map(|c| Some((c.backend.clone(), c.flops as f64 / c.model_bytes as f64, c.flops_per_s?)))
        .filter(|(_, x, y)| x.is_finite() && y.is_finite() && *y > 0.0)
        .collect();
    let peak = r.rooflines.iter().map(|p| p.fma_flops_per_s).fold(1e9, f64::max);
    let low = points
        .iter()
        .map(|p| p.2)
        .fold(peak, f64::min)
        .min(r.rooflines.iter().map(|p| p.read_bytes_per_s * 0.01).fold(peak, f64::min));
    let (x0, x1) = (1e-2f64, 1e3f64);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("chart: {e}"))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("dfma roofline — {}", r.commit), ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d((x0..x1).log_scale(), (low * 0.5..peak * 2.0).log_scale())
            .map_err(|e| anyhow!("chart: {e}"))?;
        chart
            .configure_mesh()
            .x_desc("arithmetic intensity (FLOP / byte of the cost model)")
            .y_desc("FLOP/s")
            .draw()
            .map_err(|e| anyhow!("chart: {e}"))?;
        for (i, p) in r.rooflines.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let roof = (0..=100).map(|k| {
                let x = x0 * (x1 / x0).powf(k as f64 / 100.0);
                (x, (p.read_bytes_per_s * x).min(p.fma_flops_per_s))
            });
            chart
                .draw_series(LineSeries::new(roof, color.stroke_width(2)))
                .map_err(|e| anyhow!("chart: {e}"))?
                .label(format!("{} roof", p.backend))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            let mine = points
                .iter()
                .filter(|(b, _, _)| *b == p.backend)
                .map(|(_, x, y)| Circle::new((*x, *y), 4, color.filled()));
            chart.draw_series(mine).map_err(|e| anyhow!("chart: {e}"))?;
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| anyhow!("chart: {e}"))?;
        root.present().map_err(|e| anyhow!("chart: {e}"))?;
    }
    Ok(svg)
}
