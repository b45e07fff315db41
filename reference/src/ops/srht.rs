//! `srht` and `srht_t`: the subsampled randomized Hadamard transform of a learning signal and
//! its transpose, every random value derived from the seed as `kernels/SIGNALS.md` specifies.
//!
//! With n_pad the smallest power of two ≥ n, g zero-padded to n_pad, D = diag(±1) the signs of
//! purpose 5 ([`srht_negative`]), H the orthonormal Walsh–Hadamard matrix of order n_pad
//! (H[a, i] = (−1)^popcount(a AND i) / √n_pad) and s_0 .. s_(k−1) the k distinct coordinates of
//! the partial Fisher–Yates draw of purpose 6 ([`srht_sample`]), in draw order:
//!
//! ```text
//! srht:    y[t] = √(n_pad/k) · (H D g)[s_t] = (1/√k) Σ_i (−1)^popcount(s_t AND i) · D[i] · g[i]
//! srht_t:  g'[i] = (1/√k) · D[i] · Σ_t (−1)^popcount(s_t AND i) · y[t]       (i < n)
//! ```
//!
//! `srht_t` is the exact transpose of `srht`, and with k = n_pad the sample is a permutation, so
//! `srht_t(srht(g)) = g`. For k < n_pad, E over seeds of ⟨srht(a), srht(b)⟩ = ⟨a, b⟩. Linear in
//! the f32 input, so sketches of many instances add before decoding.
//!
//! - `srht`: inputs `g` f32 `[n]`, `seed` u32 `[2]`, `k` u32 `[1]` (1 ≤ k ≤ n_pad); output `y`
//!   f32 `[k]`.
//! - `srht_t`: inputs `y` f32 `[k]`, `seed` u32 `[2]`, `n` u32 `[1]`; output `g` f32 `[n]`.
//!
//! Cost model: bytes = 4·n + 4·k + 12; flops = n_pad·log2(n_pad) (one add or subtract per
//! butterfly output) + n (signs) + k (scale).

use rand::Rng;
use rand::rngs::StdRng;

use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, expect_dtype};
use crate::ops::dense_project::key_of;
use crate::signals::derive::{srht_negative, srht_sample};
use crate::tensor::{DType, Tensor};

/// Largest n: n_pad must fit the 32-bit coordinates of the sample.
pub const MAX_N: usize = 1 << 31;

/// The `srht` op.
pub struct Srht;
/// The `srht_t` op.
pub struct SrhtT;

/// Problem sizes: k samples of a length-n signal; n_pad is derived.
pub fn dims(n: usize, k: usize) -> Dims {
    Dims(vec![("n", n), ("k", k), ("n_pad", n.next_power_of_two())])
}

fn scalar(t: &Tensor, name: &str) -> Result<usize, OpError> {
    expect_dtype(name, t, DType::U32)?;
    if t.shape != [1] {
        return Err(OpError::new(name, format!("shape {:?} is not [1]", t.shape)));
    }
    Ok(t.as_u32().expect("u32")[0] as usize)
}

fn seed_ok(seed: &Tensor) -> Result<(), OpError> {
    expect_dtype("seed", seed, DType::U32)?;
    if seed.shape != [2] {
        return Err(OpError::new("seed", format!("shape {:?} is not [2]", seed.shape)));
    }
    Ok(())
}

fn vector(t: &Tensor, name: &str) -> Result<usize, OpError> {
    expect_dtype(name, t, DType::F32)?;
    match t.shape.as_slice() {
        &[n] if n > 0 => Ok(n),
        s => Err(OpError::new(name, format!("shape {s:?} is not a non-empty vector"))),
    }
}

/// Checks (n, k) and returns the dims; `k_name`/`n_name` are the tensors blamed.
fn checked_dims(n: usize, k: usize, n_name: &str, k_name: &str) -> Result<Dims, OpError> {
    if n == 0 || n > MAX_N {
        return Err(OpError::new(n_name, format!("n = {n} is not in 1..=2^31")));
    }
    let n_pad = n.next_power_of_two();
    if k == 0 || k > n_pad {
        return Err(OpError::new(k_name, format!("k = {k} is not in 1..={n_pad} (n = {n} padded to a power of two)")));
    }
    Ok(dims(n, k))
}

/// z ← H z, H the unnormalized Walsh–Hadamard matrix of order z.len() (a power of two), by the
/// textbook butterfly in f64: level h pairs (i, i + h) within blocks of 2h into (a + b, a − b).
/// Equal to the defining sum Σ_i (−1)^popcount(a AND i) z[i] (checked by a test below) in
/// n·log2(n) operations instead of n², so the bench's 2^24-coordinate cases stay affordable.
fn fwht_f64(z: &mut [f64]) {
    let mut h = 1;
    while h < z.len() {
        for blk in z.chunks_exact_mut(2 * h) {
            let (a, b) = blk.split_at_mut(h);
            for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                (*x, *y) = (*x + *y, *x - *y);
            }
        }
        h *= 2;
    }
}

/// D[i] for i in 0..n as ±1.0.
fn signs(key: [u32; 2], n: usize) -> Vec<f64> {
    (0..n as u64).map(|i| if srht_negative(key, i) { -1.0 } else { 1.0 }).collect()
}

const INPUTS: &[TensorSpec] = &[
    TensorSpec { name: "g", dtype: DType::F32, shape_doc: "[n]" },
    TensorSpec { name: "seed", dtype: DType::U32, shape_doc: "[2] (low word, high word)" },
    TensorSpec { name: "k", dtype: DType::U32, shape_doc: "[1], 1 <= k <= n_pad" },
];
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "y", dtype: DType::F32, shape_doc: "[k] in draw order" }];
const INPUTS_T: &[TensorSpec] = &[
    TensorSpec { name: "y", dtype: DType::F32, shape_doc: "[k]" },
    TensorSpec { name: "seed", dtype: DType::U32, shape_doc: "[2] (low word, high word)" },
    TensorSpec { name: "n", dtype: DType::U32, shape_doc: "[1], k <= n_pad" },
];
const OUTPUTS_T: &[TensorSpec] = &[TensorSpec { name: "g", dtype: DType::F32, shape_doc: "[n]" }];

/// Smallest size, ragged n against the 128-sign Philox blocks, a full permutation (k = n_pad,
/// n not a power of two), and a large signal sampled sparsely.
fn test_sizes() -> Vec<Dims> {
    vec![dims(1, 1), dims(3, 4), dims(1000, 17), dims(4097, 64), dims(2000, 2048), dims(65_537, 128)]
}

fn bench_sizes() -> Vec<Dims> {
    vec![dims(1 << 24, 1 << 16), dims(1 << 20, 1 << 12)]
}

fn cost_of(dims: &Dims) -> Cost {
    let (n, k, n_pad) = (dims.get("n") as u64, dims.get("k") as u64, dims.get("n_pad") as u64);
    Cost { bytes: 4 * n + 4 * k + 12, weight_bytes: 0, flops: n_pad * u64::from(n_pad.trailing_zeros()) + n + k }
}

/// f32 butterflies (log2 n_pad levels of one add each) against the f64 reference.
const TOLERANCE: Tolerance = Tolerance { rel_l2: 1e-5, max_abs_scaled: 1e-5 };

impl Op for Srht {
    fn name(&self) -> &'static str {
        "srht"
    }

    fn summary(&self) -> &'static str {
        "y = sqrt(n_pad/k) S H D g: Philox signs D, Walsh-Hadamard H, k coordinates sampled (SIGNALS.md)"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [g, seed, k] = inputs else {
            return Err(OpError::new("inputs", format!("expected 3 tensors (g, seed, k), got {}", inputs.len())));
        };
        let n = vector(g, "g")?;
        seed_ok(seed)?;
        checked_dims(n, scalar(k, "k")?, "g", "k")
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("k")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let (n, k, n_pad) = (dims.get("n"), dims.get("k"), dims.get("n_pad"));
        let g = inputs[0].as_f32().expect("g is f32");
        let key = key_of(&inputs[1]);
        let d = signs(key, n);
        let mut z = vec![0.0f64; n_pad];
        for i in 0..n {
            z[i] = d[i] * f64::from(g[i]);
        }
        fwht_f64(&mut z);
        let scale = 1.0 / (k as f64).sqrt();
        let y = srht_sample(key, n_pad as u64, k).iter().map(|&s| (z[s as usize] * scale) as f32).collect();
        vec![Tensor::f32(vec![k], y)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let n = dims.get("n");
        vec![
            Tensor::f32(vec![n], (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()),
            Tensor::u32(vec![2], vec![rng.random(), rng.random()]),
            Tensor::u32(vec![1], vec![dims.get("k") as u32]),
        ]
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

impl Op for SrhtT {
    fn name(&self) -> &'static str {
        "srht_t"
    }

    fn summary(&self) -> &'static str {
        "g = sqrt(n_pad/k) D H S^T y truncated to n: the transpose of srht with the same seed"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS_T
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS_T
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [y, seed, n] = inputs else {
            return Err(OpError::new("inputs", format!("expected 3 tensors (y, seed, n), got {}", inputs.len())));
        };
        let k = vector(y, "y")?;
        seed_ok(seed)?;
        checked_dims(scalar(n, "n")?, k, "n", "y")
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("n")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let (n, k, n_pad) = (dims.get("n"), dims.get("k"), dims.get("n_pad"));
        let y = inputs[0].as_f32().expect("y is f32");
        let key = key_of(&inputs[1]);
        let d = signs(key, n);
        let mut z = vec![0.0f64; n_pad];
        for (&s, &v) in srht_sample(key, n_pad as u64, k).iter().zip(y) {
            z[s as usize] = f64::from(v);
        }
        fwht_f64(&mut z);
        let scale = 1.0 / (k as f64).sqrt();
        let g = (0..n).map(|i| (d[i] * z[i] * scale) as f32).collect();
        vec![Tensor::f32(vec![n], g)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let k = dims.get("k");
        vec![
            Tensor::f32(vec![k], (0..k).map(|_| rng.random_range(-1.0f32..1.0)).collect()),
            Tensor::u32(vec![2], vec![rng.random(), rng.random()]),
            Tensor::u32(vec![1], vec![dims.get("n") as u32]),
        ]
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

    fn fwd(g: &[f32], seed: [u32; 2], k: usize) -> Vec<f32> {
        let inputs = [
            Tensor::f32(vec![g.len()], g.to_vec()),
            Tensor::u32(vec![2], seed.to_vec()),
            Tensor::u32(vec![1], vec![k as u32]),
        ];
        Srht.reference(&Srht.dims_of(&inputs).unwrap(), &inputs)[0].as_f32().unwrap().to_vec()
    }

    fn bwd(y: &[f32], seed: [u32; 2], n: usize) -> Vec<f32> {
        let inputs = [
            Tensor::f32(vec![y.len()], y.to_vec()),
            Tensor::u32(vec![2], seed.to_vec()),
            Tensor::u32(vec![1], vec![n as u32]),
        ];
        SrhtT.reference(&SrhtT.dims_of(&inputs).unwrap(), &inputs)[0].as_f32().unwrap().to_vec()
    }

    fn random(n: usize, stream: u64) -> Vec<f32> {
        let mut rng = rng_for(31, stream);
        (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    /// (−1)^popcount(a AND i) as ±1.0: entry (a, i) of the unnormalized Walsh–Hadamard matrix.
    fn hadamard_sign(a: u32, i: usize) -> f64 {
        if (a as usize & i).count_ones() % 2 == 1 { -1.0 } else { 1.0 }
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum()
    }

    #[test]
    fn srht_and_srht_t_are_the_defining_sums() {
        // y[t] = (1/√k) Σ_i H[s_t, i] D[i] g[i] and g'[i] = (1/√k) D[i] Σ_t H[s_t, i] y[t],
        // written out entry by entry against the butterfly the reference uses.
        let (n, k, seed) = (37usize, 20usize, [5u32, 6]);
        let key = key_of(&Tensor::u32(vec![2], seed.to_vec()));
        let (d, sample) = (signs(key, n), srht_sample(key, 64, k));
        let (g, y) = (random(n, 8), random(k, 9));
        let (fy, bg) = (fwd(&g, seed, k), bwd(&y, seed, n));
        let scale = 1.0 / (k as f64).sqrt();
        for (t, &s) in sample.iter().enumerate() {
            let want: f64 = (0..n).map(|i| hadamard_sign(s, i) * d[i] * f64::from(g[i])).sum::<f64>() * scale;
            assert!((f64::from(fy[t]) - want).abs() < 1e-6, "sample {t}: {} vs {want}", fy[t]);
        }
        for i in 0..n {
            let want: f64 =
                d[i] * sample.iter().zip(&y).map(|(&s, &v)| hadamard_sign(s, i) * f64::from(v)).sum::<f64>() * scale;
            assert!((f64::from(bg[i]) - want).abs() < 1e-6, "coordinate {i}: {} vs {want}", bg[i]);
        }
    }

    #[test]
    fn the_transform_is_linear_in_g() {
        let (a, b) = (random(300, 0), random(300, 1));
        let sum: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        let (ya, yb, yab) = (fwd(&a, [1, 2], 40), fwd(&b, [1, 2], 40), fwd(&sum, [1, 2], 40));
        for t in 0..40 {
            assert!((ya[t] + yb[t] - yab[t]).abs() <= 1e-5 * (1.0 + yab[t].abs()), "sample {t}");
        }
    }

    #[test]
    fn srht_t_is_the_adjoint_of_srht() {
        let (g, y) = (random(777, 2), random(100, 3));
        let (l, r) = (dot(&fwd(&g, [7, 8], 100), &y), dot(&g, &bwd(&y, [7, 8], 777)));
        assert!((l - r).abs() < 1e-4, "{l} vs {r}");
    }

    #[test]
    fn with_every_coordinate_sampled_srht_t_inverts_srht() {
        // k = n_pad: S is a permutation, so the transform is orthogonal and srht_t its inverse.
        let g = random(100, 4);
        let back = bwd(&fwd(&g, [3, 0], 128), [3, 0], 100);
        for (i, (a, b)) in g.iter().zip(&back).enumerate() {
            assert!((a - b).abs() < 1e-5, "coordinate {i}: {a} vs {b}");
        }
    }

    #[test]
    fn inner_products_are_preserved_in_expectation_over_seeds() {
        // E⟨S a, S b⟩ = ⟨a, b⟩. One seed's estimate spreads by about ‖a‖‖b‖/√k (0.18·‖a‖‖b‖
        // at k = 32), so the mean of 200 seeds by about 0.0125·‖a‖‖b‖; the bound is 8 of those.
        // The seeds are fixed, so this cannot flake.
        let (a, b) = (random(200, 5), random(200, 6));
        let want = dot(&a, &b);
        let seeds = 200u32;
        let mean: f64 =
            (0..seeds).map(|s| dot(&fwd(&a, [s, 1], 32), &fwd(&b, [s, 1], 32))).sum::<f64>() / f64::from(seeds);
        let norms = dot(&a, &a).sqrt() * dot(&b, &b).sqrt();
        assert!((mean - want).abs() < 0.1 * norms, "mean {mean} vs {want} (‖a‖‖b‖ = {norms})");
        // And one seed on its own is a rough estimate (|error| well inside ‖a‖‖b‖).
        let one = dot(&fwd(&a, [9, 9], 128), &fwd(&b, [9, 9], 128));
        assert!((one - want).abs() < norms, "{one} vs {want}");
    }

    #[test]
    fn norms_are_preserved_exactly_when_every_coordinate_is_sampled() {
        let g = random(1000, 7);
        let y = fwd(&g, [4, 4], 1024);
        assert!((dot(&y, &y) - dot(&g, &g)).abs() < 1e-3, "{} vs {}", dot(&y, &y), dot(&g, &g));
    }

    #[test]
    fn k_beyond_the_padded_length_or_bad_tensors_are_named() {
        let g = Tensor::f32(vec![5], vec![1.0; 5]);
        let seed = Tensor::u32(vec![2], vec![0, 0]);
        for k in [0u32, 9] {
            let inputs = [g.clone(), seed.clone(), Tensor::u32(vec![1], vec![k])];
            assert_eq!(Srht.dims_of(&inputs).unwrap_err().tensor, "k");
        }
        let ok = [g.clone(), seed.clone(), Tensor::u32(vec![1], vec![8])];
        assert_eq!(Srht.dims_of(&ok).unwrap(), dims(5, 8));
        let bad_g = [seed.clone(), seed.clone(), Tensor::u32(vec![1], vec![1])];
        assert_eq!(Srht.dims_of(&bad_g).unwrap_err().tensor, "g");
        let t = [Tensor::f32(vec![9], vec![1.0; 9]), seed.clone(), Tensor::u32(vec![1], vec![5])];
        assert_eq!(SrhtT.dims_of(&t).unwrap_err().tensor, "y");
        let t = [Tensor::f32(vec![2], vec![1.0; 2]), seed, Tensor::u32(vec![1], vec![0])];
        assert_eq!(SrhtT.dims_of(&t).unwrap_err().tensor, "n");
    }
}
