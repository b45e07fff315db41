//! `bgmv`: batched gather matrix-vector — each token of a decode batch applies its own adapter,
//! chosen by index from a stack (Punica's BGMV): y_out[t] = y[t] + s_i·B_i·(A_i·x[t]) with
//! i = idx[t], or y_out[t] = y[t] where idx[t] = −1.
//!
//! Layout: `x` f32 `[tokens, k]`, `a` f32 `[adapters, rank, k]`, `b` f32 `[adapters, n, rank]`,
//! `scales` f32 `[adapters]`, `idx` u32 `[tokens]` (−1 stored as `0xFFFFFFFF`), `y` f32
//! `[tokens, n]`; output `y_out` f32 `[tokens, n]`. Every index is checked before any launch.
//!
//! Dims carry `distinct` (adapters the batch uses) and `bare` (tokens without one), both derived
//! from `idx`, because they set the bytes a kernel must read.
//!
//! Cost model: bytes = the distinct adapters' A and B once + x + y + y_out + idx; flops =
//! 2·rank·(k + n) per token with an adapter. A batch of 32 tokens with 32 distinct rank-16
//! adapters over 4096×4096 reads 16.8 MB of adapters against 0.5 MB with one shared adapter: the
//! kernel's job is to stay at bandwidth in both cases.

use rand::Rng;
use rand::rngs::StdRng;

use super::NO_ADAPTER;
use super::stacked::{self, StackShape, check_index, distinct_indices};
use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, expect_dtype};
use crate::tensor::{DType, Tensor};

/// The `bgmv` op.
pub struct Bgmv;

/// Problem sizes of a `bgmv`.
pub fn dims(tokens: usize, k: usize, n: usize, rank: usize, adapters: usize, distinct: usize, bare: usize) -> Dims {
    Dims(vec![
        ("tokens", tokens),
        ("k", k),
        ("n", n),
        ("rank", rank),
        ("adapters", adapters),
        ("distinct", distinct),
        ("bare", bare),
    ])
}

const INPUTS: &[TensorSpec] = &[
    TensorSpec { name: "x", dtype: DType::F32, shape_doc: "[tokens, k]" },
    TensorSpec { name: "a", dtype: DType::F32, shape_doc: "[adapters, rank, k]" },
    TensorSpec { name: "b", dtype: DType::F32, shape_doc: "[adapters, n, rank]" },
    TensorSpec { name: "scales", dtype: DType::F32, shape_doc: "[adapters]" },
    TensorSpec { name: "idx", dtype: DType::U32, shape_doc: "[tokens], 0xFFFFFFFF = none" },
    TensorSpec { name: "y", dtype: DType::F32, shape_doc: "[tokens, n]" },
];
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "y_out", dtype: DType::F32, shape_doc: "[tokens, n]" }];

fn shape_of(d: &Dims) -> StackShape {
    StackShape {
        tokens: d.get("tokens"),
        k: d.get("k"),
        n: d.get("n"),
        rank: d.get("rank"),
        adapters: d.get("adapters"),
    }
}

impl Op for Bgmv {
    fn name(&self) -> &'static str {
        "bgmv"
    }

    fn summary(&self) -> &'static str {
        "y_out[t] = y[t] + s_i·B_i·(A_i·x[t]), i = idx[t] per token (−1: none): many adapters in one decode batch"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [x, a, b, scales, idx, y] = inputs else {
            return Err(OpError::new(
                "inputs",
                format!("expected 6 tensors (x, a, b, scales, idx, y), got {}", inputs.len()),
            ));
        };
        let s = stacked::check(x, a, b, scales, y)?;
        expect_dtype("idx", idx, DType::U32)?;
        if idx.shape != [s.tokens] {
            return Err(OpError::new(
                "idx",
                format!("shape {:?} is not [{}] (one index a token)", idx.shape, s.tokens),
            ));
        }
        let idx = idx.as_u32().expect("checked u32");
        let mut used = vec![false; s.adapters];
        let mut bare = 0;
        for (t, &i) in idx.iter().enumerate() {
            check_index("idx", &format!("token {t}"), i, s.adapters)?;
            match i {
                NO_ADAPTER => bare += 1,
                i => used[i as usize] = true,
            }
        }
        let distinct = used.iter().filter(|&&u| u).count();
        Ok(dims(s.tokens, s.k, s.n, s.rank, s.adapters, distinct, bare))
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("tokens"), dims.get("n")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let s = shape_of(dims);
        let f = |i: usize| inputs[i].as_f32().expect("f32 input");
        let idx = inputs[4].as_u32().expect("idx is u32");
        let out = stacked::apply(s, [f(0), f(1), f(2), f(3)], f(5), |t| idx[t]);
        vec![Tensor::f32(vec![s.tokens, s.n], out)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let s = shape_of(dims);
        let (distinct, bare) = (dims.get("distinct"), dims.get("bare"));
        assert!(distinct + bare <= s.tokens && distinct <= s.adapters, "bgmv dims: {dims}");
        assert!(distinct > 0 || bare == s.tokens, "bgmv dims: tokens need an adapter: {dims}");
        let [x, a, b, scales, y] = stacked::random_operands(s, rng);
        // Each chosen adapter once, the rest drawn among them, `bare` tokens without; shuffled.
        let chosen = distinct_indices(rng, s.adapters, distinct);
        let mut idx: Vec<u32> = chosen.clone();
        idx.extend((distinct..s.tokens - bare).map(|_| chosen[rng.random_range(0..distinct)]));
        idx.extend(std::iter::repeat_n(NO_ADAPTER, bare));
        for i in (1..idx.len()).rev() {
            idx.swap(i, rng.random_range(0..=i));
        }
        vec![x, a, b, scales, Tensor::u32(vec![s.tokens], idx), y]
    }

    fn test_dims(&self) -> Vec<Dims> {
        vec![
            dims(1, 1, 1, 1, 1, 1, 0),
            dims(5, 33, 17, 4, 3, 2, 1),
            dims(8, 100, 64, 16, 8, 8, 0),
            dims(4, 64, 32, 8, 2, 0, 4),
            dims(32, 512, 300, 8, 64, 32, 0),
            dims(3, 1031, 129, 128, 2, 2, 1),
            dims(2, 4096, 4096, 16, 2, 1, 1),
        ]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        // The bar: 32 tokens of 32 distinct rank-16 adapters against the same batch on one
        // shared adapter (same stack of 32), 4096 → 4096; then a 64-adapter batch.
        vec![
            dims(32, 4096, 4096, 16, 32, 32, 0),
            dims(32, 4096, 4096, 16, 32, 1, 0),
            dims(64, 4096, 4096, 16, 64, 64, 0),
        ]
    }

    fn tolerance(&self) -> Tolerance {
        Tolerance { rel_l2: 1e-5, max_abs_scaled: 1e-5 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let g = |name| dims.get(name) as u64;
        let (tokens, k, n, rank) = (g("tokens"), g("k"), g("n"), g("rank"));
        let weight_bytes = 4 * g("distinct") * rank * (k + n);
        Cost {
            bytes: weight_bytes + 4 * tokens * (k + 2 * n + 1) + 4 * g("adapters"),
            weight_bytes,
            flops: 2 * rank * (k + n) * (tokens - g("bare")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::rng_for;

    #[test]
    fn random_inputs_use_exactly_the_distinct_and_bare_counts_of_the_dims() {
        for d in Bgmv.test_dims().into_iter().chain(Bgmv.bench_dims()) {
            let inputs = Bgmv.random_inputs(&d, &mut rng_for(3, 0));
            assert_eq!(Bgmv.dims_of(&inputs).unwrap(), d);
        }
    }

    #[test]
    fn a_token_without_an_adapter_keeps_its_y() {
        let d = dims(4, 64, 32, 8, 2, 0, 4);
        let inputs = Bgmv.random_inputs(&d, &mut rng_for(1, 0));
        let out = Bgmv.reference(&d, &inputs);
        assert_eq!(out[0].as_f32().unwrap(), inputs[5].as_f32().unwrap());
    }

    #[test]
    fn an_index_out_of_range_is_rejected_naming_the_token() {
        let d = dims(3, 8, 4, 2, 2, 2, 0);
        let mut inputs = Bgmv.random_inputs(&d, &mut rng_for(1, 0));
        inputs[4] = Tensor::u32(vec![3], vec![0, 2, 1]);
        let e = Bgmv.dims_of(&inputs).unwrap_err();
        assert_eq!(e.tensor, "idx");
        assert!(e.problem.contains("token 1 has adapter index 2"), "{e}");
    }

    #[test]
    fn a_rank_mismatch_between_a_and_b_is_rejected_naming_b() {
        let d = dims(3, 8, 4, 2, 2, 2, 0);
        let mut inputs = Bgmv.random_inputs(&d, &mut rng_for(1, 0));
        inputs[2] = Tensor::f32(vec![2, 4, 3], vec![0.5; 24]);
        let e = Bgmv.dims_of(&inputs).unwrap_err();
        assert_eq!(e.tensor, "b");
        assert!(e.problem.contains("rank 3"), "{e}");
    }
}
