//! Signal codecs: each compression method as a round trip (encode with the fast CPU kernels,
//! decode to an estimate ĝ of g) with the bits it sends per coordinate, so methods can be put
//! side by side on one quality-versus-bytes scale (`dfma bench --suite compression`).
//!
//! Every decoder here is unbiased or stated otherwise: dense projections (Rademacher or
//! Gaussian) and the SRHT decode with their transpose (E[RᵀR] = I), stochastic quantization rounds without bias, top-k keeps
//! the k largest magnitudes exactly (biased: the rest is dropped). The QSGD baseline
//! (Alistarh et al. 2017) is written here only to be compared with: L2-norm scale per bucket
//! of 256 coordinates, s levels, stochastic rounding with the same Philox dither words as
//! `stochastic_quantize` (SIGNALS.md purpose 4), so the two differ only in their scheme.

use rayon::prelude::*;

use crate::cpu;
use crate::ops::stochastic_quantize::BLOCK;
use crate::signals::derive::{quantize_dither_word, uniform};

/// One compression method and its size parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Codec {
    /// s = R·g with k Rademacher rows; ĝ = Rᵀ·s.
    DenseRademacher {
        /// Rows of the projection.
        k: usize,
    },
    /// s = R·g with k Gaussian N(0, 1/k) rows; ĝ = Rᵀ·s.
    DenseGaussian {
        /// Rows of the projection.
        k: usize,
    },
    /// y = k sampled SRHT coordinates; ĝ = srht_t(y).
    Srht {
        /// Coordinates sampled.
        k: usize,
    },
    /// A count sketch of `rows` × `buckets`, decoded by the median of rows (`count_unsketch`);
    /// with `heavy` = Some(k), FetchSGD's heavy hitters: only the k largest decoded coordinates
    /// are kept (biased, but exact on signals whose energy sits in few coordinates).
    CountSketch {
        /// Sketch rows.
        rows: usize,
        /// Buckets a row.
        buckets: usize,
        /// Keep only this many decoded coordinates.
        heavy: Option<usize>,
    },
    /// The k largest magnitudes with their indices; ĝ is zero elsewhere.
    TopK {
        /// Coordinates kept.
        k: usize,
    },
    /// `stochastic_quantize` at `bits` bits a coordinate, optionally after a full SRHT rotation
    /// (k = n_pad: an orthonormal transform, undone exactly by `srht_t`), the EDEN/DRIVE idea:
    /// rotated coordinates are nearly Gaussian, so the block maxima, and with them the rounding
    /// steps, are small relative to the block's energy.
    Quantize {
        /// Bits a coordinate: 1, 2, 4 or 8.
        bits: usize,
        /// Rotate with a full SRHT first.
        rotate: bool,
    },
    /// QSGD: per bucket of 256, x̂ = ‖x‖₂ · sign(x) · ξ/s with ξ the stochastic rounding of
    /// s·|x|/‖x‖₂; sent as a sign and a level in 0..=s (log2(2s + 1) bits, no entropy coding).
    Qsgd {
        /// Levels s ≥ 1.
        levels: u32,
    },
}

impl Codec {
    /// Short name with its parameter, as the report prints it.
    pub fn name(&self) -> String {
        match *self {
            Codec::DenseRademacher { k } => format!("dense_project k={k}"),
            Codec::DenseGaussian { k } => format!("dense_project_gaussian k={k}"),
            Codec::Srht { k } => format!("srht k={k}"),
            Codec::CountSketch { rows, buckets, heavy: None } => format!("count_sketch {rows}x{buckets}, median"),
            Codec::CountSketch { rows, buckets, heavy: Some(k) } => {
                format!("count_sketch {rows}x{buckets}, heavy hitters k={k}")
            }
            Codec::TopK { k } => format!("topk k={k}"),
            Codec::Quantize { bits, rotate: false } => format!("stochastic_quantize b={bits}"),
            Codec::Quantize { bits, rotate: true } => format!("srht rotation + stochastic_quantize b={bits}"),
            Codec::Qsgd { levels } => format!("qsgd s={levels} (no rotation)"),
        }
    }

    /// Bits sent per coordinate of an n-coordinate signal (payload only; the seed and sizes of
    /// a message are a few bytes and not counted).
    pub fn bits_per_coordinate(&self, n: usize) -> f64 {
        let n_pad = n.next_power_of_two();
        let blocks = |len: usize| len.div_ceil(BLOCK) as f64;
        let bits = match *self {
            Codec::DenseRademacher { k } | Codec::DenseGaussian { k } | Codec::Srht { k } => 32.0 * k as f64,
            Codec::CountSketch { rows, buckets, .. } => 32.0 * (rows * buckets) as f64,
            Codec::TopK { k } => 64.0 * k as f64,
            Codec::Quantize { bits, rotate } => {
                let len = if rotate { n_pad } else { n };
                (bits * len) as f64 + 32.0 * blocks(len)
            }
            Codec::Qsgd { levels } => f64::from(2 * levels + 1).log2() * n as f64 + 32.0 * blocks(n),
        };
        bits / n as f64
    }

    /// Encodes `g` under `key` and decodes it again: the estimate ĝ the receiver sees.
    pub fn round_trip(&self, key: [u32; 2], g: &[f32]) -> Vec<f32> {
        let n = g.len();
        let mut out = vec![0.0f32; n];
        match *self {
            Codec::DenseRademacher { k } => {
                let mut s = vec![0.0f32; k];
                cpu::dense_project::dense_project(key, g, &mut s);
                cpu::dense_project::dense_project_t(key, &s, &mut out);
            }
            Codec::DenseGaussian { k } => {
                let mut s = vec![0.0f32; k];
                cpu::dense_project_gaussian::dense_project_gaussian(key, g, &mut s);
                cpu::dense_project_gaussian::dense_project_gaussian_t(key, &s, &mut out);
            }
            Codec::Srht { k } => {
                let mut y = vec![0.0f32; k];
                cpu::srht::srht(key, g, &mut y);
                cpu::srht::srht_t(key, &y, &mut out);
            }
            Codec::CountSketch { rows, buckets, heavy } => {
                let mut sketch = vec![0.0f32; rows * buckets];
                cpu::count_sketch::count_sketch(key, g, buckets, &mut sketch);
                match heavy {
                    None => cpu::count_unsketch::count_unsketch(key, &sketch, buckets, &mut out),
                    Some(k) => {
                        let (idx, val) = cpu::heavy_hitters::heavy_hitters(key, &sketch, buckets, n, k);
                        for (&i, &v) in idx.iter().zip(&val) {
                            out[i as usize] = v;
                        }
                    }
                }
            }
            Codec::TopK { k } => {
                let (mut idx, mut val) = (vec![0u32; k], vec![0.0f32; k]);
                cpu::topk::topk(g, &mut idx, &mut val);
                for (&i, &v) in idx.iter().zip(&val) {
                    out[i as usize] = v;
                }
            }
            Codec::Quantize { bits, rotate: false } => quantize_round_trip(key, g, bits, &mut out),
            Codec::Quantize { bits, rotate: true } => {
                let n_pad = n.next_power_of_two();
                let mut rotated = vec![0.0f32; n_pad];
                cpu::srht::srht(key, g, &mut rotated);
                let mut back = vec![0.0f32; n_pad];
                quantize_round_trip(key, &rotated, bits, &mut back);
                cpu::srht::srht_t(key, &back, &mut out);
            }
            Codec::Qsgd { levels } => qsgd_round_trip(key, g, levels, &mut out),
        }
        out
    }
}

fn quantize_round_trip(key: [u32; 2], x: &[f32], bits: usize, out: &mut [f32]) {
    let n = x.len();
    let (mut codes, mut scales) = (vec![0u32; (n * bits).div_ceil(32)], vec![0.0f32; n.div_ceil(BLOCK)]);
    cpu::stochastic_quantize::stochastic_quantize(key, x, bits, &mut codes, &mut scales);
    cpu::stochastic_quantize::stochastic_dequantize(&codes, &scales, bits, out);
}

/// QSGD per bucket of [`BLOCK`] coordinates, in f64 (a baseline, not a kernel).
fn qsgd_round_trip(key: [u32; 2], x: &[f32], levels: u32, out: &mut [f32]) {
    let s = f64::from(levels);
    out.par_chunks_mut(BLOCK).zip(x.par_chunks(BLOCK)).enumerate().for_each(|(b, (o, x))| {
        let norm = x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
        if norm == 0.0 {
            o.fill(0.0);
            return;
        }
        for (j, (o, &v)) in o.iter_mut().zip(x).enumerate() {
            let t = s * f64::from(v).abs() / norm;
            let f = t.floor();
            let u = uniform(quantize_dither_word(key, (b * BLOCK + j) as u64));
            let level = f + f64::from(u8::from(u < t - f));
            *o = (norm * f64::from(v).signum() * level / s) as f32;
        }
    });
}

/// Normalized mean squared error ‖ĝ − g‖² / ‖g‖², in f64 (NaN if g is zero or ĝ has a NaN).
pub fn nmse(g: &[f32], estimate: &[f32]) -> f64 {
    let (err, energy) = g.iter().zip(estimate).fold((0.0f64, 0.0f64), |(e, s), (&a, &b)| {
        let d = f64::from(b) - f64::from(a);
        (e + d * d, s + f64::from(a) * f64::from(a))
    });
    if energy == 0.0 { f64::NAN } else { err / energy }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::derive::key_of_seed;

    fn signal(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 2_654_435_761) % 1_000_003) as f32 / 1_000_003.0 - 0.5) * (1.0 + (i % 7) as f32))
            .collect()
    }

    #[test]
    fn lossless_settings_give_back_the_signal() {
        let g = signal(5000);
        let key = key_of_seed(3);
        // Every coordinate kept; a full SRHT and its transpose.
        assert_eq!(nmse(&g, &Codec::TopK { k: g.len() }.round_trip(key, &g)), 0.0);
        let full = Codec::Srht { k: g.len().next_power_of_two() }.round_trip(key, &g);
        assert!(nmse(&g, &full) < 1e-10, "{}", nmse(&g, &full));
    }

    #[test]
    fn more_bits_give_less_error() {
        let g = signal(1 << 14);
        let key = key_of_seed(5);
        for rotate in [false, true] {
            let e: Vec<f64> = [1, 2, 4, 8]
                .iter()
                .map(|&bits| nmse(&g, &Codec::Quantize { bits, rotate }.round_trip(key, &g)))
                .collect();
            assert!(e.windows(2).all(|w| w[1] < w[0] / 3.0), "rotate {rotate}: {e:?}");
        }
        let q: Vec<f64> =
            [1, 7, 127].iter().map(|&levels| nmse(&g, &Codec::Qsgd { levels }.round_trip(key, &g))).collect();
        assert!(q.windows(2).all(|w| w[1] < w[0]), "{q:?}");
    }

    #[test]
    fn qsgd_has_its_textbook_variance_on_a_bucket() {
        // One bucket, s = 1: E‖x̂ − x‖² = Σ|x_i|(‖x‖ − |x_i|), averaged over 2000 seeds.
        let x: Vec<f32> = (0..256).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
        let norm = x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
        let want: f64 = x.iter().map(|&v| f64::from(v).abs() * (norm - f64::from(v).abs())).sum();
        let trials = 2000;
        let got: f64 = (0..trials)
            .map(|s| {
                let y = Codec::Qsgd { levels: 1 }.round_trip(key_of_seed(s), &x);
                x.iter().zip(&y).map(|(&a, &b)| (f64::from(b) - f64::from(a)).powi(2)).sum::<f64>()
            })
            .sum::<f64>()
            / trials as f64;
        // The per-trial error is a sum of 256 independent terms; its mean over 2000 trials is
        // within 5 % of the expectation with overwhelming probability (seeds fixed: no flake).
        assert!((got - want).abs() < 0.05 * want, "mean squared error {got} vs {want}");
    }

    #[test]
    fn bits_per_coordinate_count_payload_and_scales() {
        assert_eq!(Codec::Quantize { bits: 1, rotate: false }.bits_per_coordinate(256), 1.125);
        assert_eq!(Codec::Quantize { bits: 2, rotate: true }.bits_per_coordinate(200), (2.0 * 256.0 + 32.0) / 200.0);
        assert_eq!(Codec::TopK { k: 10 }.bits_per_coordinate(640), 1.0);
        assert_eq!(Codec::Srht { k: 32 }.bits_per_coordinate(1024), 1.0);
        assert!((Codec::Qsgd { levels: 1 }.bits_per_coordinate(256) - (3f64.log2() + 0.125)).abs() < 1e-12);
    }
}
