//! `q4_0_gemv`: y = W·x with W in GGML's Q4_0 format, for 1 to 8 activation columns.
//!
//! Layout (the same as GGML's `ggml_mul_mat(W, x)`):
//! - `w`: u8 `[rows, cols/32·18]`, each row `cols/32` Q4_0 blocks;
//! - `x`: f32 `[batch, cols]` (or `[cols]` for batch 1), each activation column contiguous;
//! - `y`: f32 `[batch, rows]`, `y[j][r] = Σ_c W[r][c]·x[j][c]`.
//!
//! Cost model: bytes = weights + x + y; flops = 2·rows·cols·batch. At 4.5 bits a weight the
//! weight stream is 0.53× that of Q8_0, so decode GEMV is even more a memory-bandwidth problem
//! on GPUs, while on CPUs the nibble unpacking makes it closer to compute-bound.

use rand::rngs::StdRng;

use super::quant_gemv;
use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec};
use crate::quant::format::BaseFormat;
use crate::tensor::{DType, Tensor};

pub use super::quant_gemv::{MAX_BATCH, dims};

/// The `q4_0_gemv` op.
pub struct Q4_0Gemv;

const INPUTS: &[TensorSpec] = &[
    TensorSpec { name: "w", dtype: DType::U8, shape_doc: "[rows, cols/32*18] Q4_0 blocks" },
    TensorSpec { name: "x", dtype: DType::F32, shape_doc: "[batch, cols] or [cols]" },
];
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "y", dtype: DType::F32, shape_doc: "[batch, rows]" }];

impl Op for Q4_0Gemv {
    fn name(&self) -> &'static str {
        "q4_0_gemv"
    }

    fn summary(&self) -> &'static str {
        "y[j] = W·x[j], W in GGML Q4_0 (f16 scale + 32 4-bit codes per block), 1..8 f32 columns"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        quant_gemv::dims_of(BaseFormat::Q4_0, inputs)
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("batch"), dims.get("rows")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        quant_gemv::reference(BaseFormat::Q4_0, dims, inputs)
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        quant_gemv::random_inputs(BaseFormat::Q4_0, dims, rng)
    }

    fn test_dims(&self) -> Vec<Dims> {
        // 5 x 4160: 130 blocks, 5 windows of 1024 (the last holding two blocks), split unevenly
        // among the 4 warps of the rows4 variant, and a ragged last group of rows.
        vec![
            dims(1, 32, 1),
            dims(7, 96, 5),
            dims(7, 96, 1),
            dims(33, 160, 8),
            dims(33, 160, 1),
            dims(5, 4160, 3),
            dims(4096, 4096, 1),
        ]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        // 8B-class attention (4096×4096), MLP up (14336×4096) and down (4096×14336) at decode,
        // and a 4-column batch; 1B-class attention (2048×2048) and MLP up (8192×2048).
        vec![
            dims(4096, 4096, 1),
            dims(14336, 4096, 1),
            dims(4096, 14336, 1),
            dims(4096, 4096, 4),
            dims(2048, 2048, 1),
            dims(8192, 2048, 1),
        ]
    }

    fn tolerance(&self) -> Tolerance {
        // f32 accumulation of exact products (d·(q − 8)·x) against an f64 reference.
        Tolerance { rel_l2: 1e-5, max_abs_scaled: 1e-5 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        quant_gemv::cost(BaseFormat::Q4_0, dims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::q4_0;

    #[test]
    fn the_reference_matches_a_hand_computed_product() {
        // Row 0 = 1..32 (max 32 → d = −4), row 1 = all −1 (d = 1/8, codes 0 → −1).
        let w0: Vec<f32> = (1..=32).map(|i| i as f32).collect();
        let w1 = vec![-1.0f32; 32];
        let w = q4_0::quantize(&[w0, w1].concat(), 32);
        let deq = q4_0::dequantize(&w);
        assert!(deq[32..].iter().all(|&v| v == -1.0));
        let x: Vec<f32> = (0..32).map(|i| if i % 2 == 0 { 1.0 } else { -0.5 }).collect();
        let want0: f64 = deq[..32].iter().zip(&x).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
        let want1 = -(16.0 - 8.0);
        let inputs = [Tensor::u8(vec![2, 18], w), Tensor::f32(vec![1, 32], x)];
        let d = Q4_0Gemv.dims_of(&inputs).unwrap();
        assert_eq!(d, dims(2, 32, 1));
        let y = Q4_0Gemv.reference(&d, &inputs);
        let y = y[0].as_f32().unwrap();
        assert!((f64::from(y[0]) - want0).abs() < 1e-4, "{} vs {want0}", y[0]);
        assert_eq!(f64::from(y[1]), want1);
    }

    #[test]
    fn mismatched_columns_are_rejected_naming_x() {
        let inputs = [Tensor::u8(vec![2, 18], vec![0; 36]), Tensor::f32(vec![1, 64], vec![1.0; 64])];
        assert_eq!(Q4_0Gemv.dims_of(&inputs).unwrap_err().tensor, "x");
    }

    #[test]
    fn a_q8_0_sized_row_is_rejected_naming_w() {
        let inputs = [Tensor::u8(vec![2, 34], vec![0; 68]), Tensor::f32(vec![1, 32], vec![1.0; 32])];
        assert_eq!(Q4_0Gemv.dims_of(&inputs).unwrap_err().tensor, "w");
    }

    #[test]
    fn a_batch_above_eight_is_rejected() {
        let inputs = [Tensor::u8(vec![1, 18], vec![0; 18]), Tensor::f32(vec![9, 32], vec![1.0; 288])];
        assert!(Q4_0Gemv.dims_of(&inputs).unwrap_err().problem.contains("batch 9"));
    }

    #[test]
    fn the_cost_counts_18_bytes_a_block() {
        let c = Q4_0Gemv.cost(&dims(4096, 4096, 1));
        assert_eq!(c.weight_bytes, 4096 * 128 * 18);
        assert_eq!(c.bytes, c.weight_bytes + 4 * 4096 + 4 * 4096);
        assert_eq!(c.flops, 2 * 4096 * 4096);
    }
}
