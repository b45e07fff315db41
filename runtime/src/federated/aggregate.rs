//! How the CCF combines one round's signals into one update: the linear mean, and three robust
//! rules against a bad instance (coordinate median, trimmed mean, norm filter).
//!
//! The mean is what secure aggregation and linear sketches allow (the CCF may only ever see the
//! sum). One instance sending ×100 moves it arbitrarily far. The coordinate median and the
//! trimmed mean need the individual signals, and bound what any minority can do: with `n`
//! signals, the median ignores any `⌈n/2⌉ − 1` of them per coordinate, and a trimmed mean that
//! drops `k` from each end ignores `k`. The norm filter drops whole signals that are far larger
//! than the round's typical one and averages the rest: against an instance that ignores the
//! clipping every honest instance applies (×100, or noise of that size) it removes the signal
//! entirely, so the collective is what it would have been had that instance sent nothing, and
//! the honest instances' signals are averaged as the mean would (none of the median's loss of
//! what the instances agree on only in part).

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
    /// The mean of the signals whose L2 norm is at most `factor` × the round's median norm
    /// (the lower median for an even count, so that with two signals a huge one cannot raise
    /// the bar it is held to).
    NormFilter {
        /// How many median norms a signal may reach.
        factor: f64,
    },
}

impl Aggregation {
    /// Parses `mean`, `median`, `trimmed-mean` (trimming 25 % at each end) or `norm-filter`
    /// (dropping signals above 3 median norms).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "mean" => Ok(Aggregation::Mean),
            "median" => Ok(Aggregation::Median),
            "trimmed-mean" => Ok(Aggregation::TrimmedMean { trim_fraction: 0.25 }),
            "norm-filter" => Ok(Aggregation::NormFilter { factor: 3.0 }),
            _ => Err(format!("unknown aggregation {s:?} (have mean, median, trimmed-mean, norm-filter)")),
        }
    }

    /// Name as [`Aggregation::parse`] reads it.
    pub fn name(&self) -> &'static str {
        match self {
            Aggregation::Mean => "mean",
            Aggregation::Median => "median",
            Aggregation::TrimmedMean { .. } => "trimmed-mean",
            Aggregation::NormFilter { .. } => "norm-filter",
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
    pub fn combine<S: AsRef<[f32]>>(&self, signals: &[S]) -> Option<Vec<f32>> {
        self.combine_counted(signals).map(|(update, _)| update)
    }

    /// [`Aggregation::combine`], with how many signals the update stands for: all of them,
    /// except under the norm filter, which counts those it kept.
    pub fn combine_counted<S: AsRef<[f32]>>(&self, signals: &[S]) -> Option<(Vec<f32>, usize)> {
        if let Aggregation::NormFilter { factor } = *self {
            let len = signals.first()?.as_ref().len();
            let kept: Vec<&[f32]> =
                Self::within_norm(signals, factor).into_iter().map(|i| signals[i].as_ref()).collect();
            return Some(Aggregation::Mean.combine(&kept).map_or((vec![0.0; len], 0), |mean| (mean, kept.len())));
        }
        let first = signals.first()?.as_ref();
        let n = signals.len();
        let mut column = vec![0.0f64; n];
        let out = (0..first.len())
            .map(|j| {
                for (c, s) in column.iter_mut().zip(signals) {
                    *c = f64::from(s.as_ref()[j]);
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
                    Aggregation::NormFilter { .. } => unreachable!("handled above"),
                };
                value as f32
            })
            .collect();
        Some((out, n))
    }

    /// Indices of the signals whose L2 norm is at most `factor` × the lower median norm, in
    /// order. A signal with a non-finite norm is never kept.
    pub fn within_norm<S: AsRef<[f32]>>(signals: &[S], factor: f64) -> Vec<usize> {
        let norms: Vec<f64> = signals
            .iter()
            .map(|s| s.as_ref().iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt())
            .collect();
        let mut sorted: Vec<f64> = norms.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let Some(&median) = sorted.get(sorted.len().saturating_sub(1) / 2) else { return Vec::new() };
        (0..signals.len()).filter(|&i| norms[i].is_finite() && norms[i] <= factor * median).collect()
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
        // The norm filter drops the huge signal whole and averages the other three.
        let (out, kept) = Aggregation::NormFilter { factor: 3.0 }.combine_counted(&signals).unwrap();
        assert_eq!(kept, 3);
        assert!((out[0] - 1.0).abs() < 1e-6 && (out[1] + 1.0).abs() < 1e-6, "{out:?}");
        // Two signals: the lower median holds the huge one to the honest one's norm.
        assert_eq!(Aggregation::within_norm(&signals[2..], 3.0), vec![0]);
        // Honest signals of different sizes all stay; a non-finite one never does.
        let honest = vec![vec![3.0, 0.0], vec![0.0, 1.5], vec![2.0, 2.0], vec![f32::NAN, 0.0]];
        assert_eq!(Aggregation::within_norm(&honest, 3.0), vec![0, 1, 2]);
        assert_eq!(Aggregation::parse("norm-filter"), Ok(Aggregation::NormFilter { factor: 3.0 }));
        assert_eq!(Aggregation::Mean.combine::<Vec<f32>>(&[]), None);
        assert_eq!(Aggregation::trimmed_each_end(0.25, 4), 1);
        assert_eq!(Aggregation::trimmed_each_end(0.25, 2), 0);
        assert_eq!(Aggregation::trimmed_each_end(0.4, 5), 2);
    }
}
