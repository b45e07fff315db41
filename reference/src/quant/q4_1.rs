//! GGML's Q4_1 format: blocks of 32 weights along a row, each an f16 scale `d`, an f16 offset
//! `m` (the block's minimum), then 16 bytes of 4-bit codes; byte `j` holds weight `j` in its
//! low nibble and weight `j + 16` in its high nibble; the weight is `d·q + m`. 20 bytes a block
//! (5 bits a weight). The embedded SmolLM2 checkpoint ships its projections in this format.
//!
//! [`quantize_row`] reproduces GGML's `quantize_row_q4_1_ref` and the `gguf` package's
//! `Q4_1.quantize_blocks` bit for bit: `d = (max − min)/15` in f32, `id = 1/d` (0 when d is 0),
//! `q = min(15, trunc((x − min)·id + 0.5))` with each operation rounded to f32 (no FMA); d and
//! min are then stored rounded to f16. Dequantization is `f32(d)·q + f32(m)`, the product and
//! the sum each rounded to f32, as GGML's and gguf's are.

use half::f16;

/// Weights in one block.
pub const BLOCK_WEIGHTS: usize = 32;
/// Bytes in one block: f16 d, f16 m, 16 bytes of nibbles.
pub const BLOCK_BYTES: usize = 20;

/// Bytes a row of `cols` weights takes; `None` unless `cols` is a positive multiple of 32.
pub fn row_bytes(cols: usize) -> Option<usize> {
    (cols > 0 && cols.is_multiple_of(BLOCK_WEIGHTS)).then_some(cols / BLOCK_WEIGHTS * BLOCK_BYTES)
}

/// Quantizes one row; `x.len()` must be a multiple of 32 and `out.len()` its [`row_bytes`].
pub fn quantize_row(x: &[f32], out: &mut [u8]) {
    assert_eq!(x.len() % BLOCK_WEIGHTS, 0, "Q4_1 rows are whole blocks of 32");
    assert_eq!(out.len(), x.len() / BLOCK_WEIGHTS * BLOCK_BYTES, "Q4_1 output length");
    for (xb, ob) in x.chunks_exact(BLOCK_WEIGHTS).zip(out.chunks_exact_mut(BLOCK_BYTES)) {
        let max = numpy_zero_sign(xb, xb.iter().copied().fold(f32::NEG_INFINITY, f32::max));
        let min = numpy_zero_sign(xb, xb.iter().copied().fold(f32::INFINITY, f32::min));
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        ob[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
        ob[2..4].copy_from_slice(&f16::from_f32(min).to_le_bytes());
        // `as u8` saturates (and maps NaN to 0); finite inputs give 0..=15 before the min.
        let code = |v: f32| -> u8 { (((v - min) * id + 0.5).trunc() as u8).min(15) };
        for j in 0..BLOCK_WEIGHTS / 2 {
            ob[4 + j] = code(xb[j]) | (code(xb[j + BLOCK_WEIGHTS / 2]) << 4);
        }
    }
}

/// A block's extreme `v` (its min or max), with the sign of a zero extreme chosen as the `gguf`
/// package's numpy reductions choose it on AVX2 machines: eight lanes (weight i in lane i mod 8),
/// ties going to the later weight within a lane and to the later lane across lanes — so among
/// the zeros, the one with the largest (i mod 8, i). (GGML's C loop keeps the first zero's sign
/// instead.) Only the sign bits of a zero offset or a zero scale depend on this; no dequantized
/// weight does.
fn numpy_zero_sign(xb: &[f32], v: f32) -> f32 {
    if v != 0.0 {
        return v;
    }
    let last_zero =
        (0..xb.len()).filter(|&i| xb[i] == 0.0).max_by_key(|&i| (i % 8, i)).expect("a zero minimum is an element");
    xb[last_zero]
}

/// Quantizes a row-major `rows × cols` matrix into `rows × row_bytes(cols)` bytes.
pub fn quantize(x: &[f32], cols: usize) -> Vec<u8> {
    let rb = row_bytes(cols).expect("Q4_1 needs a positive multiple of 32 columns");
    assert_eq!(x.len() % cols, 0, "Q4_1 input is not a whole number of rows");
    let mut out = vec![0u8; x.len() / cols * rb];
    for (xr, or) in x.chunks_exact(cols).zip(out.chunks_exact_mut(rb)) {
        quantize_row(xr, or);
    }
    out
}

/// The block's scale and offset as f32.
pub fn scale_and_min(block: &[u8]) -> (f32, f32) {
    (f16::from_le_bytes([block[0], block[1]]).to_f32(), f16::from_le_bytes([block[2], block[3]]).to_f32())
}

/// The 32 codes (0..=15) of one block's 16 nibble bytes, in weight order.
pub fn block_codes(nibbles: &[u8]) -> [u8; BLOCK_WEIGHTS] {
    assert_eq!(nibbles.len(), BLOCK_WEIGHTS / 2, "a Q4_1 block has 16 nibble bytes");
    let mut q = [0u8; BLOCK_WEIGHTS];
    for (j, &b) in nibbles.iter().enumerate() {
        q[j] = b & 0x0F;
        q[j + BLOCK_WEIGHTS / 2] = b >> 4;
    }
    q
}

/// Dequantizes whole blocks: `w = f32(d)·q + f32(m)`.
pub fn dequantize(blocks: &[u8]) -> Vec<f32> {
    let mut out = vec![0.0; blocks.len() / BLOCK_BYTES * BLOCK_WEIGHTS];
    dequantize_into(blocks, &mut out);
    out
}

/// [`dequantize`] into `out` (`BLOCK_WEIGHTS` weights a block), without allocating: the
/// transposed products widen a run of blocks per row this way.
pub fn dequantize_into(blocks: &[u8], out: &mut [f32]) {
    assert_eq!(blocks.len() % BLOCK_BYTES, 0, "Q4_1 data is not whole 20-byte blocks");
    assert_eq!(out.len(), blocks.len() / BLOCK_BYTES * BLOCK_WEIGHTS, "Q4_1: output length");
    for (b, o) in blocks.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK_WEIGHTS)) {
        let (d, m) = scale_and_min(b);
        for (w, v) in o.iter_mut().zip(block_codes(&b[4..]).iter().map(|&q| d * f32::from(q) + m)) {
            *w = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ramp_quantizes_to_hand_computed_bytes() {
        // 0, 1, ..., 31 over 32 weights: min 0, d = 31/15, codes trunc(x·15/31 + 0.5).
        let x: Vec<f32> = (0..32).map(|i| i as f32).collect();
        let mut out = [0u8; BLOCK_BYTES];
        quantize_row(&x, &mut out);
        assert_eq!(f16::from_le_bytes([out[0], out[1]]), f16::from_f32(31.0 / 15.0));
        assert_eq!(f16::from_le_bytes([out[2], out[3]]), f16::from_f32(0.0));
        let q = block_codes(&out[4..]);
        let id = 1.0f32 / (31.0f32 / 15.0);
        for (i, &c) in q.iter().enumerate() {
            assert_eq!(c, ((i as f32 * id + 0.5).trunc() as u8).min(15), "weight {i}");
        }
        assert_eq!((q[0], q[31]), (0, 15));
    }

    #[test]
    fn a_zero_minimum_takes_the_sign_numpy_s_eight_lane_reduction_gives() {
        let with_zeros = |zeros: &[(usize, f32)]| {
            let mut x = vec![1.0f32; 32];
            for &(i, z) in zeros {
                x[i] = z;
            }
            numpy_zero_sign(&x, 0.0).is_sign_negative()
        };
        // Cases observed with numpy on an AVX2 machine.
        assert!(!with_zeros(&[(9, -0.0), (7, 0.0)]));
        assert!(with_zeros(&[(9, 0.0), (7, -0.0)]));
        assert!(with_zeros(&[(3, 0.0), (11, -0.0)]));
        assert!(!with_zeros(&[(27, 0.0), (3, -0.0)]));
        assert!(with_zeros(&[(17, -0.0), (1, 0.0)]));
    }

    #[test]
    fn a_constant_block_round_trips_exactly() {
        let x = vec![-0.75f32; 64];
        let w = quantize(&x, 64);
        assert_eq!(w.len(), 40);
        assert!(dequantize(&w).iter().all(|&v| v == -0.75));
    }

    #[test]
    fn dequantization_stays_within_half_a_step() {
        let x: Vec<f32> = (0..96).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
        let back = dequantize(&quantize(&x, 96));
        for (b, blk) in x.chunks_exact(32).enumerate() {
            let (mx, mn) = blk.iter().fold((f32::MIN, f32::MAX), |(a, c), &v| (a.max(v), c.min(v)));
            let step = (mx - mn) / 15.0;
            for (i, &v) in blk.iter().enumerate() {
                let err = (back[b * 32 + i] - v).abs();
                assert!(err <= 0.5 * step + 0.01 * step.max(1.0), "block {b} weight {i}: {err} vs step {step}");
            }
        }
    }
}
