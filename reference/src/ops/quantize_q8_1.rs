//! `quantize_q8_1`: activations to GGML's Q8_1 blocks, the first step of the int8 path
//! (`q8_0_q8_1_gemm`, `q4_0_q8_1_gemm` take its output).
//!
//! Per block of 32 values, exactly as GGML's `quantize_row_q8_1_ref` (and
//! [`crate::quant::q8_1::block`]): `d = max|x| / 127` in f32, `id = 1/d` (0 when d = 0),
//! `q = round(x · id)` with halves away from zero, stored as f16 `d`, f16 `s = f16(d·Σq)` and 32
//! int8. Every step is one correctly rounded f32 operation, so the bytes are the same on every
//! backend: compared exactly. (The WGSL kernel divides in integers, since WGSL's `/` is not
//! correctly rounded, and converts to f16 in integers, since `pack2x16float` leaves the
//! rounding to the device; both assume a block's max |x| of at least 127·2^-126, i.e. normal
//! scales. A block holding an infinity has d = ∞ and s a NaN whose payload bits may differ
//! between backends.)
//!
//! Layout: `x` f32 `[m, cols]`, `xq` u8 `[m, cols/32·36]`. Cost model: bytes = 4·m·cols read +
//! 36·m·cols/32 written; operations ≈ 4·m·cols.

use rand::Rng;
use rand::rngs::StdRng;

use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, expect_dtype};
use crate::ops::q8_0_gemm::MAX_M;
use crate::quant::q8_1::{self, BLOCK_BYTES, BLOCK_VALUES};
use crate::tensor::{DType, Tensor};

/// The `quantize_q8_1` op.
pub struct QuantizeQ8_1;

/// Problem sizes of a `quantize_q8_1`.
pub fn dims(cols: usize, m: usize) -> Dims {
    Dims(vec![("cols", cols), ("m", m)])
}

const INPUTS: &[TensorSpec] = &[TensorSpec { name: "x", dtype: DType::F32, shape_doc: "[m, cols]" }];
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "xq", dtype: DType::U8, shape_doc: "[m, cols/32*36] Q8_1 blocks" }];

impl Op for QuantizeQ8_1 {
    fn name(&self) -> &'static str {
        "quantize_q8_1"
    }

    fn summary(&self) -> &'static str {
        "xq = Q8_1(x): per 32 activations an f16 scale, an f16 d·Σq and 32 int8 (GGML's quantize_q8_1)"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [x] = inputs else {
            return Err(OpError::new("inputs", format!("expected 1 tensor (x), got {}", inputs.len())));
        };
        expect_dtype("x", x, DType::F32)?;
        let &[m, cols] = x.shape.as_slice() else {
            return Err(OpError::new("x", format!("shape {:?} is not 2-D [m, cols]", x.shape)));
        };
        if cols == 0 || !cols.is_multiple_of(BLOCK_VALUES) {
            return Err(OpError::new("x", format!("{cols} columns are not a positive multiple of 32")));
        }
        if !(1..=MAX_M).contains(&m) {
            return Err(OpError::new("x", format!("m = {m} token rows is outside 1..={MAX_M}")));
        }
        Ok(dims(cols, m))
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("m"), dims.get("cols") / BLOCK_VALUES * BLOCK_BYTES]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let x = inputs[0].as_f32().expect("x is f32");
        let mut out = vec![0u8; x.len() / BLOCK_VALUES * BLOCK_BYTES];
        for (xb, ob) in x.chunks_exact(BLOCK_VALUES).zip(out.chunks_exact_mut(BLOCK_BYTES)) {
            q8_1::block(xb, ob);
        }
        vec![Tensor::u8(self.output_shapes(dims).remove(0), out)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let (cols, m) = (dims.get("cols"), dims.get("m"));
        let mut x = Vec::with_capacity(m * cols);
        for t in 0..m {
            // Row magnitudes over six decades: scales from f16 subnormals (d < 2^-14) to large.
            let row_scale = 10f32.powf(rng.random_range(-4.0..2.0));
            let start = x.len();
            x.extend((0..cols).map(|_| row_scale * rng.random_range(-1.0f32..1.0)));
            if t % 3 == 0 {
                // A block of exact ties: max 127·2^k makes d = 2^k, so (j + 1/2)·2^k lands on
                // a half and must round away from zero.
                let k = rng.random_range(-20..8);
                let unit = 2f32.powi(k);
                for (j, v) in x[start..start + BLOCK_VALUES].iter_mut().enumerate() {
                    *v = if j == 0 { 127.0 * unit } else { (j as f32 - 16.0 + 0.5) * unit };
                }
            }
        }
        vec![Tensor::f32(vec![m, cols], x)]
    }

    fn test_dims(&self) -> Vec<Dims> {
        vec![dims(32, 1), dims(64, 3), dims(96, 7), dims(4160, 2), dims(512, 33)]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        // One decode token of an 8B-class model (attention and MLP-down inputs), and prefill.
        vec![dims(4096, 1), dims(14336, 1), dims(4096, 512)]
    }

    fn tolerance(&self) -> Tolerance {
        // The output is bytes, compared exactly; this applies to no output.
        Tolerance { rel_l2: 0.0, max_abs_scaled: 0.0 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let n = (dims.get("cols") * dims.get("m")) as u64;
        Cost { bytes: 4 * n + n / 32 * 36, weight_bytes: 0, flops: 4 * n }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::rng_for;

    #[test]
    fn the_random_inputs_hold_exact_ties_that_round_away_from_zero() {
        let d = dims(64, 1);
        let inputs = QuantizeQ8_1.random_inputs(&d, &mut rng_for(41, 0));
        let out = QuantizeQ8_1.reference(&d, &inputs);
        let b = out[0].as_u8().unwrap();
        // Block 0: codes 127, then j − 16 + 1/2 rounded away from zero.
        assert_eq!(b[4] as i8, 127);
        assert_eq!(b[5] as i8, -15); // −14.5
        assert_eq!(b[4 + 16] as i8, 1); // 0.5
        assert_eq!(b[4 + 31] as i8, 16); // 15.5
    }

    #[test]
    fn columns_not_whole_blocks_are_rejected_naming_x() {
        let e = QuantizeQ8_1.dims_of(&[Tensor::f32(vec![2, 48], vec![1.0; 96])]).unwrap_err();
        assert_eq!(e.tensor, "x");
        assert!(e.problem.contains("48 columns"), "{}", e.problem);
        let e = QuantizeQ8_1.dims_of(&[Tensor::f32(vec![32], vec![1.0; 32])]).unwrap_err();
        assert!(e.problem.contains("not 2-D"), "{}", e.problem);
    }
}
