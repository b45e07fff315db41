//! The experiment's three plots, SVG: held-out accuracy per round per instance (one panel line
//! per instance and method), and mean accuracy against signal bytes sent and against joules.

use std::path::Path;

use anyhow::{Result, anyhow};
use dfma_runtime::reasoning::experiment::{ExperimentReport, MethodRecord, RoundRecord};
use plotters::prelude::*;

/// A named, coloured line of (x, accuracy %) points.
type Series = (String, RGBColor, Vec<(f64, f64)>);

const COLORS: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];

/// `c` lightened a step per instance, so one method's instances stay one hue.
fn shade(c: RGBColor, i: usize) -> RGBColor {
    let f = (0.18 * i as f64).min(0.7);
    let l = |v: u8| (f64::from(v) + (255.0 - f64::from(v)) * f) as u8;
    RGBColor(l(c.0), l(c.1), l(c.2))
}

fn mean(v: &[Option<f64>]) -> f64 {
    let xs: Vec<f64> = v.iter().flatten().copied().collect();
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

/// One chart of (x, accuracy %) series.
fn chart(path: &Path, title: &str, x_label: &str, series: &[Series]) -> Result<()> {
    let x_max = series.iter().flat_map(|s| s.2.iter().map(|p| p.0)).fold(1e-9, f64::max);
    let tmp = path.with_extension("svg.tmp");
    {
        let root = SVGBackend::new(&tmp, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let mut c = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..x_max * 1.05, 0.0..100.0)
            .map_err(|e| anyhow!("{e}"))?;
        c.configure_mesh().x_desc(x_label).y_desc("held-out accuracy %").draw().map_err(|e| anyhow!("{e}"))?;
        for (name, color, points) in series {
            c.draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
                .map_err(|e| anyhow!("{e}"))?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
            c.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(|e| anyhow!("{e}"))?;
        }
        c.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| anyhow!("{}: {e}", path.display()))
}

fn series(report: &ExperimentReport, x: impl Fn(&MethodRecord, &RoundRecord) -> f64) -> Vec<Series> {
    report
        .methods
        .iter()
        .enumerate()
        .map(|(k, m)| {
            (m.method.clone(), COLORS[k % 4], m.rounds.iter().map(|r| (x(m, r), 100.0 * mean(&r.accuracy))).collect())
        })
        .collect()
}

/// Writes `accuracy_per_round.svg`, `accuracy_vs_bytes.svg` and `accuracy_vs_joules.svg`.
pub fn write_plots(report: &ExperimentReport, dir: &Path) -> Result<()> {
    let mut per_instance = Vec::new();
    for (k, m) in report.methods.iter().enumerate() {
        let n = m.rounds.first().map_or(0, |r| r.accuracy.len());
        for i in 0..n {
            let pts = m.rounds.iter().filter_map(|r| r.accuracy[i].map(|a| (r.round as f64, 100.0 * a))).collect();
            per_instance.push((format!("{} #{i}", m.method), shade(COLORS[k % 4], i), pts));
        }
    }
    chart(&dir.join("accuracy_per_round.svg"), "held-out accuracy per round, per instance", "round", &per_instance)?;
    let bytes = series(report, |_, r| r.bytes_sent.iter().sum::<u64>() as f64 / r.bytes_sent.len().max(1) as f64 / 1e6);
    chart(
        &dir.join("accuracy_vs_bytes.svg"),
        "mean accuracy against signal MB sent per instance",
        "MB sent per instance",
        &bytes,
    )?;
    let joules = series(report, |_, r| r.joules.iter().sum::<f64>() / r.joules.len().max(1) as f64 / 1e3);
    chart(
        &dir.join("accuracy_vs_joules.svg"),
        &format!("mean accuracy against learning energy ({})", report.energy),
        "kJ per instance",
        &joules,
    )?;
    Ok(())
}
