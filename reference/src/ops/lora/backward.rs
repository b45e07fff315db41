//! The adapter's backward pass for local learning over a batch of T tokens.
//!
//! Forward (per token row, the frozen base term left out since it has no adapter parameters):
//! `Y = s·(X·Aᵀ)·Bᵀ` with `X` `[T, k]`, `A` `[r, k]`, `B` `[n, r]`, `Y` `[T, n]`. Given
//! `G = ∂L/∂Y` `[T, n]` and `H = X·Aᵀ` `[T, r]`:
//!
//! - `dB = s·Gᵀ·H` `[n, r]`:  `dB[o][i] = s·Σ_t G[t][o]·H[t][i]`;
//! - `U = G·B` `[T, r]` (the gradient flowing into H, without s), and
//!   `dA = s·Uᵀ·X` `[r, k]`:  `dA[i][c] = s·Σ_t U[t][i]·X[t][c]`;
//! - `dX = s·U·A` `[T, k]`:  `dX[t][c] = s·Σ_i U[t][i]·A[i][c]`, the adapter's share of the
//!   gradient into the layer input (the base's share, `G·W`, is the transposed base product).
//!
//! `lora_backward` computes (dA, dB); `lora_backward_dx` computes dX, for the layers whose input
//! gradient is wanted (all but the first trained one). Both accumulate in f32 on kernels; the
//! references in f64. The formulas are checked against central finite differences of
//! `L = Σ G ⊙ Y` in the tests below.
//!
//! Cost models: `lora_backward` reads X, G, A, B once and writes dA, dB; flops = 2·T·r·(k + n)
//! for H and U plus 2·T·r·(k + n) for dA and dB. `lora_backward_dx` reads G, A, B and writes
//! dX; flops = 2·T·r·(n + k).

use rand::rngs::StdRng;

use super::{MAX_TOKENS, check_rank, check_tokens, f32_matrix, f32_vector, matmul_t_f64, token_rows, uniform, widen};
use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec};
use crate::tensor::{DType, Tensor};

/// The `lora_backward` op: (dA, dB).
pub struct LoraBackward;

/// The `lora_backward_dx` op: dX.
pub struct LoraBackwardDx;

/// Problem sizes of either backward op.
pub fn dims(tokens: usize, k: usize, n: usize, rank: usize) -> Dims {
    Dims(vec![("tokens", tokens), ("k", k), ("n", n), ("rank", rank)])
}

const INPUTS: &[TensorSpec] = &[
    TensorSpec { name: "x", dtype: DType::F32, shape_doc: "[tokens, k]" },
    TensorSpec { name: "g", dtype: DType::F32, shape_doc: "[tokens, n] = dL/dY" },
    TensorSpec { name: "a", dtype: DType::F32, shape_doc: "[rank, k]" },
    TensorSpec { name: "b", dtype: DType::F32, shape_doc: "[n, rank]" },
    TensorSpec { name: "scale", dtype: DType::F32, shape_doc: "[1]" },
];
const OUTPUTS: &[TensorSpec] = &[
    TensorSpec { name: "da", dtype: DType::F32, shape_doc: "[rank, k]" },
    TensorSpec { name: "db", dtype: DType::F32, shape_doc: "[n, rank]" },
];
const INPUTS_DX: &[TensorSpec] = &[
    TensorSpec { name: "g", dtype: DType::F32, shape_doc: "[tokens, n] = dL/dY" },
    TensorSpec { name: "a", dtype: DType::F32, shape_doc: "[rank, k]" },
    TensorSpec { name: "b", dtype: DType::F32, shape_doc: "[n, rank]" },
    TensorSpec { name: "scale", dtype: DType::F32, shape_doc: "[1]" },
];
const OUTPUTS_DX: &[TensorSpec] = &[TensorSpec { name: "dx", dtype: DType::F32, shape_doc: "[tokens, k]" }];

/// Checks `a [r, k]`, `b [n, r]`, `g [T, n]`, `scale [1]`; returns (tokens, k, n, rank).
fn check_factors(g: &Tensor, a: &Tensor, b: &Tensor, scale: &Tensor) -> Result<(usize, usize, usize, usize), OpError> {
    let (rank, k) = f32_matrix("a", a)?;
    check_rank("a", rank, false)?;
    if k == 0 {
        return Err(OpError::new("a", "has no columns (k = 0)"));
    }
    let (n, b_rank) = f32_matrix("b", b)?;
    if b_rank != rank {
        return Err(OpError::new("b", format!("rank {b_rank} does not match a's rank {rank}")));
    }
    if n == 0 {
        return Err(OpError::new("b", "has no rows (n = 0)"));
    }
    let tokens = token_rows("g", g, n, "n")?;
    check_tokens("g", tokens, MAX_TOKENS)?;
    f32_vector("scale", scale, 1)?;
    Ok((tokens, k, n, rank))
}

/// U = G·B in f64, `[T, r]`.
fn u_of(g: &[f32], b: &[f32], n: usize, rank: usize) -> Vec<f64> {
    let tokens = g.len() / n;
    let mut u = vec![0.0f64; tokens * rank];
    for t in 0..tokens {
        for o in 0..n {
            let gto = f64::from(g[t * n + o]);
            for i in 0..rank {
                u[t * rank + i] += gto * f64::from(b[o * rank + i]);
            }
        }
    }
    u
}

/// `out[p][q] = s·Σ_t l[t][p]·r[t][q]` (`l` `[T, P]`, `r` `[T, Q]`): a scaled Lᵀ·R.
fn scaled_lt_r(l: &[f64], r: &[f64], p: usize, q: usize, s: f64) -> Vec<f32> {
    let tokens = l.len() / p;
    let mut out = vec![0.0f64; p * q];
    for t in 0..tokens {
        for i in 0..p {
            let lv = l[t * p + i];
            for j in 0..q {
                out[i * q + j] += lv * r[t * q + j];
            }
        }
    }
    out.iter().map(|&v| (s * v) as f32).collect()
}

fn random_factors(tokens: usize, k: usize, n: usize, rank: usize, rng: &mut StdRng) -> [Tensor; 4] {
    let (a, b) = super::random_adapter(rng, rank, k, n);
    [
        Tensor::f32(vec![tokens, n], uniform(rng, tokens * n, 1.0)),
        Tensor::f32(vec![rank, k], a),
        Tensor::f32(vec![n, rank], b),
        Tensor::f32(vec![1], vec![super::stacked::random_scale(rng)]),
    ]
}

fn backward_test_dims() -> Vec<Dims> {
    vec![dims(1, 1, 1, 1), dims(5, 33, 17, 4), dims(16, 100, 64, 16), dims(64, 257, 129, 32), dims(96, 512, 384, 64)]
}

fn backward_bench_dims() -> Vec<Dims> {
    vec![dims(64, 4096, 4096, 16), dims(256, 4096, 4096, 16), dims(64, 2048, 8192, 16)]
}

impl Op for LoraBackward {
    fn name(&self) -> &'static str {
        "lora_backward"
    }

    fn summary(&self) -> &'static str {
        "dA = s·(G·B)ᵀ·X, dB = s·Gᵀ·(X·Aᵀ): an adapter's parameter gradients over T tokens"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [x, g, a, b, scale] = inputs else {
            return Err(OpError::new(
                "inputs",
                format!("expected 5 tensors (x, g, a, b, scale), got {}", inputs.len()),
            ));
        };
        let (tokens, k, n, rank) = check_factors(g, a, b, scale)?;
        let x_tokens = token_rows("x", x, k, "k")?;
        if x_tokens != tokens {
            return Err(OpError::new("x", format!("has {x_tokens} tokens but g has {tokens}")));
        }
        Ok(dims(tokens, k, n, rank))
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("rank"), dims.get("k")], vec![dims.get("n"), dims.get("rank")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let (k, n, rank) = (dims.get("k"), dims.get("n"), dims.get("rank"));
        let f = |i: usize| inputs[i].as_f32().expect("f32 input");
        let (x, g, a, b, s) = (widen(f(0)), f(1), f(2), f(3), f64::from(f(4)[0]));
        let h = matmul_t_f64(a, &x, rank, k);
        let u = u_of(g, b, n, rank);
        let da = scaled_lt_r(&u, &x, rank, k, s);
        let db = scaled_lt_r(&widen(g), &h, n, rank, s);
        vec![Tensor::f32(vec![rank, k], da), Tensor::f32(vec![n, rank], db)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let (tokens, k, n, rank) = (dims.get("tokens"), dims.get("k"), dims.get("n"), dims.get("rank"));
        let x = Tensor::f32(vec![tokens, k], uniform(rng, tokens * k, 1.0));
        let [g, a, b, s] = random_factors(tokens, k, n, rank, rng);
        vec![x, g, a, b, s]
    }

    fn test_dims(&self) -> Vec<Dims> {
        backward_test_dims()
    }

    fn bench_dims(&self) -> Vec<Dims> {
        backward_bench_dims()
    }

    fn tolerance(&self) -> Tolerance {
        // Sums over up to T·n products of f32 partial sums.
        Tolerance { rel_l2: 2e-5, max_abs_scaled: 2e-5 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let g = |name| dims.get(name) as u64;
        let (tokens, k, n, rank) = (g("tokens"), g("k"), g("n"), g("rank"));
        let weight_bytes = 4 * rank * (k + n);
        Cost { bytes: 2 * weight_bytes + 4 * tokens * (k + n) + 4, weight_bytes, flops: 4 * tokens * rank * (k + n) }
    }
}

impl Op for LoraBackwardDx {
    fn name(&self) -> &'static str {
        "lora_backward_dx"
    }

    fn summary(&self) -> &'static str {
        "dX = s·(G·B)·A: the adapter's share of the input gradient over T tokens"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS_DX
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS_DX
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [g, a, b, scale] = inputs else {
            return Err(OpError::new("inputs", format!("expected 4 tensors (g, a, b, scale), got {}", inputs.len())));
        };
        let (tokens, k, n, rank) = check_factors(g, a, b, scale)?;
        Ok(dims(tokens, k, n, rank))
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("tokens"), dims.get("k")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let (tokens, k, n, rank) = (dims.get("tokens"), dims.get("k"), dims.get("n"), dims.get("rank"));
        let f = |i: usize| inputs[i].as_f32().expect("f32 input");
        let (g, a, b, s) = (f(0), f(1), f(2), f64::from(f(3)[0]));
        let u = u_of(g, b, n, rank);
        let mut dx = vec![0.0f32; tokens * k];
        for t in 0..tokens {
            for c in 0..k {
                let v: f64 = (0..rank).map(|i| u[t * rank + i] * f64::from(a[i * k + c])).sum();
                dx[t * k + c] = (s * v) as f32;
            }
        }
        vec![Tensor::f32(vec![tokens, k], dx)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let (tokens, k, n, rank) = (dims.get("tokens"), dims.get("k"), dims.get("n"), dims.get("rank"));
        random_factors(tokens, k, n, rank, rng).into()
    }

    fn test_dims(&self) -> Vec<Dims> {
        backward_test_dims()
    }

    fn bench_dims(&self) -> Vec<Dims> {
        backward_bench_dims()
    }

    fn tolerance(&self) -> Tolerance {
        Tolerance { rel_l2: 2e-5, max_abs_scaled: 2e-5 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let g = |name| dims.get(name) as u64;
        let (tokens, k, n, rank) = (g("tokens"), g("k"), g("n"), g("rank"));
        let weight_bytes = 4 * rank * (k + n);
        Cost { bytes: weight_bytes + 4 * tokens * (k + n) + 4, weight_bytes, flops: 2 * tokens * rank * (k + n) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::rng_for;

    /// L = Σ_t,o G[t][o]·Y[t][o] with Y = s·(X·Aᵀ)·Bᵀ, in f64.
    fn loss(x: &[f64], g: &[f64], a: &[f64], b: &[f64], s: f64, d: &Dims) -> f64 {
        let (tokens, k, n, rank) = (d.get("tokens"), d.get("k"), d.get("n"), d.get("rank"));
        let mut l = 0.0;
        for t in 0..tokens {
            let h: Vec<f64> = (0..rank).map(|i| (0..k).map(|c| a[i * k + c] * x[t * k + c]).sum()).collect();
            for o in 0..n {
                let y: f64 = s * (0..rank).map(|i| b[o * rank + i] * h[i]).sum::<f64>();
                l += g[t * n + o] * y;
            }
        }
        l
    }

    /// Central difference of the loss in each coordinate of `which` (0 = x, 2 = a, 3 = b), at
    /// every `stride`-th coordinate, against the analytic gradient `grad`.
    fn check_fd(d: &Dims, inputs: &[Tensor], which: usize, grad: &[f32], stride: usize) {
        let mut v: Vec<Vec<f64>> = inputs[..4].iter().map(|t| widen(t.as_f32().unwrap())).collect();
        let s = f64::from(inputs[4].as_f32().unwrap()[0]);
        let h = 1e-3;
        let mut checked = 0;
        for i in (0..v[which].len()).step_by(stride) {
            let orig = v[which][i];
            v[which][i] = orig + h;
            let up = loss(&v[0], &v[1], &v[2], &v[3], s, d);
            v[which][i] = orig - h;
            let down = loss(&v[0], &v[1], &v[2], &v[3], s, d);
            v[which][i] = orig;
            let fd = (up - down) / (2.0 * h);
            // L is linear in each factor, so the central difference is exact up to rounding.
            assert!(
                (fd - f64::from(grad[i])).abs() <= 1e-5 * (1.0 + fd.abs()),
                "input {which} [{i}]: fd {fd} vs {}",
                grad[i]
            );
            checked += 1;
        }
        assert!(checked > 0);
    }

    #[test]
    fn da_db_and_dx_match_finite_differences_of_the_loss() {
        for d in [dims(1, 1, 1, 1), dims(5, 33, 17, 4), dims(7, 20, 9, 3)] {
            let inputs = LoraBackward.random_inputs(&d, &mut rng_for(11, 0));
            let grads = LoraBackward.reference(&d, &inputs);
            check_fd(&d, &inputs, 2, grads[0].as_f32().unwrap(), 3);
            check_fd(&d, &inputs, 3, grads[1].as_f32().unwrap(), 2);
            let dx = LoraBackwardDx.reference(&d, &inputs[1..]);
            check_fd(&d, &inputs, 0, dx[0].as_f32().unwrap(), 5);
        }
    }

    #[test]
    fn a_rank_mismatch_between_a_and_b_is_rejected_naming_b() {
        let d = dims(5, 33, 17, 4);
        let mut inputs = LoraBackward.random_inputs(&d, &mut rng_for(1, 0));
        inputs[3] = Tensor::f32(vec![17, 5], vec![0.5; 85]);
        let e = LoraBackward.dims_of(&inputs).unwrap_err();
        assert_eq!((e.tensor.as_str(), e.problem.contains("rank 5")), ("b", true), "{e}");
    }

    #[test]
    fn x_and_g_must_hold_the_same_tokens() {
        let d = dims(5, 33, 17, 4);
        let mut inputs = LoraBackward.random_inputs(&d, &mut rng_for(1, 0));
        inputs[0] = Tensor::f32(vec![4, 33], vec![0.5; 132]);
        assert_eq!(LoraBackward.dims_of(&inputs).unwrap_err().tensor, "x");
    }
}
