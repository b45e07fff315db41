//! The storage formats of weight matrices the ops take, with their row sizes, encoders and
//! decoders in one place, so every op over "a matrix in some GGUF format" agrees on them.

use crate::quant::{q4_0, q4_1, q8_0};

/// How a weight matrix is stored: the GGUF formats the GEMV and fused adapter ops take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaseFormat {
    /// GGML Q4_0: 18 bytes per 32 weights.
    Q4_0,
    /// GGML Q4_1: 20 bytes per 32 weights (the embedded model's projections).
    Q4_1,
    /// GGML Q8_0: 34 bytes per 32 weights.
    Q8_0,
    /// IEEE binary16, little-endian: 2 bytes a weight.
    F16,
}

impl BaseFormat {
    /// Bytes of one row of `k` weights; `None` when the format cannot hold `k` weights a row.
    pub fn row_bytes(self, k: usize) -> Option<usize> {
        match self {
            BaseFormat::Q4_0 => q4_0::row_bytes(k),
            BaseFormat::Q4_1 => q4_1::row_bytes(k),
            BaseFormat::Q8_0 => q8_0::row_bytes(k),
            BaseFormat::F16 => (k > 0).then_some(2 * k),
        }
    }

    /// Weights a row of `row_bytes` bytes holds; `None` when that is not a whole row.
    pub fn k_of(self, row_bytes: usize) -> Option<usize> {
        let (block_bytes, block_weights) = match self {
            BaseFormat::Q4_0 => (q4_0::BLOCK_BYTES, q4_0::BLOCK_WEIGHTS),
            BaseFormat::Q4_1 => (q4_1::BLOCK_BYTES, q4_1::BLOCK_WEIGHTS),
            BaseFormat::Q8_0 => (q8_0::BLOCK_BYTES, q8_0::BLOCK_WEIGHTS),
            BaseFormat::F16 => (2, 1),
        };
        (row_bytes > 0 && row_bytes.is_multiple_of(block_bytes)).then_some(row_bytes / block_bytes * block_weights)
    }

    /// Smallest row length the format takes (and the granularity of k).
    pub fn k_step(self) -> usize {
        match self {
            BaseFormat::Q4_0 | BaseFormat::Q4_1 | BaseFormat::Q8_0 => 32,
            BaseFormat::F16 => 1,
        }
    }

    /// Encodes a row-major `rows × k` f32 matrix.
    pub fn encode(self, w: &[f32], k: usize) -> Vec<u8> {
        match self {
            BaseFormat::Q4_0 => q4_0::quantize(w, k),
            BaseFormat::Q4_1 => q4_1::quantize(w, k),
            BaseFormat::Q8_0 => q8_0::quantize(w, k),
            BaseFormat::F16 => w.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect(),
        }
    }

    /// [`BaseFormat::decode`] into `out` (as many weights as the bytes hold), without allocating.
    pub fn decode_into(self, bytes: &[u8], out: &mut [f32]) {
        match self {
            BaseFormat::Q4_0 => q4_0::dequantize_into(bytes, out),
            BaseFormat::Q4_1 => q4_1::dequantize_into(bytes, out),
            BaseFormat::Q8_0 => q8_0::dequantize_into(bytes, out),
            BaseFormat::F16 => {
                assert_eq!(bytes.len(), 2 * out.len(), "F16: output length");
                for (w, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *w = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
                }
            }
        }
    }

    /// Columns `first..first + out.len()` of one encoded row into `out`, without allocating; the
    /// range starts and ends on block boundaries (multiples of [`BaseFormat::k_step`]).
    pub fn decode_columns_into(self, row: &[u8], first: usize, out: &mut [f32]) {
        let (step, block_bytes) = (self.k_step(), self.block_bytes());
        assert!(
            first.is_multiple_of(step) && out.len().is_multiple_of(step),
            "{}: columns {first}..{} are not whole blocks",
            self.ggml_name(),
            first + out.len()
        );
        let start = first / step * block_bytes;
        self.decode_into(&row[start..start + out.len() / step * block_bytes], out);
    }

    /// Decodes bytes written by [`BaseFormat::encode`] (or a GGUF file) back to f32 weights.
    pub fn decode(self, bytes: &[u8]) -> Vec<f32> {
        match self {
            BaseFormat::Q4_0 => q4_0::dequantize(bytes),
            BaseFormat::Q4_1 => q4_1::dequantize(bytes),
            BaseFormat::Q8_0 => q8_0::dequantize(bytes),
            BaseFormat::F16 => bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        }
    }
}

impl BaseFormat {
    /// The GGML type name (`Q4_0`, `Q4_1`, `Q8_0`, `F16`).
    pub fn ggml_name(self) -> &'static str {
        match self {
            BaseFormat::Q4_0 => "Q4_0",
            BaseFormat::Q4_1 => "Q4_1",
            BaseFormat::Q8_0 => "Q8_0",
            BaseFormat::F16 => "F16",
        }
    }

    /// Bytes of one block (one weight for F16).
    pub fn block_bytes(self) -> usize {
        match self {
            BaseFormat::Q4_0 => q4_0::BLOCK_BYTES,
            BaseFormat::Q4_1 => q4_1::BLOCK_BYTES,
            BaseFormat::Q8_0 => q8_0::BLOCK_BYTES,
            BaseFormat::F16 => 2,
        }
    }
}
