//! `stochastic_quantize` and `stochastic_dequantize`: unbiased b-bit stochastic rounding of a
//! learning signal with one max-abs scale per block of [`BLOCK`] coordinates (the QSGD family),
//! its rounding uniforms drawn from Philox as `kernels/SIGNALS.md` specifies (purpose 4).
//!
//! Quantize, block β = coordinates 256β .. min(256β + 256, n), L = 2^b levels, h = (L − 1)/2:
//!
//! ```text
//! m = the largest magnitude in the block, by f32 bits (|x| bits, NaN above +inf)
//! if m < 2^-64:            scale = 0, every code 0                (zero or negligible block)
//! elif m > 2^64 or NaN:    scale = m, every code 0                (not quantized, see below)
//! else:                    scale = m, and for each coordinate i of the block, in f32:
//!     q = h / m                    (IEEE correctly rounded division, once per block)
//!     t = (x[i] + m) * q           (two correctly rounded operations, in this order)
//!     f = floor(t);  r = t - f     (r exact)
//!     u = uniform(dither word of i)   (SIGNALS.md: (w >> 8) · 2^-24)
//!     code = min(f + (u < r ? 1 : 0), L - 1)
//! ```
//!
//! So code/h − 1 ∈ [−1, 1] and E[code] = t: dequantize(quantize(x)) is x in expectation up to
//! f32 rounding of q and t (relative 2^-23) and the clamp at L − 1, which only moves values
//! within an ulp of the top level. Every step is an exactly specified f32 operation, so codes are
//! equal bit for bit on every backend that divides correctly rounded (CPU, PTX `div.rn`).
//!
//! The range [2^-64, 2^64] keeps every intermediate (q, x + m, t) a normal f32, so flushing
//! subnormals to zero — which GPUs may do — never changes a bit. A block whose largest magnitude
//! is above 2^64 (about 1.8e19), infinite or NaN is a broken signal, not a value to round: its
//! scale reports m (> 2^64, +inf or the NaN) and dequantizes to −m, so the fault stays visible.
//!
//! Packing: code of coordinate i sits at bits (i·b mod 32) .. +b of word ⌊i·b/32⌋ (little end
//! first); a block is 8·b whole words; codes past n in the last word are 0.
//!
//! Dequantize: x̂[i] = scale_β · (2·code − (L − 1)) / (L − 1).
//!
//! - `stochastic_quantize`: inputs `x` f32 `[n]`, `seed` u32 `[2]`, `bits` u32 `[1]` ∈ {1, 2, 4,
//!   8}; outputs `codes` u32 `[⌈n·b/32⌉]`, `scales` f32 `[⌈n/256⌉]`.
//! - `stochastic_dequantize`: inputs `codes`, `scales`, `bits` u32 `[1]`, `n` u32 `[1]`;
//!   output `x` f32 `[n]`.
//!
//! Cost model (quantize): bytes = 4n + n·b/8 + 4⌈n/256⌉ + 12; ops = 6n (abs-max, add, multiply,
//! floor, subtract, compare) plus n/4 Philox blocks at 100 ops each. Dequantize: bytes the same;
//! ops = 3n.

use rand::Rng;
use rand::rngs::StdRng;

use crate::compare::Tolerance;
use crate::op::{Cost, Dims, Op, OpError, TensorSpec, expect_dtype};
use crate::ops::dense_project::key_of;
use crate::signals::derive::{quantize_dither_word, uniform};
use crate::tensor::{DType, Tensor};

/// Coordinates that share one scale.
pub const BLOCK: usize = 256;
/// Blocks whose largest magnitude is below this (2^-64) are stored as zero.
pub const NEGLIGIBLE: f32 = f32::from_bits(0x1F80_0000);
/// Blocks whose largest magnitude is above this (2^64) are not quantized (codes 0, scale m).
pub const HUGE: f32 = f32::from_bits(0x5F80_0000);

/// The `stochastic_quantize` op.
pub struct StochasticQuantize;
/// The `stochastic_dequantize` op.
pub struct StochasticDequantize;

/// Problem sizes: n coordinates at `bits` bits each.
pub fn dims(n: usize, bits: usize) -> Dims {
    Dims(vec![("n", n), ("bits", bits)])
}

/// u32 words of the packed codes of n coordinates at b bits.
pub fn code_words(n: usize, bits: usize) -> usize {
    (n * bits).div_ceil(32)
}

/// Scales (blocks) of n coordinates.
pub fn blocks(n: usize) -> usize {
    n.div_ceil(BLOCK)
}

/// The code of one coordinate `x` of a block with scale `m` (finite, ≥ 2^-64), given its dither
/// word and h = (2^b − 1)/2: the f32 steps of the module doc, in order.
#[inline(always)]
pub fn code_of(x: f32, m: f32, q: f32, word: u32, top: u32) -> u32 {
    let t = (x + m) * q;
    let f = t.floor();
    let r = t - f;
    let up = uniform(word) < f64::from(r);
    (f as u32 + u32::from(up)).min(top)
}

/// The block's scale: its largest magnitude by f32 bits (so a NaN wins over +inf), or 0 when
/// that is below 2^-64. The block is quantized iff [`quantized`] of the scale.
#[inline(always)]
pub fn block_scale(block: &[f32]) -> f32 {
    let m = f32::from_bits(block.iter().map(|x| x.to_bits() & 0x7FFF_FFFF).max().unwrap_or(0));
    if m < NEGLIGIBLE { 0.0 } else { m }
}

/// Whether a block of scale `m` (from [`block_scale`]) carries codes: 2^-64 ≤ m ≤ 2^64.
#[inline(always)]
pub fn quantized(m: f32) -> bool {
    (NEGLIGIBLE..=HUGE).contains(&m)
}

/// h = (2^b − 1)/2, exact in f32.
pub fn half_levels(bits: usize) -> f32 {
    ((1u32 << bits) - 1) as f32 / 2.0
}

fn scalar(t: &Tensor, name: &str) -> Result<usize, OpError> {
    expect_dtype(name, t, DType::U32)?;
    if t.shape != [1] {
        return Err(OpError::new(name, format!("shape {:?} is not [1]", t.shape)));
    }
    Ok(t.as_u32().expect("u32")[0] as usize)
}

fn bits_of(t: &Tensor) -> Result<usize, OpError> {
    match scalar(t, "bits")? {
        b @ (1 | 2 | 4 | 8) => Ok(b),
        b => Err(OpError::new("bits", format!("{b} bits a coordinate is not supported (1, 2, 4 or 8)"))),
    }
}

const INPUTS_Q: &[TensorSpec] = &[
    TensorSpec { name: "x", dtype: DType::F32, shape_doc: "[n]" },
    TensorSpec { name: "seed", dtype: DType::U32, shape_doc: "[2] (low word, high word)" },
    TensorSpec { name: "bits", dtype: DType::U32, shape_doc: "[1] in {1, 2, 4, 8}" },
];
const OUTPUTS_Q: &[TensorSpec] = &[
    TensorSpec { name: "codes", dtype: DType::U32, shape_doc: "[ceil(n*bits/32)] packed, little end first" },
    TensorSpec { name: "scales", dtype: DType::F32, shape_doc: "[ceil(n/256)] block max-abs" },
];
const INPUTS_D: &[TensorSpec] = &[
    TensorSpec { name: "codes", dtype: DType::U32, shape_doc: "[ceil(n*bits/32)]" },
    TensorSpec { name: "scales", dtype: DType::F32, shape_doc: "[ceil(n/256)]" },
    TensorSpec { name: "bits", dtype: DType::U32, shape_doc: "[1] in {1, 2, 4, 8}" },
    TensorSpec { name: "n", dtype: DType::U32, shape_doc: "[1] coordinates" },
];
const OUTPUTS_D: &[TensorSpec] = &[TensorSpec { name: "x", dtype: DType::F32, shape_doc: "[n]" }];

/// Test sizes of both ops: one coordinate, ragged blocks and words, several blocks, every width.
fn test_sizes() -> Vec<Dims> {
    vec![dims(1, 1), dims(1, 8), dims(257, 2), dims(1000, 4), dims(4099, 8), dims(65_537, 1), dims(100_003, 4)]
}

fn bench_sizes() -> Vec<Dims> {
    vec![dims(1 << 24, 1), dims(1 << 24, 4), dims(1 << 20, 8)]
}

fn cost_of(dims: &Dims, philox: bool) -> Cost {
    let (n, b) = (dims.get("n") as u64, dims.get("bits") as u64);
    let bytes = 4 * n + (n * b).div_ceil(8) + 4 * blocks(n as usize) as u64 + 12;
    Cost { bytes, weight_bytes: 0, flops: if philox { 6 * n + 25 * n } else { 3 * n } }
}

impl Op for StochasticQuantize {
    fn name(&self) -> &'static str {
        "stochastic_quantize"
    }

    fn summary(&self) -> &'static str {
        "b-bit unbiased stochastic rounding, max-abs scale per 256, Philox dither (SIGNALS.md)"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS_Q
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS_Q
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [x, seed, bits] = inputs else {
            return Err(OpError::new("inputs", format!("expected 3 tensors (x, seed, bits), got {}", inputs.len())));
        };
        expect_dtype("x", x, DType::F32)?;
        expect_dtype("seed", seed, DType::U32)?;
        if seed.shape != [2] {
            return Err(OpError::new("seed", format!("shape {:?} is not [2]", seed.shape)));
        }
        let b = bits_of(bits)?;
        match x.shape.as_slice() {
            &[n] if n > 0 && n <= u32::MAX as usize / 8 => Ok(dims(n, b)),
            s => Err(OpError::new("x", format!("shape {s:?} is not a non-empty [n] with n < 2^29"))),
        }
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        let (n, b) = (dims.get("n"), dims.get("bits"));
        vec![vec![code_words(n, b)], vec![blocks(n)]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let (n, b) = (dims.get("n"), dims.get("bits"));
        let x = inputs[0].as_f32().expect("x is f32");
        let key = key_of(&inputs[1]);
        let (h, top) = (half_levels(b), (1u32 << b) - 1);
        let mut codes = vec![0u32; code_words(n, b)];
        let mut scales = Vec::with_capacity(blocks(n));
        for (beta, block) in x.chunks(BLOCK).enumerate() {
            let m = block_scale(block);
            scales.push(m);
            if !quantized(m) {
                continue;
            }
            let q = h / m;
            for (j, &v) in block.iter().enumerate() {
                let i = beta * BLOCK + j;
                let code = code_of(v, m, q, quantize_dither_word(key, i as u64), top);
                codes[i * b / 32] |= code << (i * b % 32);
            }
        }
        vec![Tensor::u32(vec![codes.len()], codes), Tensor::f32(vec![scales.len()], scales)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        // Gaussian-like values (sum of three uniforms) with block-to-block scale changes over
        // six decades, one block of exact zeros and one above 2^64 when there are several.
        let n = dims.get("n");
        let mut x: Vec<f32> = (0..n).map(|_| (0..3).map(|_| rng.random_range(-1.0f32..1.0)).sum::<f32>()).collect();
        for block in x.chunks_mut(BLOCK) {
            let s = 10f32.powi(rng.random_range(-3..=3));
            block.iter_mut().for_each(|v| *v *= s);
        }
        if n > 2 * BLOCK {
            x[BLOCK..2 * BLOCK].fill(0.0);
        }
        // A block above 2^64 (not quantized: codes 0, scale = its largest magnitude).
        if n > 3 * BLOCK {
            x[2 * BLOCK..3 * BLOCK].iter_mut().for_each(|v| *v *= 1e23);
        }
        vec![
            Tensor::f32(vec![n], x),
            Tensor::u32(vec![2], vec![rng.random(), rng.random()]),
            Tensor::u32(vec![1], vec![dims.get("bits") as u32]),
        ]
    }

    fn test_dims(&self) -> Vec<Dims> {
        test_sizes()
    }

    fn bench_dims(&self) -> Vec<Dims> {
        bench_sizes()
    }

    fn tolerance(&self) -> Tolerance {
        // Codes bit for bit; scales are maxima of the inputs, so they must be equal too.
        Tolerance { rel_l2: 0.0, max_abs_scaled: 0.0 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        cost_of(dims, true)
    }
}

impl Op for StochasticDequantize {
    fn name(&self) -> &'static str {
        "stochastic_dequantize"
    }

    fn summary(&self) -> &'static str {
        "x[i] = scale[i/256] (2 code[i] - (2^b - 1)) / (2^b - 1), inverse of stochastic_quantize"
    }

    fn inputs(&self) -> &'static [TensorSpec] {
        INPUTS_D
    }

    fn outputs(&self) -> &'static [TensorSpec] {
        OUTPUTS_D
    }

    fn dims_of(&self, inputs: &[Tensor]) -> Result<Dims, OpError> {
        let [codes, scales, bits, n] = inputs else {
            return Err(OpError::new(
                "inputs",
                format!("expected 4 tensors (codes, scales, bits, n), got {}", inputs.len()),
            ));
        };
        expect_dtype("codes", codes, DType::U32)?;
        expect_dtype("scales", scales, DType::F32)?;
        let b = bits_of(bits)?;
        let n = scalar(n, "n")?;
        if n == 0 || n > u32::MAX as usize / 8 {
            return Err(OpError::new("n", format!("n = {n} is not in 1..2^29")));
        }
        if codes.shape != [code_words(n, b)] {
            return Err(OpError::new(
                "codes",
                format!("shape {:?} is not [{}] (n = {n} at {b} bits)", codes.shape, code_words(n, b)),
            ));
        }
        if scales.shape != [blocks(n)] {
            return Err(OpError::new("scales", format!("shape {:?} is not [{}] (n = {n})", scales.shape, blocks(n))));
        }
        Ok(dims(n, b))
    }

    fn output_shapes(&self, dims: &Dims) -> Vec<Vec<usize>> {
        vec![vec![dims.get("n")]]
    }

    fn reference(&self, dims: &Dims, inputs: &[Tensor]) -> Vec<Tensor> {
        let (n, b) = (dims.get("n"), dims.get("bits"));
        let codes = inputs[0].as_u32().expect("codes is u32");
        let scales = inputs[1].as_f32().expect("scales is f32");
        let levels = f64::from((1u32 << b) - 1);
        let x = (0..n)
            .map(|i| {
                let code = (codes[i * b / 32] >> (i * b % 32)) & ((1u32 << b) - 1);
                (f64::from(scales[i / BLOCK]) * (2.0 * f64::from(code) - levels) / levels) as f32
            })
            .collect();
        vec![Tensor::f32(vec![n], x)]
    }

    fn random_inputs(&self, dims: &Dims, rng: &mut StdRng) -> Vec<Tensor> {
        let (n, b) = (dims.get("n"), dims.get("bits"));
        let words = code_words(n, b);
        let nb = blocks(n);
        let scales = (0..nb).map(|j| if j == 1 { 0.0 } else { rng.random_range(0.001f32..100.0) }).collect();
        vec![
            Tensor::u32(vec![words], (0..words).map(|_| rng.random()).collect()),
            Tensor::f32(vec![nb], scales),
            Tensor::u32(vec![1], vec![b as u32]),
            Tensor::u32(vec![1], vec![n as u32]),
        ]
    }

    fn test_dims(&self) -> Vec<Dims> {
        test_sizes()
    }

    fn bench_dims(&self) -> Vec<Dims> {
        bench_sizes()
    }

    fn tolerance(&self) -> Tolerance {
        // One f32 division and one multiply against f64: a couple of ulps.
        Tolerance { rel_l2: 1e-6, max_abs_scaled: 1e-6 }
    }

    fn cost(&self, dims: &Dims) -> Cost {
        cost_of(dims, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quantize(x: &[f32], seed: [u32; 2], b: u32) -> Vec<Tensor> {
        let inputs = [
            Tensor::f32(vec![x.len()], x.to_vec()),
            Tensor::u32(vec![2], seed.to_vec()),
            Tensor::u32(vec![1], vec![b]),
        ];
        StochasticQuantize.reference(&StochasticQuantize.dims_of(&inputs).unwrap(), &inputs)
    }

    fn dequantize(q: &[Tensor], n: usize, b: u32) -> Vec<f32> {
        let inputs = [q[0].clone(), q[1].clone(), Tensor::u32(vec![1], vec![b]), Tensor::u32(vec![1], vec![n as u32])];
        StochasticDequantize.reference(&StochasticDequantize.dims_of(&inputs).unwrap(), &inputs)[0]
            .as_f32()
            .unwrap()
            .to_vec()
    }

    #[test]
    fn dequantize_of_quantize_is_unbiased_over_seeds() {
        // Each x̂[i] lies in an interval of width Δ = 2m/(L−1) around x[i] (two grid points), so by
        // Hoeffding the mean over S independent seeds misses its expectation by more than
        // Δ·sqrt(ln(2/δ)/(2S)) with probability under δ = 1e-9 per coordinate; the seeds are
        // fixed, so the test is deterministic. Expectation = x up to f32 rounding (2^-22 relative).
        let n = 700;
        let mut rng = crate::seed::rng_for(21, 0);
        let x: Vec<f32> = (0..n).map(|_| rng.random_range(-2.0f32..2.0)).collect();
        let seeds = 400u32;
        for b in [1u32, 2, 4, 8] {
            let mut mean = vec![0.0f64; n];
            let mut scales = Vec::new();
            for s in 0..seeds {
                let q = quantize(&x, [s, 77], b);
                scales = q[1].as_f32().unwrap().to_vec();
                for (m, v) in mean.iter_mut().zip(dequantize(&q, n, b)) {
                    *m += f64::from(v) / f64::from(seeds);
                }
            }
            let bound_in_deltas = ((2.0f64 / 1e-9).ln() / (2.0 * f64::from(seeds))).sqrt();
            for i in 0..n {
                let m = f64::from(scales[i / BLOCK]);
                let delta = 2.0 * m / f64::from((1u32 << b) - 1);
                let err = (mean[i] - f64::from(x[i])).abs();
                assert!(err <= delta * bound_in_deltas + 1e-6 * m, "bits {b} coordinate {i}: bias {err} (Δ {delta})");
            }
        }
    }

    #[test]
    fn codes_stay_within_one_level_of_the_input() {
        let x = [0.3f32, -1.0, 1.0, 0.0, -0.77, 0.5];
        for b in [1u32, 2, 4, 8] {
            let q = quantize(&x, [1, 2], b);
            assert_eq!(q[1].as_f32().unwrap(), &[1.0]);
            let xh = dequantize(&q, x.len(), b);
            let delta = 2.0 / ((1u32 << b) - 1) as f32;
            for (a, e) in xh.iter().zip(x) {
                assert!((a - e).abs() <= delta * 1.000_001, "bits {b}: {a} from {e}");
            }
            // The extremes are grid points and never move.
            assert_eq!((xh[1], xh[2]), (-1.0, 1.0));
        }
    }

    #[test]
    fn negligible_huge_and_non_finite_blocks_get_code_zero_and_a_telling_scale() {
        let mut x = vec![0.0f32; 5 * BLOCK];
        x[BLOCK + 5] = f32::INFINITY;
        x[2 * BLOCK + 7] = f32::NAN;
        x[2 * BLOCK + 8] = f32::NEG_INFINITY;
        x[3 * BLOCK + 1] = -3e19;
        x[3 * BLOCK + 2] = 1.0;
        x[4 * BLOCK] = 1e-20;
        let q = quantize(&x, [0, 0], 4);
        assert!(q[0].as_u32().unwrap().iter().all(|&c| c == 0));
        let s = q[1].as_f32().unwrap();
        assert_eq!((s[0], s[1], s[3], s[4]), (0.0, f32::INFINITY, 3e19, 0.0));
        assert!(s[2].is_nan());
    }

    #[test]
    fn unsupported_bits_and_mismatched_shapes_name_the_tensor() {
        let x = Tensor::f32(vec![10], vec![1.0; 10]);
        let seed = Tensor::u32(vec![2], vec![0, 0]);
        for b in [0u32, 3, 16] {
            let inputs = [x.clone(), seed.clone(), Tensor::u32(vec![1], vec![b])];
            assert_eq!(StochasticQuantize.dims_of(&inputs).unwrap_err().tensor, "bits");
        }
        let inputs = [x.clone(), Tensor::u32(vec![3], vec![0; 3]), Tensor::u32(vec![1], vec![2])];
        assert_eq!(StochasticQuantize.dims_of(&inputs).unwrap_err().tensor, "seed");
        let inputs = [seed.clone(), seed.clone(), Tensor::u32(vec![1], vec![2])];
        assert_eq!(StochasticQuantize.dims_of(&inputs).unwrap_err().tensor, "x");
        let d = |codes: usize, scales: usize| {
            let inputs = [
                Tensor::u32(vec![codes], vec![0; codes]),
                Tensor::f32(vec![scales], vec![1.0; scales]),
                Tensor::u32(vec![1], vec![4]),
                Tensor::u32(vec![1], vec![300]),
            ];
            StochasticDequantize.dims_of(&inputs).map_err(|e| e.tensor)
        };
        assert_eq!(d(38, 2), Ok(dims(300, 4)));
        assert_eq!(d(37, 2), Err("codes".to_string()));
        assert_eq!(d(38, 1), Err("scales".to_string()));
    }

    #[test]
    fn codes_pack_little_end_first_and_padding_is_zero() {
        // Every coordinate equal to the scale: code L−1 everywhere, 3 coordinates of 8 bits.
        let q = quantize(&[2.0, 2.0, 2.0], [5, 5], 8);
        assert_eq!(q[0].as_u32().unwrap(), &[0x00FF_FFFF]);
    }
}
