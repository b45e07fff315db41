//! `q8_0_gemm` and `q4_0_gemm`: Y = X·Wᵀ with W in GGML's Q8_0 or Q4_0 format, for prefill:
//! m ≥ 1 token rows at once, f32 activations.
//!
//! Layout (GGML's `ggml_mul_mat(W, X)`):
//! - `w`: u8 `[rows, cols/32·34]` Q8_0 or `[rows, cols/32·18]` Q4_0, each row `cols/32` blocks
//!   (the GGUF bytes as they are);
//! - `x`: f32 `[m, cols]`, one token's activations per row;
//! - `y`: f32 `[m, rows]`, `y[t][r] = Σ_c W[r][c]·x[t][c]`.
//!
//! At decode (m ≤ 8) the product is memory bound and `q8_0_gemv` serves it; from a few dozen
//! tokens on, each weight byte feeds m multiply-adds and the product becomes compute bound, which
//! is where tensor cores pay. The tensor-core kernels keep the int8 codes exact (every int8 is an
//! f16), apply each block's scale to f32 partial sums, and split each activation into two f16
//! parts (hi = f16(x), lo = f16(x − hi): two MMAs instead of one, x kept to about 2^-22
//! relative), because a single f16 rounding (2^-11) is magnified by cancellation in a dot
//! product beyond any tolerance worth having. Activations must stay within f16's range
//! (|x| < 65504), as they do after a transformer's normalization.
//!
//! Cost model: bytes = weights + x + y; flops = 2·m·rows·cols.

use rand::Rng;
use rand::rngs::StdRng;

use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, expect_dtype};
use crate::ops::quant_gemv::{f64_products, random_weights, weight_shape};
use crate::quant::format::BaseFormat;
use crate::tensor::{DType, Tensor};

/// Most token rows one launch takes (a prefill chunk).
pub const MAX_M: usize = 4096;

/// The prefill product of f32 activations with weights in `.0` (Q8_0 or Q4_0).
pub struct QuantGemm(pub BaseFormat);

/// `q8_0_gemm`.
pub const Q8_0_GEMM: QuantGemm = QuantGemm(BaseFormat::Q8_0);
/// `q4_0_gemm`.
pub const Q4_0_GEMM: QuantGemm = QuantGemm(BaseFormat::Q4_0);

/// Problem sizes of a `q8_0_gemm` or `q4_0_gemm`.
pub fn dims(rows: usize, cols: usize, m: usize) -> Dims {
    Dims(vec![("rows", rows), ("cols", cols), ("m", m)])
}

const INPUTS_Q8_0: &[TensorSpec] = &[
    TensorSpec { name: "w", dtype: DType::U8, shape_doc: "[rows, cols/32*34] Q8_0 blocks" },
    TensorSpec { name: "x", dtype: DType::F32, shape_doc: "[m, cols]" },
];
const INPUTS_Q4_0: &[TensorSpec] = &[
    TensorSpec { name: "w", dtype: DType::U8, shape_doc: "[rows, cols/32*18] Q4_0 blocks" },
    TensorSpec { name: "x", dtype: DType::F32, shape_doc: "[m, cols]" },
];

impl QuantGemm {
    fn format(&self) -> BaseFormat {
        assert!(matches!(self.0, BaseFormat::Q8_0 | BaseFormat::Q4_0), "the prefill GEMMs take Q8_0 or Q4_0 weights");
        self.0
    }
}
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "y", dtype: DType::F32, shape_doc: "[m, rows]" }];

impl Op for QuantGemm {
    fn name(&self) -> &'static str {
        match self.format() {
            BaseFormat::Q4_0 => "q4_0_gemm",
            _ => "q8_0_gemm",
        }
    }

    fn summary(&self) -> &'static str {
        match self.format() {
            BaseFormat::Q4_0 => "Y = X·Wᵀ, W in GGML Q4_0, X f32 [m tokens, cols] (prefill)",
            _ => "Y = X·Wᵀ, W in GGML Q8_0, X f32 [m tokens, cols] (prefill)",
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
        let [w, x] = inputs else {
            return Err(OpError::new("inputs", format!("expected 2 tensors (w, x), got {}", inputs.len())));
        };
        let (rows, cols) = weight_shape(self.format(), w)?;
        expect_dtype("x", x, DType::F32)?;
        let row_bytes = w.shape[1];
        let &[m, x_cols] = x.shape.as_slice() else {
            return Err(OpError::new("x", format!("shape {:?} is not 2-D [m, cols]", x.shape)));
        };
        if x_cols != cols {
            return Err(OpError::new(
                "x",
                format!("has {x_cols} columns but w's rows hold {cols} weights ({row_bytes} bytes)"),
            ));
        }
        if !(1..=MAX_M).contains(&m) {
            return Err(OpError::new("x", format!("m = {m} token rows is outside 1..={MAX_M}")));
        }
        Ok(dims(rows, cols, m))
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("m"), dims.get("rows")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let (rows, cols, m) = (dims.get("rows"), dims.get("cols"), dims.get("m"));
        let w = self.format().decode(inputs[0].as_u8().expect("w is u8"));
        let x = inputs[1].as_f32().expect("x is f32");
        vec![Tensor::f32(vec![m, rows], f64_products(&w, x, rows, cols, m))]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let (rows, cols, m) = (dims.get("rows"), dims.get("cols"), dims.get("m"));
        let w = random_weights(self.format(), rows, cols, rng);
        let x: Vec<f32> = (0..m * cols).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        vec![w, Tensor::f32(vec![m, cols], x)]
    }

    fn test_dims(&self) -> Vec<Dims> {
        // Ragged in every direction: rows and m not multiples of any tile, one or many blocks.
        vec![dims(1, 32, 1), dims(17, 64, 9), dims(70, 160, 33), dims(130, 96, 40), dims(256, 512, 64)]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        // 8B-class attention (4096×4096) and MLP up (14336×4096) at prefill chunks of 16 to 512
        // tokens, and a 1B-class projection.
        vec![
            dims(4096, 4096, 16),
            dims(4096, 4096, 128),
            dims(4096, 4096, 512),
            dims(14336, 4096, 512),
            dims(2048, 2048, 512),
        ]
    }

    fn tolerance(&self) -> Tolerance {
        // f32 accumulation, and activations split into two f16 parts on tensor cores (about
        // 2^-22 relative each): well inside 1e-4, with room for cancellation in short rows.
        Tolerance { rel_l2: 1e-4, max_abs_scaled: 1e-4 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let (rows, cols, m) = (dims.get("rows"), dims.get("cols"), dims.get("m"));
        let weight_bytes = (rows * self.format().row_bytes(cols).expect("cols fits the format")) as u64;
        let (rows, cols, m) = (rows as u64, cols as u64, m as u64);
        Cost { bytes: weight_bytes + 4 * m * cols + 4 * m * rows, weight_bytes, flops: 2 * rows * cols * m }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::rng_for;

    #[test]
    fn the_reference_agrees_with_the_gemv_reference_row_by_row() {
        let d = dims(9, 96, 3);
        let gd = crate::ops::q8_0_gemv::dims(9, 96, 3);
        let inputs = Q8_0_GEMM.random_inputs(&d, &mut rng_for(7, 0));
        let y = Q8_0_GEMM.reference(&d, &inputs);
        let want = crate::ops::q8_0_gemv::Q8_0Gemv.reference(&gd, &inputs);
        assert_eq!(y[0].as_f32(), want[0].as_f32());
        let inputs = Q4_0_GEMM.random_inputs(&d, &mut rng_for(7, 1));
        assert_eq!(inputs[0].shape, vec![9, 3 * 18]);
        let y = Q4_0_GEMM.reference(&d, &inputs);
        let want = crate::ops::q4_0_gemv::Q4_0Gemv.reference(&gd, &inputs);
        assert_eq!(y[0].as_f32(), want[0].as_f32());
    }

    #[test]
    fn shape_errors_name_the_tensor() {
        let w = Tensor::u8(vec![2, 34], vec![1; 68]);
        let e = Q8_0_GEMM.dims_of(&[w.clone(), Tensor::f32(vec![3, 64], vec![1.0; 192])]).unwrap_err();
        assert_eq!(e.tensor, "x");
        let e = Q8_0_GEMM.dims_of(&[w.clone(), Tensor::f32(vec![32], vec![1.0; 32])]).unwrap_err();
        assert!(e.problem.contains("not 2-D"), "{}", e.problem);
        // A Q8_0 row is not whole Q4_0 blocks (34 is not a multiple of 18).
        let e = Q4_0_GEMM.dims_of(&[w, Tensor::f32(vec![1, 32], vec![1.0; 32])]).unwrap_err();
        assert_eq!(e.tensor, "w");
        assert!(e.problem.contains("18-byte Q4_0"), "{}", e.problem);
    }
}
