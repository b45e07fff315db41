//! How an instance's adapter change becomes a signal payload, and back.
//!
//! - `none`: the f32 change itself (the FedAvg baseline): 32 bits a coordinate.
//! - `sign`: one sign bit per coordinate and the block's mean magnitude as its scale
//!   (x̂ = scale·sign(x); blocks of 256): 1.125 bits a coordinate. Biased, but a contraction
//!   (‖x̂ − x‖² < ‖x‖²), so with error feedback — the instance adds what a round's signal left
//!   out to the next round's change — nothing is lost over rounds (the EF-signSGD scheme).
//! - `quantize:B`: dfma-reference's unbiased `stochastic_quantize` at B ∈ {1, 2, 4, 8} bits, its
//!   dither from Philox under the round's seed; B + 0.125 bits a coordinate.
//!
//! Payloads are U32 words as [`dfma_protocol::messages::CompressionMethod`] documents them.

use dfma_protocol::messages::{Compression, CompressionMethod, ElementType};
use dfma_protocol::payload::TensorPayload;
use dfma_reference::cpu::stochastic_quantize::{stochastic_dequantize, stochastic_quantize};
use dfma_reference::ops::stochastic_quantize::{blocks, code_words};

/// Coordinates that share one scale in `sign`.
pub const SIGN_BLOCK: usize = 256;

/// A compression method and its parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// f32, uncompressed.
    None,
    /// Sign bits and a mean-magnitude scale per block, with error feedback.
    Sign,
    /// Unbiased stochastic quantization at this many bits.
    Quantize(usize),
}

/// A payload that does not decode: its method, type or size is not what was announced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signal payload: {0}")]
pub struct DecodeError(pub String);

impl Codec {
    /// Parses `none`, `sign` or `quantize:B`.
    pub fn parse(s: &str) -> Result<Codec, String> {
        match s {
            "none" => Ok(Codec::None),
            "sign" => Ok(Codec::Sign),
            _ => match s.strip_prefix("quantize:").map(str::parse::<usize>) {
                Some(Ok(b)) if [1, 2, 4, 8].contains(&b) => Ok(Codec::Quantize(b)),
                _ => Err(format!("unknown compression {s:?} (have none, sign, quantize:1|2|4|8)")),
            },
        }
    }

    /// The name [`Codec::parse`] reads.
    pub fn name(self) -> String {
        match self {
            Codec::None => "none".into(),
            Codec::Sign => "sign".into(),
            Codec::Quantize(b) => format!("quantize:{b}"),
        }
    }

    /// Whether the instance keeps an error-feedback residual for this codec.
    pub fn error_feedback(self) -> bool {
        self == Codec::Sign
    }

    /// Encodes `x` (seeded where the method draws randomness): the wire description and the
    /// payload.
    pub fn encode(self, x: &[f32], seed: u64) -> (Compression, TensorPayload) {
        let n = x.len();
        match self {
            Codec::None => (compression(CompressionMethod::None, seed, vec![]), TensorPayload::from_f32(x)),
            Codec::Sign => {
                let mut words = vec![0u32; n.div_ceil(32)];
                for (i, v) in x.iter().enumerate() {
                    if v.is_sign_negative() {
                        words[i / 32] |= 1 << (i % 32);
                    }
                }
                let scales = x.chunks(SIGN_BLOCK).map(|b| b.iter().map(|v| v.abs()).sum::<f32>() / b.len() as f32);
                words.extend(scales.map(f32::to_bits));
                let params = vec![n as u64, SIGN_BLOCK as u64];
                (compression(CompressionMethod::SignScaled, seed, params), TensorPayload::from_u32(&words))
            }
            Codec::Quantize(bits) => {
                let mut codes = vec![0u32; code_words(n, bits)];
                let mut scales = vec![0f32; blocks(n)];
                stochastic_quantize(key_of(seed), x, bits, &mut codes, &mut scales);
                codes.extend(scales.iter().map(|s| s.to_bits()));
                let params = vec![n as u64, bits as u64];
                (compression(CompressionMethod::StochasticQuantize, seed, params), TensorPayload::from_u32(&codes))
            }
        }
    }
}

fn compression(method: CompressionMethod, seed: u64, parameters: Vec<u64>) -> Compression {
    Compression { method: method as i32, seed, parameters }
}

fn key_of(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

fn words(p: &TensorPayload, expected: usize) -> Result<Vec<u32>, DecodeError> {
    let ty = p.checked_element_type().map_err(|e| DecodeError(e.to_string()))?;
    if ty != ElementType::U32 || p.count as usize != expected || p.data.len() != expected * 4 {
        return Err(DecodeError(format!("{ty:?} x {}, expected U32 x {expected}", p.count)));
    }
    Ok(p.data.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// Decodes a payload announced as `c` into the n = `expected_len` coordinates it estimates;
/// anything inconsistent (method, parameters, type, count, a non-finite value) is an error.
pub fn decode(c: &Compression, p: &TensorPayload, expected_len: usize) -> Result<Vec<f32>, DecodeError> {
    let n = expected_len;
    let method =
        CompressionMethod::try_from(c.method).map_err(|_| DecodeError(format!("unknown method {}", c.method)))?;
    let out = match (method, c.parameters.as_slice()) {
        (CompressionMethod::None, []) => {
            let ty = p.checked_element_type().map_err(|e| DecodeError(e.to_string()))?;
            if ty != ElementType::F32 || p.count as usize != n || p.data.len() != n * 4 {
                return Err(DecodeError(format!("{ty:?} x {}, expected F32 x {n}", p.count)));
            }
            p.data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        }
        (CompressionMethod::SignScaled, &[len, block]) if len as usize == n && block as usize == SIGN_BLOCK => {
            let w = words(p, n.div_ceil(32) + n.div_ceil(SIGN_BLOCK))?;
            let (signs, scales) = w.split_at(n.div_ceil(32));
            (0..n)
                .map(|i| {
                    let s = f32::from_bits(scales[i / SIGN_BLOCK]);
                    if signs[i / 32] >> (i % 32) & 1 == 1 { -s } else { s }
                })
                .collect()
        }
        (CompressionMethod::StochasticQuantize, &[len, bits]) if len as usize == n && [1, 2, 4, 8].contains(&bits) => {
            let bits = bits as usize;
            let w = words(p, code_words(n, bits) + blocks(n))?;
            let (codes, scales) = w.split_at(code_words(n, bits));
            let scales: Vec<f32> = scales.iter().map(|b| f32::from_bits(*b)).collect();
            let mut x = vec![0f32; n];
            stochastic_dequantize(codes, &scales, bits, &mut x);
            x
        }
        (m, params) => return Err(DecodeError(format!("{m:?} with parameters {params:?} for {n} coordinates"))),
    };
    if out.iter().any(|v: &f32| !v.is_finite()) {
        return Err(DecodeError("a decoded value is not finite".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    fn sample(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-1.0f32..1.0) * rng.random_range(0.0f32..2.0)).collect()
    }

    fn nmse(x: &[f32], y: &[f32]) -> f64 {
        let e: f64 = x.iter().zip(y).map(|(a, b)| f64::from(a - b).powi(2)).sum();
        e / x.iter().map(|a| f64::from(*a).powi(2)).sum::<f64>()
    }

    #[test]
    fn every_codec_round_trips_within_its_error_and_size() {
        let n = 10_000 + 37;
        let x = sample(n, 3);
        for (codec, max_nmse, max_bits) in [
            (Codec::None, 0.0, 32.0),
            (Codec::Sign, 0.5, 1.2),
            (Codec::Quantize(4), 0.05, 4.2),
            (Codec::Quantize(2), 1.0, 2.2),
        ] {
            let (c, p) = codec.encode(&x, 9);
            let y = decode(&c, &p, n).unwrap();
            let bits = p.data.len() as f64 * 8.0 / n as f64;
            println!("{}: nmse {:.3}, {bits:.3} bits a coordinate", codec.name(), nmse(&x, &y));
            assert!(nmse(&x, &y) <= max_nmse && bits <= max_bits, "{}", codec.name());
            // Announced for another length, or with another method: refused.
            assert!(decode(&c, &p, n + 1).is_err());
        }
        let (c, p) = Codec::Sign.encode(&x, 1);
        let wrong = Compression { method: CompressionMethod::StochasticQuantize as i32, ..c };
        assert!(decode(&wrong, &p, n).is_err());
        assert_eq!(
            Codec::parse("quantize:3").unwrap_err(),
            "unknown compression \"quantize:3\" (have none, sign, quantize:1|2|4|8)"
        );
    }
}
