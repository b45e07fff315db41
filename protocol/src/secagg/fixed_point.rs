//! Fixed-point encoding of f32 values into Z_2^32, the group secure aggregation sums in.
//!
//! A value `v` becomes `round(v · 2^fractional_bits)` as a two's-complement 32-bit integer.
//! Sums wrap modulo 2^32, so a sum of encodings decodes correctly exactly when the true sum of
//! the scaled integers lies in `[-2^31, 2^31)`. With every value within `±clip`, that holds for
//! up to [`FixedPoint::max_summands`] values. Values outside `±clip` and non-finite values are
//! refused, never clamped: clipping is the differential-privacy step's job, and a value that
//! escaped it is a bug to report.

use super::SecAggError;

/// Scale and range of the encoding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FixedPoint {
    /// Bits after the binary point: the resolution is `2^-fractional_bits`.
    pub fractional_bits: u32,
    /// Largest magnitude an encoded value may have.
    pub clip: f32,
}

impl FixedPoint {
    /// 16 fractional bits (resolution 1.5e-5) and values within ±1: up to 32767 summands.
    pub const DEFAULT: FixedPoint = FixedPoint { fractional_bits: 16, clip: 1.0 };

    fn scale(&self) -> f64 {
        (self.fractional_bits as f64).exp2()
    }

    /// Largest magnitude of one encoded value, as an integer.
    fn max_encoded_magnitude(&self) -> f64 {
        (self.clip as f64 * self.scale()).round()
    }

    /// How many encoded values can be summed before the sum may leave `[-2^31, 2^31)`.
    /// Zero when one value alone does not fit.
    pub fn max_summands(&self) -> u64 {
        let magnitude = self.max_encoded_magnitude();
        if magnitude < 1.0 {
            return u64::MAX;
        }
        ((i32::MAX as f64) / magnitude).floor() as u64
    }

    /// Encodes `values`, refusing any that is non-finite or outside `±clip`.
    pub fn encode(&self, values: &[f32]) -> Result<Vec<u32>, SecAggError> {
        if self.fractional_bits > 30 || !(self.clip.is_finite() && self.clip >= 0.0) {
            return Err(SecAggError::InvalidConfig("fixed point needs ≤ 30 bits and a clip ≥ 0"));
        }
        if self.max_summands() == 0 {
            return Err(SecAggError::InvalidConfig("clip · 2^fractional_bits exceeds 2^31"));
        }
        let scale = self.scale();
        values
            .iter()
            .enumerate()
            .map(|(index, &value)| {
                if !value.is_finite() || value.abs() > self.clip {
                    return Err(SecAggError::OutOfRange { index, value });
                }
                Ok(((value as f64 * scale).round() as i32) as u32)
            })
            .collect()
    }

    /// Decodes a sum of encodings (or a single encoding) back to f64 values.
    pub fn decode(&self, encoded: &[u32]) -> Vec<f64> {
        let scale = self.scale();
        encoded.iter().map(|&word| word as i32 as f64 / scale).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_within_half_a_step() {
        let codec = FixedPoint::DEFAULT;
        let values = [-1.0f32, -0.333_333, 0.0, 1e-6, 0.5, 0.999_99, 1.0];
        let decoded = codec.decode(&codec.encode(&values).unwrap());
        for (value, back) in values.iter().zip(decoded) {
            assert!((*value as f64 - back).abs() <= 0.5f64.powi(17), "{value} -> {back}");
        }
    }

    #[test]
    fn a_wrapping_sum_of_max_summands_extreme_values_decodes_exactly() {
        let codec = FixedPoint { fractional_bits: 16, clip: 1.0 };
        let n = codec.max_summands();
        assert_eq!(n, 32767);
        let one = codec.encode(&[-1.0]).unwrap()[0];
        let sum = (0..n).fold(0u32, |sum, _| sum.wrapping_add(one));
        assert_eq!(codec.decode(&[sum])[0], -(n as f64));
    }

    #[test]
    fn values_outside_the_clip_or_not_finite_are_refused_not_clamped() {
        let codec = FixedPoint::DEFAULT;
        for bad in [1.01f32, -2.0, f32::NAN, f32::INFINITY] {
            assert!(matches!(codec.encode(&[0.0, bad]), Err(SecAggError::OutOfRange { index: 1, .. })));
        }
    }
}
