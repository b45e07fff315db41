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

use rand::Rng;
use rand::rngs::StdRng;

use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, expect_dtype};
use crate::quant::q4_0;
use crate::tensor::{DType, Tensor};

/// Most activation columns one launch takes (decode batches; prefill is a GEMM).
pub const MAX_BATCH: usize = 8;

/// The `q4_0_gemv` op.
pub struct Q4_0Gemv;

/// Problem sizes of a `q4_0_gemv`.
pub fn dims(rows: usize, cols: usize, batch: usize) -> Dims {
    Dims(vec![("rows", rows), ("cols", cols), ("batch", batch)])
}

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
        let [w, x] = inputs else {
            return Err(OpError::new("inputs", format!("expected 2 tensors (w, x), got {}", inputs.len())));
        };
        expect_dtype("w", w, DType::U8)?;
        expect_dtype("x", x, DType::F32)?;
        let &[rows, row_bytes] = w.shape.as_slice() else {
            return Err(OpError::new("w", format!("shape {:?} is not 2-D [rows, cols/32*18]", w.shape)));
        };
        if rows == 0 || row_bytes == 0 || row_bytes % q4_0::BLOCK_BYTES != 0 {
            return Err(OpError::new(
                "w",
                format!("shape {:?}: need rows ≥ 1 and a row of whole 18-byte Q4_0 blocks", w.shape),
            ));
        }
        let cols = row_bytes / q4_0::BLOCK_BYTES * q4_0::BLOCK_WEIGHTS;
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
        let w = q4_0::dequantize(inputs[0].as_u8().expect("w is u8"));
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
        let w = q4_0::quantize(&w, cols);
        vec![Tensor::u8(vec![rows, cols / 32 * q4_0::BLOCK_BYTES], w), Tensor::f32(vec![batch, cols], x)]
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
        let (rows, cols, batch) = (dims.get("rows") as u64, dims.get("cols") as u64, dims.get("batch") as u64);
        let weight_bytes = rows * (cols / 32) * q4_0::BLOCK_BYTES as u64;
        Cost { bytes: weight_bytes + 4 * batch * cols + 4 * batch * rows, weight_bytes, flops: 2 * rows * cols * batch }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
