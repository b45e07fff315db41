//! GGML's Q4_0 format: blocks of 32 weights along a row, each one f16 scale `d` followed by
//! 16 bytes of 4-bit codes; byte `j` holds weight `j` in its low nibble and weight `j + 16` in
//! its high nibble; the weight is `d·(q − 8)`. 18 bytes a block (4.5 bits a weight).
//!
//! [`quantize_row`] reproduces GGML's `quantize_row_q4_0_ref` (and the `gguf` package's
//! `Q4_0.quantize_blocks`) bit for bit: the value of largest magnitude (the first one on a tie)
//! keeps its sign and maps to code 0, `d = max / −8` in f32, `id = 1/d` (0 when d is 0), and
//! `q = min(15, trunc(x·id + 8.5))` with the product and the sum each rounded to f32 (no FMA).
//! Keeping the sign lets the extreme value use the asymmetric end of the code range (−8), so
//! the 16 codes cover [−8d, 7d] with the largest magnitude represented exactly.

use half::f16;

/// Weights in one block.
pub const BLOCK_WEIGHTS: usize = 32;
/// Bytes in one block: the f16 scale then 16 bytes of nibbles.
pub const BLOCK_BYTES: usize = 18;

/// Bytes a row of `cols` weights takes; `None` unless `cols` is a positive multiple of 32.
pub fn row_bytes(cols: usize) -> Option<usize> {
    (cols > 0 && cols.is_multiple_of(BLOCK_WEIGHTS)).then_some(cols / BLOCK_WEIGHTS * BLOCK_BYTES)
}

/// Quantizes one row; `x.len()` must be a multiple of 32 and `out.len()` its [`row_bytes`].
pub fn quantize_row(x: &[f32], out: &mut [u8]) {
    assert_eq!(x.len() % BLOCK_WEIGHTS, 0, "Q4_0 rows are whole blocks of 32");
    assert_eq!(out.len(), x.len() / BLOCK_WEIGHTS * BLOCK_BYTES, "Q4_0 output length");
    for (xb, ob) in x.chunks_exact(BLOCK_WEIGHTS).zip(out.chunks_exact_mut(BLOCK_BYTES)) {
        // The signed value of largest magnitude; a strict `>` keeps the first on a tie, as
        // numpy's argmax does. Starting from x[0] (not from +0 as GGML's C loop does) matches
        // gguf in the one case where they differ: an all-zero block whose first value is −0.
        let (mut amax, mut max) = (xb[0].abs(), xb[0]);
        for &v in &xb[1..] {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        ob[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
        let code = |v: f32| -> u8 {
            // `as u8` saturates (and maps NaN to 0); finite inputs give 0..=16 before the min.
            ((v * id + 8.5).trunc() as u8).min(15)
        };
        for j in 0..BLOCK_WEIGHTS / 2 {
            ob[2 + j] = code(xb[j]) | (code(xb[j + BLOCK_WEIGHTS / 2]) << 4);
        }
    }
}

/// Quantizes a row-major `rows × cols` matrix into `rows × row_bytes(cols)` bytes.
pub fn quantize(x: &[f32], cols: usize) -> Vec<u8> {
    let rb = row_bytes(cols).expect("Q4_0 needs a positive multiple of 32 columns");
    assert_eq!(x.len() % cols, 0, "Q4_0 input is not a whole number of rows");
    let mut out = vec![0u8; x.len() / cols * rb];
    for (xr, or) in x.chunks_exact(cols).zip(out.chunks_exact_mut(rb)) {
        quantize_row(xr, or);
    }
    out
}

/// The 32 codes of one block's 16 nibble bytes, minus 8, in weight order.
pub fn block_codes(nibbles: &[u8]) -> [i8; BLOCK_WEIGHTS] {
    assert_eq!(nibbles.len(), BLOCK_WEIGHTS / 2, "a Q4_0 block has 16 nibble bytes");
    let mut q = [0i8; BLOCK_WEIGHTS];
    for (j, &b) in nibbles.iter().enumerate() {
        q[j] = (b & 0x0F) as i8 - 8;
        q[j + BLOCK_WEIGHTS / 2] = (b >> 4) as i8 - 8;
    }
    q
}

/// Dequantizes whole blocks: `w = f32(d) · (q − 8)`, exact in f32.
pub fn dequantize(blocks: &[u8]) -> Vec<f32> {
    let mut out = vec![0.0; blocks.len() / BLOCK_BYTES * BLOCK_WEIGHTS];
    dequantize_into(blocks, &mut out);
    out
}

/// [`dequantize`] into `out` (`BLOCK_WEIGHTS` weights a block), without allocating: the
/// transposed products widen a run of blocks per row this way.
pub fn dequantize_into(blocks: &[u8], out: &mut [f32]) {
    assert_eq!(blocks.len() % BLOCK_BYTES, 0, "Q4_0 data is not whole 18-byte blocks");
    assert_eq!(out.len(), blocks.len() / BLOCK_BYTES * BLOCK_WEIGHTS, "Q4_0: output length");
    for (b, o) in blocks.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK_WEIGHTS)) {
        let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
        for (w, v) in o.iter_mut().zip(block_codes(&b[2..]).iter().map(|&q| d * f32::from(q))) {
            *w = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_quantizes_to_ggml_bytes() {
        // max = −8 (largest magnitude, negative) → d = 1.0 (f16 0x3C00), id = 1;
        // q = min(15, trunc(x + 8.5)).
        let mut x = [0.0f32; 32];
        x[0] = -8.0; // q 0
        x[1] = 7.0; // q 15
        x[2] = 7.6; // trunc(16.1) = 16 → clamped to 15
        x[3] = -0.5; // trunc(8.0) = 8
        x[4] = -0.51; // trunc(7.99) = 7
        x[16] = 2.49; // trunc(10.99) = 10, high nibble of byte 0
        x[17] = -3.0; // q 5, high nibble of byte 1
        let mut out = [0u8; 18];
        quantize_row(&x, &mut out);
        assert_eq!(&out[..2], &[0x00, 0x3C]);
        assert_eq!(out[2], 10 << 4); // low nibble 0
        assert_eq!(out[3], 15 | (5 << 4));
        assert_eq!(out[4], 15 | (8 << 4));
        assert_eq!(out[5], 8 | (8 << 4));
        assert_eq!(out[6], 7 | (8 << 4));
    }

    #[test]
    fn a_positive_maximum_gives_a_negative_scale() {
        let mut x = [0.0f32; 32];
        x[5] = 4.0;
        x[6] = -4.0; // same magnitude, later: the first (positive) one wins
        let mut out = [0u8; 18];
        quantize_row(&x, &mut out);
        assert_eq!(f16::from_le_bytes([out[0], out[1]]).to_f32(), -0.5);
        let w = dequantize(&out);
        assert_eq!(w[5], 4.0);
        assert_eq!(w[6], -3.5); // −4·(−2) + 8.5 = 16.5 → 16 → clamped to 15 → −0.5·7
    }

    #[test]
    fn an_all_zero_block_has_a_zero_scale_and_code_8() {
        // d = max / −8 = +0 / −8 = −0 (f16 0x8000), as in gguf and GGML; a leading −0 gives +0.
        let mut x = [0.0f32; 64];
        x[32] = -0.0;
        let out = quantize(&x, 32);
        assert_eq!(&out[..2], &[0x00, 0x80]);
        assert_eq!(&out[18..20], &[0x00, 0x00]);
        assert!(out[2..18].iter().chain(&out[20..]).all(|&b| b == 0x88));
        assert!(dequantize(&out).iter().all(|&w| w == 0.0));
    }

    #[test]
    fn dequantize_inverts_quantize_within_half_a_step() {
        let x: Vec<f32> = (0..64).map(|i| ((i * 37 % 64) as f32 - 31.5) / 7.0).collect();
        let w = dequantize(&quantize(&x, 64));
        for (blk_x, blk_w) in x.chunks(32).zip(w.chunks(32)) {
            let amax = blk_x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for (a, b) in blk_x.iter().zip(blk_w) {
                // Half a step (amax/16), or a whole one where the far end is clamped at 7d.
                assert!((a - b).abs() <= amax / 8.0 + amax * 1e-3, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn row_bytes_rejects_partial_blocks() {
        assert_eq!(row_bytes(64), Some(36));
        assert_eq!(row_bytes(33), None);
        assert_eq!(row_bytes(0), None);
    }
}
