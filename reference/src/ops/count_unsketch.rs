//! `count_unsketch`: the decode of [`count_sketch`](super::count_sketch) — an estimate of every
//! coordinate from a sketch S of r rows × c buckets:
//!
//! ```text
//! ĝ[i] = median over rows r of σ_r(i) · S[r, h_r(i)]
//! ```
//!
//! with the bucket h_r(i) and sign σ_r(i) of `kernels/SIGNALS.md` ([`count_sketch_hash`]), so a
//! sketch made on any backend decodes on any other. A coordinate that shares its bucket with no
//! other large coordinate in more than half of the rows is recovered exactly; FetchSGD's
//! heavy-hitter recovery is this decode followed by `topk`
//! ([`crate::cpu::heavy_hitters::heavy_hitters`]).
//!
//! **Median.** The r row values are ordered by IEEE-754 `totalOrder` (Rust's `f32::total_cmp`:
//! −NaN < −inf < … < −0 < +0 < … < +inf < +NaN), so the order of any two values is defined even
//! for signed zeros, and the result never depends on how a backend sorts. For odd r the median
//! is the middle value (a copy: bit-exact). For even r it is the mean of the two middle values
//! a ≤ b, computed in f32 as `(a + b) * 0.5` — one correctly rounded addition, then an exact
//! halving — so every backend gets the same bits (the halving of a subnormal sum rounds, and
//! a + b overflows to ±inf when both exceed f32::MAX / 2 in magnitude; sketches of learning
//! signals are far from either end).
//!
//! - Inputs: `sketch` f32 `[r, c]` (1 ≤ r ≤ [`MAX_ROWS`]), `seed` u32 `[2]`, `n` u32 `[1]`.
//! - Output: `g` f32 `[n]`.
//! - Outputs are compared bit for bit (tolerance zero): every value is a copy, a negation or
//!   the f32 mean above.
//!
//! Cost model: bytes = 4·r·c + 4·n + 12 (the sketch once, the estimate written); ops = 2·r·n
//! (a sign flip and a comparison per row and coordinate; the Philox hashes are not counted, as
//! for `count_sketch`).

use rand::Rng;
use rand::rngs::StdRng;

use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, expect_dtype};
use crate::ops::count_sketch::{DEFAULT_BUCKETS, DEFAULT_ROWS};
use crate::ops::dense_project::key_of;
use crate::signals::derive::count_sketch_hash;
use crate::tensor::{DType, Tensor};

/// The most sketch rows a decode takes: GPU kernels hold a coordinate's row values in
/// registers or a fixed slot of workgroup memory (sketches use 3..7 rows).
pub const MAX_ROWS: usize = 16;

/// The `count_unsketch` op.
pub struct CountUnsketch;

/// Problem sizes: n coordinates decoded from r rows of c buckets (the order of `count_sketch`).
pub fn dims(n: usize, r: usize, c: usize) -> Dims {
    Dims(vec![("n", n), ("r", r), ("c", c)])
}

/// The `totalOrder` key of `x`: unsigned comparison of keys orders floats as
/// [`f32::total_cmp`] does (a set sign bit inverts every bit, a clear one sets the top bit).
#[inline(always)]
pub fn order_key(x: f32) -> u32 {
    let b = x.to_bits();
    if b >> 31 == 1 { !b } else { b | 0x8000_0000 }
}

/// The float of an [`order_key`] (its inverse).
#[inline(always)]
pub fn from_order_key(k: u32) -> f32 {
    f32::from_bits(if k >> 31 == 1 { k & 0x7FFF_FFFF } else { !k })
}

/// The median of `values` as `count_unsketch` defines it (module docs): sorted by
/// `totalOrder`, the middle value for an odd count, `(a + b) * 0.5` in f32 of the two middle
/// values for an even one. Sorts `values` in place.
pub fn median(values: &mut [f32]) -> f32 {
    assert!(!values.is_empty(), "median of no values");
    values.sort_by(f32::total_cmp);
    let m = values.len() / 2;
    if values.len() % 2 == 1 { values[m] } else { (values[m - 1] + values[m]) * 0.5 }
}

const INPUTS: &[TensorSpec] = &[
    TensorSpec { name: "sketch", dtype: DType::F32, shape_doc: "[r, c], 1 <= r <= 16" },
    TensorSpec { name: "seed", dtype: DType::U32, shape_doc: "[2] (low word, high word)" },
    TensorSpec { name: "n", dtype: DType::U32, shape_doc: "[1], coordinates to decode" },
];
const OUTPUTS: &[TensorSpec] = &[TensorSpec { name: "g", dtype: DType::F32, shape_doc: "[n]" }];

impl Op for CountUnsketch {
    fn name(&self) -> &'static str {
        "count_unsketch"
    }

    fn summary(&self) -> &'static str {
        "g[i] = median_r sign_r(i) S[r, h_r(i)] (totalOrder; even r: mean of the middle two), hashes as count_sketch"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [sketch, seed, n] = inputs else {
            return Err(OpError::new("inputs", format!("expected 3 tensors (sketch, seed, n), got {}", inputs.len())));
        };
        expect_dtype("sketch", sketch, DType::F32)?;
        expect_dtype("seed", seed, DType::U32)?;
        expect_dtype("n", n, DType::U32)?;
        let (r, c) = match sketch.shape.as_slice() {
            &[r, c] if (1..=MAX_ROWS).contains(&r) && c > 0 && c <= u32::MAX as usize => (r, c),
            s => {
                return Err(OpError::new(
                    "sketch",
                    format!("shape {s:?} is not [r, c] with 1 <= r <= {MAX_ROWS} and 1 <= c < 2^32"),
                ));
            }
        };
        if seed.shape != [2] {
            return Err(OpError::new("seed", format!("shape {:?} is not [2]", seed.shape)));
        }
        if n.shape != [1] {
            return Err(OpError::new("n", format!("shape {:?} is not [1]", n.shape)));
        }
        match n.as_u32().expect("n is u32")[0] {
            0 => Err(OpError::new("n", "n = 0: nothing to decode")),
            nv => Ok(dims(nv as usize, r, c)),
        }
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("n")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let (n, r, c) = (dims.get("n"), dims.get("r"), dims.get("c"));
        let s = inputs[0].as_f32().expect("sketch is f32");
        let key = key_of(&inputs[1]);
        let g = (0..n)
            .map(|i| {
                let mut values: Vec<f32> = (0..r)
                    .map(|row| {
                        let (b, negative) = count_sketch_hash(key, row as u32, i as u64, c as u32);
                        let v = s[row * c + b as usize];
                        if negative { -v } else { v }
                    })
                    .collect();
                median(&mut values)
            })
            .collect();
        vec![Tensor::f32(vec![n], g)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        // Multiples of 1/64 in (−4, 4): equal values across rows, +x against −x after the sign
        // flips, and zeros that the flips turn into −0, so the total order decides real cases.
        let (n, r, c) = (dims.get("n"), dims.get("r"), dims.get("c"));
        let s = (0..r * c).map(|_| rng.random_range(-255i32..=255) as f32 / 64.0).collect();
        vec![
            Tensor::f32(vec![r, c], s),
            Tensor::u32(vec![2], vec![rng.random(), rng.random()]),
            Tensor::u32(vec![1], vec![n as u32]),
        ]
    }

    fn test_dims(&self) -> Vec<Dims> {
        // Odd and even row counts, the most rows, ragged bucket counts.
        vec![dims(1, 1, 1), dims(1000, 3, 17), dims(4097, 4, 256), dims(3001, MAX_ROWS, 64), dims(65_537, 7, 1000)]
    }

    fn bench_dims(&self) -> Vec<Dims> {
        // The decode of count_sketch's bench sketch; and of `dfma op`'s default sketch.
        vec![dims(1 << 24, 5, 1 << 16), dims(1 << 20, DEFAULT_ROWS, DEFAULT_BUCKETS)]
    }

    fn tolerance(&self) -> Tolerance {
        // Copies, negations and one f32 mean: every backend returns the reference's bits.
        Tolerance { rel_l2: 0.0, max_abs_scaled: 0.0 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        let (n, r, c) = (dims.get("n") as u64, dims.get("r") as u64, dims.get("c") as u64);
        Cost { bytes: 4 * r * c + 4 * n + 12, weight_bytes: 0, flops: 2 * r * n }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::count_sketch::{self, CountSketch};
    use crate::signals::derive::key_of_seed;

    fn decode(sketch: Vec<f32>, r: usize, c: usize, seed: [u32; 2], n: usize) -> Vec<f32> {
        let inputs = [
            Tensor::f32(vec![r, c], sketch),
            Tensor::u32(vec![2], seed.to_vec()),
            Tensor::u32(vec![1], vec![n as u32]),
        ];
        let d = CountUnsketch.dims_of(&inputs).expect("valid inputs");
        CountUnsketch.reference(&d, &inputs).remove(0).as_f32().unwrap().to_vec()
    }

    fn sketch_of(g: &[f32], r: usize, c: usize, seed: [u32; 2]) -> Vec<f32> {
        let inputs = [Tensor::f32(vec![g.len()], g.to_vec()), Tensor::u32(vec![2], seed.to_vec())];
        CountSketch.reference(&count_sketch::dims(g.len(), r, c), &inputs).remove(0).as_f32().unwrap().to_vec()
    }

    #[test]
    fn a_one_sparse_vector_is_recovered_exactly_for_odd_and_even_rows() {
        let seed = [0x1234_5678, 9];
        for (r, c) in [(5, 256), (4, 1024), (1, 64)] {
            let mut g = vec![0.0f32; 1000];
            g[613] = -2.71875;
            let est = decode(sketch_of(&g, r, c, seed), r, c, seed, g.len());
            assert_eq!(est[613].to_bits(), g[613].to_bits(), "r {r}: the spike");
            if r > 1 {
                // One row alone cannot tell a collision from the spike; a majority can.
                for (i, &e) in est.iter().enumerate() {
                    assert!(i == 613 || e == 0.0, "r {r}: coordinate {i} decodes to {e}");
                }
            }
        }
    }

    #[test]
    fn every_coordinate_alone_in_most_of_its_rows_is_recovered_exactly() {
        // 40 nonzeros among 20 000 coordinates, 5 rows of 512 buckets.
        let (n, r, c, seed) = (20_000usize, 5usize, 512usize, [77, 0]);
        let key = key_of_seed(77);
        let spikes: Vec<usize> = (0..40).map(|j| (j * 7919 + 13) % n).collect();
        let mut g = vec![0.0f32; n];
        for (j, &i) in spikes.iter().enumerate() {
            g[i] = (j as f32 + 1.0) * if j % 2 == 0 { 1.5 } else { -1.25 };
        }
        let est = decode(sketch_of(&g, r, c, seed), r, c, seed, n);
        let mut alone = 0;
        for &i in &spikes {
            let rows_alone = (0..r as u32)
                .filter(|&row| {
                    let b = count_sketch_hash(key, row, i as u64, c as u32).0;
                    spikes.iter().all(|&o| o == i || count_sketch_hash(key, row, o as u64, c as u32).0 != b)
                })
                .count();
            if rows_alone > r / 2 {
                alone += 1;
                assert_eq!(est[i].to_bits(), g[i].to_bits(), "coordinate {i}, alone in {rows_alone} of {r} rows");
            }
        }
        // With 40 nonzeros in 512 buckets a coordinate shares a row's bucket with probability
        // about 7.3 %, so nearly every one is alone in a majority of its rows.
        assert!(alone >= 38, "only {alone} of 40 nonzeros alone in a majority of rows");
    }

    #[test]
    fn the_median_of_an_even_row_count_is_the_f32_mean_of_the_middle_two_signed_values() {
        // Place chosen values in coordinate 5's buckets, pre-multiplied by each row's sign, so
        // the decoded row values are exactly [8, 1, 4, 2]: median (2 + 4) / 2 = 3.
        let (r, c, seed) = (4usize, 32usize, [3, 4]);
        let key = key_of_seed(u64::from(seed[0]) | u64::from(seed[1]) << 32);
        let want = [8.0f32, 1.0, 4.0, 2.0];
        let mut s = vec![0.0f32; r * c];
        for (row, &v) in want.iter().enumerate() {
            let (b, negative) = count_sketch_hash(key, row as u32, 5, c as u32);
            s[row * c + b as usize] = if negative { -v } else { v };
        }
        let est = decode(s, r, c, seed, 6);
        assert_eq!(est[5], 3.0);
    }

    #[test]
    fn the_total_order_puts_minus_zero_below_plus_zero_and_keys_invert() {
        let mut v = [0.0f32, -0.0, 0.0];
        assert_eq!(median(&mut v).to_bits(), 0.0f32.to_bits());
        let mut v = [-0.0f32, 0.0, -0.0];
        assert_eq!(median(&mut v).to_bits(), (-0.0f32).to_bits());
        for x in [0.0f32, -0.0, 1.5, -1.5, f32::INFINITY, f32::NEG_INFINITY, f32::MIN_POSITIVE, -f32::NAN] {
            assert_eq!(from_order_key(order_key(x)).to_bits(), x.to_bits());
        }
        assert!(order_key(-0.0) < order_key(0.0) && order_key(-1.0) < order_key(-0.5));
        assert!(order_key(f32::INFINITY) < order_key(f32::NAN));
    }

    #[test]
    fn shapes_out_of_range_name_the_tensor() {
        let ok_seed = Tensor::u32(vec![2], vec![1, 2]);
        let one = Tensor::u32(vec![1], vec![10]);
        let too_many_rows = [Tensor::f32(vec![17, 4], vec![0.0; 68]), ok_seed.clone(), one.clone()];
        assert_eq!(CountUnsketch.dims_of(&too_many_rows).unwrap_err().tensor, "sketch");
        let zero_n = [Tensor::f32(vec![3, 4], vec![0.0; 12]), ok_seed.clone(), Tensor::u32(vec![1], vec![0])];
        assert_eq!(CountUnsketch.dims_of(&zero_n).unwrap_err().tensor, "n");
        let bad_seed = [Tensor::f32(vec![3, 4], vec![0.0; 12]), Tensor::u32(vec![1], vec![1]), one];
        assert_eq!(CountUnsketch.dims_of(&bad_seed).unwrap_err().tensor, "seed");
    }
}
