//! `dense_project` and `dense_project_t`: a seeded Rademacher random projection of a learning
//! signal and its transpose, the matrix never stored.
//!
//! - `dense_project`: s = R·g, R (k×n) with R[j, c] = ±1/√k, the sign of (row j, column c)
//!   derived from the seed as `kernels/SIGNALS.md` specifies ([`rademacher_negative`]).
//!   Inputs `g` f32 `[n]`, `seed` u32 `[2]` (low word, high word); output `s` f32 `[k]`.
//! - `dense_project_t`: g' = Rᵀ·s with the same R. Inputs `s` f32 `[k]`, `seed` u32 `[2]`;
//!   output `g` f32 `[n]`.
//!
//! Two ops rather than one with a direction dim: their inputs and outputs differ in shape, and
//! each direction has its own kernels and cost model. Sizes not carried by the inputs (k of the
//! projection, n of the transpose) are dims: `dfma op dense_project` uses k = [`DEFAULT_K`];
//! `dense_project_t` cannot infer n, so only the test matrix and the bench run it.
//!
//! Both are linear in their f32 input, so sketches of many instances add up before decoding.
//!
//! Cost model: bytes = 4·n + 4·k + 8 (g and s once, the seed); flops = 2·n·k (one signed add and
//! the share of scaling per entry, counted as an FMA).

use rand::Rng;
use rand::rngs::StdRng;

use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, expect_dtype};
use crate::signals::derive::{PURPOSE_DENSE_RADEMACHER, SIGNS_PER_BLOCK, dense_block, key_of_seed, seed_of_words};
use crate::tensor::{DType, Tensor};

/// k of `dfma op dense_project` (the inputs do not carry it).
pub const DEFAULT_K: usize = 256;

/// The `dense_project` op: s = R·g.
pub struct DenseProject;
/// The `dense_project_t` op: g' = Rᵀ·s.
pub struct DenseProjectT;

/// Problem sizes: a k×n projection.
pub fn dims(n: usize, k: usize) -> Dims {
    Dims(vec![("n", n), ("k", k)])
}

const INPUTS: &[TensorSpec] = &[
    TensorSpec { name: "g", dtype: DType::F32, shape_doc: "[n]" },
    TensorSpec { name: "seed", dtype: DType::U32, shape_doc: "[2] (low word, high word)" },
];
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "s", dtype: DType::F32, shape_doc: "[k]" }];
const INPUTS_T: &[TensorSpec] = &[
    TensorSpec { name: "s", dtype: DType::F32, shape_doc: "[k]" },
    TensorSpec { name: "seed", dtype: DType::U32, shape_doc: "[2] (low word, high word)" },
];
const OUTPUTS_T: &[TensorSpec] = &[TensorSpec { name: "g", dtype: DType::F32, shape_doc: "[n]" }];

/// The Philox key of a validated `seed` input.
pub fn key_of(seed: &Tensor) -> [u32; 2] {
    let w = seed.as_u32().expect("seed is u32");
    key_of_seed(seed_of_words([w[0], w[1]]))
}

/// Length of the non-empty f32 vector `name` and a check of the `[2]` u32 seed.
pub(crate) fn vector_and_seed(inputs: &[Tensor], name: &str) -> Result<usize, OpError> {
    let [x, seed] = inputs else {
        return Err(OpError::new("inputs", format!("expected 2 tensors ({name}, seed), got {}", inputs.len())));
    };
    expect_dtype(name, x, DType::F32)?;
    expect_dtype("seed", seed, DType::U32)?;
    if seed.shape != [2] {
        return Err(OpError::new("seed", format!("shape {:?} is not [2]", seed.shape)));
    }
    match x.shape.as_slice() {
        &[n] if n > 0 => Ok(n),
        s => Err(OpError::new(name, format!("shape {s:?} is not a non-empty vector"))),
    }
}

/// R's sign at (row, column) per SIGNALS.md, with the last Philox block kept: the reference
/// walks columns in order, so it draws each block once per row instead of once per entry.
struct RowSigns {
    key: [u32; 2],
    last: Option<((u32, u64), [u32; 4])>,
}

impl RowSigns {
    fn new(key: [u32; 2]) -> Self {
        Self { key, last: None }
    }
}

/// +1.0 or −1.0: bit (c mod 32) of word ((c mod 128) div 32) of the block of (row j, c div 128).
fn sign(signs: &mut RowSigns, j: usize, c: usize) -> f64 {
    let at = (j as u32, (c / SIGNS_PER_BLOCK) as u64);
    let words = match signs.last {
        Some((k, w)) if k == at => w,
        _ => {
            let w = dense_block(signs.key, PURPOSE_DENSE_RADEMACHER, at.0, at.1);
            signs.last = Some((at, w));
            w
        }
    };
    if (words[c % SIGNS_PER_BLOCK / 32] >> (c % 32)) & 1 == 1 { -1.0 } else { 1.0 }
}

pub(crate) fn random_seed(rng: &mut StdRng) -> Tensor {
    Tensor::u32(vec![2], vec![rng.random(), rng.random()])
}

pub(crate) fn random_vector(len: usize, rng: &mut StdRng) -> Tensor {
    Tensor::f32(vec![len], (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect())
}

/// Test sizes shared by both directions: single column and row, ragged n against the
/// 128-column Philox blocks and 4096-column GPU chunks, k below and above a warp.
fn test_sizes() -> Vec<Dims> {
    vec![dims(1, 1), dims(1000, 3), dims(4097, 16), dims(65_537, 64), dims(129, 300)]
}

/// Bench sizes: a 64 MiB signal into 256 rows and a 4 MiB one into 1024.
fn bench_sizes() -> Vec<Dims> {
    vec![dims(1 << 24, 256), dims(1 << 20, 1024)]
}

fn cost_of(dims: &Dims) -> Cost {
    let (n, k) = (dims.get("n") as u64, dims.get("k") as u64);
    Cost { bytes: 4 * n + 4 * k + 8, weight_bytes: 0, flops: 2 * n * k }
}

/// f32 accumulation over n (forward) or k (transpose) signed terms against f64; kernels sum in
/// blocks (4096 columns, then the block partials), so the error grows far slower than n·ε.
const TOLERANCE: Tolerance = Tolerance { rel_l2: 1e-5, max_abs_scaled: 1e-5 };

impl Op for DenseProject {
    fn name(&self) -> &'static str {
        "dense_project"
    }

    fn summary(&self) -> &'static str {
        "s = R g, R (k x n) Rademacher +-1/sqrt(k) from (seed, row, column), never stored"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        vector_and_seed(inputs, "g").map(|n| dims(n, DEFAULT_K))
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("k")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let (n, k) = (dims.get("n"), dims.get("k"));
        let g = inputs[0].as_f32().expect("g is f32");
        let mut signs = RowSigns::new(key_of(&inputs[1]));
        let scale = 1.0 / (k as f64).sqrt();
        let s = (0..k)
            .map(|j| {
                let sum: f64 = (0..n).map(|c| sign(&mut signs, j, c) * f64::from(g[c])).sum();
                (sum * scale) as f32
            })
            .collect();
        vec![Tensor::f32(vec![k], s)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        vec![random_vector(dims.get("n"), rng), random_seed(rng)]
    }

    fn test_dims(&self) -> Vec<Dims> {
        test_sizes()
    }

    fn bench_dims(&self) -> Vec<Dims> {
        bench_sizes()
    }

    fn tolerance(&self) -> Tolerance {
        TOLERANCE
    }

    fn cost(&self, dims: &Dims) -> Cost {
        cost_of(dims)
    }
}

impl Op for DenseProjectT {
    fn name(&self) -> &'static str {
        "dense_project_t"
    }

    fn summary(&self) -> &'static str {
        "g = R^T s, the transpose of dense_project with the same seeded R"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS_T
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS_T
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        vector_and_seed(inputs, "s")?;
        Err(OpError::new("g", "n (the length of the output) is not carried by the inputs"))
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("n")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let (n, k) = (dims.get("n"), dims.get("k"));
        let s = inputs[0].as_f32().expect("s is f32");
        let mut signs = RowSigns::new(key_of(&inputs[1]));
        let scale = 1.0 / (k as f64).sqrt();
        // Rows outer so each Philox block is drawn once; f64 sums per column.
        let mut acc = vec![0.0f64; n];
        for (j, &sj) in s.iter().enumerate() {
            for (c, a) in acc.iter_mut().enumerate() {
                *a += sign(&mut signs, j, c) * f64::from(sj);
            }
        }
        let g = acc.iter().map(|&a| (a * scale) as f32).collect();
        vec![Tensor::f32(vec![n], g)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        vec![random_vector(dims.get("k"), rng), random_seed(rng)]
    }

    fn test_dims(&self) -> Vec<Dims> {
        // One more than 32768 column blocks of 128: WGSL folds its grid into two dimensions
        // (at most 65535 workgroups a dimension), which this size exercises.
        let mut sizes = test_sizes();
        sizes.push(dims(32768 * 128 + 129, 2));
        sizes
    }

    fn bench_dims(&self) -> Vec<Dims> {
        bench_sizes()
    }

    fn tolerance(&self) -> Tolerance {
        TOLERANCE
    }

    fn cost(&self, dims: &Dims) -> Cost {
        cost_of(dims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::rng_for;
    use crate::signals::derive::rademacher_negative;

    #[test]
    fn the_projection_is_linear_in_g() {
        let d = dims(3000, 8);
        let mut rng = rng_for(1, 0);
        let (a, b) = (random_vector(3000, &mut rng), random_vector(3000, &mut rng));
        let seed = Tensor::u32(vec![2], vec![5, 6]);
        let sum: Vec<f32> = a.as_f32().unwrap().iter().zip(b.as_f32().unwrap()).map(|(x, y)| x + y).collect();
        let sa = DenseProject.reference(&d, &[a, seed.clone()]);
        let sb = DenseProject.reference(&d, &[b, seed.clone()]);
        let sab = DenseProject.reference(&d, &[Tensor::f32(vec![3000], sum), seed]);
        for j in 0..8 {
            let (x, y, z) = (sa[0].as_f32().unwrap()[j], sb[0].as_f32().unwrap()[j], sab[0].as_f32().unwrap()[j]);
            assert!((x + y - z).abs() <= 1e-4 * (1.0 + z.abs()), "row {j}: {x} + {y} != {z}");
        }
    }

    #[test]
    fn the_transpose_is_the_adjoint() {
        // <R g, s> = <g, R^T s> for any g and s.
        let d = dims(777, 5);
        let mut rng = rng_for(2, 0);
        let (g, s) = (random_vector(777, &mut rng), random_vector(5, &mut rng));
        let seed = Tensor::u32(vec![2], vec![9, 0xdead_beef]);
        let rg = DenseProject.reference(&d, &[g.clone(), seed.clone()]);
        let rts = DenseProjectT.reference(&d, &[s.clone(), seed]);
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum::<f64>();
        let (l, r) =
            (dot(rg[0].as_f32().unwrap(), s.as_f32().unwrap()), dot(g.as_f32().unwrap(), rts[0].as_f32().unwrap()));
        assert!((l - r).abs() < 1e-4, "{l} vs {r}");
    }

    #[test]
    fn the_reference_signs_are_the_specified_ones() {
        let key = key_of_seed(0x1234_5678_9abc_def0);
        let mut signs = RowSigns::new(key);
        for j in [0usize, 1, 77] {
            for c in (0..1000).chain([(1 << 37) + 5]) {
                let want = if rademacher_negative(key, j as u32, c as u64) { -1.0 } else { 1.0 };
                assert_eq!(sign(&mut signs, j, c), want, "row {j} column {c}");
            }
        }
    }

    #[test]
    fn a_one_column_projection_is_the_scaled_signed_input() {
        let key = key_of_seed(seed_of_words([1, 2]));
        let out =
            DenseProject.reference(&dims(1, 4), &[Tensor::f32(vec![1], vec![2.0]), Tensor::u32(vec![2], vec![1, 2])]);
        for (j, &v) in out[0].as_f32().unwrap().iter().enumerate() {
            let want = if rademacher_negative(key, j as u32, 0) { -1.0 } else { 1.0 };
            assert_eq!(v, want, "row {j}");
        }
    }
}
