//! How an instance's learning signal is compressed for the wire, and decoded by the CCF, with
//! dfma-reference's fast CPU compression ops: the one codec of both experiments (the model
//! experiment's adapters and Fed-Heart-Disease's logistic regressions).
//!
//! | codec | wire | linear | bits a coordinate |
//! | --- | --- | --- | --- |
//! | `none` | the f32 vector (`CompressionMethod::None`) | yes | 32 |
//! | `sign` | a sign bit a coordinate and each block's mean magnitude (`SignScaled [n, 256]`) | no | 1.125 |
//! | `quantize:B` | `stochastic_quantize` codes and per-256 scales (`StochasticQuantize [n, B]`) | no | B + 0.125 |
//! | `sketch:RxC` | an R × C count sketch (`CountSketch [R, C]`), decoded by the median of rows | yes (sum, then decode) | 32·R·C / n |
//! | `project:K` | K Rademacher projections (`RandomProjection [K]`), decoded by the transpose | yes | 32·K / n |
//!
//! "Linear" means the sketch of a sum is the sum of the sketches: the CCF can add the sketches
//! (or let secure aggregation add them) and decode once. Every instance of a round hashes and
//! projects with the round's shared seed so that their sketches add up; quantization draws its
//! dither from the same seed. `sign` (x̂ = scale·sign(x), blocks of 256) is biased but a
//! contraction (‖x̂ − x‖² < ‖x‖²), so with error feedback — the instance adds what a round's
//! signal left out to the next round's change — nothing is lost over rounds (the EF-signSGD
//! scheme).

use dfma_protocol::messages::{Compression, CompressionMethod, ElementType};
use dfma_protocol::payload::TensorPayload;
use dfma_reference::cpu::count_sketch::count_sketch;
use dfma_reference::cpu::count_unsketch::count_unsketch;
use dfma_reference::cpu::dense_project::{dense_project, dense_project_t};
use dfma_reference::cpu::stochastic_quantize::{stochastic_dequantize, stochastic_quantize};
use dfma_reference::ops::count_unsketch::MAX_ROWS;
use dfma_reference::ops::stochastic_quantize::{blocks, code_words};
use dfma_reference::signals::derive::key_of_seed;

/// Coordinates that share one scale in `sign`.
pub const SIGN_BLOCK: usize = 256;

/// A compression method with its size parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// The f32 vector itself.
    None,
    /// Sign bits and a mean-magnitude scale per block of [`SIGN_BLOCK`].
    Sign,
    /// Unbiased stochastic quantization at `bits` ∈ {1, 2, 4, 8} bits a coordinate.
    Quantize {
        /// Bits a coordinate.
        bits: usize,
    },
    /// A count sketch of `rows` × `buckets`.
    CountSketch {
        /// Rows (independent hashes), 1..=16.
        rows: usize,
        /// Buckets a row.
        buckets: usize,
    },
    /// A Rademacher random projection to `dim` coordinates.
    Projection {
        /// Projected dimension.
        dim: usize,
    },
}

/// A signal payload that does not decode as the CCF's codec expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signal payload: {0}")]
pub struct CodecError(pub String);

impl Codec {
    /// Parses `none`, `sign`, `quantize:B`, `sketch:RxC` or `project:K`.
    pub fn parse(s: &str) -> Result<Codec, String> {
        let bad = || format!("unknown compression {s:?} (have none, sign, quantize:1|2|4|8, sketch:RxC, project:K)");
        let positive = |t: &str| t.parse::<usize>().ok().filter(|&v| v > 0).ok_or_else(bad);
        match s {
            "none" => return Ok(Codec::None),
            "sign" => return Ok(Codec::Sign),
            _ => {}
        }
        if let Some(b) = s.strip_prefix("quantize:") {
            let bits = positive(b)?;
            return if [1, 2, 4, 8].contains(&bits) { Ok(Codec::Quantize { bits }) } else { Err(bad()) };
        }
        if let Some(rc) = s.strip_prefix("sketch:") {
            let (r, c) = rc.split_once('x').ok_or_else(bad)?;
            let (rows, buckets) = (positive(r)?, positive(c)?);
            if rows > MAX_ROWS {
                return Err(format!("compression {s:?}: at most {MAX_ROWS} sketch rows"));
            }
            return Ok(Codec::CountSketch { rows, buckets });
        }
        if let Some(k) = s.strip_prefix("project:") {
            return Ok(Codec::Projection { dim: positive(k)? });
        }
        Err(bad())
    }

    /// The name [`Codec::parse`] reads.
    pub fn name(&self) -> String {
        match *self {
            Codec::None => "none".into(),
            Codec::Sign => "sign".into(),
            Codec::Quantize { bits } => format!("quantize:{bits}"),
            Codec::CountSketch { rows, buckets } => format!("sketch:{rows}x{buckets}"),
            Codec::Projection { dim } => format!("project:{dim}"),
        }
    }

    /// Whether sketches add up (see the module docs).
    pub fn is_linear(&self) -> bool {
        !matches!(self, Codec::Quantize { .. } | Codec::Sign)
    }

    /// Whether an instance should keep what a signal left out and add it to the next round's
    /// change: the biased codecs (`sign`, the sketches), whose error does not average out.
    /// `none` loses nothing and `quantize` is unbiased.
    pub fn error_feedback(&self) -> bool {
        matches!(self, Codec::Sign | Codec::CountSketch { .. } | Codec::Projection { .. })
    }

    /// Length of the sketch of an `n`-coordinate vector (linear codecs; `n` otherwise).
    pub fn sketch_len(&self, n: usize) -> usize {
        match *self {
            Codec::None | Codec::Sign | Codec::Quantize { .. } => n,
            Codec::CountSketch { rows, buckets } => rows * buckets,
            Codec::Projection { dim } => dim,
        }
    }

    /// The linear sketch of `x` under the round's `seed` (`x` itself for `none`).
    ///
    /// # Panics
    /// For `quantize`, which is not linear.
    pub fn sketch(&self, x: &[f32], seed: u64) -> Vec<f32> {
        let key = key_of_seed(seed);
        match *self {
            Codec::None => x.to_vec(),
            Codec::CountSketch { rows, buckets } => {
                let mut s = vec![0.0; rows * buckets];
                count_sketch(key, x, buckets, &mut s);
                s
            }
            Codec::Projection { dim } => {
                let mut s = vec![0.0; dim];
                dense_project(key, x, &mut s);
                s
            }
            Codec::Quantize { .. } | Codec::Sign => panic!("{} has no linear sketch", self.name()),
        }
    }

    /// The `n`-coordinate estimate a linear sketch decodes to.
    ///
    /// # Panics
    /// For `quantize`, or a sketch of the wrong length (callers check lengths on the wire first).
    pub fn unsketch(&self, s: &[f32], seed: u64, n: usize) -> Vec<f32> {
        assert_eq!(s.len(), self.sketch_len(n), "unsketch: sketch length");
        let key = key_of_seed(seed);
        let mut out = vec![0.0; n];
        match *self {
            Codec::None => out.copy_from_slice(s),
            Codec::CountSketch { buckets, .. } => count_unsketch(key, s, buckets, &mut out),
            Codec::Projection { .. } => dense_project_t(key, s, &mut out),
            Codec::Quantize { .. } | Codec::Sign => panic!("{} has no linear sketch", self.name()),
        }
        out
    }

    /// Encodes `x` for the wire: the compression description and the payload.
    pub fn encode(&self, x: &[f32], seed: u64) -> (Compression, TensorPayload) {
        let n = x.len();
        match *self {
            Codec::Quantize { bits } => {
                let mut codes = vec![0u32; code_words(n, bits)];
                let mut scales = vec![0f32; blocks(n)];
                stochastic_quantize(key_of_seed(seed), x, bits, &mut codes, &mut scales);
                codes.extend(scales.iter().map(|s| s.to_bits()));
                (self.description(n, seed), TensorPayload::from_u32(&codes))
            }
            Codec::Sign => {
                let mut words = vec![0u32; n.div_ceil(32)];
                for (i, v) in x.iter().enumerate() {
                    if v.is_sign_negative() {
                        words[i / 32] |= 1 << (i % 32);
                    }
                }
                let scales = x.chunks(SIGN_BLOCK).map(|b| b.iter().map(|v| v.abs()).sum::<f32>() / b.len() as f32);
                words.extend(scales.map(f32::to_bits));
                (self.description(n, seed), TensorPayload::from_u32(&words))
            }
            _ => (self.description(n, seed), TensorPayload::from_f32(&self.sketch(x, seed))),
        }
    }

    /// What the wire says about this codec for an `n`-coordinate signal.
    pub fn description(&self, n: usize, seed: u64) -> Compression {
        let (method, parameters) = match *self {
            Codec::None => (CompressionMethod::None, vec![]),
            Codec::Sign => (CompressionMethod::SignScaled, vec![n as u64, SIGN_BLOCK as u64]),
            Codec::Quantize { bits } => (CompressionMethod::StochasticQuantize, vec![n as u64, bits as u64]),
            Codec::CountSketch { rows, buckets } => (CompressionMethod::CountSketch, vec![rows as u64, buckets as u64]),
            Codec::Projection { dim } => (CompressionMethod::RandomProjection, vec![dim as u64]),
        };
        Compression { method: method as i32, seed, parameters }
    }

    /// The vector the CCF keeps for a received signal: the sketch for linear codecs (summed
    /// before decoding), the decoded `n` coordinates for quantization. Refuses a description
    /// other than this codec's for `n` coordinates, a payload of the wrong type or size, and any
    /// non-finite value.
    pub fn receive(&self, c: &Compression, p: &TensorPayload, n: usize) -> Result<Vec<f32>, CodecError> {
        let expected = self.description(n, c.seed);
        if c.method != expected.method || c.parameters != expected.parameters {
            let method =
                CompressionMethod::try_from(c.method).map_or(format!("method {}", c.method), |m| format!("{m:?}"));
            return Err(CodecError(format!(
                "{method} {:?} for {n} coordinates, the CCF expects {}",
                c.parameters,
                self.name()
            )));
        }
        p.validate().map_err(|e| CodecError(e.to_string()))?;
        let out = match *self {
            Codec::Quantize { bits } => {
                let words = typed(p, ElementType::U32, code_words(n, bits) + blocks(n))?;
                let words: Vec<u32> = words.iter().map(|w| u32::from_le_bytes(*w)).collect();
                let (codes, scales) = words.split_at(code_words(n, bits));
                let scales: Vec<f32> = scales.iter().map(|b| f32::from_bits(*b)).collect();
                let mut x = vec![0f32; n];
                stochastic_dequantize(codes, &scales, bits, &mut x);
                x
            }
            Codec::Sign => {
                let words = typed(p, ElementType::U32, n.div_ceil(32) + n.div_ceil(SIGN_BLOCK))?;
                let words: Vec<u32> = words.iter().map(|w| u32::from_le_bytes(*w)).collect();
                let (signs, scales) = words.split_at(n.div_ceil(32));
                (0..n)
                    .map(|i| {
                        let s = f32::from_bits(scales[i / SIGN_BLOCK]);
                        if signs[i / 32] >> (i % 32) & 1 == 1 { -s } else { s }
                    })
                    .collect()
            }
            _ => typed(p, ElementType::F32, self.sketch_len(n))?.iter().map(|w| f32::from_le_bytes(*w)).collect(),
        };
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            return Err(CodecError(format!("value {i} is {}, not finite", out[i])));
        }
        Ok(out)
    }

    /// The `n` coordinates a received signal estimates: [`Codec::receive`], then for a linear
    /// codec the decoding of its sketch (under the seed the signal names).
    pub fn decode(&self, c: &Compression, p: &TensorPayload, n: usize) -> Result<Vec<f32>, CodecError> {
        let kept = self.receive(c, p, n)?;
        Ok(if self.is_linear() { self.unsketch(&kept, c.seed, n) } else { kept })
    }

    /// What the receiver of `x`'s encoding decodes (the instance uses it for error feedback).
    pub fn round_trip(&self, x: &[f32], seed: u64) -> Vec<f32> {
        match self {
            Codec::Quantize { .. } | Codec::Sign => {
                let (c, p) = self.encode(x, seed);
                // Our own encoding of finite values always decodes.
                self.receive(&c, &p, x.len()).unwrap_or_else(|_| vec![0.0; x.len()])
            }
            _ => self.unsketch(&self.sketch(x, seed), seed, x.len()),
        }
    }
}

fn typed(p: &TensorPayload, ty: ElementType, count: usize) -> Result<Vec<[u8; 4]>, CodecError> {
    if p.element_type != ty as i32 || p.count as usize != count {
        return Err(CodecError(format!("element type {} x {}, expected {ty:?} x {count}", p.element_type, p.count)));
    }
    Ok(p.data.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect())
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    fn sample(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    #[test]
    fn linear_codecs_decode_the_sum_of_sketches_as_the_sketch_of_the_sum() {
        let n = 300;
        let (a, b) = (sample(n, 1), sample(n, 2));
        let sum: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        for codec in [Codec::None, Codec::CountSketch { rows: 3, buckets: 64 }, Codec::Projection { dim: 40 }] {
            let s: Vec<f32> = codec.sketch(&a, 7).iter().zip(codec.sketch(&b, 7)).map(|(x, y)| x + y).collect();
            let direct = codec.sketch(&sum, 7);
            let err = s.iter().zip(&direct).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
            assert!(err < 1e-4, "{}: {err}", codec.name());
            let (c, p) = codec.encode(&a, 7);
            assert_eq!(codec.receive(&c, &p, n).unwrap(), codec.sketch(&a, 7));
            assert!(codec.receive(&c, &p, n + 1).is_err() || codec.sketch_len(n) == codec.sketch_len(n + 1));
        }
    }

    #[test]
    fn every_codec_round_trips_within_its_error_and_size() {
        let n = 10_000 + 37;
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let x: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0) * rng.random_range(0.0f32..2.0)).collect();
        let nmse = |y: &[f32]| {
            let e: f64 = x.iter().zip(y).map(|(a, b)| f64::from(a - b).powi(2)).sum();
            e / x.iter().map(|a| f64::from(*a).powi(2)).sum::<f64>()
        };
        for (codec, max_nmse, max_bits) in [
            (Codec::None, 0.0, 32.0),
            (Codec::Sign, 0.5, 1.2),
            (Codec::Quantize { bits: 4 }, 0.05, 4.2),
            (Codec::Quantize { bits: 2 }, 1.0, 2.2),
        ] {
            let (c, p) = codec.encode(&x, 9);
            let y = codec.decode(&c, &p, n).unwrap();
            assert_eq!(y, codec.round_trip(&x, 9), "{}", codec.name());
            let bits = p.data.len() as f64 * 8.0 / n as f64;
            println!("{}: nmse {:.3}, {bits:.3} bits a coordinate", codec.name(), nmse(&y));
            assert!(nmse(&y) <= max_nmse && bits <= max_bits, "{}", codec.name());
            // Announced for another length, or received as another codec: refused.
            assert!(codec.decode(&c, &p, n + 1).is_err());
        }
        // Sign: the block's mean magnitude with each coordinate's sign; a contraction.
        let (c, p) = Codec::Sign.encode(&x, 1);
        let y = Codec::Sign.decode(&c, &p, n).unwrap();
        let scale0 = x[..SIGN_BLOCK].iter().map(|v| v.abs()).sum::<f32>() / SIGN_BLOCK as f32;
        assert!(
            y[..SIGN_BLOCK]
                .iter()
                .zip(&x)
                .all(|(a, b)| a.abs() == scale0 && a.is_sign_negative() == b.is_sign_negative())
        );
        assert!(nmse(&y) < 1.0);
        assert!(Codec::Quantize { bits: 4 }.decode(&c, &p, n).is_err());
        assert_eq!(
            Codec::parse("quantize:3").unwrap_err(),
            "unknown compression \"quantize:3\" (have none, sign, quantize:1|2|4|8, sketch:RxC, project:K)"
        );
        assert_eq!(Codec::parse("sign"), Ok(Codec::Sign));
    }

    #[test]
    fn a_payload_for_another_codec_or_length_is_refused() {
        let x = sample(100, 3);
        let (c, p) = Codec::Quantize { bits: 4 }.encode(&x, 1);
        let back = Codec::Quantize { bits: 4 }.receive(&c, &p, 100).unwrap();
        let err = back.iter().zip(&x).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(err < 0.2, "{err}");
        assert!(Codec::Quantize { bits: 4 }.receive(&c, &p, 101).is_err());
        assert!(Codec::Quantize { bits: 2 }.receive(&c, &p, 100).is_err());
        assert!(Codec::None.receive(&c, &p, 100).is_err());
        assert_eq!(Codec::parse("sketch:3x64"), Ok(Codec::CountSketch { rows: 3, buckets: 64 }));
        assert!(Codec::parse("sketch:0x64").is_err() && Codec::parse("quantize:3").is_err());
        assert!(Codec::parse("sketch:17x4").is_err() && Codec::parse("zip").is_err());
    }
}
