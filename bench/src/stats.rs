//! Summary statistics of timing samples.

use serde::{Deserialize, Serialize};

/// Median and spread of a sample set (seconds).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    /// Number of samples.
    pub samples: usize,
    /// Median, seconds.
    pub median_s: f64,
    /// 10th percentile, seconds.
    pub p10_s: f64,
    /// 90th percentile, seconds.
    pub p90_s: f64,
    /// Standard deviation over the mean (NaN for fewer than two samples).
    pub rel_stdev: f64,
}

/// The `q`-quantile (0..=1) of sorted data, linear interpolation.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Sample standard deviation over the mean (NaN for fewer than two samples).
pub fn rel_stdev(s: &[f64]) -> f64 {
    if s.len() < 2 {
        return f64::NAN;
    }
    let mean = s.iter().sum::<f64>() / s.len() as f64;
    (s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (s.len() - 1) as f64).sqrt() / mean
}

/// Summarizes `samples` (seconds).
pub fn summarize(samples: &[f64]) -> Summary {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    Summary {
        samples: s.len(),
        median_s: quantile(&s, 0.5),
        p10_s: quantile(&s, 0.1),
        p90_s: quantile(&s, 0.9),
        rel_stdev: rel_stdev(&s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_interpolates() {
        let s = summarize(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!(s.median_s, 2.5);
        assert_eq!(s.samples, 4);
    }

    #[test]
    fn one_sample_has_no_spread() {
        assert!(summarize(&[1.0]).rel_stdev.is_nan());
    }
}
