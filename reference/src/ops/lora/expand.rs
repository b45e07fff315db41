//! `lora_expand`: y_out = y + s·B·t, the second half of an adapter (rank r back up to n).
//!
//! Layout: `b` f32 `[n, rank]`, `t` f32 `[tokens, rank]`, `y` f32 `[tokens, n]`, `scale` f32
//! `[1]`; `y_out[j][o] = y[j][o] + s·Σ_i B[o][i]·t[j][i]`.
//!
//! Cost model: bytes = B + t + y + y_out; flops = 2·n·rank·tokens + 2·n·tokens.

use rand::rngs::StdRng;

use super::{MAX_TOKENS, check_rank, check_tokens, f32_matrix, f32_vector, matmul_t_f64, token_rows, uniform, widen};
use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec};
use crate::tensor::{DType, Tensor};

/// The `lora_expand` op.
pub struct LoraExpand;

/// Problem sizes of a `lora_expand`.
pub fn dims(n: usize, rank: usize, tokens: usize) -> Dims {
    Dims(vec![("n", n), ("rank", rank), ("tokens", tokens)])
}

const INPUTS: &[TensorSpec] = &[
    TensorSpec { name: "b", dtype: DType::F32, shape_doc: "[n, rank]" },
    TensorSpec { name: "t", dtype: DType::F32, shape_doc: "[tokens, rank]" },
    TensorSpec { name: "y", dtype: DType::F32, shape_doc: "[tokens, n]" },
    TensorSpec { name: "scale", dtype: DType::F32, shape_doc: "[1]" },
];
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "y_out", dtype: DType::F32, shape_doc: "[tokens, n]" }];

impl Op for LoraExpand {
    fn name(&self) -> &'static str {
        "lora_expand"
    }

    fn summary(&self) -> &'static str {
        "y_out[j] = y[j] + s·B·t[j], B f32 [n, rank]: an adapter's expand"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [b, t, y, scale] = inputs else {
            return Err(OpError::new("inputs", format!("expected 4 tensors (b, t, y, scale), got {}", inputs.len())));
        };
        let (n, rank) = f32_matrix("b", b)?;
        check_rank("b", rank, false)?;
        if n == 0 {
            return Err(OpError::new("b", "has no rows (n = 0)"));
        }
        let tokens = token_rows("t", t, rank, "rank")?;
        check_tokens("t", tokens, MAX_TOKENS)?;
        let y_tokens = token_rows("y", y, n, "n")?;
        if y_tokens != tokens {
            return Err(OpError::new("y", format!("has {y_tokens} tokens but t has {tokens}")));
        }
        f32_vector("scale", scale, 1)?;
        Ok(dims(n, rank, tokens))
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("tokens"), dims.get("n")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let (n, rank, tokens) = (dims.get("n"), dims.get("rank"), dims.get("tokens"));
        let b = inputs[0].as_f32().expect("b is f32");
        let t = widen(inputs[1].as_f32().expect("t is f32"));
        let y = inputs[2].as_f32().expect("y is f32");
        let s = f64::from(inputs[3].as_f32().expect("scale is f32")[0]);
        let bt = matmul_t_f64(b, &t, n, rank);
        let out = y.iter().zip(&bt).map(|(&y, &d)| (f64::from(y) + s * d) as f32).collect();
        vec![Tensor::f32(vec![tokens, n], out)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let (n, rank, tokens) = (dims.get("n"), dims.get("rank"), dims.get("tokens"));
        vec![
            Tensor::f32(vec![n, rank], uniform(rng, n * rank, 0.1)),
            Tensor::f32(vec![tokens, rank], uniform(rng, tokens * rank, 1.0)),
            Tensor::f32(vec![tokens, n], uniform(rng, tokens * n, 1.0)),
            Tensor::f32(vec![1], vec![super::stacked::random_scale(rng)]),
        ]
    }

    fn test_dims(&self) -> Vec<Dims> {
        vec![dims(1, 1, 1), dims(33, 4, 3), dims(100, 8, 1), dims(4096, 16, 1), dims(1027, 32, 7), dims(515, 128, 5)]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        vec![dims(4096, 16, 1), dims(4096, 64, 1), dims(14336, 16, 1), dims(4096, 16, 128)]
    }

    fn tolerance(&self) -> Tolerance {
        Tolerance { rel_l2: 1e-5, max_abs_scaled: 1e-5 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let (n, rank, tokens) = (dims.get("n") as u64, dims.get("rank") as u64, dims.get("tokens") as u64);
        let weight_bytes = 4 * n * rank;
        Cost {
            bytes: weight_bytes + 4 * tokens * (rank + 2 * n),
            weight_bytes,
            flops: 2 * n * rank * tokens + 2 * n * tokens,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_adds_the_scaled_product_to_y() {
        let b = Tensor::f32(vec![2, 1], vec![1.0, -2.0]);
        let t = Tensor::f32(vec![1, 1], vec![3.0]);
        let y = Tensor::f32(vec![1, 2], vec![0.5, 0.25]);
        let inputs = [b, t, y, Tensor::f32(vec![1], vec![0.5])];
        let d = LoraExpand.dims_of(&inputs).unwrap();
        assert_eq!(LoraExpand.reference(&d, &inputs)[0].as_f32().unwrap(), &[2.0, -2.75]);
    }

    #[test]
    fn a_rank_mismatch_between_b_and_t_is_rejected_naming_t() {
        let inputs = [
            Tensor::f32(vec![4, 8], vec![1.0; 32]),
            Tensor::f32(vec![1, 16], vec![1.0; 16]),
            Tensor::f32(vec![1, 4], vec![1.0; 4]),
            Tensor::f32(vec![1], vec![1.0]),
        ];
        let e = LoraExpand.dims_of(&inputs).unwrap_err();
        assert_eq!(e.tensor, "t");
        assert!(e.problem.contains("rank is 8"), "{e}");
    }
}
