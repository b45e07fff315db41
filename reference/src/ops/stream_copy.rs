//! `stream_copy`: y = x — a calibration op measuring copy bandwidth, counted as bytes read plus
//! bytes written.
//!
//! Cost model: bytes = 8·n; flops = 0.

use rand::Rng;
use rand::rngs::StdRng;

use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, one_f32_vector};
use crate::tensor::{DType, Tensor};

/// The `stream_copy` op.
pub struct StreamCopy;

/// Problem sizes of a `stream_copy` of `n` elements.
pub fn dims(n: usize) -> Dims {
    Dims(vec![("n", n)])
}

const INPUTS: &[TensorSpec] = &[TensorSpec { name: "x", dtype: DType::F32, shape_doc: "[n]" }];
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "y", dtype: DType::F32, shape_doc: "[n]" }];

impl Op for StreamCopy {
    fn name(&self) -> &'static str {
        "stream_copy"
    }

    fn summary(&self) -> &'static str {
        "y = x (calibration: copy bandwidth, bytes read + bytes written)"
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
        vec![vec![dims.get("n")]]
    }

    fn reference(&self, _dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        vec![inputs[0].clone()]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let n = dims.get("n");
        vec![Tensor::f32(vec![n], (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect())]
    }

    fn test_dims(&self) -> Vec<Dims> {
        vec![dims(1), dims(1000), dims(4097), dims((1 << 20) + 7)]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        // 128 MiB: beyond the caches of CPUs and GPUs, within wgpu's default 128 MiB binding limit.
        vec![dims(32 << 20)]
    }

    fn tolerance(&self) -> Tolerance {
        // A copy is exact.
        Tolerance { rel_l2: 0.0, max_abs_scaled: 0.0 }
    }

    fn is_calibration(&self) -> bool {
        true
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let n = dims.get("n") as u64;
        Cost { bytes: 8 * n, weight_bytes: 4 * n, flops: 0 }
    }
}
