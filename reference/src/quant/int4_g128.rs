//! Asymmetric group-wise int4 ("g128"), the layout AWQ/GPTQ-style runtimes use: per group of
//! 128 consecutive weights of a row, an f16 scale `s` and an f16 zero point `z`; each weight is
//! an unsigned 4-bit code `q` and `w = s·(q − z)`.
//!
//! Packing (little-endian): codes are 8 a u32 word, **nibble i (bits 4i..4i+4) of word k holds
//! weight 8k + i**; equivalently byte b holds weight 2b in its low nibble and 2b + 1 in its high
//! nibble. A row of `cols` weights is `cols/2` code bytes. Scales and zero points are one u32 a
//! group: the f16 scale in bytes 0..2, the f16 zero point in bytes 2..4, so a row has `cols/128`
//! such words (`cols/32` bytes). In all 4.25 bits a weight.
//!
//! Unlike GGML's Q4_0 (symmetric, 32-weight blocks, codes split low/high half of a block) the
//! zero point lets a group's codes span [min, max] rather than [−max, max], and the larger group
//! halves the scale overhead. [`quantize`] is a plain min/max quantizer (no search), enough to
//! make realistic test inputs; the op only fixes the format.

use half::f16;

/// Weights in one group.
pub const GROUP: usize = 128;
/// Bytes of codes per group (two codes a byte).
pub const GROUP_CODE_BYTES: usize = GROUP / 2;
/// Bytes of scale and zero point per group.
pub const GROUP_SZ_BYTES: usize = 4;

/// `(code bytes, scale/zero bytes)` of a row of `cols` weights; `None` unless `cols` is a positive
/// multiple of 128.
pub fn row_bytes(cols: usize) -> Option<(usize, usize)> {
    (cols > 0 && cols.is_multiple_of(GROUP)).then_some((cols / 2, cols / GROUP * GROUP_SZ_BYTES))
}

/// Quantizes a row-major `rows × cols` matrix into `(codes, scales_and_zeros)`.
///
/// Per group: `s = (max − min)/15` (1 when the group is constant), `z = −min/s`, both rounded to
/// f16; `q = clamp(round(x/s + z), 0, 15)` with the rounded `s` and `z`.
pub fn quantize(x: &[f32], cols: usize) -> (Vec<u8>, Vec<u8>) {
    assert!(row_bytes(cols).is_some(), "int4_g128 needs a positive multiple of 128 columns");
    assert_eq!(x.len() % cols, 0, "int4_g128 input is not a whole number of rows");
    let groups = x.len() / GROUP;
    let mut codes = vec![0u8; x.len() / 2];
    let mut sz = Vec::with_capacity(groups * GROUP_SZ_BYTES);
    for (g, xg) in x.chunks_exact(GROUP).enumerate() {
        let (min, max) = xg.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let s = f16::from_f32(if max > min { (max - min) / 15.0 } else { 1.0 });
        let z = f16::from_f32(-min / s.to_f32() + 0.0); // + 0.0: a zero point of −0 is stored as +0
        sz.extend_from_slice(&s.to_le_bytes());
        sz.extend_from_slice(&z.to_le_bytes());
        let (s, z) = (s.to_f32(), z.to_f32());
        for (i, &v) in xg.iter().enumerate() {
            let q = (v / s + z).round().clamp(0.0, 15.0) as u8;
            codes[g * GROUP_CODE_BYTES + i / 2] |= q << (4 * (i % 2));
        }
    }
    (codes, sz)
}

/// The code of weight `i` of a packed row (nibble `i % 8` of u32 word `i / 8`).
pub fn code(codes: &[u8], i: usize) -> u8 {
    (codes[i / 2] >> (4 * (i % 2))) & 0x0F
}

/// The f16 scale and zero point of group `g`, as f32.
pub fn scale_zero(sz: &[u8], g: usize) -> (f32, f32) {
    let b = &sz[g * GROUP_SZ_BYTES..][..GROUP_SZ_BYTES];
    (f16::from_le_bytes([b[0], b[1]]).to_f32(), f16::from_le_bytes([b[2], b[3]]).to_f32())
}

/// Dequantizes `codes` and `sz` (whole groups) to f64: `w = s·(q − z)`, exact in f64.
pub fn dequantize_f64(codes: &[u8], sz: &[u8]) -> Vec<f64> {
    let n = codes.len() * 2;
    assert_eq!(n % GROUP, 0, "int4_g128 codes are not whole groups");
    assert_eq!(sz.len(), n / GROUP * GROUP_SZ_BYTES, "one scale/zero word per group");
    (0..n)
        .map(|i| {
            let (s, z) = scale_zero(sz, i / GROUP);
            f64::from(s) * (f64::from(code(codes, i)) - f64::from(z))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nibble_i_of_word_k_holds_weight_8k_plus_i() {
        let x: Vec<f32> = (0..128).map(|i| (i % 16) as f32).collect(); // min 0, max 15: s = 1, z = 0
        let (codes, sz) = quantize(&x, 128);
        assert_eq!(&sz, &[0x00, 0x3C, 0x00, 0x00]);
        let word0 = u32::from_le_bytes(codes[..4].try_into().unwrap());
        assert_eq!(word0, 0x7654_3210);
        let word1 = u32::from_le_bytes(codes[4..8].try_into().unwrap());
        assert_eq!(word1, 0xFEDC_BA98);
        for i in 0..128 {
            assert_eq!(code(&codes, i), (i % 16) as u8);
        }
    }

    #[test]
    fn dequantize_recovers_a_group_within_half_a_step() {
        let x: Vec<f32> = (0..256).map(|i| ((i * 37 % 256) as f32 - 100.0) / 9.0).collect();
        let (codes, sz) = quantize(&x, 256);
        let w = dequantize_f64(&codes, &sz);
        for g in 0..2 {
            let (s, _) = scale_zero(&sz, g);
            for i in g * 128..(g + 1) * 128 {
                assert!((w[i] - f64::from(x[i])).abs() <= f64::from(s) * 0.51 + 1e-2, "{i}: {} vs {}", w[i], x[i]);
            }
        }
    }

    #[test]
    fn a_constant_group_keeps_its_value() {
        let (codes, sz) = quantize(&[2.5; 128], 128);
        assert!(dequantize_f64(&codes, &sz).iter().all(|&w| w == 2.5));
    }

    #[test]
    fn row_bytes_rejects_partial_groups() {
        assert_eq!(row_bytes(256), Some((128, 8)));
        assert_eq!(row_bytes(96), None);
    }
}
