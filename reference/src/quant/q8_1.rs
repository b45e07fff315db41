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
/// With AVX2 the codes come from an 8-lane version of the same operations (tested to give the
/// same bytes, ties, zeros, NaN and infinities included): activations are quantized once per
/// token and product, and the scalar rounding is a library call a value.
pub fn quantize_row(x: &[f32], out: &mut [u8]) {
    assert_eq!(x.len() % BLOCK_VALUES, 0, "Q8_1 rows are whole blocks of 32");
    assert_eq!(out.len(), x.len() / BLOCK_VALUES * BLOCK_BYTES, "Q8_1 output length");
    let blocks = x.chunks_exact(BLOCK_VALUES).zip(out.chunks_exact_mut(BLOCK_BYTES));
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        for (xb, ob) in blocks {
            // SAFETY: AVX2 was detected; the block holds 32 values and its output 36 bytes.
            unsafe { avx2::block(xb, ob) };
        }
        return;
    }
    for (xb, ob) in blocks {
        block(xb, ob);
    }
}

/// One block, GGML's way: `d = max|x| / 127`, `q = round(x · (1/d))` (halves away from zero; a
/// NaN product, from a NaN or infinite value, gives 0), then f16 `d` and f16 `d·Σq`. The plain
/// definition every faster path is tested against.
pub fn block(xb: &[f32], ob: &mut [u8]) {
    let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut sum = 0i32;
    for (q, &v) in ob[4..].iter_mut().zip(xb) {
        let r = (v * id).round() as i8;
        sum += i32::from(r);
        *q = r as u8;
    }
    write_header(ob, d, sum);
}

fn write_header(ob: &mut [u8], d: f32, sum: i32) {
    ob[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
    ob[2..4].copy_from_slice(&f16::from_f32(sum as f32 * d).to_le_bytes());
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// Whether the CPU has AVX2.
    pub(super) fn available() -> bool {
        is_x86_feature_detected!("avx2")
    }

    /// [`super::block`] in 8 lanes: the same maximum (NaN ignored: the new value is `max`'s first
    /// operand, so a NaN there yields the running maximum), the same scalar scale, the same
    /// product by `id`, rounding halves away from zero as truncation plus a step where the
    /// exact remainder is at least one half, and NaN products to 0.
    ///
    /// # Safety
    /// The CPU has AVX2; `xb` holds 32 values and `ob` 36 bytes.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn block(xb: &[f32], ob: &mut [u8]) {
        assert!(xb.len() == 32 && ob.len() == 36, "one Q8_1 block");
        // SAFETY: AVX2 is enabled; the loads read xb[0..32] and the store writes ob[4..36].
        unsafe {
            let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFF_FFFF));
            let v: [__m256; 4] = std::array::from_fn(|k| _mm256_loadu_ps(xb.as_ptr().add(8 * k)));
            let mut m = _mm256_setzero_ps();
            for &vk in &v {
                m = _mm256_max_ps(_mm256_and_ps(vk, abs_mask), m);
            }
            let m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
            let m2 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
            let amax = _mm_cvtss_f32(_mm_max_ss(m2, _mm_shuffle_ps::<1>(m2, m2)));
            let d = amax / 127.0;
            let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
            let (half, one) = (_mm256_set1_ps(0.5), _mm256_set1_ps(1.0));
            let sign_mask = _mm256_set1_ps(-0.0);
            let codes: [__m256i; 4] = std::array::from_fn(|k| {
                let p = _mm256_mul_ps(v[k], id);
                let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(p);
                let away = _mm256_cmp_ps::<_CMP_GE_OQ>(_mm256_and_ps(_mm256_sub_ps(p, t), abs_mask), half);
                let step = _mm256_and_ps(away, _mm256_or_ps(_mm256_and_ps(p, sign_mask), one));
                let r = _mm256_and_ps(_mm256_add_ps(t, step), _mm256_cmp_ps::<_CMP_ORD_Q>(p, p));
                _mm256_cvttps_epi32(r)
            });
            let sums = _mm256_add_epi32(_mm256_add_epi32(codes[0], codes[1]), _mm256_add_epi32(codes[2], codes[3]));
            let s4 = _mm_add_epi32(_mm256_castsi256_si128(sums), _mm256_extracti128_si256::<1>(sums));
            let s2 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
            let sum = _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32::<1>(s2)));
            // i32 → i8 (values within ±127, so no saturation), then undo the 128-bit lane
            // interleaving of the two packs.
            let w = _mm256_packs_epi16(_mm256_packs_epi32(codes[0], codes[1]), _mm256_packs_epi32(codes[2], codes[3]));
            let bytes = _mm256_permutevar8x32_epi32(w, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256(ob.as_mut_ptr().add(4).cast(), bytes);
            super::write_header(ob, d, sum);
        }
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
    fn the_vector_path_gives_the_scalar_bytes() {
        #[cfg(target_arch = "x86_64")]
        {
            if !avx2::available() {
                eprintln!("no AVX2: nothing to compare");
                return;
            }
            use rand::Rng;
            let mut rng = crate::seed::rng_for(31, 0);
            let mut cases: Vec<Vec<f32>> = (0..200)
                .map(|i| {
                    let scale = 10f32.powf(rng.random_range(-6.0..6.0));
                    (0..32)
                        .map(|_| scale * rng.random_range(-1.0f32..1.0) * if i % 3 == 0 { 1e-3 } else { 1.0 })
                        .collect()
                })
                .collect();
            // Exact halves of the step (127 / 127 = 1: x = k + 0.5 rounds away), zeros, ±0,
            // and non-finite values.
            cases.push((0..32).map(|i| if i == 0 { 127.0 } else { (i as f32 - 16.0) + 0.5 }).collect());
            cases.push(vec![0.0; 32]);
            cases.push((0..32).map(|i| if i % 2 == 0 { -0.0 } else { 0.0 }).collect());
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let mut c: Vec<f32> = (0..32).map(|i| i as f32 - 10.0).collect();
                c[5] = bad;
                cases.push(c);
            }
            for (k, x) in cases.iter().enumerate() {
                let (mut want, mut got) = (vec![0u8; 36], vec![0xAAu8; 36]);
                block(x, &mut want);
                // SAFETY: AVX2 was detected above; one block in, 36 bytes out.
                unsafe { avx2::block(x, &mut got) };
                assert_eq!(got, want, "case {k}: {x:?}");
            }
        }
    }

    #[test]
    fn an_all_zero_block_has_zero_scale_and_codes() {
        let mut b = vec![0xAAu8; 36];
        quantize_row(&[0.0; 32], &mut b);
        assert!(b.iter().all(|&v| v == 0));
    }
}
