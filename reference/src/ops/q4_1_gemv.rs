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

use rand::Rng;
use rand::rngs::StdRng;

use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, expect_dtype};
use crate::quant::q4_1;
use crate::tensor::{DType, Tensor};

/// Most activation columns one launch takes (decode batches; prefill is a GEMM).
pub const MAX_BATCH: usize = 8;

/// The `q4_1_gemv` op.
pub struct Q4_1Gemv;

/// Problem sizes of a `q4_1_gemv`.
pub fn dims(rows: usize, cols: usize, batch: usize) -> Dims {
    Dims(vec![("rows", rows), ("cols", cols), ("batch", batch)])
}

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
        let [w, x] = inputs else {
            return Err(OpError::new("inputs", format!("expected 2 tensors (w, x), got {}", inputs.len())));
        };
        expect_dtype("w", w, DType::U8)?;
        expect_dtype("x", x, DType::F32)?;
        let &[rows, row_bytes] = w.shape.as_slice() else {
            return Err(OpError::new("w", format!("shape {:?} is not 2-D [rows, cols/32*20]", w.shape)));
        };
        if rows == 0 || row_bytes == 0 || row_bytes % q4_1::BLOCK_BYTES != 0 {
            return Err(OpError::new(
                "w",
                format!("shape {:?}: need rows ≥ 1 and a row of whole 20-byte Q4_1 blocks", w.shape),
            ));
        }
        let cols = row_bytes / q4_1::BLOCK_BYTES * q4_1::BLOCK_WEIGHTS;
        let (batch, x_cols) = match x.shape.as_slice() {
            &[c] => (1, c),
            &[b, c] => (b, c),
            s => return Err(OpError::new("x", format!("shape {s:?} is not [batch, cols] or [cols]"))),
        };
        if x_cols != cols {
            return Err(OpError::new(
                "x",
                format!("has {x_cols} columns but w's rows hold {cols} weights ({row_bytes} bytes)"),
            ));
        }
        if !(1..=MAX_BATCH).contains(&batch) {
            return Err(OpError::new("x", format!("batch {batch} is outside 1..={MAX_BATCH}")));
        }
        Ok(dims(rows, cols, batch))
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("batch"), dims.get("rows")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let (rows, cols, batch) = (dims.get("rows"), dims.get("cols"), dims.get("batch"));
        let w = q4_1::dequantize(inputs[0].as_u8().expect("w is u8"));
        let x = inputs[1].as_f32().expect("x is f32");
        let mut y = vec![0.0f32; batch * rows];
        for j in 0..batch {
            let xj = &x[j * cols..(j + 1) * cols];
            for r in 0..rows {
                let wr = &w[r * cols..(r + 1) * cols];
                let acc: f64 = wr.iter().zip(xj).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
                y[j * rows + r] = acc as f32;
            }
        }
        vec![Tensor::f32(vec![batch, rows], y)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let (rows, cols, batch) = (dims.get("rows"), dims.get("cols"), dims.get("batch"));
        // Per-row magnitudes vary over two decades so scales differ from block to block.
        let mut w = Vec::with_capacity(rows * cols);
        for _ in 0..rows {
            let row_scale = 10f32.powf(rng.random_range(-1.0..1.0));
            w.extend((0..cols).map(|_| row_scale * rng.random_range(-1.0f32..1.0)));
        }
        let x: Vec<f32> = (0..batch * cols).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let w = q4_1::quantize(&w, cols);
        vec![Tensor::u8(vec![rows, cols / 32 * q4_1::BLOCK_BYTES], w), Tensor::f32(vec![batch, cols], x)]
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
        // down 576×1536), then the 8B-class shapes of the other GEMVs.
        vec![
            dims(576, 576, 1),
            dims(192, 576, 1),
            dims(1536, 576, 1),
            dims(576, 1536, 1),
            dims(4096, 4096, 1),
            dims(14336, 4096, 1),
        ]
    }

    fn tolerance(&self) -> Tolerance {
        // f32 accumulation against an f64 reference; the offset term adds one rounding per block.
        Tolerance { rel_l2: 1e-5, max_abs_scaled: 1e-5 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let (rows, cols, batch) = (dims.get("rows") as u64, dims.get("cols") as u64, dims.get("batch") as u64);
        let weight_bytes = rows * (cols / 32) * q4_1::BLOCK_BYTES as u64;
        Cost { bytes: weight_bytes + 4 * batch * cols + 4 * batch * rows, weight_bytes, flops: 2 * rows * cols * batch }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
