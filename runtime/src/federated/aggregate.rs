//! How the CCF combines one round's signals into one update: the linear mean, and two robust
//! rules against a bad instance (coordinate median, trimmed mean).
//!
//! The mean is what secure aggregation and linear sketches allow (the CCF may only ever see the
//! sum). One instance sending ×100 moves it arbitrarily far. The coordinate median and the
//! trimmed mean need the individual signals, and bound what any minority can do: with `n`
//! signals, the median ignores any `⌈n/2⌉ − 1` of them per coordinate, and a trimmed mean that
//! drops `k` from each end ignores `k`.

/// An aggregation rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregation {
    /// Coordinate-wise mean: linear, compatible with sketches summed before decoding and with
    /// secure aggregation.
    Mean,
    /// Coordinate-wise median (the mean of the two middle values for an even count).
    Median,
    /// Coordinate-wise mean after dropping the `trim_fraction · n` (rounded up, at least one
    /// when n ≥ 3) largest and as many smallest values.
    TrimmedMean {
        /// Fraction of the signals dropped at each end, in `[0, 0.5)`.
        trim_fraction: f64,
    },
}

impl Aggregation {
    /// Parses `mean`, `median` or `trimmed-mean` (trimming 25 % at each end).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "mean" => Ok(Aggregation::Mean),
            "median" => Ok(Aggregation::Median),
            "trimmed-mean" => Ok(Aggregation::TrimmedMean { trim_fraction: 0.25 }),
            _ => Err(format!("unknown aggregation {s:?} (have mean, median, trimmed-mean)")),
        }
    }

    /// Name as [`Aggregation::parse`] reads it.
    pub fn name(&self) -> &'static str {
        match self {
            Aggregation::Mean => "mean",
            Aggregation::Median => "median",
            Aggregation::TrimmedMean { .. } => "trimmed-mean",
        }
    }

    /// Whether the rule needs only the sum of the signals.
    pub fn is_linear(&self) -> bool {
        matches!(self, Aggregation::Mean)
    }

    /// How many values a trimmed mean drops at each end of `n`.
    pub fn trimmed_each_end(trim_fraction: f64, n: usize) -> usize {
        if n < 3 {
            return 0;
        }
        let k = ((trim_fraction * n as f64).ceil() as usize).max(1);
        k.min((n - 1) / 2)
    }

    /// Combines `signals` (all of one length) coordinate by coordinate; `None` when there are
    /// none.
    pub fn combine(&self, signals: &[Vec<f32>]) -> Option<Vec<f32>> {
        let first = signals.first()?;
        let n = signals.len();
        let mut column = vec![0.0f64; n];
        let out = (0..first.len())
            .map(|j| {
                for (c, s) in column.iter_mut().zip(signals) {
                    *c = f64::from(s[j]);
                }
                let value = match *self {
                    Aggregation::Mean => column.iter().sum::<f64>() / n as f64,
                    Aggregation::Median => {
                        column.sort_by(f64::total_cmp);
                        if n % 2 == 1 { column[n / 2] } else { (column[n / 2 - 1] + column[n / 2]) / 2.0 }
                    }
                    Aggregation::TrimmedMean { trim_fraction } => {
                        column.sort_by(f64::total_cmp);
                        let k = Self::trimmed_each_end(trim_fraction, n);
                        let kept = &column[k..n - k];
                        kept.iter().sum::<f64>() / kept.len() as f64
                    }
                };
                value as f32
            })
            .collect();
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robust_rules_ignore_one_huge_signal_and_the_mean_does_not() {
        let signals = vec![vec![1.0, -1.0], vec![1.2, -0.8], vec![0.8, -1.2], vec![1000.0, 1000.0]];
        let mean = Aggregation::Mean.combine(&signals).unwrap();
        assert!(mean[0] > 200.0);
        for rule in [Aggregation::Median, Aggregation::TrimmedMean { trim_fraction: 0.25 }] {
            let out = rule.combine(&signals).unwrap();
            assert!((out[0] - 1.1).abs() < 0.15 && (out[1] + 0.9).abs() < 0.15, "{}: {out:?}", rule.name());
        }
        assert_eq!(Aggregation::Mean.combine(&[]), None);
        assert_eq!(Aggregation::trimmed_each_end(0.25, 4), 1);
        assert_eq!(Aggregation::trimmed_each_end(0.25, 2), 0);
        assert_eq!(Aggregation::trimmed_each_end(0.4, 5), 2);
    }
}
