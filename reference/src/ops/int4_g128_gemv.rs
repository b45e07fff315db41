//! `int4_g128_gemv`: y = W·x with W in asymmetric group-wise int4 (format in
//! [`crate::quant::int4_g128`]: per 128 weights an f16 scale s and f16 zero point z, 8 codes a
//! u32, `w = s·(q − z)`), for 1 to 8 activation columns.
//!
//! Tensors:
//! - `w`: u8 `[rows, cols/2]`, the packed codes (nibble i of u32 word k is weight 8k + i);
//! - `sz`: u8 `[rows, cols/128·4]`, per group the f16 scale then the f16 zero point;
//! - `x`: f32 `[batch, cols]` (or `[cols]`); `y`: f32 `[batch, rows]`.
//!
//! Cost model: bytes = codes + scales/zeros + x + y; flops = 2·rows·cols·batch.

use rand::Rng;
use rand::rngs::StdRng;

use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, expect_dtype};
use crate::quant::int4_g128::{self, GROUP};
use crate::tensor::{DType, Tensor};

/// Most activation columns one launch takes.
pub const MAX_BATCH: usize = 8;

/// The `int4_g128_gemv` op.
pub struct Int4G128Gemv;

/// Problem sizes of an `int4_g128_gemv`.
pub fn dims(rows: usize, cols: usize, batch: usize) -> Dims {
    Dims(vec![("rows", rows), ("cols", cols), ("batch", batch)])
}

const INPUTS: &[TensorSpec] = &[
    TensorSpec {
        name: "w",
        dtype: DType::U8,
        shape_doc: "[rows, cols/2] 4-bit codes, nibble i of u32 k = weight 8k+i",
    },
    TensorSpec { name: "sz", dtype: DType::U8, shape_doc: "[rows, cols/128*4] f16 scale, f16 zero per group" },
    TensorSpec { name: "x", dtype: DType::F32, shape_doc: "[batch, cols] or [cols]" },
];
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "y", dtype: DType::F32, shape_doc: "[batch, rows]" }];

impl Op for Int4G128Gemv {
    fn name(&self) -> &'static str {
        "int4_g128_gemv"
    }

    fn summary(&self) -> &'static str {
        "y[j] = W·x[j], W int4 with an f16 scale and zero point per 128 weights, 1..8 f32 columns"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [w, sz, x] = inputs else {
            return Err(OpError::new("inputs", format!("expected 3 tensors (w, sz, x), got {}", inputs.len())));
        };
        expect_dtype("w", w, DType::U8)?;
        expect_dtype("sz", sz, DType::U8)?;
        expect_dtype("x", x, DType::F32)?;
        let &[rows, half_cols] = w.shape.as_slice() else {
            return Err(OpError::new("w", format!("shape {:?} is not 2-D [rows, cols/2]", w.shape)));
        };
        if rows == 0 || half_cols == 0 || (2 * half_cols) % GROUP != 0 {
            return Err(OpError::new(
                "w",
                format!("shape {:?}: need rows ≥ 1 and rows of whole 128-weight groups (64 bytes)", w.shape),
            ));
        }
        let cols = 2 * half_cols;
        let want_sz = vec![rows, cols / GROUP * int4_g128::GROUP_SZ_BYTES];
        if sz.shape != want_sz {
            return Err(OpError::new("sz", format!("shape {:?}, expected {want_sz:?} for w {:?}", sz.shape, w.shape)));
        }
        let (batch, x_cols) = match x.shape.as_slice() {
            &[c] => (1, c),
            &[b, c] => (b, c),
            s => return Err(OpError::new("x", format!("shape {s:?} is not [batch, cols] or [cols]"))),
        };
        if x_cols != cols {
            return Err(OpError::new("x", format!("has {x_cols} columns but w's rows hold {cols} weights")));
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
        let w = int4_g128::dequantize_f64(inputs[0].as_u8().expect("w is u8"), inputs[1].as_u8().expect("sz is u8"));
        let x = inputs[2].as_f32().expect("x is f32");
        let mut y = vec![0.0f32; batch * rows];
        for j in 0..batch {
            let xj = &x[j * cols..(j + 1) * cols];
            for r in 0..rows {
                let acc: f64 = w[r * cols..(r + 1) * cols].iter().zip(xj).map(|(&a, &b)| a * f64::from(b)).sum();
                y[j * rows + r] = acc as f32;
            }
        }
        vec![Tensor::f32(vec![batch, rows], y)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let (rows, cols, batch) = (dims.get("rows"), dims.get("cols"), dims.get("batch"));
        // Per-row magnitudes over two decades and per-row offsets, so scales and zero points vary.
        let mut w = Vec::with_capacity(rows * cols);
        for _ in 0..rows {
            let row_scale = 10f32.powf(rng.random_range(-1.0..1.0));
            let offset = rng.random_range(-0.5f32..0.5);
            w.extend((0..cols).map(|_| row_scale * (offset + rng.random_range(-1.0f32..1.0))));
        }
        let x: Vec<f32> = (0..batch * cols).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let (codes, sz) = int4_g128::quantize(&w, cols);
        vec![
            Tensor::u8(vec![rows, cols / 2], codes),
            Tensor::u8(vec![rows, cols / GROUP * int4_g128::GROUP_SZ_BYTES], sz),
            Tensor::f32(vec![batch, cols], x),
        ]
    }

    fn test_dims(&self) -> Vec<Dims> {
        vec![
            dims(1, 128, 1),
            dims(7, 384, 5),
            dims(7, 384, 1),
            dims(33, 1152, 8),
            dims(33, 1152, 1),
            dims(4096, 4096, 1),
        ]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        // The q4_0_gemv shapes: 8B-class attention, MLP up and down, a 4-column batch, 1B-class.
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
        // Kernels form q − z in f32 (exact for zero points of ordinary magnitude) and accumulate
        // in f32 against an f64 reference.
        Tolerance { rel_l2: 1e-5, max_abs_scaled: 1e-5 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let (rows, cols, batch) = (dims.get("rows") as u64, dims.get("cols") as u64, dims.get("batch") as u64);
        let weight_bytes = rows * cols / 2 + rows * (cols / GROUP as u64) * int4_g128::GROUP_SZ_BYTES as u64;
        Cost { bytes: weight_bytes + 4 * batch * cols + 4 * batch * rows, weight_bytes, flops: 2 * rows * cols * batch }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_matches_a_hand_computed_product() {
        // One row, codes 0..15 repeating with s = 1, z = 0: w = q; x = 1 → y = 8·(0+…+15) = 960.
        let w: Vec<f32> = (0..128).map(|i| (i % 16) as f32).collect();
        let (codes, sz) = int4_g128::quantize(&w, 128);
        let inputs =
            [Tensor::u8(vec![1, 64], codes), Tensor::u8(vec![1, 4], sz), Tensor::f32(vec![128], vec![1.0; 128])];
        let d = Int4G128Gemv.dims_of(&inputs).unwrap();
        assert_eq!(d, dims(1, 128, 1));
        assert_eq!(Int4G128Gemv.reference(&d, &inputs)[0].as_f32().unwrap(), &[960.0]);
    }

    #[test]
    fn a_scale_tensor_of_the_wrong_shape_is_rejected_naming_sz() {
        let inputs = [
            Tensor::u8(vec![2, 64], vec![0; 128]),
            Tensor::u8(vec![2, 8], vec![0; 16]),
            Tensor::f32(vec![128], vec![1.0; 128]),
        ];
        assert_eq!(Int4G128Gemv.dims_of(&inputs).unwrap_err().tensor, "sz");
    }

    #[test]
    fn a_partial_group_is_rejected_naming_w() {
        let inputs = [
            Tensor::u8(vec![1, 48], vec![0; 48]),
            Tensor::u8(vec![1, 4], vec![0; 4]),
            Tensor::f32(vec![96], vec![1.0; 96]),
        ];
        assert_eq!(Int4G128Gemv.dims_of(&inputs).unwrap_err().tensor, "w");
    }
}
