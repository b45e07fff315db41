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

/// Blocks in one warp-tile window: 16 blocks = 512 weights, 16 code bytes for each of 32 lanes.
pub const WINDOW_BLOCKS: usize = 16;

/// `q8_0_gemv`'s "warp tiles" layout for the PTX kernel: `[scales, codes, x]`.
///
/// Each row is padded to whole windows of 16 blocks (pad blocks: d = 0, codes 0). Scales stay in
/// block order, f16, `row · padded_blocks + block`. Within each window the codes are permuted so a
/// warp's loads are contiguous: byte `16·l + 4·i + k` of the window holds the code at window
/// position `128·i + 4·l + k` (lane l, i and k in 0..4), which lane l multiplies with
/// activations `128·i + 4·l .. +4` — four 512-byte spans per warp, one 128-bit load a lane each.
pub fn q8_0_warp_tiles(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    let (rows, cols) = (dims.get("rows"), dims.get("cols"));
    let blocks = cols / BLOCK_WEIGHTS;
    let padded = blocks.next_multiple_of(WINDOW_BLOCKS);
    let w = inputs[0].as_bytes();
    let mut scales = vec![0u8; (rows * padded * 2).next_multiple_of(4)];
    let mut codes = vec![0u8; rows * padded * BLOCK_WEIGHTS];
    for r in 0..rows {
        let row = &w[r * blocks * BLOCK_BYTES..(r + 1) * blocks * BLOCK_BYTES];
        for (b, blk) in row.chunks_exact(BLOCK_BYTES).enumerate() {
            let s = 2 * (r * padded + b);
            scales[s..s + 2].copy_from_slice(&blk[..2]);
            for (k, &q) in blk[2..].iter().enumerate() {
                let pos = b * BLOCK_WEIGHTS + k; // position in the row
                let (window, p) = (pos / 512, pos % 512);
                let (i, lane, byte) = (p / 128, (p % 128) / 4, p % 4);
                codes[r * padded * BLOCK_WEIGHTS + window * 512 + 16 * lane + 4 * i + byte] = q;
            }
        }
    }
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
    fn warp_tiles_put_each_code_where_its_lane_reads_it() {
        // One row of 64 weights (2 blocks), padded to a 512-weight window.
        let mut blocks = vec![0u8; 2 * 34];
        blocks[..2].copy_from_slice(&[0x00, 0x3C]);
        blocks[34..36].copy_from_slice(&[0x00, 0x40]);
        for k in 0..32 {
            blocks[2 + k] = k as u8;
            blocks[36 + k] = 100 + k as u8;
        }
        let dims = Dims(vec![("rows", 1), ("cols", 64), ("batch", 1)]);
        let out = q8_0_warp_tiles(&dims, &[Tensor::u8(vec![1, 68], blocks), Tensor::f32(vec![1, 64], vec![1.0; 64])]);
        let (scales, codes) = (&out[0], &out[1]);
        assert_eq!(scales.len(), 32);
        assert_eq!(&scales[..4], &[0x00, 0x3C, 0x00, 0x40]);
        assert_eq!(codes.len(), 512);
        // Position 37 = block 1, code 5: i = 0, lane 9, byte 1.
        assert_eq!(codes[16 * 9 + 1], 105);
        // Position 3: lane 0, byte 3.
        assert_eq!(codes[3], 3);
        // Positions 64.. are padding.
        assert_eq!(codes[16 * 16], 0);
    }

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
