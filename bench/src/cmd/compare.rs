//! `dfma compare A.json B.json [--threshold 5%]`: per-case ratio of medians (B / A) and a
//! noise-aware verdict, in the manner of nvbench's compare script.
//!
//! For each case present in both reports: ratio r = median_B / median_A and each run's noise,
//! the relative spread of its samples estimated robustly, u = 1.4826 · MAD / median (the
//! standard deviation for normal noise, but one stray sample cannot inflate it and hide a
//! regression); σ = √(u_A² + u_B²). Like nvbench, the noise is the spread of single samples,
//! not the standard error of the median, so run-to-run drift of a noisy machine does not read
//! as a change. Verdict:
//! - `same`: |r − 1| ≤ threshold;
//! - `slower` / `faster`: |r − 1| > threshold and > 2σ (the difference stands out of the noise);
//! - `ambiguous`: beyond the threshold but within 2σ — rerun with more samples.
//!
//! Exits 1 when any case is `slower` (a CI gate), 2 on unreadable or incompatible reports.

use std::path::Path;

use anyhow::Result;

use crate::cli::CompareArgs;
use crate::error::bad_input;
use crate::report::{CaseReport, Report, SCHEMA_VERSION};

/// The verdict on one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the threshold.
    Same,
    /// Faster beyond the threshold and the noise.
    Faster,
    /// Slower beyond the threshold and the noise.
    Slower,
    /// Beyond the threshold but within the noise.
    Ambiguous,
}

impl Verdict {
    fn name(self) -> &'static str {
        match self {
            Verdict::Same => "same",
            Verdict::Faster => "faster",
            Verdict::Slower => "slower",
            Verdict::Ambiguous => "ambiguous",
        }
    }
}

/// Robust relative spread of `samples`: 1.4826 · MAD / median. NaN for fewer than two samples.
pub fn robust_rel_spread(samples: &[f64]) -> f64 {
    if samples.len() < 2 {
        return f64::NAN;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) }
    };
    let mut s = samples.to_vec();
    let m = median(&mut s);
    let mut dev: Vec<f64> = samples.iter().map(|x| (x - m).abs()).collect();
    let mad = median(&mut dev);
    1.4826 * mad / m
}

/// Classifies a ratio of medians (B / A) given the two runs' relative noise.
pub fn verdict(ratio: f64, rsd_a: f64, rsd_b: f64, threshold: f64) -> Verdict {
    let noise = (rsd_a.max(0.0).powi(2) + rsd_b.max(0.0).powi(2)).sqrt();
    let noise = if noise.is_finite() { noise } else { f64::INFINITY };
    let diff = ratio - 1.0;
    if diff.abs() <= threshold {
        Verdict::Same
    } else if diff.abs() <= 2.0 * noise {
        Verdict::Ambiguous
    } else if diff > 0.0 {
        Verdict::Slower
    } else {
        Verdict::Faster
    }
}

/// Parses `5%` or `0.05` into a fraction.
pub fn parse_threshold(s: &str) -> Result<f64> {
    let v = match s.trim().strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => s.trim().parse::<f64>(),
    };
    match v {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(bad_input(format!("--threshold {s}: expected a percentage like 5% or a fraction like 0.05"))),
    }
}

fn load(path: &Path) -> Result<Report> {
    let text = std::fs::read_to_string(path).map_err(|e| bad_input(format!("{}: cannot read: {e}", path.display())))?;
    let report: Report = serde_json::from_str(&text)
        .map_err(|e| bad_input(format!("{}: not a dfma bench report: {e}", path.display())))?;
    if report.schema_version != SCHEMA_VERSION {
        return Err(bad_input(format!(
            "{}: report schema version {} (this dfma reads {SCHEMA_VERSION})",
            path.display(),
            report.schema_version
        )));
    }
    Ok(report)
}

fn timed(c: &CaseReport) -> Option<(f64, f64)> {
    c.summary.as_ref().map(|s| (s.median_s, robust_rel_spread(&c.samples_s)))
}

pub fn run(args: &CompareArgs) -> Result<()> {
    let threshold = parse_threshold(&args.threshold)?;
    let a = load(&args.baseline)?;
    let b = load(&args.candidate)?;
    println!("baseline  {} ({})", args.baseline.display(), a.commit);
    println!("candidate {} ({})", args.candidate.display(), b.commit);
    println!("threshold {:.1}%", threshold * 100.0);
    let mut slower = 0;
    for ca in &a.cases {
        let Some(cb) = b.cases.iter().find(|c| c.key() == ca.key()) else {
            println!("{:<70} only in baseline", ca.key());
            continue;
        };
        let (Some((ma, ra)), Some((mb, rb))) = (timed(ca), timed(cb)) else {
            println!("{:<70} not timed in both (wrong result?)", ca.key());
            continue;
        };
        let ratio = mb / ma;
        let v = verdict(ratio, ra, rb, threshold);
        slower += usize::from(v == Verdict::Slower);
        println!(
            "{:<70} {:>10.4} ms -> {:>10.4} ms  ×{:.3}  noise ±{:.1}%/±{:.1}%  {}",
            ca.key(),
            ma * 1e3,
            mb * 1e3,
            ratio,
            ra * 100.0,
            rb * 100.0,
            v.name()
        );
    }
    for cb in b.cases.iter().filter(|cb| !a.cases.iter().any(|ca| ca.key() == cb.key())) {
        println!("{:<70} only in candidate", cb.key());
    }
    if slower > 0 {
        anyhow::bail!("{slower} case(s) slower beyond {:.1}% and the noise", threshold * 100.0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_twenty_percent_slowdown_with_low_noise_is_slower() {
        assert_eq!(verdict(1.2, 0.01, 0.01, 0.05), Verdict::Slower);
    }

    #[test]
    fn a_difference_inside_the_threshold_is_same() {
        assert_eq!(verdict(1.03, 0.01, 0.01, 0.05), Verdict::Same);
    }

    #[test]
    fn a_difference_inside_the_noise_is_ambiguous() {
        assert_eq!(verdict(1.2, 0.15, 0.1, 0.05), Verdict::Ambiguous);
    }

    #[test]
    fn one_stray_sample_barely_moves_the_robust_rel_spread() {
        let mut s = vec![1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.0, 1.01, 0.99, 1.0];
        let quiet = robust_rel_spread(&s);
        s.push(5.0);
        assert!(robust_rel_spread(&s) < 2.0 * quiet + 1e-3, "{quiet} vs {}", robust_rel_spread(&s));
    }

    #[test]
    fn a_speedup_is_faster() {
        assert_eq!(verdict(0.7, 0.01, 0.02, 0.05), Verdict::Faster);
    }

    #[test]
    fn thresholds_parse_as_percent_or_fraction() {
        assert_eq!(parse_threshold("5%").unwrap(), 0.05);
        assert_eq!(parse_threshold("0.1").unwrap(), 0.1);
        assert!(parse_threshold("fast").is_err());
    }
}
