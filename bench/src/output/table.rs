//! The terminal table row, CSV and Markdown.

use crate::report::{CaseReport, Report};

fn opt(v: Option<f64>, scale: f64, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{:.*}", digits, x * scale),
        _ => "n/a".into(),
    }
}

fn energy_cell(c: &CaseReport) -> String {
    match &c.energy {
        Some(e) => format!("{:.3e} J/op ({})", e.joules_per_op, e.kind),
        None => "-".into(),
    }
}

/// One line of the terminal table.
pub fn case_row(c: &CaseReport) -> String {
    let Some(s) = &c.summary else {
        return format!(
            "{:<12} {:<9} {:<20} {:<28} {:<4} WRONG RESULT ({}), not timed",
            c.op, c.backend, c.kernel, c.dims, c.cache_mode, c.check
        );
    };
    format!(
        "{:<12} {:<9} {:<20} {:<28} {:<4} {:>10.4} ms [{:.4}..{:.4}] ±{:>5.1}% {:>8} GB/s {:>8} GFLOP/s  {:<7} {:>6} of peak  {}{}",
        c.op,
        c.backend,
        c.kernel,
        c.dims,
        c.cache_mode,
        s.median_s * 1e3,
        s.p10_s * 1e3,
        s.p90_s * 1e3,
        s.rel_stdev * 100.0,
        opt(c.model_bytes_per_s, 1e-9, 2),
        opt(c.flops_per_s, 1e-9, 2),
        c.binding.as_deref().unwrap_or("-"),
        opt(c.fraction_of_peak, 1.0, 3),
        energy_cell(c),
        c.thread_instructions_per_s.map(|r| format!("  {:.1} M thread-instructions/s", r / 1e6)).unwrap_or_default()
            + &if c.unmet.is_empty() { String::new() } else { format!("  (unmet: {})", c.unmet.join(", ")) }
            + &c.weights_source.as_ref().map(|s| format!("  [{s}]")).unwrap_or_default()
    )
}

const HEADER: [&str; 19] = [
    "op",
    "backend",
    "kernel",
    "dims",
    "cache_mode",
    "correct",
    "samples",
    "median_s",
    "p10_s",
    "p90_s",
    "rel_stdev",
    "weight_bytes_per_s",
    "model_bytes_per_s",
    "flops_per_s",
    "binding",
    "fraction_of_peak",
    "joules_per_op",
    "energy_kind",
    "timing_method",
];

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

fn fields(c: &CaseReport) -> Vec<String> {
    let f = |v: Option<f64>| v.map(|x| format!("{x:e}")).unwrap_or_default();
    let s = c.summary.as_ref();
    vec![
        c.op.clone(),
        c.backend.clone(),
        c.kernel.clone(),
        c.dims.clone(),
        c.cache_mode.clone(),
        c.correct.to_string(),
        s.map(|s| s.samples.to_string()).unwrap_or_default(),
        f(s.map(|s| s.median_s)),
        f(s.map(|s| s.p10_s)),
        f(s.map(|s| s.p90_s)),
        f(s.map(|s| s.rel_stdev)),
        f(c.weight_bytes_per_s),
        f(c.model_bytes_per_s),
        f(c.flops_per_s),
        c.binding.clone().unwrap_or_default(),
        f(c.fraction_of_peak),
        f(c.energy.as_ref().map(|e| e.joules_per_op)),
        c.energy.as_ref().map(|e| e.kind.clone()).unwrap_or_default(),
        c.timing_method.clone(),
    ]
}

/// The cases as CSV, one row each, with a header.
pub fn write_csv(r: &Report) -> String {
    let mut out = HEADER.join(",") + "\n";
    for c in &r.cases {
        out += &fields(c).iter().map(|s| csv_field(s)).collect::<Vec<_>>().join(",");
        out.push('\n');
    }
    out
}

/// The report as Markdown: run facts, rooflines, then one table row per case.
pub fn write_markdown(r: &Report) -> String {
    let mut out = format!(
        "# dfma bench\n\n- tool: {}\n- commit: {}\n- seed: {}\n- host: {}\n\n## Backends\n\n| backend | device | driver | energy |\n|---|---|---|---|\n",
        r.tool, r.commit, r.seed, r.host
    );
    for b in &r.backends {
        let device = b.device.clone().unwrap_or_else(|| b.reason.clone().unwrap_or_default());
        out += &format!(
            "| {} | {} | {} | {} |\n",
            b.backend,
            device,
            b.driver.clone().unwrap_or_default(),
            b.energy_meter.clone().unwrap_or_else(|| "none".into())
        );
    }
    out += "\n## Measured peaks\n\n| backend | read GB/s | copy GB/s | FMA GFLOP/s | MMA GFLOP/s | method |\n|---|---|---|---|---|---|\n";
    for p in &r.rooflines {
        out += &format!(
            "| {} | {:.2} | {:.2} | {:.1} | {} | {} |\n",
            p.backend,
            p.read_bytes_per_s / 1e9,
            p.copy_bytes_per_s / 1e9,
            p.fma_flops_per_s / 1e9,
            p.mma_flops_per_s.map(|m| format!("{:.1}", m / 1e9)).unwrap_or_else(|| "-".into()),
            p.method
        );
    }
    out += "\n## Cases (medians)\n\n| op | backend | kernel | dims | cache | ms | GB/s | GFLOP/s | bound | of peak | J/op |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
    for c in &r.cases {
        out += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            c.op,
            c.backend,
            c.kernel,
            c.dims,
            c.cache_mode,
            opt(c.summary.as_ref().map(|s| s.median_s), 1e3, 4),
            opt(c.model_bytes_per_s, 1e-9, 2),
            opt(c.flops_per_s, 1e-9, 2),
            c.binding.as_deref().unwrap_or("-"),
            opt(c.fraction_of_peak, 1.0, 3),
            c.energy.as_ref().map(|e| format!("{:.3e} ({})", e.joules_per_op, e.kind)).unwrap_or_else(|| "-".into()),
        );
    }
    out
}
