//! Roofline classification of a case against peaks measured in the same run.
//!
//! A case needs at least `bytes / read_peak` seconds for memory and `flops / compute_peak` for
//! arithmetic, where the compute peak is the matrix units' (`mma_peak`) for a kernel that runs
//! on them and the FMA peak otherwise; the larger bound names the binding resource, and the
//! case's achieved rate of that resource over its peak is its fraction. Fractions are not clamped: a run beating the
//! measured peak is a finding about the calibration, not something to hide.

use dfma_reference::Cost;

use crate::report::RooflineReport;

/// The binding resource of a case and how close it came to that resource's peak.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    /// `memory` or `compute`.
    pub binding: &'static str,
    /// Achieved rate of the binding resource / its peak (unclamped; NaN for a zero time).
    pub fraction_of_peak: f64,
    /// Achieved bytes/s over the streaming-read peak.
    pub fraction_of_read_bandwidth: f64,
}

/// Places a case of `cost` that took `seconds` (median) on the roofline `peaks`; a kernel on
/// `matrix_units` is held to the matrix-unit peak where the run measured one.
pub fn place(cost: &Cost, seconds: f64, peaks: &RooflineReport, matrix_units: bool) -> Placement {
    let compute_peak = match peaks.mma_flops_per_s {
        Some(mma) if matrix_units => mma,
        _ => peaks.fma_flops_per_s,
    };
    let memory_bound_s = cost.bytes as f64 / peaks.read_bytes_per_s;
    let compute_bound_s = cost.flops as f64 / compute_peak;
    let bytes_per_s = if seconds > 0.0 { cost.bytes as f64 / seconds } else { f64::NAN };
    let flops_per_s = if seconds > 0.0 { cost.flops as f64 / seconds } else { f64::NAN };
    let (binding, fraction_of_peak) = if memory_bound_s >= compute_bound_s {
        ("memory", bytes_per_s / peaks.read_bytes_per_s)
    } else {
        ("compute", flops_per_s / compute_peak)
    };
    Placement { binding, fraction_of_peak, fraction_of_read_bandwidth: bytes_per_s / peaks.read_bytes_per_s }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peaks() -> RooflineReport {
        RooflineReport {
            backend: "cpu".into(),
            read_bytes_per_s: 10e9,
            copy_bytes_per_s: 8e9,
            fma_flops_per_s: 100e9,
            mma_flops_per_s: Some(400e9),
            method: "test".into(),
        }
    }

    #[test]
    fn a_gemv_is_memory_bound_and_its_fraction_is_bytes_over_peak() {
        let cost = Cost { bytes: 1_000_000_000, weight_bytes: 1_000_000_000, flops: 2_000_000_000 };
        let p = place(&cost, 0.2, &peaks(), false);
        assert_eq!(p.binding, "memory");
        assert!((p.fraction_of_peak - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_gemm_is_compute_bound() {
        let cost = Cost { bytes: 1_000_000, weight_bytes: 1_000_000, flops: 100_000_000_000 };
        let p = place(&cost, 2.0, &peaks(), false);
        assert_eq!(p.binding, "compute");
        assert!((p.fraction_of_peak - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_tensor_core_gemm_is_held_to_the_matrix_unit_peak() {
        let cost = Cost { bytes: 1_000_000, weight_bytes: 1_000_000, flops: 400_000_000_000 };
        let p = place(&cost, 2.0, &peaks(), true);
        assert_eq!(p.binding, "compute");
        assert!((p.fraction_of_peak - 0.5).abs() < 1e-12);
        // Without a measured matrix-unit peak the FMA peak is all there is.
        let no_mma = RooflineReport { mma_flops_per_s: None, ..peaks() };
        assert!((place(&cost, 2.0, &no_mma, true).fraction_of_peak - 2.0).abs() < 1e-12);
    }

    #[test]
    fn beating_the_peak_is_not_clamped() {
        let cost = Cost { bytes: 1_000_000_000, weight_bytes: 0, flops: 0 };
        assert!(place(&cost, 0.05, &peaks(), false).fraction_of_peak > 1.9);
    }

    #[test]
    fn a_zero_duration_reports_nan_instead_of_dividing_by_zero() {
        let cost = Cost { bytes: 1, weight_bytes: 0, flops: 0 };
        assert!(place(&cost, 0.0, &peaks(), false).fraction_of_peak.is_nan());
    }
}
