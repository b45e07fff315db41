//! `q8_0_q8_1_gemm` and `q4_0_q8_1_gemm`: Y = X·Wᵀ on the int8 path — W in GGML Q8_0 or Q4_0,
//! the activations already quantized to Q8_1 (per 32 values an f16 scale, as GGML's
//! `quantize_q8_1` does before its integer matrix products). Each block's dot product is exact in
//! int32 (the `dp4a` instruction in PTX: four int8 products and a sum per instruction; AVX-512
//! VNNI's `vpdpbusd` on the cpu), then scaled by `d_w·d_x` in f32.
//!
//! With m = 1 token this is the decode GEMV as llama.cpp's CPU backend computes it (activations
//! quantized to 8 bits, integer dots); m = 16..512 is prefill.
//!
//! Layout:
//! - `w`: u8 `[rows, cols/32·34]` Q8_0 blocks, or `[rows, cols/32·18]` Q4_0 blocks;
//! - `xq`: u8 `[m, cols/32·36]` Q8_1 blocks (f16 d, f16 s, 32 int8), one token per row;
//! - `y`: f32 `[m, rows]`, `y[t][r] = Σ_b d_w[r][b]·d_x[t][b]·Σ_i c_w·q_x`, with `c_w` the Q8_0
//!   code, or the Q4_0 nibble minus 8.
//!
//! Q8_1's `s` (f16 of `d·Σq`) is not used: rounded to f16 it would make Q4_0's `−8·Σq` term
//! inexact. The kernels fold the −8 into the integers instead (the cpu through the exact code sum,
//! the GPUs by recentring the nibbles), so every block dot stays exact.
//!
//! The reference dequantizes both operands and accumulates in f64; the kernels' only rounding is
//! the f32 scaling and summation over blocks, so the tolerance is f32's. The quantization error
//! of the activations is not part of this op: it is a property of the caller's choice of path.
//!
//! Cost model: bytes = weights + quantized activations + y; operations = 2·m·rows·cols.

use rand::Rng;
use rand::rngs::StdRng;

use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, expect_dtype};
use crate::ops::q8_0_gemm::MAX_M;
use crate::ops::quant_gemv::{f64_products, random_weights, weight_shape};
use crate::quant::format::BaseFormat;
use crate::quant::q8_1;
use crate::tensor::{DType, Tensor};

/// The int8-path product of weights in `.0` (Q8_0 or Q4_0) with Q8_1 activations.
pub struct Q8_1Gemm(pub BaseFormat);

/// `q8_0_q8_1_gemm`.
pub const Q8_0_Q8_1_GEMM: Q8_1Gemm = Q8_1Gemm(BaseFormat::Q8_0);
/// `q4_0_q8_1_gemm`.
pub const Q4_0_Q8_1_GEMM: Q8_1Gemm = Q8_1Gemm(BaseFormat::Q4_0);

/// Problem sizes of a Q8_1-activation product.
pub fn dims(rows: usize, cols: usize, m: usize) -> Dims {
    Dims(vec![("rows", rows), ("cols", cols), ("m", m)])
}

const INPUTS_Q8_0: &[TensorSpec] = &[
    TensorSpec { name: "w", dtype: DType::U8, shape_doc: "[rows, cols/32*34] Q8_0 blocks" },
    TensorSpec { name: "xq", dtype: DType::U8, shape_doc: "[m, cols/32*36] Q8_1 blocks" },
];
const INPUTS_Q4_0: &[TensorSpec] = &[
    TensorSpec { name: "w", dtype: DType::U8, shape_doc: "[rows, cols/32*18] Q4_0 blocks" },
    TensorSpec { name: "xq", dtype: DType::U8, shape_doc: "[m, cols/32*36] Q8_1 blocks" },
];
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "y", dtype: DType::F32, shape_doc: "[m, rows]" }];

impl Q8_1Gemm {
    fn format(&self) -> BaseFormat {
        assert!(matches!(self.0, BaseFormat::Q8_0 | BaseFormat::Q4_0), "Q8_1 products take Q8_0 or Q4_0 weights");
        self.0
    }
}

impl Op for Q8_1Gemm {
    fn name(&self) -> &'static str {
        match self.format() {
            BaseFormat::Q4_0 => "q4_0_q8_1_gemm",
            _ => "q8_0_q8_1_gemm",
        }
    }

    fn summary(&self) -> &'static str {
        match self.format() {
            BaseFormat::Q4_0 => "Y = Xq·Wᵀ, W in Q4_0, activations in Q8_1: int8 dot products (dp4a), f32 scaling",
            _ => "Y = Xq·Wᵀ, W in Q8_0, activations in Q8_1: int8 dot products (dp4a), f32 scaling",
        }
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        match self.format() {
            BaseFormat::Q4_0 => INPUTS_Q4_0,
            _ => INPUTS_Q8_0,
        }
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [w, xq] = inputs else {
            return Err(OpError::new("inputs", format!("expected 2 tensors (w, xq), got {}", inputs.len())));
        };
        let (rows, cols) = weight_shape(self.format(), w)?;
        expect_dtype("xq", xq, DType::U8)?;
        let blocks = cols / q8_1::BLOCK_VALUES;
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
        Ok(dims(rows, cols, m))
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("m"), dims.get("rows")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let (rows, cols, m) = (dims.get("rows"), dims.get("cols"), dims.get("m"));
        let w = self.format().decode(inputs[0].as_u8().expect("w is u8"));
        let x = q8_1::dequantize(inputs[1].as_u8().expect("xq is u8"));
        vec![Tensor::f32(vec![m, rows], f64_products(&w, &x, rows, cols, m))]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let (rows, cols, m) = (dims.get("rows"), dims.get("cols"), dims.get("m"));
        let w = random_weights(self.format(), rows, cols, rng);
        let x: Vec<f32> = (0..m * cols).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        vec![w, Tensor::u8(vec![m, cols / 32 * q8_1::BLOCK_BYTES], q8_1::quantize(&x, cols))]
    }

    fn test_dims(&self) -> Vec<Dims> {
        // Odd block counts (1, 3, 5, 65) leave a lone last block on the cpu's pairs of blocks;
        // 2080 columns are three 1024-weight warp windows, the last a partial one.
        vec![dims(1, 32, 1), dims(17, 64, 9), dims(70, 160, 33), dims(5, 2080, 3), dims(9, 96, 1), dims(256, 512, 64)]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        // Decode (m = 1) at the GEMV ops' shapes — 8B-class attention, MLP up and down, 1B-class
        // attention and MLP up —, then prefill.
        vec![
            dims(4096, 4096, 1),
            dims(14336, 4096, 1),
            dims(4096, 14336, 1),
            dims(2048, 2048, 1),
            dims(8192, 2048, 1),
            dims(4096, 4096, 16),
            dims(4096, 4096, 128),
            dims(4096, 4096, 512),
            dims(14336, 4096, 512),
        ]
    }

    fn tolerance(&self) -> Tolerance {
        // Exact int32 block dot products; f32 scaling and summation over blocks.
        Tolerance { rel_l2: 1e-5, max_abs_scaled: 1e-5 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let (rows, cols, m) = (dims.get("rows"), dims.get("cols"), dims.get("m"));
        let weight_bytes = (rows * self.format().row_bytes(cols).expect("cols fits the format")) as u64;
        let (rows, cols, m) = (rows as u64, cols as u64, m as u64);
        Cost { bytes: weight_bytes + m * (cols / 32) * 36 + 4 * m * rows, weight_bytes, flops: 2 * rows * cols * m }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::q4_0;

    #[test]
    fn the_q4_0_reference_recentres_the_nibbles() {
        // Weights 1..32 (d = −4: codes round(w/d) + 8) against x = 1 everywhere (d_x = 1/127).
        let w0: Vec<f32> = (1..=32).map(|i| i as f32).collect();
        let w = q4_0::quantize(&w0, 32);
        let deq = q4_0::dequantize(&w);
        let xq = q8_1::quantize(&[1.0f32; 32], 32);
        let inputs = [Tensor::u8(vec![1, 18], w), Tensor::u8(vec![1, 36], xq.clone())];
        let d = Q4_0_Q8_1_GEMM.dims_of(&inputs).unwrap();
        assert_eq!(d, dims(1, 32, 1));
        let y = Q4_0_Q8_1_GEMM.reference(&d, &inputs);
        let xd = q8_1::dequantize(&xq);
        let want: f64 = deq.iter().zip(&xd).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
        assert!((f64::from(y[0].as_f32().unwrap()[0]) - want).abs() < 1e-4 * want.abs());
    }

    #[test]
    fn a_q8_0_row_is_rejected_by_the_q4_0_product_naming_w() {
        let inputs = [Tensor::u8(vec![2, 34], vec![0; 68]), Tensor::u8(vec![1, 36], vec![0; 36])];
        assert_eq!(Q4_0_Q8_1_GEMM.dims_of(&inputs).unwrap_err().tensor, "w");
        assert!(Q8_0_Q8_1_GEMM.dims_of(&inputs).is_ok());
    }

    #[test]
    fn activations_of_another_width_are_rejected_naming_xq() {
        let inputs = [Tensor::u8(vec![2, 36], vec![0; 72]), Tensor::u8(vec![1, 36], vec![0; 36])];
        let e = Q4_0_Q8_1_GEMM.dims_of(&inputs).unwrap_err();
        assert_eq!(e.tensor, "xq");
        assert!(e.problem.contains("need 72"), "{}", e.problem);
    }

    #[test]
    fn the_cost_counts_the_weight_format() {
        let c = Q4_0_Q8_1_GEMM.cost(&dims(4096, 4096, 1));
        assert_eq!(c.weight_bytes, 4096 * 128 * 18);
        assert_eq!(Q8_0_Q8_1_GEMM.cost(&dims(4096, 4096, 1)).weight_bytes, 4096 * 128 * 34);
    }
}
