//! `dense_project_gaussian` and `dense_project_gaussian_t`: a seeded Gaussian random projection
//! of a learning signal and its transpose, the matrix never stored.
//!
//! - `dense_project_gaussian`: s = R·g, R (k×n) with entries N(0, 1/k): R[j, c] = z/√k, z the
//!   Box–Muller value of (row j, column c) that `kernels/SIGNALS.md` specifies (one Philox
//!   block, purpose 2, gives four columns of a row;
//!   [`gaussian_entry`](crate::signals::derive::gaussian_entry)). Inputs `g` f32 `[n]`,
//!   `seed` u32 `[2]`; output `s` f32 `[k]`.
//! - `dense_project_gaussian_t`: g' = Rᵀ·s with the same R. Inputs `s` f32 `[k]`, `seed` u32
//!   `[2]`; output `g` f32 `[n]`.
//!
//! The Rademacher projection (`dense_project`) is cheaper (one Philox block per 128 entries,
//! sign flips only); the Gaussian one is the textbook Johnson–Lindenstrauss matrix, rotation
//! invariant, whose estimates' variance does not depend on how g's mass is spread across
//! coordinates. Shapes, dims and the seed layout are `dense_project`'s.
//!
//! The reference evaluates each entry in f64 ([`crate::signals::derive::box_muller`]) and sums
//! in f64. Kernels compute entries in f32 ([`crate::signals::box_muller_f32`], within 1.44e-6
//! of the f64 value) and sum in f32.
//!
//! Cost model: bytes = 4·n + 4·k + 8 (as `dense_project`); flops = 27·n·k: per entry an FMA (2)
//! and half of a Box–Muller pair's 50 f32 flops (an FMA counted as 2; conversions, the division
//! and the square root as 1 each). Philox's integer work (a block per 4 entries, 20 32-bit
//! multiplies) is not counted. The op is compute bound: at n·k entries every backend spends
//! far longer generating R than reading g.

use rand::rngs::StdRng;

use super::dense_project::{DEFAULT_K, dims, key_of, random_seed, random_vector, vector_and_seed};
use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec};
use crate::signals::derive::{PURPOSE_DENSE_GAUSSIAN, box_muller, dense_block};
use crate::tensor::{DType, Tensor};

/// The `dense_project_gaussian` op: s = R·g.
pub struct DenseProjectGaussian;
/// The `dense_project_gaussian_t` op: g' = Rᵀ·s.
pub struct DenseProjectGaussianT;

/// Columns of a row one Philox block supplies: two Box–Muller pairs.
pub const COLUMNS_PER_BLOCK: usize = 4;

/// f32 flops an entry costs (module docs: the cost model).
pub const FLOPS_PER_ENTRY: u64 = 27;

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

/// Unscaled entries z of row `row`, columns 4q .. 4q+3, in f64: Box–Muller of words (0, 1)
/// gives the first two (cos, sin), of words (2, 3) the last two.
pub fn group_entries(key: [u32; 2], row: u32, q: u64) -> [f64; 4] {
    let w = dense_block(key, PURPOSE_DENSE_GAUSSIAN, row, q);
    let (z0, z1) = box_muller(w[0], w[1]);
    let (z2, z3) = box_muller(w[2], w[3]);
    [z0, z1, z2, z3]
}

/// Test sizes: a single entry; ragged n against the 4-column Philox blocks and the GPU chunks
/// (1024 columns forward, 512 transposed); k below and above a 256-thread block; and one size
/// past 256 chunks, where the GPU grids fold into a second dimension. Smaller than
/// `dense_project`'s: an entry costs a Box–Muller pair's half, and the PTX interpreter runs them.
fn test_sizes() -> Vec<Dims> {
    vec![dims(1, 1), dims(1001, 3), dims(4097, 16), dims(12_289, 40), dims(129, 300), dims(263_169, 2)]
}

/// Bench sizes: 2^28 entries each, a 4 MiB signal into 256 rows and a 1 MiB one into 1024.
fn bench_sizes() -> Vec<Dims> {
    vec![dims(1 << 20, 256), dims(1 << 18, 1024)]
}

fn cost_of(dims: &Dims) -> Cost {
    let (n, k) = (dims.get("n") as u64, dims.get("k") as u64);
    Cost { bytes: 4 * n + 4 * k + 8, weight_bytes: 0, flops: FLOPS_PER_ENTRY * n * k }
}

/// As `dense_project`'s: f32 sums of n (or k) terms against f64. The f32 entries add an error
/// of at most 1.44e-6 each (|z| ≤ 5.77; a few 1e-7 for typical |z| ≈ 1), of varying sign, so
/// the sums gain a relative error of that order at worst; the test matrix measures relative L2
/// errors under 1e-6 on cpu, wgpu and ptxvm.
const TOLERANCE: Tolerance = Tolerance { rel_l2: 1e-5, max_abs_scaled: 1e-5 };

impl Op for DenseProjectGaussian {
    fn name(&self) -> &'static str {
        "dense_project_gaussian"
    }

    fn summary(&self) -> &'static str {
        "s = R g, R (k x n) Gaussian N(0, 1/k) from (seed, row, column) by Box-Muller, never stored"
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
        let k = dims.get("k");
        let g = inputs[0].as_f32().expect("g is f32");
        let key = key_of(&inputs[1]);
        let scale = 1.0 / (k as f64).sqrt();
        let s = (0..k)
            .map(|j| {
                let mut sum = 0.0f64;
                for (q, cols) in g.chunks(COLUMNS_PER_BLOCK).enumerate() {
                    let z = group_entries(key, j as u32, q as u64);
                    sum += cols.iter().zip(z).map(|(&x, z)| z * f64::from(x)).sum::<f64>();
                }
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

impl Op for DenseProjectGaussianT {
    fn name(&self) -> &'static str {
        "dense_project_gaussian_t"
    }

    fn summary(&self) -> &'static str {
        "g = R^T s, the transpose of dense_project_gaussian with the same seeded R"
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
        let n = dims.get("n");
        let s = inputs[0].as_f32().expect("s is f32");
        let key = key_of(&inputs[1]);
        let scale = 1.0 / (s.len() as f64).sqrt();
        // Rows outer so each Philox block is drawn once; f64 sums per column.
        let mut acc = vec![0.0f64; n];
        for (j, &sj) in s.iter().enumerate() {
            for (q, cols) in acc.chunks_mut(COLUMNS_PER_BLOCK).enumerate() {
                let z = group_entries(key, j as u32, q as u64);
                for (a, z) in cols.iter_mut().zip(z) {
                    *a += z * f64::from(sj);
                }
            }
        }
        let g = acc.iter().map(|&a| (a * scale) as f32).collect();
        vec![Tensor::f32(vec![n], g)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        vec![random_vector(dims.get("k"), rng), random_seed(rng)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::rng_for;
    use crate::signals::derive::{gaussian_entry, key_of_seed, seed_of_words};

    fn f32s(t: &Tensor) -> &[f32] {
        t.as_f32().unwrap()
    }

    #[test]
    fn the_projection_is_linear_in_g() {
        let d = dims(3001, 8);
        let mut rng = rng_for(11, 0);
        let (a, b) = (random_vector(3001, &mut rng), random_vector(3001, &mut rng));
        let seed = Tensor::u32(vec![2], vec![5, 6]);
        let sum: Vec<f32> = f32s(&a).iter().zip(f32s(&b)).map(|(x, y)| x + y).collect();
        let sa = DenseProjectGaussian.reference(&d, &[a, seed.clone()]);
        let sb = DenseProjectGaussian.reference(&d, &[b, seed.clone()]);
        let sab = DenseProjectGaussian.reference(&d, &[Tensor::f32(vec![3001], sum), seed]);
        for j in 0..8 {
            let (x, y, z) = (f32s(&sa[0])[j], f32s(&sb[0])[j], f32s(&sab[0])[j]);
            assert!((x + y - z).abs() <= 1e-4 * (1.0 + z.abs()), "row {j}: {x} + {y} != {z}");
        }
    }

    #[test]
    fn the_transpose_is_the_adjoint() {
        // <R g, s> = <g, R^T s> for any g and s.
        let d = dims(777, 5);
        let mut rng = rng_for(12, 0);
        let (g, s) = (random_vector(777, &mut rng), random_vector(5, &mut rng));
        let seed = Tensor::u32(vec![2], vec![9, 0xdead_beef]);
        let rg = DenseProjectGaussian.reference(&d, &[g.clone(), seed.clone()]);
        let rts = DenseProjectGaussianT.reference(&d, &[s.clone(), seed]);
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum::<f64>();
        let (l, r) = (dot(f32s(&rg[0]), f32s(&s)), dot(f32s(&g), f32s(&rts[0])));
        assert!(l.abs() > 1.0, "the check needs a non-trivial product, got {l}");
        assert!((l - r).abs() < 1e-4 * l.abs(), "{l} vs {r}");
    }

    #[test]
    fn the_reference_entries_are_the_specified_ones() {
        let key = key_of_seed(0x1234_5678_9abc_def0);
        for j in [0u32, 1, 77] {
            for q in (0..300u64).chain([(1 << 35) + 5]) {
                let z = group_entries(key, j, q);
                for (i, &zi) in z.iter().enumerate() {
                    let c = 4 * q + i as u64;
                    assert_eq!(zi, gaussian_entry(key, j, c), "row {j} column {c}");
                }
            }
        }
    }

    #[test]
    fn a_unit_vector_projects_to_the_scaled_entries_of_its_column() {
        let (n, k, col) = (11, 6, 9);
        let key = key_of_seed(seed_of_words([3, 4]));
        let mut g = vec![0.0f32; n];
        g[col] = 1.0;
        let s =
            DenseProjectGaussian.reference(&dims(n, k), &[Tensor::f32(vec![n], g), Tensor::u32(vec![2], vec![3, 4])]);
        for (j, &v) in f32s(&s[0]).iter().enumerate() {
            let want = (gaussian_entry(key, j as u32, col as u64) / (k as f64).sqrt()) as f32;
            assert_eq!(v, want, "row {j}");
        }
    }

    /// Rows of R read back through the transpose (Rᵀ e_j = row j), 2^20 entries in all.
    fn entries_of_r(k: usize, n: usize, seed: [u32; 2]) -> Vec<f64> {
        let d = dims(n, k);
        let mut out = Vec::with_capacity(n * k);
        for j in 0..k {
            let mut e = vec![0.0f32; k];
            e[j] = 1.0;
            let row =
                DenseProjectGaussianT.reference(&d, &[Tensor::f32(vec![k], e), Tensor::u32(vec![2], seed.to_vec())]);
            out.extend(f32s(&row[0]).iter().map(|&v| f64::from(v)));
        }
        out
    }

    #[test]
    fn entries_have_mean_zero_variance_one_over_k_and_gaussian_mass_within_one_sigma() {
        // N = 2^20 entries of one seeded R (deterministic: the bounds hold or fail for good).
        // For N(0, 1/k) entries, each statistic below is within 5 standard errors of its
        // expectation with probability 1 − 6e-7; a non-Gaussian or mis-scaled R misses by far
        // more (uniform entries of variance 1/k put 0.577, not 0.683, within one sigma).
        let (k, n) = (4, 1 << 18);
        let z = entries_of_r(k, n, [0x5eed, 7]);
        let count = z.len() as f64;
        let sigma = 1.0 / (k as f64).sqrt();
        let mean = z.iter().sum::<f64>() / count;
        let var = z.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (count - 1.0);
        let within = z.iter().filter(|x| x.abs() < sigma).count() as f64 / count;
        // Standard errors: sigma/√N for the mean, √(2/N)/k for the variance, √(p(1−p)/N) for
        // the mass with p = 0.682689.
        let p = 0.682_689_492;
        let (se_mean, se_var, se_mass) =
            (sigma / count.sqrt(), (2.0 / count).sqrt() / k as f64, (p * (1.0 - p) / count).sqrt());
        println!(
            "mean {mean:.3e} (se {se_mean:.1e}), variance {var:.6} vs {:.6} (se {se_var:.1e}), mass within sigma {within:.6} vs {p} (se {se_mass:.1e})",
            1.0 / k as f64
        );
        assert!(mean.abs() <= 5.0 * se_mean, "mean {mean}");
        assert!((var - 1.0 / k as f64).abs() <= 5.0 * se_var, "variance {var} vs {}", 1.0 / k as f64);
        assert!((within - p).abs() <= 5.0 * se_mass, "fraction within one sigma {within} vs {p}");
    }

    #[test]
    fn different_rows_are_uncorrelated() {
        // Sample correlation of two rows over 2^16 columns: within 5/√N = 0.02 of 0.
        let z = entries_of_r(2, 1 << 16, [1, 2]);
        let (a, b) = z.split_at(1 << 16);
        let dot = a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let norm = (a.iter().map(|x| x * x).sum::<f64>() * b.iter().map(|x| x * x).sum::<f64>()).sqrt();
        let corr = dot / norm;
        assert!(corr.abs() <= 5.0 / f64::from(1 << 8), "correlation {corr}");
    }
}
