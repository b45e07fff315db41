//! Device layouts: how an op's host inputs become device buffers.
//!
//! GGML's Q8_0 rows are 34-byte blocks, so no block is 4- or 16-byte aligned: a GPU could
//! neither use 128-bit loads nor read the codes as 32-bit words. GPU backends therefore split
//! the blocks once at upload (as an inference runtime does at model load) into a scale plane
//! (f16, 2 bytes a block) and a code plane (32 bytes a block, 16-byte aligned). The bytes a
//! launch must read are unchanged: 34 a block.

use dfma_reference::quant::q8_0::{BLOCK_BYTES, BLOCK_WEIGHTS};
use dfma_reference::{Dims, Tensor};

/// Splits Q8_0 blocks into `[scales (f16, padded to 4 bytes), codes (int8)]`.
/// Block `i` (row-major over rows, then blocks) has its scale at bytes `2i..2i+2` of the first
/// buffer and its 32 codes at bytes `32i..32i+32` of the second.
pub fn q8_0_split(blocks: &[u8]) -> [Vec<u8>; 2] {
    let n = blocks.len() / BLOCK_BYTES;
    let mut scales = Vec::with_capacity((2 * n).next_multiple_of(4));
    let mut codes = Vec::with_capacity(n * BLOCK_WEIGHTS);
    for b in blocks.chunks_exact(BLOCK_BYTES) {
        scales.extend_from_slice(&b[..2]);
        codes.extend_from_slice(&b[2..]);
    }
    scales.resize((2 * n).next_multiple_of(4), 0);
    [scales, codes]
}

/// `q8_0_gemv`'s device buffers: scales, codes, x (f32 as is).
pub fn q8_0_gemv_buffers(_dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    let [scales, codes] = q8_0_split(inputs[0].as_bytes());
    vec![scales, codes, inputs[1].as_bytes().to_vec()]
}

/// Every input as it is on the host (f32 and byte tensors need no repacking).
pub fn as_is(_dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    inputs.iter().map(|t| t.as_bytes().to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_puts_each_scale_and_code_where_the_kernels_read_them() {
        let blocks: Vec<u8> = (0..3 * 34).map(|i| i as u8).collect();
        let [s, c] = q8_0_split(&blocks);
        assert_eq!(s.len(), 8);
        assert_eq!(&s[2..4], &[34, 35]);
        assert_eq!(c[32], 36);
        assert_eq!(c.len(), 96);
    }
}
