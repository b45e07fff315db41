//! GGML's Q8_0 format: blocks of 32 weights along a row, each one f16 scale `d` followed by
//! 32 signed bytes `q`; the weight is `d·q`. 34 bytes a block.
//!
//! [`quantize_row`] reproduces GGML's `quantize_row_q8_0_ref` bit for bit: `d = max|x| / 127`
//! in f32, rounded to f16 (round to nearest even); `q = round(x · (1/d))`, halves away from zero.

use half::f16;

/// Weights in one block.
pub const BLOCK_WEIGHTS: usize = 32;
/// Bytes in one block: the f16 scale then 32 int8.
pub const BLOCK_BYTES: usize = 34;

/// Bytes a row of `cols` weights takes; `None` unless `cols` is a positive multiple of 32.
pub fn row_bytes(cols: usize) -> Option<usize> {
    (cols > 0 && cols.is_multiple_of(BLOCK_WEIGHTS)).then_some(cols / BLOCK_WEIGHTS * BLOCK_BYTES)
}

/// Quantizes one row; `x.len()` must be a multiple of 32 and `out.len()` its [`row_bytes`].
pub fn quantize_row(x: &[f32], out: &mut [u8]) {
    assert_eq!(x.len() % BLOCK_WEIGHTS, 0, "Q8_0 rows are whole blocks of 32");
    assert_eq!(out.len(), x.len() / BLOCK_WEIGHTS * BLOCK_BYTES, "Q8_0 output length");
    for (xb, ob) in x.chunks_exact(BLOCK_WEIGHTS).zip(out.chunks_exact_mut(BLOCK_BYTES)) {
        let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        ob[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
        for (q, &v) in ob[2..].iter_mut().zip(xb) {
            *q = (v * id).round() as i8 as u8;
        }
    }
}

/// Quantizes a row-major `rows × cols` matrix into `rows × row_bytes(cols)` bytes.
pub fn quantize(x: &[f32], cols: usize) -> Vec<u8> {
    let rb = row_bytes(cols).expect("Q8_0 needs a positive multiple of 32 columns");
    assert_eq!(x.len() % cols, 0, "Q8_0 input is not a whole number of rows");
    let mut out = vec![0u8; x.len() / cols * rb];
    for (xr, or) in x.chunks_exact(cols).zip(out.chunks_exact_mut(rb)) {
        quantize_row(xr, or);
    }
    out
}

/// Dequantizes whole blocks: `w = f32(d) · q`, exact in f32.
pub fn dequantize(blocks: &[u8]) -> Vec<f32> {
    let mut out = vec![0.0; blocks.len() / BLOCK_BYTES * BLOCK_WEIGHTS];
    dequantize_into(blocks, &mut out);
    out
}

/// [`dequantize`] into `out` (`BLOCK_WEIGHTS` weights a block), without allocating: the
/// transposed products widen a run of blocks per row this way.
pub fn dequantize_into(blocks: &[u8], out: &mut [f32]) {
    assert_eq!(blocks.len() % BLOCK_BYTES, 0, "Q8_0 data is not whole 34-byte blocks");
    assert_eq!(out.len(), blocks.len() / BLOCK_BYTES * BLOCK_WEIGHTS, "Q8_0: output length");
    for (b, o) in blocks.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK_WEIGHTS)) {
        let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
        for (w, v) in o.iter_mut().zip(b[2..].iter().map(|&q| d * f32::from(q as i8))) {
            *w = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_quantizes_to_ggml_bytes() {
        // max |x| = 127 → d = 1.0 (f16 0x3C00); q = round(x), halves away from zero.
        let mut x = [0.0f32; 32];
        x[0] = 127.0;
        x[1] = -2.5;
        x[2] = 2.5;
        x[3] = -127.0;
        x[4] = 0.49;
        let mut out = [0u8; 34];
        quantize_row(&x, &mut out);
        assert_eq!(&out[..2], &[0x00, 0x3C]);
        assert_eq!(out[2] as i8, 127);
        assert_eq!(out[3] as i8, -3);
        assert_eq!(out[4] as i8, 3);
        assert_eq!(out[5] as i8, -127);
        assert_eq!(out[6] as i8, 0);
    }

    #[test]
    fn an_all_zero_block_has_zero_scale_and_codes() {
        let out = quantize(&[0.0; 32], 32);
        assert!(out.iter().all(|&b| b == 0));
    }

    #[test]
    fn dequantize_inverts_quantize_within_half_a_step() {
        let x: Vec<f32> = (0..64).map(|i| ((i * 37 % 64) as f32 - 31.5) / 7.0).collect();
        let w = dequantize(&quantize(&x, 64));
        for (blk_x, blk_w) in x.chunks(32).zip(w.chunks(32)) {
            let amax = blk_x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for (a, b) in blk_x.iter().zip(blk_w) {
                assert!((a - b).abs() <= amax / 127.0 * 0.5 + amax * 1e-3, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn row_bytes_rejects_partial_blocks() {
        assert_eq!(row_bytes(64), Some(68));
        assert_eq!(row_bytes(33), None);
        assert_eq!(row_bytes(0), None);
    }
}
