//! `q4_1_gemv`: y = W·x with W in GGML's Q4_1 format, for 1 to 8 activation columns — the
//! decode product of the embedded SmolLM2 checkpoint, whose projections are Q4_1.
//!
//! Layout (the same as GGML's `ggml_mul_mat(W, x)`):
//! - `w`: u8 `[rows, cols/32·20]`, each row `cols/32` Q4_1 blocks (f16 d, f16 m, 16 nibble bytes);
//! - `x`: f32 `[batch, cols]` (or `[cols]` for batch 1), each activation column contiguous;
//! - `y`: f32 `[batch, rows]`, `y[j][r] = Σ_c W[r][c]·x[j][c]` with `W = d·q + m`.
//!
//! Cost model: bytes = weights + x + y; flops = 2·rows·cols·batch. Per block a kernel can use
//! `Σ_c (d·q_c + m)·x_c = d·Σ q_c·x_c + m·Σ x_c`, so the offset costs one sum of x per block.

use rand::rngs::StdRng;

use super::quant_gemv;
use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec};
use crate::quant::format::BaseFormat;
use crate::tensor::{DType, Tensor};

pub use super::quant_gemv::{MAX_BATCH, dims};

/// The `q4_1_gemv` op.
pub struct Q4_1Gemv;

const INPUTS: &[TensorSpec] = &[
    TensorSpec { name: "w", dtype: DType::U8, shape_doc: "[rows, cols/32*20] Q4_1 blocks" },
    TensorSpec { name: "x", dtype: DType::F32, shape_doc: "[batch, cols] or [cols]" },
];
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "y", dtype: DType::F32, shape_doc: "[batch, rows]" }];

impl Op for Q4_1Gemv {
    fn name(&self) -> &'static str {
        "q4_1_gemv"
    }

    fn summary(&self) -> &'static str {
        "y[j] = W·x[j], W in GGML Q4_1 (f16 scale, f16 offset, 32 4-bit codes per block), 1..8 f32 columns"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        quant_gemv::dims_of(BaseFormat::Q4_1, inputs)
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("batch"), dims.get("rows")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        quant_gemv::reference(BaseFormat::Q4_1, dims, inputs)
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        quant_gemv::random_inputs(BaseFormat::Q4_1, dims, rng)
    }

    fn test_dims(&self) -> Vec<Dims> {
        // Ragged rows and blocks, every batch edge, the embedded model's shapes (576 wide, the
        // 1536-wide MLP down) and a large one.
        vec![
            dims(1, 32, 1),
            dims(7, 96, 5),
            dims(7, 96, 1),
            dims(33, 160, 8),
            dims(33, 160, 1),
            dims(5, 4160, 3),
            dims(192, 576, 1),
            dims(576, 1536, 4),
            dims(4096, 4096, 1),
        ]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        // The embedded SmolLM2-135M's projections (q 576×576, k/v 192×576, gate/up 1536×576,
        // down 576×1536); gate/up for 8 sequences decoded side by side (the experiment's batched
        // decode); then the 8B-class shapes of the other GEMVs, one at batch 4 as theirs.
        vec![
            dims(576, 576, 1),
            dims(192, 576, 1),
            dims(1536, 576, 1),
            dims(576, 1536, 1),
            dims(1536, 576, 8),
            dims(4096, 4096, 1),
            dims(4096, 4096, 4),
            dims(14336, 4096, 1),
        ]
    }

    fn tolerance(&self) -> Tolerance {
        // f32 accumulation against an f64 reference; the offset term adds one rounding per block.
        Tolerance { rel_l2: 1e-5, max_abs_scaled: 1e-5 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        quant_gemv::cost(BaseFormat::Q4_1, dims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::q4_1;

    #[test]
    fn the_reference_matches_a_hand_computed_product() {
        // Row 0 = 0..32 (d = 31/15, m = 0), row 1 = all −1 (d = 0, m = −1: every weight −1).
        let w0: Vec<f32> = (0..32).map(|i| i as f32).collect();
        let w = q4_1::quantize(&[w0, vec![-1.0f32; 32]].concat(), 32);
        let deq = q4_1::dequantize(&w);
        let x: Vec<f32> = (0..32).map(|i| if i % 2 == 0 { 1.0 } else { -0.5 }).collect();
        let want0: f64 = deq[..32].iter().zip(&x).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
        let inputs = [Tensor::u8(vec![2, 20], w), Tensor::f32(vec![1, 32], x)];
        let d = Q4_1Gemv.dims_of(&inputs).unwrap();
        assert_eq!(d, dims(2, 32, 1));
        let y = Q4_1Gemv.reference(&d, &inputs);
        let y = y[0].as_f32().unwrap();
        assert!((f64::from(y[0]) - want0).abs() < 1e-4, "{} vs {want0}", y[0]);
        assert_eq!(y[1], -(16.0 - 8.0));
    }

    #[test]
    fn mismatched_columns_are_rejected_naming_x() {
        let inputs = [Tensor::u8(vec![2, 20], vec![0; 40]), Tensor::f32(vec![1, 64], vec![1.0; 64])];
        assert_eq!(Q4_1Gemv.dims_of(&inputs).unwrap_err().tensor, "x");
    }

    #[test]
    fn a_q4_0_sized_row_is_rejected_naming_w() {
        let inputs = [Tensor::u8(vec![2, 18], vec![0; 36]), Tensor::f32(vec![1, 32], vec![1.0; 32])];
        assert_eq!(Q4_1Gemv.dims_of(&inputs).unwrap_err().tensor, "w");
    }

    #[test]
    fn a_batch_above_eight_is_rejected() {
        let inputs = [Tensor::u8(vec![1, 20], vec![0; 20]), Tensor::f32(vec![9, 32], vec![1.0; 288])];
        assert!(Q4_1Gemv.dims_of(&inputs).unwrap_err().problem.contains("batch 9"));
    }

    #[test]
    fn the_cost_counts_20_bytes_a_block() {
        let c = Q4_1Gemv.cost(&dims(4096, 4096, 1));
        assert_eq!(c.weight_bytes, 4096 * 128 * 20);
        assert_eq!(c.bytes, c.weight_bytes + 4 * 4096 + 4 * 4096);
        assert_eq!(c.flops, 2 * 4096 * 4096);
    }
}
