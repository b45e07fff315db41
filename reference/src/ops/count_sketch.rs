//! `count_sketch`: S[r, h_r(i)] += σ_r(i)·g[i] — a linear sketch of a learning signal, r rows of
//! c buckets, bucket h_r(i) and sign σ_r(i) drawn from Philox as `kernels/SIGNALS.md` specifies
//! ([`count_sketch_hash`]: purpose 3, counter (i lo, i hi, row, 3), bucket by Lemire's
//! multiply-shift of word 0, sign from bit 31 of word 1).
//!
//! Linear in g, so the collective adds the sketches of many instances before decoding
//! ([`count_unsketch`](super::count_unsketch): the median of the rows; then `topk` for the heavy
//! hitters).
//!
//! - Inputs: `g` f32 `[n]`, `seed` u32 `[2]` (low word, high word).
//! - Output: `sketch` f32 `[r, c]`.
//! - `r` and `c` are not carried by the inputs: `dfma op` uses [`DEFAULT_ROWS`] × [`DEFAULT_BUCKETS`].
//!
//! Cost model: bytes = 4·n + 4·r·c + 8; flops = 2·r·n (one signed add a row and coordinate).

use rand::Rng;
use rand::rngs::StdRng;

use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, expect_dtype};
use crate::ops::dense_project::key_of;
use crate::signals::derive::count_sketch_hash;
use crate::tensor::{DType, Tensor};

/// Rows of `dfma op count_sketch`.
pub const DEFAULT_ROWS: usize = 5;
/// Buckets of `dfma op count_sketch`.
pub const DEFAULT_BUCKETS: usize = 1024;

/// The `count_sketch` op.
pub struct CountSketch;

/// Problem sizes: n coordinates into r rows of c buckets.
pub fn dims(n: usize, r: usize, c: usize) -> Dims {
    Dims(vec![("n", n), ("r", r), ("c", c)])
}

const INPUTS: &[TensorSpec] = &[
    TensorSpec { name: "g", dtype: DType::F32, shape_doc: "[n]" },
    TensorSpec { name: "seed", dtype: DType::U32, shape_doc: "[2] (low word, high word)" },
];
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "sketch", dtype: DType::F32, shape_doc: "[r, c]" }];

impl Op for CountSketch {
    fn name(&self) -> &'static str {
        "count_sketch"
    }

    fn summary(&self) -> &'static str {
        "S[r, h_r(i)] += sign_r(i) g[i], r rows x c buckets, hashes from Philox (SIGNALS.md)"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [g, seed] = inputs else {
            return Err(OpError::new("inputs", format!("expected 2 tensors (g, seed), got {}", inputs.len())));
        };
        expect_dtype("g", g, DType::F32)?;
        expect_dtype("seed", seed, DType::U32)?;
        if seed.shape != [2] {
            return Err(OpError::new("seed", format!("shape {:?} is not [2]", seed.shape)));
        }
        match g.shape.as_slice() {
            &[n] if n > 0 => Ok(dims(n, DEFAULT_ROWS, DEFAULT_BUCKETS)),
            s => Err(OpError::new("g", format!("shape {s:?} is not a non-empty [n]"))),
        }
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("r"), dims.get("c")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let (r, c) = (dims.get("r"), dims.get("c"));
        let g = inputs[0].as_f32().expect("g is f32");
        let key = key_of(&inputs[1]);
        let mut acc = vec![0.0f64; r * c];
        for row in 0..r {
            for (i, &v) in g.iter().enumerate() {
                let (b, negative) = count_sketch_hash(key, row as u32, i as u64, c as u32);
                acc[row * c + b as usize] += if negative { -f64::from(v) } else { f64::from(v) };
            }
        }
        vec![Tensor::f32(vec![r, c], acc.iter().map(|&a| a as f32).collect())]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let n = dims.get("n");
        vec![
            Tensor::f32(vec![n], (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()),
            Tensor::u32(vec![2], vec![rng.random(), rng.random()]),
        ]
    }

    fn test_dims(&self) -> Vec<Dims> {
        vec![dims(1, 1, 1), dims(1000, 3, 17), dims(4097, 5, 256), dims(65_537, 7, 1000)]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        // A 64 MiB signal into 5 rows of 64 Ki buckets (FetchSGD-like proportions).
        vec![dims(1 << 24, 5, 1 << 16)]
    }

    fn tolerance(&self) -> Tolerance {
        // Each bucket is an f32 sum of about n/c signed terms.
        Tolerance { rel_l2: 1e-5, max_abs_scaled: 1e-5 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let (n, r, c) = (dims.get("n") as u64, dims.get("r") as u64, dims.get("c") as u64);
        Cost { bytes: 4 * n + 4 * r * c + 8, weight_bytes: 0, flops: 2 * r * n }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::rng_for;

    #[test]
    fn the_sketch_is_linear_in_g() {
        let d = dims(5000, 3, 64);
        let mut rng = rng_for(3, 0);
        let seed = Tensor::u32(vec![2], vec![11, 12]);
        let a = CountSketch.random_inputs(&d, &mut rng).remove(0);
        let b = CountSketch.random_inputs(&d, &mut rng).remove(0);
        let sum: Vec<f32> = a.as_f32().unwrap().iter().zip(b.as_f32().unwrap()).map(|(x, y)| x + y).collect();
        let sa = CountSketch.reference(&d, &[a, seed.clone()]);
        let sb = CountSketch.reference(&d, &[b, seed.clone()]);
        let sab = CountSketch.reference(&d, &[Tensor::f32(vec![5000], sum), seed]);
        let (x, y, z) = (sa[0].as_f32().unwrap(), sb[0].as_f32().unwrap(), sab[0].as_f32().unwrap());
        for i in 0..x.len() {
            assert!((x[i] + y[i] - z[i]).abs() <= 1e-4 * (1.0 + z[i].abs()), "bucket {i}");
        }
    }

    #[test]
    fn a_single_spike_lands_in_one_bucket_per_row_with_its_sign() {
        let d = dims(100, 4, 8);
        let mut g = vec![0.0f32; 100];
        g[42] = 3.0;
        let seed = Tensor::u32(vec![2], vec![1, 0]);
        let key = key_of(&seed);
        let s = CountSketch.reference(&d, &[Tensor::f32(vec![100], g), seed]);
        let s = s[0].as_f32().unwrap();
        for row in 0..4 {
            let (b, neg) = count_sketch_hash(key, row, 42, 8);
            let want = if neg { -3.0 } else { 3.0 };
            for bucket in 0..8 {
                let expected = if bucket == b { want } else { 0.0 };
                assert_eq!(s[row as usize * 8 + bucket as usize], expected, "row {row} bucket {bucket}");
            }
        }
    }
}
