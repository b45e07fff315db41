//! Per-instance L2 clipping: bounds one instance's influence on the sum (its sensitivity).

use super::{DpError, positive_finite};

/// What clipping did to a signal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipReport {
    /// L2 norm of the signal as given.
    pub norm_before: f64,
    /// L2 norm of the f32 values after clipping: at most the clip norm.
    pub norm_after: f64,
    /// Whether the signal was scaled down (its norm was above the clip norm).
    pub clipped: bool,
}

/// L2 norm of `values`, accumulated in f64.
pub fn l2_norm(values: &[f32]) -> f64 {
    values.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt()
}

/// Scales `values` so that their L2 norm is at most `clip_norm`; leaves them alone if it is
/// already.
///
/// The bound holds for the f32 values actually sent, not only in exact arithmetic: scaling by
/// `C / ‖x‖` and rounding to f32 can land a few ulps above `C`, so the scale is then shrunk by
/// one f32 epsilon at a time until the rounded vector's norm is within `C`. A non-finite element
/// is refused (its norm, and so the sensitivity, is undefined) and `values` are left unchanged.
pub fn clip_l2(values: &mut [f32], clip_norm: f64) -> Result<ClipReport, DpError> {
    positive_finite("clip_norm", clip_norm)?;
    if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(DpError::NonFinite { index, value });
    }
    let norm_before = l2_norm(values);
    if norm_before <= clip_norm {
        return Ok(ClipReport { norm_before, norm_after: norm_before, clipped: false });
    }
    let original = values.to_vec();
    let mut scale = clip_norm / norm_before;
    loop {
        for (out, &value) in values.iter_mut().zip(&original) {
            *out = (f64::from(value) * scale) as f32;
        }
        let norm_after = l2_norm(values);
        if norm_after <= clip_norm {
            return Ok(ClipReport { norm_before, norm_after, clipped: true });
        }
        scale *= 1.0 - f64::from(f32::EPSILON);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_inside_the_ball_is_left_untouched() {
        let mut values = [0.3f32, -0.4];
        let report = clip_l2(&mut values, 1.0).unwrap();
        assert_eq!(values, [0.3, -0.4]);
        assert!(!report.clipped);
    }

    #[test]
    fn a_nan_is_refused_and_nothing_changes() {
        let mut values = [3.0f32, f32::NAN, 4.0];
        assert!(matches!(clip_l2(&mut values, 1.0), Err(DpError::NonFinite { index: 1, .. })));
        assert_eq!(values[0], 3.0);
        assert!(clip_l2(&mut [1.0], 0.0).is_err());
    }
}
