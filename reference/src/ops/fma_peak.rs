//! `fma_peak`: y[i] = f^K(x[i]) with f(a) = fma(a, M, C) — a calibration op for the peak FMA
//! rate. Every element is an independent chain, so kernels can interleave chains to hide FMA
//! latency; the fixed point of f is C/(1−M) = 1, so values stay bounded for any K.
//!
//! Cost model: bytes = 8·n; flops = 2·n·K.

use rand::Rng;
use rand::rngs::StdRng;

use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, one_f32_vector};
use crate::tensor::{DType, Tensor};

/// Multiplier of each step.
pub const M: f32 = 0.999_9;
/// Addend of each step.
pub const C: f32 = 0.000_1;

/// The `fma_peak` op.
pub struct FmaPeak;

/// Problem sizes: `n` chains of `iters` FMAs.
pub fn dims(n: usize, iters: usize) -> Dims {
    Dims(vec![("n", n), ("iters", iters)])
}

const INPUTS: &[TensorSpec] = &[TensorSpec { name: "x", dtype: DType::F32, shape_doc: "[n]" }];
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "y", dtype: DType::F32, shape_doc: "[n]" }];

/// Default chain length when run from files (`dfma op`).
const DEFAULT_ITERS: usize = 256;

impl Op for FmaPeak {
    fn name(&self) -> &'static str {
        "fma_peak"
    }

    fn summary(&self) -> &'static str {
        "y[i] = iters steps of a = fma(a, 0.9999, 0.0001) from x[i] (calibration: peak FMA rate)"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        one_f32_vector(inputs).map(|n| dims(n, DEFAULT_ITERS))
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("n")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let iters = dims.get("iters");
        let y = inputs[0]
            .as_f32()
            .expect("x is f32")
            .iter()
            .map(|&v| (0..iters).fold(v, |a, _| a.mul_add(M, C)))
            .collect::<Vec<f32>>();
        vec![Tensor::f32(vec![dims.get("n")], y)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let n = dims.get("n");
        vec![Tensor::f32(vec![n], (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect())]
    }

    fn test_dims(&self) -> Vec<Dims> {
        vec![dims(1, 64), dims(1000, 37), dims(4097, 128)]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        vec![dims(1 << 20, 4096)]
    }

    fn tolerance(&self) -> Tolerance {
        // WGSL's fma() may round a·M before adding C (the spec allows either); two roundings a
        // step drift by up to ~iters·2⁻²⁴ ≈ 2.5e-4 over the 4096-step bench chains. Skipping or
        // cutting the chain by a tenth moves outputs by > 1e-2, far outside this bound.
        Tolerance { rel_l2: 1e-3, max_abs_scaled: 1e-3 }
    }

    fn is_calibration(&self) -> bool {
        true
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let (n, iters) = (dims.get("n") as u64, dims.get("iters") as u64);
        Cost { bytes: 8 * n, weight_bytes: 0, flops: 2 * n * iters }
    }
}
