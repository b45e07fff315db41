//! `lora_fused_{q4_0,q4_1,q8_0,f16}`: y = W·x + s_p·B_p(A_p·x) + s_c·B_c(A_c·x) — the frozen base
//! product with the personal (p) and collective (c) adapters applied in the same op, so a
//! kernel streams W once, reads x once and writes y once.
//!
//! Layout:
//! - `w`: u8 `[n, row_bytes]`, the base in one of four formats (one op each, sharing this
//!   module): GGML Q4_0 (`k/32·18` bytes a row), Q4_1 (`k/32·20`), Q8_0 (`k/32·34`), or IEEE
//!   f16 (`2k`, little-endian) — the formats a GGUF checkpoint ships its projections in;
//! - `x`: f32 `[tokens, k]` (or `[k]`), 1..=8 tokens (decode);
//! - `a_p` `[r_p, k]`, `b_p` `[n, r_p]`, `a_c` `[r_c, k]`, `b_c` `[n, r_c]`: the two adapters;
//!   a rank may be 0 (shapes `[0, k]` and `[n, 0]`): that adapter is absent;
//! - `scales`: f32 `[2]` = (s_p, s_c);
//! - `y`: f32 `[tokens, n]`.
//!
//! Cost model: bytes = W + adapters + x + y (each read once); flops = 2·n·k·tokens for the
//! base plus 2·(r_p + r_c)·(k + n)·tokens for the adapters. The adapters' share of the bytes is
//! what a fused kernel has to pay at decode: for one rank-16 adapter over a
//! 4096×4096 Q4_0 base, 5.6 % (f32 factors: the precision local training updates them in).

use rand::rngs::StdRng;

use super::{
    check_rank, check_tokens, f32_matrix, f32_vector, matmul_t_f64, random_adapter, token_rows, uniform, widen,
};
use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, expect_dtype};
pub use crate::quant::format::BaseFormat;
use crate::tensor::{DType, Tensor};

/// Most tokens one `lora_fused_*` launch takes (decode batches; prefill uses the GEMMs).
pub const MAX_TOKENS: usize = 8;

/// The `lora_fused_*` op over a base in `format`.
pub struct LoraFused(pub BaseFormat);

/// Problem sizes of a `lora_fused_*`.
pub fn dims(n: usize, k: usize, tokens: usize, rank_p: usize, rank_c: usize) -> Dims {
    Dims(vec![("n", n), ("k", k), ("tokens", tokens), ("rank_p", rank_p), ("rank_c", rank_c)])
}

const fn inputs(w_doc: &'static str) -> [TensorSpec; 7] {
    [
        TensorSpec { name: "w", dtype: DType::U8, shape_doc: w_doc },
        TensorSpec { name: "x", dtype: DType::F32, shape_doc: "[tokens, k] or [k]" },
        TensorSpec { name: "a_p", dtype: DType::F32, shape_doc: "[rank_p, k]" },
        TensorSpec { name: "b_p", dtype: DType::F32, shape_doc: "[n, rank_p]" },
        TensorSpec { name: "a_c", dtype: DType::F32, shape_doc: "[rank_c, k]" },
        TensorSpec { name: "b_c", dtype: DType::F32, shape_doc: "[n, rank_c]" },
        TensorSpec { name: "scales", dtype: DType::F32, shape_doc: "[2] = (s_p, s_c)" },
    ]
}
const INPUTS_Q4_0: &[TensorSpec] = &inputs("[n, k/32*18] Q4_0 blocks");
const INPUTS_Q4_1: &[TensorSpec] = &inputs("[n, k/32*20] Q4_1 blocks");
const INPUTS_Q8_0: &[TensorSpec] = &inputs("[n, k/32*34] Q8_0 blocks");
const INPUTS_F16: &[TensorSpec] = &inputs("[n, 2k] f16 little-endian");
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "y", dtype: DType::F32, shape_doc: "[tokens, n]" }];

/// Checks one adapter's pair of factors against k and n; returns its rank.
fn adapter_rank(a_name: &str, a: &Tensor, b_name: &str, b: &Tensor, k: usize, n: usize) -> Result<usize, OpError> {
    let (rank, a_k) = f32_matrix(a_name, a)?;
    check_rank(a_name, rank, true)?;
    if a_k != k {
        return Err(OpError::new(a_name, format!("has {a_k} columns but x has width k = {k}")));
    }
    let (b_n, b_rank) = f32_matrix(b_name, b)?;
    if b_n != n {
        return Err(OpError::new(b_name, format!("has {b_n} rows but w has n = {n}")));
    }
    if b_rank != rank {
        return Err(OpError::new(b_name, format!("rank {b_rank} does not match {a_name}'s rank {rank}")));
    }
    Ok(rank)
}

impl Op for LoraFused {
    fn name(&self) -> &'static str {
        match self.0 {
            BaseFormat::Q4_0 => "lora_fused_q4_0",
            BaseFormat::Q4_1 => "lora_fused_q4_1",
            BaseFormat::Q8_0 => "lora_fused_q8_0",
            BaseFormat::F16 => "lora_fused_f16",
        }
    }

    fn summary(&self) -> &'static str {
        match self.0 {
            BaseFormat::Q4_0 => "y = W·x + s_p·B_p(A_p·x) + s_c·B_c(A_c·x), W in Q4_0: base and two adapters in one op",
            BaseFormat::Q4_1 => "y = W·x + s_p·B_p(A_p·x) + s_c·B_c(A_c·x), W in Q4_1: base and two adapters in one op",
            BaseFormat::Q8_0 => "y = W·x + s_p·B_p(A_p·x) + s_c·B_c(A_c·x), W in Q8_0: base and two adapters in one op",
            BaseFormat::F16 => "y = W·x + s_p·B_p(A_p·x) + s_c·B_c(A_c·x), W in f16: base and two adapters in one op",
        }
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        match self.0 {
            BaseFormat::Q4_0 => INPUTS_Q4_0,
            BaseFormat::Q4_1 => INPUTS_Q4_1,
            BaseFormat::Q8_0 => INPUTS_Q8_0,
            BaseFormat::F16 => INPUTS_F16,
        }
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [w, x, a_p, b_p, a_c, b_c, scales] = inputs else {
            return Err(OpError::new(
                "inputs",
                format!("expected 7 tensors (w, x, a_p, b_p, a_c, b_c, scales), got {}", inputs.len()),
            ));
        };
        expect_dtype("w", w, DType::U8)?;
        let &[n, row_bytes] = w.shape.as_slice() else {
            return Err(OpError::new("w", format!("shape {:?} is not 2-D [n, row bytes]", w.shape)));
        };
        let k =
            self.0.k_of(row_bytes).filter(|_| n > 0).ok_or_else(|| {
                OpError::new("w", format!("shape {:?}: need n ≥ 1 and whole {:?} rows", w.shape, self.0))
            })?;
        let tokens = token_rows("x", x, k, "k")?;
        check_tokens("x", tokens, MAX_TOKENS)?;
        let rank_p = adapter_rank("a_p", a_p, "b_p", b_p, k, n)?;
        let rank_c = adapter_rank("a_c", a_c, "b_c", b_c, k, n)?;
        f32_vector("scales", scales, 2)?;
        Ok(dims(n, k, tokens, rank_p, rank_c))
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("tokens"), dims.get("n")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let (n, k, tokens) = (dims.get("n"), dims.get("k"), dims.get("tokens"));
        let w = self.0.decode(inputs[0].as_u8().expect("w is u8"));
        let x = widen(inputs[1].as_f32().expect("x is f32"));
        let scales = inputs[6].as_f32().expect("scales is f32");
        let mut y = matmul_t_f64(&w, &x, n, k);
        for (a_i, rank, s) in [(2, dims.get("rank_p"), scales[0]), (4, dims.get("rank_c"), scales[1])] {
            if rank == 0 {
                continue;
            }
            let t = matmul_t_f64(inputs[a_i].as_f32().expect("a is f32"), &x, rank, k);
            let bt = matmul_t_f64(inputs[a_i + 1].as_f32().expect("b is f32"), &t, n, rank);
            for (yo, d) in y.iter_mut().zip(bt) {
                *yo += f64::from(s) * d;
            }
        }
        vec![Tensor::f32(vec![tokens, n], y.iter().map(|&v| v as f32).collect())]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let (n, k, tokens) = (dims.get("n"), dims.get("k"), dims.get("tokens"));
        let (rank_p, rank_c) = (dims.get("rank_p"), dims.get("rank_c"));
        let w = uniform(rng, n * k, 1.0 / (k as f32).sqrt());
        let w = Tensor::u8(vec![n, self.0.row_bytes(k).expect("k fits the format")], self.0.encode(&w, k));
        let x = Tensor::f32(vec![tokens, k], uniform(rng, tokens * k, 1.0));
        let (a_p, b_p) = random_adapter(rng, rank_p, k, n);
        let (a_c, b_c) = random_adapter(rng, rank_c, k, n);
        let scales = vec![super::stacked::random_scale(rng), super::stacked::random_scale(rng)];
        vec![
            w,
            x,
            Tensor::f32(vec![rank_p, k], a_p),
            Tensor::f32(vec![n, rank_p], b_p),
            Tensor::f32(vec![rank_c, k], a_c),
            Tensor::f32(vec![n, rank_c], b_c),
            Tensor::f32(vec![2], scales),
        ]
    }

    fn test_dims(&self) -> Vec<Dims> {
        // Smallest; ragged n and several windows of k; a missing adapter of either kind; both
        // at the ranks; the bench's decode shape.
        let s = self.0.k_step();
        vec![
            dims(1, s, 1, 1, 0),
            dims(7, 3 * s, 5, 4, 4),
            dims(33, 5 * s, 8, 0, 16),
            dims(5, 130 * s.max(32), 3, 8, 32),
            dims(65, 1024, 2, 128, 64),
            dims(4096, 4096, 1, 16, 16),
        ]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        // One adapter at rank 16 (the bar against the bare GEMV of the same shape), then
        // personal + collective on the 8B-class attention and MLP shapes and the 1B class.
        vec![
            dims(4096, 4096, 1, 16, 0),
            dims(4096, 4096, 1, 16, 16),
            dims(14336, 4096, 1, 16, 16),
            dims(4096, 14336, 1, 16, 16),
            dims(4096, 4096, 4, 16, 16),
            dims(2048, 2048, 1, 16, 16),
        ]
    }

    fn tolerance(&self) -> Tolerance {
        // f32 accumulation of the base and the adapters' two products against an f64 reference.
        Tolerance { rel_l2: 1e-5, max_abs_scaled: 2e-5 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let g = |name| dims.get(name) as u64;
        let (n, k, tokens, ranks) = (g("n"), g("k"), g("tokens"), g("rank_p") + g("rank_c"));
        let base_bytes = n * self.0.row_bytes(k as usize).expect("k fits the format") as u64;
        let weight_bytes = base_bytes + 4 * ranks * (k + n);
        Cost {
            bytes: weight_bytes + 4 * tokens * (k + n) + 8,
            weight_bytes,
            flops: 2 * n * k * tokens + 2 * ranks * (k + n) * tokens,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::rng_for;

    fn problem(format: BaseFormat, d: &Dims) -> Vec<Tensor> {
        LoraFused(format).random_inputs(d, &mut rng_for(7, 0))
    }

    #[test]
    fn every_format_round_trips_its_own_shape() {
        for f in [BaseFormat::Q4_0, BaseFormat::Q4_1, BaseFormat::Q8_0, BaseFormat::F16] {
            let d = dims(3, 64, 2, 4, 0);
            assert_eq!(LoraFused(f).dims_of(&problem(f, &d)).unwrap(), d, "{f:?}");
        }
    }

    #[test]
    fn the_reference_is_the_base_plus_each_scaled_adapter() {
        // W = identity in f16, one rank-1 adapter per kind: y = x + s_p·b_p(a_p·x) + s_c·b_c(a_c·x).
        let w = BaseFormat::F16.encode(&[1.0, 0.0, 0.0, 1.0], 2);
        let inputs = [
            Tensor::u8(vec![2, 4], w),
            Tensor::f32(vec![1, 2], vec![1.0, 2.0]),
            Tensor::f32(vec![1, 2], vec![1.0, 1.0]),
            Tensor::f32(vec![2, 1], vec![1.0, 0.0]),
            Tensor::f32(vec![1, 2], vec![0.0, 1.0]),
            Tensor::f32(vec![2, 1], vec![0.0, 1.0]),
            Tensor::f32(vec![2], vec![0.5, -1.0]),
        ];
        let op = LoraFused(BaseFormat::F16);
        let d = op.dims_of(&inputs).unwrap();
        assert_eq!(op.reference(&d, &inputs)[0].as_f32().unwrap(), &[1.0 + 0.5 * 3.0, 2.0 - 2.0]);
    }

    #[test]
    fn a_rank_mismatch_between_a_and_b_is_rejected_naming_b() {
        let f = BaseFormat::Q4_0;
        let mut inputs = problem(f, &dims(4, 32, 1, 8, 4));
        inputs[3] = Tensor::f32(vec![4, 7], vec![1.0; 28]);
        let e = LoraFused(f).dims_of(&inputs).unwrap_err();
        assert_eq!(e.tensor, "b_p");
        assert!(e.problem.contains("rank 7"), "{e}");
    }

    #[test]
    fn a_q8_0_base_is_not_taken_for_q4_0() {
        let inputs = problem(BaseFormat::Q8_0, &dims(4, 64, 1, 4, 4));
        let e = LoraFused(BaseFormat::Q4_0).dims_of(&inputs).unwrap_err();
        assert_eq!(e.tensor, "w", "{e}");
    }

    #[test]
    fn one_rank_16_adapter_adds_under_six_percent_to_a_q4_0_base_s_bytes() {
        let c = LoraFused(BaseFormat::Q4_0).cost(&dims(4096, 4096, 1, 16, 0));
        let base = 4096 * 128 * 18;
        assert!((c.weight_bytes - base) as f64 / (base as f64) < 0.06);
    }
}
