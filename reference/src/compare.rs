//! Comparing a kernel's output with the reference: f32 by relative L2 and max-abs error (NaN
//! never passes), integers bit for bit.

use std::fmt;

use crate::tensor::{Tensor, TensorData};

/// Pass bar for one output: both bounds must hold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Bound on ‖out − ref‖₂ / max(‖ref‖₂, √n): relative to the output's size, or absolute (as
    /// an RMS error) when the outputs are smaller than 1 — the same floor `max_abs_scaled` has, so
    /// one output that happens to cancel to nearly zero does not turn rounding into a failure.
    pub rel_l2: f64,
    /// Bound on maxᵢ |outᵢ − refᵢ|, scaled by max(1, maxᵢ |refᵢ|) so it is meaningful for any magnitude.
    pub max_abs_scaled: f64,
}

/// Result of comparing an output with its reference.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// ‖out − ref‖₂ / max(‖ref‖₂, √n) (NaN when any output is not finite).
    pub rel_l2: f64,
    /// maxᵢ |outᵢ − refᵢ|.
    pub max_abs: f64,
    /// max(1, maxᵢ |refᵢ|), the scale of `max_abs`'s bound.
    pub abs_scale: f64,
    /// First index whose value is not finite or exceeds the max-abs bound, with (out, ref).
    pub first_bad: Option<(usize, f32, f32)>,
    /// Whether both bounds hold and every output is finite.
    pub passed: bool,
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rel_l2={:.3e} max_abs={:.3e}", self.rel_l2, self.max_abs)?;
        if let Some((i, out, reference)) = self.first_bad {
            write!(f, " first bad index {i}: got {out}, expected {reference}")?;
        }
        Ok(())
    }
}

/// Compares `out` with `reference` under `tol`. A length mismatch, NaN or infinity fails.
pub fn compare_f32(out: &[f32], reference: &[f32], tol: Tolerance) -> Comparison {
    if out.len() != reference.len() {
        return Comparison { rel_l2: f64::NAN, max_abs: f64::NAN, abs_scale: f64::NAN, first_bad: None, passed: false };
    }
    let abs_scale = reference.iter().fold(1.0f64, |m, &r| m.max(f64::from(r).abs()));
    let abs_bound = tol.max_abs_scaled * abs_scale;
    let (mut diff2, mut ref2, mut max_abs) = (0.0f64, 0.0f64, 0.0f64);
    let mut first_bad = None;
    for (i, (&o, &r)) in out.iter().zip(reference).enumerate() {
        let d = (f64::from(o) - f64::from(r)).abs();
        if !o.is_finite() || d.is_nan() || d > abs_bound {
            first_bad.get_or_insert((i, o, r));
        }
        diff2 += d * d;
        ref2 += f64::from(r) * f64::from(r);
        // NaN must propagate into max_abs, which `f64::max` would drop.
        max_abs = if d.is_nan() || d > max_abs { d } else { max_abs };
    }
    let rel_l2 = (diff2 / ref2.max(out.len() as f64)).sqrt();
    let passed = first_bad.is_none() && rel_l2 <= tol.rel_l2;
    Comparison { rel_l2, max_abs, abs_scale, first_bad, passed }
}

/// Result of comparing an integer output with its reference: bit equality, no tolerance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExactComparison {
    /// Elements that differ.
    pub mismatches: usize,
    /// First index that differs, with (out, ref) as raw words.
    pub first_mismatch: Option<(usize, u64, u64)>,
    /// Whether lengths match and every element is equal.
    pub passed: bool,
}

impl fmt::Display for ExactComparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exact: {} mismatches", self.mismatches)?;
        if let Some((i, out, reference)) = self.first_mismatch {
            write!(f, " first at index {i}: got {out:#x}, expected {reference:#x}")?;
        }
        Ok(())
    }
}

/// Compares integer outputs bit for bit: random bits, signs and indices have no rounding, so
/// any difference is a bug. A length mismatch fails.
pub fn compare_exact<T: Copy + PartialEq + Into<u64>>(out: &[T], reference: &[T]) -> ExactComparison {
    let mut mismatches = out.len().abs_diff(reference.len());
    let mut first_mismatch = None;
    for (i, (&o, &r)) in out.iter().zip(reference).enumerate() {
        if o != r {
            mismatches += 1;
            first_mismatch.get_or_insert((i, o.into(), r.into()));
        }
    }
    ExactComparison { mismatches, first_mismatch, passed: mismatches == 0 }
}

/// Compares one output tensor with its reference by dtype: f32 under `tol`, integers bit for
/// bit. Returns whether it passed and a one-line detail; a dtype mismatch fails.
pub fn compare_tensors(out: &Tensor, reference: &Tensor, tol: Tolerance) -> (bool, String) {
    if out.shape != reference.shape {
        return (false, format!("shape {:?}, expected {:?}", out.shape, reference.shape));
    }
    match (&out.data, &reference.data) {
        (TensorData::F32(o), TensorData::F32(r)) => {
            let c = compare_f32(o, r, tol);
            (c.passed, c.to_string())
        }
        (TensorData::U32(o), TensorData::U32(r)) => {
            let c = compare_exact(o, r);
            (c.passed, c.to_string())
        }
        (TensorData::U8(o), TensorData::U8(r)) => {
            let c = compare_exact(o, r);
            (c.passed, c.to_string())
        }
        _ => (false, format!("dtype {}, expected {}", out.dtype(), reference.dtype())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_outputs_must_be_bit_equal_and_name_the_first_mismatch() {
        let c = compare_exact(&[1u32, 2, 3, 4], &[1u32, 2, 30, 40]);
        assert!(!c.passed);
        assert_eq!(c.mismatches, 2);
        assert_eq!(c.first_mismatch, Some((2, 3, 30)));
        assert!(compare_exact(&[7u32], &[7u32]).passed);
    }

    #[test]
    fn an_unwritten_u32_output_keeps_its_poison_and_fails() {
        let poisoned = Tensor::poisoned(crate::DType::U32, vec![2]);
        assert_eq!(poisoned.as_u32(), Some(&[u32::MAX, u32::MAX][..]));
        let (ok, detail) = compare_tensors(&poisoned, &Tensor::u32(vec![2], vec![0, u32::MAX]), TOL);
        assert!(!ok, "{detail}");
        assert!(detail.contains("index 0"), "{detail}");
    }

    #[test]
    fn a_dtype_mismatch_fails() {
        let (ok, _) = compare_tensors(&Tensor::u32(vec![1], vec![0]), &Tensor::f32(vec![1], vec![0.0]), TOL);
        assert!(!ok);
    }

    const TOL: Tolerance = Tolerance { rel_l2: 1e-6, max_abs_scaled: 1e-6 };

    #[test]
    fn identical_outputs_pass() {
        assert!(compare_f32(&[1.0, -2.0, 3.5], &[1.0, -2.0, 3.5], TOL).passed);
    }

    #[test]
    fn a_single_nan_fails_and_is_named() {
        let c = compare_f32(&[1.0, f32::NAN, 3.0], &[1.0, 2.0, 3.0], TOL);
        assert!(!c.passed);
        assert_eq!(c.first_bad.map(|b| b.0), Some(1));
        assert!(c.rel_l2.is_nan() && c.max_abs.is_nan());
    }

    #[test]
    fn a_small_relative_error_above_the_bound_fails() {
        let c = compare_f32(&[1.0, 2.0, 3.001], &[1.0, 2.0, 3.0], TOL);
        assert!(!c.passed);
    }

    #[test]
    fn an_output_that_cancels_to_near_zero_is_judged_against_the_unit_floor() {
        // One output of 3.4e-3 off by 5.2e-8: 1.5e-5 relative, but far below 1e-5 absolute.
        let tol = Tolerance { rel_l2: 1e-5, max_abs_scaled: 1e-5 };
        assert!(compare_f32(&[3.37e-3 + 5.2e-8], &[3.37e-3], tol).passed);
        // Large outputs stay relative: 1e-4 relative fails a 1e-5 bound.
        assert!(!compare_f32(&[1000.1; 4], &[1000.0; 4], tol).passed);
        // Small outputs are held to the bound as an RMS error.
        assert!(!compare_f32(&[2e-5, 0.0], &[0.0, 0.0], tol).passed);
    }

    #[test]
    fn a_length_mismatch_fails() {
        assert!(!compare_f32(&[1.0], &[1.0, 2.0], TOL).passed);
    }

    #[test]
    fn infinity_fails() {
        assert!(!compare_f32(&[f32::INFINITY], &[1.0], TOL).passed);
    }
}
