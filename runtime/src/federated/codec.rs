//! How an instance's learning signal is compressed for the wire, and decoded by the CCF, with
//! dfma-reference's fast CPU compression ops.
//!
//! | codec | wire | linear | bits a coordinate |
//! | --- | --- | --- | --- |
//! | `none` | the f32 vector (`CompressionMethod::None`) | yes | 32 |
//! | `quantize:B` | `stochastic_quantize` codes and per-256 scales (`StochasticQuantize [n, B]`) | no | B + 0.125 |
//! | `sketch:RxC` | an R × C count sketch (`CountSketch [R, C]`), decoded by the median of rows | yes (sum, then decode) | 32·R·C / n |
//! | `project:K` | K Rademacher projections (`RandomProjection [K]`), decoded by the transpose | yes | 32·K / n |
//!
//! "Linear" means the sketch of a sum is the sum of the sketches: the CCF can add the sketches
//! (or let secure aggregation add them) and decode once. Every instance of a round hashes and
//! projects with the round's shared seed so that their sketches add up; quantization draws its
//! dither from a seed of its own. Compression is lossy; the instance keeps what a round's signal
//! left out and adds it to the next (error feedback, see [`super::instance`]).

use dfma_protocol::messages::{Compression, CompressionMethod, ElementType};
use dfma_protocol::payload::TensorPayload;
use dfma_reference::cpu::count_sketch::count_sketch;
use dfma_reference::cpu::count_unsketch::count_unsketch;
use dfma_reference::cpu::dense_project::{dense_project, dense_project_t};
use dfma_reference::cpu::stochastic_quantize::{stochastic_dequantize, stochastic_quantize};
use dfma_reference::ops::count_unsketch::MAX_ROWS;
use dfma_reference::ops::stochastic_quantize::{blocks, code_words};
use dfma_reference::signals::derive::key_of_seed;

/// A compression method with its size parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// The f32 vector itself.
    None,
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
    /// Parses `none`, `quantize:B`, `sketch:RxC` or `project:K`.
    pub fn parse(s: &str) -> Result<Codec, String> {
        let bad = || format!("unknown compression {s:?} (have none, quantize:1|2|4|8, sketch:RxC, project:K)");
        let positive = |t: &str| t.parse::<usize>().ok().filter(|&v| v > 0).ok_or_else(bad);
        if s == "none" {
            return Ok(Codec::None);
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
            Codec::Quantize { bits } => format!("quantize:{bits}"),
            Codec::CountSketch { rows, buckets } => format!("sketch:{rows}x{buckets}"),
            Codec::Projection { dim } => format!("project:{dim}"),
        }
    }

    /// Whether sketches add up (see the module docs).
    pub fn is_linear(&self) -> bool {
        !matches!(self, Codec::Quantize { .. })
    }

    /// Length of the sketch of an `n`-coordinate vector (linear codecs; `n` otherwise).
    pub fn sketch_len(&self, n: usize) -> usize {
        match *self {
            Codec::None | Codec::Quantize { .. } => n,
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
            Codec::Quantize { .. } => panic!("quantize has no linear sketch"),
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
            Codec::Quantize { .. } => panic!("quantize has no linear sketch"),
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
            _ => (self.description(n, seed), TensorPayload::from_f32(&self.sketch(x, seed))),
        }
    }

    /// What the wire says about this codec for an `n`-coordinate signal.
    pub fn description(&self, n: usize, seed: u64) -> Compression {
        let (method, parameters) = match *self {
            Codec::None => (CompressionMethod::None, vec![]),
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
            _ => typed(p, ElementType::F32, self.sketch_len(n))?.iter().map(|w| f32::from_le_bytes(*w)).collect(),
        };
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            return Err(CodecError(format!("value {i} is {}, not finite", out[i])));
        }
        Ok(out)
    }

    /// What the receiver of `x`'s encoding decodes (the instance uses it for error feedback).
    pub fn round_trip(&self, x: &[f32], seed: u64) -> Vec<f32> {
        match self {
            Codec::Quantize { .. } => {
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
