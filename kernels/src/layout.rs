//! Device layouts: how an op's host inputs become device buffers.
//!
//! GGML's Q8_0 rows are 34-byte blocks, so no block is 4- or 16-byte aligned: a GPU could
//! neither use 128-bit loads nor read the codes as 32-bit words. GPU backends therefore split
//! the blocks once at upload (as an inference runtime does at model load) into a scale plane
//! (f16, 2 bytes a block) and a code plane (32 bytes a block, 16-byte aligned). The bytes a
//! launch must read are unchanged: 34 a block.

use dfma_reference::quant::int4_g128::GROUP as INT4_GROUP;
use dfma_reference::quant::q4_0::BLOCK_BYTES as Q4_0_BLOCK_BYTES;
use dfma_reference::quant::q4_1::BLOCK_BYTES as Q4_1_BLOCK_BYTES;
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

/// Splits Q4_0 blocks into `[scales (f16, padded to 4 bytes), nibbles]`, as [`q8_0_split`] does
/// for Q8_0 (18-byte blocks are 2-byte aligned at best). Block `i` (row-major over rows, then
/// blocks) has its scale at bytes `2i..2i+2` of the first buffer and its 16 nibble bytes, in
/// GGML's order (byte j: weight j low, weight j + 16 high), at bytes `16i..16i+16` of the second.
pub fn q4_0_split(blocks: &[u8]) -> [Vec<u8>; 2] {
    let n = blocks.len() / Q4_0_BLOCK_BYTES;
    let mut scales = Vec::with_capacity((2 * n).next_multiple_of(4));
    let mut nibbles = Vec::with_capacity(n * 16);
    for b in blocks.chunks_exact(Q4_0_BLOCK_BYTES) {
        scales.extend_from_slice(&b[..2]);
        nibbles.extend_from_slice(&b[2..]);
    }
    scales.resize((2 * n).next_multiple_of(4), 0);
    [scales, nibbles]
}

/// `q4_0_gemv`'s device buffers for WGSL: scales, nibbles, x (f32 as is).
pub fn q4_0_gemv_buffers(_dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    let [scales, nibbles] = q4_0_split(inputs[0].as_bytes());
    vec![scales, nibbles, inputs[1].as_bytes().to_vec()]
}

/// Blocks in one Q4_0 warp-tile window: 32 blocks = 1024 weights, 16 code bytes (32 codes) for
/// each of 32 lanes, so a warp's code load is 512 contiguous bytes as with Q8_0.
pub const Q4_0_WINDOW_BLOCKS: usize = 32;

/// `q4_0_gemv`'s "warp tiles" layout for the PTX kernel: `[scales, codes, x]`.
///
/// Each row is padded to whole windows of 32 blocks (pad blocks: d = 0, codes 8, i.e. weight 0).
/// Scales stay in block order, f16, `row · padded_blocks + block`. Within each window, lane l's
/// 16 bytes `16·l .. 16·l + 16` hold the 32 codes it multiplies with activations
/// `128·i + 4·l .. +4` (i in 0..8): the low nibble of byte `16·l + 4·m + k` holds window position
/// `128·(2m) + 4·l + k`, the high nibble position `128·(2m+1) + 4·l + k` (m, k in 0..4). So a
/// 32-bit word masked with `0x0F0F0F0F` (after a 4-bit shift for odd groups) has one group's four
/// codes in its four bytes, and every warp-level load is one contiguous span.
pub fn q4_0_warp_tiles(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    let (rows, cols) = (dims.get("rows"), dims.get("cols"));
    let blocks = cols / BLOCK_WEIGHTS;
    let padded = blocks.next_multiple_of(Q4_0_WINDOW_BLOCKS);
    let w = inputs[0].as_bytes();
    let mut scales = vec![0u8; (rows * padded * 2).next_multiple_of(4)];
    let mut codes = vec![0x88u8; rows * padded * 16];
    for r in 0..rows {
        let row = &w[r * blocks * Q4_0_BLOCK_BYTES..(r + 1) * blocks * Q4_0_BLOCK_BYTES];
        let row_codes = &mut codes[r * padded * 16..(r + 1) * padded * 16];
        for (b, blk) in row.chunks_exact(Q4_0_BLOCK_BYTES).enumerate() {
            let s = 2 * (r * padded + b);
            scales[s..s + 2].copy_from_slice(&blk[..2]);
            place_nibbles(row_codes, b, &blk[2..]);
        }
    }
    vec![scales, codes, inputs[1].as_bytes().to_vec()]
}

/// Writes block `b`'s 16 GGML nibble bytes (byte j: weight j low, weight j + 16 high) into a
/// row of warp-tile codes at the places [`q4_0_warp_tiles`] documents, so Q4_0 and Q4_1 (whose
/// blocks differ only in their header) share one permutation and one PTX unpacking scheme.
fn place_nibbles(row_codes: &mut [u8], b: usize, nibbles: &[u8]) {
    for (j, &byte) in nibbles.iter().enumerate() {
        // Byte j holds the codes of row positions 32·b + j (low) and 32·b + j + 16 (high).
        for (pos, q) in [(b * BLOCK_WEIGHTS + j, byte & 0x0F), (b * BLOCK_WEIGHTS + j + 16, byte >> 4)] {
            let (window, p) = (pos / 1024, pos % 1024);
            let (i, lane, k) = (p / 128, (p % 128) / 4, p % 4);
            let at = window * 512 + 16 * lane + 4 * (i / 2) + k;
            let shift = 4 * (i % 2);
            row_codes[at] = (row_codes[at] & !(0x0F << shift)) | (q << shift);
        }
    }
}

/// Splits Q4_1 blocks into `[scales, offsets, nibbles]`: f16 d and f16 m each in a plane of their
/// own (padded to 4 bytes), since 20-byte blocks are only 4-byte aligned and a shader reading
/// words of two halves wants two blocks' scales (or offsets) per word. Block `i` (row-major over
/// rows, then blocks) has d at bytes `2i..2i+2` of the first buffer, m at the same bytes of the
/// second and its 16 nibble bytes, in GGML's order, at bytes `16i..16i+16` of the third.
pub fn q4_1_split(blocks: &[u8]) -> [Vec<u8>; 3] {
    let n = blocks.len() / Q4_1_BLOCK_BYTES;
    let plane = (2 * n).next_multiple_of(4);
    let mut scales = Vec::with_capacity(plane);
    let mut offsets = Vec::with_capacity(plane);
    let mut nibbles = Vec::with_capacity(n * 16);
    for b in blocks.chunks_exact(Q4_1_BLOCK_BYTES) {
        scales.extend_from_slice(&b[..2]);
        offsets.extend_from_slice(&b[2..4]);
        nibbles.extend_from_slice(&b[4..]);
    }
    scales.resize(plane, 0);
    offsets.resize(plane, 0);
    [scales, offsets, nibbles]
}

/// `q4_1_gemv`'s device buffers for WGSL: scales, offsets, nibbles ([`q4_1_split`]), x as is.
pub fn q4_1_gemv_buffers(_dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    let [scales, offsets, nibbles] = q4_1_split(inputs[0].as_bytes());
    vec![scales, offsets, nibbles, inputs[1].as_bytes().to_vec()]
}

/// `q4_1_gemv`'s "warp tiles" layout for the PTX kernel: `[scales, offsets, codes, x]`.
///
/// As [`q4_0_warp_tiles`] (rows padded to whole windows of 32 blocks, codes permuted by the same
/// rule), with the block's f16 offset m in a plane of its own beside the scale plane, both in
/// block order `row · padded_blocks + block`: a lane loads one block's d and one block's m per
/// window and the warp shares them with shfl. Pad blocks have d = 0, m = 0 and codes 0, so they
/// contribute d·Σq·x + m·Σx = 0 whatever x holds there.
pub fn q4_1_warp_tiles(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    let (rows, cols) = (dims.get("rows"), dims.get("cols"));
    let blocks = cols / BLOCK_WEIGHTS;
    let padded = blocks.next_multiple_of(Q4_0_WINDOW_BLOCKS);
    let w = inputs[0].as_bytes();
    let plane = (rows * padded * 2).next_multiple_of(4);
    let (mut scales, mut offsets) = (vec![0u8; plane], vec![0u8; plane]);
    let mut codes = vec![0u8; rows * padded * 16];
    for r in 0..rows {
        let row = &w[r * blocks * Q4_1_BLOCK_BYTES..(r + 1) * blocks * Q4_1_BLOCK_BYTES];
        let row_codes = &mut codes[r * padded * 16..(r + 1) * padded * 16];
        for (b, blk) in row.chunks_exact(Q4_1_BLOCK_BYTES).enumerate() {
            let s = 2 * (r * padded + b);
            scales[s..s + 2].copy_from_slice(&blk[..2]);
            offsets[s..s + 2].copy_from_slice(&blk[2..4]);
            place_nibbles(row_codes, b, &blk[4..]);
        }
    }
    vec![scales, offsets, codes, inputs[1].as_bytes().to_vec()]
}

/// `int4_g128_gemv`'s "warp tiles" layout for the PTX kernel: `[sz, codes, x]`.
///
/// Rows are padded to whole windows of 8 groups (1024 weights; pad groups: s = z = 0, codes 0).
/// Scale/zero words stay in group order, `row · padded_groups + group`. Codes are permuted within
/// each window exactly as [`q4_0_warp_tiles`] permutes Q4_0 codes (low nibble of byte
/// `16·l + 4·m + k`: window position `128·(2m) + 4·l + k`, high nibble: `128·(2m+1) + 4·l + k`),
/// so one PTX unpacking scheme serves both and every warp-level load is one contiguous span.
/// Group i of a window covers positions `128·i ..`, the same for every lane.
pub fn int4_g128_warp_tiles(dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    let (rows, cols) = (dims.get("rows"), dims.get("cols"));
    let groups = cols / INT4_GROUP;
    let padded = groups.next_multiple_of(8);
    let (w, sz) = (inputs[0].as_bytes(), inputs[1].as_bytes());
    let mut sz_out = vec![0u8; rows * padded * 4];
    let mut codes = vec![0u8; rows * padded * 64];
    for r in 0..rows {
        sz_out[r * padded * 4..][..groups * 4].copy_from_slice(&sz[r * groups * 4..][..groups * 4]);
        let row = &w[r * cols / 2..(r + 1) * cols / 2];
        let row_codes = &mut codes[r * padded * 64..(r + 1) * padded * 64];
        for pos in 0..cols {
            let q = (row[pos / 2] >> (4 * (pos % 2))) & 0x0F;
            let (window, p) = (pos / 1024, pos % 1024);
            let (i, lane, k) = (p / 128, (p % 128) / 4, p % 4);
            row_codes[window * 512 + 16 * lane + 4 * (i / 2) + k] |= q << (4 * (i % 2));
        }
    }
    vec![sz_out, codes, inputs[2].as_bytes().to_vec()]
}

/// `int4_g128_gemv`'s WGSL buffers: scale/zero words first (binding 0), then codes and x, as they are.
pub fn int4_g128_gemv_buffers(_dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    vec![inputs[1].as_bytes().to_vec(), inputs[0].as_bytes().to_vec(), inputs[2].as_bytes().to_vec()]
}

/// Every input as it is on the host (f32 and byte tensors need no repacking).
pub fn as_is(_dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    inputs.iter().map(|t| t.as_bytes().to_vec()).collect()
}

/// The inputs as they are, each padded with zeros to whole 16-byte vectors: a WGSL kernel that
/// binds f32 data as `array<vec4<f32>>` then reads the last, partial vector whole, and the zeros
/// add nothing to a sum.
pub fn padded_to_vectors(_dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    inputs
        .iter()
        .map(|t| {
            let mut bytes = t.as_bytes().to_vec();
            bytes.resize(bytes.len().next_multiple_of(16), 0);
            bytes
        })
        .collect()
}

/// `q8_0_q8_1_gemm`'s device buffers: W's scales and codes as [`q8_0_split`] lays them out, then
/// x's Q8_1 blocks split the same way: scales `d` (f16, padded to 4 bytes; `s` is dropped, Q8_0
/// weights have no offset to fold) and codes (int8, row-major [m, cols]).
pub fn q8_0_q8_1_buffers(_dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    let [w_scales, w_codes] = q8_0_split(inputs[0].as_bytes());
    let [x_scales, x_codes] = q8_1_split(inputs[1].as_bytes());
    vec![w_scales, w_codes, x_scales, x_codes]
}

/// `q4_0_q8_1_gemm`'s device buffers: W's scales and nibbles as [`q4_0_split`] lays them out
/// (GGML's byte order inside a block), then x's Q8_1 blocks split as for `q8_0_q8_1_gemm`.
pub fn q4_0_q8_1_buffers(_dims: &Dims, inputs: &[Tensor]) -> Vec<Vec<u8>> {
    let [w_scales, w_nibbles] = q4_0_split(inputs[0].as_bytes());
    let [x_scales, x_codes] = q8_1_split(inputs[1].as_bytes());
    vec![w_scales, w_nibbles, x_scales, x_codes]
}

/// Q8_1 blocks split into scales `d` (f16, padded to 4 bytes; `s` is dropped) and codes (int8).
fn q8_1_split(xq: &[u8]) -> [Vec<u8>; 2] {
    let n = xq.len() / dfma_reference::quant::q8_1::BLOCK_BYTES;
    let mut x_scales = Vec::with_capacity((2 * n).next_multiple_of(4));
    let mut x_codes = Vec::with_capacity(n * 32);
    for b in xq.chunks_exact(dfma_reference::quant::q8_1::BLOCK_BYTES) {
        x_scales.extend_from_slice(&b[..2]);
        x_codes.extend_from_slice(&b[4..]);
    }
    x_scales.resize((2 * n).next_multiple_of(4), 0);
    [x_scales, x_codes]
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
    fn q4_0_warp_tiles_put_each_code_where_its_lane_reads_it() {
        // One row of 160 weights (5 blocks), padded to a 1024-weight window. Block b's byte j
        // holds (b + j) % 16 low and 15 - j high, so every position's code is known.
        let mut blocks = vec![0u8; 5 * 18];
        for (b, blk) in blocks.chunks_exact_mut(18).enumerate() {
            blk[..2].copy_from_slice(&[b as u8, 0x3C]);
            for j in 0..16 {
                blk[2 + j] = ((b + j) % 16) as u8 | ((15 - j as u8) << 4);
            }
        }
        let dims = Dims(vec![("rows", 1), ("cols", 160), ("batch", 1)]);
        let x = Tensor::f32(vec![1, 160], vec![1.0; 160]);
        let out = q4_0_warp_tiles(&dims, &[Tensor::u8(vec![1, 90], blocks), x]);
        let (scales, codes) = (&out[0], &out[1]);
        assert_eq!(scales.len(), 64);
        assert_eq!(&scales[8..10], &[4, 0x3C]);
        assert_eq!(&scales[10..12], &[0, 0]);
        assert_eq!(codes.len(), 512);
        let code = |p: usize| {
            let (i, lane, k) = (p / 128, (p % 128) / 4, p % 4);
            (codes[16 * lane + 4 * (i / 2) + k] >> (4 * (i % 2))) & 0x0F
        };
        for p in 0..160 {
            let (b, j) = (p / 32, p % 32);
            let want = if j < 16 { ((b + j) % 16) as u8 } else { 15 - (j - 16) as u8 };
            assert_eq!(code(p), want, "position {p}");
        }
        for p in 160..1024 {
            assert_eq!(code(p), 8, "padding at {p}");
        }
    }

    #[test]
    fn q4_1_warp_tiles_put_scales_offsets_and_codes_where_the_lanes_read_them() {
        // Two rows of 64 weights (2 blocks each), each padded to a 1024-weight window. Block
        // (r, b) has d = (r, 2b), m = (r, 2b + 1), byte j = (r + b + j) % 16 low, j high.
        let mut blocks = vec![0u8; 4 * 20];
        for (rb, blk) in blocks.chunks_exact_mut(20).enumerate() {
            let (r, b) = (rb / 2, rb % 2);
            blk[..4].copy_from_slice(&[r as u8, 2 * b as u8, r as u8, 2 * b as u8 + 1]);
            for j in 0..16 {
                blk[4 + j] = ((r + b + j) % 16) as u8 | ((j as u8) << 4);
            }
        }
        let dims = Dims(vec![("rows", 2), ("cols", 64), ("batch", 1)]);
        let x = Tensor::f32(vec![1, 64], vec![1.0; 64]);
        let out = q4_1_warp_tiles(&dims, &[Tensor::u8(vec![2, 40], blocks), x]);
        let (scales, offsets, codes) = (&out[0], &out[1], &out[2]);
        assert_eq!((scales.len(), offsets.len(), codes.len()), (128, 128, 1024));
        // Row 1 starts at padded block 32.
        assert_eq!(&scales[64..68], &[1, 0, 1, 2]);
        assert_eq!(&offsets[64..68], &[1, 1, 1, 3]);
        assert!(scales[68..].iter().chain(&offsets[68..]).all(|&b| b == 0));
        for r in 0..2 {
            let code = |p: usize| {
                let (i, lane, k) = (p / 128, (p % 128) / 4, p % 4);
                (codes[512 * r + 16 * lane + 4 * (i / 2) + k] >> (4 * (i % 2))) & 0x0F
            };
            for p in 0..1024 {
                let (b, j) = (p / 32, p % 32);
                let want = match (b, j) {
                    (0..2, 0..16) => ((r + b + j) % 16) as u8,
                    (0..2, _) => (j - 16) as u8,
                    _ => 0,
                };
                assert_eq!(code(p), want, "row {r}, position {p}");
            }
        }
    }

    #[test]
    fn q4_1_split_separates_scales_offsets_and_nibbles() {
        let blocks: Vec<u8> = (0..3 * 20).map(|i| i as u8).collect();
        let [s, m, n] = q4_1_split(&blocks);
        assert_eq!(s, vec![0, 1, 20, 21, 40, 41, 0, 0]);
        assert_eq!(m, vec![2, 3, 22, 23, 42, 43, 0, 0]);
        assert_eq!(&n[16..32], &blocks[24..40]);
    }

    #[test]
    fn q4_0_split_keeps_ggml_nibble_order() {
        let blocks: Vec<u8> = (0..2 * 18).map(|i| i as u8).collect();
        let [s, n] = q4_0_split(&blocks);
        assert_eq!(s, vec![0, 1, 18, 19]);
        assert_eq!(&n[..16], &blocks[2..18]);
        assert_eq!(&n[16..], &blocks[20..]);
    }

    #[test]
    fn int4_g128_warp_tiles_keep_each_code_and_pad_to_8_groups() {
        // One row of 1152 weights (9 groups: a whole window and one group of a second).
        let cols = 1152;
        let w: Vec<u8> = (0..cols / 2).map(|b| (b % 16) as u8 | (((b / 16) % 16) as u8) << 4).collect();
        let sz: Vec<u8> = (0..9 * 4).map(|i| i as u8 + 1).collect();
        let dims = Dims(vec![("rows", 1), ("cols", cols), ("batch", 1)]);
        let x = Tensor::f32(vec![1, cols], vec![1.0; cols]);
        let out = int4_g128_warp_tiles(
            &dims,
            &[Tensor::u8(vec![1, cols / 2], w.clone()), Tensor::u8(vec![1, 36], sz.clone()), x],
        );
        let (sz_out, codes) = (&out[0], &out[1]);
        assert_eq!(&sz_out[..36], &sz[..]);
        assert!(sz_out[36..].iter().all(|&b| b == 0));
        assert_eq!((sz_out.len(), codes.len()), (16 * 4, 2 * 512));
        for pos in 0..2048 {
            let (window, p) = (pos / 1024, pos % 1024);
            let (i, lane, k) = (p / 128, (p % 128) / 4, p % 4);
            let got = (codes[window * 512 + 16 * lane + 4 * (i / 2) + k] >> (4 * (i % 2))) & 0x0F;
            let want = if pos < cols { (w[pos / 2] >> (4 * (pos % 2))) & 0x0F } else { 0 };
            assert_eq!(got, want, "position {pos}");
        }
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
