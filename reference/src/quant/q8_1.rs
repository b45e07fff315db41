//! GGML's Q8_1 format, for activations on the int8 path: blocks of 32 values, each an f16 scale
//! `d`, an f16 `s = d·Σq` (what Q4_0/Q4_1 weights need to fold their offset into one product),
//! then 32 signed bytes `q`; the value is `d·q`. 36 bytes a block.
//!
//! [`quantize_row`] follows GGML's `quantize_row_q8_1_ref`: `d = max|x| / 127` in f32, `q =
//! round(x · (1/d))` with halves away from zero, `s = f16(d · Σq)`.

use half::f16;

/// Values in one block.
pub const BLOCK_VALUES: usize = 32;
/// Bytes in one block: f16 d, f16 s, 32 int8.
pub const BLOCK_BYTES: usize = 36;

/// Quantizes one row; `x.len()` must be a multiple of 32 and `out.len()` `x.len()/32·36`.
pub fn quantize_row(x: &[f32], out: &mut [u8]) {
    assert_eq!(x.len() % BLOCK_VALUES, 0, "Q8_1 rows are whole blocks of 32");
    assert_eq!(out.len(), x.len() / BLOCK_VALUES * BLOCK_BYTES, "Q8_1 output length");
    for (xb, ob) in x.chunks_exact(BLOCK_VALUES).zip(out.chunks_exact_mut(BLOCK_BYTES)) {
        let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in ob[4..].iter_mut().zip(xb) {
            let r = (v * id).round() as i8;
            sum += i32::from(r);
            *q = r as u8;
        }
        ob[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
        ob[2..4].copy_from_slice(&f16::from_f32(sum as f32 * d).to_le_bytes());
    }
}

/// Quantizes a row-major `rows × cols` matrix.
pub fn quantize(x: &[f32], cols: usize) -> Vec<u8> {
    assert!(cols > 0 && cols.is_multiple_of(BLOCK_VALUES), "Q8_1 needs a positive multiple of 32 columns");
    let rb = cols / BLOCK_VALUES * BLOCK_BYTES;
    let mut out = vec![0u8; x.len() / cols * rb];
    for (xr, or) in x.chunks_exact(cols).zip(out.chunks_exact_mut(rb)) {
        quantize_row(xr, or);
    }
    out
}

/// Dequantizes whole blocks: `f32(d)·q`.
pub fn dequantize(blocks: &[u8]) -> Vec<f32> {
    assert_eq!(blocks.len() % BLOCK_BYTES, 0, "Q8_1 data is not whole 36-byte blocks");
    let mut out = Vec::with_capacity(blocks.len() / BLOCK_BYTES * BLOCK_VALUES);
    for b in blocks.chunks_exact(BLOCK_BYTES) {
        let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
        out.extend(b[4..].iter().map(|&q| d * f32::from(q as i8)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_round_trips_within_half_a_step_and_s_is_d_times_the_code_sum() {
        let x: Vec<f32> = (0..32).map(|i| (i as f32 - 15.5) * 0.37).collect();
        let mut b = vec![0u8; 36];
        quantize_row(&x, &mut b);
        let d = f16::from_le_bytes([b[0], b[1]]).to_f32();
        let s = f16::from_le_bytes([b[2], b[3]]).to_f32();
        let back = dequantize(&b);
        for (a, r) in x.iter().zip(&back) {
            assert!((a - r).abs() <= 0.5 * d * 1.01 + 1e-6, "{a} vs {r}");
        }
        let sum: i32 = b[4..].iter().map(|&q| i32::from(q as i8)).sum();
        let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert_eq!(s, f16::from_f32(sum as f32 * (amax / 127.0)).to_f32());
        assert_eq!(b[4..].iter().map(|&q| q as i8).max(), Some(127));
    }

    #[test]
    fn an_all_zero_block_has_zero_scale_and_codes() {
        let mut b = vec![0xAAu8; 36];
        quantize_row(&[0.0; 32], &mut b);
        assert!(b.iter().all(|&v| v == 0));
    }
}
