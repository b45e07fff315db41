//! `mma_peak`: D = iters · (A·B) for one 16×16 A and 16×8 B a warp — a calibration op for the
//! peak rate of a GPU's matrix units (tensor cores), which the prefill GEMMs' tensor-core kernels
//! are measured against instead of the scalar FMA peak (`fma_peak`) that would flatter them.
//!
//! The PTX kernel repeats `mma.sync.m16n8k16` (f16 operands, f32 accumulation) `iters` times in
//! four independent accumulators, so the matrix units stay busy while one MMA's result is
//! pending, and adds the four at the end. A and B hold small integers (−2..=2), exact in f16, and
//! every partial sum is an integer below 2^24, so the result is exact and checked exactly: a
//! kernel that skipped a step would be off by a whole A·B.
//!
//! Layout: `ab` f32 `[warps, 384]` — per warp A row-major (16×16), then B row-major (16 k × 8 n);
//! `d` f32 `[warps, 128]`, D row-major (16×8). Cost model: bytes = 4·512·warps; flops =
//! 2·16·16·8·iters·warps.

use rand::Rng;
use rand::rngs::StdRng;

use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, expect_dtype};
use crate::tensor::{DType, Tensor};

/// A and B values of one warp.
pub const AB_VALUES: usize = 16 * 16 + 16 * 8;
/// D values of one warp.
pub const D_VALUES: usize = 16 * 8;
/// Independent accumulators in the kernel; `iters` is a multiple of it.
pub const CHAINS: usize = 4;

/// The `mma_peak` op.
pub struct MmaPeak;

/// Problem sizes: `warps` tiles of `iters` MMAs each.
pub fn dims(warps: usize, iters: usize) -> Dims {
    Dims(vec![("warps", warps), ("iters", iters)])
}

const INPUTS: &[TensorSpec] =
    &[TensorSpec { name: "ab", dtype: DType::F32, shape_doc: "[warps, 384]: A 16x16, B 16x8" }];
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "d", dtype: DType::F32, shape_doc: "[warps, 128]: D 16x8" }];

/// Default MMAs a warp when run from files (`dfma op`).
const DEFAULT_ITERS: usize = 256;

impl Op for MmaPeak {
    fn name(&self) -> &'static str {
        "mma_peak"
    }

    fn summary(&self) -> &'static str {
        "d = iters * (A x B) per warp on f16 matrix units, f32 accumulation (calibration: peak MMA rate)"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [ab] = inputs else {
            return Err(OpError::new("inputs", format!("expected 1 tensor (ab), got {}", inputs.len())));
        };
        expect_dtype("ab", ab, DType::F32)?;
        match ab.shape.as_slice() {
            &[warps, AB_VALUES] if warps > 0 => Ok(dims(warps, DEFAULT_ITERS)),
            s => Err(OpError::new("ab", format!("shape {s:?} is not [warps ≥ 1, {AB_VALUES}]"))),
        }
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("warps"), D_VALUES]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let iters = dims.get("iters") as f64;
        let ab = inputs[0].as_f32().expect("ab is f32");
        let mut d = Vec::with_capacity(dims.get("warps") * D_VALUES);
        for w in ab.chunks_exact(AB_VALUES) {
            let (a, b) = w.split_at(256);
            for row in 0..16 {
                for col in 0..8 {
                    let s: f64 = (0..16).map(|k| f64::from(a[row * 16 + k]) * f64::from(b[k * 8 + col])).sum();
                    d.push((iters * s) as f32);
                }
            }
        }
        vec![Tensor::f32(vec![dims.get("warps"), D_VALUES], d)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let n = dims.get("warps") * AB_VALUES;
        vec![Tensor::f32(vec![dims.get("warps"), AB_VALUES], (0..n).map(|_| rng.random_range(-2..=2) as f32).collect())]
    }

    fn test_dims(&self) -> Vec<Dims> {
        // 5 warps: a partial block of 4 warps; 4 MMAs: one per chain.
        vec![dims(1, 4), dims(5, 12), dims(9, 64)]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        // Enough warps to fill every SM of an H200 several times over.
        vec![dims(8192, 4096)]
    }

    fn tolerance(&self) -> Tolerance {
        // Integers below 2^24 throughout: exact on every path.
        Tolerance { rel_l2: 1e-7, max_abs_scaled: 1e-7 }
    }

    fn is_calibration(&self) -> bool {
        true
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let (warps, iters) = (dims.get("warps") as u64, dims.get("iters") as u64);
        Cost {
            bytes: 4 * (AB_VALUES + D_VALUES) as u64 * warps,
            weight_bytes: 0,
            flops: 2 * 16 * 16 * 8 * iters * warps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_is_iters_times_one_product() {
        // A = identity, B[k][n] = k − n: D = iters·B's first 16 rows.
        let mut ab = vec![0.0f32; AB_VALUES];
        for i in 0..16 {
            ab[i * 16 + i] = 1.0;
        }
        for k in 0..16 {
            for n in 0..8 {
                ab[256 + k * 8 + n] = k as f32 - n as f32;
            }
        }
        let d = MmaPeak.reference(&dims(1, 12), &[Tensor::f32(vec![1, AB_VALUES], ab)]);
        let d = d[0].as_f32().unwrap();
        assert_eq!(d[3 * 8 + 5], 12.0 * (3.0 - 5.0));
    }

    #[test]
    fn a_wrong_width_is_rejected_naming_ab() {
        let e = MmaPeak.dims_of(&[Tensor::f32(vec![2, 100], vec![0.0; 200])]).unwrap_err();
        assert_eq!(e.tensor, "ab");
    }
}
