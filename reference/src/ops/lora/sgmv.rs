//! `sgmv`: segmented gather matrix-vector — prefill batches whose tokens come in consecutive
//! segments, each segment sharing one adapter of a stack (Punica's SGMV). Segment g covers
//! tokens `starts[g] .. starts[g+1]` and applies adapter `seg_adapter[g]` (−1: none):
//! y_out[t] = y[t] + s_i·B_i·(A_i·x[t]).
//!
//! Layout: `x`, `a`, `b`, `scales`, `y` as in [`super::bgmv`]; `starts` u32 `[segments + 1]`
//! (starts[0] = 0, non-decreasing, last = tokens: empty segments are allowed),
//! `seg_adapter` u32 `[segments]`; output `y_out` f32 `[tokens, n]`.
//!
//! Cost model: bytes = the adapters segments use, once each, + x + y + y_out + the segment
//! table; flops = 2·rank·(k + n) per token with an adapter. Segments let a kernel load an
//! adapter once for many tokens, so at prefill lengths the op is compute bound.

use rand::Rng;
use rand::rngs::StdRng;

use super::NO_ADAPTER;
use super::stacked::{self, StackShape, check_index};
use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, expect_dtype};
use crate::tensor::{DType, Tensor};

/// The `sgmv` op.
pub struct Sgmv;

/// Problem sizes of an `sgmv`.
pub fn dims(tokens: usize, k: usize, n: usize, rank: usize, adapters: usize, segments: usize) -> Dims {
    Dims(vec![("tokens", tokens), ("k", k), ("n", n), ("rank", rank), ("adapters", adapters), ("segments", segments)])
}

const INPUTS: &[TensorSpec] = &[
    TensorSpec { name: "x", dtype: DType::F32, shape_doc: "[tokens, k]" },
    TensorSpec { name: "a", dtype: DType::F32, shape_doc: "[adapters, rank, k]" },
    TensorSpec { name: "b", dtype: DType::F32, shape_doc: "[adapters, n, rank]" },
    TensorSpec { name: "scales", dtype: DType::F32, shape_doc: "[adapters]" },
    TensorSpec { name: "starts", dtype: DType::U32, shape_doc: "[segments + 1]" },
    TensorSpec { name: "seg_adapter", dtype: DType::U32, shape_doc: "[segments], 0xFFFFFFFF = none" },
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

/// Token t's adapter under the segment table.
fn adapter_of(starts: &[u32], seg_adapter: &[u32], t: usize) -> u32 {
    // The segment holding t is the last one starting at or before t (skipping empty ones).
    let g = starts.partition_point(|&s| s as usize <= t) - 1;
    seg_adapter[g]
}

impl Op for Sgmv {
    fn name(&self) -> &'static str {
        "sgmv"
    }

    fn summary(&self) -> &'static str {
        "y_out[t] = y[t] + s_i·B_i·(A_i·x[t]) with i the adapter of t's segment: per-segment adapters at prefill"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [x, a, b, scales, starts, seg_adapter, y] = inputs else {
            return Err(OpError::new(
                "inputs",
                format!("expected 7 tensors (x, a, b, scales, starts, seg_adapter, y), got {}", inputs.len()),
            ));
        };
        let s = stacked::check(x, a, b, scales, y)?;
        expect_dtype("starts", starts, DType::U32)?;
        expect_dtype("seg_adapter", seg_adapter, DType::U32)?;
        let &[segments] = seg_adapter.shape.as_slice() else {
            return Err(OpError::new("seg_adapter", format!("shape {:?} is not [segments]", seg_adapter.shape)));
        };
        if segments == 0 || segments > s.tokens {
            return Err(OpError::new(
                "seg_adapter",
                format!("{segments} segments is outside 1..={} (tokens)", s.tokens),
            ));
        }
        if starts.shape != [segments + 1] {
            return Err(OpError::new(
                "starts",
                format!("shape {:?} is not [{}] (segments + 1)", starts.shape, segments + 1),
            ));
        }
        let st = starts.as_u32().expect("checked u32");
        if st[0] != 0 || st[segments] as usize != s.tokens {
            return Err(OpError::new(
                "starts",
                format!("must run from 0 to tokens = {}, runs from {} to {}", s.tokens, st[0], st[segments]),
            ));
        }
        if let Some(g) = st.windows(2).position(|w| w[1] < w[0]) {
            return Err(OpError::new("starts", format!("decreases after segment {g} ({} then {})", st[g], st[g + 1])));
        }
        for (g, &i) in seg_adapter.as_u32().expect("checked u32").iter().enumerate() {
            check_index("seg_adapter", &format!("segment {g}"), i, s.adapters)?;
        }
        Ok(dims(s.tokens, s.k, s.n, s.rank, s.adapters, segments))
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("tokens"), dims.get("n")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let s = shape_of(dims);
        let f = |i: usize| inputs[i].as_f32().expect("f32 input");
        let (starts, seg) = (inputs[4].as_u32().expect("u32"), inputs[5].as_u32().expect("u32"));
        let out = stacked::apply(s, [f(0), f(1), f(2), f(3)], f(6), |t| adapter_of(starts, seg, t));
        vec![Tensor::f32(vec![s.tokens, s.n], out)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let s = shape_of(dims);
        let segments = dims.get("segments");
        let [x, a, b, scales, y] = stacked::random_operands(s, rng);
        // Distinct cut points, so no segment is empty; one segment in five has no adapter.
        let mut cuts: Vec<u32> =
            stacked::distinct_indices(rng, s.tokens - 1, segments - 1).iter().map(|c| c + 1).collect();
        cuts.sort_unstable();
        let mut starts = vec![0u32];
        starts.extend(cuts);
        starts.push(s.tokens as u32);
        let seg_adapter = (0..segments)
            .map(|_| if rng.random_ratio(1, 5) { NO_ADAPTER } else { rng.random_range(0..s.adapters as u32) });
        vec![
            x,
            a,
            b,
            scales,
            Tensor::u32(vec![segments + 1], starts),
            Tensor::u32(vec![segments], seg_adapter.collect()),
            y,
        ]
    }

    fn test_dims(&self) -> Vec<Dims> {
        vec![
            dims(1, 1, 1, 1, 1, 1),
            dims(9, 33, 17, 4, 3, 3),
            dims(64, 256, 100, 16, 4, 5),
            dims(37, 1031, 129, 128, 2, 4),
            dims(128, 1024, 512, 32, 8, 8),
        ]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        vec![dims(512, 4096, 4096, 16, 8, 8), dims(128, 4096, 4096, 16, 4, 4), dims(512, 4096, 4096, 64, 8, 8)]
    }

    fn tolerance(&self) -> Tolerance {
        Tolerance { rel_l2: 1e-5, max_abs_scaled: 1e-5 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let g = |name| dims.get(name) as u64;
        let (tokens, k, n, rank) = (g("tokens"), g("k"), g("n"), g("rank"));
        // Every segment's adapter at most once (the cost model cannot see repeats or bare ones).
        let weight_bytes = 4 * g("segments").min(g("adapters")) * rank * (k + n);
        Cost {
            bytes: weight_bytes + 4 * tokens * (k + 2 * n) + 8 * g("segments") + 4 * g("adapters") + 4,
            weight_bytes,
            flops: 2 * rank * (k + n) * tokens,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::rng_for;

    #[test]
    fn random_inputs_have_the_dims_they_were_made_for() {
        for d in Sgmv.test_dims().into_iter().chain(Sgmv.bench_dims()) {
            let inputs = Sgmv.random_inputs(&d, &mut rng_for(5, 0));
            assert_eq!(Sgmv.dims_of(&inputs).unwrap(), d);
        }
    }

    #[test]
    fn sgmv_equals_bgmv_with_the_segments_spelled_out_per_token() {
        let d = dims(64, 256, 100, 16, 4, 5);
        let inputs = Sgmv.random_inputs(&d, &mut rng_for(9, 0));
        let (starts, seg) = (inputs[4].as_u32().unwrap(), inputs[5].as_u32().unwrap());
        let idx: Vec<u32> = (0..64).map(|t| adapter_of(starts, seg, t)).collect();
        let b_inputs = vec![
            inputs[0].clone(),
            inputs[1].clone(),
            inputs[2].clone(),
            inputs[3].clone(),
            Tensor::u32(vec![64], idx),
            inputs[6].clone(),
        ];
        let bd = super::super::bgmv::Bgmv.dims_of(&b_inputs).unwrap();
        assert_eq!(Sgmv.reference(&d, &inputs), super::super::bgmv::Bgmv.reference(&bd, &b_inputs));
    }

    #[test]
    fn a_decreasing_segment_table_is_rejected_naming_starts() {
        let d = dims(9, 33, 17, 4, 3, 3);
        let mut inputs = Sgmv.random_inputs(&d, &mut rng_for(1, 0));
        inputs[4] = Tensor::u32(vec![4], vec![0, 5, 3, 9]);
        let e = Sgmv.dims_of(&inputs).unwrap_err();
        assert_eq!(e.tensor, "starts");
        assert!(e.problem.contains("decreases"), "{e}");
    }

    #[test]
    fn a_segment_adapter_out_of_range_is_rejected() {
        let d = dims(9, 33, 17, 4, 3, 3);
        let mut inputs = Sgmv.random_inputs(&d, &mut rng_for(1, 0));
        inputs[5] = Tensor::u32(vec![3], vec![0, 3, 1]);
        assert!(Sgmv.dims_of(&inputs).unwrap_err().problem.contains("segment 1 has adapter index 3"));
    }
}
