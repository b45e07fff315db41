//! `lora_shrink`: t = A·x, the first half of an adapter (k wide activations down to rank r).
//!
//! Layout: `a` f32 `[rank, k]`, `x` f32 `[tokens, k]` (or `[k]`), `t` f32 `[tokens, rank]`,
//! `t[j][i] = Σ_c A[i][c]·x[j][c]`.
//!
//! Cost model: bytes = A + x + t; flops = 2·rank·k·tokens. At decode A is read once per token,
//! so the shrink is memory bound like the base GEMV, on a matrix r/n of its size in f32.

use rand::rngs::StdRng;

use super::{MAX_TOKENS, check_rank, check_tokens, f32_matrix, matmul_t_f64, token_rows, uniform, widen};
use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec};
use crate::tensor::{DType, Tensor};

/// The `lora_shrink` op.
pub struct LoraShrink;

/// Problem sizes of a `lora_shrink`.
pub fn dims(rank: usize, k: usize, tokens: usize) -> Dims {
    Dims(vec![("rank", rank), ("k", k), ("tokens", tokens)])
}

const INPUTS: &[TensorSpec] = &[
    TensorSpec { name: "a", dtype: DType::F32, shape_doc: "[rank, k]" },
    TensorSpec { name: "x", dtype: DType::F32, shape_doc: "[tokens, k] or [k]" },
];
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "t", dtype: DType::F32, shape_doc: "[tokens, rank]" }];

impl Op for LoraShrink {
    fn name(&self) -> &'static str {
        "lora_shrink"
    }

    fn summary(&self) -> &'static str {
        "t[j] = A·x[j], A f32 [rank, k]: an adapter's shrink"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [a, x] = inputs else {
            return Err(OpError::new("inputs", format!("expected 2 tensors (a, x), got {}", inputs.len())));
        };
        let (rank, k) = f32_matrix("a", a)?;
        check_rank("a", rank, false)?;
        if k == 0 {
            return Err(OpError::new("a", "has no columns (k = 0)"));
        }
        let tokens = token_rows("x", x, k, "k")?;
        check_tokens("x", tokens, MAX_TOKENS)?;
        Ok(dims(rank, k, tokens))
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("tokens"), dims.get("rank")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let (rank, k, tokens) = (dims.get("rank"), dims.get("k"), dims.get("tokens"));
        let a = inputs[0].as_f32().expect("a is f32");
        let x = widen(inputs[1].as_f32().expect("x is f32"));
        let t = matmul_t_f64(a, &x, rank, k);
        vec![Tensor::f32(vec![tokens, rank], t.iter().map(|&v| v as f32).collect())]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let (rank, k, tokens) = (dims.get("rank"), dims.get("k"), dims.get("tokens"));
        vec![
            Tensor::f32(vec![rank, k], uniform(rng, rank * k, 1.0 / (k as f32).sqrt())),
            Tensor::f32(vec![tokens, k], uniform(rng, tokens * k, 1.0)),
        ]
    }

    fn test_dims(&self) -> Vec<Dims> {
        // Smallest, ragged k (not a multiple of 4 or 32), every issue rank, a prefill batch.
        vec![
            dims(1, 1, 1),
            dims(4, 33, 3),
            dims(8, 100, 1),
            dims(16, 4096, 1),
            dims(32, 1027, 7),
            dims(64, 515, 17),
            dims(128, 2048, 2),
        ]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        vec![dims(16, 4096, 1), dims(64, 4096, 1), dims(16, 14336, 1), dims(16, 4096, 128)]
    }

    fn tolerance(&self) -> Tolerance {
        Tolerance { rel_l2: 1e-5, max_abs_scaled: 1e-5 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let (rank, k, tokens) = (dims.get("rank") as u64, dims.get("k") as u64, dims.get("tokens") as u64);
        let weight_bytes = 4 * rank * k;
        Cost { bytes: weight_bytes + 4 * tokens * (k + rank), weight_bytes, flops: 2 * rank * k * tokens }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_is_a_plain_product() {
        let a = Tensor::f32(vec![2, 3], vec![1.0, 2.0, 3.0, -1.0, 0.5, 0.0]);
        let x = Tensor::f32(vec![2, 3], vec![1.0, 1.0, 1.0, 2.0, 0.0, -1.0]);
        let inputs = [a, x];
        let d = LoraShrink.dims_of(&inputs).unwrap();
        assert_eq!(d, dims(2, 3, 2));
        let t = LoraShrink.reference(&d, &inputs);
        assert_eq!(t[0].as_f32().unwrap(), &[6.0, -0.5, -1.0, -2.0]);
    }

    #[test]
    fn a_width_mismatch_is_rejected_naming_x() {
        let inputs = [Tensor::f32(vec![4, 8], vec![1.0; 32]), Tensor::f32(vec![1, 9], vec![1.0; 9])];
        let e = LoraShrink.dims_of(&inputs).unwrap_err();
        assert_eq!(e.tensor, "x");
        assert!(e.problem.contains("width 9"), "{e}");
    }

    #[test]
    fn a_rank_above_the_limit_is_rejected_naming_a() {
        let inputs = [Tensor::f32(vec![257, 1], vec![1.0; 257]), Tensor::f32(vec![1], vec![1.0])];
        assert_eq!(LoraShrink.dims_of(&inputs).unwrap_err().tensor, "a");
    }
}
