//! `q4_0_gemv_t`, `q4_1_gemv_t`, `q8_0_gemv_t`: dX = dY·W, the transposed product of a frozen
//! quantized weight matrix — the input gradient a layer passes back when an adapter is trained
//! through the frozen network (y = W·x gives dx = Wᵀ·dy).
//!
//! Layout (W as the forward GEMV and GEMM take it, GGUF bytes as they are):
//! - `w`: u8 `[rows, cols/32·B]`, each row `cols/32` blocks of B bytes (Q4_0 18, Q4_1 20, Q8_0 34);
//! - `dy`: f32 `[tokens, rows]`, one token's output gradient per row;
//! - `dx`: f32 `[tokens, cols]`, `dx[t][c] = Σ_r W[r][c]·dy[t][r]`.
//!
//! W is stored by rows, so a column of W is spread over every row: a kernel reads each row's
//! block once per group of tokens and adds weight · dy into the columns it owns. Every dx
//! element is one sum over r in row order (f32), so each backend gives one deterministic
//! result; the reference decodes W to f32 and accumulates in f64.
//!
//! Cost model: bytes = weights + dy + dx; flops = 2·tokens·rows·cols.

use rand::Rng;
use rand::rngs::StdRng;
use rayon::prelude::*;

use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, expect_dtype};
use crate::ops::quant_gemv::{random_weights, weight_shape};
use crate::quant::format::BaseFormat;
use crate::tensor::{DType, Tensor};

/// Most token rows one launch takes (a training sequence).
pub const MAX_TOKENS: usize = 4096;

/// The transposed product with weights in `.0` (Q4_0, Q4_1 or Q8_0).
pub struct QuantGemvT(pub BaseFormat);

/// `q4_0_gemv_t`.
pub const Q4_0_GEMV_T: QuantGemvT = QuantGemvT(BaseFormat::Q4_0);
/// `q4_1_gemv_t`.
pub const Q4_1_GEMV_T: QuantGemvT = QuantGemvT(BaseFormat::Q4_1);
/// `q8_0_gemv_t`.
pub const Q8_0_GEMV_T: QuantGemvT = QuantGemvT(BaseFormat::Q8_0);

/// Problem sizes of a transposed product.
pub fn dims(rows: usize, cols: usize, tokens: usize) -> Dims {
    Dims(vec![("rows", rows), ("cols", cols), ("tokens", tokens)])
}

const INPUTS_Q4_0: &[TensorSpec] = &[
    TensorSpec { name: "w", dtype: DType::U8, shape_doc: "[rows, cols/32*18] Q4_0 blocks" },
    TensorSpec { name: "dy", dtype: DType::F32, shape_doc: "[tokens, rows]" },
];
const INPUTS_Q4_1: &[TensorSpec] = &[
    TensorSpec { name: "w", dtype: DType::U8, shape_doc: "[rows, cols/32*20] Q4_1 blocks" },
    TensorSpec { name: "dy", dtype: DType::F32, shape_doc: "[tokens, rows]" },
];
const INPUTS_Q8_0: &[TensorSpec] = &[
    TensorSpec { name: "w", dtype: DType::U8, shape_doc: "[rows, cols/32*34] Q8_0 blocks" },
    TensorSpec { name: "dy", dtype: DType::F32, shape_doc: "[tokens, rows]" },
];
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "dx", dtype: DType::F32, shape_doc: "[tokens, cols]" }];

impl QuantGemvT {
    fn format(&self) -> BaseFormat {
        assert!(self.0 != BaseFormat::F16, "the transposed products take Q4_0, Q4_1 or Q8_0 weights");
        self.0
    }
}

impl Op for QuantGemvT {
    fn name(&self) -> &'static str {
        match self.format() {
            BaseFormat::Q4_0 => "q4_0_gemv_t",
            BaseFormat::Q4_1 => "q4_1_gemv_t",
            _ => "q8_0_gemv_t",
        }
    }

    fn summary(&self) -> &'static str {
        match self.format() {
            BaseFormat::Q4_0 => {
                "dX = dY·W, W in GGML Q4_0: the transposed product (input gradient), dY f32 [tokens, rows]"
            }
            BaseFormat::Q4_1 => {
                "dX = dY·W, W in GGML Q4_1: the transposed product (input gradient), dY f32 [tokens, rows]"
            }
            _ => "dX = dY·W, W in GGML Q8_0: the transposed product (input gradient), dY f32 [tokens, rows]",
        }
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        match self.format() {
            BaseFormat::Q4_0 => INPUTS_Q4_0,
            BaseFormat::Q4_1 => INPUTS_Q4_1,
            _ => INPUTS_Q8_0,
        }
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [w, dy] = inputs else {
            return Err(OpError::new("inputs", format!("expected 2 tensors (w, dy), got {}", inputs.len())));
        };
        let (rows, cols) = weight_shape(self.format(), w)?;
        expect_dtype("dy", dy, DType::F32)?;
        let &[tokens, dy_rows] = dy.shape.as_slice() else {
            return Err(OpError::new("dy", format!("shape {:?} is not 2-D [tokens, rows]", dy.shape)));
        };
        if dy_rows != rows {
            return Err(OpError::new("dy", format!("has {dy_rows} columns but w has {rows} rows")));
        }
        if !(1..=MAX_TOKENS).contains(&tokens) {
            return Err(OpError::new("dy", format!("{tokens} token rows is outside 1..={MAX_TOKENS}")));
        }
        Ok(dims(rows, cols, tokens))
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("tokens"), dims.get("cols")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let (rows, cols, tokens) = (dims.get("rows"), dims.get("cols"), dims.get("tokens"));
        let w = self.format().decode(inputs[0].as_u8().expect("w is u8"));
        let dy = inputs[1].as_f32().expect("dy is f32");
        let mut dx = vec![0.0f32; tokens * cols];
        dx.par_chunks_mut(cols).enumerate().for_each(|(t, dxt)| {
            let dyt = &dy[t * rows..(t + 1) * rows];
            let mut acc = vec![0.0f64; cols];
            for (r, &g) in dyt.iter().enumerate() {
                for (a, &wv) in acc.iter_mut().zip(&w[r * cols..(r + 1) * cols]) {
                    *a += f64::from(wv) * f64::from(g);
                }
            }
            dxt.iter_mut().zip(&acc).for_each(|(o, a)| *o = *a as f32);
        });
        vec![Tensor::f32(vec![tokens, cols], dx)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let (rows, cols, tokens) = (dims.get("rows"), dims.get("cols"), dims.get("tokens"));
        let w = random_weights(self.format(), rows, cols, rng);
        let dy: Vec<f32> = (0..tokens * rows).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        vec![w, Tensor::f32(vec![tokens, rows], dy)]
    }

    fn test_dims(&self) -> Vec<Dims> {
        // Ragged everywhere: one block, columns not a multiple of any thread group, token counts
        // off every group of four, and the embedded model's projections at a short sequence.
        vec![
            dims(1, 32, 1),
            dims(7, 96, 5),
            dims(33, 160, 9),
            dims(130, 64, 17),
            dims(5, 4160, 3),
            dims(1536, 576, 4),
            dims(576, 1536, 2),
        ]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        // The embedded model's projections over a 64-token training window (its down and its
        // gate/up transposed), and an 8B-class projection at one token and at 64.
        vec![dims(1536, 576, 64), dims(576, 1536, 64), dims(4096, 4096, 1), dims(4096, 4096, 64)]
    }

    fn tolerance(&self) -> Tolerance {
        // f32 accumulation over the rows against an f64 reference.
        Tolerance { rel_l2: 1e-5, max_abs_scaled: 1e-5 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let (rows, cols, tokens) = (dims.get("rows"), dims.get("cols"), dims.get("tokens"));
        let weight_bytes = (rows * self.format().row_bytes(cols).expect("cols fits the format")) as u64;
        let (rows, cols, tokens) = (rows as u64, cols as u64, tokens as u64);
        Cost {
            bytes: weight_bytes + 4 * tokens * rows + 4 * tokens * cols,
            weight_bytes,
            flops: 2 * tokens * rows * cols,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::q4_1;

    #[test]
    fn the_reference_is_the_transpose_of_the_product() {
        // W 2×32 in Q4_1: row 0 = 0..32, row 1 = all −1. dx = 2·row0 − 3·row1, as decoded.
        let w0: Vec<f32> = (0..32).map(|i| i as f32).collect();
        let w = q4_1::quantize(&[w0, vec![-1.0f32; 32]].concat(), 32);
        let deq = q4_1::dequantize(&w);
        let inputs = [Tensor::u8(vec![2, 20], w), Tensor::f32(vec![1, 2], vec![2.0, -3.0])];
        let d = Q4_1_GEMV_T.dims_of(&inputs).unwrap();
        assert_eq!(d, dims(2, 32, 1));
        let dx = Q4_1_GEMV_T.reference(&d, &inputs);
        for (c, got) in dx[0].as_f32().unwrap().iter().enumerate() {
            let want = 2.0 * f64::from(deq[c]) - 3.0 * f64::from(deq[32 + c]);
            assert!((f64::from(*got) - want).abs() < 1e-5, "column {c}: {got} vs {want}");
        }
    }

    #[test]
    fn bad_shapes_are_rejected_naming_the_tensor() {
        let w = Tensor::u8(vec![2, 34], vec![0; 68]);
        let dy = |t: usize, r: usize| Tensor::f32(vec![t, r], vec![1.0; t * r]);
        assert_eq!(Q8_0_GEMV_T.dims_of(&[w.clone(), dy(1, 3)]).unwrap_err().tensor, "dy");
        assert!(Q8_0_GEMV_T.dims_of(&[w.clone(), dy(MAX_TOKENS + 1, 2)]).unwrap_err().problem.contains("token rows"));
        assert_eq!(Q4_0_GEMV_T.dims_of(&[w.clone(), dy(1, 2)]).unwrap_err().tensor, "w", "34-byte rows are not Q4_0");
        assert_eq!(Q8_0_GEMV_T.dims_of(&[w, Tensor::f32(vec![2], vec![1.0; 2])]).unwrap_err().tensor, "dy");
        assert_eq!(Q8_0_GEMV_T.dims_of(&[dy(1, 2)]).unwrap_err().tensor, "inputs");
    }

    #[test]
    fn the_cost_counts_the_weights_once() {
        let c = Q4_0_GEMV_T.cost(&dims(4096, 4096, 64));
        assert_eq!(c.weight_bytes, 4096 * 128 * 18);
        assert_eq!(c.bytes, c.weight_bytes + 4 * 64 * 4096 * 2);
        assert_eq!(c.flops, 2 * 64 * 4096 * 4096);
    }
}
