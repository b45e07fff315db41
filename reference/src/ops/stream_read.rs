//! `stream_read`: y[i] = Σ x[i·4096 .. (i+1)·4096] — a calibration op whose cost is one read of x.
//!
//! The bench measures every backend's streaming-read bandwidth with this op, in the same run as
//! the kernels it places on the roofline. The partial sums make the read observable (nothing
//! can be skipped) and checkable against the reference; the last chunk may be partial.
//!
//! Cost model: bytes = 4·n + 4·⌈n/4096⌉; flops = n (one add an element).

use rand::Rng;
use rand::rngs::StdRng;

use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, one_f32_vector};
use crate::tensor::{DType, Tensor};

/// Elements summed into one output.
pub const CHUNK: usize = 4096;

/// The `stream_read` op.
pub struct StreamRead;

/// Problem sizes of a `stream_read` over `n` elements.
pub fn dims(n: usize) -> Dims {
    Dims(vec![("n", n)])
}

const INPUTS: &[TensorSpec] = &[TensorSpec { name: "x", dtype: DType::F32, shape_doc: "[n]" }];
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "y", dtype: DType::F32, shape_doc: "[ceil(n/4096)]" }];

impl Op for StreamRead {
    fn name(&self) -> &'static str {
        "stream_read"
    }

    fn summary(&self) -> &'static str {
        "y[i] = sum of x over chunk i of 4096 (calibration: streaming read)"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        one_f32_vector(inputs).map(dims)
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("n").div_ceil(CHUNK)]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let x = inputs[0].as_f32().expect("x is f32");
        let y: Vec<f32> = x.chunks(CHUNK).map(|c| c.iter().map(|&v| f64::from(v)).sum::<f64>() as f32).collect();
        vec![Tensor::f32(vec![dims.get("n").div_ceil(CHUNK)], y)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        // Positive values keep the partial sums far from zero, so the relative error is meaningful.
        let n = dims.get("n");
        vec![Tensor::f32(vec![n], (0..n).map(|_| rng.random_range(0.5f32..1.5)).collect())]
    }

    fn test_dims(&self) -> Vec<Dims> {
        vec![dims(1), dims(4095), dims(4097), dims(3 * CHUNK), dims((1 << 20) + 123)]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        // 128 MiB: beyond the caches of CPUs and GPUs, within wgpu's default 128 MiB binding limit.
        vec![dims(32 << 20)]
    }

    fn tolerance(&self) -> Tolerance {
        // f32 sums of 4096 positive terms in any order.
        Tolerance { rel_l2: 1e-5, max_abs_scaled: 1e-5 }
    }

    fn is_calibration(&self) -> bool {
        true
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let n = dims.get("n") as u64;
        Cost { bytes: 4 * n + 4 * n.div_ceil(CHUNK as u64), weight_bytes: 4 * n, flops: n }
    }
}
