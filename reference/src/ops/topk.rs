//! `topk`: the exact k largest magnitudes of an f32 vector, with their indices — the sparsifier
//! of top-k signal compression and the heavy-hitter step of count-sketch decoding.
//!
//! - Inputs: `g` f32 `[n]`, `k` u32 `[1]` with 1 ≤ k ≤ n.
//! - Outputs: `indices` u32 `[k]` and `values` f32 `[k]` (`values[j] = g[indices[j]]`, sign
//!   and bits kept).
//!
//! Order (a total order, so every backend returns the same bits): coordinate i ranks by its
//! **magnitude key** `bits(g[i]) & 0x7FFF_FFFF` (the f32 bits without the sign, which order
//! non-negative floats like the floats themselves), larger first; equal keys (e.g. +x and −x,
//! or +0 and −0) rank by smaller index first. `indices` lists the first k in that order.
//!
//! NaN: a NaN's magnitude key is above +inf's (0x7F80_0000), so NaNs rank as the largest
//! magnitudes (by payload, then index) and are returned rather than silently dropped: a NaN in a
//! learning signal is a bug upstream that top-k must not hide. The test matrix compares values
//! as f32, where NaN never passes, so NaN inputs are tested by unit tests here and in the CPU
//! kernel, not by the matrix.
//!
//! Cost model: bytes = 4·n read + 8·k written + 4; ops = n (one key comparison a coordinate).

use rand::Rng;
use rand::rngs::StdRng;

use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, expect_dtype};
use crate::tensor::{DType, Tensor};

/// The `topk` op.
pub struct TopK;

/// Problem sizes: the k largest of n.
pub fn dims(n: usize, k: usize) -> Dims {
    Dims(vec![("n", n), ("k", k)])
}

/// The magnitude key of `x`: its bits with the sign cleared (NaNs above +inf).
#[inline(always)]
pub fn magnitude_key(x: f32) -> u32 {
    x.to_bits() & 0x7FFF_FFFF
}

const INPUTS: &[TensorSpec] = &[
    TensorSpec { name: "g", dtype: DType::F32, shape_doc: "[n]" },
    TensorSpec { name: "k", dtype: DType::U32, shape_doc: "[1], 1 <= k <= n" },
];
const OUTPUTS: &[TensorSpec] = &[
    TensorSpec { name: "indices", dtype: DType::U32, shape_doc: "[k] by descending |g|, ties by smaller index" },
    TensorSpec { name: "values", dtype: DType::F32, shape_doc: "[k] g[indices]" },
];

impl Op for TopK {
    fn name(&self) -> &'static str {
        "topk"
    }

    fn summary(&self) -> &'static str {
        "k largest |g[i]| with indices; order by |g| bits descending, ties by smaller index"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [g, k] = inputs else {
            return Err(OpError::new("inputs", format!("expected 2 tensors (g, k), got {}", inputs.len())));
        };
        expect_dtype("g", g, DType::F32)?;
        expect_dtype("k", k, DType::U32)?;
        let n = match g.shape.as_slice() {
            &[n] if n > 0 && n <= u32::MAX as usize => n,
            s => return Err(OpError::new("g", format!("shape {s:?} is not a non-empty [n] with n < 2^32"))),
        };
        if k.shape != [1] {
            return Err(OpError::new("k", format!("shape {:?} is not [1]", k.shape)));
        }
        let kv = k.as_u32().expect("k is u32")[0] as usize;
        if kv == 0 || kv > n {
            return Err(OpError::new("k", format!("k = {kv} is not in 1..={n} (the length of g)")));
        }
        Ok(dims(n, kv))
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("k")], vec![dims.get("k")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let k = dims.get("k");
        let g = inputs[0].as_f32().expect("g is f32");
        // Sort every index by (key descending, index ascending) and keep the first k.
        let mut order: Vec<u32> = (0..g.len() as u32).collect();
        order.sort_by(|&a, &b| magnitude_key(g[b as usize]).cmp(&magnitude_key(g[a as usize])).then(a.cmp(&b)));
        order.truncate(k);
        let values = order.iter().map(|&i| g[i as usize]).collect();
        vec![Tensor::u32(vec![k], order), Tensor::f32(vec![k], values)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        // Multiples of 1/64 in (−4, 4) with random signs: many equal magnitudes, +x against −x
        // and a few zeros, so the tie rule decides a good part of every answer.
        let n = dims.get("n");
        let g = (0..n).map(|_| rng.random_range(-255i32..=255) as f32 / 64.0).collect();
        vec![Tensor::f32(vec![n], g), Tensor::u32(vec![1], vec![dims.get("k") as u32])]
    }

    fn test_dims(&self) -> Vec<Dims> {
        vec![dims(1, 1), dims(5, 5), dims(1000, 7), dims(4097, 4097), dims(65_537, 300), dims(300_001, 5000)]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        // 1 % of a 64 MiB signal; 0.1 % of a 4 MiB one.
        vec![dims(1 << 24, 1 << 14), dims(1 << 20, 1024)]
    }

    fn tolerance(&self) -> Tolerance {
        // Indices are compared bit for bit; values are copies of inputs, so they must be equal too.
        Tolerance { rel_l2: 0.0, max_abs_scaled: 0.0 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let (n, k) = (dims.get("n") as u64, dims.get("k") as u64);
        Cost { bytes: 4 * n + 8 * k + 4, weight_bytes: 0, flops: n }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(g: Vec<f32>, k: u32) -> (Vec<u32>, Vec<f32>) {
        let inputs = [Tensor::f32(vec![g.len()], g), Tensor::u32(vec![1], vec![k])];
        let d = TopK.dims_of(&inputs).expect("valid");
        let out = TopK.reference(&d, &inputs);
        (out[0].as_u32().unwrap().to_vec(), out[1].as_f32().unwrap().to_vec())
    }

    #[test]
    fn equal_magnitudes_rank_by_smaller_index_whatever_their_sign() {
        let (idx, val) = run(vec![1.0, -3.0, 3.0, -0.0, 0.0, -3.0, 2.0], 5);
        assert_eq!(idx, vec![1, 2, 5, 6, 0]);
        assert_eq!(val, vec![-3.0, 3.0, -3.0, 2.0, 1.0]);
        let (idx, _) = run(vec![0.0, -0.0, 0.0], 3);
        assert_eq!(idx, vec![0, 1, 2]);
    }

    #[test]
    fn nan_ranks_above_infinity_and_is_returned() {
        let (idx, val) = run(vec![1.0, f32::NEG_INFINITY, f32::NAN, 5.0], 3);
        assert_eq!(idx, vec![2, 1, 3]);
        assert!(val[0].is_nan());
        assert_eq!(val[1], f32::NEG_INFINITY);
    }

    #[test]
    fn k_above_n_or_zero_is_rejected_naming_k() {
        for k in [0, 4] {
            let inputs = [Tensor::f32(vec![3], vec![1.0; 3]), Tensor::u32(vec![1], vec![k])];
            assert_eq!(TopK.dims_of(&inputs).unwrap_err().tensor, "k");
        }
    }

    #[test]
    fn a_wrong_dtype_or_shape_names_the_tensor() {
        let bad_g = [Tensor::u32(vec![3], vec![1; 3]), Tensor::u32(vec![1], vec![1])];
        assert_eq!(TopK.dims_of(&bad_g).unwrap_err().tensor, "g");
        let bad_k = [Tensor::f32(vec![3], vec![1.0; 3]), Tensor::u32(vec![2], vec![1, 1])];
        assert_eq!(TopK.dims_of(&bad_k).unwrap_err().tensor, "k");
        let empty = [Tensor::f32(vec![0], vec![]), Tensor::u32(vec![1], vec![1])];
        assert_eq!(TopK.dims_of(&empty).unwrap_err().tensor, "g");
    }
}
