//! `q8_0_q8_1_gemm`: Y = X·Wᵀ on the int8 path: W in GGML Q8_0, the activations already
//! quantized to Q8_1 (per 32 values an f16 scale, as GGML's `quantize_q8_1` does before its
//! integer matrix products). Each block's dot product is exact in int32 (the `dp4a` instruction in
//! PTX: four int8 products and a sum per instruction), then scaled by `d_w·d_x` in f32.
//!
//! Layout:
//! - `w`: u8 `[rows, cols/32·34]` Q8_0 blocks;
//! - `xq`: u8 `[m, cols/32·36]` Q8_1 blocks (f16 d, f16 s, 32 int8), one token per row;
//! - `y`: f32 `[m, rows]`, `y[t][r] = Σ_b d_w[r][b]·d_x[t][b]·Σ_i q_w·q_x`.
//!
//! The reference dequantizes both operands and accumulates in f64; the kernels' only rounding is
//! the f32 scaling and summation over blocks, so the tolerance is f32's. The quantization error
//! of the activations is not part of this op: it is a property of the caller's choice of path.
//!
//! Cost model: bytes = weights + quantized activations + y; operations = 2·m·rows·cols.

use rand::Rng;
use rand::rngs::StdRng;
use rayon::prelude::*;

use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, expect_dtype};
use crate::ops::q8_0_gemm::MAX_M;
use crate::quant::{q8_0, q8_1};
use crate::tensor::{DType, Tensor};

/// The `q8_0_q8_1_gemm` op.
pub struct Q8_0Q8_1Gemm;

/// Problem sizes of a `q8_0_q8_1_gemm`.
pub fn dims(rows: usize, cols: usize, m: usize) -> Dims {
    Dims(vec![("rows", rows), ("cols", cols), ("m", m)])
}

const INPUTS: &[TensorSpec] = &[
    TensorSpec { name: "w", dtype: DType::U8, shape_doc: "[rows, cols/32*34] Q8_0 blocks" },
    TensorSpec { name: "xq", dtype: DType::U8, shape_doc: "[m, cols/32*36] Q8_1 blocks" },
];
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "y", dtype: DType::F32, shape_doc: "[m, rows]" }];

impl Op for Q8_0Q8_1Gemm {
    fn name(&self) -> &'static str {
        "q8_0_q8_1_gemm"
    }

    fn summary(&self) -> &'static str {
        "Y = Xq·Wᵀ, W in Q8_0, activations in Q8_1: int8 dot products (dp4a), f32 scaling"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [w, xq] = inputs else {
            return Err(OpError::new("inputs", format!("expected 2 tensors (w, xq), got {}", inputs.len())));
        };
        expect_dtype("w", w, DType::U8)?;
        expect_dtype("xq", xq, DType::U8)?;
        let &[rows, row_bytes] = w.shape.as_slice() else {
            return Err(OpError::new("w", format!("shape {:?} is not 2-D [rows, cols/32*34]", w.shape)));
        };
        if rows == 0 || row_bytes == 0 || row_bytes % q8_0::BLOCK_BYTES != 0 {
            return Err(OpError::new(
                "w",
                format!("shape {:?}: need rows ≥ 1 and a row of whole 34-byte Q8_0 blocks", w.shape),
            ));
        }
        let blocks = row_bytes / q8_0::BLOCK_BYTES;
        let &[m, x_bytes] = xq.shape.as_slice() else {
            return Err(OpError::new("xq", format!("shape {:?} is not 2-D [m, cols/32*36]", xq.shape)));
        };
        if x_bytes != blocks * q8_1::BLOCK_BYTES {
            return Err(OpError::new(
                "xq",
                format!("rows of {x_bytes} bytes, but w's {blocks} blocks a row need {}", blocks * q8_1::BLOCK_BYTES),
            ));
        }
        if !(1..=MAX_M).contains(&m) {
            return Err(OpError::new("xq", format!("m = {m} token rows is outside 1..={MAX_M}")));
        }
        Ok(dims(rows, blocks * q8_0::BLOCK_WEIGHTS, m))
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("m"), dims.get("rows")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let (rows, cols, m) = (dims.get("rows"), dims.get("cols"), dims.get("m"));
        let w = q8_0::dequantize(inputs[0].as_u8().expect("w is u8"));
        let x = q8_1::dequantize(inputs[1].as_u8().expect("xq is u8"));
        // Plain f64 dot products; tokens in parallel only because prefill shapes are large.
        let mut y = vec![0.0f32; m * rows];
        y.par_chunks_mut(rows).enumerate().for_each(|(t, yt)| {
            let xt = &x[t * cols..(t + 1) * cols];
            for (r, out) in yt.iter_mut().enumerate() {
                let wr = &w[r * cols..(r + 1) * cols];
                let acc: f64 = wr.iter().zip(xt).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
                *out = acc as f32;
            }
        });
        vec![Tensor::f32(vec![m, rows], y)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let (rows, cols, m) = (dims.get("rows"), dims.get("cols"), dims.get("m"));
        let mut w = Vec::with_capacity(rows * cols);
        for _ in 0..rows {
            let row_scale = 10f32.powf(rng.random_range(-1.0..1.0));
            w.extend((0..cols).map(|_| row_scale * rng.random_range(-1.0f32..1.0)));
        }
        let x: Vec<f32> = (0..m * cols).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        vec![
            Tensor::u8(vec![rows, cols / 32 * q8_0::BLOCK_BYTES], q8_0::quantize(&w, cols)),
            Tensor::u8(vec![m, cols / 32 * q8_1::BLOCK_BYTES], q8_1::quantize(&x, cols)),
        ]
    }

    fn test_dims(&self) -> Vec<Dims> {
        vec![dims(1, 32, 1), dims(17, 64, 9), dims(70, 160, 33), dims(5, 2080, 3), dims(256, 512, 64)]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        vec![dims(4096, 4096, 16), dims(4096, 4096, 128), dims(4096, 4096, 512), dims(14336, 4096, 512)]
    }

    fn tolerance(&self) -> Tolerance {
        // Exact int32 block dot products; f32 scaling and summation over blocks.
        Tolerance { rel_l2: 1e-5, max_abs_scaled: 1e-5 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let (rows, cols, m) = (dims.get("rows") as u64, dims.get("cols") as u64, dims.get("m") as u64);
        let weight_bytes = rows * (cols / 32) * 34;
        Cost { bytes: weight_bytes + m * (cols / 32) * 36 + 4 * m * rows, weight_bytes, flops: 2 * rows * cols * m }
    }
}
